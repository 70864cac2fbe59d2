package pdq

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
)

// HexLen is the length of a PDQ hash in hexadecimal, as every PDQ
// implementation and hash list writes it.
const HexLen = 64

// ErrBadHash is returned (wrapped) when a hash string is not 64 hex digits.
var ErrBadHash = errors.New("invalid PDQ hash")

// Hash is a 256-bit PDQ hash.
//
// It is laid out for fast Hamming distance: the 64-digit hex form read as a
// big-endian 256-bit number N is stored as Hash{N>>192, N>>128, N>>64, N} (each
// word 64 bits). Bit k of N (least significant = 0) is the DCT coefficient at
// row k/16, column k%16, as in the reference implementation.
type Hash [4]uint64

// ParseHex parses a 64-digit hex PDQ hash (either case).
func ParseHex(s string) (Hash, error) {
	var h Hash
	if len(s) != HexLen {
		return h, fmt.Errorf("%w: want %d hex digits, got %d", ErrBadHash, HexLen, len(s))
	}
	var b [32]byte
	if _, err := hex.Decode(b[:], []byte(s)); err != nil {
		return h, fmt.Errorf("%w: %v", ErrBadHash, err)
	}
	return FromBytes(b), nil
}

// MustParseHex is ParseHex for constants in tests and tables; it panics on error.
func MustParseHex(s string) Hash {
	h, err := ParseHex(s)
	if err != nil {
		panic(err)
	}
	return h
}

// FromBytes converts the 32-byte big-endian form (the bytes of the hex string,
// as FAISS and HMA store hashes) to a Hash.
func FromBytes(b [32]byte) Hash {
	return Hash{
		binary.BigEndian.Uint64(b[0:8]),
		binary.BigEndian.Uint64(b[8:16]),
		binary.BigEndian.Uint64(b[16:24]),
		binary.BigEndian.Uint64(b[24:32]),
	}
}

// Bytes returns the 32-byte big-endian form of h.
func (h Hash) Bytes() [32]byte {
	var b [32]byte
	binary.BigEndian.PutUint64(b[0:8], h[0])
	binary.BigEndian.PutUint64(b[8:16], h[1])
	binary.BigEndian.PutUint64(b[16:24], h[2])
	binary.BigEndian.PutUint64(b[24:32], h[3])
	return b
}

// String returns the 64-digit lower-case hex form, identical to the reference.
func (h Hash) String() string {
	b := h.Bytes()
	return hex.EncodeToString(b[:])
}

// MarshalText implements encoding.TextMarshaler (hex form).
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (hex form).
func (h *Hash) UnmarshalText(b []byte) error {
	v, err := ParseHex(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// Bit reports whether bit k (0..255, in the reference's numbering) is set.
func (h Hash) Bit(k int) bool {
	return h[3-k/64]>>(uint(k)%64)&1 == 1
}

// SetBit sets bit k (0..255, in the reference's numbering).
func (h *Hash) SetBit(k int) {
	h[3-k/64] |= 1 << (uint(k) % 64)
}

// Distance returns the Hamming distance between a and b (0..256).
func Distance(a, b Hash) int {
	return bits.OnesCount64(a[0]^b[0]) + bits.OnesCount64(a[1]^b[1]) +
		bits.OnesCount64(a[2]^b[2]) + bits.OnesCount64(a[3]^b[3])
}

// OnesCount returns the number of set bits (the reference calls it the norm;
// a well-formed hash has 128).
func (h Hash) OnesCount() int {
	return bits.OnesCount64(h[0]) + bits.OnesCount64(h[1]) +
		bits.OnesCount64(h[2]) + bits.OnesCount64(h[3])
}
