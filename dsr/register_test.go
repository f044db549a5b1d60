package dsr

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oubli/oubli/internal/testdb"
	"github.com/oubli/oubli/policies"
	"github.com/oubli/oubli/store"
)

func TestMain(m *testing.M) { testdb.Main(m) }

var idPattern = regexp.MustCompile(`^DSR-[0-9]{4}-[0-9]{6}$`)

func TestRegisterOpen(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r := newRegister(t, db)
		s := addSubject(t, db, "u-1", "a@example.org", "a")
		received := time.Date(2026, 1, 31, 9, 30, 0, 0, time.UTC)
		req, err := r.Open(ctx, "access", s, received)
		if err != nil {
			t.Fatal(err)
		}
		if req.RequestID != "DSR-2026-000001" || !idPattern.MatchString(req.RequestID) {
			t.Errorf("id = %q, want DSR-2026-000001", req.RequestID)
		}
		got, acts, err := r.Get(ctx, req.RequestID)
		if err != nil {
			t.Fatal(err)
		}
		wantDue, _, _ := r.Policies.RequestDeadline(ctx, "access", received)
		if got.DueAt != ms(wantDue) || !wantDue.After(received.AddDate(0, 0, 27)) || wantDue.After(received.AddDate(0, 1, 1)) {
			t.Errorf("due = %s, want the policies' one month, %s", store.FromMillis(got.DueAt), wantDue)
		}
		if got.Status != store.RequestOpen || got.ReceivedAt != ms(received) || got.UserID.String != "u-1" ||
			got.SubjectHash != r.Hasher.Hash("user_id", "u-1") || got.Extended || got.ClosedAt.Valid {
			t.Errorf("stored request = %+v", got)
		}
		if len(acts) != 1 || acts[0].Action != "request.open" || !acts[0].AuditSeq.Valid {
			t.Fatalf("actions = %+v, want one request.open linked to the audit", acts)
		}
		assertAudit(t, db, acts[0].AuditSeq.Int64, "dsr.request.open", got.SubjectHash)

		// Default received time is now; ids count up per year of receipt.
		req2, err := r.Open(ctx, "erasure", s, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if req2.RequestID != "DSR-2026-000002" || req2.ReceivedAt != ms(clock) {
			t.Errorf("second request = %s received %s", req2.RequestID, store.FromMillis(req2.ReceivedAt))
		}
		req3, err := r.Open(ctx, "objection", s, time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		if req3.RequestID != "DSR-2025-000001" {
			t.Errorf("request received in 2025 = %s, want DSR-2025-000001", req3.RequestID)
		}
	})
}

func TestRegisterOpenBadInput(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r := newRegister(t, db)
		s := addSubject(t, db, "u-1", "a@example.org", "a")
		for _, tc := range []struct {
			name     string
			typ      string
			received time.Time
		}{
			{"unknown type", "portability", time.Time{}},
			{"empty type", "", time.Time{}},
			{"received in the future", "access", clock.Add(time.Hour)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if _, err := r.Open(ctx, tc.typ, s, tc.received); !errors.Is(err, store.ErrInvalid) {
					t.Fatalf("err = %v, want ErrInvalid", err)
				}
			})
		}
		assertCount(t, db, "SELECT COUNT(*) FROM dsr_requests", 0)
	})
}

func TestRegisterExtend(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r := newRegister(t, db)
		s := addSubject(t, db, "u-1", "a@example.org", "a")
		received := clock.AddDate(0, 0, -10)
		req, err := r.Open(ctx, "access", s, received)
		if err != nil {
			t.Fatal(err)
		}
		_, maxExt, _ := r.Policies.RequestDeadline(ctx, "access", received)

		if _, err := r.Extend(ctx, req.RequestID, "  ", time.Time{}); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("extend without reason: err = %v, want ErrInvalid", err)
		}
		if _, err := r.Extend(ctx, req.RequestID, "complex", maxExt.Add(time.Hour)); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("extend beyond the policies' limit: err = %v, want ErrInvalid", err)
		}
		if _, err := r.Extend(ctx, "DSR-2026-999999", "complex", time.Time{}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("extend unknown: err = %v, want ErrNotFound", err)
		}
		got, err := r.Extend(ctx, req.RequestID, "many requests this month", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if got.DueAt != ms(maxExt) || !got.Extended || got.ExtensionReason.String != "many requests this month" {
			t.Errorf("extended = %+v, want due %s", got, maxExt)
		}
		if !maxExt.After(received.AddDate(0, 2, 27)) || maxExt.After(received.AddDate(0, 3, 1)) {
			t.Errorf("max extension %s is not about three months after %s", maxExt, received)
		}
		if _, err := r.Extend(ctx, req.RequestID, "again", time.Time{}); !errors.Is(err, ErrState) {
			t.Fatalf("second extend: err = %v, want ErrState", err)
		}
		stored, acts, _ := r.Get(ctx, req.RequestID)
		if stored.DueAt != ms(maxExt) || len(acts) != 2 || acts[1].Action != "request.extend" {
			t.Errorf("after refused second extension: due %s, actions %+v", store.FromMillis(stored.DueAt), acts)
		}

		// Too late: the original due date has passed.
		late, err := r.Open(ctx, "access", s, clock.AddDate(0, -2, 0))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Extend(ctx, late.RequestID, "forgot", time.Time{}); !errors.Is(err, ErrState) {
			t.Fatalf("extend after the due date: err = %v, want ErrState", err)
		}
		// Closed.
		done, _ := r.Open(ctx, "access", s, received)
		if _, err := r.ForceClose(ctx, done.RequestID, "answered by post"); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Extend(ctx, done.RequestID, "why not", time.Time{}); !errors.Is(err, ErrState) {
			t.Fatalf("extend a closed request: err = %v, want ErrState", err)
		}
	})
}

func TestOverdue(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r := newRegister(t, db)
		s := addSubject(t, db, "u-1", "a@example.org", "a")
		open := func(received time.Time) store.Request {
			req, err := r.Open(ctx, "access", s, received)
			if err != nil {
				t.Fatal(err)
			}
			return req
		}
		late := open(clock.AddDate(0, -3, 0))
		lateStarted := open(clock.AddDate(0, -2, 0))
		if _, err := r.Start(ctx, lateStarted.RequestID, "access", s); err != nil {
			t.Fatal(err)
		}
		lateDone := open(clock.AddDate(0, -3, 0))
		if _, err := r.ForceClose(ctx, lateDone.RequestID, "answered by post"); err != nil {
			t.Fatal(err)
		}
		fresh := open(clock.AddDate(0, 0, -1))
		extended := open(clock.AddDate(0, 0, -20))
		r.Now = func() time.Time { return clock.AddDate(0, 0, -1) }
		if _, err := r.Extend(ctx, extended.RequestID, "complex", time.Time{}); err != nil {
			t.Fatal(err)
		}
		r.Now = func() time.Time { return clock }

		for _, tc := range []struct {
			at   time.Time
			want []string
		}{
			{clock, []string{late.RequestID, lateStarted.RequestID}},
			{store.FromMillis(fresh.DueAt), []string{late.RequestID, lateStarted.RequestID}}, // due at exactly then: not yet overdue
			{store.FromMillis(fresh.DueAt).Add(time.Millisecond), []string{late.RequestID, lateStarted.RequestID, fresh.RequestID}},
			{clock.AddDate(1, 0, 0), []string{late.RequestID, lateStarted.RequestID, fresh.RequestID, extended.RequestID}},
			{clock.AddDate(-1, 0, 0), nil},
		} {
			got, err := Overdue(ctx, db, tc.at)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, g := range got {
				ids = append(ids, g.RequestID)
				if !IsOverdue(g, tc.at) {
					t.Errorf("IsOverdue(%s, %s) = false", g.RequestID, tc.at)
				}
			}
			if fmt.Sprint(ids) != fmt.Sprint(tc.want) {
				t.Errorf("Overdue(%s) = %v, want %v", tc.at, ids, tc.want)
			}
		}
	})
}

func TestRegisterClose(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r := newRegister(t, db)
		s := addSubject(t, db, "u-1", "a@example.org", "a")
		a, _ := r.Open(ctx, "access", s, time.Time{})
		b, _ := r.Open(ctx, "erasure", s, time.Time{})
		if _, err := r.Close(ctx, a.RequestID, false, "a note"); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("close with a reason but no --refuse: %v, want ErrInvalid", err)
		}
		got, err := r.ForceClose(ctx, a.RequestID, "answered by post")
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != store.RequestDone || got.ClosedAt.Int64 != ms(clock) {
			t.Errorf("closed = %+v", got)
		}
		if _, err := r.Close(ctx, a.RequestID, false, ""); !errors.Is(err, ErrState) {
			t.Fatalf("close twice: %v, want ErrState", err)
		}
		if _, err := r.Close(ctx, b.RequestID, true, ""); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("refuse without reason: %v, want ErrInvalid", err)
		}
		got, err = r.Close(ctx, b.RequestID, true, "manifestly unfounded (Art. 12(5))")
		if err != nil {
			t.Fatal(err)
		}
		stored, acts, _ := r.Get(ctx, b.RequestID)
		if stored.Status != store.RequestRefused || stored.RefusalReason.String != "manifestly unfounded (Art. 12(5))" || got.Status != stored.Status {
			t.Errorf("refused = %+v", stored)
		}
		if last := acts[len(acts)-1]; last.Action != "request.close" || last.Outcome != "refused" || !last.AuditSeq.Valid {
			t.Errorf("last action = %+v", last)
		} else {
			assertAudit(t, db, last.AuditSeq.Int64, "dsr.request.close", stored.SubjectHash)
		}
	})
}

func TestStartFinish(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r := newRegister(t, db)
		s := addSubject(t, db, "u-1", "a@example.org", "a")
		other := addSubject(t, db, "u-2", "b@example.org", "b")
		access, _ := r.Open(ctx, "access", s, time.Time{})
		closed, _ := r.Open(ctx, "access", s, time.Time{})
		r.ForceClose(ctx, closed.RequestID, "answered by post")

		for _, tc := range []struct {
			name, id, typ string
			subj          store.Subject
			want          error
		}{
			{"unknown request", "DSR-2026-123456", "access", s, store.ErrNotFound},
			{"wrong type", access.RequestID, "erasure", s, store.ErrInvalid},
			{"other subject", access.RequestID, "access", other, store.ErrInvalid},
			{"closed request", closed.RequestID, "access", s, ErrState}, // a wrong state: exit 3
			{"bad type", "", "portability", s, store.ErrInvalid},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if _, err := r.Start(ctx, tc.id, tc.typ, tc.subj); !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
			})
		}

		// Given request: in progress, not closed by Finish.
		h, err := r.Start(ctx, access.RequestID, "access", s)
		if err != nil {
			t.Fatal(err)
		}
		if h.AutoClose || h.Request.Status != store.RequestInProgress {
			t.Errorf("handle = %+v", h)
		}
		if err := r.Finish(ctx, h, nil); err != nil {
			t.Fatal(err)
		}
		if got, _, _ := r.Get(ctx, access.RequestID); got.Status != store.RequestInProgress {
			t.Errorf("operator's request after Finish = %s, want in_progress", got.Status)
		}

		// Auto-opened requests: done, refused or left in progress.
		for _, tc := range []struct {
			name   string
			err    error
			status string
			reason string
		}{
			{"success", nil, store.RequestDone, ""},
			{"refused by policy", fmt.Errorf("objection to contract: %w", policies.ErrRefused), store.RequestRefused, "objection to contract: refused by policy"},
			{"failure", errors.New("disk full"), store.RequestInProgress, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				h, err := r.Start(ctx, "", "objection", s)
				if err != nil {
					t.Fatal(err)
				}
				if !h.AutoClose || h.Request.Status != store.RequestInProgress {
					t.Fatalf("auto handle = %+v", h)
				}
				err = db.InTx(ctx, func(tx *store.Tx) error {
					seq, err := store.AppendAudit(ctx, tx, store.AuditRecord{Actor: "test", Action: "dsr.object", Outcome: "ok"})
					if err != nil {
						return err
					}
					return h.Record(ctx, tx, "object", "ok", seq)
				})
				if err != nil {
					t.Fatal(err)
				}
				if err := r.Finish(ctx, h, tc.err); err != nil {
					t.Fatal(err)
				}
				got, acts, _ := r.Get(ctx, h.Request.RequestID)
				if got.Status != tc.status || got.RefusalReason.String != tc.reason {
					t.Errorf("status %s reason %q, want %s %q", got.Status, got.RefusalReason.String, tc.status, tc.reason)
				}
				var linked bool
				for _, a := range acts {
					if a.Action == "object" && a.AuditSeq.Valid {
						assertAudit(t, db, a.AuditSeq.Int64, "dsr.object", "")
						linked = true
					}
				}
				if !linked {
					t.Errorf("actions %+v: no linked object action", acts)
				}
			})
		}
	})
}

func TestConcurrentOpenUniqueIDs(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r := newRegister(t, db)
		s := addSubject(t, db, "u-1", "a@example.org", "a")
		const n = 16
		ids := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, err := r.Open(ctx, "access", s, time.Time{})
				ids[i], errs[i] = req.RequestID, err
			}()
		}
		wg.Wait()
		seen := map[string]bool{}
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("open %d: %v", i, errs[i])
			}
			seen[ids[i]] = true
		}
		for i := 1; i <= n; i++ {
			if id := fmt.Sprintf("DSR-2026-%06d", i); !seen[id] {
				t.Errorf("%s missing; got %v", id, ids)
			}
		}
	})
}

func TestForgetSubject(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r := newRegister(t, db)
		s := addSubject(t, db, "u-1", "a@example.org", "a")
		o := addSubject(t, db, "u-2", "b@example.org", "b")
		a, _ := r.Open(ctx, "erasure", s, time.Time{})
		r.Open(ctx, "access", s, time.Time{})
		b, _ := r.Open(ctx, "access", o, time.Time{})
		var n int64
		err := db.InTx(ctx, func(tx *store.Tx) error {
			var err error
			n, err = ForgetSubject(ctx, tx, "u-1")
			return err
		})
		if err != nil || n != 2 {
			t.Fatalf("ForgetSubject = %d, %v; want 2", n, err)
		}
		assertCount(t, db, "SELECT COUNT(*) FROM dsr_requests WHERE user_id = 'u-1'", 0)
		got, _, _ := r.Get(ctx, a.RequestID)
		if got.UserID.Valid || got.SubjectHash != r.SubjectHash("u-1") {
			t.Errorf("forgotten request = %+v", got)
		}
		if got, _, _ := r.Get(ctx, b.RequestID); got.UserID.String != "u-2" {
			t.Errorf("other subject's request lost its user id: %+v", got)
		}
		// The keyed hash still finds the erased subject's requests.
		var found int
		store.EachRequest(ctx, db, store.RequestFilter{SubjectHash: r.SubjectHash("u-1")}, func(store.Request) error { found++; return nil })
		if found != 2 {
			t.Errorf("requests by subject hash after forgetting = %d, want 2", found)
		}
	})
}

func assertAudit(t *testing.T, db *store.DB, seq int64, action, subjectRef string) {
	t.Helper()
	var e store.AuditEntry
	if err := db.Get(context.Background(), &e, "SELECT seq, at, actor, action, subject_ref, outcome, detail, prev_hash, hash FROM audit_log WHERE seq = ?", seq); err != nil {
		t.Fatalf("audit entry %d: %v", seq, err)
	}
	if e.Action != action || (subjectRef != "" && e.SubjectRef != subjectRef) {
		t.Errorf("audit entry %d = %s %s, want %s %s", seq, e.Action, e.SubjectRef, action, subjectRef)
	}
	if _, err := db.VerifyAudit(context.Background()); err != nil {
		t.Errorf("audit chain: %v", err)
	}
}

func assertCount(t *testing.T, db *store.DB, q string, want int64) {
	t.Helper()
	var n int64
	if err := db.Get(context.Background(), &n, q); err != nil {
		t.Fatal(err)
	}
	if n != want {
		t.Errorf("%s = %d, want %d", q, n, want)
	}
}

// "Done" needs an action: a request whose type's action (erase, export,
// rectify, object) was never recorded for it cannot be closed as done; the
// register would claim what nobody did.
func TestRegisterCloseNeedsAction(t *testing.T) {
	testdb.Run(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r := newRegister(t, db)
		s := addSubject(t, db, "u-1", "a@example.org", "a")
		for _, typ := range store.RequestTypes {
			req, err := r.Open(ctx, typ, s, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Close(ctx, req.RequestID, false, ""); !errors.Is(err, ErrState) {
				t.Errorf("closing a %s request with no action as done: %v, want ErrState", typ, err)
			}
			if got, _, _ := r.Get(ctx, req.RequestID); got.Status != store.RequestOpen {
				t.Errorf("%s request after a refused close: %s, want open", typ, got.Status)
			}
			if _, err := r.ForceClose(ctx, req.RequestID, " "); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("forcing without a reason: %v, want ErrInvalid", err)
			}
			got, err := r.ForceClose(ctx, req.RequestID, "erased by hand in the CRM, ticket OPS-12")
			if err != nil {
				t.Fatal(err)
			}
			stored, acts, _ := r.Get(ctx, req.RequestID)
			if stored.Status != store.RequestDone || stored.CloseReason.String != "erased by hand in the CRM, ticket OPS-12" || got.Status != store.RequestDone {
				t.Errorf("forced %s request = %+v", typ, stored)
			}
			last := acts[len(acts)-1]
			if last.Action != "request.close" || !last.AuditSeq.Valid {
				t.Fatalf("last action = %+v", last)
			}
			var detail string
			if err := db.Get(ctx, &detail, "SELECT detail FROM audit_log WHERE seq = ?", last.AuditSeq.Int64); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(detail, `"forced":true`) || strings.Contains(detail, "CRM") {
				t.Errorf("audit detail of a forced close = %s, want forced:true and not the reason's text", detail)
			}
		}
		// With the action recorded, done is allowed without force.
		req, _ := r.Open(ctx, "access", s, time.Time{})
		h, err := r.Start(ctx, req.RequestID, "access", s)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.InTx(ctx, func(tx *store.Tx) error { return h.Record(ctx, tx, "export", "ok", 0) }); err != nil {
			t.Fatal(err)
		}
		if got, err := r.Close(ctx, req.RequestID, false, ""); err != nil || got.CloseReason.Valid {
			t.Errorf("closing an exported access request: %+v, %v", got, err)
		}
	})
}
