package cybertip_test

import (
	"encoding/xml"
	"io"
)

func newEncoder(w io.Writer) *xml.Encoder { return xml.NewEncoder(w) }
