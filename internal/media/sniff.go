// Package media recognises files by their content and decodes images with
// limits that make hostile input (corrupt, truncated, decompression bombs)
// fail with a clear error instead of crashing or exhausting the machine.
//
// Type detection never trusts the file name: a JPEG renamed to .txt is still
// a JPEG, and the forensic scanner flags the mismatch.
package media

import (
	"bytes"
	"encoding/binary"
	"slices"
)

// Kind is the broad class of a file: what the hashing pipeline does with it.
type Kind string

// Kinds of files.
const (
	Image Kind = "image" // decoded and PDQ-hashed
	Video Kind = "video" // decoded by ffmpeg and vPDQ-hashed
	Other Kind = "other" // cryptographic hashes only
)

// Format names a container or file format, lower case ("jpeg", "mp4", "zip").
// The zero value means not recognised.
type Format string

// Recognised formats.
const (
	Unknown Format = ""
	JPEG    Format = "jpeg"
	PNG     Format = "png"
	GIF     Format = "gif"
	WebP    Format = "webp"
	BMP     Format = "bmp"
	TIFF    Format = "tiff"
	HEIC    Format = "heic"
	AVIF    Format = "avif"

	MP4      Format = "mp4"
	MOV      Format = "mov"
	ThreeGP  Format = "3gp"
	Matroska Format = "matroska"
	WebM     Format = "webm"
	AVI      Format = "avi"
	MPEGTS   Format = "mpegts"
	MPEGPS   Format = "mpegps"
	FLV      Format = "flv"
	ASF      Format = "asf"

	Zip    Format = "zip"
	Gzip   Format = "gzip"
	Tar    Format = "tar"
	SevenZ Format = "7z"
	RAR    Format = "rar"
	Bzip2  Format = "bzip2"
	XZ     Format = "xz"
	PDF    Format = "pdf"
	ELF    Format = "elf"
	PE     Format = "pe"
	SQLite Format = "sqlite"
)

// SniffLen is how many leading bytes Sniff needs to recognise every format
// (tar's magic sits at offset 257; MPEG-TS needs three packets).
const SniffLen = 1024

var extensions = map[Format][]string{
	JPEG: {".jpg", ".jpeg", ".jpe", ".jfif"},
	PNG:  {".png"},
	GIF:  {".gif"},
	WebP: {".webp"},
	BMP:  {".bmp", ".dib"},
	TIFF: {".tif", ".tiff"},
	HEIC: {".heic", ".heif"},
	AVIF: {".avif"},

	MP4:      {".mp4", ".m4v", ".m4a"},
	MOV:      {".mov", ".qt"},
	ThreeGP:  {".3gp", ".3g2"},
	Matroska: {".mkv", ".mka"},
	WebM:     {".webm"},
	AVI:      {".avi"},
	MPEGTS:   {".ts", ".mts", ".m2ts"},
	MPEGPS:   {".mpg", ".mpeg", ".vob"},
	FLV:      {".flv"},
	ASF:      {".wmv", ".asf", ".wma"},

	Zip:    {".zip", ".jar", ".docx", ".xlsx", ".pptx", ".odt", ".apk", ".epub"},
	Gzip:   {".gz", ".tgz"},
	Tar:    {".tar"},
	SevenZ: {".7z"},
	RAR:    {".rar"},
	Bzip2:  {".bz2", ".tbz2"},
	XZ:     {".xz", ".txz"},
	PDF:    {".pdf"},
	ELF:    {"", ".so", ".o"},
	PE:     {".exe", ".dll", ".sys"},
	SQLite: {".db", ".sqlite", ".sqlite3"},
}

// Extensions returns the usual file-name extensions of f (lower case, with
// the dot), or nil when f has none or is Unknown.
func Extensions(f Format) []string { return extensions[f] }

// ExtensionMatches reports whether ext (".JPG", ".jpeg", …) is a usual
// extension for f. Unknown formats match any extension: only content we
// recognise can contradict a name.
func ExtensionMatches(f Format, ext string) bool {
	exts, ok := extensions[f]
	if !ok {
		return true
	}
	return slices.Contains(exts, string(bytes.ToLower([]byte(ext))))
}

// KindOf returns the kind of a format.
func KindOf(f Format) Kind {
	switch f {
	case JPEG, PNG, GIF, WebP, BMP, TIFF, HEIC, AVIF:
		return Image
	case MP4, MOV, ThreeGP, Matroska, WebM, AVI, MPEGTS, MPEGPS, FLV, ASF:
		return Video
	}
	return Other
}

// Sniff recognises a format from the first bytes of a file (SniffLen bytes
// suffice; fewer may leave it Unknown) and returns its kind.
func Sniff(head []byte) (Kind, Format) {
	f := sniff(head)
	return KindOf(f), f
}

func sniff(b []byte) Format {
	has := func(off int, magic string) bool {
		return len(b) >= off+len(magic) && string(b[off:off+len(magic)]) == magic
	}
	switch {
	case has(0, "\xff\xd8\xff"):
		return JPEG
	case has(0, "\x89PNG\r\n\x1a\n"):
		return PNG
	case has(0, "GIF87a"), has(0, "GIF89a"):
		return GIF
	case has(0, "RIFF") && has(8, "WEBP"):
		return WebP
	case has(0, "RIFF") && has(8, "AVI "):
		return AVI
	case has(0, "II*\x00"), has(0, "MM\x00*"):
		return TIFF
	case has(0, "BM") && len(b) >= 18 && plausibleBMP(b):
		return BMP
	case has(4, "ftyp"):
		return sniffFtyp(b)
	case has(0, "\x1a\x45\xdf\xa3"):
		if bytes.Contains(b[:min(len(b), 64)], []byte("webm")) {
			return WebM
		}
		return Matroska
	case has(0, "FLV\x01"):
		return FLV
	case has(0, "\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
		return ASF
	case has(0, "\x00\x00\x01\xba"):
		return MPEGPS
	case len(b) >= 377 && b[0] == 0x47 && b[188] == 0x47 && b[376] == 0x47:
		return MPEGTS
	case has(0, "PK\x03\x04"), has(0, "PK\x05\x06"), has(0, "PK\x07\x08"):
		return Zip
	case has(0, "\x1f\x8b"):
		return Gzip
	case has(257, "ustar"):
		return Tar
	case has(0, "7z\xbc\xaf\x27\x1c"):
		return SevenZ
	case has(0, "Rar!\x1a\x07"):
		return RAR
	case has(0, "BZh"):
		return Bzip2
	case has(0, "\xfd7zXZ\x00"):
		return XZ
	case has(0, "%PDF-"):
		return PDF
	case has(0, "\x7fELF"):
		return ELF
	case has(0, "MZ"):
		return PE
	case has(0, "SQLite format 3\x00"):
		return SQLite
	}
	return Unknown
}

// plausibleBMP checks the DIB header size so that any text starting "BM" is
// not taken for a bitmap.
func plausibleBMP(b []byte) bool {
	switch binary.LittleEndian.Uint32(b[14:18]) {
	case 12, 40, 52, 56, 64, 108, 124:
		return true
	}
	return false
}

func sniffFtyp(b []byte) Format {
	if len(b) < 12 {
		return Unknown
	}
	brands := [][]byte{b[8:12]}
	if size := int(binary.BigEndian.Uint32(b[0:4])); size > 16 && size <= len(b) {
		for off := 16; off+4 <= size; off += 4 {
			brands = append(brands, b[off:off+4])
		}
	}
	major := string(brands[0])
	switch {
	case major == "avif" || major == "avis":
		return AVIF
	case major == "heic" || major == "heix" || major == "heim" || major == "heis" || major == "mif1" || major == "msf1":
		for _, br := range brands {
			if string(br) == "avif" {
				return AVIF
			}
		}
		return HEIC
	case major == "qt  ":
		return MOV
	case major[:3] == "3gp" || major[:3] == "3g2":
		return ThreeGP
	}
	return MP4
}
