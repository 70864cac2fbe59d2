package alert

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nigehban/nigehban/internal/disclosure"
)

// Table is a counts table of one dimension: the unit disclosure control
// works on (suppressing small cells before publication).
type Table struct {
	Name string `json:"name"`
	Rows []Cell `json:"rows"`
}

// Cell is one count.
type Cell struct {
	Key   string `json:"key"`
	Count int    `json:"count"`
	// Suppressed is set by disclosure control for a count withheld.
	Suppressed bool `json:"suppressed,omitempty"`
}

// Disclosure protects tables before they are published. Without one,
// reports are for the desk only; Suppression is the registry's cell
// suppression.
type Disclosure interface {
	Protect(t Table) Table
}

// Suppression is the case registry's disclosure control
// (internal/disclosure) for these one-way tables: counts below Threshold
// (0: disclosure.DefaultThreshold) are withheld, with a complementary cell
// where one alone would follow from the published total, and every cell
// when the month's total is itself below the threshold (the report's case
// count is then withheld too). Every table of a report shares that total,
// and each is protected on its own against it.
type Suppression struct {
	Threshold int64
}

func (p Suppression) threshold() int64 {
	if p.Threshold <= 0 {
		return disclosure.DefaultThreshold
	}
	return p.Threshold
}

// Protect implements Disclosure.
func (p Suppression) Protect(t Table) Table {
	counts := make([]int64, len(t.Rows))
	for i, c := range t.Rows {
		counts[i] = int64(c.Count)
	}
	sup, _ := disclosure.OneWay(counts, p.threshold())
	out := Table{Name: t.Name, Rows: make([]Cell, len(t.Rows))}
	for i, c := range t.Rows {
		if sup[i] {
			c.Count, c.Suppressed = 0, true
		}
		out.Rows[i] = c
	}
	return out
}

// Report is the monthly statistics of missing children reported in
// [From, To).
type Report struct {
	Month     string    `json:"month"`
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	Cases     int       `json:"cases"`
	Tables    []Table   `json:"tables"`
	Protected bool      `json:"protected"`
	// CasesSuppressed: the month's case count is below the threshold and
	// withheld (Cases is 0).
	CasesSuppressed bool `json:"cases_suppressed,omitempty"`
}

// Duration bands of the time tables.
var durationBands = []struct {
	name string
	max  time.Duration
}{
	{"under 1h", time.Hour}, {"1-2h", 2 * time.Hour}, {"2-6h", 6 * time.Hour},
	{"6-24h", 24 * time.Hour}, {"1-7d", 7 * 24 * time.Hour}, {"over 7d", 1<<63 - 1},
}

func durationBand(d time.Duration) string {
	for _, b := range durationBands {
		if d < b.max {
			return b.name
		}
	}
	return durationBands[len(durationBands)-1].name
}

// Stats counts the cases reported in month ("2026-01", in the desk's time
// zone) by district, age band, sex, circumstances, outcome, and the time
// from report to complaint, to the agency informed, to an alert and to
// recovery. With d non-nil every table passes through it (Protected).
func (s *Service) Stats(ctx context.Context, month string, d Disclosure) (Report, error) {
	start, err := time.ParseInLocation("2006-01", month, s.cfg.zone())
	if err != nil {
		return Report{}, fmt.Errorf("%w: month %q (want YYYY-MM)", ErrInvalid, month)
	}
	r := Report{Month: month, From: start.UTC(), To: start.AddDate(0, 1, 0).UTC()}
	cases, err := s.list(ctx, Filter{From: r.From, To: r.To})
	if err != nil {
		return r, err
	}
	r.Cases = len(cases)
	counts := map[string]map[string]int{}
	add := func(table, key string) {
		if counts[table] == nil {
			counts[table] = map[string]int{}
		}
		counts[table][key]++
	}
	for _, c := range cases {
		add("district", c.District)
		add("age_band", c.AgeBand())
		add("sex", c.Sex)
		add("circumstance", string(c.Circumstance))
		outcome := "open"
		if c.Outcome != "" {
			outcome = string(c.Outcome)
		}
		add("outcome", outcome)
		band := func(t *time.Time) string {
			if t == nil && c.Open() {
				return "not yet"
			}
			if t == nil {
				return "never"
			}
			return durationBand(t.Sub(c.ReportedAt))
		}
		add("time_to_complaint", band(c.ComplaintAt))
		add("time_to_agency", band(c.InformedAt))
		var alerted *time.Time
		for _, m := range c.Messages {
			if m.MsgType == "Alert" && !m.Test {
				alerted = &m.Sent
				break
			}
		}
		add("time_to_alert", band(alerted))
		if c.Outcome == Found || c.Outcome == Recovered {
			add("time_to_recovery", band(c.ClosedAt))
		} else if c.Open() {
			add("time_to_recovery", "not yet")
		}
	}
	for _, name := range []string{"district", "age_band", "sex", "circumstance", "outcome",
		"time_to_complaint", "time_to_agency", "time_to_alert", "time_to_recovery"} {
		t := Table{Name: name}
		for k, n := range counts[name] {
			t.Rows = append(t.Rows, Cell{Key: k, Count: n})
		}
		slices.SortFunc(t.Rows, func(a, b Cell) int { return strings.Compare(a.Key, b.Key) })
		if d != nil {
			t = d.Protect(t)
		}
		r.Tables = append(r.Tables, t)
	}
	r.Protected = d != nil
	if sp, ok := d.(Suppression); ok && r.Cases > 0 && int64(r.Cases) < sp.threshold() {
		r.Cases, r.CasesSuppressed = 0, true
	}
	return r, nil
}
