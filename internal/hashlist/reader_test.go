package hashlist

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/signal"
)

const (
	tMD5  = "98ac6b4b086b5a2f47677b15e786d9ba"
	tMD5b = "a09272b53419ab95507cdf127329336d"
	tSHA1 = "2fa1981b4a9a7a3e2f1294354810635b9030c74f"
	tPDQ  = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"
)

// outcome is one Next result: a value, or an error class at a line.
type outcome struct {
	line  int
	value string
	err   error // sentinel the *LineError wraps
}

func readAll(t *testing.T, r Reader) []outcome {
	t.Helper()
	var out []outcome
	for i := 0; i < 1000; i++ {
		e, err := r.Next()
		if err == io.EOF {
			return out
		}
		var le *LineError
		switch {
		case errors.As(err, &le):
			out = append(out, outcome{line: le.Line, err: le.Err})
		case err != nil:
			t.Fatalf("fatal error: %v", err)
		default:
			out = append(out, outcome{line: e.Line, value: e.Value})
		}
	}
	t.Fatal("reader makes no progress")
	return nil
}

func TestReaderLines(t *testing.T) {
	long := strings.Repeat("x", 100)
	tests := []struct {
		name string
		f    Format
		opts ReaderOptions
		in   string
		want []outcome
	}{
		{"plain CRLF BOM no final newline", Plain, ReaderOptions{}, "\ufeff" + tMD5 + "\r\n\r\n" + strings.ToUpper(tSHA1), []outcome{{1, tMD5, nil}, {3, tSHA1, nil}}},
		{"plain only BOM", Plain, ReaderOptions{}, "\ufeff", nil},
		{"plain too long then fine", Plain, ReaderOptions{MaxLineLength: 64}, long + "\n" + tMD5 + "\n", []outcome{{1, "", ErrLineTooLong}, {2, tMD5, nil}}},
		{"plain exactly max", Plain, ReaderOptions{MaxLineLength: 32}, tMD5 + "\r\n" + tMD5b, []outcome{{1, tMD5, nil}, {2, tMD5b, nil}}},
		{"plain long last line", Plain, ReaderOptions{MaxLineLength: 40}, tMD5 + "\n" + long, []outcome{{1, tMD5, nil}, {2, "", ErrLineTooLong}}},
		{"plain ambiguous", Plain, ReaderOptions{}, tPDQ + "\n", []outcome{{1, "", ErrAmbiguousType}}},
		{"plain typed", Plain, ReaderOptions{Type: "PDQ"}, " " + tPDQ + " \n", []outcome{{1, tPDQ, nil}}},
		{"csv quoted line break keeps line numbers", CSV, ReaderOptions{},
			"type,value,note\nmd5," + tMD5 + ",\"a\nb\nc\"\nmd5,bad\nmd5," + tMD5b + "\n",
			[]outcome{{2, tMD5, nil}, {5, "", ErrBadValue}, {6, tMD5b, nil}}},
		{"csv unterminated quote at end", CSV, ReaderOptions{}, "type,value,note\nmd5," + tMD5 + ",\"open\n\n", []outcome{{2, "", ErrSyntax}}},
		{"csv record too long", CSV, ReaderOptions{MaxLineLength: 150},
			"type,value,note\nmd5," + tMD5 + ",\"" + long + "\n" + long + "\"\nmd5," + tMD5b + "\n",
			[]outcome{{2, "", ErrLineTooLong}, {4, tMD5b, nil}}},
		{"csv record too long, quote closes later", CSV, ReaderOptions{MaxLineLength: 150},
			"type,value,note\nmd5," + tMD5 + ",\"" + long + "\n" + long + "\n" + long + "\"\nmd5," + tMD5b + "\n",
			[]outcome{{2, "", ErrLineTooLong}, {5, tMD5b, nil}}},
		{"csv default type", CSV, ReaderOptions{Type: "md5"}, "value\n" + tMD5 + "\n", []outcome{{2, tMD5, nil}}},
		{"te mixed rows", TE, ReaderOptions{}, tPDQ + ",90,a.jpg\nhash=" + tPDQ + ",quality=5\n", []outcome{{1, tPDQ, nil}, {2, tPDQ, nil}}},
		{"te bad first line is a line error", TE, ReaderOptions{}, "zzz,1,2\n" + tPDQ + "\n", []outcome{{1, "", ErrBadValue}, {2, tPDQ, nil}}},
		{"jsonl long line", JSONL, ReaderOptions{MaxLineLength: 50}, `{"type":"md5","value":"` + tMD5 + `"}` + "\n" + `{"type":"md5","value":"` + tMD5b + `"}`,
			[]outcome{{1, "", ErrLineTooLong}, {2, "", ErrLineTooLong}}},
		{"vics compact one line", VICS, ReaderOptions{}, `{"value":[{"MD5":"` + tMD5 + `"},{"MD5":"` + tMD5b + `"}]}`, []outcome{{1, tMD5, nil}, {1, tMD5b, nil}}},
		{"vics bare array", VICS, ReaderOptions{}, "[\n{\"MD5\":\"" + tMD5 + "\"},\n\n{\"SHA1\":\"" + tSHA1 + "\"}]", []outcome{{2, tMD5, nil}, {4, tSHA1, nil}}},
		{"vics brace on its own line", VICS, ReaderOptions{}, "{\"value\": [\n  {\"MediaID\": 1,\n   \"MD5\": \"x\"}\n  ,\n  {\n\"MD5\":\"" + tMD5 + "\"}]}\n",
			[]outcome{{2, "", ErrBadValue}, {5, tMD5, nil}}},
		{"vics value null", VICS, ReaderOptions{}, `{"value":null}`, nil},
		{"vics case inside a #Media document", VICS, ReaderOptions{},
			"{\"@odata.context\":\"x#Media\",\"value\":[\n{\"CaseNumber\":\"1\",\"Media\":[\n{\"MD5\":\"" + tMD5 + "\"},\n\n{\"MD5\":\"" + tMD5b + "\"}]}]}",
			[]outcome{{3, tMD5, nil}, {5, tMD5b, nil}}},
		{"vics escaped member names", VICS, ReaderOptions{}, `[{"\u004dD5":"` + tMD5 + `"}]`, []outcome{{1, tMD5, nil}}},
		{"jsonl escaped member name", JSONL, ReaderOptions{}, `{"type":"md5","\u0076alue":"` + tMD5 + `"}`, []outcome{{1, tMD5, nil}}},
		{"jsonl duplicate extra", JSONL, ReaderOptions{}, `{"type":"md5","value":"` + tMD5 + `","x":1,"x":2}`, []outcome{{1, "", ErrSyntax}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewReader(strings.NewReader(tc.in), tc.f, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			got := readAll(t, r)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i, g := range got {
				w := tc.want[i]
				if g.line != w.line || g.value != w.value || (w.err == nil) != (g.err == nil) || (w.err != nil && !errors.Is(g.err, w.err)) {
					t.Errorf("result %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

func TestReaderFatal(t *testing.T) {
	tests := []struct {
		name string
		f    Format
		opts ReaderOptions
		in   string
		want error
	}{
		{"csv without value column", CSV, ReaderOptions{}, "type,hashvalue\nmd5," + tMD5, ErrMissingField},
		{"csv without type column or default", CSV, ReaderOptions{}, "value\n" + tMD5, ErrMissingField},
		{"csv duplicate column", CSV, ReaderOptions{}, "type,value,Type\n", ErrSyntax},
		{"csv two value columns", CSV, ReaderOptions{}, "type,value,hash\n", ErrSyntax},
		{"te header without hash", TE, ReaderOptions{}, "hash,hash\n", ErrSyntax},
		{"vics not an object", VICS, ReaderOptions{}, `"x"`, ErrSyntax},
		{"vics value not an array", VICS, ReaderOptions{}, `{"value":{}}`, ErrSyntax},
		{"vics bad json", VICS, ReaderOptions{}, "{\"value\":[\n{\"MD5\" \"x\"}]}", ErrSyntax},
		{"vics trailing data", VICS, ReaderOptions{}, `{"value":[]} {}`, ErrSyntax},
		{"vics empty", VICS, ReaderOptions{}, "", ErrSyntax},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewReader(strings.NewReader(tc.in), tc.f, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var fatal error
			for i := 0; i < 100 && fatal == nil; i++ {
				_, err := r.Next()
				var le *LineError
				if err == io.EOF {
					t.Fatal("io.EOF, want a fatal error")
				}
				if err != nil && !errors.As(err, &le) {
					fatal = err
				}
			}
			if !errors.Is(fatal, tc.want) {
				t.Fatalf("fatal error %v, want %v", fatal, tc.want)
			}
			if _, again := r.Next(); again == nil || again.Error() != fatal.Error() {
				t.Errorf("after fatal %v, Next returned %v", fatal, again)
			}
		})
	}
}

func TestNewReaderOptions(t *testing.T) {
	if _, err := NewReader(strings.NewReader(""), "xml", ReaderOptions{}); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("unknown format: %v", err)
	}
	if _, err := NewReader(strings.NewReader(""), Plain, ReaderOptions{Type: "photodna"}); !errors.Is(err, ErrUnknownType) {
		t.Errorf("unknown default type: %v", err)
	}
	if _, err := NewReader(strings.NewReader(""), Plain, ReaderOptions{MaxLineLength: -1}); err == nil {
		t.Error("negative MaxLineLength accepted")
	}
	if _, err := NewWriter(io.Discard, VICS, WriterOptions{VICSFlavor: "FR"}); err == nil {
		t.Error("unknown VICS flavour accepted")
	}
	for _, cols := range [][]string{{"note"}, {"Hash"}, {""}, {" x"}, {"a", "A"}} {
		if _, err := NewWriter(io.Discard, CSV, WriterOptions{ExtraColumns: cols}); err == nil {
			t.Errorf("csv ExtraColumns %q accepted", cols)
		}
	}
}

// failAfter yields data, then fails: a reader that streams must hand out the
// entries in data before it sees the failure.
type failAfter struct {
	data string
	err  error
}

func (f *failAfter) Read(p []byte) (int, error) {
	if f.data == "" {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestReadersStream(t *testing.T) {
	boom := errors.New("boom")
	heads := map[Format]string{
		Plain: tMD5 + "\n",
		CSV:   "type,value\nmd5," + tMD5 + "\n",
		JSONL: `{"type":"md5","value":"` + tMD5 + `"}` + "\n",
		TE:    tPDQ + ",100,a.jpg\n",
		VICS:  `{"@odata.context":"x#Media","value":[{"MD5":"` + tMD5 + `"},`,
	}
	for f, head := range heads {
		r, err := NewReader(&failAfter{data: head, err: boom}, f, ReaderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Next(); err != nil {
			t.Errorf("%s: first entry: %v (the reader waited for more input)", f, err)
		}
		if _, err := r.Next(); !errors.Is(err, boom) {
			t.Errorf("%s: after the head: %v, want the read error", f, err)
		}
	}
}

func TestParseTypeAndValue(t *testing.T) {
	types := map[string]signal.Type{
		"MD5": TypeMD5, "video_md5": TypeMD5, "HASH_PDQ": TypePDQ, "sha-256": TypeSHA256,
		" sha1 ": TypeSHA1, "vpdq": TypeVPDQ, "video_vpdq": TypeVPDQ,
	}
	for in, want := range types {
		if got, err := ParseType(in); got != want || err != nil {
			t.Errorf("ParseType(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "tmk", "photodna", "md4"} {
		if _, err := ParseType(in); !errors.Is(err, ErrUnknownType) {
			t.Errorf("ParseType(%q) = %v, want ErrUnknownType", in, err)
		}
	}
	values := []struct {
		typ      signal.Type
		in, want string
		err      error
	}{
		{TypeMD5, " " + strings.ToUpper(tMD5) + "\t", tMD5, nil},
		{TypePDQ, strings.ToUpper(tPDQ), tPDQ, nil},
		{TypeSHA256, tPDQ, tPDQ, nil},
		{TypePDQ, tPDQ[:63] + "g", "", ErrBadValue},
		{TypeSHA1, tMD5, "", ErrBadValue},
		{TypeMD5, "0x" + tMD5[2:], "", ErrBadValue},
		{TypeVPDQ, "  [\"" + strings.ToUpper(tPDQ) + ",100,1.5\"]  ", `["` + tPDQ + `,100,1.5"]`, nil},
		{TypeVPDQ, "  frames  ", "", ErrBadValue},
		{TypeVPDQ, " ", "", ErrBadValue},
		{TypeVPDQ, "a\nb", "", ErrBadValue},
		{TypeVPDQ, strings.Repeat("a", MaxVPDQLength+1), "", ErrBadValue},
		{"tmk", tMD5, "", ErrUnknownType},
	}
	for _, v := range values {
		got, err := NormalizeValue(v.typ, v.in)
		if got != v.want || !errors.Is(err, v.err) || (v.err == nil) != (err == nil) {
			t.Errorf("NormalizeValue(%s, %.40q) = %q, %v; want %q, %v", v.typ, v.in, got, err, v.want, v.err)
		}
	}
}

func TestParseFormat(t *testing.T) {
	for _, f := range Formats() {
		if got, err := ParseFormat(" " + strings.ToUpper(string(f))); got != f || err != nil {
			t.Errorf("ParseFormat(%q) = %q, %v", f, got, err)
		}
	}
	if _, err := ParseFormat("xml"); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("ParseFormat(xml) = %v", err)
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		head, name string
		want       Format
	}{
		{tMD5 + "\n" + tMD5b + "\n", "", Plain},
		{"# comment\n\n" + tSHA1 + "  file name, with comma\n", "", Plain},
		{tPDQ + ",100,a.jpg\n", "list.csv", TE},
		{"hash=" + tPDQ + ",quality=100\n", "", TE},
		{"hash,quality,file\n", "", TE},
		{"signal_type,signal_str,collab,category,tags\n", "", TE},
		{"type,value,category\n", "x.txt", CSV},
		{"added,value\n", "", CSV},
		{`{"type":"md5","value":"` + tMD5 + `"}` + "\n", "", JSONL},
		{"{\n  \"@odata.context\": \"x\",\n", "", VICS},
		{`{"value":[{"MD5":"` + tMD5 + `"}]}`, "", VICS},
		{"\ufeff{\n", "", VICS},
		{"[", "", VICS},
		{"", "banks/export.jsonl", JSONL},
		{"", "a.JSON", VICS},
		{"", "needles.txt", Plain},
		{"", "x.te", TE},
		{"", "", ""},
		{"hello world\n", "", ""},
		{"added,deleted\n", "", ""},
	}
	for _, tc := range tests {
		if got := Detect([]byte(tc.head), tc.name); got != tc.want {
			t.Errorf("Detect(%q, %q) = %q, want %q", tc.head, tc.name, got, tc.want)
		}
	}
}
