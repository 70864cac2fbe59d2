package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/nigehban/nigehban/internal/account"
	"github.com/nigehban/nigehban/internal/bank"
	"github.com/nigehban/nigehban/internal/exchange"
	"github.com/nigehban/nigehban/internal/jobs"
	"github.com/nigehban/nigehban/internal/sealed"
)

// The exchanges pages (issue 15's UI): every exchange with its state, last
// fetch, position, last error, what its last fetch added and withdrew, its
// River fetch job, its opinion outbox and disputed signals; a detail page
// with the recent pages (from their audit entries) and jobs (from River's
// job rows, with each failed attempt's error); when each is next fetched
// unasked (its job's retry, or the schedule's next run: the newest River
// schedule job plus serve's --exchange-interval); and the curator's actions:
// add (credentials sealed with the data key through exchange.Service, as
// the CLI does, and never shown again), fetch now (a River job; the page
// reloads itself while it is queued or running) and disable/enable.

func init() {
	pageTable = append(pageTable,
		page{"GET", "/ui/exchanges", roleNeeded, account.Curator, (*Console).exchanges},
		page{"POST", "/ui/exchanges", roleNeeded, account.Curator, (*Console).addExchange},
		page{"GET", "/ui/exchanges/{name}", roleNeeded, account.Curator, (*Console).exchangeDetail},
		page{"POST", "/ui/exchanges/{name}/fetch", roleNeeded, account.Curator, (*Console).fetchExchange},
		page{"POST", "/ui/exchanges/{name}/enable", roleNeeded, account.Curator, (*Console).enableExchange},
		page{"POST", "/ui/exchanges/{name}/disable", roleNeeded, account.Curator, (*Console).disableExchange},
	)
	funcs["jobState"] = jobState
	nav = slices.Insert(nav, slices.IndexFunc(nav, func(n navItem) bool { return n.Path == "/ui/webhooks" }),
		navItem{"/ui/exchanges", "Exchanges", account.Curator})
}

// ActFetchQueued is the audit action of a fetch queued from the console
// (the fetch's pages are audited as exchange.sync by the job).
const ActFetchQueued = "exchange.fetch.queue"

// kindForm is what the add form asks for one kind of exchange: the URL's
// meaning, its settings and its credentials (sealed, never shown back).
type kindForm struct {
	Kind        exchange.Kind
	Label, URL  string
	Settings    []formField
	Credentials []formField
}

// formField is one field of a kind's form: its key and label.
type formField struct {
	Key, Label string
	Long       bool // a textarea (a verifier key)
}

// kindForms are the add forms, one per kind, with the settings and
// credentials each adapter reads (exchange.NewAdapter).
var kindForms = []kindForm{
	{Kind: exchange.KindHashList, Label: "Hash list at a URL (conditional GET; values that leave the list are withdrawn)", URL: "List URL",
		Credentials: []formField{{Key: "token", Label: "Bearer token (if the list needs one)"}}},
	{Kind: exchange.KindNCMEC, Label: "NCMEC Hash Sharing API v2", URL: "API base URL",
		Settings:    []formField{{Key: "member", Label: "Members to keep (comma-separated ids; empty: all)"}},
		Credentials: []formField{{Key: "user", Label: "User"}, {Key: "password", Label: "Password"}}},
	{Kind: exchange.KindStopNCII, Label: "StopNCII (FetchHashes)", URL: "API base URL",
		Credentials: []formField{{Key: "subscription_key", Label: "Subscription key"}, {Key: "fetch_key", Label: "Fetch key"},
			{Key: "feedback_key", Label: "Feedback key"}}},
	{Kind: exchange.KindThreatExchange, Label: "ThreatExchange (threat_updates)", URL: "Graph API base URL",
		Settings:    []formField{{Key: "privacy_group", Label: "Privacy group id"}},
		Credentials: []formField{{Key: "token", Label: "Access token"}}},
	{Kind: exchange.KindNigehban, Label: "A partner Nigehban instance's published bank", URL: "Partner's base URL",
		Settings:    []formField{{Key: "bank", Label: "Partner's bank"}, {Key: "log_vkey", Label: "Partner's log verifier key", Long: true}},
		Credentials: []formField{{Key: "token", Label: "Partner token (from their \"exchange publish\")"}}},
}

// exchangeStores returns the store's exchange interfaces, or an error page
// when it keeps no exchanges.
func (c *Console) exchangeStores() (exchange.Store, exchange.StatusStore, error) {
	xs, ok := c.st.(exchange.Store)
	ss, ok2 := c.st.(exchange.StatusStore)
	if !ok || !ok2 {
		return nil, nil, &httpError{http.StatusNotImplemented, "This store keeps no exchanges."}
	}
	return xs, ss, nil
}

// runner returns the River client the console queues and lists jobs with,
// nil when serve has none.
func (c *Console) runner(ctx context.Context) (jobs.Runner, error) {
	if c.cfg.Jobs == nil {
		return nil, nil
	}
	return c.cfg.Jobs(ctx)
}

// exchangeJobs lists the recent River fetch jobs and the newest schedule
// job (the schedule's next run follows it by the interval); both nil
// without a runner.
func (c *Console) exchangeJobs(ctx context.Context) (fetch, sched []*rivertype.JobRow, err error) {
	r, err := c.runner(ctx)
	if err != nil || r == nil {
		return nil, nil, err
	}
	if fetch, err = r.Jobs(ctx, exchange.FetchArgs{}.Kind(), maxJobRows); err != nil {
		return nil, nil, fmt.Errorf("list fetch jobs: %w", err)
	}
	if sched, err = r.Jobs(ctx, exchange.ScheduleArgs{}.Kind(), 1); err != nil {
		return nil, nil, fmt.Errorf("list schedule jobs: %w", err)
	}
	return fetch, sched, nil
}

// maxJobRows bounds the River job rows one page reads; syncPages the
// audit entries of pages per exchange.
const (
	maxJobRows = 500
	syncPages  = 100
)

// exchangeRow is one exchange as the pages show it.
type exchangeRow struct {
	X           exchange.Exchange
	Credentials bool // credentials are stored (sealed; never shown)
	Counts      exchange.Counts
	Jobs        []exchange.FetchJob // newest first
	Job         *exchange.FetchJob  // the newest
	Pages       []exchange.SyncPage // newest first
	// LastAdded and LastWithdrawn sum the pages of the last fetch (those
	// committed since it began); LastPages counts them.
	LastAdded, LastWithdrawn, LastPages int
	Running                             bool // a fetch is in progress or its job queued
	// Next is when the exchange is next fetched unasked (exchange.NextFetch);
	// nil when disabled or not known here.
	Next *time.Time
}

// exchangeRow is exchange x with its fetch jobs (among jr) and its next
// scheduled fetch (from the schedule jobs sched).
func (c *Console) exchangeRow(ctx context.Context, ss exchange.StatusStore, x exchange.Exchange, jr, sched []*rivertype.JobRow) (exchangeRow, error) {
	row := exchangeRow{X: x, Credentials: x.SealedCredentials != ""}
	row.X.SealedCredentials, row.X.Credentials = "", nil
	var err error
	if row.Counts, err = ss.ExchangeCounts(ctx, x.Name); err != nil {
		return row, err
	}
	es, err := ss.ExchangeSyncs(ctx, x.Name, syncPages)
	if err != nil {
		return row, err
	}
	row.Pages = exchange.SyncPages(es, x.Name)
	if x.State.LastFetchAt != nil {
		for _, p := range row.Pages {
			if p.At.Before(*x.State.LastFetchAt) {
				break
			}
			row.LastAdded += p.Applied.Added
			row.LastWithdrawn += p.Applied.Withdrawn
			row.LastPages++
		}
	}
	row.Jobs = exchange.FetchJobs(jr, x.Name)
	if len(row.Jobs) > 0 {
		row.Job = &row.Jobs[0]
	}
	row.Running = x.State.SyncStart != nil || (row.Job != nil && row.Job.Active())
	if next, ok := exchange.NextFetch(x, row.Job, sched, c.cfg.ExchangeInterval); ok {
		row.Next = &next
	}
	return row, nil
}

// exchanges answers GET /ui/exchanges.
func (c *Console) exchanges(w http.ResponseWriter, r *http.Request, v *visit) error {
	return c.showExchanges(w, r, v, http.StatusOK, nil)
}

func (c *Console) showExchanges(w http.ResponseWriter, r *http.Request, v *visit, status int, data map[string]any) error {
	ctx := r.Context()
	xs, ss, err := c.exchangeStores()
	if err != nil {
		return err
	}
	list, err := xs.ListExchanges(ctx)
	if err != nil {
		return err
	}
	jr, sched, err := c.exchangeJobs(ctx)
	if err != nil {
		return err
	}
	rows := make([]exchangeRow, 0, len(list))
	running := false
	for _, x := range list {
		row, err := c.exchangeRow(ctx, ss, x, jr, sched)
		if err != nil {
			return err
		}
		running = running || row.Running
		rows = append(rows, row)
	}
	banks, err := c.banks.ListBanks(ctx)
	if err != nil {
		return err
	}
	if data == nil {
		data = map[string]any{}
	}
	data["Rows"], data["Kinds"], data["Banks"] = rows, kindForms, banks
	data["Jobs"], data["Keys"], data["Interval"] = c.cfg.Jobs != nil, c.cfg.DataKeys.Configured(), c.cfg.ExchangeInterval
	if m := exchangeFlash[r.URL.Query().Get("msg")]; m != "" && data["Msg"] == nil {
		data["Msg"] = m
	}
	if running && status == http.StatusOK {
		w.Header().Set("Refresh", "5") // reload while a fetch runs
		data["Refresh"] = 5
	}
	c.render(w, r, v, status, "exchanges", "Exchanges", data)
	return nil
}

// exchangeFlash are the pages' messages after an action.
var exchangeFlash = map[string]string{
	"added":    "Exchange added. Its credentials are stored sealed and are not shown again.",
	"queued":   "Fetch queued.",
	"already":  "A fetch of this exchange is already queued or running.",
	"enabled":  "Exchange enabled: it is fetched again.",
	"disabled": "Exchange disabled: it is no longer fetched (its signals stay).",
}

// exchangeDetail answers GET /ui/exchanges/{name}.
func (c *Console) exchangeDetail(w http.ResponseWriter, r *http.Request, v *visit) error {
	ctx := r.Context()
	xs, ss, err := c.exchangeStores()
	if err != nil {
		return err
	}
	x, err := xs.GetExchange(ctx, r.PathValue("name"))
	if errors.Is(err, exchange.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	jr, sched, err := c.exchangeJobs(ctx)
	if err != nil {
		return err
	}
	row, err := c.exchangeRow(ctx, ss, x, jr, sched)
	if err != nil {
		return err
	}
	ops, err := xs.ListOpinions(ctx, x.Name, 20)
	if err != nil {
		return err
	}
	data := map[string]any{"Row": row, "Opinions": ops, "Jobs": c.cfg.Jobs != nil, "Interval": c.cfg.ExchangeInterval,
		"Msg": exchangeFlash[r.URL.Query().Get("msg")], "Feedback": exchange.TakesFeedback(x.Kind),
		// A schedule run a minute late (River inserts periodic jobs when
		// due) is overdue: no replica runs the schedule.
		"Overdue": row.Next != nil && time.Since(*row.Next) > time.Minute}
	if row.Running {
		// The page reloads itself while the fetch runs (no script: the
		// Refresh header), showing the entries applied so far.
		w.Header().Set("Refresh", "2")
		data["Refresh"] = 2
	}
	c.render(w, r, v, http.StatusOK, "exchange", "Exchange "+x.Name, data)
	return nil
}

// addExchange answers POST /ui/exchanges: name, kind, bank, url,
// stale_after and the kind's setting.KEY and credential.KEY fields.
func (c *Console) addExchange(w http.ResponseWriter, r *http.Request, v *visit) error {
	xs, _, err := c.exchangeStores()
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return &httpError{http.StatusBadRequest, "The form was cut short."}
	}
	kind := exchange.Kind(r.PostForm.Get("kind"))
	i := slices.IndexFunc(kindForms, func(k kindForm) bool { return k.Kind == kind })
	if i < 0 {
		return c.showExchanges(w, r, v, http.StatusBadRequest, map[string]any{"Error": "Choose one of the kinds of exchange below."})
	}
	kf := kindForms[i]
	x := exchange.Exchange{Name: strings.TrimSpace(r.PostForm.Get("name")), Kind: kind, Bank: r.PostForm.Get("bank"),
		URL: strings.TrimSpace(r.PostForm.Get("url")), Enabled: true}
	if s := strings.TrimSpace(r.PostForm.Get("stale_after")); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return c.showExchanges(w, r, v, http.StatusBadRequest, map[string]any{"Error": "Refetch after: a duration such as 72h, or empty for never."})
		}
		x.StaleAfter = d
	}
	for _, f := range kf.Settings {
		if s := strings.TrimSpace(r.PostForm.Get("setting." + f.Key)); s != "" {
			if x.Settings == nil {
				x.Settings = map[string]string{}
			}
			x.Settings[f.Key] = s
		}
	}
	for _, f := range kf.Credentials {
		if s := r.PostForm.Get("credential." + f.Key); s != "" {
			if x.Credentials == nil {
				x.Credentials = map[string]string{}
			}
			x.Credentials[f.Key] = s
		}
	}
	svc := &exchange.Service{St: xs, Banks: c.st, Keys: c.cfg.DataKeys, Log: c.log}
	_, err = svc.Add(r.Context(), x, v.by())
	var msg string
	switch {
	case err == nil:
		http.Redirect(w, r, "/ui/exchanges/"+x.Name+"?msg=added", http.StatusSeeOther)
		return nil
	case errors.Is(err, exchange.ErrExists):
		msg = fmt.Sprintf("An exchange named %q exists already.", x.Name)
	case errors.Is(err, exchange.ErrInvalid):
		msg = err.Error()
	case errors.Is(err, bank.ErrNotFound):
		msg = fmt.Sprintf("There is no bank %q: create it first.", x.Bank)
	case errors.Is(err, sealed.ErrNoKey):
		msg = "Credentials are stored sealed: start serve with --data-key to add an exchange with credentials."
	default:
		return err
	}
	return c.showExchanges(w, r, v, http.StatusBadRequest, map[string]any{"Error": msg})
}

// fetchExchange answers POST /ui/exchanges/{name}/fetch: a River fetch job
// (unique per exchange: a fetch already queued or running is not repeated),
// its queuing audited.
func (c *Console) fetchExchange(w http.ResponseWriter, r *http.Request, v *visit) error {
	xs, _, err := c.exchangeStores()
	if err != nil {
		return err
	}
	x, err := xs.GetExchange(r.Context(), r.PathValue("name"))
	if errors.Is(err, exchange.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	if !x.Enabled {
		return &httpError{http.StatusConflict, "This exchange is disabled: enable it first."}
	}
	run, err := c.runner(r.Context())
	if err != nil {
		return err
	}
	if run == nil {
		return &httpError{http.StatusServiceUnavailable, "This server runs no exchange jobs: fetch with \"nigehban exchange fetch\"."}
	}
	res, err := run.Insert(r.Context(), exchange.FetchArgs{Exchange: x.Name}, nil)
	if err != nil {
		return fmt.Errorf("queue fetch of %s: %w", x.Name, err)
	}
	msg := "queued"
	if res.UniqueSkippedAsDuplicate {
		msg = "already"
	} else if _, err := c.st.AppendAudit(r.Context(), v.by().Entry(ActFetchQueued, x.Name, map[string]any{"job": res.Job.ID})); err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/exchanges/"+x.Name+"?msg="+msg, http.StatusSeeOther)
	return nil
}

func (c *Console) enableExchange(w http.ResponseWriter, r *http.Request, v *visit) error {
	return c.setExchangeEnabled(w, r, v, true)
}

func (c *Console) disableExchange(w http.ResponseWriter, r *http.Request, v *visit) error {
	return c.setExchangeEnabled(w, r, v, false)
}

// setExchangeEnabled enables or disables the exchange of the path (audited
// by the store in the change's transaction).
func (c *Console) setExchangeEnabled(w http.ResponseWriter, r *http.Request, v *visit, enabled bool) error {
	xs, _, err := c.exchangeStores()
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	err = xs.SetExchangeEnabled(r.Context(), name, enabled, v.by())
	if errors.Is(err, exchange.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	msg := "disabled"
	if enabled {
		msg = "enabled"
	}
	http.Redirect(w, r, "/ui/exchanges/"+name+"?msg="+msg, http.StatusSeeOther)
	return nil
}

// jobState says in words where a fetch job stands (nil: no job).
func jobState(j any) string {
	var job exchange.FetchJob
	switch j := j.(type) {
	case *exchange.FetchJob:
		if j == nil {
			return "no job"
		}
		job = *j
	case exchange.FetchJob:
		job = j
	default:
		return "no job"
	}
	at := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return " " + t.UTC().Format("2006-01-02 15:04:05Z")
	}
	switch rivertype.JobState(job.State) {
	case rivertype.JobStateRunning:
		return fmt.Sprintf("running (attempt %d)", job.Attempt)
	case rivertype.JobStateRetryable:
		return fmt.Sprintf("retrying at%s (attempt %d of %d)", at(&job.ScheduledAt), job.Attempt, job.MaxAttempts)
	case rivertype.JobStateAvailable, rivertype.JobStatePending:
		return "queued"
	case rivertype.JobStateScheduled:
		return "next run" + at(&job.ScheduledAt)
	case rivertype.JobStateCompleted:
		return "done" + at(job.FinalizedAt)
	case rivertype.JobStateDiscarded:
		return fmt.Sprintf("gave up after %d attempts%s", job.Attempt, at(job.FinalizedAt))
	}
	return job.State
}
