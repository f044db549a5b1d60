package ingest

// SetRowByRow makes ingest write one row per statement (the baseline of
// BenchmarkIngest) and returns a function that restores batches.
func SetRowByRow(on bool) (restore func()) {
	was := rowByRow
	rowByRow = on
	return func() { rowByRow = was }
}
