package match_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/hashlist"
	"github.com/nigehban/nigehban/internal/match"
	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/signal"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// listEntries returns one signal of each type: a PDQ hash with a category
// and a note, three digests, and a 30-frame video.
func listEntries(r *rand.Rand) []hashlist.Entry {
	frames := make([]signal.Frame, 30)
	h := pdq.MustParseHex(storetest.RandomPDQ(r))
	for i := range frames {
		frames[i] = signal.Frame{Frame: i, PDQ: flip(r, h, 3*i%40), Quality: 90, Timestamp: float64(i)}
	}
	return []hashlist.Entry{
		{Type: signal.PDQ, Value: storetest.RandomPDQ(r), Category: "1", Note: "bridge", Quality: 100},
		{Type: signal.MD5, Value: storetest.RandomHex(r, 32), Category: "2", Quality: -1, Extra: map[string]string{hashlist.ExtraMediaID: "1"}},
		{Type: signal.SHA1, Value: storetest.RandomHex(r, 40), Category: "2", Quality: -1, Extra: map[string]string{hashlist.ExtraMediaID: "1"}},
		{Type: signal.SHA256, Value: storetest.RandomHex(r, 64), Category: "2", Quality: -1, Extra: map[string]string{hashlist.ExtraMediaID: "1"}},
		{Type: signal.VPDQ, Value: signal.FormatVPDQ(frames), Category: "3", Quality: -1},
	}
}

// TestLoadFilesFormats writes the same signals in every hash-list format
// (what each writer can hold), loads each file and matches every signal
// written: near PDQ, exact digests, an edited copy of the video.
func TestLoadFilesFormats(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	entries := listEntries(r)
	dir := t.TempDir()
	for _, f := range hashlist.Formats() {
		if !f.Writable() {
			continue // read-only formats (nigehban hash output) have tests of their own
		}
		t.Run(string(f), func(t *testing.T) {
			var buf bytes.Buffer
			w, err := hashlist.NewWriter(&buf, f, hashlist.WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var written []hashlist.Entry
			for _, e := range entries {
				if f == hashlist.Plain && e.Type != signal.PDQ {
					continue // a plain list holds one type of 64-digit values
				}
				if err := w.Write(e); err == nil {
					written = append(written, e)
				} else if !errors.Is(err, hashlist.ErrUnsupported) {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "list."+string(f))
			writeFile(t, path, buf.Bytes())
			opts := match.DefaultFileOptions()
			if f == hashlist.Plain {
				opts.Type = "pdq"
			}
			m, err := match.LoadFiles(ctx, []string{path}, opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(written) == 0 {
				t.Fatal("the writer took nothing")
			}
			info := m.Banks()
			if len(info) != 1 || info[0].Kind != "file" || info[0].Format != string(f) || info[0].Size != int64(buf.Len()) || len(info[0].SHA256) != 64 {
				t.Errorf("bank info %+v", info)
			}
			for _, e := range written {
				var hits []match.Hit
				switch e.Type {
				case signal.PDQ:
					hits = m.MatchPDQ(flip(r, pdq.MustParseHex(e.Value), 5))
					if len(hits) == 1 && (hits[0].Distance != 5 || hits[0].Value != e.Value) {
						t.Errorf("pdq hit %+v", hits[0])
					}
				case signal.VPDQ:
					fs, _ := signal.ParseVPDQ(e.Value)
					q := fs
					for i := range q {
						q[i].PDQ = flip(r, q[i].PDQ, 8)
					}
					hits = m.MatchVPDQ(q)
					if len(hits) == 1 && hits[0].QueryPercent != 100 {
						t.Errorf("vpdq hit %+v", hits[0])
					}
				default:
					hits, err = m.MatchDigest(e.Type, strings.ToUpper(e.Value))
					if err != nil {
						t.Fatal(err)
					}
				}
				if len(hits) != 1 || hits[0].Bank != "list."+string(f) || hits[0].Type != e.Type || hits[0].SignalID != 0 {
					t.Errorf("%s: hits %+v", e.Type, hits)
					continue
				}
				if f != hashlist.Plain && f != hashlist.TE && hits[0].Category != e.Category {
					t.Errorf("%s: category %q, want %q", e.Type, hits[0].Category, e.Category)
				}
			}
			if m.MatchPDQ(pdq.MustParseHex(storetest.RandomPDQ(r))) != nil {
				t.Error("a random hash matched")
			}
		})
	}
}

// TestLoadFilesLabelled: the "hex,label" lines `nigehban match` took
// before it read every format.
func TestLoadFilesLabelled(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	a, b := storetest.RandomPDQ(r), storetest.RandomPDQ(r)
	path := filepath.Join(t.TempDir(), "bank.txt")
	writeFile(t, path, []byte("# known\n"+a+",bridge\n\n"+strings.ToUpper(b)+"\n"))
	m, err := match.LoadFiles(context.Background(), []string{path}, match.DefaultFileOptions())
	if err != nil {
		t.Fatal(err)
	}
	if h := m.MatchPDQ(pdq.MustParseHex(a)); len(h) != 1 || h[0].Label != "bridge" || h[0].Value != a {
		t.Errorf("labelled line: %+v", h)
	}
	if h := m.MatchPDQ(pdq.MustParseHex(b)); len(h) != 1 || h[0].Label != "" {
		t.Errorf("unlabelled line: %+v", h)
	}
	if m.Banks()[0].Format != match.Labelled {
		t.Errorf("format %q", m.Banks()[0].Format)
	}
	writeFile(t, path, []byte(a+",bridge\nxyz,oops\n"))
	if _, err := match.LoadFiles(context.Background(), []string{path}, match.DefaultFileOptions()); err == nil || !strings.Contains(err.Error(), "bank.txt:2") {
		t.Errorf("bad line: %v", err)
	}
}

// TestThresholdZero: a threshold of 0 matches identical hashes only (it
// once meant "the default", 31).
func TestThresholdZero(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	h := pdq.MustParseHex(storetest.RandomPDQ(r))
	path := filepath.Join(t.TempDir(), "pdq.txt")
	writeFile(t, path, []byte(h.String()+"\n"))
	for _, tt := range []struct {
		threshold, distance int
		want                bool
	}{
		{0, 0, true}, {0, 1, false}, {0, 20, false}, {1, 1, true}, {31, 31, true}, {31, 32, false}, {256, 256, true},
	} {
		opts := match.DefaultFileOptions()
		opts.Type, opts.PDQThreshold = "pdq", tt.threshold
		m, err := match.LoadFiles(context.Background(), []string{path}, opts)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(m.MatchPDQ(flip(r, h, tt.distance))) == 1; got != tt.want {
			t.Errorf("threshold %d, distance %d: matched %v, want %v", tt.threshold, tt.distance, got, tt.want)
		}
	}
	for _, bad := range []int{-1, 257} {
		opts := match.DefaultFileOptions()
		opts.PDQThreshold = bad
		if _, err := match.LoadFiles(context.Background(), []string{path}, opts); err == nil {
			t.Errorf("threshold %d accepted", bad)
		}
	}
}

// TestNotHashList: an image given as a bank is one error wrapping
// ErrNotHashList, whatever its name.
func TestNotHashList(t *testing.T) {
	var img bytes.Buffer
	if err := jpeg.Encode(&img, image.NewGray(image.Rect(0, 0, 64, 64)), nil); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, name := range []string{"photo.jpg", "bank.txt", "bank.csv", "noext"} {
		path := filepath.Join(dir, name)
		writeFile(t, path, img.Bytes())
		_, err := match.LoadFiles(context.Background(), []string{path}, match.DefaultFileOptions())
		if !errors.Is(err, match.ErrNotHashList) || !strings.Contains(err.Error(), "jpeg") || strings.Count(err.Error(), "\n") > 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	writeFile(t, filepath.Join(dir, "prose.md"), []byte("Some notes, not hashes.\n"))
	if _, err := match.LoadFiles(context.Background(), []string{filepath.Join(dir, "prose.md")}, match.DefaultFileOptions()); !errors.Is(err, match.ErrNotHashList) {
		t.Errorf("prose: %v", err)
	}
	for _, text := range []string{"", "d41d8cd98f00b204e9800998ecf8427e\n", "héllo wörld\n"} {
		if err := match.CheckText([]byte(text)); err != nil {
			t.Errorf("CheckText(%q) = %v", text, err)
		}
	}
}
