// Package tests3 runs tests against a real S3 server: a versitygw gateway
// (posix backend, with a versioning directory) started by the test on a
// temp directory, a loopback port and random credentials, the way
// internal/testdb starts PostgreSQL. Every blob-touching test runs against
// both the directory store and S3 (Run).
//
// The binary is $OUBLI_VERSITYGW, versitygw on PATH, or
// $(go env GOPATH)/bin/versitygw (`.ci/run` installs it there). Without it
// the S3 half of a test is skipped; with OUBLI_REQUIRE_S3=1 it fails.
package tests3

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/oubli/oubli/blobs"
)

// Require reports whether OUBLI_REQUIRE_S3=1: an S3 test that cannot run
// then fails instead of being skipped.
func Require() bool { return os.Getenv("OUBLI_REQUIRE_S3") == "1" }

// Binary finds the versitygw binary.
func Binary() (string, error) {
	if p := os.Getenv("OUBLI_VERSITYGW"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	var dirs []string
	if gp := os.Getenv("GOPATH"); gp != "" {
		dirs = append(dirs, filepath.SplitList(gp)...)
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		dirs = append(dirs, filepath.SplitList(strings.TrimSpace(string(out)))...)
	}
	if h, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(h, "go"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "bin", "versitygw")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("versitygw not found (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0, or set OUBLI_VERSITYGW)")
}

// Server is a running versitygw.
type Server struct {
	Endpoint   string // http://127.0.0.1:PORT
	AccessKey  string
	SecretKey  string
	DataDir    string // the posix backend's root: one directory per bucket
	VersionDir string // where noncurrent versions live
	cmd        *exec.Cmd
	// exited is closed once the server process has been waited for (by
	// the one goroutine that calls cmd.Wait).
	exited chan struct{}
}

func random(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// Start starts a fresh server for the test, stopped (and its directories
// removed) when the test ends. It skips the test when versitygw is missing,
// or fails it under OUBLI_REQUIRE_S3=1.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if Require() {
			t.Fatalf("S3 required (OUBLI_REQUIRE_S3=1) but unavailable: %v", err)
		}
		t.Skipf("S3 unavailable: %v", err)
	}
	root := t.TempDir()
	s := &Server{
		AccessKey: "AK" + random(9), SecretKey: random(20),
		DataDir: filepath.Join(root, "data"), VersionDir: filepath.Join(root, "versions"),
	}
	for _, d := range []string{s.DataDir, s.VersionDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		if lastErr = s.start(bin, filepath.Join(root, "versitygw.log")); lastErr == nil {
			t.Cleanup(s.Stop)
			return s
		}
	}
	if Require() {
		t.Fatalf("S3 required (OUBLI_REQUIRE_S3=1) but versitygw did not start: %v", lastErr)
	}
	t.Skipf("versitygw did not start: %v", lastErr)
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) start(bin, logPath string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	s.Endpoint = "http://" + addr
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--port", addr, "--quiet", "posix", "--versioning-dir", s.VersionDir, s.DataDir)
	// The credentials go by environment, never on a command line that ps shows.
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+s.AccessKey, "ROOT_SECRET_ACCESS_KEY="+s.SecretKey)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The server dies with the test process, even when it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start versitygw: %w", err)
	}
	s.cmd = cmd
	exited := make(chan struct{})
	s.exited = exited
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			b, _ := os.ReadFile(logPath)
			return fmt.Errorf("versitygw exited: %s", strings.TrimSpace(string(b)))
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	<-exited
	return fmt.Errorf("versitygw did not listen on %s", addr)
}

// Stop kills the server and waits until it has exited (through the
// goroutine that waits for it: a second Wait would race with it).
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		if s.exited != nil {
			<-s.exited
		}
	}
}

// Options are the blobs.S3Options that reach this server.
func (s *Server) Options() blobs.S3Options {
	return blobs.S3Options{Endpoint: s.Endpoint, AccessKey: s.AccessKey, SecretKey: s.SecretKey, Region: "us-east-1", MaxAttempts: 2}
}

// Env is the AWS environment that makes the oubli binary reach this server.
func (s *Server) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + s.Endpoint, "AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey, "AWS_REGION=us-east-1",
		// No shared config or credentials file of the machine interferes.
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// BucketOptions choose how a test bucket is made.
type BucketOptions struct {
	Versioned  bool // versioning Enabled
	ObjectLock bool // created with Object Lock (implies versioning)
	Prefix     string
}

var bucketSeq atomic.Int64

// Bucket creates a fresh bucket and returns its location.
func (s *Server) Bucket(t testing.TB, o BucketOptions) blobs.Location {
	t.Helper()
	loc := blobs.Location{Bucket: fmt.Sprintf("oubli-t-%d-%s", bucketSeq.Add(1), random(3)), Prefix: o.Prefix}
	if o.ObjectLock {
		// Created with Object Lock (versioned from the start).
		probe := s.Store(t, BucketOptions{})
		if _, err := probe.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{
			Bucket: aws.String(loc.Bucket), ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
			t.Fatalf("create bucket with object lock: %v", err)
		}
		return loc
	}
	if _, err := blobs.EnsureBucket(context.Background(), loc, s.Options()); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	st, err := blobs.NewS3(context.Background(), loc, s.Options())
	if err != nil {
		t.Fatalf("open bucket: %v", err)
	}
	if o.Versioned {
		s.enableVersioning(t, st)
	}
	return loc
}

func (s *Server) enableVersioning(t testing.TB, st *blobs.S3) {
	t.Helper()
	_, err := st.Client().PutBucketVersioning(context.Background(), &s3.PutBucketVersioningInput{
		Bucket:                  aws.String(st.Location().Bucket),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	})
	if err != nil {
		t.Fatalf("enable versioning: %v", err)
	}
}

// EnableVersioning turns versioning on for an existing bucket.
func (s *Server) EnableVersioning(t testing.TB, bucket string) {
	t.Helper()
	st, err := blobs.NewS3(context.Background(), blobs.Location{Bucket: bucket}, s.Options())
	if err != nil {
		t.Fatalf("open bucket: %v", err)
	}
	s.enableVersioning(t, st)
}

// Store returns a blobs.S3 on a fresh bucket of this server.
func (s *Server) Store(t testing.TB, o BucketOptions) *blobs.S3 {
	t.Helper()
	loc := s.Bucket(t, o)
	st, err := blobs.NewS3(context.Background(), loc, s.Options())
	if err != nil {
		t.Fatalf("open bucket: %v", err)
	}
	return st
}

// Kinds are the blob stores every blob-touching test runs against.
var Kinds = []string{"dir", "s3"}

// Open returns a fresh blob store of the named kind: "dir" (a temp
// directory) or "s3" (a fresh versioned bucket, under a prefix, on a fresh
// versitygw: the harder case, where a deletion must remove every version).
func Open(t testing.TB, kind string) blobs.Store {
	t.Helper()
	switch kind {
	case "dir":
		d, err := blobs.NewDir(filepath.Join(t.TempDir(), "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		return d
	case "s3":
		return Start(t).Store(t, BucketOptions{Versioned: true, Prefix: "att/"})
	}
	t.Fatalf("unknown blob store kind %q", kind)
	return nil
}

// Run runs fn as a subtest on each kind of blob store, as testdb.Run does
// on each database.
func Run(t *testing.T, fn func(t *testing.T, bs blobs.Store)) {
	t.Helper()
	for _, k := range Kinds {
		t.Run(k, func(t *testing.T) { fn(t, Open(t, k)) })
	}
}

// FilesHolding returns the files under the server's data and versioning
// directories whose contents hold needle: after an erasure there must be
// none.
func (s *Server) FilesHolding(t testing.TB, needle []byte) []string {
	t.Helper()
	var hits []string
	for _, root := range []string{s.DataDir, s.VersionDir} {
		err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
			if err != nil || fi.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if strings.Contains(string(b), string(needle)) {
				hits = append(hits, p)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("scan server files: %v", err)
		}
	}
	return hits
}
