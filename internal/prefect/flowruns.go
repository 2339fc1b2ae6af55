package prefect

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/prefectapi"
)

// StateType is the type of a run's state.
type StateType string

// The state types of Prefect.
const (
	StateScheduled  StateType = "SCHEDULED"
	StatePending    StateType = "PENDING"
	StateRunning    StateType = "RUNNING"
	StateCompleted  StateType = "COMPLETED"
	StateFailed     StateType = "FAILED"
	StateCancelled  StateType = "CANCELLED"
	StateCrashed    StateType = "CRASHED"
	StatePaused     StateType = "PAUSED"
	StateCancelling StateType = "CANCELLING"
)

// IsTerminal reports whether a run in this state is over.
func (t StateType) IsTerminal() bool {
	switch t {
	case StateCompleted, StateFailed, StateCancelled, StateCrashed:
		return true
	}
	return false
}

// State is a run's state as the API returns it.
type State struct {
	ID           string          `json:"id"`
	Type         StateType       `json:"type"`
	Name         string          `json:"name"`
	Timestamp    prefectapi.Time `json:"timestamp"`
	Message      string          `json:"message"`
	StateDetails StateDetails    `json:"state_details"`
}

// StateDetails holds the details of a state a worker may need; the rest
// stays in the Raw object of the run or result.
type StateDetails struct {
	FlowRunID                    string          `json:"flow_run_id"`
	TransitionID                 string          `json:"transition_id"`
	ScheduledTime                prefectapi.Time `json:"scheduled_time"`
	DeploymentConcurrencyLeaseID string          `json:"deployment_concurrency_lease_id"`
	PauseTimeout                 prefectapi.Time `json:"pause_timeout"`
}

// FlowRun is a flow run as the API returns it (FlowRunResponse, or FlowRun
// inside scheduled-run answers).
type FlowRun struct {
	ID                     string          `json:"id"`
	Name                   string          `json:"name"`
	FlowID                 string          `json:"flow_id"`
	FlowVersion            string          `json:"flow_version"`
	DeploymentID           string          `json:"deployment_id"`
	DeploymentVersion      string          `json:"deployment_version"`
	WorkQueueID            string          `json:"work_queue_id"`
	WorkQueueName          string          `json:"work_queue_name"`
	WorkPoolID             string          `json:"work_pool_id"`
	WorkPoolName           string          `json:"work_pool_name"`
	State                  *State          `json:"state"`
	StateType              StateType       `json:"state_type"`
	StateName              string          `json:"state_name"`
	Parameters             *jsonv.Object   `json:"parameters"`
	JobVariables           *jsonv.Object   `json:"job_variables"`
	InfrastructurePID      string          `json:"infrastructure_pid"`
	Tags                   []string        `json:"tags"`
	Labels                 *jsonv.Object   `json:"labels"`
	RunCount               int             `json:"run_count"`
	IdempotencyKey         string          `json:"idempotency_key"`
	ParentTaskRunID        string          `json:"parent_task_run_id"`
	ExpectedStartTime      prefectapi.Time `json:"expected_start_time"`
	NextScheduledStartTime prefectapi.Time `json:"next_scheduled_start_time"`
	StartTime              prefectapi.Time `json:"start_time"`
	EndTime                prefectapi.Time `json:"end_time"`
	Created                prefectapi.Time `json:"created"`
	Updated                prefectapi.Time `json:"updated"`
	// Raw is the whole flow run object as the server wrote it.
	Raw *jsonv.Object `json:"-"`
}

// SetRaw keeps the response object as the server wrote it.
func (r *FlowRun) SetRaw(o *jsonv.Object) { r.Raw = o }

// ReadFlowRun reads a flow run by id.
func (c *Client) ReadFlowRun(ctx context.Context, id string) (*FlowRun, error) {
	cl := prefectapi.Call{Op: "read flow run " + id, Method: http.MethodGet, Path: "/flow_runs/" + prefectapi.Esc(id)}
	resp, err := c.t.Do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return prefectapi.DecodeOne[FlowRun](c.t, cl, resp)
}

// DeleteFlowRun deletes a flow run.
func (c *Client) DeleteFlowRun(ctx context.Context, id string) error {
	_, err := c.t.Do(ctx, prefectapi.Call{Op: "delete flow run " + id, Method: http.MethodDelete, Path: "/flow_runs/" + prefectapi.Esc(id)})
	return err
}

// FlowRunFilter selects flow runs; empty fields match all, set fields must
// all match.
type FlowRunFilter struct {
	IDs            []string
	StateTypes     []StateType
	StateNames     []string
	DeploymentIDs  []string
	WorkQueueNames []string
	WorkPoolNames  []string
	// ExpectedStartAfter keeps the runs expected to start at or after it
	// (flow_runs.expected_start_time.after_); zero keeps all.
	ExpectedStartAfter time.Time
	// Sort is one of Prefect's FlowRunSort values (ID_DESC by default,
	// EXPECTED_START_TIME_ASC, ...).
	Sort string
	// Limit is the most runs to return (at most 200 per request for
	// FilterFlowRuns; ListFlowRuns pages); 0 is the server's default for
	// FilterFlowRuns and "all" for ListFlowRuns.
	Limit  int
	Offset int
}

type flowRunFilterBody struct {
	FlowRuns  *flowRunCriteria             `json:"flow_runs,omitempty"`
	WorkPools *prefectapi.WorkPoolCriteria `json:"work_pools,omitempty"`
	Sort      string                       `json:"sort,omitempty"`
	Limit     int                          `json:"limit,omitempty"`
	Offset    int                          `json:"offset"`
}

type flowRunCriteria struct {
	ID            *prefectapi.AnyOf     `json:"id,omitempty"`
	DeploymentID  *prefectapi.AnyOf     `json:"deployment_id,omitempty"`
	WorkQueueName *prefectapi.AnyOf     `json:"work_queue_name,omitempty"`
	State         *flowRunStateCriteria `json:"state,omitempty"`
	// ExpectedStartTime is FlowRunFilterExpectedStartTime.
	ExpectedStartTime *timeCriteria `json:"expected_start_time,omitempty"`
}

// timeCriteria is a Prefect time filter (before_ and after_, both
// inclusive).
type timeCriteria struct {
	After string `json:"after_,omitempty"`
}

type flowRunStateCriteria struct {
	Type *prefectapi.AnyOf `json:"type,omitempty"`
	Name *prefectapi.AnyOf `json:"name,omitempty"`
}

func (f FlowRunFilter) body(limit, offset int) flowRunFilterBody {
	b := flowRunFilterBody{Sort: f.Sort, Limit: limit, Offset: offset}
	if len(f.IDs)+len(f.DeploymentIDs)+len(f.WorkQueueNames)+len(f.StateTypes)+len(f.StateNames) > 0 || !f.ExpectedStartAfter.IsZero() {
		crit := &flowRunCriteria{ID: prefectapi.AnyOfOrNil(f.IDs), DeploymentID: prefectapi.AnyOfOrNil(f.DeploymentIDs),
			WorkQueueName: prefectapi.AnyOfOrNil(f.WorkQueueNames)}
		if len(f.StateTypes)+len(f.StateNames) > 0 {
			types := make([]string, len(f.StateTypes))
			for i, t := range f.StateTypes {
				types[i] = string(t)
			}
			crit.State = &flowRunStateCriteria{Type: prefectapi.AnyOfOrNil(types), Name: prefectapi.AnyOfOrNil(f.StateNames)}
		}
		if !f.ExpectedStartAfter.IsZero() {
			crit.ExpectedStartTime = &timeCriteria{After: prefectapi.FormatTime(f.ExpectedStartAfter)}
		}
		b.FlowRuns = crit
	}
	if len(f.WorkPoolNames) > 0 {
		b.WorkPools = &prefectapi.WorkPoolCriteria{Name: prefectapi.AnyOfOrNil(f.WorkPoolNames)}
	}
	return b
}

// FilterFlowRuns returns one page of the runs that match f
// (POST /flow_runs/filter with f.Limit and f.Offset).
func (c *Client) FilterFlowRuns(ctx context.Context, f FlowRunFilter) ([]FlowRun, error) {
	return c.filterFlowRuns(ctx, f.body(f.Limit, f.Offset))
}

// ListFlowRuns returns up to f.Limit runs that match f (all when 0),
// fetching them page by page from f.Offset.
func (c *Client) ListFlowRuns(ctx context.Context, f FlowRunFilter) ([]FlowRun, error) {
	return prefectapi.Paginate(ctx, f.Limit, f.Offset, func(ctx context.Context, limit, offset int) ([]FlowRun, error) {
		return c.filterFlowRuns(ctx, f.body(limit, offset))
	})
}

// EachFlowRunPage lists the flow runs matching f a page at a time: fn
// gets each page as it arrives, and the listing is never held whole (a
// pool may have tens of thousands of runs in flight).
func (c *Client) EachFlowRunPage(ctx context.Context, f FlowRunFilter, fn func([]FlowRun) error) error {
	return prefectapi.EachPage(ctx, f.Limit, f.Offset, func(ctx context.Context, limit, offset int) ([]FlowRun, error) {
		return c.filterFlowRuns(ctx, f.body(limit, offset))
	}, fn)
}

func (c *Client) filterFlowRuns(ctx context.Context, body flowRunFilterBody) ([]FlowRun, error) {
	cl := prefectapi.Call{Op: "list flow runs", Method: http.MethodPost, Path: "/flow_runs/filter", Body: body}
	resp, err := c.t.Do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return prefectapi.DecodeList[FlowRun](c.t, cl, resp)
}

// StateCreate is a proposed state.
type StateCreate struct {
	Type    StateType
	Name    string // empty: the server names it after the type
	Message string
	// StateDetails are sent as given (for instance copied from the current
	// state); flow_run_id and transition_id are filled in.
	StateDetails *jsonv.Object
	// TransitionID identifies this proposal; empty means a fresh one, which
	// is right for every new proposal (including a re-proposal after WAIT).
	TransitionID string
	// ScheduledTime is sent as state_details.scheduled_time when set.
	ScheduledTime time.Time
}

func (s StateCreate) body(flowRunID string) *jsonv.Object {
	details := jsonv.CloneObject(s.StateDetails)
	if details == nil {
		details = jsonv.NewObject()
	}
	if flowRunID != "" {
		details.Set("flow_run_id", flowRunID)
	}
	tid := s.TransitionID
	if tid == "" {
		tid = prefectapi.NewUUID()
	}
	details.Set("transition_id", tid)
	if !s.ScheduledTime.IsZero() {
		details.Set("scheduled_time", prefectapi.FormatTime(s.ScheduledTime))
	}
	o := jsonv.NewObject()
	o.Set("type", string(s.Type))
	if s.Name != "" {
		o.Set("name", s.Name)
	}
	if s.Message != "" {
		o.Set("message", s.Message)
	}
	o.Set("state_details", details)
	return o
}

// SetStateStatus is the server's verdict on a proposed state.
type SetStateStatus string

// The verdicts of the orchestration rules.
const (
	StatusAccept SetStateStatus = "ACCEPT"
	StatusReject SetStateStatus = "REJECT"
	StatusAbort  SetStateStatus = "ABORT"
	StatusWait   SetStateStatus = "WAIT"
)

// OrchestrationResult is the answer to a proposed state.
type OrchestrationResult struct {
	Status SetStateStatus `json:"status"`
	// State is the stored state (ACCEPT), what the server did instead
	// (REJECT), or the run's current state (ABORT, WAIT; may be nil).
	State   *State               `json:"state"`
	Details OrchestrationDetails `json:"details"`
	Raw     *jsonv.Object        `json:"-"`
}

// SetRaw keeps the response object as the server wrote it.
func (r *OrchestrationResult) SetRaw(o *jsonv.Object) { r.Raw = o }

// OrchestrationDetails explain a verdict.
type OrchestrationDetails struct {
	Type         string `json:"type"` // accept_details, reject_details, abort_details, wait_details
	Reason       string `json:"reason"`
	DelaySeconds int    `json:"delay_seconds"` // for WAIT
}

// SetFlowRunState proposes a state for a run (POST /flow_runs/{id}/set_state).
// force bypasses the orchestration rules. The same body, with the same
// transition id, is resent on retries, so a repeat of a proposal the server
// already applied is recognised as such.
func (c *Client) SetFlowRunState(ctx context.Context, id string, s StateCreate, force bool) (*OrchestrationResult, error) {
	body := jsonv.NewObject()
	body.Set("state", s.body(id))
	body.Set("force", force)
	name := s.Name
	if name == "" {
		name = string(s.Type)
	}
	cl := prefectapi.Call{Op: fmt.Sprintf("set state of flow run %s to %s", id, name), Method: http.MethodPost,
		Path: "/flow_runs/" + prefectapi.Esc(id) + "/set_state", Body: body}
	resp, err := c.t.Do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return prefectapi.DecodeOne[OrchestrationResult](c.t, cl, resp)
}

// FlowRunUpdate is the body of PATCH /flow_runs/{id}: only the fields set
// are sent, and the server changes exactly those.
type FlowRunUpdate struct {
	Name              *string       `json:"name,omitempty"`
	FlowVersion       *string       `json:"flow_version,omitempty"`
	InfrastructurePID *string       `json:"infrastructure_pid,omitempty"`
	Tags              []string      `json:"tags,omitempty"`
	Parameters        *jsonv.Object `json:"parameters,omitempty"`
	// JobVariables can only change while the run is SCHEDULED.
	JobVariables *jsonv.Object `json:"job_variables,omitempty"`
}

// UpdateFlowRun changes the fields set in u.
func (c *Client) UpdateFlowRun(ctx context.Context, id string, u FlowRunUpdate) error {
	_, err := c.t.Do(ctx, prefectapi.Call{Op: "update flow run " + id, Method: http.MethodPatch, Path: "/flow_runs/" + prefectapi.Esc(id), Body: u})
	return err
}

// SetInfrastructurePID records where a run executes ("<cluster>::<task
// ARN>" for ECS); without it the run cannot be cancelled by the server.
func (c *Client) SetInfrastructurePID(ctx context.Context, id, pid string) error {
	_, err := c.t.Do(ctx, prefectapi.Call{Op: "set infrastructure pid of flow run " + id, Method: http.MethodPatch,
		Path: "/flow_runs/" + prefectapi.Esc(id), Body: FlowRunUpdate{InfrastructurePID: &pid}})
	return err
}

// UpdateFlowRunLabels merges labels into the run's labels
// (PATCH /flow_runs/{id}/labels). Values are strings, numbers or booleans.
func (c *Client) UpdateFlowRunLabels(ctx context.Context, id string, labels map[string]any) error {
	op := "update labels of flow run " + id
	body := jsonv.NewObject()
	for _, k := range sortedKeys(labels) {
		v := jsonv.Normalize(labels[k])
		switch v.(type) {
		case string, bool, json.Number:
		default:
			// The server refuses the whole update (422) for one bad value.
			return fmt.Errorf("%s: label %q is %s; labels must be strings, numbers or booleans", op, k, jsonv.TypeName(v))
		}
		body.Set(k, v)
	}
	_, err := c.t.Do(ctx, prefectapi.Call{Op: op, Method: http.MethodPatch,
		Path: "/flow_runs/" + prefectapi.Esc(id) + "/labels", Body: body})
	return err
}

// DeploymentFlowRunCreate is the body of
// POST /deployments/{id}/create_flow_run; zero fields are not sent.
type DeploymentFlowRunCreate struct {
	Name           string
	Parameters     *jsonv.Object
	JobVariables   *jsonv.Object
	Tags           []string
	IdempotencyKey string
	WorkQueueName  string
	// State is the initial state; nil is the server's default, Scheduled
	// for now. Use ScheduledTime in it to schedule the run later.
	State *StateCreate
}

func (r DeploymentFlowRunCreate) body() *jsonv.Object {
	o := jsonv.NewObject()
	if r.Name != "" {
		o.Set("name", r.Name)
	}
	if r.Parameters != nil {
		o.Set("parameters", r.Parameters)
	}
	if r.JobVariables != nil {
		o.Set("job_variables", r.JobVariables)
	}
	if len(r.Tags) > 0 {
		o.Set("tags", jsonv.Normalize(r.Tags))
	}
	if r.IdempotencyKey != "" {
		o.Set("idempotency_key", r.IdempotencyKey)
	}
	if r.WorkQueueName != "" {
		o.Set("work_queue_name", r.WorkQueueName)
	}
	if r.State != nil {
		o.Set("state", r.State.body(""))
	}
	return o
}

// CreateFlowRunFromDeployment creates a run of a deployment.
func (c *Client) CreateFlowRunFromDeployment(ctx context.Context, deploymentID string, r DeploymentFlowRunCreate) (*FlowRun, error) {
	cl := prefectapi.Call{Op: "create a flow run of deployment " + deploymentID, Method: http.MethodPost,
		Path: "/deployments/" + prefectapi.Esc(deploymentID) + "/create_flow_run", Body: r.body()}
	resp, err := c.t.Do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return prefectapi.DecodeOne[FlowRun](c.t, cl, resp)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
