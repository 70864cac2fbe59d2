package protect_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/draw"

	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/hashlist"
	"github.com/nigehban/nigehban/internal/media"
	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/protect"
	"github.com/nigehban/nigehban/internal/protect/hasher"
	"github.com/nigehban/nigehban/internal/store"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// pageSignals builds the signals the page submits for one image
// (protect.js hashImage): PDQ, the other dihedral hashes, the central crops
// linked to PDQ, MD5 and SHA-256.
func pageSignals(im hasher.Image) []protect.Signal {
	q := im.Quality
	sigs := []protect.Signal{{Type: "pdq", Value: im.PDQ, Quality: &q}}
	for _, d := range im.Dihedral[1:] {
		if d != im.PDQ {
			sigs = append(sigs, protect.Signal{Type: "pdq", Value: d, Quality: &q})
		}
	}
	for _, c := range im.Crops {
		cq := c.Quality
		sigs = append(sigs, protect.Signal{Type: "pdq", Value: c.PDQ, Quality: &cq, Variant: c.Name, Of: im.PDQ})
	}
	return append(sigs, protect.Signal{Type: "md5", Value: im.MD5}, protect.Signal{Type: "sha256", Value: im.SHA256})
}

// cropped returns a JPEG of the image with 5 % cut off each border.
func cropped(t *testing.T, data []byte) []byte {
	t.Helper()
	d, err := media.DecodeImage(data, media.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	b := d.Image.Bounds()
	dx, dy := b.Dx()*5/100, b.Dy()*5/100
	sub := d.Image.(interface {
		SubImage(image.Rectangle) image.Image
	}).SubImage(image.Rect(b.Min.X+dx, b.Min.Y+dy, b.Max.X-dx, b.Max.Y-dy))
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, sub, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestCropVariants: the page's central crops go into the victim bank as
// PDQ signals linked to their parent, and withdrawal removes them with the
// rest. A copy with 5 % cropped off each border matches the bank (within
// PDQ's threshold; its plain hash does not) for every photo of at least
// 512 px a side (a 12 MP phone photo decoded at 1/4 among them, and two
// benign photos upscaled to 800 px); the 256-px photos of the reference set
// are hashed too and only reported (PDQ of their ~230-px crops moves more:
// 3 of 6 matched when this was written).
func TestCropVariants(t *testing.T) {
	type photo struct {
		name  string
		data  []byte
		large bool
	}
	read := func(f string) []byte {
		data, err := os.ReadFile(filepath.Join(testdata, "pdq", "images", f))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	photos := []photo{
		{"bridge-mods/aaa-orig.jpg", read("bridge-mods/aaa-orig.jpg"), true},
		{"exif-rotn/exif-rotn-1.jpg", read("exif-rotn/exif-rotn-1.jpg"), true},
		{"labelme-subset/q2821.jpg at 800 px", upscaled(t, read("labelme-subset/q2821.jpg"), 800), true},
		{"labelme-subset/q0746.jpg at 800 px", upscaled(t, read("labelme-subset/q0746.jpg"), 800), true},
	}
	for _, f := range []string{"q0004", "q0122", "q0291", "q0746", "q1050", "q2821"} {
		photos = append(photos, photo{"labelme-subset/" + f + ".jpg", read("labelme-subset/" + f + ".jpg"), false})
	}
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		svc, banks, ctx := testService(st), bank.NewService(st), context.Background()
		var receipts []protect.Receipt
		small, smallMatched := 0, 0
		for _, p := range photos {
			im, err := hasher.HashImage(p.data, true)
			if err != nil {
				t.Fatal(err)
			}
			if len(im.Crops) == 0 {
				t.Fatalf("%s: no central crops", p.name)
			}
			receipts = append(receipts, submit(t, svc, "192.0.2.7", pageSignals(im)...))
			copyHash, err := hasher.HashImage(cropped(t, p.data), false)
			if err != nil {
				t.Fatal(err)
			}
			query := pdq.MustParseHex(copyHash.PDQ)
			best, bestVia, linked := 256, "", 0
			err = banks.ScanSignals(ctx, bank.SignalQuery{Banks: []string{protect.VictimBank}, Types: []bank.Type{bank.PDQ}}, func(s *bank.Signal) error {
				if s.Extra[hashlist.ExtraVariantOf] == strings.ToLower(im.PDQ) {
					linked++
				}
				if d := pdq.Distance(query, pdq.MustParseHex(s.Value)); d < best {
					best, bestVia = d, s.Extra[hashlist.ExtraVariant]
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			plain := pdq.Distance(query, pdq.MustParseHex(im.PDQ))
			t.Logf("%-36s 5%%-cropped copy: distance %3d from the plain hash, %3d from the bank (via %q)", p.name, plain, best, bestVia)
			switch {
			case p.large && (best > pdq.DefaultThreshold || plain <= pdq.DefaultThreshold):
				t.Errorf("%s: 5%%-cropped copy at distance %d from the victim bank (%d from the plain hash), want ≤ %d (and the plain hash not enough)",
					p.name, best, plain, pdq.DefaultThreshold)
			case !p.large:
				small++
				if best <= pdq.DefaultThreshold {
					smallMatched++
				}
			}
			if linked != len(im.Crops) {
				t.Errorf("%s: %d signals linked to the parent, want %d", p.name, linked, len(im.Crops))
			}
		}
		t.Logf("256-px photos: %d of %d 5%%-cropped copies matched", smallMatched, small)
		for _, rc := range receipts {
			if _, err := svc.Withdraw(ctx, rc.Number, rc.PIN, "192.0.2.7"); err != nil {
				t.Fatal(err)
			}
		}
		left := 0
		if err := banks.ScanSignals(ctx, bank.SignalQuery{Banks: []string{protect.VictimBank}}, func(*bank.Signal) error { left++; return nil }); err != nil {
			t.Fatal(err)
		}
		if left != 0 {
			t.Errorf("%d signals left in the victim bank after withdrawal", left)
		}
	})
}

// upscaled returns a JPEG of the image scaled to side×side (bilinear).
func upscaled(t *testing.T, data []byte, side int) []byte {
	t.Helper()
	d, err := media.DecodeImage(data, media.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	dst := image.NewRGBA(image.Rect(0, 0, side, side))
	draw.ApproxBiLinear.Scale(dst, dst.Bounds(), d.Image, d.Image.Bounds(), draw.Src, nil)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestCropVariantRefused: a variant must be a known central crop of a PDQ
// hash submitted beside it.
func TestCropVariantRefused(t *testing.T) {
	storetest.ForEachStore(t, func(t *testing.T, st store.Store) {
		svc := testService(st)
		parent, crop := strings.Repeat("0f", 32), strings.Repeat("f0", 32)
		for _, tc := range []struct {
			name string
			sigs []protect.Signal
		}{
			{"parent missing", []protect.Signal{{Type: "pdq", Value: crop, Variant: "crop90", Of: parent}}},
			{"unknown crop", []protect.Signal{{Type: "pdq", Value: parent}, {Type: "pdq", Value: crop, Variant: "crop50", Of: parent}}},
			{"not PDQ", []protect.Signal{{Type: "pdq", Value: parent}, {Type: "md5", Value: strings.Repeat("ab", 16), Variant: "crop90", Of: parent}}},
			{"same crop twice", []protect.Signal{{Type: "pdq", Value: parent}, {Type: "pdq", Value: crop, Variant: "crop90", Of: parent},
				{Type: "pdq", Value: strings.Repeat("aa", 32), Variant: "crop90", Of: parent}}},
		} {
			ch := svc.Challenge()
			_, err := svc.Submit(context.Background(), protect.Submission{Signals: tc.sigs,
				Proof: protect.Proof{Challenge: ch.Challenge, Nonce: protect.Solve(ch.Challenge, ch.Difficulty)}}, "192.0.2.8")
			if !errors.Is(err, protect.ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", tc.name, err)
			}
		}
	})
}
