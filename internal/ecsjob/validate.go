package ecsjob

import (
	"slices"
	"strconv"
	"strings"

	"github.com/ecsworker/ecsworker/internal/ecsrequest"
	"github.com/ecsworker/ecsworker/internal/jobconfig"
	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// The ECS limit on the size of RunTask's overrides, in characters.
const maxOverridesSize = 8192

func jsonNumber(n int) any { return jsonv.Normalize(n) }

// checkConfig holds the job configuration to the Python worker's
// configuration-time rules (same meaning, our words).
func checkConfig(cfg *jobconfig.Config, c *jobconfig.Collector) {
	arn := cfg.TaskRunRequest.GetString("taskDefinition")
	if arn == "" && cfg.TaskDefinition.Len() == 0 {
		c.FailNoValue("task_definition", "the job has neither a task definition ARN nor a task definition to register.", "Set task_definition_arn, or give the pool's template a task_definition.")
	}
	defs := ecsrequest.Containers(cfg.TaskDefinition, &jobconfig.Collector{}, "")
	if len(defs) > 0 {
		allOff := true
		for _, d := range defs {
			if v, ok := d.Get("essential"); !ok || v != false {
				allOff = false
			}
		}
		if allOff {
			c.FailNoValue("task_definition.containerDefinitions", "every container is marked essential: false; ECS needs at least one essential container.", `Set "essential": true on the container that runs the flow.`)
		}
	}
	if cfg.ConfigureCloudWatchLogs && cfg.ExecutionRoleARN == "" && arn == "" && cfg.TaskDefinition.GetString("executionRoleArn") == "" {
		c.FailNoValue("configure_cloudwatch_logs", "sending logs to CloudWatch needs an execution role, and none is set.", "Set execution_role_arn to a role allowed logs:CreateLogGroup, logs:CreateLogStream and logs:PutLogEvents.")
	}
	if cfg.CloudWatchLogsOptions.Len() > 0 && !cfg.ConfigureCloudWatchLogs {
		c.Fail("cloudwatch_logs_options", cfg.CloudWatchLogsOptions, "these options only apply when configure_cloudwatch_logs is enabled.", "Set configure_cloudwatch_logs to true, or remove cloudwatch_logs_options.")
	}
	if cfg.NetworkConfiguration.Len() > 0 && cfg.VPCID == "" {
		c.Fail("network_configuration", cfg.NetworkConfiguration, "a custom network configuration needs vpc_id, so the worker can check that its subnets belong to that VPC.", "Set vpc_id, or use the subnets and security_groups variables instead.")
	}
	for _, k := range []struct{ field, value string }{
		{"execution_role_arn", cfg.ExecutionRoleARN},
		{"task_role_arn", cfg.TaskRunRequest.GetObject("overrides").GetString("taskRoleArn")},
	} {
		if k.value != "" && !strings.HasPrefix(k.value, "arn:") {
			c.Warn(k.field, "%q is not an ARN; ECS expects the role's full ARN, e.g. arn:aws:iam::123456789012:role/%s.", k.value, k.value)
		}
	}
}

// checkTaskDefinition holds the task definition the task will run (prepared
// or existing) to the rules ECS enforces for its launch type.
func checkTaskDefinition(cfg *jobconfig.Config, rc ecsrequest.RunContext, td *jsonv.Object, kind ecsrequest.LaunchKind, c *jobconfig.Collector) {
	field := func(variable, path string) string { return rc.FieldFor(variable, "task_definition."+path) }
	if cfg.ConfigureCloudWatchLogs && td.GetString("executionRoleArn") == "" {
		c.FailNoValue("configure_cloudwatch_logs", "the task definition has no execution role, which CloudWatch logging needs.", "Set execution_role_arn, or use a task definition that has one.")
	}
	compat := ecsrequest.Compatibilities(td)
	mode := ecsrequest.NetworkMode(td, kind)
	switch kind {
	case ecsrequest.LaunchFargate:
		if len(compat) > 0 && !slices.Contains(compat, "FARGATE") {
			c.Fail("task_definition_arn", compat, "this task definition is not compatible with Fargate (requiresCompatibilities has no FARGATE).", "Run it with launch_type EC2, or use a task definition that requires FARGATE.")
		}
		if mode != "awsvpc" {
			c.Fail(field("launch_type", "networkMode"), mode, "Fargate tasks only run in awsvpc network mode.", `Use launch_type EC2, or set "networkMode": "awsvpc".`)
		}
	case ecsrequest.LaunchExternal:
		if len(compat) > 0 && !slices.Contains(compat, "EXTERNAL") {
			c.Fail("task_definition_arn", compat, "ECS Anywhere (launch_type EXTERNAL) runs only task definitions that require EXTERNAL.", `Add "EXTERNAL" to requiresCompatibilities.`)
		}
		if mode == "awsvpc" {
			c.Fail(field("launch_type", "networkMode"), mode, "ECS Anywhere (EXTERNAL) tasks cannot use awsvpc network mode.", "Use bridge, host or none.")
		}
	}

	defs := ecsrequest.Containers(td, c, "task_definition")
	hasSecrets := false
	for i, d := range defs {
		path := "task_definition.containerDefinitions[" + strconv.Itoa(i) + "]"
		if n := d.GetString("name"); n != "" && !ecsrequest.IsName(n) {
			c.Fail(rc.FieldFor("container_name", path+".name"), n, "a container name may have up to 255 letters, digits, hyphens and underscores.", "Rename the container.")
		}
		if len(d.GetArray("secrets")) > 0 {
			hasSecrets = true
		}
		if kind == ecsrequest.LaunchFargate {
			for _, r := range d.GetArray("resourceRequirements") {
				if o, ok := r.(*jsonv.Object); ok && o.GetString("type") == "GPU" {
					c.Fail(rc.FieldFor("resource_requirements", path+".resourceRequirements"), d.GetArray("resourceRequirements"), "Fargate has no GPUs.", "Run GPU flows on EC2: set launch_type EC2 or an EC2 capacity provider backed by GPU instances.")
				}
			}
		}
	}
	if hasSecrets && td.GetString("executionRoleArn") == "" {
		c.FailNoValue(rc.FieldFor("secrets", "task_definition.containerDefinitions[].secrets"), "containers read secrets at start-up through the execution role, and the task definition has none.", "Set execution_role_arn to a role allowed to read those secrets (secretsmanager:GetSecretValue or ssm:GetParameters).")
	}

	if kind == ecsrequest.LaunchFargate {
		cpuV, _ := td.Get("cpu")
		memV, _ := td.Get("memory")
		cpu, okCPU := ecsrequest.ParseCPU(cpuV)
		mem, okMem := ecsrequest.ParseMemory(memV)
		// The request carries sizes as strings, as ECS declares them; the
		// message shows what the job configuration said (cpu: 300, not
		// "300"), since that is what the user wrote and will edit.
		written := func(key string, sent any) any {
			if cfg.TaskRunRequest.GetString("taskDefinition") == "" {
				if v, ok := cfg.TaskDefinition.Get(key); ok && jsonv.Truthy(v) {
					return v
				}
			}
			return sent
		}
		switch {
		case cpuV != nil && !okCPU:
			c.Fail(rc.FieldFor("cpu", "task_definition.cpu"), written("cpu", cpuV), "not a CPU size.", "Give CPU units such as 1024, or \"1 vCPU\".")
		case memV != nil && !okMem:
			c.Fail(rc.FieldFor("memory", "task_definition.memory"), written("memory", memV), "not a memory size.", "Give MiB such as 2048, or \"2 GB\".")
		case okCPU && fargateMemoryChoices(cpu) == nil:
			c.Fail(rc.FieldFor("cpu", "task_definition.cpu"), written("cpu", cpuV), "Fargate does not offer this CPU size.", "Use one of "+fargateCPUs()+".")
		case okCPU && okMem && !containsInt(fargateMemoryChoices(cpu), mem):
			c.Fail(rc.FieldFor("memory", "task_definition.memory"), written("memory", memV), "Fargate does not offer this memory size with "+strconv.Itoa(cpu)+" CPU units.", "With cpu "+strconv.Itoa(cpu)+" use memory "+describeMemoryChoices(cpu)+" (MiB), or change cpu.")
		}
		if len(td.GetArray("placementConstraints")) > 0 {
			c.Fail("task_definition.placementConstraints", td.GetArray("placementConstraints"), "placement constraints do not apply to Fargate tasks; Fargate places tasks itself.", "Remove them, or run on EC2 (launch_type EC2 or an EC2 capacity provider).")
		}
	}
	if es := td.GetObject("ephemeralStorage"); es != nil {
		v, _ := es.Get("sizeInGiB")
		n, isNum := v.(interface{ Int64() (int64, error) })
		size := int64(-1)
		if isNum {
			size, _ = n.Int64()
		}
		f := rc.FieldFor("ephemeral_storage", "task_definition.ephemeralStorage.sizeInGiB")
		switch {
		case kind != ecsrequest.LaunchFargate:
			c.Fail(f, v, "ephemeral storage can only be sized for Fargate tasks.", "Remove it, or use launch_type FARGATE; on EC2 use a volume instead.")
		case size < 21 || size > 200:
			c.Fail(f, v, "Fargate ephemeral storage must be 21 to 200 GiB.", "Pick a size from 21 to 200, or leave it unset for the default 20 GiB.")
		}
	}
}

func containsInt(list []int, n int) bool {
	for _, e := range list {
		if e == n {
			return true
		}
	}
	return false
}

// checkRunTask holds the RunTask request to the rules ECS enforces.
func checkRunTask(rc ecsrequest.RunContext, req *jsonv.Object, td *jsonv.Object, kind ecsrequest.LaunchKind, c *jobconfig.Collector) {
	strategy := req.GetArray("placementStrategy")
	constraints := req.GetArray("placementConstraints")
	if kind == ecsrequest.LaunchFargate {
		fix := "Use launch_type EC2 or an EC2 capacity provider strategy, or remove them."
		if len(strategy) > 0 {
			c.Fail(rc.FieldFor("placement_strategy", "task_run_request.placementStrategy"), strategy, "placement strategies do not apply to Fargate tasks; Fargate places tasks itself.", fix)
		}
		if len(constraints) > 0 {
			c.Fail(rc.FieldFor("placement_constraints", "task_run_request.placementConstraints"), constraints, "placement constraints do not apply to Fargate tasks; Fargate places tasks itself.", fix)
		}
	}
	for i, e := range strategy {
		o, ok := e.(*jsonv.Object)
		if !ok {
			continue
		}
		f := rc.FieldFor("placement_strategy", "task_run_request.placementStrategy") + "[" + strconv.Itoa(i) + "]"
		switch field := o.GetString("field"); o.GetString("type") {
		case "binpack":
			if field != "cpu" && field != "memory" {
				c.Fail(f, o, "binpack packs on cpu or memory.", `Set "field" to "cpu" or "memory".`)
			}
		case "spread":
			if field == "" {
				c.Fail(f, o, "spread needs a field to spread over.", `Set "field", e.g. "attribute:ecs.availability-zone" or "instanceId".`)
			}
		case "random":
			if field != "" {
				c.Fail(f, o, "random placement takes no field.", `Remove "field".`)
			}
		}
	}
	for i, e := range constraints {
		o, ok := e.(*jsonv.Object)
		if !ok {
			continue
		}
		f := rc.FieldFor("placement_constraints", "task_run_request.placementConstraints") + "[" + strconv.Itoa(i) + "]"
		switch o.GetString("type") {
		case "memberOf":
			if o.GetString("expression") == "" {
				c.Fail(f, o, "memberOf needs an expression.", `Add "expression", e.g. "attribute:ecs.instance-type =~ t3.*".`)
			}
		case "distinctInstance":
			if o.Has("expression") {
				c.Fail(f, o, "distinctInstance takes no expression.", `Remove "expression", or use type memberOf.`)
			}
		}
	}
	if v := req.GetString("platformVersion"); v != "" && kind != ecsrequest.LaunchFargate {
		c.Fail(rc.FieldFor("platform_version", "task_run_request.platformVersion"), v, "a platform version applies only to Fargate tasks.", "Remove platform_version.")
	}
	if v := req.GetString("propagateTags"); v == "SERVICE" {
		c.Fail(rc.FieldFor("propagate_tags", "task_run_request.propagateTags"), v, "a task started by RunTask has no service to copy tags from.", "Use TASK_DEFINITION or NONE.")
	}
	if v, ok := req.Get("count"); ok && !jsonv.Equal(v, jsonNumber(1)) {
		c.Fail("task_run_request.count", v, "a flow run runs in exactly one ECS task.", "Remove count from the pool's task_run_request.")
	}

	providers := req.GetArray("capacityProviderStrategy")
	if len(providers) > 6 {
		c.Fail(rc.FieldFor("capacity_provider_strategy", "task_run_request.capacityProviderStrategy"), providers, "ECS accepts at most 6 capacity providers in a strategy.", "Remove some providers.")
	}
	withBase := 0
	for _, e := range providers {
		o, ok := e.(*jsonv.Object)
		if !ok {
			continue
		}
		if b, ok := o.Get("base"); ok && jsonv.Truthy(b) {
			withBase++
		}
		if o.GetString("capacityProvider") == "" {
			c.Fail(rc.FieldFor("capacity_provider_strategy", "task_run_request.capacityProviderStrategy"), o, "each item needs a capacityProvider name.", `Add "capacityProvider", e.g. "FARGATE_SPOT" or your Auto Scaling group provider.`)
		}
		if o.GetString("capacityProvider") == "FARGATE_SPOT" && td != nil {
			if rp := td.GetObject("runtimePlatform"); rp != nil && rp.GetString("cpuArchitecture") == "ARM64" {
				c.Fail(rc.FieldFor("runtime_platform", "task_definition.runtimePlatform"), rp, "Fargate Spot does not run ARM64 tasks.", "Use launch_type FARGATE for ARM64, or X86_64 on Fargate Spot.")
			}
		}
	}
	if withBase > 1 {
		c.Fail(rc.FieldFor("capacity_provider_strategy", "task_run_request.capacityProviderStrategy"), providers, "only one capacity provider in a strategy may have a base greater than 0.", "Set base to 0 on all providers but one.")
	}

	if o := req.GetObject("overrides"); o != nil {
		if b, err := jsonv.Marshal(o); err == nil && len(b) > maxOverridesSize {
			c.FailNoValue("env", "the RunTask overrides (command and environment) come to "+strconv.Itoa(len(b))+" characters; ECS allows "+strconv.Itoa(maxOverridesSize)+".", "Move large values out of env: into secrets, the image, or the task definition's environment.")
		}
	}
}
