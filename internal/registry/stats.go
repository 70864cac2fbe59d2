package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/nigehban/nigehban/internal/disclosure"
)

// Dimension is a field statistics may group by.
type Dimension struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	// level is the reporting level grouping by it needs (geography);
	// national for the others.
	level Level
	voc   *Vocab
}

// Dimensions are the fields of two-way tables; their names are also the
// incident columns.
var Dimensions = []Dimension{
	{"year", "Year", LevelNational, nil},
	{"month", "Month", LevelNational, nil},
	{"district", "District", LevelDistrict, nil},
	{"province", "Province", LevelProvince, Provinces},
	{"category", "Crime category", LevelNational, Categories},
	{"sex", "Sex", LevelNational, Sexes},
	{"age_band", "Age band", LevelNational, AgeBands},
	{"relationship", "Relationship of the abuser", LevelNational, Relationships},
	{"place", "Place of incident", LevelNational, Places},
	{"area", "Urban/rural", LevelNational, Areas},
	{"police_status", "Police status", LevelNational, PoliceStatuses},
	{"stage", "Stage", LevelNational, Stages},
	{"outcome", "Outcome", LevelNational, Outcomes},
}

// dimension finds a dimension by name.
func dimension(name string) (Dimension, error) {
	for _, d := range Dimensions {
		if d.Name == name {
			return d, nil
		}
	}
	return Dimension{}, fmt.Errorf("%w: cannot group by %q", ErrInvalid, name)
}

// TableRequest asks for a two-way table of incident counts: Rows by Cols
// (dimension names), of one year and one category when set, within one
// district or province when set. Threshold raises the smallest published
// count above disclosure.DefaultThreshold (never below it).
type TableRequest struct {
	Rows      string `json:"rows"`
	Cols      string `json:"cols"`
	Year      int    `json:"year,omitempty"`
	Category  string `json:"category,omitempty"`
	District  string `json:"district,omitempty"`
	Province  string `json:"province,omitempty"`
	Threshold int64  `json:"threshold,omitempty"`
}

// Publication is a published table: what was asked, the protected table,
// the SHA-256 of its canonical JSON (kind, query, table) and the sequence
// number of the transparency-log entry that records it (`nigehban audit
// prove SEQ` proves it against a signed checkpoint).
type Publication struct {
	Kind   string                `json:"kind"`
	Query  TableRequest          `json:"query"`
	Table  *disclosure.Published `json:"table"`
	At     time.Time             `json:"at"`
	SHA256 string                `json:"sha256"`
	LogSeq int64                 `json:"log_seq"`
}

// levelOf is how fine a request is: the finest geography it names.
func levelOf(req TableRequest) Level {
	if req.Rows == "district" || req.Cols == "district" || req.District != "" {
		return LevelDistrict
	}
	if req.Rows == "province" || req.Cols == "province" || req.Province != "" {
		return LevelProvince
	}
	return LevelNational
}

// statsFilter checks a request against the caller's grant (reporting level,
// jurisdiction, threshold) and returns the filter of its data.
func (s *Service) statsFilter(a Access, req TableRequest) (Filter, error) {
	if lv := levelOf(req); levels[lv] < levels[a.Level] {
		return Filter{}, fmt.Errorf("a %s table for a %s-level grant: %w", lv, a.Level, ErrTooFine)
	}
	if req.Threshold != 0 && req.Threshold < disclosure.DefaultThreshold {
		return Filter{}, fmt.Errorf("threshold %d below %d: %w", req.Threshold, disclosure.DefaultThreshold, ErrTooFine)
	}
	f := visibility(a)
	f.Year = req.Year
	var err error
	if f.Category, err = Categories.Code(req.Category); err != nil {
		return f, err
	}
	if req.District != "" {
		d, err := LookupDistrict(req.District)
		if err != nil {
			return f, err
		}
		if a.District > 0 && d.Code != a.District || a.Province > 0 && d.Province != a.Province {
			return f, fmt.Errorf("district %s is outside the grant's jurisdiction: %w", d.Name, ErrForbidden)
		}
		f.District, f.Province = d.Code, d.Province
	}
	if req.Province != "" {
		p, err := Provinces.Code(req.Province)
		if err != nil {
			return f, err
		}
		if a.Province > 0 && p != a.Province || f.Province > 0 && p != f.Province {
			return f, fmt.Errorf("province %s is outside the grant's jurisdiction: %w", Provinces.Title(p), ErrForbidden)
		}
		f.Province = p
	}
	return f, nil
}

// labels returns the codes and labels of a dimension's table axis: every
// term of the vocabulary (the districts of the filter's jurisdiction, the
// years present), and "Unknown" when code 0 occurs.
func labels(d Dimension, f Filter, present map[int]bool) ([]int, []string) {
	var codes []int
	var names []string
	switch {
	case d.Name == "year":
		for c := range present {
			if c != 0 {
				codes = append(codes, c)
			}
		}
		sort.Ints(codes)
		for _, c := range codes {
			names = append(names, strconv.Itoa(c))
		}
	case d.Name == "month":
		for c := 1; c <= 12; c++ {
			codes, names = append(codes, c), append(names, time.Month(c).String())
		}
	case d.Name == "district":
		for _, x := range Districts() {
			if f.District > 0 && x.Code != f.District || f.Province > 0 && x.Province != f.Province {
				continue
			}
			codes, names = append(codes, x.Code), append(names, x.Name)
		}
	default:
		for _, t := range d.voc.Terms {
			if d.Name == "province" && f.Province > 0 && t.Code != f.Province {
				continue
			}
			codes, names = append(codes, t.Code), append(names, t.Title)
		}
	}
	if present[0] {
		codes, names = append(codes, 0), append(names, "Unknown")
	}
	return codes, names
}

// Table publishes a two-way table of incident counts the caller may see,
// protected by internal/disclosure and logged (registry.publish).
func (s *Service) Table(ctx context.Context, who Caller, req TableRequest) (*Publication, error) {
	a, err := s.Access(ctx, who)
	if err != nil {
		return nil, err
	}
	f, err := s.statsFilter(a, req)
	if err != nil {
		return nil, err
	}
	t, opt, err := s.table(ctx, f, req)
	if err != nil {
		return nil, err
	}
	opt.Threshold = req.Threshold
	p, err := disclosure.Protect(t, opt)
	if err != nil {
		return nil, err
	}
	return s.publish(ctx, who, "table", req, p)
}

// table counts the incidents under f by the request's two dimensions; the
// options group districts by province, so that district totals stay
// protected when province totals are published.
func (s *Service) table(ctx context.Context, f Filter, req TableRequest) (disclosure.Table, disclosure.Options, error) {
	var opt disclosure.Options
	dr, err := dimension(req.Rows)
	if err != nil {
		return disclosure.Table{}, opt, err
	}
	dc, err := dimension(req.Cols)
	if err != nil {
		return disclosure.Table{}, opt, err
	}
	if dr.Name == dc.Name {
		return disclosure.Table{}, opt, fmt.Errorf("%w: rows and columns are both %s", ErrInvalid, dr.Name)
	}
	counts, err := s.st.CountIncidents(ctx, f, dr.Name, dc.Name)
	if err != nil {
		return disclosure.Table{}, opt, err
	}
	pr, pc := map[int]bool{}, map[int]bool{}
	for _, k := range counts {
		pr[k.A], pc[k.B] = true, true
	}
	rc, rn := labels(dr, f, pr)
	cc, cn := labels(dc, f, pc)
	ri, ci := index(rc), index(cc)
	t := disclosure.Table{Rows: rn, Cols: cn, Counts: make([][]int64, len(rn))}
	for i := range t.Counts {
		t.Counts[i] = make([]int64, len(cn))
	}
	for _, k := range counts {
		r, ok1 := ri[k.A]
		c, ok2 := ci[k.B]
		if !ok1 || !ok2 {
			return t, opt, fmt.Errorf("incident code %d/%d outside the %s/%s labels", k.A, k.B, dr.Name, dc.Name)
		}
		t.Counts[r][c] += k.N
	}
	if dr.Name == "district" {
		opt.RowGroups = provinceGroups(rc)
	}
	if dc.Name == "district" {
		opt.ColGroups = provinceGroups(cc)
	}
	return t, opt, nil
}

// provinceGroups returns the province of each district code (0 for
// unknown, a group of its own).
func provinceGroups(codes []int) []int {
	g := make([]int, len(codes))
	for i, c := range codes {
		for _, d := range Districts() {
			if d.Code == c {
				g[i] = d.Province
			}
		}
	}
	return g
}

func index(codes []int) map[int]int {
	m := make(map[int]int, len(codes))
	for i, c := range codes {
		m[c] = i
	}
	return m
}

// publish signs (by the transparency log) and logs a protected table.
func (s *Service) publish(ctx context.Context, who Caller, kind string, req TableRequest, p *disclosure.Published) (*Publication, error) {
	pub := &Publication{Kind: kind, Query: req, Table: p, At: time.Now().UTC().Truncate(time.Second)}
	canon, err := json.Marshal(struct {
		Kind  string                `json:"kind"`
		Query TableRequest          `json:"query"`
		Table *disclosure.Published `json:"table"`
		At    time.Time             `json:"at"`
	}{kind, req, p, pub.At})
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(canon)
	pub.SHA256 = hex.EncodeToString(sum[:])
	e, err := s.st.AppendAudit(ctx, who.entry("registry.publish", "stats:"+kind, map[string]any{
		"query": req, "sha256": pub.SHA256, "suppressed": p.Suppressed()}))
	if err != nil {
		return nil, fmt.Errorf("log published table: %w", err)
	}
	pub.LogSeq = e.Seq
	return pub, nil
}

// Funnel steps, in order.
var funnelSteps = []string{"Reported", "FIR", "Charge sheet", "Trial", "Verdict", "Conviction"}

// FunnelStep is one step of the justice funnel: the incidents that reached
// it, and the mean days from the previous step (over incidents with both
// dates; suppressed below the threshold).
type FunnelStep struct {
	Step     string          `json:"step"`
	Reached  disclosure.Cell `json:"reached"`
	MeanDays *float64        `json:"mean_days_from_previous,omitempty"`
}

// FunnelPublication is the published justice funnel: the partition of
// incidents by furthest step (protected as a one-way table) and the
// cumulative steps derived from its published cells only.
type FunnelPublication struct {
	Publication
	Steps []FunnelStep `json:"steps"`
}

// Funnel publishes the justice funnel (reported → FIR → charge sheet →
// trial → verdict → conviction) of the incidents the caller may see.
func (s *Service) Funnel(ctx context.Context, who Caller, req TableRequest) (*FunnelPublication, error) {
	a, err := s.Access(ctx, who)
	if err != nil {
		return nil, err
	}
	req.Rows, req.Cols = "", ""
	f, err := s.statsFilter(a, req)
	if err != nil {
		return nil, err
	}
	k, err := s.st.Funnel(ctx, f)
	if err != nil {
		return nil, err
	}
	parts := []string{"Reported only", "FIR only", "Charge sheet", "Trial", "Verdict (not conviction)", "Conviction"}
	t := disclosure.Table{Rows: parts, Cols: []string{"Incidents"}, Counts: make([][]int64, len(parts))}
	for i := range parts {
		t.Counts[i] = []int64{k.Furthest[i]}
	}
	p, err := disclosure.Protect(t, disclosure.Options{Threshold: req.Threshold})
	if err != nil {
		return nil, err
	}
	th := p.Threshold
	fp := &FunnelPublication{}
	for i, name := range funnelSteps {
		// Reached step i: the sum of the partition from i on, published
		// when it follows from published cells alone (all cells from i on,
		// or the total less all cells before i).
		var above, below int64
		okAbove, okBelow := true, !p.Total.Suppressed
		for j, c := range p.RowTotals {
			if j >= i {
				above += c.Count
				okAbove = okAbove && !c.Suppressed
			} else {
				below += c.Count
				okBelow = okBelow && !c.Suppressed
			}
		}
		step := FunnelStep{Step: name, Reached: disclosure.Cell{Suppressed: true}}
		switch {
		case okAbove:
			step.Reached = disclosure.Cell{Count: above}
		case okBelow:
			step.Reached = disclosure.Cell{Count: p.Total.Count - below}
		}
		if i >= 1 && i <= 4 && k.Pairs[i-1] >= th {
			m := float64(k.Days[i-1]) / float64(k.Pairs[i-1])
			m = float64(int64(m*10+0.5)) / 10
			step.MeanDays = &m
		}
		fp.Steps = append(fp.Steps, step)
	}
	pub, err := s.publish(ctx, who, "funnel", req, p)
	if err != nil {
		return nil, err
	}
	fp.Publication = *pub
	return fp, nil
}

// yearlyTables are the tables of a Sahil-style yearly report: each crossed
// with the victim's sex, so all share that margin (and category, shared by
// the geography table, is protected the same way in both).
var yearlyTables = [][2]string{
	{"category", "sex"}, {"age_band", "sex"}, {"relationship", "sex"}, {"place", "sex"},
	{"area", "sex"}, {"police_status", "sex"}, {"outcome", "sex"}, {"month", "sex"},
	{"province", "category"}, {"district", "sex"},
}

// Yearly publishes the yearly tables of year (those the caller's reporting
// level allows: no district table below district level, no province table
// at national level).
func (s *Service) Yearly(ctx context.Context, who Caller, year int, threshold int64) ([]*Publication, error) {
	a, err := s.Access(ctx, who)
	if err != nil {
		return nil, err
	}
	var out []*Publication
	for _, yt := range yearlyTables {
		req := TableRequest{Rows: yt[0], Cols: yt[1], Year: year, Threshold: threshold}
		if levels[levelOf(req)] < levels[a.Level] {
			continue
		}
		p, err := s.Table(ctx, who, req)
		if err != nil {
			return nil, fmt.Errorf("yearly table %s by %s: %w", yt[0], yt[1], err)
		}
		out = append(out, p)
	}
	return out, nil
}
