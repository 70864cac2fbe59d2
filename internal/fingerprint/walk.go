package fingerprint

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// Target is one input found by Collect: a regular file to hash, or a path
// that could not be used (Err set) and is reported as a failed Record.
type Target struct {
	Path string
	Size int64
	Err  error
}

// Collect expands paths into the regular files below them, sorted by path
// within each argument, so output order is stable. Directory symlinks are
// not followed (no loops); symlinks to files are hashed as the file they
// name. Special files (fifos, devices, sockets) and unreadable directories
// come back as Targets with Err set: they are reported, never opened, since
// reading a fifo would block forever. The path "-" is kept as is (stdin).
func Collect(paths []string) []Target {
	var out []Target
	for _, root := range paths {
		if root == "-" {
			out = append(out, Target{Path: "-"})
			continue
		}
		var found []Target
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				found = append(found, Target{Path: p, Err: err})
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				return nil
			}
			found = append(found, classify(p))
			return nil
		})
		if err != nil {
			found = append(found, Target{Path: root, Err: err})
		}
		slices.SortStableFunc(found, func(a, b Target) int {
			if a.Path < b.Path {
				return -1
			}
			if a.Path > b.Path {
				return 1
			}
			return 0
		})
		out = append(out, found...)
	}
	return out
}

// classify stats one non-directory entry (following a final symlink).
func classify(p string) Target {
	st, err := os.Stat(p)
	if err != nil {
		if lst, lerr := os.Lstat(p); lerr == nil && lst.Mode()&fs.ModeSymlink != 0 {
			return Target{Path: p, Err: fmt.Errorf("dangling or looping symlink: %w", err)}
		}
		return Target{Path: p, Err: err}
	}
	switch {
	case st.Mode().IsRegular():
		return Target{Path: p, Size: st.Size()}
	case st.IsDir():
		return Target{Path: p, Err: errors.New("symlink to a directory: not followed")}
	default:
		return Target{Path: p, Err: fmt.Errorf("not a regular file (%s): not read", st.Mode().Type())}
	}
}
