// Package pdq computes PDQ perceptual image hashes exactly as Meta's C++
// reference (facebook/ThreatExchange pdq/cpp) does, and compares them.
//
// A PDQ hash is 256 bits: the signs, against their median, of the 16×16
// lowest DCT frequencies of a 64×64 tent-filtered downsample of the luma.
// Two hashes match when their Hamming distance is at most DefaultThreshold
// (31); hashes with a quality below MinQuality (50) carry too little
// structure to be matched.
//
// Given the same pixels the core reproduces the reference bit for bit, hash
// and quality: every float32 operation is done in the reference's order
// (see core.go), which the tests check against the reference's own output
// on lossless images and against a literal transcription of its code.
// There are two preprocessing profiles:
//
//   - HashImage follows the reference CLI, pdq-photo-hasher: a
//     nearest-neighbour resize to 512×512 when a side exceeds 512, then luma
//     as ImageMagick and CImg would present the pixels to it.
//   - HashRGB hashes a raw RGB24 frame at full resolution, as vPDQ does for
//     video frames.
//
// Plane holds an image's luma computed once; HashPlane, HashPlaneDihedral
// and HashPlanePair hash a region of it, mirrored or not, exactly as
// HashImage hashes that region of the image (internal/variant hashes a
// dozen regions and mirrorings of one query this way). Plane.Load converts
// opaque colour RGBA (what the JPEG decoder gives) four pixels at a time
// on amd64 (SSE2: the same float32 products and sums, in the same order,
// as the scalar tables; TestLumaRGBARows checks all 2²⁴ colours), 0.4–0.8×
// the time of the scalar loop on 1024×576 photos.
//
// HashPlaneFast, HashPlanePairFast and HashImageFast are a second route for
// such extra passes, never for an image's own hash: the tent filter's four
// box passes are linear and only 64×64 of their outputs are kept, so each
// kept sample is computed directly as a 2-D dot product with the composed
// filter's weights (at most 7×7 taps for a 512×512 input): 3–5× faster
// than the exact pass on a region resized to 512×512, 1.2–2.4× on smaller
// ones (BenchmarkHashPlaneFast, interleaved, load 7). The sums run in
// another order than the reference's float32 running sums, so hashes are
// within float rounding of the exact ones, not bit for bit: 0 bits apart
// on all 5,627 regions of quality ≥ 50 the tests draw from the reference
// photos, by plane and by image (TestFastMatchesExact; FuzzFast bounds the
// difference of the 64×64 downsamples at 0.01 on the 0…255 scale).
//
// Hashing from a file differs from the reference only where Go's decoders
// differ from the ones it used (libjpeg via ImageMagick); on the reference
// images that is at most 8 bits for quality ≥ 80 (the upstream bound is 10).
package pdq
