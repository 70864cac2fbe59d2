package bank_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/hashlist"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// content is what a round trip must preserve: a signal without its ID,
// times and authors.
type content struct {
	Type                   bank.Type
	Value                  string
	Category, Source, Note string
	Quality                int
	Extra                  map[string]string
}

func bankContent(t *testing.T, svc *bank.Service, name string) []content {
	t.Helper()
	var out []content
	err := svc.ScanSignals(context.Background(), bank.SignalQuery{Banks: []string{name}}, func(s *bank.Signal) error {
		out = append(out, content{s.Type, s.Value, s.Category, s.Source, s.Note, s.Quality, s.Extra})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func addAll(t *testing.T, svc *bank.Service, name string, sigs []bank.Signal) {
	t.Helper()
	ctx := context.Background()
	if _, err := svc.CreateBank(ctx, bank.NewBank(name), audit.Actor{Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	err := svc.Store().WriteSignals(ctx, name, audit.Actor{Name: "alice"}, func(w bank.SignalWriter) error {
		for i := range sigs {
			if err := sigs[i].Normalize(); err != nil {
				return err
			}
		}
		_, err := w.Add(ctx, sigs)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// roundTripBanks builds, per format, a bank holding what that format can
// carry, with awkward values (quotes, commas, line breaks, upper-case
// extra names) where the format allows them.
func roundTripBanks() map[hashlist.Format]struct {
	sigs []bank.Signal
	opts hashlist.ReaderOptions
} {
	r := rand.New(rand.NewPCG(42, 42))
	pdqs := func(n int, meta bool) []bank.Signal {
		var s []bank.Signal
		for i := 0; i < n; i++ {
			sig := bank.Signal{Type: bank.PDQ, Value: storetest.RandomPDQ(r), Quality: -1}
			if meta {
				sig.Quality = i % 101
				sig.Note = fmt.Sprintf("img,%d \"q\".jpg", i)
			}
			s = append(s, sig)
		}
		return s
	}
	mixed := []bank.Signal{
		{Type: bank.MD5, Value: storetest.RandomHex(r, 32), Category: "A1", Source: "ncmec", Note: "line 1\nline, 2 \"quoted\"", Quality: -1,
			Extra: map[string]string{"case_id": "77", "series": "x,y"}},
		{Type: bank.SHA1, Value: storetest.RandomHex(r, 40), Category: "B2", Quality: -1},
		{Type: bank.SHA256, Value: storetest.RandomHex(r, 64), Source: "iwf", Quality: -1, Extra: map[string]string{"case_id": "78"}},
		{Type: bank.PDQ, Value: storetest.RandomPDQ(r), Category: "1", Quality: 87},
		{Type: bank.VPDQ, Value: `["` + storetest.RandomPDQ(r) + `,100,0.000","` + storetest.RandomPDQ(r) + `,90,1.000"]`, Note: "clip", Quality: -1},
	}
	jsonl := append([]bank.Signal(nil), mixed...)
	jsonl = append(jsonl, bank.Signal{Type: bank.PDQ, Value: storetest.RandomPDQ(r), Quality: 0,
		Extra: map[string]string{"MediaID": "5", "Ünïcode": "värde"}})
	var vics []bank.Signal
	for i := 1; i <= 4; i++ {
		id := fmt.Sprint(100 + i)
		cat := fmt.Sprint(i % 3)
		vics = append(vics, bank.Signal{Type: bank.MD5, Value: storetest.RandomHex(r, 32), Category: cat, Note: "comment " + id, Quality: -1,
			Extra: map[string]string{"MediaID": id, "Series": "S" + id}})
		if i%2 == 0 {
			vics = append(vics, bank.Signal{Type: bank.SHA1, Value: storetest.RandomHex(r, 40), Category: cat, Note: "comment " + id, Quality: -1,
				Extra: map[string]string{"MediaID": id, "Series": "S" + id}})
		}
	}
	return map[hashlist.Format]struct {
		sigs []bank.Signal
		opts hashlist.ReaderOptions
	}{
		hashlist.Plain: {pdqs(50, false), hashlist.ReaderOptions{Type: "pdq"}},
		hashlist.CSV:   {mixed, hashlist.ReaderOptions{}},
		hashlist.JSONL: {jsonl, hashlist.ReaderOptions{}},
		hashlist.TE:    {pdqs(50, true), hashlist.ReaderOptions{}},
		hashlist.VICS:  {vics, hashlist.ReaderOptions{}},
	}
}

func TestRoundTrip(t *testing.T) {
	engines(t, func(t *testing.T, svc *bank.Service) {
		ctx := context.Background()
		for f, tc := range roundTripBanks() {
			t.Run(string(f), func(t *testing.T) {
				src, dst := "src-"+string(f), "dst-"+string(f)
				addAll(t, svc, src, tc.sigs)
				var out bytes.Buffer
				res, err := svc.Export(ctx, src, &out, f, bank.ExportOptions{})
				if err != nil || res.Written != len(tc.sigs) || res.Skipped != 0 {
					t.Fatalf("Export = %+v, %v; want %d written", res, err, len(tc.sigs))
				}
				if _, err := svc.CreateBank(ctx, bank.NewBank(dst), audit.Actor{Name: "bob"}); err != nil {
					t.Fatal(err)
				}
				r, err := hashlist.NewReader(bytes.NewReader(out.Bytes()), f, tc.opts)
				if err != nil {
					t.Fatal(err)
				}
				ir, err := svc.Import(ctx, dst, r, bank.ImportOptions{Actor: audit.Actor{Name: "bob"}, Atomic: true})
				if err != nil || ir.Added != len(tc.sigs) || ir.Bad != 0 || ir.Committed != len(tc.sigs) {
					t.Fatalf("Import = %+v, %v", ir, err)
				}
				want, got := bankContent(t, svc, src), bankContent(t, svc, dst)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("bank after round trip differs:\n got %+v\nwant %+v\nexport:\n%s", got, want, out.String())
				}
				// Exporting the copy gives the same bytes.
				var again bytes.Buffer
				if _, err := svc.Export(ctx, dst, &again, f, bank.ExportOptions{}); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(again.Bytes(), out.Bytes()) {
					t.Errorf("second export differs:\n%s\nvs\n%s", again.String(), out.String())
				}
				// Importing the same file again changes nothing.
				r, _ = hashlist.NewReader(bytes.NewReader(out.Bytes()), f, tc.opts)
				ir, err = svc.Import(ctx, dst, r, bank.ImportOptions{Actor: audit.Actor{Name: "bob"}, Atomic: true})
				if err != nil || ir.Added != 0 || ir.Unchanged != len(tc.sigs) {
					t.Errorf("re-import = %+v, %v; want all unchanged", ir, err)
				}
			})
		}
	})
}

func TestExportSkipsWhatTheFormatCannotHold(t *testing.T) {
	engines(t, func(t *testing.T, svc *bank.Service) {
		ctx := context.Background()
		r := rand.New(rand.NewPCG(1, 1))
		addAll(t, svc, "mixed", []bank.Signal{
			{Type: bank.PDQ, Value: storetest.RandomPDQ(r), Quality: 50},
			{Type: bank.MD5, Value: storetest.RandomHex(r, 32), Quality: -1},
			{Type: bank.VPDQ, Value: `["` + storetest.RandomPDQ(r) + `,1,2"]`, Quality: -1},
		})
		var out bytes.Buffer
		res, err := svc.Export(ctx, "mixed", &out, hashlist.TE, bank.ExportOptions{})
		if err != nil || res.Written != 1 || res.Skipped != 2 || len(res.SkippedReason) == 0 {
			t.Errorf("Export te = %+v, %v; want 1 written, 2 skipped with reasons", res, err)
		}
		out.Reset()
		res, err = svc.Export(ctx, "mixed", &out, hashlist.JSONL, bank.ExportOptions{Types: []bank.Type{bank.MD5}})
		if err != nil || res.Written != 1 || res.Skipped != 0 || strings.Count(out.String(), "\n") != 1 {
			t.Errorf("Export jsonl md5 only = %+v, %v, %q", res, err, out.String())
		}
	})
}

func TestImportBadLines(t *testing.T) {
	list := strings.Join([]string{
		"f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22", // 1
		"not-a-hash", // 2
		"# comment",  // 3
		"30a10efd71cc3d429013d48d0ffffc52e34e0e17ada952a9d29685211ea9e5af", // 4
		"30a10efd71cc3d429013d48d0ffffc52e34e0e17ada952a9d29685211ea9e5a",  // 5: short
		"f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22", // 6: repeat
		"abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789", // 7
	}, "\n") + "\n"
	engines(t, func(t *testing.T, svc *bank.Service) {
		ctx := context.Background()
		for _, name := range []string{"atomic", "partial"} {
			if _, err := svc.CreateBank(ctx, bank.NewBank(name), audit.Actor{Name: "alice"}); err != nil {
				t.Fatal(err)
			}
		}
		read := func() hashlist.Reader {
			r, err := hashlist.NewReader(strings.NewReader(list), hashlist.Plain, hashlist.ReaderOptions{Type: "pdq"})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		var progress []bank.ImportResult
		res, err := svc.Import(ctx, "atomic", read(), bank.ImportOptions{Actor: audit.Actor{Name: "alice"}, Atomic: true, BatchSize: 2,
			Progress: func(r bank.ImportResult) { progress = append(progress, r) }})
		if !errors.Is(err, bank.ErrBadLines) {
			t.Fatalf("atomic import with bad lines: err = %v, want ErrBadLines", err)
		}
		if res.Bad != 2 || res.Committed != 0 || len(res.BadLines) != 2 || res.BadLines[0].Line != 2 || res.BadLines[1].Line != 5 || res.Read != 6 {
			t.Errorf("atomic result = %+v", res)
		}
		if got := bankContent(t, svc, "atomic"); len(got) != 0 {
			t.Errorf("atomic import with bad lines left %d signals", len(got))
		}
		if len(progress) < 2 || progress[len(progress)-1].Read != 6 {
			t.Errorf("progress calls = %+v", progress)
		}
		res, err = svc.Import(ctx, "partial", read(), bank.ImportOptions{Actor: audit.Actor{Name: "alice"}, BatchSize: 2, Category: "A1", Source: "list.txt"})
		if err != nil {
			t.Fatalf("non-atomic import: %v", err)
		}
		if res.Added != 3 || res.Unchanged != 1 || res.Bad != 2 || res.Committed != 3 || res.BadLines[1].Line != 5 {
			t.Errorf("non-atomic result = %+v", res)
		}
		got := bankContent(t, svc, "partial")
		if len(got) != 3 || got[0].Category != "A1" || got[0].Source != "list.txt" {
			t.Errorf("non-atomic bank = %+v", got)
		}
	})
}

// failingReader yields n good PDQ entries, then a fatal error.
type failingReader struct {
	n, i int
	r    *rand.Rand
}

var errDisk = errors.New("disk on fire")

func (f *failingReader) Next() (hashlist.Entry, error) {
	if f.i == f.n {
		return hashlist.Entry{}, errDisk
	}
	f.i++
	return hashlist.Entry{Type: "pdq", Value: storetest.RandomPDQ(f.r), Quality: -1, Line: f.i}, nil
}

func TestImportFatalError(t *testing.T) {
	engines(t, func(t *testing.T, svc *bank.Service) {
		ctx := context.Background()
		for _, name := range []string{"atomic", "partial", "cancel"} {
			if _, err := svc.CreateBank(ctx, bank.NewBank(name), audit.Actor{Name: "alice"}); err != nil {
				t.Fatal(err)
			}
		}
		res, err := svc.Import(ctx, "atomic", &failingReader{n: 25, r: rand.New(rand.NewPCG(1, 2))},
			bank.ImportOptions{Actor: audit.Actor{Name: "alice"}, Atomic: true, BatchSize: 10})
		if !errors.Is(err, errDisk) || res.Committed != 0 {
			t.Errorf("atomic import with read error = %+v, %v", res, err)
		}
		if got := bankContent(t, svc, "atomic"); len(got) != 0 {
			t.Errorf("failed atomic import left %d signals", len(got))
		}
		res, err = svc.Import(ctx, "partial", &failingReader{n: 25, r: rand.New(rand.NewPCG(1, 2))},
			bank.ImportOptions{Actor: audit.Actor{Name: "alice"}, BatchSize: 10})
		if !errors.Is(err, errDisk) || res.Committed != 20 || res.Added != 20 {
			t.Errorf("non-atomic import with read error = %+v, %v; want 20 committed", res, err)
		}
		if got := bankContent(t, svc, "partial"); len(got) != 20 {
			t.Errorf("failed non-atomic import left %d signals, want 20", len(got))
		}
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		res, err = svc.Import(cctx, "cancel", &failingReader{n: 1000, r: rand.New(rand.NewPCG(1, 3))},
			bank.ImportOptions{Actor: audit.Actor{Name: "alice"}, Atomic: true, BatchSize: 10, Progress: func(r bank.ImportResult) {
				if r.Read >= 50 {
					cancel()
				}
			}})
		if !errors.Is(err, context.Canceled) || res.Committed != 0 {
			t.Errorf("cancelled atomic import = %+v, %v", res, err)
		}
		if got := bankContent(t, svc, "cancel"); len(got) != 0 {
			t.Errorf("cancelled atomic import left %d signals", len(got))
		}
		if _, err := svc.Import(ctx, "nope", &failingReader{n: 1}, bank.ImportOptions{Actor: audit.Actor{Name: "alice"}}); !errors.Is(err, bank.ErrNotFound) {
			t.Errorf("import into unknown bank: %v", err)
		}
		if _, err := svc.Import(ctx, "atomic", &failingReader{n: 1}, bank.ImportOptions{}); !errors.Is(err, bank.ErrInvalid) {
			t.Errorf("import without actor: %v", err)
		}
	})
}

// countingReader yields n distinct PDQ entries without holding them.
type countingReader struct{ n, i int }

func (c *countingReader) Next() (hashlist.Entry, error) {
	if c.i == c.n {
		return hashlist.Entry{}, io.EOF
	}
	c.i++
	v := fmt.Sprintf("%064x", c.i)
	return hashlist.Entry{Type: "pdq", Value: v, Quality: -1, Line: c.i}, nil
}

func TestImportLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("covered by the store conformance suite's LargeImport in -short mode")
	}
	engines(t, func(t *testing.T, svc *bank.Service) {
		ctx := context.Background()
		if _, err := svc.CreateBank(ctx, bank.NewBank("big"), audit.Actor{Name: "alice"}); err != nil {
			t.Fatal(err)
		}
		const n = 60_000
		res, err := svc.Import(ctx, "big", &countingReader{n: n}, bank.ImportOptions{Actor: audit.Actor{Name: "alice"}, Atomic: true})
		if err != nil || res.Added != n || res.Committed != n {
			t.Fatalf("Import = %+v, %v", res, err)
		}
		st, _ := svc.BankStats(ctx, "big")
		if st.Active[bank.PDQ] != n {
			t.Errorf("%d active pdq signals, want %d", st.Active[bank.PDQ], n)
		}
	})
}

// TestExportLeavesOutVariants: bank-side variant signals (central crops
// linked to a parent) are exported only on request.
func TestExportLeavesOutVariants(t *testing.T) {
	engines(t, func(t *testing.T, svc *bank.Service) {
		ctx := context.Background()
		r := rand.New(rand.NewPCG(2, 2))
		parent := storetest.RandomPDQ(r)
		addAll(t, svc, "own", []bank.Signal{
			{Type: bank.PDQ, Value: parent, Quality: 100},
			{Type: bank.PDQ, Value: storetest.RandomPDQ(r), Quality: 90,
				Extra: map[string]string{hashlist.ExtraVariant: "crop90", hashlist.ExtraVariantOf: parent}},
		})
		for _, tc := range []struct {
			variants         bool
			written, leftOut int
		}{{false, 1, 1}, {true, 2, 0}} {
			var out bytes.Buffer
			res, err := svc.Export(ctx, "own", &out, hashlist.JSONL, bank.ExportOptions{Variants: tc.variants})
			if err != nil || res.Written != tc.written || res.VariantsLeftOut != tc.leftOut || res.Skipped != 0 ||
				strings.Contains(out.String(), "crop90") != tc.variants {
				t.Errorf("Export (variants %v) = %+v, %v, %q", tc.variants, res, err, out.String())
			}
		}
	})
}
