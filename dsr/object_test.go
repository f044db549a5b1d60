package dsr

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/store"
)

func (w *erWorld) objector() *Objector {
	return &Objector{DB: w.db, Policy: w.eng, Register: &Register{DB: w.db, Policies: w.eng, Hasher: w.h, Now: func() timeNow { return erNow }},
		Hasher: w.h, Now: func() timeNow { return erNow }, Actor: "test"}
}

func TestObject(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newErWorld(t, db, true)
		ref := testdb.Open(t, string(db.Dialect()))
		newErWorld(t, ref, false)
		key := store.SubjectKey{UserID: "u-alice"}
		if n := erCount(t, db, "SELECT COUNT(*) FROM subject_stats WHERE user_id = 'u-alice'"); n != 1 {
			t.Fatalf("fixture: alice has %d subject_stats rows, want 1", n)
		}
		for i := 0; i < 2; i++ { // idempotent
			rep, err := w.objector().Object(ctx, key, "statistics", "")
			if err != nil {
				t.Fatalf("objection %d: %v", i, err)
			}
			if rep.Already != (i == 1) {
				t.Errorf("objection %d: already = %v", i, rep.Already)
			}
		}
		if n := erCount(t, db, "SELECT COUNT(*) FROM objections WHERE user_id = 'u-alice' AND purpose = 'statistics'"); n != 1 {
			t.Errorf("objections = %d, want 1", n)
		}
		if n := erCount(t, db, "SELECT COUNT(*) FROM subject_stats WHERE user_id = 'u-alice'"); n != 0 {
			t.Errorf("alice's subject_stats still there")
		}
		// At once, and after a full refresh: the agents' figures are those of
		// a store that never had alice.
		want := strings.Join(erAgentStats(t, ref), "\n")
		if got := strings.Join(erAgentStats(t, db), "\n"); got != want {
			t.Errorf("agent_stats after objection:\n%s\nwant\n%s", got, want)
		}
		w.refreshStats(t)
		if got := strings.Join(erAgentStats(t, db), "\n"); got != want {
			t.Errorf("agent_stats after refresh:\n%s\nwant\n%s", got, want)
		}
		if n := erCount(t, db, "SELECT COUNT(*) FROM subject_stats WHERE user_id = 'u-alice'"); n != 0 {
			t.Errorf("refresh recomputed alice's subject_stats")
		}
		if n := erCount(t, db, "SELECT COUNT(*) FROM dsr_requests WHERE type = 'objection' AND status = 'done'"); n != 2 {
			t.Errorf("done objection requests = %d, want 2", n)
		}

		// Customer support rests on the contract: refused, with the reason.
		rep, err := w.objector().Object(ctx, key, "customer_support", "")
		if !errors.Is(err, policies.ErrRefused) || rep == nil || rep.Reason == "" {
			t.Fatalf("objection to customer_support: %v, %+v; want refused with a reason", err, rep)
		}
		if n := erCount(t, db, "SELECT COUNT(*) FROM dsr_requests WHERE type = 'objection' AND status = 'refused' AND refusal_reason IS NOT NULL"); n != 1 {
			t.Errorf("refused objection requests = %d, want 1", n)
		}
		if n := erCount(t, db, "SELECT COUNT(*) FROM objections WHERE purpose = 'customer_support'"); n != 0 {
			t.Errorf("refused objection recorded")
		}
		if _, err := w.objector().Object(ctx, key, "nope", ""); !errors.Is(err, policies.ErrUnknownPurpose) {
			t.Errorf("unknown purpose: %v", err)
		}
		if _, err := w.objector().Object(ctx, store.SubjectKey{UserID: "u-nobody"}, "statistics", ""); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown subject: %v", err)
		}
		if _, err := db.VerifyAudit(ctx); err != nil {
			t.Error(err)
		}
	})
}

// A refusal through a request the operator opened records that request as
// refused, with the policy's reason (Art. 12(4)), in the objection's own
// transaction: the register never shows it pending, nor lets it be closed as
// done.
func TestObjectRefusedThroughRequest(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newErWorld(t, db, true)
		o := w.objector()
		subj, err := store.FindSubject(ctx, db, store.SubjectKey{UserID: "u-alice"})
		if err != nil {
			t.Fatal(err)
		}
		req, err := o.Register.Open(ctx, "objection", subj, erNow.Add(-3600e9))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := o.Object(ctx, store.SubjectKey{UserID: "u-alice"}, "customer_support", req.RequestID)
		if !errors.Is(err, policies.ErrRefused) || rep == nil {
			t.Fatalf("objection to customer_support: %v; want refused", err)
		}
		got, acts, err := o.Register.Get(ctx, req.RequestID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != store.RequestRefused || !got.RefusalReason.Valid || !strings.Contains(got.RefusalReason.String, rep.Reason) || rep.Reason == "" {
			t.Errorf("request after a refused objection: status %s, reason %q; want refused with %q", got.Status, got.RefusalReason.String, rep.Reason)
		}
		if rep.RequestDone != store.RequestRefused {
			t.Errorf("report's request status = %q, want refused", rep.RequestDone)
		}
		// object (refused) and request.close (refused), both audited.
		var sawClose bool
		for _, a := range acts {
			if a.Action == "request.close" && a.Outcome == store.RequestRefused && a.AuditSeq.Valid {
				sawClose = true
			}
		}
		if !sawClose {
			t.Errorf("actions = %+v, want a refused request.close", acts)
		}
		if _, err := o.Register.Close(ctx, req.RequestID, false, ""); !errors.Is(err, ErrState) {
			t.Errorf("closing the refused request as done: %v, want ErrState", err)
		}
	})
}
