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
// or format character, bounded length). Two attachment ids never share a
// directory, even on a case-insensitive reader (Windows, macOS): see safeID.
func AttachmentPath(attachmentID, filename string) string {
	dir := safeID(attachmentID)
	return path.Join("attachments", dir, safeFileName(filename))
}

// safeID names an attachment's directory. An id is kept as it is only when
// it is made of upper-case letters, digits, '.', '_' and '-' (the usual
// form, "A-1"), does not start with a dot, is at most 64 bytes long and
// does not end like a suffix below ("-" and 8 hex digits). Any other id
// (with a lower-case letter, another character, too long) keeps its
// [A-Za-z0-9._-] characters, others replaced by '_', cut to 64 bytes, and
// is suffixed with "-" and 8 hex digits of the id's SHA-256.
//
// So the names are unique case-insensitively: two kept ids differ in
// something else than case (they have no lower-case letter); a kept id
// never ends like a suffixed one; two suffixed ids share a name only when
// their hashes do. "A-1" and "a-1" become "A-1" and "a-1-<hash>", which a
// case-insensitive file system keeps apart.
func safeID(id string) string {
	var b strings.Builder
	changed := false
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r)
			changed = true // a lower-case letter: only one of "a-1", "A-1" may keep its name
		case r < utf8.RuneSelf && (r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'):
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
	if looksSuffixed(s) {
		changed = true
	}
	if changed {
		sum := sha256.Sum256([]byte(id))
		s += "-" + hex.EncodeToString(sum[:4])
	}
	return s
}

// looksSuffixed reports whether s ends like safeID's suffix: "-" and 8 hex
// digits of either case.
func looksSuffixed(s string) bool {
	if len(s) < 9 || s[len(s)-9] != '-' {
		return false
	}
	for _, c := range s[len(s)-8:] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
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
