package poolcmd_test

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/cli/clikit"
	"github.com/ecsworker/ecsworker/internal/cli/clitest"
	"github.com/ecsworker/ecsworker/internal/ecsjob"
	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectconfig"
	"github.com/ecsworker/ecsworker/internal/prefectdeploy"
	"github.com/ecsworker/ecsworker/internal/sandbox"
)

// runDeploymentCmd runs `ecsworker deployment ARGS` through cli.Main.
func runDeploymentCmd(t *testing.T, stdin string, args ...string) clitest.Result {
	t.Helper()
	return clitest.Run(t, stdin, append([]string{"deployment"}, args...)...)
}

// deploymentEnv is the Prefect API test server with an ecs pool (the
// default template), the flow "etl" and its deployment "nightly", which
// declares the parameters name (default "world") and count.
func deploymentEnv(t *testing.T) (s *prefectfake.Server, deploymentID string) {
	t.Helper()
	s = prefectfake.NewTestServer(t, prefectfake.Options{})
	t.Setenv("PREFECT_HOME", t.TempDir())
	t.Setenv("PREFECT_API_URL", s.URL())
	t.Setenv("PREFECT_API_KEY", "")
	t.Setenv("PREFECT_API_AUTH_STRING", "")
	t.Setenv("PREFECT_UI_URL", "")

	var tmpl map[string]any
	if err := json.Unmarshal(ecsjob.DefaultTemplateJSON(), &tmpl); err != nil {
		t.Fatal(err)
	}
	s.CreateWorkPool("ecs-pool", "ecs", tmpl)
	flow := s.CreateFlow("etl")
	c, err := prefect.New(prefectconfig.Config{APIURL: s.URL(), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	schema, err := jsonv.DecodeObject([]byte(`{"title": "Parameters", "type": "object", "properties": {"name": {"type": "string"}, "count": {"type": "integer"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.CreateDeployment(context.Background(), prefectdeploy.DeploymentCreate{
		Name: "nightly", FlowID: flow["id"].(string), WorkPoolName: "ecs-pool",
		Parameters: jsonv.ObjectOf("name", "world"), ParameterOpenAPISchema: schema,
		JobVariables: jsonv.ObjectOf("cpu", json.Number("1024")),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, d.ID
}

// field reads the value the server stored under a /-separated path.
func field(m map[string]any, path string) any {
	var v any = m
	for _, k := range strings.Split(path, "/") {
		obj, _ := v.(map[string]any)
		v = obj[k]
	}
	return v
}

var idLine = regexp.MustCompile(`(?m)^ID:\s+(\S+)$`)

func TestDeploymentRun(t *testing.T) {
	s, depID := deploymentEnv(t)

	before := time.Now()
	r := runDeploymentCmd(t, "", "run", "etl/nightly", "--param", "name=Marvin", "-p", "count=3",
		"--job-variable", "image=repo/flow:2", "--job-variable", `env={"LOG_LEVEL": "DEBUG"}`,
		"--tag", "adhoc", "--tag", "cli", "--flow-run-name", "hello-{name}-{count}")
	after := time.Now()
	if r.Code != clikit.ExitOK {
		t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
	}
	if !strings.Contains(r.Stderr, `Created flow run "hello-Marvin-3" of deployment "etl/nightly"`) {
		t.Errorf("stderr: %s", r.Stderr)
	}
	m := idLine.FindStringSubmatch(r.Stdout)
	if m == nil || !strings.Contains(r.Stdout, "Name:") || !strings.Contains(r.Stdout, "hello-Marvin-3") {
		t.Fatalf("stdout should show the run's name and id:\n%s", r.Stdout)
	}
	for _, want := range []string{"Work pool:", "ecs-pool", `"image":"repo/flow:2"`, "(now)", "/runs/flow-run/" + m[1]} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.Stdout)
		}
	}
	run := s.FlowRun(m[1])
	if run == nil {
		t.Fatalf("no flow run %s on the server", m[1])
	}
	for path, want := range map[string]any{
		"deployment_id":               depID,
		"name":                        "hello-Marvin-3",
		"state_type":                  "SCHEDULED",
		"state_name":                  "Scheduled",
		"parameters/name":             "Marvin",
		"parameters/count":            3.0,
		"job_variables/image":         "repo/flow:2",
		"job_variables/env/LOG_LEVEL": "DEBUG",
	} {
		if got := field(run, path); got != want {
			t.Errorf("%s = %#v, want %#v", path, got, want)
		}
	}
	if key, _ := run["idempotency_key"].(string); !strings.HasPrefix(key, "ecsworker-deployment-run-") {
		t.Errorf("idempotency_key = %q: a retried create could make a second run", key)
	}
	if tags, _ := json.Marshal(run["tags"]); string(tags) != `["adhoc","cli"]` {
		t.Errorf("tags = %s", tags)
	}
	start, err := time.Parse(time.RFC3339Nano, field(run, "expected_start_time").(string))
	if err != nil || start.Before(before.Add(-time.Second)) || start.After(after.Add(time.Second)) {
		t.Errorf("expected start %v (%v), want now", start, err)
	}
}

func TestDeploymentRunLaterByIDAsJSON(t *testing.T) {
	s, depID := deploymentEnv(t)
	before := time.Now()
	r := runDeploymentCmd(t, "", "run", "--id", depID, "--start-in", "10m", "--json")
	after := time.Now()
	if r.Code != clikit.ExitOK {
		t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
	}
	var run map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &run); err != nil {
		t.Fatalf("stdout is not the flow run as JSON: %v\n%s", err, r.Stdout)
	}
	if run["deployment_id"] != depID || run["state_type"] != "SCHEDULED" || s.FlowRun(run["id"].(string)) == nil {
		t.Errorf("flow run: %v", run)
	}
	if !strings.Contains(r.Stderr, `deployment "etl/nightly"`) {
		t.Errorf("stderr should name the deployment found by id: %s", r.Stderr)
	}
	start, err := time.Parse(time.RFC3339Nano, run["expected_start_time"].(string))
	if err != nil || start.Before(before.Add(10*time.Minute-time.Second)) || start.After(after.Add(10*time.Minute+time.Second)) {
		t.Errorf("expected start %v (%v), want 10 minutes from now", start, err)
	}
	if got := field(run, "state/state_details/scheduled_time"); got != run["expected_start_time"] {
		t.Errorf("state scheduled_time %v, expected_start_time %v", got, run["expected_start_time"])
	}
}

func TestDeploymentRunParamsFromStdin(t *testing.T) {
	s, _ := deploymentEnv(t)
	r := runDeploymentCmd(t, `{"name": "from-stdin", "count": 1}`, "run", "etl/nightly", "--params", "-", "--param", "count=2")
	if r.Code != clikit.ExitOK {
		t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
	}
	if !strings.Contains(r.Stderr, "the --param value is used: count") {
		t.Errorf("the conflict should be reported: %s", r.Stderr)
	}
	run := s.FlowRun(idLine.FindStringSubmatch(r.Stdout)[1])
	if field(run, "parameters/name") != "from-stdin" || field(run, "parameters/count") != 2.0 {
		t.Errorf("parameters = %v", run["parameters"])
	}
}

func TestDeploymentRunWarnsOfUndefinedJobVariables(t *testing.T) {
	deploymentEnv(t)
	r := runDeploymentCmd(t, "", "run", "etl/nightly", "--job-variable", "task_definition={}", "--job-variable", "image=x:1")
	if r.Code != clikit.ExitOK {
		t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
	}
	if !strings.Contains(r.Stderr, `job variable "task_definition" is not defined`) || strings.Contains(r.Stderr, `"image" is not`) {
		t.Errorf("stderr should warn of task_definition only:\n%s", r.Stderr)
	}
}

func TestDeploymentRunErrors(t *testing.T) {
	deploymentEnv(t)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"run"}, clikit.ExitInvalid, "FLOW_NAME/DEPLOYMENT_NAME"},
		{[]string{"run", "etl/nightly", "--id", "0b0c1d2e-0000-4000-8000-000000000000"}, clikit.ExitInvalid, "not both"},
		{[]string{"run", "nightly"}, clikit.ExitInvalid, "expected FLOW_NAME/DEPLOYMENT_NAME"},
		{[]string{"run", "etl/nightly", "--param", "nope=1"}, clikit.ExitInvalid, "no parameter nope. The deployment's parameters are: "},
		{[]string{"run", "etl/nightly", "--param", "name"}, clikit.ExitInvalid, "expected KEY=VALUE"},
		{[]string{"run", "etl/nightly", "--param", `count={"a":`}, clikit.ExitInvalid, "not valid JSON"},
		{[]string{"run", "etl/nightly", "--job-variable", `env={"A": 1`}, clikit.ExitInvalid, "not valid JSON"},
		{[]string{"run", "etl/nightly", "--start-in", "5m", "--start-at", "17:00"}, clikit.ExitInvalid, "not both"},
		{[]string{"run", "etl/nightly", "--start-in", "soon"}, clikit.ExitInvalid, "5 minutes"},
		{[]string{"run", "etl/nightly", "--start-at", "tomorrow"}, clikit.ExitInvalid, "5:30pm"},
		{[]string{"run", "etl/nightly", "--flow-run-name", "run-{day}"}, clikit.ExitInvalid, `no parameter "day"`},
		{[]string{"run", "etl/missing"}, clikit.ExitError, `deployment "etl/missing" not found`},
		{[]string{"run", "--id", "not-a-uuid"}, clikit.ExitInvalid, "is a UUID"},
		{[]string{"run", "--id", "0b0c1d2e-0000-4000-8000-000000000000"}, clikit.ExitError, "not found"},
		// The server checks job variables against the pool's schema.
		{[]string{"run", "etl/nightly", "--job-variable", "cpu=lots"}, clikit.ExitError, "422"},
	}
	for _, tc := range tests {
		r := runDeploymentCmd(t, "", tc.args...)
		if r.Code != tc.code || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, r.Code, r.Stderr, tc.code, tc.want)
		}
		if r.Stdout != "" {
			t.Errorf("%v: stdout should be empty on error: %q", tc.args, r.Stdout)
		}
	}
}

// lockedBuffer collects what the sandbox prints from its own goroutine
// and pokes the test at each write.
type lockedBuffer struct {
	mu    sync.Mutex
	b     strings.Builder
	wrote chan struct{}
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Write(p)
	select {
	case l.wrote <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor waits until the buffer matches, or fails the test after limit.
func (l *lockedBuffer) waitFor(t *testing.T, re *regexp.Regexp, limit time.Duration) []string {
	t.Helper()
	deadline := time.After(limit)
	for {
		if m := re.FindStringSubmatch(l.String()); m != nil {
			return m
		}
		select {
		case <-l.wrote:
		case <-deadline:
			t.Fatalf("no %q after %v in:\n%s", re, limit, l.String())
		}
	}
}

// TestDeploymentRunInKeepRunningSandbox schedules a run the way the
// sandbox's --keep-running output says, and watches the sandbox's worker
// run it to completion.
func TestDeploymentRunInKeepRunningSandbox(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the sandbox for about 12 s")
	}
	t.Setenv("PREFECT_HOME", t.TempDir())
	out := &lockedBuffer{wrote: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := sandbox.Run(ctx, sandbox.Options{Runs: 1, Speed: 20, KeepRunning: true, Out: out, Err: out})
		done <- err
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("sandbox: %v", err)
		}
	}()

	// The plain command: a run that succeeds is over before ECS releases
	// its task (10 s that the sandbox's speed does not shorten).
	cmdLine := out.waitFor(t, regexp.MustCompile(`(?m)^\s+ecsworker (deployment run \S+)$`), 2*time.Minute)
	api := out.waitFor(t, regexp.MustCompile(`export PREFECT_API_URL=(\S+)`), time.Second)
	t.Setenv("PREFECT_API_URL", api[1])
	r := runDeploymentCmd(t, "", strings.Fields(cmdLine[1])[1:]...)
	if r.Code != clikit.ExitOK {
		t.Fatalf("%s: exit %d\n%s", cmdLine[1], r.Code, r.Stderr)
	}
	name := regexp.MustCompile(`(?m)^Name:\s+(\S+)$`).FindStringSubmatch(r.Stdout)[1]
	out.waitFor(t, regexp.MustCompile(`(?m)`+regexp.QuoteMeta(name)+`\s+success\s+Completed`), time.Minute)
}
