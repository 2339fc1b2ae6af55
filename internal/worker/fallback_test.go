package worker_test

import (
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
	"github.com/ecsworker/ecsworker/internal/worker"
)

// spotFirst is a deployment's job variables for Fargate Spot, falling
// back to on-demand Fargate.
func spotFirst(relaunch bool) map[string]any {
	return map[string]any{
		"capacity_provider_strategy":    []any{map[string]any{"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 0}},
		"capacity_fallback":             []any{map[string]any{"launch_type": "FARGATE"}},
		"relaunch_on_spot_interruption": relaunch,
	}
}

// withProviders gives the test cluster Fargate, Fargate Spot and an Auto
// Scaling group provider.
func withProviders(t *testing.T, e *env) {
	t.Helper()
	e.aws.AddCapacityProvider("my-asg")
	if err := e.aws.SetClusterCapacityProviders("flows", []string{"FARGATE", "FARGATE_SPOT", "my-asg"}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) labels(id string) map[string]any {
	l, _ := e.prefect.FlowRun(id)["labels"].(map[string]any)
	return l
}

// logged tells whether the run's logs have a line containing s.
func (e *env) logged(id, s string) bool {
	for _, l := range e.prefect.Logs() {
		if l["flow_run_id"] == id && strings.Contains(fmt.Sprint(l["message"]), s) {
			return true
		}
	}
	return false
}

// capacityOf is where a task runs: its provider, or its launch type.
func capacityOf(t awsfake.TaskView) string {
	if t.CapacityProvider != "" {
		return t.CapacityProvider
	}
	return t.LaunchType
}

func fallbacks(t *testing.T, w *worker.Worker, from, to, reason string) float64 {
	t.Helper()
	families, err := w.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "ecsworker_capacity_fallbacks_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if got["from"] == from && got["to"] == to && got["reason"] == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestCapacityFallbackChains runs each chain through the worker, with
// shortages scripted per capacity on the AWS test server.
func TestCapacityFallbackChains(t *testing.T) {
	tests := map[string]struct {
		vars    map[string]any
		short   map[string]int
		want    string // the capacity the task runs on; "" when the run crashes
		log     string
		crashed []string
		runTask int // RunTask calls
	}{
		"Spot to Fargate": {
			vars: spotFirst(false), short: map[string]int{"FARGATE_SPOT": 99},
			want: "FARGATE", log: "No Fargate Spot capacity: falling back to FARGATE (step 2 of 2)",
			runTask: 2, // Spot is not retried: Fargate is tried at once
		},
		"Spot has room": {vars: spotFirst(false), want: "FARGATE_SPOT", runTask: 1},
		"EC2 provider to Fargate": {
			vars: map[string]any{
				"capacity_provider_strategy": []any{map[string]any{"capacityProvider": "my-asg", "weight": 1, "base": 0}},
				"capacity_fallback":          []any{map[string]any{"launch_type": "FARGATE"}},
			},
			short: map[string]int{"my-asg": 99},
			want:  "FARGATE", log: "No my-asg capacity: falling back to FARGATE (step 2 of 2)",
			runTask: 2,
		},
		"chain exhausted": {
			vars: spotFirst(false), short: map[string]int{"FARGATE_SPOT": 99, "FARGATE": 99},
			crashed: []string{"no capacity on any step of capacity_fallback (tried FARGATE_SPOT, then FARGATE)", "Capacity is unavailable"},
			log:     "No Fargate Spot capacity: falling back to FARGATE (step 2 of 2)",
			runTask: 7, // one on Spot, then the last step and its 5 retries
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, tt.vars)
				withProviders(t, e)
				e.script = func(awsfake.TaskInfo) awsfake.Outcome {
					return awsfake.Outcome{TimeToRunning: 20 * time.Second, RunsForever: true, CapacityFailuresBy: tt.short}
				}
				w, stop := e.startWorker(e.config("w1"))
				defer stop()
				id := e.run(nil)
				if tt.want == "" {
					e.waitFor("the run to crash", 15*time.Minute, func() bool { typ, _, _ := e.state(id); return typ == "CRASHED" })
					_, _, msg := e.state(id)
					for _, s := range tt.crashed {
						if !strings.Contains(msg, s) {
							t.Errorf("crash message %q does not say %q", msg, s)
						}
					}
					if n := len(e.tasksOf(id)); n != 0 {
						t.Errorf("%d tasks, want none", n)
					}
				} else {
					e.waitFor("the run's task", 10*time.Minute, func() bool {
						if typ, _, msg := e.state(id); typ == "CRASHED" {
							t.Fatalf("crashed: %s", msg)
						}
						return e.prefect.FlowRun(id)["infrastructure_pid"] != nil
					})
					tasks := e.tasksOf(id)
					if len(tasks) != 1 || capacityOf(tasks[0]) != tt.want {
						t.Fatalf("tasks %+v, want one on %s", tasks, tt.want)
					}
					if l := e.labels(id); l["ecsworker.capacity"] != tt.want {
						t.Errorf("labels %v, want ecsworker.capacity %s", l, tt.want)
					}
				}
				if n := e.aws.Calls()["ecs:RunTask"]; n != tt.runTask {
					t.Errorf("%d RunTask calls, want %d", n, tt.runTask)
				}
				if tt.log != "" {
					e.waitFor("the fallback in the run's logs", time.Minute, func() bool { return e.logged(id, tt.log) })
				}
				if tt.log != "" {
					from, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(tt.log, "No "), ""), " capacity")
					if from == "Fargate Spot" {
						from = "FARGATE_SPOT"
					}
					if n := fallbacks(t, w, from, "FARGATE", "no_capacity"); n != 1 {
						t.Errorf("ecsworker_capacity_fallbacks_total{from=%s,to=FARGATE} = %v, want 1", from, n)
					}
				}
			})
		})
	}
}

// TestCapacityFallbackResumedAfterRestart: the worker dies after falling
// back to Fargate and starting the task, before recording it. By the
// time a worker resumes the run, Spot has room again: a resume that went
// back to step 0 would start a second task there. The step label sends
// it to step 1, whose token finds the task.
func TestCapacityFallbackResumedAfterRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, spotFirst(false))
		withProviders(t, e)
		e.script = func(awsfake.TaskInfo) awsfake.Outcome {
			return awsfake.Outcome{TimeToRunning: 20 * time.Second, RunsForever: true, CapacityFailuresBy: map[string]int{"FARGATE_SPOT": 1}}
		}
		e.prefect.InjectFault(prefectfake.Fault{Method: "PATCH", Path: "/flow_runs/*", Status: 503, Count: 0})
		cfg := e.config("w1")
		cfg.ShutdownTimeout = time.Second
		stop := e.start(cfg)
		id := e.run(nil)
		e.waitFor("the Fargate task", 5*time.Minute, func() bool { return len(e.tasksOf(id)) == 1 })
		stop()
		e.prefect.ClearFaults()
		if pid := e.prefect.FlowRun(id)["infrastructure_pid"]; pid != nil {
			t.Fatalf("the fault did not hold: pid %v", pid)
		}
		if step := fmt.Sprint(e.labels(id)["ecsworker.capacity-step"]); step != "1" {
			t.Fatalf("capacity-step label %s, want 1", step)
		}
		calls := e.aws.Calls()["ecs:RunTask"]
		time.Sleep(time.Minute) // fake time: past the restart grace
		stop2 := e.start(e.config("w2"))
		defer stop2()
		e.waitFor("the restarted worker to record the task", 5*time.Minute, func() bool { return e.prefect.FlowRun(id)["infrastructure_pid"] != nil })
		tasks := e.tasksOf(id)
		if len(tasks) != 1 || capacityOf(tasks[0]) != "FARGATE" {
			t.Fatalf("tasks after the restart %+v, want the one Fargate task", tasks)
		}
		if pid := e.prefect.FlowRun(id)["infrastructure_pid"]; pid != "flows::"+tasks[0].Arn {
			t.Errorf("pid %v does not name the task", pid)
		}
		if n := e.aws.Calls()["ecs:RunTask"] - calls; n != 1 {
			t.Errorf("%d RunTask calls after the restart, want 1 (step 1's token)", n)
		}
	})
}

// TestSpotRelaunch: a Spot task interrupted before its flow started is
// relaunched on the next step when the deployment opts in, and reported
// Crashed otherwise.
func TestSpotRelaunch(t *testing.T) {
	for _, relaunch := range []bool{true, false} {
		t.Run(fmt.Sprintf("relaunch %t", relaunch), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, spotFirst(relaunch))
				withProviders(t, e)
				e.script = func(ti awsfake.TaskInfo) awsfake.Outcome {
					if ti.CapacityProvider == "FARGATE_SPOT" {
						return awsfake.Outcome{TimeToRunning: 20 * time.Second, RunFor: time.Minute, SpotInterruption: true}
					}
					return awsfake.Outcome{TimeToRunning: 20 * time.Second, RunsForever: true}
				}
				w, stop := e.startWorker(e.config("w1"))
				defer stop()
				id := e.run(nil)
				if !relaunch {
					e.waitFor("the run to crash", 15*time.Minute, func() bool { typ, _, _ := e.state(id); return typ == "CRASHED" })
					if _, _, msg := e.state(id); !strings.Contains(msg, "Spot") {
						t.Errorf("crash message %q does not name Spot", msg)
					}
					if n := len(e.tasksOf(id)); n != 1 {
						t.Errorf("%d tasks, want 1", n)
					}
					return
				}
				e.waitFor("the relaunched task to run", 15*time.Minute, func() bool {
					tasks := e.tasksOf(id)
					return len(tasks) == 2 && tasks[1].LastStatus == "RUNNING" && e.prefect.FlowRun(id)["infrastructure_pid"] == "flows::"+tasks[1].Arn
				})
				tasks := e.tasksOf(id)
				if capacityOf(tasks[0]) != "FARGATE_SPOT" || tasks[0].StopCode != "SpotInterruption" || capacityOf(tasks[1]) != "FARGATE" {
					t.Errorf("tasks %s (%s) then %s, want a Spot task interrupted, then on-demand Fargate", capacityOf(tasks[0]), tasks[0].StopCode, capacityOf(tasks[1]))
				}
				if typ, _, msg := e.state(id); typ != "PENDING" {
					t.Errorf("run %s (%s), want PENDING until its flow starts", typ, msg)
				}
				if l := e.labels(id); fmt.Sprint(l["ecsworker.capacity-step"]) != "1" || l["ecsworker.capacity"] != "FARGATE" {
					t.Errorf("labels %v, want step 1 on FARGATE", l)
				}
				if tasks[1].ClientToken == tasks[0].ClientToken {
					t.Error("the relaunch reused the interrupted step's token")
				}
				e.waitFor("the relaunch in the run's logs", time.Minute, func() bool {
					return e.logged(id, "Spot took the ECS task back before the flow started: relaunching on FARGATE (step 2 of 2)")
				})
				if n := fallbacks(t, w, "FARGATE_SPOT", "FARGATE", "spot_interruption"); n != 1 {
					t.Errorf("spot_interruption fallbacks %v, want 1", n)
				}
			})
		})
	}
}

// TestSpotRelaunchResumedAfterRestart: the worker relaunches a run Spot
// interrupted, then dies before recording the new task on the run, which
// still names the interrupted one. The next worker adopts that task, sees
// it stopped by Spot, and resumes the relaunch on the same step with the
// same token: one Fargate task, recorded, and no third task.
func TestSpotRelaunchResumedAfterRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, spotFirst(true))
		withProviders(t, e)
		e.script = func(ti awsfake.TaskInfo) awsfake.Outcome {
			if ti.CapacityProvider == "FARGATE_SPOT" {
				return awsfake.Outcome{TimeToRunning: 20 * time.Second, RunFor: time.Minute, SpotInterruption: true}
			}
			return awsfake.Outcome{TimeToRunning: 20 * time.Second, RunsForever: true}
		}
		cfg := e.config("w1")
		cfg.ShutdownTimeout = time.Second
		stop := e.start(cfg)
		id := e.run(nil)
		e.waitFor("the Spot task on record", 5*time.Minute, func() bool { return e.prefect.FlowRun(id)["infrastructure_pid"] != nil })
		spot := e.prefect.FlowRun(id)["infrastructure_pid"]
		e.prefect.InjectFault(prefectfake.Fault{Method: "PATCH", Path: "/flow_runs/*", Status: 503, Count: 0})
		e.waitFor("the relaunched task", 10*time.Minute, func() bool { return len(e.tasksOf(id)) == 2 })
		stop()
		e.prefect.ClearFaults()
		if pid := e.prefect.FlowRun(id)["infrastructure_pid"]; pid != spot {
			t.Fatalf("the fault did not hold: pid %v", pid)
		}
		stop2 := e.start(e.config("w2"))
		defer stop2()
		e.waitFor("the relaunched task on record", 10*time.Minute, func() bool {
			tasks := e.tasksOf(id)
			return len(tasks) >= 2 && tasks[1].LastStatus == "RUNNING" && e.prefect.FlowRun(id)["infrastructure_pid"] == "flows::"+tasks[1].Arn
		})
		tasks := e.tasksOf(id)
		if len(tasks) != 2 || capacityOf(tasks[1]) != "FARGATE" {
			t.Fatalf("tasks %+v, want the interrupted Spot task and one Fargate task", tasks)
		}
		if typ, _, msg := e.state(id); typ != "PENDING" {
			t.Errorf("run %s (%s), want PENDING", typ, msg)
		}
	})
}
