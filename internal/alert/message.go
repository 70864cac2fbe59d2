package alert

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nigehban/nigehban/internal/alert/cap"
)

// Languages of every message: one info in Urdu, one in English.
const (
	LangUrdu    = "ur-PK"
	LangEnglish = "en-PK"
)

// testPrefix marks every text of a test message, in both languages.
const (
	testPrefix   = "TEST — NOT A REAL ALERT. "
	testPrefixUR = "آزمائشی پیغام — یہ اصل الرٹ نہیں۔ "
)

// events of each tier and circumstance, English and Urdu.
func eventName(c *Case, t Tier) (en, ur string) {
	if t == TierAlert && c.Circumstance == Abduction {
		return "Child Abduction", "بچے کا اغوا"
	}
	return "Missing Child", "لاپتہ بچہ"
}

var sexUR = map[string]string{Female: "لڑکی", Male: "لڑکا", Other: "دیگر", SexUnknown: "نامعلوم"}

// BuildCAP returns the CAP 1.2 message m of case c. An Alert or Update
// needs c's personal part (the child's details); a Cancel carries none of
// it. The status is derived from m.Test and cannot be chosen: a test
// alert's messages are status=Test, whatever the caller.
func BuildCAP(c *Case, m Message, cfg *Config) (cap.Alert, error) {
	status := cap.StatusActual
	if m.Test {
		status = cap.StatusTest
	}
	a := cap.Alert{
		Identifier: m.Identifier, Sender: cfg.Sender, Sent: cap.Time{Time: m.Sent.In(cfg.zone())},
		Status: status, MsgType: m.MsgType, Source: "nigehban", Scope: "Public",
		Note:      "Zainab Alert, Response and Recovery Act 2020; case " + c.UID,
		Incidents: "nigehban-" + c.UID,
	}
	if m.Test {
		a.Note = "TEST. " + a.Note
	}
	if m.References != "" {
		prev := c.message(m.References)
		if prev == nil {
			return a, fmt.Errorf("message %s references unknown message %s", m.Identifier, m.References)
		}
		t, _ := cap.Time{Time: prev.Sent.In(cfg.zone())}.MarshalText()
		a.References = cfg.Sender + "," + prev.Identifier + "," + string(t)
	}
	evEN, evUR := eventName(c, m.Tier)
	exp := cap.Time{Time: m.Expires.In(cfg.zone())}
	urgency, severity, certainty := "Immediate", "Severe", "Likely"
	if m.Tier == TierNotice {
		urgency, severity, certainty = "Expected", "Moderate", "Possible"
	}
	var codes []cap.NameValue
	if evEN == "Child Abduction" {
		codes = []cap.NameValue{{ValueName: "SAME", Value: "CAE"}}
	}
	info := func(lang, event, headline, desc, instr string, area cap.Area, res []cap.Resource) cap.Info {
		return cap.Info{Language: lang, Category: []string{"Rescue"}, Event: event, ResponseType: []string{"Monitor"},
			Urgency: urgency, Severity: severity, Certainty: certainty, EventCode: codes, Expires: &exp,
			SenderName: cfg.SenderName, Headline: headline, Description: desc, Instruction: instr,
			Web: cfg.BaseURL + "/alerts/cap/" + m.Identifier, Contact: cfg.Contact,
			Parameter: []cap.NameValue{{ValueName: "tier", Value: string(m.Tier)}}, Resource: res, Area: []cap.Area{area}}
	}
	district := c.District
	if m.MsgType == cap.MsgCancel {
		urgency, severity, certainty = "Past", "Minor", "Observed"
		area := cap.Area{AreaDesc: district}
		en, ur := m.Note, m.NoteUR
		if m.Test {
			en, ur = testPrefix+en, testPrefixUR+ur
		}
		a.Info = []cap.Info{
			info(LangUrdu, evUR, ur, ur, "", area, nil),
			info(LangEnglish, evEN, en, en, "", area, nil),
		}
		return a, checkStatus(a, m)
	}
	p := c.Personal
	if p == nil {
		return a, fmt.Errorf("message %s: the case's personal part is needed (sealed data not opened)", m.Identifier)
	}
	area := cap.Area{AreaDesc: district, Circle: []string{cap.Circle(p.Lat, p.Lon, c.Alert.RadiusKM)}}
	if p.Place != "" {
		area.AreaDesc = p.Place + ", " + district
	}
	var res []cap.Resource
	if p.Child.PhotoURL != "" {
		mt := p.Child.PhotoType
		if mt == "" {
			mt = "image/jpeg"
		}
		res = []cap.Resource{{ResourceDesc: "Photograph of the child", MimeType: mt, URI: p.Child.PhotoURL}}
	}
	seen := c.LastSeenAt.In(cfg.zone()).Format("2006-01-02 15:04")
	descUR := p.Child.DescriptionUR
	if descUR == "" {
		descUR = p.Child.Description
	}
	var en, ur strings.Builder
	fmt.Fprintf(&en, "NAME: %s. AGE: %d. SEX: %s. DESCRIPTION: %s.", p.Child.Name, c.Age, c.Sex, strings.TrimRight(p.Child.Description, ". "))
	fmt.Fprintf(&ur, "نام: %s۔ عمر: %s سال۔ جنس: %s۔ حلیہ: %s۔", p.Child.Name, strconv.Itoa(c.Age), sexUR[c.Sex], strings.TrimRight(descUR, ".۔ "))
	if p.Child.Clothing != "" {
		fmt.Fprintf(&en, " WEARING: %s.", strings.TrimRight(p.Child.Clothing, ". "))
		fmt.Fprintf(&ur, " لباس: %s۔", strings.TrimRight(p.Child.Clothing, ".۔ "))
	}
	fmt.Fprintf(&en, " LAST SEEN: %s, %s.", area.AreaDesc, seen)
	fmt.Fprintf(&ur, " آخری بار دیکھا گیا: %s، %s۔", area.AreaDesc, seen)
	if p.Suspect != "" && c.Circumstance == Abduction {
		fmt.Fprintf(&en, " SUSPECT: %s.", strings.TrimRight(p.Suspect, ". "))
		fmt.Fprintf(&ur, " مشتبہ: %s۔", strings.TrimRight(p.Suspect, ".۔ "))
	}
	if m.MsgType == cap.MsgUpdate {
		fmt.Fprintf(&en, " UPDATE: %s", m.Note)
		fmt.Fprintf(&ur, " %s", m.NoteUR)
	}
	headEN := evEN + " alert: " + district
	headUR := district + " میں " + evUR + " کا الرٹ"
	if m.Tier == TierNotice {
		headEN, headUR = "Missing child notice: "+district, district+" سے لاپتہ بچے کی اطلاع"
	}
	instrEN := "If you see this child, call " + cfg.Contact + " or the police (15) at once. Do not approach a suspect."
	instrUR := "اگر آپ اس بچے کو دیکھیں تو فوراً " + cfg.Contact + " یا پولیس (15) کو اطلاع دیں۔ مشتبہ شخص کے قریب نہ جائیں۔"
	descEN, descURs := en.String(), ur.String()
	if m.Test {
		headEN, headUR, descEN, descURs = testPrefix+headEN, testPrefixUR+headUR, testPrefix+descEN, testPrefixUR+descURs
	}
	a.Info = []cap.Info{
		info(LangUrdu, evUR, headUR, descURs, instrUR, area, res),
		info(LangEnglish, evEN, headEN, descEN, instrEN, area, res),
	}
	return a, checkStatus(a, m)
}

// checkStatus is the last guard of the test mode: a test message is never
// status=Actual, and an actual one never Test.
func checkStatus(a cap.Alert, m Message) error {
	if m.Test != (a.Status == cap.StatusTest) || (m.Test && a.Status == cap.StatusActual) {
		return fmt.Errorf("message %s: test=%v but status %s: refusing to emit", m.Identifier, m.Test, a.Status)
	}
	return nil
}

// message returns the case's message with this identifier, or nil.
func (c *Case) message(id string) *Message {
	for i := range c.Messages {
		if c.Messages[i].Identifier == id {
			return &c.Messages[i]
		}
	}
	return nil
}

// zone is the time zone messages are written in.
func (cfg *Config) zone() *time.Location {
	if cfg.Zone != nil {
		return cfg.Zone
	}
	return time.FixedZone("PKT", 5*3600)
}
