package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/ecsjob"
	"github.com/ecsworker/ecsworker/internal/launch"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectdeploy"
	"github.com/ecsworker/ecsworker/internal/prefectpool"
	"github.com/ecsworker/ecsworker/internal/tracking"
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
	runs, err := w.inFlight(ctx, pool.Name)
	if err != nil {
		w.log.Warn("could not list the pool's runs in flight; retrying at the next sweep", "err", err)
		return
	}
	adopted := 0
	for _, run := range runs {
		if run.InfrastructurePID != "" && !w.isTracked(run.ID) && w.adopt(ctx, run, pool, tmpl) {
			adopted++
		}
	}
	w.mu.Lock()
	w.recovered = true
	w.mu.Unlock()
	resumed := w.resumeOrphans(ctx, runs)
	if adopted+resumed > 0 {
		w.log.Info("recovered runs in flight after start", "tracked", adopted, "resumed", resumed)
	}
}

func (w *Worker) inFlight(ctx context.Context, pool string) ([]prefect.FlowRun, error) {
	return w.api.ListFlowRuns(ctx, prefect.FlowRunFilter{
		WorkPoolNames: []string{pool},
		StateTypes:    []prefect.StateType{prefect.StatePending, prefect.StateRunning, prefect.StateCancelling},
	})
}

func (w *Worker) isTracked(runID string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.runs[runID] != nil || w.inflight[runID] || w.unsettled[runID].tr != nil
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
		runs, err := w.inFlight(ctx, pool.Name)
		if err != nil {
			return
		}
		if n := w.adoptOrphanedTasks(ctx, runs, pool, tmpl); n > 0 {
			w.log.Info("took over the tasks of runs whose worker is gone", "runs", n)
		}
		if n := w.resumeOrphans(ctx, runs); n > 0 {
			w.log.Info("resumed claimed runs that had no task on record", "runs", n)
		}
	})
}

// adoptOrphanedTasks tracks tasks whose runs were submitted by a worker of
// this pool that is no longer online. Tasks of live workers are left to
// them, so replicas do not all track everything.
func (w *Worker) adoptOrphanedTasks(ctx context.Context, runs []prefect.FlowRun, pool *prefectpool.WorkPool, tmpl jobTemplate) int {
	var candidates []prefect.FlowRun
	for _, run := range runs {
		if run.InfrastructurePID != "" && !w.isTracked(run.ID) && w.cfg.Now().Sub(run.Updated.Time) >= w.cfg.StartupGrace {
			candidates = append(candidates, run)
		}
	}
	if len(candidates) == 0 {
		return 0
	}
	workers, err := w.api.FilterWorkers(ctx, pool.Name, prefectpool.WorkerFilter{Statuses: []string{"ONLINE"}})
	if err != nil {
		return 0
	}
	online := map[string]bool{w.cfg.Name: true}
	for _, wk := range workers {
		online[wk.Name] = true
	}
	n := 0
	for _, run := range candidates {
		if name := run.Labels.GetString("prefect.worker.name"); name != "" && online[name] {
			continue
		}
		if w.adopt(ctx, run, pool, tmpl) {
			n++
		}
	}
	return n
}

// claimOf returns the claim a run's task was (or is to be) launched for:
// the claim label the worker records before RunTask or, for a run still
// in the Pending state of its claim, that state's transition id.
func claimOf(run prefect.FlowRun) (string, bool) {
	if c := run.Labels.GetString(claimLabel); c != "" {
		return c, true
	}
	if run.State != nil && run.State.Type == prefect.StatePending && run.State.Name == "Pending" && run.State.StateDetails.TransitionID != "" {
		return run.State.StateDetails.TransitionID, true
	}
	return "", false
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
		claim, ok := claimOf(run)
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
					w.forceState(w.subCtx, run.ID, prefect.StateCancelled, "Cancelled", fmt.Sprintf("Deployment %s no longer exists, cancelled run.", run.DeploymentID))
					return
				case err != nil:
					// Its task may be running; the next sweep tries again.
					w.log.Warn("cannot resume a claimed run now: its deployment cannot be read", "flow_run", run.ID, "err", err)
					return
				}
				dep = d
			}
			w.runLog(run.ID, prefect.LevelInfo, "Resuming the submission of this claimed flow run, which has no task on record")
			w.launchClaimed(w.subCtx, run, dep, claim)
		}()
	}
	return resumed
}

// adopt tracks the task of a run submitted before this worker started. The
// run's job is rendered again to know its AWS credentials.
func (w *Worker) adopt(ctx context.Context, run prefect.FlowRun, pool *prefectpool.WorkPool, tmpl jobTemplate) bool {
	cluster, arn, err := launch.ParseIdentifier(run.InfrastructurePID)
	if err != nil {
		return false
	}
	var dep *prefectdeploy.Deployment
	if run.DeploymentID != "" {
		if d, err := w.api.ReadDeployment(ctx, run.DeploymentID); err == nil {
			dep = d
		}
	}
	job := w.job(run, dep, pool, tmpl)
	creds := awsclient.Credentials{}
	container := ecsjob.DefaultContainerName
	// Only the credentials and the container name are wanted: a job that no
	// longer validates (its pool template changed since) still has them.
	if prepared, _ := ecsjob.Prepare(ctx, job); prepared != nil && prepared.JobConfiguration != nil {
		if c, cerr := awsclient.CredentialsFromBlock(prepared.JobConfiguration.GetObject("aws_credentials")); cerr == nil {
			creds = c
		}
		if prepared.Plan != nil && prepared.Plan.ContainerName != "" {
			container = prepared.Plan.ContainerName
		}
	}
	b, release, err := w.backendFor(ctx, creds)
	if err != nil {
		w.log.Warn("cannot follow the task of a run in flight", "flow_run", run.ID, "err", err)
		return false
	}
	defer release()
	w.track(run.ID, run.InfrastructurePID, tracking.TaskRef{Cluster: cluster, TaskARN: arn, FlowRunID: run.ID, ContainerName: container}, b, nil, false)
	if run.StateType == prefect.StateRunning {
		w.mu.Lock()
		if tr := w.runs[run.ID]; tr != nil {
			tr.started = true
		}
		w.mu.Unlock()
	}
	return true
}
