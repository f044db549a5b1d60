package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestResidueAttachmentIndex: a text document of one subject quoting
// another's e-mail address is found by that other subject's erasure through
// the attachment index (a strong finding in "blobs", no blob read); the
// fixture's PDFs, of a type the index does not read, are said not checked,
// in the JSON report and in the text one; `residue reindex` has nothing to
// backfill after an ingest; the sweep still finds the document byte by byte.
func TestResidueAttachmentIndex(t *testing.T) {
	forEachBackend(t, func(t *testing.T, w *world) {
		w.must("migrate")
		f := genFixture(23, 8)
		w.ingestFixture(f)
		email := f.emails[4]
		doc := base64.StdEncoding.EncodeToString([]byte("Attestation: le vendeur " + strings.ToUpper(email) + " a remboursé."))
		line := fmt.Sprintf(`{"kind":"ticket","ticket_id":"T-X","request_number":"REQ-X","user":{"user_id":"u-005","email":%q,"pseudo":"Pseudo005Xq","account_created_at":"2015-01-01T00:00:00Z","account_closed_at":null},`+
			`"subject":"Remboursement","description":"voir pièce","status":"open","created_at":"2025-01-01T00:00:00Z","closed_at":null,"messages":[{"message_id":"M-X","author":"user","body":"ci-joint","sent_at":"2025-01-01T00:00:00Z"}],`+
			`"attachments":[{"attachment_id":"A-X","message_id":"M-X","filename":"attestation.txt","content_type":"text/plain","content_base64":%q,"uploaded_at":"2025-01-01T00:00:00Z"}]}`+"\n",
			f.emails[5], doc)
		w.must("ingest", w.file("more.jsonl", []byte(line)))
		if r := w.must("residue", "reindex"); !strings.Contains(r.stdout, "0 document(s) indexed") {
			t.Errorf("reindex after ingest: %s", r)
		}

		r := w.must("--output", "json", "erase", "--user-id", "u-004")
		var rep struct {
			Residue struct {
				Findings    map[string]int64 `json:"findings"`
				Found       map[string]int64 `json:"found"`
				Deferred    []string         `json:"deferred"`
				Attachments struct {
					Candidates int64 `json:"candidates"`
					NotIndexed int64 `json:"not_indexed"`
					NotCovered int64 `json:"not_covered"`
				} `json:"attachments"`
			} `json:"residue"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("erase: %v\n%s", err, r.stdout)
		}
		res := rep.Residue
		if res.Findings["blobs"] != 1 || res.Attachments.Candidates != 1 || res.Attachments.NotIndexed != 0 || res.Found["blobs"] != 0 {
			t.Fatalf("erasure's residue: %+v", res)
		}
		if res.Attachments.NotCovered == 0 || !strings.Contains(strings.Join(res.Deferred, "\n"), "of a type the index does not read") {
			t.Errorf("the fixture's PDFs are not said unchecked: %+v", res)
		}
		if strings.Contains(strings.ToLower(r.stdout), strings.ToLower(email)) {
			t.Errorf("the erasure's report holds the e-mail")
		}
		if r := w.must("erase", "--user-id", "u-006"); !strings.Contains(r.stdout, "attachments not checked by the erasure") {
			t.Errorf("text report does not say which attachments were not checked: %s", r)
		}
		// The nightly sweep reads every blob: it finds the document too.
		if r := w.run(nil, "check", "--residue"); r.code != 1 || !strings.Contains(r.stderr, "blobs") {
			t.Errorf("sweep: %s", r)
		}
	})
}
