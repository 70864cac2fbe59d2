package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/disclosure"
	"github.com/nigehban/nigehban/internal/registry"
	"github.com/nigehban/nigehban/internal/sealed"
)

// The case registry's pages (internal/registry, issue 18): a statistics
// dashboard (a protected two-way table, its chart drawn server-side as
// SVG, the table as CSV, the justice funnel) and the cases the user's
// registry grant shows. Every console role may open them; what they show
// is decided by the user's registry grant (principal "user:NAME").

var registryPages = []page{
	{"GET", "/ui/registry", roleNeeded, account.Viewer, (*Console).registryDashboard},
	{"GET", "/ui/registry/table.csv", roleNeeded, account.Viewer, (*Console).registryCSV},
	{"GET", "/ui/registry/chart.svg", roleNeeded, account.Viewer, (*Console).registryChart},
	{"GET", "/ui/registry/cases", roleNeeded, account.Viewer, (*Console).registryCases},
	{"GET", "/ui/registry/cases/{id}", roleNeeded, account.Viewer, (*Console).registryCase},
}

func init() {
	pageTable = append(pageTable, registryPages...)
	nav = append(nav, navItem{"/ui/registry", "Registry", account.Viewer})
}

func newRegistry(st Store, cfg Config) *registry.Service {
	if rs, ok := st.(registry.Store); ok {
		return registry.NewService(rs, cfg.DataKeys)
	}
	return nil
}

func (v *visit) registryCaller() registry.Caller {
	return registry.Caller{Principal: "user:" + v.user.Name, Remote: v.remote}
}

// registryFail maps registry errors to pages.
func registryFail(err error) error {
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return &httpError{http.StatusNotFound, "Not found."}
	case errors.Is(err, registry.ErrForbidden), errors.Is(err, registry.ErrTooFine):
		return &httpError{http.StatusForbidden, err.Error()}
	case errors.Is(err, registry.ErrInvalid), errors.Is(err, disclosure.ErrShape):
		return &httpError{http.StatusBadRequest, err.Error()}
	case errors.Is(err, sealed.ErrNoKey):
		return &httpError{http.StatusServiceUnavailable, err.Error()}
	}
	return err
}

// registryService returns the registry when the visitor has a grant; for a
// visitor without one it renders the page that says so and returns nil.
func (c *Console) registryService(w http.ResponseWriter, r *http.Request, v *visit) (*registry.Service, error) {
	if c.reg == nil {
		return nil, &httpError{http.StatusNotImplemented, "This store has no case registry."}
	}
	if _, err := c.reg.Access(r.Context(), v.registryCaller()); errors.Is(err, registry.ErrForbidden) {
		c.render(w, r, v, http.StatusOK, "registry", "Registry", map[string]any{"NoGrant": true})
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return c.reg, nil
}

// dashboardRequest reads the dashboard's query, defaulting to category by
// sex.
func dashboardRequest(r *http.Request) registry.TableRequest {
	q := r.URL.Query()
	req := registry.TableRequest{Rows: q.Get("rows"), Cols: q.Get("cols"), Category: q.Get("category"),
		District: q.Get("district"), Province: q.Get("province")}
	if req.Rows == "" {
		req.Rows = "category"
	}
	if req.Cols == "" {
		req.Cols = "sex"
	}
	req.Year, _ = strconv.Atoi(q.Get("year"))
	return req
}

func requestQuery(req registry.TableRequest) string {
	q := url.Values{"rows": {req.Rows}, "cols": {req.Cols}}
	if req.Year > 0 {
		q.Set("year", strconv.Itoa(req.Year))
	}
	for k, v := range map[string]string{"category": req.Category, "district": req.District, "province": req.Province} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q.Encode()
}

func (c *Console) registryDashboard(w http.ResponseWriter, r *http.Request, v *visit) error {
	reg, err := c.registryService(w, r, v)
	if reg == nil {
		return err
	}
	who := v.registryCaller()
	a, err := reg.Access(r.Context(), who)
	if err != nil {
		return err
	}
	req := dashboardRequest(r)
	data := map[string]any{"Access": a, "Req": req, "Dimensions": registry.Dimensions, "Query": requestQuery(req)}
	p, err := reg.Table(r.Context(), who, req)
	if err != nil {
		var he *httpError
		if errors.As(registryFail(err), &he) && he.status != http.StatusInternalServerError {
			data["Refused"] = he.msg
			c.render(w, r, v, he.status, "registry", "Registry", data)
			return nil
		}
		return err
	}
	data["Pub"] = p
	f, err := reg.Funnel(r.Context(), who, req)
	if err != nil {
		return registryFail(err)
	}
	data["Funnel"] = f
	c.render(w, r, v, http.StatusOK, "registry", "Registry", data)
	return nil
}

func (c *Console) registryCSV(w http.ResponseWriter, r *http.Request, v *visit) error {
	reg, err := c.registryService(w, r, v)
	if reg == nil {
		return err
	}
	req := dashboardRequest(r)
	p, err := reg.Table(r.Context(), v.registryCaller(), req)
	if err != nil {
		return registryFail(err)
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-by-%s.csv"`, req.Rows, req.Cols))
	w.Header().Set("X-Nigehban-Log-Seq", strconv.FormatInt(p.LogSeq, 10))
	return p.Table.WriteCSV(w, req.Rows+`\`+req.Cols)
}

func (c *Console) registryChart(w http.ResponseWriter, r *http.Request, v *visit) error {
	reg, err := c.registryService(w, r, v)
	if reg == nil {
		return err
	}
	p, err := reg.Table(r.Context(), v.registryCaller(), dashboardRequest(r))
	if err != nil {
		return registryFail(err)
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Write(registry.BarChart(p))
	return nil
}

func (c *Console) registryCases(w http.ResponseWriter, r *http.Request, v *visit) error {
	reg, err := c.registryService(w, r, v)
	if reg == nil {
		return err
	}
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	cs, err := reg.Cases(r.Context(), v.registryCaller(), after, 100)
	if err != nil {
		return registryFail(err)
	}
	data := map[string]any{"Cases": cs}
	if len(cs) == 100 {
		data["Next"] = fmt.Sprintf("/ui/registry/cases?after=%d", cs[len(cs)-1].ID)
	}
	c.render(w, r, v, http.StatusOK, "registry_cases", "Cases", data)
	return nil
}

func (c *Console) registryCase(w http.ResponseWriter, r *http.Request, v *visit) error {
	reg, err := c.registryService(w, r, v)
	if reg == nil {
		return err
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return &httpError{http.StatusNotFound, "Not found."}
	}
	k, err := reg.Case(r.Context(), v.registryCaller(), id)
	if err != nil {
		return registryFail(err)
	}
	refs, err := reg.Referrals(r.Context(), v.registryCaller(), id)
	if err != nil {
		return registryFail(err)
	}
	c.render(w, r, v, http.StatusOK, "registry_case", fmt.Sprintf("Case %d", id), map[string]any{
		"Case": k, "Referrals": refs, "Sex": registry.Sexes.Title(k.Sex), "AgeBand": registry.AgeBands.Title(k.AgeBand),
		"District": registry.DistrictName(k.District), "Province": registry.Provinces.Title(k.Province)})
	return nil
}
