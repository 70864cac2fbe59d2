package scan

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// openFlags are the flags every source file is opened with: read-only,
// never following a symlink swapped in since listing, never blocking on a
// fifo swapped in (regular files ignore O_NONBLOCK).
const openFlags = os.O_RDONLY | syscall.O_NOFOLLOW | syscall.O_NONBLOCK | syscall.O_CLOEXEC

// openSource opens a file of a source for reading without updating its
// access time where the kernel allows it (O_NOATIME needs the owner or
// CAP_FOWNER); otherwise it opens it plainly read-only.
func openSource(path string) (*os.File, error) {
	f, err := os.OpenFile(path, openFlags|syscall.O_NOATIME, 0)
	if errors.Is(err, syscall.EPERM) {
		f, err = os.OpenFile(path, openFlags, 0)
	}
	return f, err
}

// openDir opens a directory of a source for listing, like openSource.
func openDir(path string) (*os.File, error) {
	flags := os.O_RDONLY | syscall.O_DIRECTORY | syscall.O_NOFOLLOW | syscall.O_CLOEXEC
	f, err := os.OpenFile(path, flags|syscall.O_NOATIME, 0)
	if errors.Is(err, syscall.EPERM) {
		f, err = os.OpenFile(path, flags, 0)
	}
	return f, err
}

// fillMeta records what lstat said about a file on disk: times, mode,
// owner, and the birth time when the file system keeps one (statx).
func fillMeta(e *Entry, path string, info fs.FileInfo) {
	e.Mode = info.Mode().String()
	e.Mtime = formatTime(info.ModTime())
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return
	}
	e.Atime = formatTime(time.Unix(st.Atim.Unix()))
	e.Ctime = formatTime(time.Unix(st.Ctim.Unix()))
	uid, gid := st.Uid, st.Gid
	e.UID, e.GID = &uid, &gid
	var sx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW|unix.AT_STATX_DONT_SYNC, unix.STATX_BTIME, &sx); err == nil &&
		sx.Mask&unix.STATX_BTIME != 0 {
		e.Btime = formatTime(time.Unix(sx.Btime.Sec, int64(sx.Btime.Nsec)))
	}
}

// fileID returns the device and inode of a file, to detect directory loops
// and files replaced between listing and reading.
func fileID(info fs.FileInfo) (dev, ino uint64, ok bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return uint64(st.Dev), st.Ino, true
}

// atimeFixed reports whether the file system holding path never updates
// access times: mounted read-only or noatime. Reading a symlink's target,
// or resolving a path through it, updates the link's atime elsewhere.
func atimeFixed(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Dir(path), &st); err != nil {
		return false
	}
	return st.Flags&(unix.ST_RDONLY|unix.ST_NOATIME) != 0
}
