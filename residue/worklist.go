package residue

import (
	"context"
	"fmt"
	"strings"

	"github.com/oubli/oubli/store"
)

// HashKind is the kind under which tokens are hashed (store.Hasher): the
// work list and the sweep must agree on it.
const HashKind = "residue-token"

// Hasher makes keyed hashes; *store.Hasher is one.
type Hasher interface {
	Hash(kind, value string) string
}

// Identifiers are the subject's identifiers as the erasure knew them.
type Identifiers struct {
	UserID, Email, Pseudo string
}

// strength says how surely a token names the subject in someone else's
// text: an e-mail address always does; a pseudo never surely does (anyone
// may choose the same one, or use it as a word); a user id does unless it is
// short or all digits ("1", "42", "1234567" read as counts or numbers).
func strength(kind string, toks []string) string {
	switch kind {
	case "email":
		return "strong"
	case "user_id":
		id := strings.Join(toks, " ")
		if len(id) < 4 || strings.Trim(id, "0123456789") == "" {
			return "weak"
		}
		return "strong"
	}
	return "weak"
}

// Enqueue records, inside the erasure's transaction, the keyed hashes of the
// subject's identifiers for the next sweep (subjectRef is the keyed hash of
// their user id). Nothing in clear is written; the sweep removes the rows
// once it has looked for them.
func Enqueue(ctx context.Context, tx *store.Tx, h Hasher, subjectRef string, id Identifiers, atMillis int64) error {
	for _, it := range []struct{ kind, value string }{{"user_id", id.UserID}, {"email", id.Email}, {"pseudo", id.Pseudo}} {
		toks := IdentifierTokens(it.value)
		if len(toks) == 0 {
			continue
		}
		_, err := tx.Exec(ctx, `INSERT INTO residue_worklist (subject_ref, token_hash, kind, strength, tokens, erased_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (subject_ref, token_hash) DO UPDATE SET erased_at = excluded.erased_at`,
			subjectRef, h.Hash(HashKind, strings.Join(toks, " ")), it.kind, strength(it.kind, toks), len(toks), atMillis)
		if err != nil {
			return fmt.Errorf("residue: work list: %w", err)
		}
	}
	return nil
}
