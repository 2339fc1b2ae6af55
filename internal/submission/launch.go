package submission

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/ecsworker/ecsworker/internal/awserr"
	"github.com/ecsworker/ecsworker/internal/ecsrequest"
	"github.com/ecsworker/ecsworker/internal/launch"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectpool"
	"github.com/ecsworker/ecsworker/internal/startphase"
)

// Launcher starts a plan's task (launch.Launcher).
type Launcher interface {
	Launch(ctx context.Context, plan *ecsrequest.Plan, token string) (*launch.Launched, error)
}

// The labels that record a capacity fallback on the run. CapacityStepLabel
// is written before each step's RunTask, so that a launch resumed later
// (another worker, a restart) starts from that step with that step's
// token and never goes back to an earlier one, whose token could start a
// second task. CapacityLabel names the capacity the task got, once it has
// one ("FARGATE_SPOT", "FARGATE", "EC2", a provider's name). Runs without
// capacity_fallback get neither.
const (
	CapacityStepLabel = "ecsworker.capacity-step"
	CapacityLabel     = startphase.CapacityLabel
)

// Claimed is a run this worker claimed, with what its labels say.
type Claimed struct {
	RunID   string
	ClaimID string
	// Worker and Pool name who launched it; any worker can resume the
	// launch later from the claim label, with the same client token.
	WorkerName, WorkerType string
	Pool                   *prefectpool.WorkPool
	// Step is the capacity step to start from: 0 for a new claim, the
	// recorded step when a launch is resumed (CapacityStepOf).
	Step int
	// FellBack, when set, is told each move to the next capacity step.
	FellBack func(from, to int, steps []ecsrequest.CapacityStep, err error)
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

// CapacityStepOf is the capacity step a run's launch for claim got to, as
// its labels record it: 0 when none is recorded for that claim (a claim
// label of an earlier attempt of the run does not count).
func CapacityStepOf(run prefect.FlowRun, claim string) int {
	if run.Labels.GetString(ClaimLabel) != claim {
		return 0
	}
	v, _ := run.Labels.Get(CapacityStepLabel)
	var s string
	switch t := v.(type) {
	case string:
		s = t
	case interface{ String() string }: // json.Number
		s = t.String()
	default:
		return 0
	}
	k, err := strconv.Atoi(s)
	if err != nil || k < 0 {
		return 0
	}
	return k
}

// CapacityOf is the capacity the run's task got, as recorded.
func CapacityOf(run prefect.FlowRun) string {
	v, _ := run.Labels.Get(CapacityLabel)
	s, _ := v.(string)
	return s
}

// Launch records the claim on the run, then starts its task with the
// claim's client token. Without the claim label on record no task is
// started: the label is what lets another worker resume the launch.
//
// With a capacity fallback (plan.Fallback), each step is tried in turn
// from c.Step while ECS answers that it has no capacity, each under its
// own token (launch.StepToken), and each recorded on the run before its
// RunTask. Only the last step waits out a shortage with retries.
func Launch(ctx context.Context, api Prefect, l Launcher, c Claimed, plan *ecsrequest.Plan) (*launch.Launched, error) {
	steps := plan.Steps()
	from := c.Step
	if from >= len(steps) {
		return nil, Crashf(StepLaunch, "this run's launch had reached capacity step %d, but capacity_fallback now has %d steps; it is not launched again on an earlier step, whose token could start a second task. Restore the step in capacity_fallback, or run the flow again", from, len(steps)-1)
	}
	labels := c.Labels()
	if len(steps) > 1 {
		labels[CapacityStepLabel] = from
	}
	if err := api.UpdateFlowRunLabels(ctx, c.RunID, labels); err != nil {
		return nil, Failed(StepLaunch, err)
	}
	for k := from; ; k++ {
		if k > from {
			if err := api.UpdateFlowRunLabels(ctx, c.RunID, map[string]any{CapacityStepLabel: k}); err != nil {
				return nil, Failed(StepLaunch, err)
			}
		}
		launched, err := l.Launch(ctx, plan.AtStep(k), launch.StepToken(c.RunID, c.ClaimID, k))
		if err == nil {
			launched.Step, launched.Capacity = k, steps[k].Name()
			if len(steps) > 1 {
				// Informational, and read by a Spot relaunch: a failure
				// leaves the step label, which is what matters.
				_ = api.UpdateFlowRunLabels(ctx, c.RunID, map[string]any{CapacityLabel: launched.Capacity})
			}
			return launched, nil
		}
		if !awserr.IsCapacity(err) || k == len(steps)-1 {
			if awserr.IsCapacity(err) && len(steps) > 1 {
				err = fmt.Errorf("no capacity on any step of capacity_fallback (tried %s): %w", triedSteps(steps, k), err)
			}
			return nil, Failed(StepLaunch, err)
		}
		if c.FellBack != nil {
			c.FellBack(k, k+1, steps, err)
		}
	}
}

// triedSteps names steps 0..last, in order.
func triedSteps(steps []ecsrequest.CapacityStep, last int) string {
	names := make([]string, 0, last+1)
	for i := 0; i <= last; i++ {
		names = append(names, steps[i].Name())
	}
	return strings.Join(names, ", then ")
}

// FallbackMessage is what the run's logs say when step to-1 had no
// capacity: "No Fargate Spot capacity: falling back to FARGATE (step 2 of
// 2)". Steps are counted from 1 here, for people; the step label counts
// from 0, the deployment's own launch choice.
func FallbackMessage(steps []ecsrequest.CapacityStep, to int) string {
	from := steps[to-1]
	what := from.Name() + " capacity"
	switch {
	case from.IsSpot():
		what = "Fargate Spot capacity"
	case from.Name() == "FARGATE":
		what = "Fargate capacity"
	}
	return fmt.Sprintf("No %s: falling back to %s (step %d of %d)", what, steps[to].Name(), to+1, len(steps))
}
