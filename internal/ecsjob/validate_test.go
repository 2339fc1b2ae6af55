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
)

// prepare runs the pipeline on the default template, or on a template whose
// job_configuration is given, with the given job variables.
func prepare(t *testing.T, jobConfiguration, vars string) (*ecsjob.Prepared, error) {
	t.Helper()
	tmpl := ecsjob.DefaultTemplate()
	if jobConfiguration != "" {
		obj, err := jsonv.DecodeObject([]byte(`{"job_configuration": ` + jobConfiguration + `, "variables": {"type": "object", "properties": {}}}`))
		if err != nil {
			t.Fatal(err)
		}
		if tmpl, err = jobtemplate.FromObject(obj); err != nil {
			t.Fatal(err)
		}
	}
	values, err := jsonv.DecodeObject([]byte(vars))
	if err != nil {
		t.Fatal(err)
	}
	return ecsjob.Prepare(context.Background(), ecsjob.Job{
		Template:            tmpl,
		DeploymentVariables: values,
		Context: ecsrequest.RunContext{
			WorkPoolName: "pool", DeploymentID: "dep", DefaultImage: "prefecthq/prefect:3-latest", Region: "us-east-1",
		},
	})
}

// TestValidation covers every rule: each case must fail with a problem on
// the named field whose text says what is wrong and what to do.
func TestValidation(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		jobConfiguration string
		vars             string
		field            string
		contains         []string
	}{
		// The Python worker's rules.
		"no task definition and no ARN": {
			jobConfiguration: `{"task_run_request": {}}`, vars: `{}`,
			field: "task_definition", contains: []string{"neither a task definition ARN", "Fix:"},
		},
		"no essential container": {
			jobConfiguration: `{"task_definition": {"containerDefinitions": [{"name": "prefect", "essential": false}, {"name": "b", "essential": false}]}, "task_run_request": {}}`, vars: `{}`,
			field: "task_definition.containerDefinitions", contains: []string{"essential"},
		},
		"cloudwatch logs without execution role": {
			vars:  `{"configure_cloudwatch_logs": true}`,
			field: "configure_cloudwatch_logs", contains: []string{"execution role", "execution_role_arn"},
		},
		"cloudwatch options without cloudwatch logs": {
			vars:  `{"cloudwatch_logs_options": {"awslogs-group": "g"}}`,
			field: "cloudwatch_logs_options", contains: []string{`{"awslogs-group":"g"}`, "configure_cloudwatch_logs"},
		},
		"network configuration without vpc": {
			vars:  `{"network_configuration": {"subnets": ["subnet-1"]}}`,
			field: "network_configuration", contains: []string{"vpc_id"},
		},
		"container not in task definition": {
			jobConfiguration: `{"task_definition": {"containerDefinitions": [{"name": "web", "image": "x"}]}, "task_run_request": {}, "container_name": "app"}`, vars: `{}`,
			field: "container_name", contains: []string{`"app"`, "no container with this name"},
		},
		"fargate with bridge network mode": {
			jobConfiguration: `{"task_definition": {"containerDefinitions": [{"name": "prefect", "image": "x"}], "networkMode": "bridge"}, "task_run_request": {"launchType": "FARGATE"}}`, vars: `{}`,
			field: "task_definition.networkMode", contains: []string{`"bridge"`, "awsvpc"},
		},
		// Rules ECS enforces that the Python worker left to run time.
		"placement strategy on fargate": {
			vars:  `{"placement_strategy": [{"type": "binpack", "field": "cpu"}]}`,
			field: "placement_strategy", contains: []string{"Fargate", "EC2"},
		},
		"placement constraints on fargate spot": {
			vars:  `{"launch_type": "FARGATE_SPOT", "placement_constraints": [{"type": "distinctInstance"}]}`,
			field: "placement_constraints", contains: []string{"Fargate"},
		},
		"placement constraints on a fargate capacity provider": {
			vars:  `{"capacity_provider_strategy": [{"capacityProvider": "FARGATE", "weight": 1, "base": 0}], "placement_constraints": [{"type": "distinctInstance"}]}`,
			field: "placement_constraints", contains: []string{"Fargate"},
		},
		"task definition placement constraints on fargate": {
			jobConfiguration: `{"task_definition": {"containerDefinitions": [{"name": "prefect", "image": "x"}], "placementConstraints": [{"type": "memberOf", "expression": "attribute:a == b"}]}, "task_run_request": {"launchType": "FARGATE"}}`, vars: `{}`,
			field: "task_definition.placementConstraints", contains: []string{"Fargate"},
		},
		"binpack on a bad field": {
			vars:  `{"launch_type": "EC2", "placement_strategy": [{"type": "binpack", "field": "disk"}]}`,
			field: "placement_strategy[0]", contains: []string{"cpu", "memory"},
		},
		"spread without field": {
			vars:  `{"launch_type": "EC2", "placement_strategy": [{"type": "spread"}]}`,
			field: "placement_strategy[0]", contains: []string{"attribute:ecs.availability-zone"},
		},
		"memberOf without expression": {
			vars:  `{"launch_type": "EC2", "placement_constraints": [{"type": "memberOf"}]}`,
			field: "placement_constraints[0]", contains: []string{"expression"},
		},
		"mixed fargate and ec2 providers": {
			vars:  `{"capacity_provider_strategy": [{"capacityProvider": "FARGATE", "weight": 1, "base": 0}, {"capacityProvider": "asg", "weight": 1, "base": 0}]}`,
			field: "capacity_provider_strategy", contains: []string{"cannot mix"},
		},
		"two providers with a base": {
			vars:  `{"capacity_provider_strategy": [{"capacityProvider": "a", "weight": 1, "base": 1}, {"capacityProvider": "b", "weight": 1, "base": 2}]}`,
			field: "capacity_provider_strategy", contains: []string{"base"},
		},
		"awsvpc without subnets": {
			vars:  `{"vpc_id": "vpc-1", "network_configuration": {"securityGroups": ["sg-1"]}}`,
			field: "network_configuration", contains: []string{"subnet"},
		},
		"network shortcuts on bridge mode": {
			vars:  `{"launch_type": "EC2", "subnets": ["subnet-1"]}`,
			field: "subnets", contains: []string{"awsvpc", `"bridge"`},
		},
		"network configuration and shortcuts together": {
			vars:  `{"vpc_id": "vpc-1", "network_configuration": {"subnets": ["subnet-1"]}, "subnets": ["subnet-2"]}`,
			field: "network_configuration", contains: []string{"Keep one"},
		},
		"invalid fargate cpu": {
			vars:  `{"cpu": 300}`,
			field: "cpu", contains: []string{"300", "256, 512, 1024, 2048, 4096, 8192, 16384"},
		},
		"invalid fargate memory for cpu": {
			vars:  `{"cpu": 256, "memory": 4096}`,
			field: "memory", contains: []string{"4096", "512, 1024, 2048"},
		},
		"invalid fargate memory for large cpu": {
			vars:  `{"cpu": 8192, "memory": 20000}`,
			field: "memory", contains: []string{"16384 to 61440 in steps of 4096"},
		},
		"ephemeral storage too small": {
			vars:  `{"ephemeral_storage": 20}`,
			field: "ephemeral_storage", contains: []string{"21"},
		},
		"ephemeral storage on ec2": {
			vars:  `{"launch_type": "EC2", "ephemeral_storage": 50}`,
			field: "ephemeral_storage", contains: []string{"Fargate"},
		},
		"gpu on fargate": {
			vars:  `{"resource_requirements": [{"type": "GPU", "value": "1"}]}`,
			field: "resource_requirements", contains: []string{"GPU"},
		},
		"arm64 on fargate spot": {
			vars:  `{"launch_type": "FARGATE_SPOT", "runtime_platform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"}}`,
			field: "runtime_platform", contains: []string{"ARM64"},
		},
		"platform version on ec2": {
			vars:  `{"launch_type": "EC2", "platform_version": "1.4.0"}`,
			field: "platform_version", contains: []string{"Fargate"},
		},
		"secrets without execution role": {
			vars:  `{"secrets": {"DB": "arn:aws:secretsmanager:us-east-1:1:secret:db"}}`,
			field: "secrets", contains: []string{"execution_role_arn"},
		},
		"external with awsvpc": {
			jobConfiguration: `{"task_definition": {"containerDefinitions": [{"name": "prefect", "image": "x"}], "networkMode": "awsvpc"}, "task_run_request": {"launchType": "EXTERNAL"}}`, vars: `{}`,
			field: "task_definition.networkMode", contains: []string{"EXTERNAL"},
		},
		"invalid family": {
			vars:  `{"family": "my family.v2"}`,
			field: "family", contains: []string{`"my-family-v2"`},
		},
		"count other than one": {
			jobConfiguration: `{"task_definition": {"containerDefinitions": [{"name": "prefect", "image": "x"}]}, "task_run_request": {"count": 2}}`, vars: `{}`,
			field: "task_run_request.count", contains: []string{"exactly one"},
		},
		"unbalanced command quotes": {
			vars:  `{"command": "python -c 'print(1)"}`,
			field: "command", contains: []string{"quot"},
		},
		// Job variables that break the template's schema.
		"cpu of the wrong type": {
			vars:  `{"cpu": "lots"}`,
			field: "cpu", contains: []string{`"lots"`, "schema"},
		},
		"launch type not in the enum": {
			vars:  `{"launch_type": "LAMBDA"}`,
			field: "launch_type", contains: []string{"LAMBDA"},
		},
		// Pool templates checked against the ECS API's shapes.
		"typo in a template field": {
			jobConfiguration: `{"task_definition": {"containerDefinitions": [{"name": "prefect", "image": "x", "portMapings": [{"containerPort": 80}]}]}, "task_run_request": {}}`, vars: `{}`,
			field: "task_definition.containerDefinitions[0].portMapings", contains: []string{"portMappings"},
		},
		"wrong enum case in a template": {
			jobConfiguration: `{"task_definition": {"containerDefinitions": [{"name": "prefect", "image": "x"}]}, "task_run_request": {"launchType": "EC2", "placementStrategy": [{"type": "SPREAD", "field": "instanceId"}]}}`, vars: `{}`,
			field: "task_run_request.placementStrategy[0].type", contains: []string{"spread"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := prepare(t, tc.jobConfiguration, tc.vars)
			var verr *jobconfig.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("want a validation error, got %v", err)
			}
			for _, p := range verr.Problems {
				if p.Field != tc.field {
					continue
				}
				text := p.String()
				for _, s := range tc.contains {
					if !strings.Contains(text, s) {
						t.Errorf("problem %q does not mention %q", text, s)
					}
				}
				if p.Fix == "" {
					t.Errorf("problem %q has no fix", text)
				}
				return
			}
			t.Errorf("no problem on %s; got:\n%v", tc.field, err)
		})
	}
}

// TestAllProblemsTogether checks that one configuration with several
// mistakes reports all of them, not just the first.
func TestAllProblemsTogether(t *testing.T) {
	t.Parallel()
	_, err := prepare(t, "", `{"cpu": 300, "placement_strategy": [{"type": "binpack", "field": "cpu"}], "ephemeral_storage": 500, "cloudwatch_logs_options": {"a": "b"}}`)
	var verr *jobconfig.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("want a validation error, got %v", err)
	}
	fields := map[string]bool{}
	for _, p := range verr.Problems {
		fields[p.Field] = true
	}
	for _, f := range []string{"cpu", "placement_strategy", "ephemeral_storage", "cloudwatch_logs_options"} {
		if !fields[f] {
			t.Errorf("no problem reported for %s; got %v", f, err)
		}
	}
}

// TestLaunchTypes covers every combination of launch type and capacity
// provider strategy: what RunTask carries and how the task definition is
// prepared.
func TestLaunchTypes(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		vars           string
		launchType     string // "" = absent
		strategy       string // compact JSON of capacityProviderStrategy, "" = absent
		compat         string // compact JSON of requiresCompatibilities, "" = absent
		networkMode    string
		containerCPU   bool // container-level cpu/memory set (EC2-style preparation)
		warningMention string
	}{
		"default is fargate":        {vars: `{}`, launchType: "FARGATE", compat: `["FARGATE"]`, networkMode: "awsvpc"},
		"fargate":                   {vars: `{"launch_type": "FARGATE"}`, launchType: "FARGATE", compat: `["FARGATE"]`, networkMode: "awsvpc"},
		"fargate spot":              {vars: `{"launch_type": "FARGATE_SPOT"}`, strategy: `[{"capacityProvider":"FARGATE_SPOT","weight":1}]`, compat: `["FARGATE"]`, networkMode: "awsvpc"},
		"ec2":                       {vars: `{"launch_type": "EC2"}`, launchType: "EC2", containerCPU: true},
		"external":                  {vars: `{"launch_type": "EXTERNAL"}`, launchType: "EXTERNAL", compat: `["EXTERNAL"]`, containerCPU: true},
		"null launch type":          {vars: `{"launch_type": null}`, launchType: "FARGATE", compat: `["FARGATE"]`, networkMode: "awsvpc"},
		"ec2 capacity provider":     {vars: `{"capacity_provider_strategy": [{"capacityProvider": "asg", "weight": 1, "base": 0}]}`, strategy: `[{"capacityProvider":"asg","weight":1,"base":0}]`, containerCPU: true},
		"fargate providers":         {vars: `{"capacity_provider_strategy": [{"capacityProvider": "FARGATE", "weight": 1, "base": 1}, {"capacityProvider": "FARGATE_SPOT", "weight": 3, "base": 0}]}`, strategy: `[{"capacityProvider":"FARGATE","weight":1,"base":1},{"capacityProvider":"FARGATE_SPOT","weight":3,"base":0}]`, compat: `["FARGATE"]`, networkMode: "awsvpc"},
		"ec2 and provider":          {vars: `{"launch_type": "EC2", "capacity_provider_strategy": [{"capacityProvider": "asg", "weight": 1, "base": 0}]}`, strategy: `[{"capacityProvider":"asg","weight":1,"base":0}]`, containerCPU: true, warningMention: "capacity_provider_strategy"},
		"fargate spot and provider": {vars: `{"launch_type": "FARGATE_SPOT", "capacity_provider_strategy": [{"capacityProvider": "FARGATE", "weight": 1, "base": 0}]}`, strategy: `[{"capacityProvider":"FARGATE","weight":1,"base":0}]`, compat: `["FARGATE"]`, networkMode: "awsvpc", warningMention: "capacity_provider_strategy"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, err := prepare(t, "", tc.vars)
			if err != nil {
				t.Fatal(err)
			}
			req, td := p.Plan.RunTask, p.Plan.TaskDefinition
			if got := req.GetString("launchType"); got != tc.launchType {
				t.Errorf("launchType = %q, want %q", got, tc.launchType)
			}
			if got := compact(req, "capacityProviderStrategy"); got != tc.strategy {
				t.Errorf("capacityProviderStrategy = %s, want %s", got, tc.strategy)
			}
			if got := compact(td, "requiresCompatibilities"); got != tc.compat {
				t.Errorf("requiresCompatibilities = %s, want %s", got, tc.compat)
			}
			if got := td.GetString("networkMode"); got != tc.networkMode {
				t.Errorf("networkMode = %q, want %q", got, tc.networkMode)
			}
			container := td.GetArray("containerDefinitions")[0].(*jsonv.Object)
			if got := container.Has("cpu") && container.Has("memory"); got != tc.containerCPU {
				t.Errorf("container-level cpu and memory set = %v, want %v", got, tc.containerCPU)
			}
			if tc.warningMention != "" {
				found := false
				for _, w := range p.Warnings {
					found = found || strings.Contains(w.Message, tc.warningMention)
				}
				if !found {
					t.Errorf("no warning mentions %s: %v", tc.warningMention, p.Warnings)
				}
			}
		})
	}
}

func compact(o *jsonv.Object, key string) string {
	v, ok := o.Get(key)
	if !ok {
		return ""
	}
	b, _ := jsonv.Marshal(v)
	return string(b)
}

// TestSchemaRefsStayInside makes sure a pool's variables schema cannot make
// the worker read a local file or a URL through $ref.
func TestSchemaRefsStayInside(t *testing.T) {
	t.Parallel()
	obj, err := jsonv.DecodeObject([]byte(`{"job_configuration": {"task_definition": {"containerDefinitions": [{"name": "prefect", "image": "x"}]}, "task_run_request": {}},
		"variables": {"type": "object", "properties": {"cpu": {"$ref": "file:///etc/passwd"}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := jobtemplate.FromObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	_, warnings := ecsjob.CheckJobVariables(tmpl, jsonv.ObjectOf("cpu", 1))
	if len(warnings) != 1 || !strings.Contains(warnings[0].String(), "schema") {
		t.Fatalf("want one warning that the schema cannot be used, got %v", warnings)
	}
	if strings.Contains(warnings[0].String(), "root:") {
		t.Errorf("the warning shows the file's content: %v", warnings[0])
	}
}
