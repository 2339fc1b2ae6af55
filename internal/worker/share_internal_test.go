package worker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/prefectpool"
)

// budgetAWS is noAWS with a call budget.
type budgetAWS struct {
	noAWS
	b *awsclient.Budget
}

func (a budgetAWS) Budget() *awsclient.Budget { return a.b }

// countingHandler counts log records by message.
type countingHandler struct {
	mu   sync.Mutex
	msgs map[string]int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs[r.Message]++
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

func TestShareFollowsTheListAndSurvivesItsFailures(t *testing.T) {
	t.Parallel()
	const failed = "cannot list the pool's workers; the AWS call budget stays divided as it was until the list works again"
	const changed = "AWS call budget divided among the pool's online workers"
	online := func(names ...string) []prefectpool.Worker {
		var ws []prefectpool.Worker
		for _, n := range names {
			ws = append(ws, prefectpool.Worker{Name: n, Status: "ONLINE"})
		}
		return ws
	}
	steps := []struct {
		name     string
		workers  []prefectpool.Worker
		err      error
		want     int
		failures int // failure warnings logged so far
		changes  int // share changes logged so far
	}{
		{name: "two others", workers: online("me", "a", "b"), want: 3, changes: 1},
		{name: "the list fails: the share stays", err: errors.New("503"), want: 3, failures: 1, changes: 1},
		{name: "fails again: logged once", err: errors.New("503"), want: 3, failures: 1, changes: 1},
		{name: "the list lags: this worker counts itself", workers: online("a"), want: 2, failures: 1, changes: 2},
		{name: "alone", workers: nil, want: 1, failures: 1, changes: 3},
		{name: "fails anew: logged again", err: errors.New("503"), want: 1, failures: 2, changes: 3},
	}
	logs := &countingHandler{msgs: map[string]int{}}
	fp := &fakePrefect{}
	b := awsclient.NewBudget(awsclient.DefaultBudget())
	w, err := New(Config{Pool: "p", Name: "me", Logger: slog.New(logs)}, fp, budgetAWS{b: b})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range steps {
		fp.mu.Lock()
		fp.workers, fp.workersErr = st.workers, st.err
		fp.mu.Unlock()
		w.shareBudget(context.Background())
		if got := b.Share(); got != st.want {
			t.Errorf("%s: share %d, want %d", st.name, got, st.want)
		}
		if logs.msgs[failed] != st.failures || logs.msgs[changed] != st.changes {
			t.Errorf("%s: logged %d failures and %d changes, want %d and %d", st.name, logs.msgs[failed], logs.msgs[changed], st.failures, st.changes)
		}
	}
}

func TestShareCountsSoonAfterStartThenEvery10s(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s := budgetShare{started: t0, last: t0.Add(100 * time.Millisecond)}
	tests := []struct {
		at   time.Duration // since start
		want bool
	}{
		{150 * time.Millisecond, false}, // 50 ms after a count made 100 ms into the run
		{200 * time.Millisecond, true},
		{300 * time.Millisecond, false},
		{400 * time.Millisecond, true},
		{time.Second, true},
		{2 * time.Second, true},
		{3 * time.Second, false},
		{4 * time.Second, true},
		{12 * time.Second, true},
		{21 * time.Second, false},
		{22 * time.Second, true}, // from here, every 10 s
		{31 * time.Second, false},
		{32 * time.Second, true},
	}
	for _, tc := range tests {
		if got := s.countDue(t0.Add(tc.at)); got != tc.want {
			t.Errorf("at %s: due %v, want %v", tc.at, got, tc.want)
		}
	}
}
