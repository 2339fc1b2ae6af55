package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ecsworker/ecsworker/internal/ecsjob"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/jsonv/jsonvtest"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefecterr"
	"github.com/ecsworker/ecsworker/internal/prefectpool"
)

// TestSync covers reading the pool at start and at every heartbeat: a
// missing pool (created or not), an empty template filled in, a template
// that cannot be read, and a heartbeat that fails.
func TestSync(t *testing.T) {
	t.Parallel()
	ecsPool := func(tmpl *jsonv.Object) *prefectpool.WorkPool {
		return &prefectpool.WorkPool{Name: "ecs-pool", ID: "pool-1", Type: "ecs", BaseJobTemplate: tmpl}
	}
	tests := []struct {
		name       string
		api        *fakePrefect
		createPool bool

		wantErr      error // errors.Is
		wantTemplate bool  // a usable template afterwards
		wantCreated  int
		wantUpdated  int
		wantHealthy  bool
		wantWorkerID string
	}{
		{
			name:         "an ecs pool",
			api:          &fakePrefect{pool: ecsPool(ecsjob.DefaultTemplate().Object())},
			wantTemplate: true, wantHealthy: true,
		},
		{
			name:    "no pool, and none to be created",
			api:     &fakePrefect{},
			wantErr: prefecterr.ErrNotFound,
		},
		{
			name:         "no pool: created with the default template",
			api:          &fakePrefect{},
			createPool:   true,
			wantTemplate: true, wantCreated: 1, wantHealthy: true,
		},
		{
			name:        "no pool, and Prefect refuses to create it",
			api:         &fakePrefect{createErr: prefecterr.ErrForbidden},
			createPool:  true,
			wantErr:     prefecterr.ErrForbidden,
			wantCreated: 1,
		},
		{
			name:         "an empty template is filled in",
			api:          &fakePrefect{pool: ecsPool(jsonv.NewObject())},
			wantTemplate: true, wantUpdated: 1, wantHealthy: true,
		},
		{
			name:         "an empty template the worker may not fill in is used all the same",
			api:          &fakePrefect{pool: ecsPool(jsonv.NewObject()), updateErr: prefecterr.ErrForbidden},
			wantTemplate: true, wantUpdated: 1, wantHealthy: true,
		},
		{
			name:        "a template that cannot be read: runs crash, the worker stays up",
			api:         &fakePrefect{pool: ecsPool(jsonvtest.Object(t, `{"job_configuration": "not an object"}`))},
			wantHealthy: true,
		},
		{
			name:    "the pool cannot be read",
			api:     &fakePrefect{readPoolErr: prefecterr.ErrUnauthorized},
			wantErr: prefecterr.ErrUnauthorized,
		},
		{
			name:         "the heartbeat fails",
			api:          &fakePrefect{pool: ecsPool(ecsjob.DefaultTemplate().Object()), heartbeatErr: errors.New("connection refused")},
			wantTemplate: true,
		},
		{
			name:         "Prefect Cloud gives the worker an id",
			api:          &fakePrefect{pool: ecsPool(ecsjob.DefaultTemplate().Object()), cloud: true, heartbeatID: "worker-id-7"},
			wantTemplate: true, wantHealthy: true, wantWorkerID: "worker-id-7",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newUnitWorker(t, tt.api, nil, nil, unitNow)
			w.pool, w.tmpl = nil, nil
			w.cfg.CreatePool = tt.createPool

			err := w.sync(context.Background())

			if tt.wantErr == nil && err != nil && tt.api.heartbeatErr == nil {
				t.Fatalf("sync: %v", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("sync = %v, want %v", err, tt.wantErr)
			}
			_, tmpl := w.snapshot()
			if (tmpl != nil) != tt.wantTemplate {
				t.Errorf("template after sync: %v, want %v", tmpl != nil, tt.wantTemplate)
			}
			if tt.api.created != tt.wantCreated || tt.api.updated != tt.wantUpdated {
				t.Errorf("pool created %d, updated %d times; want %d, %d", tt.api.created, tt.api.updated, tt.wantCreated, tt.wantUpdated)
			}
			if ok, why := w.Healthy(); ok != tt.wantHealthy {
				t.Errorf("healthy = %v (%s), want %v", ok, why, tt.wantHealthy)
			}
			w.mu.Lock()
			id := w.workerID
			w.mu.Unlock()
			if id != tt.wantWorkerID {
				t.Errorf("worker id %q, want %q", id, tt.wantWorkerID)
			}
		})
	}
}

// TestHealthy covers each reason /health gives for failing.
func TestHealthy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		beat, poll time.Time
		beatOK     bool
		pollOK     bool
		polled     bool
		want       string
	}{
		{name: "all well", beat: unitNow, beatOK: true, poll: unitNow, pollOK: true, polled: true, want: "OK"},
		{name: "not polled yet", beat: unitNow, beatOK: true, want: "OK"},
		{name: "heartbeat failed", beat: unitNow, want: "the last heartbeat to Prefect failed"},
		{name: "heartbeat stale", beat: unitNow.Add(-2 * time.Minute), beatOK: true, want: "no heartbeat for 2m0s"},
		{name: "poll failed", beat: unitNow, beatOK: true, poll: unitNow, polled: true, want: "the last poll for scheduled runs failed"},
		{name: "poll stale", beat: unitNow, beatOK: true, poll: unitNow.Add(-2 * time.Minute), pollOK: true, polled: true, want: "no poll for 2m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newUnitWorker(t, &fakePrefect{}, nil, nil, unitNow)
			w.health.heartbeat(tt.beat, tt.beatOK)
			if tt.polled {
				w.health.poll(tt.poll, tt.pollOK)
			}
			ok, why := w.Healthy()
			if why != tt.want || ok != (tt.want == "OK") {
				t.Errorf("Healthy() = %v, %q; want %q", ok, why, tt.want)
			}
		})
	}
}

// TestPollOnce covers a poll's outcomes: nothing to poll yet, a missing
// queue, a failed poll, a run too large to read, and more runs than slots.
func TestPollOnce(t *testing.T) {
	t.Parallel()
	runs := func(ids ...string) []prefect.WorkerFlowRun {
		var out []prefect.WorkerFlowRun
		for _, id := range ids {
			out = append(out, prefect.WorkerFlowRun{FlowRun: prefect.FlowRun{ID: id}})
		}
		return out
	}
	tests := []struct {
		name       string
		api        *fakePrefect
		unsynced   bool
		limit      int
		held       int  // slots taken by submissions already
		wantAsked  int  // the poll's limit; 0: not polled
		wantPolled bool // counted as a successful poll
		wantOK     bool // the poll's health
		wantCrash  string
		wantBusy   bool
	}{
		{name: "not synced yet", api: &fakePrefect{}, unsynced: true, wantOK: true},
		{name: "a queue is missing", api: &fakePrefect{pollErr: prefecterr.ErrNotFound}, wantAsked: maxSubmissions, wantOK: true},
		{name: "the poll fails", api: &fakePrefect{pollErr: errors.New("connection refused")}, wantAsked: maxSubmissions},
		{name: "nothing due", api: &fakePrefect{}, wantAsked: maxSubmissions, wantPolled: true, wantOK: true},
		{name: "no more runs are read than slots are free", api: &fakePrefect{}, limit: 5, held: 3, wantAsked: 2, wantPolled: true, wantOK: true},
		{
			name: "a run too large to read is claimed and crashed",
			api: &fakePrefect{scheduled: prefect.ScheduledRuns{Unreadable: []prefect.UnreadableRun{
				{ID: "run-big", Err: errors.New("flow run run-big is 9 MiB of JSON, over the 8 MiB a worker reads")},
			}}},
			wantAsked: maxSubmissions, wantPolled: true, wantOK: true,
			wantCrash: "Failed to submit flow run to infrastructure: flow run run-big is 9 MiB of JSON, over the 8 MiB a worker reads",
		},
		{
			name: "more runs than slots: the rest wait",
			api: &fakePrefect{
				scheduled:   prefect.ScheduledRuns{Runs: runs("run-1", "run-2", "run-3")},
				claimAnswer: &prefect.OrchestrationResult{Status: prefect.StatusAbort},
				claimGate:   make(chan struct{}),
			},
			limit: 1, wantAsked: 1,
			wantPolled: true, wantOK: true, wantBusy: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				w := newUnitWorker(t, tt.api, nil, nil, unitNow)
				if tt.unsynced {
					w.pool, w.tmpl = nil, nil
				}
				if tt.limit > 0 {
					w.slots = make(chan struct{}, tt.limit)
				}
				for range tt.held {
					w.slots <- struct{}{}
				}
				w.subCtx = context.Background()

				w.pollOnce(context.Background())

				tt.api.mu.Lock()
				asked := slices.Clone(tt.api.pollLimits)
				tt.api.mu.Unlock()
				if want := []int{tt.wantAsked}; tt.wantAsked == 0 && len(asked) != 0 || tt.wantAsked != 0 && !slices.Equal(asked, want) {
					t.Errorf("polls asked for %v runs, want %d", asked, tt.wantAsked)
				}

				if got := counterValue(t, w.metrics.polls); (got == 1) != tt.wantPolled {
					t.Errorf("polls counted %v, want %v", got, tt.wantPolled)
				}
				w.health.mu.Lock()
				ok := w.health.pollOK
				w.health.mu.Unlock()
				if ok != tt.wantOK {
					t.Errorf("poll health %v, want %v", ok, tt.wantOK)
				}
				if busy := w.isBusy(); busy != tt.wantBusy {
					t.Errorf("busy %v, want %v", busy, tt.wantBusy)
				}
				w.mu.Lock()
				backlog := w.backlog
				w.mu.Unlock()
				if backlog != tt.wantBusy {
					t.Errorf("backlog %v, want %v", backlog, tt.wantBusy)
				}
				// Submissions hold their slot until their claim is
				// answered: what the poll left for lack of slots shows
				// until then.
				if tt.api.claimGate != nil {
					close(tt.api.claimGate)
				}
				w.submissions.Wait()
				states, _, _ := tt.api.recorded()
				var crash string
				for _, s := range states {
					if s.Type == prefect.StateCrashed {
						crash = s.Message
					}
				}
				if crash != tt.wantCrash {
					t.Errorf("crash %q, want %q", crash, tt.wantCrash)
				}
				if tt.wantBusy {
					select {
					case <-w.pollNow:
					default:
						t.Error("a freed slot did not ask for a poll")
					}
				}
			})
		})
	}
}

// TestFreeSlots: a poll asks for as many runs as can be taken now, and at
// least one, since polling is what tells Prefect the queues are served.
func TestFreeSlots(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                         string
		slots, held, maxInFlight, in int
		want                         int
	}{
		{name: "idle", slots: 128, want: 128},
		{name: "some slots taken", slots: 10, held: 4, want: 6},
		{name: "every slot taken", slots: 2, held: 2, want: 1},
		{name: "max in flight is the tighter", slots: 10, maxInFlight: 5, in: 3, want: 2},
		{name: "max in flight reached", slots: 10, maxInFlight: 5, in: 5, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newUnitWorker(t, &fakePrefect{}, nil, nil, unitNow)
			w.slots = make(chan struct{}, tt.slots)
			for range tt.held {
				w.slots <- struct{}{}
			}
			w.cfg.MaxInFlight = tt.maxInFlight
			for i := range tt.in {
				w.submitting[fmt.Sprint("run-", i)] = true
			}
			if got := w.freeSlots(); got != tt.want {
				t.Errorf("freeSlots() = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestMaxInFlight: with MaxInFlight runs followed or being submitted, no
// more are taken.
func TestMaxInFlight(t *testing.T) {
	t.Parallel()
	w := newUnitWorker(t, &fakePrefect{}, nil, nil, unitNow)
	w.cfg.MaxInFlight = 2
	if !w.startSubmission("run-1") || !w.startSubmission("run-2") {
		t.Fatal("the first two runs were not taken")
	}
	if w.startSubmission("run-1") {
		t.Error("a run being submitted was taken twice")
	}
	if w.startSubmission("run-3") || !w.isBusy() {
		t.Error("a third run was taken over MaxInFlight 2")
	}
	w.endSubmission("run-1")
	w.endSubmission("run-1") // twice is harmless
	if w.isBusy() || !w.startSubmission("run-3") {
		t.Error("a freed place was not taken")
	}
}

// TestConfigErrors: a worker without a pool, or with a name Prefect's API
// paths cannot carry, is refused with what to do.
func TestConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "no work pool: give --pool NAME"},
		{Config{Pool: "  "}, "no work pool: give --pool NAME"},
		{Config{Pool: "p", Name: "a/b"}, `worker name "a/b": a worker name may not contain / or %`},
	} {
		_, err := New(tt.cfg, &fakePrefect{}, noAWS{})
		if err == nil || err.Error() != tt.want {
			t.Errorf("New(%+v) = %v, want %q", tt.cfg, err, tt.want)
		}
	}
	w, err := New(Config{Pool: "p", Logger: slog.New(slog.DiscardHandler)}, &fakePrefect{}, noAWS{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(w.Name(), "ECSWorker ") {
		t.Errorf("default name %q, want Prefect's ECSWorker <uuid>", w.Name())
	}
}

// TestEventStreamWithoutEvents: a server without an event stream leaves
// the worker polling, without retrying the stream.
func TestEventStreamWithoutEvents(t *testing.T) {
	t.Parallel()
	w := newUnitWorker(t, &fakePrefect{}, nil, nil, unitNow)
	done := make(chan struct{})
	go func() { w.eventStreamLoop(context.Background()); close(done) }()
	<-done
	w.PollNow()
	w.PollNow() // one pending poll is enough
	w.CancelNow()
	w.CancelNow()
	if len(w.pollNow) != 1 || len(w.cancelNow) != 1 {
		t.Errorf("pending polls %d, cancellation passes %d; want 1 each", len(w.pollNow), len(w.cancelNow))
	}
}
