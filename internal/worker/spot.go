package worker

import (
	"context"
	"fmt"
	"slices"

	"github.com/ecsworker/ecsworker/internal/ecsrequest"
	"github.com/ecsworker/ecsworker/internal/inflight"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectdeploy"
	"github.com/ecsworker/ecsworker/internal/submission"
)

// relaunchOnSpot relaunches, on the next capacity step, a run whose task
// Spot took back before its flow started, when its job asks for it
// (relaunch_on_spot_interruption) and capacity_fallback has a next step
// (inflight.Options.Relaunch). It reports false to leave the run to be
// reported Crashed as usual.
//
// The step to launch on comes from the stopped task's capacity and the
// run's labels, never from memory, so that a relaunch cut short by a
// restart resumes on the same step with the same token: the step after
// the stopped task's, or the recorded step (ecsworker.capacity-step) when
// it is further on. A strategy of several providers is not found by the
// task's capacity: then ecsworker.capacity naming the recorded step means
// that step's task is the one stopped.
func (w *Worker) relaunchOnSpot(ctx context.Context, run prefect.FlowRun, stopped inflight.Stopped) bool {
	claim, ok := submission.ClaimOf(run)
	pool, tmpl := w.snapshot()
	if !ok || pool == nil || tmpl == nil {
		return false
	}
	var dep *prefectdeploy.Deployment
	if run.DeploymentID != "" {
		d, err := w.api.ReadDeployment(ctx, run.DeploymentID)
		if err != nil {
			return false
		}
		dep = d
	}
	rendered, err := submission.Render(ctx, w.renderInput(run, dep, nil, pool, tmpl))
	if err != nil || !rendered.Prepared.Plan.RelaunchOnSpot {
		return false
	}
	steps := rendered.Prepared.Plan.Steps()
	k := submission.CapacityStepOf(run, claim)
	if k >= len(steps) {
		return false
	}
	next := k
	switch i := slices.IndexFunc(steps, func(s ecsrequest.CapacityStep) bool { return s.Name() == stopped.Capacity }); {
	case i >= 0:
		// The step after the stopped task's, unless the labels have gone
		// further (a relaunch begun before a restart).
		next = max(k, i+1)
	case submission.CapacityOf(run) == steps[k].Name():
		next = k + 1
	}
	if next >= len(steps) {
		w.report.Log(run.ID, prefect.LevelWarning, fmt.Sprintf("Spot took the ECS task back before the flow started, and %s was the last step of capacity_fallback: nothing is left to relaunch on.", steps[k].Name()))
		return false
	}
	w.report.Log(run.ID, prefect.LevelWarning, fmt.Sprintf("Spot took the ECS task back before the flow started: relaunching on %s (step %d of %d)", steps[next].Name(), next+1, len(steps)))
	w.metrics.capacityFallbacks.WithLabelValues(steps[next-1].Name(), steps[next].Name(), "spot_interruption").Inc()
	if err := w.launchSteps(ctx, run, dep, claim, next, stopped.TaskARN); err != nil {
		// The run still names the interrupted task: left Pending, no sweep
		// would resume it. Whatever the failure, it is reported.
		msg := fmt.Sprintf("Spot took the ECS task back before the flow started, and relaunching it failed: %v", err)
		w.report.Log(run.ID, prefect.LevelError, msg)
		if cerr := w.report.Crash(ctx, run.ID, msg); cerr != nil {
			return false
		}
		w.metrics.crashes.WithLabelValues("spot_relaunch_failed").Inc()
	}
	return true
}
