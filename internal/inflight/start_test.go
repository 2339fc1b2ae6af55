package inflight_test

import (
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/ecsworker/ecsworker/internal/inflight"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectapi"
	"github.com/ecsworker/ecsworker/internal/startphase"
	"github.com/ecsworker/ecsworker/internal/tracking"
)

var created = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func after(s float64) time.Time { return created.Add(time.Duration(s * float64(time.Second))) }

// startUpdate is the task's update with its start times, seconds after
// creation (negative: unset).
func startUpdate(status string, pullStarted, pullStopped, started float64) tracking.TaskUpdate {
	u := statusUpdate(taskARN, status)
	u.CreatedAt, u.Capacity = created, "FARGATE_SPOT"
	for _, f := range []struct {
		s  float64
		at *time.Time
	}{{pullStarted, &u.PullStartedAt}, {pullStopped, &u.PullStoppedAt}, {started, &u.StartedAt}} {
		if f.s >= 0 {
			*f.at = after(f.s)
		}
	}
	u.Stopped = status == "STOPPED"
	return u
}

// TestStartBreakdown follows a run's updates and checks what its start
// breakdown reports: the line in its logs, its labels, and the histogram.
func TestStartBreakdown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		adopted  bool    // no submission: queueing unknown
		queued   float64 // seconds from schedule to RunTask
		updates  []tracking.TaskUpdate
		running  float64 // Prefect's Running event, seconds after creation (0: none)
		settleAt float64 // the run's start_time read at settlement (0: none)
		wantLine string
		want     map[string]any // labels
	}{
		{
			name:    "every phase, flow start by event",
			queued:  2,
			updates: []tracking.TaskUpdate{startUpdate("PENDING", 9, -1, -1), startUpdate("RUNNING", 9, 67, 74), startUpdate("STOPPED", 9, 67, 74)},
			running: 88,
			wantLine: "ECS task started in 74 s: 9 s provisioning, 58 s pulling the image, 7 s starting the container; " +
				"queued 2 s in the worker before RunTask",
			want: map[string]any{"ecsworker.start.queueing-s": 2.0, "ecsworker.start.provisioning-s": 9.0, "ecsworker.start.image-pull-s": 58.0,
				"ecsworker.start.container-start-s": 7.0, "ecsworker.start.flow-start-s": 14.0,
				startphase.CapacityLabel: "FARGATE_SPOT", startphase.TaskStartedAtLabel: "2026-12-07T12:01:14Z"},
		},
		{
			name:     "flow start at settlement, without the event",
			queued:   0.5,
			updates:  []tracking.TaskUpdate{startUpdate("RUNNING", 3, 20, 21), startUpdate("STOPPED", 3, 20, 21)},
			settleAt: 30,
			wantLine: "ECS task started in 21 s: 3 s provisioning, 17 s pulling the image, 1 s starting the container; queued 0.5 s in the worker before RunTask",
			want: map[string]any{"ecsworker.start.queueing-s": 0.5, "ecsworker.start.provisioning-s": 3.0, "ecsworker.start.image-pull-s": 17.0,
				"ecsworker.start.container-start-s": 1.0, "ecsworker.start.flow-start-s": 9.0,
				startphase.CapacityLabel: "FARGATE_SPOT", startphase.TaskStartedAtLabel: "2026-12-07T12:00:21Z"},
		},
		{
			name:     "the event and the settlement: flow start reported once",
			updates:  []tracking.TaskUpdate{startUpdate("RUNNING", 3, 20, 21), startUpdate("STOPPED", 3, 20, 21)},
			running:  25,
			settleAt: 25,
			adopted:  true,
			wantLine: "ECS task started in 21 s: 3 s provisioning, 17 s pulling the image, 1 s starting the container",
			want: map[string]any{"ecsworker.start.provisioning-s": 3.0, "ecsworker.start.image-pull-s": 17.0,
				"ecsworker.start.container-start-s": 1.0, "ecsworker.start.flow-start-s": 4.0,
				startphase.CapacityLabel: "FARGATE_SPOT", startphase.TaskStartedAtLabel: "2026-12-07T12:00:21Z"},
		},
		{
			name:     "a task that never pulled",
			queued:   1,
			updates:  []tracking.TaskUpdate{startUpdate("PROVISIONING", -1, -1, -1), startUpdate("STOPPED", -1, -1, -1)},
			wantLine: "ECS task stopped before starting; it never pulled its image; queued 1 s in the worker before RunTask",
			want:     map[string]any{"ecsworker.start.queueing-s": 1.0, startphase.CapacityLabel: "FARGATE_SPOT"},
		},
		{
			name:     "first seen stopped",
			adopted:  true,
			updates:  []tracking.TaskUpdate{startUpdate("STOPPED", 1, 2, 3)},
			wantLine: "ECS task started in 3 s: 1 s provisioning, 1 s pulling the image, 1 s starting the container",
			want: map[string]any{"ecsworker.start.provisioning-s": 1.0, "ecsworker.start.image-pull-s": 1.0, "ecsworker.start.container-start-s": 1.0,
				startphase.CapacityLabel: "FARGATE_SPOT", startphase.TaskStartedAtLabel: "2026-12-07T12:00:03Z"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				hist := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "start_phase_seconds"}, []string{"pool", "deployment", "capacity", "phase"})
				h := newHarness(t, func(o *inflight.Options) { o.Pool, o.Metrics.StartPhases = "ecs-pool", hist })
				fr := flowRun(runID, prefect.StateRunning)
				if tt.settleAt > 0 {
					fr.StartTime = prefectapi.Time{Time: after(tt.settleAt)}
				}
				h.api.runs[runID] = &fr
				fb := h.track(runID, taskARN, nil, false)
				dep := inflight.UnknownLabel
				if !tt.adopted {
					dep = "etl/nightly"
					h.runs.Launched(runID, dep, time.Duration(tt.queued*float64(time.Second)), true)
				}
				for _, u := range tt.updates {
					if u.Stopped && tt.running > 0 {
						h.runs.FlowRunning(h.ctx, runID, after(tt.running))
					}
					h.update(fb, u)
				}
				var lines []string
				for _, r := range h.runLogs() {
					if strings.HasPrefix(r.message, "ECS task") {
						lines = append(lines, r.message)
					}
				}
				if !slices.Equal(lines, []string{tt.wantLine}) {
					t.Errorf("start lines in the run's logs:\n%q\nwant\n%q", lines, tt.wantLine)
				}
				got := h.api.runs[runID].Labels
				if got == nil {
					got = jsonv.NewObject()
				}
				if got.Len() != len(tt.want) {
					t.Errorf("labels %v, want %v", got, tt.want)
				}
				for k, v := range tt.want {
					if g, _ := got.Get(k); g != v {
						t.Errorf("label %s = %v (%T), want %v", k, g, g, v)
					}
				}
				phases := 0
				for k := range tt.want {
					if strings.HasSuffix(k, "-s") {
						phases++
					}
				}
				if n := testutil.CollectAndCount(hist); n != phases {
					t.Errorf("%d histogram series, want %d: one a known phase", n, phases)
				}
				// One sample a phase, the labels' figures.
				for _, p := range startphase.Phases {
					v, known := tt.want[p.Label()]
					count, sum := histogram(t, hist, "ecs-pool", dep, "FARGATE_SPOT", p.String())
					wantCount := uint64(0)
					if known {
						wantCount = 1
					}
					if count != wantCount || known && !near(sum, v.(float64)) {
						t.Errorf("histogram %s: %d samples summing %v, want %d of %v", p, count, sum, wantCount, v)
					}
				}
			})
		})
	}
}

// histogram reads one series of h the way a scrape does.
func histogram(t *testing.T, h *prometheus.HistogramVec, labels ...string) (count uint64, sum float64) {
	t.Helper()
	var m dto.Metric
	if err := h.WithLabelValues(labels...).(prometheus.Histogram).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}

func near(a, b float64) bool { return a-b < 1e-6 && b-a < 1e-6 }
