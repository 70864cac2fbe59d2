package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/apikey"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/hashlist"
	"github.com/nigehban/nigehban/internal/history"
)

// bankRow is a bank with its signal counts by type.
type bankRow struct {
	bank.Bank
	Counts map[bank.Type]int64
	Total  int64
	// FromIndex says the counts are the in-memory index's (else the
	// database's active signals); Loading that the index has not loaded
	// the bank yet.
	FromIndex, Loading bool
}

// signalTypes are the columns of the count tables.
var signalTypes = []bank.Type{bank.PDQ, bank.VPDQ, bank.MD5, bank.SHA1, bank.SHA256}

func (c *Console) bankRows(ctx context.Context) ([]bankRow, error) {
	bs, err := c.banks.ListBanks(ctx)
	if err != nil {
		return nil, err
	}
	var sizes map[string]map[bank.Type]int
	if c.cfg.IndexSizes != nil {
		sizes = c.cfg.IndexSizes()
	}
	rows := make([]bankRow, 0, len(bs))
	for _, b := range bs {
		row := bankRow{Bank: b, Counts: map[bank.Type]int64{}}
		if s, ok := sizes[b.Name]; ok {
			row.FromIndex = true
			for t, n := range s {
				row.Counts[t] = int64(n)
			}
		} else if c.cfg.IndexSizes != nil {
			// Counting a large bank in the database takes seconds: wait
			// for the index instead.
			row.Loading = true
		} else {
			st, err := c.banks.BankStats(ctx, b.Name)
			if err != nil {
				return nil, err
			}
			row.Counts = st.Active
		}
		for _, n := range row.Counts {
			row.Total += n
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request, v *visit) error {
	rows, err := c.bankRows(r.Context())
	if err != nil {
		return err
	}
	depth, err := c.st.OutboxDepth(r.Context())
	if err != nil {
		return err
	}
	var total int64
	for _, b := range rows {
		total += b.Total
	}
	now := time.Now()
	days, err := c.st.HitsPerDay(r.Context(), now.UTC().Truncate(24*time.Hour).AddDate(0, 0, -(chartDays-1)))
	if err != nil {
		return err
	}
	dead, err := c.st.DeadEventCount(r.Context())
	if err != nil {
		return err
	}
	c.render(w, r, v, http.StatusOK, "overview", "Overview", map[string]any{
		"Banks": rows, "Types": signalTypes, "Total": total, "Outbox": depth, "Dead": dead,
		"Chart": buildChart(days, now)})
	return nil
}

func (c *Console) bankList(w http.ResponseWriter, r *http.Request, v *visit) error {
	rows, err := c.bankRows(r.Context())
	if err != nil {
		return err
	}
	c.render(w, r, v, http.StatusOK, "banks", "Banks", map[string]any{"Banks": rows, "Types": signalTypes, "Actions": bank.Actions})
	return nil
}

// Signal listing: a page of pageSize signals in ID order; a category or
// source filter examines at most scanBudget signals per request (in the
// database, without reading them out) and offers to continue after the
// last one examined, so a search in a ten-million-signal bank never holds
// a request for long.
const (
	pageSize   = 50
	scanBudget = 40_000
)

// signalSearch is the bank page's query.
type signalSearch struct {
	Value, Category, Source string
	Removed                 bool
	After                   int64
}

func (q signalSearch) query(after int64) string {
	v := url.Values{}
	for k, s := range map[string]string{"value": q.Value, "category": q.Category, "source": q.Source} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Removed {
		v.Set("removed", "1")
	}
	if after > 0 {
		v.Set("after", strconv.FormatInt(after, 10))
	}
	return v.Encode()
}

func (c *Console) bankDetail(w http.ResponseWriter, r *http.Request, v *visit) error {
	ctx := r.Context()
	b, err := c.banks.GetBank(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	q := r.URL.Query()
	s := signalSearch{Value: strings.TrimSpace(q.Get("value")), Category: strings.TrimSpace(q.Get("category")),
		Source: strings.TrimSpace(q.Get("source")), Removed: q.Get("removed") == "1"}
	if a := q.Get("after"); a != "" {
		if s.After, err = strconv.ParseInt(a, 10, 64); err != nil || s.After < 0 {
			return &httpError{http.StatusBadRequest, "?after must be a signal id."}
		}
	}
	var sigs []bank.Signal
	var next int64
	if s.Value != "" {
		// By value: the store's index answers, per type the value can be.
		for _, t := range signalTypes {
			val, err := bank.NormalizeValue(t, s.Value)
			if err != nil {
				continue
			}
			sig, err := c.st.FindSignal(ctx, b.Name, t, val)
			if errors.Is(err, bank.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			sigs = append(sigs, sig)
		}
	} else {
		scan := 0
		if s.Category != "" || s.Source != "" {
			scan = scanBudget
		}
		if sigs, next, err = c.st.SearchSignals(ctx, b.Name, s.Category, s.Source, s.Removed, s.After, scan, pageSize); err != nil {
			return err
		}
	}
	var stats *bank.BankStats
	if c.cfg.IndexSizes == nil {
		st, err := c.banks.BankStats(ctx, b.Name)
		if err != nil {
			return err
		}
		stats = &st
	}
	data := map[string]any{"Bank": b, "Signals": sigs, "Search": s, "Types": signalTypes, "Stats": stats,
		"Msg": flash[q.Get("msg")], "Actions": bank.Actions, "Formats": importFormats, "ExportFormats": exportFormats}
	if next > 0 {
		data["Next"] = "?" + s.query(next)
	}
	if c.cfg.IndexSizes != nil {
		data["Sizes"] = c.cfg.IndexSizes()[b.Name]
	}
	c.render(w, r, v, http.StatusOK, "bank", "Bank "+b.Name, data)
	return nil
}

// flash are the messages a redirect may ask a page to show (by key, so a
// link cannot make the console display arbitrary text).
// Formats offered on a bank's page: every format the reader knows, and
// the ones an export writes (nigehban is hash output, read only).
var (
	importFormats = hashlist.Formats()
	exportFormats = []hashlist.Format{hashlist.CSV, hashlist.JSONL, hashlist.Plain, hashlist.TE, hashlist.VICS}
)

var flash = map[string]string{
	"added":     "Signal added.",
	"unchanged": "That signal was already in the bank; nothing changed.",
	"removed":   "Signal removed.",
	"revoked":   "API key revoked.",
	"changed":   "User changed.",
	"created":   "Bank created.",
	"saved":     "Saved.",
}

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, &httpError{http.StatusNotFound, "Not found."}
	}
	return id, nil
}

func (c *Console) signalDetail(w http.ResponseWriter, r *http.Request, v *visit) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	sig, err := c.banks.GetSignal(r.Context(), id)
	if err != nil {
		return err
	}
	if sig.Bank != r.PathValue("name") {
		return &httpError{http.StatusNotFound, "Not found."}
	}
	c.render(w, r, v, http.StatusOK, "signal", "Signal "+strconv.FormatInt(id, 10), map[string]any{"Signal": sig})
	return nil
}

func (c *Console) addSignal(w http.ResponseWriter, r *http.Request, v *visit) error {
	name := r.PathValue("name")
	t, err := bank.ParseType(r.PostFormValue("type"))
	if err != nil {
		return &httpError{http.StatusBadRequest, err.Error()}
	}
	sig := bank.Signal{Type: t, Value: strings.TrimSpace(r.PostFormValue("value")), Category: r.PostFormValue("category"),
		Source: r.PostFormValue("source"), Note: r.PostFormValue("note"), Quality: -1}
	_, added, err := c.banks.AddSignal(r.Context(), name, sig, v.by()) // audited by the store
	if err != nil {
		return err
	}
	msg := "unchanged"
	if added {
		msg = "added"
	}
	http.Redirect(w, r, "/ui/banks/"+url.PathEscape(name)+"?msg="+msg, http.StatusSeeOther)
	return nil
}

func (c *Console) removeSignal(w http.ResponseWriter, r *http.Request, v *visit) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" {
		return &httpError{http.StatusBadRequest, "A reason is required: removals are curated decisions."}
	}
	if _, _, err := c.banks.RemoveSignal(r.Context(), name, bank.SignalRef{ID: id}, reason, v.by()); err != nil { // audited by the store
		return err
	}
	http.Redirect(w, r, "/ui/banks/"+url.PathEscape(name)+"?msg=removed", http.StatusSeeOther)
	return nil
}

const matchPage = 100

func (c *Console) matches(w http.ResponseWriter, r *http.Request, v *visit) error {
	q := r.URL.Query()
	hq := history.Query{ContentID: strings.TrimSpace(q.Get("content_id")), Bank: strings.TrimSpace(q.Get("bank")), Limit: matchPage}
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 0 {
			return &httpError{http.StatusBadRequest, "?before must be a hit id."}
		}
		hq.Before = n
	}
	hits, err := c.st.ListHits(r.Context(), hq)
	if err != nil {
		return err
	}
	data := map[string]any{"Hits": hits, "Query": hq}
	if len(hits) == matchPage {
		v := url.Values{}
		if hq.ContentID != "" {
			v.Set("content_id", hq.ContentID)
		}
		if hq.Bank != "" {
			v.Set("bank", hq.Bank)
		}
		v.Set("before", strconv.FormatInt(hits[len(hits)-1].ID, 10))
		data["Older"] = "?" + v.Encode()
	}
	c.render(w, r, v, http.StatusOK, "matches", "Match history", data)
	return nil
}

const auditPage = 100

func (c *Console) auditLog(w http.ResponseWriter, r *http.Request, v *visit) error {
	var before int64
	if b := r.URL.Query().Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 0 {
			return &httpError{http.StatusBadRequest, "?before must be a sequence number."}
		}
		before = n
	}
	es, err := c.st.AuditBefore(r.Context(), before, auditPage)
	if err != nil {
		return err
	}
	data := map[string]any{"Entries": es}
	if len(es) == auditPage && es[len(es)-1].Seq > 1 {
		data["Older"] = es[len(es)-1].Seq
	}
	if before > 0 {
		data["Newer"] = before + auditPage
	}
	c.render(w, r, v, http.StatusOK, "audit", "Audit log", data)
	return nil
}

func (c *Console) users(w http.ResponseWriter, r *http.Request, v *visit) error {
	return c.showUsers(w, r, v, http.StatusOK, map[string]any{"Msg": flash[r.URL.Query().Get("msg")]})
}

func (c *Console) showUsers(w http.ResponseWriter, r *http.Request, v *visit, status int, data map[string]any) error {
	us, err := c.acc.List(r.Context())
	if err != nil {
		return err
	}
	data["Users"] = us
	data["Now"] = c.acc.Config().Now()
	c.render(w, r, v, status, "users", "Users", data)
	return nil
}

func (c *Console) createUser(w http.ResponseWriter, r *http.Request, v *visit) error {
	role, err := account.ParseRole(r.PostFormValue("role"))
	if err != nil {
		return c.showUsers(w, r, v, http.StatusBadRequest, map[string]any{"Error": err.Error()})
	}
	u, tok, err := c.acc.Create(r.Context(), strings.TrimSpace(r.PostFormValue("name")), role, v.actor())
	if errors.Is(err, account.ErrInvalid) || errors.Is(err, account.ErrExists) {
		return c.showUsers(w, r, v, http.StatusBadRequest, map[string]any{"Error": err.Error()})
	}
	if err != nil {
		return err
	}
	return c.showUsers(w, r, v, http.StatusOK, map[string]any{"Token": tok, "TokenFor": u.Name})
}

func (c *Console) changeUser(w http.ResponseWriter, r *http.Request, v *visit) error {
	name, op := r.PathValue("name"), r.PathValue("op")
	if name == v.user.Name && op != "reset" {
		return &httpError{http.StatusBadRequest, "You cannot disable yourself or change your own role."}
	}
	var err error
	switch op {
	case "disable", "enable":
		_, err = c.acc.SetDisabled(r.Context(), name, op == "disable", v.actor())
	case "role":
		var role account.Role
		if role, err = account.ParseRole(r.PostFormValue("role")); err == nil {
			_, err = c.acc.SetRole(r.Context(), name, role, v.actor())
		}
	case "reset":
		var u account.User
		var tok string
		if u, tok, err = c.acc.Reset(r.Context(), name, v.actor()); err == nil {
			if u.ID == v.user.ID {
				c.clearSession(w)
			}
			return c.showUsers(w, r, v, http.StatusOK, map[string]any{"Token": tok, "TokenFor": u.Name})
		}
	default:
		return &httpError{http.StatusNotFound, "No such page."}
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/users?msg=changed", http.StatusSeeOther)
	return nil
}

func (c *Console) apiKeys(w http.ResponseWriter, r *http.Request, v *visit) error {
	return c.showKeys(w, r, v, http.StatusOK, map[string]any{"Msg": flash[r.URL.Query().Get("msg")]})
}

func (c *Console) showKeys(w http.ResponseWriter, r *http.Request, v *visit, status int, data map[string]any) error {
	ks, err := c.st.ListAPIKeys(r.Context())
	if err != nil {
		return err
	}
	slices.Reverse(ks) // newest first
	data["Keys"] = ks
	data["Roles"] = []apikey.Role{apikey.Submitter, apikey.Curator, apikey.Admin}
	c.render(w, r, v, status, "apikeys", "API keys", data)
	return nil
}

func (c *Console) createAPIKey(w http.ResponseWriter, r *http.Request, v *visit) error {
	role, err := apikey.ParseRole(r.PostFormValue("role"))
	if err != nil {
		return c.showKeys(w, r, v, http.StatusBadRequest, map[string]any{"Error": err.Error()})
	}
	k, secret, err := apikey.New(strings.TrimSpace(r.PostFormValue("name")), role, v.actor())
	if err != nil {
		return c.showKeys(w, r, v, http.StatusBadRequest, map[string]any{"Error": err.Error()})
	}
	if k, err = c.st.CreateAPIKey(r.Context(), k, v.by()); err != nil { // audited by the store
		return err
	}
	return c.showKeys(w, r, v, http.StatusCreated, map[string]any{"Secret": secret, "SecretFor": k.Name})
}

func (c *Console) revokeAPIKey(w http.ResponseWriter, r *http.Request, v *visit) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := c.st.RevokeAPIKey(r.Context(), id, v.by()); err != nil { // audited by the store
		return err
	}
	http.Redirect(w, r, "/ui/apikeys?msg=revoked", http.StatusSeeOther)
	return nil
}
