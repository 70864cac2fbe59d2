package hashlist

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/signal"
)

func TestReadOnlyFormat(t *testing.T) {
	for _, f := range Formats() {
		_, err := NewWriter(&bytes.Buffer{}, f, WriterOptions{})
		if f.Writable() != (err == nil) {
			t.Errorf("%s: Writable %v, NewWriter error %v", f, f.Writable(), err)
		}
	}
	if _, err := NewWriter(&bytes.Buffer{}, Nigehban, WriterOptions{}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("NewWriter(nigehban) = %v, want ErrUnsupported", err)
	}
	if f, err := ParseFormat("Nigehban"); f != Nigehban || err != nil {
		t.Errorf("ParseFormat(Nigehban) = %q, %v", f, err)
	}
}

func TestDetectNigehban(t *testing.T) {
	frames := `"vpdq":[` + strings.Repeat(`{"frame":0,"timestamp":0,"quality":100,"pdq":"`+tPDQ+`"},`, 80) + `{}]`
	long := `{"path":"v.mp4","type":"video","size":5,"md5":"` + tMD5 + `",` + frames + "}\n"
	csvHeader := "path,type,format,size,md5,sha1,sha256,pdq,quality,width,height,duration,fps,vpdq_frames,error,tool_version,tool_revision,jpeg_decoder\n"
	tests := []struct {
		name, head string
		want       Format
	}{
		{"jsonl record", `{"path":"a.jpg","size":3,"md5":"` + tMD5 + `"}` + "\n", Nigehban},
		{"record cut short by a long vPDQ", long[:DetectSize], Nigehban},
		{"path not first", `{"md5":"` + tMD5 + `","path":"a.jpg"}` + "\n", Nigehban},
		{"a jsonl list with a path extra", `{"type":"md5","value":"` + tMD5 + `","path":"a.jpg"}` + "\n", JSONL},
		{"csv output", csvHeader + "a.jpg,image,jpeg,3," + tMD5 + ",,,,,,,,,,,,,\n", Nigehban},
		{"csv output, columns reordered", "md5,path\n" + tMD5 + ",a\n", Nigehban},
		{"csv list with a path column", "path,type,value\n", CSV},
		{"path without hashes", "path,type\n", ""},
	}
	for _, tc := range tests {
		if got := Detect([]byte(tc.head), ""); got != tc.want {
			t.Errorf("%s: Detect = %q, want %q", tc.name, got, tc.want)
		}
	}
	// The long record itself reads whole.
	r, _ := NewReader(strings.NewReader(strings.Replace(long, `,{}]`, `]`, 1)), Nigehban, ReaderOptions{})
	var types []string
	for {
		e, err := r.Next()
		if err != nil {
			break
		}
		types = append(types, string(e.Type))
	}
	if strings.Join(types, ",") != "md5,vpdq" {
		t.Errorf("long record gave %v", types)
	}
}

// TestNigehbanCSVHeader: a header without a path column is a fatal
// ListError at its line.
func TestNigehbanCSVHeader(t *testing.T) {
	r, _ := NewReader(strings.NewReader("# hashes\nmd5,sha1\n"+tMD5+",\n"), Nigehban, ReaderOptions{})
	_, err := r.Next()
	var le *ListError
	if !errors.As(err, &le) || le.Line != 2 || !errors.Is(err, ErrMissingField) {
		t.Errorf("err = %v, want a ListError at line 2 wrapping ErrMissingField", err)
	}
}

func FuzzReaderNigehban(f *testing.F) {
	addSeeds(f, "nigehban", `{"path":"a","size":1,"md5":"`+tMD5+`","pdq":"`+tPDQ+`","quality":90,"tool_version":"v1"}`,
		"path,md5,pdq,quality\n\"x\ny\","+tMD5+","+tPDQ+",\n")
	order := map[signal.Type]int{TypeMD5: 0, TypeSHA1: 1, TypeSHA256: 2, TypePDQ: 3, TypeVPDQ: 4}
	f.Fuzz(func(t *testing.T, data []byte, _ uint8) {
		in := checkReader(t, data, Nigehban, ReaderOptions{})
		// The entries of one record come in type order and share its path.
		for i := 1; i < len(in); i++ {
			a, b := in[i-1], in[i]
			if a.Line == b.Line && (order[a.Type] >= order[b.Type] || a.Note != b.Note) {
				t.Fatalf("entries of line %d out of order or with different paths: %+v then %+v", a.Line, a, b)
			}
		}
		// Whatever it reads can be exported (as JSONL) and read back.
		rewrite(t, in, JSONL, WriterOptions{}, ReaderOptions{}, func(e Entry) Entry { return e })
	})
}

// BenchmarkReadNigehban reads synthetic `nigehban hash` output (an image
// record: md5, sha1, sha256, pdq) in both encodings; ns/record.
func BenchmarkReadNigehban(b *testing.B) {
	const n = 20000
	var jsonl, csv bytes.Buffer
	csv.WriteString("path,type,format,size,md5,sha1,sha256,pdq,quality,width,height,duration,fps,vpdq_frames,error,tool_version,tool_revision,jpeg_decoder\n")
	for i := range n {
		md5 := fmt.Sprintf("%032x", i+1)
		sha1 := fmt.Sprintf("%040x", i+1)
		sha256 := fmt.Sprintf("%064x", i+1)
		pdqh := fmt.Sprintf("%064x", 1<<40+i)
		fmt.Fprintf(&jsonl, `{"path":"photos/%d.jpg","type":"image","format":"jpeg","size":12345,"md5":"%s","sha1":"%s","sha256":"%s","pdq":"%s","quality":100,"width":640,"height":480,"tool_version":"v1.0.0","jpeg_decoder":"libjpeg-turbo"}`+"\n", i, md5, sha1, sha256, pdqh)
		fmt.Fprintf(&csv, "photos/%d.jpg,image,jpeg,12345,%s,%s,%s,%s,100,640,480,,,,,v1.0.0,,libjpeg-turbo\n", i, md5, sha1, sha256, pdqh)
	}
	for name, data := range map[string][]byte{"jsonl": jsonl.Bytes(), "csv": csv.Bytes()} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				r, _ := NewReader(bytes.NewReader(data), Nigehban, ReaderOptions{})
				got := 0
				for {
					_, err := r.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					got++
				}
				if got != 4*n {
					b.Fatalf("%d entries, want %d", got, 4*n)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/record")
		})
	}
}

// TestNigehbanCrops: the bank-side variants of `nigehban hash
// --bank-variants` (central crops) become PDQ signals linked to their
// parent; query-side variants (borders, rotations) are not bank signals.
func TestNigehbanCrops(t *testing.T) {
	crop := strings.Repeat("ab", 32)
	rot := strings.Repeat("cd", 32)
	line := `{"path":"a.jpg","size":3,"md5":"` + tMD5 + `","pdq":"` + tPDQ + `","quality":100,"variant_set":"all",` +
		`"pdq_variants":[{"name":"rotate90","pdq":"` + rot + `","quality":100},{"name":"crop90","rect":[1,1,9,9],"pdq":"` + crop + `","quality":80}]}` + "\n"
	r, err := NewReader(strings.NewReader(line), Nigehban, ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %s q%d %s<%s", e.Type, e.Value, e.Quality, e.Extra[ExtraVariant], e.Extra[ExtraVariantOf]))
	}
	want := []string{"md5 " + tMD5 + " q-1 <", "pdq " + tPDQ + " q100 <", "pdq " + crop + " q80 crop90<" + tPDQ}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("entries:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
