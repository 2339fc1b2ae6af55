package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectdeploy"
	"github.com/ecsworker/ecsworker/internal/submission"
)

// recoverRuns rebuilds, after a restart, the set of runs this pool has in
// flight: runs with a task (infrastructure_pid) are tracked again, and
// claimed runs whose submission was cut short are resumed (resumeOrphans).
// Nothing is launched twice. Until it succeeds once (Prefect may be down
// when the worker starts) the sweep runs it again.
func (w *Worker) recoverRuns(ctx context.Context) {
	pool, tmpl := w.snapshot()
	if pool == nil || tmpl == nil {
		return
	}
	adopted, resumed := 0, 0
	err := w.eachInFlight(ctx, pool.Name, func(runs []prefect.FlowRun) {
		for _, run := range runs {
			if run.InfrastructurePID != "" && w.runs.Adopt(ctx, run) {
				adopted++
			}
		}
		resumed += w.resumeOrphans(ctx, runs)
	})
	if adopted+resumed > 0 {
		w.log.Info("recovered runs in flight after start", "tracked", adopted, "resumed", resumed)
	}
	if err != nil {
		w.log.Warn("could not list the pool's runs in flight; retrying at the next sweep", "err", err)
		return
	}
	w.mu.Lock()
	w.recovered = true
	w.mu.Unlock()
}

// eachInFlight hands fn the pool's runs in flight a page at a time: a pool
// may have tens of thousands, and the worker never holds them all.
func (w *Worker) eachInFlight(ctx context.Context, pool string, fn func([]prefect.FlowRun)) error {
	return w.api.EachFlowRunPage(ctx, prefect.FlowRunFilter{
		WorkPoolNames: []string{pool},
		StateTypes:    []prefect.StateType{prefect.StatePending, prefect.StateRunning, prefect.StateCancelling},
	}, func(runs []prefect.FlowRun) error {
		fn(runs)
		return nil
	})
}

// sweepLoop keeps the pool's runs in flight looked after whatever happened
// to the workers: it finishes the start-up recovery if Prefect was down
// then, adopts the tasks of workers that stopped heartbeating (scaled away,
// crashed for good), and resumes claimed runs left without a task.
func (w *Worker) sweepLoop(ctx context.Context) {
	every(ctx, w.cfg.StartupGrace, nil, func() {
		w.mu.Lock()
		recovered := w.recovered
		w.mu.Unlock()
		if !recovered {
			w.recoverRuns(ctx)
			return
		}
		pool, tmpl := w.snapshot()
		if pool == nil || tmpl == nil {
			return
		}
		adopted, resumed := 0, 0
		_ = w.eachInFlight(ctx, pool.Name, func(runs []prefect.FlowRun) { // a failed listing waits for the next sweep
			adopted += w.runs.AdoptOrphaned(ctx, pool.Name, runs)
			resumed += w.resumeOrphans(ctx, runs)
		})
		if adopted > 0 {
			w.log.Info("took over the tasks of runs whose worker is gone", "runs", adopted)
		}
		if resumed > 0 {
			w.log.Info("resumed claimed runs that had no task on record", "runs", resumed)
		}
	})
}

// resumeOrphans resumes the submission of claimed runs that have no task on
// record (PENDING in any sub-state, or RUNNING because the flow started
// before the task could be recorded) and whose state is older than
// StartupGrace, with the client token of their claim: RunTask returns the
// task if it was started and starts it if it was not. The grace leaves
// alone runs another worker is submitting.
func (w *Worker) resumeOrphans(ctx context.Context, runs []prefect.FlowRun) int {
	resumed := 0
	for _, run := range runs {
		if run.InfrastructurePID != "" || run.State == nil || (run.StateType != prefect.StatePending && run.StateType != prefect.StateRunning) ||
			w.cfg.Now().Sub(run.State.Timestamp.Time) < w.cfg.StartupGrace {
			continue
		}
		claim, ok := submission.ClaimOf(run)
		if !ok {
			continue
		}
		if !w.startSubmission(run.ID) {
			continue
		}
		resumed++
		w.submissions.Add(1)
		go func() {
			defer w.submissions.Done()
			defer w.endSubmission(run.ID)
			var dep *prefectdeploy.Deployment
			if run.DeploymentID != "" {
				d, err := w.api.ReadDeployment(w.subCtx, run.DeploymentID)
				switch {
				case errors.Is(err, prefect.ErrNotFound):
					// Unreported, the run stays claimed for the next sweep.
					w.report.Cancel(w.subCtx, run.ID, fmt.Sprintf("Deployment %s no longer exists, cancelled run.", run.DeploymentID))
					return
				case err != nil:
					// Its task may be running; the next sweep tries again.
					w.log.Warn("cannot resume a claimed run now: its deployment cannot be read", "flow_run", run.ID, "err", err)
					return
				}
				dep = d
			}
			w.report.Log(run.ID, prefect.LevelInfo, "Resuming the submission of this claimed flow run, which has no task on record")
			w.launchClaimed(w.subCtx, run, dep, claim, submission.CapacityStepOf(run, claim))
		}()
	}
	return resumed
}
