package hashlist

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/signal"
	"pgregory.net/rapid"
)

// textRunes are the awkward characters for each format: separators, quotes,
// comment markers, line breaks, tabs, non-ASCII and JSON's U+2028.
var textRunes = []rune{'a', 'Z', '0', ' ', ',', '"', '\'', '#', '=', '\\', '\n', '\r', '\t', 'é', '€', '\u2028', '漢', '🙂', '\ufeff'}

func genText(allowControl bool) *rapid.Generator[string] {
	runes := textRunes
	if !allowControl {
		runes = nil
		for _, r := range textRunes {
			if r >= 0x20 {
				runes = append(runes, r)
			}
		}
	}
	return rapid.StringOfN(rapid.RuneFrom(runes, unicode.L, unicode.P), 0, 20, -1)
}

func genHex(n int) *rapid.Generator[string] {
	return rapid.Custom(func(t *rapid.T) string {
		b := rapid.SliceOfN(rapid.Byte(), n/2, n/2).Draw(t, "bytes")
		s := hex.EncodeToString(b)
		if rapid.Bool().Draw(t, "upper") {
			s = strings.ToUpper(s)
		}
		return s
	})
}

func genValue(typ signal.Type) *rapid.Generator[string] {
	if typ == TypeVPDQ {
		// A canonical compact vPDQ value of 1-5 frames.
		return rapid.Custom(func(t *rapid.T) string {
			n := rapid.IntRange(1, 5).Draw(t, "frames")
			frames := make([]signal.Frame, n)
			for i := range frames {
				frames[i].PDQ = pdq.MustParseHex(strings.ToLower(genHex(64).Draw(t, "pdq")))
				frames[i].Quality = rapid.IntRange(0, 100).Draw(t, "quality")
				frames[i].Timestamp = float64(i)
			}
			return signal.FormatVPDQ(frames)
		})
	}
	return genHex(typ.HexLen())
}

// genEntry draws an entry of one of types, with the fields of the list.
func genEntry(types []signal.Type, fields map[string]bool) *rapid.Generator[Entry] {
	return rapid.Custom(func(t *rapid.T) Entry {
		e := Entry{Type: rapid.SampledFrom(types).Draw(t, "type"), Quality: -1}
		if rapid.Bool().Draw(t, "typecase") {
			e.Type = signal.Type(strings.ToUpper(string(e.Type)))
		}
		e.Value = genValue(signal.Type(strings.ToLower(string(e.Type)))).Draw(t, "value")
		if fields["category"] {
			e.Category = genText(false).Draw(t, "category")
		}
		if fields["source"] {
			e.Source = genText(false).Draw(t, "source")
		}
		if fields["note"] {
			e.Note = genText(fields["note-breaks"]).Draw(t, "note")
		}
		if fields["quality"] {
			e.Quality = rapid.IntRange(-1, 100).Draw(t, "quality")
		}
		return e
	})
}

// roundTrip writes entries, reads them back and compares, after clearing
// the fields the format does not carry.
func roundTrip(t *rapid.T, f Format, wopts WriterOptions, ropts ReaderOptions, in []Entry, carried func(Entry) Entry) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, f, wopts)
	if err != nil {
		t.Fatal(err)
	}
	var want []Entry
	for _, e := range in {
		if err := w.Write(e); err != nil {
			t.Fatalf("Write(%+v): %v", e, err)
		}
		n, err := NormalizeEntry(e)
		if err != nil {
			t.Fatalf("NormalizeEntry(%+v): %v", e, err)
		}
		want = append(want, carried(n))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(bytes.NewReader(buf.Bytes()), f, ropts)
	if err != nil {
		t.Fatal(err)
	}
	var got []Entry
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading back:\n%s\n%v", buf.String(), err)
		}
		if e.Line < 1 {
			t.Fatalf("entry without line number: %+v", e)
		}
		e.Line = 0
		got = append(got, carried(e))
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip through %s differs\nwritten:\n%s\ngot  %+v\nwant %+v", f, buf.String(), got, want)
	}
}

var allTypes = []signal.Type{TypeMD5, TypeSHA1, TypeSHA256, TypePDQ, TypeVPDQ}

func TestRoundTripCSV(t *testing.T) {
	fields := map[string]bool{"category": true, "source": true, "note": true, "note-breaks": true, "quality": true}
	extra := []string{"MediaID", "Series"}
	rapid.Check(t, func(t *rapid.T) {
		in := rapid.SliceOfN(genEntry(allTypes, fields), 0, 20).Draw(t, "entries")
		for i := range in {
			if v := genText(true).Draw(t, "extra"); v != "" {
				in[i].Extra = map[string]string{extra[i%2]: v}
			}
		}
		roundTrip(t, CSV, WriterOptions{ExtraColumns: extra}, ReaderOptions{}, in, func(e Entry) Entry { return e })
	})
}

func TestRoundTripJSONL(t *testing.T) {
	fields := map[string]bool{"category": true, "source": true, "note": true, "note-breaks": true, "quality": true}
	rapid.Check(t, func(t *rapid.T) {
		in := rapid.SliceOfN(genEntry(allTypes, fields), 0, 20).Draw(t, "entries")
		for i := range in {
			if rapid.Bool().Draw(t, "hasExtra") {
				in[i].Extra = map[string]string{
					"k" + genText(false).Draw(t, "key"): genText(true).Draw(t, "extra"),
				}
			}
		}
		roundTrip(t, JSONL, WriterOptions{}, ReaderOptions{}, in, func(e Entry) Entry { return e })
	})
}

func TestRoundTripTE(t *testing.T) {
	fields := map[string]bool{"note": true, "quality": true}
	rapid.Check(t, func(t *rapid.T) {
		in := rapid.SliceOfN(genEntry([]signal.Type{TypePDQ}, fields), 0, 20).Draw(t, "entries")
		roundTrip(t, TE, WriterOptions{}, ReaderOptions{}, in, func(e Entry) Entry { return e })
	})
}

func TestRoundTripPlain(t *testing.T) {
	carried := func(e Entry) Entry { return Entry{Type: e.Type, Value: e.Value, Quality: -1} }
	rapid.Check(t, func(t *rapid.T) {
		// md5 and sha1 mix (the type follows from the length); other
		// types one per list, named by the reader option.
		if rapid.Bool().Draw(t, "mixed") {
			in := rapid.SliceOfN(genEntry([]signal.Type{TypeMD5, TypeSHA1}, nil), 0, 20).Draw(t, "entries")
			roundTrip(t, Plain, WriterOptions{}, ReaderOptions{}, in, carried)
			return
		}
		typ := rapid.SampledFrom(allTypes).Draw(t, "type")
		in := rapid.SliceOfN(genEntry([]signal.Type{typ}, nil), 0, 20).Draw(t, "entries")
		roundTrip(t, Plain, WriterOptions{}, ReaderOptions{Type: string(typ)}, in, carried)
	})
}

func TestRoundTripVICS(t *testing.T) {
	carried := func(e Entry) Entry { e.Source, e.Quality = "", -1; return e }
	rapid.Check(t, func(t *rapid.T) {
		var in []Entry
		n := rapid.IntRange(0, 8).Draw(t, "media")
		for i := range n {
			extra := map[string]string{ExtraMediaID: strconv.Itoa(i + 1)}
			if rapid.Bool().Draw(t, "stringID") {
				extra[ExtraMediaID] = "id-" + strconv.Itoa(i)
			}
			if s := genText(false).Draw(t, "series"); strings.TrimSpace(s) != "" {
				extra["Series"] = s
			}
			base := Entry{Quality: -1, Extra: extra, Note: genText(true).Draw(t, "comments")}
			if rapid.Bool().Draw(t, "categorised") {
				base.Category = strconv.Itoa(rapid.IntRange(-1, 5).Draw(t, "category"))
			}
			add := func(typ signal.Type) {
				e := base
				e.Type, e.Value = typ, genValue(typ).Draw(t, string(typ))
				in = append(in, e)
			}
			add(TypeMD5)
			if rapid.Bool().Draw(t, "sha1") {
				add(TypeSHA1)
			}
			for _, typ := range rapid.SliceOfN(rapid.SampledFrom([]signal.Type{TypeSHA256, TypePDQ}), 0, 2).Draw(t, "alternatives") {
				add(typ)
			}
		}
		roundTrip(t, VICS, WriterOptions{VICSFlavor: "UK"}, ReaderOptions{}, in, carried)
	})
}

// TestVICSWriterDocument checks the VICS writer's document shape: VICS 2.0
// context, upper-case MD5/SHA1, Category a number, MediaID from Extra or a
// counter, one Media per line.
func TestVICSWriterDocument(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, VICS, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	md5a, md5b := "98ac6b4b086b5a2f47677b15e786d9ba", "a09272b53419ab95507cdf127329336d"
	sha1a := "2fa1981b4a9a7a3e2f1294354810635b9030c74f"
	pdqa := "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"
	id := map[string]string{ExtraMediaID: "7"}
	for _, e := range []Entry{
		{Type: "md5", Value: md5a, Category: "1", Extra: id, Quality: -1},
		{Type: "sha1", Value: sha1a, Category: "1", Extra: id, Quality: -1},
		{Type: "pdq", Value: pdqa, Category: "1", Extra: id, Quality: 90},
		{Type: "md5", Value: md5b, Note: "x", Quality: -1},
	} {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := `{"@odata.context":"http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/US/$metadata#Media","value":[
{"MediaID":7,"Category":1,"MD5":"98AC6B4B086B5A2F47677B15E786D9BA","SHA1":"2FA1981B4A9A7A3E2F1294354810635B9030C74F","AlternativeHashes":[{"HashName":"PDQ","HashValue":"d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"}]},
{"MediaID":1,"MD5":"A09272B53419AB95507CDF127329336D","Comments":"x"}
]}
`
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

// TestWriterRefuses checks the entries each writer cannot hold: the error
// says why, nothing is written, and the writer carries on.
func TestWriterRefuses(t *testing.T) {
	md5 := "98ac6b4b086b5a2f47677b15e786d9ba"
	sha1 := "2fa1981b4a9a7a3e2f1294354810635b9030c74f"
	pdqv := "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"
	good := map[Format]Entry{
		Plain: {Type: "md5", Value: md5, Quality: -1},
		CSV:   {Type: "md5", Value: md5, Quality: -1},
		JSONL: {Type: "md5", Value: md5, Quality: -1},
		TE:    {Type: "pdq", Value: pdqv, Quality: 80},
		VICS:  {Type: "md5", Value: md5, Quality: -1},
	}
	tests := []struct {
		name string
		f    Format
		e    Entry
		want error
	}{
		{"te md5", TE, Entry{Type: "md5", Value: md5, Quality: -1}, ErrUnsupported},
		{"te note line break", TE, Entry{Type: "pdq", Value: pdqv, Note: "a\nb", Quality: -1}, ErrUnsupported},
		{"vics vpdq", VICS, Entry{Type: "vpdq", Value: `["` + pdqv + `,100,0"]`, Quality: -1}, ErrUnsupported},
		{"vics sha1 alone", VICS, Entry{Type: "sha1", Value: sha1, Quality: -1}, ErrUnsupported},
		{"vics sha1 other media", VICS, Entry{Type: "sha1", Value: sha1, Quality: -1, Extra: map[string]string{ExtraMediaID: "9"}}, ErrUnsupported},
		{"vics text category", VICS, Entry{Type: "md5", Value: md5, Category: "A1", Quality: -1}, ErrUnsupported},
		{"vics padded category", VICS, Entry{Type: "md5", Value: md5, Category: "+1", Quality: -1}, ErrUnsupported},
		{"jsonl extra named like a field", JSONL, Entry{Type: "md5", Value: md5, Quality: -1, Extra: map[string]string{"Note": "x"}}, ErrUnsupported},
		{"bad hex", CSV, Entry{Type: "md5", Value: md5[:31] + "x", Quality: -1}, ErrBadValue},
		{"short pdq", Plain, Entry{Type: "pdq", Value: md5, Quality: -1}, ErrBadValue},
		{"unknown type", JSONL, Entry{Type: "tmk", Value: md5, Quality: -1}, ErrUnknownType},
		{"no type", CSV, Entry{Value: md5, Quality: -1}, ErrMissingField},
		{"quality", CSV, Entry{Type: "pdq", Value: pdqv, Quality: 101}, ErrBadQuality},
		{"nul in note", JSONL, Entry{Type: "md5", Value: md5, Note: "a\x00", Quality: -1}, ErrBadText},
		{"bad utf-8 in source", CSV, Entry{Type: "md5", Value: md5, Source: "\xff", Quality: -1}, ErrBadText},
		{"line break in category", CSV, Entry{Type: "md5", Value: md5, Category: "a\nb", Quality: -1}, ErrBadText},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w, err := NewWriter(&buf, tc.f, WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(tc.e); !errors.Is(err, tc.want) {
				t.Fatalf("Write = %v, want %v", err, tc.want)
			}
			if err := w.Write(good[tc.f]); err != nil {
				t.Fatalf("writer unusable after a refused entry: %v", err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if err := w.Write(good[tc.f]); !errors.Is(err, ErrClosed) {
				t.Errorf("Write after Close = %v, want ErrClosed", err)
			}
			r, err := NewReader(&buf, tc.f, ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var n int
			for {
				e, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("%v in\n%s", err, buf.String())
				}
				if e.Value != good[tc.f].Value {
					t.Errorf("read %q, want only the good entry", e.Value)
				}
				n++
			}
			if n != 1 {
				t.Errorf("read %d entries, want 1:\n%s", n, buf.String())
			}
		})
	}
}

func TestEmptyOutputs(t *testing.T) {
	for _, f := range Formats() {
		if !f.Writable() {
			continue // read only: TestReadOnlyFormat
		}
		var buf bytes.Buffer
		w, err := NewWriter(&buf, f, WriterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		r, err := NewReader(&buf, f, ReaderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Next(); err != io.EOF {
			t.Errorf("%s: empty list read back: %v, want io.EOF", f, err)
		}
	}
}

// TestCRLFNormalizedToFixpoint: a run of CRs before an LF leaves no CRLF
// behind (a CSV reader would turn it into LF and the round trip would
// differ; rapid found "\r\r\n" in an extra field).
func TestCRLFNormalizedToFixpoint(t *testing.T) {
	for in, want := range map[string]string{"a\r\nb": "a\nb", "\r\r\n": "\n", "\r\r\r\nx": "\nx", "\r": "\r", "": ""} {
		if got := crlfToLF(in); got != want {
			t.Errorf("crlfToLF(%q) = %q, want %q", in, got, want)
		}
	}
}
