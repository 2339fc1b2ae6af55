package inflight

import (
	"context"
	"time"

	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/startphase"
	"github.com/ecsworker/ecsworker/internal/tracking"
)

// Deployment and capacity label values of the start phase metrics.
const (
	// UnknownLabel is the deployment of a run adopted after a restart (its
	// deployment was not read) and the capacity of a task ECS did not name.
	UnknownLabel = "unknown"
	// OtherLabel stands for the deployments past MaxDeploymentLabels, and
	// the capacities past maxCapacityLabels, so that a pool of many
	// deployments cannot grow the metrics without bound.
	OtherLabel = "other"
	// MaxDeploymentLabels is how many distinct deployments the metrics name.
	MaxDeploymentLabels = 100
	maxCapacityLabels   = 50
)

// labelTable numbers the values of a metric label, so that a run keeps a
// byte rather than a string: index 0 is UnknownLabel, 1 OtherLabel.
type labelTable struct {
	names []string
	index map[string]uint8
	max   int // distinct values besides unknown and other
}

func newLabelTable(maxValues int) labelTable {
	return labelTable{names: []string{UnknownLabel, OtherLabel}, index: map[string]uint8{UnknownLabel: 0, OtherLabel: 1}, max: maxValues}
}

// id returns the index of v, OtherLabel's once the table is full; the
// caller holds Runs.mu.
func (l *labelTable) id(v string) uint8 {
	if v == "" {
		return 0
	}
	if i, ok := l.index[v]; ok {
		return i
	}
	if len(l.names)-2 >= l.max {
		return 1
	}
	i := uint8(len(l.names))
	l.names = append(l.names, v)
	l.index[v] = i
	return i
}

// Launched keeps what a run's start breakdown needs of its submission:
// its deployment ("flow/deployment", for the metrics) and how long it
// queued from its scheduled time to RunTask's answer (queuedKnown false
// when the run had no scheduled time).
func (r *Runs) Launched(flowRunID, deployment string, queued time.Duration, queuedKnown bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	tr := r.runs[flowRunID]
	if tr == nil {
		return
	}
	tr.dep = r.deps.id(deployment)
	if queuedKnown {
		tr.queuedMs = int32(min(max(queued.Milliseconds(), 0), 1<<31-1))
		tr.queuedKnown = true
	}
}

// adoptedStart notes what an adopted run's labels say of its start: the
// worker that launched it may have reported it already.
func (tr *run) adoptedStart(labels *jsonv.Object) {
	if labels == nil {
		return
	}
	if v := labels.GetString(startphase.TaskStartedAtLabel); v != "" {
		if at, err := time.Parse(time.RFC3339Nano, v); err == nil {
			tr.startReported = true
			tr.taskStartedMs = at.UnixMilli()
		}
	}
	if labels.Has(startphase.FlowStart.Label()) {
		tr.flowStartReported = true
	}
}

// reportStart reports a run's start breakdown, once: when its task is
// first seen started, or stopped without starting (when ECS still
// described it: a task given up as missing has no times to report). It is written in the
// run's logs, observed in the metrics, and put on the run as labels.
func (r *Runs) reportStart(ctx context.Context, tr *run, u tracking.TaskUpdate) {
	r.mu.Lock()
	if tr.startReported || (u.StartedAt.IsZero() && (!u.Stopped || u.CreatedAt.IsZero())) {
		r.mu.Unlock()
		return
	}
	tr.startReported = true
	if !u.StartedAt.IsZero() {
		tr.taskStartedMs = u.StartedAt.UnixMilli()
	}
	tr.capacity = r.caps.id(u.Capacity)
	queued, queuedKnown := time.Duration(tr.queuedMs)*time.Millisecond, tr.queuedKnown
	dep, capacity := r.deps.names[tr.dep], r.caps.names[tr.capacity]
	r.mu.Unlock()

	b := startphase.Compute(startphase.Times{Created: u.CreatedAt, PullStarted: u.PullStartedAt, PullStopped: u.PullStoppedAt, Started: u.StartedAt})
	if queuedKnown {
		b.Set(startphase.Queueing, queued)
	}
	line := b.Line()
	if u.StartedAt.IsZero() {
		line = b.NotStartedLine()
	}
	r.rep.Log(tr.flowRunID(), prefect.LevelInfo, line)
	for _, p := range startphase.Phases {
		if d, ok := b.Get(p); ok {
			r.observe(dep, capacity, p, d)
		}
	}
	rec := startphase.Record{Breakdown: b, Capacity: u.Capacity, TaskStartedAt: u.StartedAt}
	if rec.Capacity == "" {
		rec.Capacity = UnknownLabel
	}
	r.label(ctx, tr.flowRunID(), rec.Labels())
	r.rep.Notify("start-breakdown", tr.flowRunID())
}

// FlowRunning reports the flow start phase of a followed run that entered
// Running at at (Prefect's event), when its task's start is known; else it
// is left to the run's settlement, which reads the run's start_time.
func (r *Runs) FlowRunning(ctx context.Context, flowRunID string, at time.Time) {
	r.mu.Lock()
	tr := r.runs[flowRunID]
	r.mu.Unlock()
	if tr != nil {
		r.reportFlowStart(ctx, tr, at)
	}
}

// reportFlowStart observes and labels the flow start phase, once.
func (r *Runs) reportFlowStart(ctx context.Context, tr *run, running time.Time) {
	r.mu.Lock()
	if tr.flowStartReported || tr.taskStartedMs == 0 || running.IsZero() {
		r.mu.Unlock()
		return
	}
	tr.flowStartReported = true
	d := max(running.Sub(time.UnixMilli(tr.taskStartedMs)), 0)
	dep, capacity := r.deps.names[tr.dep], r.caps.names[tr.capacity]
	r.mu.Unlock()
	r.observe(dep, capacity, startphase.FlowStart, d)
	var rec startphase.Record
	rec.Set(startphase.FlowStart, d)
	r.label(ctx, tr.flowRunID(), rec.Labels())
	r.rep.Notify("flow-start", tr.flowRunID())
}

func (r *Runs) observe(dep, capacity string, p startphase.Phase, d time.Duration) {
	if h := r.opts.Metrics.StartPhases; h != nil {
		h.WithLabelValues(r.opts.Pool, dep, capacity, p.String()).Observe(d.Seconds())
	}
}

// label merges labels into the run's; a failure costs only the record
// that `ecsworker starts` reads, so it is logged, not retried.
func (r *Runs) label(ctx context.Context, runID string, labels map[string]any) {
	if err := r.opts.API.UpdateFlowRunLabels(ctx, runID, labels); err != nil && ctx.Err() == nil {
		r.opts.Log.Warn("could not record the run's start breakdown on it", "flow_run", runID, "err", err)
	}
}
