package api

import (
	"log/slog"

	"github.com/nigehban/nigehban/internal/exchange"
	"github.com/nigehban/nigehban/internal/review"
)

// NewReviewService returns the review service the API applies the bank
// policy and runs the queue with: over st, uploader context sealed with
// cfg.DataKeys, decisions sent as opinions to the exchange a signal came
// from, and cfg.Flood's flood rule (zero fields default, a negative window
// off). serve builds it once and gives it to the API (Config.Reviews), the
// console and retroactive matching.
func NewReviewService(st review.Deps, cfg Config, log *slog.Logger) *review.Service {
	if log == nil {
		log = slog.Default()
	}
	rs := review.NewService(st, cfg.DataKeys)
	// Review decisions become opinions for the exchange a signal came from.
	rs.Decided = exchange.ReviewHook(st, cfg.DataKeys, log)
	rs.Log = log
	rs.Flood = floodRule(cfg.Flood)
	return rs
}
