package dsr

import (
	"crypto/sha256"
	"encoding/hex"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of the names given to attachment files inside an export archive.
const (
	maxIDNameLen   = 64  // bytes of the attachment directory name
	maxFileNameLen = 120 // bytes of the file name
)

// AttachmentPath returns the archive path of an attachment's file:
// "attachments/<id>/<filename>", both parts sanitised so that no stored
// value, however hostile, can name a path outside the archive's attachments/
// directory (no "..", no absolute path, no separator, no NUL or other control
// or format character, bounded length). A sanitised id is suffixed with a
// hash of the original, so two ids never share a directory.
func AttachmentPath(attachmentID, filename string) string {
	dir := safeID(attachmentID)
	return path.Join("attachments", dir, safeFileName(filename))
}

// safeID keeps [A-Za-z0-9._-]; anything else, or an over-long id, is
// replaced and the result suffixed with 8 hex digits of the id's SHA-256.
func safeID(id string) string {
	var b strings.Builder
	changed := false
	for _, r := range id {
		switch {
		case r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'):
			b.WriteRune(r)
		default:
			b.WriteByte('_')
			changed = true
		}
	}
	s := b.String()
	if s == "" || strings.Trim(s, ".") == "" || strings.HasPrefix(s, ".") {
		s = "_" + s
		changed = true
	}
	if len(s) > maxIDNameLen {
		s = s[:maxIDNameLen]
		changed = true
	}
	if changed {
		sum := sha256.Sum256([]byte(id))
		s += "-" + hex.EncodeToString(sum[:4])
	}
	return s
}

// safeFileName keeps a readable file name (letters of any script are kept)
// but drops directory parts' separators, control and format characters
// (such as U+202E, which can disguise an extension), characters reserved on
// Windows, and leading dots; it bounds the length, keeping the extension.
func safeFileName(name string) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r == utf8.RuneError, unicode.IsControl(r), unicode.Is(unicode.Cf, r):
			// dropped
		case r == '/' || r == '\\' || strings.ContainsRune(`<>:"|?*`, r):
			b.WriteByte('_')
		case unicode.IsSpace(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	s := strings.TrimSpace(b.String())
	s = strings.TrimLeft(s, ". ")
	s = strings.TrimRight(s, ". ") // Windows drops trailing dots and spaces
	if len(s) > maxFileNameLen {
		ext := path.Ext(s)
		if len(ext) > 16 || !utf8.ValidString(ext) {
			ext = ""
		}
		stem := s[:maxFileNameLen-len(ext)]
		for !utf8.ValidString(stem) {
			stem = stem[:len(stem)-1]
		}
		s = strings.TrimRight(stem, ". ") + ext
	}
	if s == "" {
		s = "file"
	}
	return s
}
