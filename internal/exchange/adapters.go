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
	case KindNigehban:
		return &NigehbanAdapter{BaseURL: x.URL, Client: c, Token: x.Credentials["token"], Bank: x.Settings["bank"],
			LogVKey: x.Settings["log_vkey"]}, nil
	case KindThreatExchange:
		return &ThreatExchangeAdapter{BaseURL: x.URL, Client: c, Token: x.Credentials["token"],
			PrivacyGroup: x.Settings["privacy_group"]}, nil
	case KindStopNCII:
		return &StopNCIIAdapter{BaseURL: x.URL, Client: c, SubscriptionKey: x.Credentials["subscription_key"],
			FetchKey: x.Credentials["fetch_key"], FeedbackKey: x.Credentials["feedback_key"]}, nil
	}
	return nil, fmt.Errorf("%w: no adapter for kind %q yet", ErrUnsupported, x.Kind)
}
