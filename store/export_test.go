package store

// ByEmail is the condition FindSubject looks subjects up by e-mail with
// (for the plan test).
const ByEmail = byEmail

// SetBlobRefsPage sets how many keys b reads per query (tests cross pages
// with few rows).
func SetBlobRefsPage(b *BlobRefs, n int) { b.page = n }
