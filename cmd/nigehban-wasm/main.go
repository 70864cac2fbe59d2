//go:build js && wasm

// Command nigehban-wasm is the WebAssembly the /protect page runs in a Web
// Worker: internal/protect/hasher exposed to JavaScript as globalThis.nigehban.
// It is built by `go generate ./internal/protect` (GOOS=js GOARCH=wasm,
// -trimpath, -ldflags=-s -w, -buildvcs=false: reproducible) and the result
// is committed and embedded in the nigehban binary.
//
// Every function takes and returns plain values; errors come back as
// {error: "…"}. Nothing here touches the network.
package main

import (
	"encoding/json"
	"syscall/js"

	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/protect/hasher"
	"github.com/nigehban/nigehban/internal/protect/pow"
)

func bytesOf(v js.Value) []byte {
	b := make([]byte, v.Get("length").Int())
	js.CopyBytesToGo(b, v)
	return b
}

// toJS turns a Go value into a JavaScript object through JSON.
func toJS(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return errJS(err)
	}
	return js.Global().Get("JSON").Call("parse", string(b))
}

func errJS(err error) any { return map[string]any{"error": err.Error()} }

func main() {
	fh := pdq.NewHasher()
	var rgb []byte
	digests := map[int]*hasher.Digest{}
	next := 0
	api := map[string]any{
		// hashImage(Uint8Array, withSHA256) → {format,width,height,pdq,quality,dihedral,md5,sha256}
		"hashImage": js.FuncOf(func(_ js.Value, a []js.Value) any {
			im, err := hasher.HashImage(bytesOf(a[0]), a[1].Truthy())
			if err != nil {
				return errJS(err)
			}
			return toJS(im)
		}),
		// hashFrame(Uint8Array rgba, width, height) → {pdq, quality}
		"hashFrame": js.FuncOf(func(_ js.Value, a []js.Value) any {
			var f hasher.Frame
			var err error
			f, rgb, err = hasher.HashFrameRGBA(fh, bytesOf(a[0]), a[1].Int(), a[2].Int(), rgb)
			if err != nil {
				return errJS(err)
			}
			return toJS(f)
		}),
		// hashFrameYUV(Uint8Array planes, layoutJSON) → {pdq, quality}: a
		// frame in its decoded planes (hasher.YUVFrame as JSON), converted
		// to RGB as ffmpeg converts it for `nigehban hash`.
		"hashFrameYUV": js.FuncOf(func(_ js.Value, a []js.Value) any {
			var lay hasher.YUVFrame
			if err := json.Unmarshal([]byte(a[1].String()), &lay); err != nil {
				return errJS(err)
			}
			var f hasher.Frame
			var err error
			f, rgb, err = hasher.HashFrameYUV(fh, bytesOf(a[0]), lay, rgb)
			if err != nil {
				return errJS(err)
			}
			return toJS(f)
		}),
		// videoTiming(Uint8Array moov) → {frames, fps, frame_mod}
		"videoTiming": js.FuncOf(func(_ js.Value, a []js.Value) any {
			t, err := hasher.MP4Timing(bytesOf(a[0]))
			if err != nil {
				return errJS(err)
			}
			return toJS(t)
		}),
		// digestNew() → id; digestUpdate(id, Uint8Array); digestSum(id) → {md5, sha256}
		"digestNew": js.FuncOf(func(js.Value, []js.Value) any {
			next++
			digests[next] = hasher.NewDigest()
			return next
		}),
		"digestUpdate": js.FuncOf(func(_ js.Value, a []js.Value) any {
			if d := digests[a[0].Int()]; d != nil {
				d.Write(bytesOf(a[1]))
			}
			return nil
		}),
		"digestSum": js.FuncOf(func(_ js.Value, a []js.Value) any {
			d := digests[a[0].Int()]
			if d == nil {
				return nil
			}
			delete(digests, a[0].Int())
			m, s := d.Sums()
			return map[string]any{"md5": m, "sha256": s}
		}),
		// solve(challenge, difficulty) → nonce: the submission's proof of work.
		"solve": js.FuncOf(func(_ js.Value, a []js.Value) any {
			return pow.Solve(a[0].String(), a[1].Int())
		}),
	}
	js.Global().Set("nigehban", js.ValueOf(api))
	select {} // serve calls until the worker ends
}
