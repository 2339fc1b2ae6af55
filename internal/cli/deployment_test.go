package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/ecsworker/ecsworker/internal/ecsjob"
	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectconfig"
	"github.com/ecsworker/ecsworker/internal/prefectdeploy"
	"github.com/ecsworker/ecsworker/internal/sandbox"
)

type deploymentResult struct {
	code           int
	stdout, stderr string
}

// runDeploymentCmd runs `ecsworker deployment ARGS` under a root of its
// own, with the exit code Main would give.
func runDeploymentCmd(t *testing.T, stdin string, args ...string) deploymentResult {
	t.Helper()
	var out, errb bytes.Buffer
	stdio := IO{In: strings.NewReader(stdin), Out: &out, Err: &errb}
	root := &cobra.Command{Use: "ecsworker", SilenceUsage: true, SilenceErrors: true}
	root.SetOut(&errb)
	root.SetErr(&errb)
	root.AddCommand(newDeploymentCmd(stdio, &apiFlags{}))
	root.SetArgs(append([]string{"deployment"}, args...))
	err := root.ExecuteContext(context.Background())
	code := exitOK
	var ce *codedError
	switch {
	case err == nil:
	case errors.As(err, &ce):
		code = ce.code
	case isUsageError(err):
		code = exitInvalid
	default:
		code = exitError
	}
	if err != nil && (ce == nil || !ce.printed) {
		errb.WriteString("Error: " + err.Error() + "\n")
	}
	return deploymentResult{code, out.String(), errb.String()}
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
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, `Created flow run "hello-Marvin-3" of deployment "etl/nightly"`) {
		t.Errorf("stderr: %s", r.stderr)
	}
	m := idLine.FindStringSubmatch(r.stdout)
	if m == nil || !strings.Contains(r.stdout, "Name:") || !strings.Contains(r.stdout, "hello-Marvin-3") {
		t.Fatalf("stdout should show the run's name and id:\n%s", r.stdout)
	}
	for _, want := range []string{"Work pool:", "ecs-pool", `"image":"repo/flow:2"`, "(now)", "/runs/flow-run/" + m[1]} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
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
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	var run map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &run); err != nil {
		t.Fatalf("stdout is not the flow run as JSON: %v\n%s", err, r.stdout)
	}
	if run["deployment_id"] != depID || run["state_type"] != "SCHEDULED" || s.FlowRun(run["id"].(string)) == nil {
		t.Errorf("flow run: %v", run)
	}
	if !strings.Contains(r.stderr, `deployment "etl/nightly"`) {
		t.Errorf("stderr should name the deployment found by id: %s", r.stderr)
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
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "the --param value is used: count") {
		t.Errorf("the conflict should be reported: %s", r.stderr)
	}
	run := s.FlowRun(idLine.FindStringSubmatch(r.stdout)[1])
	if field(run, "parameters/name") != "from-stdin" || field(run, "parameters/count") != 2.0 {
		t.Errorf("parameters = %v", run["parameters"])
	}
}

func TestDeploymentRunWarnsOfUndefinedJobVariables(t *testing.T) {
	deploymentEnv(t)
	r := runDeploymentCmd(t, "", "run", "etl/nightly", "--job-variable", "task_definition={}", "--job-variable", "image=x:1")
	if r.code != exitOK {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, `job variable "task_definition" is not defined`) || strings.Contains(r.stderr, `"image" is not`) {
		t.Errorf("stderr should warn of task_definition only:\n%s", r.stderr)
	}
}

func TestDeploymentRunErrors(t *testing.T) {
	deploymentEnv(t)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"run"}, exitInvalid, "FLOW_NAME/DEPLOYMENT_NAME"},
		{[]string{"run", "etl/nightly", "--id", "0b0c1d2e-0000-4000-8000-000000000000"}, exitInvalid, "not both"},
		{[]string{"run", "nightly"}, exitInvalid, "expected FLOW_NAME/DEPLOYMENT_NAME"},
		{[]string{"run", "etl/nightly", "--param", "nope=1"}, exitInvalid, "no parameter nope. The deployment's parameters are: "},
		{[]string{"run", "etl/nightly", "--param", "name"}, exitInvalid, "expected KEY=VALUE"},
		{[]string{"run", "etl/nightly", "--param", `count={"a":`}, exitInvalid, "not valid JSON"},
		{[]string{"run", "etl/nightly", "--job-variable", `env={"A": 1`}, exitInvalid, "not valid JSON"},
		{[]string{"run", "etl/nightly", "--start-in", "5m", "--start-at", "17:00"}, exitInvalid, "not both"},
		{[]string{"run", "etl/nightly", "--start-in", "soon"}, exitInvalid, "5 minutes"},
		{[]string{"run", "etl/nightly", "--start-at", "tomorrow"}, exitInvalid, "5:30pm"},
		{[]string{"run", "etl/nightly", "--flow-run-name", "run-{day}"}, exitInvalid, `no parameter "day"`},
		{[]string{"run", "etl/missing"}, exitError, `deployment "etl/missing" not found`},
		{[]string{"run", "--id", "not-a-uuid"}, exitInvalid, "is a UUID"},
		{[]string{"run", "--id", "0b0c1d2e-0000-4000-8000-000000000000"}, exitError, "not found"},
		// The server checks job variables against the pool's schema.
		{[]string{"run", "etl/nightly", "--job-variable", "cpu=lots"}, exitError, "422"},
	}
	for _, tc := range tests {
		r := runDeploymentCmd(t, "", tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
		if r.stdout != "" {
			t.Errorf("%v: stdout should be empty on error: %q", tc.args, r.stdout)
		}
	}
}

func TestKeyValues(t *testing.T) {
	o, err := keyValues("param", []string{"s=Marvin", `q="quoted"`, "n=3", "f=1.50", "b=true", "z=null", `l=["a", 1]`, `o={"k": {"x": 1}}`, "e=", "w=two words", "eq=a=b"})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := jsonv.Marshal(o)
	want := `{"s":"Marvin","q":"quoted","n":3,"f":1.50,"b":true,"z":null,"l":["a",1],"o":{"k":{"x":1}},"e":"","w":"two words","eq":"a=b"}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	for _, bad := range []string{"noequals", "=1", `s="unclosed`, `o={"k":`, "l=[1,"} {
		if _, err := keyValues("param", []string{bad}); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestStartTimes(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"90s": 90 * time.Second, "1h30m": 90 * time.Minute, "0s": 0, "5 minutes": 5 * time.Minute, "in 1 hour": time.Hour,
		"2 days": 48 * time.Hour, "1 hour and 30 minutes": 90 * time.Minute, "2days, 3h": 51 * time.Hour, "1.5 hours": 90 * time.Minute, "1 week": 7 * 24 * time.Hour,
	} {
		if got, err := parseStartIn(in); err != nil || got != want {
			t.Errorf("parseStartIn(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "soon", "-5m", "5 fortnights", "minutes"} {
		if _, err := parseStartIn(bad); err == nil {
			t.Errorf("parseStartIn(%q): no error", bad)
		}
	}

	loc := time.FixedZone("X", 2*3600)
	now := time.Date(2026, 5, 1, 18, 0, 0, 0, loc)
	for in, want := range map[string]time.Time{
		"2026-08-01T17:30:00Z":   time.Date(2026, 8, 1, 17, 30, 0, 0, time.UTC),
		"2026-08-01 17:30":       time.Date(2026, 8, 1, 17, 30, 0, 0, loc),
		"at 2026-08-01 17:30:15": time.Date(2026, 8, 1, 17, 30, 15, 0, loc),
		"2026-08-01":             time.Date(2026, 8, 1, 0, 0, 0, 0, loc),
		"19:15":                  time.Date(2026, 5, 1, 19, 15, 0, 0, loc),
		"5:30pm":                 time.Date(2026, 5, 2, 17, 30, 0, 0, loc), // past today: tomorrow
		"9pm":                    time.Date(2026, 5, 1, 21, 0, 0, 0, loc),
	} {
		if got, err := parseStartAt(in, now); err != nil || !got.Equal(want) {
			t.Errorf("parseStartAt(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestFormatRunName(t *testing.T) {
	params := jsonv.ObjectOf("name", "Marvin", "n", json.Number("3"), "ok", true, "l", []any{"a"})
	for tmpl, want := range map[string]string{
		"plain": "plain", "hi-{name}": "hi-Marvin", "{n}x{ok}": "3xTrue", "{l}": "['a']", "{{literal}}": "{literal}",
	} {
		if got, err := formatRunName(tmpl, params); err != nil || got != want {
			t.Errorf("formatRunName(%q) = %q, %v; want %q", tmpl, got, err, want)
		}
	}
	for _, bad := range []string{"{missing}", "{name", "name}"} {
		if _, err := formatRunName(bad, params); err == nil {
			t.Errorf("formatRunName(%q): no error", bad)
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
	if r.code != exitOK {
		t.Fatalf("%s: exit %d\n%s", cmdLine[1], r.code, r.stderr)
	}
	name := regexp.MustCompile(`(?m)^Name:\s+(\S+)$`).FindStringSubmatch(r.stdout)[1]
	out.waitFor(t, regexp.MustCompile(`(?m)`+regexp.QuoteMeta(name)+`\s+success\s+Completed`), time.Minute)
}
