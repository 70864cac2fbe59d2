package retro_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/retro"
	"github.com/nigehban/nigehban/internal/review"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// TestToReview: retroactive hits are queued for review whatever the bank's
// action (the upload is past), one request per upload; a negative bank's
// hit of the same upload suppresses the others.
func TestToReview(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		by := audit.Actor{Name: "test"}
		svc := bank.NewService(st)
		blocking := bank.NewBank("known")
		blocking.Action = bank.ActionBlock
		neg := bank.NewBank("benign")
		neg.Negative = true
		for _, b := range []bank.Bank{blocking, neg} {
			if _, err := svc.CreateBank(ctx, b, by); err != nil {
				t.Fatal(err)
			}
		}
		v1, v2 := strings.Repeat("1", 32), strings.Repeat("2", 32)
		s1, _, err := svc.AddSignal(ctx, "known", bank.Signal{Type: bank.MD5, Value: v1, Quality: -1}, by)
		if err != nil {
			t.Fatal(err)
		}
		s2, _, err := svc.AddSignal(ctx, "known", bank.Signal{Type: bank.MD5, Value: v2, Quality: -1}, by)
		if err != nil {
			t.Fatal(err)
		}
		n2, _, err := svc.AddSignal(ctx, "benign", bank.Signal{Type: bank.MD5, Value: v2, Quality: -1}, by)
		if err != nil {
			t.Fatal(err)
		}
		up := func(id int64, content, v string) retro.Upload {
			return retro.Upload{ID: id, At: time.Now(), Submitter: "key:1", ContentID: content, Type: "md5", Value: v}
		}
		rs := review.NewService(st, nil)
		retro.ToReview(rs, nil)(ctx, []retro.Hit{
			{Upload: up(1, "c1", v1), Signal: s1},
			{Upload: up(2, "c2", v2), Signal: s2},
			{Upload: up(2, "c2", v2), Signal: n2},
		})
		items, err := st.ListReviews(ctx, review.Query{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != 1 || items[0].ContentID != "c1" || items[0].Bank != "known" || items[0].SignalID != s1.ID {
			t.Fatalf("queued %+v; want only c1's hit on the blocking bank", items)
		}
	})
}
