package worker_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectconfig"
	"github.com/ecsworker/ecsworker/internal/startphase"
	"github.com/ecsworker/ecsworker/internal/worker"
)

// TestEventStreamTriggersPolls runs over real loopback connections (the
// event stream is a WebSocket, which the in-process transport of the other
// tests cannot carry). The poll interval is an hour: the run can only be
// picked up because its Scheduled event triggers a poll. The test waits on
// the worker's notifications, with a deadline, never on a timer.
func TestEventStreamTriggersPolls(t *testing.T) {
	ps := prefectfake.NewTestServer(t, prefectfake.Options{})
	as := awsfake.NewTestServer(t, awsfake.Options{})
	as.CreateCluster("flows")
	api, err := prefect.New(prefectconfig.Config{APIURL: ps.URL(), Timeout: 10 * time.Second, MaxRetries: 2})
	if err != nil {
		t.Fatal(err)
	}
	factory := awsclient.NewFactory(awsclient.FactoryOptions{BaseEndpoint: as.URL()})
	flow := ps.CreateFlow("etl")
	dep := ps.CreateDeployment(flow["id"].(string), "adhoc", "ecs-pool", "", map[string]any{
		"cluster":         "flows",
		"aws_credentials": map[string]any{"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "secret", "region_name": "us-east-1"},
	})

	events := make(chan string, 100)
	w, err := worker.New(worker.Config{
		Pool: "ecs-pool", Name: "streamer", CreatePool: true, EventStream: true,
		QueryInterval: time.Hour, HeartbeatInterval: time.Hour, CancelInterval: time.Hour, TrackInterval: time.Hour,
		DefaultImage: "prefecthq/prefect:3-latest",
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		Notify:       func(ev, run string) { events <- ev + " " + run },
	}, api, factory)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	// The first poll happens at start; the run is created after it.
	waitFor(t, events, "polled ")
	id := ps.CreateFlowRun(dep["id"].(string), nil, time.Time{})["id"].(string)
	waitFor(t, events, "submitted "+id)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Stopping flushed the worker's own events.
	for _, name := range []string{"prefect.worker.started", "prefect.worker.submitted-flow-run", "prefect.worker.stopped"} {
		if !hasEvent(ps, name) {
			t.Errorf("no %s event", name)
		}
	}
}

// waitFor waits for a notification from the worker, up to a deadline.
func waitFor(t *testing.T, events <-chan string, want string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev == want {
				return
			}
		case <-deadline:
			t.Fatalf("no %q from the worker before the deadline", want)
		}
	}
}

func hasEvent(ps *prefectfake.Server, name string) bool {
	for _, e := range ps.Events() {
		if e["event"] == name {
			return true
		}
	}
	return false
}

// TestFlowStartByEvent: the flow start phase comes from Prefect's
// prefect.flow-run.Running event, while the task still runs (no
// settlement to compute it from). Over loopback, as above; the task starts
// within a fraction of a second of wall time.
func TestFlowStartByEvent(t *testing.T) {
	ps := prefectfake.NewTestServer(t, prefectfake.Options{})
	as := awsfake.NewTestServer(t, awsfake.Options{Script: func(awsfake.TaskInfo) awsfake.Outcome {
		return awsfake.Outcome{ProvisionFor: 50 * time.Millisecond, PullFor: 100 * time.Millisecond, StartFor: 50 * time.Millisecond, RunsForever: true}
	}})
	as.CreateCluster("flows")
	api, err := prefect.New(prefectconfig.Config{APIURL: ps.URL(), Timeout: 10 * time.Second, MaxRetries: 2})
	if err != nil {
		t.Fatal(err)
	}
	factory := awsclient.NewFactory(awsclient.FactoryOptions{BaseEndpoint: as.URL()})
	flow := ps.CreateFlow("etl")
	dep := ps.CreateDeployment(flow["id"].(string), "adhoc", "ecs-pool", "", map[string]any{
		"cluster":         "flows",
		"aws_credentials": map[string]any{"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "secret", "region_name": "us-east-1"},
	})
	events := make(chan string, 100)
	w, err := worker.New(worker.Config{
		Pool: "ecs-pool", Name: "streamer", CreatePool: true, EventStream: true,
		QueryInterval: time.Hour, HeartbeatInterval: time.Hour, CancelInterval: time.Hour, TrackInterval: 100 * time.Millisecond,
		DefaultImage: "prefecthq/prefect:3-latest",
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		Notify:       func(ev, run string) { events <- ev + " " + run },
	}, api, factory)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	waitFor(t, events, "polled ")
	id := ps.CreateFlowRun(dep["id"].(string), nil, time.Time{})["id"].(string)
	waitFor(t, events, "start-breakdown "+id)
	ps.ProposeFlowRunState(id, "RUNNING", "Running")
	waitFor(t, events, "flow-start "+id)

	run := ps.FlowRun(id)
	if run["start_time"] == nil {
		t.Error("Prefect set no start_time when the run entered Running")
	}
	labels, _ := run["labels"].(map[string]any)
	v, ok := labels[startphase.FlowStart.Label()].(float64)
	if !ok || v < 0 || v > 10 {
		t.Errorf("flow start label %v, want a few seconds at most (labels %v)", labels[startphase.FlowStart.Label()], labels)
	}
	if s := phaseSamples(t, w.Metrics().Registry)["etl/adhoc flow_start"]; s.count != 1 || s.sum-v > 1e-3 || v-s.sum > 1e-3 {
		t.Errorf("flow_start histogram: %d samples summing %v, want 1 of %v", s.count, s.sum, v)
	}
}
