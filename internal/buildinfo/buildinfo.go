// Package buildinfo says which build of Nigehban is running: the module
// version and VCS revision stamped by the Go toolchain, the Go version, and
// the JPEG decoder compiled in. The decoder matters for evidence: the
// libjpeg-turbo (cgo) and pure-Go builds decode low-quality JPEGs to
// slightly different pixels, so their PDQ hashes can differ by a few bits,
// and a record must say which build produced it. `nigehban version` prints
// Info; `hash` output and scan custody files carry it.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/nigehban/nigehban/internal/media"
)

// JPEG decoder names recorded in outputs.
const (
	// DecoderTurbo is libjpeg-turbo through cgo (scaled DCT decoding).
	DecoderTurbo = "libjpeg-turbo"
	// DecoderGo is the standard library's image/jpeg (CGO_ENABLED=0 builds).
	DecoderGo = "go"
)

// version overrides the module version when set with
// -ldflags "-X github.com/nigehban/nigehban/internal/buildinfo.version=v1.2.3".
var version string

// Info describes the running binary.
type Info struct {
	// Module is the main module path.
	Module string `json:"module"`
	// Version is the module version: a tag, a pseudo-version derived from
	// the VCS by the toolchain, or "(devel)" when nothing better is known.
	Version string `json:"version"`
	// Revision, Time and Modified come from the VCS stamp (go build
	// -buildvcs); empty when the binary was built outside a checkout
	// (go test, go run of a file list).
	Revision string `json:"revision,omitempty"`
	Time     string `json:"time,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	// Go is the toolchain version, runtime.Version().
	Go string `json:"go"`
	// JPEGDecoder is DecoderTurbo or DecoderGo.
	JPEGDecoder string `json:"jpeg_decoder"`
}

// Get returns the facts of the running binary, read once.
func Get() Info { return get() }

var get = sync.OnceValue(func() Info {
	bi, ok := debug.ReadBuildInfo()
	return fromBuildInfo(bi, ok, version, media.TurboJPEG)
})

// fromBuildInfo builds an Info from what the toolchain stamped; override,
// when not empty, replaces the module version.
func fromBuildInfo(bi *debug.BuildInfo, ok bool, override string, turbo bool) Info {
	in := Info{Module: "github.com/nigehban/nigehban", Version: "(devel)", Go: runtime.Version(), JPEGDecoder: DecoderGo}
	if turbo {
		in.JPEGDecoder = DecoderTurbo
	}
	if ok && bi != nil {
		if bi.Main.Path != "" {
			in.Module = bi.Main.Path
		}
		if bi.Main.Version != "" {
			in.Version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			in.Go = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				in.Revision = s.Value
			case "vcs.time":
				in.Time = s.Value
			case "vcs.modified":
				in.Modified = s.Value == "true"
			}
		}
	}
	if override != "" {
		in.Version = override
	}
	return in
}

// Stamp is the part of Info that travels with every output record: enough
// to tell which build (and which JPEG decoder) produced a hash.
type Stamp struct {
	// Version is Info.Version, with "+dirty" appended when the tree was
	// modified and the version does not already say so.
	Version string `json:"tool_version"`
	// Revision is the VCS revision, when known.
	Revision string `json:"tool_revision,omitempty"`
	// JPEGDecoder is DecoderTurbo or DecoderGo.
	JPEGDecoder string `json:"jpeg_decoder"`
}

// Stamp returns the record stamp of in.
func (in Info) Stamp() Stamp {
	v := in.Version
	if in.Modified && !strings.Contains(v, "dirty") {
		v += "+dirty"
	}
	return Stamp{Version: v, Revision: in.Revision, JPEGDecoder: in.JPEGDecoder}
}

// String is the one-line form printed by `nigehban --version`.
func (in Info) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", in.Version)
	if in.Revision != "" {
		rev := in.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		fmt.Fprintf(&b, " (revision %s", rev)
		if in.Modified {
			b.WriteString(", modified")
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, ", %s, JPEG decoder %s", in.Go, in.JPEGDecoder)
	return b.String()
}
