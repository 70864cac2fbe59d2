package hashlist

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// TestErrorLine: fatal reader errors name the line the list breaks at, as
// bad lines do, so an import can report both the same way.
func TestErrorLine(t *testing.T) {
	tests := []struct {
		name   string
		format Format
		in     string
		line   int
		fatal  bool
	}{
		{"csv header without value column", CSV, "# comment\n\ntype,category\nmd5,x\n", 3, true},
		{"te header giving the hash twice", TE, "hash,signal_str,file\na,b,c\n", 1, true},
		{"vics syntax error", VICS, "{\"value\": [\n {\"MD5\": \"d41d8cd98f00b204e9800998ecf8427e\"},\n {\"MD5\": x}\n]}\n", 3, true},
		{"vics ends early", VICS, "{\"value\": [\n {\"MD5\": \"d41d8cd98f00b204e9800998ecf8427e\"},\n", 2, true},
		{"vics value not an array", VICS, "{\n\"value\": 3}\n", 2, true},
		{"plain bad line", Plain, "d41d8cd98f00b204e9800998ecf8427e\nnope\n", 2, false},
		{"jsonl bad line", JSONL, "{\"type\":\"md5\",\"value\":\"d41d8cd98f00b204e9800998ecf8427e\"}\n\n{nope\n", 3, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewReader(strings.NewReader(tc.in), tc.format, ReaderOptions{Type: "md5"})
			if err != nil {
				t.Fatal(err)
			}
			for {
				_, err := r.Next()
				if err == io.EOF {
					t.Fatalf("no error reading %q", tc.in)
				}
				if err == nil {
					continue
				}
				var fe *ListError
				if got := errors.As(err, &fe); got != tc.fatal {
					t.Errorf("%v: ListError %v, want %v", err, got, tc.fatal)
				}
				if got := ErrorLine(err); got != tc.line {
					t.Errorf("%v: ErrorLine = %d, want %d", err, got, tc.line)
				}
				return
			}
		})
	}
	if ErrorLine(io.ErrUnexpectedEOF) != 0 {
		t.Error("ErrorLine of a plain error is not 0")
	}
}
