package exchange_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/exchange"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/sqlite/sqlitedrv"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// crashingStore is a store whose process "dies" after a number of merges:
// the fetch's context is cancelled and nothing more reaches the database,
// so the pages waiting in memory are lost and the checkpoint stays where
// the last merge left it, as a SIGKILL would leave them.
type crashingStore struct {
	store.Store
	ms     exchange.MergeStore
	after  int   // merges before the crash
	fail   error // if set, merge number after fails with it instead
	kill   context.CancelFunc
	merges atomic.Int32
	dead   atomic.Bool
}

var errDead = errors.New("process killed")

func (c *crashingStore) BankEmpty(ctx context.Context, name string) (bool, error) {
	return c.ms.BankEmpty(ctx, name)
}

func (c *crashingStore) MergePages(ctx context.Context, name string, prev, next exchange.Checkpoint, by audit.Actor,
	detail map[string]any, last bool, fn func(w exchange.Writer) error) error {
	if c.dead.Load() {
		return errDead
	}
	if c.fail != nil && int(c.merges.Load())+1 == c.after {
		c.merges.Add(1)
		return c.fail // the merge fails; the store lives on
	}
	err := c.ms.MergePages(ctx, name, prev, next, by, detail, last, fn)
	if err == nil && int(c.merges.Add(1)) == c.after && c.fail == nil {
		c.dead.Store(true)
		c.kill()
	}
	return err
}

func (c *crashingStore) ApplyPage(ctx context.Context, name string, prev, next exchange.Checkpoint, by audit.Actor,
	detail map[string]any, fn func(w exchange.Writer) error) error {
	if c.dead.Load() {
		return errDead
	}
	return c.Store.ApplyPage(ctx, name, prev, next, by, detail, fn)
}

// stagingStream is the conformance test's first fetch: 1200 entries, with
// values repeated by other entries in the same page and in later pages,
// entries sent again with another classification or another PDQ, a
// deletion of an entry still staged and one of an entry merged long
// before. i is the entry's position (its time).
func stagingStream() []ncmecRec {
	var rs []ncmecRec
	for i := range 1200 {
		r := syntheticRec(i)
		switch {
		case i%97 == 5: // the previous entry's md5: a duplicate in the same page
			r.MD5 = syntheticRec(i - 1).MD5
		case i%300 == 50 && i > 300: // a sha1 of 250 entries before: another page, merged or staged
			r.SHA1 = syntheticRec(i - 250).SHA1
		case i == 400 || i == 800 || i == 1000: // an entry sent again, another classification
			r = syntheticRec(i - 300)
			r.Class = "X9"
		case i == 700 || i == 1150: // an entry sent again with another PDQ
			r = syntheticRec(i - 40)
			r.PDQ = syntheticRec(i + 5000).PDQ
		case i == 600 || i == 1100 || i == 1180: // deletions: staged, merged, staged
			r = syntheticRec(map[int]int{600: 560, 1100: 20, 1180: 1175}[i])
			r.Deleted = true
		}
		r.At = syntheticRec(i).At
		rs = append(rs, r)
	}
	return rs
}

// stagingState is what the conformance test compares: every signal of
// the bank (active or not) with its metadata, the exchange entries, the
// change log's operations, the fetches' counts and the exchange's state.
type stagingState struct {
	signals []string
	entries []string
	ops     map[bank.Op]int
	applied exchange.Applied
	invalid int
	fetched int64
	staged  int64
	window  string // the checkpoint's state ("" at a window's end)
}

func readStagingState(t *testing.T, st store.Store, path string, applied exchange.Applied, invalid int) stagingState {
	t.Helper()
	ctx := context.Background()
	s := stagingState{applied: applied, invalid: invalid, ops: map[bank.Op]int{}}
	err := st.ScanSignals(ctx, bank.SignalQuery{Banks: []string{"ncmec"}, IncludeRemoved: true}, func(sg *bank.Signal) error {
		s.signals = append(s.signals, fmt.Sprintf("%s %s cat=%s src=%s q=%d extra=%v active=%v reason=%q",
			sg.Type, sg.Value, sg.Category, sg.Source, sg.Quality, sg.Extra, sg.Active(), sg.RemovedReason))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(s.signals)
	chs, err := st.Changes(ctx, 0, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chs {
		if c.Bank == "ncmec" {
			s.ops[c.Op]++
		}
	}
	x, err := st.GetExchange(ctx, "ncmec")
	if err != nil {
		t.Fatal(err)
	}
	s.fetched, s.staged, s.window = x.State.Fetched, x.State.Staged, x.Checkpoint.State
	db, err := sqlitedrv.Open(path, sqlitedrv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT entry, type, hex(key) FROM exchange_entries ORDER BY 1, 2, 3`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var e, typ, key string
		if err := rows.Scan(&e, &typ, &key); err != nil {
			t.Fatal(err)
		}
		s.entries = append(s.entries, e+" "+typ+" "+key)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if err := st.Check(ctx); err != nil {
		t.Errorf("store inconsistent: %v", err)
	}
	return s
}

// TestStagingConformance runs the same fake NCMEC stream (additions,
// values repeated across entries, updates, deletions of staged and merged
// entries, a kill mid-sync and the resumed fetch, then a second fetch of
// further deletions, updates and additions) through the staged path (many
// small merges) and the direct one (NoStaging) on SQLite, and compares the
// final state: every signal with its metadata, the exchange entries, the
// change log's operations, the counts and the checkpoint.
func TestStagingConformance(t *testing.T) {
	ctx := context.Background()
	second := func(now time.Time) []ncmecRec {
		var rs []ncmecRec
		for i := range 600 {
			r := syntheticRec(1200 + i)
			switch {
			case i == 10: // delete a merged entry
				r = syntheticRec(100)
				r.Deleted = true
			case i == 20: // update a merged entry
				r = syntheticRec(200)
				r.Class = "Z1"
			case i == 30: // a value the first fetch brought, in a new entry
				r.PDQ = syntheticRec(900).PDQ
			case i == 450: // update an entry this fetch staged (page 2)
				r = syntheticRec(1200 + 150)
				r.Class = "Z2"
			}
			r.At = now.Add(time.Duration(i) * time.Microsecond)
			rs = append(rs, r)
		}
		return rs
	}
	type run struct {
		path    string
		st      store.Store
		f       *fakeNCMEC
		svc     *exchange.Service
		applied exchange.Applied
		invalid int
		merges  int
	}
	sum := func(r *run, res exchange.Result) {
		r.applied.Added += res.Applied.Added
		r.applied.Unchanged += res.Applied.Unchanged
		r.applied.Excluded += res.Applied.Excluded
		r.applied.Withdrawn += res.Applied.Withdrawn
		r.invalid += res.Invalid
		if res.Staging != nil {
			r.merges += res.Staging.Merges
			t.Logf("%+v %+v", res.Applied, *res.Staging)
		}
	}
	syncer := func(staged bool) exchange.Syncer {
		sy := fastSyncer()
		sy.MaxBatch = 250      // two or three pages a transaction
		sy.MergeEvery = 450    // many merges, some mid-batch
		sy.NoStaging = !staged // the reference
		return sy
	}
	runs := map[bool]*run{}
	for _, staged := range []bool{false, true} {
		r := &run{path: storetest.SQLitePath(t)}
		st, err := store.Open(ctx, r.path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		r.st = st
		f, srv := newFakeNCMEC(t)
		f.maxSize = 100
		f.add(stagingStream()...)
		r.f = f
		r.svc = setup(t, st, "ncmec", exchange.KindNCMEC, srv.URL, ncmecCreds)
		// A curator excluded one value the stream brings.
		if _, _, err := bank.NewService(st).AddExclusion(ctx, "ncmec", bank.MD5, syntheticRec(333).MD5, "test", curator); err != nil {
			t.Fatal(err)
		}
		runs[staged] = r

		// The first fetch is killed after a few commits.
		kctx, kill := context.WithCancel(ctx)
		var taken atomic.Int64 // hashes the committer took
		sy := syncer(staged)
		if staged {
			cs := &crashingStore{Store: st, ms: st.(exchange.MergeStore), after: 3, kill: kill}
			sy.Store = cs
			sy.Progress = func(n int64) { taken.Store(n) }
		} else {
			commits := 0
			sy.Progress = func(int64) {
				if commits++; commits == 3 {
					kill()
				}
			}
		}
		res, err := r.svc.Fetch(kctx, "ncmec", sy)
		kill()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("staged %v: killed fetch: %v, want context.Canceled", staged, err)
		}
		sum(r, res)
		if staged {
			// Hashes waited when the process died: they are fetched again
			// from the third merge's checkpoint.
			x, err := st.GetExchange(ctx, "ncmec")
			if err != nil {
				t.Fatal(err)
			}
			merged := int64(res.Applied.Added + res.Applied.Unchanged + res.Applied.Excluded)
			if took := taken.Load(); took <= merged {
				t.Fatalf("the fetch took %d hashes and merged %d: nothing waited at the kill", took, merged)
			}
			if res.To != x.Checkpoint.Pos {
				t.Errorf("result to %d, checkpoint %d", res.To, x.Checkpoint.Pos)
			}
		}
		res, err = r.svc.Fetch(ctx, "ncmec", syncer(staged))
		if err != nil {
			t.Fatalf("staged %v: resumed fetch: %v", staged, err)
		}
		sum(r, res)
	}
	// The second fetch: further deletions, updates and additions.
	var now time.Time
	for _, staged := range []bool{false, true} {
		if w := nextWindow(t, runs[staged].st, "ncmec"); w.After(now) {
			now = w
		}
	}
	for _, staged := range []bool{false, true} {
		r := runs[staged]
		r.f.add(second(now)...)
		res, err := r.svc.Fetch(ctx, "ncmec", syncer(staged))
		if err != nil {
			t.Fatalf("staged %v: second fetch: %v", staged, err)
		}
		sum(r, res)
		if _, err := r.st.FindSignal(ctx, "ncmec", bank.MD5, syntheticRec(1799).MD5); err != nil {
			t.Fatalf("staged %v: the second fetch's last entry: %v", staged, err)
		}
	}
	d, s := runs[false], runs[true]
	if s.merges < 3 {
		t.Errorf("staged path merged %d times, want several", s.merges)
	}
	if d.merges != 0 {
		t.Errorf("direct path merged %d times", d.merges)
	}
	want := readStagingState(t, d.st, d.path, d.applied, d.invalid)
	got := readStagingState(t, s.st, s.path, s.applied, s.invalid)
	if want.applied.Withdrawn == 0 || want.applied.Unchanged == 0 || want.applied.Excluded == 0 || want.ops[bank.OpSignalRemove] == 0 {
		t.Fatalf("the stream does not exercise updates, duplicates, exclusions and deletions: %+v %v", want.applied, want.ops)
	}
	if got.staged != 0 || want.staged != 0 || got.window != "" || want.window != "" {
		t.Errorf("staged %d/%d, window %q/%q at the end", got.staged, want.staged, got.window, want.window)
	}
	if got.applied != want.applied || got.invalid != want.invalid || got.fetched != want.fetched {
		t.Errorf("counts: staged %+v (invalid %d, fetched %d), direct %+v (invalid %d, fetched %d)",
			got.applied, got.invalid, got.fetched, want.applied, want.invalid, want.fetched)
	}
	if fmt.Sprint(got.ops) != fmt.Sprint(want.ops) {
		t.Errorf("change log: staged %v, direct %v", got.ops, want.ops)
	}
	if got.ops[bank.OpSignalAdd] != len(got.signals) {
		t.Errorf("staged: %d signal.add changes for %d signals", got.ops[bank.OpSignalAdd], len(got.signals))
	}
	diff(t, "signals", got.signals, want.signals)
	diff(t, "exchange entries", got.entries, want.entries)
}

// diff reports the lines only one of got and want (sorted) has.
func diff(t *testing.T, what string, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	n := 0
	for _, g := range got {
		if _, ok := slices.BinarySearch(want, g); !ok && n < 10 {
			t.Errorf("%s: staged only: %s", what, g)
			n++
		}
	}
	for _, w := range want {
		if _, ok := slices.BinarySearch(got, w); !ok && n < 20 {
			t.Errorf("%s: direct only: %s", what, w)
			n++
		}
	}
	t.Errorf("%s: %d staged, %d direct", what, len(got), len(want))
}

// TestLegacyStagedRows: hashes an earlier version staged in
// exchange_staging and did not merge (its fetch was killed) are merged by
// the next fetch before it fetches: their signals with the metadata they
// were staged with, their exchange entries, their change-log entries, the
// staged count back to zero and a consistent store; then the fetch brings
// the exchange's stream as usual.
func TestLegacyStagedRows(t *testing.T) {
	ctx := context.Background()
	path := storetest.SQLitePath(t)
	st, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f, srv := newFakeNCMEC(t)
	for i := range 300 {
		f.add(syntheticRec(i))
	}
	svc := setup(t, st, "ncmec", exchange.KindNCMEC, srv.URL, ncmecCreds)

	// What the earlier version left: three entries' hashes (values the
	// stream does not hold), one of them also staged twice.
	db, err := sqlitedrv.Open(path, sqlitedrv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var xid, bankID int64
	if err := db.QueryRowContext(ctx, `SELECT x.id, b.id FROM exchanges x JOIN banks b ON b.name = x.bank WHERE x.name = 'ncmec'`).
		Scan(&xid, &bankID); err != nil {
		t.Fatal(err)
	}
	var staged []ncmecRec
	for i := range 3 {
		staged = append(staged, syntheticRec(10_000+i))
	}
	n := 0
	for k, r := range append(staged, staged[0]) {
		entry := "image/" + r.Member + "/" + r.ID
		extra := fmt.Sprintf(`{"classification":%q,"exchange":"ncmec","exchange_entry":%q,"member":%q}`, r.Class, entry, r.Member)
		for _, h := range []struct{ typ, hex string }{{"md5", r.MD5}, {"sha1", r.SHA1}, {"pdq", r.PDQ}} {
			if _, err := db.ExecContext(ctx, `INSERT INTO exchange_staging (exchange_id, bank_id, entry, type, key, body, category, source,
				note, extra, quality) VALUES (?, ?, ?, ?, unhex(?), NULL, ?, 'exchange:ncmec', '', ?, -1)`,
				xid, bankID, entry, h.typ, h.hex, r.Class, extra); err != nil {
				t.Fatalf("stage row %d: %v", k, err)
			}
			n++
		}
	}
	if _, err := db.ExecContext(ctx, `UPDATE exchanges SET staged = ? WHERE id = ?`, n, xid); err != nil {
		t.Fatal(err)
	}
	x, err := st.GetExchange(ctx, "ncmec")
	if err != nil {
		t.Fatal(err)
	}
	if note := x.State.StagedNote(); !strings.HasPrefix(note, fmt.Sprintf("%d hashes staged", n)) {
		t.Errorf("status of the staged hashes: %q", note)
	}

	res, err := svc.Fetch(ctx, "ncmec", fastSyncer())
	if err != nil {
		t.Fatal(err)
	}
	if res.Staging == nil || res.Staging.Merges < 1 {
		t.Fatalf("the fetch merged nothing: %+v", res)
	}
	if want := 300*3 + 9; res.Applied.Added != want || res.Applied.Unchanged != 3 {
		t.Errorf("applied %+v, want %d added and the 3 hashes staged twice unchanged", res.Applied, want)
	}
	for _, r := range staged {
		sg, err := st.FindSignal(ctx, "ncmec", bank.PDQ, r.PDQ)
		if err != nil {
			t.Fatalf("staged PDQ of %s not merged: %v", r.ID, err)
		}
		if sg.Category != r.Class || sg.Extra[exchange.MetaEntry] != "image/"+r.Member+"/"+r.ID || sg.Source != "exchange:ncmec" {
			t.Errorf("merged signal %+v", sg)
		}
	}
	var entries, changes int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM exchange_entries WHERE exchange_id = ?`, xid).Scan(&entries); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM changes WHERE op = 'signal.add'`).Scan(&changes); err != nil {
		t.Fatal(err)
	}
	if entries != 303*3 || changes != 303*3 {
		t.Errorf("%d exchange entries and %d signal.add changes, want %d", entries, changes, 303*3)
	}
	if x, err = st.GetExchange(ctx, "ncmec"); err != nil || x.State.Staged != 0 || x.State.StagedNote() != "" {
		t.Errorf("after the fetch: staged %d (%v)", x.State.Staged, err)
	}
	var left int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM exchange_staging`).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d rows left staged (%v)", left, err)
	}
	if err := st.Check(ctx); err != nil {
		t.Errorf("store inconsistent: %v", err)
	}
}

// TestMergeFails: a merge that fails (a full disk, say) fails the fetch
// with its error once the merges before it are committed; what waited
// after it is dropped, the checkpoint is the last good merge's, and the
// next fetch brings the bank to the same state as a fetch that never
// failed.
func TestMergeFails(t *testing.T) {
	ctx := context.Background()
	var states []stagingState
	for _, failing := range []bool{false, true} {
		path := storetest.SQLitePath(t)
		st, err := store.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		f, srv := newFakeNCMEC(t)
		f.maxSize = 100
		for i := range 1500 {
			f.add(syntheticRec(i))
		}
		svc := setup(t, st, "ncmec", exchange.KindNCMEC, srv.URL, ncmecCreds)
		sy := fastSyncer()
		sy.MaxBatch = 200
		sy.MergeEvery = 900
		var applied exchange.Applied
		if failing {
			errDisk := errors.New("disk full")
			sy.Store = &crashingStore{Store: st, ms: st.(exchange.MergeStore), after: 3, fail: errDisk}
			res, err := svc.Fetch(ctx, "ncmec", sy)
			if !errors.Is(err, errDisk) {
				t.Fatalf("fetch with a failing merge: %v, want %v", err, errDisk)
			}
			x, err := st.GetExchange(ctx, "ncmec")
			if err != nil {
				t.Fatal(err)
			}
			if res.Staging == nil || res.Staging.Merges < 2 || res.Applied.Added == 0 || res.To != x.Checkpoint.Pos {
				t.Fatalf("before the failure: %+v (checkpoint %d)", res, x.Checkpoint.Pos)
			}
			if a, _ := activeCount(t, st, "ncmec"); a != int64(res.Applied.Added) || a >= 1500*3 {
				t.Fatalf("%d active after the failed fetch, %d added", a, res.Applied.Added)
			}
			applied = res.Applied
			sy.Store = st
		}
		res, err := svc.Fetch(ctx, "ncmec", sy)
		if err != nil {
			t.Fatalf("failing %v: fetch: %v", failing, err)
		}
		applied.Added += res.Applied.Added
		applied.Unchanged += res.Applied.Unchanged
		states = append(states, readStagingState(t, st, path, applied, res.Invalid))
	}
	want, got := states[0], states[1]
	if got.applied != want.applied || got.fetched != want.fetched || fmt.Sprint(got.ops) != fmt.Sprint(want.ops) {
		t.Errorf("after the failure and the next fetch: %+v %d %v; without failure: %+v %d %v",
			got.applied, got.fetched, got.ops, want.applied, want.fetched, want.ops)
	}
	diff(t, "signals", got.signals, want.signals)
	diff(t, "exchange entries", got.entries, want.entries)
}
