// Package startscmd holds `ecsworker starts`, which reads back the start
// records the worker leaves on flow runs (package startphase) and shows,
// per deployment, where a run's first minute goes and how to win it back.
// The figures and the advice are package startstats'; this package reads
// Prefect and ECR and prints.
package startscmd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ecsworker/ecsworker/internal/cli/clikit"
	"github.com/ecsworker/ecsworker/internal/cli/rendercmd"
	"github.com/ecsworker/ecsworker/internal/jobtemplate"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectdeploy"
	"github.com/ecsworker/ecsworker/internal/startstats"
)

type options struct {
	pool, since, deployment string
	asJSON                  bool
	aws                     clikit.AWSFlags
	defaultImage            string
}

// now is the command's clock; tests replace it.
var now = time.Now

// New is `ecsworker starts`.
func New(stdio clikit.IO, api *clikit.APIFlags) *cobra.Command {
	o := options{}
	cmd := &cobra.Command{
		Use:   "starts",
		Short: "Show where flow runs' start time goes, per deployment and phase, and how to shorten it",
		Long: `Read the start records the worker leaves on flow runs (the ecsworker.start.*
labels) for the runs of a work pool expected to start within --since, and print per
deployment the p50 and p95 of each phase of the start:

  queueing         scheduled time to the worker's RunTask
  provisioning     ECS finding capacity and starting the task (createdAt to pullStartedAt)
  image pull       pullStartedAt to pullStoppedAt
  container start  pullStoppedAt to the task's startedAt
  flow start       startedAt to the run entering Running in Prefect

with the capacity the runs ran on and the runs without a record (started by a worker
that does not record starts, or not started yet). When one phase is at least 40 %
of a deployment's typical start (the sum of the phases' p50s) and at least 10 s, one
piece of advice says how to shorten it, naming the command or variable to use.

The size of each deployment's image is looked up in ECR (ecr:DescribeImages) with
the AWS credentials of the environment or --aws-profile. AWS is optional: without
credentials, or when the lookup is refused, the timings are printed all the same
and the output says why the sizes are missing. Percentiles are nearest-rank.`,
		Example: `  # The last 24 hours of a pool
  ecsworker starts --pool my-pool

  # One deployment over a week, as JSON
  ecsworker starts --pool my-pool --deployment etl/nightly --since 7d --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), stdio, api, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.pool, "pool", "", "work pool `NAME` (required)")
	f.StringVar(&o.since, "since", "24h", "how far back to read runs, by expected start time: a `DURATION` such as 90m, 24h or 7d")
	f.StringVar(&o.deployment, "deployment", "", "only this deployment, as FLOW/DEPLOYMENT or its id")
	f.BoolVar(&o.asJSON, "json", false, "print the summary as one JSON object")
	f.StringVar(&o.defaultImage, "default-image", clikit.EnvOr("ECSWORKER_DEFAULT_IMAGE", clikit.DefaultImage), "`IMAGE` of jobs that set none, as the worker's --default-image (env ECSWORKER_DEFAULT_IMAGE)")
	o.aws.Register(f)
	f.Lookup("region").Usage = "AWS `REGION` the pool's tasks run in, compared with the image's ECR region (default: AWS_REGION, AWS_DEFAULT_REGION)"
	return cmd
}

// ParseSince reads --since: a Go duration (90m, 24h, 1h30m) or a whole
// number of days (7d), positive.
func ParseSince(s string) (time.Duration, error) {
	bad := func(why string) error {
		return clikit.Invalid("--since %q: %s; give a duration such as 90m, 24h or 7d (Go durations, plus d for days)", s, why)
	}
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return 0, bad("not a whole number of days")
		}
		if days > 3650 {
			return 0, bad("more than 10 years")
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		v, err := time.ParseDuration(s)
		if err != nil {
			return 0, bad("not a duration")
		}
		d = v
	}
	if d <= 0 {
		return 0, bad("it must be positive")
	}
	return d, nil
}

func run(ctx context.Context, stdio clikit.IO, api *clikit.APIFlags, o options) error {
	if o.pool == "" {
		return clikit.Invalid("--pool is required: give the name of the work pool whose runs to read")
	}
	since, err := ParseSince(o.since)
	if err != nil {
		return err
	}
	if err := o.aws.Check(); err != nil {
		return err
	}
	c, err := api.Client()
	if err != nil {
		return err
	}
	pool, err := clikit.ReadECSPool(ctx, c, o.pool)
	if err != nil {
		return err
	}
	tmpl, _, err := rendercmd.ChooseTemplate(&clikit.Inputs{Stdin: stdio.In}, "", pool.Raw)
	if err != nil {
		return err
	}
	deps, err := newDeployments(ctx, c, o.pool)
	if err != nil {
		return err
	}
	filter := prefect.FlowRunFilter{WorkPoolNames: []string{o.pool}, ExpectedStartAfter: now().Add(-since), Sort: "EXPECTED_START_TIME_ASC"}
	if o.deployment != "" {
		d, err := deps.resolve(ctx, o.deployment, o.pool)
		if err != nil {
			return err
		}
		filter.DeploymentIDs = []string{d.ID}
	}

	var sum startstats.Summary
	runs := 0
	err = c.EachFlowRunPage(ctx, filter, func(page []prefect.FlowRun) error {
		for _, r := range page {
			name, err := deps.name(ctx, r.DeploymentID)
			if err != nil {
				return err
			}
			sum.Add(r.DeploymentID, name, startstats.ReadRun(r.ID, r.Name, labelMap(r.Labels), r.StartTime.Time))
			runs++
		}
		return nil
	})
	if err != nil {
		return err
	}

	rep := report{pool: o.pool, since: o.since, from: filter.ExpectedStartAfter, runs: runs, deployments: sum.Deployments()}
	region := cmp.Or(o.aws.Region, os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION"))
	images := newImageLookup(o.aws.Profile)
	for i := range rep.deployments {
		d := &rep.deployments[i]
		dep := deps.byID[d.Key]
		hints := hintsOf(dep, tmpl, o.defaultImage)
		hints.Region = region
		e := entry{Deployment: *d}
		if dep != nil {
			img := images.lookup(ctx, hints.Image)
			hints.ImageRegion, hints.ImageBytes = img.region, img.SizeBytes
			e.image = &img
		}
		e.advice = startstats.Advice(*d, hints)
		rep.entries = append(rep.entries, e)
	}
	rep.imagesSkipped = images.skipped
	if o.asJSON {
		return writeJSON(stdio.Out, rep)
	}
	return writeText(stdio.Out, rep)
}

// labelMap turns a run's labels into what startphase.FromLabels reads:
// JSON numbers as float64.
func labelMap(o *jsonv.Object) map[string]any {
	if o == nil {
		return nil
	}
	m := make(map[string]any, o.Len())
	for _, k := range o.Keys() {
		v, _ := o.Get(k)
		if n, ok := v.(interface{ Float64() (float64, error) }); ok {
			f, err := n.Float64()
			if err == nil {
				v = f
			}
		}
		m[k] = v
	}
	return m
}

// deployments names the pool's deployments FLOW/DEPLOYMENT, reading flows
// once each, and the deployments of runs that are not the pool's (moved,
// or deleted) as they come.
type deployments struct {
	c     *prefect.Client
	byID  map[string]*prefectdeploy.Deployment
	names map[string]string // deployment id: FLOW/DEPLOYMENT
	flows map[string]string // flow id: name
}

func newDeployments(ctx context.Context, c *prefect.Client, pool string) (*deployments, error) {
	list, err := c.ListDeployments(ctx, prefectdeploy.DeploymentFilter{WorkPools: []string{pool}})
	if err != nil {
		return nil, err
	}
	d := &deployments{c: c, byID: map[string]*prefectdeploy.Deployment{}, names: map[string]string{}, flows: map[string]string{}}
	for i := range list {
		dep := &list[i]
		flow, err := d.flowName(ctx, dep.FlowID)
		if err != nil {
			return nil, err
		}
		d.byID[dep.ID] = dep
		d.names[dep.ID] = flow + "/" + dep.Name
	}
	return d, nil
}

func (d *deployments) flowName(ctx context.Context, id string) (string, error) {
	if n, ok := d.flows[id]; ok {
		return n, nil
	}
	f, err := d.c.ReadFlow(ctx, id)
	if errors.Is(err, prefect.ErrNotFound) {
		d.flows[id] = "(deleted flow)"
		return d.flows[id], nil
	}
	if err != nil {
		return "", err
	}
	d.flows[id] = f.Name
	return f.Name, nil
}

// name is how a run's deployment is shown.
func (d *deployments) name(ctx context.Context, id string) (string, error) {
	if id == "" {
		return "(no deployment)", nil
	}
	if n, ok := d.names[id]; ok {
		return n, nil
	}
	dep, err := d.c.ReadDeployment(ctx, id)
	switch {
	case errors.Is(err, prefect.ErrNotFound):
		d.names[id] = "(deleted deployment " + id + ")"
	case err != nil:
		return "", err
	default:
		flow, err := d.flowName(ctx, dep.FlowID)
		if err != nil {
			return "", err
		}
		d.names[id] = flow + "/" + dep.Name
	}
	return d.names[id], nil
}

// resolve finds the deployment --deployment names among the pool's.
func (d *deployments) resolve(ctx context.Context, v, pool string) (*prefectdeploy.Deployment, error) {
	flowName, depName, byName := strings.Cut(v, "/")
	if !byName && !clikit.IsUUID(v) {
		return nil, clikit.Invalid("--deployment %q: give FLOW_NAME/DEPLOYMENT_NAME or the deployment's id", v)
	}
	var labels []string
	for id, name := range d.names {
		if name == v || id == v {
			return d.byID[id], nil
		}
		labels = append(labels, name)
	}
	// It may exist in another pool: say so rather than "not found".
	var other *prefectdeploy.Deployment
	var err error
	if byName {
		other, err = d.c.ReadDeploymentByName(ctx, flowName, depName)
	} else {
		other, err = d.c.ReadDeployment(ctx, v)
	}
	if err == nil && other.WorkPoolName != pool {
		return nil, clikit.Invalid("--deployment %q: it runs in work pool %q, not %q; give --pool %s, or a deployment of %s", v, other.WorkPoolName, pool, other.WorkPoolName, pool)
	}
	if err != nil && !errors.Is(err, prefect.ErrNotFound) {
		return nil, err
	}
	msg := fmt.Sprintf("deployment %q not found in work pool %q", v, pool)
	if near := nearNames(v, labels, 5); len(near) > 0 {
		msg += "; near names: " + strings.Join(near, ", ")
	} else if len(labels) == 0 {
		msg += ", which has no deployments"
	}
	return nil, &clikit.CodedError{Code: clikit.ExitError, Err: errors.New(msg + " (names are FLOW_NAME/DEPLOYMENT_NAME, as 'prefect deployment ls' shows them)")}
}

// nearNames are the at most n names closest to v by edit distance, closest
// first, among those within half of v's length.
func nearNames(v string, names []string, n int) []string {
	type scored struct {
		name string
		d    int
	}
	var s []scored
	for _, name := range names {
		if d := editDistance(strings.ToLower(v), strings.ToLower(name)); d <= max(3, len(v)/2) {
			s = append(s, scored{name, d})
		}
	}
	slices.SortFunc(s, func(a, b scored) int { return cmp.Or(a.d-b.d, cmp.Compare(a.name, b.name)) })
	var out []string
	for _, e := range s[:min(n, len(s))] {
		out = append(out, e.name)
	}
	return out
}

// editDistance is the Levenshtein distance of a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, sub)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// hintsOf reads what a deployment does that the advice can name: its
// image (job variables, else the pool template's default, else the
// worker's default image), EXTRA_PIP_PACKAGES in its env, and pip or git
// in its pull steps. Flow runs can override the image when created; the
// deployment's is the one shown.
func hintsOf(d *prefectdeploy.Deployment, tmpl *jobtemplate.Template, defaultImage string) startstats.Hints {
	var h startstats.Hints
	if d == nil {
		return h
	}
	defaults := tmpl.Defaults()
	h.Image = cmp.Or(d.JobVariables.GetString("image"), defaults.GetString("image"), defaultImage)
	env := d.JobVariables.GetObject("env")
	if env == nil {
		env = defaults.GetObject("env")
	}
	h.ExtraPipPackages = env.Has("EXTRA_PIP_PACKAGES")
	if len(d.PullSteps) > 0 {
		b, _ := jsonv.Marshal(d.PullSteps)
		steps := string(b)
		h.PipInPullSteps = strings.Contains(steps, "pip install") || strings.Contains(steps, "pip_install_requirements")
		h.GitClone = strings.Contains(steps, "git_clone")
	}
	return h
}
