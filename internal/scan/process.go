package scan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"

	"github.com/nigehban/nigehban/internal/fingerprint"
	"github.com/nigehban/nigehban/internal/media"
	"github.com/nigehban/nigehban/internal/variant"
	"github.com/nigehban/nigehban/internal/vpdq"
)

// content is the bytes of one file to fingerprint: a file on disk, or an
// archive member streamed, held in memory or spooled to a private file.
type content struct {
	// name is the file's own name (base name or member name), for the
	// extension check.
	name string
	// head is the first media.SniffLen bytes (fewer for short content),
	// already read from r.
	head []byte
	// r yields the rest of the content after head.
	r io.Reader
	// size is the expected length, -1 when unknown.
	size int64
	// file is set when the whole content is a file (on disk or a spool):
	// archives are expanded from it and videos decoded from filePath.
	file     *os.File
	filePath string
	// mem is set when the whole content is in memory.
	mem []byte
}

// whole returns a reader over the entire content (head included) when it
// is random-access, else nil.
func (c *content) whole() io.ReaderAt {
	switch {
	case c.mem != nil:
		return bytes.NewReader(c.mem)
	case c.file != nil:
		return c.file
	}
	return nil
}

// trackReader records whether a read reached the end of the content, and
// the error that stopped it otherwise.
type trackReader struct {
	r   io.Reader
	n   int64
	eof bool
	err error
}

func (t *trackReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.n += int64(n)
	switch {
	case errors.Is(err, io.EOF):
		t.eof = true
	case err != nil && t.err == nil:
		t.err = err
	}
	return n, err
}

// sniff reads the head of r.
func sniff(r io.Reader) ([]byte, error) {
	head := make([]byte, media.SniffLen)
	n, err := io.ReadFull(r, head)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = nil
	}
	return head[:n], err
}

// isArchive reports whether f is a format the scan expands.
func isArchive(f media.Format) bool { return f == media.Zip || f == media.Tar || f == media.Gzip }

// hashContent fingerprints c into e (digests, type, PDQ or vPDQ), expands
// it when it is an archive, then checks the known list and the banks.
// Members are emitted as they are done; e itself is the caller's to emit.
func (s *scanner) hashContent(ctx context.Context, e *Entry, c *content, depth int, b *budget) {
	_, format := media.Sniff(c.head)
	var video bool
	switch {
	case isArchive(format) && depth < s.limits.MaxDepth:
		if err := s.hashArchive(ctx, e, c, format, depth, b); err != nil {
			e.addError(err.Error())
		}
		s.finish(ctx, e, c, format)
		return
	case (format == media.Unknown || isEWF(c.head)) && s.hashDiskImage(ctx, e, c, format, depth):
		s.finish(ctx, e, c, format)
		return
	case media.KindOf(format) == media.Video && !s.skipVideo:
		video = true
	case media.KindOf(format) == media.Image && c.size > s.imageMaxBytes():
		s.hashLargeImage(ctx, e, c)
		s.finish(ctx, e, c, format)
		return
	}
	var spool *os.File
	var body io.Reader = io.MultiReader(bytes.NewReader(c.head), c.r)
	if video && c.file == nil {
		// ffmpeg needs a file: spool the member while it is digested.
		var err error
		if spool, err = os.CreateTemp(s.tmp, "video-*"); err != nil {
			e.addError(fmt.Sprintf("spool video: %v", err))
			return
		}
		defer os.Remove(spool.Name())
		defer spool.Close()
		body = io.TeeReader(body, spool)
	}
	tr := &trackReader{r: body}
	rec := fingerprint.Reader(ctx, e.Path, tr, s.fp)
	s.apply(e, rec, tr, c.size)
	if isArchive(format) && e.hasDigests() {
		e.addError(fmt.Sprintf("%v: archive nested more than %d levels deep: not expanded", ErrLimit, s.limits.MaxDepth))
	}
	if video && e.hasDigests() && !s.known.Contains(e.MD5, e.SHA1, e.SHA256) && ctx.Err() == nil {
		p := c.filePath
		if spool != nil {
			p = spool.Name()
		}
		v, err := vpdq.HashFile(ctx, p, s.video)
		if err != nil {
			e.addError(err.Error())
		} else {
			e.Width, e.Height, e.Duration, e.VPDQ, e.vpdqTrimmed = v.Width, v.Height, v.Duration, v.Frames, v.Trimmed
		}
	}
	s.finish(ctx, e, c, format)
}

// hashLargeImage handles an image over the decoder's byte limit:
// fingerprint.File hashes it as a file without decoding (a reader would be
// cut at the limit). Members are spooled to a private file first.
func (s *scanner) hashLargeImage(ctx context.Context, e *Entry, c *content) {
	p := c.filePath
	if p == "" {
		spool, err := os.CreateTemp(s.tmp, "image-*")
		if err != nil {
			e.addError(fmt.Sprintf("spool image: %v", err))
			return
		}
		defer os.Remove(spool.Name())
		defer spool.Close()
		tr := &trackReader{r: io.MultiReader(bytes.NewReader(c.head), c.r)}
		if _, err := io.Copy(spool, tr); err != nil || !tr.eof {
			e.addError(fmt.Sprintf("spool image: %v", firstErr(tr.err, err)))
			return
		}
		p = spool.Name()
	}
	rec := fingerprint.File(ctx, p, s.fp)
	tr := &trackReader{eof: rec.Error == "" || rec.MD5 != ""}
	s.apply(e, rec, tr, c.size)
}

// apply copies a fingerprint into e, dropping content fields when the read
// did not cover the whole content.
func (s *scanner) apply(e *Entry, rec fingerprint.Record, tr *trackReader, size int64) {
	e.Type, e.Format = rec.Type, rec.Format
	e.MD5, e.SHA1, e.SHA256 = rec.MD5, rec.SHA1, rec.SHA256
	e.PDQ, e.Quality, e.variants = rec.PDQ, rec.Quality, rec.Variants
	e.dihedral = rec.PDQDihedral
	e.Width, e.Height, e.Duration, e.VPDQ = rec.Width, rec.Height, rec.Duration, rec.VPDQ
	if rec.Error != "" {
		e.addError(rec.Error)
	}
	switch {
	case !tr.eof:
		e.clearContent()
		if tr.err != nil {
			e.addError(fmt.Sprintf("read: %v", tr.err))
		} else if rec.Error == "" {
			e.addError("content not read to the end")
		}
	case size >= 0 && rec.Size != size:
		e.clearContent()
		e.addError(fmt.Sprintf("read %d bytes, expected %d: changed while being read", rec.Size, size))
	default:
		e.Size = rec.Size
	}
}

// finish sets the fields that follow from the content: extension mismatch,
// known status and bank matches.
func (s *scanner) finish(ctx context.Context, e *Entry, c *content, format media.Format) {
	if e.Format == "" && format != "" && e.Type == "" {
		e.Type, e.Format = media.KindOf(format), format
	}
	e.ExtensionMismatch = extensionMismatch(c.name, e.Format)
	if !e.hasDigests() || ctx.Err() != nil {
		return
	}
	if s.known.Contains(e.MD5, e.SHA1, e.SHA256) {
		e.Known = true
		return
	}
	if s.matcher == nil {
		return
	}
	ms, err := s.matcher.MatchDigests(ctx, e.MD5, e.SHA1, e.SHA256)
	if err == nil && e.PDQ != nil && e.Quality != nil {
		// The whole image below the quality floor is not matched; its
		// variants (a picture inside plain borders) still may be.
		var vs []variant.Hash
		if *e.Quality >= s.minQuality {
			vs = append(vs, variant.Hash{Name: variant.Original, PDQ: *e.PDQ, Quality: *e.Quality})
		}
		for _, v := range e.variants {
			if v.Quality >= s.minQuality {
				vs = append(vs, v)
			}
		}
		if len(vs) > 0 {
			var more []Match
			more, err = s.matcher.MatchPDQ(ctx, vs)
			ms = append(ms, more...)
			// Rotated and mirrored versions (--dihedral): signals the file as
			// it is did not match.
			for k := 1; err == nil && *e.Quality >= s.minQuality && k < len(e.dihedral); k++ {
				if more, err = s.matcher.MatchPDQ(ctx, []variant.Hash{{Name: variant.Original, PDQ: e.dihedral[k], Quality: *e.Quality}}); err != nil {
					break
				}
				for _, m := range more {
					if !slices.ContainsFunc(ms, func(x Match) bool { return x.Bank == m.Bank && x.SignalType == m.SignalType && x.Value == m.Value }) {
						m.Transform, m.Variant = dihedralNames[k], ""
						ms = append(ms, m)
					}
				}
			}
		}
	}
	if err == nil && len(e.VPDQ) > 0 {
		var more []Match
		more, err = s.matcher.MatchVPDQ(ctx, e.VPDQ, e.vpdqTrimmed)
		ms = append(ms, more...)
	}
	if err != nil {
		e.addError(fmt.Sprintf("match: %v", err))
	}
	e.Matches = ms
}

func (s *scanner) imageMaxBytes() int64 {
	if s.fp.Limits.MaxBytes > 0 {
		return s.fp.Limits.MaxBytes
	}
	return media.DefaultLimits.MaxBytes
}

// doDisk handles one file found on disk: records what lstat says, then
// hashes regular files; symlinks and special files are never opened.
func (s *scanner) doDisk(ctx context.Context, j job) {
	e := &Entry{Source: j.src.abs, Kind: KindFile}
	e.setPath(j.rel)
	fillMeta(e, j.abs, j.info)
	mode := j.info.Mode()
	switch {
	case mode&fs.ModeSymlink != 0:
		e.Kind, e.Size = KindSymlink, j.info.Size()
		if s.readLinks || atimeFixed(j.abs) {
			describeSymlink(e, j.abs)
		} else {
			e.Note = "symlink: target not read (reading it would update the link's access time on this mount; " +
				"scan a read-only or noatime mount, or pass --read-link-targets)"
		}
	case !mode.IsRegular():
		e.Kind = KindSpecial
		e.Error = fmt.Sprintf("special file (%s): not read", specialName(mode))
	default:
		e.Size = j.info.Size()
		s.hashDiskFile(ctx, e, j)
	}
	s.emit(ctx, e)
}

// hashDiskFile opens and fingerprints a regular file of a source.
func (s *scanner) hashDiskFile(ctx context.Context, e *Entry, j job) {
	f, err := s.open(j.abs)
	if err != nil {
		e.Error = fmt.Sprintf("open: %v", err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		e.Error = fmt.Sprintf("stat: %v", err)
		return
	}
	if !st.Mode().IsRegular() || !sameFile(st, j.info) {
		e.Error = "replaced since it was listed: not read"
		return
	}
	head, err := sniff(f)
	if err != nil {
		e.Error = fmt.Sprintf("read: %v", err)
		return
	}
	c := &content{name: path.Base(j.rel), head: head, r: f, size: j.info.Size(), file: f, filePath: j.abs}
	if j.rel == "" {
		c.name = path.Base(j.abs)
	}
	var b *budget
	if _, format := media.Sniff(head); isArchive(format) {
		b = newBudget(s.limits.archiveBudget(j.info.Size()))
	}
	s.hashContent(ctx, e, c, 0, b)
	// A file that changed while it was read has no trustworthy hash.
	if after, err := f.Stat(); err == nil && (after.Size() != j.info.Size() || !after.ModTime().Equal(j.info.ModTime())) && e.hasDigests() {
		e.clearContent()
		e.addError("changed while being hashed (size or mtime differs): hashes dropped")
	}
}

// sameFile reports whether two stats describe the same file (device and
// inode where the platform has them).
func sameFile(a, b fs.FileInfo) bool {
	da, ia, ok1 := fileID(a)
	db, ib, ok2 := fileID(b)
	if ok1 && ok2 {
		return da == db && ia == ib
	}
	return os.SameFile(a, b)
}

// describeSymlink records a link's target and whether it resolves, without
// following it.
func describeSymlink(e *Entry, p string) {
	target, err := os.Readlink(p)
	if err != nil {
		e.Error = fmt.Sprintf("readlink: %v", err)
		return
	}
	e.LinkTarget = target
	st, err := os.Stat(p)
	switch {
	case errors.Is(err, syscall.ELOOP):
		e.Error = "symlink loop: not followed"
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		e.Note = "dangling symlink: target does not exist"
	case err != nil:
		e.Note = fmt.Sprintf("symlink target not accessible: %v", err)
	case st.IsDir():
		e.Note = "symlink to a directory: not followed"
	default:
		e.Note = "symlink: not followed"
	}
}

func specialName(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "fifo"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m&fs.ModeIrregular != 0:
		return "irregular file"
	}
	return m.Type().String()
}

// extraExtensions are usual extensions the media package does not list,
// for formats that are containers of other things (office documents are
// zips, camera raw files are TIFFs).
var extraExtensions = map[media.Format][]string{
	media.Zip: {".ods", ".odp", ".odg", ".odf", ".ott", ".ots", ".otp", ".xpi", ".ipa", ".kmz", ".cbz",
		".whl", ".war", ".ear", ".aar", ".nupkg", ".vsix", ".xps", ".oxps", ".3mf", ".pages", ".numbers", ".key"},
	media.TIFF: {".dng", ".nef", ".cr2", ".arw", ".srw", ".pef", ".nrw", ".sr2", ".3fr", ".erf"},
	media.HEIC: {".hif"},
	media.MP4:  {".m4b", ".m4p", ".f4v"},
	media.Gzip: {".svgz"},
	media.PE:   {".ocx", ".scr", ".cpl", ".drv", ".efi", ".mui"},
}

// claimedFormats maps the extensions of image and video formats (except
// .ts, which is also TypeScript) to their format: a file named so whose
// content is something else is a mismatch.
var claimedFormats = func() map[string]media.Format {
	m := map[string]media.Format{}
	for _, f := range []media.Format{media.JPEG, media.PNG, media.GIF, media.WebP, media.BMP, media.TIFF,
		media.HEIC, media.AVIF, media.MP4, media.MOV, media.ThreeGP, media.Matroska, media.WebM, media.AVI,
		media.MPEGPS, media.FLV, media.ASF} {
		for _, ext := range media.Extensions(f) {
			if ext != "" && ext != ".ts" {
				m[ext] = f
			}
		}
	}
	return m
}()

// extensionMismatch reports whether name's extension contradicts the
// detected format f: a recognised format under an unusual extension, or
// an image or video extension on content that is not one.
func extensionMismatch(name string, f media.Format) bool {
	ext := strings.ToLower(path.Ext(name))
	if f == media.Unknown {
		_, claims := claimedFormats[ext]
		return claims
	}
	if media.ExtensionMatches(f, ext) {
		return false
	}
	for _, x := range extraExtensions[f] {
		if x == ext {
			return false
		}
	}
	if c, ok := claimedFormats[ext]; ok && media.KindOf(c) == media.Video && media.KindOf(f) == media.Video {
		return false // containers are often named for each other (.mp4 holding QuickTime)
	}
	return true
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return errors.New("incomplete")
}

// dihedralNames name the dihedral PDQ hashes in pdq.Dihedral's order.
var dihedralNames = [8]string{"", "rotated 90°", "rotated 180°", "rotated 270°", "flipped top to bottom",
	"flipped left to right", "transposed", "transposed about the anti-diagonal"}
