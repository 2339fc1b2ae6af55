// Package rendercmd holds `ecsworker render`, which shows the ECS requests
// a work pool would send for a flow run, and the choice of the base job
// template that aws-policy and doctor render with too.
package rendercmd

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/ecsworker/ecsworker/internal/buildinfo"
	"github.com/ecsworker/ecsworker/internal/cli/clikit"
	"github.com/ecsworker/ecsworker/internal/ecsjob"
	"github.com/ecsworker/ecsworker/internal/ecsrequest"
	"github.com/ecsworker/ecsworker/internal/jobconfig"
	"github.com/ecsworker/ecsworker/internal/jobtemplate"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectconfig"
	"github.com/ecsworker/ecsworker/internal/redact"
	"github.com/ecsworker/ecsworker/internal/templating"
)

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

// New is `ecsworker render`: the ECS requests of a flow run, rendered
// offline.
func New(stdio clikit.IO, api *clikit.APIFlags) *cobra.Command {
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

--work-pool, --deployment, --flow and --flow-run take a JSON file (- for stdin),
or else a name or id that is read from the Prefect API (PREFECT_API_URL); block
references and {{ prefect.variables.* }} are then resolved through the API too.

Secrets are masked as ******** in the output: values under secret names
(*PASS*, *SECRET*, *TOKEN*, *_KEY, auth strings), URL passwords
(postgres://u:********@host/db), and the Prefect API key, auth string, AWS
keys and block secrets wherever they appear. stderr says where.`,
		Example: `  # What does the default template send for these job variables?
  ecsworker render --job-variables '{"cluster": "my-cluster", "launch_type": "EC2"}'

  # A pool's template, a deployment's variables from a file, and a flow run
  ecsworker render --base-job-template pool.json --job-variables @vars.json --flow-run run.json

  # The rendered job configuration instead of the ECS requests
  ecsworker render --output job-configuration

  # A pool and a deployment as they are in Prefect (PREFECT_API_URL)
  ecsworker render --work-pool my-pool --deployment etl/nightly`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRender(cmd, stdio, api, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.baseJobTemplate, "base-job-template", "", "`FILE` with the work pool's base job template (default: the work pool's, else ecsworker's default template)")
	f.StringVar(&o.jobVariables, "job-variables", "", "job variables as `JSON`, or @FILE (@- for stdin); applied on top of the deployment's and the flow run's")
	f.StringVar(&o.flowRun, "flow-run", "", "flow run: a JSON `FILE`, or an id read from the Prefect API; adds the env, labels, name and command a worker adds")
	f.StringVar(&o.deployment, "deployment", "", "deployment: a JSON `FILE`, or FLOW/DEPLOYMENT or an id read from the Prefect API; its job_variables apply")
	f.StringVar(&o.flow, "flow", "", "flow: a JSON `FILE`, or an id read from the Prefect API (default: the deployment's flow, when read from the API)")
	f.StringVar(&o.workPool, "work-pool", "", "work pool: a JSON `FILE`, or a NAME read from the Prefect API; its name and base job template apply")
	f.StringVarP(&o.output, "output", "o", "aws", "what to print: aws (the ECS requests) or job-configuration")
	f.StringVar(&o.region, "region", "", "AWS `REGION` for the awslogs configuration (default: aws_credentials' region_name, AWS_REGION or AWS_DEFAULT_REGION)")
	f.StringVar(&o.defaultImage, "default-image", clikit.EnvOr("ECSWORKER_DEFAULT_IMAGE", clikit.DefaultImage), "`IMAGE` for jobs that set none (env ECSWORKER_DEFAULT_IMAGE)")
	return cmd
}

func runRender(cmd *cobra.Command, stdio clikit.IO, api *clikit.APIFlags, o renderOptions) error {
	if o.output != "aws" && o.output != "job-configuration" {
		return clikit.Invalid("--output %q: use aws or job-configuration", o.output)
	}
	var fromStdin []string
	for flag, v := range map[string]string{"base-job-template": o.baseJobTemplate, "job-variables": strings.TrimPrefix(o.jobVariables, "@"), "flow-run": o.flowRun, "deployment": o.deployment, "flow": o.flow, "work-pool": o.workPool} {
		if v == "-" {
			fromStdin = append(fromStdin, "--"+flag)
		}
	}
	if len(fromStdin) > 1 {
		sort.Strings(fromStdin)
		return clikit.Invalid("only one input can come from standard input (-), but %s all ask for it", strings.Join(fromStdin, " and "))
	}
	in := &clikit.Inputs{Stdin: stdio.In}
	src := &renderSources{in: in, api: api}
	pool, err := src.workPool(cmd.Context(), o.workPool)
	if err != nil {
		return err
	}
	deployment, err := src.deployment(cmd.Context(), o.deployment)
	if err != nil {
		return err
	}
	flowRun, err := src.flowRun(cmd.Context(), o.flowRun)
	if err != nil {
		return err
	}
	flow, err := src.flow(cmd.Context(), o.flow, cmp.Or(deployment.GetString("flow_id"), flowRun.GetString("flow_id")))
	if err != nil {
		return err
	}
	cliVars, err := in.InlineOrFile("job-variables", o.jobVariables)
	if err != nil {
		return err
	}

	tmpl, source, err := ChooseTemplate(in, o.baseJobTemplate, pool)
	if err != nil {
		return err
	}
	if source != "" {
		fmt.Fprintf(stdio.Err, "note: %s\n", source)
	}

	poolName, poolType := pool.GetString("name"), pool.GetString("type")
	if pool != nil && poolType != "" && poolType != "ecs" {
		return clikit.Invalid("--work-pool: work pool %q has type %q; ecsworker serves work pools of type \"ecs\"", poolName, poolType)
	}

	blocks := &blockSecrets{}
	job := ecsjob.Job{
		Render:              src.renderOptions(blocks),
		Template:            tmpl,
		DeploymentVariables: deployment.GetObject("job_variables"),
		FlowRunVariables:    jobtemplate.MergeJobVariables(flowRun.GetObject("job_variables"), cliVars),
		Context: ecsrequest.RunContext{
			WorkPoolName: poolName,
			DeploymentID: cmp.Or(deployment.GetString("id"), flowRun.GetString("deployment_id")),
			FlowID:       cmp.Or(flowRun.GetString("flow_id"), flow.GetString("id")),
			Region:       cmp.Or(o.region, os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION")),
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
	red := renderRedactor(api, blocks, jobtemplate.MergeJobVariables(job.DeploymentVariables, job.FlowRunVariables), prepared)
	if err != nil {
		var verr *jobconfig.ValidationError
		if errors.As(err, &verr) {
			printWarnings(stdio, red, prepared)
			fmt.Fprintln(stdio.Err, red.String(verr.Error()))
			return &clikit.CodedError{Code: clikit.ExitInvalid, Err: maskedError{red.String(verr.Error()), verr}, Printed: true}
		}
		return &clikit.CodedError{Code: clikit.ExitInvalid, Err: maskedError{red.String(err.Error()), err}}
	}
	printWarnings(stdio, red, prepared)
	for _, u := range prepared.Unresolved {
		// The requests' markers are not in the job configuration; notes
		// about them would send a reader looking for what is not printed.
		if o.output == "job-configuration" && u.Path != "job_configuration" {
			continue
		}
		fmt.Fprintf(stdio.Err, "unresolved: %s: %s\n", u.Path, red.String(u.Reason))
	}

	var out any = prepared.JobConfiguration
	if o.output == "aws" {
		var td any
		if prepared.Plan.TaskDefinition != nil {
			td = prepared.Plan.TaskDefinition
		}
		out = jsonv.ObjectOf("registerTaskDefinition", td, "runTask", prepared.Plan.RunTask)
	}
	masked, where := red.Value(out)
	if len(where) > 0 {
		fmt.Fprintf(stdio.Err, "note: secret values are shown as %s (in %s); the worker sends the real values\n", redact.Mask, strings.Join(where, ", "))
	}
	return clikit.WriteJSON(stdio.Out, masked)
}

// maskedError shows an error's message with its secrets masked and keeps
// the error itself for errors.Is and errors.As.
type maskedError struct {
	msg string
	err error
}

func (e maskedError) Error() string { return e.msg }
func (e maskedError) Unwrap() error { return e.err }

func printWarnings(stdio clikit.IO, red *redact.Redactor, p *ecsjob.Prepared) {
	if p == nil {
		return
	}
	for _, w := range p.Warnings {
		fmt.Fprintf(stdio.Err, "warning: %s\n", red.String(w.String()))
	}
}

// renderRedactor knows every secret the render could print: the Prefect
// API key, auth string and custom header values of the configuration in
// use (flags, environment or profile), the secrets of this process's
// environment (AWS keys among them), the block secrets the render
// resolved, and whatever the job variables and the job configuration hold
// under secret names (an aws_credentials block, a DB_PASS), so that such a
// value is masked also where it appears under an ordinary name, in a
// command line, or in a message on stderr.
func renderRedactor(api *clikit.APIFlags, blocks *blockSecrets, variables *jsonv.Object, prepared *ecsjob.Prepared) *redact.Redactor {
	known := clikit.SecretEnvValues()
	// A broken profile is reported by the commands that need the API; a
	// dry run from files must not fail for it.
	if cfg, err := prefectconfig.LoadConfig(os.LookupEnv, prefectconfig.Config{APIURL: api.APIURL, Profile: api.Profile}); err == nil {
		known = append(known, cfg.APIKey, cfg.AuthString)
		if cfg.AuthString != "" {
			known = append(known, base64.StdEncoding.EncodeToString([]byte(cfg.AuthString)))
		}
		for _, v := range cfg.CustomHeaders {
			known = append(known, v)
		}
	}
	known = append(known, blocks.values()...)
	red := redact.New(known...).With(variables)
	if prepared != nil && prepared.JobConfiguration != nil {
		red = red.With(prepared.JobConfiguration)
	}
	return red
}

// blockSecrets wraps the Prefect resolver to learn the secrets of the
// block documents a render reads. A Secret block is secret whole ({{
// prefect.blocks.secret.NAME }} renders its value under any name); other
// blocks hold theirs under secret field names (aws_secret_access_key,
// password, token).
type blockSecrets struct {
	templating.Resolver
	mu    sync.Mutex
	found []string
}

func (b *blockSecrets) BlockDocument(ctx context.Context, id string) (*jsonv.Object, error) {
	doc, err := b.Resolver.BlockDocument(ctx, id)
	b.learn("", doc)
	return doc, err
}

func (b *blockSecrets) BlockDocumentByName(ctx context.Context, typeSlug, name string) (*jsonv.Object, error) {
	doc, err := b.Resolver.BlockDocumentByName(ctx, typeSlug, name)
	b.learn(typeSlug, doc)
	return doc, err
}

func (b *blockSecrets) learn(typeSlug string, doc *jsonv.Object) {
	if doc == nil {
		return
	}
	var found []string
	// A document read by id has no type here; a Secret block's data is
	// {"value": ...} and nothing else.
	if typeSlug == "secret" || (doc.Len() == 1 && doc.Has("value")) {
		found = stringLeaves(doc, found)
	} else {
		found = redact.SecretsIn(doc)
	}
	b.mu.Lock()
	b.found = append(b.found, found...)
	b.mu.Unlock()
}

func (b *blockSecrets) values() []string {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.found)
}

// stringLeaves appends every string in v, and the JSON text of v's
// objects and arrays, which is how a structured Secret renders into a
// string.
func stringLeaves(v any, out []string) []string {
	switch t := v.(type) {
	case string:
		return append(out, t)
	case *jsonv.Object:
		if b, err := jsonv.Marshal(t); err == nil {
			out = append(out, string(b))
		}
		for _, k := range t.Keys() {
			e, _ := t.Get(k)
			out = stringLeaves(e, out)
		}
	case []any:
		for _, e := range t {
			out = stringLeaves(e, out)
		}
	}
	return out
}

// ChooseTemplate picks the template to render: the file given, else the
// work pool's, else ecsworker's default. The second result says which,
// when it is not the file the user named.
func ChooseTemplate(in *clikit.Inputs, path string, pool *jsonv.Object) (*jobtemplate.Template, string, error) {
	if path != "" {
		b, err := in.Read("base-job-template", path)
		if err != nil {
			return nil, "", err
		}
		t, err := jobtemplate.Parse(b)
		if err != nil {
			return nil, "", clikit.Invalid("--base-job-template %s: %v", path, err)
		}
		return t, "", nil
	}
	if pool == nil {
		return ecsjob.DefaultTemplate(), "rendering ecsworker's default base job template (give --base-job-template or --work-pool to use a pool's)", nil
	}
	if pool.Has("job_configuration") && !pool.Has("base_job_template") {
		return nil, "", clikit.Invalid("--work-pool: the input is a base job template (it has job_configuration), not a work pool; pass the file as --base-job-template FILE")
	}
	which := fmt.Sprintf("work pool %q", pool.GetString("name"))
	if pool.GetString("name") == "" {
		which = "the --work-pool input"
	}
	bjt, present := pool.Get("base_job_template")
	switch t := bjt.(type) {
	case *jsonv.Object:
		if t.Len() > 0 {
			tmpl, err := jobtemplate.FromObject(t)
			if err != nil {
				return nil, "", clikit.Invalid("--work-pool: base_job_template: %v", err)
			}
			return tmpl, "", nil
		}
	case nil:
	default:
		return nil, "", clikit.Invalid("--work-pool: base_job_template is %s %s; it must be a JSON object (the pool as GET /api/work_pools/NAME returns it)", jsonv.TypeName(bjt), briefJSON(bjt))
	}
	// The worker does the same: it installs its default template in a
	// pool whose template is empty and renders the pool's runs with it.
	why := "has an empty base_job_template ({})"
	if !present || bjt == nil {
		why = "has no base_job_template"
	}
	return ecsjob.DefaultTemplate(), fmt.Sprintf("%s %s; rendering ecsworker's default base job template, which the worker "+
		"installs in such a pool and uses (give --base-job-template FILE to render another)", which, why), nil
}

// briefJSON shows a short JSON value in a message.
func briefJSON(v any) string {
	b, err := jsonv.Marshal(v)
	if err != nil {
		return "?"
	}
	if len(b) > 40 {
		return string(b[:37]) + "..."
	}
	return string(b)
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

// renderSources reads render's inputs from files or, for names and ids,
// from the Prefect API, creating the client only when one is needed.
type renderSources struct {
	in     *clikit.Inputs
	api    *clikit.APIFlags
	client *prefect.Client
}

// isFileArg tells a file argument from a name or id: "-", an existing
// path, or anything ending in .json.
func isFileArg(v string) bool {
	if v == "-" || strings.HasSuffix(strings.ToLower(v), ".json") {
		return true
	}
	_, err := os.Stat(v)
	return err == nil
}

func (s *renderSources) prefect() (*prefect.Client, error) {
	if s.client == nil {
		c, err := s.api.Client()
		if err != nil {
			return nil, err
		}
		s.client = c
	}
	return s.client, nil
}

// renderOptions resolves block references through the API when a client
// exists, with blocks learning the secrets read.
func (s *renderSources) renderOptions(blocks *blockSecrets) jobtemplate.RenderOptions {
	if s.client == nil {
		return jobtemplate.RenderOptions{}
	}
	blocks.Resolver = s.client.TemplateResolver()
	return jobtemplate.RenderOptions{Resolver: blocks}
}

func (s *renderSources) workPool(ctx context.Context, v string) (*jsonv.Object, error) {
	if v == "" || isFileArg(v) {
		return s.in.Object("work-pool", v)
	}
	c, err := s.prefect()
	if err != nil {
		return nil, err
	}
	pool, err := clikit.ReadECSPool(ctx, c, v)
	if err != nil {
		return nil, err
	}
	return pool.Raw, nil
}

func (s *renderSources) deployment(ctx context.Context, v string) (*jsonv.Object, error) {
	if v == "" || isFileArg(v) {
		return s.in.Object("deployment", v)
	}
	c, err := s.prefect()
	if err != nil {
		return nil, err
	}
	d, err := clikit.ReadDeployment(ctx, c, v, "FLOW_NAME/DEPLOYMENT_NAME, the deployment's id, or a JSON file")
	if err != nil {
		return nil, err
	}
	return d.Raw, nil
}

func (s *renderSources) flowRun(ctx context.Context, v string) (*jsonv.Object, error) {
	if v == "" || isFileArg(v) {
		return s.in.Object("flow-run", v)
	}
	if !clikit.IsUUID(v) {
		return nil, clikit.Invalid("--flow-run %q: give the flow run's id or a JSON file", v)
	}
	c, err := s.prefect()
	if err != nil {
		return nil, err
	}
	r, err := c.ReadFlowRun(ctx, v)
	if err != nil {
		return nil, err
	}
	return r.Raw, nil
}

// flow reads the flow given, or else the deployment's or run's flow when
// those came from the API (a file-based dry run stays offline).
func (s *renderSources) flow(ctx context.Context, v, flowID string) (*jsonv.Object, error) {
	if v != "" && isFileArg(v) {
		return s.in.Object("flow", v)
	}
	if v == "" {
		if s.client == nil || flowID == "" {
			return nil, nil
		}
		v = flowID
	}
	c, err := s.prefect()
	if err != nil {
		return nil, err
	}
	f, err := c.ReadFlow(ctx, v)
	if err != nil {
		return nil, err
	}
	return f.Raw, nil
}
