package submission_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefecterr"
	"github.com/ecsworker/ecsworker/internal/submission"
)

func accepted() answer {
	return answer{res: &prefect.OrchestrationResult{Status: prefect.StatusAccept, State: &prefect.State{Type: prefect.StatePending, Name: "Pending"}}}
}

func waitFor(seconds int) answer {
	return answer{res: &prefect.OrchestrationResult{Status: prefect.StatusWait, Details: prefect.OrchestrationDetails{Type: "wait_details", DelaySeconds: seconds}}}
}

func rejected(state *prefect.State, reason string) answer {
	return answer{res: &prefect.OrchestrationResult{Status: prefect.StatusReject, State: state, Details: prefect.OrchestrationDetails{Type: "reject_details", Reason: reason}}}
}

func aborted(reason string) answer {
	return answer{res: &prefect.OrchestrationResult{Status: prefect.StatusAbort, Details: prefect.OrchestrationDetails{Type: "abort_details", Reason: reason}}}
}

func failed(err error) answer { return answer{err: err} }

// inState is a read-back that finds the run in a state with transitionID,
// or with the last proposal's transition id when transitionID is "". Like
// the client, it fails on a cancelled context.
func inState(typ prefect.StateType, name, transitionID string) func(context.Context, string) (*prefect.FlowRun, error) {
	return func(ctx context.Context, proposed string) (*prefect.FlowRun, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		tid := transitionID
		if tid == "" {
			tid = proposed
		}
		return &prefect.FlowRun{State: &prefect.State{Type: typ, Name: name, StateDetails: prefect.StateDetails{TransitionID: tid}}}, nil
	}
}

type detachKey struct{}

func TestClaim(t *testing.T) {
	t.Parallel()
	const runID = "0b7e1b51-5d0b-4a55-9a57-1e0c6f2b3c4d"
	setState := "set flow run state " + runID
	setURL := "http://prefect/api/flow_runs/" + runID + "/set_state"
	refused := prefectRefused(setState, "POST", setURL)
	refusedMsg := setState + ": POST " + setURL + ": dial tcp: connect: connection refused (start the Prefect server, or correct the host and port in PREFECT_API_URL)"
	waitEvery := make([]answer, 10)
	for i := range waitEvery {
		waitEvery[i] = waitFor(1)
	}

	tests := []struct {
		name     string
		answers  []answer
		readBack func(context.Context, string) (*prefect.FlowRun, error)
		sleepErr error
		// cancelled runs the claim with a context already cancelled.
		cancelled bool
		// detach sets a Detach hook that marks the read-back's context.
		detach bool
		// defaultSleep leaves Sleep nil (backoff.Sleep).
		defaultSleep bool
		// quiet leaves Observe and Log nil.
		quiet bool

		// wantProposal is the proposal whose transition id is the claim;
		// -1 when the claim is wantClaim or the run is not claimed.
		wantProposal int
		wantClaim    string
		wantErr      string // the NotClaimed error's message
		wantObserved []string
		wantWaits    []time.Duration
		wantCalls    []string
		wantLog      string
	}{
		{
			name:         "accepted at once",
			answers:      []answer{accepted()},
			wantProposal: 0, wantObserved: []string{"accepted"},
			wantCalls: []string{"SetFlowRunState"},
		},
		{
			name:         "waits as told, with a fresh proposal each time, then accepted",
			answers:      []answer{waitFor(5), waitFor(0), accepted()},
			wantProposal: 2, wantObserved: []string{"wait", "wait", "accepted"},
			wantWaits: []time.Duration{5 * time.Second, 0},
			wantCalls: []string{"SetFlowRunState", "SetFlowRunState", "SetFlowRunState"},
		},
		{
			name:         "the default sleep waits out a zero delay without blocking",
			answers:      []answer{waitFor(0), accepted()},
			defaultSleep: true,
			wantProposal: 1, wantObserved: []string{"wait", "accepted"},
			wantCalls: []string{"SetFlowRunState", "SetFlowRunState"},
		},
		{
			name:         "the server keeps answering WAIT",
			answers:      waitEvery,
			wantProposal: -1, wantErr: "the server kept answering WAIT",
			wantObserved: slices.Repeat([]string{"wait"}, 10),
			wantWaits:    slices.Repeat([]time.Duration{time.Second}, 10),
			wantCalls:    slices.Repeat([]string{"SetFlowRunState"}, 10),
		},
		{
			name:         "the wait is cut short by the worker stopping",
			answers:      []answer{waitFor(30), accepted()},
			sleepErr:     context.Canceled,
			wantProposal: -1, wantErr: "context canceled",
			wantObserved: []string{"wait"},
			wantWaits:    []time.Duration{30 * time.Second},
			wantCalls:    []string{"SetFlowRunState"},
		},
		{
			name:         "rejected for the Pending state another proposal of this claim set",
			answers:      []answer{rejected(&prefect.State{Type: prefect.StatePending, Name: "Pending", StateDetails: prefect.StateDetails{TransitionID: "earlier-transition"}}, "already pending")},
			wantProposal: -1, wantClaim: "earlier-transition",
			wantObserved: []string{"accepted"},
			wantCalls:    []string{"SetFlowRunState"},
		},
		{
			name:         "rejected for a Pending state without a transition id",
			answers:      []answer{rejected(&prefect.State{Type: prefect.StatePending, Name: "Pending"}, "")},
			wantProposal: 0, wantObserved: []string{"accepted"},
			wantCalls: []string{"SetFlowRunState"},
		},
		{
			name:         "rejected: the server moved the run elsewhere",
			answers:      []answer{rejected(&prefect.State{Type: prefect.StateCancelled, Name: "Cancelled"}, "The flow run was cancelled.")},
			wantProposal: -1, wantErr: "rejected: The flow run was cancelled.",
			wantObserved: []string{"rejected"},
			wantCalls:    []string{"SetFlowRunState"},
			wantLog:      `level=INFO msg="flow run not claimed: the server moved it elsewhere" flow_run=` + runID + ` state=CANCELLED/Cancelled reason="The flow run was cancelled."`,
		},
		{
			name:         "rejected without a state",
			answers:      []answer{rejected(nil, "no state")},
			wantProposal: -1, wantErr: "rejected: no state",
			wantObserved: []string{"rejected"},
			wantCalls:    []string{"SetFlowRunState"},
			wantLog:      `state="" reason="no state"`,
		},
		{
			name:         "aborted: another worker has it",
			answers:      []answer{aborted("This run is in a PENDING state and cannot transition to a PENDING state.")},
			wantProposal: -1, wantErr: "aborted: This run is in a PENDING state and cannot transition to a PENDING state.",
			wantObserved: []string{"aborted"},
			wantCalls:    []string{"SetFlowRunState"},
			wantLog:      `level=DEBUG msg="flow run not claimed" flow_run=` + runID,
		},
		{
			name:         "the proposal failed but the read-back finds it taken",
			answers:      []answer{failed(refused)},
			readBack:     inState(prefect.StatePending, "Pending", ""),
			wantProposal: 0, wantObserved: []string{"accepted"},
			wantCalls: []string{"SetFlowRunState", "ReadFlowRun"},
		},
		{
			name:         "the proposal failed and another worker's claim is on record",
			answers:      []answer{failed(refused)},
			readBack:     inState(prefect.StatePending, "Pending", "another-workers-transition"),
			wantProposal: -1, wantErr: refusedMsg,
			wantObserved: []string{"error"},
			wantCalls:    []string{"SetFlowRunState", "ReadFlowRun"},
			wantLog:      `level=WARN msg="could not claim the flow run; it stays scheduled for the next poll" flow_run=` + runID,
		},
		{
			name:         "the proposal failed and the run is in another state with its transition id",
			answers:      []answer{failed(refused)},
			readBack:     inState(prefect.StateRunning, "Running", ""),
			wantProposal: -1, wantErr: refusedMsg,
			wantObserved: []string{"error"},
			wantCalls:    []string{"SetFlowRunState", "ReadFlowRun"},
		},
		{
			name:    "the proposal failed and the read-back finds no state",
			answers: []answer{failed(refused)},
			readBack: func(context.Context, string) (*prefect.FlowRun, error) {
				return &prefect.FlowRun{}, nil
			},
			wantProposal: -1, wantErr: refusedMsg,
			wantObserved: []string{"error"},
			wantCalls:    []string{"SetFlowRunState", "ReadFlowRun"},
		},
		{
			name:         "the proposal and the read-back both failed: the proposal's error is reported",
			answers:      []answer{failed(refused)},
			wantProposal: -1, wantErr: refusedMsg,
			wantObserved: []string{"error"},
			wantCalls:    []string{"SetFlowRunState", "ReadFlowRun"},
		},
		{
			name:         "Prefect refused the proposal itself",
			answers:      []answer{failed(prefectAnswer(setState, "POST", "/flow_runs/"+runID+"/set_state", 404, "Flow run not found"))},
			readBack:     inState(prefect.StateScheduled, "Scheduled", "x"),
			wantProposal: -1, wantErr: setState + ": POST /flow_runs/" + runID + "/set_state: 404 Not Found: Flow run not found",
			wantObserved: []string{"error"},
			wantCalls:    []string{"SetFlowRunState", "ReadFlowRun"},
		},
		{
			name:         "a stopping worker still reads back with a context it does not cancel",
			answers:      []answer{failed(&prefecterr.TransportError{Op: setState, Method: "POST", URL: setURL, Err: context.Canceled})},
			readBack:     inState(prefect.StatePending, "Pending", ""),
			cancelled:    true,
			wantProposal: 0, wantObserved: []string{"accepted"},
			wantCalls: []string{"SetFlowRunState", "ReadFlowRun"},
		},
		{
			name:    "the read-back runs under the Detach hook's context",
			answers: []answer{failed(refused)},
			readBack: func(ctx context.Context, proposed string) (*prefect.FlowRun, error) {
				if ctx.Value(detachKey{}) == nil {
					return nil, errors.New("read back without the Detach hook's context")
				}
				return inState(prefect.StatePending, "Pending", "")(ctx, proposed)
			},
			detach:       true,
			wantProposal: 0, wantObserved: []string{"accepted"},
			wantCalls: []string{"SetFlowRunState", "ReadFlowRun"},
		},
		{
			name:         "without Observe and Log",
			answers:      []answer{aborted("not scheduled")},
			quiet:        true,
			wantProposal: -1, wantErr: "aborted: not scheduled",
			wantCalls: []string{"SetFlowRunState"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api := &fakePrefect{answers: slices.Clone(tt.answers), readBack: tt.readBack}
			rec := &sleeps{err: tt.sleepErr}
			var observed []string
			var logs bytes.Buffer
			c := submission.Claimer{API: api, Sleep: rec.sleep}
			if !tt.quiet {
				c.Observe = func(outcome string) { observed = append(observed, outcome) }
				c.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{
					Level: slog.LevelDebug,
					ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
						if a.Key == slog.TimeKey {
							return slog.Attr{}
						}
						return a
					},
				}))
			}
			if tt.defaultSleep {
				c.Sleep = nil
			}
			detached := 0
			if tt.detach {
				c.Detach = func(ctx context.Context) (context.Context, context.CancelFunc) {
					detached++
					return context.WithCancel(context.WithValue(context.WithoutCancel(ctx), detachKey{}, true))
				}
			}
			ctx := context.Background()
			if tt.cancelled {
				cctx, cancel := context.WithCancel(ctx)
				cancel()
				ctx = cctx
			}

			claim, err := c.Claim(ctx, runID)

			if tt.wantErr != "" {
				checkStepError(t, err, submission.StepClaim, submission.NotClaimed, tt.wantErr)
				if claim != "" {
					t.Errorf("claim = %q with an error", claim)
				}
			} else if err != nil {
				t.Fatalf("Claim: %v", err)
			}
			want := tt.wantClaim
			if tt.wantProposal >= 0 {
				if tt.wantProposal >= len(api.proposals) {
					t.Fatalf("want the claim of proposal %d, made %d", tt.wantProposal, len(api.proposals))
				}
				want = api.proposals[tt.wantProposal].TransitionID
			}
			if claim != want {
				t.Errorf("claim = %q, want %q", claim, want)
			}
			if !slices.Equal(api.calls, tt.wantCalls) {
				t.Errorf("calls = %v, want %v", api.calls, tt.wantCalls)
			}
			seen := map[string]bool{}
			for i, p := range api.proposals {
				if p.Type != prefect.StatePending || p.Name != "Pending" || api.forced[i] {
					t.Errorf("proposal %d = %s/%s (force %t), want PENDING/Pending unforced", i, p.Type, p.Name, api.forced[i])
				}
				if p.TransitionID == "" || seen[p.TransitionID] {
					t.Errorf("proposal %d has transition id %q: each proposal needs a fresh one", i, p.TransitionID)
				}
				seen[p.TransitionID] = true
			}
			if !slices.Equal(observed, tt.wantObserved) {
				t.Errorf("observed = %v, want %v", observed, tt.wantObserved)
			}
			if !slices.Equal(rec.waits, tt.wantWaits) {
				t.Errorf("waits = %v, want %v", rec.waits, tt.wantWaits)
			}
			if tt.detach && detached != 1 {
				t.Errorf("Detach called %d times, want 1", detached)
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log:\n%s\nwant it to contain: %s", logs.String(), tt.wantLog)
			}
		})
	}
}

func TestClaimOf(t *testing.T) {
	t.Parallel()
	pending := func(name, tid string) *prefect.State {
		return &prefect.State{Type: prefect.StatePending, Name: name, StateDetails: prefect.StateDetails{TransitionID: tid}}
	}
	labels := func(claim any) *jsonv.Object {
		o := jsonv.NewObject()
		o.Set("prefect.worker.name", "w")
		o.Set(submission.ClaimLabel, claim)
		return o
	}
	tests := []struct {
		name   string
		run    prefect.FlowRun
		want   string
		wantOK bool
	}{
		{"the claim label", prefect.FlowRun{Labels: labels("label-claim"), State: &prefect.State{Type: prefect.StateRunning, Name: "Running"}}, "label-claim", true},
		{"the label wins over the Pending state's transition", prefect.FlowRun{Labels: labels("label-claim"), State: pending("Pending", "state-claim")}, "label-claim", true},
		{"the Pending state of the claim", prefect.FlowRun{State: pending("Pending", "state-claim")}, "state-claim", true},
		{"an empty label falls back to the state", prefect.FlowRun{Labels: labels(""), State: pending("Pending", "state-claim")}, "state-claim", true},
		{"a label that is not a string", prefect.FlowRun{Labels: labels(42.0)}, "", false},
		{"a Pending state of another name is not a claim", prefect.FlowRun{State: pending("AwaitingConcurrencySlot", "tid")}, "", false},
		{"a Pending state without a transition id", prefect.FlowRun{State: pending("Pending", "")}, "", false},
		{"a scheduled run", prefect.FlowRun{State: &prefect.State{Type: prefect.StateScheduled, Name: "Pending", StateDetails: prefect.StateDetails{TransitionID: "tid"}}}, "", false},
		{"no state, no labels", prefect.FlowRun{}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := submission.ClaimOf(tt.run)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("ClaimOf = %q, %t; want %q, %t", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
