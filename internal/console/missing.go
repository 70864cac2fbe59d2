package console

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/alert"
	"github.com/nigehban/nigehban/internal/sealed"
)

// The missing-child desk's pages (internal/alert): the clock board, the
// intake form, and a case with its alert. A test alert looks different on
// every page (striped "TEST" frame, its own confirmations), a live one
// shows a red frame; the approve button is not offered to the alert's
// author, and the desk refuses them anyway.
var missingPages = []page{
	{"GET", "/ui/missing", roleNeeded, account.ChildSafety, (*Console).missingBoard},
	{"GET", "/ui/missing/new", roleNeeded, account.ChildSafety, (*Console).missingForm},
	{"POST", "/ui/missing", roleNeeded, account.ChildSafety, (*Console).missingIntake},
	{"GET", "/ui/missing/{id}", roleNeeded, account.ChildSafety, (*Console).missingCase},
	{"POST", "/ui/missing/{id}/{op}", roleNeeded, account.ChildSafety, (*Console).missingOp},
}

func init() {
	// Kept here so the desk merges without touching the shared tables.
	pageTable = append(pageTable, missingPages...)
	nav = append(nav[:len(nav)-1:len(nav)-1], navItem{"/ui/missing", "Missing children", account.ChildSafety}, nav[len(nav)-1])
}

func (c *Console) desk() (*alert.Service, error) {
	if c.cfg.Alerts == nil {
		return nil, &httpError{http.StatusNotFound, "The missing-child desk is not enabled on this server (serve --alerts FILE)."}
	}
	return c.cfg.Alerts, nil
}

// deskError turns the desk's errors into pages.
func deskError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, alert.ErrFourEyes):
		return &httpError{http.StatusForbidden, "You drafted this alert: a second person must approve it."}
	case errors.Is(err, alert.ErrNotFound):
		return &httpError{http.StatusNotFound, "No such case."}
	case errors.Is(err, alert.ErrInvalid), errors.Is(err, alert.ErrConflict):
		return &httpError{http.StatusBadRequest, err.Error()}
	case errors.Is(err, sealed.ErrNoKey):
		return &httpError{http.StatusServiceUnavailable, "No data key is configured (serve --data-key): personal data cannot be stored."}
	}
	return err
}

// boardRow is a case on the clock board.
type boardRow struct {
	*alert.Case
	Complaint, Agency string // deadline states
	Due               time.Time
}

func (c *Console) missingBoard(w http.ResponseWriter, r *http.Request, v *visit) error {
	d, err := c.desk()
	if err != nil {
		return err
	}
	cases, err := d.Board(r.Context())
	if err != nil {
		return err
	}
	rows := make([]boardRow, 0, len(cases))
	for _, cs := range cases {
		row := boardRow{Case: cs}
		for _, dl := range cs.Clock {
			row.Due = dl.Due
			switch dl.Milestone {
			case alert.MilestoneComplaint:
				row.Complaint = dl.ClockStatus()
			case alert.MilestoneAgency:
				row.Agency = dl.ClockStatus()
			}
		}
		rows = append(rows, row)
	}
	c.render(w, r, v, http.StatusOK, "missing", "Missing children", map[string]any{"Cases": rows})
	return nil
}

func (c *Console) missingForm(w http.ResponseWriter, r *http.Request, v *visit) error {
	if _, err := c.desk(); err != nil {
		return err
	}
	c.render(w, r, v, http.StatusOK, "missing_new", "Report a missing child", nil)
	return nil
}

// lines splits a textarea into its non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// intakeForm reads the intake form.
func intakeForm(r *http.Request, zone *time.Location) (alert.Intake, error) {
	f := r.PostForm
	num := func(name string) float64 {
		x, _ := strconv.ParseFloat(strings.TrimSpace(f.Get(name)), 64)
		return x
	}
	age, err := strconv.Atoi(strings.TrimSpace(f.Get("age")))
	if err != nil {
		return alert.Intake{}, &httpError{http.StatusBadRequest, "Age must be a whole number of years."}
	}
	seen, err := time.ParseInLocation("2006-01-02T15:04", f.Get("last_seen_at"), zone)
	if err != nil {
		return alert.Intake{}, &httpError{http.StatusBadRequest, "Last seen: give the date and time."}
	}
	in := alert.Intake{Channel: alert.Channel(f.Get("channel")), Age: age, Sex: f.Get("sex"),
		Child: alert.Child{Name: f.Get("name"), Description: f.Get("description"), DescriptionUR: f.Get("description_ur"),
			Clothing: f.Get("clothing"), PhotoURL: strings.TrimSpace(f.Get("photo_url"))},
		LastSeen:     alert.LastSeen{At: seen, Lat: num("lat"), Lon: num("lon"), Place: f.Get("place"), District: f.Get("district")},
		Circumstance: alert.Circumstance(f.Get("circumstance")), Danger: f.Get("danger") == "1",
		Guardian:  alert.Person{Name: f.Get("guardian_name"), Relation: f.Get("guardian_relation"), Phone: f.Get("guardian_phone")},
		Reporter:  alert.Person{Name: f.Get("reporter_name"), Organisation: f.Get("reporter_org"), Phone: f.Get("reporter_phone")},
		Checklist: alert.PoliceChecklist{FriendsAndAcquaintances: lines(f.Get("friends")), Vehicles: lines(f.Get("vehicles"))},
		Suspect:   f.Get("suspect")}
	for _, l := range lines(f.Get("phones")) {
		p := strings.Split(l, ",")
		for len(p) < 4 {
			p = append(p, "")
		}
		in.Checklist.Phones = append(in.Checklist.Phones, alert.Phone{Maker: strings.TrimSpace(p[0]), Model: strings.TrimSpace(p[1]),
			Operator: strings.TrimSpace(p[2]), Number: strings.TrimSpace(p[3])})
	}
	return in, nil
}

func (c *Console) missingIntake(w http.ResponseWriter, r *http.Request, v *visit) error {
	d, err := c.desk()
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return err
	}
	in, err := intakeForm(r, d.Zone())
	if err != nil {
		return err
	}
	cs, err := d.Intake(r.Context(), in, v.by())
	if err != nil {
		return deskError(err)
	}
	http.Redirect(w, r, fmt.Sprintf("/ui/missing/%d", cs.ID), http.StatusSeeOther)
	return nil
}

func caseID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, &httpError{http.StatusNotFound, "No such case."}
	}
	return id, nil
}

func (c *Console) missingCase(w http.ResponseWriter, r *http.Request, v *visit) error {
	d, err := c.desk()
	if err != nil {
		return err
	}
	id, err := caseID(r)
	if err != nil {
		return err
	}
	cs, err := d.Get(r.Context(), id, v.by())
	if err != nil {
		return deskError(err)
	}
	data := map[string]any{"Case": cs, "Me": v.actor(), "Msg": r.URL.Query().Get("done")}
	if a := cs.Alert; a != nil {
		data["Author"] = a.Author == v.actor()
		var prepared []map[string]string
		for _, m := range a.Prepared {
			doc, err := d.MessageXML(cs, m.Identifier)
			if err != nil {
				return err
			}
			prepared = append(prepared, map[string]string{"Type": m.MsgType, "XML": string(doc)})
		}
		data["Prepared"] = prepared
	}
	title := "Case " + strconv.FormatInt(cs.ID, 10)
	if cs.Alert != nil && cs.Alert.Test {
		title += " — TEST ALERT"
	}
	c.render(w, r, v, http.StatusOK, "missing_case", title, data)
	return nil
}

func (c *Console) missingOp(w http.ResponseWriter, r *http.Request, v *visit) error {
	d, err := c.desk()
	if err != nil {
		return err
	}
	id, err := caseID(r)
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return err
	}
	ctx, by, f := r.Context(), v.by(), r.PostForm
	op := r.PathValue("op")
	switch op {
	case "complaint":
		_, err = d.RecordComplaint(ctx, id, f.Get("number"), by)
	case "informed":
		_, err = d.AgencyInformed(ctx, id, by)
	case "draft":
		radius, _ := strconv.ParseFloat(f.Get("radius_km"), 64)
		hours, _ := strconv.Atoi(f.Get("hours"))
		_, err = d.Draft(ctx, id, alert.DraftRequest{Tier: alert.Tier(f.Get("tier")), Test: f.Get("test") == "1", RadiusKM: radius, Hours: hours}, by)
	case "submit":
		_, err = d.Submit(ctx, id, by)
	case "approve":
		_, err = d.Approve(ctx, id, by)
	case "issue":
		_, err = d.Issue(ctx, id, by)
	case "update":
		_, err = d.Update(ctx, id, f.Get("note"), f.Get("note_ur"), by)
	case "cancel":
		_, err = d.Cancel(ctx, id, f.Get("reason"), by)
	case "close":
		_, err = d.Close(ctx, id, alert.Outcome(f.Get("outcome")), by)
	default:
		return &httpError{http.StatusNotFound, "No such action."}
	}
	if err != nil {
		return deskError(err)
	}
	http.Redirect(w, r, fmt.Sprintf("/ui/missing/%d?done=%s", id, op), http.StatusSeeOther)
	return nil
}
