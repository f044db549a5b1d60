package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/store"
)

// TestFindSubjectByEmailUsesIndexes: looking a subject up by e-mail probes
// indexes for every branch of its condition, the case-insensitive one
// included (migration 00160), instead of reading every subject (7.4 s at
// 330,000 subjects on PostgreSQL under load: every `erase --from` line, every
// `erase --email`).
func TestFindSubjectByEmailUsesIndexes(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var b strings.Builder
		b.WriteString("INSERT INTO subjects (user_id, email, pseudo, created_at, updated_at) VALUES ")
		for i := range 3000 {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "('u-%d', 'p%d@example.org', 'p%d', 0, 0)", i, i, i)
		}
		if _, err := db.Exec(ctx, b.String()); err != nil {
			t.Fatal(err)
		}
		q := "SELECT user_id FROM subjects WHERE " + store.ByEmail + " ORDER BY user_id LIMIT 2"
		args := []any{"P7@Example.org", "P7@Example.org", "p7@example.org", "p7@example.org"}
		var plan []string
		if db.Dialect() == store.Postgres {
			if _, err := db.Exec(ctx, "ANALYZE subjects"); err != nil {
				t.Fatal(err)
			}
			if err := db.Select(ctx, &plan, "EXPLAIN "+q, args...); err != nil {
				t.Fatal(err)
			}
		} else {
			var rows []struct {
				ID     int    `db:"id"`
				Parent int    `db:"parent"`
				NotUse int    `db:"notused"`
				Detail string `db:"detail"`
			}
			if err := db.Select(ctx, &rows, "EXPLAIN QUERY PLAN "+q, args...); err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				plan = append(plan, r.Detail)
			}
		}
		all := strings.Join(plan, "\n")
		if !strings.Contains(all, "subjects_email_lower") || strings.Contains(all, "Seq Scan") || strings.Contains(all, "SCAN subjects\n") || strings.HasSuffix(all, "SCAN subjects") {
			t.Errorf("the e-mail lookup does not probe subjects_email_lower:\n%s", all)
		}
		var got []string
		if err := db.Select(ctx, &got, q, args...); err != nil || len(got) != 1 || got[0] != "u-7" {
			t.Errorf("lookup: %v %v", got, err)
		}
	})
}
