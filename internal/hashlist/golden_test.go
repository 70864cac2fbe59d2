package hashlist

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the .golden files from the readers' output")

// goldenCases are the example files under testdata/ and how to read them.
// Each NAME has a NAME.golden beside it listing every entry and error the
// reader yields, which reviewers check by eye against the input.
var goldenCases = []struct {
	file string
	f    Format
	opts ReaderOptions
}{
	{"plain/mixed.txt", Plain, ReaderOptions{}},
	{"plain/pdq.txt", Plain, ReaderOptions{Type: "pdq"}},
	{"csv/list.csv", CSV, ReaderOptions{}},
	{"jsonl/list.jsonl", JSONL, ReaderOptions{}},
	{"te/hasher.txt", TE, ReaderOptions{}},
	{"te/details.txt", TE, ReaderOptions{}},
	{"te/reference.csv", TE, ReaderOptions{}},
	{"te/dataset.csv", TE, ReaderOptions{}},
	{"vics/hashset-v2.json", VICS, ReaderOptions{}},
	{"vics/case-v1.json", VICS, ReaderOptions{}},
	{"vics/truncated.json", VICS, ReaderOptions{}},
	{"nigehban/hash.jsonl", Nigehban, ReaderOptions{}},
	{"nigehban/hash.csv", Nigehban, ReaderOptions{}},
}

// sentinels name the error classes in golden output.
var sentinels = []struct {
	name string
	err  error
}{
	{"ErrUnknownType", ErrUnknownType}, {"ErrAmbiguousType", ErrAmbiguousType},
	{"ErrBadValue", ErrBadValue}, {"ErrBadQuality", ErrBadQuality}, {"ErrBadText", ErrBadText},
	{"ErrMissingField", ErrMissingField}, {"ErrSyntax", ErrSyntax}, {"ErrLineTooLong", ErrLineTooLong},
	{"ErrHashFailed", ErrHashFailed},
}

func sentinelName(err error) string {
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return s.name
		}
	}
	return "other"
}

// render reads everything and prints one line per entry or error.
func render(t *testing.T, r Reader) string {
	t.Helper()
	var b strings.Builder
	for i := 0; ; i++ {
		if i > 10000 {
			t.Fatal("reader makes no progress")
		}
		e, err := r.Next()
		if err == io.EOF {
			b.WriteString("EOF\n")
			return b.String()
		}
		var le *LineError
		switch {
		case errors.As(err, &le):
			fmt.Fprintf(&b, "line %d: %s: %v\n", le.Line, sentinelName(err), le.Err)
		case err != nil:
			fmt.Fprintf(&b, "FATAL %s: %v\n", sentinelName(err), err)
			if _, again := r.Next(); again == nil || again.Error() != err.Error() {
				t.Errorf("fatal error not repeated: first %v, then %v", err, again)
			}
			return b.String()
		default:
			line := e.Line
			e.Line = 0
			j, _ := json.Marshal(e)
			fmt.Fprintf(&b, "line %d: %s\n", line, j)
		}
	}
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r, err := NewReader(f, tc.f, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			got := render(t, r)
			golden := path + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s: reader output differs from %s\ngot:\n%s\nwant:\n%s", path, golden, got, want)
			}
		})
	}
}

// TestGoldenDetect checks that Detect recognises every example file from its
// content alone and from its content with its name.
func TestGoldenDetect(t *testing.T) {
	for _, tc := range goldenCases {
		head, err := os.ReadFile(filepath.Join("testdata", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		if len(head) > DetectSize {
			head = head[:DetectSize]
		}
		if got := Detect(head, ""); got != tc.f {
			t.Errorf("Detect(%s content) = %q, want %q", tc.file, got, tc.f)
		}
		if got := Detect(head, tc.file); got != tc.f {
			t.Errorf("Detect(%s) = %q, want %q", tc.file, got, tc.f)
		}
	}
}
