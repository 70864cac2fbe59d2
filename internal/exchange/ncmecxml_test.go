package exchange_test

import (
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/exchange"
)

// trickyRecs are records whose values need escaping or are not ASCII.
func trickyRecs() []ncmecRec {
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	return []ncmecRec{
		{At: at, Media: "image", Member: `a&b<c>"d'e`, ID: "x&1", Class: "A1", MD5: strings.Repeat("ab", 16), SHA1: strings.Repeat("CD", 20), PDQ: strings.Repeat("0f", 32)},
		{At: at, Media: "video", Member: "Société\tgénérale\nLtd\r", ID: "v]]>1", MD5: strings.Repeat("01", 16)},
		{At: at, Media: "image", Member: "7", ID: "del1", Class: "B2", Deleted: true},
		{At: at, Media: "video", Member: "8", ID: "del2", Deleted: true},
		{At: at, Media: "image", Member: "bad\xffutf8\x01", ID: "😀", Class: "B1", SHA1: strings.Repeat("ef", 20)},
	}
}

// fakePages returns the documents the fake server writes for the
// synthetic data set and the tricky records, some pages with a paging URL.
func fakePages() [][]byte {
	var docs [][]byte
	for _, size := range []int{1, 7, 1000} {
		next := "/v2/entries?from=2020-01-01T00%3A00%3A00.000Z&start=7&size=7&token=t1"
		docs = append(docs, appendNCMECPage(nil, syntheticRec, 3, 3+size, next))
	}
	recs := trickyRecs()
	rec := func(i int) ncmecRec { return recs[i] }
	docs = append(docs, appendNCMECPage(nil, rec, 0, len(recs), ""), appendNCMECPage(nil, rec, 0, 0, ""))
	return docs
}

// TestFakeNCMECEncoding: the fake server's hand-written XML is byte for
// byte what encoding/xml's Encoder writes for the same NCMECResult.
func TestFakeNCMECEncoding(t *testing.T) {
	recs := append(trickyRecs(), syntheticRec(1), syntheticRec(2))
	rec := func(i int) ncmecRec { return recs[i] }
	for _, tc := range []struct {
		first, last int
		next        string
	}{{0, len(recs), ""}, {0, 0, ""}, {2, 4, "/v2/entries?a=1&b=<2>"}, {5, 7, "/x"}} {
		got := appendNCMECPage(nil, rec, tc.first, tc.last, tc.next)
		var want bytes.Buffer
		want.WriteString(xml.Header)
		// The root declares the API's namespace, as NCMEC's documents do
		// (encoding/xml writes it only from the start element given).
		root := xml.StartElement{Name: xml.Name{Local: "queryResult"},
			Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: exchange.NCMECNamespace}}}
		if err := xml.NewEncoder(&want).EncodeElement(ncmecPageReflect(rec, tc.first, tc.last, tc.next), root); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("records %d..%d:\n got %s\nwant %s", tc.first, tc.last, got, want.Bytes())
		}
	}
}

// referenceDecode is the decoding the scanner must agree with.
func referenceDecode(data []byte) (*exchange.NCMECResult, error) {
	var res exchange.NCMECResult
	if err := xml.Unmarshal(data, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// TestNCMECDecodeDifferential decodes the fake server's pages and the
// documents of testdata/ncmec with the scanner and with encoding/xml:
// the scanner must decode every valid document itself (no fallback) to
// the same NCMECResult, except testdata/ncmec/fallback-*.xml, which it
// leaves to encoding/xml, and malformed-*.xml, which both reject.
func TestNCMECDecodeDifferential(t *testing.T) {
	type doc struct {
		name string
		data []byte
	}
	var docs []doc
	for i, d := range fakePages() {
		docs = append(docs, doc{"fake page " + string(rune('0'+i)), d})
	}
	files, err := filepath.Glob("testdata/ncmec/*.xml")
	if err != nil || len(files) < 10 {
		t.Fatalf("testdata/ncmec: %d files, %v", len(files), err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, doc{filepath.Base(f), b})
	}
	for _, d := range docs {
		t.Run(d.name, func(t *testing.T) {
			want, werr := referenceDecode(d.data)
			got, gerr := exchange.DecodeNCMEC(d.data)
			fast, ok := exchange.ScanNCMEC(d.data)
			switch {
			case strings.HasPrefix(d.name, "malformed-"):
				if werr == nil || gerr == nil || ok {
					t.Fatalf("malformed document accepted: reference error %v, decoder error %v, scanner ok %v", werr, gerr, ok)
				}
				return
			case werr != nil:
				t.Fatalf("reference: %v", werr)
			case gerr != nil:
				t.Fatalf("decoder: %v", gerr)
			case strings.HasPrefix(d.name, "fallback-") == ok:
				t.Fatalf("scanner ok = %v", ok)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("decoded\n%+v\nwant\n%+v", got, want)
			}
			if ok && !reflect.DeepEqual(fast, want) {
				t.Fatalf("scanned\n%+v\nwant\n%+v", fast, want)
			}
			if !strings.HasPrefix(d.name, "fallback-") && len(want.Images.Entries)+len(want.Videos.Entries)+len(want.DeletedImages.Entries) == 0 && !strings.HasPrefix(d.name, "fake page 4") {
				t.Fatalf("document without entries: the test proves nothing")
			}
		})
	}
}

// FuzzNCMECDecode: on any input the decoder (scanner, or encoding/xml
// where the scanner gives up) and encoding/xml give the same result or
// both an error; and the scanner never accepts what encoding/xml rejects.
// Seeds: testdata/ncmec/*.xml, the fake server's pages and
// testdata/fuzz/FuzzNCMECDecode.
func FuzzNCMECDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/ncmec/*.xml")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, d := range fakePages()[:2] {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want, werr := referenceDecode(data)
		if fast, ok := exchange.ScanNCMEC(data); ok {
			if werr != nil {
				t.Fatalf("scanner accepted what encoding/xml rejects (%v): %+v", werr, fast)
			}
			if !reflect.DeepEqual(fast, want) {
				t.Fatalf("scanned\n%+v\nwant\n%+v", fast, want)
			}
		}
		got, gerr := exchange.DecodeNCMEC(data)
		if (gerr != nil) != (werr != nil) {
			t.Fatalf("decoder error %v, encoding/xml error %v", gerr, werr)
		}
		if gerr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("decoded\n%+v\nwant\n%+v", got, want)
		}
	})
}

// BenchmarkNCMECDecode decodes one page of the fake server (1000 entries,
// 3000 hashes) with the decoder and with encoding/xml in the same loop,
// and reports each one's time and allocations per hash and the speedup
// (a ratio, steadier than times on a loaded machine). A collection runs
// before each timed decode, outside the timing.
func BenchmarkNCMECDecode(b *testing.B) {
	page := appendNCMECPage(nil, syntheticRec, 0, 1000, "/v2/entries?start=1000&size=1000&token=t1")
	const hashes = 3000
	if _, ok := exchange.ScanNCMEC(page); !ok {
		b.Fatal("the scanner gave up on the fake server's page")
	}
	var scan, ref time.Duration
	for b.Loop() {
		// Each decoder is timed after a collection, so that neither pays
		// for the other's garbage (their own shows in allocs/hash).
		runtime.GC()
		t0 := time.Now()
		if _, err := exchange.DecodeNCMEC(page); err != nil {
			b.Fatal(err)
		}
		scan += time.Since(t0)
		runtime.GC()
		t1 := time.Now()
		if _, err := referenceDecode(page); err != nil {
			b.Fatal(err)
		}
		ref += time.Since(t1)
	}
	scanAllocs := testing.AllocsPerRun(5, func() { exchange.DecodeNCMEC(page) })
	refAllocs := testing.AllocsPerRun(5, func() { referenceDecode(page) })
	b.ReportMetric(float64(scan.Nanoseconds())/float64(b.N*hashes), "ns/hash")
	b.ReportMetric(float64(ref.Nanoseconds())/float64(b.N*hashes), "encoding/xml-ns/hash")
	b.ReportMetric(float64(ref)/float64(scan), "speedup")
	b.ReportMetric(scanAllocs/hashes, "allocs/hash")
	b.ReportMetric(refAllocs/hashes, "encoding/xml-allocs/hash")
}
