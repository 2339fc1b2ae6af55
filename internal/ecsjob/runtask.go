package ecsjob

import (
	"strconv"

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

// launchKind decides where the task runs. A capacity provider strategy
// decides it when present: FARGATE and FARGATE_SPOT mean Fargate, any other
// provider is backed by EC2 instances. The Python worker prepared the task
// definition for Fargate whenever the pool's launch_type said FARGATE (its
// default), even for an EC2 capacity provider, which ECS then refused.
func launchKind(req *jsonv.Object, td *jsonv.Object, c *collector) LaunchKind {
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
			c.fail("capacity_provider_strategy", req.GetArray("capacityProviderStrategy"), "a strategy cannot mix Fargate providers (FARGATE, FARGATE_SPOT) with EC2 Auto Scaling group providers.", "Use either FARGATE/FARGATE_SPOT or your EC2 capacity providers, not both.")
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
		compat := compatibilities(td)
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

// prepareRunTask turns the rendered task_run_request into the RunTask request.
func prepareRunTask(cfg *Config, rc RunContext, td *jsonv.Object, taskDefinition string, kind LaunchKind, c *collector, plan *Plan) *jsonv.Object {
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
		if launchType != "" && rc.explicit("launch_type") {
			c.warn("launch_type", "launch type %q is not sent because capacity_provider_strategy is set: ECS refuses a request with both, and the strategy decides where the task runs.", launchType)
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
			c.fail("task_run_request.overrides.containerOverrides["+strconv.Itoa(i)+"]", e, "expected a container override object, got "+jsonv.TypeName(e)+".", "Make each container override a JSON object.")
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
					c.fail("command", s, "the command cannot be split into words: "+err.Error()+".", "Balance the quotes, or escape the quote character with a backslash.")
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

// networkMode is the task definition's network mode as ECS applies it:
// awsvpc when unset on Fargate, bridge when unset elsewhere (Linux).
func networkMode(td *jsonv.Object, kind LaunchKind) string {
	if m := td.GetString("networkMode"); m != "" {
		return m
	}
	if kind == LaunchFargate {
		return "awsvpc"
	}
	return "bridge"
}

// applyNetwork fills RunTask's networkConfiguration for awsvpc tasks. In
// order of precedence: the network_configuration variable (checked against
// vpc_id by the AWS layer), the subnets/security_groups/assign_public_ip
// shortcuts, a networkConfiguration already in the request, and last the
// subnets of vpc_id or of the default VPC, which only AWS can list.
func applyNetwork(cfg *Config, rc RunContext, req *jsonv.Object, mode string, modeKnown bool, c *collector, plan *Plan) {
	shortcuts := len(cfg.Subnets) > 0 || len(cfg.SecurityGroups) > 0 || cfg.AssignPublicIP != nil
	custom := cfg.NetworkConfiguration.Len() > 0
	if custom && shortcuts {
		c.fail("network_configuration", cfg.NetworkConfiguration, "network_configuration and subnets/security_groups/assign_public_ip both describe the task's network.", "Keep one: the shortcuts subnets, security_groups and assign_public_ip are simpler.")
		return
	}
	if mode != "awsvpc" {
		if !modeKnown {
			return
		}
		if shortcuts {
			c.fail(firstSet(cfg), nil, "subnets, security groups and public IPs apply only to tasks in awsvpc network mode; this task definition uses "+strconv.Quote(mode)+".", `Remove them, or set "networkMode": "awsvpc" in the task definition.`)
			c.problems[len(c.problems)-1].HasValue = false
		}
		if custom {
			c.warn("network_configuration", "ignored: the task definition's network mode is %q, and only awsvpc tasks take a network configuration.", mode)
		}
		if v, ok := req.Get("networkConfiguration"); ok {
			c.fail("task_run_request.networkConfiguration", v, "ECS refuses a network configuration for a task definition in "+strconv.Quote(mode)+" network mode.", "Remove networkConfiguration from the pool's task_run_request, or use awsvpc network mode.")
		}
		return
	}

	assign := ""
	if cfg.AssignPublicIP != nil {
		assign = "DISABLED"
		if *cfg.AssignPublicIP {
			assign = "ENABLED"
		}
	}
	switch {
	case custom:
		aws := jsonv.CloneObject(cfg.NetworkConfiguration)
		var subnets []string
		for _, s := range aws.GetArray("subnets") {
			if str, ok := s.(string); ok {
				subnets = append(subnets, str)
			}
		}
		if len(subnets) == 0 {
			c.fail("network_configuration", cfg.NetworkConfiguration, "an awsvpc network configuration needs at least one subnet; ECS refuses one without.", `Add "subnets": ["subnet-..."].`)
		}
		req.Set("networkConfiguration", jsonv.ObjectOf("awsvpcConfiguration", aws))
		plan.Network = &NetworkPlan{VPCID: cfg.VPCID, CheckSubnets: subnets}
	case len(cfg.Subnets) > 0:
		if cfg.VPCID != "" {
			plan.Network = &NetworkPlan{VPCID: cfg.VPCID, CheckSubnets: cfg.Subnets}
		}
		aws := jsonv.ObjectOf("subnets", toAny(cfg.Subnets))
		if len(cfg.SecurityGroups) > 0 {
			aws.Set("securityGroups", toAny(cfg.SecurityGroups))
		}
		if assign != "" {
			aws.Set("assignPublicIp", assign)
		}
		req.Set("networkConfiguration", jsonv.ObjectOf("awsvpcConfiguration", aws))
	case hasSubnets(req):
		aws := req.GetObject("networkConfiguration").GetObject("awsvpcConfiguration")
		if len(cfg.SecurityGroups) > 0 {
			aws.Set("securityGroups", toAny(cfg.SecurityGroups))
		}
		if assign != "" {
			aws.Set("assignPublicIp", assign)
		}
	default:
		if assign == "" {
			// Subnets found this way include public ones, where a Fargate
			// task needs a public IP to pull its image: the Python worker's
			// choice, kept so that switching workers changes nothing.
			assign = "ENABLED"
		}
		aws := jsonv.ObjectOf("subnets", []any{MarkSubnets}, "assignPublicIp", assign)
		if len(cfg.SecurityGroups) > 0 {
			aws.Set("securityGroups", toAny(cfg.SecurityGroups))
		}
		req.Set("networkConfiguration", jsonv.ObjectOf("awsvpcConfiguration", aws))
		where := "the default VPC"
		if cfg.VPCID != "" {
			where = "VPC " + cfg.VPCID
		}
		plan.Network = &NetworkPlan{Infer: true, VPCID: cfg.VPCID, SecurityGroups: cfg.SecurityGroups, AssignPublicIP: assign}
		plan.Unresolved = append(plan.Unresolved, Unresolved{
			Path:   "runTask.networkConfiguration.awsvpcConfiguration.subnets",
			Reason: "the worker uses every subnet of " + where + "; set the subnets variable to choose them",
		})
	}
}

func hasSubnets(req *jsonv.Object) bool {
	return len(req.GetObject("networkConfiguration").GetObject("awsvpcConfiguration").GetArray("subnets")) > 0
}

func firstSet(cfg *Config) string {
	switch {
	case len(cfg.Subnets) > 0:
		return "subnets"
	case len(cfg.SecurityGroups) > 0:
		return "security_groups"
	}
	return "assign_public_ip"
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, e := range s {
		out[i] = e
	}
	return out
}
