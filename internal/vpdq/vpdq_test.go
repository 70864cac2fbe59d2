package vpdq

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/testtool"
)

const shared = "../../../shared/testdata/vpdq"

func clips(t testing.TB) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(shared, "videos", "*.mp4"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no sample videos under %s (shared/ must sit beside the repository): %v", shared, err)
	}
	return names
}

func clipName(path string) string { return strings.TrimSuffix(filepath.Base(path), ".mp4") }

// readReference reads frame,quality,hash,timestamp lines.
func readReference(t testing.TB, dir, name string) []Frame {
	t.Helper()
	f, err := os.Open(filepath.Join(shared, dir, name+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Frame
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.Split(strings.TrimSpace(sc.Text()), ",")
		if len(p) != 4 {
			t.Fatalf("%s: bad line %q", name, sc.Text())
		}
		n, _ := strconv.Atoi(p[0])
		q, _ := strconv.Atoi(p[1])
		ts, _ := strconv.ParseFloat(p[3], 64)
		out = append(out, Frame{Frame: n, Quality: q, PDQ: pdq.MustParseHex(p[2]), Timestamp: ts})
	}
	return out
}

var everyFrame = Options{SecondsPerHash: -1, Workers: 2}

// hashes caches HashFile results across tests: hashing every frame of every
// clip is most of this package's test time, and several tests need the same
// hashes. Workers is left out of the key: it does not change results.
var hashes struct {
	sync.Mutex
	m map[string]*Video
}

// at1fps keeps the frames the default 1 s sampling would hash.
func at1fps(v *Video) []Frame {
	mod := max(int(v.FPS), 1)
	var out []Frame
	for _, f := range v.Frames {
		if f.Frame%mod == 0 {
			out = append(out, f)
		}
	}
	return out
}

func cachedHash(t testing.TB, path string, opts Options) *Video {
	t.Helper()
	v, err := cachedHashErr(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func cachedHashErr(path string, opts Options) (*Video, error) {
	key := fmt.Sprintf("%s|%v|%d|%v|%d|%v|%v", path, opts.SecondsPerHash, opts.Downsample, opts.Prune, opts.PruneDistance, opts.CropBorders, opts.TrimBorders)
	hashes.Lock()
	v, ok := hashes.m[key]
	hashes.Unlock()
	if ok {
		return v, nil
	}
	v, err := HashFile(context.Background(), path, opts)
	if err != nil {
		return nil, fmt.Errorf("hash %s: %w", path, err)
	}
	hashes.Lock()
	if hashes.m == nil {
		hashes.m = map[string]*Video{}
	}
	hashes.m[key] = v
	hashes.Unlock()
	return v, nil
}

// TestReference hashes every frame of every sample clip (and its 128×128
// variant) and asserts what the current C++ reference wrote for it: the
// same frame numbers, timestamps, qualities and identical frame hashes
// (ffmpeg's area scaler gives the reference's RGB byte for byte). The
// older upstream samples (reference-2022/, an older libav) are held to the
// upstream regression rule only: frames where both qualities are ≥ 50
// within distance 31.
func TestReference(t *testing.T) {
	for _, path := range clips(t) {
		name := clipName(path)
		for _, variant := range []struct {
			suffix string
			down   int
		}{{"", 0}, {"-128x128", 128}} {
			if _, err := os.Stat(filepath.Join(shared, "reference", name+variant.suffix+".txt")); err != nil {
				continue // test-padded-dimensions has no 128×128 reference
			}
			t.Run(name+variant.suffix, func(t *testing.T) {
				t.Parallel()
				ref := readReference(t, "reference", name+variant.suffix)
				opts := everyFrame
				opts.Downsample = variant.down
				v := cachedHash(t, path, opts)
				if len(v.Frames) != len(ref) {
					t.Fatalf("%d frames, reference has %d", len(v.Frames), len(ref))
				}
				for i, f := range v.Frames {
					if r := ref[i]; f != r {
						t.Errorf("frame %d: got %d q%d %s at %.3f, reference %d q%d %s at %.3f",
							i, f.Frame, f.Quality, f.PDQ, f.Timestamp, r.Frame, r.Quality, r.PDQ, r.Timestamp)
					}
				}
				if old := filepath.Join(shared, "reference-2022", name+variant.suffix+".txt"); fileExists(old) {
					compared, worst := 0, 0
					for i, r := range readReference(t, "reference-2022", name+variant.suffix) {
						if i >= len(v.Frames) {
							break
						}
						f := v.Frames[i]
						if f.Quality >= 50 && r.Quality >= 50 {
							compared++
							d := pdq.Distance(f.PDQ, r.PDQ)
							worst = max(worst, d)
							if d > 31 {
								t.Errorf("frame %d: distance %d from the 2022 samples", f.Frame, d)
							}
						}
					}
					t.Logf("%d frames identical; against the 2022 samples %d compared, max distance %d", len(ref), compared, worst)
				}
			})
		}
	}
}

func fileExists(path string) bool { _, err := os.Stat(path); return err == nil }

// TestVariantsMatch compares every pair of clips at 1 frame per second by
// the reference match rule at default thresholds. The oracle is the
// upstream reference's own hashes of the same clips, sampled at the same
// frames: our decision must be the one the reference's hashes give.
// Independently of the oracle, the grey, sepia and small-logo edits of a
// scene must match its original and different scenes must never match.
// (A large logo covers too much of each frame: it does not match under
// vPDQ with the reference's hashes either.) The 1 fps hashes are taken from
// the every-frame hashes TestReference made (TestSampledEqualsEveryFrame
// shows they are what HashFile's sampled path gives): that halves this
// package's test time.
func TestVariantsMatch(t *testing.T) {
	ours := map[string]*Video{}
	for _, path := range clips(t) {
		all := cachedHash(t, path, everyFrame)
		v := *all
		v.Frames = at1fps(all)
		ours[clipName(path)] = &v
	}
	names := slices.Sorted(maps.Keys(ours))
	ref := map[string][]Frame{}
	for _, n := range names {
		mod := max(int(ours[n].FPS), 1)
		for _, f := range readReference(t, "reference", n) {
			if f.Frame%mod == 0 {
				ref[n] = append(ref[n], f)
			}
		}
	}
	scene := func(n string) string { return strings.SplitN(n, "-", 2)[0] }
	mustMatch := map[[2]string]bool{
		{"chair-22-sd-grey-bar", "chair-orig-22-sd-bar"}:          true,
		{"chair-22-sd-sepia-bar", "chair-orig-22-sd-bar"}:         true,
		{"chair-22-with-small-logo-bar", "chair-orig-22-sd-bar"}:  true,
		{"pattern-sd-grey-bar", "pattern-sd-with-small-logo-bar"}: true,
	}
	// The table: row = query, column = target, cell = query match percent
	// (the target percent of a pair is the query percent of its transpose),
	// "*" where the default rule matches, reference hashes' value after "/"
	// where it differs.
	var table strings.Builder
	fmt.Fprintf(&table, "\n%-36s", "query \\ target")
	for i := range names {
		fmt.Fprintf(&table, " %9s", fmt.Sprintf("[%d]", i))
	}
	for i, a := range names {
		fmt.Fprintf(&table, "\n[%2d] %-31s", i, a)
		for _, b := range names {
			got, want := Match(ours[a].Frames, ours[b].Frames, DefaultMatchOptions()), Match(ref[a], ref[b], DefaultMatchOptions())
			cell := fmt.Sprintf("%.0f", got.QueryPercent)
			if got.QueryPercent != want.QueryPercent {
				cell += fmt.Sprintf("/%.0f", want.QueryPercent)
			}
			if got.Match {
				cell += "*"
			}
			fmt.Fprintf(&table, " %9s", cell)
		}
	}
	t.Log(table.String())
	for _, a := range names {
		for _, b := range names {
			if a == b {
				continue
			}
			got := Match(ours[a].Frames, ours[b].Frames, DefaultMatchOptions())
			want := Match(ref[a], ref[b], DefaultMatchOptions())
			if got.Match != want.Match {
				t.Errorf("%s vs %s: match=%v, the reference's hashes give %v (%+v vs %+v)", a, b, got.Match, want.Match, got, want)
			}
			if mustMatch[[2]string{a, b}] && !got.Match {
				t.Errorf("%s vs %s: edited variant does not match its original (%+v)", a, b, got)
			}
			if scene(a) != scene(b) && (got.QueryPercent > 0 || got.Match) {
				t.Errorf("%s vs %s: different scenes share frames (%+v)", a, b, got)
			}
		}
	}
}

// TestReencodedMatch makes edits the sample set lacks — other resolution,
// other codec and quality, colour and brightness changes, other frame rate
// — with ffmpeg from the first 8 s of an original clip, and checks that
// each matches the original by the default rule (edit as the query) and
// shares no frame with a different scene.
//
// A frame-rate change moves the 1 s sample points (here by 3 source frames,
// 0.1 s), and this handheld clip changes by far more than 31 bits in 0.1 s,
// so at 1 fps on both sides it matches only in part; hashing the bank side
// at every frame restores the match. That case checks the dense bank side.
func TestReencodedMatch(t *testing.T) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatalf("ffmpeg: %v (scripts/setup installs it)", err)
	}
	orig := filepath.Join(shared, "videos", "chair-orig-22-sd-bar.mp4")
	dense := cachedHash(t, orig, everyFrame)
	sparse := &Video{Frames: at1fps(dense)}
	unrelated := &Video{Frames: at1fps(cachedHash(t, filepath.Join(shared, "videos", "pattern-sd-grey-bar.mp4"), everyFrame))}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	for _, tt := range []struct {
		name  string
		args  []string
		dense bool // match against the original hashed at every frame
	}{
		{"half-size-mpeg4", []string{"-vf", "scale=240:360", "-q:v", "10"}, false},
		{"larger", []string{"-vf", "scale=720:1080", "-q:v", "4"}, false},
		{"brighter-warmer", []string{"-vf", "eq=brightness=0.08:contrast=1.15:saturation=1.4,hue=h=15", "-q:v", "4"}, false},
		{"15fps", []string{"-r", "15", "-q:v", "4"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, tt.name+".mp4")
			args := append([]string{"-nostdin", "-v", "error", "-t", "8", "-i", orig, "-an", "-c:v", "mpeg4"}, tt.args...)
			if out, err := exec.CommandContext(ctx, ffmpeg, append(args, p)...).CombinedOutput(); err != nil {
				t.Fatalf("make variant: %v: %s", err, out)
			}
			v, err := HashFile(ctx, p, Options{})
			if err != nil {
				t.Fatal(err)
			}
			target := sparse
			if tt.dense {
				target = dense
			}
			got := Match(v.Frames, target.Frames, DefaultMatchOptions())
			both1fps := Match(v.Frames, sparse.Frames, DefaultMatchOptions())
			t.Logf("%d×%d %.0f fps: query %.1f%% target %.1f%% match=%v (both at 1 fps: query %.1f%%)",
				v.Width, v.Height, v.FPS, got.QueryPercent, got.TargetPercent, got.Match, both1fps.QueryPercent)
			if !got.Match {
				t.Errorf("does not match its original: %+v", got)
			}
			if r := Match(v.Frames, unrelated.Frames, DefaultMatchOptions()); r.Match || r.QueryPercent > 0 {
				t.Errorf("shares frames with another scene: %+v", r)
			}
		})
	}
}

// TestResolutionChange hashes an MPEG-TS stream that switches from one
// clip's size to another's midway: every frame must come out at the probed
// size, in step, and the sampled frames of each part must match that
// part's source.
func TestResolutionChange(t *testing.T) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatalf("ffmpeg: %v (scripts/setup installs it)", err)
	}
	dir := t.TempDir()
	var joined []byte
	for _, name := range []string{"chair-orig-22-sd-bar", "doorknob-hd-no-bar"} {
		p := filepath.Join(dir, name+".ts")
		cmd := exec.Command(ffmpeg, "-nostdin", "-v", "error", "-t", "3", "-i", filepath.Join(shared, "videos", name+".mp4"),
			"-an", "-c:v", "mpeg2video", "-q:v", "2", p)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make part: %v: %s", err, out)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		joined = append(joined, b...)
	}
	p := filepath.Join(dir, "joined.ts")
	if err := os.WriteFile(p, joined, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	v, err := HashFile(ctx, p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if v.Width != 480 || v.Height != 720 {
		t.Errorf("probed %d×%d, want the first part's 480×720", v.Width, v.Height)
	}
	chair := Match(v.Frames[:3], cachedHash(t, filepath.Join(shared, "videos", "chair-orig-22-sd-bar.mp4"), everyFrame).Frames, DefaultMatchOptions())
	for i, f := range v.Frames {
		t.Logf("frame %d at %.3f s: quality %d", f.Frame, f.Timestamp, f.Quality)
		if f.Frame != 30*i {
			t.Errorf("frame %d numbered %d, want %d", i, f.Frame, 30*i)
		}
	}
	if len(v.Frames) != 6 || chair.QueryPercent != 100 {
		t.Fatalf("%d frames (want 6), first part matches its source %.0f%%", len(v.Frames), chair.QueryPercent)
	}
	// The second part is squeezed from 1280×720 to 480×720; PDQ works on a
	// 64×64 reduction that ignores aspect ratio, so it still matches.
	door := Match(v.Frames[3:], cachedHash(t, filepath.Join(shared, "videos", "doorknob-hd-no-bar.mp4"), everyFrame).Frames, DefaultMatchOptions())
	t.Logf("first part matches its source %.0f%%, squeezed second part %.0f%%", chair.QueryPercent, door.QueryPercent)
	if !door.Match {
		t.Errorf("second part does not match its source: %+v", door)
	}
}

func TestBorders(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	frame := func(w, h, x0, y0, x1, y1 int) []byte {
		pix := make([]byte, w*h*3)
		for y := range h {
			for x := range w {
				v := byte(rng.IntN(12)) // compression noise in the bars
				if x >= x0 && x < x1 && y >= y0 && y < y1 {
					v = byte(rng.IntN(256))
				}
				p := pix[(y*w+x)*3:]
				p[0], p[1], p[2] = v, v, v
			}
		}
		return pix
	}
	for _, tt := range []struct {
		name                 string
		w, h, x0, y0, x1, y1 int
		wx0, wy0, wx1, wy1   int
	}{
		{"pillarbox", 48, 40, 6, 0, 42, 40, 6, 0, 42, 40},
		{"letterbox and pillarbox", 48, 40, 5, 3, 40, 37, 5, 3, 40, 37},
		{"no bars", 48, 40, 0, 0, 48, 40, 0, 0, 48, 40},
		{"dark frame: kept whole", 48, 40, 0, 0, 0, 0, 0, 0, 48, 40},
		{"bars over half: kept whole", 48, 40, 20, 0, 30, 40, 0, 0, 48, 40},
	} {
		x0, y0, x1, y1 := borders(frame(tt.w, tt.h, tt.x0, tt.y0, tt.x1, tt.y1), tt.w, tt.h)
		if [4]int{x0, y0, x1, y1} != [4]int{tt.wx0, tt.wy0, tt.wx1, tt.wy1} {
			t.Errorf("%s: content [%d,%d)×[%d,%d), want [%d,%d)×[%d,%d)", tt.name, x0, x1, y0, y1, tt.wx0, tt.wx1, tt.wy0, tt.wy1)
		}
	}
	pix := frame(4, 3, 0, 0, 4, 3)
	got := cropRGB(nil, pix, 4, 1, 1, 3, 3)
	want := append(slices.Clone(pix[(1*4+1)*3:][:6]), pix[(2*4+1)*3:][:6]...)
	if !slices.Equal(got, want) {
		t.Errorf("cropRGB: %v, want %v", got, want)
	}
}

// TestCropBordersMatch: the sample set's pillarboxed clips of the pattern
// scene do not match the bar-free clip on whole frames (TestVariantsMatch's
// table, as with the reference's hashes), but do with CropBorders on both
// sides; a bar-free clip hashes the same either way, and other scenes still
// do not match.
func TestCropBordersMatch(t *testing.T) {
	crop := Options{CropBorders: true}
	clip := func(name string) string { return filepath.Join(shared, "videos", name+".mp4") }
	orig := cachedHash(t, clip("pattern-hd-no-bar"), crop)
	if whole := at1fps(cachedHash(t, clip("pattern-hd-no-bar"), everyFrame)); !slices.Equal(orig.Frames, whole) {
		t.Errorf("a clip without bars hashes differently with CropBorders")
	}
	for _, name := range []string{"pattern-sd-grey-bar", "pattern-sd-with-small-logo-bar"} {
		v := cachedHash(t, clip(name), crop)
		got := Match(v.Frames, orig.Frames, DefaultMatchOptions())
		t.Logf("%s vs pattern-hd-no-bar, bars cropped: query %.1f%% target %.1f%%", name, got.QueryPercent, got.TargetPercent)
		if !got.Match {
			t.Errorf("%s: no match with bars cropped: %+v", name, got)
		}
	}
	other := cachedHash(t, clip("chair-orig-22-sd-bar"), crop)
	if r := Match(other.Frames, orig.Frames, DefaultMatchOptions()); r.QueryPercent > 0 {
		t.Errorf("another scene shares frames with bars cropped: %+v", r)
	}
}

func TestSampledEqualsEveryFrame(t *testing.T) {
	path := filepath.Join(shared, "videos", "pattern-sd-with-small-logo-bar.mp4")
	all := cachedHash(t, path, everyFrame)
	sampled := cachedHash(t, path, Options{})
	mod := int(all.FPS)
	if len(sampled.Frames) != (len(all.Frames)+mod-1)/mod {
		t.Fatalf("%d sampled frames of %d at every %d", len(sampled.Frames), len(all.Frames), mod)
	}
	for _, f := range sampled.Frames {
		if want := all.Frames[f.Frame]; f != want {
			t.Errorf("sampled frame %+v, every-frame path gave %+v", f, want)
		}
	}
	// Pruning is off by default (upstream keeps every sampled frame, as the
	// equal counts above show) and, when asked for, is Prune applied to the
	// sampled frames.
	for _, d := range []int{0, 8} {
		opts := everyFrame
		opts.Prune, opts.PruneDistance = true, d
		pruned, err := HashFile(context.Background(), path, opts)
		if err != nil {
			t.Fatal(err)
		}
		want := Prune(all.Frames, d)
		if !slices.Equal(pruned.Frames, want) {
			t.Errorf("prune distance %d: %d frames, Prune of the every-frame hash gives %d", d, len(pruned.Frames), len(want))
		}
		t.Logf("prune distance %d keeps %d of %d frames", d, len(pruned.Frames), len(all.Frames))
		if d > 0 && len(pruned.Frames) >= len(all.Frames) {
			t.Errorf("prune distance %d kept all %d frames of a 30 fps clip", d, len(all.Frames))
		}
	}
}

func TestBrokenInput(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join(shared, "videos", "chair-19-sd-bar.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	random := make([]byte, 100000)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	inputs := map[string][]byte{"random.mp4": random, "empty.mp4": nil, "text.mp4": []byte("hello")}
	for _, frac := range []float64{0.05, 0.3, 0.6, 0.95} {
		inputs[fmt.Sprintf("cut-%.2f.mp4", frac)] = data[:int(float64(len(data))*frac)]
	}
	for name, b := range inputs {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		v, err := HashFile(ctx, p, Options{})
		hung := ctx.Err() != nil
		cancel()
		if hung {
			t.Errorf("%s: hung until the test's deadline", name)
		}
		switch {
		case err != nil:
			t.Logf("%s: %v", name, err)
		case len(v.Frames) == 0:
			t.Errorf("%s: no error and no frames", name)
		default:
			t.Logf("%s: %d frames", name, len(v.Frames))
		}
		if strings.HasPrefix(name, "cut") || err == nil {
			continue
		}
		if !errors.Is(err, ErrNotVideo) {
			t.Errorf("%s: got %v, want ErrNotVideo", name, err)
		}
	}
	if _, err := HashFile(context.Background(), filepath.Join(dir, "missing.mp4"), Options{}); err == nil {
		t.Error("missing file: no error")
	}
}

func TestLimits(t *testing.T) {
	path := filepath.Join(shared, "videos", "pattern-longer-no-bar.mp4")
	if _, err := HashFile(context.Background(), path, Options{MaxFramePixels: 100}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("pixel limit: %v", err)
	}
	if _, err := HashFile(context.Background(), path, Options{MaxDuration: 1}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("duration limit: %v", err)
	}
	if _, err := HashFile(context.Background(), path, Options{SecondsPerHash: -1, MaxFrames: 10}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("frame limit: %v", err)
	}
	if _, err := HashFile(context.Background(), path, Options{Downsample: 100000}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("downsample limit: %v", err)
	}
	// Frames to decode (duration × fps) are refused from the header, however
	// few are sampled: a small file can hold hours of tiny 100 fps frames.
	if _, err := HashFile(context.Background(), path, Options{MaxDecodedFrames: 10}); !errors.Is(err, ErrTooLarge) ||
		!strings.Contains(err.Error(), "frames to decode") {
		t.Errorf("decoded-frame limit: %v", err)
	}
	if v, err := HashFile(context.Background(), path, Options{SecondsPerHash: 1e300}); err != nil || len(v.Frames) != 1 || v.Frames[0].Frame != 0 {
		t.Errorf("huge sampling interval: want frame 0 only, got %v", err)
	}
}

// TestConcurrencyCap: with every video slot taken, a decode waits for one
// and gives up when its context ends; once a slot is free it runs.
func TestConcurrencyCap(t *testing.T) {
	path := filepath.Join(shared, "videos", "pattern-longer-no-bar.mp4")
	SetMaxConcurrent(1)
	defer SetMaxConcurrent(0)
	release, err := acquireSlot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := HashFile(ctx, path, Options{}); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "slot") {
		t.Errorf("with the only slot taken: %v, want a deadline while waiting for a slot", err)
	}
	release()
	if _, err := HashFile(context.Background(), path, Options{}); err != nil {
		t.Errorf("with the slot free: %v", err)
	}
}

// TestHugeFrames feeds stream headers that claim enormous frames: they must
// be refused from the header, before a frame buffer is allocated.
func TestHugeFrames(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		side int
		want error
	}{
		{16000, ErrTooLarge},  // ffprobe accepts it; our default pixel limit refuses it
		{100000, ErrNotVideo}, // ffprobe itself refuses it
	} {
		p := filepath.Join(dir, fmt.Sprintf("%d.y4m", tt.side))
		header := fmt.Sprintf("YUV4MPEG2 W%d H%d F30:1 Ip A1:1 C420jpeg\nFRAME\n", tt.side, tt.side)
		if err := os.WriteFile(p, append([]byte(header), make([]byte, 4096)...), 0o644); err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := HashFile(context.Background(), p, Options{})
		runtime.ReadMemStats(&after)
		if !errors.Is(err, tt.want) {
			t.Errorf("%d×%d: got %v, want %v", tt.side, tt.side, err, tt.want)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
			t.Errorf("%d×%d: allocated %d MiB before refusing", tt.side, tt.side, grew>>20)
		}
	}
}

// children lists this process's child processes, live or zombie, from
// the parent PID in /proc/*/stat (Linux); ok is false where /proc cannot
// be read.
func children(t *testing.T) (pids []string, ok bool) {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil || len(stats) == 0 {
		return nil, false
	}
	self := strconv.Itoa(os.Getpid())
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the process exited meanwhile
		}
		// "pid (comm) state ppid …": comm may hold spaces, so split after
		// the last ')'.
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) >= 2 && fields[1] == self {
			pids = append(pids, s[:strings.IndexByte(s, ' ')]+"("+fields[0]+")")
		}
	}
	return pids, true
}

// TestCancel cancels a decode in mid-stream, by the caller's context and by
// Options.Timeout: HashFile must return promptly with the context's error
// and leave neither a child process (running or zombie) nor a goroutine.
func TestCancel(t *testing.T) {
	path := filepath.Join(shared, "videos", "pattern-longer-no-bar.mp4")
	goroutines := runtime.NumGoroutine()
	for _, tt := range []struct {
		name    string
		cancel  bool
		timeout time.Duration
		want    error
	}{
		{"context", true, 0, context.Canceled},
		{"timeout", false, 300 * time.Millisecond, context.DeadlineExceeded},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		if tt.cancel {
			time.AfterFunc(300*time.Millisecond, cancel)
		}
		opts := everyFrame // several seconds of work: cancelled in mid-stream
		opts.Timeout = tt.timeout
		start := time.Now()
		_, err := HashFile(ctx, path, opts)
		elapsed := time.Since(start)
		cancel()
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.want)
		}
		if elapsed > 5*time.Second {
			t.Errorf("%s: returned %v after the start", tt.name, elapsed)
		}
		if pids, ok := children(t); ok && len(pids) > 0 {
			t.Errorf("%s: child processes left behind: %v", tt.name, pids)
		}
	}
	// exec's and our goroutines end before HashFile returns; allow the
	// runtime a moment to retire timer goroutines.
	deadline := testtool.WaitUntil(t)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		t.Errorf("%d goroutines before, %d after", goroutines, n)
	}
}

func TestMissingFFmpeg(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := HashFile(context.Background(), filepath.Join(shared, "videos", "doorknob-hd-no-bar.mp4"), Options{})
	if !errors.Is(err, ErrNoFFmpeg) || !strings.Contains(err.Error(), "scripts/setup") {
		t.Errorf("got %v, want ErrNoFFmpeg naming scripts/setup", err)
	}
}

func TestPrune(t *testing.T) {
	h := func(bits ...int) pdq.Hash {
		var x pdq.Hash
		for _, b := range bits {
			x.SetBit(b)
		}
		return x
	}
	frames := []Frame{{Frame: 0, PDQ: h()}, {Frame: 1, PDQ: h()}, {Frame: 2, PDQ: h(1, 2)}, {Frame: 3, PDQ: h(1, 2, 3)}, {Frame: 4, PDQ: h(9)}}
	got := func(fs []Frame) (n []int) {
		for _, f := range fs {
			n = append(n, f.Frame)
		}
		return n
	}
	if g := got(Prune(frames, 0)); !slices.Equal(g, []int{0, 2, 3, 4}) {
		t.Errorf("prune 0: %v", g)
	}
	// Within 2 of the last retained frame: 1 (0 bits) and 2 (2 bits) go;
	// 3 is 3 bits from frame 0 and stays; 4 is 4 bits from frame 3.
	if g := got(Prune(frames, 2)); !slices.Equal(g, []int{0, 3, 4}) {
		t.Errorf("prune 2: %v", g)
	}
}

func TestMatchRule(t *testing.T) {
	a, b := pdq.MustParseHex(strings.Repeat("0", 64)), pdq.MustParseHex(strings.Repeat("f", 64))
	near := a
	near.SetBit(3)
	fr := func(h pdq.Hash, q int) Frame { return Frame{PDQ: h, Quality: q} }
	flip := func(h pdq.Hash, n int) pdq.Hash {
		for k := range n {
			h[k/64] ^= 1 << (k % 64)
		}
		return h
	}
	tests := []struct {
		name       string
		q, t       []Frame
		qPct, tPct float64
		match      bool
	}{
		{"identical", []Frame{fr(a, 100)}, []Frame{fr(a, 100)}, 100, 100, true},
		{"near", []Frame{fr(near, 100)}, []Frame{fr(a, 100), fr(b, 100)}, 100, 50, true},
		{"far", []Frame{fr(b, 100)}, []Frame{fr(a, 100)}, 0, 0, false},
		{"low quality ignored", []Frame{fr(a, 100), fr(b, 10)}, []Frame{fr(a, 100)}, 100, 100, true},
		{"duplicates counted once", []Frame{fr(a, 100), fr(a, 100), fr(b, 100)}, []Frame{fr(a, 100)}, 50, 100, false},
		{"empty", nil, []Frame{fr(a, 100)}, 0, 0, false},
		// python-threatexchange dedupes before the quality filter: the
		// first frame with a hash decides whether that hash counts.
		{"first of a hash decides its quality", []Frame{fr(a, 10), fr(a, 100), fr(b, 100)}, []Frame{fr(a, 100), fr(b, 100)}, 100, 50, true},
		{"all below quality", []Frame{fr(a, 49)}, []Frame{fr(a, 100)}, 0, 0, false},
		{"distance 31 matches", []Frame{fr(flip(a, 31), 100)}, []Frame{fr(a, 100)}, 100, 100, true},
		{"distance 32 does not", []Frame{fr(flip(a, 32), 100)}, []Frame{fr(a, 100)}, 0, 0, false},
	}
	for _, tt := range tests {
		r := Match(tt.q, tt.t, DefaultMatchOptions())
		if r.QueryPercent != tt.qPct || r.TargetPercent != tt.tPct || r.Match != tt.match {
			t.Errorf("%s: got %+v, want %v/%v/%v", tt.name, r, tt.qPct, tt.tPct, tt.match)
		}
	}
}

func TestSignalRoundTrip(t *testing.T) {
	frames := readReference(t, "reference", "chair-19-sd-bar")[:20]
	for i := range frames {
		frames[i].Frame = i
	}
	got, err := Decode(Encode(frames))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, frames) {
		t.Errorf("round trip changed frames:\n%v\n%v", got, frames)
	}
	// python-threatexchange writes timestamps with 3 significant digits.
	hex := strings.Repeat("c3", 32)
	if got, err := Decode(`["` + hex + `,90,1.23e+02","` + strings.ToUpper(hex) + `,7,0.0333"]`); err != nil ||
		len(got) != 2 || got[0].Timestamp != 123 || got[1].Timestamp != 0.0333 || got[0].PDQ != got[1].PDQ || got[1].Quality != 7 {
		t.Errorf("python-threatexchange form: %+v, %v", got, err)
	}
	for _, bad := range []string{"", "[]", "{}", `["zz,1,0"]`, `["` + strings.Repeat("0", 64) + `,101,0"]`, `["` + strings.Repeat("0", 64) + `,50"]`,
		`["` + strings.Repeat("0", 64) + `,50,NaN"]`, `["` + strings.Repeat("0", 64) + `,50,+Inf"]`, `["` + strings.Repeat("0", 64) + `,50,-1"]`} {
		if _, err := Decode(bad); !errors.Is(err, ErrBadSignal) {
			t.Errorf("Decode(%q): %v", bad, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode([]Frame{{PDQ: pdq.MustParseHex(strings.Repeat("ab", 32)), Quality: 90, Timestamp: 1.5}}))
	f.Add(`["x"]`)
	f.Fuzz(func(t *testing.T, s string) {
		frames, err := Decode(s)
		if err != nil {
			return
		}
		enc := Encode(frames)
		again, err := Decode(enc)
		if err != nil || len(again) != len(frames) {
			t.Fatalf("re-decode: %v", err)
		}
		for i := range frames {
			if again[i].PDQ != frames[i].PDQ || again[i].Quality != frames[i].Quality {
				t.Fatalf("frame %d changed: %+v → %+v", i, frames[i], again[i])
			}
		}
		if enc2 := Encode(again); enc2 != enc {
			t.Fatalf("encoding not stable:\n%s\n%s", enc, enc2)
		}
	})
}

func TestParseRate(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want float64
	}{
		{"30/1", 30}, {"30000/1001", 30000.0 / 1001}, {"25", 25}, {"0/0", 0}, {"", 0}, {"x/1", 0}, {"1/x", 0},
	} {
		if got := parseRate(tt.in); got != tt.want {
			t.Errorf("parseRate(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
