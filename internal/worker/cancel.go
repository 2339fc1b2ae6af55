package worker

import (
	"context"

	"github.com/ecsworker/ecsworker/internal/prefect"
)

func (w *Worker) cancelLoop(ctx context.Context) {
	every(ctx, w.cfg.CancelInterval, w.cancelNow, func() { w.cancelOnce(ctx) })
}

// CancelNow asks for a look at cancelling runs at once (an event said one is).
func (w *Worker) CancelNow() {
	select {
	case w.cancelNow <- struct{}{}:
	default:
	}
}

// settleLoop reports again the task stops Prefect could not be told about.
func (w *Worker) settleLoop(ctx context.Context) {
	every(ctx, w.cfg.CancelInterval, nil, func() { w.runs.SettlePending(ctx) })
}

// cancelOnce hands the pool's CANCELLING runs to the runs in flight, which
// stop the tasks of those whose flow has not started.
func (w *Worker) cancelOnce(ctx context.Context) {
	pool, _ := w.snapshot()
	if pool == nil {
		return
	}
	runs, err := w.api.ListFlowRuns(ctx, prefect.FlowRunFilter{WorkPoolNames: []string{pool.Name}, StateTypes: []prefect.StateType{prefect.StateCancelling}, Limit: 200})
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn("could not list cancelling flow runs", "err", err)
		}
		return
	}
	for _, run := range runs {
		w.runs.Cancel(ctx, run)
	}
}
