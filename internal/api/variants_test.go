package api

import (
	"bytes"
	"image"
	"image/draw"
	"image/jpeg"
	"image/png"
	"mime/multipart"
	"testing"

	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/store/storetest"
)

// letterboxed returns the bridge photo inside black bars above and below,
// as PNG.
func letterboxed(t *testing.T) []byte {
	t.Helper()
	src, err := jpeg.Decode(bytes.NewReader(mustRead(t, bridge+"aaa-orig.jpg")))
	if err != nil {
		t.Fatal(err)
	}
	b := src.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()*3/2))
	draw.Draw(dst, dst.Bounds(), image.Black, image.Point{}, draw.Src)
	draw.Draw(dst, b.Add(image.Pt(0, b.Dy()/4)), src, b.Min, draw.Src)
	var buf bytes.Buffer
	if err := png.Encode(&buf, dst); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestUploadVariants: a letterboxed copy of a banked photo does not match
// by its reference PDQ hash (variants none), matches by its border-trimmed
// variant by default (the server's set, borders), and the hit names the
// variant; an unknown set is a 400.
func TestUploadVariants(t *testing.T) {
	img := letterboxed(t)
	upload := func(set string) ([]byte, string) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, _ := mw.CreateFormFile("file", "boxed.png")
		fw.Write(img)
		if set != "" {
			mw.WriteField("variants", set)
		}
		mw.Close()
		return buf.Bytes(), mw.FormDataContentType()
	}
	storetest.ForEachEngine(t, func(t *testing.T, dsn string) {
		ts := startServer(t, dsn, Config{})
		curator, submitter := ts.key(t, apikey.Curator), ts.key(t, apikey.Submitter)
		ts.call(t, curator, "POST", "/v1/banks", map[string]any{"name": "ngo"}, "")
		if code, out := ts.call(t, curator, "POST", "/v1/banks/ngo/signals", map[string]any{"type": "pdq", "value": bridgePDQ}, ""); code != 200 {
			t.Fatalf("add signal: %d %v", code, out)
		}
		for _, tc := range []struct {
			set     string
			code    int
			variant string // of the one hit; "" for none
		}{{"none", 200, ""}, {"", 200, "borders"}, {"all", 200, "borders"}, {"sideways", 400, ""}} {
			body, ct := upload(tc.set)
			code, out := ts.call(t, submitter, "POST", "/v1/match", body, ct)
			if code != tc.code {
				t.Errorf("variants %q: %d %v", tc.set, code, out)
				continue
			}
			if code != 200 {
				continue
			}
			ms := out["matches"].([]any)
			switch {
			case tc.variant == "" && len(ms) != 0:
				t.Errorf("variants %q: reference PDQ matched a letterboxed copy: %v", tc.set, ms)
			case tc.variant != "" && (len(ms) != 1 || ms[0].(map[string]any)["variant"] != tc.variant):
				t.Errorf("variants %q: %v, want one hit by %s", tc.set, ms, tc.variant)
			}
		}
	})
}
