package ecsjob

import (
	"sort"
	"strings"

	"github.com/ecsworker/ecsworker/internal/ecsshape"
	"github.com/ecsworker/ecsworker/internal/jobtemplate"
	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// Build turns a rendered job configuration into the ECS requests that start
// its flow run. It makes no network call: what needs AWS is marked in the
// plan (Plan.Unresolved, Plan.Network) for the AWS layer to finish.
// Every problem found is returned at once in a *ValidationError.
func Build(rendered *jsonv.Object, rc RunContext) (*Plan, error) {
	cfg, err := ParseConfig(rendered)
	if err != nil {
		return nil, err
	}
	return BuildConfig(cfg, rc)
}

// BuildConfig is Build for an already parsed configuration.
func BuildConfig(cfg *Config, rc RunContext) (*Plan, error) {
	c := &collector{}
	plan := &Plan{
		AutoDeregister:      cfg.AutoDeregisterTaskDefinition,
		MatchLatestRevision: cfg.MatchLatestRevisionInFamily,
	}
	region := rc.Region
	if region == "" && cfg.AWSCredentials != nil {
		region = cfg.AWSCredentials.GetString("region_name")
	}
	if region == "" {
		region = MarkRegion
	}

	checkConfig(cfg, c)

	arn := cfg.TaskRunRequest.GetString("taskDefinition")
	var td *jsonv.Object // the task definition the task will run, when known
	if arn != "" {
		plan.TaskDefinitionARN = arn
		td = rc.ExistingTaskDefinition
		warnIgnoredForARN(cfg, rc, c)
	}
	kind := launchKind(cfg.TaskRunRequest, firstNonNil(td, cfg.TaskDefinition), c)
	plan.Launch = kind

	taskDefinition := arn
	if arn == "" {
		td = prepareTaskDefinition(cfg, rc, kind, region, c, plan)
		plan.TaskDefinition = td
		taskDefinition = MarkTaskDefinitionARN
		plan.Unresolved = append(plan.Unresolved, Unresolved{Path: "runTask.taskDefinition", Reason: "the ARN is known once the task definition is registered (or an identical revision is found)"})
		if region == MarkRegion && cfg.ConfigureCloudWatchLogs {
			plan.Unresolved = append(plan.Unresolved, Unresolved{Path: "registerTaskDefinition.containerDefinitions[].logConfiguration.options.awslogs-region", Reason: "the worker's AWS region; set region_name in aws_credentials or AWS_REGION"})
		}
	} else if td == nil {
		plan.Unresolved = append(plan.Unresolved, Unresolved{Path: "runTask.taskDefinition", Reason: "the existing task definition is read from AWS at run time; checks that need it (container name, network mode, compatibilities) run then"})
	}
	if td != nil && plan.ContainerName == "" {
		plan.ContainerName = inferContainerName(cfg.ContainerName, containers(td, &collector{}, ""))
	}

	req := prepareRunTask(cfg, rc, td, taskDefinition, kind, c, plan)
	if td != nil {
		applyNetwork(cfg, rc, req, networkMode(td, kind), true, c, plan)
		checkTaskDefinition(cfg, rc, td, kind, c)
	} else {
		mode, known := "", false
		if kind == LaunchFargate {
			mode, known = "awsvpc", true
		} else if len(cfg.Subnets) > 0 || cfg.NetworkConfiguration.Len() > 0 {
			mode = "awsvpc"
		}
		applyNetwork(cfg, rc, req, mode, known, c, plan)
	}
	checkRunTask(rc, req, td, kind, c)
	plan.RunTask = req

	if len(c.problems) == 0 {
		checkShapes(plan, c)
	}
	plan.Warnings = c.warnings
	if err := c.err(); err != nil {
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
func warnIgnoredForARN(cfg *Config, rc RunContext, c *collector) {
	if rc.PoolTaskDefinition == nil {
		return
	}
	var ignored []string
	seen := map[string]bool{}
	for _, p := range jobtemplate.FindPlaceholders(rc.PoolTaskDefinition) {
		if p.Kind != jobtemplate.Standard || seen[p.Name] {
			continue
		}
		seen[p.Name] = true
		if rc.explicit(p.Name) && !usedOutsideTaskDefinition(p.Name) {
			ignored = append(ignored, p.Name)
		}
	}
	if len(ignored) > 0 {
		sort.Strings(ignored)
		c.warn("task_definition_arn", "the task definition %s is used as it is, so these job variables, which only shape a task definition, have no effect: %s.", cfg.TaskRunRequest.GetString("taskDefinition"), strings.Join(ignored, ", "))
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
func checkShapes(plan *Plan, c *collector) {
	if plan.TaskDefinition != nil {
		for _, p := range ecsshape.Check(plan.TaskDefinition, "RegisterTaskDefinition") {
			c.failNoValue("task_definition."+p.Path, p.Message, "Correct the pool's task_definition template or the job variable that fills it.")
		}
	}
	for _, p := range ecsshape.Check(plan.RunTask, "RunTask") {
		c.failNoValue("task_run_request."+p.Path, p.Message, "Correct the pool's task_run_request template or the job variable that fills it.")
	}
}
