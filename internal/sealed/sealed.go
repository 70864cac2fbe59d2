// Package sealed encrypts personal data and credentials at rest with a key
// that lives outside the database.
//
// The key file is kept by the operator (a mounted secret, a file readable
// only by the service account), never in the store, so a copy of the
// database alone reveals no uploader, victim or child, and no exchange or
// CyberTipline password. The file holds one key per line, "ID:BASE64", where
// BASE64 is 32 random bytes; the last line is the current key, earlier lines
// are kept so values sealed before a rotation still open. `nigehban datakey
// generate` writes a new file or appends a new key to an existing one.
//
// A sealed value is XChaCha20-Poly1305 over the plaintext, bound to
// associated data the caller chooses (for example "uploader|hit|42"), so a
// ciphertext copied to another row or field does not open. Its layout:
//
//	"nS1" | len(keyID) (1 byte) | keyID | nonce (24 bytes) | ciphertext+tag
//
// Blind gives a keyed, deterministic digest of a value (HMAC-SHA-256 under a
// key derived from the current key and a purpose), for looking up equal
// values without storing them in clear: "other hits of this uploader".
package sealed

import (
	"bufio"
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// KeySize is the length of a data key in bytes.
const KeySize = 32

var magic = []byte("nS1")

// Sentinel errors callers branch on.
var (
	// ErrNoKey means no key ring is configured, so personal data cannot be
	// stored or shown; the caller should refuse with a message naming the
	// --data-key flag.
	ErrNoKey = errors.New("no data key configured (--data-key FILE or NIGEHBAN_DATA_KEY_FILE)")
	// ErrUnknownKey means the value was sealed with a key the ring lacks
	// (a rotated-out key was removed from the file).
	ErrUnknownKey = errors.New("value sealed with a key that is not in the key file")
	// ErrCorrupt means the value is not a sealed value, was changed, or
	// belongs to other associated data.
	ErrCorrupt = errors.New("sealed value is corrupt or does not belong here")
)

type key struct {
	id  string
	raw []byte
}

// Ring holds the data keys. The zero value and a nil *Ring have no key:
// Seal and Open return ErrNoKey.
type Ring struct {
	keys     []key // in file order; the last is current
	byID     map[string][]byte
	blindKey []byte // blind-index root key, derived from the first key
}

// NewRing builds a ring from raw keys given as ID → 32 bytes, in order; the
// last is current. IDs are 1–64 characters of [A-Za-z0-9._-].
func NewRing(ids []string, raws [][]byte) (*Ring, error) {
	if len(ids) != len(raws) || len(ids) == 0 {
		return nil, fmt.Errorf("sealed: want at least one key, and one id per key")
	}
	r := &Ring{byID: map[string][]byte{}}
	for i, id := range ids {
		if err := checkID(id); err != nil {
			return nil, err
		}
		if len(raws[i]) != KeySize {
			return nil, fmt.Errorf("sealed: key %q is %d bytes, want %d", id, len(raws[i]), KeySize)
		}
		if _, dup := r.byID[id]; dup {
			return nil, fmt.Errorf("sealed: key id %q appears twice", id)
		}
		raw := bytes.Clone(raws[i])
		r.keys = append(r.keys, key{id: id, raw: raw})
		r.byID[id] = raw
	}
	// Blind indexes must survive rotation (a lookup by an old uploader id
	// must still find old rows), so they derive from the first key, which
	// rotation never removes while old rows exist.
	bk, err := hkdf.Key(sha256.New, r.keys[0].raw, nil, "nigehban sealed blind index v1", KeySize)
	if err != nil {
		return nil, fmt.Errorf("sealed: derive blind key: %w", err)
	}
	r.blindKey = bk
	return r, nil
}

func checkID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("sealed: key id %q: want 1-64 characters", id)
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("sealed: key id %q: only letters, digits, '.', '_' and '-'", id)
		}
	}
	return nil
}

// Parse reads a key file's content. Blank lines and lines starting with '#'
// are ignored.
func Parse(r io.Reader) (*Ring, error) {
	var ids []string
	var raws [][]byte
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, b64, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("sealed: key file line %d: want ID:BASE64", n)
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
		if err != nil {
			return nil, fmt.Errorf("sealed: key file line %d: %w", n, err)
		}
		ids = append(ids, strings.TrimSpace(id))
		raws = append(raws, raw)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("sealed: read key file: %w", err)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("sealed: key file holds no key")
	}
	return NewRing(ids, raws)
}

// Load reads a key file. It refuses a file that group or others can read,
// as ssh does for private keys.
func Load(path string) (*Ring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sealed: open key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("sealed: stat key file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("sealed: key file %s is readable by others (mode %v): chmod 600 it", path, st.Mode().Perm())
	}
	r, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// FromEnv loads the ring named by path, or by $NIGEHBAN_DATA_KEY_FILE when
// path is empty. With neither it returns (nil, nil): a nil ring, whose Seal
// and Open return ErrNoKey.
func FromEnv(path string) (*Ring, error) {
	if path == "" {
		path = os.Getenv("NIGEHBAN_DATA_KEY_FILE")
	}
	if path == "" {
		return nil, nil
	}
	return Load(path)
}

// NewKeyLine returns a fresh key line "ID:BASE64" for a key file.
func NewKeyLine(id string) (string, error) {
	if err := checkID(id); err != nil {
		return "", err
	}
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("sealed: random key: %w", err)
	}
	return id + ":" + base64.StdEncoding.EncodeToString(raw), nil
}

// Configured reports whether r can seal and open.
func (r *Ring) Configured() bool { return r != nil && len(r.keys) > 0 }

// CurrentID is the id of the key new values are sealed with ("" without a
// key).
func (r *Ring) CurrentID() string {
	if !r.Configured() {
		return ""
	}
	return r.keys[len(r.keys)-1].id
}

// Seal encrypts plaintext bound to ad with the current key.
func (r *Ring) Seal(plaintext, ad []byte) ([]byte, error) {
	if !r.Configured() {
		return nil, ErrNoKey
	}
	k := r.keys[len(r.keys)-1]
	aead, err := chacha20poly1305.NewX(k.raw)
	if err != nil {
		return nil, fmt.Errorf("sealed: %w", err)
	}
	out := make([]byte, 0, len(magic)+1+len(k.id)+aead.NonceSize()+len(plaintext)+aead.Overhead())
	out = append(out, magic...)
	out = append(out, byte(len(k.id)))
	out = append(out, k.id...)
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("sealed: nonce: %w", err)
	}
	out = append(out, nonce...)
	return aead.Seal(out, nonce, plaintext, ad), nil
}

// Open decrypts a value made by Seal with the same ad.
func (r *Ring) Open(sealed, ad []byte) ([]byte, error) {
	if !r.Configured() {
		return nil, ErrNoKey
	}
	if len(sealed) < len(magic)+1 || !bytes.Equal(sealed[:len(magic)], magic) {
		return nil, ErrCorrupt
	}
	rest := sealed[len(magic):]
	n := int(rest[0])
	if len(rest) < 1+n {
		return nil, ErrCorrupt
	}
	id := string(rest[1 : 1+n])
	raw, ok := r.byID[id]
	if !ok {
		return nil, fmt.Errorf("%w (key id %q)", ErrUnknownKey, id)
	}
	rest = rest[1+n:]
	aead, err := chacha20poly1305.NewX(raw)
	if err != nil {
		return nil, fmt.Errorf("sealed: %w", err)
	}
	if len(rest) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrCorrupt
	}
	pt, err := aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():], ad)
	if err != nil {
		return nil, ErrCorrupt
	}
	return pt, nil
}

// SealString seals s and returns it base64-encoded, for TEXT columns.
func (r *Ring) SealString(s, ad string) (string, error) {
	b, err := r.Seal([]byte(s), []byte(ad))
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// OpenString reverses SealString.
func (r *Ring) OpenString(s, ad string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if !r.Configured() {
			return "", ErrNoKey
		}
		return "", ErrCorrupt
	}
	pt, err := r.Open(b, []byte(ad))
	if err != nil {
		return "", err
	}
	return string(pt), nil
}

// Blind returns a keyed digest of value for purpose (for example
// "uploader-account"), 32 raw bytes: equal inputs give equal digests,
// and without the key file nobody can test a guess against it.
func (r *Ring) Blind(purpose string, value []byte) ([]byte, error) {
	if !r.Configured() {
		return nil, ErrNoKey
	}
	m := hmac.New(sha256.New, r.blindKey)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write(value)
	return m.Sum(nil), nil
}

// Has reports whether the ring holds a key with this id.
func (r *Ring) Has(id string) bool {
	if r == nil {
		return false
	}
	_, ok := r.byID[id]
	return ok
}

// IsSealed reports whether b has the layout of a sealed value (it may still
// fail to open).
func IsSealed(b []byte) bool { return bytes.HasPrefix(b, magic) }
