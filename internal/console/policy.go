package console

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/review"
)

// A bank's review policy (review bank, review above a distance, negative
// bank), edited by curators on the bank's page through bank.Service (the
// change audited in its transaction); and the flood quarantine page:
// signals the flood rule paused, with release (review.Service.Lift, as the
// API's DELETE /v1/quarantine/{id}) and keep (an audited acknowledgement
// that a person looked and left the pause in force).

func init() {
	pageTable = append(pageTable,
		page{"POST", "/ui/banks/{name}/policy", roleNeeded, account.Curator, (*Console).bankPolicy},
		page{"GET", "/ui/quarantine", roleNeeded, account.ChildSafety, (*Console).quarantine},
		page{"POST", "/ui/quarantine/{id}/release", roleNeeded, account.ChildSafety, (*Console).releaseQuarantine},
		page{"POST", "/ui/quarantine/{id}/keep", roleNeeded, account.ChildSafety, (*Console).keepQuarantine},
	)
	nav = slices.Insert(nav, slices.IndexFunc(nav, func(n navItem) bool { return n.Path == "/ui/matches" })+1,
		navItem{"/ui/quarantine", "Quarantine", account.ChildSafety})
	flash["policy"] = "Review policy saved."
}

// ActQuarantineKeep is the audit action of a person who looked at a
// quarantined signal and kept it paused.
const ActQuarantineKeep = "signal.quarantine.keep"

// bankPolicy answers POST /ui/banks/{name}/policy: action (review: every
// hit is reviewed), review_above (0: off) and negative.
func (c *Console) bankPolicy(w http.ResponseWriter, r *http.Request, v *visit) error {
	name := r.PathValue("name")
	if err := r.ParseForm(); err != nil {
		return &httpError{http.StatusBadRequest, "The form was cut short."}
	}
	a := bank.Action(r.PostForm.Get("action"))
	above := 0
	if s := strings.TrimSpace(r.PostForm.Get("review_above")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return &httpError{http.StatusBadRequest, "Review above: a PDQ distance (0 to 256; 0 turns it off)."}
		}
		above = n
	}
	negative := r.PostForm.Get("negative") == "1"
	u := bank.BankUpdate{Action: &a, ReviewAbove: &above, Negative: &negative}
	return c.updateBank(w, r, v, name, u, "policy")
}

// quarantineFlash are the quarantine page's messages.
var quarantineFlash = map[string]string{
	"released": "Released: the signal's hits are acted on again as its bank says.",
	"kept":     "Kept in quarantine; your look is in the audit log.",
}

// quarantine answers GET /ui/quarantine (?all=1: lifted pauses too).
func (c *Console) quarantine(w http.ResponseWriter, r *http.Request, v *visit) error {
	ctx := r.Context()
	all := r.URL.Query().Get("all") == "1"
	qs, err := c.st.ListQuarantine(ctx, all)
	if err != nil {
		return err
	}
	type row struct {
		review.Quarantine
		Signal *bank.Signal
	}
	rows := make([]row, 0, len(qs))
	for _, q := range qs {
		rw := row{Quarantine: q}
		if sig, err := c.st.GetSignal(ctx, q.SignalID); err == nil {
			rw.Signal = &sig
		} else if !errors.Is(err, bank.ErrNotFound) {
			return err
		}
		rows = append(rows, rw)
	}
	c.render(w, r, v, http.StatusOK, "quarantine", "Flood quarantine", map[string]any{"Rows": rows, "All": all,
		"Rule": c.reviews.Flood, "Msg": quarantineFlash[r.URL.Query().Get("msg")]})
	return nil
}

// releaseQuarantine answers POST /ui/quarantine/{id}/release: the pause of
// signal id is lifted (audited by the store).
func (c *Console) releaseQuarantine(w http.ResponseWriter, r *http.Request, v *visit) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	err = c.reviews.Lift(r.Context(), id, v.by())
	if errors.Is(err, review.ErrNotFound) {
		return &httpError{http.StatusNotFound, "That signal is not in quarantine (released already?)."}
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/quarantine?msg=released", http.StatusSeeOther)
	return nil
}

// keepQuarantine answers POST /ui/quarantine/{id}/keep (comment): the
// pause stays; that a person looked and kept it is audited.
func (c *Console) keepQuarantine(w http.ResponseWriter, r *http.Request, v *visit) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	paused, err := c.st.QuarantinedSignals(ctx, []int64{id})
	if err != nil {
		return err
	}
	if !paused[id] {
		return &httpError{http.StatusNotFound, "That signal is not in quarantine (released already?)."}
	}
	comment := strings.TrimSpace(r.PostFormValue("comment"))
	if len(comment) > review.MaxComment {
		return &httpError{http.StatusBadRequest, fmt.Sprintf("The comment is longer than %d bytes.", review.MaxComment)}
	}
	if _, err := c.st.AppendAudit(ctx, v.by().Entry(ActQuarantineKeep, "signal:"+strconv.FormatInt(id, 10),
		map[string]any{"comment": comment})); err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/quarantine?msg=kept", http.StatusSeeOther)
	return nil
}
