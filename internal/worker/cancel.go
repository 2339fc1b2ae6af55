package worker

import (
	"context"

	"github.com/ecsworker/ecsworker/internal/diagnosis"
	"github.com/ecsworker/ecsworker/internal/launch"
	"github.com/ecsworker/ecsworker/internal/prefect"
)

func (w *Worker) cancelLoop(ctx context.Context) {
	every(ctx, w.cfg.CancelInterval, w.cancelNow, func() { w.cancelOnce(ctx) })
}

// CancelNow asks for a look at cancelling runs at once (an event said one is).
func (w *Worker) CancelNow() {
	select {
	case w.cancelNow <- struct{}{}:
	default:
	}
}

// cancelOnce handles the pool's CANCELLING runs. A flow that is running
// cancels itself (Prefect 3's runner watches for it). A run whose flow has
// not started has nobody to do that: its task is stopped here and the run
// marked Cancelled.
func (w *Worker) cancelOnce(ctx context.Context) {
	pool, _ := w.snapshot()
	if pool == nil {
		return
	}
	runs, err := w.api.ListFlowRuns(ctx, prefect.FlowRunFilter{WorkPoolNames: []string{pool.Name}, StateTypes: []prefect.StateType{prefect.StateCancelling}, Limit: 200})
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn("could not list cancelling flow runs", "err", err)
		}
		return
	}
	for _, run := range runs {
		w.cancelRun(ctx, run)
	}
}

func (w *Worker) cancelRun(ctx context.Context, run prefect.FlowRun) {
	if run.InfrastructurePID == "" {
		w.mu.Lock()
		submitting := w.inflight[run.ID]
		w.mu.Unlock()
		if !submitting {
			// Not ours, or the server will settle it: Prefect cancels runs
			// without infrastructure itself.
			return
		}
		// The run is being submitted: its task (if any) is stopped on the
		// next pass, once the pid is set.
		return
	}
	w.mu.Lock()
	tr := w.runs[run.ID]
	var started bool
	if tr != nil {
		started = tr.started
	}
	w.mu.Unlock()
	if tr == nil {
		return // another worker's run
	}
	if started && !run.StartTime.IsZero() {
		return // the flow is running and handles its own cancellation
	}
	perms := tr.backend.clients.Permissions
	refused := perms.Refusal("ecs:StopTask", "")
	var res launch.StopResult
	if refused == nil {
		var err error
		res, err = launch.StopTask(ctx, tr.backend.clients.ECS, run.InfrastructurePID, diagnosis.WorkerStopReason+": the flow run was cancelled in Prefect")
		switch {
		case perms.Note("ecs:StopTask", "", err):
			refused = err
		case err != nil:
			w.log.Error("could not stop the task of a cancelled flow run", "flow_run", run.ID, "task", run.InfrastructurePID, "err", err)
			return
		}
	}
	if refused != nil {
		// Asking every pass would not stop it either: the run is what
		// the user asked to cancel, its task ends by itself.
		// A failed report leaves the run Cancelling: the next pass (or
		// the task's stop) reports it again; forceState logged why.
		_ = w.forceState(ctx, run.ID, prefect.StateCancelled, "Cancelled", "Flow run cancelled, but its ECS task could not be stopped (the worker's AWS identity may not use ecs:StopTask): the task runs until it ends by itself.")
		w.notify("cancelled", run.ID)
		return
	}
	w.log.Info("stopped the task of a flow run cancelled before it started", "flow_run", run.ID, "outcome", res.Outcome)
	// Unreported, the run stays Cancelling and its task's stop, which the
	// tracker sees, reports it again.
	_ = w.forceState(ctx, run.ID, prefect.StateCancelled, "Cancelled", "Flow run cancelled by ecsworker: its ECS task was stopped before the flow started.")
	w.metrics.cancellations.Inc()
	w.notify("cancelled", run.ID)
}
