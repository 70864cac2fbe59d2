// Package pow is the proof of work a /protect submission carries: find a
// nonce such that SHA-256(challenge ":" nonce) starts with a number of zero
// bits. The page solves it in WebAssembly; internal/protect issues and
// checks challenges. A leaf, so the WebAssembly build stays small.
package pow

import (
	"crypto/sha256"
	"math/bits"
	"strconv"
)

// LeadingZeroBits is the number of leading zero bits of SHA-256(challenge
// ":" nonce), the work a proof shows.
func LeadingZeroBits(challenge, nonce string) int {
	sum := sha256.Sum256([]byte(challenge + ":" + nonce))
	n := 0
	for _, c := range sum {
		if c != 0 {
			return n + bits.LeadingZeros8(c)
		}
		n += 8
	}
	return n
}

// Solve finds the smallest decimal nonce for a challenge of the given
// difficulty (expected work: 2^difficulty hashes).
func Solve(challenge string, difficulty int) string {
	for i := uint64(0); ; i++ {
		n := strconv.FormatUint(i, 10)
		if LeadingZeroBits(challenge, n) >= difficulty {
			return n
		}
	}
}
