package submission

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/ecsworker/ecsworker/internal/backoff"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectapi"
)

// Prefect is what the steps ask of Prefect.
type Prefect interface {
	ReadFlowRun(ctx context.Context, id string) (*prefect.FlowRun, error)
	SetFlowRunState(ctx context.Context, id string, s prefect.StateCreate, force bool) (*prefect.OrchestrationResult, error)
	UpdateFlowRunLabels(ctx context.Context, id string, labels map[string]any) error
}

// Claimer takes scheduled runs for one worker.
type Claimer struct {
	API Prefect
	// Detach gives the read-back after a failed proposal a context that a
	// stopping worker does not cancel: the proposal may have been taken.
	Detach func(context.Context) (context.Context, context.CancelFunc)
	// Observe, when set, counts every proposal's outcome: accepted, wait,
	// rejected, aborted or error.
	Observe func(outcome string)
	Log     *slog.Logger
	// Sleep waits out a WAIT answer; backoff.Sleep when nil.
	Sleep func(context.Context, time.Duration) error
}

// maxClaimWaits bounds the WAIT answers one claim sits through.
const maxClaimWaits = 10

// Claim proposes PENDING, Prefect's way of taking a run: only one worker's
// proposal is accepted. It returns the accepted proposal's transition id,
// which the ECS client token is derived from, or an *Error of kind
// NotClaimed.
func (c Claimer) Claim(ctx context.Context, runID string) (string, error) {
	sleep := c.Sleep
	if sleep == nil {
		sleep = backoff.Sleep
	}
	for range maxClaimWaits {
		tid := prefectapi.NewUUID()
		res, err := c.API.SetFlowRunState(ctx, runID, prefect.StateCreate{Type: prefect.StatePending, Name: "Pending", TransitionID: tid}, false)
		if err != nil {
			// The server may have taken the proposal before the
			// connection broke: the transition id tells.
			rctx, cancel := c.detach(ctx)
			cur, rerr := c.API.ReadFlowRun(rctx, runID)
			cancel()
			if rerr == nil && cur.State != nil &&
				cur.State.Type == prefect.StatePending && cur.State.StateDetails.TransitionID == tid {
				c.observe("accepted")
				return tid, nil
			}
			c.log().Warn("could not claim the flow run; it stays scheduled for the next poll", "flow_run", runID, "err", err)
			c.observe("error")
			return "", &Error{Step: StepClaim, Kind: NotClaimed, Err: err}
		}
		switch res.Status {
		case prefect.StatusAccept:
			c.observe("accepted")
			return tid, nil
		case prefect.StatusWait:
			c.observe("wait")
			if err := sleep(ctx, time.Duration(res.Details.DelaySeconds)*time.Second); err != nil {
				return "", &Error{Step: StepClaim, Kind: NotClaimed, Err: err}
			}
		case prefect.StatusReject:
			if res.State != nil && res.State.Type == prefect.StatePending {
				c.observe("accepted")
				if id := res.State.StateDetails.TransitionID; id != "" {
					return id, nil
				}
				return tid, nil
			}
			c.log().Info("flow run not claimed: the server moved it elsewhere", "flow_run", runID, "state", stateName(res.State), "reason", res.Details.Reason)
			c.observe("rejected")
			return "", &Error{Step: StepClaim, Kind: NotClaimed, Err: errors.New("rejected: " + res.Details.Reason)}
		default: // ABORT: another worker has it, or it is no longer scheduled
			c.log().Debug("flow run not claimed", "flow_run", runID, "reason", res.Details.Reason)
			c.observe("aborted")
			return "", &Error{Step: StepClaim, Kind: NotClaimed, Err: errors.New("aborted: " + res.Details.Reason)}
		}
	}
	return "", &Error{Step: StepClaim, Kind: NotClaimed, Err: errors.New("the server kept answering WAIT")}
}

func (c Claimer) detach(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.Detach == nil {
		return context.WithCancel(context.WithoutCancel(ctx))
	}
	return c.Detach(ctx)
}

func (c Claimer) observe(outcome string) {
	if c.Observe != nil {
		c.Observe(outcome)
	}
}

func (c Claimer) log() *slog.Logger {
	if c.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Log
}

// ClaimLabel records on a flow run the claim (PENDING transition id) its
// task was launched for; the ECS client token is derived from it.
const ClaimLabel = "ecsworker.io/claim"

// ClaimOf returns the claim a run's task was (or is to be) launched for:
// the claim label recorded before RunTask or, for a run still in the
// Pending state of its claim, that state's transition id.
func ClaimOf(run prefect.FlowRun) (string, bool) {
	if c := run.Labels.GetString(ClaimLabel); c != "" {
		return c, true
	}
	if run.State != nil && run.State.Type == prefect.StatePending && run.State.Name == "Pending" && run.State.StateDetails.TransitionID != "" {
		return run.State.StateDetails.TransitionID, true
	}
	return "", false
}

func stateName(s *prefect.State) string {
	if s == nil {
		return ""
	}
	return string(s.Type) + "/" + s.Name
}
