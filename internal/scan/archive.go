package scan

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nigehban/nigehban/internal/fingerprint"
	"github.com/nigehban/nigehban/internal/media"
)

// ErrLimit is wrapped by the errors of archive members and archives that
// were not (fully) expanded because a Limits bound was reached: a zip bomb,
// or more data than the scan was allowed to expand.
var ErrLimit = errors.New("archive expansion limit")

// Limits bound archive expansion. The zero value of a field means its default.
type Limits struct {
	// MaxDepth is how deep archives nest before they are no longer opened
	// (default 8): a file on disk is depth 0, its members depth 1.
	MaxDepth int `json:"max_depth"`
	// MaxExpanded bounds the bytes decompressed from one archive on disk,
	// all nesting levels together (default 64 GiB). The bound actually used
	// is also at most MaxRatio times the archive's size on disk (but at least
	// chainFloor): the cumulative ratio along a chain of nested archives, so a
	// 42.zip-style bomb (each level a modest ratio, the product astronomical)
	// stops after a few megabytes instead of 64 GiB.
	MaxExpanded int64 `json:"max_expanded_bytes"`
	// MaxRatio bounds how much a zip member or a gzip stream may expand
	// relative to its compressed size, once past 1 MiB (default 1000;
	// deflate cannot legitimately exceed about 1032).
	MaxRatio float64 `json:"max_ratio"`
	// MemSpool is the largest nested archive held in memory while it is
	// expanded; larger ones go to a private temporary file (default 32 MiB).
	MemSpool int64 `json:"mem_spool_bytes"`
}

// Default limits.
const (
	DefaultMaxDepth    = 8
	DefaultMaxExpanded = 64 << 30
	DefaultMaxRatio    = 1000
	DefaultMemSpool    = 32 << 20
)

// ratioFloor is the output size under which the ratio is not checked:
// small, highly compressible files are common and harmless.
const ratioFloor = 1 << 20

// chainFloor is the least expansion budget an archive on disk gets, however
// small it is.
const chainFloor = 64 << 20

// archiveBudget is the expansion budget of an archive of size bytes on disk:
// MaxExpanded, bounded by the cumulative ratio (see Limits.MaxExpanded).
func (l Limits) archiveBudget(size int64) int64 {
	byRatio := int64(min(l.MaxRatio*float64(max(size, 0)), float64(l.MaxExpanded)))
	return min(l.MaxExpanded, max(byRatio, chainFloor))
}

func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxExpanded <= 0 {
		l.MaxExpanded = DefaultMaxExpanded
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = DefaultMaxRatio
	}
	if l.MemSpool <= 0 {
		l.MemSpool = DefaultMemSpool
	}
	return l
}

// budget is what is left to decompress from one archive on disk, shared by
// the goroutines hashing its members.
type budget struct{ left atomic.Int64 }

func newBudget(n int64) *budget {
	b := new(budget)
	b.left.Store(n)
	return b
}

func (b *budget) take(n int) error {
	if b == nil {
		return nil
	}
	if b.left.Add(-int64(n)) < 0 {
		return fmt.Errorf("%w: more data than the expansion budget allows (all nesting levels together: the expansion limit, or the cumulative ratio to the archive's size on disk)", ErrLimit)
	}
	return nil
}

// fits reports whether n more bytes fit; when they do not, the budget is
// spent, so that expansion stops.
func (b *budget) fits(n uint64) bool {
	if b == nil || n <= uint64(max(b.left.Load(), 0)) {
		return true
	}
	b.left.Store(-1)
	return false
}

func (b *budget) exhausted() bool { return b != nil && b.left.Load() < 0 }

// expandReader counts the bytes decompressed from r against the budget and
// stops when they exceed ratio times the compressed bytes.
type expandReader struct {
	r          io.Reader
	b          *budget
	ratio      float64
	compressed func() int64
	n          int64
	err        error
}

func (x *expandReader) Read(p []byte) (int, error) {
	if x.err != nil {
		return 0, x.err
	}
	n, err := x.r.Read(p)
	x.n += int64(n)
	if lerr := x.b.take(n); lerr != nil {
		x.err = lerr
		return n, lerr
	}
	if x.ratio > 0 && x.n > ratioFloor {
		if c := x.compressed(); float64(x.n) > x.ratio*float64(max(c, 1)) {
			x.err = fmt.Errorf("%w: %d bytes from %d compressed exceeds the %g:1 ratio (zip bomb?)", ErrLimit, x.n, c, x.ratio)
			return n, x.err
		}
	}
	return n, err
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// ctxReader stops a long copy when ctx is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// hashArchive fingerprints an archive's bytes, then lists and hashes its
// members (emitting them), and sets e.Members. Streamed members are spooled
// first: zip needs random access and the bytes are read twice.
func (s *scanner) hashArchive(ctx context.Context, e *Entry, c *content, format media.Format, depth int, b *budget) error {
	if b == nil {
		b = newBudget(s.limits.archiveBudget(c.size))
	}
	if c.whole() == nil {
		if err := s.spool(ctx, c); err != nil {
			return err
		}
		if c.file != nil {
			defer os.Remove(c.file.Name())
			defer c.file.Close()
		}
	}
	tr := &trackReader{r: io.NewSectionReader(c.whole(), 0, c.size)}
	rec := fingerprint.Reader(ctx, e.Path, tr, s.fp)
	s.apply(e, rec, tr, c.size)
	if ctx.Err() != nil || !e.hasDigests() {
		return nil
	}
	n, err := s.expand(ctx, e, c.whole(), c.size, format, depth+1, b)
	e.Members = &n
	return err
}

// spool makes streamed content random-access: in memory up to
// Limits.MemSpool, else in a private temporary file. On error nothing of
// the content is kept.
func (s *scanner) spool(ctx context.Context, c *content) error {
	tr := &trackReader{r: ctxReader{ctx, io.MultiReader(bytes.NewReader(c.head), c.r)}}
	limit := s.limits.MemSpool
	if c.size >= 0 && c.size <= limit {
		limit = c.size
	}
	buf, err := io.ReadAll(io.LimitReader(tr, limit+1))
	if err != nil {
		return fmt.Errorf("read archive: %w", err)
	}
	if int64(len(buf)) <= limit {
		if c.size >= 0 && int64(len(buf)) != c.size {
			return fmt.Errorf("read archive: %d bytes, expected %d", len(buf), c.size)
		}
		c.mem, c.size = buf, int64(len(buf))
		return nil
	}
	f, err := os.CreateTemp(s.tmp, "archive-*")
	if err != nil {
		return fmt.Errorf("spool archive: %w", err)
	}
	n, err := io.Copy(f, io.MultiReader(bytes.NewReader(buf), tr))
	if err == nil && c.size >= 0 && n != c.size {
		err = fmt.Errorf("%d bytes, expected %d", n, c.size)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("spool archive: %w", err)
	}
	c.file, c.filePath, c.size = f, f.Name(), n
	return nil
}

// expand lists the members of an archive at depth, hashing and emitting
// each, and returns how many it listed.
func (s *scanner) expand(ctx context.Context, parent *Entry, ra io.ReaderAt, size int64, format media.Format, depth int, b *budget) (int, error) {
	switch format {
	case media.Zip:
		return s.expandZip(ctx, parent, ra, size, depth, b)
	case media.Tar:
		return s.expandTar(ctx, parent, io.NewSectionReader(ra, 0, size), depth, b)
	case media.Gzip:
		return s.expandGzip(ctx, parent, ra, size, depth, b)
	}
	return 0, fmt.Errorf("cannot expand %s", format)
}

// names makes member names unique within one archive: the second
// occurrence of a name becomes name#2, and so on, in archive order.
type names map[string]bool

func (n names) unique(name string) string {
	u := name
	for i := 2; n[u]; i++ {
		u = name + "#" + strconv.Itoa(i)
	}
	n[u] = true
	return u
}

// member returns the entry of an archive member, and whether it is done
// already (a resumed scan listed it).
func (s *scanner) member(parent *Entry, name string, depth int) (*Entry, bool) {
	container := parent.rawPath()
	e := &Entry{Source: parent.Source, Container: container, Kind: KindFile}
	e.setPath(container + "!" + name)
	return e, s.isDone(entryKey(e.Source, e.rawPath(), depth))
}

func (s *scanner) expandZip(ctx context.Context, parent *Entry, ra io.ReaderAt, size int64, depth int, b *budget) (int, error) {
	zr, err := zip.NewReader(ra, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		// Without a central directory (a truncated zip) the members that
		// are still whole are read from their local headers.
		n, lerr := s.expandZipLocal(ctx, parent, ra, size, depth, b)
		if n == 0 && lerr == nil {
			return 0, fmt.Errorf("broken zip archive: %w", err)
		}
		if lerr != nil {
			return n, fmt.Errorf("broken zip archive (%v): %d members read from their local headers; %w", err, n, lerr)
		}
		return n, fmt.Errorf("broken zip archive (%v): %d members read from their local headers", err, n)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	seen := names{}
	n := 0
	for _, f := range zr.File {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if b.exhausted() {
			return n, fmt.Errorf("%w: expansion stopped after %d members", ErrLimit, n)
		}
		mode := f.Mode()
		if mode.IsDir() {
			continue
		}
		name := seen.unique(f.Name)
		e, done := s.member(parent, name, depth)
		n++
		if done {
			continue
		}
		e.Size = int64(f.UncompressedSize64)
		e.Mode = mode.String()
		if !f.Modified.IsZero() {
			e.Mtime = formatTime(f.Modified)
		}
		s.progress.AddTotal(1, e.Size)
		switch {
		case mode&fs.ModeSymlink != 0:
			e.Kind = KindSymlink
			if rc, err := f.Open(); err == nil {
				target, _ := io.ReadAll(io.LimitReader(rc, 4096))
				rc.Close()
				e.LinkTarget = string(target)
			}
			e.Note = "symlink: not followed"
		case !mode.IsRegular():
			e.Kind = KindSpecial
			e.Error = fmt.Sprintf("special file (%s) in archive: not read", specialName(mode))
		case f.Flags&0x1 != 0:
			e.Error = "encrypted member: not read"
		case !b.fits(f.UncompressedSize64):
			e.Error = fmt.Sprintf("%v: member declares %d bytes, over what is left of the expansion budget", ErrLimit, f.UncompressedSize64)
		case f.UncompressedSize64 > ratioFloor && float64(f.UncompressedSize64) > s.limits.MaxRatio*float64(max(f.CompressedSize64, 1)):
			e.Error = fmt.Sprintf("%v: member declares %d bytes from %d compressed, over the %g:1 ratio (zip bomb?)",
				ErrLimit, f.UncompressedSize64, f.CompressedSize64, s.limits.MaxRatio)
		default:
			// Members of a zip are independent: hash them on idle workers.
			s.spawn(&wg, func() {
				rc, err := f.Open()
				if err != nil {
					e.Error = fmt.Sprintf("open member: %v", err)
				} else {
					compressed := int64(f.CompressedSize64)
					x := &expandReader{r: rc, b: b, ratio: s.limits.MaxRatio, compressed: func() int64 { return compressed }}
					s.hashMember(ctx, e, f.Name, x, e.Size, depth, b)
					rc.Close()
				}
				s.emit(ctx, e)
			})
			continue
		}
		s.emit(ctx, e)
	}
	wg.Wait()
	if b.exhausted() {
		return n, fmt.Errorf("%w: expansion stopped after %d members", ErrLimit, n)
	}
	return n, nil
}

func (s *scanner) expandTar(ctx context.Context, parent *Entry, r io.Reader, depth int, b *budget) (int, error) {
	var wg sync.WaitGroup
	defer wg.Wait()
	tr := tar.NewReader(r)
	seen := names{}
	n := 0
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			wg.Wait()
			if b.exhausted() {
				return n, fmt.Errorf("%w: expansion stopped after %d members", ErrLimit, n)
			}
			return n, nil
		}
		if err != nil {
			if errors.Is(err, ErrLimit) {
				return n, err
			}
			return n, fmt.Errorf("broken tar archive after %d members: %w", n, err)
		}
		switch hdr.Typeflag {
		case tar.TypeDir, tar.TypeXGlobalHeader:
			continue
		}
		name := seen.unique(hdr.Name)
		e, done := s.member(parent, name, depth)
		n++
		if done {
			continue
		}
		fi := hdr.FileInfo()
		e.Mode = fi.Mode().String()
		e.Mtime, e.Atime, e.Ctime = formatTime(hdr.ModTime), formatTime(hdr.AccessTime), formatTime(hdr.ChangeTime)
		if hdr.Uid >= 0 && hdr.Gid >= 0 {
			uid, gid := uint32(hdr.Uid), uint32(hdr.Gid)
			e.UID, e.GID = &uid, &gid
		}
		s.progress.AddTotal(1, max(hdr.Size, 0))
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeGNUSparse, tar.TypeCont: // the reader turns the old TypeRegA into TypeReg
			e.Size = hdr.Size
			if s.tokens != nil && hdr.Size <= s.limits.MemSpool {
				// A tar is read in order, but a small member can be taken
				// into memory and hashed by an idle worker meanwhile.
				rd := &trackReader{r: tr}
				data, err := io.ReadAll(io.LimitReader(rd, hdr.Size))
				if err != nil || int64(len(data)) != hdr.Size {
					e.Error = fmt.Sprintf("read: %v", firstErr(err, rd.err, io.ErrUnexpectedEOF))
					break
				}
				memberName := hdr.Name
				s.spawn(&wg, func() {
					s.hashBytes(ctx, e, memberName, data, depth, b)
					s.emit(ctx, e)
				})
				continue
			}
			s.hashMember(ctx, e, hdr.Name, tr, hdr.Size, depth, b)
		case tar.TypeSymlink:
			e.Kind, e.LinkTarget, e.Note = KindSymlink, hdr.Linkname, "symlink: not followed"
		case tar.TypeLink:
			e.Kind, e.LinkTarget, e.Note = KindHardlink, hdr.Linkname, "hard link: its target is listed on its own"
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			e.Kind = KindSpecial
			e.Error = fmt.Sprintf("special file (%s) in archive: not read", specialName(fi.Mode()))
		default:
			e.Kind = KindSpecial
			e.Error = fmt.Sprintf("tar entry type %q: not read", hdr.Typeflag)
		}
		s.emit(ctx, e)
		if b.exhausted() {
			return n, fmt.Errorf("%w: expansion stopped after %d members", ErrLimit, n)
		}
	}
}

// expandGzip opens a gzip stream: a tar inside is expanded directly
// (tar.gz); anything else is one member named after the archive without
// its .gz.
func (s *scanner) expandGzip(ctx context.Context, parent *Entry, ra io.ReaderAt, size int64, depth int, b *budget) (int, error) {
	cr := &countReader{r: io.NewSectionReader(ra, 0, size)}
	zr, err := gzip.NewReader(cr)
	if err != nil {
		return 0, fmt.Errorf("broken gzip stream: %w", err)
	}
	defer zr.Close()
	x := &expandReader{r: zr, b: b, ratio: s.limits.MaxRatio, compressed: func() int64 { return cr.n }}
	head, err := sniff(x)
	if err != nil {
		return 0, fmt.Errorf("broken gzip stream: %w", err)
	}
	if _, f := media.Sniff(head); f == media.Tar {
		return s.expandTar(ctx, parent, io.MultiReader(bytes.NewReader(head), x), depth, b)
	}
	name := gzipMemberName(path.Base(lastMember(parent.rawPath())), zr.Header.Name)
	e, done := s.member(parent, name, depth)
	if done {
		return 1, nil
	}
	if !zr.Header.ModTime.IsZero() {
		e.Mtime = formatTime(zr.Header.ModTime)
	}
	s.progress.AddTotal(1, 0)
	c := &content{name: name, head: head, r: x, size: -1}
	s.hashContent(ctx, e, c, depth, b)
	s.emit(ctx, e)
	if errors.Is(x.err, ErrLimit) {
		return 1, x.err
	}
	return 1, nil
}

// hashMember fingerprints one archive member read from r; name is the
// member's name as the archive spells it (without a #N suffix), for the
// extension check.
func (s *scanner) hashMember(ctx context.Context, e *Entry, name string, r io.Reader, size int64, depth int, b *budget) {
	head, err := sniff(r)
	if err != nil {
		e.Error = fmt.Sprintf("read: %v", err)
		return
	}
	s.hashContent(ctx, e, &content{name: path.Base(name), head: head, r: r, size: size}, depth, b)
}

// hashBytes fingerprints an archive member already read into memory.
func (s *scanner) hashBytes(ctx context.Context, e *Entry, name string, data []byte, depth int, b *budget) {
	head := data[:min(len(data), media.SniffLen)]
	c := &content{name: path.Base(name), head: head, r: bytes.NewReader(data[len(head):]), size: int64(len(data)), mem: data}
	s.hashContent(ctx, e, c, depth, b)
}

// spawn runs fn on an idle worker's slot when there is one, else at once
// in this goroutine; wg tracks the runs started elsewhere. It never waits
// for a slot, so nesting cannot deadlock.
func (s *scanner) spawn(wg *sync.WaitGroup, fn func()) {
	select {
	case s.tokens <- struct{}{}:
		wg.Go(func() {
			defer func() { <-s.tokens }()
			fn()
		})
	default:
		fn()
	}
}

// lastMember returns the part of a path after its last "!".
func lastMember(p string) string {
	if i := strings.LastIndexByte(p, '!'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// gzipMemberName names the content of a gzip that is not a tar: the
// archive's name without .gz (.tgz becomes .tar), else the name stored in
// the gzip header, else "content".
func gzipMemberName(archive, stored string) string {
	lower := strings.ToLower(archive)
	for _, suf := range []struct{ gz, repl string }{{".tgz", ".tar"}, {".svgz", ".svg"}, {".gz", ""}, {".gzip", ""}, {".z", ""}} {
		if strings.HasSuffix(lower, suf.gz) && len(archive) > len(suf.gz) {
			return archive[:len(archive)-len(suf.gz)] + suf.repl
		}
	}
	if stored = path.Base(strings.ReplaceAll(stored, "\\", "/")); stored != "" && stored != "." && stored != "/" {
		return stored
	}
	return "content"
}
