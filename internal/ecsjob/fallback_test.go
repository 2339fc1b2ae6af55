package ecsjob_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/ecsjob"
	"github.com/ecsworker/ecsworker/internal/ecsrequest"
	"github.com/ecsworker/ecsworker/internal/jobconfig"
	"github.com/ecsworker/ecsworker/internal/jobtemplate"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/jsonv/jsonvtest"
)

// prepareFallback runs the pipeline on a job configuration given whole
// (no placeholders), with the existing task definition behind
// task_definition_arn when existing is set.
func prepareFallback(t *testing.T, jobConfiguration, existing string) (*ecsjob.Prepared, error) {
	t.Helper()
	obj := jsonvtest.Object(t, `{"job_configuration": `+jobConfiguration+`, "variables": {"type": "object", "properties": {}}}`)
	tmpl, err := jobtemplate.FromObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	rc := ecsrequest.RunContext{WorkPoolName: "pool", DeploymentID: "dep", DefaultImage: "prefecthq/prefect:3-latest", Region: "us-east-1"}
	if existing != "" {
		rc.ExistingTaskDefinition = jsonvtest.Object(t, existing)
	}
	return ecsjob.Prepare(context.Background(), ecsjob.Job{Template: tmpl, DeploymentVariables: jsonv.NewObject(), Context: rc})
}

// TestFallbackValidation: every chain that cannot work is refused before
// a task is launched, with the step, what is wrong and the fix.
func TestFallbackValidation(t *testing.T) {
	t.Parallel()
	const td = `"task_definition": {"containerDefinitions": [{"name": "prefect", "image": "x"}], "cpu": "256", "memory": "512"}`
	const arn = `"task_run_request": {"taskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/etl:3", "launchType": "EC2"}`
	tests := map[string]struct {
		jobConfiguration string
		existing         string // the task definition behind the ARN
		field            string
		contains         []string
	}{
		"EC2 placement strategy on a Fargate step": {
			jobConfiguration: `{` + td + `, "task_run_request": {"launchType": "EC2", "placementStrategy": [{"type": "binpack", "field": "memory"}]}, "capacity_fallback": [{"launch_type": "FARGATE"}]}`,
			field:            "task_run_request.placementStrategy", contains: []string{"capacity_fallback[0] (FARGATE)", "Fargate places tasks itself", "remove capacity_fallback[0]"},
		},
		"EC2 placement constraints on a Fargate Spot step": {
			jobConfiguration: `{` + td + `, "task_run_request": {"capacityProviderStrategy": [{"capacityProvider": "my-asg", "weight": 1}], "placementConstraints": [{"type": "distinctInstance"}]}, "capacity_fallback": [{"launch_type": "FARGATE_SPOT"}]}`,
			field:            "task_run_request.placementConstraints", contains: []string{"capacity_fallback[0] (FARGATE_SPOT)", "placement constraints"},
		},
		"task definition without FARGATE on a Fargate step": {
			jobConfiguration: `{` + arn + `, "capacity_fallback": [{"launch_type": "FARGATE"}]}`,
			existing:         `{"family": "etl", "networkMode": "awsvpc", "requiresCompatibilities": ["EC2"], "cpu": "256", "memory": "512", "containerDefinitions": [{"name": "prefect", "image": "x"}]}`,
			field:            "task_definition_arn", contains: []string{"capacity_fallback[0] (FARGATE)", "not compatible with Fargate", "remove capacity_fallback[0]"},
		},
		"bridge network mode on a Fargate step": {
			jobConfiguration: `{` + arn + `, "capacity_fallback": [{"capacity_provider_strategy": [{"capacityProvider": "FARGATE", "weight": 1}]}]}`,
			existing:         `{"family": "etl", "networkMode": "bridge", "containerDefinitions": [{"name": "prefect", "image": "x", "memory": 512}]}`,
			field:            "task_definition.networkMode", contains: []string{"capacity_fallback[0] (FARGATE)", "awsvpc"},
		},
		"GPU on a Fargate step": {
			jobConfiguration: `{"task_definition": {"containerDefinitions": [{"name": "prefect", "image": "x", "resourceRequirements": [{"type": "GPU", "value": "1"}]}], "cpu": "4096", "memory": "16384"}, "task_run_request": {"launchType": "EC2"}, "capacity_fallback": [{"launch_type": "FARGATE"}]}`,
			field:            "task_definition.containerDefinitions[0].resourceRequirements", contains: []string{"capacity_fallback[0] (FARGATE)", "no GPUs"},
		},
		"ARM64 on a Fargate Spot step": {
			jobConfiguration: `{"task_definition": {"containerDefinitions": [{"name": "prefect", "image": "x"}], "cpu": "256", "memory": "512", "runtimePlatform": {"cpuArchitecture": "ARM64"}}, "task_run_request": {"launchType": "FARGATE"}, "capacity_fallback": [{"launch_type": "FARGATE_SPOT"}]}`,
			field:            "task_definition.runtimePlatform", contains: []string{"capacity_fallback[0] (FARGATE_SPOT)", "ARM64"},
		},
		"platform version on an EC2 step": {
			jobConfiguration: `{` + td + `, "task_run_request": {"launchType": "FARGATE", "platformVersion": "1.4.0"}, "capacity_fallback": [{"launch_type": "EC2"}]}`,
			field:            "task_run_request.platformVersion", contains: []string{"capacity_fallback[0] (EC2)", "only to Fargate"},
		},
		"public IP asked for on an EC2 step": {
			jobConfiguration: `{` + td + `, "task_run_request": {"launchType": "FARGATE"}, "assign_public_ip": true, "capacity_fallback": [{"launch_type": "EC2"}]}`,
			field:            "task_run_request.networkConfiguration.awsvpcConfiguration.assignPublicIp", contains: []string{"capacity_fallback[0] (EC2)", "only to Fargate tasks", "set it to false"},
		},
		"EXTERNAL mixed with Fargate": {
			jobConfiguration: `{` + td + `, "task_run_request": {"launchType": "EXTERNAL"}, "capacity_fallback": [{"launch_type": "FARGATE"}]}`,
			field:            "capacity_fallback[0]", contains: []string{"ECS Anywhere", "awsvpc", "separate deployments"},
		},
		"both launch_type and capacity_provider_strategy": {
			jobConfiguration: `{` + td + `, "task_run_request": {"launchType": "FARGATE"}, "capacity_fallback": [{"launch_type": "EC2", "capacity_provider_strategy": [{"capacityProvider": "my-asg", "weight": 1}]}]}`,
			field:            "capacity_fallback[0]", contains: []string{"both launch_type and capacity_provider_strategy", "Keep one"},
		},
		"Fargate and ASG providers in one step": {
			jobConfiguration: `{` + td + `, "task_run_request": {"launchType": "FARGATE"}, "capacity_fallback": [{"capacity_provider_strategy": [{"capacityProvider": "my-asg", "weight": 1}, {"capacityProvider": "FARGATE", "weight": 1}]}]}`,
			field:            "capacity_fallback[0].capacity_provider_strategy", contains: []string{"cannot mix Fargate providers", "two steps"},
		},
		"duplicate of step 0": {
			jobConfiguration: `{` + td + `, "task_run_request": {"launchType": "FARGATE"}, "capacity_fallback": [{"capacity_provider_strategy": [{"capacityProvider": "FARGATE", "weight": 2}]}]}`,
			field:            "capacity_fallback[0]", contains: []string{`"FARGATE"`, "same capacity as step 0", "Remove the duplicate"},
		},
		"duplicate steps": {
			jobConfiguration: `{` + td + `, "task_run_request": {"launchType": "FARGATE"}, "capacity_fallback": [{"launch_type": "FARGATE_SPOT"}, {"launch_type": "EC2"}, {"capacity_provider_strategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]}]}`,
			field:            "capacity_fallback[2]", contains: []string{"same capacity as capacity_fallback[0]"},
		},
		"empty entry": {
			jobConfiguration: `{` + td + `, "task_run_request": {"launchType": "FARGATE"}, "capacity_fallback": [{}]}`,
			field:            "capacity_fallback[0]", contains: []string{"empty entry", "Remove it"},
		},
		"null entry": {
			jobConfiguration: `{` + td + `, "task_run_request": {"launchType": "FARGATE"}, "capacity_fallback": [null]}`,
			field:            "capacity_fallback[0]", contains: []string{"empty entry"},
		},
		"unknown key": {
			jobConfiguration: `{` + td + `, "task_run_request": {"launchType": "FARGATE"}, "capacity_fallback": [{"launch_type": "EC2", "cluster": "other"}]}`,
			field:            "capacity_fallback[0].cluster", contains: []string{"unknown key", "same on every step"},
		},
		"not a launch type": {
			jobConfiguration: `{` + td + `, "task_run_request": {"launchType": "FARGATE"}, "capacity_fallback": [{"launch_type": "fargate"}]}`,
			field:            "capacity_fallback[0].launch_type", contains: []string{`"fargate"`, "FARGATE, EC2, EXTERNAL or FARGATE_SPOT"},
		},
		"not a list": {
			jobConfiguration: `{` + td + `, "task_run_request": {"launchType": "FARGATE"}, "capacity_fallback": {"launch_type": "EC2"}}`,
			field:            "capacity_fallback", contains: []string{"expected a list"},
		},
		"provider without a name": {
			jobConfiguration: `{` + td + `, "task_run_request": {"launchType": "FARGATE"}, "capacity_fallback": [{"capacity_provider_strategy": [{"weight": 1}]}]}`,
			field:            "capacity_fallback[0].capacity_provider_strategy[0]", contains: []string{"capacityProvider name"},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := prepareFallback(t, tt.jobConfiguration, tt.existing)
			var verr *jobconfig.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Prepare = %v, want a ValidationError", err)
			}
			for _, p := range verr.Problems {
				if p.Field != tt.field {
					continue
				}
				for _, s := range tt.contains {
					if !strings.Contains(p.String(), s) {
						t.Errorf("problem %q does not say %q", p.String(), s)
					}
				}
				return
			}
			t.Errorf("no problem on %s in:\n%v", tt.field, err)
		})
	}
}

// TestFallbackChains: chains that work give the plan their steps, each a
// diff of the RunTask request, and a task definition every step can run.
func TestFallbackChains(t *testing.T) {
	t.Parallel()
	const td = `"task_definition": {"containerDefinitions": [{"name": "prefect", "image": "x"}], "cpu": "256", "memory": "512"}`
	tests := map[string]struct {
		jobConfiguration string
		steps            []string
		fallsBack        []bool
		compat           string // the prepared task definition's requiresCompatibilities
	}{
		"no fallback": {
			jobConfiguration: `{` + td + `, "task_run_request": {"launchType": "FARGATE"}}`,
			steps:            []string{"FARGATE"}, fallsBack: []bool{false}, compat: `["FARGATE"]`,
		},
		"spot then on-demand Fargate": {
			jobConfiguration: `{` + td + `, "task_run_request": {"launchType": "FARGATE_SPOT"}, "capacity_fallback": [{"launch_type": "FARGATE"}]}`,
			steps:            []string{"FARGATE_SPOT", "FARGATE"}, fallsBack: []bool{true, false}, compat: `["FARGATE"]`,
		},
		"EC2 provider then Fargate: the task definition suits both": {
			jobConfiguration: `{` + td + `, "task_run_request": {"capacityProviderStrategy": [{"capacityProvider": "my-asg", "weight": 1}]}, "capacity_fallback": [{"launch_type": "FARGATE"}]}`,
			steps:            []string{"my-asg", "FARGATE"}, fallsBack: []bool{true, false}, compat: `["FARGATE"]`,
		},
		"Fargate then EC2 launch type": {
			jobConfiguration: `{` + td + `, "task_run_request": {"launchType": "FARGATE"}, "capacity_fallback": [{"launch_type": "FARGATE_SPOT"}, {"launch_type": "EC2"}]}`,
			steps:            []string{"FARGATE", "FARGATE_SPOT", "EC2"}, fallsBack: []bool{true, true, false}, compat: `["FARGATE"]`,
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, err := prepareFallback(t, tt.jobConfiguration, "")
			if err != nil {
				t.Fatal(err)
			}
			plan := p.Plan
			var names []string
			for k, s := range plan.Steps() {
				names = append(names, s.Name())
				at := plan.AtStep(k)
				if at.FallsBack != tt.fallsBack[k] {
					t.Errorf("step %d FallsBack = %t", k, at.FallsBack)
				}
				if at.RunTask.Has("launchType") && at.RunTask.Has("capacityProviderStrategy") {
					t.Errorf("step %d sends both launchType and capacityProviderStrategy", k)
				}
				if got := ecsrequest.StepOfRequest(at.RunTask, at.Launch).Name(); got != s.Name() {
					t.Errorf("step %d request launches on %s, want %s", k, got, s.Name())
				}
				ip := at.RunTask.GetObject("networkConfiguration").GetObject("awsvpcConfiguration").GetString("assignPublicIp")
				if ip != ecsrequest.PublicIPFor(s.Kind) {
					t.Errorf("step %d (%s) assignPublicIp %q, want the default of its kind", k, s.Name(), ip)
				}
				if k > 0 && at.RunTask.GetString("cluster") != plan.RunTask.GetString("cluster") {
					t.Errorf("step %d changed more than the capacity", k)
				}
			}
			if strings.Join(names, ",") != strings.Join(tt.steps, ",") {
				t.Errorf("steps %v, want %v", names, tt.steps)
			}
			if b, _ := jsonv.Marshal(plan.TaskDefinition.GetArray("requiresCompatibilities")); string(b) != tt.compat || plan.TaskDefinition.GetString("networkMode") != "awsvpc" {
				t.Errorf("task definition requires %s in %s mode, want %s in awsvpc", b, plan.TaskDefinition.GetString("networkMode"), tt.compat)
			}
			if plan.AtStep(0).RunTask != plan.RunTask {
				t.Error("step 0 must send the request as built")
			}
		})
	}
}

// TestFallbackInDefaultTemplate: the default template takes the variables
// as a deployment's prefect.yaml gives them.
func TestFallbackInDefaultTemplate(t *testing.T) {
	t.Parallel()
	p, err := prepare(t, "", `{"capacity_provider_strategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 0}],
		"capacity_fallback": [{"capacity_provider_strategy": [{"capacityProvider": "my-asg", "weight": 1}]}, {"launch_type": "FARGATE"}],
		"relaunch_on_spot_interruption": true}`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range p.Plan.Steps() {
		names = append(names, s.Name())
	}
	if got := strings.Join(names, ","); got != "FARGATE_SPOT,my-asg,FARGATE" || !p.Plan.RelaunchOnSpot {
		t.Errorf("steps %s, relaunch %t", got, p.Plan.RelaunchOnSpot)
	}
	if _, err := prepare(t, "", `{"capacity_fallback": [{"launch_type": "SPOT"}]}`); err == nil || !strings.Contains(err.Error(), "capacity_fallback") {
		t.Errorf("a launch type the schema does not list: %v", err)
	}
	p, err = prepare(t, "", `{}`)
	if err != nil || len(p.Plan.Fallback) != 0 || p.Plan.RelaunchOnSpot || p.Plan.DefaultPublicIP {
		t.Errorf("without the variables: %v, %+v", err, p.Plan)
	}
}
