package submission

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/ecsworker/ecsworker/internal/awscreds"
	"github.com/ecsworker/ecsworker/internal/ecsjob"
	"github.com/ecsworker/ecsworker/internal/ecsrequest"
	"github.com/ecsworker/ecsworker/internal/jobtemplate"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectconfig"
	"github.com/ecsworker/ecsworker/internal/prefectdeploy"
	"github.com/ecsworker/ecsworker/internal/prefectpool"
	"github.com/ecsworker/ecsworker/internal/templating"
)

// Input is what rendering a run's job needs: the run and what it came
// from, and what the worker adds.
type Input struct {
	Run        prefect.FlowRun
	Deployment *prefectdeploy.Deployment // nil for a run without one
	Flow       *prefectdeploy.Flow       // nil when it could not be read
	PoolName   string                    // the pool the worker serves
	Pool       *prefectpool.WorkPool     // as of the worker's last sync
	Template   *jobtemplate.Template

	WorkerName, WorkerID string
	// BaseEnv is the Prefect configuration the flow run inherits (BaseEnv).
	BaseEnv      *jsonv.Object
	DefaultImage string
	Version      string
	Resolver     templating.Resolver
}

// Job assembles the job pipeline's input for a run.
func Job(in Input) ecsjob.Job {
	job := ecsjob.Job{
		Template:         in.Template,
		FlowRunVariables: in.Run.JobVariables,
		FlowRun: &jobtemplate.FlowRunContext{
			FlowRun: in.Run.Raw, WorkPool: in.Pool.Raw,
			WorkerName: in.WorkerName, WorkerID: in.WorkerID,
			BaseEnv: in.BaseEnv, Version: in.Version,
		},
		Context: ecsrequest.RunContext{
			WorkPoolName: in.Pool.Name,
			DeploymentID: in.Run.DeploymentID,
			FlowID:       in.Run.FlowID,
			DefaultImage: in.DefaultImage,
		},
		Render: jobtemplate.RenderOptions{Resolver: in.Resolver},
	}
	if in.Deployment != nil {
		job.DeploymentVariables = in.Deployment.JobVariables
		job.FlowRun.Deployment = in.Deployment.Raw
	}
	if in.Flow != nil {
		job.FlowRun.Flow = in.Flow.Raw
	}
	return job
}

// Rendered is a run's job, ready to launch.
type Rendered struct {
	Job         ecsjob.Job
	Prepared    *ecsjob.Prepared
	Credentials awscreds.Credentials
}

// Render runs the job pipeline for a run and reads the AWS credentials its
// job names. A failure is a Crash, since rendering again gives the same,
// unless Prefect could not be asked for a block or variable the job
// references for a reason that may pass (Retry).
func Render(ctx context.Context, in Input) (*Rendered, error) {
	if in.Template == nil || in.Pool == nil {
		return nil, Crashf(StepRender, "the work pool's base job template cannot be read; fix it with 'ecsworker work-pool update %s --base-job-template FILE'.", in.PoolName)
	}
	r := &Rendered{Job: Job(in)}
	var err error
	if r.Prepared, err = ecsjob.Prepare(ctx, r.Job); err != nil {
		return nil, renderFailed(err)
	}
	// The error names the aws_credentials field itself.
	if r.Credentials, err = awscreds.CredentialsFromBlock(r.Prepared.JobConfiguration.GetObject("aws_credentials")); err != nil {
		return nil, Crashed(StepRender, err)
	}
	return r, nil
}

// Recheck renders the job again knowing the existing task definition it
// names, for the checks that need that definition.
func (r *Rendered) Recheck(ctx context.Context, taskDefinition *jsonv.Object) error {
	r.Job.Context.ExistingTaskDefinition = taskDefinition
	p, err := ecsjob.Prepare(ctx, r.Job)
	if err != nil {
		return renderFailed(err)
	}
	r.Prepared = p
	return nil
}

// renderFailed classifies a failed render: only Prefect failing to answer
// for a referenced block or variable may pass.
func renderFailed(err error) *Error {
	if prefect.IsTransient(err) {
		return &Error{Step: StepRender, Kind: Retry, Err: err}
	}
	return Crashed(StepRender, err)
}

// BaseEnv is the Prefect configuration a flow run inherits from its
// worker, as Prefect's workers pass their explicitly set settings: every
// PREFECT_* variable of environ, with the API settings the worker actually
// uses.
func BaseEnv(environ []string, api prefectconfig.Config) *jsonv.Object {
	values := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PREFECT_") && !strings.HasPrefix(k, "PREFECT__") && v != "" {
			values[k] = v
		}
	}
	values["PREFECT_API_URL"] = api.APIURL
	if api.APIKey != "" {
		values["PREFECT_API_KEY"] = api.APIKey
	}
	if api.AuthString != "" {
		values["PREFECT_API_AUTH_STRING"] = api.AuthString
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

// ScheduledTime is when the run was due.
func ScheduledTime(run prefect.FlowRun) time.Time {
	return scheduledTime(run)
}

// Queued is how long the run waited from its scheduled time to RunTask's
// answer at answered: its start breakdown's queueing phase. It is false
// for a run without a scheduled time; a run claimed ahead of its schedule
// (the prefetch) queued zero.
func Queued(run prefect.FlowRun, answered time.Time) (time.Duration, bool) {
	due := scheduledTime(run)
	if due.IsZero() {
		return 0, false
	}
	return max(answered.Sub(due), 0), true
}

func scheduledTime(run prefect.FlowRun) time.Time {
	if !run.NextScheduledStartTime.IsZero() {
		return run.NextScheduledStartTime.Time
	}
	return run.ExpectedStartTime.Time
}
