package jobtemplate

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/pycompat"
	"github.com/ecsworker/ecsworker/internal/templating"
)

// DefaultCommand is what container workers run when no command is
// configured: it reads PREFECT__FLOW_RUN_ID, runs the deployment's pull
// steps, executes the flow and handles cancellation.
const DefaultCommand = "prefect flow-run execute"

// FlowRunContext is what PrepareForFlowRun needs to know about the run.
type FlowRunContext struct {
	// FlowRun, Deployment, Flow and WorkPool are the objects as the Prefect
	// API returns them. Only FlowRun is required; a nil one adds nothing.
	FlowRun, Deployment, Flow, WorkPool *jsonv.Object
	// WorkerName and WorkerID identify this worker; "" means unknown.
	WorkerName, WorkerID string
	// BaseEnv holds the PREFECT_* settings explicitly set for the worker
	// (string values, in order); they reach the flow run so it talks to the
	// same API with the same credentials.
	BaseEnv *jsonv.Object
	// Version is the prefect.io/version label.
	Version string
	// LookupEnv answers {{ $NAME }} placeholders in the name; nil means
	// os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// PrepareForFlowRun adds the flow run's context to a rendered and coerced
// job configuration, in place, as Prefect's prepare_for_flow_run does:
//
//   - env: the worker's PREFECT_* settings, PREFECT__FLOW_RUN_ID, the
//     attribution variables, then the configured env on top; then every
//     null entry is dropped, so {"PREFECT_API_KEY": null} keeps the key out
//     of the flow run.
//   - labels: prefect.io/* labels for the run, pool, worker, flow and
//     deployment, then the configured labels on top.
//   - name: "{{ ctx.flow.* }}" and "{{ ctx.flow_run.* }}" placeholders are
//     filled (missing ones inside a longer name become ""); an empty name
//     becomes the flow run's name.
//   - command: DefaultCommand when empty.
func PrepareForFlowRun(cfg *jsonv.Object, fc FlowRunContext) {
	if cfg == nil {
		return
	}
	run := fc.FlowRun

	env := jsonv.NewObject()
	for _, k := range fc.BaseEnv.Keys() {
		v, _ := fc.BaseEnv.Get(k)
		env.Set(k, jsonv.Clone(v))
	}
	env.Set("PREFECT__FLOW_RUN_ID", text(run, "id"))
	if fc.WorkerID != "" {
		env.Set("PREFECT__WORKER_ID", fc.WorkerID)
	}
	if fc.WorkerName != "" {
		env.Set("PREFECT__WORKER_NAME", fc.WorkerName)
	}
	if v, _ := run.Get("flow_id"); jsonv.Truthy(v) {
		env.Set("PREFECT__FLOW_ID", text(run, "flow_id"))
	}
	if v, _ := fc.Flow.Get("name"); fc.Flow != nil && jsonv.Truthy(v) {
		env.Set("PREFECT__FLOW_NAME", text(fc.Flow, "name"))
	}
	if v, _ := run.Get("deployment_id"); jsonv.Truthy(v) {
		env.Set("PREFECT__DEPLOYMENT_ID", text(run, "deployment_id"))
	}
	if v, _ := fc.Deployment.Get("name"); fc.Deployment != nil && jsonv.Truthy(v) {
		env.Set("PREFECT__DEPLOYMENT_NAME", text(fc.Deployment, "name"))
	}
	if user := cfg.GetObject("env"); user != nil {
		for _, k := range user.Keys() {
			v, _ := user.Get(k)
			env.Set(k, jsonv.Clone(v))
		}
	}
	kept := jsonv.NewObject()
	for _, k := range env.Keys() {
		if v, _ := env.Get(k); v != nil {
			kept.Set(k, v)
		}
	}
	cfg.Set("env", kept)

	labels := jsonv.NewObject()
	labels.Set("prefect.io/flow-run-id", text(run, "id"))
	labels.Set("prefect.io/flow-run-name", text(run, "name"))
	labels.Set("prefect.io/version", fc.Version)
	if fc.WorkPool != nil {
		labels.Set("prefect.io/work-pool-name", text(fc.WorkPool, "name"))
		labels.Set("prefect.io/work-pool-id", text(fc.WorkPool, "id"))
	}
	if fc.WorkerName != "" {
		labels.Set("prefect.io/worker-name", fc.WorkerName)
	}
	if fc.Flow != nil {
		labels.Set("prefect.io/flow-id", text(fc.Flow, "id"))
		labels.Set("prefect.io/flow-name", text(fc.Flow, "name"))
	}
	if fc.Deployment != nil {
		labels.Set("prefect.io/deployment-id", text(fc.Deployment, "id"))
		labels.Set("prefect.io/deployment-name", text(fc.Deployment, "name"))
		// A timestamp the API would never send cannot be printed the way
		// Python would print it; leaving the label out beats inventing one.
		if u, ok := fc.Deployment.Get("updated"); ok && u != nil {
			if s, isStr := u.(string); isStr {
				if ts, err := ParseTimestamp(s); err == nil {
					labels.Set("prefect.io/deployment-updated", FormatPythonISO(ts))
				}
			}
		}
	}
	if user := cfg.GetObject("labels"); user != nil {
		for _, k := range user.Keys() {
			v, _ := user.Get(k)
			labels.Set(k, jsonv.Clone(v))
		}
	}
	cfg.Set("labels", labels)

	name, _ := cfg.Get("name")
	if s, ok := name.(string); ok && s != "" {
		name = renderName(s, fc)
	}
	if !jsonv.Truthy(name) {
		name, _ = run.Get("name")
		name = jsonv.Clone(name)
	}
	cfg.Set("name", name)

	if cmd, _ := cfg.Get("command"); !jsonv.Truthy(cmd) {
		cfg.Set("command", DefaultCommand)
	}
}

// renderName fills ctx.flow / ctx.flow_run placeholders. A name that is one
// placeholder and resolves to a non-string (say {{ ctx.flow_run.tags }})
// would leave Prefect's model holding a list; the infrastructure name has
// to be text, so it becomes Python's str() of the value.
func renderName(name string, fc FlowRunContext) any {
	flow, run := fc.Flow, fc.FlowRun
	if flow == nil {
		flow = jsonv.NewObject()
	}
	if run == nil {
		run = jsonv.NewObject()
	}
	lookupEnv := fc.LookupEnv
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	a := templating.Applier{
		Values:       jsonv.ObjectOf("ctx", jsonv.ObjectOf("flow", flow, "flow_run", run)),
		RemoveNotSet: true,
		LookupEnv:    lookupEnv,
	}
	v, ok := a.Apply(name)
	if !ok {
		// The whole name is one placeholder that does not resolve: Prefect
		// keeps the name as written.
		return name
	}
	switch t := v.(type) {
	case nil, string:
		return t
	}
	return pycompat.Str(v)
}

// text is Python's str() of an API field, "" when absent or null. IDs and
// names arrive as strings; anything else is printed rather than dropped.
func text(o *jsonv.Object, key string) string {
	v, _ := o.Get(key)
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	}
	return pycompat.Str(v)
}

// ParseTimestamp reads a timestamp from the Prefect API leniently: RFC 3339
// with or without fractional seconds, "Z" or a numeric offset (with or
// without a colon), and a space instead of "T", because servers, Prefect
// Cloud and Python's str(datetime) each write a different variant. A
// timestamp without an offset is taken as UTC, as the server does.
func ParseTimestamp(s string) (time.Time, error) {
	in := strings.TrimSpace(s)
	if len(in) > 10 && (in[10] == ' ' || in[10] == 't') {
		in = in[:10] + "T" + in[11:]
	}
	if strings.HasSuffix(in, "z") {
		in = in[:len(in)-1] + "Z"
	}
	for _, layout := range []string{
		"2006-01-02T15:04:05.999999999Z07:00",
		"2006-01-02T15:04:05.999999999Z0700",
		"2006-01-02T15:04:05.999999999Z07",
		"2006-01-02T15:04:05.999999999",
	} {
		if t, err := time.Parse(layout, in); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot read timestamp %q: expected ISO 8601 such as 2024-05-01T12:00:00.123456+00:00", s)
}

// FormatPythonISO prints t in UTC the way Python's datetime.isoformat()
// prints an aware UTC datetime: microseconds (truncated, as Python keeps
// no more) only when non-zero, and "+00:00" rather than "Z".
func FormatPythonISO(t time.Time) string {
	t = t.UTC()
	s := t.Format("2006-01-02T15:04:05")
	if us := t.Nanosecond() / 1000; us != 0 {
		s += fmt.Sprintf(".%06d", us)
	}
	return s + "+00:00"
}
