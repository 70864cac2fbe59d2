package retro

import (
	"context"
	"log/slog"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/review"
)

// ToReview returns an OnHits hook that queues retroactive hits for review:
// the upload is in the past, so nothing can be blocked at once any more and
// a person decides the takedown, whatever the bank's action; a negative
// bank's hits still suppress the others of the same upload, and the flood
// rule applies as to live hits. Hits are grouped per retained upload
// (content id and submitter). Errors are logged: the hits are already in
// the match history.
func ToReview(rs *review.Service, log *slog.Logger) func(context.Context, []Hit) {
	if log == nil {
		log = slog.Default()
	}
	return func(ctx context.Context, hits []Hit) {
		type key struct{ content, submitter string }
		groups := map[key]*review.Request{}
		negative := map[string]bool{} // per bank, read once a batch
		var order []key
		for _, h := range hits {
			k := key{h.Upload.ContentID, h.Upload.Submitter}
			req := groups[k]
			if req == nil {
				req = &review.Request{ContentID: h.Upload.ContentID, Submitter: "retro:" + h.Upload.Submitter,
					By: audit.Actor{Name: "retro"}}
				groups[k] = req
				order = append(order, k)
			}
			req.Hashes = append(req.Hashes, review.Hash{Type: string(h.Upload.Type), Value: h.Upload.Value})
			neg, ok := negative[h.Signal.Bank]
			if !ok {
				b, err := rs.Banks().GetBank(ctx, h.Signal.Bank)
				if err != nil {
					log.Warn("retroactive hit: bank", "bank", h.Signal.Bank, "err", err)
					continue
				}
				neg = b.Negative
				negative[h.Signal.Bank] = neg
			}
			req.Hits = append(req.Hits, review.Hit{Bank: h.Signal.Bank, SignalID: h.Signal.ID, Type: string(h.Signal.Type),
				Value: h.Signal.Value, Distance: h.Distance, Category: h.Signal.Category,
				Action: bank.ActionReview, Negative: neg})
		}
		for _, k := range order {
			if _, err := rs.Route(ctx, *groups[k]); err != nil {
				log.Warn("retroactive hits: queue for review", "content_id", k.content, "err", err)
			}
		}
	}
}
