package worker

import (
	"context"
	"sync"
	"time"

	"github.com/ecsworker/ecsworker/internal/prefectpool"
)

// Replicas of a pool spend one account's AWS limits, so each keeps only
// its share of the AWS call budget: the budget divided by the workers
// Prefect lists as ONLINE for the pool. Three replicas each with the whole
// budget would ask AWS for 240% of what DefaultBudget leaves them, and be
// throttled.

// shareRefresh is the most time between two counts made by polls once the
// worker has run a while. Counts also follow every heartbeat.
//
// Replicas started together each count right after their first heartbeat,
// when the others may not have sent theirs yet. So a poll counts again
// whenever the last count is older than the time the worker had run when
// it was made (counts at about 0, 1, 2, 4, 8 s of uptime under load), up to
// shareRefresh: replicas started within the same second agree within a
// second or two, before they have spent more than their first bursts, and
// a worker that has run a while lists the pool's workers at most 6 times a
// minute beyond its heartbeats.
const shareRefresh = 10 * time.Second

// budgetShare is what the worker knows of the pool's live workers.
type budgetShare struct {
	mu      sync.Mutex
	started time.Time // when Run began
	last    time.Time // when the last count began
	failing bool      // the last list failed (logged once per streak)
}

// countDue reports whether a poll should count the workers again, and if
// so marks the count as begun.
func (s *budgetShare) countDue(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.last.IsZero() && now.Sub(s.last) < min(shareRefresh, s.last.Sub(s.started)) {
		return false
	}
	s.last = now
	return true
}

// refreshShare counts the workers again if one is due (see shareRefresh).
func (w *Worker) refreshShare(ctx context.Context) {
	if w.aws.Budget() != nil && w.share.countDue(w.cfg.Now()) {
		w.shareBudget(ctx)
	}
}

// shareBudget divides the AWS call budget among the pool's ONLINE workers,
// this one included even when Prefect's list does not show it yet. A list
// that fails keeps the share the worker has.
func (w *Worker) shareBudget(ctx context.Context) {
	b := w.aws.Budget()
	if b == nil {
		return
	}
	w.share.mu.Lock()
	w.share.last = w.cfg.Now()
	w.share.mu.Unlock()
	workers, err := w.api.FilterWorkers(ctx, w.cfg.Pool, prefectpool.WorkerFilter{Statuses: []string{"ONLINE"}})
	w.share.mu.Lock()
	wasFailing := w.share.failing
	w.share.failing = err != nil
	w.share.mu.Unlock()
	if err != nil {
		if !wasFailing && ctx.Err() == nil {
			w.log.Warn("cannot list the pool's workers; the AWS call budget stays divided as it was until the list works again",
				"workers", b.Share(), "err", err)
		}
		return
	}
	online := map[string]bool{w.cfg.Name: true}
	for _, wk := range workers {
		online[wk.Name] = true
	}
	n := len(online)
	w.metrics.budgetShare.Set(float64(n))
	if b.SetShare(n) {
		attrs := []any{"workers", n}
		if rt, ok := b.Buckets()["ecs:RunTask"]; ok {
			attrs = append(attrs, "runtask_per_second", rt.Rate, "runtask_burst", rt.Burst)
		}
		w.log.Info("AWS call budget divided among the pool's online workers", attrs...)
	}
}
