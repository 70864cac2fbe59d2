package bank

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/nigehban/nigehban/internal/signal"
)

// Type is the kind of hash a signal holds: the one vocabulary of
// internal/signal.
type Type = signal.Type

// Signal types.
const (
	MD5    = signal.MD5
	SHA1   = signal.SHA1
	SHA256 = signal.SHA256
	PDQ    = signal.PDQ
	VPDQ   = signal.VPDQ
)

// Types lists every Type.
var Types = signal.Types

// MaxVPDQLen bounds a vPDQ value.
const MaxVPDQLen = signal.MaxVPDQLen

// ParseType parses a type name (case-insensitive, with the exchange formats'
// aliases).
func ParseType(s string) (Type, error) {
	t, err := signal.ParseType(s)
	if err != nil {
		return "", invalid(err)
	}
	return t, nil
}

// invalidError is an error from internal/signal that also wraps ErrInvalid,
// so callers of this package branch on one sentinel.
type invalidError struct{ err error }

func (e invalidError) Error() string   { return e.err.Error() }
func (e invalidError) Unwrap() []error { return []error{e.err, ErrInvalid} }

func invalid(err error) error { return invalidError{err} }

// NormalizeValue validates v as a value of type t and returns its canonical
// form (internal/signal.Normalize); errors wrap ErrInvalid.
func NormalizeValue(t Type, v string) (string, error) {
	n, err := signal.Normalize(t, v)
	if err != nil {
		return "", invalid(err)
	}
	return n, nil
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
	if s, ok := encodeExtraPlain(m); ok {
		return s
	}
	b, _ := json.Marshal(m) // map[string]string: cannot fail
	return string(b)
}

// encodeExtraPlain is json.Marshal(m) for the common case where no key
// or value needs escaping (printable ASCII without '"', '\\', '<', '>' and
// '&', which encoding/json escapes): keys in byte order, written as they
// are. It is several times faster, which counts in an exchange sync (one
// object per entry). ok is false if something needs escaping.
func encodeExtraPlain(m map[string]string) (s string, ok bool) {
	var buf [8]string
	keys := buf[:0]
	n := 2
	for k, v := range m {
		if !plainJSON(k) || !plainJSON(v) {
			return "", false
		}
		keys = append(keys, k)
		n += len(k) + len(v) + 6
	}
	slices.Sort(keys)
	b := make([]byte, 0, n)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, k...)
		b = append(b, `":"`...)
		b = append(b, m[k]...)
		b = append(b, '"')
	}
	b = append(b, '}')
	return string(b), true
}

// plainJSON reports whether encoding/json writes s between quotes as it is.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
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
	Excluded  int `json:"excluded"`  // on the bank's exclusion list (see Exclusion)
}
