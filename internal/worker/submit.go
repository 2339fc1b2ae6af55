package worker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/backoff"
	"github.com/ecsworker/ecsworker/internal/buildinfo"
	"github.com/ecsworker/ecsworker/internal/ecsjob"
	"github.com/ecsworker/ecsworker/internal/jobtemplate"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/launch"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectapi"
	"github.com/ecsworker/ecsworker/internal/prefectdeploy"
	"github.com/ecsworker/ecsworker/internal/prefecterr"
	"github.com/ecsworker/ecsworker/internal/prefectpool"
	"github.com/ecsworker/ecsworker/internal/tracking"
)

// submit takes one scheduled run from claim to a running ECS task. Once
// the run is claimed, every failure ends in a Crashed state that says
// what went wrong: a claimed run is never left without a task.
func (w *Worker) submit(ctx context.Context, run prefect.FlowRun) {
	w.runLog(run.ID, prefect.LevelInfo, fmt.Sprintf("Worker '%s' submitting flow run '%s'", w.cfg.Name, run.ID))
	var deployment *prefectdeploy.Deployment
	if run.DeploymentID != "" {
		d, err := w.api.ReadDeployment(ctx, run.DeploymentID)
		switch {
		case errors.Is(err, prefect.ErrNotFound):
			w.forceState(ctx, run.ID, prefect.StateCancelled, "Cancelled", fmt.Sprintf("Deployment %s no longer exists, cancelled run.", run.DeploymentID))
			w.metrics.submissions.WithLabelValues("deployment_missing").Inc()
			w.notify("deployment-missing", run.ID)
			return
		case err != nil:
			w.log.Warn("could not read the run's deployment; the run stays scheduled for the next poll", "flow_run", run.ID, "err", err)
			w.metrics.submissions.WithLabelValues("deferred").Inc()
			return
		}
		deployment = d
	}
	claimID, ok := w.claim(ctx, run)
	if !ok {
		w.notify("not-claimed", run.ID)
		return
	}
	w.launchClaimed(ctx, run, deployment, claimID)
}

// claim proposes PENDING, Prefect's way of taking a run: only one worker's
// proposal is accepted. It returns the proposal's transition id, which the
// ECS client token is derived from.
func (w *Worker) claim(ctx context.Context, run prefect.FlowRun) (string, bool) {
	for attempt := 0; attempt < 10; attempt++ {
		tid := prefectapi.NewUUID()
		res, err := w.api.SetFlowRunState(ctx, run.ID, prefect.StateCreate{Type: prefect.StatePending, Name: "Pending", TransitionID: tid}, false)
		if err != nil {
			// The server may have taken the proposal before the
			// connection broke: the transition id tells.
			rctx, cancel := w.outlive(ctx)
			cur, rerr := w.api.ReadFlowRun(rctx, run.ID)
			cancel()
			if rerr == nil && cur.State != nil &&
				cur.State.Type == prefect.StatePending && cur.State.StateDetails.TransitionID == tid {
				w.metrics.claims.WithLabelValues("accepted").Inc()
				return tid, true
			}
			w.log.Warn("could not claim the flow run; it stays scheduled for the next poll", "flow_run", run.ID, "err", err)
			w.metrics.claims.WithLabelValues("error").Inc()
			return "", false
		}
		switch res.Status {
		case prefect.StatusAccept:
			w.metrics.claims.WithLabelValues("accepted").Inc()
			return tid, true
		case prefect.StatusWait:
			w.metrics.claims.WithLabelValues("wait").Inc()
			delay := time.Duration(res.Details.DelaySeconds) * time.Second
			if backoff.Sleep(ctx, delay) != nil {
				return "", false
			}
		case prefect.StatusReject:
			if res.State != nil && res.State.Type == prefect.StatePending {
				w.metrics.claims.WithLabelValues("accepted").Inc()
				return firstNonEmpty(res.State.StateDetails.TransitionID, tid), true
			}
			w.log.Info("flow run not claimed: the server moved it elsewhere", "flow_run", run.ID, "state", stateName(res.State), "reason", res.Details.Reason)
			w.metrics.claims.WithLabelValues("rejected").Inc()
			return "", false
		default: // ABORT: another worker has it, or it is no longer scheduled
			w.log.Debug("flow run not claimed", "flow_run", run.ID, "reason", res.Details.Reason)
			w.metrics.claims.WithLabelValues("aborted").Inc()
			return "", false
		}
	}
	return "", false
}

// launchClaimed renders the run's job, starts its task and reports the
// task to Prefect. It is also how a restarted worker resumes a claimed run
// whose task may or may not exist: the client token makes RunTask return
// the existing task instead of starting a second one.
func (w *Worker) launchClaimed(ctx context.Context, run prefect.FlowRun, deployment *prefectdeploy.Deployment, claimID string) {
	fail := func(format string, args ...any) {
		if ctx.Err() != nil {
			// The worker is stopping and gave up waiting: RunTask may have
			// gone through. The run stays claimed, and the next worker
			// resumes it with the same client token instead of crashing a
			// run whose task may be starting.
			w.log.Warn("submission interrupted by shutdown; the next worker resumes it", "flow_run", run.ID)
			return
		}
		msg := "Failed to submit flow run to infrastructure: " + fmt.Sprintf(format, args...)
		// Another worker may have resumed this claim and started its task
		// (same client token) while this submission was failing: a task on
		// record means the run is not ours to crash.
		rctx, cancel := w.outlive(ctx)
		cur, err := w.api.ReadFlowRun(rctx, run.ID)
		cancel()
		if err == nil && cur.InfrastructurePID != "" {
			w.log.Info("submission failed, but the run already has a task; leaving it", "flow_run", run.ID, "task", cur.InfrastructurePID)
			return
		}
		w.runLog(run.ID, prefect.LevelError, msg)
		w.crash(ctx, run.ID, msg)
		w.metrics.submissions.WithLabelValues("crashed").Inc()
		w.notify("submission-crashed", run.ID)
	}
	// defer leaves a run claimed when the failure may be temporary and
	// RunTask may even have gone through (its answer lost): the sweep
	// resumes it with the same client token, which either finds the task
	// or starts it. A run that stays unlaunchable past maxDeferral crashes.
	deferOrFail := func(err error) {
		claimed := w.cfg.Now()
		if run.State != nil && run.State.Type == prefect.StatePending && !run.State.Timestamp.IsZero() {
			claimed = run.State.Timestamp.Time
		}
		if mayHaveLaunched(err) && w.cfg.Now().Sub(claimed) < maxDeferral {
			w.runLog(run.ID, prefect.LevelWarning, fmt.Sprintf("Could not start the ECS task yet (%v); the submission is retried with the same client token in about %s.", err, w.cfg.StartupGrace.Round(time.Second)))
			w.metrics.submissions.WithLabelValues("deferred").Inc()
			w.notify("submission-deferred", run.ID)
			return
		}
		fail("%v", err)
	}
	pool, tmpl := w.snapshot()
	if tmpl == nil {
		fail("the work pool's base job template cannot be read; fix it with 'ecsworker work-pool update %s --base-job-template FILE'.", w.cfg.Pool)
		return
	}
	job := w.job(run, deployment, pool, tmpl)
	var flow *prefectdeploy.Flow
	if run.FlowID != "" {
		if f, err := w.api.ReadFlow(ctx, run.FlowID); err == nil {
			flow = f
			job.FlowRun.Flow = f.Raw
		}
	}
	prepared, err := ecsjob.Prepare(ctx, job)
	if err != nil {
		fail("%v", err)
		return
	}
	creds, err := awsclient.CredentialsFromBlock(prepared.JobConfiguration.GetObject("aws_credentials"))
	if err != nil {
		fail("aws_credentials: %v", err)
		return
	}
	b, release, err := w.backendFor(ctx, creds)
	if err != nil {
		fail("AWS clients: %v", err)
		return
	}
	defer release()
	if arn := prepared.Plan.TaskDefinitionARN; arn != "" && b.clients.Permissions.Usable("ecs:DescribeTaskDefinition", "") {
		// An existing task definition: run the checks that need it now.
		// Without ecs:DescribeTaskDefinition they are left to RunTask.
		td, err := b.tds.Describe(ctx, arn)
		switch {
		case b.clients.Permissions.Note("ecs:DescribeTaskDefinition", "", err):
		case err != nil:
			fail("read task definition %s: %v", arn, err)
			return
		default:
			job.Context.ExistingTaskDefinition = td
			if prepared, err = ecsjob.Prepare(ctx, job); err != nil {
				fail("%v", err)
				return
			}
		}
	}
	for _, warn := range prepared.Warnings {
		w.runLog(run.ID, prefect.LevelWarning, warn.String())
	}
	plan := prepared.Plan
	launch.FillRegion(plan.TaskDefinition, b.clients.Region)

	// The claim label lets any worker resume this submission with the same
	// client token later, whatever state the run has moved to; without it
	// no task is started.
	if err := w.api.UpdateFlowRunLabels(ctx, run.ID, map[string]any{
		"prefect.worker.name":    w.cfg.Name,
		"prefect.worker.type":    Type,
		"prefect.work-pool.name": pool.Name,
		"prefect.work-pool.id":   pool.ID,
		claimLabel:               claimID,
	}); err != nil {
		deferOrFail(err)
		return
	}

	launched, err := b.launcher.Launch(ctx, plan, launch.ClientToken(run.ID, claimID))
	if err != nil {
		deferOrFail(err)
		return
	}
	w.metrics.runTasks.Inc()
	if due := scheduledTime(run); !due.IsZero() {
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
	r, d, f := eventSubjects(&run, deployment, flow)
	w.mu.Lock()
	if tr := w.runs[run.ID]; tr != nil {
		tr.run, tr.deployment, tr.flow, tr.submittedEvent = r, d, f, submitted.ID
	}
	w.mu.Unlock()
	w.metrics.submissions.WithLabelValues("submitted").Inc()
	w.notify("submitted", run.ID)
}

// claimLabel records on a flow run the claim (PENDING transition id) its
// task was launched for; the ECS client token is derived from it.
const claimLabel = "ecsworker.io/claim"

// maxDeferral bounds how long a claimed run waits for AWS to come back
// before it is reported as crashed.
const maxDeferral = time.Hour

// mayHaveLaunched reports failures after which a task may exist, or that
// may pass: throttling, server errors, lost connections and calls that got
// no answer in time. An answer that refused the request (a client fault:
// bad parameters, a denied or unknown action, an unknown cluster, no
// capacity after retries) means no task was started, and the run crashes
// with it at once.
func mayHaveLaunched(err error) bool {
	if prefect.IsTransient(err) {
		return true
	}
	if _, ok := errors.AsType[*prefecterr.APIError](err); ok {
		return false // Prefect refused the request itself
	}
	switch awsclient.KindOf(err) {
	case awsclient.KindTransient, awsclient.KindThrottled:
		return true
	}
	return false
}

// eventSubjects keeps of a run, its deployment and its flow only what the
// executed-flow-run event names: a worker follows thousands of runs, and
// their full API objects (job variables, parameters, schemas) would cost
// tens of kilobytes each for as long as the task runs.
func eventSubjects(run *prefect.FlowRun, dep *prefectdeploy.Deployment, flow *prefectdeploy.Flow) (*prefect.FlowRun, *prefectdeploy.Deployment, *prefectdeploy.Flow) {
	r := &prefect.FlowRun{ID: run.ID, Name: run.Name, Tags: run.Tags}
	var d *prefectdeploy.Deployment
	if dep != nil {
		d = &prefectdeploy.Deployment{ID: dep.ID, Name: dep.Name, Tags: dep.Tags}
		if dep.Raw != nil {
			d.Raw = jsonv.NewObject()
			for _, k := range []string{"branch", "base", "root", "version_id", "version_info"} {
				if v, ok := dep.Raw.Get(k); ok {
					d.Raw.Set(k, jsonv.Clone(v))
				}
			}
		}
	}
	var f *prefectdeploy.Flow
	if flow != nil {
		f = &prefectdeploy.Flow{ID: flow.ID, Name: flow.Name, Tags: flow.Tags}
	}
	return r, d, f
}

// job assembles the pipeline's input for a run.
func (w *Worker) job(run prefect.FlowRun, deployment *prefectdeploy.Deployment, pool *prefectpool.WorkPool, tmpl *jobtemplate.Template) ecsjob.Job {
	w.mu.Lock()
	workerID := w.workerID
	w.mu.Unlock()
	job := ecsjob.Job{
		Template:         tmpl,
		FlowRunVariables: run.JobVariables,
		FlowRun: &jobtemplate.FlowRunContext{
			FlowRun: run.Raw, WorkPool: pool.Raw,
			WorkerName: w.cfg.Name, WorkerID: workerID,
			BaseEnv: w.baseEnv(), Version: buildinfo.String(),
		},
		Context: ecsjob.RunContext{
			WorkPoolName: pool.Name,
			DeploymentID: run.DeploymentID,
			FlowID:       run.FlowID,
			DefaultImage: w.cfg.DefaultImage,
		},
		Render: jobtemplate.RenderOptions{Resolver: w.api.TemplateResolver()},
	}
	if deployment != nil {
		job.DeploymentVariables = deployment.JobVariables
		job.FlowRun.Deployment = deployment.Raw
	}
	return job
}

// baseEnv is the Prefect configuration a flow run inherits from its worker,
// as Prefect's workers pass their explicitly set settings: every PREFECT_*
// variable of the process, with the API settings the worker actually uses.
func (w *Worker) baseEnv() *jsonv.Object {
	values := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PREFECT_") && !strings.HasPrefix(k, "PREFECT__") && v != "" {
			values[k] = v
		}
	}
	cfg := w.api.Config()
	values["PREFECT_API_URL"] = cfg.APIURL
	if cfg.APIKey != "" {
		values["PREFECT_API_KEY"] = cfg.APIKey
	}
	if cfg.AuthString != "" {
		values["PREFECT_API_AUTH_STRING"] = cfg.AuthString
	}
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	sort.Strings(names)
	env := jsonv.NewObject()
	for _, k := range names {
		env.Set(k, values[k])
	}
	return env
}

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

// scheduledTime is when the run was due.
func scheduledTime(run prefect.FlowRun) time.Time {
	if !run.NextScheduledStartTime.IsZero() {
		return run.NextScheduledStartTime.Time
	}
	return run.ExpectedStartTime.Time
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func stateName(s *prefect.State) string {
	if s == nil {
		return ""
	}
	return string(s.Type) + "/" + s.Name
}
