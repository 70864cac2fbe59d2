package scan

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"hash/crc32"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nigehban/nigehban/internal/media"
)

// scanBytes runs the scanner over one file's bytes, as an archive on disk
// would be, and returns the entries by path (the file itself is "f").
func scanBytes(t testing.TB, data []byte, lim Limits) map[string]*Entry {
	t.Helper()
	s := newScanner(&Options{SkipVideo: true}, lim.withDefaults()) // ffmpeg is vpdq's to fuzz
	s.tmp = t.TempDir()
	got := map[string]*Entry{}
	var mu sync.Mutex
	s.emitFn = func(e *Entry) error {
		mu.Lock()
		defer mu.Unlock()
		if got[e.rawPath()] != nil {
			t.Errorf("%q emitted twice", e.Path)
		}
		got[e.rawPath()] = e
		if len(got) > 100000 {
			t.Fatal("runaway expansion")
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.cancel = cancel
	e := &Entry{Source: "/test", Kind: KindFile}
	e.setPath("f")
	head := data[:min(len(data), media.SniffLen)]
	c := &content{name: "f", head: head, r: bytes.NewReader(data[len(head):]), size: int64(len(data)), mem: data}
	s.hashContent(ctx, e, c, 0, nil)
	s.emit(ctx, e)
	return got
}

func zipOf(t testing.TB, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range sortedNames(files) {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(files[name])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sortedNames(m map[string][]byte) []string {
	var names []string
	for n := range m {
		names = append(names, n)
	}
	for i := range names {
		for j := i + 1; j < len(names); j++ {
			if names[j] < names[i] {
				names[i], names[j] = names[j], names[i]
			}
		}
	}
	return names
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestArchiveLimits(t *testing.T) {
	zeros := make([]byte, 8<<20)
	noise := randomBytes(600<<10, 1)
	nest := func(depth int) []byte {
		b := zipOf(t, map[string][]byte{"core.txt": []byte("at the bottom\n")})
		for range depth - 1 {
			b = zipOf(t, map[string][]byte{"next.zip": b})
		}
		return b
	}
	// A zip whose header lies: it declares 100 bytes, the data inflates to 8 MiB.
	var lying bytes.Buffer
	{
		var comp bytes.Buffer
		fw, _ := flate.NewWriter(&comp, flate.BestCompression)
		fw.Write(zeros)
		fw.Close()
		zw := zip.NewWriter(&lying)
		w, _ := zw.CreateRaw(&zip.FileHeader{Name: "liar.bin", Method: zip.Deflate, CRC32: crc32.ChecksumIEEE(zeros),
			CompressedSize64: uint64(comp.Len()), UncompressedSize64: 100})
		w.Write(comp.Bytes())
		zw.Close()
	}
	var encrypted bytes.Buffer
	{
		zw := zip.NewWriter(&encrypted)
		w, _ := zw.CreateRaw(&zip.FileHeader{Name: "secret.txt", Method: zip.Store, Flags: 0x1, CompressedSize64: 4, UncompressedSize64: 4})
		w.Write([]byte("abcd"))
		zw.Close()
	}
	var symZip bytes.Buffer
	{
		zw := zip.NewWriter(&symZip)
		h := &zip.FileHeader{Name: "link"}
		h.SetMode(fs.ModeSymlink | 0o777)
		w, _ := zw.CreateHeader(h)
		w.Write([]byte("../../target"))
		zw.Close()
	}
	var tarSpecial bytes.Buffer
	{
		tw := tar.NewWriter(&tarSpecial)
		tw.WriteHeader(&tar.Header{Name: "dev/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3, Mode: 0o666})
		tw.WriteHeader(&tar.Header{Name: "hard", Typeflag: tar.TypeLink, Linkname: "file.txt"})
		tw.WriteHeader(&tar.Header{Name: "file.txt", Typeflag: tar.TypeReg, Size: 3, Mode: 0o644})
		tw.Write([]byte("abc"))
		tw.Close()
	}
	tgz := gzipBytes(t, tarSpecial.Bytes())

	for _, tc := range []struct {
		name string
		data []byte
		lim  Limits
		// want maps paths to a substring of their error ("" for none, "-"
		// for an entry that must not exist); an entry with an error has no
		// digests unless the substring starts with "+". "f" is the archive
		// itself.
		want map[string]string
	}{
		{"ratio of a zip member", zipOf(t, map[string][]byte{"zeros": zeros, "ok.txt": []byte("ok")}), Limits{MaxRatio: 100},
			map[string]string{"f": "", "f!zeros": "ratio", "f!ok.txt": ""}},
		{"default ratio stops deflated zeros", zipOf(t, map[string][]byte{"zeros": make([]byte, 64<<20)}), Limits{},
			map[string]string{"f": "", "f!zeros": "ratio"}},
		{"ratio of a gzip stream", gzipBytes(t, zeros), Limits{MaxRatio: 100},
			map[string]string{"f": "+ratio", "f!content": "ratio"}},
		{"lying zip header", lying.Bytes(), Limits{},
			map[string]string{"f": "", "f!liar.bin": "read"}},
		{"expansion budget", zipOf(t, map[string][]byte{"a": noise, "b": noise, "c": noise}), Limits{MaxExpanded: 1 << 20},
			map[string]string{"f": "+expansion stopped", "f!a": "", "f!b": "budget", "f!c": "-"}},
		{"budget across nesting", zipOf(t, map[string][]byte{"in.zip": zipOf(t, map[string][]byte{"a": noise, "b": noise})}), Limits{MaxExpanded: 3 << 19},
			map[string]string{"f": "+expansion stopped", "f!in.zip": "+expansion stopped", "f!in.zip!a": "budget", "f!in.zip!b": "-"}},
		{"depth", nest(4), Limits{MaxDepth: 2},
			map[string]string{"f": "", "f!next.zip": "", "f!next.zip!next.zip": "+nested more than 2", "f!next.zip!next.zip!next.zip": "-"}},
		{"depth within the limit", nest(3), Limits{MaxDepth: 3},
			map[string]string{"f": "", "f!next.zip": "", "f!next.zip!next.zip": "", "f!next.zip!next.zip!core.txt": ""}},
		{"encrypted member", encrypted.Bytes(), Limits{}, map[string]string{"f": "", "f!secret.txt": "encrypted"}},
		{"zip symlink", symZip.Bytes(), Limits{}, map[string]string{"f": "", "f!link": ""}},
		{"tar special entries", tgz, Limits{}, map[string]string{"f": "", "f!dev/null": "character device", "f!hard": "", "f!file.txt": ""}},
		{"truncated tar.gz", tgz[:len(tgz)-12], Limits{}, map[string]string{"f": "", "f!dev/null": "character device", "f!hard": "", "f!file.txt": ""}},
		{"truncated tar", tarSpecial.Bytes()[:1100], Limits{}, map[string]string{"f": "+broken tar", "f!dev/null": "character device", "f!hard": "", "f!file.txt": "-"}},
		{"truncated tar member", tarSpecial.Bytes()[:1537], Limits{}, map[string]string{"f": "+broken tar", "f!dev/null": "character device", "f!hard": "", "f!file.txt": "read"}},
		{"truncated zip", zipOf(t, map[string][]byte{"a": noise})[:1000], Limits{}, map[string]string{"f": "+broken zip", "f!a": "read"}},
		// The members written before the cut are read from their local headers.
		{"truncated zip, whole members kept", truncatedZip(t, noise), Limits{}, map[string]string{"f": "+broken zip", "f!a.txt": "",
			"f!b/c.txt": "", "f!noise.bin": "read"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := scanBytes(t, tc.data, tc.lim)
			for p, errLike := range tc.want {
				e := got[p]
				keep := strings.HasPrefix(errLike, "+")
				errLike = strings.TrimPrefix(errLike, "+")
				switch {
				case errLike == "-":
					if e != nil {
						t.Errorf("%q listed: %+v", p, e)
					}
				case e == nil:
					t.Errorf("%q not listed (got %v)", p, keys(got))
				case errLike == "" && e.Error != "":
					t.Errorf("%q: unexpected error %q", p, e.Error)
				case !strings.Contains(e.Error, errLike):
					t.Errorf("%q: error %q, want %q", p, e.Error, errLike)
				case errLike != "" && !keep && e.hasDigests():
					t.Errorf("%q failed (%s) but kept digests", p, e.Error)
				case keep && !e.hasDigests():
					t.Errorf("%q lost its digests", p)
				}
			}
			for p := range got {
				if _, ok := tc.want[p]; !ok {
					t.Errorf("unexpected entry %q: %+v", p, got[p])
				}
			}
			if f := got["f"]; f == nil || f.SHA256 != sha256hex(tc.data) {
				t.Errorf("the archive itself: %+v", f)
			}
		})
	}
}

func keys(m map[string]*Entry) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestArchiveMemberDetails(t *testing.T) {
	got := scanBytes(t, func() []byte {
		var b bytes.Buffer
		zw := zip.NewWriter(&b)
		h := &zip.FileHeader{Name: "link"}
		h.SetMode(fs.ModeSymlink | 0o777)
		w, _ := zw.CreateHeader(h)
		w.Write([]byte("../../target"))
		w, _ = zw.Create("big.bin")
		w.Write(randomBytes(DefaultMemSpool+1000, 3)) // spooled to a file when nested
		zw.Close()
		return zipOf(t, map[string][]byte{"inner.zip": b.Bytes()})
	}(), Limits{})
	if e := got["f!inner.zip!link"]; e == nil || e.Kind != KindSymlink || e.LinkTarget != "../../target" {
		t.Errorf("zip symlink: %+v", e)
	}
	if e := got["f!inner.zip!big.bin"]; e == nil || e.Size != DefaultMemSpool+1000 || e.SHA256 != sha256hex(randomBytes(DefaultMemSpool+1000, 3)) {
		t.Errorf("member of a spooled archive: %+v", e)
	}
}

// FuzzArchive feeds arbitrary bytes to the archive expander with tight
// limits: it must end, never panic, and only give digests that are the
// input's.
func FuzzArchive(f *testing.F) {
	small := zipOf(f, map[string][]byte{"a.txt": []byte("hello"), "b/c.bin": {1, 2, 3}})
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Name: "x.txt", Size: 2, Mode: 0o644, Typeflag: tar.TypeReg})
	tw.Write([]byte("hi"))
	tw.Close()
	f.Add(small)
	f.Add(tb.Bytes())
	f.Add(gzipBytes(f, tb.Bytes()))
	f.Add(gzipBytes(f, []byte("plain")))
	f.Add(zipOf(f, map[string][]byte{"in.zip": small, "in.tgz": gzipBytes(f, tb.Bytes())}))
	f.Add(small[:len(small)/2])
	f.Add([]byte("PK\x03\x04garbage"))
	lim := Limits{MaxDepth: 3, MaxExpanded: 4 << 20, MaxRatio: 50, MemSpool: 1 << 16}
	f.Fuzz(func(t *testing.T, data []byte) {
		got := scanBytes(t, data, lim)
		if e := got["f"]; e == nil || e.hasDigests() && e.SHA256 != sha256hex(data) {
			t.Fatalf("the input's own entry: %+v", e)
		}
	})
}

func TestUnreadableFile(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "readable.txt"), []byte("fine"))
	writeFile(t, filepath.Join(root, "secret.jpg"), []byte("cannot be opened"))
	orig := openSourceFunc
	openSourceFunc = func(p string) (*os.File, error) {
		if strings.HasSuffix(p, "secret.jpg") {
			return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrPermission}
		}
		return orig(p)
	}
	defer func() { openSourceFunc = orig }()
	out := filepath.Join(t.TempDir(), "out")
	sum, err := Run(context.Background(), Options{Case: "U", Examiner: "E", Out: out, Sources: []string{root}})
	if err != nil {
		t.Fatal(err)
	}
	got := readEntries(t, out)
	if e := got["secret.jpg"]; e == nil || !strings.Contains(e.Error, "permission denied") || e.hasDigests() {
		t.Errorf("unreadable file: %+v", e)
	}
	if e := got["readable.txt"]; e == nil || e.SHA256 != sha256hex([]byte("fine")) {
		t.Errorf("the scan did not go on: %+v", e)
	}
	if sum.Counts.Errors != 1 {
		t.Errorf("errors counted: %d", sum.Counts.Errors)
	}
}

func TestExtensionMismatch(t *testing.T) {
	for _, tc := range []struct {
		name   string
		format media.Format
		want   bool
	}{
		{"a.jpg", media.JPEG, false},
		{"a.JPEG", media.JPEG, false},
		{"a.png", media.JPEG, true},
		{"a.dll", media.JPEG, true},
		{"a", media.JPEG, true},
		{"a.txt", media.Unknown, false},
		{"a.jpg", media.Unknown, true},
		{"a.mp4", media.Unknown, true},
		{"a.ts", media.Unknown, false}, // TypeScript, too
		{"a.mp4", media.MOV, false},
		{"a.docx", media.Zip, false},
		{"a.ods", media.Zip, false},
		{"a.dng", media.TIFF, false},
		{"a.txt", media.Zip, true},
		{"a.tar.gz", media.Gzip, false},
	} {
		if got := extensionMismatch(tc.name, tc.format); got != tc.want {
			t.Errorf("extensionMismatch(%q, %q) = %v, want %v", tc.name, tc.format, got, tc.want)
		}
	}
}

func TestOptionsRefused(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), []byte("a"))
	ctx := context.Background()
	for name, o := range map[string]Options{
		"no case":            {Examiner: "E", Out: t.TempDir(), Sources: []string{root}},
		"no examiner":        {Case: "C", Out: t.TempDir(), Sources: []string{root}},
		"no source":          {Case: "C", Examiner: "E", Out: t.TempDir()},
		"missing source":     {Case: "C", Examiner: "E", Out: t.TempDir(), Sources: []string{filepath.Join(root, "nope")}},
		"output in source":   {Case: "C", Examiner: "E", Out: filepath.Join(root, "out"), Sources: []string{root}},
		"source in output":   {Case: "C", Examiner: "E", Out: filepath.Dir(root), Sources: []string{root}},
		"temp in source":     {Case: "C", Examiner: "E", Out: t.TempDir(), Sources: []string{root}, TempDir: root},
		"source given twice": {Case: "C", Examiner: "E", Out: t.TempDir(), Sources: []string{root, root + "/"}},
		"nested sources":     {Case: "C", Examiner: "E", Out: t.TempDir(), Sources: []string{root, filepath.Join(root, "a.txt")}},
	} {
		if _, err := Run(ctx, o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "out")); err == nil {
		t.Error("an output directory was created inside the source")
	}
}

func TestDuplicateMemberNames(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, body := range []string{"one", "two", "three"} {
		w, _ := zw.Create("dir/photo.jpg")
		w.Write([]byte(body))
	}
	w, _ := zw.Create("dir/photo.jpg#2") // a literal name that collides with a suffix
	w.Write([]byte("literal"))
	zw.Close()
	got := scanBytes(t, buf.Bytes(), Limits{})
	for p, body := range map[string]string{"f!dir/photo.jpg": "one", "f!dir/photo.jpg#2": "two", "f!dir/photo.jpg#3": "three", "f!dir/photo.jpg#2#2": "literal"} {
		e := got[p]
		if e == nil || e.SHA256 != sha256hex([]byte(body)) {
			t.Errorf("%q: %+v, want the member %q", p, e, body)
			continue
		}
		// Text named .jpg is a mismatch, judged on the name as the archive
		// spells it: the #N suffix plays no part; the literal name's
		// extension is ".jpg#2", which claims nothing.
		if want := body != "literal"; e.ExtensionMismatch != want {
			t.Errorf("%q: extension mismatch %v, want %v", p, e.ExtensionMismatch, want)
		}
	}
	if len(got) != 5 {
		t.Errorf("%d entries, want 5: %v", len(got), keys(got))
	}
}

func TestSkipVideo(t *testing.T) {
	clip := readFile(t, testdata+"vpdq/videos/test-padded-dimensions.mp4")
	for _, skip := range []bool{true, false} {
		s := newScanner(&Options{SkipVideo: skip}, Limits{}.withDefaults())
		s.tmp = t.TempDir()
		var got *Entry
		s.emitFn = func(e *Entry) error { got = e; return nil }
		e := &Entry{Source: "/test", Kind: KindFile}
		e.setPath("clip.bin")
		head := clip[:media.SniffLen]
		ctx := context.Background()
		s.hashContent(ctx, e, &content{name: "clip.bin", head: head, r: bytes.NewReader(clip[len(head):]), size: int64(len(clip))}, 1, nil)
		s.emit(ctx, e)
		if got == nil || got.Type != media.Video || got.SHA256 != sha256hex(clip) || (len(got.VPDQ) > 0) == skip {
			t.Errorf("SkipVideo %v: %+v", skip, got)
		}
	}
}

// TestNestedBomb: a 42.zip-style archive — each level sixteen copies of the
// level below, each level's ratio modest, the product astronomical (16^5
// leaves of 1 MiB: 1 TiB from a few kilobytes) — is stopped by the
// cumulative ratio after a few tens of megabytes, not by the 64 GiB budget.
func TestNestedBomb(t *testing.T) {
	level := zipOf(t, map[string][]byte{"0.bin": make([]byte, 1<<20)})
	for range 5 {
		copies := map[string][]byte{}
		for i := range 16 {
			copies[string(rune('a'+i))+".zip"] = level
		}
		level = zipOf(t, copies)
	}
	t.Logf("bomb of %d bytes", len(level))
	got := scanBytes(t, level, Limits{})
	stopped := 0
	for _, e := range got {
		if strings.Contains(e.Error, "budget") || strings.Contains(e.Error, "expansion stopped") {
			stopped++
		}
	}
	if stopped == 0 {
		t.Errorf("no entry says the expansion stopped (%d entries)", len(got))
	}
	if len(got) > 2000 {
		t.Errorf("%d entries listed: the bomb was expanded far past its cumulative ratio", len(got))
	}
	if budget := (Limits{}).withDefaults().archiveBudget(int64(len(level))); budget != chainFloor {
		t.Errorf("budget of a %d-byte archive: %d, want the %d floor", len(level), budget, chainFloor)
	}
}

// truncatedZip is a zip of two small members and a large one, cut inside
// the large one's data (no central directory left).
func truncatedZip(t *testing.T, noise []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range []struct {
		name string
		data []byte
	}{{"a.txt", []byte(strings.Repeat("alpha ", 100))}, {"b/c.txt", []byte("charlie")}, {"noise.bin", noise}} {
		w, err := zw.Create(m.name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(m.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()[:buf.Len()/2]
}
