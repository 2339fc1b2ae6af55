package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/ecsworker/ecsworker/internal/awsecs"
	"github.com/ecsworker/ecsworker/internal/ecsjob"
	"github.com/ecsworker/ecsworker/internal/prefect"
)

// recoverRuns rebuilds, after a restart, the set of runs this pool has in
// flight: runs with a task (infrastructure_pid) are tracked again, and
// claimed runs whose submission was cut short are resumed (resumeOrphans).
// Nothing is launched twice.
func (w *Worker) recoverRuns(ctx context.Context) {
	pool, tmpl := w.snapshot()
	if pool == nil || tmpl == nil {
		return
	}
	runs, err := w.api.ListFlowRuns(ctx, prefect.FlowRunFilter{
		WorkPoolNames: []string{pool.Name},
		StateTypes:    []prefect.StateType{prefect.StatePending, prefect.StateRunning, prefect.StateCancelling},
	})
	if err != nil {
		w.log.Warn("could not list the pool's runs in flight; runs started before this worker are not followed", "err", err)
		return
	}
	adopted := 0
	for _, run := range runs {
		if run.InfrastructurePID != "" && w.adopt(ctx, run, pool, tmpl) {
			adopted++
		}
	}
	resumed := w.resumeOrphans(ctx, runs)
	if adopted+resumed > 0 {
		w.log.Info("recovered runs in flight after start", "tracked", adopted, "resumed", resumed)
	}
}

// sweepLoop looks for claimed runs left without a task (a worker that died
// mid-submission, a crash report that could not reach Prefect) and resumes
// them, so that no claimed run stays PENDING for ever.
func (w *Worker) sweepLoop(ctx context.Context) {
	every(ctx, w.cfg.StartupGrace, nil, func() {
		pool, _ := w.snapshot()
		if pool == nil {
			return
		}
		runs, err := w.api.ListFlowRuns(ctx, prefect.FlowRunFilter{WorkPoolNames: []string{pool.Name}, StateTypes: []prefect.StateType{prefect.StatePending}})
		if err != nil {
			return
		}
		if n := w.resumeOrphans(ctx, runs); n > 0 {
			w.log.Info("resumed claimed runs that had no task", "runs", n)
		}
	})
}

// resumeOrphans resumes the submission of PENDING runs that have no task
// and were claimed more than StartupGrace ago, with the client token of
// their claim: RunTask returns the task if it was started and starts it if
// it was not. The grace leaves alone runs another worker is submitting.
func (w *Worker) resumeOrphans(ctx context.Context, runs []prefect.FlowRun) int {
	resumed := 0
	for _, run := range runs {
		if run.InfrastructurePID != "" || run.StateType != prefect.StatePending || run.State == nil || run.State.Name != "Pending" ||
			run.State.StateDetails.TransitionID == "" || w.cfg.Now().Sub(run.State.Timestamp.Time) < w.cfg.StartupGrace {
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
			var dep *prefect.Deployment
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
			w.runLog(run.ID, prefect.LevelInfo, "Resuming the submission of this claimed flow run, which has no task yet")
			w.launchClaimed(w.subCtx, run, dep, run.State.StateDetails.TransitionID)
		}()
	}
	return resumed
}

// adopt tracks the task of a run submitted before this worker started. The
// run's job is rendered again to know its AWS credentials.
func (w *Worker) adopt(ctx context.Context, run prefect.FlowRun, pool *prefect.WorkPool, tmpl jobTemplate) bool {
	cluster, arn, err := awsecs.ParseIdentifier(run.InfrastructurePID)
	if err != nil {
		return false
	}
	var dep *prefect.Deployment
	if run.DeploymentID != "" {
		if d, err := w.api.ReadDeployment(ctx, run.DeploymentID); err == nil {
			dep = d
		}
	}
	job := w.job(run, dep, pool, tmpl)
	creds := awsecs.Credentials{}
	container := ecsjob.DefaultContainerName
	if prepared, err := ecsjob.Prepare(ctx, job); prepared != nil && prepared.JobConfiguration != nil {
		if c, cerr := awsecs.CredentialsFromBlock(prepared.JobConfiguration.GetObject("aws_credentials")); cerr == nil {
			creds = c
		}
		if prepared.Plan != nil && prepared.Plan.ContainerName != "" {
			container = prepared.Plan.ContainerName
		}
		_ = err
	}
	b, err := w.backendFor(ctx, creds)
	if err != nil {
		w.log.Warn("cannot follow the task of a run in flight", "flow_run", run.ID, "err", err)
		return false
	}
	w.track(run.ID, run.InfrastructurePID, awsecs.TaskRef{Cluster: cluster, TaskARN: arn, FlowRunID: run.ID, ContainerName: container}, b, nil, false)
	if run.StateType == prefect.StateRunning {
		w.mu.Lock()
		if tr := w.runs[run.ID]; tr != nil {
			tr.started = true
		}
		w.mu.Unlock()
	}
	return true
}
