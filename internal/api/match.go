package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/nigehban/nigehban/internal/action"
	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/fingerprint"
	"github.com/nigehban/nigehban/internal/history"
	"github.com/nigehban/nigehban/internal/match"
	"github.com/nigehban/nigehban/internal/pdq"
	"github.com/nigehban/nigehban/internal/retro"
	"github.com/nigehban/nigehban/internal/signal"
	"github.com/nigehban/nigehban/internal/variant"
	"github.com/nigehban/nigehban/internal/vpdq"
)

// querySignal is one hash to match.
type querySignal struct {
	Type    string `json:"type"`
	Value   string `json:"value"`
	Quality *int   `json:"quality,omitempty"` // PDQ quality if the caller knows it
}

// matchHit is one match in an answer.
type matchHit struct {
	Query        int         `json:"query"` // index of the query signal
	Bank         string      `json:"bank"`
	SignalID     int64       `json:"signal_id"`
	Type         bank.Type   `json:"type"`
	Value        string      `json:"value"`
	Distance     int         `json:"distance"`
	Category     string      `json:"category,omitempty"`
	Action       bank.Action `json:"action"`
	QueryPercent *float64    `json:"query_match_percent,omitempty"`
	TargetPct    *float64    `json:"target_match_percent,omitempty"`
	// The bank policy's outcome (internal/review): the hit was queued for
	// review (review_id, review_reason: bank, distance or flood), or
	// suppressed by a negative bank's hit, or is itself a negative bank's.
	ReviewID     int64  `json:"review_id,omitempty"`
	ReviewReason string `json:"review_reason,omitempty"`
	SuppressedBy string `json:"suppressed_by,omitempty"`
	Negative     bool   `json:"negative,omitempty"`

	reviewAbove int // the bank's policy, for review.Policy

	// Exchange is where the signal came from when an exchange brought it
	// (internal/exchange: exchange, exchange_entry, exchange_member,
	// exchange_class) and "disputed": "true" when our review contradicts
	// the exchange.
	Exchange map[string]string `json:"exchange,omitempty"`

	// Variant names the variant of an uploaded image that matched
	// ("original", "borders", "caption", "rotate90", …; internal/variant).
	Variant string `json:"variant,omitempty"`
}

type matchResponse struct {
	Matches []matchHit          `json:"matches"`
	Signals []querySignal       `json:"signals"`             // what was matched (the hashes of an upload)
	Hashes  *fingerprint.Record `json:"hashes,omitempty"`    // for uploads: every hash of the media
	Skipped []string            `json:"skipped,omitempty"`   // signals not matched, and why
	Events  []string            `json:"event_ids,omitempty"` // webhook events queued
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request, _ caller) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request, _ caller) error {
	if !s.Ready() {
		return errorf(http.StatusServiceUnavailable, "not_ready", "bank indexes are loading")
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "seq": s.idx.Load().Seq()})
	return nil
}

// upload fingerprints the multipart field "file", with the PDQ variants
// the field or query parameter "variants" asks for (else the server's).
func (s *Server) upload(r *http.Request) (fingerprint.Record, error) {
	if err := r.ParseMultipartForm(8 << 20); err != nil {
		return fingerprint.Record{}, errorf(http.StatusBadRequest, "bad_request", "multipart body with a field named file required: %v", err)
	}
	defer r.MultipartForm.RemoveAll()
	f, hdr, err := r.FormFile("file")
	if err != nil {
		return fingerprint.Record{}, errorf(http.StatusBadRequest, "bad_request", "multipart field file: %v", err)
	}
	defer f.Close()
	if hdr.Size > s.cfg.MaxUploadBytes {
		return fingerprint.Record{}, errorf(http.StatusRequestEntityTooLarge, "too_large", "upload of %d bytes over the %d-byte limit", hdr.Size, s.cfg.MaxUploadBytes)
	}
	name := r.FormValue("variants")
	if name == "" {
		name = s.cfg.Variants
	}
	set, err := variant.ParseSet(name)
	if err != nil {
		return fingerprint.Record{}, errorf(http.StatusBadRequest, "invalid", "%v", err)
	}
	rec := fingerprint.Reader(r.Context(), hdr.Filename, f, fingerprint.Options{Limits: s.cfg.Limits, Video: s.cfg.Video, Variants: set})
	return rec, nil
}

func (s *Server) hash(w http.ResponseWriter, r *http.Request, _ caller) error {
	rec, err := s.upload(r)
	if err != nil {
		return err
	}
	if rec.Error != "" && rec.SHA256 == "" {
		return errorf(http.StatusUnprocessableEntity, "bad_media", "%s", rec.Error)
	}
	writeJSON(w, http.StatusOK, rec)
	return nil
}

func (s *Server) match(w http.ResponseWriter, r *http.Request, c caller) error {
	x := s.idx.Load()
	if x == nil {
		return errorf(http.StatusServiceUnavailable, "not_ready", "bank indexes are loading")
	}
	var resp matchResponse
	var videoFrames, videoTrimmed []vpdq.Frame
	var variants []variant.Hash
	contentID := r.URL.Query().Get("content_id")
	var uploader history.Uploader
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
		rec, err := s.upload(r)
		if err != nil {
			return err
		}
		if v := r.FormValue("content_id"); v != "" {
			contentID = v
		}
		if v := r.FormValue("uploader"); v != "" {
			if err := json.Unmarshal([]byte(v), &uploader); err != nil {
				return errorf(http.StatusBadRequest, "invalid", "multipart field uploader: a JSON object: %v", err)
			}
		}
		resp.Hashes = &rec
		resp.Signals = signalsOf(rec)
		videoFrames, videoTrimmed = rec.VPDQ, rec.VPDQTrimmed
		if rec.PDQ != nil && rec.Quality != nil {
			variants = append([]variant.Hash{{Name: variant.Original, PDQ: *rec.PDQ, Quality: *rec.Quality}}, rec.Variants...)
		}
		if rec.Error != "" {
			resp.Skipped = append(resp.Skipped, "perceptual hash: "+rec.Error)
		}
	} else {
		var body struct {
			Signals   []querySignal     `json:"signals"`
			ContentID string            `json:"content_id"` // the caller's id of the content, kept in the match history
			Uploader  *history.Uploader `json:"uploader"`   // who uploaded it (personal data: stored sealed, with review items)
		}
		if err := decodeJSON(r, &body); err != nil {
			return err
		}
		if body.ContentID != "" {
			contentID = body.ContentID
		}
		if body.Uploader != nil {
			uploader = *body.Uploader
		}
		if len(body.Signals) == 0 || len(body.Signals) > 1000 {
			return errorf(http.StatusBadRequest, "invalid", "give 1 to 1000 signals, got %d", len(body.Signals))
		}
		resp.Signals = body.Signals
	}
	if err := s.checkUploader(uploader); err != nil {
		return err // before any matching: refused context is never half-used
	}
	resp.Matches = []matchHit{}
	for i, q := range resp.Signals {
		hits, skip, err := s.matchOne(r.Context(), x, q, videoFrames, videoTrimmed, variants)
		if err != nil {
			return errorf(http.StatusBadRequest, "invalid", "signal %d: %v", i, err)
		}
		if skip != "" {
			resp.Skipped = append(resp.Skipped, fmt.Sprintf("signal %d: %s", i, skip))
		}
		for _, h := range hits {
			h.Query = i
			resp.Matches = append(resp.Matches, h)
		}
	}
	for i := range resp.Matches {
		if err := s.exchangeMeta(r.Context(), &resp.Matches[i]); err != nil {
			return fmt.Errorf("matched signal %d: %w", resp.Matches[i].SignalID, err)
		}
	}
	for _, h := range resp.Matches {
		s.metrics.matches.WithLabelValues(h.Bank, string(h.Type)).Inc()
	}
	if err := history.CheckContentID(contentID); err != nil {
		return errorf(http.StatusBadRequest, "invalid", "%v", err)
	}
	if err := s.recordHits(r.Context(), c, contentID, resp.Matches); err != nil {
		return fmt.Errorf("record match history: %w", err)
	}
	if err := s.decide(r.Context(), c, contentID, uploader, &resp); err != nil {
		return err
	}
	ids, err := s.act(r.Context(), c, resp)
	if err != nil {
		return fmt.Errorf("record match: %w", err)
	}
	resp.Events = ids
	writeJSON(w, http.StatusOK, resp)
	s.retain(r.Context(), c, contentID, resp.Signals)
	return nil
}

// exchangeMeta fills h.Exchange from the signal's exchange metadata (a
// read per hit: hits are rare next to queries).
func (s *Server) exchangeMeta(ctx context.Context, h *matchHit) error {
	sig, err := s.st.GetSignal(ctx, h.SignalID)
	if err != nil {
		return err
	}
	for k, v := range sig.Extra {
		if strings.HasPrefix(k, "exchange") {
			if h.Exchange == nil {
				h.Exchange = map[string]string{}
			}
			h.Exchange[k] = v
		}
	}
	if h.Exchange == nil {
		return nil
	}
	if d, ok := s.st.(interface {
		Disputed(ctx context.Context, signalID int64) (bool, error)
	}); ok {
		disputed, err := d.Disputed(ctx, h.SignalID)
		if err != nil {
			return err
		}
		if disputed {
			h.Exchange["disputed"] = "true"
		}
	}
	return nil
}

// retain hands the query's hashes to Config.Checked (retroactive matching).
func (s *Server) retain(ctx context.Context, c caller, contentID string, sigs []querySignal) {
	if s.cfg.Checked == nil {
		return
	}
	hs := make([]retro.Hash, 0, len(sigs))
	for _, q := range sigs {
		if t, err := bank.ParseType(q.Type); err == nil {
			hs = append(hs, retro.Hash{Type: t, Value: strings.TrimSpace(q.Value)})
		}
	}
	if err := s.cfg.Checked(context.WithoutCancel(ctx), c.actor(), contentID, hs); err != nil {
		s.log.Warn("retain upload hashes", "err", err)
	}
}

// signalsOf lists the matchable hashes of an upload.
func signalsOf(rec fingerprint.Record) []querySignal {
	var out []querySignal
	for _, t := range []struct{ typ, v string }{{"md5", rec.MD5}, {"sha1", rec.SHA1}, {"sha256", rec.SHA256}} {
		if t.v != "" {
			out = append(out, querySignal{Type: t.typ, Value: t.v})
		}
	}
	if rec.PDQ != nil {
		out = append(out, querySignal{Type: "pdq", Value: rec.PDQ.String(), Quality: rec.Quality})
	}
	if len(rec.VPDQ) > 0 {
		out = append(out, querySignal{Type: "vpdq", Value: vpdq.Encode(rec.VPDQ)})
	}
	return out
}

// matchOne matches one signal. A low-quality PDQ hash is not matched (the
// reference's rule: quality < 50 is unreliable) and says so. The PDQ hash
// of an upload is matched with its variants (vs, the original first), the
// vPDQ of an uploaded video with its frames' trimmed hashes (trimmed).
func (s *Server) matchOne(ctx context.Context, x *match.Matcher, q querySignal, frames, trimmed []vpdq.Frame, vs []variant.Hash) ([]matchHit, string, error) {
	t, err := bank.ParseType(q.Type)
	if err != nil {
		return nil, "", err
	}
	var hits []match.Hit
	switch t {
	case bank.PDQ:
		h, err := pdq.ParseHex(strings.TrimSpace(q.Value))
		if err != nil {
			return nil, "", err
		}
		if q.Quality != nil && *q.Quality < pdq.MinQuality {
			if len(vs) > 1 {
				// The whole image is too plain to match; its variants
				// (a picture inside plain borders) may not be.
				hits = x.MatchVariants(vs[1:])
				break
			}
			return nil, fmt.Sprintf("PDQ quality %d below %d: not matched", *q.Quality, pdq.MinQuality), nil
		}
		if len(vs) > 0 {
			hits = x.MatchVariants(vs)
		} else {
			hits = x.MatchPDQ(h)
		}
	case bank.VPDQ:
		if frames == nil {
			var err error
			if frames, err = signal.ParseVPDQ(q.Value); err != nil {
				return nil, "", err
			}
		}
		hits = x.MatchVPDQTrimmed(frames, trimmed)
	default:
		if hits, err = x.MatchDigest(t, q.Value); err != nil {
			return nil, "", err
		}
	}
	out := make([]matchHit, 0, len(hits))
	for _, h := range hits {
		mh := matchHit{Bank: h.Bank, SignalID: h.SignalID, Type: h.Type, Value: h.Value,
			Distance: h.Distance, Category: h.Category, Action: h.Action, Negative: h.Negative, Variant: h.Variant, reviewAbove: h.ReviewAbove}
		if h.Type == bank.VPDQ {
			// The matcher keeps frame hashes, not values: echo the stored one.
			sig, err := s.st.GetSignal(ctx, h.SignalID)
			if err != nil {
				return nil, "", fmt.Errorf("matched vPDQ signal %d: %w", h.SignalID, err)
			}
			qp, tp := h.QueryPercent, h.TargetPercent
			mh.Value, mh.QueryPercent, mh.TargetPct = sig.Value, &qp, &tp
		}
		out = append(out, mh)
	}
	return out, "", nil
}

// act queues a webhook event per matched bank that has one, together with
// the audit entry of the match, before the answer is sent. Hits suppressed
// by a negative bank, and a negative bank's own, fire nothing; a hit queued
// for review fires its bank's match event with action review (the platform
// holds the content until the decision.confirmed event).
func (s *Server) act(ctx context.Context, c caller, resp matchResponse) ([]string, error) {
	if len(resp.Matches) == 0 {
		return nil, nil
	}
	hooks := *s.webhooks.Load()
	byBank := map[string][]matchHit{}
	for _, h := range resp.Matches {
		if h.Negative || h.SuppressedBy != "" {
			continue // an allow-listed upload: nothing to act on
		}
		if hk, ok := hooks[h.Bank]; ok && hk.Fires(h.Category, string(h.Type)) {
			byBank[h.Bank] = append(byBank[h.Bank], h)
		}
	}
	if len(byBank) == 0 {
		return nil, nil
	}
	var events []action.Event
	var ids []string
	at := time.Now().UTC()
	for b, hits := range byBank {
		id := newEventID()
		payload, _ := json.Marshal(map[string]any{"event_id": id, "type": "match", "bank": b, "at": at,
			"matches": hits, "signals": resp.Signals, "key_id": c.key.ID})
		hk := hooks[b]
		events = append(events, action.Event{Bank: b, URL: hk.URL, Secret: hk.Secret, Payload: payload})
		ids = append(ids, id)
	}
	detail := mustJSON(map[string]any{"event_ids": ids, "matches": resp.Matches})
	_, err := s.st.RecordMatch(ctx, audit.Entry{Actor: c.actor(), Action: "match.action", Remote: c.remote, Detail: detail}, events)
	return ids, err
}

func newEventID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
