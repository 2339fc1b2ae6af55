package submission_test

import (
	"context"
	"errors"
	"time"

	"github.com/ecsworker/ecsworker/internal/ecsrequest"
	"github.com/ecsworker/ecsworker/internal/launch"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/submission"
)

// answer is one reply of SetFlowRunState.
type answer struct {
	res *prefect.OrchestrationResult
	err error
}

// fakePrefect answers the steps' Prefect calls from a script and records
// them. Each test owns its fake; the steps call it from one goroutine.
type fakePrefect struct {
	// answers are SetFlowRunState's replies, in order.
	answers   []answer
	proposals []prefect.StateCreate
	forced    []bool

	// readBack answers ReadFlowRun, told the transition id of the last
	// proposal; nil fails the read.
	readBack func(ctx context.Context, proposed string) (*prefect.FlowRun, error)

	labelsErr error
	labelRuns []string
	labels    []map[string]any

	calls []string // the calls in order, by method name
}

var _ submission.Prefect = (*fakePrefect)(nil)

func (f *fakePrefect) SetFlowRunState(_ context.Context, _ string, s prefect.StateCreate, force bool) (*prefect.OrchestrationResult, error) {
	f.calls = append(f.calls, "SetFlowRunState")
	f.proposals = append(f.proposals, s)
	f.forced = append(f.forced, force)
	if len(f.answers) == 0 {
		return nil, errors.New("fakePrefect: no answer scripted")
	}
	a := f.answers[0]
	f.answers = f.answers[1:]
	return a.res, a.err
}

func (f *fakePrefect) ReadFlowRun(ctx context.Context, id string) (*prefect.FlowRun, error) {
	f.calls = append(f.calls, "ReadFlowRun")
	if f.readBack == nil {
		return nil, errors.New("fakePrefect: no read-back scripted")
	}
	var proposed string
	if n := len(f.proposals); n > 0 {
		proposed = f.proposals[n-1].TransitionID
	}
	run, err := f.readBack(ctx, proposed)
	if run != nil {
		run.ID = id
	}
	return run, err
}

func (f *fakePrefect) UpdateFlowRunLabels(_ context.Context, id string, labels map[string]any) error {
	f.calls = append(f.calls, "UpdateFlowRunLabels")
	f.labelRuns = append(f.labelRuns, id)
	f.labels = append(f.labels, labels)
	return f.labelsErr
}

// fakeLauncher starts tasks from a script and records the tokens.
type fakeLauncher struct {
	launched *launch.Launched
	err      error
	plans    []*ecsrequest.Plan
	tokens   []string
	calls    *[]string // shared with the fakePrefect, to see the order
}

var _ submission.Launcher = (*fakeLauncher)(nil)

func (l *fakeLauncher) Launch(_ context.Context, plan *ecsrequest.Plan, token string) (*launch.Launched, error) {
	if l.calls != nil {
		*l.calls = append(*l.calls, "Launch")
	}
	l.plans = append(l.plans, plan)
	l.tokens = append(l.tokens, token)
	return l.launched, l.err
}

// sleeps records the waits a Claimer sits through instead of sleeping.
type sleeps struct {
	waits []time.Duration
	err   error // returned by every wait, as a cancelled context would
}

func (s *sleeps) sleep(_ context.Context, d time.Duration) error {
	s.waits = append(s.waits, d)
	return s.err
}
