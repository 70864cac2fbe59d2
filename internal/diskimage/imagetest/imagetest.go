// Package imagetest builds small disk images for tests with Debian's own
// tools (mkfs.vfat and mtools, mkfs.ext4 and debugfs, mkntfs and ntfscp,
// mkfs.exfat, sfdisk, ewfacquire) and reads them back with the Sleuth Kit
// (fls, icat) as the oracle. Nothing is mounted and nothing needs root.
// With CI=true a missing tool fails the test instead of skipping it.
package imagetest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/testtool"
)

// Tool returns the path of a command (testtool.Path: PATH, then /usr/sbin
// and /sbin); a missing one skips the test, or fails it under CI=true.
func Tool(t testing.TB, name string) string {
	t.Helper()
	return testtool.Path(t, name)
}

// Run runs a tool and fails the test when it fails.
func Run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(Tool(t, name), args...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1", "TZ=UTC")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// File is a file to put in an image.
type File struct {
	Path string // slash-separated, relative ("Pictures/a.jpg")
	Data []byte
}

// Photos returns n benign generated pictures (JPEG and PNG, gradients and
// noise) in a few folders, of varied sizes, deterministic for a seed.
func Photos(seed uint64, n int) []File {
	rng := rand.New(rand.NewPCG(seed, 17))
	dirs := []string{"", "Pictures", "Pictures/2025", "DCIM/Camera"}
	var out []File
	for i := range n {
		w, h := 64+rng.IntN(400), 64+rng.IntN(300)
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		r0, g0 := rng.IntN(256), rng.IntN(256)
		for y := range h {
			for x := range w {
				img.Set(x, y, color.RGBA{uint8(r0 + x), uint8(g0 + y), uint8((x * y) >> 4), 255})
			}
		}
		var buf bytes.Buffer
		name := fmt.Sprintf("photo_%02d", i)
		if i%3 == 2 {
			_ = png.Encode(&buf, img)
			name += ".png"
		} else {
			_ = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 60 + rng.IntN(35)})
			name += ".jpg"
		}
		dir := dirs[i%len(dirs)]
		p := name
		if dir != "" {
			p = dir + "/" + name
		}
		out = append(out, File{Path: p, Data: buf.Bytes()})
	}
	return out
}

// Dirs returns the folders of files, parents first.
func Dirs(files []File) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range files {
		parts := strings.Split(f.Path, "/")
		for i := 1; i < len(parts); i++ {
			d := strings.Join(parts[:i], "/")
			if !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
		}
	}
	return out
}

// WriteTree writes files below dir.
func WriteTree(t testing.TB, dir string, files []File) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FAT makes a FAT file system image of sizeKiB with mkfs.vfat (bits 12, 16
// or 32), copies the files in with mtools and then deletes the paths in
// del with mdel.
func FAT(t testing.TB, img string, bits, sizeKiB int, files []File, del []string) {
	t.Helper()
	args := []string{"-C", "-F", strconv.Itoa(bits), "-n", "EVIDENCE"}
	if bits != 12 {
		args = append(args, "-s", "1")
	}
	Run(t, "mkfs.vfat", append(args, img, strconv.Itoa(sizeKiB))...)
	src := t.TempDir()
	WriteTree(t, src, files)
	for _, d := range Dirs(files) {
		Run(t, "mmd", "-i", img, "::/"+d)
	}
	for _, f := range files {
		Run(t, "mcopy", "-i", img, "-m", filepath.Join(src, filepath.FromSlash(f.Path)), "::/"+f.Path)
	}
	for _, d := range del {
		Run(t, "mdel", "-i", img, "::/"+d)
	}
}

// Ext4 makes an ext4 image of sizeMiB populated from files with mkfs.ext4
// -d, then deletes the paths in del with debugfs.
func Ext4(t testing.TB, img string, sizeMiB int, files []File, del []string) {
	t.Helper()
	src := t.TempDir()
	WriteTree(t, src, files)
	Run(t, "mkfs.ext4", "-q", "-F", "-E", "root_owner=0:0", "-d", src, img, strconv.Itoa(sizeMiB)+"M")
	for _, d := range del {
		Run(t, "debugfs", "-w", "-R", "rm /"+d, img)
	}
}

// NTFS makes an NTFS image of sizeMiB with mkntfs and copies files into
// its root with ntfscp (which cannot make folders: nested paths are
// flattened to their base names). Each path in del is then marked not in
// use in its MFT record, as a deletion leaves it (the folder index still
// names it, as after an unclean deletion).
func NTFS(t testing.TB, img string, sizeMiB int, files []File, del []string) []File {
	t.Helper()
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, int64(sizeMiB)<<20); err != nil {
		t.Fatal(err)
	}
	Run(t, "mkntfs", "-F", "-Q", "-q", "-L", "EVIDENCE", img)
	src := t.TempDir()
	var flat []File
	for _, f := range files {
		name := filepath.Base(f.Path)
		p := filepath.Join(src, name)
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
		Run(t, "ntfscp", "-f", img, p, "/"+name)
		flat = append(flat, File{Path: name, Data: f.Data})
	}
	for _, d := range del {
		markNTFSDeleted(t, img, d)
	}
	return flat
}

func markNTFSDeleted(t testing.TB, img, name string) {
	t.Helper()
	var rec int64 = -1
	for _, e := range Fls(t, img, 0) {
		if e.Path == name {
			rec = e.Inode
		}
	}
	if rec < 0 {
		t.Fatalf("fls does not list %s", name)
	}
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	boot := make([]byte, 512)
	if _, err := f.ReadAt(boot, 0); err != nil {
		t.Fatal(err)
	}
	cluster := int64(binary.LittleEndian.Uint16(boot[11:])) * int64(boot[13])
	mft := int64(binary.LittleEndian.Uint64(boot[48:])) * cluster
	rs := int64(int8(boot[64]))
	if rs < 0 {
		rs = 1 << -rs
	} else {
		rs *= cluster
	}
	flags := make([]byte, 2)
	off := mft + rec*rs + 22
	if _, err := f.ReadAt(flags, off); err != nil {
		t.Fatal(err)
	}
	flags[0] &^= 1
	if _, err := f.WriteAt(flags, off); err != nil {
		t.Fatal(err)
	}
	// Windows also frees the file's clusters in $Bitmap (record 6), so
	// its bytes lie in the free space carving reads.
	bitmap := ntfsClusters(t, img, 6)
	for _, c := range ntfsClusters(t, img, rec) {
		byteOff := c / 8
		if byteOff/cluster >= int64(len(bitmap)) {
			t.Fatalf("cluster %d past $Bitmap", c)
		}
		at := bitmap[byteOff/cluster]*cluster + byteOff%cluster
		b := make([]byte, 1)
		if _, err := f.ReadAt(b, at); err != nil {
			t.Fatal(err)
		}
		b[0] &^= 1 << (c % 8)
		if _, err := f.WriteAt(b, at); err != nil {
			t.Fatal(err)
		}
	}
}

// ntfsClusters returns the clusters of MFT record rec's unnamed $DATA
// stream, in file order, as istat lists them (none when resident).
func ntfsClusters(t testing.TB, img string, rec int64) []int64 {
	t.Helper()
	out := string(Run(t, "istat", img, strconv.FormatInt(rec, 10)))
	_, data, ok := strings.Cut(out, "Type: $DATA (128-")
	if !ok {
		t.Fatalf("istat %d lists no $DATA:\n%s", rec, out)
	}
	lines := strings.Split(data, "\n")
	if !strings.Contains(lines[0], "Non-Resident") {
		return nil
	}
	var cs []int64
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "Type: ") {
			break
		}
		for _, w := range strings.Fields(l) {
			c, err := strconv.ParseInt(w, 10, 64)
			if err != nil {
				t.Fatalf("istat %d: cluster %q", rec, w)
			}
			cs = append(cs, c)
		}
	}
	return cs
}

// ExFAT makes an exFAT image of sizeMiB with mkfs.exfat; it cannot be
// populated without mounting, so the caller writes files itself.
func ExFAT(t testing.TB, img string, sizeMiB int) {
	t.Helper()
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, int64(sizeMiB)<<20); err != nil {
		t.Fatal(err)
	}
	args := []string{"-L", "EVIDENCE"}
	if sizeMiB < 4 {
		args = append(args, "-b", "4K", "-c", "4K")
	}
	Run(t, "mkfs.exfat", append(args, img)...)
}

// Partitioned writes a disk image with a partition table (label "dos" or
// "gpt", made by sfdisk) holding the given file system images, each in a
// partition starting at a 1 MiB boundary.
func Partitioned(t testing.TB, img, label string, parts []string) {
	t.Helper()
	const align = 1 << 20
	var script strings.Builder
	fmt.Fprintf(&script, "label: %s\n", label)
	off := int64(align)
	var offs []int64
	for _, p := range parts {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		n := (st.Size() + align - 1) / align * align
		fmt.Fprintf(&script, "start=%d, size=%d, type=%s\n", off/512, n/512, map[string]string{"dos": "7", "gpt": "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"}[label])
		offs = append(offs, off)
		off += n
	}
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, off+align); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(Tool(t, "sfdisk"), "--no-reread", "--no-tell-kernel", "-q", img)
	cmd.Stdin = strings.NewReader(script.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i, p := range parts {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(data, offs[i]); err != nil {
			t.Fatal(err)
		}
	}
}

// FlsEntry is one regular file fls lists.
type FlsEntry struct {
	Path    string // relative, as fls -p prints it
	Inode   int64  // metadata address (MFT record, inode, FAT dirent address)
	Addr    string // the full address as fls prints it (4-128-1)
	Deleted bool
}

var flsLine = regexp.MustCompile(`^r/r (\* )?([0-9]+)(-[0-9]+-[0-9]+)?(\(realloc\))?:\t(.*)$`)

// Fls lists the regular files of the file system at sector offset off.
func Fls(t testing.TB, img string, off int64) []FlsEntry {
	t.Helper()
	out := Run(t, "fls", "-r", "-p", "-o", strconv.FormatInt(off, 10), img)
	var res []FlsEntry
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := flsLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		ino, _ := strconv.ParseInt(m[2], 10, 64)
		res = append(res, FlsEntry{Path: m[5], Inode: ino, Addr: m[2] + m[3], Deleted: m[1] != ""})
	}
	return res
}

// Icat returns the sha256 of a file's content as icat reads it.
func Icat(t testing.TB, img string, off int64, addr string) string {
	t.Helper()
	sum := sha256.Sum256(Run(t, "icat", "-o", strconv.FormatInt(off, 10), img, addr))
	return hex.EncodeToString(sum[:])
}

// SHA256File returns the sha256 of a file, to check an image is unchanged.
func SHA256File(t testing.TB, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// EWF acquires raw into an E01 image with ewfacquire (deflate, MD5 and
// SHA-1 stored, case CASE-17, examiner "Examiner Name"), in segment files
// of at most segSize ("1MiB"), and returns their paths in order.
func EWF(t testing.TB, raw, target, segSize string) []string {
	t.Helper()
	Run(t, "ewfacquire", "-u", "-q", "-t", target, "-c", "deflate:fast", "-S", segSize, "-d", "sha1",
		"-C", "CASE-17", "-e", "Examiner Name", "-E", "EV-1", "-D", "seized laptop", "-N", "benign test image", raw)
	segs, err := filepath.Glob(target + ".E*")
	if err != nil || len(segs) == 0 {
		t.Fatalf("ewfacquire wrote no segment files: %v", err)
	}
	sort.Strings(segs)
	return segs
}
