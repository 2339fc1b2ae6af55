package ecsjob

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ecsworker/ecsworker/internal/jobtemplate"
	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// Job is one flow run's input to the pipeline: the pool's base job
// template, the job variables of its deployment and of the flow run, and
// what is known about the run.
type Job struct {
	Template            *jobtemplate.Template
	DeploymentVariables *jsonv.Object
	FlowRunVariables    *jsonv.Object

	// FlowRun adds what a worker adds before submitting a run: Prefect's
	// env vars, prefect.io/* labels, the run's name and the default
	// command. Nil leaves them out (a dry run of the pool alone).
	FlowRun *jobtemplate.FlowRunContext

	Context Context
	Render  jobtemplate.RenderOptions
}

// Prepared is the pipeline's result.
type Prepared struct {
	// JobConfiguration is the rendered job configuration, after the flow
	// run's context was added.
	JobConfiguration *jsonv.Object
	Plan             *Plan
	Warnings         []Warning
	Unresolved       []Unresolved
}

// Prepare runs the whole pure pipeline: merge job variables, check them
// against the template, render the template the way Prefect does, add the
// flow run's context, and build the ECS requests. Problems from every step
// are returned together in one *ValidationError; the result is returned
// alongside it as far as it could be built.
func Prepare(ctx context.Context, job Job) (*Prepared, error) {
	values := jobtemplate.MergeJobVariables(job.DeploymentVariables, job.FlowRunVariables)
	problems, warnings := CheckJobVariables(job.Template, values)
	out := &Prepared{Warnings: warnings}

	cfg, err := job.Template.Render(ctx, values, job.Render)
	if err != nil {
		return out, fmt.Errorf("render the work pool's base job template: %w", err)
	}
	if err := jobtemplate.CoerceBaseFields(cfg); err != nil {
		problems = append(problems, Problem{Field: "job_configuration", Message: err.Error()})
	}
	if job.FlowRun != nil {
		jobtemplate.PrepareForFlowRun(cfg, *job.FlowRun)
	}
	out.JobConfiguration = cfg
	for _, u := range jobtemplate.Unresolved(cfg) {
		out.Unresolved = append(out.Unresolved, Unresolved{Path: "job_configuration", Reason: u})
	}

	bctx := job.Context
	for _, k := range values.Keys() {
		root, _, _ := strings.Cut(k, ".")
		bctx.ExplicitVariables = append(bctx.ExplicitVariables, root)
	}
	if bctx.PoolTaskDefinition == nil {
		bctx.PoolTaskDefinition = job.Template.JobConfiguration.GetObject("task_definition")
	}
	plan, err := Build(cfg, bctx)
	var verr *ValidationError
	switch {
	case errors.As(err, &verr):
		// A variable the schema already refused would be reported twice.
		refused := map[string]bool{}
		for _, p := range problems {
			refused[p.Field] = true
		}
		for _, p := range verr.Problems {
			if !refused[p.Field] {
				problems = append(problems, p)
			}
		}
	case err != nil:
		return out, err
	}
	out.Plan = plan
	if plan != nil {
		out.Warnings = append(out.Warnings, plan.Warnings...)
		out.Unresolved = append(out.Unresolved, plan.Unresolved...)
	}
	if len(problems) > 0 {
		return out, &ValidationError{Problems: problems}
	}
	return out, nil
}
