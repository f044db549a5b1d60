package anchor

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/oubli/oubli/store"
)

// A checkpoint is the trail's head signed with an Ed25519 key, in the signed
// note format of the Go checksum database and of transparency-log
// checkpoints (C2SP signed-note, tlog-checkpoint): a text, a blank line, and
// one signature line per key. The text is four lines:
//
//	oubli audit trail <origin>
//	<sequence number of the head>
//	<base64 of the head's SHA-256 hash>
//	<time of the head, RFC 3339>
//
// origin identifies the store's keyed-hash key (never the key itself), so
// that a checkpoint of one store is not taken for another's. The DPO keeps
// checkpoints where the database's administrators cannot edit them (mail,
// a ticketing system, a notary); `audit verify --checkpoint FILE --pubkey
// KEY` proves that the store still holds that head.

// ErrCheckpoint is returned when a checkpoint does not verify: a bad
// signature, an unknown key, another store's checkpoint, or a head the store
// no longer holds.
var ErrCheckpoint = errors.New("checkpoint does not verify")

// ErrKey is returned for a malformed signing or verifier key.
var ErrKey = errors.New("invalid audit key")

// Checkpoint is a parsed checkpoint text.
type Checkpoint struct {
	Origin string
	Seq    int64
	Hash   string // hex, as in the trail
	At     time.Time
}

const checkpointPrefix = "oubli audit trail "

// Text returns the checkpoint's text, as signed.
func (c Checkpoint) Text() string {
	raw, _ := hex.DecodeString(c.Hash)
	return fmt.Sprintf("%s%s\n%d\n%s\n%s\n", checkpointPrefix, c.Origin, c.Seq,
		base64.StdEncoding.EncodeToString(raw), c.At.UTC().Format(time.RFC3339Nano))
}

func parseCheckpoint(text string) (Checkpoint, error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], checkpointPrefix) {
		return Checkpoint{}, fmt.Errorf("%w: not an oubli audit checkpoint", ErrCheckpoint)
	}
	c := Checkpoint{Origin: strings.TrimPrefix(lines[0], checkpointPrefix)}
	var err error
	if c.Seq, err = strconv.ParseInt(lines[1], 10, 64); err != nil || c.Seq <= 0 {
		return Checkpoint{}, fmt.Errorf("%w: sequence number %q", ErrCheckpoint, lines[1])
	}
	raw, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(raw) != 32 {
		return Checkpoint{}, fmt.Errorf("%w: hash %q", ErrCheckpoint, lines[2])
	}
	c.Hash = hex.EncodeToString(raw)
	if c.At, err = time.Parse(time.RFC3339Nano, lines[3]); err != nil {
		return Checkpoint{}, fmt.Errorf("%w: time %q", ErrCheckpoint, lines[3])
	}
	return c, nil
}

// Origin returns the origin line's identifier of the store whose keyed
// hashes h computes.
func Origin(h interface {
	Hash(kind, value string) string
}) string {
	o := h.Hash("audit-origin", "oubli")
	if len(o) > 16 {
		o = o[len(o)-16:]
	}
	return o
}

// GenerateKey returns a new Ed25519 signing key (secret: "PRIVATE+KEY+…")
// and its verifier key (public: "NAME+HASH+KEY") named name.
func GenerateKey(name string) (signer, verifier string, err error) {
	if name == "" || strings.ContainsAny(name, "+ \t\n") {
		return "", "", fmt.Errorf("%w: key name %q: want a non-empty name without spaces or '+'", ErrKey, name)
	}
	return note.GenerateKey(rand.Reader, name)
}

// LoadKey returns a key given as the path of a file holding it, or as its
// text ("NAME+HASH+KEY", or "PRIVATE+KEY+…" for a signing key); trailing
// whitespace is ignored. what names the flag or variable in errors.
func LoadKey(v, what string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", fmt.Errorf("%w: no %s given", ErrKey, what)
	}
	if st, err := os.Stat(v); err == nil && st.Mode().IsRegular() {
		b, err := os.ReadFile(v)
		if err != nil {
			return "", fmt.Errorf("%w: %s: %v", ErrKey, what, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	if strings.Count(v, "+") >= 2 {
		return v, nil
	}
	return "", fmt.Errorf("%w: %s is neither a key nor a file holding one", ErrKey, what)
}

// Sign returns the signed checkpoint of the store's current head.
func Sign(ctx context.Context, db *store.DB, origin, signerKey string) ([]byte, Checkpoint, error) {
	s, err := note.NewSigner(signerKey)
	if err != nil {
		return nil, Checkpoint{}, fmt.Errorf("%w: signing key: %v", ErrKey, err)
	}
	h, ok, err := db.AuditHead(ctx)
	if err != nil {
		return nil, Checkpoint{}, err
	}
	if !ok {
		return nil, Checkpoint{}, fmt.Errorf("the audit trail is empty: nothing to sign: %w", store.ErrNotFound)
	}
	c := Checkpoint{Origin: origin, Seq: h.Seq, Hash: h.Hash, At: time.UnixMilli(h.At)}
	msg, err := note.Sign(&note.Note{Text: c.Text()}, s)
	if err != nil {
		return nil, Checkpoint{}, fmt.Errorf("sign checkpoint: %w", err)
	}
	return msg, c, nil
}

// VerifyCheckpoint checks msg's signature with verifierKey, that it is a
// checkpoint of this store (origin), and that the store still holds its
// head with the same hash.
func VerifyCheckpoint(ctx context.Context, db *store.DB, origin string, msg []byte, verifierKey string) (Checkpoint, error) {
	v, err := note.NewVerifier(verifierKey)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: public key: %v", ErrKey, err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	c, err := parseCheckpoint(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	if c.Origin != origin {
		return c, fmt.Errorf("%w: it is a checkpoint of another store (or of another OUBLI_SECRET)", ErrCheckpoint)
	}
	hash, err := db.AuditHashAt(ctx, c.Seq)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return c, fmt.Errorf("%w: the store no longer holds entry %d, signed on %s: its trail was cut, restored from an older backup, or pruned past it",
			ErrCheckpoint, c.Seq, c.At.UTC().Format(time.RFC3339))
	case err != nil:
		return c, err
	case hash != c.Hash:
		return c, fmt.Errorf("%w: entry %d differs from the signed head: the trail was rewritten", ErrCheckpoint, c.Seq)
	}
	return c, nil
}
