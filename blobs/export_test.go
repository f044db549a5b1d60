package blobs

// SetListPage sets the page size of version listings for a test and returns
// the function that restores it.
func SetListPage(n int32) func() {
	old := listPage
	listPage = n
	return func() { listPage = old }
}
