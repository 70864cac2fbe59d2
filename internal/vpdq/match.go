package vpdq

import (
	"fmt"
	"slices"

	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/signal"
)

// MatchOptions are the reference match rule's parameters. Every field is
// used as given: a zero Distance matches identical frames only, a zero
// MinQuality keeps every frame. DefaultMatchOptions returns the
// python-threatexchange defaults.
type MatchOptions struct {
	// Distance: frames match when their PDQ distance is ≤ Distance (0..256).
	Distance int
	// MinQuality: frames below it are ignored on both sides (0..100).
	MinQuality int
	// QueryPercent: share of the query's frames that must match (0..100).
	QueryPercent float64
	// TargetPercent: share of the target's frames that must match (0..100).
	TargetPercent float64
}

// Default match thresholds (python-threatexchange vpdq_util), the values of
// internal/signal.
const (
	DefaultDistance      = signal.DefaultVPDQFrameThreshold
	DefaultMinQuality    = signal.DefaultVPDQMinQuality
	DefaultQueryPercent  = signal.DefaultVPDQQueryPercent
	DefaultTargetPercent = signal.DefaultVPDQTargetPercent
)

// DefaultMatchOptions returns the reference rule: distance 31, quality 50,
// 80 % of the query's frames, any share of the target's.
func DefaultMatchOptions() MatchOptions {
	return MatchOptions{Distance: DefaultDistance, MinQuality: DefaultMinQuality,
		QueryPercent: DefaultQueryPercent, TargetPercent: DefaultTargetPercent}
}

// Validate checks that every field is within its range.
func (o MatchOptions) Validate() error {
	switch {
	case o.Distance < 0 || o.Distance > signal.MaxPDQThreshold:
		return fmt.Errorf("vPDQ frame distance %d: want 0..%d", o.Distance, signal.MaxPDQThreshold)
	case o.MinQuality < 0 || o.MinQuality > 100:
		return fmt.Errorf("vPDQ minimum quality %d: want 0..100", o.MinQuality)
	case !(o.QueryPercent >= 0 && o.QueryPercent <= 100):
		return fmt.Errorf("vPDQ query percent %v: want 0..100", o.QueryPercent)
	case !(o.TargetPercent >= 0 && o.TargetPercent <= 100):
		return fmt.Errorf("vPDQ target percent %v: want 0..100", o.TargetPercent)
	}
	return nil
}

// MatchResult is the outcome of comparing two videos.
type MatchResult struct {
	QueryPercent  float64 `json:"query_match_percent"`
	TargetPercent float64 `json:"target_match_percent"`
	Match         bool    `json:"match"`
}

// Match compares query with target by the reference rule, as
// python-threatexchange's brute-force matcher does: each side is reduced to
// its distinct hashes (the first frame with a given hash stands for it),
// then frames below MinQuality are dropped; the rest form a bag of hashes
// (frame order and timestamps do not matter). A hash matches when some hash
// on the other side is within Distance. The videos match when both
// percentages reach their thresholds. An empty side gives 0 % and no match
// (python-threatexchange would divide by zero).
//
// Upstream differs between implementations; this follows
// python-threatexchange (what HMA runs, and the README pseudocode): ≤
// Distance and exact-hash dedupe. The C++ matchTwoHashBrute counts
// dist < Distance and every frame, duplicates included.
func Match(query, target []Frame, opts MatchOptions) MatchResult {
	q := Distinct(query, opts.MinQuality)
	t := Distinct(target, opts.MinQuality)
	r := MatchResult{
		QueryPercent:  matchedPercent(q, t, opts.Distance),
		TargetPercent: matchedPercent(t, q, opts.Distance),
	}
	r.Match = len(q) > 0 && len(t) > 0 && r.QueryPercent >= opts.QueryPercent && r.TargetPercent >= opts.TargetPercent
	return r
}

// Distinct returns the hashes the reference rule compares: the first frame
// of each distinct hash, kept when its quality is at least minQuality
// (python-threatexchange's order: a hash whose first frame is poor is
// dropped even if a later frame with that hash is good).
func Distinct(frames []Frame, minQuality int) []pdq.Hash {
	seen := make(map[pdq.Hash]struct{}, len(frames))
	var out []pdq.Hash
	for _, f := range frames {
		if _, ok := seen[f.PDQ]; ok {
			continue
		}
		seen[f.PDQ] = struct{}{}
		if f.Quality >= minQuality {
			out = append(out, f.PDQ)
		}
	}
	return out
}

func matchedPercent(a, b []pdq.Hash, d int) float64 {
	if len(a) == 0 {
		return 0
	}
	n := 0
	for _, x := range a {
		for _, y := range b {
			if pdq.Distance(x, y) <= d {
				n++
				break
			}
		}
	}
	return float64(n) * 100 / float64(len(a))
}

// QueryUnits returns the frames of a query video hashed with its trimmed
// variants (Video.Trimmed), as the units the variant match rule counts: the
// reference's distinct frames (Distinct), each with the hashes that stand
// for it — its own, and its trimmed content's when it has one. Frames are
// told apart by their own hash and their trimmed hash together (the first
// frame of each such pair stands for it); a hash below minQuality is left
// out of its unit, and a unit left without a hash is dropped. Without
// trimmed frames the units are Distinct's hashes, one each.
func QueryUnits(frames, trimmed []Frame, minQuality int) [][]pdq.Hash {
	type key struct {
		plain, trim pdq.Hash
		trimmed     bool
	}
	seen := make(map[key]struct{}, len(frames))
	var out [][]pdq.Hash
	t := 0
	for _, f := range frames {
		k := key{plain: f.PDQ}
		var alt *Frame
		for t < len(trimmed) && trimmed[t].Frame < f.Frame {
			t++
		}
		if t < len(trimmed) && trimmed[t].Frame == f.Frame {
			alt = &trimmed[t]
			k.trim, k.trimmed = alt.PDQ, true
		}
		if _, ok := seen[k]; ok {
			continue
		}
		seen[k] = struct{}{}
		var u []pdq.Hash
		if f.Quality >= minQuality {
			u = append(u, f.PDQ)
		}
		if alt != nil && alt.Quality >= minQuality && alt.PDQ != f.PDQ {
			u = append(u, alt.PDQ)
		}
		if len(u) > 0 {
			out = append(out, u)
		}
	}
	return out
}

// MatchTrimmed compares a query video hashed with TrimBorders (frames and
// their trimmed variants) with a target's plain frames: the reference rule
// (Match) where a query frame counts as matched when its own hash or its
// trimmed content's is within Distance of some target hash, and a target
// hash when it is within Distance of either hash of some query frame. The
// target side is the reference's (Distinct). trimmedUsed reports that the
// trimmed hashes were needed: the frames alone do not match by Match.
// Without trimmed frames it is Match.
func MatchTrimmed(query, trimmed, target []Frame, opts MatchOptions) (r MatchResult, trimmedUsed bool) {
	plain := Match(query, target, opts)
	if plain.Match || len(trimmed) == 0 {
		return plain, false
	}
	q := QueryUnits(query, trimmed, opts.MinQuality)
	t := Distinct(target, opts.MinQuality)
	r = MatchResult{
		QueryPercent:  UnitsMatchedPercent(q, t, opts.Distance),
		TargetPercent: MatchedByUnitsPercent(t, q, opts.Distance),
	}
	r.Match = len(q) > 0 && len(t) > 0 && r.QueryPercent >= opts.QueryPercent && r.TargetPercent >= opts.TargetPercent
	if !r.Match {
		return plain, false
	}
	return r, true
}

// UnitsMatchedPercent is the share of the units with a hash within d of
// some hash of b.
func UnitsMatchedPercent(units [][]pdq.Hash, b []pdq.Hash, d int) float64 {
	if len(units) == 0 {
		return 0
	}
	n := 0
	for _, u := range units {
		if slices.ContainsFunc(u, func(x pdq.Hash) bool {
			return slices.ContainsFunc(b, func(y pdq.Hash) bool { return pdq.Distance(x, y) <= d })
		}) {
			n++
		}
	}
	return float64(n) * 100 / float64(len(units))
}

// MatchedByUnitsPercent is the share of b's hashes within d of some hash
// of some unit.
func MatchedByUnitsPercent(b []pdq.Hash, units [][]pdq.Hash, d int) float64 {
	if len(b) == 0 {
		return 0
	}
	n := 0
	for _, y := range b {
		if slices.ContainsFunc(units, func(u []pdq.Hash) bool {
			return slices.ContainsFunc(u, func(x pdq.Hash) bool { return pdq.Distance(x, y) <= d })
		}) {
			n++
		}
	}
	return float64(n) * 100 / float64(len(b))
}
