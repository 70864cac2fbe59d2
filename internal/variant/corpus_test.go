package variant

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/nigehban/nigehban/internal/media"
	"github.com/nigehban/nigehban/internal/pdq"
)

// shared is the reference data beside the repository.
const shared = "../../../shared/testdata/pdq/images"

// sources are the benign photos the edit corpus is generated from.
var sources = []string{
	"bridge-mods/aaa-orig.jpg", "exif-rotn/exif-rotn-1.jpg", "pen-and-coaster.png", "misc-images/c.png",
	"labelme-subset/q0122.jpg", // (q0003 and q0004 have PDQ quality 3: never matched)
	"labelme-subset/q0291.jpg", "labelme-subset/q0746.jpg", "labelme-subset/q1050.jpg", "labelme-subset/q2821.jpg",
}

const font = "/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf"

// edit is one ImageMagick edit of the corpus: args between the input and
// the output, given the source's size. side says which matching side the
// edit needs: query-side variants, or bank-side central crops.
type edit struct {
	name string
	args func(w, h int, other string) []string
	bank bool
	// want is the share of sources that must match: a regression guard set
	// just under what the corpus gives (9 sources; c.png's own white side
	// defeats the frame and embed trims; 2 % crops of 256-pixel images fall
	// between the central crops; a 256-pixel picture pasted at 60–75 % into
	// a busy collage or screenshot is found, but ImageMagick's resize moves
	// its PDQ hash by 30–60 bits at that size). The goals are measured on
	// held-out photos by bench/variants.
	want float64
}

var edits = []edit{
	{name: "caption-top", want: 0.9, args: func(w, h int, other string) []string {
		return []string{"-gravity", "north", "-background", "white", "-splice", fmt.Sprintf("0x%d", h/6),
			"-font", font, "-pointsize", fmt.Sprint(max(h/14, 8)), "-fill", "black", "-annotate", "+0+4", "Look at this LOL"}
	}},
	{name: "caption-bottom", want: 0.9, args: func(w, h int, other string) []string {
		return []string{"-gravity", "south", "-background", "black", "-splice", fmt.Sprintf("0x%d", h/5),
			"-font", font, "-pointsize", fmt.Sprint(max(h/16, 8)), "-fill", "white", "-annotate", "+0+4", "when you see it\nshare"}
	}},
	{name: "letterbox", want: 0.9, args: func(w, h int, other string) []string {
		return []string{"-gravity", "center", "-background", "black", "-extent", fmt.Sprintf("%dx%d", w, h*3/2)}
	}},
	{name: "pillarbox", want: 0.9, args: func(w, h int, other string) []string {
		return []string{"-gravity", "center", "-background", "black", "-extent", fmt.Sprintf("%dx%d", w*3/2, h)}
	}},
	{name: "frame", want: 0.85, args: func(w, h int, other string) []string {
		return []string{"-bordercolor", "#7a3f9d", "-border", fmt.Sprintf("%dx%d", w/12, w/12)}
	}},
	{name: "embed60", want: 0.85, args: func(w, h int, other string) []string {
		return []string{"-resize", "60%", "-gravity", "center", "-background", "white", "-extent", fmt.Sprintf("%dx%d", w, h)}
	}},
	{name: "embed80", want: 0.85, args: func(w, h int, other string) []string {
		return []string{"-resize", "80%", "-gravity", "northwest", "-background", "white", "-extent", fmt.Sprintf("%dx%d", w, h)}
	}},
	{name: "collage60", want: 0.4, args: func(w, h int, other string) []string { return collage(w, h, other, 60) }},
	{name: "screenshot75", want: 0.3, args: func(w, h int, other string) []string { return screenshot(w, h, other, 75) }},
	{name: "rotate90", want: 0.9, args: func(w, h int, other string) []string { return []string{"-rotate", "90"} }},
	{name: "rotate180", want: 0.9, args: func(w, h int, other string) []string { return []string{"-rotate", "180"} }},
	{name: "rotate270", want: 0.9, args: func(w, h int, other string) []string { return []string{"-rotate", "270"} }},
	{name: "flip", want: 0.9, args: func(w, h int, other string) []string { return []string{"-flip"} }},
	{name: "flop", want: 0.9, args: func(w, h int, other string) []string { return []string{"-flop"} }},
	{name: "crop2", bank: true, want: 0.6, args: func(w, h int, other string) []string { return crop(w, h, 2) }},
	{name: "crop5", bank: true, want: 0.8, args: func(w, h int, other string) []string { return crop(w, h, 5) }},
	{name: "crop10", bank: true, want: 0.8, args: func(w, h int, other string) []string { return crop(w, h, 10) }},
}

// collage pastes the original at pct % of its size, off centre, over
// another picture stretched to the original's size, under a fake title
// bar: a picture in a busy surrounding, where trimming finds nothing.
func collage(w, h int, other string, pct int) []string {
	bar := max(h/14, 12)
	return []string{"-resize", fmt.Sprintf("%d%%", pct), "(", other, "-resize", fmt.Sprintf("%dx%d!", w, h), ")", "+swap",
		"-gravity", "northwest", "-geometry", fmt.Sprintf("+%d+%d", w*(100-pct)/3/100, bar+(h-bar-h*pct/100)/2), "-composite",
		"-fill", "#2b2b2b", "-draw", fmt.Sprintf("rectangle 0,0 %d,%d", w, bar),
		"-font", font, "-pointsize", fmt.Sprint(max(bar*2/3, 8)), "-fill", "white", "-annotate", "+8+2", "Photos  >  Shared with me"}
}

// screenshot centres the original at pct % over a pattern tiled from
// another picture, between a title bar and a task bar.
func screenshot(w, h int, other string, pct int) []string {
	bar := max(h/16, 12)
	return []string{"-resize", fmt.Sprintf("%d%%", pct), "(", "-size", fmt.Sprintf("%dx%d", w, h), "tile:" + other, ")", "+swap",
		"-gravity", "center", "-composite", "-gravity", "northwest",
		"-fill", "#dedede", "-draw", fmt.Sprintf("rectangle 0,0 %d,%d", w, bar),
		"-fill", "#1e1e1e", "-draw", fmt.Sprintf("rectangle 0,%d %d,%d", h-bar, w, h),
		"-font", font, "-pointsize", fmt.Sprint(max(bar*2/3, 8)), "-fill", "black", "-annotate", "+8+2", "image.jpg - Viewer"}
}

func crop(w, h, pct int) []string {
	cw, ch := w*(100-2*pct)/100, h*(100-2*pct)/100
	return []string{"-gravity", "center", "-crop", fmt.Sprintf("%dx%d+0+0", cw, ch), "+repage"}
}

// corpusEntry is a generated edit and the original it came from.
type corpusEntry struct {
	source, edit string
	path         string
}

var corpus struct {
	once    sync.Once
	dir     string
	origs   map[string]string // source → its original (resized) file
	entries []corpusEntry
	err     error
}

// convert runs ImageMagick; it is a required tool (scripts/setup installs it).
func convert(args ...string) error {
	out, err := exec.Command("convert", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("convert %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// buildCorpus makes each source's original (at most 800 px a side, JPEG
// quality 92, as a bank would hold it) and every edit of it (JPEG quality 90).
func buildCorpus(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("convert"); err != nil {
		t.Fatalf("ImageMagick's convert is required (scripts/setup installs it): %v", err)
	}
	corpus.once.Do(func() {
		dir, err := os.MkdirTemp("", "nigehban-variant-corpus-")
		if err != nil {
			corpus.err = err
			return
		}
		corpus.dir, corpus.origs = dir, map[string]string{}
		type job struct {
			src, other string // other: another source, for busy backgrounds
			e          edit
		}
		var jobs []job
		for i, s := range sources {
			orig := filepath.Join(dir, fmt.Sprintf("%02d-orig.jpg", i))
			if err := convert(filepath.Join(shared, s), "-auto-orient", "-resize", "800x800>", "-quality", "92", orig); err != nil {
				corpus.err = err
				return
			}
			corpus.origs[s] = orig
			for _, e := range edits {
				jobs = append(jobs, job{s, sources[(i+1)%len(sources)], e})
			}
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		ch := make(chan job)
		for range 2 {
			wg.Go(func() {
				for j := range ch {
					orig := corpus.origs[j.src]
					w, h := imageSize(orig)
					out := strings.TrimSuffix(orig, "-orig.jpg") + "-" + j.e.name + ".jpg"
					args := append(append([]string{orig}, j.e.args(w, h, corpus.origs[j.other])...), "-quality", "90", out)
					err := convert(args...)
					mu.Lock()
					if err != nil && corpus.err == nil {
						corpus.err = err
					}
					corpus.entries = append(corpus.entries, corpusEntry{j.src, j.e.name, out})
					mu.Unlock()
				}
			})
		}
		for _, j := range jobs {
			ch <- j
		}
		close(ch)
		wg.Wait()
	})
	if corpus.err != nil {
		t.Fatal(corpus.err)
	}
}

func imageSize(path string) (int, int) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, 0
	}
	d, err := media.DecodeImage(data, media.Limits{})
	if err != nil {
		return 0, 0
	}
	return d.Width, d.Height
}

// decodeFile decodes as fingerprint does (DCT-scaled to PDQ's 512).
func decodeFile(t testing.TB, path string) media.Decoded {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := media.DecodeImageScaled(data, media.Limits{}, media.PDQMinSide)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return d
}

// matches reports the first of hashes (quality ≥ 50) within the default
// threshold of one of bank, and its name.
func matches(hashes []Hash, bank []Hash) (string, bool) {
	for _, q := range hashes {
		if q.Quality < pdq.MinQuality {
			continue
		}
		for _, b := range bank {
			if pdq.Distance(q.PDQ, b.PDQ) <= pdq.DefaultThreshold {
				return q.Name, true
			}
		}
	}
	return "", false
}

// TestEditCorpus generates caption, letterbox, pillarbox, frame, embed,
// rotation, flip and crop edits of the shared photos with ImageMagick and
// reports, per edit, the share matched by the reference decision (plain PDQ
// against plain PDQ) and with variants (query side: All against the
// original's plain hash; crops: the original's central crops on the bank
// side). Nothing the reference matches may be lost, and each edit must
// reach its share.
func TestEditCorpus(t *testing.T) {
	buildCorpus(t)
	bankPlain := map[string][]Hash{}
	bankCrops := map[string][]Hash{}
	for s, orig := range corpus.origs {
		d := decodeFile(t, orig)
		plain := Hashes(d.Image, None)
		bankPlain[s] = plain
		bankCrops[s] = append(slices.Clone(plain), CentralCrops(d.Image)...)
	}
	type tally struct{ n, ref, ours int }
	res := map[string]*tally{}
	var lines []string
	for _, e := range corpus.entries {
		d := decodeFile(t, e.path)
		ed := edits[slices.IndexFunc(edits, func(x edit) bool { return x.name == e.edit })]
		_, refOK := matches(Hashes(d.Image, None), bankPlain[e.source])
		bank := bankPlain[e.source]
		if ed.bank {
			bank = bankCrops[e.source]
		}
		name, ok := matches(Hashes(d.Image, All), bank)
		tl := res[e.edit]
		if tl == nil {
			tl = &tally{}
			res[e.edit] = tl
		}
		tl.n++
		if refOK {
			tl.ref++
		}
		if ok {
			tl.ours++
		}
		if refOK && !ok {
			t.Errorf("%s %s: the reference decision matches, variants lose it", e.source, e.edit)
		}
		lines = append(lines, fmt.Sprintf("%-28s %-15s ref=%-5v variants=%-5v %s", e.source, e.edit, refOK, ok, name))
	}
	slices.Sort(lines)
	for _, l := range lines {
		t.Log(l)
	}
	for _, e := range edits {
		tl := res[e.name]
		if tl == nil || tl.n == 0 {
			t.Errorf("%s: no corpus entries", e.name)
			continue
		}
		got := float64(tl.ours) / float64(tl.n)
		t.Logf("%-15s %2d copies: reference PDQ %3.0f%%, with variants %3.0f%%", e.name, tl.n,
			100*float64(tl.ref)/float64(tl.n), 100*got)
		if got < e.want {
			t.Errorf("%s: %.0f%% matched with variants, want ≥ %.0f%%", e.name, 100*got, 100*e.want)
		}
	}
}
