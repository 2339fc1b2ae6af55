package inflight_test

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ecsworker/ecsworker/internal/diagnosis"
	"github.com/ecsworker/ecsworker/internal/launch"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/tasklogs"
	"github.com/ecsworker/ecsworker/internal/tracking"
)

// neverRan is what a run whose task stopped cleanly before its flow
// started is crashed with.
const neverRan = "The ECS task stopped before the flow started, although its containers exited cleanly: the container did not run the flow. Check the command job variable and the image's entrypoint (the command should be `prefect flow-run execute`)."

func exitCode(n int) *int { return &n }

var (
	imagePull = &diagnosis.Diagnosis{Cause: diagnosis.CauseImagePull, Summary: "The container image could not be pulled",
		Detail: "CannotPullContainerError: pull access denied for my/image.", Resolution: "Check the image name and the execution role.",
		Level: slog.LevelError, Crash: true}
	exited1 = &diagnosis.Diagnosis{Cause: diagnosis.CauseNonZeroExit, Summary: "The flow's container exited with code 1",
		Detail: "Essential container in task exited.", Resolution: "Read the flow's logs.", Level: slog.LevelError, Crash: true, ExitCode: exitCode(1)}
	// crashNoSummary is a crash with nothing to say in the run's logs.
	crashNoSummary = &diagnosis.Diagnosis{Cause: diagnosis.CauseUnknown, Crash: true}
	succeeded      = &diagnosis.Diagnosis{Cause: diagnosis.CauseSucceeded, Summary: "The flow's container exited with code 0",
		Detail: "Essential container in task exited.", Resolution: "None needed.", Level: slog.LevelInfo, ExitCode: exitCode(0)}
	cleanNoSummary = &diagnosis.Diagnosis{Cause: diagnosis.CauseSucceeded, ExitCode: exitCode(0)}
)

// info and errorLine are log records of a run, whenever written.
func info(msg string) record      { return record{level: prefect.LevelInfo, message: msg} }
func errorLine(msg string) record { return record{level: prefect.LevelError, message: msg} }

// withoutTimes drops the records' times, for records written now.
func withoutTimes(rs []record) []record {
	out := make([]record, len(rs))
	for i, r := range rs {
		out[i] = record{level: r.level, message: r.message}
	}
	return out
}

func crashed(msg string) proposal {
	return proposal{runID: runID, state: prefect.StateCreate{Type: prefect.StateCrashed, Name: "Crashed", Message: msg}}
}

// TestSettle is the decision table of a stopped task: what Prefect is
// told, what the run's logs say, the metrics, and whether the stop is
// done with or kept to be reported again.
func TestSettle(t *testing.T) {
	t.Parallel()
	cancelledByStop := proposal{runID: runID, state: prefect.StateCreate{Type: prefect.StateCancelled, Name: "Cancelled", Message: "Flow run cancelled: its ECS task stopped."}, force: true}
	tests := []struct {
		name    string
		state   prefect.StateType // "": Prefect does not know the run
		readErr error
		setErr  error
		setRes  *prefect.OrchestrationResult
		diag    *diagnosis.Diagnosis
		started bool // the task was seen RUNNING before it stopped

		wantProposals []proposal
		wantLogs      []record
		wantCrash     string // the cause counted in crashes, if any
		wantKept      bool   // the stop waits for SettlePending
		wantWarn      string
	}{
		{name: "run not found", diag: imagePull},
		{name: "run cannot be read: kept for a retry", state: prefect.StateRunning, readErr: errOutage, diag: exited1,
			wantKept: true, wantWarn: "task stopped but the flow run cannot be read; retrying"},
		{name: "cancelling: cancelled", state: prefect.StateCancelling, diag: succeeded,
			wantProposals: []proposal{cancelledByStop}, wantLogs: []record{info(cancelledByStop.state.Message)}},
		{name: "cancelling, Prefect unreachable: kept", state: prefect.StateCancelling, setErr: errOutage,
			wantProposals: []proposal{cancelledByStop}, wantKept: true},
		{name: "completed", state: prefect.StateCompleted, diag: exited1},
		{name: "failed", state: prefect.StateFailed, diag: exited1},
		{name: "cancelled", state: prefect.StateCancelled, diag: exited1},
		{name: "crashed", state: prefect.StateCrashed, diag: exited1},
		{name: "scheduled again", state: prefect.StateScheduled, diag: exited1},
		{name: "paused", state: prefect.StatePaused, diag: exited1},
		{name: "pending, no diagnosis: the flow never ran", state: prefect.StatePending,
			wantProposals: []proposal{crashed(neverRan)}, wantLogs: []record{errorLine(neverRan)}, wantCrash: "flow_never_started"},
		{name: "pending, clean exit: said why", state: prefect.StatePending, diag: succeeded,
			wantProposals: []proposal{crashed(succeeded.Message() + " " + neverRan)},
			wantLogs:      []record{errorLine(succeeded.Message() + " " + neverRan)}, wantCrash: "flow_never_started"},
		{name: "pending, clean exit without a summary", state: prefect.StatePending, diag: cleanNoSummary,
			wantProposals: []proposal{crashed(neverRan)}, wantLogs: []record{errorLine(neverRan)}, wantCrash: "flow_never_started"},
		{name: "pending, clean exit, Prefect unreachable: kept", state: prefect.StatePending, diag: succeeded, setErr: errOutage,
			wantProposals: []proposal{crashed(succeeded.Message() + " " + neverRan)}, wantKept: true},
		{name: "pending, clean exit, crash refused: done", state: prefect.StatePending, setRes: &prefect.OrchestrationResult{Status: prefect.StatusReject},
			wantProposals: []proposal{crashed(neverRan)}, wantLogs: []record{errorLine(neverRan)}, wantCrash: "flow_never_started"},
		{name: "running, no diagnosis", state: prefect.StateRunning, started: true},
		{name: "running, clean exit", state: prefect.StateRunning, started: true, diag: succeeded},
		{name: "running, crashed", state: prefect.StateRunning, started: true, diag: exited1,
			wantProposals: []proposal{crashed(exited1.Message())}, wantLogs: []record{errorLine(exited1.Message())}, wantCrash: "NonZeroExit"},
		{name: "pending per Prefect, task seen running: no log forwarding", state: prefect.StatePending, started: true, diag: exited1,
			wantProposals: []proposal{crashed(exited1.Message())}, wantLogs: []record{errorLine(exited1.Message())}, wantCrash: "NonZeroExit"},
		{name: "running per Prefect, task never seen running: no log forwarding", state: prefect.StateRunning, diag: exited1,
			wantProposals: []proposal{crashed(exited1.Message())}, wantLogs: []record{errorLine(exited1.Message())}, wantCrash: "NonZeroExit"},
		{name: "crash without a summary: nothing logged", state: prefect.StateRunning, started: true, diag: crashNoSummary,
			wantProposals: []proposal{crashed(crashNoSummary.Message())}, wantCrash: "Unknown"},
		{name: "crash refused: done", state: prefect.StateRunning, started: true, diag: exited1, setRes: &prefect.OrchestrationResult{Status: prefect.StatusAbort},
			wantProposals: []proposal{crashed(exited1.Message())}, wantLogs: []record{errorLine(exited1.Message())}, wantCrash: "NonZeroExit"},
		{name: "crash, Prefect unreachable: kept", state: prefect.StateRunning, started: true, diag: exited1, setErr: errOutage,
			wantProposals: []proposal{crashed(exited1.Message())}, wantKept: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, nil)
				if tt.state != "" {
					h.api.setRun(flowRun(runID, tt.state))
				}
				h.api.readErr, h.api.setErr, h.api.setRes = tt.readErr, tt.setErr, tt.setRes
				fb := h.track(runID, taskARN, nil, false)
				// The task's log is there to read: only the rows that
				// expect it have it copied.
				fb.ecs.td = awslogsTD
				fb.logs.lines = []tasklogs.Line{{Time: time.Now(), Message: "Traceback (most recent call last):"}}
				if tt.started {
					h.update(fb, statusUpdate(taskARN, "RUNNING"))
				}
				h.update(fb, stoppedUpdate(taskARN, tt.diag))

				if got := h.api.gotProposals(); !slices.Equal(got, tt.wantProposals) {
					t.Errorf("proposals:\n%v\nwant\n%v", got, tt.wantProposals)
				}
				if got := withoutTimes(h.runLogs()); !slices.Equal(got, tt.wantLogs) {
					t.Errorf("run logs:\n%v\nwant\n%v", got, tt.wantLogs)
				}
				for _, cause := range []string{"flow_never_started", "NonZeroExit", "Unknown", "ImagePull"} {
					want := 0.0
					if cause == tt.wantCrash {
						want = 1
					}
					if got := h.crashCount(cause); got != want {
						t.Errorf("crashes{cause=%s} = %v, want %v", cause, got, want)
					}
				}
				if len(fb.logs.sources) != 0 || len(fb.ecs.described) != 0 {
					t.Errorf("task logs read from %v: a run whose flow started has its own logs", fb.logs.sources)
				}
				if tt.wantWarn != "" {
					if e, ok := h.log.Find(tt.wantWarn); !ok || e.Level != slog.LevelWarn || e.Attrs["flow_run"] != runID {
						t.Errorf("worker log: want the warning %q about the run, got %+v", tt.wantWarn, e)
					}
				}

				_, forgotten, _, _, _ := fb.tracker.state()
				wantStops := 0.0
				if tt.diag != nil && !tt.wantKept {
					wantStops = 1
				}
				if tt.diag != nil {
					if got := h.stopCount(string(tt.diag.Cause)); got != wantStops {
						t.Errorf("stops{cause=%s} = %v, want %v", tt.diag.Cause, got, wantStops)
					}
				}
				notes := h.gotNotes()
				if tt.wantKept {
					if !h.runs.Has(runID) || !h.runs.Following(runID) || h.runs.Len() != 1 || len(forgotten) != 0 || slices.Contains(notes, "task-stopped "+runID) {
						t.Errorf("a stop Prefect was not told about is done with (Has %v, Following %v, Len %d, forgotten %v, notes %v)",
							h.runs.Has(runID), h.runs.Following(runID), h.runs.Len(), forgotten, notes)
					}
					return
				}
				if h.runs.Has(runID) || h.runs.Following(runID) || h.runs.Len() != 0 || !slices.Equal(forgotten, []string{taskARN}) {
					t.Errorf("the stopped task is still followed (Has %v, Following %v, Len %d, forgotten %v)", h.runs.Has(runID), h.runs.Following(runID), h.runs.Len(), forgotten)
				}
				if got := notes[len(notes)-1]; got != "task-stopped "+runID {
					t.Errorf("last note %q, want task-stopped", got)
				}
				if got := testInFlight(h); got != 0 {
					t.Errorf("in-flight gauge = %v, want 0", got)
				}
			})
		})
	}
}

// TestSettlePending: a stop Prefect could not be told about is reported
// again until it is, and only then is the task forgotten.
func TestSettlePending(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		outage string // "read" or "set"
	}{
		{name: "read failed", outage: "read"},
		{name: "crash report failed", outage: "set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, nil)
				h.api.setRun(flowRun(runID, prefect.StateRunning))
				fail := h.api.setSetErr
				if tt.outage == "read" {
					fail = h.api.setReadErr
				}
				fail(errOutage)
				fb := h.track(runID, taskARN, &launch.Launched{Registered: true, TaskDefinitionARN: tdARN}, true)
				h.update(fb, statusUpdate(taskARN, "RUNNING"))
				h.update(fb, stoppedUpdate(taskARN, exited1))

				h.runs.SettlePending(h.ctx)
				if !h.runs.Has(runID) || h.crashCount("NonZeroExit") != 0 || len(fb.ecs.deregistered) != 0 {
					t.Fatalf("settled while Prefect is unreachable")
				}
				fail(nil)
				h.runs.SettlePending(h.ctx)
				if h.runs.Has(runID) {
					t.Fatal("still kept after Prefect answered")
				}
				got := h.api.gotProposals()
				if len(got) == 0 || got[len(got)-1] != crashed(exited1.Message()) {
					t.Fatalf("proposals %v, want the crash last", got)
				}
				if h.crashCount("NonZeroExit") != 1 || h.stopCount("NonZeroExit") != 1 {
					t.Errorf("crashes %v, stops %v: want 1 each", h.crashCount("NonZeroExit"), h.stopCount("NonZeroExit"))
				}
				if !slices.Equal(fb.ecs.deregistered, []string{tdARN}) {
					t.Errorf("deregistered %v once settled, want [%s]", fb.ecs.deregistered, tdARN)
				}
				reads := h.api.readCount()
				h.runs.SettlePending(h.ctx)
				if h.api.readCount() != reads {
					t.Error("a settled stop was reported again")
				}
			})
		})
	}
}

func testInFlight(h *harness) float64 { return testutil.ToFloat64(h.inFlight) }

var awslogsTD = &ecstypes.TaskDefinition{ContainerDefinitions: []ecstypes.ContainerDefinition{{
	Name: aws.String("prefect"),
	LogConfiguration: &ecstypes.LogConfiguration{LogDriver: ecstypes.LogDriverAwslogs,
		Options: map[string]string{"awslogs-group": "/ecs/prefect", "awslogs-stream-prefix": "prefect"}},
}}}

// TestForwardLogs: the last lines of a task whose flow never started are
// copied into the run's logs, after the crash line.
func TestForwardLogs(t *testing.T) {
	t.Parallel()
	line1 := time.Date(2025, 3, 1, 11, 59, 58, 0, time.UTC)
	line2 := line1.Add(time.Second)
	lines := []tasklogs.Line{{Time: line1, Message: "Traceback (most recent call last):"}, {Time: line2, Message: "ModuleNotFoundError: No module named 'flows'"}}
	const stream = "prefect/prefect/0123456789abcdef"
	crashLine := record{level: prefect.LevelError, message: imagePull.Message()}
	tests := []struct {
		name        string
		noTDARN     bool // the task does not name its task definition
		refused     bool // ecs:DescribeTaskDefinition was refused before
		describeErr error
		td          *ecstypes.TaskDefinition
		tailErr     error
		lines       []tasklogs.Line

		wantDescribed bool
		wantTail      bool
		wantForwarded []record
		wantRefused   bool // ecs:DescribeTaskDefinition refused afterwards
	}{
		{name: "forwarded", td: awslogsTD, lines: lines, wantDescribed: true, wantTail: true, wantForwarded: []record{
			{level: prefect.LevelInfo, message: "Last 2 lines of the task's log (/ecs/prefect, " + stream + "):"},
			{level: prefect.LevelInfo, message: lines[0].Message, at: line1},
			{level: prefect.LevelInfo, message: lines[1].Message, at: line2},
		}},
		{name: "no lines", td: awslogsTD, wantDescribed: true, wantTail: true},
		{name: "log group unreadable: said so", td: awslogsTD, tailErr: fmt.Errorf("%w: %w", tasklogs.ErrUnreadable, denied("logs:GetLogEvents")),
			wantDescribed: true, wantTail: true, wantForwarded: []record{{level: prefect.LevelInfo,
				message: "The task's log (/ecs/prefect, " + stream + ") could not be read: the worker's AWS identity may not use logs:GetLogEvents on that log group."}}},
		{name: "log read failed", td: awslogsTD, tailErr: errOutage, wantDescribed: true, wantTail: true},
		{name: "container does not log to CloudWatch", td: &ecstypes.TaskDefinition{ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("prefect")}}},
			wantDescribed: true},
		{name: "task definition not returned", wantDescribed: true},
		{name: "task definition unreadable", describeErr: serverError(), wantDescribed: true},
		{name: "task definition refused: remembered", describeErr: denied("ecs:DescribeTaskDefinition"), wantDescribed: true, wantRefused: true},
		{name: "task definition refused before", refused: true, td: awslogsTD, wantRefused: true},
		{name: "task names no task definition", noTDARN: true, td: awslogsTD},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, nil)
				h.api.setRun(flowRun(runID, prefect.StatePending))
				fb := h.track(runID, taskARN, nil, false)
				fb.ecs.td, fb.ecs.describeErr = tt.td, tt.describeErr
				fb.logs.lines, fb.logs.err = tt.lines, tt.tailErr
				if tt.refused {
					fb.perms.Note("ecs:DescribeTaskDefinition", "", denied("ecs:DescribeTaskDefinition"))
				}
				u := stoppedUpdate(taskARN, imagePull)
				if tt.noTDARN {
					u.TaskDefinitionARN = ""
				}
				h.update(fb, u)

				if got := h.api.gotProposals(); !slices.Equal(got, []proposal{crashed(imagePull.Message())}) {
					t.Fatalf("proposals %v, want the crash", got)
				}
				want := append([]record{crashLine}, tt.wantForwarded...)
				got := h.runLogs()
				for i := range got {
					if i < len(want) && want[i].at.IsZero() {
						got[i].at = time.Time{}
					}
				}
				if !slices.Equal(got, want) {
					t.Errorf("run logs:\n%v\nwant\n%v", got, want)
				}
				if wantDescribed := []string{tdARN}; tt.wantDescribed != slices.Equal(fb.ecs.described, wantDescribed) {
					t.Errorf("described %v, want a call: %v", fb.ecs.described, tt.wantDescribed)
				}
				if tt.wantTail {
					wantSrc := tasklogs.Source{Group: "/ecs/prefect", Stream: stream, Region: "us-east-1"}
					if len(fb.logs.sources) != 1 || fb.logs.sources[0] != wantSrc || fb.logs.asked[0] != 50 {
						t.Errorf("tail of %v (%v lines), want the last 50 lines of %v", fb.logs.sources, fb.logs.asked, wantSrc)
					}
				} else if len(fb.logs.sources) != 0 {
					t.Errorf("tail of %v, want none", fb.logs.sources)
				}
				if got := !fb.perms.Usable("ecs:DescribeTaskDefinition", ""); got != tt.wantRefused {
					t.Errorf("ecs:DescribeTaskDefinition refused: %v, want %v", got, tt.wantRefused)
				}
			})
		})
	}
}

// TestDeregister: the task definition registered for a run goes when its
// task stops, if the job asked for it.
func TestDeregister(t *testing.T) {
	t.Parallel()
	registered := &launch.Launched{Registered: true, TaskDefinitionARN: tdARN}
	tests := []struct {
		name       string
		launched   *launch.Launched
		deregister bool
		refused    bool
		err        error

		wantCalled      bool
		wantInvalidated bool
		wantWarn        bool
		wantRefused     bool
	}{
		{name: "deregistered", launched: registered, deregister: true, wantCalled: true, wantInvalidated: true},
		{name: "not asked", launched: registered},
		{name: "adopted task: nothing known to be registered", deregister: true},
		{name: "existing task definition", launched: &launch.Launched{TaskDefinitionARN: tdARN}, deregister: true},
		{name: "refused before", launched: registered, deregister: true, refused: true, wantRefused: true},
		{name: "refused: remembered, no warning", launched: registered, deregister: true, err: denied("ecs:DeregisterTaskDefinition"),
			wantCalled: true, wantRefused: true},
		{name: "failed: warned", launched: registered, deregister: true, err: serverError(), wantCalled: true, wantWarn: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, nil)
				h.api.setRun(flowRun(runID, prefect.StateCompleted))
				fb := h.track(runID, taskARN, tt.launched, tt.deregister)
				fb.ecs.deregisterErr = tt.err
				if tt.refused {
					fb.perms.Note("ecs:DeregisterTaskDefinition", "", denied("ecs:DeregisterTaskDefinition"))
				}
				h.update(fb, stoppedUpdate(taskARN, succeeded))

				if got := len(fb.ecs.deregistered) == 1 && fb.ecs.deregistered[0] == tdARN; got != tt.wantCalled || len(fb.ecs.deregistered) > 1 {
					t.Errorf("deregistered %v, want %s deregistered: %v", fb.ecs.deregistered, tdARN, tt.wantCalled)
				}
				if got := slices.Equal(fb.tds.invalidated, []string{tdARN}); got != tt.wantInvalidated {
					t.Errorf("invalidated %v, want %v", fb.tds.invalidated, tt.wantInvalidated)
				}
				e, warned := h.log.Find("could not deregister the run's task definition")
				if warned != tt.wantWarn || (warned && e.Attrs["task_definition"] != tdARN) {
					t.Errorf("warning %+v (%v), want one: %v", e, warned, tt.wantWarn)
				}
				if got := !fb.perms.Usable("ecs:DeregisterTaskDefinition", ""); got != tt.wantRefused {
					t.Errorf("ecs:DeregisterTaskDefinition refused: %v, want %v", got, tt.wantRefused)
				}
				if h.runs.Has(runID) {
					t.Error("the run is still followed")
				}
			})
		})
	}
}

// TestInfrastructurePending: a task on its way to RUNNING marks its run
// InfrastructurePending once, unless the flow has moved on.
func TestInfrastructurePending(t *testing.T) {
	t.Parallel()
	pending := func(msg string) proposal {
		return proposal{runID: runID, state: prefect.StateCreate{Type: prefect.StatePending, Name: "InfrastructurePending", Message: msg}}
	}
	tests := []struct {
		name     string
		run      *prefect.FlowRun // nil: the read fails
		setErr   error
		statuses []string
		other    bool // the updates are about a task nobody follows

		wantProposals []proposal
		wantNotes     []string
		wantReads     int
		wantDebug     bool
	}{
		{name: "provisioning", run: ptr(flowRun(runID, prefect.StatePending)), statuses: []string{"PROVISIONING"},
			wantProposals: []proposal{pending("ECS task is provisioning.")}, wantNotes: []string{"task-provisioning"}, wantReads: 1},
		{name: "once per run", run: ptr(flowRun(runID, prefect.StatePending)), statuses: []string{"PROVISIONING", "PENDING", "ACTIVATING", "RUNNING"},
			wantProposals: []proposal{pending("ECS task is provisioning.")}, wantReads: 1,
			wantNotes: []string{"task-provisioning", "task-pending", "task-activating", "task-running"}},
		{name: "first seen activating", run: ptr(flowRun(runID, prefect.StatePending)), statuses: []string{"ACTIVATING"},
			wantProposals: []proposal{pending("ECS task is activating.")}, wantNotes: []string{"task-activating"}, wantReads: 1},
		{name: "already InfrastructurePending", run: &prefect.FlowRun{ID: runID, State: &prefect.State{Type: prefect.StatePending, Name: "InfrastructurePending"}},
			statuses: []string{"PENDING"}, wantNotes: []string{"task-pending"}, wantReads: 1},
		{name: "flow running already", run: ptr(flowRun(runID, prefect.StateRunning)), statuses: []string{"PENDING"},
			wantNotes: []string{"task-pending"}, wantReads: 1},
		{name: "run without a state", run: &prefect.FlowRun{ID: runID}, statuses: []string{"PENDING"}, wantNotes: []string{"task-pending"}, wantReads: 1},
		{name: "run unreadable", statuses: []string{"PENDING"}, wantNotes: []string{"task-pending"}, wantReads: 1},
		{name: "proposal failed: not retried", run: ptr(flowRun(runID, prefect.StatePending)), setErr: errOutage, statuses: []string{"PENDING", "PENDING"},
			wantProposals: []proposal{pending("ECS task is pending.")}, wantNotes: []string{"task-pending", "task-pending"}, wantReads: 1, wantDebug: true},
		{name: "running, deprovisioning", run: ptr(flowRun(runID, prefect.StateRunning)), statuses: []string{"RUNNING", "DEPROVISIONING"},
			wantNotes: []string{"task-running", "task-deprovisioning"}},
		{name: "another task", run: ptr(flowRun(runID, prefect.StatePending)), statuses: []string{"PENDING", "STOPPED"}, other: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, nil)
				if tt.run != nil {
					h.api.setRun(*tt.run)
				} else {
					h.api.readErr = errOutage
				}
				h.api.setErr = tt.setErr
				fb := h.track(runID, taskARN, nil, false)
				arn := taskARN
				if tt.other {
					arn = "arn:aws:ecs:us-east-1:123456789012:task/prod/other"
				}
				for _, st := range tt.statuses {
					u := statusUpdate(arn, st)
					u.Stopped = st == "STOPPED"
					h.update(fb, u)
				}
				if got := h.api.gotProposals(); !slices.Equal(got, tt.wantProposals) {
					t.Errorf("proposals %v, want %v", got, tt.wantProposals)
				}
				var wantNotes []string
				for _, n := range tt.wantNotes {
					wantNotes = append(wantNotes, n+" "+runID)
				}
				if got := h.gotNotes(); !slices.Equal(got, wantNotes) {
					t.Errorf("notes %q, want %q", got, wantNotes)
				}
				if got := h.api.readCount(); got != tt.wantReads {
					t.Errorf("%d reads, want %d", got, tt.wantReads)
				}
				if _, ok := h.log.Find("could not mark the run InfrastructurePending"); ok != tt.wantDebug {
					t.Errorf("debug line logged: %v, want %v", ok, tt.wantDebug)
				}
				if !h.runs.Following(runID) {
					t.Error("the run is no longer followed")
				}
			})
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestUpdatesInOrder: a task's updates are handled in order (its stop
// waits for its earlier update to be reported), while other tasks'
// updates are not held up by it.
func TestUpdatesInOrder(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		const n = 40
		arn := func(i int) string { return fmt.Sprintf("arn:aws:ecs:us-east-1:123456789012:task/prod/%02d", i) }
		id := func(i int) string { return fmt.Sprintf("run-%02d", i) }
		var fb *fakeBackend
		for i := range n {
			h.api.setRun(flowRun(id(i), prefect.StatePending))
			fb = h.track(id(i), arn(i), nil, false)
		}
		// Reporting run 0's PENDING update hangs on Prefect.
		gate := make(chan struct{})
		release := sync.OnceFunc(func() { close(gate) })
		defer release() // on failure too, so that the bubble can end
		h.api.mu.Lock()
		h.api.gate, h.api.gateRun = gate, id(0)
		h.api.mu.Unlock()
		go func() {
			for i := range n {
				u := statusUpdate(arn(i), "PENDING")
				u.Ref.FlowRunID = id(i)
				for _, u := range []tracking.TaskUpdate{u, stoppedUpdate(arn(i), exited1)} {
					select {
					case fb.tracker.updates <- u:
					case <-h.ctx.Done():
						return
					}
				}
			}
		}()
		synctest.Wait()
		if !h.runs.Following(id(0)) {
			t.Fatal("the task's stop was handled before its earlier update")
		}
		if h.runs.Len() == n {
			t.Fatal("the other tasks' updates wait for a slow one")
		}
		release()
		synctest.Wait()
		if h.runs.Len() != 0 {
			t.Fatalf("%d runs still followed", h.runs.Len())
		}
		// Each run was marked InfrastructurePending, then crashed.
		byRun := map[string][]prefect.StateType{}
		for _, p := range h.api.gotProposals() {
			byRun[p.runID] = append(byRun[p.runID], p.state.Type)
		}
		for i := range n {
			if got := byRun[id(i)]; !slices.Equal(got, []prefect.StateType{prefect.StatePending, prefect.StateCrashed}) {
				t.Errorf("%s: proposals %v, want PENDING then CRASHED", id(i), got)
			}
		}
		if got := h.crashCount("NonZeroExit"); got != n {
			t.Fatalf("crashes = %v, want %d", got, n)
		}
	})
}

// TestUpdatesEnd: a backend's update handler ends with its tracker's
// updates, or with the worker.
func TestUpdatesEnd(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		fb := h.track(runID, taskARN, nil, false)
		close(fb.tracker.updates)
		synctest.Wait()
		h.stop()
		if _, _, _, running, ended := fb.tracker.state(); running != 0 || ended != 1 {
			t.Fatalf("tracker running %d, ended %d", running, ended)
		}
	})
}
