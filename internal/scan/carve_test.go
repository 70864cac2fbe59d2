package scan

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/diskimage/imagetest"
)

// TestScanCarve scans a GPT disk whose files only carving can find: a
// FAT16 volume reformatted (mkfs.vfat in place, no discard) after a JPEG
// with an embedded thumbnail, an MP4 and a PNG were written, then given
// new live photos; an ext4 volume whose JPEG and MP4 were deleted
// (debugfs rm: ext4 clears their block maps); and a PNG written after the
// last partition. Every planted file is carved, named by its image
// offset, with digests equal to the original bytes, the right image and
// volume offsets, PDQ or vPDQ, and bank matches; live photos (allocated)
// are not carved; the court report shows the carved flag and offsets;
// --no-carve finds none; the image is byte-identical afterwards and scan
// verify re-carves the same files.
func TestScanCarve(t *testing.T) {
	if testing.Short() {
		t.Skip("builds disk images with mkfs tools and ffmpeg")
	}
	ctx := context.Background()
	work, src := t.TempDir(), t.TempDir()
	photos := imagetest.Photos(31, 8)
	clip := imagetest.MP4(t, 2, false)
	fastClip := imagetest.MP4(t, 1, true)
	thumb := imagetest.JPEGWithThumbnail(t, 9)

	fat := filepath.Join(work, "fat.img")
	imagetest.FAT(t, fat, 16, 16384, []imagetest.File{{Path: "filler.bin", Data: imagetest.Noise(1, 3<<20)},
		{Path: "DCIM/thumb.jpg", Data: thumb}, {Path: "DCIM/clip.mp4", Data: clip}, photos[2]}, nil)
	imagetest.FATReformat(t, fat, 16)
	imagetest.FATCopy(t, fat, photos[:2])
	ext := filepath.Join(work, "ext.img")
	imagetest.Ext4(t, ext, 8, []imagetest.File{photos[3], photos[4], {Path: "Videos/short.mp4", Data: fastClip},
		{Path: "Pictures/old.jpg", Data: photos[6].Data}}, []string{"Videos/short.mp4", "Pictures/old.jpg"})
	disk := filepath.Join(src, "laptop.dd")
	imagetest.Partitioned(t, disk, "gpt", []string{fat, ext})
	writeAfterPartitions(t, disk, photos[5].Data)
	makeReadOnly(t, src)
	before := imagetest.SHA256File(t, disk)

	bank := filepath.Join(work, "bank.csv")
	writeFile(t, bank, []byte(fmt.Sprintf("type,value,category,source,note\nsha256,%s,1,test,lost png\n", sha256hex(photos[2].Data))))
	banks, err := LoadFileBanks(ctx, []string{bank}, DefaultFileBankOptions())
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	sum, err := Run(ctx, Options{Case: "C-17", Examiner: "E", Out: out, Sources: []string{src}, Workers: 2, Matcher: banks})
	if err != nil {
		t.Fatal(err)
	}
	if imagetest.SHA256File(t, disk) != before {
		t.Fatal("the image changed during the scan")
	}
	got := readEntries(t, out)
	raw := readFile(t, disk)
	p1, p2 := int64(1<<20), int64(1<<20+16<<20)
	planted := []struct {
		what   string
		data   []byte
		ext    string
		volume string
		volOff int64
	}{
		{"reformatted FAT: JPEG with thumbnail", thumb, "jpg", "p1", p1},
		{"reformatted FAT: MP4, moov last", clip, "mp4", "p1", p1},
		{"reformatted FAT: PNG", photos[2].Data, "png", "p1", p1},
		{"ext4 deleted: MP4, moov first", fastClip, "mp4", "p2", p2},
		{"ext4 deleted: JPEG", photos[6].Data, "jpg", "p2", p2},
		{"after the last partition: PNG", photos[5].Data, "png", "", -1},
	}
	for _, p := range planted {
		off := alignedIndex(raw, p.data)
		if off < 0 {
			t.Fatalf("%s: not in the image at a sector boundary", p.what)
		}
		name := "laptop.dd!"
		if p.volume != "" {
			name += p.volume + "!"
		}
		name += fmt.Sprintf("$carved/0x%010x.%s", off, p.ext)
		e := got[name]
		if e == nil {
			t.Errorf("%s: %s not in the manifest", p.what, name)
			continue
		}
		if !e.Carved || e.SHA256 != sha256hex(p.data) || e.Size != int64(len(p.data)) || e.ImageOffset == nil || *e.ImageOffset != off ||
			!strings.HasPrefix(e.Note, "carved") || e.Error != "" {
			t.Errorf("%s: %+v", p.what, e)
		}
		if p.volume == "" && e.VolumeOffset != nil || p.volume != "" && (e.VolumeOffset == nil || *e.VolumeOffset != off-p.volOff) {
			t.Errorf("%s: volume offset %v, volume at %d", p.what, e.VolumeOffset, p.volOff)
		}
		if p.ext == "mp4" && len(e.VPDQ) == 0 || p.ext != "mp4" && e.PDQ == nil {
			t.Errorf("%s: not hashed perceptually (pdq %v, %d vpdq frames)", p.what, e.PDQ, len(e.VPDQ))
		}
	}
	live := map[string]bool{}
	for _, p := range []imagetest.File{photos[0], photos[1], photos[3], photos[4]} {
		live[sha256hex(p.Data)] = true
		if alignedIndex(raw, p.Data) < 0 {
			t.Fatalf("live %s not in the image", p.Path)
		}
	}
	carved := 0
	for _, e := range got {
		if e.Carved {
			carved++
			if live[e.SHA256] {
				t.Errorf("%s: a live file's clusters carved", e.Path)
			}
		}
	}
	if carved != len(planted) || sum.Counts.Carved != carved {
		t.Errorf("%d carved entries (counts say %d), want %d", carved, sum.Counts.Carved, len(planted))
	}
	lost := got[fmt.Sprintf("laptop.dd!p1!$carved/0x%010x.png", alignedIndex(raw, photos[2].Data))]
	if lost == nil || len(lost.Matches) != 1 {
		t.Fatalf("carved PNG in the bank: %+v", lost)
	}
	page := string(readFile(t, filepath.Join(out, ReportName)))
	for _, s := range []string{"carved", "Carved at", fmt.Sprintf("byte %d", *lost.ImageOffset), fmt.Sprintf("byte %d (0x%x) of its volume", *lost.VolumeOffset, *lost.VolumeOffset)} {
		if !strings.Contains(page, s) {
			t.Errorf("report.html lacks %q", s)
		}
	}
	if !bytes.Contains(readFile(t, filepath.Join(out, "custody.json")), []byte(`"carve": true`)) {
		t.Error(`custody.json lacks "carve": true`)
	}
	rep, err := Verify(ctx, out, VerifyOptions{})
	if err != nil || !rep.OK {
		var buf strings.Builder
		if rep != nil {
			_ = rep.WriteText(&buf)
		}
		t.Errorf("verify: %v\n%s", err, buf.String())
	}

	out2 := filepath.Join(t.TempDir(), "out")
	sum, err = Run(ctx, Options{Case: "C-17", Examiner: "E", Out: out2, Sources: []string{src}, Workers: 2, SkipCarve: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range readEntries(t, out2) {
		if e.Carved || strings.Contains(e.Path, "$carved") {
			t.Errorf("--no-carve: %s carved", e.Path)
		}
	}
	if sum.Counts.Carved != 0 || bytes.Contains(readFile(t, filepath.Join(out2, "custody.json")), []byte(`"carve"`)) {
		t.Errorf("--no-carve: %d carved, or custody.json says carved", sum.Counts.Carved)
	}
}

// writeAfterPartitions writes data 8 KiB into the last MiB of disk, past
// its last partition (imagetest.Partitioned leaves 1 MiB at the end).
func writeAfterPartitions(t *testing.T, disk string, data []byte) {
	t.Helper()
	st, err := os.Stat(disk)
	if err != nil {
		t.Fatal(err)
	}
	imagetest.WriteAt(t, disk, st.Size()-1<<20+8192, data)
}

// alignedIndex returns the offset of the first copy of data in img that
// starts at a 512-byte sector boundary, or -1.
func alignedIndex(img, data []byte) int64 {
	for base := 0; ; {
		i := bytes.Index(img[base:], data)
		if i < 0 {
			return -1
		}
		if (base+i)%512 == 0 {
			return int64(base + i)
		}
		base += i + 1
	}
}

// TestScanCarveDeletedListedOnce scans a GPT disk whose FAT16 and exFAT
// volumes each hold deleted photos their file systems still describe: the
// carver finds the same bytes in the free space, and each is listed once,
// as the deleted file, counted as a carved file already listed. A PNG
// after the last partition, which no file system describes, is still
// carved; with --no-deleted the deleted photos are carved instead.
func TestScanCarveDeletedListedOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds disk images with mkfs tools")
	}
	ctx := context.Background()
	work, src := t.TempDir(), t.TempDir()
	photos := imagetest.Photos(41, 6)
	fat := filepath.Join(work, "fat.img")
	imagetest.FAT(t, fat, 16, 16384, photos[:3], []string{photos[1].Path, photos[2].Path})
	exfat := filepath.Join(work, "exfat.img")
	imagetest.ExFAT(t, exfat, 16)
	imagetest.ExFATWrite(t, exfat, photos[3:5], []string{photos[4].Path})
	disk := filepath.Join(src, "card.dd")
	imagetest.Partitioned(t, disk, "gpt", []string{fat, exfat})
	writeAfterPartitions(t, disk, photos[5].Data)
	makeReadOnly(t, src)

	// A deleted FAT entry has lost its name's first character.
	deleted := map[string]imagetest.File{"card.dd!p1!/Pictures/_hoto_01.jpg": photos[1], "card.dd!p1!/Pictures/2025/_hoto_02.png": photos[2],
		"card.dd!p2!/photo_04.jpg": photos[4]}
	for p, f := range deleted {
		if path.Base(f.Path)[1:] != path.Base(p)[1:] {
			t.Fatalf("photo %s is not %s", f.Path, p)
		}
	}
	for _, tc := range []struct {
		name              string
		skipDeleted       bool
		carved, already   int
		wantDeletedListed bool
	}{
		{"deleted listed", false, 1, 3, true},
		{"--no-deleted", true, 4, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			sum, err := Run(ctx, Options{Case: "C-18", Examiner: "E", Out: out, Sources: []string{src}, Workers: 2, SkipDeleted: tc.skipDeleted})
			if err != nil {
				t.Fatal(err)
			}
			got := readEntries(t, out)
			bySHA := map[string][]*Entry{}
			carved := 0
			for _, e := range got {
				bySHA[e.SHA256] = append(bySHA[e.SHA256], e)
				if e.Carved {
					carved++
				}
			}
			for p, f := range deleted {
				e := got[p]
				if tc.wantDeletedListed && (e == nil || !e.Deleted || e.SHA256 != sha256hex(f.Data)) {
					t.Errorf("%s: %+v", p, e)
				}
				if n := len(bySHA[sha256hex(f.Data)]); n != 1 {
					t.Errorf("%s listed %d times, want once", p, n)
				}
			}
			if len(bySHA[sha256hex(photos[5].Data)]) != 1 {
				t.Error("the PNG after the last partition was not carved")
			}
			img := got["card.dd"]
			if img == nil || img.Acquisition == nil || img.Acquisition.CarvedListed != tc.already {
				t.Fatalf("image entry %+v", img)
			}
			if carved != tc.carved || sum.Counts.Carved != tc.carved || sum.Counts.CarvedListed != tc.already {
				t.Errorf("%d carved (counts %d), %d already listed; want %d and %d", carved, sum.Counts.Carved, sum.Counts.CarvedListed, tc.carved, tc.already)
			}
			page := string(readFile(t, filepath.Join(out, ReportName)))
			if want := fmt.Sprintf("%d carved files already listed", tc.already); strings.Contains(page, want) != (tc.already > 0) {
				t.Errorf("report.html and %q: %v", want, strings.Contains(page, want))
			}
		})
	}
}
