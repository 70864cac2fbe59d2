package alert

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nigehban/nigehban/internal/alert/cap"
)

// published reports whether message m of case c is public now: the
// messages of a live, unexpired alert, and a cancel for CancelInFeed after
// it was sent. A cancelled or resolved alert's own messages (the child's
// photo and details) are withdrawn.
func (s *Service) published(c *Case, m *Message, now time.Time) bool {
	if m.MsgType == cap.MsgCancel {
		return now.Before(m.Sent.Add(s.cfg.CancelInFeed))
	}
	a := c.Alert
	return c.Open() && a != nil && a.State.Live() && a.IssuedAt != nil && !m.Sent.Before(*a.IssuedAt) && now.Before(a.Expires)
}

// CAP returns the CAP document of a published message (ErrNotFound for an
// unknown one, ErrGone for a withdrawn one).
func (s *Service) CAP(ctx context.Context, identifier string) ([]byte, error) {
	uid, ok := strings.CutPrefix(identifier, "nigehban-")
	if i := strings.LastIndexByte(uid, '-'); ok && i > 0 {
		uid = uid[:i]
	} else {
		return nil, ErrNotFound
	}
	r, err := s.st.MissingCaseByUID(ctx, uid, true)
	if err != nil {
		return nil, err
	}
	c, err := s.decode(r, false)
	if err != nil {
		return nil, err
	}
	m := c.message(identifier)
	if m == nil {
		return nil, ErrNotFound
	}
	if !s.published(c, m, s.now()) {
		return nil, ErrGone
	}
	if m.MsgType != cap.MsgCancel {
		if c, err = s.decode(r, true); err != nil {
			return nil, err
		}
	}
	a, err := BuildCAP(c, *m, &s.cfg)
	if err != nil {
		return nil, err
	}
	return cap.Marshal(a)
}

// message returns the CAP document of m.
func (s *Service) message(c *Case, m Message) ([]byte, error) {
	a, err := BuildCAP(c, m, &s.cfg)
	if err != nil {
		return nil, err
	}
	return cap.Marshal(a)
}

// MessageXML returns the CAP document of message identifier of case c as
// read with Get (personal part open), published or not: what the desk
// reviews, prepared messages included.
func (s *Service) MessageXML(c *Case, identifier string) ([]byte, error) {
	if m := c.message(identifier); m != nil {
		return s.message(c, *m)
	}
	if c.Alert != nil {
		for _, m := range c.Alert.Prepared {
			if m.Identifier == identifier {
				m.Sent = s.now()
				return s.message(c, m)
			}
		}
	}
	return nil, ErrNotFound
}

// Feed returns the Atom feed of published messages, newest first. It is
// rebuilt at most every few seconds (feedTTL), and at once after a change
// through this desk.
func (s *Service) Feed(ctx context.Context) ([]byte, error) {
	now := s.now()
	s.feedMu.Lock()
	defer s.feedMu.Unlock()
	if s.feedDoc != nil && !now.Before(s.feedAt) && now.Sub(s.feedAt) < feedTTL {
		return s.feedDoc, nil
	}
	b, err := s.buildFeed(ctx, now)
	if err != nil {
		return nil, err
	}
	s.feedAt, s.feedDoc = now, b
	return b, nil
}

// buildFeed builds the feed as of now.
func (s *Service) buildFeed(ctx context.Context, now time.Time) ([]byte, error) {
	cases, err := s.list(ctx, Filter{ClosedSince: now.Add(-s.cfg.CancelInFeed)})
	if err != nil {
		return nil, err
	}
	self := s.cfg.BaseURL + "/alerts/feed.atom"
	f := cap.Feed{ID: self, Title: s.cfg.SenderName + ": missing-child alerts", Author: &cap.AtomPerson{Name: s.cfg.SenderName},
		Links: []cap.AtomLink{{Rel: "self", Type: "application/atom+xml", Href: self}}}
	var latest time.Time
	type entry struct {
		at time.Time
		e  cap.FeedEntry
	}
	var es []entry
	for _, c := range cases {
		for i := range c.Messages {
			m := &c.Messages[i]
			if !s.published(c, m, now) {
				continue
			}
			evEN, _ := eventName(c, m.Tier)
			title := evEN + " alert: " + c.District
			if m.Tier == TierNotice {
				title = "Missing child notice: " + c.District
			}
			switch m.MsgType {
			case cap.MsgUpdate:
				title = "Update: " + title
			case cap.MsgCancel:
				title = "Cancelled: " + title
			}
			if m.Test {
				title = "[TEST] " + title
			}
			url := s.cfg.BaseURL + "/alerts/cap/" + m.Identifier
			es = append(es, entry{m.Sent, cap.FeedEntry{ID: url, Title: title, Updated: cap.AtomTime(m.Sent),
				Categories: []cap.AtomCategory{{Term: capStatus(*m)}, {Term: m.MsgType}},
				Links:      []cap.AtomLink{{Rel: "alternate", Type: "application/cap+xml", Href: url}}}})
			if m.Sent.After(latest) {
				latest = m.Sent
			}
		}
	}
	slices.SortStableFunc(es, func(a, b entry) int { return b.at.Compare(a.at) })
	for _, e := range es {
		f.Entries = append(f.Entries, e.e)
	}
	if latest.IsZero() {
		latest = now
	}
	f.Updated = cap.AtomTime(latest)
	b, err := cap.MarshalFeed(f)
	if err != nil {
		return nil, fmt.Errorf("alert feed: %w", err)
	}
	return b, nil
}
