package ecsrequest

import (
	"strconv"

	"github.com/ecsworker/ecsworker/internal/jobconfig"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/pycompat"
)

// capacityProviders returns the provider names of the request's strategy.
func capacityProviders(req *jsonv.Object) []string {
	var out []string
	for _, e := range req.GetArray("capacityProviderStrategy") {
		if o, ok := e.(*jsonv.Object); ok {
			out = append(out, o.GetString("capacityProvider"))
		}
	}
	return out
}

func isFargateProvider(name string) bool { return name == "FARGATE" || name == "FARGATE_SPOT" }

// LaunchKindOf decides where the task runs. A capacity provider strategy
// decides it when present: FARGATE and FARGATE_SPOT mean Fargate, any other
// provider is backed by EC2 instances. The Python worker prepared the task
// definition for Fargate whenever the pool's launch_type said FARGATE (its
// default), even for an EC2 capacity provider, which ECS then refused.
func LaunchKindOf(req *jsonv.Object, td *jsonv.Object, c *jobconfig.Collector) LaunchKind {
	if providers := capacityProviders(req); len(providers) > 0 {
		fargate := 0
		for _, p := range providers {
			if isFargateProvider(p) {
				fargate++
			}
		}
		switch fargate {
		case len(providers):
			return LaunchFargate
		case 0:
			return LaunchEC2
		default:
			c.Fail("capacity_provider_strategy", req.GetArray("capacityProviderStrategy"), "a strategy cannot mix Fargate providers (FARGATE, FARGATE_SPOT) with EC2 Auto Scaling group providers.", "Use either FARGATE/FARGATE_SPOT or your EC2 capacity providers, not both.")
			return LaunchEC2
		}
	}
	switch req.GetString("launchType") {
	case "FARGATE", "FARGATE_SPOT":
		return LaunchFargate
	case "EC2":
		return LaunchEC2
	case "EXTERNAL":
		return LaunchExternal
	}
	if td != nil {
		compat := Compatibilities(td)
		if contains(compat, "EC2") && !contains(compat, "FARGATE") {
			return LaunchEC2
		}
		if contains(compat, "EXTERNAL") && !contains(compat, "FARGATE") {
			return LaunchExternal
		}
	}
	return LaunchFargate
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// RunTask turns the rendered task_run_request into the RunTask request.
func RunTask(cfg *jobconfig.Config, rc RunContext, td *jsonv.Object, taskDefinition string, kind LaunchKind, c *jobconfig.Collector, plan *Plan) *jsonv.Object {
	req := jsonv.CloneObject(cfg.TaskRunRequest)
	stripNulls(req)
	req.Set("taskDefinition", taskDefinition)

	if req.GetString("cluster") == "" && cfg.Cluster != "" {
		req.Set("cluster", cfg.Cluster)
	}
	plan.Cluster = cfg.Cluster
	if plan.Cluster == "" {
		plan.Cluster = req.GetString("cluster")
	}

	launchType := req.GetString("launchType")
	switch {
	case len(req.GetArray("capacityProviderStrategy")) > 0:
		if launchType != "" && rc.Explicit("launch_type") {
			c.Warn("launch_type", "launch type %q is not sent because capacity_provider_strategy is set: ECS refuses a request with both, and the strategy decides where the task runs.", launchType)
		}
		req.Delete("launchType")
	case launchType == "FARGATE_SPOT":
		req.Delete("launchType")
		req.Set("capacityProviderStrategy", []any{jsonv.ObjectOf("capacityProvider", "FARGATE_SPOT", "weight", 1)})
	case launchType == "":
		if kind == LaunchFargate {
			req.Set("launchType", "FARGATE")
		} else {
			// No launch type lets the cluster's default capacity provider
			// strategy place an EC2 task definition.
			req.Delete("launchType")
		}
	}

	overrides := req.GetObject("overrides")
	if overrides == nil {
		overrides = jsonv.NewObject()
	}
	var list []*jsonv.Object
	for i, e := range overrides.GetArray("containerOverrides") {
		o, ok := e.(*jsonv.Object)
		if !ok {
			c.Fail("task_run_request.overrides.containerOverrides["+strconv.Itoa(i)+"]", e, "expected a container override object, got "+jsonv.TypeName(e)+".", "Make each container override a JSON object.")
			continue
		}
		list = append(list, o)
	}
	name := plan.ContainerName
	if name == "" {
		name = cfg.ContainerName
	}
	if name == "" {
		name = DefaultContainerName
	}
	plan.ContainerName = name
	if len(list) > 0 && list[0].GetString("name") == "" {
		list[0].Set("name", name)
	}
	var orchestration *jsonv.Object
	for _, o := range list {
		if o.GetString("name") == name {
			orchestration = o
			break
		}
	}
	if orchestration != nil && cfg.Command != "" {
		orchestration.Set("command", cfg.Command)
	}
	for _, o := range list {
		if cmd, ok := o.Get("command"); ok {
			if s, isStr := cmd.(string); isStr {
				argv, err := pycompat.SplitCommand(s)
				if err != nil {
					c.Fail("command", s, "the command cannot be split into words: "+err.Error()+".", "Balance the quotes, or escape the quote character with a backslash.")
				} else {
					words := make([]any, len(argv))
					for i, w := range argv {
						words[i] = w
					}
					o.Set("command", words)
				}
			}
		}
		env, _ := o.Get("environment")
		o.Set("environment", environmentList(env))
	}
	if orchestration != nil {
		merged := make([]any, 0)
		for _, e := range orchestration.GetArray("environment") {
			if eo, ok := e.(*jsonv.Object); ok && cfg.Env.Has(eo.GetString("name")) {
				continue
			}
			merged = append(merged, e)
		}
		for _, k := range cfg.Env.Keys() {
			v, _ := cfg.Env.Get(k)
			if v != nil {
				merged = append(merged, jsonv.ObjectOf("name", k, "value", v))
			}
		}
		if len(merged) > 0 {
			orchestration.Set("environment", merged)
		}
	}
	// A secret the container reads from Secrets Manager must not also be
	// passed in clear text by the override.
	if orchestration != nil && td != nil {
		if secretNames := containerSecretNames(td, name); len(secretNames) > 0 {
			var kept []any
			for _, e := range orchestration.GetArray("environment") {
				if eo, ok := e.(*jsonv.Object); ok && secretNames[eo.GetString("name")] {
					continue
				}
				kept = append(kept, e)
			}
			orchestration.Set("environment", kept)
		}
	}
	var kept []any
	for _, o := range list {
		if o.Len() > 0 {
			kept = append(kept, o)
		}
	}
	if len(kept) > 0 || overrides.Has("containerOverrides") {
		overrides.Set("containerOverrides", kept)
	}
	for _, k := range []string{"cpu", "memory"} {
		if v, ok := overrides.Get(k); ok && jsonv.Truthy(v) {
			overrides.Set(k, sizeString(v))
		}
	}
	if overrides.Len() > 0 {
		req.Set("overrides", overrides)
	}

	existing, _ := req.Get("tags")
	if tags := buildTags(existing, cfg.Labels, c); len(tags) > 0 {
		req.Set("tags", tags)
	} else {
		req.Delete("tags")
	}

	dropEmpty(req)
	// The override's environment list is meaningful even when empty only
	// to the Python worker's bookkeeping; ECS treats [] as absent, so
	// dropEmpty may remove it.
	return req
}

// environmentList turns an env map into ECS's [{name, value}] list, in map
// order, leaving out null values. A list is kept as it is.
func environmentList(env any) []any {
	switch t := env.(type) {
	case *jsonv.Object:
		out := make([]any, 0, t.Len())
		for _, k := range t.Keys() {
			v, _ := t.Get(k)
			if v == nil {
				continue
			}
			out = append(out, jsonv.ObjectOf("name", k, "value", pycompat.Str(v)))
		}
		return out
	case []any:
		out := make([]any, 0, len(t))
		for _, e := range t {
			if o, ok := e.(*jsonv.Object); ok {
				if v, has := o.Get("value"); has && v == nil {
					continue
				}
			}
			out = append(out, e)
		}
		return out
	}
	return []any{}
}

func containerSecretNames(td *jsonv.Object, container string) map[string]bool {
	names := map[string]bool{}
	for _, e := range td.GetArray("containerDefinitions") {
		o, ok := e.(*jsonv.Object)
		if !ok || o.GetString("name") != container {
			continue
		}
		for _, s := range o.GetArray("secrets") {
			if so, ok := s.(*jsonv.Object); ok {
				names[so.GetString("name")] = true
			}
		}
	}
	return names
}
