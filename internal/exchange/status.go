package exchange

import (
	"context"
	"encoding/json"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/nigehban/nigehban/internal/audit"
)

// What the console shows of an exchange beyond its row: the opinion
// outbox and disputes (Counts), the pages recent fetches committed
// (SyncPage, read back from their audit entries) and the River jobs that
// fetch it (FetchJob). Nothing here changes anything.

// Counts are an exchange's opinion outbox and disputed signals.
type Counts struct {
	// Outbox counts opinions the exchange has not accepted yet.
	Outbox int64 `json:"outbox"`
	// Failing counts those of them that failed at least once.
	Failing int64 `json:"failing"`
	// Disputed counts signals of the exchange whose review contradicts it.
	Disputed int64 `json:"disputed"`
}

// SyncPage is one page a fetch committed, as its ActSync audit entry
// records it.
type SyncPage struct {
	Seq     int64     `json:"seq"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`
	From    int64     `json:"from"`
	To      int64     `json:"to"`
	Entries int       `json:"entries"`
	Applied Applied   `json:"applied"`
}

// StatusStore reads what the console shows of exchanges; the SQL stores
// implement it.
type StatusStore interface {
	// ExchangeCounts counts the exchange's outbox and disputed signals
	// (ErrNotFound for no such exchange).
	ExchangeCounts(ctx context.Context, name string) (Counts, error)
	// ExchangeSyncs returns up to limit of the ActSync audit entries
	// among the SyncScan newest entries of the exchange's bank, newest
	// first; SyncPages keeps the exchange's own.
	ExchangeSyncs(ctx context.Context, name string, limit int) ([]audit.Entry, error)
}

// SyncScan bounds the audit entries of a bank ExchangeSyncs looks at, so
// a view costs the same however long the bank's history: pages buried
// under more of the bank's other entries (curators' changes) are not shown.
const SyncScan = 1000

// SyncPages decodes the ActSync entries of exchange name among es (other
// entries and other exchanges' are skipped), in their order.
func SyncPages(es []audit.Entry, name string) []SyncPage {
	var out []SyncPage
	for _, e := range es {
		if e.Action != ActSync {
			continue
		}
		var d struct {
			Exchange string  `json:"exchange"`
			From     int64   `json:"from"`
			To       int64   `json:"to"`
			Entries  int     `json:"entries"`
			Result   Applied `json:"result"`
		}
		if json.Unmarshal(e.Detail, &d) != nil || d.Exchange != name {
			continue
		}
		out = append(out, SyncPage{Seq: e.Seq, At: e.At, Actor: e.Actor, From: d.From, To: d.To, Entries: d.Entries, Applied: d.Result})
	}
	return out
}

// FetchJob is a River job fetching one exchange: its state (available,
// scheduled, running, retryable, completed, discarded, cancelled), attempts
// and the error of each failed attempt.
type FetchJob struct {
	ID          int64      `json:"id"`
	State       string     `json:"state"`
	Attempt     int        `json:"attempt"`
	MaxAttempts int        `json:"max_attempts"`
	CreatedAt   time.Time  `json:"created_at"`
	ScheduledAt time.Time  `json:"scheduled_at"` // when it runs (next run of a retry)
	AttemptedAt *time.Time `json:"attempted_at,omitempty"`
	FinalizedAt *time.Time `json:"finalized_at,omitempty"`
	Errors      []JobError `json:"errors,omitempty"` // oldest first
}

// JobError is the error of one attempt of a job.
type JobError struct {
	At      time.Time `json:"at"`
	Attempt int       `json:"attempt"`
	Error   string    `json:"error"`
}

// Active reports whether the job is queued, running or waiting to retry.
func (j FetchJob) Active() bool {
	switch rivertype.JobState(j.State) {
	case rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
		rivertype.JobStateRetryable, rivertype.JobStateScheduled:
		return true
	}
	return false
}

// FetchJobs returns the jobs among rows that fetch exchange name, in their
// order.
func FetchJobs(rows []*rivertype.JobRow, name string) []FetchJob {
	var out []FetchJob
	for _, r := range rows {
		if r == nil || r.Kind != (FetchArgs{}).Kind() {
			continue
		}
		var a FetchArgs
		if json.Unmarshal(r.EncodedArgs, &a) != nil || a.Exchange != name {
			continue
		}
		j := FetchJob{ID: r.ID, State: string(r.State), Attempt: r.Attempt, MaxAttempts: r.MaxAttempts,
			CreatedAt: r.CreatedAt, ScheduledAt: r.ScheduledAt, AttemptedAt: r.AttemptedAt, FinalizedAt: r.FinalizedAt}
		for _, e := range r.Errors {
			j.Errors = append(j.Errors, JobError{At: e.At, Attempt: e.Attempt, Error: e.Error})
		}
		out = append(out, j)
	}
	return out
}

// NextFetch is when exchange x is next fetched without anyone asking: the
// run its newest fetch job waits for (a retry, or a job scheduled ahead),
// else the schedule's next run, the newest schedule job's time plus
// interval (schedule: River's rows of ScheduleArgs jobs, newest first; the
// schedule queues a fetch of every enabled exchange). ok is false for a
// disabled exchange, and when neither is known: no schedule job yet, or
// interval 0 (the schedule runs on another replica, at its own interval).
// The time may be past: the schedule is overdue (no replica runs it).
func NextFetch(x Exchange, job *FetchJob, schedule []*rivertype.JobRow, interval time.Duration) (time.Time, bool) {
	if !x.Enabled {
		return time.Time{}, false
	}
	if job != nil {
		switch rivertype.JobState(job.State) {
		case rivertype.JobStateRetryable, rivertype.JobStateScheduled:
			return job.ScheduledAt, true
		}
	}
	for _, r := range schedule {
		if r != nil && r.Kind == (ScheduleArgs{}).Kind() && interval > 0 {
			return r.ScheduledAt.Add(interval), true
		}
	}
	return time.Time{}, false
}
