package runreport_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefect/prefecttest"
	"github.com/ecsworker/ecsworker/internal/prefectevents"
	"github.com/ecsworker/ecsworker/internal/runreport"
)

// proposal is one SetFlowRunState call as the fake saw it.
type proposal struct {
	runID string
	state prefect.StateCreate
	force bool
	// ctxErr is the context's error when the call was made: a report
	// outlives its caller's cancelled context.
	ctxErr error
	// timeout is how long the call had before its deadline (0: none).
	timeout time.Duration
}

// fakePrefect is the Prefect API of a Reporter: it records the states
// proposed and the log records sent, and answers from a script. Safe for
// concurrent use.
type fakePrefect struct {
	mu sync.Mutex

	res *prefect.OrchestrationResult // SetFlowRunState's answer (nil: ACCEPT)
	err error

	proposals []proposal

	// logErrs answer CreateLogs calls in order; beyond them, nil.
	logErrs []error
	// onLogs runs inside each CreateLogs call, before it answers.
	onLogs  func()
	batches [][]prefect.LogCreate // every CreateLogs call, failed ones too
	sent    []prefect.LogCreate   // records of the calls that succeeded
}

var _ runreport.API = (*fakePrefect)(nil)

func (f *fakePrefect) SetFlowRunState(ctx context.Context, id string, s prefect.StateCreate, force bool) (*prefect.OrchestrationResult, error) {
	p := proposal{runID: id, state: s, force: force, ctxErr: ctx.Err()}
	if dl, ok := ctx.Deadline(); ok {
		p.timeout = time.Until(dl)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.proposals = append(f.proposals, p)
	if f.err != nil {
		return nil, f.err
	}
	if f.res != nil {
		return f.res, nil
	}
	return &prefect.OrchestrationResult{Status: prefect.StatusAccept}, nil
}

func (f *fakePrefect) CreateLogs(_ context.Context, logs []prefect.LogCreate) error {
	f.mu.Lock()
	hook := f.onLogs
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches = append(f.batches, append([]prefect.LogCreate(nil), logs...))
	var err error
	if len(f.logErrs) > 0 {
		err, f.logErrs = f.logErrs[0], f.logErrs[1:]
	}
	if err == nil {
		f.sent = append(f.sent, logs...)
	}
	return err
}

func (f *fakePrefect) gotProposals() []proposal {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]proposal(nil), f.proposals...)
}

func (f *fakePrefect) gotSent() []prefect.LogCreate {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]prefect.LogCreate(nil), f.sent...)
}

func (f *fakePrefect) batchSizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n []int
	for _, b := range f.batches {
		n = append(n, len(b))
	}
	return n
}

// newEmitter is an event emitter whose events land in the returned
// Prefect API test server once the emitter is closed.
func newEmitter(t *testing.T) (*prefectevents.EventEmitter, *prefectfake.Server) {
	t.Helper()
	c, srv := prefecttest.InProcess(t, prefectfake.Options{})
	em, err := c.NewEventEmitter(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return em, srv
}

var errOutage = errors.New("connection refused")
