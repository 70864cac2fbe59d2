package exchange

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/nigehban/nigehban/internal/jobs"
)

// Queue is the River queue of exchange jobs.
const Queue = "exchange"

// FetchArgs is the job that fetches one exchange. It is unique by
// exchange while queued or running, so one replica fetches an exchange at
// a time whoever asks; a failed fetch is retried by River with backoff and
// resumes from the committed checkpoint.
type FetchArgs struct {
	Exchange string `json:"exchange"`
}

// Kind implements river.JobArgs.
func (FetchArgs) Kind() string { return "exchange.fetch" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (FetchArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: 8,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: jobs.UniqueWhileQueued}}
}

// FetchWorker works FetchArgs.
type FetchWorker struct {
	river.WorkerDefaults[FetchArgs]
	Svc  *Service
	Sync Syncer
}

// Timeout implements river.Worker: an initial sync of millions of hashes
// takes a while.
func (w *FetchWorker) Timeout(*river.Job[FetchArgs]) time.Duration { return 12 * time.Hour }

// Work implements river.Worker.
func (w *FetchWorker) Work(ctx context.Context, job *river.Job[FetchArgs]) error {
	_, err := w.Svc.Fetch(ctx, job.Args.Exchange, w.Sync)
	return err
}

// ScheduleArgs is the periodic job that queues a fetch of every enabled
// exchange.
type ScheduleArgs struct{}

// Kind implements river.JobArgs.
func (ScheduleArgs) Kind() string { return "exchange.schedule" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (ScheduleArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, UniqueOpts: river.UniqueOpts{ByState: jobs.UniqueWhileQueued}}
}

// ScheduleWorker works ScheduleArgs.
type ScheduleWorker struct {
	river.WorkerDefaults[ScheduleArgs]
	St Store
	// Runner queues the fetches; set it once the runner is open.
	Runner jobs.Runner
}

// Work implements river.Worker.
func (w *ScheduleWorker) Work(ctx context.Context, _ *river.Job[ScheduleArgs]) error {
	xs, err := w.St.ListExchanges(ctx)
	if err != nil {
		return err
	}
	for _, x := range xs {
		if !x.Enabled {
			continue
		}
		if _, err := w.Runner.Insert(ctx, FetchArgs{Exchange: x.Name}, nil); err != nil {
			return fmt.Errorf("queue fetch of %s: %w", x.Name, err)
		}
	}
	return nil
}

// DeliverArgs is the periodic job that sends due opinions.
type DeliverArgs struct{}

// Kind implements river.JobArgs.
func (DeliverArgs) Kind() string { return "exchange.deliver" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (DeliverArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, UniqueOpts: river.UniqueOpts{ByState: jobs.UniqueWhileQueued}}
}

// DeliverWorker works DeliverArgs.
type DeliverWorker struct {
	river.WorkerDefaults[DeliverArgs]
	Svc *Service
}

// Work implements river.Worker. Failed opinions are rescheduled in the
// outbox itself (with their own backoff), so the job succeeds unless the
// outbox cannot be read.
func (w *DeliverWorker) Work(ctx context.Context, _ *river.Job[DeliverArgs]) error {
	_, err := w.Svc.Deliver(ctx, time.Now())
	if err != nil && w.Svc.Log != nil {
		w.Svc.Log.Warn("exchange opinions not delivered", "err", err)
	}
	return nil
}

// Start opens a River runner on dsn working exchange jobs: the exchange
// queue, and the periodic jobs that queue a fetch of each enabled exchange
// every interval and deliver opinions every minute. Stop and Close it when
// done.
func Start(ctx context.Context, dsn string, svc *Service, sy Syncer, interval time.Duration) (jobs.Runner, error) {
	sw := &ScheduleWorker{St: svc.St}
	r, err := jobs.Open(ctx, dsn, Config(svc, sy, interval, sw))
	if err != nil {
		return nil, err
	}
	sw.Runner = r
	if err := r.Start(ctx); err != nil {
		r.Close()
		return nil, fmt.Errorf("start exchange jobs: %w", err)
	}
	return r, nil
}

// Config returns River's configuration for exchange jobs (see Start); sw
// is the schedule worker, whose Runner the caller sets once open.
func Config(svc *Service, sy Syncer, interval time.Duration, sw *ScheduleWorker) *river.Config {
	w := river.NewWorkers()
	river.AddWorker(w, &FetchWorker{Svc: svc, Sync: sy})
	river.AddWorker(w, sw)
	river.AddWorker(w, &DeliverWorker{Svc: svc})
	return &river.Config{
		Workers:           w,
		Queues:            map[string]river.QueueConfig{Queue: {MaxWorkers: 2}},
		FetchPollInterval: jobs.DefaultPoll,
		PeriodicJobs: []*river.PeriodicJob{
			river.NewPeriodicJob(river.PeriodicInterval(interval),
				func() (river.JobArgs, *river.InsertOpts) { return ScheduleArgs{}, nil },
				&river.PeriodicJobOpts{RunOnStart: true}),
			river.NewPeriodicJob(river.PeriodicInterval(time.Minute),
				func() (river.JobArgs, *river.InsertOpts) { return DeliverArgs{}, nil },
				&river.PeriodicJobOpts{RunOnStart: true}),
		},
	}
}
