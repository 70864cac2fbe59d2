// Package history is the match history: every hit of a match request (not
// every query) with its time, submitter, bank, signal, distance and the
// caller's own content id, so a platform can find what matched for a piece
// of content, and reviewers can see a hit's context. Rows are kept for a
// retention period (Prune).
//
// Hits are written before the match is answered (hits are rare next to
// queries, so the hot path without a hit writes nothing).
package history

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Hit is one recorded match.
type Hit struct {
	ID        int64     `json:"id"`
	At        time.Time `json:"at"`
	Submitter string    `json:"submitter"`            // the API key, "key:12 (name)"
	ContentID string    `json:"content_id,omitempty"` // the caller's id of the content
	Bank      string    `json:"bank"`
	SignalID  int64     `json:"signal_id"`
	Type      string    `json:"type"`
	Value     string    `json:"value"` // the query's hash
	Distance  int       `json:"distance"`
}

// Query selects hits, newest first.
type Query struct {
	ContentID string // exact; "" for any
	Bank      string // exact; "" for any
	Before    int64  // only IDs below this; 0 from the newest
	Limit     int    // at most this many (1..1000)
}

// Store keeps hits; implemented by the store engines.
type Store interface {
	// RecordHits stores hits (ID ignored, At kept) in one transaction.
	RecordHits(ctx context.Context, hits []Hit) error
	// ListHits returns the hits q selects, newest (highest ID) first.
	ListHits(ctx context.Context, q Query) ([]Hit, error)
	// PruneHits deletes hits recorded before t and returns how many.
	PruneHits(ctx context.Context, before time.Time) (int64, error)
	// HitsPerDay counts the hits recorded since t per UTC day and bank,
	// by day then bank.
	HitsPerDay(ctx context.Context, since time.Time) ([]DayCount, error)
}

// DayCount is the number of hits of one bank on one UTC day.
type DayCount struct {
	Day  time.Time `json:"day"` // midnight UTC
	Bank string    `json:"bank"`
	Hits int64     `json:"hits"`
}

// MaxContentID bounds a content id (bytes).
const MaxContentID = 256

// ErrInvalid wraps invalid input.
var ErrInvalid = errors.New("invalid match history input")

// CheckContentID validates a caller's content id: at most MaxContentID
// bytes of UTF-8 without control characters.
func CheckContentID(id string) error {
	if len(id) > MaxContentID || !utf8.ValidString(id) {
		return fmt.Errorf("%w: content_id must be valid UTF-8 of at most %d bytes", ErrInvalid, MaxContentID)
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: content_id has a control character", ErrInvalid)
		}
	}
	return nil
}

// Prune deletes hits older than retention, in a loop every interval until
// ctx ends (retention 0 keeps everything). Errors are passed to onErr.
func Prune(ctx context.Context, st Store, retention, interval time.Duration, onErr func(error)) {
	if retention <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := st.PruneHits(ctx, time.Now().Add(-retention)); err != nil && ctx.Err() == nil {
			onErr(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
