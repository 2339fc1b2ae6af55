package prefectfake

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Orchestration statuses (SetStateStatus).
const (
	statusAccept = "ACCEPT"
	statusReject = "REJECT"
	statusAbort  = "ABORT"
	statusWait   = "WAIT"
)

// outcome is an OrchestrationResult before rendering.
type outcome struct {
	status  string
	state   *runState // the state to return (stored, or current)
	written bool      // a new state row was written (HTTP 201)
	reason  string
	delay   int64
}

func (o outcome) details() map[string]any {
	switch o.status {
	case statusAccept:
		return map[string]any{"type": "accept_details"}
	case statusWait:
		return map[string]any{"type": "wait_details", "delay_seconds": o.delay, "reason": o.reason}
	case statusReject:
		return map[string]any{"type": "reject_details", "reason": o.reason}
	default:
		return map[string]any{"type": "abort_details", "reason": o.reason}
	}
}

// orchestrate runs Prefect's CoreFlowPolicy rules that matter to workers
// and engines, in their priority order; the first rule that decides wins.
// force=true skips the rules (MinimalFlowPolicy) but still writes the
// state through the same bookkeeping.
func (s *Server) orchestrate(r *flowRun, proposed *runState, force bool) outcome {
	now := s.now()
	proposed.Timestamp = now
	proposed.Details["flow_run_id"] = r.ID
	if !force {
		if o, decided := s.applyRules(r, proposed, now); decided {
			if o.status == statusReject && o.state != nil && o.state != r.State {
				s.writeState(r, o.state)
				o.written = true
			}
			return o
		}
	}
	s.writeState(r, proposed)
	return outcome{status: statusAccept, state: proposed, written: true}
}

func (s *Server) applyRules(r *flowRun, proposed *runState, now time.Time) (outcome, bool) {
	initial := r.State
	reject := func(reason string) (outcome, bool) {
		return outcome{status: statusReject, state: initial, reason: reason}, true
	}
	rejectInto := func(st *runState, reason string) (outcome, bool) {
		st.Timestamp = now
		st.Details["flow_run_id"] = r.ID
		return outcome{status: statusReject, state: st, reason: reason}, true
	}
	abort := func(reason string) (outcome, bool) {
		return outcome{status: statusAbort, state: initial, reason: reason}, true
	}
	from, to := "", proposed.Type
	if initial != nil {
		from = initial.Type
	}

	// PreventDuplicateTransitions
	if initial != nil {
		a, b := initial.detailString("transition_id"), proposed.detailString("transition_id")
		if a != "" && a == b {
			return reject("This run has already made this state transition.")
		}
	}
	// HandleFlowTerminalStateTransitions
	if terminalTypes[from] {
		switch to {
		case "CANCELLING", "PAUSED", "CRASHED":
			return abort(fmt.Sprintf("Run is already in terminal state %s.", from))
		}
		if from == "COMPLETED" && !terminalTypes[to] && persistedResult(initial) {
			return reject("Run is already COMPLETED.")
		}
		if to == "SCHEDULED" && r.DeploymentID == "" {
			return abort("Cannot reschedule a run without an associated deployment.")
		}
	}
	// EnforceCancellingToCancelledTransition
	if from == "CANCELLING" && to != "CANCELLED" {
		return reject("Cannot transition flows that are cancelling to a state other than Cancelled.")
	}
	// BypassCancellingFlowRunsWithNoInfra
	if to == "CANCELLING" && (from == "SCHEDULED" || from == "PAUSED") {
		if from == "SCHEDULED" && r.InfraPID == nil || initial.Name == "Resuming" {
			return rejectInto(newState("CANCELLED", ""), "Scheduled flow run has no infrastructure to terminate.")
		}
		if from == "PAUSED" && initial.detail("pause_reschedule") == true {
			return rejectInto(newState("CANCELLED", ""), "Suspended flow run has no infrastructure to terminate.")
		}
	}
	// PreventPendingTransitions
	if to == "PENDING" {
		switch from {
		case "PENDING", "CANCELLING", "RUNNING", "CANCELLED":
			if from == "PENDING" && initial.Name != proposed.Name && proposed.Name != "Pending" {
				// Named PENDING sub-states (Submitting, InfrastructurePending)
				// keep what the first PENDING acquired.
				proposed.Details["scheduled_time"] = initial.detail("scheduled_time")
				proposed.Details["deployment_concurrency_lease_id"] = initial.detail("deployment_concurrency_lease_id")
				break
			}
			return abort(fmt.Sprintf("This run is in a %s state and cannot transition to a PENDING state.", from))
		}
	}
	// ValidateDeploymentConcurrencyAtRunning: the lease travels with the run.
	if from == "PENDING" && to == "RUNNING" {
		proposed.Details["deployment_concurrency_lease_id"] = initial.detail("deployment_concurrency_lease_id")
	}
	// SecureFlowConcurrencySlots
	if to == "PENDING" && from != "PENDING" && from != "RUNNING" && from != "CANCELLING" && r.DeploymentID != "" {
		d := s.st.deployments[r.DeploymentID]
		if d == nil {
			return abort("Deployment not found.")
		}
		if d.ConcurrencyLimit != nil {
			if *d.ConcurrencyLimit == 0 {
				return abort("The deployment concurrency limit is 0. The flow will deadlock if submitted again.")
			}
			held := s.activeRuns(func(o *flowRun) bool { return o.DeploymentID == d.ID && o.ID != r.ID })
			if held >= *d.ConcurrencyLimit {
				if d.Strategy == "CANCEL_NEW" {
					st := newState("CANCELLED", "")
					msg := "Deployment concurrency limit reached."
					st.Message = &msg
					return rejectInto(st, "Deployment concurrency limit reached.")
				}
				st := newState("SCHEDULED", "AwaitingConcurrencySlot")
				st.Details["scheduled_time"] = fmtTime(now.Add(concurrencySlotWait))
				return rejectInto(st, "Deployment concurrency limit reached.")
			}
			proposed.Details["deployment_concurrency_lease_id"] = s.newID()
		}
	}
	// EnsureOnlyScheduledFlowsMarkedLate
	if to == "SCHEDULED" && proposed.Name == "Late" && from != "SCHEDULED" && initial != nil {
		return reject("Only scheduled flows can be marked late.")
	}
	// HandlePausingFlows
	if to == "PAUSED" {
		verb := "pause"
		if proposed.Name == "Suspended" {
			verb = "suspend"
		}
		if initial == nil {
			return abort(fmt.Sprintf("Cannot %s flows with no state.", verb))
		}
		if from != "RUNNING" {
			return reject(fmt.Sprintf("Cannot %s flows that are not currently running.", verb))
		}
		if proposed.detail("pause_reschedule") == true && r.DeploymentID == "" {
			return abort(fmt.Sprintf("Cannot %s flows without a deployment.", verb))
		}
	}
	// HandleResumingPausedFlows
	if from == "PAUSED" && !(to == "RUNNING" || to == "SCHEDULED" || terminalTypes[to]) { //nolint:staticcheck // QF1001: the allowed targets, as Prefect's rule lists them
		return reject(fmt.Sprintf("This run cannot transition to the %s state from the %s state.", to, from))
	}
	// CopyScheduledTime
	if from == "SCHEDULED" && to == "PENDING" && proposed.detail("scheduled_time") == nil {
		proposed.Details["scheduled_time"] = initial.detail("scheduled_time")
	}
	// WaitForScheduledTime
	if (from == "SCHEDULED" || from == "PENDING") && to == "RUNNING" {
		if st := initial.scheduledTime(); !st.IsZero() {
			d := st.Sub(now)
			secs := int64(math.Floor(d.Seconds()))
			micros := (d - time.Duration(secs)*time.Second).Microseconds()
			secs += int64(math.Round(float64(micros) / 1e6))
			if secs > 0 {
				return outcome{status: statusWait, state: initial, reason: "Scheduled time is in the future", delay: secs}, true
			}
		}
	}
	// RetryFailedFlows
	if from == "RUNNING" && to == "FAILED" {
		if retries := intPtr(r.Policy["retries"]); retries != nil && r.RunCount <= *retries {
			delay := int64(0)
			if d := intPtr(r.Policy["retry_delay"]); d != nil {
				delay = *d
			}
			r.Policy["retry_type"] = "in_process"
			st := newState("SCHEDULED", "AwaitingRetry")
			st.Details["scheduled_time"] = fmtTime(now.Add(time.Duration(delay) * time.Second))
			st.Message, st.Data = proposed.Message, proposed.Data
			return rejectInto(st, "Retrying")
		}
	}
	return outcome{}, false
}

func persistedResult(st *runState) bool {
	if st == nil || st.Data == nil || string(st.Data) == "null" {
		return false
	}
	var d map[string]any
	if err := json.Unmarshal(st.Data, &d); err != nil {
		return true
	}
	return d["type"] != "unpersisted"
}

func newState(typ, name string) *runState {
	if name == "" {
		name = defaultStateName(typ)
	}
	return &runState{Type: typ, Name: name, Details: map[string]any{}}
}

// writeState stores st as the run's new state and keeps the run's
// denormalised columns in step, as Prefect's universal transforms do.
func (s *Server) writeState(r *flowRun, st *runState) {
	now := st.Timestamp
	if now.IsZero() {
		now = s.now()
		st.Timestamp = now
	}
	st.ID = s.newID()
	st.Details["flow_run_id"] = r.ID
	prev := r.State
	if prev != nil && prev.Type == "RUNNING" && st.Type != "RUNNING" {
		r.TotalRunTime += now.Sub(prev.Timestamp).Seconds()
	}
	switch st.Type {
	case "SCHEDULED":
		t := st.scheduledTime()
		if t.IsZero() {
			t = now
			st.Details["scheduled_time"] = fmtTime(t)
		}
		r.NextScheduledStart = t
		if r.ExpectedStart.IsZero() {
			r.ExpectedStart = t
		}
	case "RUNNING":
		if prev == nil || prev.Type != "RUNNING" {
			r.RunCount++
		}
		if r.StartTime.IsZero() {
			r.StartTime = now
		}
		r.NextScheduledStart = time.Time{}
	default:
		r.NextScheduledStart = time.Time{}
	}
	if terminalTypes[st.Type] {
		r.EndTime = now
	} else if prev != nil && terminalTypes[prev.Type] {
		r.EndTime = time.Time{}
	}
	if r.Policy == nil {
		r.Policy = map[string]any{}
	}
	r.State = st
	r.History = append(r.History, st.copy())
	r.Updated = now
	s.emitStateEvent(r, prev, st)
}

// parseStateCreate turns a StateCreate body into a state, defaulting the
// name from the type.
func parseStateCreate(m map[string]any) *runState {
	typ, _ := m["type"].(string)
	name, _ := m["name"].(string)
	st := newState(typ, name)
	st.Message = strPtr(m["message"])
	if d, ok := m["data"]; ok && d != nil {
		st.Data = mustRaw(d)
	}
	if sd, ok := m["state_details"].(map[string]any); ok {
		st.Details = cleanDetails(sd)
	}
	return st
}
