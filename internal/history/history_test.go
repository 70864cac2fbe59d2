package history_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/history"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

func TestCheckContentID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"", true},
		{"upload/2026/12/01/abc-123", true},
		{"ünïcode ok", true},
		{strings.Repeat("x", history.MaxContentID), true},
		{strings.Repeat("x", history.MaxContentID+1), false},
		{"tab\there", false},
		{"nul\x00", false},
		{"bad utf8 \xff", false},
	}
	for _, tt := range tests {
		err := history.CheckContentID(tt.id)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, history.ErrInvalid)) {
			t.Errorf("CheckContentID(%q) = %v, want ok=%v", tt.id, err, tt.ok)
		}
	}
}

// TestStore: hits round-trip through both engines; pruning deletes only
// what is older than the cut-off.
func TestStore(t *testing.T) {
	dsns := map[string]string{"sqlite": storetest.SQLitePath(t)}
	if os.Getenv(storetest.PostgresEnv) != "" || os.Getenv("CI") == "true" {
		dsns["postgres"] = storetest.PostgresURL(t)
	}
	for engine, dsn := range dsns {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			st, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			now := time.Now().UTC().Truncate(time.Microsecond)
			old := history.Hit{At: now.Add(-48 * time.Hour), Submitter: "key:1 (a)", ContentID: "c1", Bank: "b", SignalID: 7, Type: "pdq", Value: strings.Repeat("0", 64), Distance: 12}
			recent := old
			recent.At, recent.ContentID, recent.Distance = now, "c2", 3
			if err := st.RecordHits(ctx, []history.Hit{old, recent}); err != nil {
				t.Fatal(err)
			}
			got, err := st.ListHits(ctx, history.Query{Limit: 10})
			if err != nil || len(got) != 2 {
				t.Fatalf("list: %v %v", got, err)
			}
			recent.ID, old.ID = got[0].ID, got[1].ID
			if got[0] != recent || got[1] != old {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, []history.Hit{recent, old})
			}
			n, err := st.PruneHits(ctx, now.Add(-24*time.Hour))
			if err != nil || n != 1 {
				t.Fatalf("prune: %d %v", n, err)
			}
			if got, _ := st.ListHits(ctx, history.Query{Limit: 10}); len(got) != 1 || got[0].ContentID != "c2" {
				t.Errorf("after prune: %+v", got)
			}
		})
	}
}

func TestUploaderCheck(t *testing.T) {
	ok := history.Uploader{AccountID: "u1", IP: "2001:db8::1", Port: 443, DeviceIDs: []string{"imei:1"}, ContentURL: "https://cdn.example/x.jpg"}
	if err := ok.Check(); err != nil || ok.Empty() {
		t.Fatalf("valid uploader: %v", err)
	}
	if !(history.Uploader{}).Empty() {
		t.Fatal("zero uploader not empty")
	}
	for name, u := range map[string]history.Uploader{
		"bad ip":         {IP: "999.1.1.1"},
		"port":           {Port: 70000},
		"http url":       {ContentURL: "http://cdn.example/x.jpg"},
		"url with user":  {ContentURL: "https://a:b@cdn.example/x.jpg"},
		"control char":   {AccountID: "a\nb"},
		"too many ids":   {DeviceIDs: make([]string, 17)},
		"long file name": {FileName: string(make([]byte, 600))},
	} {
		if err := u.Check(); !errors.Is(err, history.ErrInvalid) {
			t.Errorf("%s: %v, want history.ErrInvalid", name, err)
		}
	}
}

// TestHitsPerDay: hits are counted per UTC day and bank on both engines,
// at the day boundary too.
func TestHitsPerDay(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		d1 := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
		d2 := d1.AddDate(0, 0, 1)
		h := func(at time.Time, bank string) history.Hit {
			return history.Hit{At: at, Submitter: "k", Bank: bank, SignalID: 1, Type: "md5", Value: strings.Repeat("0", 32)}
		}
		hits := []history.Hit{
			h(d1.Add(-time.Microsecond), "a"), // the day before: outside
			h(d1, "a"), h(d1.Add(23*time.Hour+59*time.Minute), "a"), h(d1.Add(time.Hour), "b"),
			h(d2, "a"), h(d2.Add(time.Second), "b"), h(d2.Add(2*time.Second), "b"),
		}
		if err := st.RecordHits(ctx, hits); err != nil {
			t.Fatal(err)
		}
		got, err := st.HitsPerDay(ctx, d1)
		if err != nil {
			t.Fatal(err)
		}
		want := []history.DayCount{{Day: d1, Bank: "a", Hits: 2}, {Day: d1, Bank: "b", Hits: 1}, {Day: d2, Bank: "a", Hits: 1}, {Day: d2, Bank: "b", Hits: 2}}
		if len(got) != len(want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		for i := range want {
			if !got[i].Day.Equal(want[i].Day) || got[i].Bank != want[i].Bank || got[i].Hits != want[i].Hits {
				t.Errorf("row %d: got %+v, want %+v", i, got[i], want[i])
			}
		}
	})
}
