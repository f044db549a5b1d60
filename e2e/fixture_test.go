package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"
)

// at is the evaluation time of every retention run of the suite.
const at = "2026-01-01T00:00:00Z"

// fixture is generated support data: the JSON Lines to ingest and the
// personal values it holds (for the secrets test).
type fixture struct {
	jsonl    []byte
	secrets  []string // e-mails, pseudos, texts, file names
	users    []string // user ids
	emails   []string
	tickets  int
	attached int
}

// genFixture builds n subjects with tickets, messages, attachments and
// account events spread over 2015–2025, deterministic in seed, so that a
// retention run at `at` deletes some of everything, anonymises some
// subjects and keeps the rest.
func genFixture(seed uint64, n int) *fixture {
	rng := rand.New(rand.NewPCG(seed, 7))
	f := &fixture{}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	day := func(y int) time.Time {
		return time.Date(y, time.Month(1+rng.IntN(12)), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), 0, 0, time.UTC)
	}
	ts := func(t time.Time) string { return t.Format(time.RFC3339) }
	for i := 0; i < n; i++ {
		uid := fmt.Sprintf("u-%03d", i)
		email := fmt.Sprintf("zq%03d.secret-mail@example.org", i)
		pseudo := fmt.Sprintf("Pseudo%03dXq", i)
		created := day(2015)
		var closed any
		if i%3 == 0 {
			closed = ts(day(2018 + i%6))
		}
		f.users = append(f.users, uid)
		f.emails = append(f.emails, email)
		f.secrets = append(f.secrets, email, pseudo)
		user := map[string]any{"user_id": uid, "email": email, "pseudo": pseudo,
			"account_created_at": ts(created), "account_closed_at": closed}
		for k := 0; k < 1+rng.IntN(3); k++ {
			tid := fmt.Sprintf("T-%03d-%d", i, k)
			c := day(2016 + rng.IntN(10))
			status, closedAt := "closed", any(ts(c.Add(72*time.Hour)))
			if rng.IntN(6) == 0 {
				status, closedAt = "open", nil
			}
			body1 := fmt.Sprintf("Bonjour, message %s secret body mq%d", tid, rng.IntN(1e9))
			body2 := fmt.Sprintf("Réponse agent pour %s mr%d", tid, rng.IntN(1e9))
			subj := fmt.Sprintf("Paiement non reçu %s sx%d", tid, rng.IntN(1e9))
			f.secrets = append(f.secrets, body1, body2, subj)
			msgs := []map[string]any{
				{"message_id": "M-" + tid + "-1", "author": "user", "body": body1, "sent_at": ts(c)},
				{"message_id": "M-" + tid + "-2", "author": "agent", "agent_id": fmt.Sprintf("ag-%d", i%4), "body": body2, "sent_at": ts(c.Add(time.Duration(1+rng.IntN(40)) * time.Hour))},
			}
			var atts []map[string]any
			if rng.IntN(2) == 0 {
				content := make([]byte, 64+rng.IntN(2048))
				for j := range content {
					content[j] = byte(rng.IntN(256))
				}
				name := fmt.Sprintf("justificatif-%s-fn%d.pdf", tid, rng.IntN(1e9))
				f.secrets = append(f.secrets, name)
				atts = append(atts, map[string]any{"attachment_id": "A-" + tid, "message_id": "M-" + tid + "-1",
					"filename": name, "content_type": "application/pdf",
					"content_base64": base64.StdEncoding.EncodeToString(content), "uploaded_at": ts(c)})
				f.attached++
			}
			if status == "open" {
				c = c.Add(-72 * time.Hour)
			}
			line := map[string]any{"kind": "ticket", "ticket_id": tid, "request_number": "REQ-" + tid,
				"user": user, "subject": subj, "description": "Description " + subj, "transaction_ref": "TX-" + tid,
				"status": status, "created_at": ts(c), "closed_at": closedAt, "messages": msgs}
			if atts != nil {
				line["attachments"] = atts
			}
			if err := enc.Encode(line); err != nil {
				panic(err)
			}
			f.tickets++
		}
		for k := 0; k < rng.IntN(3); k++ {
			ev := map[string]any{"kind": "account_event", "event_id": fmt.Sprintf("E-%03d-%d", i, k), "user_id": uid,
				"type": "password_reset", "at": ts(day(2017 + rng.IntN(9))), "detail": "from the app"}
			if err := enc.Encode(ev); err != nil {
				panic(err)
			}
		}
	}
	f.jsonl = buf.Bytes()
	return f
}

// ingestFixture writes f to the world's directory and ingests it.
func (w *world) ingestFixture(f *fixture) string {
	w.t.Helper()
	p := w.file("fixture.jsonl", f.jsonl)
	w.must("ingest", p)
	return p
}

// file writes data under the world's directory and returns its path.
func (w *world) file(name string, data []byte) string {
	w.t.Helper()
	p := w.dir + "/" + name
	if err := writeFile(p, data); err != nil {
		w.t.Fatal(err)
	}
	return p
}
