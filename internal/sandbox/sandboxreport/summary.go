// Package sandboxreport is the outcome of an `ecsworker sandbox` run, the
// Summary that --json prints, and the text report that ends the sandbox's
// output for people.
package sandboxreport

import "encoding/json"

// Banner says what the sandbox talks to; it heads and ends the output so
// that nobody takes a sandbox run for a real one.
const Banner = "SIMULATED AWS and a LOCAL test Prefect API"

// Summary is the outcome of a sandbox run.
type Summary struct {
	Simulated      bool    `json:"simulated"`
	Notice         string  `json:"notice"`
	PrefectAPIURL  string  `json:"prefect_api_url"`
	AWSEndpointURL string  `json:"aws_endpoint_url"`
	WorkPool       string  `json:"work_pool"`
	Deployment     string  `json:"deployment"`
	Speed          float64 `json:"speed"`
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	OK             bool    `json:"ok"`
	// Interrupted is set when the context ended before the demo did.
	Interrupted  bool           `json:"interrupted,omitempty"`
	Runs         []RunSummary   `json:"runs"`
	Mismatches   []string       `json:"mismatches"`
	AWSCalls     map[string]int `json:"aws_calls"`
	PrefectCalls map[string]int `json:"prefect_calls"`
	// ECSRequests are the requests the worker sent for one run, secrets
	// masked.
	ECSRequests *ECSRequests `json:"ecs_requests,omitempty"`
	// WorkerWarnings are the worker's own warnings and errors, if any.
	WorkerWarnings []string `json:"worker_warnings,omitempty"`
}

// RunSummary is one demo flow run.
type RunSummary struct {
	Name          string `json:"name"`
	FlowRunID     string `json:"flow_run_id"`
	Scenario      string `json:"scenario"`
	ExpectedState string `json:"expected_state"`
	FinalState    string `json:"final_state"` // state type, "" when not final
	StateName     string `json:"state_name"`
	Message       string `json:"message,omitempty"`
	Diagnosis     string `json:"diagnosis,omitempty"`
	Tasks         int    `json:"tasks"`
	TaskARN       string `json:"task_arn,omitempty"`
	TaskStatus    string `json:"task_last_status,omitempty"`
	RunTaskCalls  int    `json:"run_task_calls"`
	// SecondsToRunTask is from the run's creation to the RunTask call that
	// started its task; nil when no task started.
	SecondsToRunTask *float64 `json:"seconds_to_run_task"`
	// Start is where the run's start went, as the worker recorded it on
	// the flow run; nil when it recorded nothing.
	Start    *StartSummary `json:"start,omitempty"`
	OK       bool          `json:"ok"`
	Problems []string      `json:"problems,omitempty"`
}

// StartSummary is a run's start-time breakdown: the figures the worker
// put in the flow run's labels, and the line it wrote to the run's logs.
type StartSummary struct {
	// Seconds per phase (queueing, provisioning, image_pull,
	// container_start, flow_start); a phase ECS or Prefect did not report
	// is absent.
	Seconds  map[string]float64 `json:"seconds"`
	Capacity string             `json:"capacity,omitempty"`
	LogLine  string             `json:"log_line,omitempty"`
}

// ECSRequests are the bodies of the ECS calls that launched one run.
type ECSRequests struct {
	FlowRun                string          `json:"flow_run"`
	Scenario               string          `json:"scenario"`
	RegisterTaskDefinition json.RawMessage `json:"register_task_definition,omitempty"`
	RunTask                json.RawMessage `json:"run_task,omitempty"`
}
