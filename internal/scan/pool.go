package scan

import "sync"

// memberQueue hashes the members a container lists on the goroutine that
// opened the container and on worker slots it borrows while they are idle.
// Unlike spawn, the lister never hashes a member itself: it only queues
// them (a bounded queue), so every worker stays busy while a member is
// hashed, instead of idling until the lister's own member is done.
//
// Helpers borrow a slot without waiting for one (never a deadlock when a
// member is itself a container) and hold it until the listing ends; the
// opening goroutine, already on a slot, always drains the queue.
type memberQueue struct {
	s       *scanner
	work    chan func()
	helpers sync.WaitGroup
}

// memberQueueLen bounds the members listed ahead of the hashing: enough to
// keep every worker fed, few enough that memory does not grow with a
// container's size.
const memberQueueLen = 64

// runMembers calls list on a new goroutine with a function that queues one
// member's work, and runs the queued work until list returns and the queue
// is empty. It returns after every member's work is done.
func (s *scanner) runMembers(list func(queue func(fn func()))) {
	q := &memberQueue{s: s, work: make(chan func(), memberQueueLen)}
	go func() {
		defer close(q.work)
		list(q.add)
	}()
	for fn := range q.work {
		fn()
	}
	q.helpers.Wait()
}

// add queues fn and, when a worker slot is free, starts a helper on it.
func (q *memberQueue) add(fn func()) {
	q.work <- fn
	if q.s.tokens == nil {
		return
	}
	select {
	case q.s.tokens <- struct{}{}:
		q.helpers.Go(func() {
			defer func() { <-q.s.tokens }()
			for fn := range q.work {
				fn()
			}
		})
	default:
	}
}
