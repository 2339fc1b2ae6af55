package worker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awscreds"
	"github.com/ecsworker/ecsworker/internal/awserr"
	"github.com/ecsworker/ecsworker/internal/ecsjob"
	"github.com/ecsworker/ecsworker/internal/ecsrequest"
	"github.com/ecsworker/ecsworker/internal/inflight"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/jsonv/jsonvtest"
	"github.com/ecsworker/ecsworker/internal/launch"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectconfig"
	"github.com/ecsworker/ecsworker/internal/prefectdeploy"
	"github.com/ecsworker/ecsworker/internal/prefecterr"
	"github.com/ecsworker/ecsworker/internal/prefectevents"
	"github.com/ecsworker/ecsworker/internal/prefectpool"
	"github.com/ecsworker/ecsworker/internal/templating"
	"github.com/ecsworker/ecsworker/internal/tracking"
)

// The unit tests' doubles: in-process fakes of the interfaces the worker
// declares (deps.go, inflight), no HTTP. The end-to-end tests run the real
// clients against the test servers.

// fakePrefect answers the worker's Prefect calls and records what changes.
type fakePrefect struct {
	mu sync.Mutex

	pollLimits []int // the limit of each poll

	deployment    *prefectdeploy.Deployment
	deploymentErr error
	claimAnswer   *prefect.OrchestrationResult // answer to PENDING; nil accepts
	claimErr      error
	claimGate     chan struct{} // when set, PENDING proposals wait for it to close
	labelsErr     error
	pidErr        []error // SetInfrastructurePID's answers in turn; then nil
	stateErr      error   // for Crashed and forced states
	current       *prefect.FlowRun

	// The pool, as ReadWorkPool answers (nil: not found) and what the
	// other pool calls answer.
	pool         *prefectpool.WorkPool
	readPoolErr  error
	createErr    error
	updateErr    error
	heartbeatErr error
	heartbeatID  string
	cloud        bool
	created      int
	updated      int

	scheduled prefect.ScheduledRuns
	pollErr   error

	// workers and workersErr answer FilterWorkers.
	workers    []prefectpool.Worker
	workersErr error

	states []prefect.StateCreate // non-PENDING proposals, forced or not
	labels map[string]any
	pids   []string
	logs   []prefect.LogCreate
}

var _ Prefect = (*fakePrefect)(nil)

func (f *fakePrefect) ReadWorkPool(context.Context, string) (*prefectpool.WorkPool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.readPoolErr != nil:
		return nil, f.readPoolErr
	case f.pool == nil:
		return nil, prefecterr.ErrNotFound
	}
	p := *f.pool
	return &p, nil
}

func (f *fakePrefect) CreateWorkPool(_ context.Context, c prefectpool.WorkPoolCreate) (*prefectpool.WorkPool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.created++
	if f.createErr != nil {
		return nil, f.createErr
	}
	return &prefectpool.WorkPool{Name: c.Name, ID: "pool-new", Type: c.Type, BaseJobTemplate: c.BaseJobTemplate}, nil
}

func (f *fakePrefect) UpdateWorkPool(context.Context, string, prefectpool.WorkPoolUpdate) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updated++
	return f.updateErr
}

func (f *fakePrefect) Heartbeat(context.Context, string, prefectpool.WorkerHeartbeat) (string, error) {
	return f.heartbeatID, f.heartbeatErr
}

func (f *fakePrefect) FilterWorkers(context.Context, string, prefectpool.WorkerFilter) ([]prefectpool.Worker, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.workers, f.workersErr
}

func (f *fakePrefect) SetWorker(string, string) {}
func (f *fakePrefect) IsCloud() bool            { return f.cloud }

func (f *fakePrefect) PollScheduledFlowRuns(_ context.Context, _ string, _ []string, _ time.Time, limit int) (prefect.ScheduledRuns, error) {
	f.mu.Lock()
	f.pollLimits = append(f.pollLimits, limit)
	f.mu.Unlock()
	return f.scheduled, f.pollErr
}

func (f *fakePrefect) ListFlowRuns(context.Context, prefect.FlowRunFilter) ([]prefect.FlowRun, error) {
	return nil, nil
}

func (f *fakePrefect) EachFlowRunPage(context.Context, prefect.FlowRunFilter, func([]prefect.FlowRun) error) error {
	return nil
}

func (f *fakePrefect) ReadDeployment(context.Context, string) (*prefectdeploy.Deployment, error) {
	return f.deployment, f.deploymentErr
}

func (f *fakePrefect) ReadFlow(context.Context, string) (*prefectdeploy.Flow, error) {
	return nil, prefecterr.ErrNotFound
}

func (f *fakePrefect) SetInfrastructurePID(_ context.Context, _, pid string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pids = append(f.pids, pid)
	if len(f.pidErr) > 0 {
		err := f.pidErr[0]
		f.pidErr = f.pidErr[1:]
		return err
	}
	return nil
}

func (f *fakePrefect) Config() prefectconfig.Config {
	return prefectconfig.Config{APIURL: "http://prefect.test/api"}
}

func (f *fakePrefect) TemplateResolver() templating.Resolver { return nil }

func (f *fakePrefect) ReadFlowRun(_ context.Context, id string) (*prefect.FlowRun, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.current != nil {
		return f.current, nil
	}
	return &prefect.FlowRun{ID: id}, nil
}

func (f *fakePrefect) SetFlowRunState(_ context.Context, _ string, s prefect.StateCreate, _ bool) (*prefect.OrchestrationResult, error) {
	if s.Type == prefect.StatePending && f.claimGate != nil {
		<-f.claimGate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if s.Type == prefect.StatePending {
		if f.claimErr != nil {
			return nil, f.claimErr
		}
		if f.claimAnswer != nil {
			return f.claimAnswer, nil
		}
		return &prefect.OrchestrationResult{Status: prefect.StatusAccept}, nil
	}
	f.states = append(f.states, s)
	if f.stateErr != nil {
		return nil, f.stateErr
	}
	return &prefect.OrchestrationResult{Status: prefect.StatusAccept}, nil
}

func (f *fakePrefect) UpdateFlowRunLabels(_ context.Context, _ string, labels map[string]any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.labelsErr != nil {
		return f.labelsErr
	}
	f.labels = labels
	return nil
}

func (f *fakePrefect) CreateLogs(_ context.Context, logs []prefect.LogCreate) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs = append(f.logs, logs...)
	return nil
}

func (f *fakePrefect) NewEventEmitter(context.Context, ...prefectevents.EventEmitterOption) (*prefectevents.EventEmitter, error) {
	return nil, prefectevents.ErrEventsUnavailable
}

func (f *fakePrefect) SubscribeEvents(context.Context, prefectevents.EventFilter) (*prefectevents.EventSubscription, error) {
	return nil, prefectevents.ErrEventsUnavailable
}

func (f *fakePrefect) recorded() (states []prefect.StateCreate, pids []string, labels map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]prefect.StateCreate(nil), f.states...), append([]string(nil), f.pids...), f.labels
}

// noAWS is the client factory of a worker whose backends the test gives.
type noAWS struct{}

func (noAWS) For(context.Context, awscreds.Credentials) (*awsclient.Clients, error) {
	return nil, errors.New("unit tests give their backends")
}
func (noAWS) Budget() *awsclient.Budget       { return nil }
func (noAWS) Monitor() *awsclient.CallMonitor { return nil }

// fakeLauncher answers Launch.
type fakeLauncher struct {
	launched *launch.Launched
	err      error

	mu     sync.Mutex
	tokens []string
}

func (l *fakeLauncher) Launch(_ context.Context, _ *ecsrequest.Plan, token string) (*launch.Launched, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tokens = append(l.tokens, token)
	return l.launched, l.err
}

func (l *fakeLauncher) calls() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.tokens)
}

// fakeTaskDefinitions answers Describe.
type fakeTaskDefinitions struct {
	td  *jsonv.Object
	err error
}

func (d fakeTaskDefinitions) Describe(context.Context, string) (*jsonv.Object, error) {
	return d.td, d.err
}
func (fakeTaskDefinitions) Invalidate(string) {}

// fakeTracker records the tasks it is asked to follow.
type fakeTracker struct {
	mu      sync.Mutex
	tracked []tracking.TaskRef
}

func (t *fakeTracker) Track(ref tracking.TaskRef) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tracked = append(t.tracked, ref)
}
func (t *fakeTracker) Forget(string)                       {}
func (t *fakeTracker) Observe(tracking.TaskEvent) bool     { return false }
func (t *fakeTracker) Updates() <-chan tracking.TaskUpdate { return nil }
func (t *fakeTracker) Run(ctx context.Context) error       { <-ctx.Done(); return nil }

func (t *fakeTracker) refs() []tracking.TaskRef {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]tracking.TaskRef(nil), t.tracked...)
}

// unitWorker is a worker whose pool is synced with the default template
// and whose AWS backend is the given one (or fails with backendErr).
type unitWorker struct {
	*Worker
	api     *fakePrefect
	events  *notes
	tracker *fakeTracker
}

// notes records Config.Notify's events.
type notes struct {
	mu  sync.Mutex
	got []string
}

func (n *notes) add(event, _ string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, event)
}

func (n *notes) list() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.got...)
}

const (
	unitRunID = "0f9d6a4e-1c2b-4d5e-8f70-123456789abc"
	unitTask  = "arn:aws:ecs:us-east-1:123456789012:task/prefect/abc123"
)

func newUnitWorker(t *testing.T, api *fakePrefect, b *inflight.Backend, backendErr error, now time.Time) *unitWorker {
	t.Helper()
	ev := &notes{}
	w, err := New(Config{
		Pool: "ecs-pool", Name: "unit-worker", Logger: slog.New(slog.DiscardHandler), DefaultImage: "prefecthq/prefect:3-latest",
		Now: func() time.Time { return now }, Notify: ev.add,
	}, api, noAWS{})
	if err != nil {
		t.Fatal(err)
	}
	tr := &fakeTracker{}
	if b != nil && b.Tracker == nil {
		b.Tracker = tr
	}
	opts := w.runsOptions()
	opts.Backends = func(context.Context, awscreds.Credentials) (*inflight.Backend, error) { return b, backendErr }
	w.runs = inflight.New(opts)
	w.pool = &prefectpool.WorkPool{Name: "ecs-pool", ID: "pool-1", Type: "ecs", Raw: jsonvtest.Object(t, `{"id": "pool-1", "name": "ecs-pool", "type": "ecs"}`)}
	w.tmpl = ecsjob.DefaultTemplate()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		w.bg.Wait()
	})
	w.bgCtx = ctx
	return &unitWorker{Worker: w, api: api, events: ev, tracker: tr}
}

// backendWith is an AWS backend whose launcher and task definitions are
// fakes.
func backendWith(l *fakeLauncher, tds fakeTaskDefinitions) *inflight.Backend {
	return &inflight.Backend{
		Clients: &awsclient.Clients{
			Region:      "us-east-1",
			Permissions: awserr.NewPermissions(awserr.PermissionOptions{Logger: slog.New(slog.DiscardHandler)}),
		},
		TaskDefinitions: tds,
		Launcher:        l,
	}
}

// scheduledRun is a run of the pool, with the given job variables.
func scheduledRun(t *testing.T, jobVariables string) prefect.FlowRun {
	t.Helper()
	return prefect.FlowRun{
		ID: unitRunID, Name: "bold-otter",
		JobVariables: jsonvtest.Object(t, jobVariables),
		Raw:          jsonvtest.Object(t, `{"id": "`+unitRunID+`", "name": "bold-otter"}`),
	}
}

// prefectAnswer is an answer of the Prefect API other than 2xx.
func prefectAnswer(status int) error {
	return &prefecterr.APIError{Op: "update flow run labels", Method: "PATCH", Path: "/flow_runs/" + unitRunID + "/labels", Status: status}
}
