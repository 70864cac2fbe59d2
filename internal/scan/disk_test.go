package scan

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/diskimage/imagetest"
)

// TestScanDiskImages scans a folder holding a partitioned raw image (FAT16
// and ext4) and a bare NTFS image, some files deleted before imaging:
// every live file the Sleuth Kit lists is in the manifest with icat's
// digest and the file system's id, deleted ones are marked, and the
// images are byte-identical afterwards.
func TestScanDiskImages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds disk images with mkfs tools")
	}
	ctx := context.Background()
	work, src := t.TempDir(), t.TempDir()
	photos := imagetest.Photos(7, 10)
	fat := filepath.Join(work, "fat.img")
	imagetest.FAT(t, fat, 16, 16384, photos[:5], []string{photos[2].Path})
	ext := filepath.Join(work, "ext.img")
	imagetest.Ext4(t, ext, 4, photos[5:], nil)
	disk := filepath.Join(src, "laptop.dd")
	imagetest.Partitioned(t, disk, "gpt", []string{fat, ext})
	ntfs := filepath.Join(src, "usb-stick.bin")
	imagetest.NTFS(t, ntfs, 8, photos[:4], []string{filepath.Base(photos[3].Path)})
	makeReadOnly(t, src)
	before := map[string]string{disk: imagetest.SHA256File(t, disk), ntfs: imagetest.SHA256File(t, ntfs)}

	out := filepath.Join(t.TempDir(), "out")
	if _, err := Run(ctx, Options{Case: "C-17", Examiner: "E", Out: out, Sources: []string{src}, Workers: 2, Tool: Tool{Version: "test"}}); err != nil {
		t.Fatal(err)
	}
	for p, sum := range before {
		if imagetest.SHA256File(t, p) != sum {
			t.Errorf("%s changed during the scan", p)
		}
	}
	got := readEntries(t, out)
	check := func(img, prefix string, sectorOff int64) {
		t.Helper()
		live := 0
		for _, f := range imagetest.Fls(t, img, sectorOff) {
			if strings.HasPrefix(f.Path, "$") || strings.HasSuffix(f.Path, "(Volume Label Entry)") {
				continue
			}
			e := got[prefix+"/"+f.Path]
			if e == nil {
				t.Errorf("%s/%s (deleted %v) not in the manifest", prefix, f.Path, f.Deleted)
				continue
			}
			if e.Deleted != f.Deleted || e.FSID == "" || e.Mtime == "" {
				t.Errorf("%s: deleted %v (fls %v), fs id %q, mtime %q", e.Path, e.Deleted, f.Deleted, e.FSID, e.Mtime)
			}
			if !f.Deleted {
				live++
				if want := imagetest.Icat(t, img, sectorOff, f.Addr); e.SHA256 != want || e.PDQ == nil {
					t.Errorf("%s: sha256 %s (pdq %v), icat reads %s; error %q", e.Path, e.SHA256, e.PDQ, want, e.Error)
				}
			}
		}
		if live == 0 {
			t.Errorf("%s: fls lists no live file", prefix)
		}
	}
	check(disk, "laptop.dd!p1!", 2048)
	check(disk, "laptop.dd!p2!", 2048+16384*2)
	check(ntfs, "usb-stick.bin!", 0)
	for _, name := range []string{"laptop.dd", "usb-stick.bin"} {
		e := got[name]
		if e == nil || e.Acquisition == nil || e.Members == nil || *e.Members == 0 || e.SHA256 != imagetest.SHA256File(t, filepath.Join(src, name)) {
			t.Fatalf("%s: %+v", name, e)
		}
	}
	if v := got["laptop.dd"].Acquisition.Volumes; len(v) != 2 || v[0].FileSystem != "fat16" || v[1].FileSystem != "ext4" {
		t.Errorf("volumes %+v", v)
	}
	var deleted int
	for _, e := range got {
		if e.Deleted {
			deleted++
		}
	}
	if deleted != 2 {
		t.Errorf("%d deleted entries, want 2 (one FAT, one NTFS)", deleted)
	}
	// The NTFS file was deleted as Windows deletes (its clusters freed):
	// carving finds its bytes in the free space, and it is listed once,
	// as the deleted file.
	var ntfsCopies []string
	for p, e := range got {
		if strings.HasPrefix(p, "usb-stick.bin!") && e.SHA256 == sha256hex(photos[3].Data) {
			ntfsCopies = append(ntfsCopies, p)
		}
	}
	if len(ntfsCopies) != 1 || got["usb-stick.bin"].Acquisition.CarvedListed != 1 {
		t.Errorf("deleted NTFS photo listed as %v, %d carved files already listed; want once and 1", ntfsCopies, got["usb-stick.bin"].Acquisition.CarvedListed)
	}
	// scan verify re-reads the images' files and finds them unchanged.
	rep, err := Verify(ctx, out, VerifyOptions{})
	if err != nil || !rep.OK || rep.Verified < 10 {
		var buf strings.Builder
		if rep != nil {
			_ = rep.WriteText(&buf)
		}
		t.Errorf("verify: %v\n%s", err, buf.String())
	}
}

// TestScanE01 scans an E01 acquisition in several segments: the stored
// MD5 and SHA-1 are verified against the media and recorded, the files
// inside are found with icat's digests, named image.E01!p1!/path.
func TestScanE01(t *testing.T) {
	if testing.Short() {
		t.Skip("builds disk images with mkfs tools and ewfacquire")
	}
	work, src := t.TempDir(), t.TempDir()
	fat := filepath.Join(work, "fat.img")
	noise := make([]byte, 3<<20)
	_, _ = rand.NewChaCha8([32]byte{9}).Read(noise)
	imagetest.FAT(t, fat, 16, 16384, append(imagetest.Photos(5, 6), imagetest.File{Path: "noise.bin", Data: noise}), nil)
	raw := filepath.Join(work, "disk.dd")
	imagetest.Partitioned(t, raw, "dos", []string{fat})
	segs := imagetest.EWF(t, raw, filepath.Join(src, "seized"), "1MiB")
	makeReadOnly(t, src)
	sums := map[string]string{}
	for _, p := range segs {
		sums[p] = imagetest.SHA256File(t, p)
	}
	out := filepath.Join(t.TempDir(), "out")
	if _, err := Run(context.Background(), Options{Case: "C", Examiner: "E", Out: out, Sources: []string{src}, Workers: 2}); err != nil {
		t.Fatal(err)
	}
	for p, sum := range sums {
		if imagetest.SHA256File(t, p) != sum {
			t.Errorf("%s changed", p)
		}
	}
	got := readEntries(t, out)
	e := got["seized.E01"]
	if e == nil || e.Acquisition == nil {
		t.Fatalf("seized.E01: %+v", e)
	}
	a := e.Acquisition
	rawData := readFile(t, raw)
	if a.Format != "ewf" || a.Verification != VerifyOK || a.StoredMD5 != md5hex(rawData) || a.StoredSHA1 != sha1hex(rawData) ||
		len(a.Segments) != len(segs) || a.Metadata["case_number"] != "CASE-17" {
		t.Errorf("acquisition %+v", a)
	}
	live := 0
	for _, f := range imagetest.Fls(t, raw, 2048) {
		if strings.HasSuffix(f.Path, "(Volume Label Entry)") || strings.HasPrefix(f.Path, "$") {
			continue
		}
		m := got["seized.E01!p1!/"+f.Path]
		if m == nil || m.SHA256 != imagetest.Icat(t, raw, 2048, f.Addr) {
			t.Errorf("%s: %+v", f.Path, m)
		}
		live++
	}
	if live < 7 {
		t.Errorf("%d files checked", live)
	}
	for _, p := range segs[1:] {
		if got[filepath.Base(p)] == nil || got[filepath.Base(p)].SHA256 != sums[p] {
			t.Errorf("segment %s not listed with its digest", p)
		}
	}
}
