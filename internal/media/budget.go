package media

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"sync"

	"golang.org/x/sync/semaphore"
)

// Memory a decode may use is bounded twice, in bytes rather than pixels:
//
//   - per image by Limits.MaxDecodeBytes: a 0.5 MB TIFF can declare an
//     8192×8192 16-bit RGBA raster (512 MiB, and the TIFF decoder holds the
//     inflated strips beside it), which the pixel limit alone lets through;
//   - per process by the decode budget: every decode reserves its estimate
//     before allocating and gives it back when it returns, so N parallel
//     uploads or scan workers cannot add up to more than the budget, however
//     many arrive at once. Decodes wait for room; one larger than the whole
//     budget runs alone.
//
// Estimates come from the header (dimensions and colour model) before any
// pixel is allocated; they are upper bounds of the raster plus what the
// format's decoder keeps beside it.

// DefaultDecodeBudget is the process-wide decode budget when SetDecodeBudget
// is not called: room for four decodes at the default per-image limit.
const DefaultDecodeBudget = 1 << 30

var budget = struct {
	sync.Mutex
	size int64
	sem  *semaphore.Weighted
}{size: DefaultDecodeBudget, sem: semaphore.NewWeighted(DefaultDecodeBudget)}

// SetDecodeBudget sets the process-wide decode budget in bytes (≤ 0: the
// default). Call it at start-up, before decoding; decodes already waiting
// keep the old budget.
func SetDecodeBudget(n int64) {
	if n <= 0 {
		n = DefaultDecodeBudget
	}
	budget.Lock()
	defer budget.Unlock()
	budget.size, budget.sem = n, semaphore.NewWeighted(n)
}

// reserve checks an estimate against the per-image limit and takes it from
// the process budget; the caller must call release when the decode is done.
func reserve(ctx context.Context, f Format, w, h int, est int64, lim Limits) (release func(), err error) {
	if est > lim.MaxDecodeBytes {
		return nil, fmt.Errorf("decode %s: %d×%d needs about %d MiB to decode, over the %d MiB limit: %w",
			f, w, h, est>>20, lim.MaxDecodeBytes>>20, ErrTooLarge)
	}
	budget.Lock()
	sem, size := budget.sem, budget.size
	budget.Unlock()
	n := min(max(est, 1), size)
	if err := sem.Acquire(ctx, n); err != nil {
		return nil, fmt.Errorf("decode %s: waiting for decode memory: %w", f, err)
	}
	return func() { sem.Release(n) }, nil
}

// bytesPerPixel is the size of one pixel of the raster a standard-library
// decoder returns for a colour model.
func bytesPerPixel(m color.Model) int64 {
	switch m {
	case color.GrayModel, color.AlphaModel:
		return 1
	case color.Gray16Model, color.Alpha16Model:
		return 2
	case color.YCbCrModel:
		return 3 // 4:4:4 at worst
	case color.RGBAModel, color.NRGBAModel, color.CMYKModel, color.NYCbCrAModel:
		return 4
	case color.RGBA64Model, color.NRGBA64Model:
		return 8
	}
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	return 8 // unknown: assume the widest
}

// estimateStd is the decode memory of a standard-library decoder for cfg:
// the raster, and for TIFF the inflated strips held beside it.
func estimateStd(f Format, cfg image.Config) int64 {
	n := int64(cfg.Width) * int64(cfg.Height) * bytesPerPixel(cfg.ColorModel)
	if f == TIFF {
		n *= 2
	}
	return n
}
