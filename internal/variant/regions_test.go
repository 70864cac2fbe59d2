package variant

import (
	"image"
	"image/color"
	"math/rand/v2"
	"testing"
)

func TestBarCuts(t *testing.T) {
	b := image.Rect(0, 0, 1000, 600)
	tests := []struct {
		name string
		r    image.Rectangle
		want []image.Rectangle // as found, symmetric, x axis alone, y axis alone
	}{
		{"pillarbox", image.Rect(120, 0, 880, 600), []image.Rectangle{
			image.Rect(120, 0, 880, 600), image.Rect(120, 0, 880, 600), image.Rect(120, 0, 880, 600), b}},
		{"bar merged with the picture's dark edge", image.Rect(120, 0, 800, 600), []image.Rectangle{
			image.Rect(120, 0, 800, 600), image.Rect(120, 0, 880, 600), image.Rect(120, 0, 880, 600), b}},
		{"one bar found, mirrored", image.Rect(0, 0, 880, 600), []image.Rectangle{
			image.Rect(0, 0, 880, 600), image.Rect(120, 0, 880, 600), image.Rect(120, 0, 880, 600), b}},
		{"pillarbox with a dark sky and floor cut too", image.Rect(120, 100, 880, 520), []image.Rectangle{
			image.Rect(120, 100, 880, 520), image.Rect(120, 80, 880, 520), image.Rect(120, 0, 880, 600), image.Rect(0, 80, 1000, 520)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := barCuts(tt.r, b)
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("cut %d: got %v, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// busy returns a w×h image covered by random overlapping discs:
// surroundings with many edges, none of them long and straight.
func busy(w, h int, seed uint64) *image.RGBA {
	rng := rand.New(rand.NewPCG(seed, 1))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for range w * h / 40 {
		cx, cy, rad := rng.IntN(w), rng.IntN(h), 3+rng.IntN(10)
		c := color.RGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255}
		for y := max(cy-rad, 0); y < min(cy+rad, h); y++ {
			for x := max(cx-rad, 0); x < min(cx+rad, w); x++ {
				if (x-cx)*(x-cx)+(y-cy)*(y-cy) <= rad*rad {
					img.SetRGBA(x, y, c)
				}
			}
		}
	}
	return img
}

func TestFramed(t *testing.T) {
	tests := []struct {
		name   string
		w, h   int
		pasted image.Rectangle // empty: nothing pasted
	}{
		{"picture in a collage", 900, 700, image.Rect(131, 97, 701, 547)},
		{"picture in a small screenshot", 300, 240, image.Rect(40, 30, 250, 200)},
		{"picture touching the top", 1000, 800, image.Rect(200, 0, 900, 600)},
		{"nothing pasted", 800, 600, image.Rectangle{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := busy(tt.w, tt.h, uint64(tt.w))
			r := tt.pasted
			for y := r.Min.Y; y < r.Max.Y; y++ {
				for x := r.Min.X; x < r.Max.X; x++ {
					// A smooth picture: a diagonal gradient.
					v := uint8(40 + 160*(x-r.Min.X+y-r.Min.Y)/(r.Dx()+r.Dy()))
					img.SetRGBA(x, y, color.RGBA{v, v / 2, 255 - v, 255})
				}
			}
			got := sample(img, detectMax).framed(img)
			if r.Empty() {
				if len(got) != 0 {
					t.Errorf("found %v in surroundings alone", got)
				}
				return
			}
			if len(got) == 0 {
				t.Fatalf("found nothing, want %v", r)
			}
			if g := got[0]; abs(g.Min.X-r.Min.X) > 1 || abs(g.Max.X-r.Max.X) > 1 || abs(g.Min.Y-r.Min.Y) > 1 || abs(g.Max.Y-r.Max.Y) > 1 {
				t.Errorf("best rectangle %v, want %v (±1)", g, r)
			}
		})
	}
}
