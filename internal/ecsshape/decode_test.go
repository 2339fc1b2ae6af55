package ecsshape_test

import (
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/ecsworker/ecsworker/internal/ecsshape"
	"github.com/ecsworker/ecsworker/internal/jsonv"
)

func mustObject(tb testing.TB, s string) *jsonv.Object {
	tb.Helper()
	o, err := jsonv.DecodeObject([]byte(s))
	if err != nil {
		tb.Fatalf("bad test JSON: %v", err)
	}
	return o
}

// A Prefect-style RunTask request using most of the members users template.
const runTaskJSON = `{
  "cluster": "prefect-cluster",
  "taskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/prefect:3",
  "capacityProviderStrategy": [
    {"capacityProvider": "FARGATE_SPOT", "weight": 3, "base": 1},
    {"capacityProvider": "FARGATE", "weight": 1}
  ],
  "count": 1,
  "enableExecuteCommand": true,
  "group": "family:prefect",
  "networkConfiguration": {
    "awsvpcConfiguration": {
      "subnets": ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"],
      "securityGroups": ["sg-0123456789abcdef0"],
      "assignPublicIp": "DISABLED"
    }
  },
  "overrides": {
    "containerOverrides": [
      {
        "name": "prefect",
        "command": ["prefect", "flow-run", "execute"],
        "environment": [
          {"name": "PREFECT_API_URL", "value": "https://api.prefect.cloud/api/accounts/a/workspaces/w"},
          {"name": "PREFECT__FLOW_RUN_ID", "value": "0c9e7ca2-6a4f-4e5b-9d47-1f0b8f0f7a11"}
        ],
        "cpu": 512,
        "memory": 1024,
        "resourceRequirements": [{"type": "GPU", "value": "1"}]
      }
    ],
    "cpu": "1024",
    "memory": "2048",
    "ephemeralStorage": {"sizeInGiB": 40},
    "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
    "taskRoleArn": "arn:aws:iam::123456789012:role/prefect-task"
  },
  "placementConstraints": [
    {"type": "memberOf", "expression": "attribute:ecs.instance-type =~ t3.*"}
  ],
  "placementStrategy": [
    {"type": "spread", "field": "attribute:ecs.availability-zone"},
    {"type": "binpack", "field": "memory"}
  ],
  "platformVersion": "LATEST",
  "propagateTags": "TASK_DEFINITION",
  "startedBy": "prefect-ecs-worker",
  "tags": [
    {"key": "prefect.io/flow-run-id", "value": "0c9e7ca2-6a4f-4e5b-9d47-1f0b8f0f7a11"},
    {"key": "team", "value": "data"}
  ]
}`

// A Prefect-style task definition exercising nested containers, maps,
// unions and enum lists.
const registerTaskDefinitionJSON = `{
  "family": "prefect",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "1024",
  "memory": "2048",
  "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
  "taskRoleArn": "arn:aws:iam::123456789012:role/prefect-task",
  "ephemeralStorage": {"sizeInGiB": 30},
  "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
  "containerDefinitions": [
    {
      "name": "prefect",
      "image": "prefecthq/prefect:3-python3.12",
      "essential": true,
      "command": ["prefect", "flow-run", "execute"],
      "environment": [{"name": "PREFECT_LOGGING_LEVEL", "value": "INFO"}],
      "portMappings": [
        {"containerPort": 8080, "hostPort": 8080, "protocol": "tcp", "name": "http", "appProtocol": "http"},
        {"containerPort": 4200, "protocol": "tcp"}
      ],
      "secrets": [
        {"name": "PREFECT_API_KEY", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:prefect-api-key"}
      ],
      "logConfiguration": {
        "logDriver": "awslogs",
        "options": {
          "awslogs-group": "/prefect/flows",
          "awslogs-region": "us-east-1",
          "awslogs-stream-prefix": "prefect",
          "awslogs-create-group": "true"
        }
      },
      "resourceRequirements": [
        {"type": "GPU", "sharingStrategy": {"nvidiaMps": {"memory": 4096, "maxComputePercent": 50}}}
      ],
      "healthCheck": {"command": ["CMD-SHELL", "true"], "interval": 30, "retries": 3},
      "stopTimeout": 120
    },
    {
      "name": "sidecar",
      "image": "public.ecr.aws/aws-observability/aws-otel-collector:latest",
      "essential": false,
      "memoryReservation": 128,
      "dependsOn": [{"containerName": "prefect", "condition": "START"}]
    }
  ],
  "volumes": [{"name": "scratch", "host": {}}],
  "tags": [{"key": "team", "value": "data"}]
}`

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		op    string
		json  string
		want  []ecsshape.Problem
		check func(t *testing.T, in any) // for spot checks of what was filled
	}{
		"valid RunTask": {
			op:   "RunTask",
			json: runTaskJSON,
			check: func(t *testing.T, in any) {
				r := in.(*ecs.RunTaskInput)
				if got := aws.ToString(r.TaskDefinition); got != "arn:aws:ecs:us-east-1:123456789012:task-definition/prefect:3" {
					t.Errorf("taskDefinition = %q", got)
				}
				if got := r.PlacementStrategy[0].Type; got != types.PlacementStrategyTypeSpread {
					t.Errorf("placementStrategy[0].type = %q", got)
				}
				if got := r.NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp; got != types.AssignPublicIpDisabled {
					t.Errorf("assignPublicIp = %q", got)
				}
				co := r.Overrides.ContainerOverrides[0]
				if aws.ToInt32(co.Cpu) != 512 || aws.ToString(co.Environment[1].Name) != "PREFECT__FLOW_RUN_ID" {
					t.Errorf("containerOverrides[0] = %+v", co)
				}
				if r.CapacityProviderStrategy[0].Base != 1 || r.CapacityProviderStrategy[1].Weight != 1 {
					t.Errorf("capacityProviderStrategy = %+v", r.CapacityProviderStrategy)
				}
				if aws.ToString(r.Tags[1].Key) != "team" || !r.EnableExecuteCommand {
					t.Errorf("tags/enableExecuteCommand not filled: %+v", r)
				}
			},
		},
		"valid RegisterTaskDefinition": {
			op:   "RegisterTaskDefinition",
			json: registerTaskDefinitionJSON,
			check: func(t *testing.T, in any) {
				r := in.(*ecs.RegisterTaskDefinitionInput)
				c := r.ContainerDefinitions[0]
				if got := aws.ToInt32(c.PortMappings[0].HostPort); got != 8080 {
					t.Errorf("hostPort = %d", got)
				}
				if got := c.LogConfiguration.Options["awslogs-create-group"]; got != "true" {
					t.Errorf("logConfiguration.options = %v", c.LogConfiguration.Options)
				}
				mps, ok := c.ResourceRequirements[0].SharingStrategy.(*types.SharingStrategyMemberNvidiaMps)
				if !ok || aws.ToInt32(mps.Value.Memory) != 4096 {
					t.Errorf("sharingStrategy = %#v", c.ResourceRequirements[0].SharingStrategy)
				}
				if aws.ToString(c.Secrets[0].Name) != "PREFECT_API_KEY" {
					t.Errorf("secrets = %+v", c.Secrets)
				}
				if !reflect.DeepEqual(r.RequiresCompatibilities, []types.Compatibility{types.CompatibilityFargate}) {
					t.Errorf("requiresCompatibilities = %v", r.RequiresCompatibilities)
				}
				if r.RuntimePlatform.CpuArchitecture != types.CPUArchitectureArm64 || r.EphemeralStorage.SizeInGiB != 30 {
					t.Errorf("runtimePlatform/ephemeralStorage = %+v %+v", r.RuntimePlatform, r.EphemeralStorage)
				}
				if r.Volumes[0].Host == nil || aws.ToBool(r.ContainerDefinitions[1].Essential) {
					t.Errorf("empty object or false pointer lost: %+v", r)
				}
			},
		},
		"misspelt field": {
			op:   "RunTask",
			json: `{"placementStrategy": [{"type": "spread", "feild": "memory"}]}`,
			want: []ecsshape.Problem{{Path: "placementStrategy[0].feild", Message: `unknown field "feild"; did you mean "field"?`}},
		},
		"field in the wrong case": {
			op:   "RunTask",
			json: `{"TaskDefinition": "prefect"}`,
			want: []ecsshape.Problem{{Path: "TaskDefinition", Message: `unknown field "TaskDefinition"; did you mean "taskDefinition"?`}},
		},
		"field in snake_case": {
			op:   "RunTask",
			json: `{"task_definition": "prefect"}`,
			want: []ecsshape.Problem{{Path: "task_definition", Message: `unknown field "task_definition"; did you mean "taskDefinition"?`}},
		},
		"unknown field without a likely match": {
			op:   "RunTask",
			json: `{"placementStrategy": [{"type": "spread", "weight": 1}]}`,
			want: []ecsshape.Problem{{Path: "placementStrategy[0].weight", Message: `unknown field "weight"; remove it or use one of: field, type`}},
		},
		"integer written as a string": {
			op:   "RegisterTaskDefinition",
			json: `{"containerDefinitions": [{"name": "prefect", "memory": "512"}]}`,
			want: []ecsshape.Problem{{Path: "containerDefinitions[0].memory", Message: `expected an integer, got a string "512"; remove the quotes`}},
		},
		"integer written as a float literal": {
			op:   "RegisterTaskDefinition",
			json: `{"containerDefinitions": [{"portMappings": [{"containerPort": 80}, {"hostPort": 8080.0}]}]}`,
			want: []ecsshape.Problem{{Path: "containerDefinitions[0].portMappings[1].hostPort", Message: `expected an integer, got a number 8080.0; write 8080`}},
		},
		"fractional number for an integer": {
			op:   "RunTask",
			json: `{"overrides": {"ephemeralStorage": {"sizeInGiB": 21.5}}}`,
			want: []ecsshape.Problem{{Path: "overrides.ephemeralStorage.sizeInGiB", Message: `expected an integer, got a number 21.5; use a whole number`}},
		},
		"integer out of int32 range": {
			op:   "RegisterTaskDefinition",
			json: `{"containerDefinitions": [{"cpu": 3000000000}]}`,
			want: []ecsshape.Problem{{Path: "containerDefinitions[0].cpu", Message: `3000000000 is out of range; use an integer from -2147483648 to 2147483647`}},
		},
		"enum value in the wrong case": {
			op:   "RunTask",
			json: `{"placementStrategy": [{"type": "SPREAD", "field": "memory"}]}`,
			want: []ecsshape.Problem{{Path: "placementStrategy[0].type", Message: `"SPREAD" is not a valid value; did you mean "spread"? Values are case-sensitive; use one of: random, spread, binpack`}},
		},
		"unknown enum value": {
			op:   "RunTask",
			json: `{"launchType": "SERVERLESS"}`,
			want: []ecsshape.Problem{{Path: "launchType", Message: `"SERVERLESS" is not a valid value; use one of: EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES`}},
		},
		"enum given as a number": {
			op:   "DescribeTasks",
			json: `{"tasks": ["t"], "include": [1]}`,
			want: []ecsshape.Problem{{Path: "include[0]", Message: `expected a string, got an integer 1; use one of: TAGS`}},
		},
		"null member": {
			op:   "RunTask",
			json: `{"cluster": null, "taskDefinition": "prefect"}`,
			want: []ecsshape.Problem{{Path: "cluster", Message: `null is not allowed; remove the key`}},
		},
		"null list item": {
			op:   "RunTask",
			json: `{"networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1", null]}}}`,
			want: []ecsshape.Problem{{Path: "networkConfiguration.awsvpcConfiguration.subnets[1]", Message: `null is not allowed; remove the item`}},
		},
		"number where the API wants a string": {
			op:   "RegisterTaskDefinition",
			json: `{"cpu": 1024, "memory": "2048"}`,
			want: []ecsshape.Problem{{Path: "cpu", Message: `expected a string, got an integer 1024; quote it: "1024"`}},
		},
		"boolean in a string map": {
			op:   "RegisterTaskDefinition",
			json: `{"containerDefinitions": [{"logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-create-group": true}}}]}`,
			want: []ecsshape.Problem{{Path: `containerDefinitions[0].logConfiguration.options["awslogs-create-group"]`, Message: `expected a string, got a boolean true; quote it: "true"`}},
		},
		"boolean written as a string": {
			op:   "RunTask",
			json: `{"enableExecuteCommand": "true"}`,
			want: []ecsshape.Problem{{Path: "enableExecuteCommand", Message: `expected a boolean, got a string "true"; remove the quotes`}},
		},
		"single value where a list belongs": {
			op:   "RunTask",
			json: `{"overrides": {"containerOverrides": [{"command": "prefect flow-run execute"}]}}`,
			want: []ecsshape.Problem{{Path: "overrides.containerOverrides[0].command", Message: `expected a list, got a string "prefect flow-run execute"; write it as a list, e.g. ["prefect","flow-run","execute"]`}},
		},
		"single word where a list belongs": {
			op:   "RunTask",
			json: `{"networkConfiguration": {"awsvpcConfiguration": {"subnets": "subnet-0123"}}}`,
			want: []ecsshape.Problem{{Path: "networkConfiguration.awsvpcConfiguration.subnets", Message: `expected a list, got a string "subnet-0123"; wrap it in a list: ["subnet-0123"]`}},
		},
		"object where a list belongs": {
			op:   "RunTask",
			json: `{"tags": {"key": "team", "value": "data"}}`,
			want: []ecsshape.Problem{{Path: "tags", Message: `expected a list, got an object; wrap it in a list: [{...}]`}},
		},
		"object wrapped in a list": {
			op:   "RunTask",
			json: `{"networkConfiguration": [{"awsvpcConfiguration": {"subnets": ["subnet-1"]}}]}`,
			want: []ecsshape.Problem{{Path: "networkConfiguration", Message: `expected an object, got a list of 1 item; remove the surrounding [ ]`}},
		},
		"object rendered into a string": {
			op:   "RunTask",
			json: `{"overrides": "{\"cpu\": \"1024\"}"}`,
			want: []ecsshape.Problem{{Path: "overrides", Message: `expected an object, got a string "{\"cpu\": \"1024\"}"; the object was written as a JSON string, write it without the quotes`}},
		},
		"misspelt union member": {
			op:   "RegisterTaskDefinition",
			json: `{"containerDefinitions": [{"resourceRequirements": [{"type": "GPU", "sharingStrategy": {"nvidiaMPS": {"memory": 1}}}]}]}`,
			want: []ecsshape.Problem{{Path: "containerDefinitions[0].resourceRequirements[0].sharingStrategy.nvidiaMPS", Message: `unknown field "nvidiaMPS"; did you mean "nvidiaMps"?`}},
		},
		"union with no member set": {
			op:   "RegisterTaskDefinition",
			json: `{"containerDefinitions": [{"resourceRequirements": [{"type": "GPU", "sharingStrategy": {}}]}]}`,
			want: []ecsshape.Problem{{Path: "containerDefinitions[0].resourceRequirements[0].sharingStrategy", Message: `expected an object with exactly one of the keys nvidiaMps, got 0 keys`}},
		},
		"all problems, in order of appearance, and the rest still filled": {
			op: "RegisterTaskDefinition",
			json: `{
			  "family": "prefect",
			  "containerDefinitions": [
			    {"name": "a", "image": "img", "memory": "512", "portMappings": [{"containerPort": 80, "protocol": "TCP"}]},
			    {"name": "b", "cpu": 1.0, "essential": null}
			  ],
			  "networkMode": "awsvpc",
			  "requiresCompatibilities": ["FARGATE", "fargate"],
			  "memroy": "2048",
			  "taskRoleArn": "arn:aws:iam::123456789012:role/prefect-task"
			}`,
			want: []ecsshape.Problem{
				{Path: "containerDefinitions[0].memory", Message: `expected an integer, got a string "512"; remove the quotes`},
				{Path: "containerDefinitions[0].portMappings[0].protocol", Message: `"TCP" is not a valid value; did you mean "tcp"? Values are case-sensitive; use one of: tcp, udp`},
				{Path: "containerDefinitions[1].cpu", Message: `expected an integer, got a number 1.0; write 1`},
				{Path: "containerDefinitions[1].essential", Message: `null is not allowed; remove the key`},
				{Path: "requiresCompatibilities[1]", Message: `"fargate" is not a valid value; did you mean "FARGATE"? Values are case-sensitive; use one of: EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES`},
				{Path: "memroy", Message: `unknown field "memroy"; did you mean "memory"?`},
			},
			check: func(t *testing.T, in any) {
				r := in.(*ecs.RegisterTaskDefinitionInput)
				if aws.ToString(r.Family) != "prefect" || aws.ToString(r.TaskRoleArn) == "" || r.NetworkMode != types.NetworkModeAwsvpc {
					t.Errorf("valid members around the problems were not filled: %+v", r)
				}
				c := r.ContainerDefinitions
				if len(c) != 2 || aws.ToString(c[0].Image) != "img" || c[0].PortMappings[0].ContainerPort == nil || aws.ToString(c[1].Name) != "b" {
					t.Errorf("containerDefinitions = %+v", c)
				}
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in := newInput(t, tc.op)
			got := ecsshape.Decode(mustObject(t, tc.json), in)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Decode problems:\n got %q\nwant %q", got, tc.want)
			}
			if tc.check != nil {
				tc.check(t, in)
			}
		})
	}
}

func newInput(tb testing.TB, op string) any {
	tb.Helper()
	tc, ok := allInputs[op]
	if !ok {
		tb.Fatalf("no input type for %s", op)
	}
	return tc.newInput()
}

func TestDecodeRejectsBadTarget(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		out  any
		want string
	}{
		"nil":             {nil, "ecsshape: cannot decode into <nil>; pass a pointer to an SDK input struct"},
		"struct by value": {ecs.RunTaskInput{}, "ecsshape: cannot decode into ecs.RunTaskInput; pass a pointer to an SDK input struct"},
		"nil pointer":     {(*ecs.RunTaskInput)(nil), "ecsshape: cannot decode into *ecs.RunTaskInput; pass a pointer to an SDK input struct"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := ecsshape.Decode(jsonv.NewObject(), tc.out)
			if len(got) != 1 || got[0].Message != tc.want {
				t.Errorf("got %q, want one problem %q", got, tc.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		op   string
		json string
		want []ecsshape.Problem
	}{
		"RunTask":                {"RunTask", runTaskJSON, nil},
		"RegisterTaskDefinition": {"RegisterTaskDefinition", registerTaskDefinitionJSON, nil},
		"StopTask":               {"StopTask", `{"cluster": "c", "task": "t", "reason": "cancelled by Prefect"}`, nil},
		"DescribeTasks":          {"DescribeTasks", `{"cluster": "c", "tasks": ["t"], "include": ["TAGS"]}`, nil},
		// Missing required members are WireBody's business, see Check's doc.
		"RunTask template without taskDefinition": {"RunTask", `{"cluster": "c"}`, nil},
		"RunTask member sent to RegisterTaskDefinition": {
			"RegisterTaskDefinition", `{"family": "prefect", "launchType": "FARGATE"}`,
			[]ecsshape.Problem{{Path: "launchType", Message: `unknown field "launchType"; remove it or use one of: containerDefinitions, cpu, enableFaultInjection, ephemeralStorage, executionRoleArn, family, inferenceAccelerators, ipcMode, memory, networkMode, pidMode, placementConstraints, proxyConfiguration, requiresCompatibilities, runtimePlatform, tags, taskRoleArn, volumes`}},
		},
		"unknown operation": {
			"CreateService", `{}`,
			[]ecsshape.Problem{{Message: `ecsshape: unknown operation "CreateService"; use one of: DescribeTaskDefinition, DescribeTasks, RegisterTaskDefinition, RunTask, StopTask`}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := ecsshape.Check(mustObject(t, tc.json), tc.op)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Check problems:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func BenchmarkDecodeRunTask(b *testing.B) {
	v := mustObject(b, runTaskJSON)
	b.ReportAllocs()
	for b.Loop() {
		var in ecs.RunTaskInput
		if p := ecsshape.Decode(v, &in); len(p) > 0 {
			b.Fatal(p)
		}
	}
}
