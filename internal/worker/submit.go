package worker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ecsworker/ecsworker/internal/backoff"
	"github.com/ecsworker/ecsworker/internal/buildinfo"
	"github.com/ecsworker/ecsworker/internal/ecsjob"
	"github.com/ecsworker/ecsworker/internal/ecsrequest"
	"github.com/ecsworker/ecsworker/internal/inflight"
	"github.com/ecsworker/ecsworker/internal/jobtemplate"
	"github.com/ecsworker/ecsworker/internal/launch"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectdeploy"
	"github.com/ecsworker/ecsworker/internal/prefectpool"
	"github.com/ecsworker/ecsworker/internal/submission"
	"github.com/ecsworker/ecsworker/internal/tracking"
)

// submit takes one scheduled run from claim to a running ECS task. Once
// the run is claimed, every failure ends in a Crashed state that says
// what went wrong: a claimed run is never left without a task.
func (w *Worker) submit(ctx context.Context, run prefect.FlowRun) {
	w.report.Log(run.ID, prefect.LevelInfo, fmt.Sprintf("Worker '%s' submitting flow run '%s'", w.cfg.Name, run.ID))
	deployment, ok := w.deploymentOf(ctx, run)
	if !ok {
		return
	}
	claimID, err := w.claimer().Claim(ctx, run.ID)
	if err != nil {
		w.report.Notify("not-claimed", run.ID)
		return
	}
	w.launchClaimed(ctx, run, deployment, claimID, 0)
}

// deploymentOf reads the run's deployment. A deleted deployment cancels
// the run, as Prefect's workers do; one that cannot be read now leaves the
// run for a later pass.
func (w *Worker) deploymentOf(ctx context.Context, run prefect.FlowRun) (*prefectdeploy.Deployment, bool) {
	if run.DeploymentID == "" {
		return nil, true
	}
	d, err := w.api.ReadDeployment(ctx, run.DeploymentID)
	switch {
	case errors.Is(err, prefect.ErrNotFound):
		// A failed report leaves the run scheduled; the next poll finds
		// the deployment still missing.
		w.report.Cancel(ctx, run.ID, fmt.Sprintf("Deployment %s no longer exists, cancelled run.", run.DeploymentID))
		w.metrics.submissions.WithLabelValues("deployment_missing").Inc()
		w.report.Notify("deployment-missing", run.ID)
		return nil, false
	case err != nil:
		w.log.Warn("could not read the run's deployment; the run stays scheduled for the next poll", "flow_run", run.ID, "err", err)
		w.metrics.submissions.WithLabelValues("deferred").Inc()
		return nil, false
	}
	return d, true
}

func (w *Worker) claimer() submission.Claimer {
	return submission.Claimer{
		API:     w.api,
		Detach:  w.outlive,
		Observe: func(outcome string) { w.metrics.claims.WithLabelValues(outcome).Inc() },
		Log:     w.log,
	}
}

// launchClaimed runs the steps after the claim: render the run's job,
// launch its task, record it. It is also how a restarted worker resumes a
// claimed run whose task may or may not exist: the client token makes
// RunTask return the existing task instead of starting a second one.
// step is the capacity step to start from (submission.CapacityStepOf).
func (w *Worker) launchClaimed(ctx context.Context, run prefect.FlowRun, deployment *prefectdeploy.Deployment, claimID string, step int) {
	if err := w.launchSteps(ctx, run, deployment, claimID, step, ""); err != nil {
		w.failed(ctx, run, err)
	}
}

// launchSteps renders, launches from capacity step and records. replaces
// is the task a Spot relaunch replaces: finding it again (its step's
// token) is a failure, not a launch.
func (w *Worker) launchSteps(ctx context.Context, run prefect.FlowRun, deployment *prefectdeploy.Deployment, claimID string, step int, replaces string) error {
	pool, tmpl := w.snapshot()
	var flow *prefectdeploy.Flow
	if run.FlowID != "" && tmpl != nil {
		if f, err := w.api.ReadFlow(ctx, run.FlowID); err == nil {
			flow = f
		}
	}
	rendered, err := submission.Render(ctx, w.renderInput(run, deployment, flow, pool, tmpl))
	if err != nil {
		return err
	}
	b, release, err := w.runs.Backend(ctx, rendered.Credentials)
	if err != nil {
		return submission.Crashf(submission.StepRender, "AWS clients: %w", err)
	}
	defer release()
	if err := w.checkTaskDefinition(ctx, b, rendered); err != nil {
		return err
	}
	for _, warn := range rendered.Prepared.Warnings {
		w.report.Log(run.ID, prefect.LevelWarning, warn.String())
	}
	plan := rendered.Prepared.Plan
	launch.FillRegion(plan.TaskDefinition, b.Clients.Region)

	launched, err := submission.Launch(ctx, w.api, b.Launcher, submission.Claimed{
		RunID: run.ID, ClaimID: claimID, WorkerName: w.cfg.Name, WorkerType: Type, Pool: pool,
		Step: step,
		FellBack: func(from, to int, steps []ecsrequest.CapacityStep, err error) {
			w.report.Log(run.ID, prefect.LevelWarning, submission.FallbackMessage(steps, to))
			w.log.Info("capacity fallback", "flow_run", run.ID, "from", steps[from].Name(), "to", steps[to].Name(), "err", err)
			w.metrics.capacityFallbacks.WithLabelValues(steps[from].Name(), steps[to].Name(), "no_capacity").Inc()
		},
	}, plan)
	if err != nil {
		return err
	}
	if replaces != "" && launched.TaskARN == replaces {
		return submission.Crashf(submission.StepLaunch, "step %d's client token returned the interrupted task %s again; the run is not relaunched twice on one step", launched.Step, replaces)
	}
	if len(plan.Fallback) > 0 {
		w.report.Log(run.ID, prefect.LevelInfo, fmt.Sprintf("Launched on %s (capacity step %d of %d)", launched.Capacity, launched.Step+1, len(plan.Fallback)+1))
	}
	w.record(ctx, run, deployment, flow, b, launched, plan)
	return nil
}

// renderInput is what a run's job is rendered from.
func (w *Worker) renderInput(run prefect.FlowRun, deployment *prefectdeploy.Deployment, flow *prefectdeploy.Flow, pool *prefectpool.WorkPool, tmpl *jobtemplate.Template) submission.Input {
	w.mu.Lock()
	workerID := w.workerID
	w.mu.Unlock()
	return submission.Input{
		Run: run, Deployment: deployment, Flow: flow,
		PoolName: w.cfg.Pool, Pool: pool, Template: tmpl,
		WorkerName: w.cfg.Name, WorkerID: workerID,
		BaseEnv: submission.BaseEnv(os.Environ(), w.api.Config()), DefaultImage: w.cfg.DefaultImage,
		Version: buildinfo.String(), Resolver: w.api.TemplateResolver(),
	}
}

// checkTaskDefinition runs the checks that need the existing task
// definition a job names. Without ecs:DescribeTaskDefinition they are left
// to RunTask.
// jobOf is a run's job as the worker renders it now (inflight.Options.Job).
func (w *Worker) jobOf(ctx context.Context, run prefect.FlowRun) (ecsjob.Job, bool) {
	pool, tmpl := w.snapshot()
	if pool == nil || tmpl == nil {
		return ecsjob.Job{}, false
	}
	var dep *prefectdeploy.Deployment
	if run.DeploymentID != "" {
		if d, err := w.api.ReadDeployment(ctx, run.DeploymentID); err == nil {
			dep = d
		}
	}
	return submission.Job(w.renderInput(run, dep, nil, pool, tmpl)), true
}

func (w *Worker) checkTaskDefinition(ctx context.Context, b *inflight.Backend, r *submission.Rendered) error {
	arn := r.Prepared.Plan.TaskDefinitionARN
	if arn == "" || !b.Clients.Permissions.Usable("ecs:DescribeTaskDefinition", "") {
		return nil
	}
	td, err := b.TaskDefinitions.Describe(ctx, arn)
	switch {
	case b.Clients.Permissions.Note("ecs:DescribeTaskDefinition", "", err):
		return nil
	case err != nil:
		return submission.Crashf(submission.StepRender, "read task definition %s: %w", arn, err)
	}
	return r.Recheck(ctx, td)
}

// record is the last step: the task is followed, put on record in
// Prefect, and announced in the run's logs and events.
func (w *Worker) record(ctx context.Context, run prefect.FlowRun, deployment *prefectdeploy.Deployment, flow *prefectdeploy.Flow, b *inflight.Backend, launched *launch.Launched, plan *ecsrequest.Plan) {
	w.metrics.runTasks.Inc()
	answered := launched.Answered
	if answered.IsZero() {
		answered = w.cfg.Now()
	}
	if due := submission.ScheduledTime(run); !due.IsZero() {
		w.metrics.scheduledToRunTask.Observe(answered.Sub(due).Seconds())
	}
	for _, warn := range launched.Warnings {
		w.report.Log(run.ID, prefect.LevelWarning, warn)
	}
	w.runs.Track(run.ID, launched.Identifier, tracking.TaskRef{Cluster: launched.ClusterARN, TaskARN: launched.TaskARN, FlowRunID: run.ID, ContainerName: plan.ContainerName}, b, launched, plan.AutoDeregister)
	rctx, cancel := w.outlive(ctx)
	w.recordTask(rctx, run.ID, launched.Identifier)
	cancel()
	w.report.Log(run.ID, prefect.LevelInfo, fmt.Sprintf("Created ECS task %s (task definition %s)", launched.TaskARN, launched.TaskDefinitionARN))
	submitted := prefect.SubmittedFlowRunEvent(w.eventSource(), &run, deployment, flow)
	w.report.Emit(submitted)
	w.runs.Submitted(run.ID, prefect.NewRunSubjects(&run, deployment, flow), submitted.ID)
	queued, known := submission.Queued(run, answered)
	w.runs.Launched(run.ID, deploymentLabel(deployment, flow), queued, known)
	w.metrics.submissions.WithLabelValues("submitted").Inc()
	w.report.Notify("submitted", run.ID)
}

// deploymentLabel names a run's deployment in the start phase metrics,
// "flow/deployment" as the CLI names it.
func deploymentLabel(deployment *prefectdeploy.Deployment, flow *prefectdeploy.Flow) string {
	if deployment == nil {
		return ""
	}
	f := "unknown"
	if flow != nil && flow.Name != "" {
		f = flow.Name
	}
	return f + "/" + deployment.Name
}

// failed settles a claimed run whose launch failed, by the failure's
// kind. A failure that may pass leaves the run claimed (the sweep resumes
// it with the same client token, which finds the task or starts it) until
// it has waited maxDeferral; any other failure crashes it.
func (w *Worker) failed(ctx context.Context, run prefect.FlowRun, err error) {
	claimed := w.cfg.Now()
	if run.State != nil && run.State.Type == prefect.StatePending && !run.State.Timestamp.IsZero() {
		claimed = run.State.Timestamp.Time
	}
	if submission.KindOf(err) == submission.Retry && w.cfg.Now().Sub(claimed) < maxDeferral {
		w.report.Log(run.ID, prefect.LevelWarning, fmt.Sprintf("Could not start the ECS task yet (%v); the submission is retried with the same client token in about %s.", err, w.cfg.StartupGrace.Round(time.Second)))
		w.metrics.submissions.WithLabelValues("deferred").Inc()
		w.report.Notify("submission-deferred", run.ID)
		return
	}
	if ctx.Err() != nil {
		// The worker is stopping and gave up waiting: RunTask may have
		// gone through. The run stays claimed, and the next worker
		// resumes it with the same client token instead of crashing a
		// run whose task may be starting.
		w.log.Warn("submission interrupted by shutdown; the next worker resumes it", "flow_run", run.ID)
		return
	}
	// Another worker may have resumed this claim and started its task
	// (same client token) while this submission was failing: a task on
	// record means the run is not ours to crash.
	rctx, cancel := w.outlive(ctx)
	cur, rerr := w.api.ReadFlowRun(rctx, run.ID)
	cancel()
	if rerr == nil && cur.InfrastructurePID != "" {
		w.log.Info("submission failed, but the run already has a task; leaving it", "flow_run", run.ID, "task", cur.InfrastructurePID)
		return
	}
	msg := "Failed to submit flow run to infrastructure: " + err.Error()
	w.report.Log(run.ID, prefect.LevelError, msg)
	// Crash logs a report Prefect did not take; the run then stays
	// claimed, and the sweep resumes it with the same client token.
	_ = w.report.Crash(ctx, run.ID, msg)
	w.metrics.submissions.WithLabelValues("crashed").Inc()
	w.report.Notify("submission-crashed", run.ID)
}

// maxDeferral bounds how long a claimed run waits for AWS to come back
// before it is reported as crashed.
const maxDeferral = time.Hour

// recordTask sets the run's infrastructure_pid, retrying in the background
// while Prefect is unreachable: until it is recorded, only this worker
// knows where the run's task is.
func (w *Worker) recordTask(ctx context.Context, runID, identifier string) {
	err := w.api.SetInfrastructurePID(ctx, runID, identifier)
	if err == nil || errors.Is(err, prefect.ErrNotFound) {
		return
	}
	w.log.Warn("could not record the task on the flow run yet; retrying in the background", "flow_run", runID, "task", identifier, "err", err)
	w.bg.Add(1)
	go func() {
		defer w.bg.Done()
		delay := 5 * time.Second
		for attempt := 0; attempt < 60; attempt++ {
			if backoff.Sleep(w.bgCtx, delay) != nil {
				return
			}
			err := w.api.SetInfrastructurePID(w.bgCtx, runID, identifier)
			if err == nil || errors.Is(err, prefect.ErrNotFound) {
				return
			}
			delay = min(2*delay, time.Minute)
		}
		w.log.Error("gave up recording the task on the flow run; it cannot be cancelled from Prefect", "flow_run", runID, "task", identifier)
	}()
}
