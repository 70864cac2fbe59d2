package scan

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/image/draw"

	"github.com/nigehban/nigehban/internal/fingerprint"
	"github.com/nigehban/nigehban/internal/vpdq"
)

// testdata is the shared folder of benign reference images and clips.
const testdata = "../../../shared/testdata/"

func imagePath(name string) string { return testdata + "pdq/images/" + name }

// want is what the test expects of one manifest entry.
type want struct {
	kind     string
	content  string // a file holding exactly the entry's bytes (for sha256sum); "" if not hashed
	match    string // the signal type expected to match ("pdq", "md5", "vpdq"); "" for none
	mismatch bool
	errLike  string // substring of the expected error; "" for none
	known    bool
	members  int // archives: members listed
}

// evidence is a generated evidence tree with what a scan of it must find.
type evidence struct {
	root  string
	stage string // exact bytes of archive members, for the command-line digests
	bank  string // hash list: PDQ of the originals, an md5, a vPDQ
	known string // NSRL-style known-file list
	want  map[string]*want
	// unreadable is set when the tree has a file the scan cannot open.
	unreadable bool
}

// buildEvidence writes the evidence tree described in the package tests:
// originals, edited near-duplicates, unrelated photos, renamed extensions,
// nested archives, a zip bomb, a broken zip, symlinks (one looping), a fifo,
// odd names, and an unreadable file when the test does not run as root.
func buildEvidence(t *testing.T, withVideo bool) *evidence {
	t.Helper()
	base := t.TempDir()
	ev := &evidence{root: filepath.Join(base, "evidence"), stage: filepath.Join(base, "stage"), want: map[string]*want{}}
	mkdir(t, ev.root)
	mkdir(t, ev.stage)

	bridge := readFile(t, imagePath("bridge-mods/aaa-orig.jpg"))
	pen := readFile(t, imagePath("pen-and-coaster.png"))
	q2821 := readFile(t, imagePath("labelme-subset/q2821.jpg"))
	bridgeImg := decode(t, bridge)
	penImg := decode(t, pen)

	// Originals and their near-duplicates: all must match by PDQ.
	ev.file(t, "DCIM/IMG_0001.jpg", bridge, &want{match: "pdq"})
	ev.file(t, "DCIM/IMG_0002.png", pen, &want{match: "pdq"})
	ev.file(t, "DCIM/IMG_0003.jpg", q2821, &want{match: "pdq"})
	ev.file(t, "DCIM/edits/bridge-q35.jpg", encodeJPEG(t, bridgeImg, 35), &want{match: "pdq"})
	ev.file(t, "DCIM/edits/bridge-crop.jpg", encodeJPEG(t, crop(bridgeImg, 0.01), 90), &want{match: "pdq"})
	ev.file(t, "DCIM/edits/pen-90pct.png", encodePNG(t, resize(penImg, 0.9)), &want{match: "pdq"})
	ev.file(t, "DCIM/edits/q2821-small.jpg", encodeJPEG(t, resize(decode(t, q2821), 0.8), 80), &want{match: "pdq"})
	ev.file(t, "DCIM/edits/blur-a-little.jpg", readFile(t, imagePath("bridge-mods/blur-a-little.jpg")), &want{match: "pdq"})
	// Unrelated photos, a rotated original (PDQ is not rotation invariant),
	// and a low-quality image: none may match.
	for i, name := range []string{"labelme-subset/q0122.jpg", "labelme-subset/q0746.jpg", "misc-images/c.png",
		"misc-images/wee.jpg", "dih/bridge-2-rotate-90.jpg", "labelme-subset/q0003.jpg"} {
		ev.file(t, fmt.Sprintf("Downloads/photo-%d%s", i, filepath.Ext(name)), readFile(t, imagePath(name)), &want{})
	}
	// Hiding: a photo renamed to a DLL, text named as a photo.
	ev.file(t, "Windows/system32/msvcrt40.dll", encodeJPEG(t, resize(bridgeImg, 0.5), 70), &want{match: "pdq", mismatch: true})
	ev.file(t, "Documents/holiday.jpg", []byte("not a picture at all\n"), &want{mismatch: true})
	ev.file(t, "Documents/notes.txt", []byte("meeting at nine\n"), &want{match: "md5"})
	ev.file(t, "Documents/known-good.txt", []byte("a file every installation has\n"), &want{known: true})
	ev.file(t, "Documents/empty.dat", nil, &want{})
	ev.file(t, "Documents/<b>bold</b> & \"quoted\".jpg", []byte("odd name\n"), &want{mismatch: true})
	ev.file(t, "Documents/caf\xe9-latin1.txt", []byte("latin-1 name\n"), &want{})

	// Archives, nested, with a zip renamed to .jpg.
	deep := ev.zip(t, "archives/photos.zip!inner.tar.gz!deep.zip", []member{
		{name: "q1050.jpg", data: readFile(t, imagePath("labelme-subset/q1050.jpg")), want: &want{}},
	})
	innerTar := ev.tar(t, "archives/photos.zip!inner.tar.gz", []member{
		{name: "x/pen-crop.jpg", data: encodeJPEG(t, crop(penImg, 0.01), 85), want: &want{match: "pdq"}},
		{name: "x/link-to-pen", link: "pen-crop.jpg", want: &want{kind: KindSymlink}},
		{name: "deep.zip", data: deep, want: &want{members: 1}},
	})
	ev.zip(t, "archives/photos.zip", []member{
		{name: "a/bridge.jpg", data: bridge, want: &want{match: "pdq"}},
		{name: "a/readme.txt", data: []byte("first readme\n"), want: &want{}},
		{name: "a/readme.txt", data: []byte("second readme, same name\n"), want: &want{}, path: "a/readme.txt#2"},
		{name: "../../escape.txt", data: []byte("a name, never a path on disk\n"), want: &want{}},
		{name: "inner.tar.gz", data: gzipBytes(t, innerTar), want: &want{members: 3}},
	}, &want{members: 5})
	ev.tar(t, "archives/backup.tar", []member{
		{name: "b/photo.JPG", data: readFile(t, imagePath("labelme-subset/q0291.jpg")), want: &want{}},
		{name: "b/notes-copy.txt", data: []byte("meeting at nine\n"), want: &want{match: "md5"}},
	}, &want{members: 2})
	ev.zip(t, "Pictures/cat.jpg", []member{
		{name: "photo.jpg", data: encodeJPEG(t, bridgeImg, 60), want: &want{match: "pdq"}},
	}, &want{members: 1, mismatch: true})
	ev.file(t, "archives/letter.txt.gz", gzipBytes(t, []byte("dear sir\n")), &want{members: 1})
	ev.stageMember(t, "archives/letter.txt.gz!letter.txt", []byte("dear sir\n"), &want{})

	// A zip bomb (ratio far over the test's 100:1) and a broken zip.
	ev.zip(t, "archives/bomb.zip", []member{
		{name: "zeros.bin", data: make([]byte, 8<<20), want: &want{errLike: "ratio"}},
		{name: "after.txt", data: []byte("listed after the bomb\n"), want: &want{}},
	}, &want{members: 2})
	var broken bytes.Buffer
	zw := zip.NewWriter(&broken)
	w, _ := zw.Create("gone.txt")
	gone := bytes.Repeat([]byte("truncated archive "), 100)
	w.Write(gone)
	zw.Close()
	ev.file(t, "archives/broken.zip", broken.Bytes()[:broken.Len()/2], &want{errLike: "broken zip", members: 1})
	// Its central directory is cut off, but the member's data is whole:
	// read from its local header.
	ev.stageMember(t, "archives/broken.zip!gone.txt", gone, &want{})

	if withVideo {
		clip := readFile(t, testdata+"vpdq/videos/doorknob-hd-no-bar.mp4")
		ev.file(t, "Movies/clip.mp4", clip, &want{match: "vpdq"})
		ev.zip(t, "Movies/clips.zip", []member{{name: "renamed.dat", data: clip, want: &want{match: "vpdq", mismatch: true}}}, &want{members: 1})
	}

	// Links, a fifo, and an unreadable file.
	mkdir(t, filepath.Join(ev.root, "links"))
	ev.symlink(t, "loop-b", "links/loop-a", "symlink loop")
	ev.symlink(t, "loop-a", "links/loop-b", "symlink loop")
	ev.symlink(t, "nowhere", "links/dangling", "")
	ev.symlink(t, "../DCIM/IMG_0001.jpg", "links/photo", "")
	ev.symlink(t, "..", "links/up", "")
	mkdir(t, filepath.Join(ev.root, "special"))
	if err := syscall.Mkfifo(filepath.Join(ev.root, "special/pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	ev.want["special/pipe"] = &want{kind: KindSpecial, errLike: "fifo"}
	if os.Geteuid() != 0 {
		ev.file(t, "locked/secret.jpg", bridge, &want{errLike: "permission denied"})
		os.Chmod(filepath.Join(ev.root, "locked/secret.jpg"), 0)
		ev.want["locked/secret.jpg"].content = ""
		ev.unreadable = true
	} else {
		t.Log("running as root: permission bits do not stop reads, so the unreadable-file case is covered by TestUnreadableFile's injected open failure")
	}

	ev.writeBank(t, bridge, pen, q2821, withVideo)
	ev.known = filepath.Join(base, "NSRLFile.txt")
	sum := sha1hex([]byte("a file every installation has\n"))
	writeFile(t, ev.known, []byte(`"SHA-1","MD5","CRC32","FileName","FileSize","ProductCode","OpSystemCode","SpecialCode"`+"\r\n"+
		`"`+strings.ToUpper(sum)+`","00000000000000000000000000000000","00000000","known-good.txt",30,1,"362",""`+"\r\n"))
	return ev
}

// member is one file to put in an archive.
type member struct {
	name string
	data []byte
	link string
	want *want
	path string // the member's name in the manifest when it differs (duplicates)
}

// file writes a file of the tree and records what is expected of it.
func (ev *evidence) file(t *testing.T, rel string, data []byte, w *want) {
	t.Helper()
	p := filepath.Join(ev.root, rel)
	mkdir(t, filepath.Dir(p))
	writeFile(t, p, data)
	if w.kind == "" {
		w.kind = KindFile
	}
	if w.content == "" && w.errLike == "" || strings.Contains(w.errLike, "broken") {
		w.content = p
	}
	ev.want[rel] = w
}

// stageMember records an archive member, keeping its bytes in the stage.
func (ev *evidence) stageMember(t *testing.T, path string, data []byte, w *want) {
	t.Helper()
	if w.kind == "" {
		w.kind = KindFile
	}
	if w.errLike == "" && w.kind == KindFile {
		sum := sha256.Sum256([]byte(path))
		w.content = filepath.Join(ev.stage, hex.EncodeToString(sum[:8]))
		writeFile(t, w.content, data)
	}
	ev.want[path] = w
}

// zip builds a zip of members; with a top-level want it is written into
// the tree at path, else only returned (for nesting).
func (ev *evidence) zip(t *testing.T, path string, ms []member, top ...*want) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range ms {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: m.name, Method: zip.Deflate, Modified: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(m.data)
		ev.memberWant(t, path, m)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	ev.place(t, path, buf.Bytes(), top)
	return buf.Bytes()
}

func (ev *evidence) tar(t *testing.T, path string, ms []member, top ...*want) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range ms {
		h := &tar.Header{Name: m.name, Mode: 0o644, Size: int64(len(m.data)), ModTime: time.Date(2023, 1, 2, 3, 4, 5, 0, time.UTC), Typeflag: tar.TypeReg}
		if m.link != "" {
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, m.link, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(m.data)
		ev.memberWant(t, path, m)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	ev.place(t, path, buf.Bytes(), top)
	return buf.Bytes()
}

func (ev *evidence) memberWant(t *testing.T, container string, m member) {
	name := m.name
	if m.path != "" {
		name = m.path
	}
	ev.stageMember(t, container+"!"+name, m.data, m.want)
}

func (ev *evidence) place(t *testing.T, path string, data []byte, top []*want) {
	t.Helper()
	if len(top) == 0 {
		return
	}
	if strings.Contains(path, "!") {
		ev.stageMember(t, path, data, top[0])
		return
	}
	ev.file(t, path, data, top[0])
}

// writeBank writes a CSV hash list: the PDQ of the three originals (two
// categories), the md5 of notes.txt and of known-good.txt (which, being
// known, must not match), and the vPDQ of the clip.
func (ev *evidence) writeBank(t *testing.T, bridge, pen, q2821 []byte, withVideo bool) {
	t.Helper()
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	cw.Write([]string{"type", "value", "category", "source", "note", "quality"})
	for i, img := range [][]byte{bridge, pen, q2821} {
		rec := fingerprint.Reader(context.Background(), "x", bytes.NewReader(img), fingerprint.Options{})
		if rec.PDQ == nil {
			t.Fatalf("original %d: %s", i, rec.Error)
		}
		cat := "A1"
		if i == 2 {
			cat = "B2"
		}
		cw.Write([]string{"pdq", rec.PDQ.String(), cat, "test", fmt.Sprintf("original %d", i), ""})
	}
	cw.Write([]string{"md5", md5hex([]byte("meeting at nine\n")), "C3", "test", "notes", ""})
	cw.Write([]string{"md5", md5hex([]byte("a file every installation has\n")), "C3", "test", "known", ""})
	if withVideo {
		v, err := vpdq.HashFile(context.Background(), testdata+"vpdq/videos/doorknob-hd-no-bar.mp4", vpdq.Options{})
		if err != nil {
			t.Fatal(err)
		}
		cw.Write([]string{"vpdq", vpdq.Encode(v.Frames), "V1", "test", "clip", ""})
	}
	cw.Flush()
	ev.bank = filepath.Join(filepath.Dir(ev.root), "bank.csv")
	writeFile(t, ev.bank, buf.Bytes())
}

// symlink adds a symbolic link to the tree.
func (ev *evidence) symlink(t *testing.T, target, rel, errLike string) {
	t.Helper()
	if err := os.Symlink(target, filepath.Join(ev.root, rel)); err != nil {
		t.Fatal(err)
	}
	ev.want[rel] = &want{kind: KindSymlink, errLike: errLike}
}

// makeReadOnly removes write permission from the whole tree (and restores
// it when the test ends, so the temporary directory can be removed).
func makeReadOnly(t *testing.T, root string) {
	t.Helper()
	var dirs []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink != 0 || d.Type()&fs.ModeNamedPipe != 0 {
			return nil
		}
		if d.IsDir() {
			dirs = append(dirs, p)
			return nil
		}
		if info, err := d.Info(); err == nil && info.Mode().Perm() != 0 {
			os.Chmod(p, 0o444)
		}
		return nil
	})
	for _, d := range dirs {
		os.Chmod(d, 0o555)
	}
	t.Cleanup(func() {
		for _, d := range dirs {
			os.Chmod(d, 0o755)
		}
	})
}

// treeSum fingerprints a tree for a before/after comparison: every path,
// type, permission, size, mtime, link target and content hash, but not
// access times, which reading may legitimately change.
func treeSum(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			lines = append(lines, p+" error "+err.Error())
			return nil
		}
		info, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		line := fmt.Sprintf("%q %s %d %d", p, info.Mode(), info.Size(), info.ModTime().UnixNano())
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			line += fmt.Sprintf(" ctime=%d.%d", st.Ctim.Sec, st.Ctim.Nsec)
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			line += " -> " + target
		case info.Mode().IsRegular() && info.Mode().Perm()&0o444 != 0:
			if b, err := os.ReadFile(p); err == nil {
				line += " " + sha256hex(b)
			}
		}
		lines = append(lines, line)
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func decode(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func encodeJPEG(t *testing.T, img image.Image, q int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func encodePNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func resize(img image.Image, f float64) image.Image {
	b := img.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, int(float64(b.Dx())*f), int(float64(b.Dy())*f)))
	draw.BiLinear.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
	return dst
}

func crop(img image.Image, f float64) image.Image {
	b := img.Bounds()
	dx, dy := int(float64(b.Dx())*f), int(float64(b.Dy())*f)
	r := image.Rect(b.Min.X+dx, b.Min.Y+dy, b.Max.X-dx, b.Max.Y-dy)
	dst := image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	draw.Draw(dst, dst.Bounds(), img, r.Min, draw.Src)
	return dst
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}
