package action

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Deliverer sends due outbox events. The zero value is not usable: set Store.
//
// Deliveries run concurrently, each destination (the URL's host and port)
// in its own lane: at most PerHost requests in flight and a bounded queue,
// sized from how fast the destination answers so that a queued event is
// sent well within its claim's lease. A slow or dead receiver fills only
// its own lane; the events claimed for a full lane are put back (due again
// a little later) instead of waiting, so the other destinations' events
// keep flowing. Claims are leased in the store (SKIP LOCKED in
// PostgreSQL), so replicas share the outbox without sending an event twice
// while it is leased.
type Deliverer struct {
	Store Store
	// Client sends the deliveries; nil means NewClient(Timeout, AllowPrivate).
	Client *http.Client
	// AllowPrivate lets the default client deliver to loopback and private
	// addresses (receivers inside the deployment's own network, tests).
	AllowPrivate bool
	Interval     time.Duration // polling interval (default 200 ms)
	MaxAttempts  int           // default 12 (about 1.5 hours of backoff)
	BaseBackoff  time.Duration // default 1 s, doubled per attempt, capped at 30 min
	// Timeout bounds one delivery attempt (default 10 s); the claim lease
	// is 2 × Timeout + 5 s, which covers a wait in the lane and the attempt.
	Timeout time.Duration
	// PerHost is the number of concurrent deliveries to one destination
	// (default 8).
	PerHost int
	// Batch is the number of events claimed at once (default 256).
	Batch int
	// MaxHeld bounds the events queued or in flight in this process, all
	// destinations together (default 2048): claims stop while it is full.
	MaxHeld int
	// Retention is how long delivered events are kept before pruning
	// (default 7 days; negative: never prune).
	Retention time.Duration
	// PruneEvery is the interval between prunings (default 1 min); each
	// deletes delivered events in batches of PruneBatch (default 1000).
	PruneEvery time.Duration
	PruneBatch int
	Log        *slog.Logger
	// OnDelivered is an optional hook (metrics), called concurrently.
	OnDelivered func(Event)

	clientOnce sync.Once
	client     *http.Client

	mu       sync.Mutex
	lanes    map[string]*lane
	inflight map[int64]bool // claimed events not yet finished, against a re-claim after the lease
	held     int            // events queued or in flight, all lanes
	wake     chan struct{}
}

// lane is one destination's share of the deliverer.
type lane struct {
	sem         chan struct{} // PerHost slots
	outstanding int           // queued or in flight; guarded by Deliverer.mu
	avg         time.Duration // moving average of an attempt's duration; guarded by Deliverer.mu
	measured    bool          // avg is measured, not the initial guess; guarded by Deliverer.mu
}

const (
	defaultInterval   = 200 * time.Millisecond
	defaultTimeout    = 10 * time.Second
	defaultPerHost    = 8
	defaultBatch      = 256
	defaultMaxHeld    = 2048
	defaultRetention  = 7 * 24 * time.Hour
	defaultPruneEvery = time.Minute
	defaultPruneBatch = 1000
	// maxLaneDepth bounds a fast destination's lane (queued and in flight)
	// in multiples of PerHost.
	maxLaneDepth = 256
)

func (d *Deliverer) interval() time.Duration { return orDefault(d.Interval, defaultInterval) }
func (d *Deliverer) timeout() time.Duration  { return orDefault(d.Timeout, defaultTimeout) }
func (d *Deliverer) lease() time.Duration    { return 2*d.timeout() + 5*time.Second }
func (d *Deliverer) perHost() int            { return orDefault(d.PerHost, defaultPerHost) }
func (d *Deliverer) batch() int              { return orDefault(d.Batch, defaultBatch) }

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

func (d *Deliverer) log() *slog.Logger {
	if d.Log == nil {
		return slog.Default()
	}
	return d.Log
}

func (d *Deliverer) httpClient() *http.Client {
	if d.Client != nil {
		return d.Client
	}
	d.clientOnce.Do(func() { d.client = NewClient(d.timeout(), d.AllowPrivate) })
	return d.client
}

// Run delivers, and prunes delivered events, until ctx ends. Deliveries
// under way when ctx ends are abandoned without being recorded as attempts:
// their events are sent again after the lease.
func (d *Deliverer) Run(ctx context.Context) {
	results := make(chan Event, 1024)
	var finisher, workers sync.WaitGroup
	finisher.Go(func() { d.finish(ctx, results) })
	if d.Retention >= 0 {
		workers.Go(func() { d.pruneLoop(ctx) })
	}
	t := time.NewTicker(d.interval())
	defer t.Stop()
	wake := d.wakeup()
	for ctx.Err() == nil {
		limit := d.room()
		if limit > 0 {
			claimed, started := d.dispatch(ctx, &workers, results, limit)
			if claimed == limit && started == claimed && d.room() > 0 {
				continue // a backlog, and room for it: claim on at once
			}
		}
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-wake: // half the events held have been sent
		}
	}
	workers.Wait()
	close(results)
	finisher.Wait()
}

// RunOnce claims the events due now, attempts them (concurrently, within
// the lanes' limits), records the outcomes and returns how many it claimed.
func (d *Deliverer) RunOnce(ctx context.Context) int {
	results := make(chan Event, d.batch())
	var workers sync.WaitGroup
	claimed, _ := d.dispatch(ctx, &workers, results, d.batch())
	workers.Wait()
	close(results)
	var out []Event
	for e := range results {
		out = append(out, e)
	}
	d.record(ctx, out)
	return claimed
}

// wakeup returns the channel that signals the claim loop when the events
// held in memory have fallen to half of MaxHeld.
func (d *Deliverer) wakeup() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.init()
	return d.wake
}

func (d *Deliverer) init() {
	if d.lanes == nil {
		d.lanes, d.inflight, d.wake = map[string]*lane{}, map[int64]bool{}, make(chan struct{}, 1)
	}
}

// room is how many more events may be claimed: MaxHeld less those held.
func (d *Deliverer) room() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return min(d.batch(), orDefault(d.MaxHeld, defaultMaxHeld)-d.held)
}

// dispatch claims up to limit events and starts a delivery per event its
// lane has room for; the others go back to the store due again later (the
// lane's expected wait). It returns how many events it claimed and started.
func (d *Deliverer) dispatch(ctx context.Context, wg *sync.WaitGroup, results chan<- Event, limit int) (claimed, started int) {
	now := time.Now()
	events, err := d.Store.ClaimEvents(ctx, now, d.lease(), limit)
	if err != nil {
		if ctx.Err() == nil {
			d.log().Warn("claim outbox events", "err", err)
		}
		return 0, 0
	}
	var deferred []Event
	d.mu.Lock()
	d.init()
	for _, e := range events {
		if d.inflight[e.ID] {
			continue // still queued here from an earlier claim
		}
		key := destination(e.URL)
		l := d.lanes[key]
		if l == nil {
			// Until measured, assume a destination answers in lease/8: a
			// lane of 4 × PerHost.
			l = &lane{sem: make(chan struct{}, d.perHost()), avg: d.lease() / 8}
			d.lanes[key] = l
		}
		if l.outstanding >= d.depth(l) {
			// Full: put the event back, due once the lane has drained.
			wait := time.Second // unmeasured: look again soon
			if l.measured {
				wait = min(max(time.Duration(l.outstanding/d.perHost())*l.avg, time.Second), time.Minute)
			}
			e.NextAt = now.Add(wait + time.Duration(rand.Int64N(int64(wait)/4+1)))
			deferred = append(deferred, e)
			continue
		}
		l.outstanding++
		d.held++
		d.inflight[e.ID] = true
		started++
		wg.Go(func() {
			select {
			case l.sem <- struct{}{}:
			case <-ctx.Done():
				d.done(l, e.ID, 0)
				return
			}
			start := time.Now()
			done, ok := d.attempt(ctx, e)
			<-l.sem
			d.done(l, e.ID, time.Since(start))
			if ok {
				results <- done
			}
		})
	}
	d.mu.Unlock()
	for _, e := range deferred {
		select {
		case results <- e:
		case <-ctx.Done(): // the lease brings the event back
		}
	}
	return len(events), started
}

// depth is how many events lane l may hold (queued and in flight): enough
// for about half a lease of work at its measured speed, at least PerHost.
func (d *Deliverer) depth(l *lane) int {
	per := d.perHost()
	n := per
	if l.avg > 0 {
		n = int(int64(per) * int64(d.lease()/2) / int64(l.avg))
	}
	return min(max(n, per), per*maxLaneDepth)
}

// done releases an event's place in its lane and folds the attempt's
// duration (0: none was made) into the lane's average.
func (d *Deliverer) done(l *lane, id int64, took time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	l.outstanding--
	d.held--
	delete(d.inflight, id)
	if d.held <= orDefault(d.MaxHeld, defaultMaxHeld)/2 {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
	switch {
	case took <= 0:
	case !l.measured: // the first measurement replaces the guess
		l.avg, l.measured = took, true
	default:
		l.avg = (4*l.avg + took) / 5
	}
}

// destination is the lane key of a webhook URL: its host and port.
func destination(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw
	}
	return strings.ToLower(u.Host)
}

// finish records outcomes from results in batches until results is closed.
func (d *Deliverer) finish(ctx context.Context, results <-chan Event) {
	batch := make([]Event, 0, 512)
	for e := range results {
		batch = append(batch[:0], e)
	more:
		for len(batch) < cap(batch) {
			select {
			case e, ok := <-results:
				if !ok {
					break more
				}
				batch = append(batch, e)
			default:
				break more
			}
		}
		d.record(ctx, batch)
	}
}

// record writes outcomes. A write that fails leaves the events pending:
// they are delivered again after the lease (at least once).
func (d *Deliverer) record(ctx context.Context, events []Event) {
	if len(events) == 0 {
		return
	}
	if err := d.Store.FinishEvents(context.WithoutCancel(ctx), events); err != nil {
		d.log().Warn("record webhook attempts", "events", len(events), "err", err)
	}
}

// attempt posts e once and returns it with the outcome applied; ok is
// false when ctx ended during the attempt (nothing to record).
func (d *Deliverer) attempt(ctx context.Context, e Event) (Event, bool) {
	maxAttempts := orDefault(d.MaxAttempts, 12)
	base := orDefault(d.BaseBackoff, time.Second)
	err := post(ctx, d.httpClient(), e)
	if err != nil && ctx.Err() != nil {
		return e, false
	}
	e.Attempts++
	if err == nil {
		e.State, e.LastError, e.NextAt = Delivered, "", time.Now() // NextAt: when delivered, for pruning
		if d.OnDelivered != nil {
			d.OnDelivered(e)
		}
		return e, true
	}
	e.LastError = err.Error()
	if e.Attempts >= maxAttempts {
		e.State = Dead
		d.log().Error("webhook event dead after retries", "event", e.ID, "bank", e.Bank, "err", err)
		return e, true
	}
	backoff := min(base<<min(e.Attempts-1, 20), 30*time.Minute)
	backoff += time.Duration(rand.Int64N(int64(backoff)/2 + 1)) // jitter: replicas don't retry in step
	e.NextAt = time.Now().Add(backoff)
	d.log().Warn("webhook delivery failed, will retry", "event", e.ID, "bank", e.Bank, "attempt", e.Attempts, "in", backoff, "err", err)
	return e, true
}

// pruneLoop deletes delivered events older than the retention, in small
// batches so that no transaction holds the outbox for long.
func (d *Deliverer) pruneLoop(ctx context.Context) {
	t := time.NewTicker(orDefault(d.PruneEvery, defaultPruneEvery))
	defer t.Stop()
	for {
		if _, err := d.Prune(ctx); err != nil && ctx.Err() == nil {
			d.log().Warn("prune delivered webhook events", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Prune deletes the delivered events older than the retention in batches
// of PruneBatch and returns how many it deleted.
func (d *Deliverer) Prune(ctx context.Context) (int64, error) {
	retention := orDefault(d.Retention, defaultRetention)
	limit := orDefault(d.PruneBatch, defaultPruneBatch)
	before := time.Now().Add(-retention)
	var total int64
	for {
		n, err := d.Store.PruneDelivered(ctx, before, limit)
		total += n
		if err != nil {
			return total, fmt.Errorf("prune delivered events: %w", err)
		}
		if n < int64(limit) {
			if total > 0 {
				d.log().Info("pruned delivered webhook events", "events", total, "before", before)
			}
			return total, nil
		}
		select { // let other writers in between batches
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func post(ctx context.Context, client *http.Client, e Event) error {
	ts := time.Now().Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL, bytes.NewReader(e.Payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(e.Secret, ts, e.Payload))
	req.Header.Set(HeaderEvent, e.EventID())
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("receiver answered %s", resp.Status)
	}
	return nil
}

// SendTest posts one signed test event ("webhook.test") to w, as a real
// delivery would be posted, so a curator can check a receiver's address
// and secret. It bypasses the outbox: nothing is retried or kept.
func SendTest(ctx context.Context, client *http.Client, w Webhook, by string) error {
	payload, err := json.Marshal(map[string]any{
		"event":    "webhook.test",
		"event_id": "test-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		"bank":     w.Bank,
		"by":       by,
		"at":       time.Now().UTC().Format(time.RFC3339),
	})
	if err != nil {
		return err
	}
	return post(ctx, client, Event{Bank: w.Bank, URL: w.URL, Secret: w.Secret, Payload: payload})
}
