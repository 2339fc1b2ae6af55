package inflight

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/ecsworker/ecsworker/internal/diagnosis"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/tasklogs"
	"github.com/ecsworker/ecsworker/internal/tracking"
)

// logLinesForwarded is how many lines of a task that never ran are copied
// into the flow run's logs: enough for a stack trace, few enough not to
// flood Prefect's log view.
const logLinesForwarded = 50

// updateShards is how many task updates are reported to Prefect at once.
// Each takes a Prefect call or two; one at a time, a worker with thousands
// of tasks starting together would fall minutes behind (and hold their
// updates in memory meanwhile). Updates of one task stay in order: they
// always go to the same shard.
const updateShards = 16

// handleUpdates reports task changes to Prefect until ctx ends.
func (r *Runs) handleUpdates(ctx context.Context, b *Backend) {
	var shards [updateShards]chan tracking.TaskUpdate
	var wg sync.WaitGroup
	for i := range shards {
		shards[i] = make(chan tracking.TaskUpdate, 64)
		wg.Add(1)
		go func(in <-chan tracking.TaskUpdate) {
			defer wg.Done()
			for u := range in {
				r.onUpdate(ctx, u)
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
		case u, ok := <-b.Tracker.Updates():
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

func (r *Runs) onUpdate(ctx context.Context, u tracking.TaskUpdate) {
	tr := r.byTaskARN(u.Ref.TaskARN)
	if tr == nil {
		return
	}
	r.mu.Lock()
	if u.LastStatus == "RUNNING" || !u.StartedAt.IsZero() {
		tr.started = true
	}
	r.mu.Unlock()
	r.reportStart(ctx, tr, u)
	switch {
	case u.Stopped:
		r.settle(ctx, tr, u)
	case u.LastStatus == "PROVISIONING" || u.LastStatus == "PENDING" || u.LastStatus == "ACTIVATING":
		r.mu.Lock()
		first := !tr.markedPending
		tr.markedPending = true
		r.mu.Unlock()
		if first {
			r.markInfrastructurePending(ctx, tr.flowRunID(), u.LastStatus)
		}
		r.rep.Notify("task-"+lower(u.LastStatus), tr.flowRunID())
	default:
		r.rep.Notify("task-"+lower(u.LastStatus), tr.flowRunID())
	}
}

// markInfrastructurePending tells Prefect the run waits for ECS, as the
// Python observer does, unless the flow has moved on already.
func (r *Runs) markInfrastructurePending(ctx context.Context, runID, status string) {
	fr, err := r.opts.API.ReadFlowRun(ctx, runID)
	if err != nil || fr.State == nil || fr.State.Type != prefect.StatePending || fr.State.Name == "InfrastructurePending" {
		return
	}
	msg := fmt.Sprintf("ECS task is %s.", lower(status))
	if _, err := r.opts.API.SetFlowRunState(ctx, runID, prefect.StateCreate{Type: prefect.StatePending, Name: "InfrastructurePending", Message: msg}, false); err != nil && ctx.Err() == nil {
		r.opts.Log.Debug("could not mark the run InfrastructurePending", "flow_run", runID, "err", err)
	}
}

// onStopped settles a run whose task stopped: a crash (with its diagnosis
// and, for a task that never ran, its last log lines), a cancellation that
// the flow never got to handle, or nothing when the flow reported its own
// final state.
func (r *Runs) onStopped(ctx context.Context, tr *run, u tracking.TaskUpdate) error {
	d := u.Diagnosis
	if tr.subjects.RunID != "" {
		code := -1
		if d != nil && d.ExitCode != nil {
			code = *d.ExitCode
		}
		r.rep.Emit(prefect.ExecutedFlowRunEvent(r.rep.Source(), tr.subjects, tr.identifier(), code, tr.submittedEvent))
	}
	fr, err := r.opts.API.ReadFlowRun(ctx, tr.flowRunID())
	if errors.Is(err, prefect.ErrNotFound) {
		return nil
	}
	if err != nil {
		r.opts.Log.Warn("task stopped but the flow run cannot be read; retrying", "flow_run", tr.flowRunID(), "err", err)
		return err
	}
	// Without Prefect's events (or with one missed), the flow start
	// phase is known now, from when the run entered Running.
	r.reportFlowStart(ctx, tr, fr.StartTime.Time)
	st := fr.StateType
	switch {
	case st == prefect.StateCancelling:
		return r.rep.ForceState(ctx, fr.ID, prefect.StateCancelled, "Cancelled", "Flow run cancelled: its ECS task stopped.")
	case st.IsTerminal() || st == prefect.StateScheduled || st == prefect.StatePaused:
		return nil
	}
	if st == prefect.StatePending && d != nil && d.Cause == diagnosis.CauseSpotInterruption && r.opts.Relaunch != nil &&
		r.opts.Relaunch(ctx, *fr, Stopped{TaskARN: tr.ref.TaskARN, Capacity: r.capacityOf(ctx, tr)}) {
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
		if err := r.rep.Crash(ctx, fr.ID, msg); err != nil {
			return err
		}
		r.rep.Log(fr.ID, prefect.LevelError, msg)
		r.opts.Metrics.Crashes.WithLabelValues("flow_never_started").Inc()
		return nil
	}
	if d == nil || !d.Crash {
		return nil
	}
	if err := r.rep.Crash(ctx, fr.ID, d.Message()); err != nil {
		return err
	}
	if d.Summary != "" {
		r.rep.Log(fr.ID, prefect.LevelError, d.Message())
	}
	r.opts.Metrics.Crashes.WithLabelValues(string(d.Cause)).Inc()
	if !tr.started && st != prefect.StateRunning {
		r.forwardLogs(ctx, tr, u.TaskDefinitionARN)
	}
	return nil
}

// Stopped is a task Spot took back, as a relaunch needs to know it.
type Stopped struct {
	TaskARN string
	// Capacity is where it ran: its capacity provider, else its launch
	// type; "" when ECS could not say.
	Capacity string
}

// capacityOf asks ECS where a stopped task ran. The tracker does not keep
// it (every followed task would pay for it); only a Spot relaunch needs
// it, to tell which step the stopped task was launched on.
func (r *Runs) capacityOf(ctx context.Context, tr *run) string {
	if tr.backend.Clients == nil || tr.backend.Clients.ECS == nil {
		return ""
	}
	out, err := tr.backend.Clients.ECS.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: &tr.ref.Cluster, Tasks: []string{tr.ref.TaskARN}})
	if err != nil || len(out.Tasks) == 0 {
		return ""
	}
	if p := out.Tasks[0].CapacityProviderName; p != nil && *p != "" {
		return strings.Clone(*p)
	}
	return string(out.Tasks[0].LaunchType)
}

// settle reports a stopped task to Prefect. When Prefect cannot be reached
// the stop is kept and retried (settleLoop), and the task stays on record:
// a stop is never dropped for an outage.
func (r *Runs) settle(ctx context.Context, tr *run, u tracking.TaskUpdate) {
	if err := r.onStopped(ctx, tr, u); err != nil && ctx.Err() == nil {
		r.mu.Lock()
		r.unsettled[tr.flowRunID()] = unsettledStop{tr: tr, update: u}
		r.mu.Unlock()
		return
	}
	r.mu.Lock()
	delete(r.unsettled, tr.flowRunID())
	r.mu.Unlock()
	if u.Diagnosis != nil {
		r.opts.Metrics.Stops.WithLabelValues(string(u.Diagnosis.Cause)).Inc()
	}
	r.deregister(ctx, tr)
	r.untrack(tr)
	r.rep.Notify("task-stopped", tr.flowRunID())
}

type unsettledStop struct {
	tr     *run
	update tracking.TaskUpdate
}

// SettlePending reports again the stops Prefect could not be told about.
func (r *Runs) SettlePending(ctx context.Context) {
	r.mu.Lock()
	pending := make([]unsettledStop, 0, len(r.unsettled))
	for _, s := range r.unsettled {
		pending = append(pending, s)
	}
	r.mu.Unlock()
	for _, s := range pending {
		r.settle(ctx, s.tr, s.update)
	}
}

// forwardLogs copies the last lines a task wrote to CloudWatch into the
// flow run's logs: a flow that never started has nothing else to show.
func (r *Runs) forwardLogs(ctx context.Context, tr *run, taskDefinitionARN string) {
	perms := tr.backend.Clients.Permissions
	if taskDefinitionARN == "" || !perms.Usable("ecs:DescribeTaskDefinition", "") {
		return
	}
	out, err := tr.backend.Clients.ECS.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: &taskDefinitionARN})
	if err != nil || out.TaskDefinition == nil {
		perms.Note("ecs:DescribeTaskDefinition", "", err)
		return
	}
	src, ok := tasklogs.SourceFor(*out.TaskDefinition, tr.ref.ContainerName, tr.ref.TaskARN)
	if !ok {
		return
	}
	lines, err := tr.backend.Logs.Tail(ctx, src, logLinesForwarded)
	if errors.Is(err, tasklogs.ErrUnreadable) {
		r.rep.Log(tr.flowRunID(), prefect.LevelInfo, fmt.Sprintf("The task's log (%s, %s) could not be read: the worker's AWS identity may not use logs:GetLogEvents on that log group.", src.Group, src.Stream))
		return
	}
	if err != nil || len(lines) == 0 {
		return
	}
	r.rep.Log(tr.flowRunID(), prefect.LevelInfo, fmt.Sprintf("Last %d lines of the task's log (%s, %s):", len(lines), src.Group, src.Stream))
	for _, l := range lines {
		r.rep.LogAt(tr.flowRunID(), prefect.LevelInfo, l.Message, l.Time)
	}
}

// deregister removes a task definition registered for this run when the
// job asked for it (auto_deregister_task_definition).
func (r *Runs) deregister(ctx context.Context, tr *run) {
	if tr.registered == "" {
		return
	}
	arn := tr.registered
	perms := tr.backend.Clients.Permissions
	if !perms.Usable("ecs:DeregisterTaskDefinition", "") {
		return // refused before, and said so then
	}
	if _, err := tr.backend.Clients.ECS.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: &arn}); err != nil {
		if !perms.Note("ecs:DeregisterTaskDefinition", "", err) {
			r.opts.Log.Warn("could not deregister the run's task definition", "task_definition", arn, "err", err)
		}
		return
	}
	tr.backend.TaskDefinitions.Invalidate(arn)
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
