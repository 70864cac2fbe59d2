package exchange

import (
	"fmt"
	"net/http"
)

// NewAdapter returns the adapter of x's kind, talking through c.
func NewAdapter(x Exchange, c *http.Client) (Adapter, error) {
	switch x.Kind {
	case KindHashList:
		return &HashListAdapter{URL: x.URL, Client: c, Token: x.Credentials["token"]}, nil
	case KindNCMEC:
		return &NCMECAdapter{BaseURL: x.URL, Client: c, User: x.Credentials["user"], Password: x.Credentials["password"],
			Member: x.Settings["member"]}, nil
	}
	return nil, fmt.Errorf("%w: no adapter for kind %q yet", ErrUnsupported, x.Kind)
}
