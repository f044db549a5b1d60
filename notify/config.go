// Package notify tells the recipients of personal data of every
// rectification, erasure and objection (Art. 19 GDPR): a durable outbox
// written in the same transaction as the change, a minimal versioned payload
// with a published JSON Schema, and a deliverer that POSTs it to each
// recipient's webhook signed the Standard Webhooks way, retrying with
// exponential backoff and jitter up to a horizon. Recipients without a
// webhook are told by hand and their notifications acknowledged.
package notify

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
)

// ErrConfig marks a bad recipients file or a missing secret (exit 2).
var ErrConfig = errors.New("recipients configuration")

// ErrState marks an operation the notification's state does not allow
// (acknowledging a delivered one, say; exit 3).
var ErrState = errors.New("not allowed in the notification's current state")

// Endpoint is how one recipient is told: a signed webhook, or by hand.
type Endpoint struct {
	Webhook   string `json:"webhook,omitempty"`
	SecretEnv string `json:"secret_env,omitempty"`
	Manual    bool   `json:"manual,omitempty"`
}

// Config is the recipients file: recipient id → endpoint. A nil *Config
// makes every recipient manual.
type Config struct {
	Path      string
	Endpoints map[string]Endpoint
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// maxConfigBytes bounds the recipients file.
const maxConfigBytes = 1 << 20

// LoadConfig reads the recipients file at path (a JSON object from recipient
// id to {"webhook": URL, "secret_env": NAME} or {"manual": true}) and checks
// it against the recipient ids the policies declare. Every fault is
// ErrConfig naming the file and the recipient, never a secret. path "" means
// no file: nil, every recipient manual.
func LoadConfig(path string, known []string) (*Config, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: recipients file %s: %v", ErrConfig, path, errors.Unwrap(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: recipients file %s: %v", ErrConfig, path, err)
	}
	if len(b) > maxConfigBytes {
		return nil, fmt.Errorf("%w: recipients file %s: larger than 1 MiB", ErrConfig, path)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil || raw == nil {
		return nil, fmt.Errorf("%w: recipients file %s: want a JSON object from recipient id to {\"webhook\": URL, \"secret_env\": NAME} or {\"manual\": true}", ErrConfig, path)
	}
	c := &Config{Path: path, Endpoints: map[string]Endpoint{}}
	ids := make([]string, 0, len(raw))
	for id := range raw {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if !slices.Contains(known, id) {
			return nil, fmt.Errorf("%w: recipients file %s: unknown recipient id %q (the policies declare %s)", ErrConfig, path, id, strings.Join(known, ", "))
		}
		var ep Endpoint
		dec := json.NewDecoder(bytes.NewReader(raw[id]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ep); err != nil {
			return nil, fmt.Errorf("%w: recipients file %s: recipient %q: want {\"webhook\": URL, \"secret_env\": NAME} or {\"manual\": true}", ErrConfig, path, id)
		}
		if err := ep.check(); err != nil {
			return nil, fmt.Errorf("%w: recipients file %s: recipient %q: %v", ErrConfig, path, id, err)
		}
		c.Endpoints[id] = ep
	}
	return c, nil
}

func (ep Endpoint) check() error {
	switch {
	case ep.Manual && (ep.Webhook != "" || ep.SecretEnv != ""):
		return errors.New("manual excludes webhook and secret_env")
	case ep.Manual:
		return nil
	case ep.Webhook == "":
		return errors.New("give a webhook (with secret_env) or \"manual\": true")
	case ep.SecretEnv == "":
		return errors.New("a webhook needs secret_env, the environment variable holding its signing secret")
	case !envName.MatchString(ep.SecretEnv):
		return fmt.Errorf("secret_env %q is not an environment variable name", ep.SecretEnv)
	}
	u, err := url.Parse(ep.Webhook)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return errors.New("webhook is not an absolute URL without credentials")
	}
	switch u.Scheme {
	case "https":
	case "http":
		// Plain HTTP only to this machine (a local relay, tests).
		host := u.Hostname()
		if ip := net.ParseIP(host); !(host == "localhost" || ip != nil && ip.IsLoopback()) {
			return errors.New("webhook must be https:// (plain http only to a loopback address)")
		}
	default:
		return errors.New("webhook must be https://")
	}
	return nil
}

// Webhook returns the recipient's webhook URL, or "" when it is told by hand.
func (c *Config) Webhook(id string) string {
	if c == nil {
		return ""
	}
	return c.Endpoints[id].Webhook
}

// Secrets resolves the signing secret of every webhook from the environment
// (getenv). A variable unset or empty is ErrConfig naming the variable. A
// secret of the Standard Webhooks form "whsec_BASE64" is the decoded bytes;
// any other value is used as is.
func (c *Config) Secrets(getenv func(string) string) (map[string][]byte, error) {
	out := map[string][]byte{}
	if c == nil {
		return out, nil
	}
	for id, ep := range c.Endpoints {
		if ep.Webhook == "" {
			continue
		}
		v := getenv(ep.SecretEnv)
		if v == "" {
			return nil, fmt.Errorf("%w: recipient %q: environment variable %s (its secret_env in %s) is not set", ErrConfig, id, ep.SecretEnv, c.Path)
		}
		key, err := SecretBytes(v)
		if err != nil {
			return nil, fmt.Errorf("%w: recipient %q: environment variable %s: %v", ErrConfig, id, ep.SecretEnv, err)
		}
		out[id] = key
	}
	return out, nil
}

// SecretBytes turns a secret's text into the HMAC key: the base64 after a
// "whsec_" prefix (Standard Webhooks), or the text's bytes.
func SecretBytes(v string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(v, "whsec_"); ok {
		k, err := base64.StdEncoding.DecodeString(rest)
		if err != nil || len(k) == 0 {
			return nil, errors.New("a whsec_ secret must be followed by standard base64")
		}
		return k, nil
	}
	return []byte(v), nil
}
