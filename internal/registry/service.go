package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/sealed"
)

// Service is the registry: every act checks the caller's grant, seals
// personal fields and is logged by the store in its transaction.
type Service struct {
	st   Store
	keys *sealed.Ring
}

// NewService returns the registry over st; keys seals personal fields (nil
// or empty: records with personal fields are refused with sealed.ErrNoKey).
func NewService(st Store, keys *sealed.Ring) *Service { return &Service{st: st, keys: keys} }

// Caller is who acts: a principal ("user:NAME", "key:ID") and, for the
// log, the remote address.
type Caller struct {
	Principal string
	Remote    string
}

func (c Caller) entry(action, target string, detail any) audit.Entry {
	e := audit.Entry{Actor: c.Principal, Action: action, Target: target, Remote: c.Remote}
	if detail != nil {
		e.Detail, _ = json.Marshal(detail)
	}
	return e
}

var (
	scopes = map[Scope]bool{ScopeOwn: true, ScopeTeam: true, ScopeOrg: true, ScopeAll: true}
	levels = map[Level]int{LevelDistrict: 0, LevelProvince: 1, LevelNational: 2}
)

// Grant sets a principal's access (replacing any earlier grant), logged as
// registry.grant. A grant to a district also limits it to that district's
// province.
func (s *Service) Grant(ctx context.Context, by Caller, a Access) (Access, error) {
	if a.Principal == "" || a.Org == "" {
		return a, fmt.Errorf("%w: a grant needs a principal and an organisation", ErrInvalid)
	}
	if !scopes[a.Scope] {
		return a, fmt.Errorf("%w: scope %q is not own, team, org or all", ErrInvalid, a.Scope)
	}
	if _, ok := levels[a.Level]; !ok {
		return a, fmt.Errorf("%w: level %q is not district, province or national", ErrInvalid, a.Level)
	}
	if a.Scope == ScopeTeam && a.Team == "" {
		return a, fmt.Errorf("%w: scope team needs a team", ErrInvalid)
	}
	if a.District > 0 {
		d, err := LookupDistrict(strconv.Itoa(a.District))
		if err != nil {
			return a, err
		}
		if a.Province > 0 && a.Province != d.Province {
			return a, fmt.Errorf("%w: district %s is not in province %s", ErrInvalid, d.Name, Provinces.Title(a.Province))
		}
		a.Province = d.Province
	}
	a.GrantedBy, a.GrantedAt = by.Principal, time.Now().UTC().Truncate(time.Microsecond)
	return a, s.st.PutAccess(ctx, a, by.entry("registry.grant", a.Principal, a))
}

// Access returns the caller's grant (ErrForbidden when it has none).
func (s *Service) Access(ctx context.Context, who Caller) (Access, error) {
	return s.st.GetAccess(ctx, who.Principal)
}

// Grants lists every grant.
func (s *Service) Grants(ctx context.Context) ([]Access, error) { return s.st.ListAccess(ctx) }

// visibility is the filter of what a grant sees.
func visibility(a Access) Filter {
	return Filter{Scope: a.Scope, Principal: a.Principal, Org: a.Org, Team: a.Team, District: a.District, Province: a.Province}
}

func (s *Service) writer(ctx context.Context, who Caller) (Access, error) {
	a, err := s.Access(ctx, who)
	if err != nil {
		return a, err
	}
	if !a.Write {
		return a, fmt.Errorf("%s may only read: %w", who.Principal, ErrForbidden)
	}
	return a, nil
}

// place checks a record's district against the grant's jurisdiction and
// returns its province.
func place(a Access, district, province int) (int, error) {
	if district > 0 {
		d, err := LookupDistrict(strconv.Itoa(district))
		if err != nil {
			return 0, err
		}
		if province > 0 && province != d.Province {
			return 0, fmt.Errorf("%w: district %s is not in %s", ErrInvalid, d.Name, Provinces.Title(province))
		}
		province = d.Province
	}
	if a.District > 0 && district != a.District || a.Province > 0 && province != a.Province {
		return 0, fmt.Errorf("record outside the grant's jurisdiction: %w", ErrForbidden)
	}
	return province, nil
}

func caseAD(id int64) string  { return "reg_cases.personal:" + strconv.FormatInt(id, 10) }
func noteAD(id int64) string  { return "reg_notes.body:" + strconv.FormatInt(id, 10) }
func firAD(uid string) string { return "reg_incidents.fir:" + uid }

// CreateCase opens a case in the caller's organisation and team, owned by
// the caller; personal fields are sealed to the new case.
func (s *Service) CreateCase(ctx context.Context, who Caller, k Case) (Case, error) {
	a, err := s.writer(ctx, who)
	if err != nil {
		return k, err
	}
	if k.Province, err = place(a, k.District, k.Province); err != nil {
		return k, err
	}
	k.Org, k.Team, k.Owner, k.Status = a.Org, a.Team, a.Principal, "open"
	var seal func(int64) (string, error)
	if k.Personal != nil && *k.Personal != (Personal{}) {
		if !s.keys.Configured() {
			return k, fmt.Errorf("refusing to store a child's personal details in clear: %w", sealed.ErrNoKey)
		}
		plain, err := json.Marshal(k.Personal)
		if err != nil {
			return k, err
		}
		seal = func(id int64) (string, error) { return s.keys.SealString(string(plain), caseAD(id)) }
	}
	return s.st.CreateCase(ctx, k, seal, who.entry("registry.case.create", "", map[string]any{"org": k.Org, "district": k.District}))
}

// Case returns a case the caller may see, with its personal fields
// opened; the view is logged (registry.case.view).
func (s *Service) Case(ctx context.Context, who Caller, id int64) (Case, error) {
	a, err := s.Access(ctx, who)
	if err != nil {
		return Case{}, err
	}
	k, err := s.st.ViewCase(ctx, id, visibility(a), who.entry("registry.case.view", "", nil))
	if err != nil {
		return k, err
	}
	if k.Sealed != "" {
		plain, err := s.keys.OpenString(k.Sealed, caseAD(k.ID))
		if err != nil {
			return k, fmt.Errorf("open case %d: %w", id, err)
		}
		k.Personal = new(Personal)
		if err := json.Unmarshal([]byte(plain), k.Personal); err != nil {
			return k, fmt.Errorf("open case %d: %w", id, err)
		}
	}
	return k, nil
}

// Cases lists the cases the caller may see by id after after (personal
// fields stay sealed); the list is logged with the ids it showed.
func (s *Service) Cases(ctx context.Context, who Caller, after int64, limit int) ([]Case, error) {
	a, err := s.Access(ctx, who)
	if err != nil {
		return nil, err
	}
	return s.st.ListCases(ctx, visibility(a), after, clampLimit(limit), who.entry("registry.case.list", "", nil))
}

func clampLimit(n int) int {
	if n <= 0 || n > 1000 {
		return 100
	}
	return n
}

func newUID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// AddIncidents stores incidents for the caller's organisation (all or
// none; each checked, FIR numbers sealed). Incidents linked to a case must
// link a case the caller may see.
func (s *Service) AddIncidents(ctx context.Context, who Caller, in []Incident) (int, error) {
	a, err := s.writer(ctx, who)
	if err != nil {
		return 0, err
	}
	cases := map[int64]bool{}
	for i := range in {
		x := &in[i]
		if err := x.check(); err != nil {
			return 0, fmt.Errorf("incident %d: %w", i+1, err)
		}
		if x.Province, err = place(a, x.District, x.Province); err != nil {
			return 0, fmt.Errorf("incident %d: %w", i+1, err)
		}
		if x.CaseID > 0 && !cases[x.CaseID] {
			if _, err := s.st.ViewCase(ctx, x.CaseID, visibility(a), who.entry("registry.case.link", "", nil)); err != nil {
				return 0, fmt.Errorf("incident %d: %w", i+1, err)
			}
			cases[x.CaseID] = true
		}
		x.Org, x.Team, x.Owner = a.Org, a.Team, a.Principal
		if x.UID == "" {
			x.UID = newUID()
		}
		if x.FIR != "" {
			if !s.keys.Configured() {
				return 0, fmt.Errorf("incident %d: refusing to store an FIR number in clear: %w", i+1, sealed.ErrNoKey)
			}
			if x.SealedFIR, err = s.keys.SealString(x.FIR, firAD(x.UID)); err != nil {
				return 0, fmt.Errorf("incident %d: %w", i+1, err)
			}
		}
	}
	return s.st.InsertIncidents(ctx, in, who.entry("registry.incident.add", "", map[string]any{"org": a.Org, "count": len(in)}))
}

// check validates an incident's fields that do not depend on the grant.
func (x *Incident) check() error {
	for _, f := range []struct {
		v   int
		voc *Vocab
	}{{x.Category, Categories}, {x.Sex, Sexes}, {x.AgeBand, AgeBands}, {x.Relationship, Relationships},
		{x.Place, Places}, {x.Area, Areas}, {x.PoliceStatus, PoliceStatuses}, {x.Stage, Stages}, {x.Outcome, Outcomes}} {
		if f.v != 0 && f.voc.Name(f.v) == "unknown" {
			return fmt.Errorf("%w: %s code %d", ErrInvalid, f.voc.Field, f.v)
		}
	}
	if x.Reported == 0 {
		return fmt.Errorf("%w: reported date missing", ErrInvalid)
	}
	steps := []struct {
		name string
		d    Day
	}{{"reported", x.Reported}, {"fir_date", x.FIRDate}, {"charge_sheet_date", x.ChargeSheetDate},
		{"trial_date", x.TrialDate}, {"verdict_date", x.VerdictDate}}
	last := steps[0]
	for _, st := range steps[1:] {
		if st.d == 0 {
			continue
		}
		if st.d < last.d {
			return fmt.Errorf("%w: %s %s is before %s %s", ErrInvalid, st.name, st.d, last.name, last.d)
		}
		last = st
	}
	if x.Outcome == 2 && x.AcquittalReason == "" {
		return fmt.Errorf("%w: an acquittal needs its reason", ErrInvalid)
	}
	return nil
}

// UpdateIncident records an incident's progress (FIR, charge sheet, trial,
// verdict and outcome, or corrected fields) for a caller who may write and
// see it; an empty FIR keeps the stored one. Logged.
func (s *Service) UpdateIncident(ctx context.Context, who Caller, x Incident) (Incident, error) {
	a, err := s.writer(ctx, who)
	if err != nil {
		return x, err
	}
	if err := x.check(); err != nil {
		return x, err
	}
	if x.Province, err = place(a, x.District, x.Province); err != nil {
		return x, err
	}
	var seal func(string) (string, error)
	if x.FIR != "" {
		if !s.keys.Configured() {
			return x, fmt.Errorf("refusing to store an FIR number in clear: %w", sealed.ErrNoKey)
		}
		fir := x.FIR
		seal = func(uid string) (string, error) { return s.keys.SealString(fir, firAD(uid)) }
	}
	x, err = s.st.UpdateIncident(ctx, x, visibility(a), seal, who.entry("registry.incident.update", "", nil))
	x.SealedFIR = ""
	return x, err
}

// Incident returns an incident the caller may see with its FIR number
// opened; the view is logged (registry.incident.view).
func (s *Service) Incident(ctx context.Context, who Caller, id int64) (Incident, error) {
	a, err := s.Access(ctx, who)
	if err != nil {
		return Incident{}, err
	}
	x, err := s.st.ViewIncident(ctx, id, visibility(a), who.entry("registry.incident.view", "", nil))
	if err != nil {
		return x, err
	}
	if x.SealedFIR != "" {
		if x.FIR, err = s.keys.OpenString(x.SealedFIR, firAD(x.UID)); err != nil {
			return x, fmt.Errorf("open incident %d: %w", id, err)
		}
	}
	return x, nil
}

// Incidents lists incidents the caller may see (FIR numbers stay sealed),
// logged with the ids shown.
func (s *Service) Incidents(ctx context.Context, who Caller, year int, category int, after int64, limit int) ([]Incident, error) {
	a, err := s.Access(ctx, who)
	if err != nil {
		return nil, err
	}
	f := visibility(a)
	f.Year, f.Category = year, category
	return s.st.ListIncidents(ctx, f, after, clampLimit(limit), who.entry("registry.incident.list", "", nil))
}

// Refer asks organisation to to work on a case the caller may see.
func (s *Service) Refer(ctx context.Context, who Caller, caseID int64, to, reason string) (Referral, error) {
	a, err := s.writer(ctx, who)
	if err != nil {
		return Referral{}, err
	}
	if to == "" || to == a.Org {
		return Referral{}, fmt.Errorf("%w: refer to another organisation", ErrInvalid)
	}
	if _, err := s.st.ViewCase(ctx, caseID, visibility(a), who.entry("registry.case.refer", "", nil)); err != nil {
		return Referral{}, err
	}
	r := Referral{CaseID: caseID, FromOrg: a.Org, ToOrg: to, Reason: reason, By: who.Principal}
	return s.st.CreateReferral(ctx, r, who.entry("registry.referral.create", "", map[string]any{"case": caseID, "to": to}))
}

// MoveReferral changes a referral's state: the receiving organisation
// accepts, rejects or completes it, the referring one revokes it.
func (s *Service) MoveReferral(ctx context.Context, who Caller, id int64, to string) (Referral, error) {
	a, err := s.writer(ctx, who)
	if err != nil {
		return Referral{}, err
	}
	r, err := s.st.GetReferral(ctx, id)
	if err != nil {
		return r, err
	}
	if a.Org != r.FromOrg && a.Org != r.ToOrg {
		return Referral{}, fmt.Errorf("referral %d: %w", id, ErrNotFound)
	}
	side, ok := referralMoves[[2]string{r.State, to}]
	if !ok {
		return r, fmt.Errorf("referral %d cannot go from %s to %s: %w", id, r.State, to, ErrConflict)
	}
	if side == "to" && a.Org != r.ToOrg || side == "from" && a.Org != r.FromOrg {
		return r, fmt.Errorf("only the %s organisation may mark referral %d %s: %w", side, id, to, ErrForbidden)
	}
	if err := s.st.MoveReferral(ctx, id, r.State, to, who.entry("registry.referral."+to, fmt.Sprintf("referral:%d", id), nil)); err != nil {
		return r, err
	}
	return s.st.GetReferral(ctx, id)
}

// Referrals lists a visible case's referrals.
func (s *Service) Referrals(ctx context.Context, who Caller, caseID int64) ([]Referral, error) {
	a, err := s.Access(ctx, who)
	if err != nil {
		return nil, err
	}
	if _, err := s.st.ViewCase(ctx, caseID, visibility(a), who.entry("registry.referral.list", "", nil)); err != nil {
		return nil, err
	}
	return s.st.ListReferrals(ctx, caseID)
}

// AddNote adds a sealed note (and an attachment reference, never the
// attachment) to a visible case.
func (s *Service) AddNote(ctx context.Context, who Caller, caseID int64, body, ref string) (Note, error) {
	a, err := s.writer(ctx, who)
	if err != nil {
		return Note{}, err
	}
	if strings.TrimSpace(body) == "" {
		return Note{}, fmt.Errorf("%w: empty note", ErrInvalid)
	}
	if !s.keys.Configured() {
		return Note{}, fmt.Errorf("refusing to store a case note in clear: %w", sealed.ErrNoKey)
	}
	if _, err := s.st.ViewCase(ctx, caseID, visibility(a), who.entry("registry.case.note", "", nil)); err != nil {
		return Note{}, err
	}
	n := Note{CaseID: caseID, Author: who.Principal, Body: body, Ref: ref}
	return s.st.AddNote(ctx, n, func(id int64) (string, error) { return s.keys.SealString(body, noteAD(id)) },
		who.entry("registry.note.add", fmt.Sprintf("case:%d", caseID), nil))
}

// Notes returns a visible case's notes, opened; logged.
func (s *Service) Notes(ctx context.Context, who Caller, caseID int64) ([]Note, error) {
	a, err := s.Access(ctx, who)
	if err != nil {
		return nil, err
	}
	if _, err := s.st.ViewCase(ctx, caseID, visibility(a), who.entry("registry.note.list", "", nil)); err != nil {
		return nil, err
	}
	ns, err := s.st.ListNotes(ctx, caseID, who.entry("registry.note.view", fmt.Sprintf("case:%d", caseID), nil))
	if err != nil {
		return nil, err
	}
	for i := range ns {
		if ns[i].Body, err = s.keys.OpenString(ns[i].Sealed, noteAD(ns[i].ID)); err != nil {
			return nil, fmt.Errorf("open note %d: %w", ns[i].ID, err)
		}
	}
	return ns, nil
}

// RequestClosure asks to close a visible case; a second person approves.
func (s *Service) RequestClosure(ctx context.Context, who Caller, caseID int64, reason string) (Approval, error) {
	a, err := s.writer(ctx, who)
	if err != nil {
		return Approval{}, err
	}
	if _, err := s.st.ViewCase(ctx, caseID, visibility(a), who.entry("registry.case.close", "", nil)); err != nil {
		return Approval{}, err
	}
	return s.st.RequestClosure(ctx, Approval{CaseID: caseID, RequestedBy: who.Principal, Reason: reason},
		who.entry("registry.closure.request", fmt.Sprintf("case:%d", caseID), map[string]any{"reason": reason}))
}

// DecideClosure approves or rejects a closure request of a visible case;
// the requester may not decide their own request (ErrConflict).
func (s *Service) DecideClosure(ctx context.Context, who Caller, id int64, approve bool) (Approval, error) {
	a, err := s.writer(ctx, who)
	if err != nil {
		return Approval{}, err
	}
	ap, err := s.st.GetApproval(ctx, id)
	if err != nil {
		return ap, err
	}
	if _, err := s.st.ViewCase(ctx, ap.CaseID, visibility(a), who.entry("registry.case.close", "", nil)); err != nil {
		if errors.Is(err, ErrNotFound) {
			return Approval{}, fmt.Errorf("approval %d: %w", id, ErrNotFound)
		}
		return Approval{}, err
	}
	return s.st.DecideClosure(ctx, id, approve, who.Principal,
		who.entry("registry.closure.decide", fmt.Sprintf("case:%d", ap.CaseID), map[string]any{"approval": id, "approve": approve}))
}

// maxRowErrors bounds the row errors an import reports.
const maxRowErrors = 1000

// ImportCSV imports an NGO's monitoring sheet (see ParseCSV) for the
// caller's organisation, all or nothing: with any bad row (unreadable,
// invalid, outside the caller's jurisdiction) nothing is imported and the
// result lists the bad rows with ErrBadRows.
func (s *Service) ImportCSV(ctx context.Context, who Caller, r io.Reader) (ImportResult, error) {
	// The sheet is read first, whoever the caller: a body too large for
	// the caller's route fails as such before any grant is looked at.
	in, lines, bad, err := ParseCSV(r)
	if err != nil {
		return ImportResult{}, err
	}
	a, err := s.writer(ctx, who)
	if err != nil {
		return ImportResult{}, err
	}
	res := ImportResult{Rows: len(in) + len(bad)}
	for i := range in {
		if _, err := place(a, in[i].District, in[i].Province); err != nil {
			bad = append(bad, RowError{Line: lines[i], Column: "district", Message: err.Error()})
		}
	}
	res.Bad = len(bad)
	if len(bad) > 0 {
		sort.Slice(bad, func(i, j int) bool { return bad[i].Line < bad[j].Line })
		res.Errors = bad[:min(len(bad), maxRowErrors)]
		return res, fmt.Errorf("%d of %d rows: %w", len(bad), res.Rows, ErrBadRows)
	}
	n, err := s.AddIncidents(ctx, who, in)
	res.Imported = n
	return res, err
}

// ExportCSV writes the incidents the caller may see (of year, when not 0)
// as CSV with the given extra columns; the export is logged.
func (s *Service) ExportCSV(ctx context.Context, who Caller, year int, extra []string, w io.Writer) error {
	a, err := s.Access(ctx, who)
	if err != nil {
		return err
	}
	f := visibility(a)
	f.Year = year
	cw, err := NewCSVWriter(w, extra)
	if err != nil {
		return err
	}
	if err := s.st.ScanIncidents(ctx, f, who.entry("registry.incident.export", "", map[string]any{"year": year}), cw.Write); err != nil {
		return err
	}
	return cw.Flush()
}
