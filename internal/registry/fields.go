package registry

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// codedField is a coded incident field: its name in JSON and CSV, its
// vocabulary and where it lives.
type codedField struct {
	name string
	voc  *Vocab
	get  func(*Incident) *int
}

var codedFields = []codedField{
	{"category", Categories, func(x *Incident) *int { return &x.Category }},
	{"sex", Sexes, func(x *Incident) *int { return &x.Sex }},
	{"age_band", AgeBands, func(x *Incident) *int { return &x.AgeBand }},
	{"relationship", Relationships, func(x *Incident) *int { return &x.Relationship }},
	{"place", Places, func(x *Incident) *int { return &x.Place }},
	{"area", Areas, func(x *Incident) *int { return &x.Area }},
	{"police_status", PoliceStatuses, func(x *Incident) *int { return &x.PoliceStatus }},
	{"stage", Stages, func(x *Incident) *int { return &x.Stage }},
	{"outcome", Outcomes, func(x *Incident) *int { return &x.Outcome }},
	{"province", Provinces, func(x *Incident) *int { return &x.Province }},
}

type incidentAlias Incident

// MarshalJSON writes coded fields by name ("unknown" for 0) and the
// district by its name.
func (x Incident) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(incidentAlias(x))
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for _, f := range codedFields {
		m[f.name] = f.voc.Name(*f.get(&x))
	}
	m["district"] = DistrictName(x.District)
	return json.Marshal(m)
}

// UnmarshalJSON reads coded fields by name (or title) and the district by
// name or code.
func (x *Incident) UnmarshalJSON(b []byte) error {
	var a incidentAlias
	if err := json.Unmarshal(b, &a); err != nil {
		return errors.Join(ErrInvalid, err)
	}
	var names map[string]any
	if err := json.Unmarshal(b, &names); err != nil {
		return errors.Join(ErrInvalid, err)
	}
	*x = Incident(a)
	str := func(k string) string {
		switch v := names[k].(type) {
		case string:
			return v
		case float64:
			return strconv.FormatInt(int64(v), 10)
		}
		return ""
	}
	for _, f := range codedFields {
		c, err := f.voc.Code(str(f.name))
		if err != nil {
			return err
		}
		*f.get(x) = c
	}
	if d := str("district"); d != "" && !strings.EqualFold(d, "unknown") {
		dd, err := LookupDistrict(d)
		if err != nil {
			return err
		}
		x.District = dd.Code
	}
	return nil
}

// MarshalJSON writes a case's coded fields by name.
func (k Case) MarshalJSON() ([]byte, error) {
	type alias Case
	b, err := json.Marshal(alias(k))
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	m["sex"], m["age_band"] = Sexes.Name(k.Sex), AgeBands.Name(k.AgeBand)
	m["district"], m["province"] = DistrictName(k.District), Provinces.Name(k.Province)
	return json.Marshal(m)
}

// UnmarshalJSON reads a case's coded fields by name.
func (k *Case) UnmarshalJSON(b []byte) error {
	type alias Case
	var a alias
	if err := json.Unmarshal(b, &a); err != nil {
		return errors.Join(ErrInvalid, err)
	}
	var names struct {
		Sex, AgeBand, District, Province string
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return errors.Join(ErrInvalid, err)
	}
	for k, p := range map[string]*string{"sex": &names.Sex, "age_band": &names.AgeBand, "district": &names.District, "province": &names.Province} {
		if v, ok := raw[k]; ok {
			if err := json.Unmarshal(v, p); err != nil {
				return fmt.Errorf("%w: %s: %v", ErrInvalid, k, err)
			}
		}
	}
	*k = Case(a)
	var err error
	if k.Sex, err = Sexes.Code(names.Sex); err != nil {
		return err
	}
	if k.AgeBand, err = AgeBands.Code(names.AgeBand); err != nil {
		return err
	}
	if k.Province, err = Provinces.Code(names.Province); err != nil {
		return err
	}
	if names.District != "" && !strings.EqualFold(names.District, "unknown") {
		d, err := LookupDistrict(names.District)
		if err != nil {
			return err
		}
		k.District = d.Code
	}
	return nil
}

// CSV columns of incidents, in export order. Import accepts them in any
// order (reported is required) plus "extra.KEY" columns.
var csvColumns = []string{"uid", "case_id", "reported", "category", "sex", "age_band", "relationship", "place",
	"district", "province", "area", "police_status", "stage", "outcome", "fir", "fir_date", "charge_sheet_date",
	"trial_date", "verdict_date", "sections", "acquittal_reason", "source"}

// RowError is one bad row of an import: its line (1 is the header), the
// column and what is wrong.
type RowError struct {
	Line    int    `json:"line"`
	Column  string `json:"column,omitempty"`
	Message string `json:"message"`
}

// ImportResult reports an import: rows read, rows imported (0 when any row
// was bad: imports are all or nothing) and the bad rows (the first 1000;
// Bad counts all).
type ImportResult struct {
	Rows     int        `json:"rows"`
	Imported int        `json:"imported"`
	Bad      int        `json:"bad"`
	Errors   []RowError `json:"errors,omitempty"`
}

// ErrBadRows reports an import with bad rows (see ImportResult.Errors).
var ErrBadRows = errors.New("import has bad rows")

// ParseCSV reads incidents from an NGO's monitoring sheet in CSV (a header
// line naming the columns). It returns the good incidents with their line
// numbers and the row-level errors; an unreadable header is an error.
func ParseCSV(r io.Reader) ([]Incident, []int, []RowError, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: read header: %v", ErrInvalid, err)
	}
	known := map[string]bool{}
	for _, c := range csvColumns {
		known[c] = true
	}
	cols := make([]string, len(head))
	hasReported := false
	for i, h := range head {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if !known[h] && !(strings.HasPrefix(h, "extra.") && len(h) > 6) {
			return nil, nil, nil, fmt.Errorf("%w: header column %d %q is not one of %s or extra.KEY", ErrInvalid, i+1, h, strings.Join(csvColumns, ", "))
		}
		cols[i] = h
		hasReported = hasReported || h == "reported"
	}
	if !hasReported {
		return nil, nil, nil, fmt.Errorf("%w: header has no reported column", ErrInvalid)
	}
	var out []Incident
	var lines []int
	var bad []RowError
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				bad = append(bad, RowError{Line: line, Message: pe.Err.Error()})
				continue
			}
			return nil, nil, nil, fmt.Errorf("read line %d: %w", line, err)
		}
		if len(rec) != len(cols) {
			bad = append(bad, RowError{Line: line, Message: fmt.Sprintf("%d fields, header has %d", len(rec), len(cols))})
			continue
		}
		var x Incident
		ok := true
		for i, v := range rec {
			if err := setCSV(&x, cols[i], strings.TrimSpace(v)); err != nil {
				bad = append(bad, RowError{Line: line, Column: cols[i], Message: err.Error()})
				ok = false
			}
		}
		if ok {
			if err := x.check(); err != nil {
				bad = append(bad, RowError{Line: line, Message: err.Error()})
				ok = false
			}
		}
		if ok {
			out, lines = append(out, x), append(lines, line)
		}
	}
	return out, lines, bad, nil
}

func setCSV(x *Incident, col, v string) error {
	if strings.HasPrefix(col, "extra.") {
		if v != "" {
			if x.Extra == nil {
				x.Extra = Extra{}
			}
			x.Extra[col[6:]] = v
		}
		return nil
	}
	for _, f := range codedFields {
		if f.name == col {
			c, err := f.voc.Code(v)
			*f.get(x) = c
			return err
		}
	}
	var err error
	switch col {
	case "uid":
		x.UID = v
	case "case_id":
		if v != "" {
			x.CaseID, err = strconv.ParseInt(v, 10, 64)
			if err != nil || x.CaseID <= 0 {
				return fmt.Errorf("%w: case_id %q", ErrInvalid, v)
			}
		}
	case "reported":
		x.Reported, err = ParseDay(v)
	case "fir_date":
		x.FIRDate, err = ParseDay(v)
	case "charge_sheet_date":
		x.ChargeSheetDate, err = ParseDay(v)
	case "trial_date":
		x.TrialDate, err = ParseDay(v)
	case "verdict_date":
		x.VerdictDate, err = ParseDay(v)
	case "district":
		if v != "" && !strings.EqualFold(v, "unknown") {
			var d District
			d, err = LookupDistrict(v)
			x.District = d.Code
		}
	case "fir":
		x.FIR = v
	case "sections":
		x.Sections = v
	case "acquittal_reason":
		x.AcquittalReason = v
	case "source":
		x.Source = v
	}
	return err
}

// CSVWriter writes incidents in the CSV form ParseCSV reads (FIR numbers
// left out: an export is for analysis, not identification).
type CSVWriter struct {
	w     *csv.Writer
	extra []string
	rec   []string
}

// NewCSVWriter writes the header (with the given extra.KEY columns).
func NewCSVWriter(w io.Writer, extra []string) (*CSVWriter, error) {
	cw := &CSVWriter{w: csv.NewWriter(w), extra: extra}
	head := []string{}
	for _, c := range csvColumns {
		if c != "fir" {
			head = append(head, c)
		}
	}
	for _, e := range extra {
		head = append(head, "extra."+e)
	}
	return cw, cw.w.Write(head)
}

// Write writes one incident.
func (cw *CSVWriter) Write(x Incident) error {
	r := cw.rec[:0]
	caseID := ""
	if x.CaseID > 0 {
		caseID = strconv.FormatInt(x.CaseID, 10)
	}
	dist := ""
	if x.District > 0 {
		dist = DistrictName(x.District)
	}
	name := func(v *Vocab, c int) string {
		if c == 0 {
			return ""
		}
		return v.Name(c)
	}
	r = append(r, x.UID, caseID, x.Reported.String(), name(Categories, x.Category), name(Sexes, x.Sex),
		name(AgeBands, x.AgeBand), name(Relationships, x.Relationship), name(Places, x.Place), dist,
		name(Provinces, x.Province), name(Areas, x.Area), name(PoliceStatuses, x.PoliceStatus), name(Stages, x.Stage),
		name(Outcomes, x.Outcome), x.FIRDate.String(), x.ChargeSheetDate.String(), x.TrialDate.String(),
		x.VerdictDate.String(), x.Sections, x.AcquittalReason, x.Source)
	for _, e := range cw.extra {
		r = append(r, x.Extra[e])
	}
	cw.rec = r
	return cw.w.Write(r)
}

// Flush flushes the writer and reports any write error.
func (cw *CSVWriter) Flush() error {
	cw.w.Flush()
	return cw.w.Error()
}
