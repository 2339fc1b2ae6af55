package poolcmd

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ecsworker/ecsworker/internal/cli/clikit"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/lazyregexp"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectdeploy"
	"github.com/ecsworker/ecsworker/internal/pycompat"
)

// NewDeployment is `ecsworker deployment`: flow runs of deployments.
func NewDeployment(stdio clikit.IO, api *clikit.APIFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "deployment",
		Aliases: []string{"deployments"},
		Short:   "Schedule flow runs of deployments",
		Long: `Work with Prefect deployments the way 'prefect deployment' does, without Python:
'deployment run' schedules a flow run of a deployment.`,
	}
	run := newDeploymentRunCmd(stdio, api)
	api.Register(run)
	cmd.AddCommand(run)
	return cmd
}

// deploymentRunFlags are the flags of 'deployment run', named as in
// 'prefect deployment run'.
type deploymentRunFlags struct {
	id           string
	params       []string
	multiParams  string
	jobVariables []string
	startIn      string
	startAt      string
	tags         []string
	name         string
	asJSON       bool
}

func newDeploymentRunCmd(stdio clikit.IO, api *clikit.APIFlags) *cobra.Command {
	var f deploymentRunFlags
	cmd := &cobra.Command{
		Use:   "run [FLOW_NAME/DEPLOYMENT_NAME]",
		Short: "Schedule a flow run of a deployment",
		Long: `Create a flow run of a deployment, as 'prefect deployment run' does: Scheduled to
start now, or at --start-in/--start-at. A worker of the deployment's work pool
runs it (for an ecs pool, 'ecsworker worker start --pool POOL').

Values of --param and --job-variable are JSON; a value that is not JSON and has
no double quote is taken as a string, so --param name=Marvin works. Parameters
the deployment does not declare are refused, as by Prefect's CLI. Job variables
are checked by the Prefect server against the pool's variables, and the worker
lays them over the deployment's (env key by key, other variables replaced whole);
one the pool's base job template does not define has no effect, and is reported
on stderr.

The run's name and id are printed on stdout ("Name:" and "ID:" lines), or the
flow run as the API returned it with --json.`,
		Example: `  ecsworker deployment run etl/nightly
  ecsworker deployment run etl/nightly --param day=2026-05-01 --param 'tables=["a", "b"]'
  ecsworker deployment run etl/nightly --job-variable cpu=2048 --job-variable 'env={"LOG_LEVEL": "DEBUG"}'
  ecsworker deployment run etl/nightly --start-in 10m --json
  ecsworker deployment run sandbox-flow/demo --job-variable image=sandbox/demo-flow:oom   # in a --keep-running sandbox`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			return runDeployment(cmd.Context(), stdio, api, name, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.id, "id", "", "the deployment's `ID`, instead of FLOW_NAME/DEPLOYMENT_NAME")
	fl.StringArrayVarP(&f.params, "param", "p", nil, "a flow parameter, `KEY=VALUE` with VALUE as JSON (repeatable)")
	fl.StringVar(&f.multiParams, "params", "", "flow parameters as a JSON object (`JSON`, @FILE, or - for stdin); --param values win")
	fl.StringArrayVar(&f.jobVariables, "job-variable", nil, "a job variable for this run, `KEY=VALUE` with VALUE as JSON (repeatable)")
	fl.StringVar(&f.startIn, "start-in", "", "schedule the run this long from now: a `DURATION` such as 90s, 10m, 1h30m, \"5 minutes\" or \"2 days\"")
	fl.StringVar(&f.startAt, "start-at", "", "schedule the run at this `TIME`: RFC 3339, \"YYYY-MM-DD HH:MM[:SS]\" (local time), or HH:MM / 5:30pm (the next such time)")
	fl.StringArrayVar(&f.tags, "tag", nil, "a `TAG` for the flow run (repeatable)")
	fl.StringVar(&f.name, "flow-run-name", "", "the run's `NAME` (default: the server's); {PARAMETER} is replaced by the parameter's value")
	fl.BoolVar(&f.asJSON, "json", false, "print the flow run as the API returns it")
	return cmd
}

func runDeployment(ctx context.Context, stdio clikit.IO, api *clikit.APIFlags, name string, f deploymentRunFlags) error {
	switch {
	case name == "" && f.id == "":
		return clikit.Invalid("give the deployment as FLOW_NAME/DEPLOYMENT_NAME, or its id with --id")
	case name != "" && f.id != "":
		return clikit.Invalid("give the deployment as FLOW_NAME/DEPLOYMENT_NAME or --id, not both")
	case f.id != "" && !clikit.IsUUID(f.id):
		return clikit.Invalid("--id %q: a deployment id is a UUID; give a name as FLOW_NAME/DEPLOYMENT_NAME, without --id", f.id)
	case name != "" && !strings.Contains(name, "/"):
		return clikit.Invalid("deployment %q: expected FLOW_NAME/DEPLOYMENT_NAME (as 'prefect deployment ls' shows them), or the deployment's id with --id", name)
	}
	params, err := runParameters(stdio, f)
	if err != nil {
		return err
	}
	jobVars, err := keyValues("job-variable", f.jobVariables)
	if err != nil {
		return err
	}
	now := time.Now()
	start, err := startTime(now, f.startIn, f.startAt)
	if err != nil {
		return err
	}

	c, err := api.Client()
	if err != nil {
		return err
	}
	d, label, err := readRunDeployment(ctx, c, name, f.id)
	if err != nil {
		return err
	}
	if err := checkParameters(d, params); err != nil {
		return err
	}
	runName := f.name
	if runName != "" {
		all := jsonv.CloneObject(d.Parameters)
		if all == nil {
			all = jsonv.NewObject()
		}
		for _, k := range params.Keys() {
			v, _ := params.Get(k)
			all.Set(k, v)
		}
		if runName, err = formatRunName(runName, all); err != nil {
			return err
		}
	}
	if jobVars.Len() > 0 {
		warnUndefinedJobVariables(ctx, stdio, c, d, jobVars)
	}

	req := prefect.DeploymentFlowRunCreate{Name: runName, Tags: f.tags,
		State: &prefect.StateCreate{Type: prefect.StateScheduled, Name: "Scheduled", ScheduledTime: start},
		// The client retries a POST whose answer was lost; with a key the
		// server hands back the run it made instead of making a second.
		IdempotencyKey: "ecsworker-deployment-run-" + rand.Text()}
	if params.Len() > 0 {
		req.Parameters = params
	}
	if jobVars.Len() > 0 {
		req.JobVariables = jobVars
	}
	run, err := c.CreateFlowRunFromDeployment(ctx, d.ID, req)
	switch {
	case errors.Is(err, prefect.ErrNotFound):
		return &clikit.CodedError{Code: clikit.ExitError, Err: fmt.Errorf("deployment %s was deleted before its flow run could be created", label)}
	case err != nil:
		return err
	}
	fmt.Fprintf(stdio.Err, "Created flow run %q of deployment %s.\n", run.Name, label)
	if f.asJSON {
		return clikit.WriteJSON(stdio.Out, run.Raw)
	}
	return printCreatedRun(stdio, c, run, label, d.WorkPoolName, start, now)
}

// readRunDeployment reads the deployment by name or id and returns it with
// the FLOW_NAME/DEPLOYMENT_NAME to show.
func readRunDeployment(ctx context.Context, c *prefect.Client, name, id string) (*prefectdeploy.Deployment, string, error) {
	var d *prefectdeploy.Deployment
	var err error
	if name != "" {
		flowName, depName, _ := strings.Cut(name, "/")
		d, err = c.ReadDeploymentByName(ctx, flowName, depName)
	} else {
		d, err = c.ReadDeployment(ctx, id)
	}
	if errors.Is(err, prefect.ErrNotFound) {
		what := name
		if what == "" {
			what = id
		}
		return nil, "", &clikit.CodedError{Code: clikit.ExitError, Err: fmt.Errorf("deployment %q not found (names are FLOW_NAME/DEPLOYMENT_NAME, as 'prefect deployment ls' shows them)", what)}
	}
	if err != nil {
		return nil, "", err
	}
	if name != "" {
		return d, strconv.Quote(name), nil
	}
	flow, err := c.ReadFlow(ctx, d.FlowID)
	if err != nil {
		return nil, "", err
	}
	return d, strconv.Quote(flow.Name + "/" + d.Name), nil
}

// runParameters merges --params and --param, the latter winning.
func runParameters(stdio clikit.IO, f deploymentRunFlags) (*jsonv.Object, error) {
	in := &clikit.Inputs{Stdin: stdio.In}
	spec := f.multiParams
	if spec == "-" {
		spec = "@-"
	}
	multi, err := in.InlineOrFile("params", spec)
	if err != nil {
		return nil, err
	}
	single, err := keyValues("param", f.params)
	if err != nil {
		return nil, err
	}
	if multi == nil {
		return single, nil
	}
	var both []string
	for _, k := range single.Keys() {
		if multi.Has(k) {
			both = append(both, k)
		}
		v, _ := single.Get(k)
		multi.Set(k, v)
	}
	if len(both) > 0 {
		fmt.Fprintf(stdio.Err, "Given by both --param and --params, the --param value is used: %s\n", strings.Join(both, ", "))
	}
	return multi, nil
}

// keyValues parses KEY=VALUE flags. VALUE is JSON; like Prefect's CLI, a
// value that is not JSON and has no double quote is taken as a string, so
// that nobody has to quote plain words for the shell twice. Unlike it, a
// value that starts like a JSON object or array must be valid JSON: a
// broken object is a typo, not a string.
func keyValues(flag string, specs []string) (*jsonv.Object, error) {
	out := jsonv.NewObject()
	for _, spec := range specs {
		key, value, ok := strings.Cut(spec, "=")
		if !ok || key == "" {
			return nil, clikit.Invalid("--%s %q: expected KEY=VALUE", flag, spec)
		}
		v, err := jsonv.Decode([]byte(value))
		if err != nil {
			trimmed := strings.TrimSpace(value)
			if strings.Contains(value, `"`) || strings.HasPrefix(trimmed, "{") || strings.HasPrefix(trimmed, "[") {
				return nil, clikit.Invalid("--%s %s: the value is not valid JSON: %v (quote strings for the shell too, e.g. %s='\"text\"')", flag, key, err, key)
			}
			v = value
		}
		out.Set(key, v)
	}
	return out, nil
}

// startTime is when the run is scheduled: now, or as --start-in or
// --start-at say.
func startTime(now time.Time, startIn, startAt string) (time.Time, error) {
	switch {
	case startIn != "" && startAt != "":
		return time.Time{}, clikit.Invalid("give --start-in or --start-at, not both")
	case startIn != "":
		d, err := parseStartIn(startIn)
		if err != nil {
			return time.Time{}, clikit.Invalid("--start-in %q: %v", startIn, err)
		}
		return now.Add(d), nil
	case startAt != "":
		t, err := parseStartAt(startAt, now)
		if err != nil {
			return time.Time{}, clikit.Invalid("--start-at %q: %v", startAt, err)
		}
		return t, nil
	}
	return now, nil
}

var durationUnits = map[string]time.Duration{
	"s": time.Second, "sec": time.Second, "secs": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hrs": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
	"w": 7 * 24 * time.Hour, "week": 7 * 24 * time.Hour, "weeks": 7 * 24 * time.Hour,
}

var durationPart = lazyregexp.New(`^(\d+(?:\.\d+)?)\s*([a-z]+)$`)

// parseStartIn reads a Go duration (90s, 1h30m) or the phrases Prefect's
// CLI users type ("5 minutes", "in 1 hour", "2 days 3 hours").
func parseStartIn(s string) (time.Duration, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimSpace(strings.TrimPrefix(s, "in "))
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return 0, errors.New("the start must not be in the past")
		}
		return d, nil
	}
	// Pair numbers with units: "2 days 3 hours", "2days, 3h", "1 hour and 30 minutes".
	words := strings.Fields(strings.NewReplacer(",", " ", " and ", " ").Replace(s))
	var total time.Duration
	for i := 0; i < len(words); i++ {
		part := words[i]
		if i+1 < len(words) && durationPart().MatchString(part+words[i+1]) && !durationPart().MatchString(part) {
			part += words[i+1]
			i++
		}
		m := durationPart().FindStringSubmatch(part)
		if m == nil {
			return 0, errors.New("write a duration such as 90s, 10m, 1h30m, \"5 minutes\" or \"2 days\"")
		}
		unit, ok := durationUnits[m[2]]
		if !ok {
			return 0, fmt.Errorf("unknown unit %q: use seconds, minutes, hours, days or weeks", m[2])
		}
		n, _ := strconv.ParseFloat(m[1], 64)
		total += time.Duration(n * float64(unit))
	}
	if len(words) == 0 {
		return 0, errors.New("write a duration such as 90s, 10m, 1h30m, \"5 minutes\" or \"2 days\"")
	}
	return total, nil
}

// parseStartAt reads an absolute time, or a time of day, which means its
// next occurrence (as Prefect's CLI prefers dates in the future).
func parseStartAt(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "at "))
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, now.Location()); err == nil {
			return t, nil
		}
	}
	for _, layout := range []string{"15:04:05", "15:04", "3:04pm", "3:04 pm", "3pm", "3 pm", "3:04PM", "3:04 PM", "3PM", "3 PM"} {
		if t, err := time.ParseInLocation(layout, s, now.Location()); err == nil {
			at := time.Date(now.Year(), now.Month(), now.Day(), t.Hour(), t.Minute(), t.Second(), 0, now.Location())
			if at.Before(now) {
				at = at.AddDate(0, 0, 1)
			}
			return at, nil
		}
	}
	return time.Time{}, errors.New("write a time such as 2026-08-01T17:30:00Z, \"2026-08-01 17:30\" (local time), 17:30 or 5:30pm")
}

// checkParameters refuses parameters the deployment does not declare, as
// Prefect's CLI does: the server would accept them and the flow would fail.
func checkParameters(d *prefectdeploy.Deployment, params *jsonv.Object) error {
	if params.Len() == 0 {
		return nil
	}
	declared := d.Raw.GetObject("parameter_openapi_schema").GetObject("properties")
	var unknown []string
	for _, k := range params.Keys() {
		if !declared.Has(k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	available := "This deployment does not accept parameters."
	if declared.Len() > 0 {
		available = "The deployment's parameters are: " + strings.Join(declared.Keys(), ", ")
	}
	return clikit.Invalid("the deployment has no parameter %s. %s", strings.Join(unknown, ", "), available)
}

// formatRunName fills {PARAMETER} placeholders, as Prefect's CLI formats
// --flow-run-name with the parameters; {{ and }} are literal braces.
func formatRunName(tmpl string, params *jsonv.Object) (string, error) {
	var b strings.Builder
	for i := 0; i < len(tmpl); i++ {
		c := tmpl[i]
		switch {
		case c == '{' && i+1 < len(tmpl) && tmpl[i+1] == '{', c == '}' && i+1 < len(tmpl) && tmpl[i+1] == '}':
			b.WriteByte(c)
			i++
		case c == '{':
			end := strings.IndexByte(tmpl[i:], '}')
			if end < 0 {
				return "", clikit.Invalid("--flow-run-name %q: a { is not closed (write {{ for a literal brace)", tmpl)
			}
			key := tmpl[i+1 : i+end]
			v, ok := params.Get(key)
			if !ok {
				return "", clikit.Invalid("--flow-run-name %q: no parameter %q (the run's parameters are: %s)", tmpl, key, strings.Join(params.Keys(), ", "))
			}
			b.WriteString(pycompat.Str(v))
			i += end
		case c == '}':
			return "", clikit.Invalid("--flow-run-name %q: a } has no { (write }} for a literal brace)", tmpl)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// warnUndefinedJobVariables says which job variables the pool's base job
// template does not define: Prefect stores them and the worker drops them,
// so the run would silently be the same as without them.
func warnUndefinedJobVariables(ctx context.Context, stdio clikit.IO, c *prefect.Client, d *prefectdeploy.Deployment, vars *jsonv.Object) {
	if d.WorkPoolName == "" {
		return
	}
	pool, err := c.ReadWorkPool(ctx, d.WorkPoolName)
	if err != nil {
		// Only a warning depends on it; creating the run will say what is
		// wrong with the API.
		return
	}
	props := pool.BaseJobTemplate.GetObject("variables").GetObject("properties")
	if props.Len() == 0 {
		return
	}
	for _, k := range vars.Keys() {
		if !props.Has(k) {
			fmt.Fprintf(stdio.Err, "warning: job variable %q is not defined by the base job template of work pool %q, so it has no effect; 'ecsworker work-pool inspect %s' lists its variables\n",
				k, d.WorkPoolName, d.WorkPoolName)
		}
	}
}

func printCreatedRun(stdio clikit.IO, c *prefect.Client, run *prefect.FlowRun, label, pool string, start, now time.Time) error {
	tw := tabwriter.NewWriter(stdio.Out, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("Name", run.Name)
	row("ID", run.ID)
	row("Deployment", strings.Trim(label, `"`))
	if pool != "" {
		row("Work pool", pool)
	}
	row("Parameters", compactJSON(run.Parameters))
	row("Job variables", compactJSON(run.JobVariables))
	when := "now"
	if d := start.Sub(now).Round(time.Second); d > 0 {
		when = "in " + d.String()
	}
	row("Scheduled start", fmt.Sprintf("%s (%s)", start.Local().Format("2006-01-02 15:04:05 MST"), when))
	if len(run.Tags) > 0 {
		row("Tags", strings.Join(run.Tags, ", "))
	}
	if u := c.Config().FlowRunURL(run.ID); u != "" {
		row("URL", u)
	}
	return tw.Flush()
}

func compactJSON(o *jsonv.Object) string {
	if o == nil {
		return "{}"
	}
	b, err := jsonv.Marshal(o)
	if err != nil {
		return "?"
	}
	return string(b)
}
