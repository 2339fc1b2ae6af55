package worker

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/ecsworker/ecsworker/internal/awscreds"
	"github.com/ecsworker/ecsworker/internal/awserr"
	"github.com/ecsworker/ecsworker/internal/backoff"
	"github.com/ecsworker/ecsworker/internal/buildinfo"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectevents"
	"github.com/ecsworker/ecsworker/internal/tracking"
)

// taskEventsLoop consumes ECS task state change events from SQS (the queue
// the Python observer reads) and feeds them to the trackers: the fast path,
// with DescribeTasks polling as the safety net.
func (w *Worker) taskEventsLoop(ctx context.Context) {
	b, release, err := w.runs.Backend(ctx, awscreds.Credentials{})
	if err != nil {
		w.log.Warn("task events queue disabled: no AWS clients for the worker's own credentials", "err", err)
		return
	}
	defer release()
	perms := b.Clients.Permissions
	consumer := tracking.NewEventConsumer(b.Clients.SQS, w.cfg.EventsQueue, tracking.EventOptions{Logger: w.log, Permissions: perms})
	for {
		err = consumer.Run(ctx, w.runs.Observe)
		if err == nil || ctx.Err() != nil {
			return
		}
		if !awserr.IsUnavailable(err) {
			w.log.Warn("task events queue stopped; task changes are seen by polling only", "err", err)
			return
		}
		// A refused SQS action was reported once with what it costs;
		// ask again once the refusal is old, in case it was granted.
		if backoff.Sleep(ctx, w.cfg.PermissionRecheck) != nil {
			return
		}
	}
}

// Event names the worker reacts to on Prefect's event stream.
const (
	eventScheduled  = "prefect.flow-run.Scheduled"
	eventCancelling = "prefect.flow-run.Cancelling"
	eventRunning    = "prefect.flow-run.Running"
)

// eventStreamLoop follows Prefect's event stream for the pool's flow runs:
// a run entering Scheduled triggers a poll at once (an ad-hoc run is then
// launched in well under a second instead of at the next interval), and a
// run entering Cancelling triggers the cancellation pass, and a run
// entering Running ends its start breakdown (the flow start phase).
// Interval polling carries on regardless, so losing the stream costs only
// latency; a flow start missed here is computed when the run's task stops.
func (w *Worker) eventStreamLoop(ctx context.Context) {
	wait := time.Second
	var sub *prefectevents.EventSubscription
	defer func() {
		if sub != nil {
			_ = sub.Close()
		}
	}()
	for ctx.Err() == nil {
		pool, _ := w.snapshot()
		if pool == nil {
			if backoff.Sleep(ctx, w.cfg.HeartbeatInterval) != nil {
				return
			}
			continue
		}
		var err error
		if sub != nil {
			sub, err = sub.Reconnect(ctx)
		} else {
			sub, err = w.api.SubscribeEvents(ctx, prefectevents.EventFilter{
				Names:          []string{eventScheduled, eventCancelling, eventRunning},
				AnyResourceIDs: []string{prefectevents.WorkPoolResourceID(pool.ID)},
			})
		}
		if errors.Is(err, prefectevents.ErrEventsUnavailable) {
			w.log.Info("the Prefect server offers no event stream; polling every interval only", "interval", w.cfg.QueryInterval)
			return
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			w.log.Debug("event stream unavailable; retrying", "err", err, "in", wait)
			sub = nil
			if backoff.Sleep(ctx, wait) != nil {
				return
			}
			wait = min(2*wait, 30*time.Second)
			continue
		}
		wait = time.Second
		for {
			ev, err := sub.Next(ctx)
			if err != nil {
				break
			}
			switch ev.Event {
			case eventScheduled:
				w.PollNow()
			case eventCancelling:
				w.CancelNow()
			case eventRunning:
				// Its label is a Prefect call: the stream does not wait for it.
				if id, ok := strings.CutPrefix(ev.Resource["prefect.resource.id"], "prefect.flow-run."); ok && w.runs.Following(id) {
					w.bg.Add(1)
					go func() {
						defer w.bg.Done()
						w.runs.FlowRunning(ctx, id, ev.Occurred)
					}()
				}
			}
		}
	}
}

// eventSource describes the worker in the events it emits.
func (w *Worker) eventSource() prefect.WorkerEventSource {
	pool, _ := w.snapshot()
	return prefect.WorkerEventSource{Name: w.cfg.Name, Type: Type, Version: buildinfo.String(), Pool: pool}
}
