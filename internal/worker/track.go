package worker

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/ecsworker/ecsworker/internal/launch"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/tasklogs"
	"github.com/ecsworker/ecsworker/internal/tracking"
)

// logLinesForwarded is how many lines of a task that never ran are copied
// into the flow run's logs: enough for a stack trace, few enough not to
// flood Prefect's log view.
const logLinesForwarded = 50

// track starts following a run's task.
func (w *Worker) track(runID, identifier string, ref tracking.TaskRef, b *backend, launched *launch.Launched, deregister bool) {
	tr := &trackedRun{flowRunID: runID, identifier: identifier, ref: ref, backend: b, deregister: deregister, submittedAt: w.cfg.Now()}
	if launched != nil && launched.Registered {
		tr.registered = launched.TaskDefinitionARN
	}
	w.mu.Lock()
	if old := w.runs[runID]; old != nil && w.byTask[old.ref.TaskARN] == old {
		delete(w.byTask, old.ref.TaskARN)
		old.backend.tracked--
	}
	if prev := w.byTask[ref.TaskARN]; prev != nil {
		prev.backend.tracked--
	}
	w.runs[runID] = tr
	w.byTask[ref.TaskARN] = tr
	b.tracked++
	w.metrics.inFlight.Set(float64(len(w.runs)))
	w.mu.Unlock()
	b.tracker.Track(ref)
}

func (w *Worker) untrack(tr *trackedRun) {
	w.mu.Lock()
	if w.runs[tr.flowRunID] == tr {
		delete(w.runs, tr.flowRunID)
	}
	if w.byTask[tr.ref.TaskARN] == tr {
		delete(w.byTask, tr.ref.TaskARN)
		tr.backend.tracked--
	}
	w.metrics.inFlight.Set(float64(len(w.runs)))
	w.mu.Unlock()
	tr.backend.tracker.Forget(tr.ref.TaskARN)
}

func (w *Worker) trackedByTask(arn string) *trackedRun {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.byTask[arn]
}

// updateShards is how many task updates are reported to Prefect at once.
// Each takes a Prefect call or two; one at a time, a worker with thousands
// of tasks starting together would fall minutes behind (and hold their
// updates in memory meanwhile). Updates of one task stay in order: they
// always go to the same shard.
const updateShards = 16

// handleUpdates reports task changes to Prefect until ctx ends.
func (w *Worker) handleUpdates(ctx context.Context, b *backend) {
	var shards [updateShards]chan tracking.TaskUpdate
	var wg sync.WaitGroup
	for i := range shards {
		shards[i] = make(chan tracking.TaskUpdate, 64)
		wg.Add(1)
		go func(in <-chan tracking.TaskUpdate) {
			defer wg.Done()
			for u := range in {
				w.onUpdate(ctx, u)
			}
		}(shards[i])
	}
	defer func() {
		for _, c := range shards {
			close(c)
		}
		wg.Wait()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case u, ok := <-b.tracker.Updates():
			if !ok {
				return
			}
			h := fnv.New32a()
			h.Write([]byte(u.Ref.TaskARN))
			select {
			case shards[h.Sum32()%updateShards] <- u:
			case <-ctx.Done():
				return
			}
		}
	}
}

func (w *Worker) onUpdate(ctx context.Context, u tracking.TaskUpdate) {
	tr := w.trackedByTask(u.Ref.TaskARN)
	if tr == nil {
		return
	}
	w.mu.Lock()
	tr.lastStatus = u.LastStatus
	if u.LastStatus == "RUNNING" || (u.Task.StartedAt != nil && !u.Task.StartedAt.IsZero()) {
		tr.started = true
	}
	w.mu.Unlock()
	switch {
	case u.Stopped:
		w.settle(ctx, tr, u)
	case u.LastStatus == "PROVISIONING" || u.LastStatus == "PENDING" || u.LastStatus == "ACTIVATING":
		w.mu.Lock()
		first := !tr.markedPending
		tr.markedPending = true
		w.mu.Unlock()
		if first {
			w.markInfrastructurePending(ctx, tr.flowRunID, u.LastStatus)
		}
		w.notify("task-"+lower(u.LastStatus), tr.flowRunID)
	default:
		w.notify("task-"+lower(u.LastStatus), tr.flowRunID)
	}
}

// markInfrastructurePending tells Prefect the run waits for ECS, as the
// Python observer does, unless the flow has moved on already.
func (w *Worker) markInfrastructurePending(ctx context.Context, runID, status string) {
	run, err := w.api.ReadFlowRun(ctx, runID)
	if err != nil || run.State == nil || run.State.Type != prefect.StatePending || run.State.Name == "InfrastructurePending" {
		return
	}
	msg := fmt.Sprintf("ECS task is %s.", lower(status))
	if _, err := w.api.SetFlowRunState(ctx, runID, prefect.StateCreate{Type: prefect.StatePending, Name: "InfrastructurePending", Message: msg}, false); err != nil && ctx.Err() == nil {
		w.log.Debug("could not mark the run InfrastructurePending", "flow_run", runID, "err", err)
	}
}

// onStopped settles a run whose task stopped: a crash (with its diagnosis
// and, for a task that never ran, its last log lines), a cancellation that
// the flow never got to handle, or nothing when the flow reported its own
// final state.
func (w *Worker) onStopped(ctx context.Context, tr *trackedRun, u tracking.TaskUpdate) error {
	d := u.Diagnosis
	if tr.run != nil {
		code := -1
		if d != nil && d.ExitCode != nil {
			code = *d.ExitCode
		}
		w.emit(prefect.ExecutedFlowRunEvent(w.eventSource(), tr.run, tr.deployment, tr.flow, tr.identifier, code, tr.submittedEvent))
	}
	run, err := w.api.ReadFlowRun(ctx, tr.flowRunID)
	if errors.Is(err, prefect.ErrNotFound) {
		return nil
	}
	if err != nil {
		w.log.Warn("task stopped but the flow run cannot be read; retrying", "flow_run", tr.flowRunID, "err", err)
		return err
	}
	st := run.StateType
	switch {
	case st == prefect.StateCancelling:
		return w.forceState(ctx, run.ID, prefect.StateCancelled, "Cancelled", "Flow run cancelled: its ECS task stopped.")
	case st.IsTerminal() || st == prefect.StateScheduled || st == prefect.StatePaused:
		return nil
	}
	if st == prefect.StatePending && (d == nil || !d.Crash) {
		// The task ended without the flow ever starting (no RUNNING state),
		// yet nothing failed: the container did not run the flow. Left as
		// it is, the run would stay Pending for ever.
		msg := "The ECS task stopped before the flow started, although its containers exited cleanly: the container did not run the flow. Check the command job variable and the image's entrypoint (the command should be `prefect flow-run execute`)."
		if d != nil && d.Summary != "" {
			msg = d.Message() + " " + msg
		}
		if err := w.crash(ctx, run.ID, msg); err != nil {
			return err
		}
		w.runLog(run.ID, prefect.LevelError, msg)
		w.metrics.crashes.WithLabelValues("flow_never_started").Inc()
		return nil
	}
	if d == nil || !d.Crash {
		return nil
	}
	if err := w.crash(ctx, run.ID, d.Message()); err != nil {
		return err
	}
	if d.Summary != "" {
		w.runLog(run.ID, prefect.LevelError, d.Message())
	}
	w.metrics.crashes.WithLabelValues(string(d.Cause)).Inc()
	if !tr.started && st != prefect.StateRunning {
		w.forwardLogs(ctx, tr, u.Task)
	}
	return nil
}

// settle reports a stopped task to Prefect. When Prefect cannot be reached
// the stop is kept and retried (settleLoop), and the task stays on record:
// a stop is never dropped for an outage.
func (w *Worker) settle(ctx context.Context, tr *trackedRun, u tracking.TaskUpdate) {
	if err := w.onStopped(ctx, tr, u); err != nil && ctx.Err() == nil {
		w.mu.Lock()
		w.unsettled[tr.flowRunID] = unsettledStop{tr: tr, update: u}
		w.mu.Unlock()
		return
	}
	w.mu.Lock()
	delete(w.unsettled, tr.flowRunID)
	w.mu.Unlock()
	if u.Diagnosis != nil {
		w.metrics.stops.WithLabelValues(string(u.Diagnosis.Cause)).Inc()
	}
	w.deregister(ctx, tr)
	w.untrack(tr)
	w.notify("task-stopped", tr.flowRunID)
}

type unsettledStop struct {
	tr     *trackedRun
	update tracking.TaskUpdate
}

// settleLoop retries the stops Prefect could not be told about.
func (w *Worker) settleLoop(ctx context.Context) {
	every(ctx, w.cfg.CancelInterval, nil, func() {
		w.mu.Lock()
		pending := make([]unsettledStop, 0, len(w.unsettled))
		for _, s := range w.unsettled {
			pending = append(pending, s)
		}
		w.mu.Unlock()
		for _, s := range pending {
			w.settle(ctx, s.tr, s.update)
		}
	})
}

// forwardLogs copies the last lines a task wrote to CloudWatch into the
// flow run's logs: a flow that never started has nothing else to show.
func (w *Worker) forwardLogs(ctx context.Context, tr *trackedRun, task ecstypes.Task) {
	perms := tr.backend.clients.Permissions
	if task.TaskDefinitionArn == nil || !perms.Usable("ecs:DescribeTaskDefinition", "") {
		return
	}
	out, err := tr.backend.clients.ECS.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: task.TaskDefinitionArn})
	if err != nil || out.TaskDefinition == nil {
		perms.Note("ecs:DescribeTaskDefinition", "", err)
		return
	}
	src, ok := tasklogs.SourceFor(*out.TaskDefinition, tr.ref.ContainerName, tr.ref.TaskARN)
	if !ok {
		return
	}
	lines, err := tr.backend.logs.Tail(ctx, src, logLinesForwarded)
	if errors.Is(err, tasklogs.ErrUnreadable) {
		w.runLog(tr.flowRunID, prefect.LevelInfo, fmt.Sprintf("The task's log (%s, %s) could not be read: the worker's AWS identity may not use logs:GetLogEvents on that log group.", src.Group, src.Stream))
		return
	}
	if err != nil || len(lines) == 0 {
		return
	}
	w.runLog(tr.flowRunID, prefect.LevelInfo, fmt.Sprintf("Last %d lines of the task's log (%s, %s):", len(lines), src.Group, src.Stream))
	for _, l := range lines {
		w.runLogAt(tr.flowRunID, prefect.LevelInfo, l.Message, l.Time)
	}
}

// deregister removes a task definition registered for this run when the
// job asked for it (auto_deregister_task_definition).
func (w *Worker) deregister(ctx context.Context, tr *trackedRun) {
	if !tr.deregister || tr.registered == "" {
		return
	}
	arn := tr.registered
	perms := tr.backend.clients.Permissions
	if !perms.Usable("ecs:DeregisterTaskDefinition", "") {
		return // refused before, and said so then
	}
	if _, err := tr.backend.clients.ECS.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: &arn}); err != nil {
		if !perms.Note("ecs:DeregisterTaskDefinition", "", err) {
			w.log.Warn("could not deregister the run's task definition", "task_definition", arn, "err", err)
		}
		return
	}
	tr.backend.tds.Invalidate(arn)
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}
