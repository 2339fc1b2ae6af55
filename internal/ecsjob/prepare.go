package ecsjob

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/ecsworker/ecsworker/internal/ecsrequest"
	"github.com/ecsworker/ecsworker/internal/jobconfig"
	"github.com/ecsworker/ecsworker/internal/jobtemplate"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/templating"
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

	Context ecsrequest.RunContext
	Render  jobtemplate.RenderOptions
}

// Prepared is the pipeline's result.
type Prepared struct {
	// JobConfiguration is the rendered job configuration, after the flow
	// run's context was added.
	JobConfiguration *jsonv.Object
	Plan             *ecsrequest.Plan
	Warnings         []jobconfig.Warning
	Unresolved       []ecsrequest.Unresolved
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
		problems = append(problems, jobconfig.Problem{Field: "job_configuration", Message: err.Error()})
	}
	if job.FlowRun != nil {
		jobtemplate.PrepareForFlowRun(cfg, *job.FlowRun)
	}
	out.JobConfiguration = cfg
	for _, u := range templating.Unresolved(cfg) {
		out.Unresolved = append(out.Unresolved, ecsrequest.Unresolved{Path: "job_configuration", Reason: u})
	}

	rc := job.Context
	for _, k := range values.Keys() {
		root, _, _ := strings.Cut(k, ".")
		rc.ExplicitVariables = append(rc.ExplicitVariables, root)
	}
	if rc.PoolTaskDefinition == nil {
		rc.PoolTaskDefinition = job.Template.JobConfiguration.GetObject("task_definition")
	}
	plan, err := Build(cfg, rc)
	var verr *jobconfig.ValidationError
	switch {
	case errors.As(err, &verr):
		// A variable the schema already refused would be reported twice,
		// the second time by the request field it fills, with ECS's values
		// for a fix where the schema's are the ones that count.
		var refused []string
		for _, p := range problems {
			refused = append(refused, p.Field)
		}
		filled := variablePaths(job.Template.JobConfiguration)
		for _, p := range verr.Problems {
			if !sameSpot(refused, p.Field) && !sameSpot(refused, asVariable(filled, p.Field)) {
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
		return out, &jobconfig.ValidationError{Problems: problems}
	}
	return out, nil
}

// variablePaths maps each job configuration path whose whole value is one
// job variable ("launchType": "{{ launch_type }}") to that variable, with
// paths spelt as problems spell them: task_run_request.launchType, a[0].b.
func variablePaths(jobConfiguration *jsonv.Object) map[string]string {
	out := map[string]string{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch t := v.(type) {
		case *jsonv.Object:
			for _, k := range t.Keys() {
				e, _ := t.Get(k)
				if path == "" {
					walk(k, e)
				} else {
					walk(path+"."+k, e)
				}
			}
		case []any:
			for i, e := range t {
				walk(path+"["+strconv.Itoa(i)+"]", e)
			}
		case string:
			ps := templating.FindPlaceholders(t)
			if len(ps) == 1 && ps[0].Kind == templating.Standard && strings.TrimSpace(t) == ps[0].Full {
				root, _, _ := strings.Cut(ps[0].Name, ".")
				out[path] = root
			}
		}
	}
	walk("", jobConfiguration)
	return out
}

// asVariable translates a request field filled by a job variable into
// the variable's own location, as the schema check names it:
// task_run_request.placementStrategy[0].type becomes
// placement_strategy.0.type. It returns "" when no variable fills field.
func asVariable(filled map[string]string, field string) string {
	for f := field; f != ""; {
		if v, ok := filled[f]; ok {
			rest := strings.NewReplacer("[", ".", "]", "").Replace(field[len(f):])
			return v + rest
		}
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			return ""
		}
		f = f[:i]
	}
	return ""
}

// sameSpot tells whether field is one of the refused locations or lies
// inside one: placement_strategy.0.type is refused with placement_strategy.0.
// A problem about a whole variable whose part was refused is another
// mistake (placement on Fargate) and is kept.
func sameSpot(refused []string, field string) bool {
	if field == "" {
		return false
	}
	for _, r := range refused {
		if r == field || strings.HasPrefix(field, r+".") {
			return true
		}
	}
	return false
}
