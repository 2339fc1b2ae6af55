// Package inflight follows a worker's flow runs from the moment their ECS
// task exists until Prefect knows how it ended: each task is tracked with
// the AWS backend of the run's credentials, its changes are reported
// (InfrastructurePending, a crash with its diagnosis and last log lines, a
// cancellation the flow never saw), runs cancelled before their flow
// started get their task stopped, and after a restart, or when another
// worker is gone, the tasks of runs in flight are adopted.
package inflight

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ecsworker/ecsworker/internal/awscreds"
	"github.com/ecsworker/ecsworker/internal/ecsjob"
	"github.com/ecsworker/ecsworker/internal/launch"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectpool"
	"github.com/ecsworker/ecsworker/internal/runreport"
	"github.com/ecsworker/ecsworker/internal/tracking"
)

// API is what following runs asks of Prefect.
type API interface {
	ReadFlowRun(ctx context.Context, id string) (*prefect.FlowRun, error)
	SetFlowRunState(ctx context.Context, id string, s prefect.StateCreate, force bool) (*prefect.OrchestrationResult, error)
	FilterWorkers(ctx context.Context, pool string, f prefectpool.WorkerFilter) ([]prefectpool.Worker, error)
	// UpdateFlowRunLabels merges labels into a run's (its start breakdown).
	UpdateFlowRunLabels(ctx context.Context, id string, labels map[string]any) error
}

// Metrics are the worker's metrics of runs in flight.
type Metrics struct {
	InFlight      prometheus.Gauge
	Stops         *prometheus.CounterVec // by diagnosed cause
	Crashes       *prometheus.CounterVec // by cause
	Cancellations prometheus.Counter
	// StartPhases observes each run's start phases (internal/startphase)
	// by pool, deployment, capacity and phase; nil: not observed.
	StartPhases *prometheus.HistogramVec
}

// Options configure Runs. All are required but Now and Log.
type Options struct {
	Worker       string        // this worker's name
	Pool         string        // its pool's name, for the metrics
	StartupGrace time.Duration // how long a run must be quiet before it is adopted
	API          API
	Report       *runreport.Reporter
	Metrics      Metrics
	// Backends makes the AWS side of a set of credentials.
	Backends func(context.Context, awscreds.Credentials) (*Backend, error)
	// Submitting tells the runs the worker is submitting right now: they
	// are not adopted.
	Submitting func(flowRunID string) bool
	// Job is how the worker renders a run's job; adopting a task needs
	// its credentials and container name.
	Job func(ctx context.Context, run prefect.FlowRun) (ecsjob.Job, bool)
	// Relaunch, when set, is offered a run whose task Spot took back
	// before its flow started (the run still PENDING). It reports whether
	// it took the run over (relaunched it, or reported its failure to);
	// otherwise the run is reported Crashed as any other. It runs in the
	// goroutine that reports the task's stop, and the run stays followed
	// until it returns, so that no sweep adopts or resumes it meanwhile.
	Relaunch func(ctx context.Context, run prefect.FlowRun, stopped Stopped) bool

	Now func() time.Time
	Log *slog.Logger
}

// maxInterned bounds Runs.names: past it, names are kept per run, as a
// pool whose jobs make up cluster names would otherwise grow it for ever.
const maxInterned = 1024

// Runs are one worker's runs in flight.
type Runs struct {
	opts Options
	rep  *runreport.Reporter

	mu       sync.Mutex
	runs     map[string]*run     // by flow run id
	byTask   map[string]*run     // the same, by task ARN
	backends map[string]*Backend // by credentials fingerprint
	// backendUse counts backend hand-outs, to find the least recently used.
	backendUse uint64
	// unsettled are stopped tasks whose runs Prefect could not be told
	// about yet, by flow run id.
	unsettled map[string]unsettledStop
	// names are the clusters and container names of runs, once each.
	names map[string]string
	// deps and caps number the deployment and capacity label values of
	// the runs' start breakdowns.
	deps, caps labelTable

	bgCtx context.Context // set by Start
	bg    *sync.WaitGroup
}

// run is a flow run whose ECS task is followed. A worker may follow tens of
// thousands, so it is kept small (TestRunRecordSize holds its size): the
// strings are the run id, the task ARN and names shared by every run of
// a cluster, and the executed-flow-run event's subjects are shared by the
// runs of a deployment.
type run struct {
	// ref.FlowRunID is the run's id; ref.Cluster and ref.ContainerName
	// are interned (Runs.intern).
	ref     tracking.TaskRef
	backend *Backend
	// idCluster is the cluster part of the run's infrastructure_pid
	// ("<idCluster>::<task ARN>"), interned; the whole pid (idWhole) when
	// it does not end with the task's ARN.
	idCluster string
	idWhole   bool
	// registered is the task definition ARN registered for this run, kept
	// only when the job asked for it to be deregistered when the task
	// stops (auto_deregister_task_definition).
	registered string
	// For the executed-flow-run event; zero for adopted runs.
	subjects       prefect.RunSubjects
	submittedEvent string

	// taskStartedMs is the task's startedAt in Unix milliseconds (0: not
	// seen yet), for the flow start phase; queuedMs is from the run's
	// scheduled time to RunTask's answer, known when queuedKnown.
	taskStartedMs int64
	queuedMs      int32
	// dep and capacity index Runs.deps and Runs.caps.
	dep, capacity uint8

	started bool // the task reached RUNNING
	// markedPending is set once the run was marked InfrastructurePending.
	markedPending bool
	queuedKnown   bool
	// startReported and flowStartReported are set once the run's start
	// breakdown, and its flow start phase, were reported.
	startReported, flowStartReported bool
}

func (tr *run) flowRunID() string { return tr.ref.FlowRunID }

// identifier is the run's infrastructure_pid.
func (tr *run) identifier() string {
	if tr.idWhole {
		return tr.idCluster
	}
	return tr.idCluster + "::" + tr.ref.TaskARN
}

// New makes Runs; Start begins following tasks.
func New(opts Options) *Runs {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Submitting == nil {
		opts.Submitting = func(string) bool { return false }
	}
	return &Runs{
		opts:      opts,
		rep:       opts.Report,
		runs:      map[string]*run{},
		byTask:    map[string]*run{},
		backends:  map[string]*Backend{},
		unsettled: map[string]unsettledStop{},
		names:     map[string]string{},
		deps:      newLabelTable(MaxDeploymentLabels),
		caps:      newLabelTable(maxCapacityLabels),
	}
}

// Start makes every backend made from now on follow its tasks, and report
// their changes,
// in goroutines that end with ctx; wg counts them.
func (r *Runs) Start(ctx context.Context, wg *sync.WaitGroup) {
	r.mu.Lock()
	r.bgCtx, r.bg = ctx, wg
	r.mu.Unlock()
}

// Track starts following a run's task. launched is nil for an adopted
// task; deregister asks for the task definition registered for the run to
// go when the task stops.
func (r *Runs) Track(flowRunID, identifier string, ref tracking.TaskRef, b *Backend, launched *launch.Launched, deregister bool) {
	r.mu.Lock()
	ref.FlowRunID = flowRunID
	ref.Cluster, ref.ContainerName = r.internLocked(ref.Cluster), r.internLocked(ref.ContainerName)
	tr := &run{ref: ref, backend: b}
	if c, ok := strings.CutSuffix(identifier, "::"+ref.TaskARN); ok {
		tr.idCluster = r.internLocked(c)
	} else {
		tr.idCluster, tr.idWhole = identifier, true
	}
	if deregister && launched != nil && launched.Registered {
		tr.registered = launched.TaskDefinitionARN
	}
	if old := r.runs[flowRunID]; old != nil && r.byTask[old.ref.TaskARN] == old {
		delete(r.byTask, old.ref.TaskARN)
		old.backend.tracked--
	}
	if prev := r.byTask[ref.TaskARN]; prev != nil {
		prev.backend.tracked--
	}
	r.runs[flowRunID] = tr
	r.byTask[ref.TaskARN] = tr
	b.tracked++
	r.opts.Metrics.InFlight.Set(float64(len(r.runs)))
	r.mu.Unlock()
	b.Tracker.Track(ref)
}

// Submitted keeps, for the executed-flow-run event, what the
// submitted-flow-run event named.
func (r *Runs) Submitted(flowRunID string, subjects prefect.RunSubjects, eventID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if tr := r.runs[flowRunID]; tr != nil {
		tr.subjects, tr.submittedEvent = subjects, eventID
	}
}

// internLocked returns the one copy of a name many runs share (a cluster,
// a container name). Names stay for the worker's life: there are few.
func (r *Runs) internLocked(s string) string {
	if v, ok := r.names[s]; ok {
		return v
	}
	if len(r.names) >= maxInterned {
		return s
	}
	r.names[s] = s
	return s
}

func (r *Runs) untrack(tr *run) {
	r.mu.Lock()
	if r.runs[tr.flowRunID()] == tr {
		delete(r.runs, tr.flowRunID())
	}
	if r.byTask[tr.ref.TaskARN] == tr {
		delete(r.byTask, tr.ref.TaskARN)
		tr.backend.tracked--
	}
	r.opts.Metrics.InFlight.Set(float64(len(r.runs)))
	r.mu.Unlock()
	tr.backend.Tracker.Forget(tr.ref.TaskARN)
}

func (r *Runs) byTaskARN(arn string) *run {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byTask[arn]
}

// Has reports whether the run's task is followed, or its stop is still to
// be reported.
func (r *Runs) Has(flowRunID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runs[flowRunID] != nil || r.unsettled[flowRunID].tr != nil
}

// Following reports whether the run's task is followed.
func (r *Runs) Following(flowRunID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runs[flowRunID] != nil
}

// Len is how many tasks are followed.
func (r *Runs) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.runs)
}

// Observe hands an ECS task state change event to the tracker of the task
// it is about; events about other tasks are dropped.
func (r *Runs) Observe(ev tracking.TaskEvent) {
	arn := ""
	if ev.Task.TaskArn != nil {
		arn = *ev.Task.TaskArn
	}
	if tr := r.byTaskARN(arn); tr != nil {
		tr.backend.Tracker.Observe(ev)
	}
}

// known reports whether the run is followed, reported or being submitted:
// it is not to be adopted. The worker's submissions are asked first: a
// submission tracks its task before it ends.
func (r *Runs) known(flowRunID string) bool {
	return r.opts.Submitting(flowRunID) || r.Has(flowRunID)
}
