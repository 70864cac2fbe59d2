// Command variants measures the PDQ variants of internal/variant on photos
// the tests never see, and their false matches on a distractor corpus:
//
//   - held-out photos (Debian wallpaper packages) are the bank's originals;
//     ImageMagick makes caption, letterbox, pillarbox, embed, collage,
//     screenshot (over the next original, with fake UI bars), crop, rotate
//     and flip copies of each; the share of copies matching their original
//     is reported per edit with the reference decision (plain PDQ) beside
//     it, for each variant set;
//   - the CPU time per image of decoding and hashing with each variant set
//     against plain hashing, measured in the same run (-rounds);
//   - every pair of the distractor images (Debian artwork and clip-art
//     packages, with the held-out photos) is matched with every variant,
//     and each hit between two images plain PDQ does not already match is
//     a false match, counted per variant: the quality gate.
//
// Run it through bench/variants/run.sh, which fetches the packages.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nigehban/nigehban/internal/media"
	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/variant"
)

const font = "/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf"

type edit struct {
	name string
	bank bool // needs bank-side central crops
	args func(w, h int, other string) []string
}

func crop(pct int) func(w, h int, other string) []string {
	return func(w, h int, other string) []string {
		return []string{"-gravity", "center", "-crop", fmt.Sprintf("%dx%d+0+0", w*(100-2*pct)/100, h*(100-2*pct)/100), "+repage"}
	}
}

var edits = []edit{
	{"caption-top", false, func(w, h int, other string) []string {
		return []string{"-gravity", "north", "-background", "white", "-splice", fmt.Sprintf("0x%d", h/6),
			"-font", font, "-pointsize", fmt.Sprint(max(h/14, 8)), "-fill", "black", "-annotate", "+0+6", "Nobody expected this"}
	}},
	{"caption-bottom", false, func(w, h int, other string) []string {
		return []string{"-gravity", "south", "-background", "black", "-splice", fmt.Sprintf("0x%d", h/5),
			"-font", font, "-pointsize", fmt.Sprint(max(h/16, 8)), "-fill", "yellow", "-annotate", "+0+6", "wait for it\nreally"}
	}},
	{"letterbox", false, func(w, h int, other string) []string {
		return []string{"-gravity", "center", "-background", "black", "-extent", fmt.Sprintf("%dx%d", w, h*4/3)}
	}},
	{"pillarbox", false, func(w, h int, other string) []string {
		return []string{"-gravity", "center", "-background", "black", "-extent", fmt.Sprintf("%dx%d", w*4/3, h)}
	}},
	{"embed60", false, func(w, h int, other string) []string {
		return []string{"-resize", "60%", "-gravity", "center", "-background", "white", "-extent", fmt.Sprintf("%dx%d", w, h)}
	}},
	{"embed80", false, func(w, h int, other string) []string {
		return []string{"-resize", "80%", "-gravity", "center", "-background", "white", "-extent", fmt.Sprintf("%dx%d", w, h)}
	}},
	{"collage60", false, func(w, h int, other string) []string { return collage(w, h, other, 60) }},
	{"collage75", false, func(w, h int, other string) []string { return collage(w, h, other, 75) }},
	{"screenshot60", false, func(w, h int, other string) []string { return screenshot(w, h, other, 60) }},
	{"screenshot80", false, func(w, h int, other string) []string { return screenshot(w, h, other, 80) }},
	{"rotate90", false, func(w, h int, other string) []string { return []string{"-rotate", "90"} }},
	{"flop", false, func(w, h int, other string) []string { return []string{"-flop"} }},
	{"crop2", true, crop(2)},
	{"crop5", true, crop(5)},
	{"crop10", true, crop(10)},
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

type img struct {
	path   string
	plain  variant.Hash
	all    []variant.Hash // variant.All, original first
	crops  []variant.Hash
	w, h   int
	source string // the photo an original was made from
}

func load(path string) (*img, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	d, err := media.DecodeImageScaled(data, media.Limits{}, media.PDQMinSide)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	all := variant.Hashes(d.Image, variant.All)
	return &img{path: path, plain: all[0], all: all, crops: variant.CentralCrops(d.Image), w: d.Width, h: d.Height}, nil
}

func list(dirs string, limit int) []string {
	var out []string
	for _, d := range strings.Split(dirs, ",") {
		if d == "" {
			continue
		}
		filepath.Walk(d, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().IsRegular() && fi.Size() > 2000 {
				switch strings.ToLower(filepath.Ext(p)) {
				case ".jpg", ".jpeg", ".png":
					out = append(out, p)
				}
			}
			return nil
		})
	}
	sort.Strings(out)
	if limit > 0 && len(out) > limit {
		step := float64(len(out)) / float64(limit)
		var s []string
		for i := range limit {
			s = append(s, out[int(float64(i)*step)])
		}
		out = s
	}
	return out
}

func loadAll(paths []string) []*img {
	res := make([]*img, len(paths))
	var wg sync.WaitGroup
	ch := make(chan int)
	for range 2 {
		wg.Go(func() {
			for i := range ch {
				m, err := load(paths[i])
				if err != nil {
					log.Printf("skip %v", err)
					continue
				}
				res[i] = m
			}
		})
	}
	for i := range paths {
		ch <- i
	}
	close(ch)
	wg.Wait()
	var out []*img
	for _, m := range res {
		if m != nil && m.plain.Quality >= pdq.MinQuality {
			out = append(out, m)
		}
	}
	return out
}

// inSet reports whether a variant name belongs to set s.
func inSet(name string, s variant.Set) bool {
	switch s {
	case variant.None:
		return name == variant.Original
	case variant.Borders:
		return name == variant.Original || name == variant.Trimmed
	}
	return true
}

func near(a, b variant.Hash) bool {
	return a.Quality >= pdq.MinQuality && b.Quality >= pdq.MinQuality && pdq.Distance(a.PDQ, b.PDQ) <= pdq.DefaultThreshold
}

// matches reports whether query q (variants restricted to s) matches the
// bank entry o (its plain hash, and its central crops when crops is set).
func matches(q *img, s variant.Set, o *img, crops bool) bool {
	bank := []variant.Hash{o.plain}
	if crops {
		bank = append(bank, o.crops...)
	}
	for _, v := range q.all {
		if !inSet(v.Name, s) {
			continue
		}
		for _, b := range bank {
			if near(v, b) {
				return true
			}
		}
	}
	return false
}

func main() {
	photos := flag.String("photos", "", "comma-separated folders of held-out photos (the originals)")
	distractors := flag.String("distractors", "", "comma-separated folders of unrelated images")
	nPhotos := flag.Int("n", 80, "held-out photos used as originals")
	nDistract := flag.Int("d", 1000, "distractor images")
	work := flag.String("work", os.TempDir(), "where originals and edits are written")
	only := flag.String("edits", "", "comma-separated edits to make (default: all)")
	rounds := flag.Int("rounds", 2, "rounds of the cost measurement (0: none)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the cost measurement to this file")
	keep := flag.String("dir", "", "reuse (and keep) this folder of originals and edits from an earlier run")
	flag.Parse()
	if *only != "" {
		var keep []edit
		for _, e := range edits {
			if slices.Contains(strings.Split(*only, ","), e.name) {
				keep = append(keep, e)
			}
		}
		edits = keep
	}

	// Originals: held-out photos as a bank would hold them (≤ 1024 px, JPEG
	// quality 92), distinct by plain PDQ (packages ship one picture at
	// several sizes).
	dir := *keep
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp(*work, "variants-heldout-"); err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(dir)
	}
	var origPaths []string
	source := map[string]string{}
	for i, p := range list(*photos, 0) {
		source[filepath.Join(dir, fmt.Sprintf("%03d-orig.jpg", i))] = p
		out := filepath.Join(dir, fmt.Sprintf("%03d-orig.jpg", i))
		if _, err := os.Stat(out); err == nil {
			origPaths = append(origPaths, out)
			continue
		}
		if err := exec.Command("convert", p+"[0]", "-resize", "1024x1024>", "-quality", "92", out).Run(); err == nil {
			origPaths = append(origPaths, out)
		}
	}
	all := loadAll(origPaths)
	for _, m := range all {
		m.source = source[m.path]
	}
	var origs []*img
	for _, m := range all {
		dup := false
		for _, o := range origs {
			if near(m.plain, o.plain) {
				dup = true
				break
			}
		}
		if !dup {
			origs = append(origs, m)
		}
	}
	if len(origs) > *nPhotos {
		origs = origs[:*nPhotos]
	}
	log.Printf("%d distinct held-out originals", len(origs))

	// Edits of each original.
	type job struct {
		o  *img
		e  edit
		bg *img // the picture a collage or screenshot copy is laid over
	}
	var editPaths []string
	var editOf []job
	var mu sync.Mutex
	var wg sync.WaitGroup
	ch := make(chan job)
	for range 2 {
		wg.Go(func() {
			for j := range ch {
				out := strings.TrimSuffix(j.o.path, "-orig.jpg") + "-" + j.e.name + ".jpg"
				args := append(append([]string{j.o.path}, j.e.args(j.o.w, j.o.h, j.bg.path)...), "-quality", "90", out)
				if _, err := os.Stat(out); err == nil && *keep != "" {
					// made by an earlier run
				} else if b, err := exec.Command("convert", args...).CombinedOutput(); err != nil {
					log.Fatalf("convert %v: %v %s", args, err, b)
				}
				mu.Lock()
				editPaths = append(editPaths, out)
				editOf = append(editOf, j)
				mu.Unlock()
			}
		})
	}
	for i, o := range origs {
		for _, e := range edits {
			ch <- job{o, e, origs[(i+1)%len(origs)]}
		}
	}
	close(ch)
	wg.Wait()

	fmt.Printf("\nHeld-out photos: %d originals, share of copies matching their original\n", len(origs))
	fmt.Printf("%-15s %10s %10s %10s %10s\n", "edit", "reference", "borders", "all", "lost")
	type tally struct{ n, ref, borders, all, lost, wrong int }
	res := map[string]*tally{}
	for i, p := range editPaths {
		q, err := load(p)
		if err != nil {
			log.Fatal(err)
		}
		j := editOf[i]
		t := res[j.e.name]
		if t == nil {
			t = &tally{}
			res[j.e.name] = t
		}
		t.n++
		ref := matches(q, variant.None, j.o, false)
		b := matches(q, variant.Borders, j.o, j.e.bank)
		a := matches(q, variant.All, j.o, j.e.bank)
		if ref {
			t.ref++
		}
		if b {
			t.borders++
		}
		if a {
			t.all++
		}
		if ref && !a {
			t.lost++
		}
		for _, o := range origs {
			// (The background of a collage or screenshot is in it.)
			if o != j.o && o != j.bg && matches(q, variant.All, o, true) && !matches(q, variant.None, o, false) {
				t.wrong++
				log.Printf("%s (copy of %s) matches %s", p, j.o.source, o.source)
			}
		}
	}
	pct := func(a, n int) string { return fmt.Sprintf("%.1f%%", 100*float64(a)/float64(n)) }
	for _, e := range edits {
		t := res[e.name]
		side := ""
		if e.bank {
			side = " (bank-side crops)"
		}
		fmt.Printf("%-15s %10s %10s %10s %10d  %d copies, %d matches to other originals%s\n", e.name,
			pct(t.ref, t.n), pct(t.borders, t.n), pct(t.all, t.n), t.lost, t.n, t.wrong, side)
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
	}
	cost(append(editPaths, func() (o []string) {
		for _, m := range origs {
			o = append(o, m.path)
		}
		return
	}()...), *rounds)
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}

	// Distractors: every pair, every variant.
	if *nDistract <= 0 {
		return
	}
	pool := append(loadAll(list(*distractors, *nDistract)), origs...)
	fmt.Printf("\nDistractors: %d images (quality ≥ 50), %d pairs\n", len(pool), len(pool)*(len(pool)-1)/2)
	fp := map[string]int{}
	plainPairs := 0
	for i, q := range pool {
		for j, o := range pool {
			if i == j {
				continue
			}
			if near(q.plain, o.plain) {
				if i < j {
					plainPairs++
				}
				continue // the same picture to plain PDQ: not unrelated
			}
			seen := map[string]bool{}
			for _, v := range q.all[1:] {
				if v.Quality < pdq.MinQuality {
					continue
				}
				if near(v, o.plain) && !seen[v.Name] {
					fp["query:"+v.Name]++
					seen[v.Name] = true
				}
			}
			for _, c := range o.crops {
				if near(q.plain, c) && !seen[c.Name] {
					fp["bank:"+c.Name]++
					seen[c.Name] = true
				}
			}
		}
	}
	fmt.Printf("pairs plain PDQ already matches (same picture, left out): %d\n", plainPairs)
	names := []string{"query:" + variant.Trimmed, "query:" + variant.Caption, "query:" + variant.Embedded}
	for _, n := range []string{"rotate90", "rotate180", "rotate270", "flipx", "flipy", "flip+1", "flip-1"} {
		names = append(names, "query:"+n)
	}
	for _, p := range variant.CropScales {
		names = append(names, fmt.Sprintf("bank:crop%d", p))
	}
	fmt.Printf("%-20s %s\n", "variant", "false matches (ordered pairs)")
	for _, n := range names {
		fmt.Printf("%-20s %d\n", n, fp[n])
	}
}

// cost measures, in the same run, the CPU time per image of decoding and
// plain PDQ hashing against decoding and hashing with each variant set, over
// the originals and their copies (files read beforehand), and prints the
// ratios: the bar is ≤ 1.3. The time is this thread's CPU time, so
// other load on the machine counts as little as it can; the rounds
// interleave the three ways so that what load remains falls on each alike.
func cost(paths []string, rounds int) {
	if rounds <= 0 {
		return
	}
	var data [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			log.Fatal(err)
		}
		data = append(data, b)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var t [3]time.Duration
	var th [3]time.Duration // hashing alone
	var nHashes [3]int
	for range rounds {
		for s := variant.None; s <= variant.All; s++ {
			start := threadCPU()
			for _, d := range data {
				dec, err := media.DecodeImageScaled(d, media.Limits{}, media.PDQMinSide)
				if err != nil {
					log.Fatal(err)
				}
				h0 := threadCPU()
				if s == variant.None {
					pdq.HashImage(dec.Image)
					nHashes[s]++
				} else {
					nHashes[s] += len(variant.Hashes(dec.Image, s))
				}
				th[s] += threadCPU() - h0
			}
			t[s] += threadCPU() - start
		}
	}
	n := float64(rounds * len(data))
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / n / 1000 }
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("\nCost: %d images × %d rounds, thread CPU time per image (load average %s)\n", len(data), rounds, strings.Fields(string(load) + " ?")[0])
	fmt.Printf("%-8s %8.2f ms  1.00×  %.1f hashes\n", "plain", ms(t[0]), float64(nHashes[0])/n)
	for _, s := range []variant.Set{variant.Borders, variant.All} {
		fmt.Printf("%-8s %8.2f ms  %.2f×  %.1f hashes\n", s, ms(t[s]), float64(t[s])/float64(t[0]), float64(nHashes[s])/n)
	}
	// What the variants change is the hashing; decoding, most of the
	// time above, is the same for all three and moves with the load.
	fmt.Printf("hashing alone (decoding left out): plain %.2f ms, borders %.2f ms (%.2f×), all %.2f ms (%.2f×)\n",
		ms(th[0]), ms(th[variant.Borders]), float64(th[variant.Borders])/float64(th[0]), ms(th[variant.All]), float64(th[variant.All])/float64(th[0]))
}

// threadCPU returns the CPU time the calling OS thread has used (Linux's
// RUSAGE_THREAD).
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1, &ru); err != nil {
		log.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
