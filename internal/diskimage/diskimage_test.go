package diskimage_test

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/diskimage"
	"github.com/nigehban/nigehban/internal/diskimage/imagetest"
)

// found is what the package reads of one file.
type found struct {
	sha256  string
	deleted bool
	file    *diskimage.File
}

func readAll(t *testing.T, fsys diskimage.FS) map[string]found {
	t.Helper()
	out := map[string]found{}
	err := fsys.Walk(context.Background(), func(f *diskimage.File) error {
		fd := found{deleted: f.Deleted, file: f}
		if r, err := f.Open(); err == nil {
			h := sha256.New()
			if n, err := io.Copy(h, r); err == nil && n == f.Size {
				fd.sha256 = hex.EncodeToString(h.Sum(nil))
			} else if !f.Deleted {
				t.Errorf("%s: read %d of %d bytes: %v", f.Path, n, f.Size, err)
			}
		} else if !f.Deleted {
			t.Errorf("%s: open: %v", f.Path, err)
		}
		out[strings.TrimPrefix(f.Path, "/")] = fd
		return nil
	})
	if err != nil {
		t.Fatalf("walk: %v", err)
	}
	return out
}

// checkContiguous checks File.Contiguous against the image's bytes: where
// a file says its content is one run, the image holds exactly what Open
// reads there; every readable deleted FAT or exFAT file says so.
func checkContiguous(t *testing.T, img, fs string, got map[string]found) {
	t.Helper()
	raw, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	known := strings.HasPrefix(fs, "fat") || fs == "exfat" || fs == "ntfs"
	n := 0
	for p, g := range got {
		off, ok := g.file.Contiguous()
		if !ok {
			if known && g.deleted && g.sha256 != "" {
				t.Errorf("%s: deleted %s file without its contiguous offset", p, fs)
			}
			continue
		}
		n++
		end := off + g.file.Size
		if off < 0 || end > int64(len(raw)) {
			t.Errorf("%s: contiguous at %d+%d, image of %d bytes", p, off, g.file.Size, len(raw))
			continue
		}
		if sum := sha256.Sum256(raw[off:end]); hex.EncodeToString(sum[:]) != g.sha256 {
			t.Errorf("%s: the bytes at %d are not the file's", p, off)
		}
	}
	if known && n == 0 {
		t.Errorf("%s: no file with a contiguous offset", fs)
	}
}

// checkOracle compares what the package reads with fls and icat: every
// live regular file fls lists is found with icat's digest, every deleted
// one is found and marked deleted.
func checkOracle(t *testing.T, img string, sectorOff int64, got map[string]found, wantDeleted []string) {
	t.Helper()
	live := 0
	for _, e := range imagetest.Fls(t, img, sectorOff) {
		if strings.HasPrefix(e.Path, "$") || strings.Contains(e.Path, "/$") || strings.HasSuffix(e.Path, "(Volume Label Entry)") {
			continue
		}
		g, ok := got[e.Path]
		if !ok {
			t.Errorf("fls lists %q (deleted %v), not found", e.Path, e.Deleted)
			continue
		}
		if g.deleted != e.Deleted {
			t.Errorf("%s: deleted %v, fls says %v", e.Path, g.deleted, e.Deleted)
		}
		if !e.Deleted {
			live++
			if want := imagetest.Icat(t, img, sectorOff, e.Addr); g.sha256 != want {
				t.Errorf("%s: sha256 %s, icat reads %s", e.Path, g.sha256, want)
			}
		}
	}
	if live == 0 {
		t.Fatal("fls lists no live file")
	}
	for _, d := range wantDeleted {
		var hit bool
		for p, g := range got {
			if g.deleted && filepath.Base(p) == filepath.Base(d) || g.deleted && strings.HasSuffix(filepath.Base(d), strings.TrimPrefix(filepath.Base(p), "_")) {
				hit = true
			}
		}
		if !hit {
			t.Errorf("deleted %s not found", d)
		}
	}
}

func TestFileSystemsAgainstSleuthKit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds disk images with mkfs tools")
	}
	files := imagetest.Photos(1, 12)
	del := []string{files[1].Path, files[6].Path}
	cases := []struct {
		name  string
		build func(t *testing.T, img string) []string
		fs    string
	}{
		{"fat12", func(t *testing.T, img string) []string {
			imagetest.FAT(t, img, 12, 2000, files[:8], del[:1])
			return del[:1]
		}, "fat12"},
		{"fat16", func(t *testing.T, img string) []string { imagetest.FAT(t, img, 16, 16384, files, del); return del }, "fat16"},
		{"fat32", func(t *testing.T, img string) []string { imagetest.FAT(t, img, 32, 40000, files, del); return del }, "fat32"},
		{"ext4", func(t *testing.T, img string) []string { imagetest.Ext4(t, img, 8, files, del); return nil }, "ext4"},
		{"exfat", func(t *testing.T, img string) []string {
			imagetest.ExFAT(t, img, 16)
			imagetest.ExFATWrite(t, img, files, del)
			return del
		}, "exfat"},
		{"ntfs", func(t *testing.T, img string) []string {
			imagetest.NTFS(t, img, 8, files, []string{filepath.Base(del[0])})
			return []string{filepath.Base(del[0])}
		}, "ntfs"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), c.name+".img")
			wantDel := c.build(t, img)
			before := imagetest.SHA256File(t, img)
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			st, _ := f.Stat()
			im, err := diskimage.Open(f, st.Size(), diskimage.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if len(im.Volumes) != 1 || im.Volumes[0].FS == nil {
				t.Fatalf("volumes %+v", im.Volumes)
			}
			if got := im.Volumes[0].FS.Type(); got != c.fs {
				t.Errorf("type %s, want %s", got, c.fs)
			}
			got := readAll(t, im.Volumes[0].FS)
			checkOracle(t, img, 0, got, wantDel)
			checkContiguous(t, img, c.fs, got)
			if after := imagetest.SHA256File(t, img); after != before {
				t.Error("the image changed")
			}
		})
	}
}

func TestPartitionTables(t *testing.T) {
	if testing.Short() {
		t.Skip("builds disk images with mkfs tools")
	}
	files := imagetest.Photos(2, 6)
	dir := t.TempDir()
	fat := filepath.Join(dir, "fat.img")
	imagetest.FAT(t, fat, 16, 16384, files[:3], nil)
	ext := filepath.Join(dir, "ext.img")
	imagetest.Ext4(t, ext, 4, files[3:], nil)
	for _, label := range []string{"dos", "gpt"} {
		t.Run(label, func(t *testing.T) {
			img := filepath.Join(dir, label+".dd")
			imagetest.Partitioned(t, img, label, []string{fat, ext})
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			st, _ := f.Stat()
			im, err := diskimage.Open(f, st.Size(), diskimage.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if len(im.Volumes) != 2 {
				t.Fatalf("%d volumes, want 2", len(im.Volumes))
			}
			for i, want := range []string{"fat16", "ext4"} {
				v := im.Volumes[i]
				if v.FS == nil || v.FS.Type() != want || v.Name != []string{"p1", "p2"}[i] {
					t.Fatalf("volume %d: %+v", i, v)
				}
				checkOracle(t, img, v.Offset/512, readAll(t, v.FS), nil)
			}
		})
	}
}

// TestHostile feeds corrupted images: every one ends (error or listing),
// none hangs or panics.
func TestHostile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds disk images with mkfs tools")
	}
	dir := t.TempDir()
	files := imagetest.Photos(3, 5)
	fat := filepath.Join(dir, "fat.img")
	imagetest.FAT(t, fat, 12, 1440, files, nil)
	good, err := os.ReadFile(fat)
	if err != nil {
		t.Fatal(err)
	}
	loop := append([]byte{}, good...)
	// Every FAT entry points at cluster 2: every chain loops.
	fatOff := int(le16(good[14:])) * int(le16(good[11:]))
	for c := 2; c < 200; c++ {
		o := fatOff + c + c/2
		v := uint16(loop[o]) | uint16(loop[o+1])<<8
		if c&1 == 1 {
			v = v&0x000F | 2<<4
		} else {
			v = v&0xF000 | 2
		}
		loop[o], loop[o+1] = byte(v), byte(v>>8)
	}
	huge := append([]byte{}, good...)
	huge[19], huge[20] = 0xFF, 0xFF // total sectors far past the image
	for name, data := range map[string][]byte{"looping-chains": loop, "huge-volume": huge} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			im, err := diskimage.Open(bytesReaderAt(data), int64(len(data)), diskimage.Limits{})
			if err != nil {
				return
			}
			for _, v := range im.Volumes {
				if v.FS == nil {
					continue
				}
				_ = v.FS.Walk(ctx, func(f *diskimage.File) error {
					if r, err := f.Open(); err == nil {
						_, _ = io.Copy(io.Discard, r)
					}
					return nil
				})
			}
		})
	}
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func le16(b []byte) uint16 { return uint16(b[0]) | uint16(b[1])<<8 }

// TestEWF acquires a raw disk image with ewfacquire into several segment
// files and reads it back: the media is the raw image byte for byte, the
// stored MD5 and SHA-1 are those of the raw image, the header carries the
// case metadata, and the file system inside opens.
func TestEWF(t *testing.T) {
	if testing.Short() {
		t.Skip("builds disk images with mkfs tools and ewfacquire")
	}
	dir := t.TempDir()
	fat := filepath.Join(dir, "fat.img")
	noise := make([]byte, 3<<20) // incompressible, so that the E01 needs several segments
	_, _ = rand.NewChaCha8([32]byte{17}).Read(noise)
	imagetest.FAT(t, fat, 16, 16384, append(imagetest.Photos(4, 6), imagetest.File{Path: "noise.bin", Data: noise}), nil)
	raw := filepath.Join(dir, "disk.dd")
	imagetest.Partitioned(t, raw, "dos", []string{fat})
	segs := imagetest.EWF(t, raw, filepath.Join(dir, "disk"), "1MiB")
	if len(segs) < 2 {
		t.Fatalf("ewfacquire wrote %d segment files; the test wants several", len(segs))
	}
	found := diskimage.EWFSegmentFiles(segs[0])
	if len(found) != len(segs) {
		t.Fatalf("found segments %v, want %v", found, segs)
	}
	var ras []io.ReaderAt
	var sizes []int64
	for _, p := range found {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		st, _ := f.Stat()
		ras, sizes = append(ras, f), append(sizes, st.Size())
	}
	e, err := diskimage.OpenEWF(ras, sizes)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	if e.Size != int64(len(want)) {
		t.Fatalf("media size %d, want %d", e.Size, len(want))
	}
	got, err := io.ReadAll(io.NewSectionReader(e, 0, e.Size))
	if err != nil || string(got) != string(want) {
		t.Fatalf("media differs from the raw image (err %v)", err)
	}
	m, s, err := e.MediaHashes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if m != e.StoredMD5 || s != e.StoredSHA1 || m != md5hex(want) {
		t.Errorf("media md5 %s sha1 %s, stored %s %s", m, s, e.StoredMD5, e.StoredSHA1)
	}
	if e.Header["case_number"] != "CASE-17" || e.Header["examiner"] != "Examiner Name" {
		t.Errorf("header %v", e.Header)
	}
	im, err := diskimage.Open(e, e.Size, diskimage.Limits{})
	if err != nil || im.Volumes[0].FS == nil {
		t.Fatalf("open media: %v", err)
	}
	checkOracle(t, raw, im.Volumes[0].Offset/512, readAll(t, im.Volumes[0].FS), nil)
}

func md5hex(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }
