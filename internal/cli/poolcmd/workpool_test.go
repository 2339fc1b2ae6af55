package poolcmd_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/cli"
	"github.com/ecsworker/ecsworker/internal/cli/clitest"
	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
	"github.com/ecsworker/ecsworker/internal/jsonv"
)

func TestWorkPoolLifecycle(t *testing.T) {
	s := clitest.PrefectServer(t, prefectfake.Options{CSRF: true, AuthString: "admin:s3cret-pass"})

	r := clitest.Run(t, "", "work-pool", "create", "ecs-pool", "--description", "flows on ECS")
	if r.Code != 0 || !strings.Contains(r.Stderr, `Created work pool "ecs-pool"`) || !strings.Contains(r.Stdout, "Type:") {
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

	if r := clitest.Run(t, "", "work-pool", "create", "ecs-pool"); r.Code != 1 || !strings.Contains(r.Stderr, "--overwrite") {
		t.Errorf("create of an existing pool: %+v", r)
	}
	if r := clitest.Run(t, `{"job_configuration": {"task_definition": {"containerDefinitions": [{"image": "{{ image }}"}]}, "task_run_request": {"launchType": "EC2"}}, "variables": {"properties": {"image": {"type": "string", "default": "img:1"}}}}`,
		"work-pool", "create", "ecs-pool", "--overwrite", "--base-job-template", "-", "--paused"); r.Code != 0 || !strings.Contains(r.Stderr, "Updated") {
		t.Fatalf("create --overwrite: %+v", r)
	}
	if p := s.WorkPool("ecs-pool"); p["is_paused"] != true {
		t.Errorf("--paused not applied on overwrite: %v", p["is_paused"])
	}

	if r := clitest.Run(t, "", "work-pool", "update", "ecs-pool", "--concurrency-limit", "7"); r.Code != 0 {
		t.Fatalf("update: %+v", r)
	}
	if p := s.WorkPool("ecs-pool"); p["concurrency_limit"] != 7.0 {
		t.Errorf("concurrency limit = %v", p["concurrency_limit"])
	}
	if r := clitest.Run(t, "", "work-pool", "update", "ecs-pool"); r.Code != 2 || !strings.Contains(r.Stderr, "nothing to update") {
		t.Errorf("update without changes: %+v", r)
	}

	r = clitest.Run(t, "", "work-pool", "inspect", "ecs-pool", "--json")
	if r.Code != 0 {
		t.Fatalf("inspect: %+v", r)
	}
	if obj, err := jsonv.DecodeObject([]byte(r.Stdout)); err != nil || obj.GetString("name") != "ecs-pool" {
		t.Errorf("inspect --json: %v %s", err, r.Stdout)
	}
	if r := clitest.Run(t, "", "work-pool", "inspect", "ecs-pool"); !strings.Contains(r.Stdout, "image = \"img:1\"") {
		t.Errorf("inspect should list the template's defaults:\n%s", r.Stdout)
	}

	s.CreateWorkPool("local", "process", nil)
	r = clitest.Run(t, "", "work-pool", "ls")
	if r.Code != 0 || !strings.Contains(r.Stdout, "ecs-pool") || strings.Contains(r.Stdout, "local") {
		t.Errorf("ls shows ecs pools only: %+v", r)
	}
	if r := clitest.Run(t, "", "work-pool", "ls", "--all"); !strings.Contains(r.Stdout, "local") {
		t.Errorf("ls --all: %+v", r)
	}
	for _, args := range [][]string{{"inspect", "local"}, {"update", "local", "--description", "x"}, {"delete", "local", "--yes"}} {
		if r := clitest.Run(t, "", append([]string{"work-pool"}, args...)...); r.Code != 2 || !strings.Contains(r.Stderr, `type "process"`) {
			t.Errorf("%v on a process pool: %+v", args, r)
		}
	}
	if r := clitest.Run(t, "", "work-pool", "create", "prefect-pool"); r.Code != 2 || !strings.Contains(r.Stderr, "reserved") {
		t.Errorf("reserved name: %+v", r)
	}

	// Off a terminal nobody can confirm: the pool stays until --yes.
	if r := clitest.Run(t, "", "work-pool", "delete", "ecs-pool"); r.Code != 2 || !strings.Contains(r.Stderr, "pass --yes") || s.WorkPool("ecs-pool") == nil {
		t.Fatalf("delete without --yes off a terminal: %+v", r)
	}
	if r := clitest.Run(t, "", "work-pool", "delete", "ecs-pool", "--yes"); r.Code != 0 {
		t.Fatalf("delete: %+v", r)
	}
	if r := clitest.Run(t, "", "work-pool", "inspect", "ecs-pool"); r.Code != 1 || !strings.Contains(r.Stderr, "not found") {
		t.Errorf("inspect after delete: %+v", r)
	}
	if strings.Contains(r.Stderr+r.Stdout, "s3cret-pass") {
		t.Errorf("the auth string leaked")
	}
}

// TestWorkPoolDeleteFromCron is a cron job or CI step: standard input is
// /dev/null, a character device but no terminal. It used to be asked for
// confirmation, read "no" and fail with "not deleted", without a hint.
func TestWorkPoolDeleteFromCron(t *testing.T) {
	s := clitest.PrefectServer(t, prefectfake.Options{})
	s.CreateWorkPool("nightly", "ecs", nil)
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = devNull.Close() }()
	deleteArgs := func(extra ...string) clitest.Result {
		var out, errb bytes.Buffer
		code := cli.Main(context.Background(), append([]string{"work-pool", "delete", "nightly"}, extra...), cli.IO{In: devNull, Out: &out, Err: &errb})
		return clitest.Result{Code: code, Stdout: out.String(), Stderr: errb.String()}
	}
	r := deleteArgs()
	if r.Code != 2 || s.WorkPool("nightly") == nil {
		t.Fatalf("delete without --yes from /dev/null: %+v", r)
	}
	if want := `Error: deleting work pool "nightly" needs confirmation, and standard input is not a terminal to ask on: pass --yes to go ahead without asking`; strings.TrimSpace(r.Stderr) != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", r.Stderr, want)
	}
	if strings.Contains(r.Stderr, "[y/N]") {
		t.Errorf("asked a question nobody can answer: %s", r.Stderr)
	}
	if r := deleteArgs("--yes"); r.Code != 0 || s.WorkPool("nightly") != nil {
		t.Fatalf("delete --yes from /dev/null: %+v", r)
	}
}

func TestWorkPoolWithoutAPI(t *testing.T) {
	t.Setenv("PREFECT_HOME", t.TempDir())
	t.Setenv("PREFECT_API_URL", "")
	r := clitest.Run(t, "", "work-pool", "ls")
	if r.Code != 2 || !strings.Contains(r.Stderr, "PREFECT_API_URL") {
		t.Errorf("no API configured: %+v", r)
	}
}

func TestWorkPoolUnauthorized(t *testing.T) {
	s := clitest.PrefectServer(t, prefectfake.Options{APIKey: "pnu_right"})
	t.Setenv("PREFECT_API_KEY", "pnu_wrong_key")
	_ = s
	r := clitest.Run(t, "", "work-pool", "ls")
	if r.Code != 1 || !strings.Contains(r.Stderr, "401") || !strings.Contains(r.Stderr, "PREFECT_API_KEY") {
		t.Errorf("wrong key: %+v", r)
	}
	if strings.Contains(r.Stderr, "pnu_wrong_key") {
		t.Errorf("the API key leaked: %s", r.Stderr)
	}
}

// A pool name Prefect would refuse is refused before any call, with the
// rule, instead of the server's raw 422.
func TestWorkPoolNamesAreCheckedLocally(t *testing.T) {
	s := clitest.PrefectServer(t, prefectfake.Options{})
	for _, args := range [][]string{{"create", "a/b"}, {"inspect", "a%b"}, {"update", "a>b", "--description", "x"}, {"delete", "a<b", "--yes"}} {
		r := clitest.Run(t, "", append([]string{"work-pool"}, args...)...)
		if r.Code != 2 || !strings.Contains(r.Stderr, "Prefect refuses") {
			t.Errorf("work-pool %v: exit %d\n%s", args, r.Code, r.Stderr)
		}
	}
	for k, n := range s.Calls() {
		if strings.Contains(k, "work_pools") {
			t.Errorf("%d calls to %s for names refused locally", n, k)
		}
	}
}

func TestDefaultTemplateCommand(t *testing.T) {
	r := clitest.Run(t, "", "work-pool", "get-default-base-job-template", "--type", "ecs")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	obj, err := jsonv.DecodeObject([]byte(r.Stdout))
	if err != nil {
		t.Fatal(err)
	}
	if obj.GetObject("job_configuration") == nil || obj.GetObject("variables").GetObject("properties").GetObject("placement_strategy") == nil {
		t.Errorf("template lacks job_configuration or placement_strategy")
	}

	file := filepath.Join(t.TempDir(), "t.json")
	if r := clitest.Run(t, "", "work-pool", "get-default-base-job-template", "--file", file); r.Code != 0 {
		t.Fatalf("--file: %+v", r)
	}
	if b, _ := os.ReadFile(file); string(b) != r.Stdout {
		t.Errorf("--file wrote something else than stdout shows")
	}

	if r := clitest.Run(t, "", "work-pool", "get-default-base-job-template", "--type", "process"); r.Code != 2 || !strings.Contains(r.Stderr, `"ecs"`) {
		t.Errorf("another type: %+v", r)
	}
}
