package worker_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectapi"
	"github.com/ecsworker/ecsworker/internal/prefectconfig"
	"github.com/ecsworker/ecsworker/internal/prefectdeploy"
	"github.com/ecsworker/ecsworker/internal/worker"
)

// The tests run the real worker, the real Prefect client and the real AWS
// SDK clients against the Prefect and AWS test servers, in process and in
// a synctest bubble: time is fake, so tasks that take minutes to start or
// run cost nothing, and no test sleeps on the wall clock.

// inProcess sends HTTP requests straight to a handler: synctest cannot see
// through sockets.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(r *http.Request) (resp *http.Response, err error) {
	// A handler that hangs up (a Hang fault once the client gave up)
	// aborts; over a socket that is a dropped connection.
	defer func() {
		if v := recover(); v != nil {
			if err, ok := v.(error); !ok || !errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			resp, err = nil, errors.New("connection reset by peer")
		}
	}()
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

type env struct {
	t       *testing.T
	prefect *prefectfake.Server
	aws     *awsfake.Server
	api     *prefect.Client
	factory *awsclient.Factory
	deploy  string // deployment id
	script  func(awsfake.TaskInfo) awsfake.Outcome
	// lastWorker is the worker startWorker started last.
	lastWorker *worker.Worker

	mu     sync.Mutex
	events []string
}

// outcomes picks a task's behaviour from its image, so that each test
// deployment can ask for one.
func outcomes(ti awsfake.TaskInfo) awsfake.Outcome {
	image := ""
	if len(ti.Containers) > 0 {
		image = ti.Containers[0].Image
	}
	exit1 := 1
	switch {
	case strings.Contains(image, "oom"):
		return awsfake.Outcome{TimeToRunning: 20 * time.Second, RunFor: time.Minute, OOM: true}
	case strings.Contains(image, "missing"):
		return awsfake.Outcome{TimeToRunning: 20 * time.Second, NeverStarts: true}
	case strings.Contains(image, "slow-start"):
		return awsfake.Outcome{TimeToRunning: 10 * time.Minute, RunFor: time.Minute}
	case strings.Contains(image, "spot"):
		return awsfake.Outcome{TimeToRunning: 20 * time.Second, RunFor: time.Minute, SpotInterruption: true}
	case strings.Contains(image, "fails"):
		return awsfake.Outcome{TimeToRunning: 20 * time.Second, RunFor: time.Minute, ExitCode: &exit1}
	case strings.Contains(image, "capacity"):
		return awsfake.Outcome{TimeToRunning: 20 * time.Second, RunFor: time.Minute, CapacityFailures: 2}
	case strings.Contains(image, "long"):
		return awsfake.Outcome{TimeToRunning: 20 * time.Second, RunsForever: true}
	}
	return awsfake.Outcome{TimeToRunning: 20 * time.Second, RunFor: time.Minute}
}

func newEnv(t *testing.T, jobVariables map[string]any) *env {
	t.Helper()
	e := &env{t: t, script: outcomes}
	e.prefect = prefectfake.New(prefectfake.Options{OnViolation: func(v string) { t.Errorf("Prefect API contract violation: %s", v) }})
	e.aws = awsfake.New(awsfake.Options{Script: func(ti awsfake.TaskInfo) awsfake.Outcome { return e.script(ti) }})
	t.Cleanup(e.aws.Close)
	t.Cleanup(e.prefect.Close)
	e.aws.CreateCluster("flows")
	api, err := prefect.New(prefectconfig.Config{APIURL: "http://prefect.invalid" + e.prefect.APIPath(), Timeout: 30 * time.Second, MaxRetries: 3, RetryJitter: 0.2},
		prefectapi.WithHTTPClient(&http.Client{Transport: inProcess{e.prefect}}))
	if err != nil {
		t.Fatal(err)
	}
	e.api = api
	e.factory = awsclient.NewFactory(awsclient.FactoryOptions{HTTPClient: e.aws.HTTPClient(), BaseEndpoint: e.aws.URL()})
	flow := e.prefect.CreateFlow("etl")
	vars := map[string]any{
		"cluster":         "flows",
		"aws_credentials": map[string]any{"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "wJalrXUtnFEMI-secret", "region_name": "us-east-1"},
	}
	for k, v := range jobVariables {
		vars[k] = v
	}
	e.deploy = e.prefect.CreateDeployment(flow["id"].(string), "nightly", "ecs-pool", "", vars)["id"].(string)
	return e
}

func (e *env) config(name string) worker.Config {
	return worker.Config{
		Pool: "ecs-pool", Name: name, CreatePool: true,
		QueryInterval: 5 * time.Second, HeartbeatInterval: 30 * time.Second,
		TrackInterval: 5 * time.Second, CancelInterval: 5 * time.Second,
		StartupGrace: 30 * time.Second, DefaultImage: "prefecthq/prefect:3-latest",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Notify: func(ev, run string) {
			e.mu.Lock()
			e.events = append(e.events, ev+" "+run)
			e.mu.Unlock()
		},
	}
}

// start runs a worker until the returned stop is called.
func (e *env) start(cfg worker.Config) (stop func()) {
	_, stop = e.startWorker(cfg)
	return stop
}

func (e *env) startWorker(cfg worker.Config) (*worker.Worker, func()) {
	w, err := worker.New(cfg, e.api, e.factory)
	if err != nil {
		e.t.Fatal(err)
	}
	e.lastWorker = w
	return w, e.startWith(w)
}

// startWith runs a worker made elsewhere until the returned stop is
// called.
func (e *env) startWith(w *worker.Worker) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("worker: %v", err)
		}
	}
}

func (e *env) run(jobVariables map[string]any) string {
	return e.prefect.CreateFlowRun(e.deploy, jobVariables, time.Time{})["id"].(string)
}

func (e *env) state(id string) (typ, name, message string) {
	r := e.prefect.FlowRun(id)
	st, _ := r["state"].(map[string]any)
	msg, _ := st["message"].(string)
	return r["state_type"].(string), r["state_name"].(string), msg
}

// waitFor lets fake time pass until cond holds (at most limit of fake time).
func (e *env) waitFor(what string, limit time.Duration, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("gave up waiting for %s after %s of fake time", what, limit)
		}
		time.Sleep(time.Second) // fake time: the bubble's clock jumps
		synctest.Wait()
	}
}

func (e *env) tasksOf(runID string) []awsfake.TaskView {
	var out []awsfake.TaskView
	for _, t := range e.aws.Tasks() {
		if t.Tags["prefect.io/flow-run-id"] == runID {
			out = append(out, t)
		}
	}
	return out
}

// engine plays the part of `prefect flow-run execute` in the container:
// it moves the run to RUNNING once its task runs, and to COMPLETED when the
// task exits 0.
func (e *env) engine(runID string) {
	for _, t := range e.tasksOf(runID) {
		typ, _, _ := e.state(runID)
		switch {
		case t.LastStatus == "RUNNING" && typ == "PENDING":
			e.prefect.ProposeFlowRunState(runID, "RUNNING", "Running")
		case t.LastStatus == "STOPPED" && typ == "RUNNING":
			if c := t.ExitCodes["prefect"]; c != nil && *c == 0 {
				e.prefect.ProposeFlowRunState(runID, "COMPLETED", "Completed")
			}
		}
	}
}

func TestSuccessfulRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		stop := e.start(e.config("w1"))
		defer stop()
		id := e.run(nil)
		e.waitFor("the run to complete", 10*time.Minute, func() bool {
			e.engine(id)
			typ, _, _ := e.state(id)
			return typ == "COMPLETED" && len(e.tasksOf(id)) == 1 && e.tasksOf(id)[0].LastStatus == "STOPPED"
		})
		tasks := e.tasksOf(id)
		run := e.prefect.FlowRun(id)
		if pid := run["infrastructure_pid"]; pid != "flows::"+tasks[0].Arn {
			t.Errorf("infrastructure_pid = %v, want flows::%s", pid, tasks[0].Arn)
		}
		labels, _ := run["labels"].(map[string]any)
		if labels["prefect.worker.name"] != "w1" || labels["prefect.worker.type"] != "ecs" {
			t.Errorf("worker labels missing: %v", labels)
		}
		var names []string
		for _, s := range e.prefect.StateHistory(id) {
			names = append(names, s["name"].(string))
		}
		if got := strings.Join(names, ","); !strings.Contains(got, "Pending") || !strings.Contains(got, "InfrastructurePending") || strings.Contains(got, "Crashed") {
			t.Errorf("state history %s", got)
		}
		// A second run of the same deployment reuses the task definition.
		id2 := e.run(nil)
		e.waitFor("the second run's task", 5*time.Minute, func() bool { return len(e.tasksOf(id2)) == 1 })
		if n := e.aws.Calls()["ecs:RegisterTaskDefinition"]; n != 1 {
			t.Errorf("RegisterTaskDefinition called %d times for two runs of one deployment, want 1", n)
		}
	})
}

func TestCrashDiagnoses(t *testing.T) {
	tests := map[string]struct {
		image    string
		running  bool // the engine reports RUNNING first
		contains []string
	}{
		"out of memory":      {image: "etl:oom", running: true, contains: []string{"137", "memory"}},
		"image pull failure": {image: "etl:missing", contains: []string{"image"}},
		"spot interruption":  {image: "etl:spot", running: true, contains: []string{"Spot"}},
		"non-zero exit":      {image: "etl:fails", running: true, contains: []string{"exit"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, map[string]any{"image": tc.image})
				stop := e.start(e.config("w1"))
				defer stop()
				id := e.run(nil)
				e.waitFor("the run to crash", 15*time.Minute, func() bool {
					if tc.running {
						for _, task := range e.tasksOf(id) {
							if typ, _, _ := e.state(id); task.LastStatus == "RUNNING" && typ == "PENDING" {
								e.prefect.ProposeFlowRunState(id, "RUNNING", "Running")
							}
						}
					}
					typ, _, _ := e.state(id)
					return typ == "CRASHED"
				})
				_, _, msg := e.state(id)
				for _, s := range tc.contains {
					if !strings.Contains(strings.ToLower(msg), strings.ToLower(s)) {
						t.Errorf("crash message %q does not mention %q", msg, s)
					}
				}
				if n := len(e.tasksOf(id)); n != 1 {
					t.Errorf("%d tasks, want 1", n)
				}
			})
		})
	}
}

func TestInvalidConfigurationCrashesWithTheFix(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, map[string]any{"placement_strategy": []any{map[string]any{"type": "binpack", "field": "cpu"}}})
		stop := e.start(e.config("w1"))
		defer stop()
		id := e.run(nil)
		e.waitFor("the run to crash", 5*time.Minute, func() bool { typ, _, _ := e.state(id); return typ == "CRASHED" })
		_, _, msg := e.state(id)
		if !strings.Contains(msg, "placement_strategy") || !strings.Contains(msg, "EC2") {
			t.Errorf("crash message %q should name the variable and the fix", msg)
		}
		if n := e.aws.Calls()["ecs:RunTask"]; n != 0 {
			t.Errorf("RunTask called %d times for an invalid configuration", n)
		}
	})
}

func TestCapacityIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, map[string]any{"image": "etl:capacity"})
		stop := e.start(e.config("w1"))
		defer stop()
		id := e.run(nil)
		e.waitFor("the run's task", 10*time.Minute, func() bool { return len(e.tasksOf(id)) == 1 })
		if typ, _, msg := e.state(id); typ == "CRASHED" {
			t.Errorf("run crashed although capacity came back: %s", msg)
		}
		if n := e.aws.Calls()["ecs:RunTask"]; n < 3 {
			t.Errorf("RunTask called %d times, want retries after two capacity failures", n)
		}
	})
}

func TestCancellationBeforeStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, map[string]any{"image": "etl:slow-start"})
		stop := e.start(e.config("w1"))
		defer stop()
		id := e.run(nil)
		e.waitFor("the run's task", 5*time.Minute, func() bool { return e.prefect.FlowRun(id)["infrastructure_pid"] != nil })
		e.prefect.ProposeFlowRunState(id, "CANCELLING", "Cancelling")
		e.waitFor("the run to be cancelled", 5*time.Minute, func() bool { typ, _, _ := e.state(id); return typ == "CANCELLED" })
		e.waitFor("the task to stop", 5*time.Minute, func() bool { return e.tasksOf(id)[0].LastStatus == "STOPPED" })
		if typ, _, _ := e.state(id); typ != "CANCELLED" {
			t.Errorf("state %s after the stopped task, want CANCELLED", typ)
		}
	})
}

func TestCancellationAfterStartIsLeftToTheFlow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, map[string]any{"image": "etl:long"})
		stop := e.start(e.config("w1"))
		defer stop()
		id := e.run(nil)
		e.waitFor("the flow to run", 5*time.Minute, func() bool {
			e.engine(id)
			typ, _, _ := e.state(id)
			return typ == "RUNNING"
		})
		e.prefect.ProposeFlowRunState(id, "CANCELLING", "Cancelling")
		time.Sleep(time.Minute) // fake time: several cancellation passes
		synctest.Wait()
		if task := e.tasksOf(id)[0]; task.DesiredStatus == "STOPPED" {
			t.Errorf("the worker stopped the task of a running flow; the flow handles its own cancellation")
		}
	})
}

func TestDeletedDeploymentCancelsTheRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		id := e.run(nil)
		if _, err := e.api.ReadDeployment(context.Background(), e.deploy); err != nil {
			t.Fatal(err)
		}
		if err := e.api.DeleteDeployment(context.Background(), e.deploy); err != nil {
			t.Fatal(err)
		}
		stop := e.start(e.config("w1"))
		defer stop()
		e.waitFor("the run to be cancelled", 2*time.Minute, func() bool { typ, _, _ := e.state(id); return typ == "CANCELLED" })
		if n := e.aws.Calls()["ecs:RunTask"]; n != 0 {
			t.Errorf("RunTask called %d times for a run whose deployment is gone", n)
		}
	})
}

func TestTwoWorkersLaunchEachRunOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, map[string]any{"image": "etl:long"})
		var ids []string
		for range 20 {
			ids = append(ids, e.run(nil))
		}
		stop1 := e.start(e.config("w1"))
		defer stop1()
		stop2 := e.start(e.config("w2"))
		defer stop2()
		e.waitFor("every run to have a task", 10*time.Minute, func() bool {
			for _, id := range ids {
				if e.prefect.FlowRun(id)["infrastructure_pid"] == nil {
					return false
				}
			}
			return true
		})
		for _, id := range ids {
			if n := len(e.tasksOf(id)); n != 1 {
				t.Errorf("run %s has %d tasks, want 1", id, n)
			}
		}
	})
}

func TestRestartResumesWithoutDuplicates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, map[string]any{"image": "etl:long"})
		// The first worker dies between RunTask and recording the task on
		// the run: the pid update never gets through.
		e.prefect.InjectFault(prefectfake.Fault{Method: "PATCH", Path: "/flow_runs/*", Status: 503, Count: 0})
		cfg := e.config("w1")
		cfg.ShutdownTimeout = time.Second
		stop := e.start(cfg)
		id := e.run(nil)
		e.waitFor("the first task", 5*time.Minute, func() bool { return len(e.tasksOf(id)) == 1 })
		stop()
		e.prefect.ClearFaults()
		if pid := e.prefect.FlowRun(id)["infrastructure_pid"]; pid != nil {
			t.Fatalf("the fault did not hold: pid %v", pid)
		}
		time.Sleep(time.Minute) // fake time: past the restart grace
		stop2 := e.start(e.config("w1"))
		defer stop2()
		e.waitFor("the restarted worker to record the task", 5*time.Minute, func() bool { return e.prefect.FlowRun(id)["infrastructure_pid"] != nil })
		if n := len(e.tasksOf(id)); n != 1 {
			t.Errorf("%d tasks after the restart, want 1", n)
		}
		if pid := e.prefect.FlowRun(id)["infrastructure_pid"]; pid != "flows::"+e.tasksOf(id)[0].Arn {
			t.Errorf("pid %v does not name the first task", pid)
		}
	})
}

func TestRestartAdoptsRunningTasks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, map[string]any{"image": "etl:oom"})
		stop := e.start(e.config("w1"))
		id := e.run(nil)
		e.waitFor("the task", 5*time.Minute, func() bool { return e.prefect.FlowRun(id)["infrastructure_pid"] != nil })
		stop()
		stop2 := e.start(e.config("w2"))
		defer stop2()
		e.waitFor("the adopted run to crash", 10*time.Minute, func() bool {
			e.engine(id)
			typ, _, _ := e.state(id)
			return typ == "CRASHED"
		})
		if n := len(e.tasksOf(id)); n != 1 {
			t.Errorf("%d tasks, want 1", n)
		}
	})
}

func TestPrefectOutageDoesNotLoseRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		stop := e.start(e.config("w1"))
		defer stop()
		e.prefect.InjectFault(prefectfake.Fault{Status: 503, Count: 40})
		id := e.run(nil)
		e.waitFor("the run's task", 10*time.Minute, func() bool { return e.prefect.FlowRun(id)["infrastructure_pid"] != nil })
		if n := len(e.tasksOf(id)); n != 1 {
			t.Errorf("%d tasks, want 1", n)
		}
	})
}

func TestAWSOutageIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		e.aws.InjectFault(awsfake.Fault{Service: "ecs", Action: "RunTask", Code: "ServerException", Count: 3})
		stop := e.start(e.config("w1"))
		defer stop()
		id := e.run(nil)
		e.waitFor("the run's task", 10*time.Minute, func() bool { return e.prefect.FlowRun(id)["infrastructure_pid"] != nil })
		if n := len(e.tasksOf(id)); n != 1 {
			t.Errorf("%d tasks, want 1", n)
		}
	})
}

// TestOrphanedClaimIsResumed: a replica claimed a run and died before
// starting its task; a live worker finds the run after the grace period
// and starts its task.
func TestOrphanedClaimIsResumed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, map[string]any{"image": "etl:long"})
		stop := e.start(e.config("w1"))
		defer stop()
		// A run due in an hour is not polled yet; the dead replica claimed it.
		id := e.prefect.CreateFlowRun(e.deploy, nil, time.Now().Add(time.Hour))["id"].(string)
		res, err := e.api.SetFlowRunState(context.Background(), id, prefect.StateCreate{Type: prefect.StatePending, Name: "Pending", TransitionID: "5a1f7c3e-1111-4a2b-8c3d-0123456789ab"}, true)
		if err != nil || res.Status != prefect.StatusAccept {
			t.Fatalf("claim: %v %v", res, err)
		}
		e.waitFor("the orphaned run's task", 10*time.Minute, func() bool { return e.prefect.FlowRun(id)["infrastructure_pid"] != nil })
		if n := len(e.tasksOf(id)); n != 1 {
			t.Errorf("%d tasks, want 1", n)
		}
	})
}

func TestHealthAndMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		w, stop := e.startWorker(e.config("w1"))
		defer stop()
		id := e.run(nil)
		e.waitFor("the run's task", 5*time.Minute, func() bool { return e.prefect.FlowRun(id)["infrastructure_pid"] != nil })

		rec := httptest.NewRecorder()
		w.HealthHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/health", nil))
		if rec.Code != 200 {
			t.Errorf("health %d %s", rec.Code, rec.Body)
		}
		families, err := w.Metrics().Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]float64{}
		for _, f := range families {
			for _, m := range f.GetMetric() {
				v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
				for _, l := range m.GetLabel() {
					if l.GetName() == "action" && l.GetValue() != "ecs:RunTask" {
						v = 0
					}
				}
				seen[f.GetName()] += v
			}
		}
		if seen["ecsworker_tasks_started_total"] != 1 || seen["ecsworker_aws_calls_total"] < 1 || seen["ecsworker_runs_in_flight"] != 1 {
			t.Errorf("metrics: tasks %v, RunTask calls %v, in flight %v", seen["ecsworker_tasks_started_total"], seen["ecsworker_aws_calls_total"], seen["ecsworker_runs_in_flight"])
		}

		// Prefect goes away: heartbeats fail and the health check says so.
		e.prefect.InjectFault(prefectfake.Fault{Status: 503})
		time.Sleep(2 * time.Minute) // fake time: a few heartbeat intervals
		synctest.Wait()
		rec = httptest.NewRecorder()
		w.HealthHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/health", nil))
		if rec.Code != 503 {
			t.Errorf("health during an outage: %d %s", rec.Code, rec.Body)
		}
		e.prefect.ClearFaults()
	})
}

// TestTaskThatNeverRunsTheFlow: the container exits 0 but the flow never
// started (a wrong command); the run must not stay Pending for ever.
func TestTaskThatNeverRunsTheFlow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		stop := e.start(e.config("w1"))
		defer stop()
		id := e.run(nil) // no engine: nothing reports RUNNING
		e.waitFor("the run to crash", 10*time.Minute, func() bool { typ, _, _ := e.state(id); return typ == "CRASHED" })
		if _, _, msg := e.state(id); !strings.Contains(msg, "command") {
			t.Errorf("crash message %q should point at the command", msg)
		}
	})
}

// A burst of poll requests (events, freed slots) costs one poll per
// MinPollGap, not one each.
func TestPollsKeepAMinimumGap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		cfg := e.config("w1")
		cfg.EventStream = false
		cfg.QueryInterval = time.Hour // only asked-for polls
		w, stop := e.startWorker(cfg)
		defer stop()
		time.Sleep(time.Second)
		synctest.Wait()
		polls := func() int { return e.prefect.Calls()["POST /work_pools/{name}/get_scheduled_flow_runs"] }
		before := polls()
		for range 100 {
			w.PollNow()
			time.Sleep(20 * time.Millisecond) // 100 requests in 2 s of fake time
			synctest.Wait()
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if n := polls() - before; n < 2 || n > 4 {
			t.Errorf("%d polls for 100 requests over 2 s with a 1 s gap, want 2 to 4", n)
		}
	})
}

// A run too large to read (9 MB of parameters, over the 8 MiB the worker
// reads for one run) is crashed with why and what to do, and the rest of
// the pool keeps moving.
func TestARunTooLargeToReadIsCrashedAndThePoolMoves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, map[string]any{"image": "etl:long"})
		ctx := context.Background()
		flow, err := e.api.CreateFlow(ctx, prefectdeploy.FlowCreate{Name: "huge"})
		if err != nil {
			t.Fatal(err)
		}
		huge, err := e.api.CreateDeployment(ctx, prefectdeploy.DeploymentCreate{Name: "huge", FlowID: flow.ID, WorkPoolName: "ecs-pool",
			Parameters: jsonv.ObjectOf("rows", strings.Repeat("r", 9<<20))})
		if err != nil {
			t.Fatal(err)
		}
		big := e.prefect.CreateFlowRun(huge.ID, nil, time.Time{})["id"].(string)
		var small []string
		for range 3 {
			small = append(small, e.run(nil))
		}
		stop := e.start(e.config("w1"))
		defer stop()
		e.waitFor("the small runs' tasks and the big run's crash", 5*time.Minute, func() bool {
			for _, id := range small {
				if e.prefect.FlowRun(id)["infrastructure_pid"] == nil {
					return false
				}
			}
			typ, _, _ := e.state(big)
			return typ == "CRASHED"
		})
		if _, _, msg := e.state(big); !strings.Contains(msg, "parameters") || !strings.Contains(msg, "by reference") {
			t.Errorf("crash message %q should say the parameters are too large and how to pass them", msg)
		}
		if n := len(e.tasksOf(big)); n != 0 {
			t.Errorf("the unreadable run has %d tasks", n)
		}
	})
}

// The pool that stopped, at its own sizes: 25 runs whose deployment
// carries 3.5 MB of parameters and 5 small runs made every poll answer
// 86 MB, over what the client reads, so nothing ran. Every run now gets
// its task.
func TestLargeParametersDoNotStopThePool(t *testing.T) {
	if raceDetector {
		t.Skip("86 MB of runs takes minutes under the race detector; .ci/run runs this test without it")
	}
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, map[string]any{"image": "etl:long"})
		ctx := context.Background()
		flow, err := e.api.CreateFlow(ctx, prefectdeploy.FlowCreate{Name: "big"})
		if err != nil {
			t.Fatal(err)
		}
		big, err := e.api.CreateDeployment(ctx, prefectdeploy.DeploymentCreate{Name: "big", FlowID: flow.ID, WorkPoolName: "ecs-pool",
			Parameters: jsonv.ObjectOf("rows", strings.Repeat("r", 3_500_000)),
			JobVariables: jsonv.ObjectOf("cluster", "flows", "image", "etl:long",
				"aws_credentials", jsonv.ObjectOf("aws_access_key_id", "AKIDEXAMPLE", "aws_secret_access_key", "wJalrXUtnFEMI-secret", "region_name", "us-east-1"))})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for range 25 {
			ids = append(ids, e.prefect.CreateFlowRun(big.ID, nil, time.Time{})["id"].(string))
		}
		for range 5 {
			ids = append(ids, e.run(nil))
		}
		w, stop := e.startWorker(e.config("w1"))
		defer stop()
		e.waitForTasks(ids...)
		if ok, why := w.Healthy(); !ok {
			t.Errorf("/health: %s", why)
		}
	})
}
