package hashlist

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// addSeeds adds the example files of a format and a few hand-made inputs.
func addSeeds(f *testing.F, dir string, extra ...string) {
	files, _ := filepath.Glob(filepath.Join("testdata", dir, "*"))
	for _, p := range files {
		if strings.HasSuffix(p, ".golden") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(0))
	}
	for _, s := range extra {
		f.Add([]byte(s), uint8(1))
	}
}

// checkReader reads everything from data and checks what any reader must
// guarantee: no panic, progress, canonical entries, sane line numbers. It
// returns the entries.
func checkReader(t *testing.T, data []byte, f Format, opts ReaderOptions) []Entry {
	r, err := NewReader(bytes.NewReader(data), f, opts)
	if err != nil {
		t.Fatal(err)
	}
	var out []Entry
	last := 0
	for i := 0; ; i++ {
		if i > 2*len(data)+10 {
			t.Fatalf("%d results from %d bytes: no progress", i, len(data))
		}
		e, err := r.Next()
		if err == io.EOF {
			return out
		}
		var le *LineError
		if errors.As(err, &le) {
			if le.Line < 1 || le.Line < last {
				t.Fatalf("error line %d after line %d: %v", le.Line, last, err)
			}
			last = le.Line
			continue
		}
		if err != nil {
			if _, again := r.Next(); again == nil || again.Error() != err.Error() {
				t.Fatalf("fatal %v not repeated: %v", err, again)
			}
			return out
		}
		if e.Line < 1 || e.Line < last {
			t.Fatalf("entry line %d after line %d", e.Line, last)
		}
		last = e.Line
		n, err := NormalizeEntry(e)
		if err != nil || !reflect.DeepEqual(n, e) {
			t.Fatalf("entry not canonical: %+v (normalised %+v, %v)", e, n, err)
		}
		out = append(out, e)
	}
}

// rewrite writes entries in format f and reads them back, expecting the
// same entries restricted to carried; entries the writer refuses are left
// out of the comparison.
func rewrite(t *testing.T, in []Entry, f Format, wopts WriterOptions, ropts ReaderOptions, carried func(Entry) Entry) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, f, wopts)
	if err != nil {
		return // e.g. extra column names the CSV writer cannot use
	}
	var want []Entry
	for _, e := range in {
		if err := w.Write(e); err != nil {
			continue
		}
		e.Line = 0
		want = append(want, carried(e))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := checkReader(t, buf.Bytes(), f, ropts)
	for i := range got {
		got[i].Line = 0
		got[i] = carried(got[i])
	}
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("rewritten list reads differently\nwritten:\n%q\ngot  %+v\nwant %+v", buf.String(), got, want)
	}
}

func typeFor(sel uint8) string {
	return []string{"", "md5", "sha256", "pdq", "vpdq"}[int(sel)%5]
}

func FuzzReaderPlain(f *testing.F) {
	addSeeds(f, "plain", tMD5+"\n"+tSHA1+" *x\r\n", "\ufeff"+tPDQ)
	f.Fuzz(func(t *testing.T, data []byte, sel uint8) {
		opts := ReaderOptions{Type: typeFor(sel), MaxLineLength: 1 + int(sel)*16}
		in := checkReader(t, data, Plain, opts)
		rewrite(t, in, Plain, WriterOptions{}, opts, func(e Entry) Entry { return Entry{Type: e.Type, Value: e.Value} })
	})
}

func FuzzReaderCSV(f *testing.F) {
	addSeeds(f, "csv", "type,value,x\nmd5,"+tMD5+",\"a\"\"\n\"\n", "value\n"+tPDQ)
	f.Fuzz(func(t *testing.T, data []byte, sel uint8) {
		opts := ReaderOptions{Type: typeFor(sel)}
		in := checkReader(t, data, CSV, opts)
		var cols []string
		for _, e := range in {
			for k := range e.Extra {
				if !slices.Contains(cols, k) {
					cols = append(cols, k)
				}
			}
		}
		slices.Sort(cols)
		rewrite(t, in, CSV, WriterOptions{ExtraColumns: cols}, opts, func(e Entry) Entry { return e })
	})
}

func FuzzReaderJSONL(f *testing.F) {
	addSeeds(f, "jsonl", `{"type":"md5","value":"`+tMD5+`","x":{"y":[1,2]}}`)
	f.Fuzz(func(t *testing.T, data []byte, sel uint8) {
		opts := ReaderOptions{Type: typeFor(sel)}
		in := checkReader(t, data, JSONL, opts)
		rewrite(t, in, JSONL, WriterOptions{}, opts, func(e Entry) Entry { return e })
	})
}

func FuzzReaderTE(f *testing.F) {
	addSeeds(f, "te", tPDQ+",100,a, b.jpg \n", "hash,quality,file\n\""+tPDQ+"\",1,\"x\ny\"\n")
	f.Fuzz(func(t *testing.T, data []byte, _ uint8) {
		in := checkReader(t, data, TE, ReaderOptions{})
		rewrite(t, in, TE, WriterOptions{}, ReaderOptions{}, func(e Entry) Entry {
			return Entry{Type: e.Type, Value: e.Value, Quality: e.Quality, Note: e.Note}
		})
	})
}

func FuzzReaderVICS(f *testing.F) {
	addSeeds(f, "vics", `[{"MD5":"`+tMD5+`","Category":"7"}]`, `{"value":[{"Media":[{"SHA1":"`+tSHA1+`"}]}]}`)
	f.Fuzz(func(t *testing.T, data []byte, _ uint8) {
		in := checkReader(t, data, VICS, ReaderOptions{})
		// Whatever the VICS writer accepts from it must read back the same.
		rewrite(t, in, VICS, WriterOptions{}, ReaderOptions{}, func(e Entry) Entry {
			e.Source, e.Quality = "", -1
			// The writer numbers Media that lack a MediaID.
			if _, ok := e.Extra[ExtraMediaID]; ok {
				e.Extra = maps.Clone(e.Extra)
				delete(e.Extra, ExtraMediaID)
				if len(e.Extra) == 0 {
					e.Extra = nil
				}
			}
			return e
		})
	})
}
