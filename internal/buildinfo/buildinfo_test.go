package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"

	"github.com/nigehban/nigehban/internal/media"
)

func TestFromBuildInfo(t *testing.T) {
	stamped := &debug.BuildInfo{
		GoVersion: "go1.26.0",
		Main:      debug.Module{Path: "github.com/nigehban/nigehban", Version: "v0.3.1-0.20261201192254-36c895b1c2d3+dirty"},
		Settings: []debug.BuildSetting{
			{Key: "CGO_ENABLED", Value: "1"},
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "36c895b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7"},
			{Key: "vcs.time", Value: "2026-12-01T19:22:54Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	tests := []struct {
		name     string
		bi       *debug.BuildInfo
		ok       bool
		override string
		turbo    bool
		want     Info
		stamp    Stamp
		str      string
	}{
		{
			name: "stamped cgo build", bi: stamped, ok: true, turbo: true,
			want: Info{Module: "github.com/nigehban/nigehban", Version: "v0.3.1-0.20261201192254-36c895b1c2d3+dirty",
				Revision: "36c895b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7", Time: "2026-12-01T19:22:54Z", Modified: true,
				Go: "go1.26.0", JPEGDecoder: DecoderTurbo},
			stamp: Stamp{Version: "v0.3.1-0.20261201192254-36c895b1c2d3+dirty",
				Revision: "36c895b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7", JPEGDecoder: DecoderTurbo},
			str: "v0.3.1-0.20261201192254-36c895b1c2d3+dirty (revision 36c895b1c2d3, modified), go1.26.0, JPEG decoder libjpeg-turbo",
		},
		{
			name: "override, pure Go", bi: stamped, ok: true, override: "v1.0.0",
			want: Info{Module: "github.com/nigehban/nigehban", Version: "v1.0.0",
				Revision: "36c895b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7", Time: "2026-12-01T19:22:54Z", Modified: true,
				Go: "go1.26.0", JPEGDecoder: DecoderGo},
			stamp: Stamp{Version: "v1.0.0+dirty", Revision: "36c895b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7", JPEGDecoder: DecoderGo},
			str:   "v1.0.0 (revision 36c895b1c2d3, modified), go1.26.0, JPEG decoder go",
		},
		{
			name: "no VCS stamp", ok: true, turbo: true,
			bi:    &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/nigehban/nigehban", Version: "(devel)"}},
			want:  Info{Module: "github.com/nigehban/nigehban", Version: "(devel)", Go: "go1.26.0", JPEGDecoder: DecoderTurbo},
			stamp: Stamp{Version: "(devel)", JPEGDecoder: DecoderTurbo},
			str:   "(devel), go1.26.0, JPEG decoder libjpeg-turbo",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := fromBuildInfo(tc.bi, tc.ok, tc.override, tc.turbo)
			if got != tc.want {
				t.Errorf("Info = %+v\nwant   %+v", got, tc.want)
			}
			if s := got.Stamp(); s != tc.stamp {
				t.Errorf("Stamp = %+v, want %+v", s, tc.stamp)
			}
			if s := got.String(); s != tc.str {
				t.Errorf("String = %q\nwant     %q", s, tc.str)
			}
		})
	}
}

// TestGetDecoder checks that the running binary reports the decoder that
// media really compiled in.
func TestGetDecoder(t *testing.T) {
	in := Get()
	want := DecoderGo
	if media.TurboJPEG {
		want = DecoderTurbo
	}
	if in.JPEGDecoder != want {
		t.Errorf("JPEGDecoder = %q, want %q (media.TurboJPEG=%v)", in.JPEGDecoder, want, media.TurboJPEG)
	}
	if in.Go == "" || in.Module == "" || in.Version == "" {
		t.Errorf("incomplete: %+v", in)
	}
	if !strings.HasPrefix(in.Go, "go") {
		t.Errorf("Go = %q", in.Go)
	}
}
