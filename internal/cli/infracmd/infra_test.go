package infracmd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/ecsworker/ecsworker/internal/awsclient/awsclienttest"
	"github.com/ecsworker/ecsworker/internal/cfnstack"
	"github.com/ecsworker/ecsworker/internal/cli"
	"github.com/ecsworker/ecsworker/internal/cli/clitest"
	"github.com/ecsworker/ecsworker/internal/cli/infracmd"
	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
	"github.com/ecsworker/ecsworker/internal/infra"
)

// These tests run the infra commands as a user would, through Main, with
// AWS reached through AWS_ENDPOINT_URL (the AWS test server, over
// loopback) and static credentials in the environment, and the Prefect
// API test server for the pool defaults. The environment makes them
// sequential. Time is an awsclienttest.Clock, shared by the AWS test server
// and the commands' waits: a wait moves it, so stack operations take
// their scripted time without the tests sleeping.

type infraTestEnv struct {
	aws     *awsfake.Server
	prefect *prefectfake.Server
	vpc     string
	subnets []string
	clk     *awsclienttest.Clock
}

const infraTestKey = "pnu_infra_secret_key_42"

func newInfraEnv(t *testing.T, prefectOpts prefectfake.Options) *infraTestEnv {
	t.Helper()
	clk := awsclienttest.NewClock(time.Date(2026, 8, 1, 9, 0, 0, 0, time.UTC))
	infracmd.SetClock(t, clk)
	a := awsfake.NewTestServer(t, awsfake.Options{Now: clk.Now})
	a.CreateCluster("prod")
	dir := t.TempDir()
	t.Setenv("AWS_ENDPOINT_URL", a.URL())
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-value-xyz")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("ECSWORKER_IMAGE", "")
	// A release build, whose default image is published (the image rules
	// are TestInfraServiceImage's).
	setVersion(t, "v1.4.2")
	p := prefectfake.NewTestServer(t, prefectOpts)
	t.Setenv("PREFECT_HOME", t.TempDir())
	t.Setenv("PREFECT_PROFILE", "")
	t.Setenv("PREFECT_API_URL", p.URL())
	t.Setenv("PREFECT_API_KEY", prefectOpts.APIKey)
	t.Setenv("PREFECT_API_AUTH_STRING", prefectOpts.AuthString)
	vpc, subnets, _ := a.DefaultNetwork()
	return &infraTestEnv{aws: a, prefect: p, vpc: vpc, subnets: subnets[:2], clk: clk}
}

func runInfra(t *testing.T, stdin string, args ...string) clitest.Result {
	t.Helper()
	r := clitest.Run(t, stdin, args...)
	for _, secret := range []string{infraTestKey, "aws-secret-value-xyz", "admin:s3cret-pass"} {
		if strings.Contains(r.Stdout+r.Stderr, secret) {
			t.Errorf("%v: a secret leaked into the output", args)
		}
	}
	if strings.Contains(r.Stderr, "goroutine ") || strings.Contains(r.Stderr, "panic:") {
		t.Errorf("%v: a traceback:\n%s", args, r.Stderr)
	}
	return r
}

func (e *infraTestEnv) serviceArgs(pool string, extra ...string) []string {
	return append([]string{"infra", "deploy-service", "--work-pool", pool, "--cluster", "prod", "--vpc", e.vpc,
		"--subnets", strings.Join(e.subnets, ",")}, extra...)
}

func poolDefault(p map[string]any, variable string) any {
	bjt, _ := p["base_job_template"].(map[string]any)
	vars, _ := bjt["variables"].(map[string]any)
	props, _ := vars["properties"].(map[string]any)
	v, _ := props[variable].(map[string]any)
	return v["default"]
}

func TestInfraServiceLifecycle(t *testing.T) {
	e := newInfraEnv(t, prefectfake.Options{APIKey: infraTestKey})
	tmpl := clitest.DefaultTemplateMap(t)
	props := tmpl["variables"].(map[string]any)["properties"].(map[string]any)
	props["execution_role_arn"].(map[string]any)["default"] = "arn:aws:iam::123456789012:role/mine"
	e.prefect.CreateWorkPool("etl", "ecs", tmpl)

	r := runInfra(t, "", e.serviceArgs("etl")...)
	if r.Code != 0 {
		t.Fatalf("deploy: exit %d\n%s", r.Code, r.Stderr)
	}
	clitest.MustContain(t, "stderr", r.Stderr,
		"AWS account 123456789012",
		"The Prefect API key of your Prefect configuration (PREFECT_API_KEY or the profile) goes into a Secrets Manager secret the stack creates.",
		"Creating a change set for stack ecsworker-etl",
		"CREATE_COMPLETE              WorkerService (AWS::ECS::Service)",
		"CREATE_COMPLETE              ecsworker-etl (AWS::CloudFormation::Stack)",
		"Stack ecsworker-etl: create complete (CREATE_COMPLETE)",
		`Work pool "etl": filled the defaults of cluster, vpc_id, subnets, security_groups, prefect_api_key_secret_arn.`,
		`Work pool "etl": kept its own execution_role_arn.`)
	clitest.MustContain(t, "stdout", r.Stdout, "Stack:      ecsworker-etl", "Status:     CREATE_COMPLETE", "EventsQueueName", "FlowRunExecutionRoleArn")

	v, _ := e.aws.Stack("ecsworker-etl")
	if v.Parameters["PrefectApiKey"] != infraTestKey || v.Tags["ManagedBy"] != "ecsworker" || v.Tags["ecsworker:work-pool"] != "etl" {
		t.Errorf("stack: parameters %v, tags %v", v.Parameters["PrefectApiKey"] != "", v.Tags)
	}
	if v.Parameters["Image"] != "ghcr.io/ecsworker/ecsworker:1.4.2" || v.Parameters["FlowRunFamilyPattern"] != "prefect_etl_*" {
		t.Errorf("defaults: image %s, families %s", v.Parameters["Image"], v.Parameters["FlowRunFamilyPattern"])
	}
	pool := e.prefect.WorkPool("etl")
	if got := poolDefault(pool, "cluster"); got != v.Outputs["ClusterArn"] || !strings.HasSuffix(v.Outputs["ClusterArn"], ":cluster/prod") {
		t.Errorf("pool cluster default %v", got)
	}
	if got, _ := poolDefault(pool, "subnets").([]any); len(got) != 2 || got[0] != e.subnets[0] {
		t.Errorf("pool subnets default %v", got)
	}
	if got, _ := poolDefault(pool, "security_groups").([]any); len(got) != 1 || got[0] != v.Outputs["SecurityGroupId"] {
		t.Errorf("pool security groups default %v", got)
	}
	if got := poolDefault(pool, "prefect_api_key_secret_arn"); got != v.Outputs["PrefectApiKeySecretArn"] || got == "" {
		t.Errorf("pool secret default %v", got)
	}
	if got := poolDefault(pool, "execution_role_arn"); got != "arn:aws:iam::123456789012:role/mine" {
		t.Errorf("the pool's own execution role was overwritten: %v", got)
	}

	// The same deploy again: nothing to do, and it says so.
	r = runInfra(t, "", e.serviceArgs("etl")...)
	if r.Code != 0 {
		t.Fatalf("redeploy: exit %d\n%s", r.Code, r.Stderr)
	}
	clitest.MustContain(t, "stderr", r.Stderr, "No changes: stack ecsworker-etl is already as asked.", `Work pool "etl": its defaults were already set; nothing to fill.`)

	// A change, for scripts.
	r = runInfra(t, "", e.serviceArgs("etl", "--desired-count", "2", "--json")...)
	if r.Code != 0 {
		t.Fatalf("update: exit %d\n%s", r.Code, r.Stderr)
	}
	var upd struct {
		Action  string            `json:"action"`
		Stack   cfnstack.Stack    `json:"stack"`
		Changes []cfnstack.Change `json:"changes"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &upd); err != nil {
		t.Fatalf("--json: %v\n%s", err, r.Stdout)
	}
	if upd.Action != "update" || upd.Stack.Status != "UPDATE_COMPLETE" || len(upd.Changes) != 1 || upd.Changes[0].LogicalID != "WorkerService" {
		t.Errorf("update: %+v", upd)
	}

	r = runInfra(t, "", "infra", "list")
	if r.Code != 0 || !strings.Contains(r.Stdout, "NAME") || !strings.Contains(r.Stdout, "ecsworker-etl  service  etl        UPDATE_COMPLETE") {
		t.Errorf("list: %+v", r)
	}
	r = runInfra(t, "", "infra", "list", "--format", "json")
	var listed []cfnstack.Stack
	if err := json.Unmarshal([]byte(r.Stdout), &listed); err != nil || len(listed) != 1 || listed[0].WorkPool != "etl" {
		t.Errorf("list --format json: %v %s", err, r.Stdout)
	}
	r = runInfra(t, "", "infra", "status", "ecsworker-etl")
	if r.Code != 0 {
		t.Fatalf("status: %+v", r)
	}
	clitest.MustContain(t, "status", r.Stdout, "Status:     UPDATE_COMPLETE", "Type:       service", "Work pool:  etl", "ServiceName")

	r = runInfra(t, "", "infra", "delete", "ecsworker-etl")
	if r.Code != 2 || !strings.Contains(r.Stderr, "pass --yes") {
		t.Errorf("delete without --yes off a terminal: %+v", r)
	}
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = devNull.Close() }()
	var errb bytes.Buffer
	if code := cli.Main(context.Background(), []string{"infra", "delete", "ecsworker-etl"}, cli.IO{In: devNull, Out: io.Discard, Err: &errb}); code != 2 ||
		!strings.Contains(errb.String(), "deleting stack ecsworker-etl needs confirmation, and standard input is not a terminal to ask on: pass --yes") {
		t.Errorf("delete without --yes from /dev/null: exit %d\n%s", code, errb.String())
	}
	r = runInfra(t, "", "infra", "delete", "ecsworker-etl", "--yes")
	if r.Code != 0 {
		t.Fatalf("delete: %+v", r)
	}
	clitest.MustContain(t, "delete", r.Stderr, "DELETE_SKIPPED               WorkerLogGroup", "Stack ecsworker-etl deleted.",
		"Kept the worker's log group ecsworker-etl-WorkerLogGroup-", `Work pool "etl" may still default to this stack's`)
	r = runInfra(t, "", "infra", "list")
	if r.Code != 0 || r.Stdout != "" || !strings.Contains(r.Stderr, "No stacks deployed by ecsworker in us-east-1.") {
		t.Errorf("list after delete: %+v", r)
	}
	r = runInfra(t, "", "infra", "status", "ecsworker-etl")
	if r.Code != 1 || !strings.Contains(r.Stderr, "stack ecsworker-etl does not exist in us-east-1") {
		t.Errorf("status of a deleted stack: %+v", r)
	}
}

func TestInfraDeployFailure(t *testing.T) {
	e := newInfraEnv(t, prefectfake.Options{})
	e.aws.FailNextStack("WorkerService", "Resource handler returned message: \"ECS Deployment Circuit Breaker was triggered\"")
	r := runInfra(t, "", e.serviceArgs("etl")...)
	if r.Code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.Code, r.Stderr)
	}
	clitest.MustContain(t, "stderr", r.Stderr,
		"Error: the create of stack ecsworker-etl failed: ROLLBACK_COMPLETE (The following resource(s) failed to create: [WorkerService]. Rollback requested by user.)",
		"Failed resources:\n  WorkerService (AWS::ECS::Service) CREATE_FAILED: Resource handler returned message: \"ECS Deployment Circuit Breaker was triggered\"",
		"ROLLBACK_IN_PROGRESS", "deploy again")
	if strings.Count(r.Stderr, "Error:") != 1 {
		t.Errorf("the error is printed more than once:\n%s", r.Stderr)
	}

	r = runInfra(t, "", "infra", "status", "ecsworker-etl", "--json")
	var st struct {
		Stack    cfnstack.Stack             `json:"stack"`
		Failures []cfnstack.ResourceFailure `json:"failures"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil || st.Stack.Status != "ROLLBACK_COMPLETE" || len(st.Failures) != 1 || st.Failures[0].LogicalID != "WorkerService" {
		t.Errorf("status --json: %v %s", err, r.Stdout)
	}

	// Deploying again replaces the rolled-back stack; a failing update, in
	// JSON, names the resource.
	if r := runInfra(t, "", e.serviceArgs("etl")...); r.Code != 0 || !strings.Contains(r.Stderr, "deleting it before creating it again") {
		t.Fatalf("redeploy after a failed creation: %+v", r)
	}
	e.aws.FailNextStack("WorkerTaskDefinition", "Invalid request provided: Image is required")
	r = runInfra(t, "", e.serviceArgs("etl", "--image", "other:2", "--json")...)
	var failed struct {
		Error   string                    `json:"error"`
		Failure cfnstack.StackFailedError `json:"failure"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &failed); err != nil || r.Code != 1 || failed.Failure.Status != "UPDATE_ROLLBACK_COMPLETE" ||
		failed.Failure.Failures[0].LogicalID != "WorkerTaskDefinition" {
		t.Errorf("failed update --json: %v %+v\n%s", err, failed, r.Stderr)
	}
	clitest.MustContain(t, "stderr", r.Stderr, "rolled back to its previous state")
}

func TestInfraRefusesBeforeTouchingAWS(t *testing.T) {
	e := newInfraEnv(t, prefectfake.Options{})
	tests := map[string]struct {
		args  []string
		stdin string
		code  int
		want  []string
	}{
		"missing everything": {args: []string{"infra", "deploy-service"}, code: 2,
			want: []string{"problems", "--work-pool is required", "--vpc is required", "--subnets is required", "--cluster is required"}},
		"fargate sizes": {args: e.serviceArgs("p", "--cpu", "256", "--memory", "4096"), code: 2, want: []string{"--memory 4096: with --cpu 256 Fargate takes 512, 1024 or 2048 MiB"}},
		"secret on the command line": {args: e.serviceArgs("p", "--prefect-api-key", "pnu_x"), code: 2,
			want: []string{"--prefect-api-key would leave the secret in your shell history", "--api-key-stdin"}},
		"empty stdin": {args: e.serviceArgs("p", "--api-key-stdin"), code: 2, want: []string{"--api-key-stdin: standard input is empty"}},
		"two stdins":  {args: e.serviceArgs("p", "--api-key-stdin", "--auth-string-stdin"), code: 2, want: []string{"both read standard input"}},
		"cloud without key": {args: e.serviceArgs("p", "--worker-api-url", "https://api.prefect.cloud/api/accounts/a/workspaces/w"), code: 2,
			want: []string{"Prefect Cloud needs an API key"}},
		"events without cluster": {args: []string{"infra", "deploy-events", "--work-pool", "p"}, code: 2, want: []string{"--cluster is required"}},
		"bad export type":        {args: []string{"infra", "export-template", "--type", "lambda"}, code: 2, want: []string{`unknown template "lambda"`}},
		"AWS CLI's --profile": {args: []string{"infra", "list", "--profile", "prod"}, code: 2,
			want: []string{`--profile "prod": the AWS profile is --aws-profile prod`}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := e.aws.Calls()
			r := runInfra(t, tc.stdin, tc.args...)
			if r.Code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", r.Code, tc.code, r.Stderr)
			}
			clitest.MustContain(t, "stderr", r.Stderr, tc.want...)
			if after := e.aws.Calls(); len(after) != len(before) {
				t.Errorf("AWS was called: %v", after)
			}
		})
	}
}

func TestInfraPreDeployChecks(t *testing.T) {
	e := newInfraEnv(t, prefectfake.Options{})
	other := e.aws.AddVPC("10.9.0.0/16")
	foreign := e.aws.AddSubnet(other, "10.9.1.0/24", "")
	tests := map[string]struct {
		args []string
		env  map[string]string
		code int
		want []string
	}{
		"unknown cluster": {args: []string{"infra", "deploy-service", "--work-pool", "p", "--cluster", "nope", "--vpc", e.vpc, "--subnets", e.subnets[0]},
			code: 1, want: []string{"--cluster nope: no such ECS cluster in us-east-1"}},
		"subnet of another VPC": {args: e.serviceArgs("p", "--subnets", e.subnets[0]+","+foreign), code: 1,
			want: []string{"--subnets: not in VPC " + e.vpc + ": " + foreign + " is in " + other}},
		"unknown VPC": {args: e.serviceArgs("p", "--vpc", "vpc-0000000000000000f"), code: 1, want: []string{"--vpc vpc-0000000000000000f: no such VPC in us-east-1"}},
		"no credentials": {args: e.serviceArgs("p"), env: map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, code: 1,
			want: []string{"AWS credentials not found"}},
		"unknown profile": {args: []string{"infra", "list", "--aws-profile", "nope"}, code: 2, want: []string{`--aws-profile "nope": no such profile`}},
		"no region":       {args: []string{"infra", "list"}, env: map[string]string{"AWS_REGION": ""}, code: 2, want: []string{"no AWS region: pass --region"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			r := runInfra(t, "", tc.args...)
			if r.Code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", r.Code, tc.code, r.Stderr)
			}
			clitest.MustContain(t, "stderr", r.Stderr, tc.want...)
			if e.aws.Calls()["cloudformation:CreateChangeSet"] != 0 {
				t.Errorf("a change set was created")
			}
		})
	}
}

func TestInfraSecretsAndOptions(t *testing.T) {
	e := newInfraEnv(t, prefectfake.Options{AuthString: "admin:s3cret-pass"})
	e.prefect.CreateWorkPool("selfhosted", "ecs", clitest.DefaultTemplateMap(t))

	// The auth string of the Prefect configuration becomes the stack's secret.
	r := runInfra(t, "", e.serviceArgs("selfhosted", "--work-queue", "critical,default", "--max-capacity", "3", "--alarm-email", "ops@example.com")...)
	if r.Code != 0 {
		t.Fatalf("deploy: %+v", r)
	}
	v, _ := e.aws.Stack("ecsworker-selfhosted")
	if v.Parameters["PrefectApiAuthString"] != "admin:s3cret-pass" || v.Parameters["PrefectApiKey"] != "" {
		t.Errorf("secret parameters: auth string set %v, key %q", v.Parameters["PrefectApiAuthString"] != "", v.Parameters["PrefectApiKey"])
	}
	for _, res := range []string{"PrefectApiAuthStringSecret", "WorkerScalableTarget", "AlarmTopic"} {
		if _, ok := v.Resource(res); !ok {
			t.Errorf("no %s", res)
		}
	}
	if got := poolDefault(e.prefect.WorkPool("selfhosted"), "prefect_api_auth_string_secret_arn"); got != v.Outputs["PrefectApiAuthStringSecretArn"] || got == "" {
		t.Errorf("auth string secret default %v", got)
	}

	// A key from standard input, and an existing secret that keeps the key
	// out of the stack altogether.
	r = runInfra(t, infraTestKey+"\n", e.serviceArgs("keyed", "--api-key-stdin", "--no-pool-defaults")...)
	if r.Code != 0 {
		t.Fatalf("--api-key-stdin: %+v", r)
	}
	if v, _ := e.aws.Stack("ecsworker-keyed"); v.Parameters["PrefectApiKey"] != infraTestKey {
		t.Errorf("the key from stdin did not reach the stack's secret")
	}
	const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prefect-key-AbCdEf"
	r = runInfra(t, "", e.serviceArgs("arned", "--api-key-secret-arn", arn, "--stack-name", "custom-name")...)
	if r.Code != 0 {
		t.Fatalf("--api-key-secret-arn: %+v", r)
	}
	v, _ = e.aws.Stack("custom-name")
	if _, ok := v.Resource("PrefectApiKeySecret"); ok || v.Parameters["PrefectApiKey"] != "" || v.Outputs["PrefectApiKeySecretArn"] != arn {
		t.Errorf("existing secret: parameters %v, outputs %v", v.Parameters["PrefectApiKeySecretArn"], v.Outputs["PrefectApiKeySecretArn"])
	}
	clitest.MustContain(t, "stderr", r.Stderr, `the defaults of work pool "arned" were not filled: the pool does not exist yet`, "prefect_api_key_secret_arn = "+arn)

	// --no-wait returns at once and leaves the pool alone.
	r = runInfra(t, "", e.serviceArgs("later", "--no-wait")...)
	if r.Code != 0 || !strings.Contains(r.Stderr, "create started (CREATE_IN_PROGRESS). Follow it with: ecsworker infra status ecsworker-later") ||
		!strings.Contains(r.Stderr, "without --no-wait") {
		t.Errorf("--no-wait: %+v", r)
	}

	// Upstream's option names still work.
	r = runInfra(t, "", "infra", "deploy-service", "--work-pool-name", "up", "--existing-cluster-identifier", "prod",
		"--existing-vpc-id", e.vpc, "--existing-subnet-ids", e.subnets[0], "--task-cpu", "1024", "--task-memory", "2048", "--dry-run")
	if r.Code != 0 {
		t.Fatalf("upstream flags: %+v", r)
	}
	clitest.MustContain(t, "dry run", r.Stdout, "Dry run: nothing was deployed. Would create stack ecsworker-up (service) in us-east-1",
		"TaskCpu", "1024", "PrefectApiAuthString", "(set: stored in a Secrets Manager secret the stack creates)")
	if _, ok := e.aws.Stack("ecsworker-up"); ok {
		t.Errorf("the dry run deployed")
	}
	// The test Prefect API is on loopback: the fix is the worker's URL
	// flag; --api-url would also move this CLI off the API it reaches.
	clitest.MustContain(t, "dry run warnings", r.Stderr, "points at this machine; the worker on ECS cannot reach it. Pass --worker-api-url with an address reachable from the VPC.")
	if strings.Contains(r.Stderr, "Pass --api-url") {
		t.Errorf("the warning names --api-url for the worker's URL:\n%s", r.Stderr)
	}
	r = runInfra(t, "", e.serviceArgs("selfhosted", "--dry-run", "--json", "--work-queue", "critical,default", "--max-capacity", "3", "--alarm-email", "ops@example.com")...)
	var dry map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &dry); err != nil || dry["action"] != "update" || dry["dryRun"] != true {
		t.Errorf("dry run --json: %v %s", err, r.Stdout)
	}
}

func TestInfraDeployEvents(t *testing.T) {
	e := newInfraEnv(t, prefectfake.Options{})
	e.prefect.CreateWorkPool("ext", "ecs", clitest.DefaultTemplateMap(t))
	r := runInfra(t, "", "infra", "deploy-events", "--work-pool", "ext", "--cluster", "prod")
	if r.Code != 0 {
		t.Fatalf("deploy-events: %+v", r)
	}
	v, _ := e.aws.Stack("ecsworker-ext-events")
	clusterArn := "arn:aws:ecs:us-east-1:123456789012:cluster/prod"
	if v.Parameters["ClusterArn"] != clusterArn || v.Tags["ecsworker:stack-type"] != "events" {
		t.Errorf("events stack: %v %v", v.Parameters, v.Tags)
	}
	clitest.MustContain(t, "stderr", r.Stderr, "Give your worker PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_NAME="+v.Outputs["EventsQueueName"],
		"attach the policy arn:aws:iam::123456789012:policy/", `Work pool "ext": filled the defaults of cluster.`)
	if got := poolDefault(e.prefect.WorkPool("ext"), "cluster"); got != clusterArn {
		t.Errorf("pool cluster default %v", got)
	}
}

func TestInfraLeavesOtherStacksAlone(t *testing.T) {
	e := newInfraEnv(t, prefectfake.Options{})
	cfn := cloudformation.NewFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(e.aws.URL()),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "x", "")})
	if _, err := cfn.CreateStack(context.Background(), &cloudformation.CreateStackInput{StackName: aws.String("theirs"),
		TemplateBody: aws.String(`{"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}`),
		Tags:         []cfntypes.Tag{{Key: aws.String("ManagedBy"), Value: aws.String("prefect-aws-cli")}}}); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"infra", "status", "theirs"}, {"infra", "delete", "theirs", "--yes"}} {
		r := runInfra(t, "", args...)
		if r.Code != 1 || !strings.Contains(r.Stderr, "stack theirs was not deployed by ecsworker") {
			t.Errorf("%v: %+v", args, r)
		}
	}
	if r := runInfra(t, "", e.serviceArgs("p", "--stack-name", "theirs")...); r.Code != 2 || !strings.Contains(r.Stderr, "leaves it alone") {
		t.Errorf("deploy over a foreign stack: %+v", r)
	}
	if r := runInfra(t, "", "infra", "list", "--json"); r.Stdout != "[]\n" {
		t.Errorf("list shows a foreign stack: %q", r.Stdout)
	}
	if v, _ := e.aws.Stack("theirs"); v.Status != "CREATE_COMPLETE" && v.Status != "CREATE_IN_PROGRESS" {
		t.Errorf("the foreign stack was touched: %s", v.Status)
	}
}

func TestInfraExportTemplate(t *testing.T) {
	setVersion(t, "v1.4.2")
	for _, typ := range []string{"service", "events", "events-only"} {
		var out, errb bytes.Buffer
		code := cli.Main(context.Background(), []string{"infra", "export-template", "--type", typ, "--image", "img:1"}, cli.IO{In: strings.NewReader(""), Out: &out, Err: &errb})
		if code != 0 {
			t.Fatalf("%s: exit %d %s", typ, code, errb.String())
		}
		var tmpl map[string]any
		if err := json.Unmarshal(out.Bytes(), &tmpl); err != nil {
			t.Fatalf("%s: not JSON: %v", typ, err)
		}
		if tmpl["AWSTemplateFormatVersion"] != "2010-09-09" || tmpl["Resources"] == nil {
			t.Errorf("%s: not a CloudFormation template", typ)
		}
		// The service stack has the CloudWatch dashboard and the alarms on
		// the worker's EMF metrics (issue 16).
		res, _ := tmpl["Resources"].(map[string]any)
		for _, id := range []string{"WorkerDashboard", "CrashAlarm", "SubmissionLatencyAlarm"} {
			if _, ok := res[id]; ok != (typ == "service") {
				t.Errorf("%s: %s present %v", typ, id, ok)
			}
		}
	}
	file := filepath.Join(t.TempDir(), "new", "dir", "svc.json")
	var out, errb bytes.Buffer
	if code := cli.Main(context.Background(), []string{"infra", "export-template", "--output-path", file, "--template-type", "service"}, cli.IO{Out: &out, Err: &errb}); code != 0 {
		t.Fatalf("--output-path: %s", errb.String())
	}
	b, err := os.ReadFile(file)
	want, _ := infra.Pretty(cfnstack.KindService, infracmd.DefaultWorkerImage())
	if err != nil || !bytes.Equal(b, want) {
		t.Errorf("written template differs: %v", err)
	}
	clitest.MustContain(t, "stderr", errb.String(), "Wrote the service template to "+file, "--capabilities CAPABILITY_IAM")
}

func TestInfraHealthcheck(t *testing.T) {
	t.Parallel()
	healthy := true
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if !healthy {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"message": "the last heartbeat to Prefect failed"}`))
			return
		}
		_, _ = w.Write([]byte(`{"message": "OK"}`))
	}))
	defer srv.Close()
	run := func() (int, string) {
		var out, errb bytes.Buffer
		code := cli.Main(context.Background(), []string{"infra", "healthcheck", "--url", srv.URL + "/health"}, cli.IO{Out: &out, Err: &errb})
		return code, errb.String()
	}
	if code, msg := run(); code != 0 || msg != "" {
		t.Errorf("healthy: %d %q", code, msg)
	}
	mu.Lock()
	healthy = false
	mu.Unlock()
	if code, msg := run(); code != 1 || !strings.Contains(msg, "answered 503: {\"message\": \"the last heartbeat to Prefect failed\"}") {
		t.Errorf("unhealthy: %d %q", code, msg)
	}
	srv.Close()
	if code, msg := run(); code != 1 || !strings.Contains(msg, "unhealthy:") {
		t.Errorf("down: %d %q", code, msg)
	}
}
