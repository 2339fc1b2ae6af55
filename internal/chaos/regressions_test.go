//go:build chaos

package chaos

import (
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
)

// Each test in this file replays, step by step, a bug the chaos scenarios
// found in the worker: the scenarios find such bugs at random, these say
// exactly what went wrong, the same way every time. A test marked KNOWN
// BUG fails until its bug is fixed; the others guard fixed ones.

// Fixed in 5baf2cb: a claimed run whose submission outlasts StartupGrace is
// resumed by another worker's sweep while the first worker is still
// submitting it. Both use the claim's client token, so ECS starts one task,
// and the second worker records it; when the first worker's submission
// finally gave up, it proposed Crashed ("Failed to submit flow run to
// infrastructure"), and Prefect accepted it over the RUNNING state of the
// flow running in that very task.
func TestSweepDoesNotLetTheFirstSubmitterCrashALaunchedRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, scenario{name: "sweep-race"}, 1, 0)
		defer func() {
			h.stopAll()
			h.aws.Close()
			h.prefect.Close()
		}()
		id := h.addRun(&behaviour{forever: true, timeToRunning: 20 * time.Second}, time.Time{})
		// ECS's bucket happens to be empty whenever worker 1 calls RunTask,
		// so its submission goes on, retrying, for minutes; worker 2's calls
		// go through.
		h.awsFault = func(inc *incarnation, r *http.Request) *http.Response {
			if inc.name == "chaos-worker-1" && strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".RunTask") {
				return throttled(r)
			}
			return nil
		}
		h.start("chaos-worker-1")
		h.waitFor("worker 1 to claim the run", 2*time.Minute, func() bool { return stateType(h.prefect.FlowRun(id)) == "PENDING" })
		h.start("chaos-worker-2")
		h.waitFor("the flow to run", 5*time.Minute, func() bool { return stateType(h.prefect.FlowRun(id)) == "RUNNING" })

		// Long enough for worker 1 to give up on its RunTask calls.
		h.within(20*time.Minute, func() bool { return h.crashedAsUnsubmitted(id) })
		tasks := h.tasksByRun()[id]
		if typ := stateType(h.prefect.FlowRun(id)); typ != "RUNNING" || len(tasks) != 1 || h.crashedAsUnsubmitted(id) {
			t.Errorf("the flow runs in the one task of the run, yet the run is %s (want RUNNING, never Crashed):\n%s",
				typ, h.describe(id, tasks))
		}
	})
}

// Fixed in 5baf2cb: a claimed run left without a recorded task (its worker
// died right after RunTask) is resumed by the next worker; when that worker
// could not read the run's deployment at that moment (Prefect answering 503
// for a minute, or the worker itself stopping, "context canceled"), it
// proposed Crashed at once, "Failed to submit flow run to infrastructure:
// its deployment cannot be read", although the run's task was running
// (resuming was only needed because it may be) and a sweep a minute later
// would have found the deployment again.
func TestResumeOutlastsATransientDeploymentReadError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, scenario{name: "resume-deployment-read"}, 2, 0)
		defer func() {
			h.stopAll()
			h.aws.Close()
			h.prefect.Close()
		}()
		id := h.addRun(&behaviour{forever: true, timeToRunning: 20 * time.Second}, time.Time{})
		// Worker 1 dies, hard, as its first RunTask goes through.
		h.killPlan[killAfterRunTask] = map[int]killMode{1: hard}
		first := h.start("chaos-worker-1")
		h.waitFor("worker 1 to die after RunTask", 2*time.Minute, first.isKilled)
		if n := len(h.tasksByRun()[id]); n != 1 || stateType(h.prefect.FlowRun(id)) != "PENDING" {
			t.Fatalf("setup: want a PENDING run with one task, got %s with %d", stateType(h.prefect.FlowRun(id)), n)
		}

		// Prefect cannot serve the deployment for two minutes.
		h.prefect.InjectFault(prefectfake.Fault{Method: http.MethodGet, Path: "/deployments/{id}", Status: 503})
		time.Sleep(startupGrace + 10*time.Second)
		h.start("chaos-worker-2")
		time.Sleep(2 * time.Minute)
		h.prefect.ClearFaults()

		h.waitFor("the run to settle", 10*time.Minute, func() bool {
			return terminal(stateType(h.prefect.FlowRun(id))) || stateType(h.prefect.FlowRun(id)) == "RUNNING"
		})
		tasks := h.tasksByRun()[id]
		if typ := stateType(h.prefect.FlowRun(id)); typ != "RUNNING" || len(tasks) != 1 || h.crashedAsUnsubmitted(id) {
			t.Errorf("the run's one task runs its flow, yet the run is %s (want RUNNING, never Crashed):\n%s",
				typ, h.describe(id, tasks))
		}
	})
}

// Fixed in 5baf2cb: ECS starts the task but the answer to RunTask is lost
// (a connection reset), and so are the answers to the SDK's retries, until
// it gives up. The launcher retried only throttling and capacity failures,
// so the worker proposed Crashed ("RunTask failed: ... connection reset by
// peer. This looks temporary ...; it is retried on the next attempt", but
// there was no next attempt) for a run whose task was started. Here every answer is lost until the SDK's ten attempts are
// spent; under throttling its retry quota is spent already and a single
// lost answer does it (the scenarios saw "retry quota exceeded"). A RunTask
// whose outcome is unknown is safe to repeat with the same client token;
// giving up must leave the claimed run for the sweep to resume.
func TestLostRunTaskAnswersDoNotCrashALaunchedRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, scenario{name: "lost-runtask-answer"}, 3, 0)
		defer func() {
			h.stopAll()
			h.aws.Close()
			h.prefect.Close()
		}()
		id := h.addRun(&behaviour{forever: true, timeToRunning: 20 * time.Second}, time.Time{})
		h.lost["aws:RunTask"] = 12 // more than the SDK's 10 attempts
		h.start("chaos-worker-1")
		h.waitFor("the run to settle", 15*time.Minute, func() bool {
			typ := stateType(h.prefect.FlowRun(id))
			return terminal(typ) || typ == "RUNNING"
		})
		tasks := h.tasksByRun()[id]
		if typ := stateType(h.prefect.FlowRun(id)); typ != "RUNNING" || len(tasks) != 1 || h.crashedAsUnsubmitted(id) {
			t.Errorf("the run's one task runs its flow, yet the run is %s (want RUNNING, never Crashed):\n%s",
				typ, h.describe(id, tasks))
		}
	})
}

// Regression (found by this suite, fixed): runs whose task is recorded
// (infrastructure_pid) are adopted by a restarted worker only once, at
// start-up, and only if that start-up reaches Prefect: when the worker
// starts during a Prefect outage (the pool cannot be read, or listing the
// runs in flight fails), recoverRuns gives up and nothing tries again; the
// periodic sweep only resumes runs without a task. Nobody follows those
// tasks any more, so one that fails to start (or a container that dies)
// leaves its run PENDING (or RUNNING) for ever.
func TestRunsInFlightAreAdoptedAfterAStartDuringAnOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, scenario{name: "adopt-after-outage"}, 4, 0)
		defer func() {
			h.stopAll()
			h.aws.Close()
			h.prefect.Close()
		}()
		id := h.addRun(&behaviour{neverStarts: true, timeToRunning: 5 * time.Minute}, time.Time{})
		// Worker 1 dies, hard, once the task is recorded on the run.
		h.killPlan[killAfterPID] = map[int]killMode{1: hard}
		first := h.start("chaos-worker-1")
		h.waitFor("worker 1 to record the task and die", 2*time.Minute, first.isKilled)

		// Its replacement starts while Prefect is down, for a minute.
		h.prefect.InjectFault(prefectfake.Fault{Status: 503})
		h.start("chaos-worker-1")
		time.Sleep(time.Minute)
		h.prefect.ClearFaults()

		// The task fails to start four minutes later; its run must crash.
		h.within(15*time.Minute, func() bool { return terminal(stateType(h.prefect.FlowRun(id))) })
		if typ := stateType(h.prefect.FlowRun(id)); typ != "CRASHED" {
			t.Errorf("the run's task never started, yet the run is %s (want CRASHED):\n%s", typ, h.describe(id, h.tasksByRun()[id]))
		}
	})
}

// Regression (found by this suite, fixed): when a task stops while Prefect is down,
// the worker reads the run once (onStopped), fails, logs "task stopped but
// the flow run cannot be read; its state is left to Prefect" and stops
// following the task. Prefect never learns: a flow whose container was
// killed (out of memory, Spot) stays RUNNING for ever, a task that never
// started leaves its run PENDING. The same happens when the Crashed
// proposal itself fails. A stop must be reported until Prefect has it.
func TestATaskStoppingDuringAPrefectOutageIsReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, scenario{name: "stop-during-outage"}, 5, 0)
		defer func() {
			h.stopAll()
			h.aws.Close()
			h.prefect.Close()
		}()
		id := h.addRun(&behaviour{oom: true, timeToRunning: 20 * time.Second, runFor: 2 * time.Minute}, time.Time{})
		h.start("chaos-worker-1")
		h.waitFor("the flow to run", 5*time.Minute, func() bool { return stateType(h.prefect.FlowRun(id)) == "RUNNING" })

		// Prefect is down for two minutes around the moment the container
		// is killed.
		started := h.tasksByRun()[id][0].StartedAt
		time.Sleep(time.Until(started.Add(2*time.Minute - 20*time.Second)))
		h.prefect.InjectFault(prefectfake.Fault{Status: 503})
		time.Sleep(2 * time.Minute)
		h.prefect.ClearFaults()

		h.within(15*time.Minute, func() bool { return terminal(stateType(h.prefect.FlowRun(id))) })
		if typ := stateType(h.prefect.FlowRun(id)); typ != "CRASHED" {
			t.Errorf("the flow's container was killed, yet the run is %s (want CRASHED):\n%s", typ, h.describe(id, h.tasksByRun()[id]))
		}
	})
}

// Regression (found by this suite): when recording the task on the run
// fails (PATCH infrastructure_pid answered 500 until the worker dies), only
// the worker's memory knows the task, and the run moves on to
// PENDING/InfrastructurePending as the task provisions. The next worker
// must still find the task: the claim label on the run gives it the client
// token, and RunTask with that token returns the task instead of starting
// another.
func TestATaskKnownOnlyToADeadWorkerIsFound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, scenario{name: "unrecorded-task"}, 6, 0)
		defer func() {
			h.stopAll()
			h.aws.Close()
			h.prefect.Close()
		}()
		id := h.addRun(&behaviour{neverStarts: true, timeToRunning: 3 * time.Minute}, time.Time{})
		h.prefect.InjectFault(prefectfake.Fault{Method: http.MethodPatch, Path: "/flow_runs/{id}", Status: 500})
		first := h.start("chaos-worker-1")
		h.waitFor("the task to provision", 2*time.Minute, func() bool {
			name, _ := h.prefect.FlowRun(id)["state_name"].(string)
			return name == "InfrastructurePending"
		})
		if pid := h.prefect.FlowRun(id)["infrastructure_pid"]; pid != nil {
			t.Fatalf("setup: the task was recorded (%v)", pid)
		}
		first.kill(hard)
		h.prefect.ClearFaults()
		time.Sleep(startupGrace)
		h.start("chaos-worker-1")

		h.within(15*time.Minute, func() bool { return terminal(stateType(h.prefect.FlowRun(id))) })
		if typ := stateType(h.prefect.FlowRun(id)); typ != "CRASHED" {
			t.Errorf("the run's task never started, yet the run is %s (want CRASHED):\n%s", typ, h.describe(id, h.tasksByRun()[id]))
		}
		if n := len(h.tasksByRun()[id]); n != 1 {
			t.Errorf("%d tasks, want 1", n)
		}
	})
}
