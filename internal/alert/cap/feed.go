package cap

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"time"
)

// AtomNamespace is the Atom 1.0 (RFC 4287) namespace.
const AtomNamespace = "http://www.w3.org/2005/Atom"

// Feed is an Atom feed of CAP messages, as public-alert aggregators read
// them (OASIS CAP Feeds: one entry per current message, linking to its
// full CAP document).
type Feed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string      `xml:"id"`
	Title   string      `xml:"title"`
	Updated string      `xml:"updated"`
	Author  *AtomPerson `xml:"author,omitempty"`
	Links   []AtomLink  `xml:"link"`
	Entries []FeedEntry `xml:"entry"`
}

// AtomPerson is an Atom author.
type AtomPerson struct {
	Name string `xml:"name"`
}

// AtomLink is an Atom link.
type AtomLink struct {
	Rel  string `xml:"rel,attr,omitempty"`
	Type string `xml:"type,attr,omitempty"`
	Href string `xml:"href,attr"`
}

// AtomCategory is an Atom category.
type AtomCategory struct {
	Term string `xml:"term,attr"`
}

// FeedEntry is one message of the feed.
type FeedEntry struct {
	ID         string         `xml:"id"`
	Title      string         `xml:"title"`
	Updated    string         `xml:"updated"`
	Summary    string         `xml:"summary,omitempty"`
	Categories []AtomCategory `xml:"category,omitempty"`
	Links      []AtomLink     `xml:"link"`
}

// AtomTime formats t as an Atom (RFC 3339) date.
func AtomTime(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }

// MarshalFeed returns f's XML document.
func MarshalFeed(f Feed) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := enc.Encode(f); err != nil {
		return nil, fmt.Errorf("encode feed: %w", err)
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// ParseFeed reads an Atom feed and checks what RFC 4287 requires of it and
// of each entry: id, title and updated (an RFC 3339 date).
func ParseFeed(data []byte) (Feed, error) {
	var f Feed
	if err := xml.Unmarshal(data, &f); err != nil {
		return f, fmt.Errorf("atom feed: %w", err)
	}
	if f.XMLName.Space != AtomNamespace {
		return f, fmt.Errorf("atom feed: namespace %q", f.XMLName.Space)
	}
	check := func(what, id, title, updated string) error {
		if id == "" || title == "" {
			return fmt.Errorf("atom %s: id and title are required", what)
		}
		if _, err := time.Parse(time.RFC3339, updated); err != nil {
			return fmt.Errorf("atom %s %s: updated: %w", what, id, err)
		}
		return nil
	}
	if err := check("feed", f.ID, f.Title, f.Updated); err != nil {
		return f, err
	}
	for _, e := range f.Entries {
		if err := check("entry", e.ID, e.Title, e.Updated); err != nil {
			return f, err
		}
	}
	return f, nil
}
