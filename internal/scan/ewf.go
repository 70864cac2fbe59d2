package scan

import (
	"bytes"
)

// isEWF reports whether head starts an EWF (E01) segment file.
func isEWF(head []byte) bool { return bytes.HasPrefix(head, []byte("EVF\x09\x0d\x0a\xff\x00")) }

func (s *scanner) openEWF(c *content) (*diskMedia, error) { return nil, nil }
