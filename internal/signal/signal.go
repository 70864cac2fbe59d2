// Package signal is the one vocabulary of signals: the hash types nigehban
// stores and matches, how their names are spelt in exchange formats, what a
// valid value looks like, its canonical form, and the default thresholds.
// Every package that reads, stores or matches a signal (hashlist, bank,
// match, scan, api) goes through here, so a value one of them accepts is a
// value all of them accept.
//
// It is a leaf: it imports only internal/pdq (for the PDQ hash type).
//
// # Values
//
//   - md5, sha1, sha256: lower-case hex of 32, 40 and 64 digits.
//   - pdq: 64 lower-case hex digits (256 bits), as every PDQ tool writes it.
//   - vpdq: the python-threatexchange compact form, a JSON list of strings
//     "PDQHEX,QUALITY,TIMESTAMP" — one per hashed frame: the frame's PDQ hash
//     (64 hex digits), its quality (integer 0..100) and its time in seconds
//     (a finite number ≥ 0). The list holds 1..MaxVPDQFrames items and at
//     most MaxVPDQLen bytes. Its canonical form has no white space between
//     tokens and lower-case hex; the numbers keep their spelling.
//
// Normalize trims surrounding white space and byte-order marks from every
// value before checking it.
package signal

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nigehban/nigehban/internal/pdq"
)

// Type is the kind of hash a signal holds.
type Type string

// Signal types.
const (
	MD5    Type = "md5"
	SHA1   Type = "sha1"
	SHA256 Type = "sha256"
	PDQ    Type = "pdq"
	VPDQ   Type = "vpdq"
)

// Types lists every Type, in the order help texts show them.
var Types = []Type{MD5, SHA1, SHA256, PDQ, VPDQ}

// Errors callers branch on (with errors.Is).
var (
	// ErrUnknownType: the name is no signal type or alias of one.
	ErrUnknownType = errors.New("unknown signal type")
	// ErrAmbiguousType: a bare value whose length fits more than one type.
	ErrAmbiguousType = errors.New("ambiguous signal type")
	// ErrBadValue: the value is not a valid value of its type.
	ErrBadValue = errors.New("invalid signal value")
	// ErrBadText: a text field holds bytes no store or format can keep.
	ErrBadText = errors.New("invalid text")
)

// Thresholds and limits.
const (
	// DefaultPDQThreshold is the Hamming distance at or below which two PDQ
	// hashes match: the reference's "confident match" distance.
	DefaultPDQThreshold = pdq.DefaultThreshold
	// MaxPDQThreshold is the largest meaningful PDQ threshold (every hash
	// is within 256 bits of every other).
	MaxPDQThreshold = 256

	// DefaultVPDQFrameThreshold is the PDQ distance at or below which two
	// video frames match (python-threatexchange's vPDQ default).
	DefaultVPDQFrameThreshold = 31
	// DefaultVPDQMinQuality: frames of lower quality are ignored on both
	// sides of a vPDQ comparison.
	DefaultVPDQMinQuality = 50
	// DefaultVPDQQueryPercent is the share of a query video's frames that
	// must match a stored video's frames.
	DefaultVPDQQueryPercent = 80.0
	// DefaultVPDQTargetPercent is the share of the stored video's frames
	// that must be matched (0: any part of a longer video matches).
	DefaultVPDQTargetPercent = 0.0

	// MaxVPDQLen bounds a vPDQ value in bytes: a one-hour video at one hash
	// per second is about 300 KB; this leaves room for long recordings.
	MaxVPDQLen = 8 << 20
	// MaxVPDQFrames bounds the frames one vPDQ value may hold.
	MaxVPDQFrames = 100_000
)

// ParseType returns the canonical type for a name. Besides the canonical
// names it accepts, case-insensitively and with surrounding space,
// "sha-1", "sha-256", ThreatExchange's "hash_md5", "hash_sha1",
// "hash_sha256", "hash_pdq", python-threatexchange's "video_md5" (an md5 of a
// video file), "photo_md5", "pdq_photo" and "video_vpdq".
func ParseType(s string) (Type, error) {
	switch Type(s) {
	case MD5, SHA1, SHA256, PDQ, VPDQ:
		return Type(s), nil // the common case, without allocating
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "md5", "hash_md5", "video_md5", "photo_md5":
		return MD5, nil
	case "sha1", "sha-1", "hash_sha1":
		return SHA1, nil
	case "sha256", "sha-256", "hash_sha256":
		return SHA256, nil
	case "pdq", "hash_pdq", "pdq_photo", "photo_pdq":
		return PDQ, nil
	case "vpdq", "video_vpdq", "hash_vpdq":
		return VPDQ, nil
	}
	return "", fmt.Errorf("%w %q: want one of %v", ErrUnknownType, truncate(s), Types)
}

// Valid reports whether t is one of Types (canonical spelling).
func (t Type) Valid() bool {
	switch t {
	case MD5, SHA1, SHA256, PDQ, VPDQ:
		return true
	}
	return false
}

// Digest reports whether t is a cryptographic digest, matched exactly.
func (t Type) Digest() bool { return t == MD5 || t == SHA1 || t == SHA256 }

// HexLen returns the length in hex digits of a value of type t, or 0 for
// vPDQ (whose values vary in length) and invalid types.
func (t Type) HexLen() int {
	switch t {
	case MD5:
		return 32
	case SHA1:
		return 40
	case SHA256, PDQ:
		return 64
	}
	return 0
}

// InferType returns the type a bare hex value must be by its length: md5
// for 32 digits, sha1 for 40. 64 digits fail with ErrAmbiguousType (sha256
// or pdq), anything else with ErrBadValue.
func InferType(value string) (Type, error) {
	v := Trim(value)
	switch len(v) {
	case 32:
		return MD5, nil
	case 40:
		return SHA1, nil
	case 64:
		return "", fmt.Errorf("%w: 64 hex digits is sha256 or pdq; give the type", ErrAmbiguousType)
	}
	return "", fmt.Errorf("%w: %d characters is no known hash length", ErrBadValue, len(v))
}

// Normalize validates v as a value of type t (canonical or alias name) and
// returns its canonical form (see the package doc).
func Normalize(t Type, v string) (string, error) {
	if !t.Valid() {
		var err error
		if t, err = ParseType(string(t)); err != nil {
			return "", err
		}
	}
	v = Trim(v)
	if v == "" {
		return "", fmt.Errorf("%w: empty %s value", ErrBadValue, t)
	}
	if t == VPDQ {
		return normalizeVPDQ(v)
	}
	n := t.HexLen()
	if len(v) != n {
		return "", fmt.Errorf("%w: %s wants %d hex digits, got %d characters", ErrBadValue, t, n, len(v))
	}
	lower := true
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			lower = false
		default:
			return "", fmt.Errorf("%w: %s: %q is not a hex digit", ErrBadValue, t, c)
		}
	}
	if !lower {
		v = strings.ToLower(v)
	}
	return v, nil
}

// Trim removes surrounding white space and byte-order marks (U+FEFF, which
// spreadsheet exports put at the start of a file and so of its first value).
func Trim(v string) string {
	if n := len(v); n == 0 || !tidy(v[0]) || !tidy(v[n-1]) {
		v = strings.TrimFunc(v, func(r rune) bool { return unicode.IsSpace(r) || r == '\ufeff' })
	}
	return v
}

// tidy reports whether an end byte of a value needs no trimming: printable
// ASCII other than space.
func tidy(c byte) bool { return c > ' ' && c < 0x7f }

// CheckText rejects what no store or exchange format can keep: invalid
// UTF-8, NUL and other control characters (C0, DEL and C1), except line
// breaks and tabs where multiline is set (notes), and text longer than max
// bytes (max ≤ 0: no bound). field names the text in the error, which wraps
// ErrBadText.
func CheckText(field, s string, max int, multiline bool) error {
	if max > 0 && len(s) > max {
		return fmt.Errorf("%w: %s of %d bytes, at most %d", ErrBadText, field, len(s), max)
	}
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				return fmt.Errorf("%w: %s: invalid UTF-8 at byte %d", ErrBadText, field, i)
			}
		}
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t' || r == '\r')) {
			return fmt.Errorf("%w: %s: control character %U at byte %d", ErrBadText, field, r, i)
		}
		i += size
	}
	return nil
}

// truncate shortens s for error messages, so a hostile value does not blow
// up logs.
func truncate(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
