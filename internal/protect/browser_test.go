package protect_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/api"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/browsertest"
	"github.com/nigehban/nigehban/internal/media"
	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/protect"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
	"github.com/nigehban/nigehban/internal/testtool"
	"github.com/nigehban/nigehban/internal/vpdq"
)

// testdata is the shared reference data beside the repository.
const testdata = "../../../shared/testdata"

// seen is one request the server received.
type seen struct {
	method, path string
	body         []byte
}

// site is the service (API and /protect) on loopback, with a recorder of
// every request it receives, and a browser.
type site struct {
	url     string
	st      store.Store
	browser context.Context

	mu   sync.Mutex
	reqs []seen
}

func newSite(t testing.TB) *site {
	t.Helper()
	bin := browsertest.Chromium(t)
	ctx := context.Background()
	st, err := store.Open(ctx, storetest.SQLitePath(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := api.New(st, api.Config{Protect: protect.Config{Difficulty: 8,
		KDF: account.KDF{Time: 1, Memory: 8 << 10, Threads: 1}}}, slog.New(slog.DiscardHandler))
	bg, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { srv.Run(bg); close(done) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	for deadline := time.Now().Add(10 * time.Second); !srv.Ready(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("server not ready")
		}
	}
	web, err := protect.NewWeb()
	if err != nil {
		t.Fatal(err)
	}
	s := &site{st: st}
	mux := http.NewServeMux()
	mux.Handle("/", srv.Handler())
	mux.Handle(protect.Prefix, web.Handler())
	mux.Handle(protect.Prefix+"/", web.Handler())
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.mu.Lock()
		s.reqs = append(s.reqs, seen{r.Method, r.URL.RequestURI(), body})
		s.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	s.url = hs.URL
	s.browser = browsertest.Start(t, bin)
	return s
}

// tab opens a new tab on path.
func (s *site) tab(t testing.TB, path string) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(s.browser)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Navigate(s.url+path), chromedp.WaitReady(chromedp.CSS("body"))); err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	return ctx
}

// item is what the page shows of one file (its row's data attributes).
type item struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	PDQ      string `json:"pdq"`
	Quality  string `json:"quality"`
	Dihedral string `json:"dihedral"`
	MD5      string `json:"md5"`
	SHA256   string `json:"sha256"`
	VPDQ     string `json:"vpdq"`
	// PlanarFrames counts the video frames hashed from their decoded
	// planes; FrameFormat is the first frame's format and colour space.
	PlanarFrames string `json:"planarFrames"`
	FrameFormat  string `json:"frameFormat"`
	Crops        string `json:"crops"` // name:pdq,… of the central crops
	MS           string `json:"ms"`
}

// hashInPage chooses files in the page and waits until every one is hashed
// (or failed); it returns the rows in the order the files were given.
func hashInPage(t testing.TB, ctx context.Context, files []string, timeout time.Duration) []item {
	t.Helper()
	abs := make([]string, len(files))
	for i, f := range files {
		a, err := filepath.Abs(f)
		if err != nil {
			t.Fatal(err)
		}
		abs[i] = a
	}
	if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.CSS("#files"), abs)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(timeout)
	for {
		items, err := chromedp.Run(ctx, chromedp.Evaluate[[]item](`Array.from(document.querySelectorAll('#list li')).map(li => Object.assign({}, li.dataset))`))
		if err != nil {
			t.Fatal(err)
		}
		pending := 0
		for _, it := range items {
			if it.State != "done" && it.State != "failed" {
				pending++
			}
		}
		if len(items) >= len(files) && pending == 0 {
			return items[len(items)-len(files):]
		}
		if time.Now().After(deadline) {
			errText, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('error').textContent`))
			t.Fatalf("after %s: %d of %d files still hashing (page error %q)", timeout, pending, len(files), errText)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type refRow struct {
	hash    pdq.Hash
	quality int
	file    string
}

func readReference(t *testing.T, name string) []refRow {
	t.Helper()
	f, err := os.Open(filepath.Join(testdata, "pdq", name))
	if err != nil {
		t.Fatalf("reference data missing (shared/ must sit beside the repository): %v", err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var rows []refRow
	for _, r := range recs[1:] {
		q, err := strconv.Atoi(r[1])
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, refRow{pdq.MustParseHex(r[0]), q, r[2]})
	}
	return rows
}

func mustHex(t *testing.T, s string) pdq.Hash {
	t.Helper()
	h, err := pdq.ParseHex(s)
	if err != nil {
		t.Fatalf("page gave hash %q: %v", s, err)
	}
	return h
}

// TestPageReferencePNG: identical pixels give identical hashes, quality
// and the 8 dihedral hashes in the page, as the reference.
func TestPageReferencePNG(t *testing.T) {
	s := newSite(t)
	ctx := s.tab(t, "/protect?lang=en")
	ref := readReference(t, "reference-png.csv")
	dih := readReference(t, "reference-png-dihedral.csv")
	var files []string
	for _, r := range ref {
		files = append(files, filepath.Join(testdata, "pdq", "png", r.file))
	}
	items := hashInPage(t, ctx, files, 5*time.Minute)
	for i, r := range ref {
		it := items[i]
		if it.State != "done" {
			t.Errorf("%s: %s", r.file, it.State)
			continue
		}
		if got := mustHex(t, it.PDQ); got != r.hash || it.Quality != strconv.Itoa(r.quality) {
			t.Errorf("%s: page %s q=%s, reference %s q=%d", r.file, got, it.Quality, r.hash, r.quality)
		}
		d := strings.Split(it.Dihedral, ",")
		for k := range 8 {
			if want := dih[8*i+k]; want.file != r.file || len(d) != 8 || mustHex(t, d[k]) != want.hash {
				t.Errorf("%s: dihedral %d: page %v, reference %s (%s)", r.file, k, d, want.hash, want.file)
				break
			}
		}
	}
}

// TestPageReferenceImages: JPEGs and PNGs as files (EXIF-rotated ones
// included) land within the reference tolerance (quality ≥ 80 ⇒ distance ≤
// 10), and equal bit for bit what the server's pure-Go decoder and PDQ give
// on the same bytes, with the same MD5 and SHA-256.
func TestPageReferenceImages(t *testing.T) {
	s := newSite(t)
	ctx := s.tab(t, "/protect")
	ref := readReference(t, "reference.csv")
	var files []string
	for _, r := range ref {
		files = append(files, filepath.Join(testdata, "pdq", "images", r.file))
	}
	items := hashInPage(t, ctx, files, 5*time.Minute)
	exif, quarter := 0, 0
	for i, r := range ref {
		it := items[i]
		if it.State != "done" {
			t.Errorf("%s: %s", r.file, it.State)
			continue
		}
		got := mustHex(t, it.PDQ)
		if dist := pdq.Distance(got, r.hash); r.quality >= 80 && dist > 10 {
			t.Errorf("%s: distance %d from the reference (quality %d), want ≤ 10", r.file, dist, r.quality)
		}
		if strings.Contains(r.file, "exif-rotn") {
			exif++
			if dist := pdq.Distance(got, r.hash); dist > 10 {
				t.Errorf("%s: distance %d from the reference: EXIF rotation applied?", r.file, dist)
			}
		}
		data, err := os.ReadFile(files[i])
		if err != nil {
			t.Fatal(err)
		}
		// The server's pure-Go path (media without cgo): JPEGs that
		// `nigehban hash` decodes at 1/4 by the reduced decoder, which gives
		// libjpeg-turbo's pixels at that scale (so the page's hash is
		// `nigehban hash`'s, bit for bit), other JPEGs by image/jpeg at full
		// size, media's decoders for the rest.
		var img image.Image
		if strings.HasSuffix(r.file, ".jpg") {
			if d, derr := media.DecodeImageScaled(data, media.Limits{}, media.PDQMinSide); derr == nil && d.Scale == 4 {
				img = d.Image
				quarter++
			} else {
				img, err = jpeg.Decode(bytes.NewReader(data))
			}
		} else {
			var d media.Decoded
			d, err = media.DecodeImage(data, media.Limits{})
			img = d.Image
		}
		if err != nil {
			t.Fatal(err)
		}
		if want := pdq.HashImage(img); got != want.Hash || it.Quality != strconv.Itoa(want.Quality) {
			t.Errorf("%s: page %s q=%s, server's pure-Go path %s q=%d", r.file, got, it.Quality, want.Hash, want.Quality)
		}
		if it.MD5 != fmt.Sprintf("%x", md5sum(data)) || it.SHA256 != fmt.Sprintf("%x", sha256sum(data)) {
			t.Errorf("%s: digests %s %s", r.file, it.MD5, it.SHA256)
		}
	}
	if exif != 4 || quarter != 4 {
		t.Errorf("%d exif-rotn images in reference.csv, %d JPEGs decoded at 1/4; want 4 and 4 (the 12 MP exif-rotn photos)", exif, quarter)
	}
}

// TestPageVideo: a sample video's vPDQ hashed in the page agrees with
// `nigehban hash` (ffmpeg) on the same file, as issue 14 asks: the same
// sampled frames at the same timestamps, at least 90 % of frames
// bit-identical and the rest within distance 10, and the two videos match
// each other under the reference rule at 100 %.
//
// The page takes each frame in its decoded planes (VideoFrame.copyTo) and
// converts them to RGB in the WebAssembly exactly as ffmpeg does
// (internal/vpdq/yuv); H.264 decoding is bit-exact, so the frames are
// identical. Through the browser's own RGB conversion (the page before,
// still its fallback for other pixel formats) only about 20 % were.
// A frame that differs is looked up among every native frame of the clip,
// to tell a wrong frame from a wrong colour in the log.
func TestPageVideo(t *testing.T) {
	s := newSite(t)
	ctx := s.tab(t, "/protect?lang=en")
	clips := []string{}
	for _, name := range []string{"chair-orig-22-sd-bar.mp4", "doorknob-hd-no-bar.mp4", "pattern-hd-no-bar.mp4", "test-padded-dimensions.mp4"} {
		clips = append(clips, filepath.Join(testdata, "vpdq", "videos", name))
	}
	// Streams that declare their colours (which Chromium's VideoColorSpace
	// also reports for the sample clips, that declare none).
	ffmpeg := testtool.Path(t, "ffmpeg")
	for _, c := range []struct{ name, pixFmt, matrix string }{{"bt709", "yuv420p", "bt709"}, {"full-range", "yuvj420p", "bt470bg"}} {
		out := filepath.Join(t.TempDir(), c.name+".mp4")
		if b, err := exec.Command(ffmpeg, "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=3",
			"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", c.pixFmt, "-colorspace", c.matrix, out).CombinedOutput(); err != nil {
			t.Fatalf("generate %s: %v\n%s", c.name, err, b)
		}
		clips = append(clips, out)
	}
	for _, path := range clips {
		name := filepath.Base(path)
		native, err := vpdq.HashFile(context.Background(), path, vpdq.Options{})
		if err != nil {
			t.Fatal(err)
		}
		items := hashInPage(t, ctx, []string{path}, 5*time.Minute)
		it := items[0]
		if it.State != "done" {
			t.Fatalf("%s: %s", name, it.State)
		}
		frames, err := vpdq.Decode(it.VPDQ)
		if err != nil {
			t.Fatalf("%s: page vPDQ %q: %v", name, it.VPDQ, err)
		}
		if len(frames) != len(native.Frames) {
			t.Fatalf("%s: page %d frames, native %d", name, len(frames), len(native.Frames))
		}
		if it.PlanarFrames != strconv.Itoa(len(frames)) {
			t.Errorf("%s: %s of %d frames hashed from their planes (first frame %q)", name, it.PlanarFrames, len(frames), it.FrameFormat)
		}
		same, worst := 0, 0
		var differ []int
		for i, f := range frames {
			n := native.Frames[i]
			if f.Timestamp != n.Timestamp {
				t.Errorf("%s frame %d: timestamp %v, native %v", name, i, f.Timestamp, n.Timestamp)
			}
			d := pdq.Distance(f.PDQ, n.PDQ)
			worst = max(worst, d)
			if d == 0 && f.Quality == n.Quality {
				same++
				continue
			}
			differ = append(differ, i)
			if d > 10 {
				t.Errorf("%s frame %d (%.3f s): distance %d from native (qualities %d, %d)", name, i, f.Timestamp, d, f.Quality, n.Quality)
			}
		}
		if len(differ) > 0 {
			explainDiffer(t, name, path, frames, differ)
		}
		m := vpdq.Match(frames, native.Frames, vpdq.DefaultMatchOptions())
		share := 100 * float64(same) / float64(len(frames))
		t.Logf("%s (first frame %s): %d frames in %s ms, %d identical (%.1f %%), worst distance %d, match %.0f %%/%.0f %%",
			name, it.FrameFormat, len(frames), it.MS, same, share, worst, m.QueryPercent, m.TargetPercent)
		if share < 90 {
			t.Errorf("%s: %.1f %% of frames identical to native, want ≥ 90 %%", name, share)
		}
		if !m.Match || m.QueryPercent < 100 || m.TargetPercent < 100 {
			t.Errorf("%s: page vs native %+v, want a 100 %% match both ways", name, m)
		}
	}
}

// explainDiffer logs, for each page frame that differs from its native
// frame, the native frames (of all, not only the sampled) it equals, if
// any: a wrong frame rather than a wrong colour.
func explainDiffer(t *testing.T, name, path string, frames []vpdq.Frame, differ []int) {
	t.Helper()
	all, err := vpdq.HashFile(context.Background(), path, vpdq.Options{SecondsPerHash: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range differ {
		f := frames[i]
		best, at := 257, -1
		for _, n := range all.Frames {
			if d := pdq.Distance(f.PDQ, n.PDQ); d < best {
				best, at = d, n.Frame
			}
		}
		t.Logf("%s sample %d (%.3f s): nearest native frame is %d at distance %d", name, i, f.Timestamp, at, best)
	}
}

// TestPageSubmission submits hashes through the page while recording every
// request: none leaves the origin, and no body holds more than the hashes.
// Then the case's status and withdrawal through /protect/status: the hashes
// leave the bank and the change log carries their removal.
func TestPageSubmission(t *testing.T) {
	s := newSite(t)
	ctx := s.tab(t, "/protect?lang=en")
	var mu sync.Mutex
	var urls []string
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			urls = append(urls, e.Request.Method+" "+e.Request.URL)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.reqs = nil
	s.mu.Unlock()
	files := []string{
		filepath.Join(testdata, "pdq", "images", "bridge-mods", "aaa-orig.jpg"),
		filepath.Join(testdata, "pdq", "png", "bridge-mods_aaa-orig.png"),
		filepath.Join(testdata, "vpdq", "videos", "doorknob-hd-no-bar.mp4"),
	}
	items := hashInPage(t, ctx, files, 5*time.Minute)
	for _, it := range items {
		if it.State != "done" {
			t.Fatalf("%s: %s", it.Name, it.State)
		}
	}
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#age"), "13-15"),
		chromedp.SetValue(chromedp.CSS("#category"), "sextortion"),
		chromedp.Click(chromedp.CSS("#submit")),
		chromedp.WaitVisible(chromedp.CSS("#receipt"))); err != nil {
		t.Fatal(err)
	}
	number, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#case-number")))
	if err != nil {
		t.Fatal(err)
	}
	pin, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#case-pin")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := protect.ParseNumber(number); err != nil || len(pin) != protect.PINDigits {
		t.Fatalf("receipt: number %q (%v), PIN %q", number, err, pin)
	}

	// Every request the browser made stayed on this origin.
	origin, _ := url.Parse(s.url)
	mu.Lock()
	for _, u := range urls {
		_, raw, _ := strings.Cut(u, " ")
		p, err := url.Parse(raw)
		if err != nil || (p.Scheme != "blob" && p.Host != origin.Host) {
			t.Errorf("request left the origin: %s", u)
		}
	}
	if len(urls) == 0 {
		t.Error("no request recorded")
	}
	mu.Unlock()

	// The only bodies are the submission, which holds the hashes and
	// nothing more.
	var sigBytes int
	var values []string
	cropOf := map[string]string{} // crop hash → its parent, the image's PDQ
	for _, it := range items {
		for _, c := range strings.Split(it.Crops, ",") {
			if name, v, ok := strings.Cut(c, ":"); ok {
				cropOf[v] = it.PDQ
				// {"type":"pdq","value":"…","quality":100,"variant":"crop97","of":"…"}
				sigBytes += len(v) + 60 + len(`,"variant":"","of":""`) + len(name) + len(it.PDQ)
			}
		}
		for _, v := range []string{it.PDQ, it.MD5, it.SHA256, it.VPDQ} {
			if v != "" {
				values = append(values, v)
			}
		}
		for _, d := range strings.Split(it.Dihedral, ",") {
			if d != "" {
				values = append(values, d)
			}
		}
	}
	for _, v := range values {
		sigBytes += len(v) + 60 // {"type":"sha256","value":"…","quality":100}, and JSON escaping of vPDQ
	}
	bound := sigBytes + 512 // age, category, proof
	posts := 0
	s.mu.Lock()
	for _, r := range s.reqs {
		if len(r.body) == 0 {
			continue
		}
		if r.method != "POST" || r.path != "/v1/protect/cases" {
			t.Errorf("%s %s sent a body of %d bytes", r.method, r.path, len(r.body))
			continue
		}
		posts++
		if len(r.body) > bound {
			t.Errorf("submission of %d bytes, more than the %d the hashes need", len(r.body), bound)
		}
		var sub map[string]json.RawMessage
		if err := json.Unmarshal(r.body, &sub); err != nil {
			t.Fatal(err)
		}
		for k := range sub {
			if k != "signals" && k != "age" && k != "category" && k != "proof" {
				t.Errorf("submission field %q", k)
			}
		}
		var sigs []map[string]any
		json.Unmarshal(sub["signals"], &sigs)
		for _, sg := range sigs {
			for k := range sg {
				if k != "type" && k != "value" && k != "quality" && k != "variant" && k != "of" {
					t.Errorf("signal field %q", k)
				}
			}
			v, _ := sg["value"].(string)
			if of, _ := sg["of"].(string); of != "" || sg["variant"] != nil {
				if parent, ok := cropOf[v]; !ok || of != parent {
					t.Errorf("submitted crop %q of %q is not a central crop the page computed of that image", v, of)
				}
			} else if !contains(values, v) {
				t.Errorf("submitted value %.80q is not a hash the page showed", v)
			}
		}
		t.Logf("submission: %d bytes for %d hashes (bound %d); smallest file %d bytes", len(r.body), len(sigs), bound, minSize(t, files))
	}
	s.mu.Unlock()
	if posts != 1 {
		t.Fatalf("%d submissions, want 1", posts)
	}

	// Status and withdrawal through the page.
	st := s.tab(t, "/protect/status?lang=en")
	if err := chromedp.Do(st,
		chromedp.SendKeys(chromedp.CSS("#number"), number),
		chromedp.SendKeys(chromedp.CSS("#pin"), pin),
		chromedp.Click(chromedp.CSS("#check")),
		chromedp.WaitVisible(chromedp.CSS(`#state[data-state="active"]`))); err != nil {
		t.Fatal(err)
	}
	since, err := s.st.LastSeq(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(st,
		chromedp.Click(chromedp.CSS("#sure")),
		chromedp.Click(chromedp.CSS("#withdraw")),
		chromedp.WaitVisible(chromedp.CSS(`#state[data-state="withdrawn"]`))); err != nil {
		t.Fatal(err)
	}
	changes, err := s.st.Changes(context.Background(), since, 1000)
	if err != nil {
		t.Fatal(err)
	}
	removed := 0
	for _, c := range changes {
		if c.Op == bank.OpSignalRemove && c.Bank == protect.VictimBank {
			removed++
		}
	}
	active := 0
	err = s.st.ScanSignals(context.Background(), bank.SignalQuery{Banks: []string{protect.VictimBank}}, func(sg *bank.Signal) error {
		if sg.RemovedAt == nil {
			active++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if removed == 0 || active != 0 {
		t.Errorf("after withdrawal: %d removals in the change log, %d hashes still active", removed, active)
	}
}

func contains(vs []string, v string) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

func minSize(t *testing.T, files []string) int64 {
	m := int64(1 << 62)
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		m = min(m, fi.Size())
	}
	return m
}

func md5sum(b []byte) [16]byte    { return md5.Sum(b) }
func sha256sum(b []byte) [32]byte { return sha256.Sum256(b) }
