package residue

import (
	"bytes"
	"encoding/json"
	"errors"
	"html"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/encoding/unicode/utf32"
)

// maxJSONStrings bounds the string values read out of one JSON document.
const maxJSONStrings = 1_000_000

// decodeText turns the bytes of a text-bearing document of media type mt
// (params: its parameters) into the texts the tokenizer reads: the bytes
// decoded from their encoding (a UTF-16/UTF-32 byte order mark, else the
// charset parameter), then, for HTML and XML, with character references
// resolved, and for JSON, the string values with their escapes decoded.
// covered is false when the document could not be read as text: a charset
// not supported, bytes not valid UTF-8 once decoded, NUL bytes (UTF-16
// without a mark, binary), JSON that does not parse. The index records such
// a document as read in part (not covered), never as indexed.
func decodeText(mt string, params map[string]string, raw []byte) (texts []string, covered bool) {
	covered = true
	var enc encoding.Encoding
	switch {
	case bytes.HasPrefix(raw, []byte{0xFF, 0xFE, 0, 0}):
		enc = utf32.UTF32(utf32.LittleEndian, utf32.ExpectBOM)
	case bytes.HasPrefix(raw, []byte{0, 0, 0xFE, 0xFF}):
		enc = utf32.UTF32(utf32.BigEndian, utf32.ExpectBOM)
	case bytes.HasPrefix(raw, []byte{0xFF, 0xFE}):
		enc = unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM)
	case bytes.HasPrefix(raw, []byte{0xFE, 0xFF}):
		enc = unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM)
	case bytes.HasPrefix(raw, []byte{0xEF, 0xBB, 0xBF}):
		raw = raw[3:]
	default:
		switch cs := strings.ToLower(strings.TrimSpace(params["charset"])); cs {
		case "", "utf-8", "utf8", "us-ascii", "ascii":
		default:
			e, err := htmlindex.Get(cs)
			if err != nil {
				return []string{string(raw)}, false
			}
			enc = e
		}
	}
	text := string(raw)
	if enc != nil {
		d, err := enc.NewDecoder().Bytes(raw)
		if err != nil {
			return []string{text}, false
		}
		text = string(d)
	}
	if !utf8.ValidString(text) || strings.IndexByte(text, 0) >= 0 {
		return []string{text}, false
	}
	texts = []string{text}
	switch {
	case mt == "text/html" || mt == "application/xhtml+xml" || mt == "text/xml" || mt == "application/xml" || strings.HasSuffix(mt, "+xml"):
		if u := html.UnescapeString(text); u != text {
			texts = append(texts, u)
		}
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		s, ok := jsonStrings(text)
		if !ok {
			covered = false
		}
		if s != "" {
			texts = append(texts, s)
		}
	}
	return texts, covered
}

// jsonStrings returns the string keys and values of a JSON document, escapes
// decoded, one a line; ok is false when it does not parse (or has too many).
func jsonStrings(text string) (string, bool) {
	dec := json.NewDecoder(strings.NewReader(text))
	var b strings.Builder
	depth := 0
	for n := 0; ; n++ {
		if n > maxJSONStrings {
			return b.String(), false
		}
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return b.String(), depth == 0 && n > 0
		}
		if err != nil {
			return b.String(), false
		}
		switch v := tok.(type) {
		case string:
			b.WriteString(v)
			b.WriteByte('\n')
		case json.Delim:
			if v == '{' || v == '[' {
				depth++
			} else {
				depth--
			}
		}
	}
}

// charsetReader decodes the encoded words of e-mail headers in any charset
// the HTML index knows.
func charsetReader(charset string, in io.Reader) (io.Reader, error) {
	e, err := htmlindex.Get(strings.ToLower(charset))
	if err != nil {
		return nil, err
	}
	return e.NewDecoder().Reader(in), nil
}

// mediaType parses a content type, "" when it does not parse.
func mediaType(ct string) (string, map[string]string) {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", nil
	}
	return mt, params
}
