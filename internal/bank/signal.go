package bank

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
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

// Types lists every Type.
var Types = []Type{MD5, SHA1, SHA256, PDQ, VPDQ}

// MaxVPDQLen bounds a vPDQ value: a one-hour video at one hash per second
// is about 300 KB; this leaves room for long recordings.
const MaxVPDQLen = 8 << 20

// hexLen is the hex length of each fixed-size type.
var hexLen = map[Type]int{MD5: 32, SHA1: 40, SHA256: 64, PDQ: pdq.HexLen}

// ParseType parses a type name (case-insensitive).
func ParseType(s string) (Type, error) {
	t := Type(strings.ToLower(strings.TrimSpace(s)))
	if t.Valid() {
		return t, nil
	}
	return "", fmt.Errorf("%w signal type %q: want one of %v", ErrInvalid, s, Types)
}

// Valid reports whether t is one of Types.
func (t Type) Valid() bool {
	_, ok := hexLen[t]
	return ok || t == VPDQ
}

// HexLen returns the length in hex digits of a value of type t, or 0 for
// vPDQ, whose values vary in length.
func (t Type) HexLen() int { return hexLen[t] }

// NormalizeValue validates v as a value of type t and returns its canonical
// form: lower-case hex for md5, sha1, sha256 and pdq (surrounding space
// trimmed), the trimmed text for vpdq.
func NormalizeValue(t Type, v string) (string, error) {
	v = strings.TrimSpace(v)
	switch t {
	case PDQ:
		h, err := pdq.ParseHex(v)
		if err != nil {
			return "", fmt.Errorf("%w pdq value: %v", ErrInvalid, err)
		}
		return h.String(), nil
	case MD5, SHA1, SHA256:
		if len(v) != hexLen[t] {
			return "", fmt.Errorf("%w %s value: want %d hex digits, got %d characters", ErrInvalid, t, hexLen[t], len(v))
		}
		for i := 0; i < len(v); i++ {
			if !isHex(v[i]) {
				return "", fmt.Errorf("%w %s value: %q is not a hex digit", ErrInvalid, t, v[i])
			}
		}
		return strings.ToLower(v), nil
	case VPDQ:
		switch {
		case v == "":
			return "", fmt.Errorf("%w vpdq value: empty", ErrInvalid)
		case len(v) > MaxVPDQLen:
			return "", fmt.Errorf("%w vpdq value: %d bytes, at most %d", ErrInvalid, len(v), MaxVPDQLen)
		case !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0:
			return "", fmt.Errorf("%w vpdq value: not valid text", ErrInvalid)
		}
		return v, nil
	}
	return "", fmt.Errorf("%w signal type %q: want one of %v", ErrInvalid, t, Types)
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// EncodeValue returns the storage form of a normalised value: key is what
// stores index and compare for uniqueness (the raw bytes of a hex value, or
// the SHA-256 of a vPDQ value, so every key is at most 32 bytes); body is the
// vPDQ text itself and empty for other types. Engines store both and give
// them back to DecodeValue.
func EncodeValue(t Type, v string) (key []byte, body string) {
	if t == VPDQ {
		sum := sha256.Sum256([]byte(v))
		return sum[:], v
	}
	key, err := hex.DecodeString(v)
	if err != nil {
		// Values reach engines normalised; this is a programming error, and a
		// key that cannot collide with a real one is safer than a panic.
		sum := sha256.Sum256([]byte("invalid:" + v))
		return sum[:], ""
	}
	return key, ""
}

// DecodeValue is the inverse of EncodeValue.
func DecodeValue(t Type, key []byte, body string) string {
	if t == VPDQ {
		return body
	}
	return hex.EncodeToString(key)
}

// Signal is one hash in one bank, with its provenance.
type Signal struct {
	ID       int64  `json:"id"`
	Bank     string `json:"bank"`
	Type     Type   `json:"type"`
	Value    string `json:"value"`
	Category string `json:"category,omitempty"`
	Source   string `json:"source,omitempty"`
	Note     string `json:"note,omitempty"`
	// Extra keeps fields a list format carries beyond the standard ones
	// (VICS MediaID and Series, unknown CSV columns), so that exporting a
	// bank in the format it came from loses nothing.
	Extra map[string]string `json:"extra,omitempty"`
	// Quality is the hasher's quality score (PDQ 0..100), -1 when unknown.
	Quality       int        `json:"quality"`
	AddedAt       time.Time  `json:"added_at"`
	AddedBy       string     `json:"added_by"`
	RemovedAt     *time.Time `json:"removed_at,omitempty"`
	RemovedBy     string     `json:"removed_by,omitempty"`
	RemovedReason string     `json:"removed_reason,omitempty"`
}

// Active reports whether s has not been removed.
func (s *Signal) Active() bool { return s.RemovedAt == nil }

// Normalize validates the caller-set fields of s and puts its value in
// canonical form.
func (s *Signal) Normalize() error {
	t, err := ParseType(string(s.Type))
	if err != nil {
		return err
	}
	s.Type = t
	if s.Value, err = NormalizeValue(t, s.Value); err != nil {
		return err
	}
	if s.Quality < -1 || s.Quality > 100 {
		return fmt.Errorf("%w quality %d: want 0..100, or -1 for unknown", ErrInvalid, s.Quality)
	}
	if err := validateText("category", s.Category, MaxCategoryLen, false); err != nil {
		return err
	}
	if err := validateText("source", s.Source, MaxSourceLen, false); err != nil {
		return err
	}
	if err := validateText("note", s.Note, MaxNoteLen, true); err != nil {
		return err
	}
	return validateExtra(s.Extra)
}

func validateExtra(m map[string]string) error {
	if len(m) > MaxExtraKeys {
		return fmt.Errorf("%w extra fields: %d, at most %d", ErrInvalid, len(m), MaxExtraKeys)
	}
	n := 0
	for k, v := range m {
		n += len(k) + len(v)
		if k == "" {
			return fmt.Errorf("%w extra field: empty name", ErrInvalid)
		}
		if err := validateText("extra field name", k, MaxCategoryLen, false); err != nil {
			return err
		}
		if err := validateText("extra field "+k, v, MaxExtraLen, true); err != nil {
			return err
		}
	}
	if n > MaxExtraLen {
		return fmt.Errorf("%w extra fields: %d bytes, at most %d", ErrInvalid, n, MaxExtraLen)
	}
	return nil
}

// EncodeExtra returns the storage form of Signal.Extra: a JSON object, or ""
// when there is nothing to keep.
func EncodeExtra(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	b, _ := json.Marshal(m) // map[string]string: cannot fail
	return string(b)
}

// DecodeExtra is the inverse of EncodeExtra.
func DecodeExtra(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("decode extra fields: %w", err)
	}
	return m, nil
}

// SignalRef names a signal to remove: by ID, or by Type and Value among the
// active signals of a bank.
type SignalRef struct {
	ID    int64
	Type  Type
	Value string
}

func (r SignalRef) String() string {
	if r.ID != 0 {
		return fmt.Sprintf("signal %d", r.ID)
	}
	return fmt.Sprintf("%s signal %s", r.Type, r.Value)
}

// SignalQuery selects signals to scan. The zero value selects every active
// signal of every bank, in ID order.
type SignalQuery struct {
	Banks          []string // bank names; empty means all banks
	Types          []Type   // empty means all types
	IncludeRemoved bool     // also removed signals
	EnabledOnly    bool     // only banks that are enabled
	AfterID        int64    // only IDs greater than this (paging)
	BeforeID       int64    // only IDs less than this; 0 means no bound (parallel scans)
	Limit          int      // at most this many; 0 means no limit
	// KeysOnly fills only ID, Bank, Type and Value (Quality is -1, the rest
	// zero), which makes the scans that build an index several times
	// cheaper.
	KeysOnly bool
}

// AddCounts is the outcome of adding a batch of signals.
type AddCounts struct {
	Added     int `json:"added"`
	Unchanged int `json:"unchanged"` // already active in the bank, or repeated within the batch
}
