package cli_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/cli"
	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// prefectServer starts the Prefect API test server and points the CLI at it.
func prefectServer(t *testing.T, opts prefectfake.Options) *prefectfake.Server {
	t.Helper()
	s := prefectfake.NewTestServer(t, opts)
	t.Setenv("PREFECT_HOME", t.TempDir())
	t.Setenv("PREFECT_API_URL", s.URL())
	t.Setenv("PREFECT_API_KEY", opts.APIKey)
	t.Setenv("PREFECT_API_AUTH_STRING", opts.AuthString)
	return s
}

func TestWorkPoolLifecycle(t *testing.T) {
	s := prefectServer(t, prefectfake.Options{CSRF: true, AuthString: "admin:s3cret-pass"})

	r := run(t, "", "work-pool", "create", "ecs-pool", "--description", "flows on ECS")
	if r.code != 0 || !strings.Contains(r.err, `Created work pool "ecs-pool"`) || !strings.Contains(r.stdout, "Type:") {
		t.Fatalf("create: %+v", r)
	}
	pool := s.WorkPool("ecs-pool")
	if pool["type"] != "ecs" || pool["description"] != "flows on ECS" {
		t.Errorf("pool as stored: %v", pool)
	}
	bjt, _ := pool["base_job_template"].(map[string]any)
	vars, _ := bjt["variables"].(map[string]any)
	props, _ := vars["properties"].(map[string]any)
	if props["placement_strategy"] == nil {
		t.Errorf("the pool did not get ecsworker's default template")
	}

	if r := run(t, "", "work-pool", "create", "ecs-pool"); r.code != 1 || !strings.Contains(r.err, "--overwrite") {
		t.Errorf("create of an existing pool: %+v", r)
	}
	if r := run(t, `{"job_configuration": {"task_definition": {"containerDefinitions": [{"image": "{{ image }}"}]}, "task_run_request": {"launchType": "EC2"}}, "variables": {"properties": {"image": {"type": "string", "default": "img:1"}}}}`,
		"work-pool", "create", "ecs-pool", "--overwrite", "--base-job-template", "-", "--paused"); r.code != 0 || !strings.Contains(r.err, "Updated") {
		t.Fatalf("create --overwrite: %+v", r)
	}
	if p := s.WorkPool("ecs-pool"); p["is_paused"] != true {
		t.Errorf("--paused not applied on overwrite: %v", p["is_paused"])
	}

	if r := run(t, "", "work-pool", "update", "ecs-pool", "--concurrency-limit", "7"); r.code != 0 {
		t.Fatalf("update: %+v", r)
	}
	if p := s.WorkPool("ecs-pool"); p["concurrency_limit"] != 7.0 {
		t.Errorf("concurrency limit = %v", p["concurrency_limit"])
	}
	if r := run(t, "", "work-pool", "update", "ecs-pool"); r.code != 2 || !strings.Contains(r.err, "nothing to update") {
		t.Errorf("update without changes: %+v", r)
	}

	r = run(t, "", "work-pool", "inspect", "ecs-pool", "--json")
	if r.code != 0 {
		t.Fatalf("inspect: %+v", r)
	}
	if obj, err := jsonv.DecodeObject([]byte(r.stdout)); err != nil || obj.GetString("name") != "ecs-pool" {
		t.Errorf("inspect --json: %v %s", err, r.stdout)
	}
	if r := run(t, "", "work-pool", "inspect", "ecs-pool"); !strings.Contains(r.stdout, "image = \"img:1\"") {
		t.Errorf("inspect should list the template's defaults:\n%s", r.stdout)
	}

	s.CreateWorkPool("local", "process", nil)
	r = run(t, "", "work-pool", "ls")
	if r.code != 0 || !strings.Contains(r.stdout, "ecs-pool") || strings.Contains(r.stdout, "local") {
		t.Errorf("ls shows ecs pools only: %+v", r)
	}
	if r := run(t, "", "work-pool", "ls", "--all"); !strings.Contains(r.stdout, "local") {
		t.Errorf("ls --all: %+v", r)
	}
	for _, args := range [][]string{{"inspect", "local"}, {"update", "local", "--description", "x"}, {"delete", "local", "--yes"}} {
		if r := run(t, "", append([]string{"work-pool"}, args...)...); r.code != 2 || !strings.Contains(r.err, `type "process"`) {
			t.Errorf("%v on a process pool: %+v", args, r)
		}
	}
	if r := run(t, "", "work-pool", "create", "prefect-pool"); r.code != 2 || !strings.Contains(r.err, "reserved") {
		t.Errorf("reserved name: %+v", r)
	}

	// Off a terminal nobody can confirm: the pool stays until --yes.
	if r := run(t, "", "work-pool", "delete", "ecs-pool"); r.code != 2 || !strings.Contains(r.err, "pass --yes") || s.WorkPool("ecs-pool") == nil {
		t.Fatalf("delete without --yes off a terminal: %+v", r)
	}
	if r := run(t, "", "work-pool", "delete", "ecs-pool", "--yes"); r.code != 0 {
		t.Fatalf("delete: %+v", r)
	}
	if r := run(t, "", "work-pool", "inspect", "ecs-pool"); r.code != 1 || !strings.Contains(r.err, "not found") {
		t.Errorf("inspect after delete: %+v", r)
	}
	if strings.Contains(r.err+r.stdout, "s3cret-pass") {
		t.Errorf("the auth string leaked")
	}
}

// TestWorkPoolDeleteFromCron is a cron job or CI step: standard input is
// /dev/null, a character device but no terminal. It used to be asked for
// confirmation, read "no" and fail with "not deleted", without a hint.
func TestWorkPoolDeleteFromCron(t *testing.T) {
	s := prefectServer(t, prefectfake.Options{})
	s.CreateWorkPool("nightly", "ecs", nil)
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = devNull.Close() }()
	deleteArgs := func(extra ...string) result {
		var out, errb bytes.Buffer
		code := cli.Main(context.Background(), append([]string{"work-pool", "delete", "nightly"}, extra...), cli.IO{In: devNull, Out: &out, Err: &errb})
		return result{code, out.String(), errb.String()}
	}
	r := deleteArgs()
	if r.code != 2 || s.WorkPool("nightly") == nil {
		t.Fatalf("delete without --yes from /dev/null: %+v", r)
	}
	if want := `Error: deleting work pool "nightly" needs confirmation, and standard input is not a terminal to ask on: pass --yes to go ahead without asking`; strings.TrimSpace(r.err) != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", r.err, want)
	}
	if strings.Contains(r.err, "[y/N]") {
		t.Errorf("asked a question nobody can answer: %s", r.err)
	}
	if r := deleteArgs("--yes"); r.code != 0 || s.WorkPool("nightly") != nil {
		t.Fatalf("delete --yes from /dev/null: %+v", r)
	}
}

func TestWorkPoolWithoutAPI(t *testing.T) {
	t.Setenv("PREFECT_HOME", t.TempDir())
	t.Setenv("PREFECT_API_URL", "")
	r := run(t, "", "work-pool", "ls")
	if r.code != 2 || !strings.Contains(r.err, "PREFECT_API_URL") {
		t.Errorf("no API configured: %+v", r)
	}
}

func TestWorkPoolUnauthorized(t *testing.T) {
	s := prefectServer(t, prefectfake.Options{APIKey: "pnu_right"})
	t.Setenv("PREFECT_API_KEY", "pnu_wrong_key")
	_ = s
	r := run(t, "", "work-pool", "ls")
	if r.code != 1 || !strings.Contains(r.err, "401") || !strings.Contains(r.err, "PREFECT_API_KEY") {
		t.Errorf("wrong key: %+v", r)
	}
	if strings.Contains(r.err, "pnu_wrong_key") {
		t.Errorf("the API key leaked: %s", r.err)
	}
}

func TestRenderFromAPI(t *testing.T) {
	s := prefectServer(t, prefectfake.Options{})
	if r := run(t, "", "work-pool", "create", "ecs-pool"); r.code != 0 {
		t.Fatalf("create: %+v", r)
	}
	creds := s.SetBlockDocument("aws-credentials", "prod", map[string]any{"region_name": "eu-central-1", "aws_access_key_id": "AKIAXXXX", "aws_secret_access_key": "hidden-secret"}, "aws_secret_access_key")
	s.SetVariable("team_cluster", "analytics")
	flow := s.CreateFlow("etl")
	dep := s.CreateDeployment(flow["id"].(string), "nightly", "ecs-pool", "", map[string]any{
		"cluster":                   "{{ prefect.variables.team_cluster }}",
		"aws_credentials":           map[string]any{"$ref": map[string]any{"block_document_id": creds}},
		"configure_cloudwatch_logs": true,
		"execution_role_arn":        "arn:aws:iam::123456789012:role/exec",
	})
	run1 := s.CreateFlowRun(dep["id"].(string), map[string]any{"env": map[string]any{"X": "1"}}, timeZero)

	r := run(t, "", "render", "--work-pool", "ecs-pool", "--deployment", "etl/nightly", "--flow-run", run1["id"].(string))
	if r.code != 0 {
		t.Fatalf("render: %+v", r)
	}
	for _, want := range []string{`"cluster": "analytics"`, `"awslogs-region": "eu-central-1"`, `"prefect_ecs-pool_` + dep["id"].(string) + `"`, `"name": "X"`, `"prefect.io/flow-name"`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("render output lacks %s:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "hidden-secret") {
		t.Errorf("a block secret leaked into the output")
	}
	if r := run(t, "", "render", "--work-pool", "ecs-pool", "--deployment", "etl/weekly"); r.code != 1 || !strings.Contains(r.err, "not found") {
		t.Errorf("unknown deployment: %+v", r)
	}
	if r := run(t, "", "render", "--deployment", "nightly"); r.code != 2 || !strings.Contains(r.err, "FLOW_NAME/DEPLOYMENT_NAME") {
		t.Errorf("ambiguous deployment: %+v", r)
	}
}

// A pool name Prefect would refuse is refused before any call, with the
// rule, instead of the server's raw 422.
func TestWorkPoolNamesAreCheckedLocally(t *testing.T) {
	s := prefectServer(t, prefectfake.Options{})
	for _, args := range [][]string{{"create", "a/b"}, {"inspect", "a%b"}, {"update", "a>b", "--description", "x"}, {"delete", "a<b", "--yes"}} {
		r := run(t, "", append([]string{"work-pool"}, args...)...)
		if r.code != 2 || !strings.Contains(r.err, "Prefect refuses") {
			t.Errorf("work-pool %v: exit %d\n%s", args, r.code, r.err)
		}
	}
	for k, n := range s.Calls() {
		if strings.Contains(k, "work_pools") {
			t.Errorf("%d calls to %s for names refused locally", n, k)
		}
	}
}
