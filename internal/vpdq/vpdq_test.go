package vpdq

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/pdq"
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
func readReference(t testing.TB, name string) []Frame {
	t.Helper()
	f, err := os.Open(filepath.Join(shared, "reference", name+".txt"))
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

var everyFrame = Options{SecondsPerHash: -1, NoPrune: true, Workers: 2}

// TestReference hashes every frame of every sample clip (and its 128×128
// variant) and applies the upstream regression rule: same frame numbers and
// timestamps, and frames where both qualities are ≥ 50 within distance 31.
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
				ref := readReference(t, name+variant.suffix)
				opts := everyFrame
				opts.Downsample = variant.down
				v, err := HashFile(context.Background(), path, opts)
				if err != nil {
					t.Fatal(err)
				}
				if len(v.Frames) != len(ref) {
					t.Fatalf("%d frames, reference has %d", len(v.Frames), len(ref))
				}
				exact, worst, compared := 0, 0, 0
				for i, f := range v.Frames {
					r := ref[i]
					if f.Frame != r.Frame || f.Timestamp != r.Timestamp {
						t.Fatalf("frame %d: got number %d at %.3f, reference %d at %.3f", i, f.Frame, f.Timestamp, r.Frame, r.Timestamp)
					}
					d := pdq.Distance(f.PDQ, r.PDQ)
					if d == 0 {
						exact++
					}
					if f.Quality >= 50 && r.Quality >= 50 {
						compared++
						worst = max(worst, d)
						if d > 31 {
							t.Errorf("frame %d: distance %d from the reference", f.Frame, d)
						}
					}
				}
				t.Logf("%d frames, %d exact, %d compared, max distance %d", len(ref), exact, compared, worst)
			})
		}
	}
}

// TestVariantsMatch hashes every clip at 1 frame per second and compares
// every pair by the reference match rule at default thresholds. The oracle
// is the upstream reference's own hashes of the same clips, sampled at the
// same frames: our decision must be the one the reference's hashes give.
// Independently of the oracle, the grey, sepia and small-logo edits of a
// scene must match its original and different scenes must never match.
// (A large logo covers too much of each frame: it does not match under
// vPDQ with the reference's hashes either.)
func TestVariantsMatch(t *testing.T) {
	ours := map[string]*Video{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for _, path := range clips(t) {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			v, err := HashFile(context.Background(), path, Options{Workers: 1, NoPrune: true})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			ours[clipName(path)] = v
			mu.Unlock()
		})
	}
	wg.Wait()
	names := slices.Sorted(maps.Keys(ours))
	ref := map[string][]Frame{}
	for _, n := range names {
		mod := max(int(ours[n].FPS), 1)
		for _, f := range readReference(t, n) {
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
	for _, a := range names {
		for _, b := range names {
			if a == b {
				continue
			}
			got := Match(ours[a].Frames, ours[b].Frames, MatchOptions{})
			want := Match(ref[a], ref[b], MatchOptions{})
			if got.Match || mustMatch[[2]string{a, b}] {
				t.Logf("%-30s vs %-30s query %5.1f%% target %5.1f%% match=%v (reference hashes: %5.1f%% %5.1f%%)",
					a, b, got.QueryPercent, got.TargetPercent, got.Match, want.QueryPercent, want.TargetPercent)
			}
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

func TestSampledEqualsEveryFrame(t *testing.T) {
	path := filepath.Join(shared, "videos", "chair-19-sd-bar.mp4")
	all, err := HashFile(context.Background(), path, everyFrame)
	if err != nil {
		t.Fatal(err)
	}
	sampled, err := HashFile(context.Background(), path, Options{SecondsPerHash: 1, NoPrune: true})
	if err != nil {
		t.Fatal(err)
	}
	mod := int(all.FPS)
	if len(sampled.Frames) != (len(all.Frames)+mod-1)/mod {
		t.Fatalf("%d sampled frames of %d at every %d", len(sampled.Frames), len(all.Frames), mod)
	}
	for _, f := range sampled.Frames {
		if want := all.Frames[f.Frame]; f != want {
			t.Errorf("sampled frame %+v, every-frame path gave %+v", f, want)
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

func TestLimitsAndCancel(t *testing.T) {
	path := filepath.Join(shared, "videos", "pattern-longer-no-bar.mp4")
	if _, err := HashFile(context.Background(), path, Options{MaxFramePixels: 100}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("pixel limit: %v", err)
	}
	if _, err := HashFile(context.Background(), path, Options{SecondsPerHash: -1, MaxFrames: 10}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("frame limit: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := HashFile(ctx, path, everyFrame); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancel: %v", err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("cancellation took %v", el)
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
	}
	for _, tt := range tests {
		r := Match(tt.q, tt.t, MatchOptions{})
		if r.QueryPercent != tt.qPct || r.TargetPercent != tt.tPct || r.Match != tt.match {
			t.Errorf("%s: got %+v, want %v/%v/%v", tt.name, r, tt.qPct, tt.tPct, tt.match)
		}
	}
}

func TestSignalRoundTrip(t *testing.T) {
	frames := readReference(t, "chair-19-sd-bar")[:20]
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
	for _, bad := range []string{"", "[]", "{}", `["zz,1,0"]`, `["` + strings.Repeat("0", 64) + `,101,0"]`, `["` + strings.Repeat("0", 64) + `,50"]`} {
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
		again, err := Decode(Encode(frames))
		if err != nil || len(again) != len(frames) {
			t.Fatalf("re-decode: %v", err)
		}
	})
}
