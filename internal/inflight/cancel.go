package inflight

import (
	"context"

	"github.com/ecsworker/ecsworker/internal/diagnosis"
	"github.com/ecsworker/ecsworker/internal/launch"
	"github.com/ecsworker/ecsworker/internal/prefect"
)

// Cancel handles a CANCELLING run. A flow that is running cancels itself
// (Prefect 3's runner watches for it). A run whose flow has not started has
// nobody to do that: its task is stopped here and the run marked
// Cancelled. Runs without a task, or whose task another worker follows,
// are left alone.
func (r *Runs) Cancel(ctx context.Context, fr prefect.FlowRun) {
	if fr.InfrastructurePID == "" {
		// Prefect cancels runs without infrastructure itself; a run being
		// submitted has its task (if any) stopped on the next pass, once
		// the pid is set.
		return
	}
	r.mu.Lock()
	tr := r.runs[fr.ID]
	var started bool
	if tr != nil {
		started = tr.started
	}
	r.mu.Unlock()
	if tr == nil {
		return // another worker's run
	}
	if started && !fr.StartTime.IsZero() {
		return // the flow is running and handles its own cancellation
	}
	perms := tr.backend.Clients.Permissions
	refused := perms.Refusal("ecs:StopTask", "")
	var res launch.StopResult
	if refused == nil {
		var err error
		res, err = launch.StopTask(ctx, tr.backend.Clients.ECS, fr.InfrastructurePID, diagnosis.WorkerStopReason+": the flow run was cancelled in Prefect")
		switch {
		case perms.Note("ecs:StopTask", "", err):
			refused = err
		case err != nil:
			r.opts.Log.Error("could not stop the task of a cancelled flow run", "flow_run", fr.ID, "task", fr.InfrastructurePID, "err", err)
			return
		}
	}
	if refused != nil {
		// Asking every pass would not stop it either: the run is what
		// the user asked to cancel, its task ends by itself.
		r.rep.Cancel(ctx, fr.ID, "Flow run cancelled, but its ECS task could not be stopped (the worker's AWS identity may not use ecs:StopTask): the task runs until it ends by itself.")
		r.rep.Notify("cancelled", fr.ID)
		return
	}
	r.opts.Log.Info("stopped the task of a flow run cancelled before it started", "flow_run", fr.ID, "outcome", res.Outcome)
	r.rep.Cancel(ctx, fr.ID, "Flow run cancelled by ecsworker: its ECS task was stopped before the flow started.")
	r.opts.Metrics.Cancellations.Inc()
	r.rep.Notify("cancelled", fr.ID)
}
