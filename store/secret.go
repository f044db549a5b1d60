package store

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
)

// SecretEnv is the environment variable holding the HMAC key.
const SecretEnv = "OUBLI_SECRET"

// Hasher makes keyed hashes (HMAC-SHA256) that stand in for identifiers in the
// audit trail, the logs and the erasure ledger.
type Hasher struct{ key []byte }

// NewHasher returns a Hasher with the given key.
func NewHasher(key []byte) *Hasher { return &Hasher{key: append([]byte(nil), key...)} }

// Hash returns the keyed hash of an identifier of the given kind ("user_id",
// "email", "pseudo", "ticket", …), as "h:" and 32 hex digits. E-mail
// addresses are normalised first (NormalizeEmail, the one normalisation of
// ingest, look-ups and the residue matcher) so that one address has one
// hash.
func (h *Hasher) Hash(kind, value string) string {
	if kind == "email" {
		value = NormalizeEmail(value)
	}
	return h.raw(kind, value)
}

// EmailHashes returns the keyed hash of an e-mail address (Hash), then the
// hashes it may have had before the normalisation was unified (an ASCII
// lower-casing of the address, or of its former stored form: see
// LegacyEmailForms): look-ups of hashes written earlier (the erasure
// ledger) compare all of them.
func (h *Hasher) EmailHashes(value string) []string {
	out := []string{h.Hash("email", value)}
	for _, f := range append([]string{strings.TrimSpace(value)}, LegacyEmailForms(value)...) {
		x := h.raw("email", strings.ToLower(f))
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

func (h *Hasher) raw(kind, value string) string {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return "h:" + hex.EncodeToString(m.Sum(nil)[:16])
}

// Hasher returns the store's keyed hasher: the key comes from OUBLI_SECRET
// or, failing that, from a random key generated once and kept in the store.
func (db *DB) Hasher(ctx context.Context) (*Hasher, error) {
	if s := os.Getenv(SecretEnv); s != "" {
		return NewHasher([]byte(s)), nil
	}
	v, err := db.Setting(ctx, "hmac_secret")
	if err == nil {
		k, err := hex.DecodeString(v)
		if err != nil {
			return nil, fmt.Errorf("stored hmac secret is corrupt: %w", err)
		}
		return NewHasher(k), nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	// Insert-if-absent then read back, so two processes agree on one key.
	if _, err := db.Exec(ctx, "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", "hmac_secret", hex.EncodeToString(k)); err != nil {
		return nil, fmt.Errorf("store hmac secret: %w", err)
	}
	v, err = db.Setting(ctx, "hmac_secret")
	if err != nil {
		return nil, err
	}
	k, err = hex.DecodeString(v)
	if err != nil {
		return nil, err
	}
	return NewHasher(k), nil
}

// Setting reads a key from the settings table (ErrNotFound when absent).
func (db *DB) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := db.Get(ctx, &v, "SELECT value FROM settings WHERE key = ?", key)
	return v, err
}

// SetSetting writes a key of the settings table.
func SetSetting(ctx context.Context, q Querier, key, value string) error {
	_, err := q.Exec(ctx, "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value)
	return err
}
