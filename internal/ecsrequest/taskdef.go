package ecsrequest

import (
	"strconv"
	"strings"

	"github.com/ecsworker/ecsworker/internal/jobconfig"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/lazyregexp"
)

// DefaultContainerName is the orchestration container's name unless the
// job says otherwise; the Python worker uses the same.
const DefaultContainerName = "prefect"

const (
	defaultCPU    = 1024
	defaultMemory = 2048
)

var (
	familyUnsafe = lazyregexp.New(`[^A-Za-z0-9_-]+`)
)

// Containers returns the task definition's container definitions that are
// objects, dropping empty ones: the default template yields [{}] when no
// image or container name is set, and that placeholder is not a container.
func Containers(td *jsonv.Object, c *jobconfig.Collector, field string) []*jsonv.Object {
	v, ok := td.Get("containerDefinitions")
	if !ok || v == nil {
		return nil
	}
	arr, isArr := v.([]any)
	if !isArr {
		c.Fail(field+".containerDefinitions", v, "expected a list of container definitions, got "+jsonv.TypeName(v)+".", "Make containerDefinitions a JSON list of objects.")
		return nil
	}
	var out []*jsonv.Object
	for i, e := range arr {
		o, isObj := e.(*jsonv.Object)
		if !isObj {
			c.Fail(field+".containerDefinitions["+strconv.Itoa(i)+"]", e, "expected a container definition object, got "+jsonv.TypeName(e)+".", "Make each container definition a JSON object.")
			continue
		}
		if o.Len() == 0 {
			continue
		}
		out = append(out, o)
	}
	return out
}

// InferContainerName picks the orchestration container the way the Python
// worker does: the configured name, else a container named prefect, else
// the first container's name, else prefect.
func InferContainerName(configured string, defs []*jsonv.Object) string {
	if configured != "" {
		return configured
	}
	for _, d := range defs {
		if d.GetString("name") == DefaultContainerName {
			return DefaultContainerName
		}
	}
	if len(defs) > 0 {
		if n := defs[0].GetString("name"); n != "" {
			return n
		}
	}
	return DefaultContainerName
}

func findContainer(defs []*jsonv.Object, name string) *jsonv.Object {
	for _, d := range defs {
		if d.GetString("name") == name {
			return d
		}
	}
	return nil
}

// TaskDefinition turns the rendered task_definition into the
// RegisterTaskDefinition request, as the Python worker does, with its
// known bugs fixed (see the README's list of deliberate differences).
func TaskDefinition(cfg *jobconfig.Config, rc RunContext, kind LaunchKind, region string, c *jobconfig.Collector, plan *Plan) *jsonv.Object {
	td := jsonv.CloneObject(cfg.TaskDefinition)
	stripNulls(td)
	defs := Containers(td, c, "task_definition")

	name := InferContainerName(cfg.ContainerName, defs)
	container := findContainer(defs, name)
	if container == nil {
		if name != DefaultContainerName {
			var names []string
			for _, d := range defs {
				if n := d.GetString("name"); n != "" {
					names = append(names, strconv.Quote(n))
				}
			}
			fix := "Set container_name to the container that runs the flow"
			if len(names) > 0 {
				fix += " (one of " + strings.Join(names, ", ") + ")"
			}
			c.Fail("container_name", name, "the task definition has no container with this name.", fix+", or leave it empty to use a container named prefect.")
		} else {
			for _, d := range defs {
				if !d.Has("name") {
					d.Set("name", DefaultContainerName)
					container = d
					break
				}
			}
			if container == nil {
				container = jsonv.ObjectOf("name", DefaultContainerName)
				defs = append(defs, container)
			}
		}
	}
	plan.ContainerName = name
	list := make([]any, len(defs))
	for i, d := range defs {
		list[i] = d
	}
	td.Set("containerDefinitions", list)

	if container != nil {
		if container.GetString("image") == "" {
			if rc.DefaultImage == "" {
				c.FailNoValue("image", "no image is set for the "+strconv.Quote(name)+" container and the worker has no default image.", "Set the image job variable, e.g. prefecthq/prefect:3-python3.12.")
			} else {
				container.Set("image", rc.DefaultImage)
			}
		}
		removeUnsetEnv(container, cfg.Env)
		if cfg.ConfigureCloudWatchLogs {
			container.Set("logConfiguration", awslogsConfiguration(cfg, rc, region))
		}
	}

	family := td.GetString("family")
	if family == "" {
		id := rc.DeploymentID
		if id == "" {
			id = rc.FlowID
		}
		if id == "" || rc.WorkPoolName == "" {
			family = MarkFamily
			plan.Unresolved = append(plan.Unresolved, Unresolved{Path: "registerTaskDefinition.family", Reason: "the default family is prefect_<work pool>_<deployment id>; give --work-pool and --deployment (or set family) to see it"})
		} else {
			// The Python worker meant to clean this name but dropped the
			// result; a pool name with a space or dot made registration fail.
			family = familyUnsafe().ReplaceAllString("prefect_"+rc.WorkPoolName+"_"+id, "-")
		}
		td.Set("family", family)
	} else if !IsName(family) {
		c.Fail(rc.FieldFor("family", "task_definition.family"), family, "a task definition family may have up to 255 letters, digits, hyphens and underscores.", "Use a family such as "+strconv.Quote(familyUnsafe().ReplaceAllString(family, "-"))+".")
	}

	cpu, hasCPU := td.Get("cpu")
	memory, hasMemory := td.Get("memory")
	if !hasCPU || !jsonv.Truthy(cpu) {
		cpu = jsonNumber(defaultCPU)
	}
	if !hasMemory || !jsonv.Truthy(memory) {
		memory = jsonNumber(defaultMemory)
	}
	switch kind {
	case LaunchFargate:
		td.Set("cpu", sizeString(cpu))
		td.Set("memory", sizeString(memory))
		addCompatibility(td, "FARGATE")
		if !td.Has("networkMode") {
			td.Set("networkMode", "awsvpc")
		}
	default:
		if container != nil {
			if n, ok := ParseCPU(cpu); ok && !container.Has("cpu") {
				container.Set("cpu", jsonNumber(n))
			}
			if n, ok := ParseMemory(memory); ok && !container.Has("memory") {
				container.Set("memory", jsonNumber(n))
			}
		}
		if kind == LaunchExternal {
			// ECS Anywhere runs only task definitions that declare EXTERNAL;
			// the Python worker demanded FARGATE instead and refused these.
			addCompatibility(td, "EXTERNAL")
		}
	}
	for _, k := range []string{"cpu", "memory"} {
		if v, ok := td.Get(k); ok && jsonv.Truthy(v) {
			td.Set(k, sizeString(v))
		}
	}

	dropEmpty(td)
	if container != nil {
		applySecrets(container, cfg)
	}
	return td
}

func jsonNumber(n int) any { return jsonv.Normalize(n) }

// sizeString gives task-level cpu and memory as strings, the type ECS's
// RegisterTaskDefinition declares for them.
func sizeString(v any) any {
	switch t := v.(type) {
	case string:
		return t
	case nil:
		return nil
	default:
		b, _ := jsonv.Marshal(t)
		return string(b)
	}
}

func addCompatibility(td *jsonv.Object, want string) {
	list, _ := td.Get("requiresCompatibilities")
	arr, _ := list.([]any)
	for _, e := range arr {
		if e == want {
			return
		}
	}
	td.Set("requiresCompatibilities", append(arr, want))
}

// Compatibilities lists the task definition's requiresCompatibilities.
func Compatibilities(td *jsonv.Object) []string {
	var out []string
	for _, e := range td.GetArray("requiresCompatibilities") {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// removeUnsetEnv drops container environment entries whose value is null,
// and those the job's env unsets with a null value.
func removeUnsetEnv(container *jsonv.Object, env *jsonv.Object) {
	arr := container.GetArray("environment")
	if arr == nil {
		return
	}
	kept := make([]any, 0, len(arr))
	for _, e := range arr {
		o, ok := e.(*jsonv.Object)
		if ok {
			if v, has := o.Get("value"); has && v == nil {
				continue
			}
			if v, has := env.Get(o.GetString("name")); has && v == nil {
				continue
			}
		}
		kept = append(kept, e)
	}
	container.Set("environment", kept)
}

func awslogsConfiguration(cfg *jobconfig.Config, rc RunContext, region string) *jsonv.Object {
	prefix := cfg.CloudWatchLogsPrefix
	if prefix == "" {
		id := rc.DeploymentID
		if id == "" {
			id = rc.FlowID
		}
		if id == "" {
			id = MarkDeploymentID
		}
		prefix = "prefect-logs_" + rc.WorkPoolName + "_" + id
	}
	options := jsonv.ObjectOf(
		"awslogs-create-group", "true",
		"awslogs-group", "prefect",
		"awslogs-region", region,
		"awslogs-stream-prefix", prefix,
	)
	for _, k := range cfg.CloudWatchLogsOptions.Keys() {
		v, _ := cfg.CloudWatchLogsOptions.Get(k)
		options.Set(k, v)
	}
	return jsonv.ObjectOf("logDriver", "awslogs", "options", options)
}

// applySecrets puts the Prefect API key and auth string secrets and the
// job's secrets on the orchestration container. A secret replaces a plain
// environment entry of the same name, so the value never sits in the task
// definition in clear text.
func applySecrets(container *jsonv.Object, cfg *jobconfig.Config) {
	wanted := jsonv.NewObject()
	if cfg.PrefectAPIKeySecretARN != "" {
		wanted.Set("PREFECT_API_KEY", cfg.PrefectAPIKeySecretARN)
	}
	if cfg.PrefectAPIAuthStringARN != "" {
		wanted.Set("PREFECT_API_AUTH_STRING", cfg.PrefectAPIAuthStringARN)
	}
	for _, k := range cfg.Secrets.Keys() {
		v, _ := cfg.Secrets.Get(k)
		wanted.Set(k, v)
	}
	if wanted.Len() == 0 {
		return
	}
	if env := container.GetArray("environment"); env != nil {
		kept := make([]any, 0, len(env))
		for _, e := range env {
			if o, ok := e.(*jsonv.Object); ok && wanted.Has(o.GetString("name")) {
				continue
			}
			kept = append(kept, e)
		}
		if len(kept) == 0 {
			container.Delete("environment")
		} else {
			container.Set("environment", kept)
		}
	}
	secrets := container.GetArray("secrets")
	for _, e := range secrets {
		o, ok := e.(*jsonv.Object)
		if !ok {
			continue
		}
		if arn, has := wanted.Get(o.GetString("name")); has {
			o.Set("valueFrom", arn)
			wanted.Delete(o.GetString("name"))
		}
	}
	for _, k := range wanted.Keys() {
		v, _ := wanted.Get(k)
		secrets = append(secrets, jsonv.ObjectOf("name", k, "valueFrom", v))
	}
	container.Set("secrets", secrets)
}

// dropEmpty removes keys whose value is null, "", [] or {} from objects, at
// every depth, because the templates leave such husks where a variable was
// unset and ECS would read them as real (empty) settings. Unlike the Python
// worker it keeps 0 (a container's cpu: 0 is meaningful) and it keeps the
// empty value of an environment entry (X="" is a real setting).
func dropEmpty(v any) {
	removeKeys(v, func(k string, e any) bool { return isEmpty(e) && !(k == "value" && e == "") }) //nolint:staticcheck // QF1001: the exception reads as one
}

func isEmpty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case string:
		return t == ""
	case []any:
		return len(t) == 0
	case *jsonv.Object:
		return t.Len() == 0
	}
	return false
}

// stripNulls removes null-valued keys at every depth: an explicit null job
// variable means "not set", and ECS refuses nulls in requests.
func stripNulls(v any) {
	removeKeys(v, func(_ string, e any) bool { return e == nil })
}

// removeKeys deletes, in objects at every depth, the keys for which drop
// says so. The test runs before recursing, so an object that empties out
// below is kept (as the Python worker keeps it).
func removeKeys(v any, drop func(key string, value any) bool) {
	switch t := v.(type) {
	case *jsonv.Object:
		for _, k := range append([]string(nil), t.Keys()...) {
			e, _ := t.Get(k)
			if drop(k, e) {
				t.Delete(k)
				continue
			}
			removeKeys(e, drop)
		}
	case []any:
		for _, e := range t {
			removeKeys(e, drop)
		}
	}
}

// IsName reports whether s is ECS's kind of name for task definition
// families and container names: 1 to 255 letters, digits, hyphens and
// underscores. A loop, not a regular expression: `{1,255}` compiles to a
// large program, which every start of the binary would pay for.
func IsName(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
