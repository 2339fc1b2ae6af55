package inflight_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awscreds"
	"github.com/ecsworker/ecsworker/internal/awserr"
	"github.com/ecsworker/ecsworker/internal/diagnosis"
	"github.com/ecsworker/ecsworker/internal/inflight"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/launch"
	"github.com/ecsworker/ecsworker/internal/logtest"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectpool"
	"github.com/ecsworker/ecsworker/internal/runreport"
	"github.com/ecsworker/ecsworker/internal/tasklogs"
	"github.com/ecsworker/ecsworker/internal/tracking"
)

const (
	runID   = "0b9e5a0c-3c1f-4d2e-9a57-1d2f3e4a5b6c"
	cluster = "prod"
	taskARN = "arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef"
	// pid is the run's infrastructure_pid.
	pid   = cluster + "::" + taskARN
	tdARN = "arn:aws:ecs:us-east-1:123456789012:task-definition/prefect_pool:7"
)

var errOutage = errors.New("connection refused")

// denied is AWS refusing action to the worker's identity.
func denied(action string) error {
	return &smithy.GenericAPIError{Code: "AccessDeniedException", Fault: smithy.FaultClient,
		Message: "User: arn:aws:iam::123456789012:user/worker is not authorized to perform: " + action + " on resource: *"}
}

// serverError is a failure of AWS that is not about permissions.
func serverError() error {
	return &smithy.GenericAPIError{Code: "ServerException", Message: "Service Unavailable", Fault: smithy.FaultServer}
}

// proposal is one SetFlowRunState call.
type proposal struct {
	runID string
	state prefect.StateCreate
	force bool
}

func (p proposal) String() string {
	return fmt.Sprintf("%s %s/%s force=%v %q", p.runID, p.state.Type, p.state.Name, p.force, p.state.Message)
}

// record is a line of a run's logs in Prefect.
type record struct {
	level   int
	message string
	at      time.Time
}

// fakePrefect is the Prefect of the runs and of their reporter: flow runs
// are read from runs (absent: not found), proposals and log records are
// kept. Safe for concurrent use (updates are handled in parallel).
type fakePrefect struct {
	mu sync.Mutex

	runs    map[string]*prefect.FlowRun
	readErr error // every read fails with it
	reads   int
	// gate, when set, holds the first read of gateRun until it is closed.
	gate    chan struct{}
	gateRun string

	setErr    error
	setRes    *prefect.OrchestrationResult // nil: ACCEPT
	proposals []proposal

	workers    []prefectpool.Worker
	workersErr error
	pools      []string
	filters    []prefectpool.WorkerFilter

	logs []record
}

func newFakePrefect() *fakePrefect { return &fakePrefect{runs: map[string]*prefect.FlowRun{}} }

var (
	_ inflight.API  = (*fakePrefect)(nil)
	_ runreport.API = (*fakePrefect)(nil)
)

func (f *fakePrefect) ReadFlowRun(_ context.Context, id string) (*prefect.FlowRun, error) {
	f.mu.Lock()
	gate := f.gate
	if id == f.gateRun {
		f.gate = nil
	} else {
		gate = nil
	}
	f.reads++
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.readErr != nil {
		return nil, f.readErr
	}
	fr := f.runs[id]
	if fr == nil {
		return nil, fmt.Errorf("read flow run %s: %w", id, prefect.ErrNotFound)
	}
	c := *fr
	return &c, nil
}

func (f *fakePrefect) SetFlowRunState(_ context.Context, id string, s prefect.StateCreate, force bool) (*prefect.OrchestrationResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.proposals = append(f.proposals, proposal{runID: id, state: s, force: force})
	if f.setErr != nil {
		return nil, f.setErr
	}
	if f.setRes != nil {
		return f.setRes, nil
	}
	return &prefect.OrchestrationResult{Status: prefect.StatusAccept}, nil
}

func (f *fakePrefect) FilterWorkers(_ context.Context, pool string, flt prefectpool.WorkerFilter) ([]prefectpool.Worker, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pools = append(f.pools, pool)
	f.filters = append(f.filters, flt)
	return f.workers, f.workersErr
}

func (f *fakePrefect) CreateLogs(_ context.Context, logs []prefect.LogCreate) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, l := range logs {
		f.logs = append(f.logs, record{level: l.Level, message: l.Message, at: l.Timestamp})
	}
	return nil
}

func (f *fakePrefect) setRun(fr prefect.FlowRun) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs[fr.ID] = &fr
}

func (f *fakePrefect) setReadErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.readErr = err
}

func (f *fakePrefect) setSetErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setErr = err
}

func (f *fakePrefect) gotProposals() []proposal {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.proposals)
}

func (f *fakePrefect) readCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

// fakeECS is the ECS API of a backend: only the calls following runs
// makes are answered.
type fakeECS struct {
	awsclient.ECSAPI

	mu sync.Mutex

	stopErr error
	stopOut *ecs.StopTaskOutput
	stops   []ecs.StopTaskInput

	td          *ecstypes.TaskDefinition
	describeErr error
	described   []string

	deregisterErr error
	deregistered  []string
}

func (e *fakeECS) StopTask(_ context.Context, in *ecs.StopTaskInput, _ ...func(*ecs.Options)) (*ecs.StopTaskOutput, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stops = append(e.stops, *in)
	if e.stopErr != nil {
		return nil, e.stopErr
	}
	if e.stopOut != nil {
		return e.stopOut, nil
	}
	return &ecs.StopTaskOutput{Task: &ecstypes.Task{LastStatus: aws.String("RUNNING")}}, nil
}

func (e *fakeECS) DescribeTaskDefinition(_ context.Context, in *ecs.DescribeTaskDefinitionInput, _ ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.described = append(e.described, aws.ToString(in.TaskDefinition))
	if e.describeErr != nil {
		return nil, e.describeErr
	}
	return &ecs.DescribeTaskDefinitionOutput{TaskDefinition: e.td}, nil
}

func (e *fakeECS) DeregisterTaskDefinition(_ context.Context, in *ecs.DeregisterTaskDefinitionInput, _ ...func(*ecs.Options)) (*ecs.DeregisterTaskDefinitionOutput, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.deregistered = append(e.deregistered, aws.ToString(in.TaskDefinition))
	if e.deregisterErr != nil {
		return nil, e.deregisterErr
	}
	return &ecs.DeregisterTaskDefinitionOutput{}, nil
}

// fakeTracker stands for a tracking.Tracker: the test hands out the
// updates.
type fakeTracker struct {
	mu        sync.Mutex
	tracked   []tracking.TaskRef
	forgotten []string
	observed  []string // event ids
	running   int      // Run calls not ended
	ended     int

	updates chan tracking.TaskUpdate
}

func (f *fakeTracker) Track(ref tracking.TaskRef) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tracked = append(f.tracked, ref)
}

func (f *fakeTracker) Forget(arn string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forgotten = append(f.forgotten, arn)
}

func (f *fakeTracker) Observe(ev tracking.TaskEvent) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.observed = append(f.observed, ev.ID)
	return true
}

func (f *fakeTracker) Updates() <-chan tracking.TaskUpdate { return f.updates }

func (f *fakeTracker) Run(ctx context.Context) error {
	f.mu.Lock()
	f.running++
	f.mu.Unlock()
	<-ctx.Done()
	f.mu.Lock()
	f.running--
	f.ended++
	f.mu.Unlock()
	return ctx.Err()
}

func (f *fakeTracker) state() (tracked []tracking.TaskRef, forgotten, observed []string, running, ended int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.tracked), slices.Clone(f.forgotten), slices.Clone(f.observed), f.running, f.ended
}

// fakeTaskDefinitions records the task definitions forgotten.
type fakeTaskDefinitions struct {
	mu          sync.Mutex
	invalidated []string
}

func (f *fakeTaskDefinitions) Describe(context.Context, string) (*jsonv.Object, error) {
	return nil, errors.New("fakeTaskDefinitions: Describe is not used")
}

func (f *fakeTaskDefinitions) Invalidate(arn string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.invalidated = append(f.invalidated, arn)
}

// fakeLogs answers Tail with lines or err.
type fakeLogs struct {
	mu      sync.Mutex
	lines   []tasklogs.Line
	err     error
	sources []tasklogs.Source
	asked   []int
}

func (f *fakeLogs) Tail(_ context.Context, src tasklogs.Source, n int) ([]tasklogs.Line, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sources = append(f.sources, src)
	f.asked = append(f.asked, n)
	return f.lines, f.err
}

// fakeBackend is one set of credentials' AWS side, all fakes.
type fakeBackend struct {
	creds   awscreds.Credentials
	b       *inflight.Backend
	ecs     *fakeECS
	perms   *awserr.Permissions
	tracker *fakeTracker
	tds     *fakeTaskDefinitions
	logs    *fakeLogs
}

// harness is Runs over fakes, with real metrics and a real reporter.
type harness struct {
	t    *testing.T
	api  *fakePrefect
	rep  *runreport.Reporter
	runs *inflight.Runs
	log  *logtest.Recorder

	inFlight      prometheus.Gauge
	stops         *prometheus.CounterVec
	crashes       *prometheus.CounterVec
	cancellations prometheus.Counter

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex
	notes      []string
	backends   []*fakeBackend
	backendErr error
	// onBackend runs inside the Backends factory (before it makes one).
	onBackend func(creds awscreds.Credentials)
}

// newHarness makes Runs and starts them; the backends it makes follow
// their tasks. Call it inside a synctest bubble: updates are handled by
// goroutines the test waits for with synctest.Wait. edit changes the
// options before New.
func newHarness(t *testing.T, edit func(*inflight.Options)) *harness {
	t.Helper()
	h := &harness{t: t, api: newFakePrefect(),
		inFlight:      prometheus.NewGauge(prometheus.GaugeOpts{Name: "in_flight"}),
		stops:         prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stops"}, []string{"cause"}),
		crashes:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crashes"}, []string{"cause"}),
		cancellations: prometheus.NewCounter(prometheus.CounterOpts{Name: "cancellations"}),
	}
	var logger *slog.Logger
	logger, h.log = logtest.New()
	h.rep = runreport.New(h.api, runreport.Options{Log: logger, Notify: func(event, id string) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.notes = append(h.notes, event+" "+id)
	}})
	opts := inflight.Options{
		Worker: "worker-1", StartupGrace: time.Minute, API: h.api, Report: h.rep,
		Metrics:  inflight.Metrics{InFlight: h.inFlight, Stops: h.stops, Crashes: h.crashes, Cancellations: h.cancellations},
		Backends: h.makeBackend,
		Log:      logger,
	}
	if edit != nil {
		edit(&opts)
	}
	h.runs = inflight.New(opts)
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.runs.Start(h.ctx, &h.wg)
	t.Cleanup(h.stop)
	return h
}

// stop ends the goroutines of the backends.
func (h *harness) stop() {
	h.cancel()
	h.wg.Wait()
}

func (h *harness) makeBackend(_ context.Context, creds awscreds.Credentials) (*inflight.Backend, error) {
	h.mu.Lock()
	hook, err := h.onBackend, h.backendErr
	h.mu.Unlock()
	if hook != nil {
		hook(creds)
	}
	if err != nil {
		return nil, err
	}
	fb := &fakeBackend{creds: creds, ecs: &fakeECS{},
		perms:   awserr.NewPermissions(awserr.PermissionOptions{Logger: slog.New(slog.DiscardHandler)}),
		tracker: &fakeTracker{updates: make(chan tracking.TaskUpdate)},
		tds:     &fakeTaskDefinitions{}, logs: &fakeLogs{}}
	fb.b = &inflight.Backend{
		Clients:         &awsclient.Clients{ECS: fb.ecs, Permissions: fb.perms, Region: "us-east-1"},
		TaskDefinitions: fb.tds, Tracker: fb.tracker, Logs: fb.logs,
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.backends = append(h.backends, fb)
	return fb.b, nil
}

// fake finds the fakes behind b.
func (h *harness) fake(b *inflight.Backend) *fakeBackend {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, fb := range h.backends {
		if fb.b == b {
			return fb
		}
	}
	h.t.Fatalf("backend %p was not made by the harness", b)
	return nil
}

func (h *harness) madeCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.backends)
}

// backend gets the backend of creds and releases it.
func (h *harness) backend(creds awscreds.Credentials) *fakeBackend {
	h.t.Helper()
	b, release, err := h.runs.Backend(h.ctx, creds)
	if err != nil {
		h.t.Fatal(err)
	}
	release()
	return h.fake(b)
}

// track follows the run's task on the default credentials' backend, as a
// submission does.
func (h *harness) track(flowRunID, arn string, launched *launch.Launched, deregister bool) *fakeBackend {
	h.t.Helper()
	fb := h.backend(awscreds.Credentials{})
	h.runs.Track(flowRunID, cluster+"::"+arn, tracking.TaskRef{Cluster: cluster, TaskARN: arn, FlowRunID: flowRunID, ContainerName: "prefect"}, fb.b, launched, deregister)
	return fb
}

// update hands u to the tracker of fb and waits until it is handled.
func (h *harness) update(fb *fakeBackend, u tracking.TaskUpdate) {
	h.t.Helper()
	fb.tracker.updates <- u
	synctest.Wait()
}

// runLogs are the run's log records in Prefect, once flushed.
func (h *harness) runLogs() []record {
	h.rep.FlushLogs(context.Background())
	h.api.mu.Lock()
	defer h.api.mu.Unlock()
	return slices.Clone(h.api.logs)
}

func (h *harness) gotNotes() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.notes)
}

func (h *harness) crashCount(cause string) float64 {
	return testutil.ToFloat64(h.crashes.WithLabelValues(cause))
}

func (h *harness) stopCount(cause string) float64 {
	return testutil.ToFloat64(h.stops.WithLabelValues(cause))
}

// stoppedUpdate is the last update of a task.
func stoppedUpdate(arn string, d *diagnosis.Diagnosis) tracking.TaskUpdate {
	return tracking.TaskUpdate{Ref: tracking.TaskRef{Cluster: cluster, TaskARN: arn, FlowRunID: runID, ContainerName: "prefect"},
		LastStatus: "STOPPED", DesiredStatus: "STOPPED", Stopped: true, Diagnosis: d,
		TaskDefinitionARN: tdARN}
}

// statusUpdate is an update of a task that has not stopped.
func statusUpdate(arn, status string) tracking.TaskUpdate {
	return tracking.TaskUpdate{Ref: tracking.TaskRef{Cluster: cluster, TaskARN: arn, FlowRunID: runID, ContainerName: "prefect"},
		LastStatus: status, DesiredStatus: "RUNNING"}
}

// flowRun is a run in state st whose task is pid.
func flowRun(id string, st prefect.StateType) prefect.FlowRun {
	return prefect.FlowRun{ID: id, StateType: st, State: &prefect.State{Type: st, Name: stateName(st)}, InfrastructurePID: pid}
}

func stateName(st prefect.StateType) string {
	if st == "" {
		return ""
	}
	return string(st[:1]) + strings.ToLower(string(st[1:]))
}

// UpdateFlowRunLabels merges labels into the run's, as Prefect does.
func (f *fakePrefect) UpdateFlowRunLabels(_ context.Context, id string, labels map[string]any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fr := f.runs[id]
	if fr == nil {
		return fmt.Errorf("update labels of flow run %s: %w", id, prefect.ErrNotFound)
	}
	if fr.Labels == nil {
		fr.Labels = jsonv.NewObject()
	}
	for k, v := range labels {
		fr.Labels.Set(k, v)
	}
	return nil
}
