package prefectfake_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/fakes/fakenet"
	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
)

func TestOrchestration(t *testing.T) {
	t.Parallel()
	const tid = "0b4c9a7e-3f0e-4f47-9d43-0a3c2a1b9f10"
	type env struct {
		s          *prefectfake.Server
		c          *client
		clk        *fakenet.Clock
		run, depID string
	}
	claim := func(e env) {
		e.c.must(201, "POST", "/flow_runs/"+e.run+"/set_state", pendingBody(e.run, "Pending", ""))
	}
	cases := map[string]struct {
		setup      func(e env)
		body       func(e env) any
		wantHTTP   int
		wantStatus string
		wantDetail string // details.type
		wantReason string
		wantState  string // "TYPE/Name" of the returned state; "" = null
		after      func(t *testing.T, e env)
	}{
		"claim from SCHEDULED is accepted": {
			body:     func(e env) any { return pendingBody(e.run, "Pending", tid) },
			wantHTTP: 201, wantStatus: "ACCEPT", wantDetail: "accept_details", wantState: "PENDING/Pending",
			after: func(t *testing.T, e env) {
				fr := e.s.FlowRun(e.run)
				expect(t, fr["state_type"], "PENDING")
				expect(t, fr["state_name"], "Pending")
				expect(t, get(fr, "state", "state_details", "scheduled_time"), "2026-08-21T16:00:00Z")
				expect(t, get(fr, "state", "state_details", "transition_id"), tid)
				expect(t, fr["next_scheduled_start_time"], nil)
			},
		},
		"second claimant is aborted": {
			setup: claim, body: func(e env) any { return pendingBody(e.run, "Pending", "") },
			wantHTTP: 200, wantStatus: "ABORT", wantDetail: "abort_details",
			wantReason: "This run is in a PENDING state and cannot transition to a PENDING state.", wantState: "PENDING/Pending",
		},
		"renamed PENDING is accepted": {
			setup: claim, body: func(e env) any { return pendingBody(e.run, "Submitting", "") },
			wantHTTP: 201, wantStatus: "ACCEPT", wantDetail: "accept_details", wantState: "PENDING/Submitting",
			after: func(t *testing.T, e env) {
				h := e.s.StateHistory(e.run)
				expect(t, get(h[len(h)-1], "state_details", "scheduled_time"), "2026-08-21T16:00:00Z")
			},
		},
		"Pending after Submitting is aborted": {
			setup: func(e env) {
				claim(e)
				e.c.must(201, "POST", "/flow_runs/"+e.run+"/set_state", pendingBody(e.run, "Submitting", ""))
			},
			body:     func(e env) any { return pendingBody(e.run, "Pending", "") },
			wantHTTP: 200, wantStatus: "ABORT", wantDetail: "abort_details", wantReason: "in a PENDING state", wantState: "PENDING/Submitting",
		},
		"claim of RUNNING run is aborted": {
			setup:    func(e env) { e.s.SetFlowRunState(e.run, "RUNNING", "") },
			body:     func(e env) any { return pendingBody(e.run, "Pending", "") },
			wantHTTP: 200, wantStatus: "ABORT", wantDetail: "abort_details",
			wantReason: "This run is in a RUNNING state and cannot transition to a PENDING state.", wantState: "RUNNING/Running",
		},
		"claim of CANCELLED run is aborted": {
			setup:    func(e env) { e.s.SetFlowRunState(e.run, "CANCELLED", "") },
			body:     func(e env) any { return pendingBody(e.run, "Pending", "") },
			wantHTTP: 200, wantStatus: "ABORT", wantDetail: "abort_details", wantReason: "in a CANCELLED state", wantState: "CANCELLED/Cancelled",
		},
		"claim of CANCELLING run is rejected with the current state": {
			setup:    func(e env) { e.s.SetFlowRunState(e.run, "CANCELLING", "") },
			body:     func(e env) any { return pendingBody(e.run, "Pending", "") },
			wantHTTP: 200, wantStatus: "REJECT", wantDetail: "reject_details",
			wantReason: "Cannot transition flows that are cancelling to a state other than Cancelled.", wantState: "CANCELLING/Cancelling",
		},
		"crash of CANCELLING run is rejected": {
			setup:    func(e env) { e.s.SetFlowRunState(e.run, "CANCELLING", "") },
			body:     func(e env) any { return stateBody("CRASHED", "", false) },
			wantHTTP: 200, wantStatus: "REJECT", wantDetail: "reject_details", wantReason: "cancelling", wantState: "CANCELLING/Cancelling",
		},
		"CANCELLING to CANCELLED is accepted": {
			setup:    func(e env) { e.s.SetFlowRunState(e.run, "CANCELLING", "") },
			body:     func(e env) any { return stateBody("CANCELLED", "", false) },
			wantHTTP: 201, wantStatus: "ACCEPT", wantDetail: "accept_details", wantState: "CANCELLED/Cancelled",
			after: func(t *testing.T, e env) {
				if e.s.FlowRun(e.run)["end_time"] == nil {
					t.Error("end_time not set on a final state")
				}
			},
		},
		"crash of a completed run is aborted": {
			setup:    func(e env) { e.s.SetFlowRunState(e.run, "COMPLETED", "") },
			body:     func(e env) any { return stateBody("CRASHED", "", false) },
			wantHTTP: 200, wantStatus: "ABORT", wantDetail: "abort_details", wantReason: "Run is already in terminal state COMPLETED.", wantState: "COMPLETED/Completed",
		},
		"cancelling a failed run is aborted": {
			setup:    func(e env) { e.s.SetFlowRunState(e.run, "FAILED", "") },
			body:     func(e env) any { return stateBody("CANCELLING", "", false) },
			wantHTTP: 200, wantStatus: "ABORT", wantDetail: "abort_details", wantReason: "terminal state FAILED", wantState: "FAILED/Failed",
		},
		"same transition_id twice is rejected": {
			setup: func(e env) {
				e.c.must(201, "POST", "/flow_runs/"+e.run+"/set_state", pendingBody(e.run, "Pending", tid))
			},
			body:     func(e env) any { return pendingBody(e.run, "Pending", tid) },
			wantHTTP: 200, wantStatus: "REJECT", wantDetail: "reject_details", wantReason: "This run has already made this state transition.", wantState: "PENDING/Pending",
			after: func(t *testing.T, e env) { expect(t, len(e.s.StateHistory(e.run)), 2) },
		},
		"force bypasses the rules": {
			setup:    func(e env) { e.s.SetFlowRunState(e.run, "CANCELLING", "") },
			body:     func(e env) any { return stateBody("RUNNING", "", true) },
			wantHTTP: 201, wantStatus: "ACCEPT", wantDetail: "accept_details", wantState: "RUNNING/Running",
		},
		"state name defaults from the type": {
			body:     func(e env) any { return stateBody("PENDING", "", false) },
			wantHTTP: 201, wantStatus: "ACCEPT", wantDetail: "accept_details", wantState: "PENDING/Pending",
		},
		"cancelling a scheduled run without infrastructure cancels it": {
			body:     func(e env) any { return stateBody("CANCELLING", "", false) },
			wantHTTP: 201, wantStatus: "REJECT", wantDetail: "reject_details", wantReason: "Scheduled flow run has no infrastructure to terminate.", wantState: "CANCELLED/Cancelled",
		},
		"cancelling a run with infrastructure is accepted": {
			setup: func(e env) {
				claim(e)
				e.c.must(204, "PATCH", "/flow_runs/"+e.run, map[string]any{"infrastructure_pid": "c::arn"})
			},
			body:     func(e env) any { return stateBody("CANCELLING", "", false) },
			wantHTTP: 201, wantStatus: "ACCEPT", wantDetail: "accept_details", wantState: "CANCELLING/Cancelling",
		},
		"engine waits for the scheduled time": {
			setup: func(e env) {
				claim(e)
				e.clk.Advance(-90 * time.Second)
			},
			body:     func(e env) any { return stateBody("RUNNING", "", false) },
			wantHTTP: 200, wantStatus: "WAIT", wantDetail: "wait_details", wantReason: "Scheduled time is in the future", wantState: "PENDING/Pending",
		},
		"engine starts the run": {
			setup: claim, body: func(e env) any { return stateBody("RUNNING", "", false) },
			wantHTTP: 201, wantStatus: "ACCEPT", wantDetail: "accept_details", wantState: "RUNNING/Running",
			after: func(t *testing.T, e env) {
				fr := e.s.FlowRun(e.run)
				expect(t, fr["start_time"], "2026-08-21T16:00:00Z")
				expect(t, fr["run_count"], 1)
			},
		},
		"deleted deployment aborts the claim": {
			setup:    func(e env) { e.c.must(204, "DELETE", "/deployments/"+e.depID, nil) },
			body:     func(e env) any { return pendingBody(e.run, "Pending", "") },
			wantHTTP: 200, wantStatus: "ABORT", wantDetail: "abort_details", wantReason: "Deployment not found.", wantState: "SCHEDULED/Scheduled",
			after: func(t *testing.T, e env) {
				e.c.must(404, "GET", "/deployments/"+e.depID, nil)
				expect(t, e.s.FlowRun(e.run)["deployment_id"], e.depID)
			},
		},
		"deployment limit reached enqueues": {
			setup: func(e env) {
				e.s.SetDeploymentConcurrency(e.depID, 1, "ENQUEUE")
				other := e.s.CreateFlowRun(e.depID, nil, time.Time{})
				e.c.must(201, "POST", "/flow_runs/"+str(other["id"])+"/set_state", pendingBody(str(other["id"]), "Pending", ""))
			},
			body:     func(e env) any { return pendingBody(e.run, "Pending", "") },
			wantHTTP: 201, wantStatus: "REJECT", wantDetail: "reject_details", wantReason: "Deployment concurrency limit reached.", wantState: "SCHEDULED/AwaitingConcurrencySlot",
			after: func(t *testing.T, e env) {
				expect(t, e.s.FlowRun(e.run)["next_scheduled_start_time"], "2026-08-21T16:00:30Z")
			},
		},
		"deployment limit reached cancels new": {
			setup: func(e env) {
				e.s.SetDeploymentConcurrency(e.depID, 1, "CANCEL_NEW")
				other := e.s.CreateFlowRun(e.depID, nil, time.Time{})
				e.s.SetFlowRunState(str(other["id"]), "RUNNING", "")
			},
			body:     func(e env) any { return pendingBody(e.run, "Pending", "") },
			wantHTTP: 201, wantStatus: "REJECT", wantDetail: "reject_details", wantReason: "Deployment concurrency limit reached.", wantState: "CANCELLED/Cancelled",
		},
		"deployment limit 0 aborts": {
			setup:    func(e env) { e.s.SetDeploymentConcurrency(e.depID, 0, "") },
			body:     func(e env) any { return pendingBody(e.run, "Pending", "") },
			wantHTTP: 200, wantStatus: "ABORT", wantDetail: "abort_details",
			wantReason: "The deployment concurrency limit is 0. The flow will deadlock if submitted again.", wantState: "SCHEDULED/Scheduled",
		},
		"deployment slot is freed by a final state": {
			setup: func(e env) {
				e.s.SetDeploymentConcurrency(e.depID, 1, "")
				other := str(e.s.CreateFlowRun(e.depID, nil, time.Time{})["id"])
				e.c.must(201, "POST", "/flow_runs/"+other+"/set_state", pendingBody(other, "Pending", ""))
				e.s.SetFlowRunState(other, "COMPLETED", "")
			},
			body:     func(e env) any { return pendingBody(e.run, "Pending", "") },
			wantHTTP: 201, wantStatus: "ACCEPT", wantDetail: "accept_details", wantState: "PENDING/Pending",
			after: func(t *testing.T, e env) {
				if get(e.s.FlowRun(e.run), "state", "state_details", "deployment_concurrency_lease_id") == nil {
					t.Error("no concurrency lease on the accepted state")
				}
				expect(t, get(e.s.Deployment(e.depID), "global_concurrency_limit", "active_slots"), 1)
			},
		},
		"pause outside RUNNING is rejected": {
			body:     func(e env) any { return stateBody("PAUSED", "", false) },
			wantHTTP: 200, wantStatus: "REJECT", wantDetail: "reject_details", wantReason: "Cannot pause flows that are not currently running.", wantState: "SCHEDULED/Scheduled",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, c, clk := start(t, prefectfake.Options{})
			depID, run := seedRun(s)
			e := env{s: s, c: c, clk: clk, run: run, depID: depID}
			if tc.setup != nil {
				tc.setup(e)
			}
			r := c.do("POST", "/flow_runs/"+run+"/set_state", tc.body(e))
			if r.status != tc.wantHTTP {
				t.Errorf("HTTP %d, want %d: %s", r.status, tc.wantHTTP, r.raw)
			}
			expect(t, get(r.body, "status"), tc.wantStatus)
			expect(t, get(r.body, "details", "type"), tc.wantDetail)
			if reason := str(get(r.body, "details", "reason")); !strings.Contains(reason, tc.wantReason) {
				t.Errorf("reason %q, want it to contain %q", reason, tc.wantReason)
			}
			got := ""
			if st := get(r.body, "state"); st != nil {
				got = str(get(st, "type")) + "/" + str(get(st, "name"))
			}
			expect(t, got, tc.wantState)
			if tc.wantStatus == "WAIT" && get(r.body, "details", "delay_seconds") != 90.0 {
				t.Errorf("delay_seconds %v, want 90", get(r.body, "details", "delay_seconds"))
			}
			fr := s.FlowRun(run)
			if st := get(fr, "state"); st != nil {
				expect(t, fr["state_type"], get(st, "type"))
				expect(t, fr["state_name"], get(st, "name"))
				expect(t, fr["state_id"], get(st, "id"))
			}
			if tc.after != nil {
				tc.after(t, e)
			}
		})
	}
}

func TestStateHistoryAndTimes(t *testing.T) {
	t.Parallel()
	s, c, clk := start(t, prefectfake.Options{})
	_, run := seedRun(s)
	c.must(201, "POST", "/flow_runs/"+run+"/set_state", pendingBody(run, "Pending", ""))
	c.must(201, "POST", "/flow_runs/"+run+"/set_state", pendingBody(run, "Submitting", ""))
	clk.Advance(time.Minute)
	c.must(201, "POST", "/flow_runs/"+run+"/set_state", stateBody("RUNNING", "", false))
	clk.Advance(2 * time.Minute)
	c.must(201, "POST", "/flow_runs/"+run+"/set_state", stateBody("COMPLETED", "", false))
	var names []string
	for _, st := range s.StateHistory(run) {
		names = append(names, str(st["type"])+"/"+str(st["name"]))
	}
	expect(t, strings.Join(names, " "), "SCHEDULED/Scheduled PENDING/Pending PENDING/Submitting RUNNING/Running COMPLETED/Completed")
	fr := s.FlowRun(run)
	expect(t, fr["start_time"], "2026-08-21T16:01:00Z")
	expect(t, fr["end_time"], "2026-08-21T16:03:00Z")
	expect(t, fr["total_run_time"], 120.0)
	// A crash report after the engine finished is refused (and ignored by
	// workers).
	r := c.must(200, "POST", "/flow_runs/"+run+"/set_state", stateBody("CRASHED", "", false))
	expect(t, get(r.body, "status"), "ABORT")
}
