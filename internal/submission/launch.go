package submission

import (
	"context"

	"github.com/ecsworker/ecsworker/internal/ecsrequest"
	"github.com/ecsworker/ecsworker/internal/launch"
	"github.com/ecsworker/ecsworker/internal/prefectpool"
)

// Launcher starts a plan's task (launch.Launcher).
type Launcher interface {
	Launch(ctx context.Context, plan *ecsrequest.Plan, token string) (*launch.Launched, error)
}

// Claimed is a run this worker claimed, with what its labels say.
type Claimed struct {
	RunID   string
	ClaimID string
	// Worker and Pool name who launched it; any worker can resume the
	// launch later from the claim label, with the same client token.
	WorkerName, WorkerType string
	Pool                   *prefectpool.WorkPool
}

// Labels are the run labels recorded before its task is launched.
func (c Claimed) Labels() map[string]any {
	return map[string]any{
		"prefect.worker.name":    c.WorkerName,
		"prefect.worker.type":    c.WorkerType,
		"prefect.work-pool.name": c.Pool.Name,
		"prefect.work-pool.id":   c.Pool.ID,
		ClaimLabel:               c.ClaimID,
	}
}

// Launch records the claim on the run, then starts its task with the
// claim's client token. Without the claim label on record no task is
// started: the label is what lets another worker resume the launch.
func Launch(ctx context.Context, api Prefect, l Launcher, c Claimed, plan *ecsrequest.Plan) (*launch.Launched, error) {
	if err := api.UpdateFlowRunLabels(ctx, c.RunID, c.Labels()); err != nil {
		return nil, Failed(StepLaunch, err)
	}
	launched, err := l.Launch(ctx, plan, launch.ClientToken(c.RunID, c.ClaimID))
	if err != nil {
		return nil, Failed(StepLaunch, err)
	}
	return launched, nil
}
