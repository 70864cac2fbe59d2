package api

import "github.com/nigehban/nigehban/internal/bank"

// IndexSizes returns the signals in the in-memory match indexes per bank
// and type (PDQ counts removed ones until merged away, as the metrics do),
// or nil before the indexes are loaded. The web console shows it instead
// of counting signals in the database.
func (s *Server) IndexSizes() map[string]map[bank.Type]int {
	x := s.idx.Load()
	if x == nil {
		return nil
	}
	out := map[string]map[bank.Type]int{}
	for _, b := range x.Banks() {
		m := map[bank.Type]int{}
		for _, t := range []bank.Type{bank.PDQ, bank.MD5, bank.SHA1, bank.SHA256, bank.VPDQ} {
			m[t] = x.Size(b.Name, t)
		}
		out[b.Name] = m
	}
	return out
}
