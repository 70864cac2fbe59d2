package fingerprint

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/nigehban/nigehban/internal/media"
	"github.com/nigehban/nigehban/internal/pdq"
)

const images = "../../../shared/testdata/pdq/images"

// sumOf runs a coreutils digest tool, the independent oracle for digests.
func sumOf(t *testing.T, tool, path string) string {
	t.Helper()
	out, err := exec.Command(tool, path).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", tool, path, err)
	}
	return strings.Fields(string(out))[0]
}

func checkDigests(t *testing.T, rec Record, path string) {
	t.Helper()
	for tool, got := range map[string]string{"md5sum": rec.MD5, "sha1sum": rec.SHA1, "sha256sum": rec.SHA256} {
		if want := sumOf(t, tool, path); got != want {
			t.Errorf("%s: %s = %s, want %s", path, tool, got, want)
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Size != st.Size() {
		t.Errorf("%s: size %d, want %d", path, rec.Size, st.Size())
	}
}

func TestFileImage(t *testing.T) {
	path := filepath.Join(images, "bridge-mods/aaa-orig.jpg")
	rec := File(context.Background(), path, Options{Dihedral: true})
	if rec.Error != "" {
		t.Fatal(rec.Error)
	}
	checkDigests(t, rec, path)
	if rec.Type != media.Image || rec.Format != media.JPEG || rec.Width != 1600 || rec.Height != 1004 {
		t.Errorf("got %s/%s %d×%d", rec.Type, rec.Format, rec.Width, rec.Height)
	}
	data, _ := os.ReadFile(path)
	dec, err := media.DecodeImageScaled(data, media.Limits{}, media.PDQMinSide)
	if err != nil {
		t.Fatal(err)
	}
	want := pdq.HashImage(dec.Image)
	if rec.PDQ == nil || *rec.PDQ != want.Hash || rec.Quality == nil || *rec.Quality != want.Quality {
		t.Errorf("pdq %v q %v, want %v q %d", rec.PDQ, rec.Quality, want.Hash, want.Quality)
	}
	if len(rec.PDQDihedral) != 8 || rec.PDQDihedral[0] != want.Hash {
		t.Errorf("dihedral %v", rec.PDQDihedral)
	}
}

func TestReaderMatchesFile(t *testing.T) {
	path := filepath.Join(images, "misc-images/c.png")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	a := File(context.Background(), path, Options{})
	b := Reader(context.Background(), path, bytes.NewReader(data), Options{})
	if a.MD5 != b.MD5 || a.SHA256 != b.SHA256 || *a.PDQ != *b.PDQ || a.Size != b.Size {
		t.Errorf("file %+v\nreader %+v", a, b)
	}
}

func TestOtherAndBroken(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	big := bytes.Repeat([]byte("not an image, just text\n"), 200000) // ~4.8 MB: streamed in chunks
	jpg, _ := os.ReadFile(filepath.Join(images, "bridge-mods/aaa-orig.jpg"))
	tests := []struct {
		name    string
		data    []byte
		kind    media.Kind
		wantErr string
	}{
		{"empty", nil, media.Other, ""},
		{"text.jpg", big, media.Other, ""},
		{"truncated.jpg", jpg[:len(jpg)/2], media.Image, "corrupt"},
		{"photo.txt", jpg, media.Image, ""},
	}
	for _, tt := range tests {
		p := write(tt.name, tt.data)
		rec := File(context.Background(), p, Options{})
		checkDigests(t, rec, p)
		if rec.Type != tt.kind {
			t.Errorf("%s: type %s, want %s", tt.name, rec.Type, tt.kind)
		}
		if tt.wantErr == "" && rec.Error != "" || tt.wantErr != "" && !strings.Contains(rec.Error, tt.wantErr) {
			t.Errorf("%s: error %q, want %q", tt.name, rec.Error, tt.wantErr)
		}
		if tt.kind == media.Other && rec.PDQ != nil {
			t.Errorf("%s: PDQ on a non-image", tt.name)
		}
	}
	// An image over the byte limit keeps its digests and says why it has no PDQ.
	p := write("big.jpg", jpg)
	rec := File(context.Background(), p, Options{Limits: media.Limits{MaxBytes: 1000}})
	checkDigests(t, rec, p)
	if rec.PDQ != nil || !strings.Contains(rec.Error, "limit") {
		t.Errorf("over limit: pdq %v error %q", rec.PDQ, rec.Error)
	}
}

func TestCollect(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"b/2.jpg", "a/1.jpg", "c.txt"} {
		p := filepath.Join(dir, n)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(n), 0o644)
	}
	os.Symlink(dir, filepath.Join(dir, "a", "loop"))                   // directory symlink: not followed
	os.Symlink(filepath.Join(dir, "c.txt"), filepath.Join(dir, "lnk")) // file symlink: hashed
	os.Symlink("/nonexistent", filepath.Join(dir, "dangling"))
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var order []string
	for _, tg := range Collect([]string{dir}) {
		rel, _ := filepath.Rel(dir, tg.Path)
		order = append(order, rel)
		got[rel] = ""
		if tg.Err != nil {
			got[rel] = "err"
		}
	}
	want := map[string]string{"a/1.jpg": "", "a/loop": "err", "b/2.jpg": "", "c.txt": "", "dangling": "err", "fifo": "err", "lnk": ""}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s: got %q (present %v), want %q", k, g, ok, v)
		}
	}
	for i := 1; i < len(order); i++ {
		if order[i-1] > order[i] {
			t.Errorf("not sorted: %v", order)
		}
	}
}

func TestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := Reader(ctx, "x", bytes.NewReader(bytes.Repeat([]byte{1}, 3<<20)), Options{})
	if rec.Error == "" {
		t.Error("cancelled context: no error")
	}
}
