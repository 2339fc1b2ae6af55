package ecsjob

import (
	"sort"
	"strings"

	"github.com/ecsworker/ecsworker/internal/ecsrequest"
	"github.com/ecsworker/ecsworker/internal/ecsshape"
	"github.com/ecsworker/ecsworker/internal/jobconfig"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/templating"
)

// Build turns a rendered job configuration into the ECS requests that start
// its flow run. It makes no network call: what needs AWS is marked in the
// plan (Plan.Unresolved, Plan.Network) for the AWS layer to finish.
// Every problem found is returned at once in a *ValidationError.
func Build(rendered *jsonv.Object, rc ecsrequest.RunContext) (*ecsrequest.Plan, error) {
	cfg, err := jobconfig.ParseConfig(rendered)
	if err != nil {
		return nil, err
	}
	return BuildConfig(cfg, rc)
}

// BuildConfig is Build for an already parsed configuration.
func BuildConfig(cfg *jobconfig.Config, rc ecsrequest.RunContext) (*ecsrequest.Plan, error) {
	c := &jobconfig.Collector{}
	plan := &ecsrequest.Plan{
		AutoDeregister:      cfg.AutoDeregisterTaskDefinition,
		MatchLatestRevision: cfg.MatchLatestRevisionInFamily,
	}
	region := rc.Region
	if region == "" && cfg.AWSCredentials != nil {
		region = cfg.AWSCredentials.GetString("region_name")
	}
	if region == "" {
		region = ecsrequest.MarkRegion
	}

	checkConfig(cfg, c)

	arn := cfg.TaskRunRequest.GetString("taskDefinition")
	var td *jsonv.Object // the task definition the task will run, when known
	if arn != "" {
		plan.TaskDefinitionARN = arn
		td = rc.ExistingTaskDefinition
		warnIgnoredForARN(cfg, rc, c)
	}
	kind := ecsrequest.LaunchKindOf(cfg.TaskRunRequest, firstNonNil(td, cfg.TaskDefinition), c)
	plan.Launch = kind
	steps := parseFallback(cfg.CapacityFallback, c)

	taskDefinition := arn
	if arn == "" {
		// A task definition prepared for Fargate also runs on EC2 (awsvpc
		// there costs an ENI per task), so a chain with a Fargate step gets
		// one whatever its first step.
		tdKind := kind
		if kind == ecsrequest.LaunchEC2 && anyFargate(steps) {
			tdKind = ecsrequest.LaunchFargate
		}
		td = ecsrequest.TaskDefinition(cfg, rc, tdKind, region, c, plan)
		plan.TaskDefinition = td
		taskDefinition = ecsrequest.MarkTaskDefinitionARN
		plan.Unresolved = append(plan.Unresolved, ecsrequest.Unresolved{Path: "runTask.taskDefinition", Reason: "the ARN is known once the task definition is registered (or an identical revision is found)"})
		if region == ecsrequest.MarkRegion && cfg.ConfigureCloudWatchLogs {
			plan.Unresolved = append(plan.Unresolved, ecsrequest.Unresolved{Path: "registerTaskDefinition.containerDefinitions[].logConfiguration.options.awslogs-region", Reason: "the worker's AWS region; set region_name in aws_credentials or AWS_REGION"})
		}
	} else if td == nil {
		plan.Unresolved = append(plan.Unresolved, ecsrequest.Unresolved{Path: "runTask.taskDefinition", Reason: "the existing task definition is read from AWS at run time; checks that need it (container name, network mode, compatibilities) run then"})
	}
	if td != nil && plan.ContainerName == "" {
		plan.ContainerName = ecsrequest.InferContainerName(cfg.ContainerName, ecsrequest.Containers(td, &jobconfig.Collector{}, ""))
	}

	req := ecsrequest.RunTask(cfg, rc, td, taskDefinition, kind, c, plan)
	if td != nil {
		ecsrequest.ApplyNetwork(cfg, rc, req, ecsrequest.NetworkMode(td, kind), true, c, plan)
		checkTaskDefinition(cfg, rc, td, kind, c)
	} else {
		mode, known := "", false
		if kind == ecsrequest.LaunchFargate {
			mode, known = "awsvpc", true
		} else if len(cfg.Subnets) > 0 || cfg.NetworkConfiguration.Len() > 0 {
			mode = "awsvpc"
		}
		ecsrequest.ApplyNetwork(cfg, rc, req, mode, known, c, plan)
	}
	if len(steps) > 0 && plan.Network != nil && plan.Network.Infer && cfg.AssignPublicIP == nil {
		// The public IP given by default to tasks in found subnets is for
		// Fargate, which needs it to pull images there; ECS refuses it on
		// EC2. Each step gets it or not by its kind (Plan.AtStep).
		plan.DefaultPublicIP = true
		if kind != ecsrequest.LaunchFargate {
			ecsrequest.SetPublicIP(req, "")
			plan.Network.AssignPublicIP = ""
		}
	}
	checkRunTask(rc, req, td, kind, c)
	checkFallback(cfg, rc, plan, req, td, kind, steps, c)
	plan.RunTask = req
	plan.Fallback = steps
	plan.RelaunchOnSpot = cfg.RelaunchOnSpotInterruption

	if len(c.Problems) == 0 {
		checkShapes(plan, c)
	}
	plan.Warnings = c.Warnings
	if err := c.Err(); err != nil {
		return plan, err
	}
	return plan, nil
}

func firstNonNil(a, b *jsonv.Object) *jsonv.Object {
	if a != nil {
		return a
	}
	return b
}

// warnIgnoredForARN names the variables a deployment set that only shape a
// task definition, when an existing task definition makes them pointless.
// The Python worker listed every placeholder of the template, set or not.
func warnIgnoredForARN(cfg *jobconfig.Config, rc ecsrequest.RunContext, c *jobconfig.Collector) {
	if rc.PoolTaskDefinition == nil {
		return
	}
	var ignored []string
	seen := map[string]bool{}
	for _, p := range templating.FindPlaceholders(rc.PoolTaskDefinition) {
		if p.Kind != templating.Standard || seen[p.Name] {
			continue
		}
		seen[p.Name] = true
		if rc.Explicit(p.Name) && !usedOutsideTaskDefinition(p.Name) {
			ignored = append(ignored, p.Name)
		}
	}
	if len(ignored) > 0 {
		sort.Strings(ignored)
		c.Warn("task_definition_arn", "the task definition %s is used as it is, so these job variables, which only shape a task definition, have no effect: %s.", cfg.TaskRunRequest.GetString("taskDefinition"), strings.Join(ignored, ", "))
	}
}

// usedOutsideTaskDefinition lists variables that the default template also
// sends with RunTask, so they still matter with an existing task definition.
func usedOutsideTaskDefinition(name string) bool {
	switch name {
	case "cpu", "memory", "container_name", "command", "env":
		return true
	}
	return false
}

// checkShapes holds both requests to the ECS API's own shapes (field names,
// types, enum values), so that a typo in a pool template is reported now
// with its path instead of as a crashed flow run.
func checkShapes(plan *ecsrequest.Plan, c *jobconfig.Collector) {
	if plan.TaskDefinition != nil {
		for _, p := range ecsshape.Check(plan.TaskDefinition, "RegisterTaskDefinition") {
			c.FailNoValue("task_definition."+p.Path, p.Message, "Correct the pool's task_definition template or the job variable that fills it.")
		}
	}
	for _, p := range ecsshape.Check(plan.RunTask, "RunTask") {
		c.FailNoValue("task_run_request."+p.Path, p.Message, "Correct the pool's task_run_request template or the job variable that fills it.")
	}
}
