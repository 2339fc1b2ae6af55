package prefectfake

import (
	"encoding/json"
	"strings"
	"time"
)

// Liveness thresholds of Prefect's foreman service and deployment/queue
// readiness.
const (
	defaultHeartbeatSeconds = 30
	offlineMultiple         = 3
	pollFreshness           = 60 * time.Second
	concurrencySlotWait     = 30 * time.Second
	defaultLimit            = 200
)

var terminalTypes = map[string]bool{"COMPLETED": true, "FAILED": true, "CANCELLED": true, "CRASHED": true}

type store struct {
	pools       map[string]*workPool // by name
	queues      map[string]*workQueue
	workers     map[string]*worker
	flows       map[string]*flow
	deployments map[string]*deployment
	runs        map[string]*flowRun
	blockTypes  map[string]*blockType // by slug
	blocks      map[string]*blockDocument
	variables   map[string]*variable // by name
	csrf        map[string]*csrfToken
	logs        []map[string]any
	heartbeats  []map[string]any
	events      []map[string]any // sent by clients
	emitted     []map[string]any // emitted by the server (state changes)
	seq         int
}

func (st *store) init() {
	st.pools = map[string]*workPool{}
	st.queues = map[string]*workQueue{}
	st.workers = map[string]*worker{}
	st.flows = map[string]*flow{}
	st.deployments = map[string]*deployment{}
	st.runs = map[string]*flowRun{}
	st.blockTypes = map[string]*blockType{}
	st.blocks = map[string]*blockDocument{}
	st.variables = map[string]*variable{}
	st.csrf = map[string]*csrfToken{}
}

type workPool struct {
	ID, Name, Type   string
	Description      *string
	BaseJobTemplate  json.RawMessage
	IsPaused         bool
	ConcurrencyLimit *int64
	Storage          map[string]any
	DefaultQueueID   string
	Created, Updated time.Time
}

type workQueue struct {
	ID, Name, PoolID string
	Description      *string
	IsPaused         bool
	ConcurrencyLimit *int64
	Priority         int64
	LastPolled       time.Time
	Created, Updated time.Time
}

type worker struct {
	ID, Name, PoolID string
	LastHeartbeat    time.Time
	Interval         *int64
	Created, Updated time.Time
}

type flow struct {
	ID, Name         string
	Tags             []string
	Labels           map[string]any
	Created, Updated time.Time
}

type deployment struct {
	ID, Name, FlowID string
	Paused           bool
	ConcurrencyLimit *int64
	// Strategy and GracePeriod are concurrency_options; "" = not set.
	Strategy           string
	GracePeriod        *int64
	ConcurrencyLimitID string
	JobVariables       json.RawMessage
	Parameters         json.RawMessage
	Tags               []string
	Labels             map[string]any
	WorkQueueID        string
	// WorkQueueName is kept for deployments without a pool (legacy agent
	// queues), whose queue is not one of ours.
	WorkQueueName    string
	Extra            map[string]any // other DeploymentCreate fields, echoed back
	LastPolled       time.Time
	Created, Updated time.Time
}

type flowRun struct {
	ID, Name, FlowID   string
	DeploymentID       string
	DeploymentVersion  *string
	WorkQueueID        string
	WorkQueueName      string
	Parameters         json.RawMessage
	JobVariables       json.RawMessage // nil = null
	IdempotencyKey     *string
	Context            map[string]any
	Policy             map[string]any
	Tags               []string
	Labels             map[string]any
	ParentTaskRunID    *string
	FlowVersion        *string
	State              *runState
	History            []*runState
	RunCount           int64
	ExpectedStart      time.Time
	NextScheduledStart time.Time
	StartTime          time.Time
	EndTime            time.Time
	TotalRunTime       float64
	InfraPID           *string
	Seq                int
	Created, Updated   time.Time
}

type runState struct {
	ID, Type, Name string
	Timestamp      time.Time
	Message        *string
	Data           json.RawMessage // nil = null
	Details        map[string]any  // StateDetails keys only, JSON-ready values
}

type blockType struct {
	ID, Name, Slug, SchemaID string
	Created                  time.Time
}

type blockDocument struct {
	ID, Name, Slug   string
	Data             map[string]any
	Secret           []string // dotted paths hidden unless include_secrets
	Created, Updated time.Time
}

type variable struct {
	ID, Name         string
	Value            json.RawMessage
	Tags             []string
	Created, Updated time.Time
}

type csrfToken struct {
	ID, Token, Client string
	Expiration        time.Time
	Created, Updated  time.Time
}

// fmtTime writes times the way pydantic does: UTC with Z, and fractional
// seconds only when there are some (at most microseconds).
func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.999999Z07:00") }

func timeOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return fmtTime(t)
}

func strOrNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func ptrOrNil[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func rawOr(r json.RawMessage, def string) json.RawMessage {
	if len(r) == 0 {
		return json.RawMessage(def)
	}
	return r
}

func tagsOf(t []string) []string {
	if t == nil {
		return []string{}
	}
	return t
}

func labelsOf(l map[string]any) map[string]any {
	if l == nil {
		return map[string]any{}
	}
	return l
}

// defaultStateName is Prefect's name for a state type: its words,
// capitalised.
func defaultStateName(t string) string {
	words := strings.Split(strings.ToLower(t), "_")
	for i, w := range words {
		if w != "" {
			words[i] = strings.ToUpper(w[:1]) + w[1:]
		}
	}
	return strings.Join(words, " ")
}

var stateDetailDefaults = map[string]any{
	"flow_run_id": nil, "task_run_id": nil, "child_flow_run_id": nil, "scheduled_time": nil,
	"cache_key": nil, "cache_expiration": nil, "deferred": false, "untrackable_result": false,
	"pause_timeout": nil, "pause_reschedule": false, "pause_key": nil, "run_input_keyset": nil,
	"refresh_cache": nil, "retriable": nil, "transition_id": nil, "task_parameters_id": nil,
	"traceparent": nil, "deployment_concurrency_lease_id": nil,
}

var stateDetailTimes = map[string]bool{"scheduled_time": true, "cache_expiration": true, "pause_timeout": true}
var stateDetailUUIDs = map[string]bool{
	"flow_run_id": true, "task_run_id": true, "child_flow_run_id": true, "transition_id": true,
	"task_parameters_id": true, "deployment_concurrency_lease_id": true,
}

// cleanDetails keeps the keys StateDetails knows (it ignores the rest) and
// normalises times and ids the way the server re-serialises them.
func cleanDetails(in map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range in {
		if _, ok := stateDetailDefaults[k]; !ok {
			continue
		}
		if s, ok := v.(string); ok {
			if stateDetailTimes[k] {
				if t, err := parseTime(s); err == nil {
					v = fmtTime(t)
				}
			}
			if stateDetailUUIDs[k] {
				if u, ok := canonicalUUID(s); ok {
					v = u
				}
			}
		}
		out[k] = v
	}
	return out
}

func (st *runState) detail(k string) any {
	if st == nil {
		return nil
	}
	return st.Details[k]
}

func (st *runState) detailString(k string) string {
	s, _ := st.detail(k).(string)
	return s
}

func (st *runState) scheduledTime() time.Time {
	s := st.detailString("scheduled_time")
	if s == "" {
		return time.Time{}
	}
	t, _ := parseTime(s)
	return t
}

func (st *runState) api() map[string]any {
	if st == nil {
		return nil
	}
	details := map[string]any{}
	for k, v := range stateDetailDefaults {
		details[k] = v
	}
	for k, v := range st.Details {
		details[k] = v
	}
	var data any
	if st.Data != nil {
		data = st.Data
	}
	return map[string]any{
		"id":            st.ID,
		"type":          st.Type,
		"name":          st.Name,
		"timestamp":     fmtTime(st.Timestamp),
		"message":       ptrOrNil(st.Message),
		"data":          data,
		"state_details": details,
	}
}

func (st *runState) copy() *runState {
	if st == nil {
		return nil
	}
	cp := *st
	cp.Details = map[string]any{}
	for k, v := range st.Details {
		cp.Details[k] = v
	}
	return &cp
}

func (s *Server) poolStatus(p *workPool) string {
	if p.IsPaused {
		return "PAUSED"
	}
	for _, w := range s.st.workers {
		if w.PoolID == p.ID && s.workerOnline(w) {
			return "READY"
		}
	}
	return "NOT_READY"
}

func (s *Server) workerOnline(w *worker) bool {
	interval := int64(defaultHeartbeatSeconds)
	if w.Interval != nil {
		interval = *w.Interval
	}
	return !s.now().After(w.LastHeartbeat.Add(time.Duration(interval*offlineMultiple) * time.Second))
}

func (s *Server) queueStatus(q *workQueue) string {
	if q.IsPaused {
		return "PAUSED"
	}
	if !q.LastPolled.IsZero() && !s.now().After(q.LastPolled.Add(pollFreshness)) {
		return "READY"
	}
	return "NOT_READY"
}

func (s *Server) poolByID(id string) *workPool {
	for _, p := range s.st.pools {
		if p.ID == id {
			return p
		}
	}
	return nil
}

func (s *Server) queueByName(p *workPool, name string) *workQueue {
	for _, q := range s.st.queues {
		if q.PoolID == p.ID && q.Name == name {
			return q
		}
	}
	return nil
}

// activeRuns counts runs holding a slot: PENDING, RUNNING or CANCELLING.
func (s *Server) activeRuns(match func(*flowRun) bool) int64 {
	var n int64
	for _, r := range s.st.runs {
		if r.State == nil {
			continue
		}
		switch r.State.Type {
		case "PENDING", "RUNNING", "CANCELLING":
			if match(r) {
				n++
			}
		}
	}
	return n
}

func (s *Server) poolAPI(p *workPool) map[string]any {
	storage := map[string]any{"bundle_upload_step": nil, "bundle_execution_step": nil, "default_result_storage_block_id": nil}
	for k, v := range p.Storage {
		storage[k] = v
	}
	queueIDs := map[string]bool{}
	for _, q := range s.st.queues {
		if q.PoolID == p.ID {
			queueIDs[q.ID] = true
		}
	}
	return map[string]any{
		"id":                    p.ID,
		"created":               fmtTime(p.Created),
		"updated":               fmtTime(p.Updated),
		"name":                  p.Name,
		"description":           ptrOrNil(p.Description),
		"type":                  p.Type,
		"base_job_template":     rawOr(p.BaseJobTemplate, "{}"),
		"is_paused":             p.IsPaused,
		"concurrency_limit":     ptrOrNil(p.ConcurrencyLimit),
		"status":                s.poolStatus(p),
		"default_queue_id":      strOrNil(p.DefaultQueueID),
		"storage_configuration": storage,
		"active_slots":          s.activeRuns(func(r *flowRun) bool { return queueIDs[r.WorkQueueID] }),
	}
}

func (s *Server) queueAPI(q *workQueue) map[string]any {
	poolName := ""
	if p := s.poolByID(q.PoolID); p != nil {
		poolName = p.Name
	}
	return map[string]any{
		"id":                q.ID,
		"created":           fmtTime(q.Created),
		"updated":           fmtTime(q.Updated),
		"name":              q.Name,
		"description":       ptrOrNil(q.Description),
		"is_paused":         q.IsPaused,
		"concurrency_limit": ptrOrNil(q.ConcurrencyLimit),
		"priority":          q.Priority,
		"work_pool_id":      q.PoolID,
		"filter":            nil,
		"last_polled":       timeOrNil(q.LastPolled),
		"work_pool_name":    strOrNil(poolName),
		"status":            s.queueStatus(q),
		"active_slots":      s.activeRuns(func(r *flowRun) bool { return r.WorkQueueID == q.ID }),
	}
}

func (s *Server) workerAPI(w *worker) map[string]any {
	status := "OFFLINE"
	if s.workerOnline(w) {
		status = "ONLINE"
	}
	return map[string]any{
		"id":                         w.ID,
		"created":                    fmtTime(w.Created),
		"updated":                    fmtTime(w.Updated),
		"name":                       w.Name,
		"work_pool_id":               w.PoolID,
		"last_heartbeat_time":        timeOrNil(w.LastHeartbeat),
		"heartbeat_interval_seconds": ptrOrNil(w.Interval),
		"status":                     status,
	}
}

func flowAPI(f *flow) map[string]any {
	return map[string]any{
		"id":      f.ID,
		"created": fmtTime(f.Created),
		"updated": fmtTime(f.Updated),
		"name":    f.Name,
		"tags":    tagsOf(f.Tags),
		"labels":  labelsOf(f.Labels),
	}
}

func (s *Server) deploymentAPI(d *deployment) map[string]any {
	out := map[string]any{}
	for k, v := range d.Extra {
		out[k] = v
	}
	var poolName, queueName any
	queueName = strOrNil(d.WorkQueueName)
	if q := s.st.queues[d.WorkQueueID]; q != nil {
		queueName = q.Name
		if p := s.poolByID(q.PoolID); p != nil {
			poolName = p.Name
		}
	}
	var gcl, opts any
	if d.ConcurrencyLimit != nil {
		gcl = map[string]any{
			"id":                    d.ConcurrencyLimitID,
			"created":               fmtTime(d.Created),
			"updated":               fmtTime(d.Updated),
			"active":                true,
			"name":                  "deployment:" + d.ID,
			"limit":                 *d.ConcurrencyLimit,
			"active_slots":          s.activeRuns(func(r *flowRun) bool { return r.DeploymentID == d.ID }),
			"slot_decay_per_second": 0.0,
		}
	}
	if d.Strategy != "" {
		opts = map[string]any{"collision_strategy": d.Strategy, "grace_period_seconds": ptrOrNil(d.GracePeriod)}
	}
	status := "NOT_READY"
	if !d.LastPolled.IsZero() && !s.now().After(d.LastPolled.Add(pollFreshness)) {
		status = "READY"
	}
	for k, v := range map[string]any{
		"id":                       d.ID,
		"created":                  fmtTime(d.Created),
		"updated":                  fmtTime(d.Updated),
		"name":                     d.Name,
		"flow_id":                  d.FlowID,
		"paused":                   d.Paused,
		"concurrency_limit":        ptrOrNil(d.ConcurrencyLimit),
		"global_concurrency_limit": gcl,
		"concurrency_options":      opts,
		"job_variables":            rawOr(d.JobVariables, "{}"),
		"parameters":               rawOr(d.Parameters, "{}"),
		"tags":                     tagsOf(d.Tags),
		"labels":                   labelsOf(d.Labels),
		"work_queue_name":          queueName,
		"work_queue_id":            strOrNil(d.WorkQueueID),
		"last_polled":              timeOrNil(d.LastPolled),
		"work_pool_name":           poolName,
		"status":                   status,
		"created_by":               nil,
		"updated_by":               nil,
	} {
		out[k] = v
	}
	for k, def := range map[string]any{
		"version": nil, "description": nil, "schedules": []any{}, "parameter_openapi_schema": nil,
		"path": nil, "pull_steps": nil, "entrypoint": nil, "storage_document_id": nil,
		"infrastructure_document_id": nil, "enforce_parameter_schema": true,
	} {
		if _, ok := out[k]; !ok {
			out[k] = def
		}
	}
	return out
}

// flowRunAPI renders a FlowRunResponse, or with scheduled=true the FlowRun
// of get_scheduled_flow_runs, where Prefect leaves the state relation
// unloaded (null) and has no work_pool_* fields.
func (s *Server) flowRunAPI(r *flowRun, scheduled bool) map[string]any {
	now := s.now()
	var estRun = r.TotalRunTime
	if r.State != nil && r.State.Type == "RUNNING" && !r.StartTime.IsZero() {
		estRun += now.Sub(r.State.Timestamp).Seconds()
	}
	var delta float64
	if r.StartTime.IsZero() && !r.ExpectedStart.IsZero() && now.After(r.ExpectedStart) {
		delta = now.Sub(r.ExpectedStart).Seconds()
	}
	var jv, stateID, stateType, stateName any
	if r.JobVariables != nil {
		jv = r.JobVariables
	}
	if r.State != nil {
		stateID, stateType, stateName = r.State.ID, r.State.Type, r.State.Name
	}
	policy := map[string]any{"max_retries": 0, "retry_delay_seconds": 0.0, "retries": nil, "retry_delay": nil, "pause_keys": []any{}, "resuming": false, "retry_type": nil}
	for k, v := range r.Policy {
		policy[k] = v
	}
	out := map[string]any{
		"id":                         r.ID,
		"created":                    fmtTime(r.Created),
		"updated":                    fmtTime(r.Updated),
		"name":                       r.Name,
		"flow_id":                    r.FlowID,
		"state_id":                   stateID,
		"deployment_id":              strOrNil(r.DeploymentID),
		"deployment_version":         ptrOrNil(r.DeploymentVersion),
		"work_queue_id":              strOrNil(r.WorkQueueID),
		"work_queue_name":            strOrNil(r.WorkQueueName),
		"flow_version":               ptrOrNil(r.FlowVersion),
		"parameters":                 rawOr(r.Parameters, "{}"),
		"idempotency_key":            ptrOrNil(r.IdempotencyKey),
		"context":                    labelsOf(r.Context),
		"empirical_policy":           policy,
		"tags":                       tagsOf(r.Tags),
		"labels":                     labelsOf(r.Labels),
		"parent_task_run_id":         ptrOrNil(r.ParentTaskRunID),
		"state_type":                 stateType,
		"state_name":                 stateName,
		"run_count":                  r.RunCount,
		"expected_start_time":        timeOrNil(r.ExpectedStart),
		"next_scheduled_start_time":  timeOrNil(r.NextScheduledStart),
		"start_time":                 timeOrNil(r.StartTime),
		"end_time":                   timeOrNil(r.EndTime),
		"total_run_time":             r.TotalRunTime,
		"estimated_run_time":         estRun,
		"estimated_start_time_delta": delta,
		"auto_scheduled":             false,
		"infrastructure_document_id": nil,
		"infrastructure_pid":         ptrOrNil(r.InfraPID),
		"created_by":                 nil,
		"job_variables":              jv,
		"state":                      nil,
	}
	if !scheduled {
		out["state"] = r.State.api()
		var poolID, poolName any
		if q := s.st.queues[r.WorkQueueID]; q != nil {
			if p := s.poolByID(q.PoolID); p != nil {
				poolID, poolName = p.ID, p.Name
			}
		}
		out["work_pool_id"] = poolID
		out["work_pool_name"] = poolName
	}
	return out
}
