package store

// SetBlobRefsPage sets how many keys b reads per query (tests cross pages
// with few rows).
func SetBlobRefsPage(b *BlobRefs, n int) { b.page = n }
