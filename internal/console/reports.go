package console

import (
	"net/http"
	"slices"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/report"
)

// The report cases page: the state of every case and of its CyberTipline
// submission, with the last error of a failed one, so a permanent failure
// is seen and acted on (retry through the API or "nigehban report retry").
// It shows no personal data.

func init() {
	pageTable = append(pageTable, page{"GET", "/ui/reports", roleNeeded, account.ChildSafety, (*Console).reports})
	nav = slices.Insert(nav, slices.IndexFunc(nav, func(n navItem) bool { return n.Path == "/ui/matches" })+1,
		navItem{"/ui/reports", "Reports", account.ChildSafety})
}

func (c *Console) reports(w http.ResponseWriter, r *http.Request, v *visit) error {
	rs, ok := c.st.(report.Store)
	if !ok {
		return &httpError{http.StatusNotImplemented, "This store keeps no report cases."}
	}
	state := report.State(r.URL.Query().Get("state"))
	cases, err := rs.ListReportCases(r.Context(), state, 500)
	if err != nil {
		return err
	}
	failed := 0
	for _, rc := range cases {
		if rc.State == report.StateFailed {
			failed++
		}
	}
	c.render(w, r, v, http.StatusOK, "reports", "Reports to law enforcement",
		map[string]any{"Cases": cases, "State": string(state), "Failed": failed,
			"States": []report.State{report.StateOpen, report.StateApproved, report.StateSubmitting, report.StateSubmitted,
				report.StateFailed, report.StateRetracted}})
	return nil
}
