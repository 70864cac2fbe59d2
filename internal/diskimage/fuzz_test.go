package diskimage_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/diskimage"
	"github.com/nigehban/nigehban/internal/diskimage/imagetest"
)

// fuzzSeeds builds small images of every kind this package reads, to seed
// the fuzzers (tools missing: skipped, or failed under CI=true).
func fuzzSeeds(f *testing.F) [][]byte {
	dir := f.TempDir()
	files := imagetest.Photos(11, 3)
	for i := range files {
		files[i].Data = files[i].Data[:min(len(files[i].Data), 3000)]
	}
	var seeds [][]byte
	add := func(p string) {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, data)
	}
	fat := filepath.Join(dir, "fat.img")
	imagetest.FAT(f, fat, 12, 64, files, []string{files[0].Path})
	add(fat)
	ext := filepath.Join(dir, "ext.img")
	imagetest.Ext4(f, ext, 1, files, nil)
	add(ext)
	ex := filepath.Join(dir, "exfat.img")
	imagetest.ExFAT(f, ex, 1)
	imagetest.ExFATWrite(f, ex, files, []string{files[1].Path})
	add(ex)
	nt := filepath.Join(dir, "ntfs.img")
	imagetest.NTFS(f, nt, 2, files, nil)
	add(nt)
	gpt := filepath.Join(dir, "gpt.img")
	imagetest.Partitioned(f, gpt, "gpt", []string{fat})
	add(gpt)
	return seeds
}

// FuzzOpen feeds arbitrary bytes to the partition and file system
// parsers: whatever the input, Open, Walk, reading every file, listing
// the unallocated space and carving it end without a panic or hang,
// within bounded work.
func FuzzOpen(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
		// Corruptions of each seed: boot sector bytes flipped, the image cut short.
		for _, off := range []int{11, 13, 14, 17, 19, 22, 36, 44, 48, 64, 80, 88, 92, 96, 1024 + 4, 1024 + 24, 1024 + 40} {
			c := bytes.Clone(s)
			if off < len(c) {
				c[off] ^= 0xFF
				f.Add(c)
			}
		}
		f.Add(s[:len(s)/2])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		im, err := diskimage.Open(bytes.NewReader(data), int64(len(data)), diskimage.Limits{MaxFiles: 10000})
		if err != nil {
			return
		}
		for _, v := range im.Volumes {
			if v.FS == nil {
				continue
			}
			_ = v.FS.Walk(ctx, func(fl *diskimage.File) error {
				if r, err := fl.Open(); err == nil {
					_, _ = io.Copy(io.Discard, io.LimitReader(r, 1<<20))
				}
				return nil
			})
		}
		// The unallocated space: extents inside the image, in order within
		// each area, and carving over them ends.
		var ext []diskimage.Extent
		var last diskimage.UnallocatedArea
		_ = im.Unallocated(ctx, bytes.NewReader(data), int64(len(data)), func(a diskimage.UnallocatedArea, e diskimage.Extent) error {
			if e.Off < 0 || e.N <= 0 || e.End() > int64(len(data)) {
				t.Fatalf("extent %+v outside the %d-byte image", e, len(data))
			}
			if n := len(ext); n > 0 && a == last && e.Off < ext[n-1].End() {
				t.Fatalf("extent %+v after %+v", e, ext[n-1])
			}
			ext, last = append(ext, e), a
			return nil
		})
		_ = diskimage.Carve(ctx, diskimage.NewExtentReader(bytes.NewReader(data), ext), diskimage.CarveOptions{}, func(diskimage.Carved) error { return nil })
		if ctx.Err() != nil {
			t.Fatal("walking the image did not end in 20 s")
		}
	})
}

// FuzzEWF feeds arbitrary bytes to the E01 reader as a single segment.
func FuzzEWF(f *testing.F) {
	dir := f.TempDir()
	fat := filepath.Join(dir, "fat.img")
	imagetest.FAT(f, fat, 12, 64, imagetest.Photos(12, 2), nil)
	segs := imagetest.EWF(f, fat, filepath.Join(dir, "img"), "1MiB")
	seed, err := os.ReadFile(segs[0])
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	for _, off := range []int{9, 13 + 16, 13 + 24, 13 + 72, 100, 200, 400} {
		c := bytes.Clone(seed)
		if off < len(c) {
			c[off] ^= 0xFF
			f.Add(c)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := diskimage.OpenEWF([]io.ReaderAt{bytes.NewReader(data)}, []int64{int64(len(data))})
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(io.NewSectionReader(e, 0, e.Size), 16<<20))
	})
}
