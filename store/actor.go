package store

import (
	"context"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

type actorKey struct{}

// WithActor returns a context naming who acts (the operator, or "schedule"):
// every audit entry appended under it records that actor (Art. 5(2)
// accountability), whatever component wrote it.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorFrom returns the actor WithActor put in ctx, or "".
func ActorFrom(ctx context.Context) string {
	a, _ := ctx.Value(actorKey{}).(string)
	return a
}

// ValidActor checks an actor name: 1 to 128 bytes of printable UTF-8 without
// leading or trailing spaces (ErrInvalid otherwise, not echoing the value).
func ValidActor(a string) error {
	switch {
	case a == "":
		return fmt.Errorf("actor: empty name: %w", ErrInvalid)
	case len(a) > 128:
		return fmt.Errorf("actor: longer than 128 bytes: %w", ErrInvalid)
	case !utf8.ValidString(a):
		return fmt.Errorf("actor: not valid UTF-8: %w", ErrInvalid)
	case strings.IndexFunc(a, unicode.IsControl) >= 0:
		return fmt.Errorf("actor: holds control characters: %w", ErrInvalid)
	case strings.TrimSpace(a) != a:
		return fmt.Errorf("actor: leading or trailing spaces: %w", ErrInvalid)
	}
	return nil
}

// AuditActors returns the actor of each audit entry of seqs still in the
// trail (pruned entries are absent from the map).
func AuditActors(ctx context.Context, q Querier, seqs []int64) (map[int64]string, error) {
	out := map[int64]string{}
	if len(seqs) == 0 {
		return out, nil
	}
	query, args, err := In("SELECT seq, actor FROM audit_log WHERE seq IN (?)", seqs)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		Seq   int64  `db:"seq"`
		Actor string `db:"actor"`
	}
	if err := q.Select(ctx, &rows, query, args...); err != nil {
		return nil, fmt.Errorf("audit actors: %w", err)
	}
	for _, r := range rows {
		out[r.Seq] = r.Actor
	}
	return out, nil
}
