package cap_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nigehban/nigehban/internal/testtool"

	"github.com/nigehban/nigehban/internal/alert/cap"
	"github.com/nigehban/nigehban/internal/alert/cap/captest"
)

const amber = "../../../../shared/testdata/cap/oasis-amber-alert-example.xml"

// xmllintSchema validates a file with xmllint and returns its error.
func xmllintSchema(t *testing.T, doc []byte) error {
	t.Helper()
	xmllint := testtool.Path(t, "xmllint")
	f := filepath.Join(t.TempDir(), "a.xml")
	os.WriteFile(f, doc, 0o600)
	out, err := exec.Command(xmllint, "--noout", "--nonet", "--schema", captest.XSD(t), f).CombinedOutput()
	if err != nil {
		return errors.New(string(out))
	}
	return nil
}

// The standard's own example parses field by field and survives a round
// trip through Marshal that the schema still accepts.
func TestOASISAmberExample(t *testing.T) {
	doc, err := os.ReadFile(amber)
	if err != nil {
		t.Fatal(err)
	}
	if err := xmllintSchema(t, doc); err != nil {
		t.Fatalf("the OASIS example itself: %v", err)
	}
	a, err := cap.Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	if a.Identifier != "KAR0-0306112239-SW" || a.Status != cap.StatusActual || a.MsgType != cap.MsgAlert || a.Scope != "Public" {
		t.Fatalf("alert header: %+v", a)
	}
	if len(a.Info) != 2 || a.Info[0].Language != "en-US" || a.Info[1].Language != "es-US" {
		t.Fatalf("infos: %+v", a.Info)
	}
	in := a.Info[0]
	if in.Category[0] != "Rescue" || in.Event != "Child Abduction" || in.Urgency != "Immediate" ||
		in.Severity != "Severe" || in.Certainty != "Likely" || in.EventCode[0] != (cap.NameValue{ValueName: "SAME", Value: "CAE"}) {
		t.Fatalf("info: %+v", in)
	}
	if in.Area[0].AreaDesc != "Los Angeles County" || in.Area[0].Geocode[0].Value != "006037" {
		t.Fatalf("area: %+v", in.Area)
	}
	if got := a.Sent.UTC().Format(time.RFC3339); got != "2003-06-12T05:39:00Z" {
		t.Fatalf("sent %s", got)
	}
	// The example has no expires: what aggregators require, Validate asks for.
	if err := cap.Validate(a); !errors.Is(err, cap.ErrInvalid) || !strings.Contains(err.Error(), "expires") {
		t.Fatalf("Validate(example) = %v, want missing expires", err)
	}
	out, err := cap.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	if err := xmllintSchema(t, out); err != nil {
		t.Fatalf("round trip: %v\n%s", err, out)
	}
	b, err := cap.Parse(out)
	if err != nil || b.Reference() != a.Reference() || b.Info[1].Description != a.Info[1].Description {
		t.Fatalf("round trip changed the message: %v", err)
	}
}

func bilingual(msgType, refs string) cap.Alert {
	sent := time.Date(2026, 1, 4, 18, 30, 0, 0, time.FixedZone("PKT", 5*3600))
	exp := cap.Time{Time: sent.Add(24 * time.Hour)}
	info := func(lang, event, desc string) cap.Info {
		return cap.Info{Language: lang, Category: []string{"Rescue"}, Event: event, Urgency: "Immediate",
			Severity: "Severe", Certainty: "Likely", Expires: &exp, Description: desc,
			Area: []cap.Area{{AreaDesc: "Kasur", Circle: []string{cap.Circle(31.1167, 74.45, 20)}}}}
	}
	return cap.Alert{Identifier: "nigehban-1", Sender: "alerts@zarra.example.pk", Sent: cap.Time{Time: sent},
		Status: cap.StatusTest, MsgType: msgType, Scope: "Public", References: refs,
		Info: []cap.Info{info("ur-PK", "بچے کا اغوا", "تفصیل"), info("en-PK", "Child Abduction", "details")}}
}

func TestValidate(t *testing.T) {
	ok := bilingual(cap.MsgAlert, "")
	ref := ok.Reference()
	if ref != "alerts@zarra.example.pk,nigehban-1,2026-01-04T18:30:00+05:00" {
		t.Fatalf("reference %q", ref)
	}
	for _, tc := range []struct {
		name string
		a    cap.Alert
		want string // "" = valid
	}{
		{"alert", ok, ""},
		{"update with reference", bilingual(cap.MsgUpdate, ref), ""},
		{"cancel with reference", bilingual(cap.MsgCancel, ref), ""},
		{"update without reference", bilingual(cap.MsgUpdate, ""), "must reference"},
		{"cancel without reference", bilingual(cap.MsgCancel, ""), "must reference"},
		{"alert with reference", bilingual(cap.MsgAlert, ref), "references nothing"},
		{"bad reference", bilingual(cap.MsgCancel, "a,b"), "not sender,identifier,sent"},
		{"bad status", func() cap.Alert { a := ok; a.Status = "Live"; return a }(), "status"},
		{"no expires", func() cap.Alert {
			a := bilingual(cap.MsgAlert, "")
			a.Info[1].Expires = nil
			return a
		}(), "expires"},
		{"bad circle", func() cap.Alert {
			a := bilingual(cap.MsgAlert, "")
			a.Info[0].Area[0].Circle = []string{"91,74 20"}
			return a
		}(), "out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := cap.Validate(tc.a)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				doc, err := cap.Marshal(tc.a)
				if err != nil {
					t.Fatal(err)
				}
				captest.Validate(t, doc)
				return
			}
			if !errors.Is(err, cap.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestFeedRoundTrip(t *testing.T) {
	now := time.Date(2026, 1, 4, 13, 30, 0, 0, time.UTC)
	f := cap.Feed{ID: "urn:x:feed", Title: "alerts", Updated: cap.AtomTime(now),
		Links: []cap.AtomLink{{Rel: "self", Href: "https://x/alerts/feed.atom"}},
		Entries: []cap.FeedEntry{{ID: "urn:x:1", Title: "t", Updated: cap.AtomTime(now),
			Links: []cap.AtomLink{{Rel: "alternate", Type: "application/cap+xml", Href: "https://x/alerts/cap/1"}}}}}
	doc, err := cap.MarshalFeed(f)
	if err != nil {
		t.Fatal(err)
	}
	g, err := cap.ParseFeed(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Entries) != 1 || g.Entries[0].Links[0].Href != "https://x/alerts/cap/1" {
		t.Fatalf("%+v", g)
	}
	if _, err := cap.ParseFeed([]byte(`<feed xmlns="http://www.w3.org/2005/Atom"><id>x</id><title>t</title><updated>yesterday</updated></feed>`)); err == nil {
		t.Fatal("a bad updated date parsed")
	}
}
