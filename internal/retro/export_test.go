package retro

import (
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/index"
	"github.com/nigehban/nigehban/internal/pdq"
)

// CandidatesOneByOne is the PDQ part of Candidates as it was before batch
// search: one index search a signal, in one goroutine (the benchmark's
// baseline).
func (m *Matcher) CandidatesOneByOne(sigs []bank.Signal, threshold func(string) int) []Candidate {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []Candidate
	var buf []index.Match
	for i := range sigs {
		h, err := pdq.ParseHex(sigs[i].Value)
		if err != nil {
			continue
		}
		buf = m.pdq.AppendSearch(buf[:0], h, threshold(sigs[i].Bank))
		for _, mt := range buf {
			out = append(out, Candidate{UploadID: int64(mt.ID), Signal: i, Distance: mt.Distance})
		}
	}
	return out
}
