package submission_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/ecsjob"
	"github.com/ecsworker/ecsworker/internal/ecsrequest"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/jsonv/jsonvtest"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectapi"
	"github.com/ecsworker/ecsworker/internal/prefectconfig"
	"github.com/ecsworker/ecsworker/internal/prefectdeploy"
	"github.com/ecsworker/ecsworker/internal/prefectpool"
	"github.com/ecsworker/ecsworker/internal/submission"
)

const (
	testRunID  = "5f2c9b1e-8a47-4c1e-9d3a-2b6f0e7c1a90"
	testTDARN  = "arn:aws:ecs:us-east-1:123456789012:task-definition/flows:7"
	poolUpdate = "the work pool's base job template cannot be read; fix it with 'ecsworker work-pool update ecs-pool --base-job-template FILE'."
)

// fakeResolver answers block references and variables of job templates.
type fakeResolver struct {
	block *jsonv.Object
	err   error
}

func (r fakeResolver) BlockDocument(context.Context, string) (*jsonv.Object, error) {
	return r.block, r.err
}

func (r fakeResolver) BlockDocumentByName(context.Context, string, string) (*jsonv.Object, error) {
	return r.block, r.err
}

func (r fakeResolver) Variable(context.Context, string) (any, bool, error) { return nil, false, r.err }

// renderInput is a scheduled run of the ecs-pool work pool, with the
// default base job template and the given flow run job variables.
func renderInput(t *testing.T, jobVariables string) submission.Input {
	t.Helper()
	return submission.Input{
		Run: prefect.FlowRun{
			ID: testRunID, Name: "bold-otter", FlowID: "flow-1", DeploymentID: "dep-1",
			JobVariables: jsonvtest.Object(t, jobVariables),
			Raw:          jsonvtest.Object(t, `{"id": "`+testRunID+`", "name": "bold-otter", "flow_id": "flow-1", "deployment_id": "dep-1"}`),
		},
		PoolName:     "ecs-pool",
		Pool:         &prefectpool.WorkPool{Name: "ecs-pool", ID: "pool-1", Type: "ecs", Raw: jsonvtest.Object(t, `{"id": "pool-1", "name": "ecs-pool", "type": "ecs"}`)},
		Template:     ecsjob.DefaultTemplate(),
		WorkerName:   "worker-a",
		WorkerID:     "worker-id-1",
		BaseEnv:      jsonvtest.Object(t, `{"PREFECT_API_URL": "http://prefect:4200/api"}`),
		DefaultImage: "prefecthq/prefect:3-latest",
		Version:      "0.9.0",
	}
}

func TestRenderFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		adjust func(t *testing.T, in *submission.Input)
		vars   string
		want   string
		kind   submission.Kind // Crash unless set
	}{
		{
			name:   "no base job template",
			adjust: func(_ *testing.T, in *submission.Input) { in.Template = nil },
			want:   poolUpdate,
		},
		{
			name:   "no work pool yet",
			adjust: func(_ *testing.T, in *submission.Input) { in.Pool = nil },
			want:   poolUpdate,
		},
		{
			name: "a flow run job variable of the wrong type",
			vars: `{"cpu": "lots"}`,
			want: `invalid ECS job configuration: cpu = "lots": does not match the pool's variable schema: got string, want integer. Fix: Change the value in the deployment's or flow run's job variables.`,
		},
		{
			name: "a deployment job variable outside its enum",
			adjust: func(t *testing.T, in *submission.Input) {
				in.Deployment = &prefectdeploy.Deployment{ID: "dep-1", Name: "nightly", JobVariables: jsonvtest.Object(t, `{"launch_type": "BOGUS"}`)}
			},
			want: `invalid ECS job configuration: launch_type = "BOGUS": does not match the pool's variable schema: value must be one of 'FARGATE', 'EC2', 'EXTERNAL', 'FARGATE_SPOT'. Fix: Set launch_type to one of "FARGATE", "EC2", "EXTERNAL", "FARGATE_SPOT" in the deployment's or flow run's job variables.`,
		},
		{
			// The block could not be read for a reason that may pass: the
			// run waits for a retry instead of crashing.
			name: "the aws_credentials block cannot be read",
			kind: submission.Retry,
			vars: `{"aws_credentials": {"$ref": {"block_document_id": "blk-1"}}}`,
			adjust: func(_ *testing.T, in *submission.Input) {
				in.Resolver = fakeResolver{err: prefectAnswer("read block document blk-1", "GET", "/block_documents/blk-1", 503, "")}
			},
			want: "render the work pool's base job template: resolve block documents: job configuration field aws_credentials: read block document blk-1: read block document blk-1: GET /block_documents/blk-1: 503 Service Unavailable",
		},
		{
			name: "an aws_credentials key without its secret",
			vars: `{"aws_credentials": {"aws_access_key_id": "AKIAEXAMPLE"}}`,
			want: "aws_credentials: aws_secret_access_key is empty while aws_access_key_id is set; set both, or neither to use the default credential chain",
		},
		{
			name: "an aws_credentials block with two problems",
			vars: `{"aws_credentials": {"aws_session_token": "tok", "aws_client_parameters": {"endpoint_url": "ftp://ecs.local"}}}`,
			want: "aws_credentials has 2 problems:\n" +
				"- aws_session_token is set without aws_access_key_id and aws_secret_access_key; a session token only goes with them\n" +
				`- aws_client_parameters.endpoint_url "ftp://ecs.local" is not an http(s) URL; write it like https://ecs.us-east-1.amazonaws.com or http://localhost:4566`,
		},
		{
			name: "an aws_credentials block reference nothing resolved",
			vars: `{"aws_credentials": {"$ref": {"block_document_id": "blk-1"}}}`,
			want: `aws_credentials: $ref the block reference was not resolved; the worker needs the block's data (read the block document with its secrets) in place of {"$ref": ...}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			vars := tt.vars
			if vars == "" {
				vars = "{}"
			}
			in := renderInput(t, vars)
			if tt.adjust != nil {
				tt.adjust(t, &in)
			}
			r, err := submission.Render(context.Background(), in)
			checkStepError(t, err, submission.StepRender, tt.kind, tt.want)
			if r != nil {
				t.Errorf("Render returned %+v with its error", r)
			}
		})
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		vars   string
		adjust func(t *testing.T, in *submission.Input)
		check  func(t *testing.T, r *submission.Rendered)
	}{
		{
			name: "the pool's defaults, with what the worker adds",
			vars: `{}`,
			check: func(t *testing.T, r *submission.Rendered) {
				if got := r.Credentials.String(); got != "AWS credentials (default chain)" {
					t.Errorf("credentials = %s, want the default chain", got)
				}
				cfg := r.Prepared.JobConfiguration
				if got := cfg.GetString("name"); got != "bold-otter" {
					t.Errorf("name = %q, want the run's", got)
				}
				wantEnv := `{"PREFECT_API_URL":"http://prefect:4200/api","PREFECT__FLOW_RUN_ID":"` + testRunID + `","PREFECT__WORKER_ID":"worker-id-1","PREFECT__WORKER_NAME":"worker-a","PREFECT__FLOW_ID":"flow-1","PREFECT__DEPLOYMENT_ID":"dep-1"}`
				if got := marshal(t, cfg.GetObject("env")); got != wantEnv {
					t.Errorf("env = %s\nwant %s", got, wantEnv)
				}
				wantLabels := `{"prefect.io/flow-run-id":"` + testRunID + `","prefect.io/flow-run-name":"bold-otter","prefect.io/version":"0.9.0","prefect.io/work-pool-name":"ecs-pool","prefect.io/work-pool-id":"pool-1","prefect.io/worker-name":"worker-a"}`
				if got := marshal(t, cfg.GetObject("labels")); got != wantLabels {
					t.Errorf("labels = %s\nwant %s", got, wantLabels)
				}
				plan := r.Prepared.Plan
				if plan.Launch != ecsrequest.LaunchFargate || plan.TaskDefinition == nil || plan.TaskDefinitionARN != "" {
					t.Errorf("plan: launch %s, task definition %v, ARN %q; want a FARGATE task definition to register", plan.Launch, plan.TaskDefinition != nil, plan.TaskDefinitionARN)
				}
				if got := marshal(t, plan.TaskDefinition.GetArray("containerDefinitions")[0].(*jsonv.Object).GetString("image")); got != `"prefecthq/prefect:3-latest"` {
					t.Errorf("image = %s, want the worker's default image", got)
				}
				if r.Job.Context.WorkPoolName != "ecs-pool" || r.Job.Context.DeploymentID != "dep-1" || r.Job.Context.FlowID != "flow-1" {
					t.Errorf("run context = %+v", r.Job.Context)
				}
			},
		},
		{
			name: "deployment and flow run job variables, the flow run's winning",
			vars: `{"memory": 4096}`,
			adjust: func(t *testing.T, in *submission.Input) {
				in.Deployment = &prefectdeploy.Deployment{ID: "dep-1", Name: "nightly", JobVariables: jsonvtest.Object(t, `{"cpu": 1024, "memory": 2048}`), Raw: jsonvtest.Object(t, `{"id": "dep-1", "name": "nightly"}`)}
				in.Flow = &prefectdeploy.Flow{ID: "flow-1", Name: "etl", Raw: jsonvtest.Object(t, `{"id": "flow-1", "name": "etl"}`)}
			},
			check: func(t *testing.T, r *submission.Rendered) {
				td := r.Prepared.Plan.TaskDefinition
				if cpu, mem := td.GetString("cpu"), td.GetString("memory"); cpu != "1024" || mem != "4096" {
					t.Errorf("task definition cpu, memory = %q, %q; want 1024 from the deployment, 4096 from the flow run", cpu, mem)
				}
			},
		},
		{
			name: "explicit AWS credentials",
			vars: `{"aws_credentials": {"region_name": "eu-west-1", "profile_name": "flows"}}`,
			check: func(t *testing.T, r *submission.Rendered) {
				if r.Credentials.Region != "eu-west-1" || r.Credentials.Profile != "flows" {
					t.Errorf("credentials = %+v, want region eu-west-1, profile flows", r.Credentials)
				}
			},
		},
		{
			name: "AWS credentials from a block document",
			vars: `{"aws_credentials": {"$ref": {"block_document_id": "blk-1"}}}`,
			adjust: func(t *testing.T, in *submission.Input) {
				in.Resolver = fakeResolver{block: jsonvtest.Object(t, `{"region_name": "eu-north-1"}`)}
			},
			check: func(t *testing.T, r *submission.Rendered) {
				if r.Credentials.Region != "eu-north-1" {
					t.Errorf("credentials = %+v, want the block's region eu-north-1", r.Credentials)
				}
			},
		},
		{
			name: "an existing task definition is left for Recheck",
			vars: `{"task_definition_arn": "` + testTDARN + `"}`,
			check: func(t *testing.T, r *submission.Rendered) {
				if got := r.Prepared.Plan.TaskDefinitionARN; got != testTDARN {
					t.Errorf("task definition ARN = %q", got)
				}
				if r.Prepared.Plan.TaskDefinition != nil {
					t.Error("a task definition to register alongside an existing one")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := renderInput(t, tt.vars)
			if tt.adjust != nil {
				tt.adjust(t, &in)
			}
			r, err := submission.Render(context.Background(), in)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if r.Prepared == nil || r.Prepared.Plan == nil {
				t.Fatalf("Render gave no plan: %+v", r)
			}
			tt.check(t, r)
		})
	}
}

func TestRecheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		vars    string
		td      string // the existing task definition; "" for none
		wantErr string
		check   func(t *testing.T, r *submission.Rendered)
	}{
		{
			name: "a task definition that fits",
			vars: `{"task_definition_arn": "` + testTDARN + `"}`,
			td:   `{"family": "flows", "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "256", "memory": "512", "containerDefinitions": [{"name": "flow", "image": "prefecthq/prefect:3-latest"}]}`,
			check: func(t *testing.T, r *submission.Rendered) {
				if got := r.Prepared.Plan.ContainerName; got != "flow" {
					t.Errorf("container name = %q, want the task definition's only container", got)
				}
			},
		},
		{
			name: "a task definition Fargate cannot run",
			vars: `{"task_definition_arn": "` + testTDARN + `"}`,
			td:   `{"family": "flows", "requiresCompatibilities": ["EC2"], "networkMode": "bridge", "containerDefinitions": [{"name": "flow", "image": "x"}]}`,
			wantErr: "invalid ECS job configuration (2 problems):\n" +
				`  - task_definition_arn = ["EC2"]: this task definition is not compatible with Fargate (requiresCompatibilities has no FARGATE). Fix: Run it with launch_type EC2, or use a task definition that requires FARGATE.` + "\n" +
				`  - task_definition.networkMode = "bridge": Fargate tasks only run in awsvpc network mode. Fix: Use launch_type EC2, or set "networkMode": "awsvpc".`,
		},
		{
			name:    "a task definition whose secrets no execution role can read",
			vars:    `{"task_definition_arn": "` + testTDARN + `"}`,
			td:      `{"family": "flows", "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "256", "memory": "512", "containerDefinitions": [{"name": "flow", "image": "x", "secrets": [{"name": "TOKEN", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:token"}]}]}`,
			wantErr: "invalid ECS job configuration: task_definition.containerDefinitions[].secrets: containers read secrets at start-up through the execution role, and the task definition has none. Fix: Set execution_role_arn to a role allowed to read those secrets (secretsmanager:GetSecretValue or ssm:GetParameters).",
		},
		{
			name: "no task definition to check against",
			vars: `{"task_definition_arn": "` + testTDARN + `"}`,
			check: func(t *testing.T, r *submission.Rendered) {
				if !slices.ContainsFunc(r.Prepared.Unresolved, func(u ecsrequest.Unresolved) bool { return u.Path == "runTask.taskDefinition" }) {
					t.Errorf("unresolved = %v, want the task definition left to run time", r.Prepared.Unresolved)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := submission.Render(context.Background(), renderInput(t, tt.vars))
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			before := r.Prepared
			var td *jsonv.Object
			if tt.td != "" {
				td = jsonvtest.Object(t, tt.td)
			}
			err = r.Recheck(context.Background(), td)
			if r.Job.Context.ExistingTaskDefinition != td {
				t.Error("the job does not carry the existing task definition")
			}
			if tt.wantErr != "" {
				checkStepError(t, err, submission.StepRender, submission.Crash, tt.wantErr)
				if r.Prepared != before {
					t.Error("a failed recheck replaced the prepared job")
				}
				return
			}
			if err != nil {
				t.Fatalf("Recheck: %v", err)
			}
			if r.Prepared == before {
				t.Error("Recheck kept the first rendering")
			}
			tt.check(t, r)
		})
	}
}

func TestJob(t *testing.T) {
	t.Parallel()
	dep := &prefectdeploy.Deployment{ID: "dep-1", JobVariables: jsonv.NewObject(), Raw: jsonv.NewObject()}
	flow := &prefectdeploy.Flow{ID: "flow-1", Raw: jsonv.NewObject()}
	resolver := fakeResolver{}
	tests := []struct {
		name string
		dep  *prefectdeploy.Deployment
		flow *prefectdeploy.Flow
	}{
		{"a run without deployment or flow", nil, nil},
		{"a run of a deployment", dep, nil},
		{"a run of a deployment, with its flow", dep, flow},
		{"a flow read without its deployment", nil, flow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := renderInput(t, `{"cpu": 512}`)
			in.Deployment, in.Flow, in.Resolver = tt.dep, tt.flow, resolver
			job := submission.Job(in)
			if job.Template != in.Template || job.FlowRunVariables != in.Run.JobVariables {
				t.Error("the job lacks the template or the flow run's variables")
			}
			fc := job.FlowRun
			if fc.FlowRun != in.Run.Raw || fc.WorkPool != in.Pool.Raw || fc.BaseEnv != in.BaseEnv ||
				fc.WorkerName != "worker-a" || fc.WorkerID != "worker-id-1" || fc.Version != "0.9.0" {
				t.Errorf("flow run context = %+v", fc)
			}
			want := ecsrequest.RunContext{WorkPoolName: "ecs-pool", DeploymentID: "dep-1", FlowID: "flow-1", DefaultImage: "prefecthq/prefect:3-latest"}
			if job.Context.WorkPoolName != want.WorkPoolName || job.Context.DeploymentID != want.DeploymentID ||
				job.Context.FlowID != want.FlowID || job.Context.DefaultImage != want.DefaultImage {
				t.Errorf("run context = %+v, want %+v", job.Context, want)
			}
			if job.Render.Resolver != resolver {
				t.Error("the job does not render with the input's resolver")
			}
			switch {
			case tt.dep == nil && (job.DeploymentVariables != nil || fc.Deployment != nil):
				t.Error("deployment variables or object without a deployment")
			case tt.dep != nil && (job.DeploymentVariables != tt.dep.JobVariables || fc.Deployment != tt.dep.Raw):
				t.Error("the job lacks the deployment's variables or object")
			}
			switch {
			case tt.flow == nil && fc.Flow != nil:
				t.Error("a flow object without a flow")
			case tt.flow != nil && fc.Flow != tt.flow.Raw:
				t.Error("the job lacks the flow's object")
			}
		})
	}
}

func TestBaseEnv(t *testing.T) {
	t.Parallel()
	environ := []string{
		"PATH=/usr/bin",
		"PREFECT_LOGGING_LEVEL=DEBUG",
		"PREFECT__FLOW_RUN_ID=not-for-the-run", // Prefect's internal settings are set per run
		"PREFECT_EMPTY=",
		"PREFECT_NO_VALUE",
		"PREFECT_API_URL=http://from-the-environment/api",
		"PREFECT_API_KEY=env-key",
		"PREFECT_HOME=/data/prefect=home", // values may hold '='
	}
	tests := []struct {
		name    string
		environ []string
		api     prefectconfig.Config
		want    string
	}{
		{
			name:    "the API settings the worker uses win over the environment's",
			environ: environ, api: prefectconfig.Config{APIURL: "https://api.prefect.cloud/api/accounts/a/workspaces/w", APIKey: "pnu_key", AuthString: "admin:pass"},
			want: `{"PREFECT_API_AUTH_STRING":"admin:pass","PREFECT_API_KEY":"pnu_key","PREFECT_API_URL":"https://api.prefect.cloud/api/accounts/a/workspaces/w","PREFECT_HOME":"/data/prefect=home","PREFECT_LOGGING_LEVEL":"DEBUG"}`,
		},
		{
			name:    "without a key or auth string the environment's are kept",
			environ: environ, api: prefectconfig.Config{APIURL: "http://prefect:4200/api"},
			want: `{"PREFECT_API_KEY":"env-key","PREFECT_API_URL":"http://prefect:4200/api","PREFECT_HOME":"/data/prefect=home","PREFECT_LOGGING_LEVEL":"DEBUG"}`,
		},
		{
			name: "an empty environment",
			api:  prefectconfig.Config{APIURL: "http://prefect:4200/api"},
			want: `{"PREFECT_API_URL":"http://prefect:4200/api"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := marshal(t, submission.BaseEnv(tt.environ, tt.api)); got != tt.want {
				t.Errorf("BaseEnv =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestScheduledTime(t *testing.T) {
	t.Parallel()
	expected := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	next := expected.Add(90 * time.Second)
	tests := []struct {
		name string
		run  prefect.FlowRun
		want time.Time
	}{
		{"the next scheduled start", prefect.FlowRun{ExpectedStartTime: prefectapi.Time{Time: expected}, NextScheduledStartTime: prefectapi.Time{Time: next}}, next},
		{"the expected start without a next one", prefect.FlowRun{ExpectedStartTime: prefectapi.Time{Time: expected}}, expected},
		{"neither", prefect.FlowRun{}, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := submission.ScheduledTime(tt.run); !got.Equal(tt.want) {
				t.Errorf("ScheduledTime = %v, want %v", got, tt.want)
			}
		})
	}
}
