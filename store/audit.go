package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// AuditEntry is one record of the audit trail. It never holds personal data:
// SubjectRef is a keyed hash (Hasher.Hash) and Detail holds counts, rule ids,
// field names and keyed hashes only.
type AuditEntry struct {
	Seq        int64  `db:"seq" json:"seq"`
	At         int64  `db:"at" json:"at"` // Unix milliseconds
	Actor      string `db:"actor" json:"actor"`
	Action     string `db:"action" json:"action"`
	SubjectRef string `db:"subject_ref" json:"subject_ref,omitempty"`
	Outcome    string `db:"outcome" json:"outcome"`
	Detail     string `db:"detail" json:"detail"` // JSON object
	PrevHash   string `db:"prev_hash" json:"prev_hash"`
	Hash       string `db:"hash" json:"hash"`
}

// AuditRecord is what a caller appends.
type AuditRecord struct {
	At         time.Time      // zero means now
	Actor      string         // who: "cli", "scheduler", …; the context's actor (WithActor) wins
	Action     string         // what: "ingest", "retention.run", "dsr.erase", …
	SubjectRef string         // keyed hash of the subject, or ""
	Outcome    string         // "ok", "refused", "failed", "dry-run", …
	Detail     map[string]any // no personal data
}

// Head is the newest entry of the audit trail, as recorded outside the store
// (the anchor file) so that a cut tail or a restored backup can be told.
type Head struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
	At   int64  `json:"at"` // the entry's time, Unix milliseconds
	// Recorded is when the head was written outside the store (zero when
	// it comes from the store itself).
	Recorded time.Time `json:"-"`
}

// HeadSink receives the audit trail's new head after each commit of a
// transaction that appended entries.
type HeadSink func(Head) error

// SetHeadSink makes every later commit that appends audit entries hand the
// new head to sink (nil: none).
func (db *DB) SetHeadSink(sink HeadSink) { db.headSink = sink }

// RequireHeadSink makes AppendAudit fail with err, before anything is
// committed, while no head sink is set: a store whose trail must be anchored
// refuses changes it could not anchor.
func (db *DB) RequireHeadSink(err error) { db.noSink = err }

// auditLockKey serialises appends on PostgreSQL (pg_advisory_xact_lock).
const auditLockKey = 0x0AB1_A0D1

// ErrAuditBroken is returned by VerifyAudit when the chain does not hold.
var ErrAuditBroken = errors.New("audit chain broken")

// AppendAudit appends an entry to the audit trail inside tx and returns its
// sequence number. Appends are serialised so the chain never forks.
func AppendAudit(ctx context.Context, tx *Tx, r AuditRecord) (int64, error) {
	if tx.sink == nil && tx.noSink != nil {
		return 0, tx.noSink
	}
	if tx.dialect == Postgres {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(?)", auditLockKey); err != nil {
			return 0, fmt.Errorf("audit lock: %w", err)
		}
	}
	at := r.At
	if at.IsZero() {
		at = time.Now()
	}
	detail := "{}"
	if len(r.Detail) > 0 {
		b, err := json.Marshal(r.Detail)
		if err != nil {
			return 0, fmt.Errorf("audit detail: %w", err)
		}
		detail = string(b)
	}
	var last struct {
		Seq  int64  `db:"seq"`
		Hash string `db:"hash"`
	}
	err := tx.Get(ctx, &last, "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
	if errors.Is(err, ErrNotFound) {
		// Empty log: continue from the anchor if old entries were pruned.
		err = tx.Get(ctx, &last, "SELECT seq, hash FROM audit_anchor WHERE id = 1")
		if errors.Is(err, ErrNotFound) {
			err = nil
		}
	}
	if err != nil {
		return 0, fmt.Errorf("audit tail: %w", err)
	}
	actor := r.Actor
	if a := ActorFrom(ctx); a != "" {
		actor = a
	}
	e := AuditEntry{
		Seq: last.Seq + 1, At: at.UnixMilli(), Actor: actor, Action: r.Action,
		SubjectRef: r.SubjectRef, Outcome: r.Outcome, Detail: detail, PrevHash: last.Hash,
	}
	e.Hash = e.ComputeHash()
	_, err = tx.Exec(ctx, `INSERT INTO audit_log (seq, at, actor, action, subject_ref, outcome, detail, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Seq, e.At, e.Actor, e.Action, e.SubjectRef, e.Outcome, e.Detail, e.PrevHash, e.Hash)
	if err != nil {
		return 0, fmt.Errorf("append audit entry: %w", err)
	}
	tx.head = &Head{Seq: e.Seq, Hash: e.Hash, At: e.At}
	return e.Seq, nil
}

// AuditHead returns the newest entry of the trail (or, when every entry was
// pruned, the pruning anchor); ok is false for a trail that never held one.
func (db *DB) AuditHead(ctx context.Context) (h Head, ok bool, err error) {
	err = db.Get(ctx, &h, "SELECT seq, hash, at FROM audit_log ORDER BY seq DESC LIMIT 1")
	if errors.Is(err, ErrNotFound) {
		err = db.Get(ctx, &h, "SELECT seq, hash FROM audit_anchor WHERE id = 1")
	}
	if errors.Is(err, ErrNotFound) {
		return Head{}, false, nil
	}
	if err != nil {
		return Head{}, false, fmt.Errorf("audit head: %w", err)
	}
	return h, true, nil
}

// ComputeHash returns the SHA-256 over the entry's fields and its
// predecessor's hash, hex-encoded.
func (e AuditEntry) ComputeHash() string {
	h := sha256.New()
	for _, f := range []string{
		e.PrevHash, strconv.FormatInt(e.Seq, 10), strconv.FormatInt(e.At, 10),
		e.Actor, e.Action, e.SubjectRef, e.Outcome, e.Detail,
	} {
		h.Write([]byte(strconv.Itoa(len(f))))
		h.Write([]byte{':'})
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// AuditFilter narrows ListAudit.
type AuditFilter struct {
	AfterSeq   int64 // entries with seq > AfterSeq
	Action     string
	SubjectRef string
	Actor      string
	Limit      int // 0: no limit
	// Newest selects the newest Limit entries (not the oldest after
	// AfterSeq); Desc lists newest first.
	Newest bool
	Desc   bool
}

// ListAudit calls fn for each entry in sequence order (newest first with
// f.Desc), streaming.
func (db *DB) ListAudit(ctx context.Context, f AuditFilter, fn func(AuditEntry) error) error {
	q := "SELECT seq, at, actor, action, subject_ref, outcome, detail, prev_hash, hash FROM audit_log WHERE seq > ?"
	args := []any{f.AfterSeq}
	if f.Action != "" {
		q += " AND action = ?"
		args = append(args, f.Action)
	}
	if f.SubjectRef != "" {
		q += " AND subject_ref = ?"
		args = append(args, f.SubjectRef)
	}
	if f.Actor != "" {
		q += " AND actor = ?"
		args = append(args, f.Actor)
	}
	order := " ORDER BY seq"
	if f.Desc {
		order += " DESC"
	}
	switch {
	case f.Limit > 0 && f.Newest:
		q = "SELECT * FROM (" + q + " ORDER BY seq DESC LIMIT " + strconv.Itoa(f.Limit) + ") newest" + order
	case f.Limit > 0:
		q += order + " LIMIT " + strconv.Itoa(f.Limit)
	default:
		q += order
	}
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var e AuditEntry
		if err := rows.StructScan(&e); err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// AuditVerification is the result of VerifyAudit.
type AuditVerification struct {
	Entries   int64  `json:"entries"`
	FirstSeq  int64  `json:"first_seq"`
	LastSeq   int64  `json:"last_seq"`
	BrokenSeq int64  `json:"broken_seq,omitempty"` // first entry that does not verify
	Reason    string `json:"reason,omitempty"`
	// PrunedSeq is the last entry removed by retention (0: none): the chain
	// is verified from there.
	PrunedSeq int64 `json:"pruned_seq,omitempty"`
	// Diverged is set when the trail does not reach the heads recorded
	// outside the store: from DivergeSeq on, the heads recorded there are
	// missing from the store (a cut tail, a restored backup) or differ from
	// its entries (a restored backup written since, or a rewritten tail).
	// AgreedSeq is the newest head the store still agrees with (0: none),
	// NewestSeq the newest head recorded, Recorded when the first diverging
	// and the newest head were recorded.
	Diverged bool `json:"diverged,omitempty"`
	// ReagreedSeq is the newest head after a divergence that the store
	// holds with the same hash: when it is the file's newest, the file,
	// a restore written since and an edited line cannot be told apart by
	// hashes (VerifyAuditHeads says both).
	ReagreedSeq int64        `json:"reagreed_seq,omitempty"`
	DivergeSeq  int64        `json:"diverge_seq,omitempty"`
	AgreedSeq   int64        `json:"agreed_seq,omitempty"`
	NewestSeq   int64        `json:"newest_head_seq,omitempty"`
	Recorded    [2]time.Time `json:"-"`
}

// ErrAuditBehind is returned by VerifyAuditHeads when the store's trail
// does not reach the newest head recorded outside it: its tail was cut, or
// the store was restored from an older backup (and perhaps written since).
var ErrAuditBehind = errors.New("audit trail does not reach its anchor")

// VerifyAudit recomputes the chain. It returns ErrAuditBroken (wrapped, with
// the first broken entry named) when any entry was edited, removed or
// inserted out of order.
func (db *DB) VerifyAudit(ctx context.Context) (AuditVerification, error) {
	return db.VerifyAuditHeads(ctx, nil)
}

// VerifyAuditHeads recomputes the chain and checks it against heads
// recorded outside the store, in increasing sequence order. The store must
// hold the newest head, and every head it holds must carry the same hash;
// otherwise it returns ErrAuditBehind (wrapped, naming the range and when it
// was recorded). A chain that does not hold in itself is ErrAuditBroken.
// Heads older than what retention pruned are skipped.
func (db *DB) VerifyAuditHeads(ctx context.Context, heads []Head) (AuditVerification, error) {
	var v AuditVerification
	var anchor struct {
		Seq  int64  `db:"seq"`
		Hash string `db:"hash"`
	}
	if err := db.Get(ctx, &anchor, "SELECT seq, hash FROM audit_anchor WHERE id = 1"); err != nil && !errors.Is(err, ErrNotFound) {
		return v, err
	}
	prevSeq, prevHash := anchor.Seq, anchor.Hash
	v.PrunedSeq = anchor.Seq
	j := 0
	// headsUpTo checks the heads up to seq against the store's entry
	// (seq, hash); heads before it were pruned.
	headsUpTo := func(seq int64, hash string) {
		for ; j < len(heads) && heads[j].Seq <= seq; j++ {
			h := heads[j]
			switch {
			case h.Seq < seq:
			case v.Diverged:
				if h.Hash == hash {
					v.ReagreedSeq = seq
				}
			case h.Hash == hash:
				v.AgreedSeq = seq
			default:
				v.Diverged, v.DivergeSeq, v.Recorded[0] = true, seq, h.Recorded
			}
		}
	}
	if anchor.Seq > 0 {
		headsUpTo(anchor.Seq, anchor.Hash)
	}
	err := db.ListAudit(ctx, AuditFilter{}, func(e AuditEntry) error {
		if v.Entries == 0 {
			v.FirstSeq = e.Seq
		}
		v.Entries++
		v.LastSeq = e.Seq
		switch {
		case e.Seq != prevSeq+1:
			v.BrokenSeq, v.Reason = e.Seq, fmt.Sprintf("entry %d follows entry %d: entries are missing", e.Seq, prevSeq)
		case e.PrevHash != prevHash:
			v.BrokenSeq, v.Reason = e.Seq, fmt.Sprintf("entry %d does not link to the hash of entry %d", e.Seq, prevSeq)
		case e.ComputeHash() != e.Hash:
			v.BrokenSeq, v.Reason = e.Seq, fmt.Sprintf("entry %d was modified: its content does not match its hash", e.Seq)
		default:
			headsUpTo(e.Seq, e.Hash)
		}
		if v.BrokenSeq != 0 {
			return ErrAuditBroken
		}
		prevSeq, prevHash = e.Seq, e.Hash
		return nil
	})
	if errors.Is(err, ErrAuditBroken) {
		return v, fmt.Errorf("%w at entry %d: %s", ErrAuditBroken, v.BrokenSeq, v.Reason)
	}
	if err != nil {
		return v, err
	}
	if v.Entries == 0 {
		v.LastSeq = prevSeq
	}
	if len(heads) == 0 {
		return v, nil
	}
	newest := heads[len(heads)-1]
	v.NewestSeq, v.Recorded[1] = newest.Seq, newest.Recorded
	if !v.Diverged && newest.Seq > prevSeq {
		for _, h := range heads[j:] {
			if h.Seq > prevSeq {
				v.Diverged, v.DivergeSeq, v.Recorded[0] = true, h.Seq, h.Recorded
				break
			}
		}
	}
	if !v.Diverged {
		return v, nil
	}
	when := fmt.Sprintf("recorded outside the store between %s and %s",
		v.Recorded[0].UTC().Format(time.RFC3339), v.Recorded[1].UTC().Format(time.RFC3339))
	if v.DivergeSeq > prevSeq {
		return v, fmt.Errorf("%w: the store's trail ends at entry %d, but entries %d..%d were %s",
			ErrAuditBehind, prevSeq, prevSeq+1, v.NewestSeq, when)
	}
	if v.ReagreedSeq != 0 && v.ReagreedSeq == newest.Seq {
		// The store holds the newest head with its hash, and a chained hash
		// vouches for everything before it: either a backup was restored
		// and written since (the file then holds heads of both timelines),
		// or the file's line for the diverging head was edited — hashes
		// cannot tell which; the times of the lines can (adversarial pass
		// 8 F5: an edited line was read as a restore only).
		return v, fmt.Errorf("%w: the store's entry %d differs from the head %s, but the store matches the file's newest head (entry %d) and so every entry before it: either a backup was restored and written since, or the anchor file's line for entry %d was edited or damaged — compare the file's lines from entry %d on with your copy of it before accepting a restore",
			ErrAuditBehind, v.DivergeSeq, when, newest.Seq, v.DivergeSeq, v.DivergeSeq)
	}
	return v, fmt.Errorf("%w: the store's entries from %d on differ from the heads %s (the store agrees up to entry %d; its trail now ends at entry %d)",
		ErrAuditBehind, v.DivergeSeq, when, v.AgreedSeq, prevSeq)
}

// AuditReference is a record that points into the audit trail.
type AuditReference struct {
	Table string `json:"table"`
	Key   string `json:"key"` // the record's id (a request or run id: no personal data)
	Seq   int64  `json:"seq,omitempty"`
	// PastHead is set for a record written after the trail's last entry
	// (a hold created or released, a retention run started or finished
	// later): its entry was in a tail that was cut, since a restored
	// backup holds no record newer than its own trail.
	PastHead bool `json:"past_head,omitempty"`
}

// DanglingAuditReferences returns the records that point to an audit entry
// the trail does not hold: request actions whose audit_seq is past the head
// or between the pruned anchor and the first entry's gap, and finished
// retention runs (started after the trail's first entry) without their
// retention.run entry, policy approvals (made after the trail's first
// entry) without their policy.approve entry, and legal holds created or
// released after the
// trail's last entry (each hold.add and hold.release entry is written in the
// hold's transaction, at the same instant). At most limit of each kind are
// returned.
func (db *DB) DanglingAuditReferences(ctx context.Context, v AuditVerification, limit int) ([]AuditReference, error) {
	refs := []AuditReference{}
	var acts []struct {
		RequestID string `db:"request_id"`
		Seq       int64  `db:"audit_seq"`
	}
	if err := db.Select(ctx, &acts, `SELECT request_id, audit_seq FROM dsr_actions
		WHERE audit_seq IS NOT NULL AND audit_seq > ? ORDER BY audit_seq LIMIT `+strconv.Itoa(limit), v.LastSeq); err != nil {
		return nil, fmt.Errorf("request actions' audit references: %w", err)
	}
	for _, a := range acts {
		refs = append(refs, AuditReference{Table: "dsr_actions", Key: a.RequestID, Seq: a.Seq})
	}
	if v.Entries == 0 {
		return refs, nil
	}
	var firstAt int64
	if err := db.Get(ctx, &firstAt, "SELECT at FROM audit_log WHERE seq = ?", v.FirstSeq); err != nil {
		return nil, fmt.Errorf("audit trail's first entry: %w", err)
	}
	// Each run row is written in the same transaction as its entry:
	// retention.start (at = started_at) when it starts, retention.run
	// (at = finished_at) when it finishes.
	var runs []string
	for _, q := range []string{
		`SELECT run_id FROM retention_runs r WHERE r.started_at >= ? AND r.outcome IN ('running', 'interrupted')
		AND NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.at = r.started_at AND a.action = 'retention.start' AND a.detail LIKE '%' || r.run_id || '%')
		ORDER BY r.started_at LIMIT ` + strconv.Itoa(limit),
		`SELECT run_id FROM retention_runs r WHERE r.started_at >= ? AND r.outcome NOT IN ('running', 'interrupted') AND r.finished_at IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.at = r.finished_at AND a.action = 'retention.run' AND a.detail LIKE '%' || r.run_id || '%')
		ORDER BY r.started_at LIMIT ` + strconv.Itoa(limit),
	} {
		var ids []string
		if err := db.Select(ctx, &ids, q, firstAt); err != nil {
			return nil, fmt.Errorf("retention runs' audit entries: %w", err)
		}
		runs = append(runs, ids...)
	}
	// The latest time the trail records, not the last entry's: an entry's
	// time is its decision time (a retention run's --at, taken before it
	// waited for the write lock), so a hold committed while a run waited can
	// be newer than the run's entry that follows it in the chain.
	var headAt int64
	if err := db.Get(ctx, &headAt, "SELECT COALESCE(MAX(at), 0) FROM audit_log WHERE seq <= ?", v.LastSeq); err != nil {
		return nil, fmt.Errorf("audit trail's last entry: %w", err)
	}
	for _, r := range runs {
		var past int64
		if err := db.Get(ctx, &past, `SELECT COUNT(*) FROM retention_runs
			WHERE run_id = ? AND (started_at > ? OR finished_at > ?)`, r, headAt, headAt); err != nil {
			return nil, fmt.Errorf("retention run's times: %w", err)
		}
		refs = append(refs, AuditReference{Table: "retention_runs", Key: r, PastHead: past > 0})
	}
	// Each approval is written with its policy.approve entry (same time,
	// its id): one without it was not made by `oubli policy approve`
	// (adversarial pass 7 F5: a forged row lifted the approval gate).
	var approvals []struct {
		ID int64 `db:"id"`
		At int64 `db:"approved_at"`
	}
	if err := db.Select(ctx, &approvals, `SELECT p.id, p.approved_at FROM policy_approvals p WHERE p.approved_at >= ?
		AND NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.at = p.approved_at AND a.action = 'policy.approve'
			AND a.detail LIKE '%"approval_id":' || p.id || ',%' AND a.detail LIKE '%"revision":"' || p.revision || '"%')
		ORDER BY p.id LIMIT `+strconv.Itoa(limit), firstAt); err != nil {
		return nil, fmt.Errorf("policy approvals' audit entries: %w", err)
	}
	for _, a := range approvals {
		refs = append(refs, AuditReference{Table: "policy_approvals", Key: strconv.FormatInt(a.ID, 10), PastHead: a.At > headAt})
	}
	var holds []string
	if err := db.Select(ctx, &holds, `SELECT hold_id FROM legal_holds
		WHERE created_at > ? OR released_at > ? ORDER BY created_at, hold_id LIMIT `+strconv.Itoa(limit), headAt, headAt); err != nil {
		return nil, fmt.Errorf("legal holds' audit entries: %w", err)
	}
	for _, h := range holds {
		refs = append(refs, AuditReference{Table: "legal_holds", Key: h, PastHead: true})
	}
	return refs, nil
}

// PruneAudit deletes the entries with seq <= upTo and records the last one
// removed as the anchor from which the chain is verified. It is used by
// retention for entries past their retention period.
func PruneAudit(ctx context.Context, tx *Tx, upTo int64) (int64, error) {
	var last AuditEntry
	if err := tx.Get(ctx, &last, "SELECT seq, hash FROM audit_log WHERE seq <= ? ORDER BY seq DESC LIMIT 1", upTo); err != nil {
		if errors.Is(err, ErrNotFound) {
			return 0, nil
		}
		return 0, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO audit_anchor (id, seq, hash) VALUES (1, ?, ?)
		ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`, last.Seq, last.Hash); err != nil {
		return 0, err
	}
	res, err := tx.Exec(ctx, "DELETE FROM audit_log WHERE seq <= ?", last.Seq)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// AuditHashAt returns the hash of entry seq, from the trail or, for the last
// entry pruned by retention, from the pruning anchor; ErrNotFound when the
// store holds neither.
func (db *DB) AuditHashAt(ctx context.Context, seq int64) (string, error) {
	var h string
	err := db.Get(ctx, &h, "SELECT hash FROM audit_log WHERE seq = ?", seq)
	if errors.Is(err, ErrNotFound) {
		err = db.Get(ctx, &h, "SELECT hash FROM audit_anchor WHERE id = 1 AND seq = ?", seq)
	}
	return h, err
}
