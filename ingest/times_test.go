package ingest

import (
	"strings"
	"testing"
)

// Issue 17 item 11: the 1970–9999 range applies to the UTC time; offsets
// beyond ±23:59 are refused; a leap second is refused as such.
func TestParseTimeEdges(t *testing.T) {
	for in, want := range map[string]string{
		"9999-12-31T23:59:59-12:00": "time out of range (1970–9999 UTC)",
		"1970-01-01T00:00:00+14:00": "time out of range (1970–9999 UTC)",
		"2019-03-01T10:00:00+24:00": "time zone offset out of range",
		"2016-12-31T23:59:60Z":      "leap second",
		"2019-03-01T10:00:00+23:59": "",
		"9999-12-31T23:59:59Z":      "",
		"1970-01-01T00:00:00-01:00": "",
	} {
		_, err := parseTime(in)
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", in, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: got %v, want %q", in, err, want)
		}
	}
}

// A content type without a slash is not a media type.
func TestContentTypeNeedsASlash(t *testing.T) {
	line := `{"kind":"ticket","ticket_id":"T-1","request_number":"R","user":{"user_id":"u","email":"u@example.org","pseudo":"p"},` +
		`"subject":"s","description":"d","status":"open","created_at":"2019-03-01T10:00:00Z","messages":[],` +
		`"attachments":[{"attachment_id":"A-1","filename":"f","content_type":"pdf","content_base64":"aGk=","uploaded_at":"2019-03-01T10:00:00Z"}]}`
	_, faults := parseLine([]byte(line))
	if len(faults) != 1 || !strings.Contains(faults[0], "content_type: not a media type") {
		t.Fatalf("faults %v", faults)
	}
}
