package sqlite_test

import (
	"testing"

	"github.com/nigehban/nigehban/internal/store/storetest"
)

func BenchmarkRecordMatch(b *testing.B) {
	storetest.BenchRecordMatch(b, storetest.OpenBench(b, storetest.SQLite), 10_000)
}
