package jobtemplate_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ecsworker/ecsworker/internal/golden"
	"github.com/ecsworker/ecsworker/internal/jobtemplate"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/jsonv/jsonvtest"
	"github.com/ecsworker/ecsworker/internal/templating"
)

// ecsTemplatePath is the ECS base job template the Prefect server ships
// (aggregate-worker-metadata.json), byte for byte; ecsjob's goldens read
// it from here too.
const ecsTemplatePath = "testdata/prefect-aws-ecs-template.json"

// Typical job variables: a deployment that pins image, sizing, networking
// and credentials, and a flow run that overrides a few of them.
const (
	ecsDeploymentVars = `{
		"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/flows:2024.05.01",
		"cpu": 1024,
		"memory": 2048,
		"cluster": "prefect-prod",
		"family": "etl",
		"container_name": "prefect",
		"execution_role_arn": "arn:aws:iam::123456789012:role/prefect-execution",
		"task_role_arn": "arn:aws:iam::123456789012:role/prefect-task",
		"vpc_id": "vpc-0a1b2c3d",
		"network_configuration": {"subnets": ["subnet-1", "subnet-2"], "securityGroups": ["sg-1"], "assignPublicIp": "DISABLED"},
		"configure_cloudwatch_logs": true,
		"cloudwatch_logs_options": {"awslogs-group": "/prefect/flows", "awslogs-region": "{{ prefect.variables.aws_region }}"},
		"cloudwatch_logs_prefix": "etl",
		"aws_credentials": {"$ref": {"block_document_id": "6f9e1c1e-0000-4000-8000-00000000aws1"}},
		"env": {"EXTRA_PIP_PACKAGES": "s3fs", "LOG_LEVEL": "INFO", "REGISTRY": "{{ prefect.blocks.secret.registry }}"},
		"labels": {"team": "data", "cost-center": "1234"}
	}`
	ecsFlowRunVars = `{
		"memory": 4096.0,
		"launch_type": "FARGATE_SPOT",
		"env": {"LOG_LEVEL": "DEBUG", "RUN_REGION": "{{ prefect.variables.aws_region }}", "PREFECT_API_KEY": null},
		"env.FEATURE_FLAG": "on"
	}`
)

func ecsResolver() *fakeResolver {
	return &fakeResolver{
		byID: map[string]string{
			"6f9e1c1e-0000-4000-8000-00000000aws1": `{"region_name": "us-east-1", "aws_access_key_id": "AKIAEXAMPLE",
				"aws_secret_access_key": "wJalrXUtnFEMI", "aws_client_parameters": {"use_ssl": true, "verify": true}}`,
		},
		byName:    map[string]string{"secret/registry": `{"value": "123456789012.dkr.ecr.us-east-1.amazonaws.com"}`},
		variables: map[string]string{"aws_region": `"us-east-1"`},
	}
}

func readECSTemplate(t testing.TB) *jobtemplate.Template {
	t.Helper()
	data, err := os.ReadFile(ecsTemplatePath)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := jobtemplate.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

// requireGolden compares v, printed as indented JSON, with a golden file.
// Run `go test ./internal/jobtemplate -run TestGoldenECS -update` after an
// intended change and review the diff.
func requireGolden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := jsonv.MarshalIndent(v)
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "./internal/jobtemplate", filepath.Join("golden", name), got)
}

func TestGoldenECS(t *testing.T) {
	t.Parallel()
	flowRunCtx := jobtemplate.FlowRunContext{
		FlowRun: jsonvtest.Object(t, `{"id": "`+runID+`", "name": "crimson-fox", "flow_id": "`+flowID+`", "deployment_id": "`+deployID+`"}`),
		Deployment: jsonvtest.Object(t, `{"id": "`+deployID+`", "name": "etl", "updated": "2024-05-01T14:00:00.123456Z",
			"job_variables": `+ecsDeploymentVars+`}`),
		Flow:       jsonvtest.Object(t, `{"id": "`+flowID+`", "name": "etl-flow"}`),
		WorkPool:   jsonvtest.Object(t, `{"id": "`+poolID+`", "name": "ecs-pool", "type": "ecs"}`),
		WorkerName: "ECSWorker 6f0c", WorkerID: workerUUID,
		BaseEnv: jsonvtest.Object(t, `{"PREFECT_API_URL": "https://api.prefect.cloud/api/accounts/a/workspaces/w", "PREFECT_API_KEY": "pnu_example"}`),
		Version: "3.8.4+ecsworker",
	}
	tests := map[string]struct {
		values   *jsonv.Object
		resolver templating.Resolver
		prepare  bool // also CoerceBaseFields + PrepareForFlowRun
		offline  bool // record Unresolved too
	}{
		"ecs-no-variables.json": {},
		"ecs-typical.json": {
			values:   jobtemplate.MergeJobVariables(jsonvtest.Object(t, ecsDeploymentVars), jsonvtest.Object(t, ecsFlowRunVars)),
			resolver: ecsResolver(),
		},
		"ecs-typical-offline.json": {
			values:  jobtemplate.MergeJobVariables(jsonvtest.Object(t, ecsDeploymentVars), jsonvtest.Object(t, ecsFlowRunVars)),
			offline: true,
		},
		"ecs-typical-prepared.json": {
			values:   jobtemplate.MergeJobVariables(jsonvtest.Object(t, ecsDeploymentVars), jsonvtest.Object(t, ecsFlowRunVars)),
			resolver: ecsResolver(),
			prepare:  true,
		},
		"ecs-no-variables-prepared.json": {prepare: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg, err := readECSTemplate(t).Render(context.Background(), tc.values, jobtemplate.RenderOptions{
				Resolver: tc.resolver, LookupEnv: envMap(nil),
			})
			if err != nil {
				t.Fatal(err)
			}
			var out any = cfg
			if tc.prepare {
				if err := jobtemplate.CoerceBaseFields(cfg); err != nil {
					t.Fatal(err)
				}
				jobtemplate.PrepareForFlowRun(cfg, flowRunCtx)
			}
			if tc.offline {
				out = jsonv.ObjectOf("configuration", cfg, "unresolved", templating.Unresolved(cfg))
			}
			requireGolden(t, name, out)
		})
	}
}

// The template fixture must stay the server's file unchanged; edits belong
// in test values, not in the fixture.
func TestECSTemplateFixture(t *testing.T) {
	t.Parallel()
	tmpl := readECSTemplate(t)
	jsonvtest.Require(t, `{"launch_type": "FARGATE", "task_start_timeout_seconds": 300, "task_watch_poll_interval": 5.0,
		"auto_deregister_task_definition": false, "match_latest_revision_in_family": false}`, tmpl.Defaults())
	names := tmpl.VariableNames()
	if len(names) != 26 || names[0] != "name" || names[len(names)-1] != "match_latest_revision_in_family" {
		t.Fatalf("unexpected variables %q", names)
	}
	var std []string
	for _, p := range templating.FindPlaceholders(tmpl.JobConfiguration) {
		if p.Kind != templating.Standard {
			t.Fatalf("unexpected %s placeholder %s", p.Kind, p.Full)
		}
		std = append(std, p.Name)
	}
	if len(std) != 26 {
		t.Fatalf("got %d distinct placeholders: %q", len(std), std)
	}
}

func BenchmarkRender(b *testing.B) {
	tmpl := readECSTemplate(b)
	values := jobtemplate.MergeJobVariables(jsonvtest.Object(b, ecsDeploymentVars), jsonvtest.Object(b, ecsFlowRunVars))
	r := ecsResolver()
	r.quiet = true
	opts := jobtemplate.RenderOptions{Resolver: r, LookupEnv: envMap(nil)}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tmpl.Render(ctx, values, opts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRenderNoVariables(b *testing.B) {
	tmpl := readECSTemplate(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tmpl.Render(ctx, nil, jobtemplate.RenderOptions{LookupEnv: envMap(nil)}); err != nil {
			b.Fatal(err)
		}
	}
}
