package diskimage_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/diskimage"
	"github.com/nigehban/nigehban/internal/diskimage/imagetest"
)

// unallocated lists the unallocated extents of the image at p.
func unallocated(t *testing.T, p string) (*os.File, []diskimage.Extent, []diskimage.UnallocatedArea) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	img, err := diskimage.Open(f, st.Size(), diskimage.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var ext []diskimage.Extent
	var areas []diskimage.UnallocatedArea
	err = img.Unallocated(context.Background(), f, st.Size(), func(a diskimage.UnallocatedArea, e diskimage.Extent) error {
		if n := len(ext); n > 0 && areas[n-1] == a && e.Off < ext[n-1].End() {
			t.Fatalf("extent %+v after %+v", e, ext[n-1])
		}
		ext, areas = append(ext, e), append(areas, a)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return f, ext, areas
}

// TestUnallocated checks the unallocated space of every file system
// against the Sleuth Kit's blkls (which writes the unallocated data units
// of a file system): the bytes read through ExtentReader are blkls's
// bytes, in the same order. The images hold files, a deleted one among
// them; ext4 has groups whose block bitmaps were never initialised
// (flex_bg puts their metadata elsewhere).
func TestUnallocated(t *testing.T) {
	if testing.Short() {
		t.Skip("builds disk images with mkfs tools")
	}
	dir := t.TempDir()
	photos := imagetest.Photos(21, 6)
	build := map[string]func(p string){
		"fat12": func(p string) { imagetest.FAT(t, p, 12, 1440, photos[:3], []string{photos[1].Path}) },
		"fat16": func(p string) { imagetest.FAT(t, p, 16, 8192, photos, []string{photos[1].Path}) },
		"fat32": func(p string) { imagetest.FAT(t, p, 32, 40000, photos, []string{photos[1].Path}) },
		"ext4":  func(p string) { imagetest.Ext4(t, p, 40, photos, []string{photos[1].Path}) },
		"exfat": func(p string) {
			imagetest.ExFAT(t, p, 4)
			imagetest.ExFATWrite(t, p, photos, []string{photos[1].Path})
		},
		"ntfs": func(p string) { imagetest.NTFS(t, p, 8, photos, []string{filepath.Base(photos[1].Path)}) },
	}
	for name, mk := range build {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name+".img")
			mk(p)
			f, ext, _ := unallocated(t, p)
			var ours bytes.Buffer
			if _, err := io.Copy(&ours, diskimage.NewExtentReader(f, ext)); err != nil {
				t.Fatal(err)
			}
			if name == "ext4" {
				checkExtBlocks(t, p, ext)
				return
			}
			want := imagetest.Run(t, "blkls", p)
			if ours.Len() != len(want) || sha256.Sum256(ours.Bytes()) != sha256.Sum256(want) {
				t.Errorf("%d unallocated bytes in %d extents, blkls writes %d (equal bytes: %v)", ours.Len(), len(ext), len(want),
					bytes.Equal(ours.Bytes(), want))
			}
		})
	}
}

// TestUnallocatedOutside checks the space of a partitioned disk that no
// partition covers: after the MBR up to the first partition, between
// partitions and after the last.
func TestUnallocatedOutside(t *testing.T) {
	if testing.Short() {
		t.Skip("builds disk images with mkfs tools")
	}
	dir := t.TempDir()
	fat := filepath.Join(dir, "fat.img")
	imagetest.FAT(t, fat, 12, 1440, imagetest.Photos(2, 2), nil)
	disk := filepath.Join(dir, "disk.dd")
	imagetest.Partitioned(t, disk, "dos", []string{fat, fat})
	_, ext, areas := unallocated(t, disk)
	var outside []diskimage.Extent
	for i, a := range areas {
		if a.Outside {
			outside = append(outside, ext[i])
		} else if a.Volume != "p1" && a.Volume != "p2" || a.VolumeOffset != 1<<20 && a.VolumeOffset != 3<<20 {
			t.Errorf("area %+v", a)
		}
	}
	// Partitions of 2 MiB (1440 KiB file systems: the rest is the
	// volumes' own free space) at 1 MiB and 3 MiB; the disk ends 1 MiB
	// after the last.
	want := []diskimage.Extent{{Off: 512, N: 1<<20 - 512}, {Off: 5 << 20, N: 1 << 20}}
	if len(outside) != len(want) {
		t.Fatalf("outside %+v, want %+v", outside, want)
	}
	for i := range want {
		if outside[i] != want[i] {
			t.Errorf("outside %d: %+v, want %+v", i, outside[i], want[i])
		}
	}
}

// checkExtBlocks compares the unallocated blocks of an ext4 image with
// blkls -l. The Sleuth Kit counts every block of a group whose block
// bitmap was never initialised (BLOCK_UNINIT) as free, but such a group
// still holds a backup superblock, group descriptors and reserved GDT
// blocks (the kernel's ext4_init_block_bitmap marks them used), which
// dumpe2fs lists: those must be exactly the difference.
func checkExtBlocks(t *testing.T, p string, ext []diskimage.Extent) {
	t.Helper()
	dump := string(imagetest.Run(t, "dumpe2fs", p))
	bsize, _ := strconv.ParseInt(regexp.MustCompile(`(?m)^Block size:\s+(\d+)`).FindStringSubmatch(dump)[1], 10, 64)
	theirs := map[int64]bool{}
	sc := bufio.NewScanner(bytes.NewReader(imagetest.Run(t, "blkls", "-l", p)))
	for sc.Scan() {
		if a, ok := strings.CutSuffix(sc.Text(), "|f"); ok {
			n, err := strconv.ParseInt(a, 10, 64)
			if err == nil {
				theirs[n] = true
			}
		}
	}
	meta := map[int64]bool{}
	rng := regexp.MustCompile(`(superblock|descriptors|GDT blocks) at (\d+)(-(\d+))?`)
	uninit := false
	for _, line := range strings.Split(dump, "\n") {
		if strings.HasPrefix(line, "Group ") {
			uninit = strings.Contains(line, "BLOCK_UNINIT")
			continue
		}
		for _, m := range rng.FindAllStringSubmatch(line, -1) {
			a, _ := strconv.ParseInt(m[2], 10, 64)
			b := a
			if m[4] != "" {
				b, _ = strconv.ParseInt(m[4], 10, 64)
			}
			for k := a; uninit && k <= b; k++ {
				meta[k] = true
			}
		}
	}
	if len(meta) == 0 {
		t.Fatal("no BLOCK_UNINIT group with backup metadata: the image does not test them")
	}
	ours := map[int64]bool{}
	for _, e := range ext {
		if e.Off%bsize != 0 || e.N%bsize != 0 {
			t.Fatalf("extent %+v not in whole %d-byte blocks", e, bsize)
		}
		for b := e.Off / bsize; b < e.End()/bsize; b++ {
			ours[b] = true
		}
	}
	for b := range ours {
		if !theirs[b] {
			t.Errorf("block %d listed unallocated; blkls says allocated", b)
		}
	}
	for b := range theirs {
		if !ours[b] && !meta[b] {
			t.Errorf("block %d unallocated per blkls, not listed", b)
		}
		if ours[b] && meta[b] {
			t.Errorf("block %d holds backup metadata of an uninitialised group, listed unallocated", b)
		}
	}
	t.Logf("%d blocks unallocated, %d backup metadata blocks in uninitialised groups", len(ours), len(meta))
}
