package pdq

// This file pins the hashing API other packages build against while the PDQ
// core is written; the core replaces these bodies.

import "image"

// Result is one PDQ hash and its quality (0..100).
type Result struct {
	Hash    Hash
	Quality int
}

// Dihedral holds the 8 dihedral hashes in the reference order: original,
// rotate 90, rotate 180, rotate 270, flip X, flip Y, flip +1, flip -1.
type Dihedral [8]Hash

// MinQuality is the quality below which the reference treats a hash as
// unreliable: hashes with quality < 50 should not be matched.
const MinQuality = 50

// DefaultThreshold is the reference "confident match" distance: ≤ 31.
const DefaultThreshold = 31

// HashImage hashes img as the reference CLI does: nearest-neighbour resize to
// 512×512 when either side exceeds 512, float32 luma from straight RGB (alpha
// ignored), grey images used as-is.
func HashImage(img image.Image) Result { panic("pdq: not implemented") }

// HashImageDihedral is HashImage plus the 8 dihedral hashes.
func HashImageDihedral(img image.Image) (Dihedral, int) { panic("pdq: not implemented") }

// HashRGB hashes a packed RGB24 frame at full resolution with no resize, as
// vPDQ hashes video frames.
func HashRGB(pix []byte, width, height int) Result { panic("pdq: not implemented") }
