package ecsjob_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ecsworker/ecsworker/internal/ecsjob"
	"github.com/ecsworker/ecsworker/internal/ecsrequest"
	"github.com/ecsworker/ecsworker/internal/golden"
	"github.com/ecsworker/ecsworker/internal/jobconfig"
	"github.com/ecsworker/ecsworker/internal/jobtemplate"
	"github.com/ecsworker/ecsworker/internal/jsonv"
)

const examples = "../../examples"

// goldenCase renders one job through the whole pipeline.
type goldenCase struct {
	template     string // file; empty means ecsworker's default template
	jobVariables string // file or inline JSON
	withFlowRun  bool   // add examples/flow-run.json and friends
	region       string
}

// TestGolden runs the pipeline on the real user configurations under
// examples/ (and a few more) and compares everything it produces, requests,
// warnings, unresolved values and problems, with testdata/golden.
func TestGolden(t *testing.T) {
	t.Parallel()
	cases := map[string]goldenCase{
		"default-no-variables":           {},
		"default-no-variables-flow-run":  {withFlowRun: true, region: "eu-west-1"},
		"ec2-placement":                  {jobVariables: "ec2-placement.job-variables.json"},
		"ec2-plain":                      {jobVariables: "ec2-plain.job-variables.json"},
		"ec2-capacity-provider":          {jobVariables: "ec2-capacity-provider.job-variables.json"},
		"fargate-spot":                   {jobVariables: "fargate-spot.job-variables.json"},
		"fargate-placement":              {jobVariables: "fargate-placement.job-variables.json"},
		"both-launch-type-and-provider":  {jobVariables: "both-launch-type-and-provider.job-variables.json"},
		"nested-overrides":               {jobVariables: "nested-overrides.job-variables.json"},
		"existing-task-definition":       {jobVariables: "existing-task-definition.job-variables.json"},
		"placement-template":             {template: examples + "/placement-template.base-job-template.json"},
		"prefect-server-template":        {template: "../jobtemplate/testdata/prefect-aws-ecs-template.json", withFlowRun: true, region: "us-east-1"},
		"prefect-server-template-custom": {template: "../jobtemplate/testdata/prefect-aws-ecs-template.json", jobVariables: `{"cpu": 512, "memory": 1024, "image": "my/image:1", "configure_cloudwatch_logs": true, "execution_role_arn": "arn:aws:iam::123456789012:role/exec", "stream_output": true, "vpc_id": "vpc-1", "network_configuration": {"subnets": ["subnet-1"], "securityGroups": ["sg-1"], "assignPublicIp": "DISABLED"}}`, withFlowRun: true, region: "us-east-1"},
		"all-new-variables": {jobVariables: `{
			"launch_type": "FARGATE", "cpu": 4096, "memory": 16384, "ephemeral_storage": 100,
			"runtime_platform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
			"platform_version": "1.4.0", "propagate_tags": "TASK_DEFINITION", "enable_execute_command": true,
			"subnets": ["subnet-a"], "security_groups": ["sg-a"], "assign_public_ip": false,
			"secrets": {"DB_PASSWORD": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db"},
			"prefect_api_key_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:prefect-key",
			"execution_role_arn": "arn:aws:iam::123456789012:role/exec",
			"family": "etl-arm", "cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/prod"}`, withFlowRun: true, region: "us-east-1"},
		"remaining-variables": {jobVariables: `{
			"name": "etl-{{ ctx.flow_run.name }}", "command": "python -m my_flows.run --date '2026-11-23'",
			"aws_credentials": {"region_name": "ap-southeast-2", "aws_access_key_id": "AKIAEXAMPLE", "aws_secret_access_key": "not-shown"},
			"container_name": "flow", "configure_cloudwatch_logs": true,
			"cloudwatch_logs_options": {"awslogs-group": "/prefect/flows", "awslogs-create-group": "false"},
			"cloudwatch_logs_prefix": "etl", "execution_role_arn": "arn:aws:iam::123456789012:role/exec",
			"task_role_arn": "arn:aws:iam::123456789012:role/task",
			"auto_deregister_task_definition": true, "match_latest_revision_in_family": true,
			"env": {"PREFECT_API_URL": null, "EMPTY": "", "FLAG": "1"}, "labels": {"team": "data platform"},
			"vpc_id": "vpc-0abc", "security_groups": ["sg-1"]}`, withFlowRun: true},
		"ec2-gpu":  {jobVariables: `{"launch_type": "EC2", "cluster": "gpu", "resource_requirements": [{"type": "GPU", "value": "1"}], "memory": 30000, "cpu": 4096}`},
		"external": {jobVariables: `{"launch_type": "EXTERNAL", "cluster": "on-prem"}`},
		// Mistakes, and the messages that name the fix.
		"typo-variable":           {jobVariables: `{"clusterr": "prod", "memroy": 4096}`},
		"unknown-variable":        {jobVariables: `{"stream_logs": true}`},
		"fargate-cpu":             {jobVariables: `{"cpu": 300}`},
		"fargate-memory":          {jobVariables: `{"cpu": 256, "memory": 3000}`},
		"launch-type-wrong-case":  {jobVariables: `{"launch_type": "fargate"}`},
		"launch-type-not-allowed": {jobVariables: `{"launch_type": "MANAGED_INSTANCES"}`},
		"placement-wrong-case":    {jobVariables: `{"launch_type": "EC2", "placement_strategy": [{"type": "SPREAD", "field": "instanceId"}]}`},
		// Capacity fallback: the steps after the task's own.
		"fallback-spot-to-fargate":          {jobVariables: `{"capacity_provider_strategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 0}], "capacity_fallback": [{"launch_type": "FARGATE"}], "relaunch_on_spot_interruption": true}`},
		"fallback-ec2-provider-to-fargate":  {jobVariables: `{"capacity_provider_strategy": [{"capacityProvider": "my-asg", "weight": 1, "base": 1}], "capacity_fallback": [{"capacity_provider_strategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]}, {"launch_type": "FARGATE"}]}`},
		"fallback-ec2-placement-on-fargate": {jobVariables: `{"launch_type": "EC2", "placement_strategy": [{"type": "binpack", "field": "memory"}], "capacity_fallback": [{"launch_type": "FARGATE"}]}`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := runGolden(t, tc)
			golden.Check(t, "./internal/ecsjob", filepath.Join("golden", name+".json"), got)
		})
	}
}

func runGolden(t *testing.T, tc goldenCase) []byte {
	t.Helper()
	tmpl := ecsjob.DefaultTemplate()
	if tc.template != "" {
		var err error
		if tmpl, err = jobtemplate.Parse(mustRead(t, tc.template)); err != nil {
			t.Fatal(err)
		}
	}
	var vars *jsonv.Object
	if tc.jobVariables != "" {
		data := []byte(tc.jobVariables)
		if tc.jobVariables[0] != '{' {
			data = mustRead(t, filepath.Join(examples, tc.jobVariables))
		}
		var err error
		if vars, err = jsonv.DecodeObject(data); err != nil {
			t.Fatal(err)
		}
	}
	job := ecsjob.Job{
		Template:         tmpl,
		FlowRunVariables: vars,
		Context:          ecsrequest.RunContext{DefaultImage: "prefecthq/prefect:3-latest", Region: tc.region},
		Render:           jobtemplate.RenderOptions{LookupEnv: func(string) (string, bool) { return "", false }},
	}
	if tc.withFlowRun {
		flowRun := mustObject(t, examples+"/flow-run.json")
		deployment := mustObject(t, examples+"/deployment.json")
		pool := mustObject(t, examples+"/work-pool.json")
		job.FlowRun = &jobtemplate.FlowRunContext{
			FlowRun: flowRun, Deployment: deployment, Flow: mustObject(t, examples+"/flow.json"), WorkPool: pool,
			WorkerName: "ecsworker-test", BaseEnv: jsonv.ObjectOf("PREFECT_API_URL", "http://127.0.0.1:4200/api"),
			Version: "test",
		}
		job.Context.WorkPoolName = pool.GetString("name")
		job.Context.DeploymentID = deployment.GetString("id")
		job.Context.FlowID = flowRun.GetString("flow_id")
	}
	prepared, err := ecsjob.Prepare(context.Background(), job)
	out := jsonv.NewObject()
	var verr *jobconfig.ValidationError
	switch {
	case errors.As(err, &verr):
		var problems []any
		for _, p := range verr.Problems {
			problems = append(problems, p.String())
		}
		out.Set("problems", problems)
	case err != nil:
		t.Fatalf("Prepare: %v", err)
	default:
		var td any
		if prepared.Plan.TaskDefinition != nil {
			td = prepared.Plan.TaskDefinition
		}
		out.Set("registerTaskDefinition", td)
		out.Set("runTask", prepared.Plan.RunTask)
		out.Set("launch", string(prepared.Plan.Launch))
		out.Set("containerName", prepared.Plan.ContainerName)
		out.Set("cluster", prepared.Plan.Cluster)
		if n := prepared.Plan.Network; n != nil {
			out.Set("network", jsonv.Normalize(*n))
		}
		if plan := prepared.Plan; len(plan.Fallback) > 0 {
			// Each step as the RunTask fields it changes.
			var steps []any
			for k, s := range plan.Steps() {
				req := plan.AtStep(k).RunTask
				step := jsonv.ObjectOf("name", s.Name(), "kind", string(s.Kind), "fallsBack", plan.AtStep(k).FallsBack)
				for _, f := range []string{"launchType", "capacityProviderStrategy"} {
					if v, ok := req.Get(f); ok {
						step.Set(f, v)
					}
				}
				if v, ok := req.GetObject("networkConfiguration").GetObject("awsvpcConfiguration").Get("assignPublicIp"); ok {
					step.Set("assignPublicIp", v)
				}
				steps = append(steps, step)
			}
			out.Set("capacitySteps", steps)
			out.Set("relaunchOnSpot", plan.RelaunchOnSpot)
		}
	}
	if prepared != nil {
		var warnings, unresolved []any
		for _, w := range prepared.Warnings {
			warnings = append(warnings, w.String())
		}
		for _, u := range prepared.Unresolved {
			unresolved = append(unresolved, u.Path+": "+u.Reason)
		}
		out.Set("warnings", warnings)
		out.Set("unresolved", unresolved)
	}
	b, err := jsonv.MarshalIndent(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustObject(t *testing.T, path string) *jsonv.Object {
	t.Helper()
	o, err := jsonv.DecodeObject(mustRead(t, path))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return o
}
