package worker

import (
	"context"

	"github.com/ecsworker/ecsworker/internal/awsecs"
	"github.com/ecsworker/ecsworker/internal/jobtemplate"
)

// taskEventsLoop consumes ECS task state change events from SQS (the queue
// the Python observer reads) and feeds them to the trackers: the fast path,
// with DescribeTasks polling as the safety net.
func (w *Worker) taskEventsLoop(ctx context.Context) {
	b, err := w.backendFor(ctx, awsecs.Credentials{})
	if err != nil {
		w.log.Warn("task events queue disabled: no AWS clients for the worker's own credentials", "err", err)
		return
	}
	consumer := awsecs.NewEventConsumer(b.clients.SQS, w.cfg.EventsQueue, awsecs.EventOptions{Logger: w.log})
	err = consumer.Run(ctx, func(ev awsecs.TaskEvent) {
		arn := ""
		if ev.Task.TaskArn != nil {
			arn = *ev.Task.TaskArn
		}
		if tr := w.trackedByTask(arn); tr != nil {
			tr.backend.tracker.Observe(ev)
		}
	})
	if err != nil && ctx.Err() == nil {
		w.log.Warn("task events queue stopped; task changes are seen by polling only", "err", err)
	}
}

// eventStreamLoop is filled in by the event stream integration.
func (w *Worker) eventStreamLoop(ctx context.Context) {}

// jobTemplate is the parsed pool template type, named here to keep
// signatures short.
type jobTemplate = *jobtemplate.Template
