package workercmd_test

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/cli/clitest"
	"github.com/ecsworker/ecsworker/internal/emf/emftest"
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

// With --metrics-format emf (the default on ECS) the worker writes its
// metrics as CloudWatch EMF records on stdout, whole lines apart from the
// log lines, with the pool as a dimension; the last records are written at
// shutdown.
func TestWorkerWritesEMF(t *testing.T) {
	tests := map[string]struct {
		args []string
		env  string
		emf  bool
	}{
		"flag":             {args: []string{"--metrics-format", "emf"}, emf: true},
		"on ECS":           {env: "http://169.254.170.2/v4/abc", emf: true},
		"on ECS, disabled": {args: []string{"--metrics-format", "none"}, env: "http://169.254.170.2/v4/abc"},
		"elsewhere":        {},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := clitest.PrefectServer(t, prefectfake.Options{})
			clitest.AWSServer(t)
			if tc.env != "" {
				t.Setenv("ECS_CONTAINER_METADATA_URI_V4", tc.env)
			}
			flow := p.CreateFlow("etl")
			dep := p.CreateDeployment(flow["id"].(string), "nightly", "ecs-pool", "", map[string]any{"cluster": "flows"})
			p.CreateFlowRun(dep["id"].(string), nil, time.Time{})
			r := clitest.Run(t, "", append([]string{"worker", "start", "--pool", "ecs-pool", "--run-once", "--log-format", "json"}, tc.args...)...)
			if r.Code != 0 {
				t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
			}
			recs, err := emftest.Parse(strings.NewReader(r.Stdout))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.emf {
				if len(recs) != 0 {
					t.Errorf("EMF records without emf:\n%s", r.Stdout)
				}
				return
			}
			var submitted float64
			for _, rec := range recs {
				if rec.Dimensions["pool"] != "ecs-pool" || rec.Namespace != "ecsworker" {
					t.Errorf("record of pool %q in %q", rec.Dimensions["pool"], rec.Namespace)
				}
				if rec.Dimensions["outcome"] == "submitted" {
					submitted += rec.Metrics["ecsworker_submissions_total"].Number
				}
			}
			if submitted != 1 {
				t.Errorf("%v submissions in the EMF records, want 1:\n%s", submitted, r.Stdout)
			}
			if !strings.Contains(r.Stderr, "CloudWatch EMF") {
				t.Errorf("the log does not say where the metrics go:\n%s", r.Stderr)
			}
		})
	}
}

func TestMetricsFormatErrors(t *testing.T) {
	tests := map[string]struct {
		args []string
		want string
	}{
		"unknown":              {[]string{"--metrics-format", "statsd"}, `"statsd": use emf, prometheus or none`},
		"prometheus, no addr":  {[]string{"--metrics-format", "prometheus"}, "give --metrics-addr"},
		"none with addr":       {[]string{"--metrics-format", "none", "--metrics-addr", ":9090"}, "drop one of them"},
		"AWS namespace":        {[]string{"--metrics-format", "emf", "--emf-namespace", "AWS/ECS"}, "AWS's"},
		"colon in a namespace": {[]string{"--metrics-format", "emf", "--emf-namespace", "a:b"}, "cannot contain ':'"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Setenv("PREFECT_HOME", t.TempDir())
			t.Setenv("PREFECT_API_URL", "http://127.0.0.1:1/api")
			r := clitest.Run(t, "", append([]string{"worker", "start", "--pool", "p"}, tc.args...)...)
			if r.Code != 2 || !strings.Contains(r.Stderr, tc.want) {
				t.Errorf("exit %d, want 2 and %q:\n%s", r.Code, tc.want, r.Stderr)
			}
		})
	}
}
