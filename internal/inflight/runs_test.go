package inflight_test

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ecsworker/ecsworker/internal/awscreds"
	"github.com/ecsworker/ecsworker/internal/diagnosis"
	"github.com/ecsworker/ecsworker/internal/ecsjob"
	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
	"github.com/ecsworker/ecsworker/internal/inflight"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefect/prefecttest"
	"github.com/ecsworker/ecsworker/internal/prefectevents"
	"github.com/ecsworker/ecsworker/internal/runreport"
	"github.com/ecsworker/ecsworker/internal/tracking"
)

var awscreds0 = awscreds.Credentials{}

const (
	task2 = "arn:aws:ecs:us-east-1:123456789012:task/prod/fedcba9876543210"
	run2  = "7f3c2b1a-9e8d-4c7b-8a69-5f4e3d2c1b0a"
)

// TestTrack: which runs are followed, what their trackers are told, and
// the in-flight gauge, as runs come and go.
func TestTrack(t *testing.T) {
	t.Parallel()
	type step struct {
		track   [2]string // run, task ARN
		stopped string    // the task ARN whose stop is reported
	}
	tests := []struct {
		name  string
		steps []step

		wantRuns      []string // followed
		wantObserved  []string // task ARNs whose events reach a tracker
		wantTracked   int      // Track calls of the tracker
		wantForgotten []string
	}{
		{name: "one run", steps: []step{{track: [2]string{runID, taskARN}}},
			wantRuns: []string{runID}, wantObserved: []string{taskARN}, wantTracked: 1},
		{name: "two runs", steps: []step{{track: [2]string{runID, taskARN}}, {track: [2]string{run2, task2}}},
			wantRuns: []string{runID, run2}, wantObserved: []string{taskARN, task2}, wantTracked: 2},
		{name: "run tracked again with another task: the first is dropped",
			steps:    []step{{track: [2]string{runID, taskARN}}, {track: [2]string{runID, task2}}},
			wantRuns: []string{runID}, wantObserved: []string{task2}, wantTracked: 2},
		{name: "task adopted twice", steps: []step{{track: [2]string{runID, taskARN}}, {track: [2]string{runID, taskARN}}},
			wantRuns: []string{runID}, wantObserved: []string{taskARN}, wantTracked: 2},
		{name: "stopped", steps: []step{{track: [2]string{runID, taskARN}}, {track: [2]string{run2, task2}}, {stopped: taskARN}},
			wantRuns: []string{run2}, wantObserved: []string{task2}, wantTracked: 2, wantForgotten: []string{taskARN}},
		{name: "stop of a task taken over", steps: []step{{track: [2]string{runID, taskARN}}, {track: [2]string{runID, task2}}, {stopped: task2}},
			wantTracked: 2, wantForgotten: []string{task2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, nil)
				var fb *fakeBackend
				for _, s := range tt.steps {
					if s.stopped != "" {
						h.update(fb, stoppedUpdate(s.stopped, nil))
						continue
					}
					fb = h.track(s.track[0], s.track[1], nil, false)
				}
				var followed []string
				for _, id := range []string{runID, run2} {
					if h.runs.Following(id) != h.runs.Has(id) {
						t.Errorf("Following(%s) = %v but Has = %v", id, h.runs.Following(id), h.runs.Has(id))
					}
					if h.runs.Following(id) {
						followed = append(followed, id)
					}
				}
				if !slices.Equal(followed, tt.wantRuns) || h.runs.Len() != len(tt.wantRuns) {
					t.Errorf("following %v (Len %d), want %v", followed, h.runs.Len(), tt.wantRuns)
				}
				if got := testutil.ToFloat64(h.inFlight); got != float64(len(tt.wantRuns)) {
					t.Errorf("in-flight gauge = %v, want %d", got, len(tt.wantRuns))
				}
				var observed []string
				for _, arn := range []string{taskARN, task2} {
					_, _, before, _, _ := fb.tracker.state()
					h.runs.Observe(tracking.TaskEvent{ID: arn, Task: ecstypes.Task{TaskArn: aws.String(arn)}})
					if _, _, after, _, _ := fb.tracker.state(); len(after) > len(before) {
						observed = append(observed, arn)
					}
				}
				if !slices.Equal(observed, tt.wantObserved) {
					t.Errorf("events reaching the tracker: %v, want %v", observed, tt.wantObserved)
				}
				tracked, forgotten, _, _, _ := fb.tracker.state()
				if len(tracked) != tt.wantTracked || !slices.Equal(forgotten, tt.wantForgotten) {
					t.Errorf("tracker told to track %v and forget %v, want %d and %v", tracked, forgotten, tt.wantTracked, tt.wantForgotten)
				}
			})
		})
	}
}

func TestObserve(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		arn  *string
		want bool
	}{
		{name: "followed task", arn: aws.String(taskARN), want: true},
		{name: "another task", arn: aws.String(task2)},
		{name: "event without a task ARN", arn: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, nil)
				fb := h.track(runID, taskARN, nil, false)
				h.runs.Observe(tracking.TaskEvent{ID: "ev-1", Task: ecstypes.Task{TaskArn: tt.arn}, FlowRunID: runID})
				_, _, observed, _, _ := fb.tracker.state()
				if got := slices.Equal(observed, []string{"ev-1"}); got != tt.want {
					t.Fatalf("tracker observed %v, want the event: %v", observed, tt.want)
				}
			})
		})
	}
}

// TestExecutedEvent: a run the worker submitted gets its
// executed-flow-run event when its task stops, with the task's exit code.
func TestExecutedEvent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		submitted bool
		diag      *diagnosis.Diagnosis
		wantCode  string // "": no event
	}{
		{name: "crashed", submitted: true, diag: exited1, wantCode: "1"},
		{name: "succeeded", submitted: true, diag: succeeded, wantCode: "0"},
		{name: "no exit code", submitted: true, diag: imagePull, wantCode: "-1"},
		{name: "no diagnosis", submitted: true, wantCode: "-1"},
		{name: "adopted run: no event", diag: exited1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, srv := prefecttest.InProcess(t, prefectfake.Options{})
			em, err := c.NewEventEmitter(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, nil)
				h.rep.SetEmitter(em)
				h.api.setRun(flowRun(runID, prefect.StateCompleted))
				fb := h.track(runID, taskARN, nil, false)
				fr := flowRun(runID, prefect.StateRunning)
				h.runs.Submitted(run2, prefect.NewRunSubjects(&fr, nil, nil), "7c1e4d9f-8a3b-4d2c-9e8f-1a2b3c4d5e6f") // not followed: ignored
				if tt.submitted {
					h.runs.Submitted(runID, prefect.NewRunSubjects(&fr, nil, nil), "5b0d3c8e-6f2a-4c1e-9d7b-0a1b2c3d4e5f")
				}
				h.update(fb, stoppedUpdate(taskARN, tt.diag))
			})
			if err := em.Close(); err != nil {
				t.Fatal(err)
			}
			events := prefecttest.Events(t, srv)
			if tt.wantCode == "" {
				if len(events) != 0 {
					t.Fatalf("events %+v, want none", events)
				}
				return
			}
			if len(events) != 1 {
				t.Fatalf("events %+v, want one", events)
			}
			ev := events[0]
			var flowRunRes map[string]string
			for _, r := range ev.Related {
				if r["prefect.resource.role"] == "flow-run" {
					flowRunRes = r
				}
			}
			if ev.Event != prefectevents.EventWorkerExecutedFlowRun || ev.Follows != "5b0d3c8e-6f2a-4c1e-9d7b-0a1b2c3d4e5f" ||
				flowRunRes["prefect.infrastructure.identifier"] != pid || flowRunRes["prefect.infrastructure.status-code"] != tt.wantCode {
				t.Fatalf("event %+v, want %s following the submitted event, naming %s and status code %s", ev, prefectevents.EventWorkerExecutedFlowRun, pid, tt.wantCode)
			}
		})
	}
}

// TestNewDefaults: Runs work without a logger, a clock or Submitting.
func TestNewDefaults(t *testing.T) {
	t.Parallel()
	api := newFakePrefect()
	h := &harness{t: t, backendErr: errOutage}
	jobs := 0
	runs := inflight.New(inflight.Options{API: api, Report: runreport.New(api, runreport.Options{}),
		Backends: h.makeBackend, StartupGrace: time.Minute,
		Job: func(context.Context, prefect.FlowRun) (ecsjob.Job, bool) {
			jobs++
			return ecsjob.Job{Template: ecsjob.DefaultTemplate()}, true
		}})
	// Updated long ago by the real clock; the backend cannot be made.
	if n := runs.AdoptOrphaned(t.Context(), "pool", []prefect.FlowRun{{ID: runID, InfrastructurePID: pid}}); n != 0 || jobs != 1 {
		t.Fatalf("adopted %d runs, rendered %d jobs; want 0 and 1", n, jobs)
	}
	if runs.Has(runID) || runs.Len() != 0 {
		t.Fatal("runs out of nothing")
	}
}
