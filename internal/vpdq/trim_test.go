package vpdq

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/testtool"
)

// clipSource is a benign generated video: an ffmpeg lavfi graph, or a photo
// panned and zoomed (zoompan), 320×240 at 10 fps.
type clipSource struct {
	name  string
	input []string // ffmpeg input arguments
	vf    string   // filter applied before the size is fixed
}

// trimSources returns the distractor corpus: unrelated benign clips from
// ffmpeg's generators with several parameters, and photos of the shared test
// set panned and zoomed.
func trimSources(t testing.TB) []clipSource {
	t.Helper()
	lavfi := func(name, graph string) clipSource {
		return clipSource{name: name, input: []string{"-f", "lavfi", "-i", graph}}
	}
	out := []clipSource{
		lavfi("testsrc", "testsrc=size=320x240:rate=10"),
		lavfi("testsrc2", "testsrc2=size=320x240:rate=10"),
		lavfi("smptebars", "smptebars=size=320x240:rate=10"),
		lavfi("smptehdbars", "smptehdbars=size=320x240:rate=10"),
		lavfi("rgbtestsrc", "rgbtestsrc=size=320x240:rate=10"),
		lavfi("yuvtestsrc", "yuvtestsrc=size=320x240:rate=10"),
		lavfi("mandelbrot", "mandelbrot=size=320x240:rate=10"),
		lavfi("mandelbrot-zoomed", "mandelbrot=size=320x240:rate=10:start_scale=0.3:end_scale=0.05"),
		lavfi("mandelbrot-elsewhere", "mandelbrot=size=320x240:rate=10:start_x=-0.75:start_y=0.1:start_scale=0.5"),
		lavfi("cellauto-30", "cellauto=size=320x240:rate=10:rule=30"),
		lavfi("cellauto-110", "cellauto=size=320x240:rate=10:rule=110"),
		lavfi("cellauto-18", "cellauto=size=320x240:rate=10:rule=18:random_fill_ratio=0.5"),
		lavfi("life", "life=size=320x240:rate=10:seed=1:mold=10:life_color=#ffd080:death_color=#203040:mold_color=#406080"),
		lavfi("life-2", "life=size=320x240:rate=10:seed=7:ratio=0.3:life_color=#80ff80:death_color=#402020"),
		lavfi("gradients", "gradients=size=320x240:rate=10:seed=3"),
		lavfi("gradients-2", "gradients=size=320x240:rate=10:seed=11:speed=0.05"),
		lavfi("cellauto-spaced", "cellauto=size=320x240:rate=10:rule=90:pattern=1"),
	}
	// Distinct photos of the shared set (not edits of one another), each
	// panned or zoomed its own way.
	photos := []string{"bridge-mods/aaa-orig.jpg", "exif-rotn/exif-rotn-1.jpg", "labelme-subset/q0003.jpg",
		"labelme-subset/q0004.jpg", "labelme-subset/q0122.jpg", "labelme-subset/q0291.jpg", "labelme-subset/q0746.jpg",
		"labelme-subset/q1050.jpg", "labelme-subset/q2821.jpg", "misc-images/c.png", "pen-and-coaster.png"}
	for i, p := range photos {
		p = filepath.Join("../../../shared/testdata/pdq/images", p)
		if !fileExists(p) {
			t.Fatalf("distractor photo %s missing (shared/ must sit beside the repository)", p)
		}
		z := fmt.Sprintf("zoompan=z='min(zoom+0.00%d,1.5)':x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2':d=60:s=320x240:fps=10", 3+i%5)
		if i%2 == 1 {
			z = fmt.Sprintf("zoompan=z=1.%d:x='(iw-iw/zoom)*on/60':y='(ih-ih/zoom)/2':d=60:s=320x240:fps=10", 2+i%4)
		}
		out = append(out, clipSource{name: fmt.Sprintf("photo-%02d", i),
			input: []string{"-loop", "1", "-i", p}, vf: "scale=640:480:force_original_aspect_ratio=increase,crop=640:480," + z})
	}
	// One clip of each unrelated scene of the vPDQ samples.
	for _, c := range []string{"chair-orig-22-sd-bar", "doorknob-hd-no-bar", "pattern-hd-no-bar", "test-padded-dimensions"} {
		out = append(out, clipSource{name: c, input: []string{"-i", filepath.Join(shared, "videos", c+".mp4")}})
	}
	return out
}

// Bar layouts of a copy: pillarboxed (content narrowed into a frame with
// black bars left and right) and letterboxed (bars above and below).
var barLayouts = []struct{ name, vf string }{
	{"plain", "scale=320:240"},
	{"pillarbox", "scale=240:180,pad=320:180:40:0:black"},
	{"letterbox", "scale=256:192,pad=256:256:0:32:black"},
}

// makeClip encodes src under layout into dir (6 s, mpeg4) and returns its path.
func makeClip(ctx context.Context, ffmpeg, dir string, src clipSource, layout string) (string, error) {
	var vf string
	for _, l := range barLayouts {
		if l.name == layout {
			vf = l.vf
		}
	}
	if src.vf != "" {
		vf = src.vf + "," + vf
	}
	p := filepath.Join(dir, src.name+"-"+layout+".mp4")
	args := append([]string{"-nostdin", "-v", "error", "-y"}, src.input...)
	args = append(args, "-t", "6", "-vf", vf+",format=yuv420p", "-r", "10", "-an", "-c:v", "mpeg4", "-q:v", "3", p)
	if out, err := exec.CommandContext(ctx, ffmpeg, args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("make %s %s: %v: %s", src.name, layout, err, out)
	}
	return p, nil
}

// mustClip is makeClip for the test's own goroutine.
func mustClip(ctx context.Context, t testing.TB, ffmpeg, dir string, src clipSource, layout string) string {
	t.Helper()
	p, err := makeClip(ctx, ffmpeg, dir, src, layout)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTrimBordersMatch: pillarboxed and letterboxed copies of generated
// clips do not match the bar-free original's plain (reference) vPDQ, but
// do when the copy's frames are also hashed without their bars
// (TrimBorders, MatchTrimmed); the frames themselves stay the reference's,
// bit for bit.
func TestTrimBordersMatch(t *testing.T) {
	ffmpeg := testtool.Path(t, "ffmpeg")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	dir := t.TempDir()
	srcs := trimSources(t)
	var cost [2]time.Duration // hashing the clips with bars without and with trimming (one worker)
	defer func() {
		t.Logf("hashing the clips with bars, trimming on / off: %.2f (%v / %v, under load)", cost[1].Seconds()/cost[0].Seconds(),
			cost[1].Round(time.Millisecond), cost[0].Round(time.Millisecond))
	}()
	for _, src := range []clipSource{srcs[1], srcs[6], srcs[17]} {
		orig, err := HashFile(ctx, mustClip(ctx, t, ffmpeg, dir, src, "plain"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, layout := range []string{"pillarbox", "letterbox"} {
			t.Run(src.name+"/"+layout, func(t *testing.T) {
				p := mustClip(ctx, t, ffmpeg, dir, src, layout)
				t0 := time.Now()
				plain, err := HashFile(ctx, p, Options{Workers: 1})
				if err != nil {
					t.Fatal(err)
				}
				t1 := time.Now()
				v, err := HashFile(ctx, p, Options{Workers: 1, TrimBorders: true})
				if err != nil {
					t.Fatal(err)
				}
				cost[0] += t1.Sub(t0)
				cost[1] += time.Since(t1)
				if !slices.Equal(v.Frames, plain.Frames) || len(plain.Trimmed) != 0 {
					t.Fatalf("TrimBorders changed the frames' own hashes, or trimmed without it")
				}
				if len(v.Trimmed) != len(v.Frames) {
					t.Errorf("%d of %d frames trimmed, want every one", len(v.Trimmed), len(v.Frames))
				}
				none := Match(plain.Frames, orig.Frames, DefaultMatchOptions())
				got, used := MatchTrimmed(v.Frames, v.Trimmed, orig.Frames, DefaultMatchOptions())
				t.Logf("plain: query %.0f%% target %.0f%% match %v; trimmed: query %.0f%% target %.0f%% match %v",
					none.QueryPercent, none.TargetPercent, none.Match, got.QueryPercent, got.TargetPercent, got.Match)
				if none.Match {
					t.Errorf("the copy with bars matches its original without trimming: %+v", none)
				}
				if !got.Match || !used {
					t.Errorf("the copy with bars does not match its original with trimming: %+v (trimmed used %v)", got, used)
				}
			})
		}
	}
}

// TestTrimBordersNoBars: a clip without bars gets no trimmed frame, so
// matching it is the reference rule exactly.
func TestTrimBordersNoBars(t *testing.T) {
	path := filepath.Join(shared, "videos", "pattern-hd-no-bar.mp4")
	v, err := HashFile(context.Background(), path, Options{TrimBorders: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Trimmed) != 0 {
		t.Errorf("%d trimmed frames for a clip without bars", len(v.Trimmed))
	}
	if want := at1fps(cachedHash(t, path, everyFrame)); !slices.Equal(v.Frames, want) {
		t.Errorf("frames differ from the reference hashing")
	}
}

// TestQueryUnits checks the variant rule's units on hand-made frames:
// without trimmed frames they are Distinct's; a trimmed hash joins its
// frame's unit, a poor hash is left out, and a frame is told apart by both
// hashes.
func TestQueryUnits(t *testing.T) {
	h := func(b byte) pdq.Hash { return pdq.Hash{uint64(b)} }
	frames := []Frame{{Frame: 0, PDQ: h(1), Quality: 90}, {Frame: 1, PDQ: h(1), Quality: 90},
		{Frame: 2, PDQ: h(2), Quality: 10}, {Frame: 3, PDQ: h(3), Quality: 90}}
	if got, want := QueryUnits(frames, nil, 50), Distinct(frames, 50); len(got) != len(want) || got[0][0] != want[0] || got[1][0] != want[1] {
		t.Errorf("without trimmed frames: %v, want %v", got, want)
	}
	trimmed := []Frame{{Frame: 1, PDQ: h(7), Quality: 80}, {Frame: 2, PDQ: h(8), Quality: 80}, {Frame: 3, PDQ: h(9), Quality: 20}}
	got := QueryUnits(frames, trimmed, 50)
	want := [][]pdq.Hash{{h(1)}, {h(1), h(7)}, {h(8)}, {h(3)}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("units %v, want %v", got, want)
	}
}

// TestTrimDistractors measures the false matches trimming adds: every clip
// of the distractor corpus (generated from ffmpeg's sources and panned
// photos) in each bar layout is matched as a query, with and without its
// trimmed hashes, against every other source's bar-free clip. Trimming must
// add no false match; how many copies match their own source is logged
// (TestTrimBordersMatch asserts it on clean sources).
func TestTrimDistractors(t *testing.T) {
	if testing.Short() {
		t.Skip("generates and hashes about 100 clips")
	}
	ffmpeg := testtool.Path(t, "ffmpeg")
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	dir := t.TempDir()
	srcs := trimSources(t)
	// Each clip is hashed once with TrimBorders: its Frames are the plain
	// reference hashes (TestTrimBordersMatch checks that they equal a
	// hashing without it), its Trimmed the variant.
	clips := make([][]*Video, len(srcs)) // by source, then layout
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for i, src := range srcs {
		clips[i] = make([]*Video, len(barLayouts))
		for j, l := range barLayouts {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				p, err := makeClip(ctx, ffmpeg, dir, src, l.name)
				if err == nil {
					clips[i][j], err = HashFile(ctx, p, Options{Workers: 1, TrimBorders: true})
				}
				if err != nil {
					t.Error(err)
				}
			})
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	opts := DefaultMatchOptions()
	var pairs, falsePlain, falseTrim, trueTrim, trueWant, darkEdged int
	for i := range srcs {
		for j := range barLayouts {
			q := clips[i][j]
			for k := range srcs {
				target := clips[k][0].Frames
				plain := Match(q.Frames, target, opts)
				trim, _ := MatchTrimmed(q.Frames, q.Trimmed, target, opts)
				if i == k {
					if j == 0 {
						continue
					}
					// A source whose own clip has dark edges (cellular
					// automata on black, the sample clips with bars) has them
					// trimmed too, so its copies need not match: counted apart.
					if len(Distinct(clips[k][0].Frames, opts.MinQuality)) == 0 || len(clips[k][0].Trimmed) > 0 {
						if trim.Match {
							darkEdged++
						}
						continue
					}
					trueWant++
					if trim.Match {
						trueTrim++
					} else {
						t.Logf("%s %s does not match its own bar-free clip: %+v", srcs[i].name, barLayouts[j].name, trim)
					}
					continue
				}
				pairs++
				if plain.Match {
					falsePlain++
					t.Logf("false match without trimming: %s %s vs %s: %+v", srcs[i].name, barLayouts[j].name, srcs[k].name, plain)
				}
				if trim.Match && !plain.Match {
					falseTrim++
					t.Errorf("false match added by trimming: %s %s vs %s: %+v", srcs[i].name, barLayouts[j].name, srcs[k].name, trim)
				}
			}
		}
	}
	t.Logf("%d sources × %d layouts; %d unrelated pairs: %d false matches without trimming, %d added by trimming; "+
		"%d of %d copies of bar-free sources match their source with trimming (%d copies of dark-edged sources match too)",
		len(srcs), len(barLayouts), pairs, falsePlain, falseTrim, trueTrim, trueWant, darkEdged)
}
