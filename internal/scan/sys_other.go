//go:build !linux

package scan

import (
	"io/fs"
	"os"
)

// openSource opens a file of a source read-only. O_NOATIME and the
// O_NOFOLLOW/O_NONBLOCK guards are Linux-only; the caller has checked with
// lstat that path is a regular file.
func openSource(path string) (*os.File, error) { return os.Open(path) }

// openDir opens a directory of a source for listing.
func openDir(path string) (*os.File, error) { return os.Open(path) }

// fillMeta records what lstat said about a file on disk.
func fillMeta(e *Entry, path string, info fs.FileInfo) {
	e.Mode = info.Mode().String()
	e.Mtime = formatTime(info.ModTime())
}

// fileID is not available on this platform.
func fileID(info fs.FileInfo) (dev, ino uint64, ok bool) { return 0, 0, false }

// atimeFixed cannot tell on this platform; links are then described only
// from lstat unless ReadLinkTargets is set.
func atimeFixed(string) bool { return false }
