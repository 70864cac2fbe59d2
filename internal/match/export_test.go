package match

// SetParallelScanMin lets tests force LoadStore's parallel range scans on
// small banks; it returns a function restoring the old value.
func SetParallelScanMin(n int64) (restore func()) {
	old := parallelScanMin
	parallelScanMin = n
	return func() { parallelScanMin = old }
}
