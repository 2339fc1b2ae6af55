package cli

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ecsworker/ecsworker/internal/buildinfo"
	"github.com/ecsworker/ecsworker/internal/ecsjob"
	"github.com/ecsworker/ecsworker/internal/jobtemplate"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/redact"
)

// DefaultImage runs flows whose job names no image. Prefect publishes it
// for every Prefect 3 release.
const DefaultImage = "prefecthq/prefect:3-latest"

type renderOptions struct {
	baseJobTemplate string
	jobVariables    string
	flowRun         string
	deployment      string
	flow            string
	workPool        string
	output          string
	region          string
	defaultImage    string
}

func newRenderCmd(stdio IO, api *apiFlags) *cobra.Command {
	o := renderOptions{}
	cmd := &cobra.Command{
		Use:   "render",
		Short: "Show the ECS requests a work pool would send for a flow run, without calling AWS",
		Long: `Render a work pool's base job template with job variables, the way the worker
does, and print the ECS requests it would send: RegisterTaskDefinition (null when
an existing task definition ARN is used) and RunTask, with the field names of the
ECS API. Nothing is sent anywhere.

Values that only AWS can supply (the ARN of a task definition still to be
registered, subnets found from a VPC) are shown as "<unresolved: ...>" and
explained on stderr. An invalid configuration prints every problem on stderr,
nothing on stdout, and exits with code 2.

Secrets (API keys, auth strings, AWS keys) are masked in the output.`,
		Example: `  # What does the default template send for these job variables?
  ecsworker render --job-variables '{"cluster": "my-cluster", "launch_type": "EC2"}'

  # A pool's template, a deployment's variables from a file, and a flow run
  ecsworker render --base-job-template pool.json --job-variables @vars.json --flow-run run.json

  # The rendered job configuration instead of the ECS requests
  ecsworker render --output job-configuration`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRender(cmd, stdio, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.baseJobTemplate, "base-job-template", "", "`FILE` with the work pool's base job template (default: the work pool's, else ecsworker's default template)")
	f.StringVar(&o.jobVariables, "job-variables", "", "job variables as `JSON`, or @FILE (@- for stdin); applied on top of the deployment's and the flow run's")
	f.StringVar(&o.flowRun, "flow-run", "", "`FILE` with a Prefect flow run (JSON); adds the env, labels, name and command a worker adds")
	f.StringVar(&o.deployment, "deployment", "", "`FILE` with a Prefect deployment (JSON); its job_variables apply")
	f.StringVar(&o.flow, "flow", "", "`FILE` with a Prefect flow (JSON)")
	f.StringVar(&o.workPool, "work-pool", "", "`FILE` with a Prefect work pool (JSON); its name and base job template apply")
	f.StringVarP(&o.output, "output", "o", "aws", "what to print: aws (the ECS requests) or job-configuration")
	f.StringVar(&o.region, "region", "", "AWS `REGION` for the awslogs configuration (default: aws_credentials' region_name, AWS_REGION or AWS_DEFAULT_REGION)")
	f.StringVar(&o.defaultImage, "default-image", envOr("ECSWORKER_DEFAULT_IMAGE", DefaultImage), "`IMAGE` for jobs that set none (env ECSWORKER_DEFAULT_IMAGE)")
	return cmd
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func runRender(cmd *cobra.Command, stdio IO, o renderOptions) error {
	if o.output != "aws" && o.output != "job-configuration" {
		return invalid("--output %q: use aws or job-configuration", o.output)
	}
	var fromStdin []string
	for flag, v := range map[string]string{"base-job-template": o.baseJobTemplate, "job-variables": strings.TrimPrefix(o.jobVariables, "@"), "flow-run": o.flowRun, "deployment": o.deployment, "flow": o.flow, "work-pool": o.workPool} {
		if v == "-" {
			fromStdin = append(fromStdin, "--"+flag)
		}
	}
	if len(fromStdin) > 1 {
		sort.Strings(fromStdin)
		return invalid("only one input can come from standard input (-), but %s all ask for it", strings.Join(fromStdin, " and "))
	}
	in := &inputs{stdin: stdio.In}
	pool, err := in.object("work-pool", o.workPool)
	if err != nil {
		return err
	}
	deployment, err := in.object("deployment", o.deployment)
	if err != nil {
		return err
	}
	flowRun, err := in.object("flow-run", o.flowRun)
	if err != nil {
		return err
	}
	flow, err := in.object("flow", o.flow)
	if err != nil {
		return err
	}
	cliVars, err := in.inlineOrFile("job-variables", o.jobVariables)
	if err != nil {
		return err
	}

	tmpl, source, err := chooseTemplate(in, o.baseJobTemplate, pool)
	if err != nil {
		return err
	}
	if source != "" {
		fmt.Fprintf(stdio.Err, "note: %s\n", source)
	}

	poolName, poolType := pool.GetString("name"), pool.GetString("type")
	if pool != nil && poolType != "" && poolType != "ecs" {
		return invalid("--work-pool: work pool %q has type %q; ecsworker serves work pools of type \"ecs\"", poolName, poolType)
	}

	job := ecsjob.Job{
		Template:            tmpl,
		DeploymentVariables: objectOrNil(deployment.GetObject("job_variables")),
		FlowRunVariables:    jobtemplate.MergeJobVariables(objectOrNil(flowRun.GetObject("job_variables")), cliVars),
		Context: ecsjob.Context{
			WorkPoolName: poolName,
			DeploymentID: firstString(deployment.GetString("id"), flowRun.GetString("deployment_id")),
			FlowID:       firstString(flowRun.GetString("flow_id"), flow.GetString("id")),
			Region:       firstString(o.region, os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION")),
			DefaultImage: o.defaultImage,
		},
	}
	if flowRun != nil {
		job.FlowRun = &jobtemplate.FlowRunContext{
			FlowRun:    flowRun,
			Deployment: deployment,
			Flow:       flow,
			WorkPool:   pool,
			BaseEnv:    prefectEnv(),
			Version:    buildinfo.String(),
		}
	}

	prepared, err := ecsjob.Prepare(cmd.Context(), job)
	if err != nil {
		var verr *ecsjob.ValidationError
		if errors.As(err, &verr) {
			printWarnings(stdio, prepared)
			fmt.Fprintln(stdio.Err, redact.String(verr.Error(), secretEnvValues()...))
			return &codedError{code: exitInvalid, err: verr, printed: true}
		}
		return &codedError{code: exitInvalid, err: err}
	}
	printWarnings(stdio, prepared)
	for _, u := range prepared.Unresolved {
		fmt.Fprintf(stdio.Err, "unresolved: %s: %s\n", u.Path, u.Reason)
	}

	if o.output == "job-configuration" {
		return writeJSON(stdio.Out, redact.Value(prepared.JobConfiguration))
	}
	var td any
	if prepared.Plan.TaskDefinition != nil {
		td = prepared.Plan.TaskDefinition
	}
	out := jsonv.ObjectOf("registerTaskDefinition", td, "runTask", prepared.Plan.RunTask)
	return writeJSON(stdio.Out, redact.Value(out))
}

func printWarnings(stdio IO, p *ecsjob.Prepared) {
	if p == nil {
		return
	}
	for _, w := range p.Warnings {
		fmt.Fprintf(stdio.Err, "warning: %s\n", redact.String(w.String(), secretEnvValues()...))
	}
}

// chooseTemplate picks the template to render: the file given, else the
// work pool's, else ecsworker's default. The second result says which,
// when it is not the file the user named.
func chooseTemplate(in *inputs, path string, pool *jsonv.Object) (*jobtemplate.Template, string, error) {
	if path != "" {
		b, err := in.read("base-job-template", path)
		if err != nil {
			return nil, "", err
		}
		t, err := jobtemplate.Parse(b)
		if err != nil {
			return nil, "", invalid("--base-job-template %s: %v", path, err)
		}
		return t, "", nil
	}
	if bjt := pool.GetObject("base_job_template"); bjt != nil && bjt.Len() > 0 {
		t, err := jobtemplate.FromObject(bjt)
		if err != nil {
			return nil, "", invalid("--work-pool: base_job_template: %v", err)
		}
		return t, "", nil
	}
	return ecsjob.DefaultTemplate(), "rendering ecsworker's default base job template (give --base-job-template or --work-pool to use a pool's)", nil
}

func objectOrNil(o *jsonv.Object) *jsonv.Object { return o }

func firstString(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// prefectEnv is the Prefect configuration set in this process, which a
// worker passes on to its flow runs: every PREFECT_* variable, in name order.
func prefectEnv() *jsonv.Object {
	env := jsonv.NewObject()
	var names []string
	values := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PREFECT_") && !strings.HasPrefix(k, "PREFECT__") {
			names = append(names, k)
			values[k] = v
		}
	}
	sort.Strings(names)
	for _, k := range names {
		env.Set(k, values[k])
	}
	return env
}

// secretEnvValues are the secret values of this process's environment,
// masked wherever they might be echoed back in a message.
func secretEnvValues() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if redact.SensitiveName(k) && v != "" {
			out = append(out, v)
		}
	}
	return out
}
