// Package runreport is what the worker tells Prefect about a flow run: its
// messages in the run's logs (batched, as Prefect's own handler sends
// them), the states it forces or proposes (Crashed, Cancelled), and the
// worker's events. Reports outlive a stopping worker's context, within its
// hard stop, so that a run the worker gave up on is still reported.
package runreport

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectevents"
)

// LogsAPI receives a run's log records.
type LogsAPI interface {
	CreateLogs(ctx context.Context, logs []prefect.LogCreate) error
}

// API is what reporting asks of Prefect.
type API interface {
	LogsAPI
	SetFlowRunState(ctx context.Context, id string, s prefect.StateCreate, force bool) (*prefect.OrchestrationResult, error)
}

// Options configure a Reporter.
type Options struct {
	Log *slog.Logger
	Now func() time.Time
	// Detach returns a context for a report that the worker's stop does
	// not cancel but its hard stop does.
	Detach func(context.Context) (context.Context, context.CancelFunc)
	// Source describes the worker in its events.
	Source func() prefect.WorkerEventSource
	// Notify, when set, hears of every step that changed a run (Config.Notify).
	Notify func(event, flowRunID string)
}

// Reporter reports one worker's runs to Prefect.
type Reporter struct {
	api  API
	opts Options
	logs *runLogger

	mu      sync.Mutex
	emitter *prefectevents.EventEmitter // nil when events cannot be sent
}

// New makes a Reporter.
func New(api API, opts Options) *Reporter {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Detach == nil {
		opts.Detach = func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithCancel(context.WithoutCancel(ctx))
		}
	}
	return &Reporter{api: api, opts: opts, logs: newRunLogger(api, opts.Log, opts.Now)}
}

// Log writes a message to the worker's log and to the flow run's logs.
func (r *Reporter) Log(runID string, level int, message string) {
	r.LogAt(runID, level, message, r.opts.Now())
}

// LogAt is Log for a message written at another time (a task's log line).
func (r *Reporter) LogAt(runID string, level int, message string, at time.Time) {
	r.opts.Log.Log(context.Background(), slogLevel(level), message, "flow_run", runID)
	r.logs.add(runID, level, message, at)
}

// SetWorkerID names the worker in the log records sent from now on.
func (r *Reporter) SetWorkerID(id string) { r.logs.setWorkerID(id) }

// SendLogs sends the runs' log records every two seconds until ctx ends.
func (r *Reporter) SendLogs(ctx context.Context, wg *sync.WaitGroup) { r.logs.start(ctx, wg) }

// FlushLogs sends what is pending now.
func (r *Reporter) FlushLogs(ctx context.Context) { r.logs.flush(ctx) }

// Notify tells Options.Notify about a step.
func (r *Reporter) Notify(event, runID string) {
	if r.opts.Notify != nil {
		r.opts.Notify(event, runID)
	}
}

// stateTimeout bounds one state report, retries included.
const stateTimeout = time.Minute

// Crash proposes Crashed. The error is for proposals that did not reach
// Prefect (worth retrying); a refusal (the run already ended) is an answer,
// not an error.
func (r *Reporter) Crash(ctx context.Context, runID, message string) error {
	ctx, cancel := r.opts.Detach(ctx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, stateTimeout)
	defer cancelTimeout()
	res, err := r.api.SetFlowRunState(ctx, runID, prefect.StateCreate{Type: prefect.StateCrashed, Name: "Crashed", Message: message}, false)
	switch {
	case errors.Is(err, prefect.ErrNotFound):
	case err != nil:
		r.opts.Log.Error("could not report the flow run as crashed", "flow_run", runID, "message", message, "err", err)
		return err
	case res.Status == prefect.StatusAccept:
		r.opts.Log.Info("reported flow run as crashed", "flow_run", runID, "message", message)
	default:
		r.opts.Log.Debug("crash report not accepted (the run already ended)", "flow_run", runID, "status", res.Status, "reason", res.Details.Reason)
	}
	return nil
}

// ForceState sets a run's state whatever Prefect's rules say, and says why
// in the run's logs.
func (r *Reporter) ForceState(ctx context.Context, runID string, typ prefect.StateType, name, message string) error {
	ctx, cancel := r.opts.Detach(ctx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, stateTimeout)
	defer cancelTimeout()
	if _, err := r.api.SetFlowRunState(ctx, runID, prefect.StateCreate{Type: typ, Name: name, Message: message}, true); err != nil && !errors.Is(err, prefect.ErrNotFound) {
		r.opts.Log.Error("could not set the flow run's state", "flow_run", runID, "state", name, "err", err)
		return err
	}
	r.Log(runID, prefect.LevelInfo, message)
	return nil
}

// Cancel marks a run Cancelled. A report Prefect did not take was logged;
// the run then stays Cancelling and the next cancellation pass, or its
// task's stop, reports it again.
func (r *Reporter) Cancel(ctx context.Context, runID, message string) {
	_ = r.ForceState(ctx, runID, prefect.StateCancelled, "Cancelled", message)
}

// SetEmitter makes Emit send events through em.
func (r *Reporter) SetEmitter(em *prefectevents.EventEmitter) {
	r.mu.Lock()
	r.emitter = em
	r.mu.Unlock()
}

// Source describes the worker in the events it emits.
func (r *Reporter) Source() prefect.WorkerEventSource {
	if r.opts.Source == nil {
		return prefect.WorkerEventSource{}
	}
	return r.opts.Source()
}

// Emit sends one of the worker's own events (the ones Prefect's UI and
// automations know from the Python worker); a server without events is
// not an error.
func (r *Reporter) Emit(ev prefectevents.Event) {
	r.mu.Lock()
	em := r.emitter
	r.mu.Unlock()
	if em == nil {
		return
	}
	if err := em.Emit(ev); err != nil {
		r.opts.Log.Debug("could not emit a worker event", "event", ev.Event, "err", err)
	}
}
