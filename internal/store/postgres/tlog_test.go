package postgres_test

import (
	"testing"

	"github.com/nigehban/nigehban/internal/store/storetest"
)

func BenchmarkRecordMatch(b *testing.B) {
	storetest.BenchRecordMatch(b, storetest.OpenBench(b, storetest.Postgres), 10_000)
}
