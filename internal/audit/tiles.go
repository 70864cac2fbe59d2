package audit

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// TileHeight is the height of C2SP tlog-tiles tiles: 256 hashes or entries.
const TileHeight = 8

// TileWidth is the number of hashes or entries in a full tile.
const TileWidth = 1 << TileHeight

// LogStore is what the transparency log needs from the database: the
// entries, the stored hashes written with them, and the signed checkpoints.
type LogStore interface {
	Store
	HashStore
	// TreeSize returns the number of leaves of the stored tree (the
	// entries the log holds; TreeSizeForStoredCount computes it).
	TreeSize(ctx context.Context) (int64, error)
	// SaveCheckpoint stores a signed checkpoint of size entries, replacing
	// a stored one of the same size (to add cosignatures).
	SaveCheckpoint(ctx context.Context, size int64, msg []byte) error
	// LatestCheckpoint returns the stored checkpoint of the largest size,
	// or nil if none was stored.
	LatestCheckpoint(ctx context.Context) ([]byte, error)
}

// TilePath returns the C2SP tlog-tiles path of a tile below the log's
// prefix: "tile/<L>/<N>[.p/<W>]", or "tile/entries/<N>[.p/<W>]" when level
// is -1. w = TileWidth is a full tile.
func TilePath(level int, n int64, w int) string {
	l := "entries"
	if level >= 0 {
		l = strconv.Itoa(level)
	}
	p := "tile/" + l + "/" + encodeTileIndex(n)
	if w < TileWidth {
		p += ".p/" + strconv.Itoa(w)
	}
	return p
}

func encodeTileIndex(n int64) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n >= 1000 {
		n /= 1000
		s = fmt.Sprintf("x%03d/%s", n%1000, s)
	}
	return s
}

var errBadTilePath = errors.New("not a tile path")

// ParseTilePath parses a path made by TilePath (level -1 for entries).
func ParseTilePath(p string) (level int, n int64, w int, err error) {
	rest, ok := strings.CutPrefix(p, "tile/")
	if !ok {
		return 0, 0, 0, errBadTilePath
	}
	l, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, 0, errBadTilePath
	}
	if l == "entries" {
		level = -1
	} else if level, err = strconv.Atoi(l); err != nil || level < 0 || level > 5 || strconv.Itoa(level) != l {
		return 0, 0, 0, errBadTilePath
	}
	w = TileWidth
	if idx, width, ok := strings.Cut(rest, ".p/"); ok {
		rest = idx
		if w, err = strconv.Atoi(width); err != nil || w < 1 || w >= TileWidth || strconv.Itoa(w) != width {
			return 0, 0, 0, errBadTilePath
		}
	}
	for _, el := range strings.Split(rest, "/") {
		el = strings.TrimPrefix(el, "x")
		d, err := strconv.Atoi(el)
		if err != nil || len(el) != 3 || d < 0 || n > (1<<62)/1000 {
			return 0, 0, 0, errBadTilePath
		}
		n = n*1000 + int64(d)
	}
	if TilePath(level, n, w) != p {
		return 0, 0, 0, errBadTilePath
	}
	return level, n, w, nil
}

// Handler serves the log's public read API (C2SP tlog-tiles) from st, for
// paths below the log's prefix (mount it with http.StripPrefix):
//
//	GET /checkpoint                 the latest signed checkpoint
//	GET /tile/<L>/<N>[.p/<W>]       hash tiles
//	GET /tile/entries/<N>[.p/<W>]   entry bundles (leaves, uint16-length-prefixed)
//
// Full tiles never change and are cached for a year; partial tiles and the
// checkpoint for a few seconds. No key is needed: the log is public.
func Handler(st LogStore, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		ctx := r.Context()
		p := strings.TrimPrefix(r.URL.Path, "/")
		if p == "checkpoint" {
			msg, err := st.LatestCheckpoint(ctx)
			if err != nil {
				log.ErrorContext(ctx, "log checkpoint", "err", err)
				http.Error(w, "internal error", http.StatusInternalServerError)
				return
			}
			if msg == nil {
				http.Error(w, "no checkpoint signed yet", http.StatusNotFound)
				return
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Cache-Control", "no-cache")
			w.Write(msg)
			return
		}
		level, n, width, err := ParseTilePath(p)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		size, err := st.TreeSize(ctx)
		if err != nil {
			log.ErrorContext(ctx, "log tree size", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		// Leaves the tile needs: (n*256 + width) * 256^level.
		need := n*TileWidth + int64(width)
		for range max(level, 0) {
			need *= TileWidth
		}
		if need > size {
			http.NotFound(w, r)
			return
		}
		var data []byte
		if level < 0 {
			data, err = entryBundle(ctx, st, n*TileWidth, width)
		} else {
			data, err = tlog.ReadTileData(tlog.Tile{H: TileHeight, L: level, N: n, W: width}, Reader(ctx, st))
		}
		if err != nil {
			log.ErrorContext(ctx, "log tile", "path", p, "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		if width == TileWidth {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "public, max-age=10")
		}
		w.Write(data)
	})
}

// entryBundle returns the leaves of entries first+1 … first+width, each
// prefixed by its length as a big-endian uint16.
func entryBundle(ctx context.Context, st Store, first int64, width int) ([]byte, error) {
	es, err := st.ListAudit(ctx, first, width)
	if err != nil {
		return nil, err
	}
	var out []byte
	for i, e := range es {
		if e.Seq != first+int64(i)+1 {
			// A missing row: serve the gap so verifiers name it.
			break
		}
		leaf, err := EncodeLeaf(e)
		if err != nil {
			return nil, err
		}
		out = binary.BigEndian.AppendUint16(out, uint16(len(leaf)))
		out = append(out, leaf...)
	}
	return out, nil
}

// ParseEntryBundle splits an entry bundle into its entries.
func ParseEntryBundle(data []byte) ([][]byte, error) {
	var out [][]byte
	for len(data) > 0 {
		if len(data) < 2 {
			return nil, fmt.Errorf("entry bundle: truncated length")
		}
		n := int(binary.BigEndian.Uint16(data))
		if len(data) < 2+n {
			return nil, fmt.Errorf("entry bundle: truncated entry %d", len(out))
		}
		out = append(out, data[2:2+n])
		data = data[2+n:]
	}
	return out, nil
}
