package imagetest

import (
	"encoding/binary"
	"os"
	"path"
	"strings"
	"testing"
	"unicode/utf16"
)

// ExFATWrite puts files into an empty exFAT image made by ExFAT, as a
// driver would (no tool writes exFAT without mounting): contiguous
// clusters marked in the allocation bitmap, file, stream-extension and
// name entries with their checksum and name hash, folders one cluster
// each. The paths in del are then deleted: their entries' in-use bits and
// bitmap bits cleared, their clusters left as they were.
func ExFATWrite(t testing.TB, img string, files []File, del []string) {
	t.Helper()
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	le := binary.LittleEndian
	boot := make([]byte, 512)
	if _, err := f.ReadAt(boot, 0); err != nil {
		t.Fatal(err)
	}
	bps := int64(1) << boot[108]
	csize := bps << boot[109]
	heap := int64(le.Uint32(boot[88:])) * bps
	nclus := le.Uint32(boot[92:])
	root := le.Uint32(boot[96:])
	coff := func(c uint32) int64 { return heap + int64(c-2)*csize }
	rootDir := make([]byte, csize)
	if _, err := f.ReadAt(rootDir, coff(root)); err != nil {
		t.Fatal(err)
	}
	var bmClus uint32
	var bmLen int64
	for i := 0; i < len(rootDir); i += 32 {
		if rootDir[i] == 0x81 {
			bmClus, bmLen = le.Uint32(rootDir[i+20:]), int64(le.Uint64(rootDir[i+24:]))
		}
	}
	if bmClus == 0 {
		t.Fatal("exFAT image without an allocation bitmap")
	}
	bitmap := make([]byte, bmLen)
	if _, err := f.ReadAt(bitmap, coff(bmClus)); err != nil {
		t.Fatal(err)
	}
	alloc := func(n int64) uint32 { // n clusters, contiguous, first fit
		need := uint32(max((n+csize-1)/csize, 1))
		for start := uint32(0); start+need <= nclus; start++ {
			ok := true
			for k := start; k < start+need; k++ {
				if bitmap[k/8]&(1<<(k%8)) != 0 {
					ok = false
					start = k
					break
				}
			}
			if ok {
				for k := start; k < start+need; k++ {
					bitmap[k/8] |= 1 << (k % 8)
				}
				return start + 2
			}
		}
		t.Fatal("exFAT image full")
		return 0
	}
	type dir struct {
		clus uint32
		buf  []byte
		used int
	}
	dirs := map[string]*dir{"": {clus: root, buf: rootDir}}
	for i := 0; i < len(rootDir); i += 32 {
		if rootDir[i] != 0 {
			dirs[""].used = i + 32
		}
	}
	type placed struct {
		d        *dir
		at, n    int
		clus     uint32
		clusters int64
	}
	where := map[string]placed{}
	var addEntry func(parent, name string, attr uint16, first uint32, size int64) placed
	getDir := func(p string) *dir {
		if d := dirs[p]; d != nil {
			return d
		}
		t.Fatalf("folder %q not made", p)
		return nil
	}
	addEntry = func(parent, name string, attr uint16, first uint32, size int64) placed {
		d := getDir(parent)
		u := utf16.Encode([]rune(name))
		nNames := (len(u) + 14) / 15
		set := make([]byte, 32*(2+nNames))
		set[0], set[1] = 0x85, byte(1+nNames)
		le.PutUint16(set[4:], attr)
		ts := uint32(45)<<25 | 6<<21 | 15<<16 | 10<<11 | 30<<5 | 7 // 2025-06-15 10:30:14
		le.PutUint32(set[8:], ts)
		le.PutUint32(set[12:], ts)
		le.PutUint32(set[16:], ts)
		s := set[32:]
		s[0], s[1], s[3] = 0xC0, 0x03, byte(len(u)) // allocation possible, no FAT chain
		var h uint16
		for _, c := range u {
			up := c
			if up >= 'a' && up <= 'z' {
				up -= 32
			}
			for _, b := range []byte{byte(up), byte(up >> 8)} {
				h = (h>>1 | h<<15) + uint16(b)
			}
		}
		le.PutUint16(s[4:], h)
		le.PutUint64(s[8:], uint64(size))
		le.PutUint32(s[20:], first)
		le.PutUint64(s[24:], uint64(size))
		for k := range nNames {
			ne := set[64+32*k:]
			ne[0] = 0xC1
			for c := 0; c < 15 && 15*k+c < len(u); c++ {
				le.PutUint16(ne[2+2*c:], u[15*k+c])
			}
		}
		var sum uint16
		for k, b := range set {
			if k == 2 || k == 3 {
				continue
			}
			sum = (sum>>1 | sum<<15) + uint16(b)
		}
		le.PutUint16(set[2:], sum)
		if d.used+len(set) > len(d.buf) {
			t.Fatalf("folder %q full", parent)
		}
		copy(d.buf[d.used:], set)
		p := placed{d: d, at: d.used, n: len(set), clus: first, clusters: max((size+csize-1)/csize, 1)}
		d.used += len(set)
		return p
	}
	for _, dp := range Dirs(files) {
		c := alloc(csize)
		parent := path.Dir(dp)
		if parent == "." {
			parent = ""
		}
		where[dp] = addEntry(parent, path.Base(dp), 0x10, c, csize)
		dirs[dp] = &dir{clus: c, buf: make([]byte, csize)}
	}
	for _, fl := range files {
		c := alloc(int64(len(fl.Data)))
		if _, err := f.WriteAt(fl.Data, coff(c)); err != nil {
			t.Fatal(err)
		}
		parent := path.Dir(fl.Path)
		if parent == "." {
			parent = ""
		}
		where[fl.Path] = addEntry(parent, path.Base(fl.Path), 0x20, c, int64(len(fl.Data)))
	}
	for _, p := range del {
		pl, ok := where[strings.TrimPrefix(p, "/")]
		if !ok {
			t.Fatalf("%s not written", p)
		}
		for k := 0; k < pl.n; k += 32 {
			pl.d.buf[pl.at+k] &^= 0x80
		}
		for k := int64(0); k < pl.clusters; k++ {
			b := uint32(pl.clus-2) + uint32(k)
			bitmap[b/8] &^= 1 << (b % 8)
		}
	}
	for _, d := range dirs {
		if _, err := f.WriteAt(d.buf, coff(d.clus)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.WriteAt(bitmap, coff(bmClus)); err != nil {
		t.Fatal(err)
	}
}
