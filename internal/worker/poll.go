package worker

import (
	"context"
	"errors"

	"golang.org/x/time/rate"

	"github.com/ecsworker/ecsworker/internal/prefect"
)

func (w *Worker) pollLoop(ctx context.Context) {
	// Polls asked for at once (a run scheduled, a slot freed) come at most
	// one per MinPollGap: a burst of events or of finished submissions
	// costs one poll, not one each. The limiter allows the first poll at
	// once.
	gap := rate.NewLimiter(rate.Every(w.cfg.MinPollGap), 1)
	poll := func() {
		if gap.Wait(ctx) == nil {
			w.pollOnce(ctx)
		}
	}
	poll()
	every(ctx, w.cfg.QueryInterval, w.pollNow, poll)
}

// PollNow asks for a poll at once (an event said a run is due).
func (w *Worker) PollNow() {
	select {
	case w.pollNow <- struct{}{}:
	default:
	}
}

// pollOnce fetches the pool's due runs and starts a submission for each,
// as long as slots last.
func (w *Worker) pollOnce(ctx context.Context) {
	pool, _ := w.snapshot()
	if pool == nil {
		w.health.poll(w.cfg.Now(), true) // not synced yet: nothing to poll, but alive
		return
	}
	// Before claiming, so that runs claimed now are paced by this
	// worker's share of the AWS budget as it stands.
	w.refreshShare(ctx)
	before := w.cfg.Now().Add(w.cfg.Prefetch)
	page, err := w.api.PollScheduledFlowRuns(ctx, pool.Name, w.cfg.Queues, before, w.freeSlots())
	if errors.Is(err, prefect.ErrNotFound) {
		// A queue or the pool is missing: no runs this time; the next
		// heartbeat recreates the pool if it was deleted.
		w.health.poll(w.cfg.Now(), true)
		return
	}
	w.health.poll(w.cfg.Now(), err == nil)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn("polling for scheduled flow runs failed; retrying at the next interval", "err", err)
		}
		return
	}
	w.metrics.polls.Inc()
	defer w.report.Notify("polled", "")
	for _, u := range page.Unreadable {
		w.crashUnreadable(ctx, u)
	}
	if page.More {
		// The answer was cut at its byte budget: the rest is due too.
		defer w.PollNow()
	}
	for _, r := range page.Runs {
		run := r.FlowRun
		if !w.startSubmission(run.ID) {
			if w.isBusy() {
				// The rest stay SCHEDULED; a slot coming free polls again.
				w.mu.Lock()
				w.backlog = true
				w.mu.Unlock()
				break
			}
			continue
		}
		w.submissions.Add(1)
		go func() {
			defer w.submissions.Done()
			defer w.endSubmission(run.ID)
			w.submit(w.subCtx, run)
		}()
	}
}

// startSubmission marks a run as being submitted and takes a slot; false
// when the run is already handled or no slot is free.
func (w *Worker) startSubmission(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.submitting[id] || w.runs.Following(id) {
		return false
	}
	if w.cfg.MaxInFlight > 0 && w.runs.Len()+len(w.submitting) >= w.cfg.MaxInFlight {
		return false
	}
	select {
	case w.slots <- struct{}{}:
	default:
		return false
	}
	w.submitting[id] = true
	w.metrics.submitting.Inc()
	return true
}

func (w *Worker) endSubmission(id string) {
	w.mu.Lock()
	if !w.submitting[id] {
		w.mu.Unlock()
		return
	}
	delete(w.submitting, id)
	w.metrics.submitting.Dec()
	<-w.slots
	backlog := w.backlog
	w.backlog = false
	w.mu.Unlock()
	if backlog && !w.cfg.RunOnce {
		w.PollNow()
	}
}

// isSubmitting reports whether the run is being submitted now.
func (w *Worker) isSubmitting(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.submitting[id]
}

// freeSlots is how many runs a poll asks for: as many as can be taken now,
// so that a burst of scheduled runs is read from Prefect no faster than it
// is submitted (the rest stay SCHEDULED for the next poll), and at least
// one, as polling is also what tells Prefect the pool's queues are served.
func (w *Worker) freeSlots() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	free := cap(w.slots) - len(w.slots)
	if w.cfg.MaxInFlight > 0 {
		free = min(free, w.cfg.MaxInFlight-w.runs.Len()-len(w.submitting))
	}
	return max(1, free)
}

// isBusy reports whether no more runs can be taken now.
func (w *Worker) isBusy() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cfg.MaxInFlight > 0 && w.runs.Len()+len(w.submitting) >= w.cfg.MaxInFlight {
		return true
	}
	return len(w.slots) == cap(w.slots)
}

// crashUnreadable claims a scheduled run the worker cannot read (its JSON
// is over the per-run limit, almost always for its parameters) and
// crashes it with why and what to do: left Scheduled, it would come back
// in every poll and never run.
func (w *Worker) crashUnreadable(ctx context.Context, u prefect.UnreadableRun) {
	if u.ID == "" || !w.startSubmission(u.ID) {
		return
	}
	defer w.endSubmission(u.ID)
	if _, err := w.claimer().Claim(ctx, u.ID); err != nil {
		return
	}
	msg := "Failed to submit flow run to infrastructure: " + u.Err.Error()
	w.report.Log(u.ID, prefect.LevelError, msg)
	if w.report.Crash(ctx, u.ID, msg) == nil {
		w.metrics.submissions.WithLabelValues("crashed").Inc()
		w.report.Notify("submission-crashed", u.ID)
	}
}
