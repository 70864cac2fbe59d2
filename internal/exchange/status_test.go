package exchange_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/nigehban/nigehban/internal/audit"
	"github.com/nigehban/nigehban/internal/exchange"
)

// TestSyncPages: only the exchange's own sync entries become pages, with
// their counts; other actions, other exchanges and unreadable details are
// skipped.
func TestSyncPages(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	entry := func(seq int64, action string, detail any) audit.Entry {
		b, _ := json.Marshal(detail)
		return audit.Entry{Seq: seq, At: at, Actor: "exchange:x", Action: action, Target: "bank", Detail: b}
	}
	es := []audit.Entry{
		entry(9, exchange.ActSync, map[string]any{"exchange": "x", "from": 5, "to": 7, "entries": 3,
			"result": exchange.Applied{Added: 2, Withdrawn: 1}}),
		entry(8, exchange.ActSync, map[string]any{"exchange": "other", "from": 1, "to": 2}),
		entry(7, "signal.add", map[string]any{"exchange": "x"}),
		{Seq: 6, Action: exchange.ActSync, Detail: []byte("not json")},
		entry(5, exchange.ActSync, map[string]any{"exchange": "x", "from": 0, "to": 5, "entries": 5,
			"result": exchange.Applied{Added: 4, Unchanged: 1}}),
	}
	got := exchange.SyncPages(es, "x")
	want := []exchange.SyncPage{
		{Seq: 9, At: at, Actor: "exchange:x", From: 5, To: 7, Entries: 3, Applied: exchange.Applied{Added: 2, Withdrawn: 1}},
		{Seq: 5, At: at, Actor: "exchange:x", From: 0, To: 5, Entries: 5, Applied: exchange.Applied{Added: 4, Unchanged: 1}},
	}
	if len(got) != len(want) {
		t.Fatalf("%d pages, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("page %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestFetchJobsOf: River rows of other kinds and other exchanges are
// skipped; each attempt's error is kept; Active follows River's states.
func TestFetchJobsOf(t *testing.T) {
	args := func(name string) []byte { b, _ := json.Marshal(exchange.FetchArgs{Exchange: name}); return b }
	now := time.Now().UTC()
	rows := []*rivertype.JobRow{
		{ID: 4, Kind: "exchange.fetch", EncodedArgs: args("x"), State: rivertype.JobStateRetryable, Attempt: 2, MaxAttempts: 8,
			ScheduledAt: now, Errors: []rivertype.AttemptError{{At: now, Attempt: 1, Error: "503"}, {At: now, Attempt: 2, Error: "timeout"}}},
		{ID: 3, Kind: "exchange.fetch", EncodedArgs: args("y"), State: rivertype.JobStateRunning},
		{ID: 2, Kind: "exchange.deliver", EncodedArgs: []byte("{}"), State: rivertype.JobStateCompleted},
		nil,
		{ID: 1, Kind: "exchange.fetch", EncodedArgs: args("x"), State: rivertype.JobStateCompleted, FinalizedAt: &now},
	}
	got := exchange.FetchJobs(rows, "x")
	if len(got) != 2 || got[0].ID != 4 || got[1].ID != 1 {
		t.Fatalf("jobs %+v", got)
	}
	if len(got[0].Errors) != 2 || got[0].Errors[1].Error != "timeout" || got[0].Errors[1].Attempt != 2 {
		t.Errorf("errors %+v", got[0].Errors)
	}
	for _, tc := range []struct {
		state  rivertype.JobState
		active bool
	}{
		{rivertype.JobStateAvailable, true}, {rivertype.JobStateScheduled, true}, {rivertype.JobStateRunning, true},
		{rivertype.JobStateRetryable, true}, {rivertype.JobStatePending, true},
		{rivertype.JobStateCompleted, false}, {rivertype.JobStateDiscarded, false}, {rivertype.JobStateCancelled, false},
	} {
		if a := (exchange.FetchJob{State: string(tc.state)}).Active(); a != tc.active {
			t.Errorf("%s active %v, want %v", tc.state, a, tc.active)
		}
	}
}

// TestNextFetch: a waiting retry or scheduled job comes first, else the
// newest schedule job plus the interval; nothing for a disabled exchange,
// without a schedule job, or without an interval.
func TestNextFetch(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	sched := []*rivertype.JobRow{
		{Kind: exchange.ScheduleArgs{}.Kind(), ScheduledAt: t0},
		{Kind: exchange.ScheduleArgs{}.Kind(), ScheduledAt: t0.Add(-time.Hour)},
	}
	on, off := exchange.Exchange{Name: "x", Enabled: true}, exchange.Exchange{Name: "x"}
	job := func(state rivertype.JobState, at time.Time) *exchange.FetchJob {
		return &exchange.FetchJob{State: string(state), ScheduledAt: at}
	}
	for _, tc := range []struct {
		name     string
		x        exchange.Exchange
		job      *exchange.FetchJob
		sched    []*rivertype.JobRow
		interval time.Duration
		want     time.Time
		ok       bool
	}{
		{"schedule", on, nil, sched, time.Hour, t0.Add(time.Hour), true},
		{"done job: schedule", on, job(rivertype.JobStateCompleted, t0.Add(-time.Minute)), sched, 30 * time.Minute, t0.Add(30 * time.Minute), true},
		{"retry waiting", on, job(rivertype.JobStateRetryable, t0.Add(5*time.Minute)), sched, time.Hour, t0.Add(5 * time.Minute), true},
		{"scheduled job", on, job(rivertype.JobStateScheduled, t0.Add(7*time.Minute)), nil, 0, t0.Add(7 * time.Minute), true},
		{"disabled", off, job(rivertype.JobStateRetryable, t0), sched, time.Hour, time.Time{}, false},
		{"no schedule job", on, nil, nil, time.Hour, time.Time{}, false},
		{"schedule elsewhere (no interval)", on, nil, sched, 0, time.Time{}, false},
		{"other kinds only", on, nil, []*rivertype.JobRow{{Kind: exchange.FetchArgs{}.Kind(), ScheduledAt: t0}}, time.Hour, time.Time{}, false},
	} {
		got, ok := exchange.NextFetch(tc.x, tc.job, tc.sched, tc.interval)
		if ok != tc.ok || !got.Equal(tc.want) {
			t.Errorf("%s: %v %v, want %v %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}
