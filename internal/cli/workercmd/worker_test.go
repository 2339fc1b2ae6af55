package workercmd_test

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/cli/clitest"
	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
)

// TestWorkerRunOnce runs `ecsworker worker start --run-once` as a user
// would, against the test servers over loopback, with AWS reached through
// AWS_ENDPOINT_URL and the standard credential chain.
func TestWorkerRunOnce(t *testing.T) {
	p := clitest.PrefectServer(t, prefectfake.Options{APIKey: "pnu_worker_key_123"})
	a := clitest.AWSServer(t)

	flow := p.CreateFlow("etl")
	dep := p.CreateDeployment(flow["id"].(string), "nightly", "ecs-pool", "", map[string]any{"cluster": "flows", "cpu": 512, "memory": 1024})
	var ids []string
	for range 3 {
		ids = append(ids, p.CreateFlowRun(dep["id"].(string), nil, time.Time{})["id"].(string))
	}
	bad := p.CreateFlowRun(dep["id"].(string), map[string]any{"memory": 3000}, time.Time{})["id"].(string)

	r := clitest.Run(t, "", "worker", "start", "--pool", "ecs-pool", "--run-once", "--name", "cli-worker", "--log-format", "json", "--log-level", "debug")
	if r.Code != 0 {
		t.Fatalf("worker: exit %d\n%s", r.Code, r.Stderr)
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
		if strings.Contains(r.Stderr+r.Stdout, secret) {
			t.Errorf("a secret leaked into the worker's output")
		}
	}
	if !strings.Contains(r.Stderr, "Worker 'cli-worker' started!") {
		t.Errorf("no start message:\n%s", r.Stderr)
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

// Health and metrics on one address share one listener (it used to fail
// with "address already in use"), however the address is spelled.
func TestHealthAndMetricsOnOneAddress(t *testing.T) {
	clitest.PrefectServer(t, prefectfake.Options{})
	clitest.AWSServer(t)
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
	r := clitest.Run(t, "", "worker", "start", "--pool", "ecs-pool", "--run-once", "--with-healthcheck", "--metrics-addr", "127.0.0.1:"+port)
	if r.Code != 0 || strings.Contains(r.Stderr, "address already in use") || !strings.Contains(r.Stderr, "health check and metrics") {
		t.Errorf("exit %d:\n%s", r.Code, r.Stderr)
	}
}

// worker start says it started only once the API answered: an unreachable
// API is an error that names the URL and the fix, and a pool name Prefect
// would refuse is refused before any call, with the rule.
func TestWorkerStartChecksBeforeItStarts(t *testing.T) {
	t.Setenv("PREFECT_HOME", t.TempDir())
	t.Setenv("PREFECT_API_URL", "http://127.0.0.1:1/api")
	t.Setenv("PREFECT_CLIENT_MAX_RETRIES", "0")
	clitest.AWSServer(t)
	r := clitest.Run(t, "", "worker", "start", "--pool", "ecs-pool")
	if r.Code != 1 || strings.Contains(r.Stderr, "started!") || !strings.Contains(r.Stderr, "127.0.0.1:1") || !strings.Contains(r.Stderr, "PREFECT_API_URL") {
		t.Errorf("unreachable API: exit %d\n%s", r.Code, r.Stderr)
	}
	r = clitest.Run(t, "", "worker", "start", "--pool", "bad/name")
	if r.Code != 2 || !strings.Contains(r.Stderr, `"bad/name"`) || !strings.Contains(r.Stderr, "/") || strings.Contains(r.Stderr, "422") {
		t.Errorf("bad pool name: exit %d\n%s", r.Code, r.Stderr)
	}
}
