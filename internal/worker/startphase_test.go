package worker_test

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
	"github.com/ecsworker/ecsworker/internal/startphase"
)

// startScripts are the task starts of TestStartBreakdown, by image.
func startScripts(ti awsfake.TaskInfo) awsfake.Outcome {
	switch ti.Containers[0].Image {
	case "etl:slow-pull":
		return awsfake.Outcome{ProvisionFor: 9 * time.Second, PullFor: 58 * time.Second, StartFor: 7 * time.Second, RunFor: time.Minute}
	case "etl:slow-provisioning":
		return awsfake.Outcome{ProvisionFor: 3 * time.Minute, PullFor: 12 * time.Second, StartFor: 2 * time.Second, RunFor: time.Minute}
	case "etl:never-pulls":
		return awsfake.Outcome{FailsProvisioning: true, ProvisionFor: 2 * time.Minute}
	}
	return awsfake.Outcome{TimeToRunning: 20 * time.Second, RunFor: time.Minute}
}

// TestStartBreakdown runs each scripted start through the worker and reads
// its breakdown back from the run's logs, its labels in Prefect and the
// worker's histogram. The flow start phase comes from the settlement (no
// event stream here: the in-process transport carries no WebSocket).
func TestStartBreakdown(t *testing.T) {
	tests := []struct {
		image string
		line  string             // the line in the run's logs, queueing cut off
		want  map[string]float64 // phase labels, seconds; -1: present, any value
	}{
		{
			image: "etl:slow-pull",
			line:  "ECS task started in 74 s: 9 s provisioning, 58 s pulling the image, 7 s starting the container",
			want: map[string]float64{"queueing": -1, "provisioning": 9, "image_pull": 58, "container_start": 7,
				"flow_start": -1},
		},
		{
			image: "etl:slow-provisioning",
			line:  "ECS task started in 194 s: 180 s provisioning, 12 s pulling the image, 2 s starting the container",
			want:  map[string]float64{"queueing": -1, "provisioning": 180, "image_pull": 12, "container_start": 2, "flow_start": -1},
		},
		{
			image: "etl:never-pulls",
			line:  "ECS task stopped before starting; it never pulled its image",
			want:  map[string]float64{"queueing": -1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, map[string]any{"image": tt.image})
				e.script = startScripts
				w, stop := e.startWorker(e.config("w1"))
				defer stop()
				id := e.run(nil)
				e.waitFor("the run to end", 15*time.Minute, func() bool {
					e.engine(id)
					typ, _, _ := e.state(id)
					return (typ == "COMPLETED" || typ == "CRASHED") && e.tasksOf(id)[0].LastStatus == "STOPPED" && e.notified("task-stopped "+id)
				})
				// The logs go out every two seconds.
				e.waitFor("the breakdown in the run's logs", time.Minute, func() bool { return strings.Contains(e.runLogs(id), tt.line+"; queued ") })
				labels, _ := e.prefect.FlowRun(id)["labels"].(map[string]any)
				checkPhases(t, w.Metrics().Registry, labels, "etl/nightly", tt.want)
				if labels[startphase.CapacityLabel] != "FARGATE" {
					t.Errorf("capacity label %v, want FARGATE", labels[startphase.CapacityLabel])
				}
				_, started := labels[startphase.TaskStartedAtLabel]
				if started != (tt.want["container_start"] != 0) {
					t.Errorf("task-started-at label present: %v", started)
				}
			})
		})
	}
}

// TestStartBreakdownOfAdoptedRun: a worker restarted while the run's task
// was starting reports what it can: no queueing, deployment unknown.
func TestStartBreakdownOfAdoptedRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, map[string]any{"image": "etl:slow-provisioning"})
		e.script = startScripts
		stop := e.start(e.config("w1"))
		id := e.run(nil)
		e.waitFor("the task", 5*time.Minute, func() bool { return e.prefect.FlowRun(id)["infrastructure_pid"] != nil })
		stop()
		w2, stop2 := e.startWorker(e.config("w2"))
		defer stop2()
		e.waitFor("the adopted run to complete", 15*time.Minute, func() bool {
			e.engine(id)
			typ, _, _ := e.state(id)
			return typ == "COMPLETED" && e.notified("task-stopped "+id)
		})
		line := "ECS task started in 194 s: 180 s provisioning, 12 s pulling the image, 2 s starting the container\n"
		e.waitFor("the breakdown in the run's logs", time.Minute, func() bool { return strings.Contains(e.runLogs(id), line) })
		labels, _ := e.prefect.FlowRun(id)["labels"].(map[string]any)
		checkPhases(t, w2.Metrics().Registry, labels, "unknown",
			map[string]float64{"provisioning": 180, "image_pull": 12, "container_start": 2, "flow_start": -1})
	})
}

// checkPhases compares the run's phase labels and the worker's histogram
// with want (seconds; -1: any value).
func checkPhases(t *testing.T, reg *prometheus.Registry, labels map[string]any, deployment string, want map[string]float64) {
	t.Helper()
	samples := phaseSamples(t, reg)
	for _, p := range startphase.Phases {
		w, known := want[p.String()]
		v, labelled := labels[p.Label()].(float64)
		if labelled != known {
			t.Errorf("label %s = %v, want it present: %v (labels %v)", p.Label(), labels[p.Label()], known, labels)
			continue
		}
		s, sampled := samples[deployment+" "+p.String()]
		if sampled != known {
			t.Errorf("histogram %s/%s sampled: %v, want %v (%v)", deployment, p, sampled, known, samples)
			continue
		}
		if !known {
			continue
		}
		if w >= 0 && v != w {
			t.Errorf("label %s = %v, want %v", p.Label(), v, w)
		}
		if s.count != 1 || s.sum-v > 1e-3 || v-s.sum > 1e-3 {
			t.Errorf("histogram %s: %d samples summing %v, want 1 of %v", p, s.count, s.sum, v)
		}
		if p == startphase.Queueing || p == startphase.FlowStart {
			// The worker polls every 5 s; the engine here reports Running
			// within a second of the task's start.
			if v > 10 {
				t.Errorf("%s took %v s", p, v)
			}
		}
	}
}

type sample struct {
	count uint64
	sum   float64
}

// phaseSamples reads ecsworker_start_phase_seconds as a scrape does, by
// "deployment phase"; the pool must be ecs-pool and the capacity FARGATE.
func phaseSamples(t *testing.T, reg *prometheus.Registry) map[string]sample {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]sample{}
	for _, mf := range mfs {
		if mf.GetName() != "ecsworker_start_phase_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["pool"] != "ecs-pool" || l["capacity"] != "FARGATE" {
				t.Errorf("series with labels %v", l)
			}
			out[l["deployment"]+" "+l["phase"]] = sample{m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()}
		}
	}
	return out
}

func (e *env) notified(want string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.events {
		if ev == want {
			return true
		}
	}
	return false
}
