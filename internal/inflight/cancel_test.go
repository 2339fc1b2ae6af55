package inflight_test

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectapi"
)

func TestCancel(t *testing.T) {
	t.Parallel()
	const (
		stoppedMsg = "Flow run cancelled by ecsworker: its ECS task was stopped before the flow started."
		refusedMsg = "Flow run cancelled, but its ECS task could not be stopped (the worker's AWS identity may not use ecs:StopTask): the task runs until it ends by itself."
	)
	cancelledWith := func(msg string) []proposal {
		return []proposal{{runID: runID, state: prefect.StateCreate{Type: prefect.StateCancelled, Name: "Cancelled", Message: msg}, force: true}}
	}
	flowStarted := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		pid       string // the run's infrastructure_pid; default pid
		untracked bool   // another worker follows the task
		// seen is the task's last update before the cancellation: "",
		// "RUNNING", or "startedAt" (a status other than RUNNING with a
		// start time).
		seen        string
		flowStarted bool
		refused     bool // ecs:StopTask was refused before
		stopErr     error
		stopOut     *ecs.StopTaskOutput

		wantStop      bool
		wantProposals []proposal
		wantCancelled bool   // counted and notified as a cancellation by the worker
		wantNotified  bool   // "cancelled" notified
		wantOutcome   string // of the info line
		wantError     bool
	}{
		{name: "no task: Prefect cancels it", pid: "-"},
		{name: "another worker's run", untracked: true},
		{name: "flow running: it cancels itself", seen: "RUNNING", flowStarted: true},
		{name: "task started, flow running", seen: "startedAt", flowStarted: true},
		{name: "task running, flow not started", seen: "RUNNING",
			wantStop: true, wantProposals: cancelledWith(stoppedMsg), wantCancelled: true, wantNotified: true, wantOutcome: "Stopped"},
		{name: "task starting", seen: "PENDING",
			wantStop: true, wantProposals: cancelledWith(stoppedMsg), wantCancelled: true, wantNotified: true, wantOutcome: "Stopped"},
		{name: "stopped before the flow started", flowStarted: true,
			wantStop: true, wantProposals: cancelledWith(stoppedMsg), wantCancelled: true, wantNotified: true, wantOutcome: "Stopped"},
		{name: "task stopped already", stopOut: &ecs.StopTaskOutput{Task: &ecstypes.Task{LastStatus: aws.String("STOPPED")}},
			wantStop: true, wantProposals: cancelledWith(stoppedMsg), wantCancelled: true, wantNotified: true, wantOutcome: "AlreadyStopped"},
		{name: "task unknown to ECS", stopErr: &smithy.GenericAPIError{Code: "InvalidParameterException", Message: "The referenced task was not found.", Fault: smithy.FaultClient},
			wantStop: true, wantProposals: cancelledWith(stoppedMsg), wantCancelled: true, wantNotified: true, wantOutcome: "NotFound"},
		{name: "StopTask refused before", refused: true,
			wantProposals: cancelledWith(refusedMsg), wantNotified: true},
		{name: "StopTask refused", stopErr: denied("ecs:StopTask"),
			wantStop: true, wantProposals: cancelledWith(refusedMsg), wantNotified: true},
		{name: "StopTask failed: left for the next pass", stopErr: serverError(), wantStop: true, wantError: true},
		{name: "bad identifier", pid: "not-an-identifier", wantError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, nil)
				fb := h.backend(awscreds0)
				if !tt.untracked {
					fb = h.track(runID, taskARN, nil, false)
				}
				fb.ecs.stopErr, fb.ecs.stopOut = tt.stopErr, tt.stopOut
				if tt.refused {
					fb.perms.Note("ecs:StopTask", "", denied("ecs:StopTask"))
				}
				switch tt.seen {
				case "":
				case "startedAt":
					u := statusUpdate(taskARN, "DEACTIVATING")
					u.StartedAt = flowStarted
					h.update(fb, u)
				default:
					h.update(fb, statusUpdate(taskARN, tt.seen))
				}
				// Only the cancellation's proposals and logs count (not the
				// start breakdown of a task seen started).
				h.rep.FlushLogs(context.Background())
				h.api.mu.Lock()
				h.api.proposals, h.api.logs = nil, nil
				h.api.mu.Unlock()
				h.mu.Lock()
				h.notes = nil
				h.mu.Unlock()

				fr := flowRun(runID, prefect.StateCancelling)
				switch tt.pid {
				case "":
				case "-":
					fr.InfrastructurePID = ""
				default:
					fr.InfrastructurePID = tt.pid
				}
				if tt.flowStarted {
					fr.StartTime = prefectapi.Time{Time: flowStarted}
				}
				h.runs.Cancel(h.ctx, fr)

				wantStops := []ecs.StopTaskInput(nil)
				if tt.wantStop {
					wantStops = []ecs.StopTaskInput{{Cluster: aws.String(cluster), Task: aws.String(taskARN),
						Reason: aws.String("Stopped by Prefect worker: the flow run was cancelled in Prefect")}}
				}
				if got := fb.ecs.stops; len(got) != len(wantStops) || (len(got) == 1 &&
					(*got[0].Cluster != *wantStops[0].Cluster || *got[0].Task != *wantStops[0].Task || *got[0].Reason != *wantStops[0].Reason)) {
					t.Errorf("StopTask calls %+v, want %+v", got, wantStops)
				}
				if got := h.api.gotProposals(); !slices.Equal(got, tt.wantProposals) {
					t.Errorf("proposals:\n%v\nwant\n%v", got, tt.wantProposals)
				}
				var wantLogs []record
				for _, p := range tt.wantProposals {
					wantLogs = append(wantLogs, info(p.state.Message))
				}
				if got := withoutTimes(h.runLogs()); !slices.Equal(got, wantLogs) {
					t.Errorf("run logs %v, want %v", got, wantLogs)
				}
				wantCount := 0.0
				if tt.wantCancelled {
					wantCount = 1
				}
				if got := testutil.ToFloat64(h.cancellations); got != wantCount {
					t.Errorf("cancellations = %v, want %v", got, wantCount)
				}
				var wantNotes []string
				if tt.wantNotified {
					wantNotes = []string{"cancelled " + runID}
				}
				if got := h.gotNotes(); !slices.Equal(got, wantNotes) {
					t.Errorf("notes %q, want %q", got, wantNotes)
				}
				e, ok := h.log.Find("stopped the task of a flow run cancelled before it started")
				if ok != (tt.wantOutcome != "") || e.Attrs["outcome"] != tt.wantOutcome {
					t.Errorf("info line %+v (%v), want outcome %q", e, ok, tt.wantOutcome)
				}
				e, ok = h.log.Find("could not stop the task of a cancelled flow run")
				if ok != tt.wantError || (ok && (e.Level != slog.LevelError || e.Attrs["flow_run"] != runID)) {
					t.Errorf("error line %+v (%v), want one: %v", e, ok, tt.wantError)
				}
				if got := !fb.perms.Usable("ecs:StopTask", ""); got != (tt.refused || tt.name == "StopTask refused") {
					t.Errorf("ecs:StopTask refused: %v", got)
				}
				if !tt.untracked && !h.runs.Following(runID) {
					t.Error("the run is no longer followed: its task's stop is still to be seen")
				}
			})
		})
	}
}
