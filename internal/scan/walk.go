package scan

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// source is one SOURCE argument, resolved.
type source struct {
	arg  string      // as given
	abs  string      // absolute, symlinks resolved: what is read
	info fs.FileInfo // stat of abs
}

// kind names the source for custody.json.
func (src *source) kind() string {
	switch {
	case src.info.IsDir():
		return "directory"
	case src.info.Mode().IsRegular():
		return "file"
	}
	return "special"
}

// resolveSources checks that every source exists and resolves it: a
// SOURCE that is a symlink is followed (only there).
func resolveSources(args []string) ([]*source, error) {
	var out []*source
	seen := map[string]bool{}
	for _, a := range args {
		abs, err := filepath.Abs(a)
		if err == nil {
			abs, err = filepath.EvalSymlinks(abs)
		}
		if err != nil {
			return nil, fmt.Errorf("source %q: %w", a, err)
		}
		if seen[abs] {
			return nil, fmt.Errorf("source %q given twice", a)
		}
		seen[abs] = true
		info, err := os.Stat(abs)
		if err != nil {
			return nil, fmt.Errorf("source %q: %w", a, err)
		}
		out = append(out, &source{arg: a, abs: abs, info: info})
	}
	for _, a := range out {
		for _, b := range out {
			if a != b && within(b.abs, a.abs) {
				return nil, fmt.Errorf("source %q lies inside source %q: its files would be listed twice", b.arg, a.arg)
			}
		}
	}
	return out, nil
}

// within reports whether p is dir or lies below it (both absolute, clean).
func within(p, dir string) bool {
	if p == dir {
		return true
	}
	return strings.HasPrefix(p, strings.TrimSuffix(dir, string(filepath.Separator))+string(filepath.Separator))
}

// job is one entry found on disk, for a worker.
type job struct {
	src  *source
	rel  string      // path relative to the source, slash-separated
	abs  string      // path on disk
	info fs.FileInfo // lstat
}

// walk lists every source and sends what it finds to s.jobs; entries it can
// settle alone (unreadable directories) it emits itself. Already listed
// files (resume) are skipped here.
func (s *scanner) walk(ctx context.Context, srcs []*source) {
	for _, src := range srcs {
		if ctx.Err() != nil {
			return
		}
		if !src.info.IsDir() {
			s.submit(ctx, job{src: src, rel: filepath.Base(src.abs), abs: src.abs, info: src.info})
			continue
		}
		id, ok := dirID(src.info)
		s.walkDir(ctx, src, src.abs, "", map[[2]uint64]bool{id: ok})
	}
}

func (s *scanner) submit(ctx context.Context, j job) {
	if s.isDone(entryKey(j.src.abs, j.rel, 0)) {
		return
	}
	var size int64
	if j.info.Mode().IsRegular() {
		size = j.info.Size()
	}
	s.progress.AddTotal(1, size)
	select {
	case s.jobs <- j:
	case <-ctx.Done():
	}
}

func dirID(info fs.FileInfo) ([2]uint64, bool) {
	dev, ino, ok := fileID(info)
	return [2]uint64{dev, ino}, ok
}

// walkDir lists one directory and recurses. Directories are never entered
// through symlinks; a directory reached again (a bind mount loop) is an
// error entry.
func (s *scanner) walkDir(ctx context.Context, src *source, abs, rel string, ancestors map[[2]uint64]bool) {
	des, err := readDir(abs)
	if err != nil {
		s.dirError(ctx, src, abs, rel, fmt.Sprintf("list directory: %v", err))
		if len(des) == 0 {
			return
		}
	}
	for _, de := range des {
		if ctx.Err() != nil {
			return
		}
		childAbs := filepath.Join(abs, de.Name())
		childRel := path.Join(rel, de.Name())
		info, err := os.Lstat(childAbs)
		if err != nil {
			if !s.isDone(entryKey(src.abs, childRel, 0)) {
				e := &Entry{Source: src.abs, Kind: KindFile, Error: fmt.Sprintf("lstat: %v", err)}
				e.setPath(childRel)
				s.progress.AddTotal(1, 0)
				s.emit(ctx, e)
			}
			continue
		}
		if !info.IsDir() {
			s.submit(ctx, job{src: src, rel: childRel, abs: childAbs, info: info})
			continue
		}
		id, ok := dirID(info)
		if ok && ancestors[id] {
			s.dirError(ctx, src, childAbs, childRel, "directory loop (bind mount?): not entered again")
			continue
		}
		if ok {
			ancestors[id] = true
		}
		s.walkDir(ctx, src, childAbs, childRel, ancestors)
		if ok {
			delete(ancestors, id)
		}
	}
}

// readDir lists a directory, sorted by name, with O_NOATIME where allowed.
func readDir(abs string) ([]os.DirEntry, error) {
	f, err := openDir(abs)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	des, err := f.ReadDir(-1)
	slices.SortFunc(des, func(a, b os.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return des, err
}

// dirError records a directory that could not be listed (or entered).
func (s *scanner) dirError(ctx context.Context, src *source, abs, rel, msg string) {
	if rel == "" {
		rel = "."
	}
	if s.isDone(entryKey(src.abs, rel, 0)) {
		return
	}
	e := &Entry{Source: src.abs, Kind: KindDirectory, Error: msg}
	e.setPath(rel)
	if info, err := os.Lstat(abs); err == nil {
		fillMeta(e, abs, info)
	}
	s.progress.AddTotal(1, 0)
	s.emit(ctx, e)
}
