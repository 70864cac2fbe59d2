package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/disclosure"
	"github.com/nigehban/nigehban/internal/registry"
	"github.com/nigehban/nigehban/internal/sealed"
)

// The case registry and its statistics (internal/registry, issue 18). Any
// key may call these routes; what it sees is decided by its registry grant
// (principal "key:ID"), which admins set with PUT /v1/registry/grants or
// `nigehban registry grant`. A key without a grant gets 403.

var (
	csvBody = []body{{"text/csv", limitImport}}
)

var registryRoutes = []route{
	{"GET", "/v1/registry/grants", apikey.Admin, "List registry grants (scope own|team|org|all, organisation, team, reporting level district|province|national, jurisdiction).", noRequestBody, noBankChange, (*Server).listGrants},
	{"PUT", "/v1/registry/grants", apikey.Admin, "Set a principal's registry grant {principal (key:ID or user:NAME), scope, org, team, level, district, province, write}; logged.", jsonBody, noBankChange, (*Server).putGrant},
	{"GET", "/v1/cases", apikey.Submitter, "List the cases the caller's grant shows, by id (?after=ID&limit=N≤1000); personal fields stay sealed; the list is logged.", noRequestBody, noBankChange, (*Server).listCases},
	{"POST", "/v1/cases", apikey.Submitter, "Open a case {sex, age_band, district, personal{name, guardian, contact, address}, extra{…}}; personal fields are sealed (refused without a data key).", jsonBody, noBankChange, (*Server).createCase},
	{"GET", "/v1/cases/{id}", apikey.Submitter, "A case with its personal fields; every view is logged in the transparency log.", noRequestBody, noBankChange, (*Server).getCase},
	{"GET", "/v1/cases/{id}/notes", apikey.Submitter, "A case's notes (opened; logged).", noRequestBody, noBankChange, (*Server).listNotes},
	{"POST", "/v1/cases/{id}/notes", apikey.Submitter, "Add a note {body, ref}: ref points at an attachment kept elsewhere, never the attachment.", jsonBody, noBankChange, (*Server).addNote},
	{"GET", "/v1/cases/{id}/referrals", apikey.Submitter, "A case's referrals.", noRequestBody, noBankChange, (*Server).listReferrals},
	{"POST", "/v1/cases/{id}/referrals", apikey.Submitter, "Refer a case to another organisation {to, reason}.", jsonBody, noBankChange, (*Server).createReferral},
	{"POST", "/v1/referrals/{id}", apikey.Submitter, "Move a referral {state: accepted|rejected|done (receiver) or revoked (referrer)}.", jsonBody, noBankChange, (*Server).moveReferral},
	{"POST", "/v1/cases/{id}/closure", apikey.Submitter, "Request closure of a case {reason}; another person approves.", jsonBody, noBankChange, (*Server).requestClosure},
	{"POST", "/v1/approvals/{id}", apikey.Submitter, "Decide a closure request {approve: true|false}; not by its requester.", jsonBody, noBankChange, (*Server).decideClosure},
	{"GET", "/v1/incidents", apikey.Submitter, "List incidents the grant shows (?year=&category=&after=ID&limit=N≤1000); FIR numbers stay sealed; logged.", noRequestBody, noBankChange, (*Server).listIncidents},
	{"POST", "/v1/incidents", apikey.Submitter, "Add incidents {\"incidents\":[…]} (all or none).", jsonBody, noBankChange, (*Server).addIncidents},
	{"PUT", "/v1/incidents/{id}", apikey.Submitter, "Record an incident's progress or corrections (the whole incident as GET returns it; FIR dates, charge sheet, trial, verdict, outcome); an empty fir keeps the stored one; logged.", jsonBody, noBankChange, (*Server).updateIncident},
	{"GET", "/v1/incidents/{id}", apikey.Submitter, "An incident with its FIR number; every view is logged.", noRequestBody, noBankChange, (*Server).getIncident},
	{"POST", "/v1/incidents/import", apikey.Submitter, "Import an NGO monitoring sheet (text/csv with a header; columns as /v1/incidents/export writes, plus extra.KEY); all or none: bad rows answer 422 with their line, column and message.", csvBody, noBankChange, (*Server).importIncidents},
	{"GET", "/v1/incidents/export", apikey.Submitter, "The incidents the grant shows as CSV (?year=&extra=KEY,KEY); FIR numbers left out; logged.", noRequestBody, noBankChange, (*Server).exportIncidents},
	{"GET", "/v1/stats", apikey.Submitter, "A two-way table of incident counts (?rows=&cols= any two of year, month, district, province, category, sex, age_band, relationship, place, area, police_status, stage, outcome; &year=&category=&district=&province=&threshold=≥5&format=json|csv|svg), cells below the threshold suppressed with complementary suppression; signed by the transparency log (log_seq) and logged.", noRequestBody, noBankChange, (*Server).stats},
	{"GET", "/v1/stats/funnel", apikey.Submitter, "The justice funnel (reported → FIR → charge sheet → trial → verdict → conviction) with mean days between steps (?year=&category=&district=&province=); protected and logged.", noRequestBody, noBankChange, (*Server).statsFunnel},
	{"GET", "/v1/stats/yearly", apikey.Submitter, "Sahil-style yearly tables of ?year= (those the reporting level allows); each protected and logged.", noRequestBody, noBankChange, (*Server).statsYearly},
}

func init() { routeTable = append(routeTable, registryRoutes...) }

// newRegistry is the registry over st when the store has one.
func newRegistry(st Store, cfg Config) *registry.Service {
	if rs, ok := st.(registry.Store); ok {
		return registry.NewService(rs, cfg.DataKeys)
	}
	return nil
}

func (c caller) principal() registry.Caller {
	return registry.Caller{Principal: fmt.Sprintf("key:%d", c.key.ID), Remote: c.remote}
}

// regError maps registry errors to HTTP.
func regError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, registry.ErrNotFound):
		return errorf(http.StatusNotFound, "not_found", "%v", err)
	case errors.Is(err, registry.ErrForbidden):
		return errorf(http.StatusForbidden, "forbidden", "%v", err)
	case errors.Is(err, registry.ErrTooFine):
		return errorf(http.StatusForbidden, "too_fine", "%v", err)
	case errors.Is(err, registry.ErrConflict):
		return errorf(http.StatusConflict, "conflict", "%v", err)
	case errors.Is(err, registry.ErrInvalid), errors.Is(err, disclosure.ErrShape):
		return errorf(http.StatusBadRequest, "invalid", "%v", err)
	case errors.Is(err, sealed.ErrNoKey):
		return errorf(http.StatusServiceUnavailable, "no_data_key", "%v", err)
	}
	return err
}

func (s *Server) registry() (*registry.Service, error) {
	if s.reg == nil {
		return nil, errorf(http.StatusNotImplemented, "no_registry", "this store has no case registry")
	}
	return s.reg, nil
}

// registryJSON is the shape of the registry's JSON routes: read the request
// into In (path id, query parameters, JSON body), call the registry as the
// caller, and answer Out as JSON with status. The registry's errors, and its
// sentinels met while reading, map through regError; others pass unchanged.
func registryJSON[In, Out any](s *Server, w http.ResponseWriter, r *http.Request, c caller, status int,
	read func(*http.Request) (In, error),
	call func(ctx context.Context, reg *registry.Service, p registry.Caller, in In) (Out, error)) error {
	reg, err := s.registry()
	if err != nil {
		return err
	}
	in, err := read(r)
	if err != nil {
		return regError(err)
	}
	out, err := call(r.Context(), reg, c.principal(), in)
	if err != nil {
		return regError(err)
	}
	writeJSON(w, status, out)
	return nil
}

// noInput reads nothing from the request.
func noInput(*http.Request) (struct{}, error) { return struct{}{}, nil }

// decoded reads the request's JSON body into a T (unknown fields refused).
func decoded[T any](r *http.Request) (T, error) {
	var v T
	err := decodeJSON(r, &v)
	return v, err
}

// onID is a request on one case, incident, referral or approval: the id
// from the path and the JSON body.
type onID[B any] struct {
	ID   int64
	Body B
}

// idAndBody reads the path's id, then the JSON body into a B.
func idAndBody[B any](r *http.Request) (onID[B], error) {
	id, err := regID(r)
	if err != nil {
		return onID[B]{}, err
	}
	b, err := decoded[B](r)
	return onID[B]{id, b}, err
}

// listed is a list answered as {"name": [...]}, never null.
func listed[T any](name string, xs []T, err error) (map[string]any, error) {
	if xs == nil {
		xs = []T{}
	}
	return map[string]any{name: xs}, err
}

// regID reads the path's id.
func regID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errorf(http.StatusBadRequest, "invalid", "id must be a positive integer")
	}
	return id, nil
}

// page is the ?after= and ?limit= of a listing.
type page struct{ after, limit int64 }

// readPage reads a listing's page.
func readPage(r *http.Request) (page, error) {
	after, err := queryInt(r, "after", 0, 1<<62)
	if err != nil {
		return page{}, err
	}
	limit, err := queryInt(r, "limit", 100, 1000)
	return page{after, limit}, err
}

func (s *Server) listGrants(w http.ResponseWriter, r *http.Request, c caller) error {
	return registryJSON(s, w, r, c, http.StatusOK, noInput, func(ctx context.Context, reg *registry.Service, _ registry.Caller, _ struct{}) (map[string]any, error) {
		gs, err := reg.Grants(ctx)
		return listed("grants", gs, err)
	})
}

// grantRequest is the body of PUT /v1/registry/grants.
type grantRequest struct {
	Principal, Org, Team, District, Province string
	Scope                                    registry.Scope
	Level                                    registry.Level
	Write                                    bool
}

func readGrant(r *http.Request) (registry.Access, error) {
	in, err := decoded[grantRequest](r)
	if err != nil {
		return registry.Access{}, err
	}
	a := registry.Access{Principal: in.Principal, Scope: in.Scope, Org: in.Org, Team: in.Team, Level: in.Level, Write: in.Write}
	if in.District != "" {
		d, err := registry.LookupDistrict(in.District)
		if err != nil {
			return a, err
		}
		a.District = d.Code
	}
	a.Province, err = registry.Provinces.Code(in.Province)
	return a, err
}

func (s *Server) putGrant(w http.ResponseWriter, r *http.Request, c caller) error {
	// Grants are set by the admin key itself, not by its registry principal.
	return registryJSON(s, w, r, c, http.StatusOK, readGrant, func(ctx context.Context, reg *registry.Service, _ registry.Caller, a registry.Access) (registry.Access, error) {
		return reg.Grant(ctx, registry.Caller{Principal: c.actor(), Remote: c.remote}, a)
	})
}

func (s *Server) listCases(w http.ResponseWriter, r *http.Request, c caller) error {
	return registryJSON(s, w, r, c, http.StatusOK, readPage, func(ctx context.Context, reg *registry.Service, p registry.Caller, pg page) (map[string]any, error) {
		cs, err := reg.Cases(ctx, p, pg.after, int(pg.limit))
		return listed("cases", cs, err)
	})
}

func (s *Server) createCase(w http.ResponseWriter, r *http.Request, c caller) error {
	return registryJSON(s, w, r, c, http.StatusCreated, decoded[registry.Case], func(ctx context.Context, reg *registry.Service, p registry.Caller, k registry.Case) (registry.Case, error) {
		k, err := reg.CreateCase(ctx, p, k)
		k.Personal = nil
		return k, err
	})
}

func (s *Server) getCase(w http.ResponseWriter, r *http.Request, c caller) error {
	return registryJSON(s, w, r, c, http.StatusOK, regID, func(ctx context.Context, reg *registry.Service, p registry.Caller, id int64) (registry.Case, error) {
		return reg.Case(ctx, p, id)
	})
}

func (s *Server) listNotes(w http.ResponseWriter, r *http.Request, c caller) error {
	return registryJSON(s, w, r, c, http.StatusOK, regID, func(ctx context.Context, reg *registry.Service, p registry.Caller, id int64) (map[string]any, error) {
		ns, err := reg.Notes(ctx, p, id)
		return listed("notes", ns, err)
	})
}

type noteRequest struct{ Body, Ref string }

func (s *Server) addNote(w http.ResponseWriter, r *http.Request, c caller) error {
	return registryJSON(s, w, r, c, http.StatusCreated, idAndBody[noteRequest], func(ctx context.Context, reg *registry.Service, p registry.Caller, in onID[noteRequest]) (registry.Note, error) {
		return reg.AddNote(ctx, p, in.ID, in.Body.Body, in.Body.Ref)
	})
}

func (s *Server) listReferrals(w http.ResponseWriter, r *http.Request, c caller) error {
	return registryJSON(s, w, r, c, http.StatusOK, regID, func(ctx context.Context, reg *registry.Service, p registry.Caller, id int64) (map[string]any, error) {
		rs, err := reg.Referrals(ctx, p, id)
		return listed("referrals", rs, err)
	})
}

type referralRequest struct{ To, Reason string }

func (s *Server) createReferral(w http.ResponseWriter, r *http.Request, c caller) error {
	return registryJSON(s, w, r, c, http.StatusCreated, idAndBody[referralRequest], func(ctx context.Context, reg *registry.Service, p registry.Caller, in onID[referralRequest]) (registry.Referral, error) {
		return reg.Refer(ctx, p, in.ID, in.Body.To, in.Body.Reason)
	})
}

type moveRequest struct{ State string }

func (s *Server) moveReferral(w http.ResponseWriter, r *http.Request, c caller) error {
	return registryJSON(s, w, r, c, http.StatusOK, idAndBody[moveRequest], func(ctx context.Context, reg *registry.Service, p registry.Caller, in onID[moveRequest]) (registry.Referral, error) {
		return reg.MoveReferral(ctx, p, in.ID, in.Body.State)
	})
}

type closureRequest struct{ Reason string }

func (s *Server) requestClosure(w http.ResponseWriter, r *http.Request, c caller) error {
	return registryJSON(s, w, r, c, http.StatusCreated, idAndBody[closureRequest], func(ctx context.Context, reg *registry.Service, p registry.Caller, in onID[closureRequest]) (registry.Approval, error) {
		return reg.RequestClosure(ctx, p, in.ID, in.Body.Reason)
	})
}

type decisionRequest struct{ Approve bool }

func (s *Server) decideClosure(w http.ResponseWriter, r *http.Request, c caller) error {
	return registryJSON(s, w, r, c, http.StatusOK, idAndBody[decisionRequest], func(ctx context.Context, reg *registry.Service, p registry.Caller, in onID[decisionRequest]) (registry.Approval, error) {
		return reg.DecideClosure(ctx, p, in.ID, in.Body.Approve)
	})
}

// incidentQuery is the filter and page of GET /v1/incidents.
type incidentQuery struct {
	page
	year     int64
	category int
}

func readIncidentQuery(r *http.Request) (incidentQuery, error) {
	pg, err := readPage(r)
	if err != nil {
		return incidentQuery{}, err
	}
	year, err := queryInt(r, "year", 0, 9999)
	if err != nil {
		return incidentQuery{}, err
	}
	cat, err := registry.Categories.Code(r.URL.Query().Get("category"))
	return incidentQuery{pg, year, cat}, err
}

func (s *Server) listIncidents(w http.ResponseWriter, r *http.Request, c caller) error {
	return registryJSON(s, w, r, c, http.StatusOK, readIncidentQuery, func(ctx context.Context, reg *registry.Service, p registry.Caller, q incidentQuery) (map[string]any, error) {
		xs, err := reg.Incidents(ctx, p, int(q.year), q.category, q.after, int(q.limit))
		return listed("incidents", xs, err)
	})
}

type incidentsRequest struct{ Incidents []registry.Incident }

func (s *Server) addIncidents(w http.ResponseWriter, r *http.Request, c caller) error {
	return registryJSON(s, w, r, c, http.StatusCreated, decoded[incidentsRequest], func(ctx context.Context, reg *registry.Service, p registry.Caller, in incidentsRequest) (map[string]any, error) {
		n, err := reg.AddIncidents(ctx, p, in.Incidents)
		return map[string]any{"added": n}, err
	})
}

func (s *Server) getIncident(w http.ResponseWriter, r *http.Request, c caller) error {
	return registryJSON(s, w, r, c, http.StatusOK, regID, func(ctx context.Context, reg *registry.Service, p registry.Caller, id int64) (registry.Incident, error) {
		return reg.Incident(ctx, p, id)
	})
}

// readIncident reads the path's id and the whole incident as GET returns
// it (unknown fields allowed: the answer of GET is sent back as it is).
func readIncident(r *http.Request) (registry.Incident, error) {
	id, err := regID(r)
	if err != nil {
		return registry.Incident{}, err
	}
	var x registry.Incident
	if err := json.NewDecoder(r.Body).Decode(&x); err != nil {
		return x, fmt.Errorf("%w: %v", registry.ErrInvalid, err)
	}
	x.ID = id
	return x, nil
}

func (s *Server) updateIncident(w http.ResponseWriter, r *http.Request, c caller) error {
	return registryJSON(s, w, r, c, http.StatusOK, readIncident, func(ctx context.Context, reg *registry.Service, p registry.Caller, x registry.Incident) (registry.Incident, error) {
		x, err := reg.UpdateIncident(ctx, p, x)
		x.FIR = ""
		return x, err
	})
}

func (s *Server) importIncidents(w http.ResponseWriter, r *http.Request, c caller) error {
	reg, err := s.registry()
	if err != nil {
		return err
	}
	// Read the whole body first: a sheet over the route's limit is 413
	// whatever its content.
	sheet, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	res, err := reg.ImportCSV(r.Context(), c.principal(), bytes.NewReader(sheet))
	if errors.Is(err, registry.ErrBadRows) {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
			"error":  map[string]string{"code": "bad_rows", "message": err.Error()},
			"result": res})
		return nil
	}
	if err != nil {
		return regError(err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"result": res})
	return nil
}

func (s *Server) exportIncidents(w http.ResponseWriter, r *http.Request, c caller) error {
	reg, err := s.registry()
	if err != nil {
		return err
	}
	year, err := queryInt(r, "year", 0, 9999)
	if err != nil {
		return err
	}
	var extra []string
	if v := r.URL.Query().Get("extra"); v != "" {
		extra = strings.Split(v, ",")
	}
	if _, err := reg.Access(r.Context(), c.principal()); err != nil {
		return regError(err)
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="incidents.csv"`)
	if err := reg.ExportCSV(r.Context(), c.principal(), int(year), extra, w); err != nil {
		s.log.Error("export incidents", "err", err)
	}
	return nil
}

// tableRequest reads the statistics query parameters.
func tableRequest(r *http.Request) (registry.TableRequest, error) {
	q := r.URL.Query()
	year, err := queryInt(r, "year", 0, 9999)
	if err != nil {
		return registry.TableRequest{}, err
	}
	th, err := queryInt(r, "threshold", 0, 1<<20)
	if err != nil {
		return registry.TableRequest{}, err
	}
	return registry.TableRequest{Rows: q.Get("rows"), Cols: q.Get("cols"), Year: int(year), Category: q.Get("category"),
		District: q.Get("district"), Province: q.Get("province"), Threshold: th}, nil
}

func (s *Server) stats(w http.ResponseWriter, r *http.Request, c caller) error {
	reg, err := s.registry()
	if err != nil {
		return err
	}
	req, err := tableRequest(r)
	if err != nil {
		return err
	}
	p, err := reg.Table(r.Context(), c.principal(), req)
	if err != nil {
		return regError(err)
	}
	w.Header().Set("X-Nigehban-Log-Seq", strconv.FormatInt(p.LogSeq, 10))
	w.Header().Set("X-Nigehban-SHA256", p.SHA256)
	switch f := r.URL.Query().Get("format"); f {
	case "", "json":
		writeJSON(w, http.StatusOK, p)
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-by-%s.csv"`, req.Rows, req.Cols))
		return p.Table.WriteCSV(w, req.Rows+`\`+req.Cols)
	case "svg":
		w.Header().Set("Content-Type", "image/svg+xml")
		w.Write(registry.BarChart(p))
	default:
		return errorf(http.StatusBadRequest, "invalid", "?format must be json, csv or svg")
	}
	return nil
}

func (s *Server) statsFunnel(w http.ResponseWriter, r *http.Request, c caller) error {
	return registryJSON(s, w, r, c, http.StatusOK, tableRequest, func(ctx context.Context, reg *registry.Service, p registry.Caller, req registry.TableRequest) (*registry.FunnelPublication, error) {
		return reg.Funnel(ctx, p, req)
	})
}

// yearlyQuery is the year and threshold of GET /v1/stats/yearly.
type yearlyQuery struct{ year, threshold int64 }

func readYearly(r *http.Request) (yearlyQuery, error) {
	year, err := queryInt(r, "year", 0, 9999)
	if err != nil {
		return yearlyQuery{}, err
	}
	if year == 0 {
		return yearlyQuery{}, errorf(http.StatusBadRequest, "invalid", "?year is required")
	}
	th, err := queryInt(r, "threshold", 0, 1<<20)
	return yearlyQuery{year, th}, err
}

func (s *Server) statsYearly(w http.ResponseWriter, r *http.Request, c caller) error {
	return registryJSON(s, w, r, c, http.StatusOK, readYearly, func(ctx context.Context, reg *registry.Service, p registry.Caller, q yearlyQuery) (map[string]any, error) {
		ps, err := reg.Yearly(ctx, p, int(q.year), q.threshold)
		return map[string]any{"tables": ps}, err
	})
}
