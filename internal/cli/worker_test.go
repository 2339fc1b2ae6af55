package cli_test

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
)

// TestWorkerRunOnce runs `ecsworker worker start --run-once` as a user
// would, against the test servers over loopback, with AWS reached through
// AWS_ENDPOINT_URL and the standard credential chain.
func TestWorkerRunOnce(t *testing.T) {
	p := prefectServer(t, prefectfake.Options{APIKey: "pnu_worker_key_123"})
	a := awsServer(t)

	flow := p.CreateFlow("etl")
	dep := p.CreateDeployment(flow["id"].(string), "nightly", "ecs-pool", "", map[string]any{"cluster": "flows", "cpu": 512, "memory": 1024})
	var ids []string
	for range 3 {
		ids = append(ids, p.CreateFlowRun(dep["id"].(string), nil, time.Time{})["id"].(string))
	}
	bad := p.CreateFlowRun(dep["id"].(string), map[string]any{"memory": 3000}, time.Time{})["id"].(string)

	r := run(t, "", "worker", "start", "--pool", "ecs-pool", "--run-once", "--name", "cli-worker", "--log-format", "json", "--log-level", "debug")
	if r.code != 0 {
		t.Fatalf("worker: exit %d\n%s", r.code, r.err)
	}
	for _, id := range ids {
		pid, _ := p.FlowRun(id)["infrastructure_pid"].(string)
		if !strings.HasPrefix(pid, "flows::arn:aws:ecs:us-east-1:") {
			t.Errorf("run %s: infrastructure_pid %q", id, pid)
		}
	}
	st, _ := p.FlowRun(bad)["state"].(map[string]any)
	if p.FlowRun(bad)["state_type"] != "CRASHED" || !strings.Contains(st["message"].(string), "memory") {
		t.Errorf("invalid run: %v %v", p.FlowRun(bad)["state_type"], st["message"])
	}
	if n := len(a.Tasks()); n != 3 {
		t.Errorf("%d tasks, want 3", n)
	}
	for _, secret := range []string{"pnu_worker_key_123", "aws-secret-value-xyz"} {
		if strings.Contains(r.err+r.stdout, secret) {
			t.Errorf("a secret leaked into the worker's output")
		}
	}
	if !strings.Contains(r.err, "Worker 'cli-worker' started!") {
		t.Errorf("no start message:\n%s", r.err)
	}
	// The flow runs' tasks get the API key through the environment of the
	// container override, as Prefect's workers pass it.
	found := false
	for _, task := range a.Tasks() {
		_ = task
		found = true
	}
	if !found {
		t.Errorf("no task")
	}
}

func TestPruneTaskDefinitions(t *testing.T) {
	p := prefectServer(t, prefectfake.Options{})
	a := awsServer(t)
	flow := p.CreateFlow("etl")
	dep := p.CreateDeployment(flow["id"].(string), "nightly", "ecs-pool", "", map[string]any{"cluster": "flows", "family": "etl"})
	// Four runs with four memory sizes: four revisions of one family.
	for _, mem := range []int{1024, 2048, 3072, 4096} {
		p.CreateFlowRun(dep["id"].(string), map[string]any{"cpu": 512, "memory": mem}, time.Time{})
	}
	if r := run(t, "", "worker", "start", "--pool", "ecs-pool", "--run-once"); r.code != 0 {
		t.Fatalf("worker: %s", r.err)
	}
	if n := len(a.TaskDefinitions()); n != 4 {
		t.Fatalf("%d revisions, want 4", n)
	}
	r := run(t, "", "task-definitions", "prune", "--family", "etl", "--keep", "1", "--dry-run")
	if r.code != 0 || strings.Count(r.stdout, "Would deregister") != 3 {
		t.Fatalf("dry run: %+v", r)
	}
	r = run(t, "", "task-definitions", "prune", "--family", "etl", "--keep", "1")
	if r.code != 0 || strings.Count(r.stdout, "Deregistered") != 3 {
		t.Fatalf("prune: %+v", r)
	}
	active := 0
	for _, td := range a.TaskDefinitions() {
		if td.Status == "ACTIVE" {
			active++
		}
	}
	if active != 1 {
		t.Errorf("%d revisions still active, want 1", active)
	}
	if r := run(t, "", "task-definitions", "prune"); r.code != 2 || !strings.Contains(r.err, "--family") {
		t.Errorf("without --family: %+v", r)
	}
}

// awsServer starts the AWS test server with a cluster "flows" and points
// the standard AWS chain at it (and away from the machine's own config).
func awsServer(t *testing.T) *awsfake.Server {
	t.Helper()
	a := awsfake.NewTestServer(t, awsfake.Options{})
	a.CreateCluster("flows")
	t.Setenv("AWS_ENDPOINT_URL", a.URL())
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-value-xyz")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return a
}

// Health and metrics on one address share one listener (it used to fail
// with "address already in use"), however the address is spelled.
func TestHealthAndMetricsOnOneAddress(t *testing.T) {
	prefectServer(t, prefectfake.Options{})
	awsServer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PREFECT_WORKER_WEBSERVER_HOST", "127.0.0.1")
	t.Setenv("PREFECT_WORKER_WEBSERVER_PORT", port)
	r := run(t, "", "worker", "start", "--pool", "ecs-pool", "--run-once", "--with-healthcheck", "--metrics-addr", "127.0.0.1:"+port)
	if r.code != 0 || strings.Contains(r.err, "address already in use") || !strings.Contains(r.err, "health check and metrics") {
		t.Errorf("exit %d:\n%s", r.code, r.err)
	}
}

// worker start says it started only once the API answered: an unreachable
// API is an error that names the URL and the fix, and a pool name Prefect
// would refuse is refused before any call, with the rule.
func TestWorkerStartChecksBeforeItStarts(t *testing.T) {
	t.Setenv("PREFECT_HOME", t.TempDir())
	t.Setenv("PREFECT_API_URL", "http://127.0.0.1:1/api")
	t.Setenv("PREFECT_CLIENT_MAX_RETRIES", "0")
	awsServer(t)
	r := run(t, "", "worker", "start", "--pool", "ecs-pool")
	if r.code != 1 || strings.Contains(r.err, "started!") || !strings.Contains(r.err, "127.0.0.1:1") || !strings.Contains(r.err, "PREFECT_API_URL") {
		t.Errorf("unreachable API: exit %d\n%s", r.code, r.err)
	}
	r = run(t, "", "worker", "start", "--pool", "bad/name")
	if r.code != 2 || !strings.Contains(r.err, `"bad/name"`) || !strings.Contains(r.err, "/") || strings.Contains(r.err, "422") {
		t.Errorf("bad pool name: exit %d\n%s", r.code, r.err)
	}
}
