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
	"github.com/ecsworker/ecsworker/internal/jobtemplate"
	"github.com/ecsworker/ecsworker/internal/launch"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/submission"
	"github.com/ecsworker/ecsworker/internal/tracking"
)

// submit takes one scheduled run from claim to a running ECS task. Once
// the run is claimed, every failure ends in a Crashed state that says
// what went wrong: a claimed run is never left without a task.
func (w *Worker) submit(ctx context.Context, run prefect.FlowRun) {
	w.runLog(run.ID, prefect.LevelInfo, fmt.Sprintf("Worker '%s' submitting flow run '%s'", w.cfg.Name, run.ID))
	deployment, ok := w.deploymentOf(ctx, run)
	if !ok {
		return
	}
	claimID, err := w.claimer().Claim(ctx, run.ID)
	if err != nil {
		w.notify("not-claimed", run.ID)
		return
	}
	w.launchClaimed(ctx, run, deployment, claimID)
}

// deploymentOf reads the run's deployment. A deleted deployment cancels
// the run, as Prefect's workers do; one that cannot be read now leaves the
// run for a later pass.
func (w *Worker) deploymentOf(ctx context.Context, run prefect.FlowRun) (*prefect.Deployment, bool) {
	if run.DeploymentID == "" {
		return nil, true
	}
	d, err := w.api.ReadDeployment(ctx, run.DeploymentID)
	switch {
	case errors.Is(err, prefect.ErrNotFound):
		// forceState logs a failure; the run then stays scheduled and the
		// next poll finds the deployment still missing.
		_ = w.forceState(ctx, run.ID, prefect.StateCancelled, "Cancelled", fmt.Sprintf("Deployment %s no longer exists, cancelled run.", run.DeploymentID))
		w.metrics.submissions.WithLabelValues("deployment_missing").Inc()
		w.notify("deployment-missing", run.ID)
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
func (w *Worker) launchClaimed(ctx context.Context, run prefect.FlowRun, deployment *prefect.Deployment, claimID string) {
	if err := w.launchSteps(ctx, run, deployment, claimID); err != nil {
		w.failed(ctx, run, err)
	}
}

func (w *Worker) launchSteps(ctx context.Context, run prefect.FlowRun, deployment *prefect.Deployment, claimID string) error {
	pool, tmpl := w.snapshot()
	var flow *prefect.Flow
	if run.FlowID != "" && tmpl != nil {
		if f, err := w.api.ReadFlow(ctx, run.FlowID); err == nil {
			flow = f
		}
	}
	rendered, err := submission.Render(ctx, w.renderInput(run, deployment, flow, pool, tmpl))
	if err != nil {
		return err
	}
	b, release, err := w.backendFor(ctx, rendered.Credentials)
	if err != nil {
		return submission.Crashf(submission.StepRender, "AWS clients: %w", err)
	}
	defer release()
	if err := w.checkTaskDefinition(ctx, b, rendered); err != nil {
		return err
	}
	for _, warn := range rendered.Prepared.Warnings {
		w.runLog(run.ID, prefect.LevelWarning, warn.String())
	}
	plan := rendered.Prepared.Plan
	launch.FillRegion(plan.TaskDefinition, b.clients.Region)

	launched, err := submission.Launch(ctx, w.api, b.launcher, submission.Claimed{
		RunID: run.ID, ClaimID: claimID, WorkerName: w.cfg.Name, WorkerType: Type, Pool: pool,
	}, plan)
	if err != nil {
		return err
	}
	w.record(ctx, run, deployment, flow, b, launched, plan)
	return nil
}

// renderInput is what a run's job is rendered from.
func (w *Worker) renderInput(run prefect.FlowRun, deployment *prefect.Deployment, flow *prefect.Flow, pool *prefect.WorkPool, tmpl *jobtemplate.Template) submission.Input {
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
func (w *Worker) checkTaskDefinition(ctx context.Context, b *backend, r *submission.Rendered) error {
	arn := r.Prepared.Plan.TaskDefinitionARN
	if arn == "" || !b.clients.Permissions.Usable("ecs:DescribeTaskDefinition", "") {
		return nil
	}
	td, err := b.tds.Describe(ctx, arn)
	switch {
	case b.clients.Permissions.Note("ecs:DescribeTaskDefinition", "", err):
		return nil
	case err != nil:
		return submission.Crashf(submission.StepRender, "read task definition %s: %w", arn, err)
	}
	return r.Recheck(ctx, td)
}

// record is the last step: the task is followed, put on record in
// Prefect, and announced in the run's logs and events.
func (w *Worker) record(ctx context.Context, run prefect.FlowRun, deployment *prefect.Deployment, flow *prefect.Flow, b *backend, launched *launch.Launched, plan *ecsjob.Plan) {
	w.metrics.runTasks.Inc()
	if due := submission.ScheduledTime(run); !due.IsZero() {
		w.metrics.scheduledToRunTask.Observe(w.cfg.Now().Sub(due).Seconds())
	}
	for _, warn := range launched.Warnings {
		w.runLog(run.ID, prefect.LevelWarning, warn)
	}
	w.track(run.ID, launched.Identifier, tracking.TaskRef{Cluster: launched.ClusterARN, TaskARN: launched.TaskARN, FlowRunID: run.ID, ContainerName: plan.ContainerName}, b, launched, plan.AutoDeregister)
	rctx, cancel := w.outlive(ctx)
	w.recordTask(rctx, run.ID, launched.Identifier)
	cancel()
	w.runLog(run.ID, prefect.LevelInfo, fmt.Sprintf("Created ECS task %s (task definition %s)", launched.TaskARN, launched.TaskDefinitionARN))
	submitted := prefect.SubmittedFlowRunEvent(w.eventSource(), &run, deployment, flow)
	w.emit(submitted)
	r, d, f := submission.EventSubjects(&run, deployment, flow)
	w.mu.Lock()
	if tr := w.runs[run.ID]; tr != nil {
		tr.run, tr.deployment, tr.flow, tr.submittedEvent = r, d, f, submitted.ID
	}
	w.mu.Unlock()
	w.metrics.submissions.WithLabelValues("submitted").Inc()
	w.notify("submitted", run.ID)
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
		w.runLog(run.ID, prefect.LevelWarning, fmt.Sprintf("Could not start the ECS task yet (%v); the submission is retried with the same client token in about %s.", err, w.cfg.StartupGrace.Round(time.Second)))
		w.metrics.submissions.WithLabelValues("deferred").Inc()
		w.notify("submission-deferred", run.ID)
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
	w.runLog(run.ID, prefect.LevelError, msg)
	// crash logs a report Prefect did not take; the run then stays
	// claimed, and the sweep resumes it with the same client token.
	_ = w.crash(ctx, run.ID, msg)
	w.metrics.submissions.WithLabelValues("crashed").Inc()
	w.notify("submission-crashed", run.ID)
}

// maxDeferral bounds how long a claimed run waits for AWS to come back
// before it is reported as crashed.
const maxDeferral = time.Hour

// crash proposes Crashed. It outlives the submission's context so that a
// worker being stopped still reports the runs it could not launch. The
// error is for proposals that did not reach Prefect (worth retrying); a
// refusal (the run already ended) is an answer, not an error.
func (w *Worker) crash(ctx context.Context, runID, message string) error {
	ctx, cancel := w.outlive(ctx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, time.Minute)
	defer cancelTimeout()
	res, err := w.api.SetFlowRunState(ctx, runID, prefect.StateCreate{Type: prefect.StateCrashed, Name: "Crashed", Message: message}, false)
	switch {
	case errors.Is(err, prefect.ErrNotFound):
	case err != nil:
		w.log.Error("could not report the flow run as crashed", "flow_run", runID, "message", message, "err", err)
		return err
	case res.Status == prefect.StatusAccept:
		w.log.Info("reported flow run as crashed", "flow_run", runID, "message", message)
	default:
		w.log.Debug("crash report not accepted (the run already ended)", "flow_run", runID, "status", res.Status, "reason", res.Details.Reason)
	}
	return nil
}

func (w *Worker) forceState(ctx context.Context, runID string, typ prefect.StateType, name, message string) error {
	ctx, cancel := w.outlive(ctx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, time.Minute)
	defer cancelTimeout()
	if _, err := w.api.SetFlowRunState(ctx, runID, prefect.StateCreate{Type: typ, Name: name, Message: message}, true); err != nil && !errors.Is(err, prefect.ErrNotFound) {
		w.log.Error("could not set the flow run's state", "flow_run", runID, "state", name, "err", err)
		return err
	}
	w.runLog(runID, prefect.LevelInfo, message)
	return nil
}

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
