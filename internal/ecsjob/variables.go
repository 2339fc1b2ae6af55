package ecsjob

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/ecsworker/ecsworker/internal/jobconfig"
	"github.com/ecsworker/ecsworker/internal/jobtemplate"
	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// requestFieldVariables maps fields that guides tell users to set through
// task_run_request or task_definition job variables to the variable that
// sets them in the default template.
var requestFieldVariables = map[string]map[string]string{
	"task_run_request": {
		"launchType":               "launch_type",
		"cluster":                  "cluster",
		"capacityProviderStrategy": "capacity_provider_strategy",
		"placementStrategy":        "placement_strategy",
		"placementConstraints":     "placement_constraints",
		"platformVersion":          "platform_version",
		"propagateTags":            "propagate_tags",
		"enableExecuteCommand":     "enable_execute_command",
		"networkConfiguration":     "subnets, security_groups and assign_public_ip",
		"overrides":                "env, command, cpu, memory and task_role_arn",
		"taskDefinition":           "task_definition_arn",
		"tags":                     "labels",
	},
	"task_definition": {
		"family":                  "family",
		"cpu":                     "cpu",
		"memory":                  "memory",
		"executionRoleArn":        "execution_role_arn",
		"taskRoleArn":             "task_role_arn",
		"ephemeralStorage":        "ephemeral_storage",
		"runtimePlatform":         "runtime_platform",
		"containerDefinitions":    "image, container_name, resource_requirements and secrets",
		"placementConstraints":    "placement_constraints (they apply when the task is run)",
		"requiresCompatibilities": "launch_type",
		"networkMode":             "launch_type (Fargate always uses awsvpc)",
	},
}

// deprecatedVariables were variables of the Python worker that it no longer reads.
var deprecatedVariables = map[string]bool{
	"stream_output":              true,
	"task_start_timeout_seconds": true,
	"task_watch_poll_interval":   true,
}

// CheckJobVariables compares job variables with the pool template's
// variables. A variable the template does not define has no effect (Prefect
// drops it silently); we say so, and for the usual mistakes we name the
// variable to use instead. Values that break the template's JSON schema are
// problems: Prefect's server refuses them when a deployment is created, so
// they mean the pool's schema changed underneath the deployment.
func CheckJobVariables(t *jobtemplate.Template, values *jsonv.Object) ([]jobconfig.Problem, []jobconfig.Warning) {
	var c jobconfig.Collector
	known := map[string]bool{}
	for _, n := range t.VariableNames() {
		known[n] = true
	}
	for _, k := range values.Keys() {
		root, _, _ := strings.Cut(k, ".")
		if known[root] {
			continue
		}
		v, _ := values.Get(k)
		switch {
		case deprecatedVariables[root]:
			c.Warn(k, "this variable was deprecated by prefect-aws and does nothing; remove it.")
		case requestFieldVariables[root] != nil:
			c.Warn(k, "%s", nestedHint(root, v))
		default:
			// A typo gets the one or two names it was meant to be; the
			// whole list (37 names for the default template) only when
			// nothing is close, to show what there is.
			if near := closestNames(root, t.VariableNames()); len(near) > 0 {
				c.Warn(k, "this work pool's template has no variable %q, so it has no effect. Did you mean %s?", root, quotedList(near))
			} else {
				c.Warn(k, "this work pool's template has no variable %q, so it has no effect. Variables it has: %s.", root, strings.Join(t.VariableNames(), ", "))
			}
		}
	}

	schema, err := compileVariables(t)
	if err != nil {
		c.Warn("variables", "the pool's variables schema cannot be used to check job variables: %v", err)
		return c.Problems, c.Warnings
	}
	expanded := jobtemplate.ExpandDotKeys(values)
	err = schema.Validate(plain(expanded))
	var verr *jsonschema.ValidationError
	if errors.As(err, &verr) {
		printer := message.NewPrinter(language.English)
		for _, leaf := range usefulLeaves(leaves(verr)) {
			field := strings.Join(leaf.InstanceLocation, ".")
			if field == "" {
				field = "job_variables"
			}
			msg := leaf.ErrorKind.LocalizedString(printer)
			p := jobconfig.Problem{Field: field, Message: "does not match the pool's variable schema: " + msg + ".", Fix: "Change the value in the deployment's or flow run's job variables."}
			v, found := lookup(expanded, leaf.InstanceLocation)
			sensitive := sensitivePath(leaf.InstanceLocation)
			if found && !sensitive {
				p.Value, p.HasValue = v, true
			}
			if e, ok := leaf.ErrorKind.(*kind.Enum); ok && !sensitive {
				p.Fix = enumFix(field, v, e.Want)
			}
			c.Problems = append(c.Problems, p)
		}
	}
	sort.SliceStable(c.Problems, func(i, j int) bool { return c.Problems[i].Field < c.Problems[j].Field })
	return c.Problems, c.Warnings
}

// enumFix proposes a value the pool's schema accepts: the right spelling
// when the value differs only in case (fargate), else the closest allowed
// values, else all of them. The schema is the judge here, not the ECS API:
// ECS knows launch types (MANAGED_INSTANCES) that a pool may not allow.
func enumFix(field string, got any, allowed []any) string {
	const where = " in the deployment's or flow run's job variables"
	var names []string
	for _, a := range allowed {
		if s, ok := a.(string); ok {
			names = append(names, s)
		}
	}
	if s, ok := got.(string); ok && len(names) == len(allowed) {
		for _, n := range names {
			if strings.EqualFold(n, s) {
				return "Set " + field + " to " + strconv.Quote(n) + where + " (values are case-sensitive)."
			}
		}
		if near := closestNames(s, names); len(near) > 0 {
			return "Set " + field + " to " + quotedList(near) + where + "."
		}
	}
	shown := make([]string, len(allowed))
	for i, a := range allowed {
		shown[i] = jobconfig.ShowValue(a)
	}
	return "Set " + field + " to one of " + strings.Join(shown, ", ") + where + "."
}

func nestedHint(root string, v any) string {
	msg := fmt.Sprintf("%s is part of the pool's job configuration, not a job variable of its template, so setting it here has no effect.", root)
	o, ok := v.(*jsonv.Object)
	if !ok || o.Len() == 0 {
		return msg
	}
	var uses []string
	for _, k := range o.Keys() {
		if variable, ok := requestFieldVariables[root][k]; ok {
			uses = append(uses, fmt.Sprintf("%s for %s.%s", variable, root, k))
		} else {
			uses = append(uses, fmt.Sprintf("a custom base job template for %s.%s", root, k))
		}
	}
	return msg + " Use " + strings.Join(uses, "; ") + "."
}

// schemaCache keeps compiled variable schemas: compiling one costs about
// a millisecond (the schema is itself validated against the JSON Schema
// meta-schema), while a worker renders the same few pool templates over
// and over. It is bounded by dropping everything when full, which is
// cheap and enough for the handful of pools one worker serves.
var schemaCache = struct {
	sync.Mutex
	m map[[sha256.Size]byte]compiled
}{m: map[[sha256.Size]byte]compiled{}}

type compiled struct {
	schema *jsonschema.Schema
	err    error
}

const schemaCacheSize = 64

func compileVariables(t *jobtemplate.Template) (*jsonschema.Schema, error) {
	raw, err := jsonv.Marshal(t.Variables)
	if err != nil {
		return nil, err
	}
	key := sha256.Sum256(raw)
	schemaCache.Lock()
	c, ok := schemaCache.m[key]
	schemaCache.Unlock()
	if ok {
		return c.schema, c.err
	}
	schema, err := compileSchema(t)
	schemaCache.Lock()
	if len(schemaCache.m) >= schemaCacheSize {
		clear(schemaCache.m)
	}
	schemaCache.m[key] = compiled{schema, err}
	schemaCache.Unlock()
	return schema, err
}

func compileSchema(t *jobtemplate.Template) (*jsonschema.Schema, error) {
	doc := plain(t.Variables)
	if m, ok := doc.(map[string]any); ok && len(m) == 0 {
		doc = map[string]any{"type": "object"}
	}
	c := jsonschema.NewCompiler()
	// A pool's schema may not make the worker read files or URLs: every
	// $ref must point inside the schema itself.
	c.UseLoader(jsonschema.SchemeURLLoader{})
	if err := c.AddResource("variables.json", doc); err != nil {
		return nil, err
	}
	return c.Compile("variables.json")
}

// plain converts jsonv values into the generic form the schema library reads.
func plain(v any) any {
	switch t := v.(type) {
	case *jsonv.Object:
		m := make(map[string]any, t.Len())
		for _, k := range t.Keys() {
			e, _ := t.Get(k)
			m[k] = plain(e)
		}
		return m
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = plain(e)
		}
		return out
	case json.Number:
		return t
	default:
		return t
	}
}

func leaves(e *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		return []*jsonschema.ValidationError{e}
	}
	var out []*jsonschema.ValidationError
	for _, c := range e.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}

// usefulLeaves drops the "want null" half of a nullable variable's anyOf
// when the value broke the other half: "got number, want null" next to
// "maximum: got 999, want 200" only confuses.
func usefulLeaves(all []*jsonschema.ValidationError) []*jsonschema.ValidationError {
	at := map[string]int{}
	for _, l := range all {
		at[strings.Join(l.InstanceLocation, "\x00")]++
	}
	var out []*jsonschema.ValidationError
	for _, l := range all {
		if tk, ok := l.ErrorKind.(*kind.Type); ok && len(tk.Want) == 1 && tk.Want[0] == "null" && at[strings.Join(l.InstanceLocation, "\x00")] > 1 {
			continue
		}
		out = append(out, l)
	}
	return out
}

func lookup(v any, path []string) (any, bool) {
	for _, seg := range path {
		switch t := v.(type) {
		case *jsonv.Object:
			var ok bool
			if v, ok = t.Get(seg); !ok {
				return nil, false
			}
		case []any:
			var i int
			if _, err := fmt.Sscanf(seg, "%d", &i); err != nil || i < 0 || i >= len(t) {
				return nil, false
			}
			v = t[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// sensitivePath keeps values of credentials and environment variables out
// of messages: they are where API keys and secrets live.
func sensitivePath(path []string) bool {
	return len(path) > 0 && (path[0] == "env" || path[0] == "aws_credentials" || path[0] == "secrets")
}
