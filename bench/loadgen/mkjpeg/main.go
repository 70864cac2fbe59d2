// Command mkjpeg writes a ~1-megapixel JPEG (1280×800) resampled from a
// benign photo, the upload the serve load test sends.
package main

import (
	"image"
	"image/jpeg"
	"os"

	_ "image/png"
)

func main() {
	f, err := os.Open(os.Args[1])
	if err != nil {
		panic(err)
	}
	src, _, err := image.Decode(f)
	if err != nil {
		panic(err)
	}
	b := src.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, 1280, 800))
	for y := range 800 {
		for x := range 1280 {
			dst.Set(x, y, src.At(b.Min.X+x*b.Dx()/1280, b.Min.Y+y*b.Dy()/800))
		}
	}
	out, err := os.Create(os.Args[2])
	if err != nil {
		panic(err)
	}
	if err := jpeg.Encode(out, dst, &jpeg.Options{Quality: 90}); err != nil {
		panic(err)
	}
	out.Close()
}
