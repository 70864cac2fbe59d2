package scan

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Names of the files a scan writes in its output directory.
const (
	ManifestName = "manifest.jsonl"
	CSVName      = "manifest.csv"
	CustodyName  = "custody.json"
	ReportName   = "report.html"
)

// ErrCorruptManifest is returned (wrapped, with the line) when
// manifest.jsonl has a bad line before its last one: it was edited or the
// disk is failing, and resuming would build on it.
var ErrCorruptManifest = errors.New("corrupt manifest")

// Batching of fsync: at most this many entries, or this long, pass between
// two syncs, so a crash loses little work and costs little.
const (
	syncEvery    = 512
	syncInterval = time.Second
)

// manifestWriter appends entries to manifest.jsonl for concurrent workers.
type manifestWriter struct {
	mu       sync.Mutex
	f        *os.File
	bw       *bufio.Writer
	buf      bytes.Buffer
	enc      *json.Encoder
	unsynced int
	written  int64
	err      error // sticky

	stop chan struct{}
	wg   sync.WaitGroup
}

// openManifest opens path for appending (creating it) and starts the
// periodic sync.
func openManifest(path string) (*manifestWriter, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open manifest: %w", err)
	}
	w := &manifestWriter{f: f, bw: bufio.NewWriterSize(f, 256<<10), stop: make(chan struct{})}
	w.enc = json.NewEncoder(&w.buf)
	w.enc.SetEscapeHTML(false)
	w.wg.Go(w.syncLoop)
	return w, nil
}

// write appends one entry as a JSON line.
func (w *manifestWriter) write(e *Entry) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	w.buf.Reset()
	if err := w.enc.Encode(e); err != nil {
		return fmt.Errorf("encode manifest entry %q: %w", e.Path, err)
	}
	if _, err := w.bw.Write(w.buf.Bytes()); err != nil {
		w.err = fmt.Errorf("write manifest: %w", err)
		return w.err
	}
	w.written++
	if w.unsynced++; w.unsynced >= syncEvery {
		w.syncLocked()
	}
	return w.err
}

func (w *manifestWriter) syncLocked() {
	if w.err != nil || w.unsynced == 0 {
		return
	}
	if err := w.bw.Flush(); err != nil {
		w.err = fmt.Errorf("write manifest: %w", err)
		return
	}
	if err := w.f.Sync(); err != nil {
		w.err = fmt.Errorf("sync manifest: %w", err)
		return
	}
	w.unsynced = 0
}

func (w *manifestWriter) syncLoop() {
	t := time.NewTicker(syncInterval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.mu.Lock()
			w.syncLocked()
			w.mu.Unlock()
		}
	}
}

// close syncs everything written and closes the file.
func (w *manifestWriter) close() error {
	close(w.stop)
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.syncLocked()
	if err := w.f.Close(); err != nil && w.err == nil {
		w.err = fmt.Errorf("close manifest: %w", err)
	}
	return w.err
}

// readManifest calls fn for every entry of manifest.jsonl, in file order.
// A torn last line (a crash mid-write) is reported through torn (its byte
// offset, -1 if none) and not passed to fn; a bad line elsewhere is an error
// wrapping ErrCorruptManifest.
func readManifest(path string, fn func(line int, e *Entry) error) (torn int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return -1, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	var off int64
	var pending []byte // a bad line, an error only if another follows
	pendingOff := int64(-1)
	for line := 1; ; line++ {
		b, rerr := br.ReadBytes('\n')
		if len(b) > 0 {
			if pending != nil {
				return -1, fmt.Errorf("%w: %s line %d does not parse", ErrCorruptManifest, filepath.Base(path), line-1)
			}
			var e Entry
			complete := b[len(b)-1] == '\n'
			if !complete || json.Unmarshal(b, &e) != nil || e.Path == "" && e.PathRaw == nil {
				pending, pendingOff = b, off
			} else if err := fn(line, &e); err != nil {
				return -1, err
			}
			off += int64(len(b))
		}
		if errors.Is(rerr, io.EOF) {
			return pendingOff, nil
		}
		if rerr != nil {
			return -1, fmt.Errorf("read manifest: %w", rerr)
		}
	}
}

// writeFileAtomic writes data to path through a synced temporary file and
// a rename, so a reader sees the old or the new content, never a mix.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriterSize(tmp, 256<<10)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o640)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
