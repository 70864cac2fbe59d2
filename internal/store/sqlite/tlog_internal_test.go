package sqlite

import (
	"context"
	"testing"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// BenchmarkAppendTree isolates what the transparency log adds to an audit
// append: appendTree (read the stored hashes the new leaf needs, hash,
// insert) inside the writer's transaction, rolled back; "Baseline" is the
// same transaction without it.
func BenchmarkAppendTree(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, storetest.SQLitePath(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for range 10_000 {
		if _, err := db.AppendAudit(ctx, audit.Entry{Actor: "key:1", Action: "match.action", Detail: []byte(`{"bank":"bench","action":"block"}`)}); err != nil {
			b.Fatal(err)
		}
	}
	es, _ := db.ListAudit(ctx, 9_999, 1)
	next := es[0]
	next.Seq++
	for _, withTree := range []bool{false, true} {
		name := "Baseline"
		if withTree {
			name = "AppendTree"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				tx, err := db.w.BeginTx(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				if withTree {
					if err := appendTree(ctx, tx, next); err != nil {
						b.Fatal(err)
					}
				}
				tx.Rollback()
			}
		})
	}
}
