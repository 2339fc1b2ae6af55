package prefectfake

import (
	"encoding/json"
	"time"
)

// The helpers below set up and inspect the server without HTTP. They
// return objects in API form (as a client would decode them with
// encoding/json), and panic on misuse such as an unknown id: they are for
// tests, where that is a bug in the test.

func apiForm(v any) map[string]any {
	b, err := json.Marshal(v)
	if err != nil {
		panic("prefectfake: " + err.Error())
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		panic("prefectfake: " + err.Error())
	}
	return out
}

func apiList(items []map[string]any) []map[string]any {
	out := make([]map[string]any, len(items))
	for i, m := range items {
		out[i] = apiForm(m)
	}
	return out
}

func normaliseJSON(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic("prefectfake: " + err.Error())
	}
	return b
}

// CreateWorkPool creates a pool (with its default queue) as POST
// /work_pools/ would, without template checks. A nil template is {}.
func (s *Server) CreateWorkPool(name, typ string, baseJobTemplate map[string]any) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.st.pools[name]
	if p == nil {
		var tmpl map[string]any
		if baseJobTemplate != nil {
			_ = decodeJSON(normaliseJSON(baseJobTemplate), &tmpl)
		}
		p = s.newPool(name, typ, tmpl)
	}
	return apiForm(s.poolAPI(p))
}

// QueueOptions configures a work queue created by CreateWorkQueue.
type QueueOptions struct {
	Priority         int // 0 = after the pool's existing queues
	ConcurrencyLimit *int
	Paused           bool
}

// CreateWorkQueue creates (or reconfigures) a queue of a pool, creating
// the pool (type "ecs") when it does not exist.
func (s *Server) CreateWorkQueue(pool, name string, o QueueOptions) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.ensurePool(pool)
	q := s.queueByName(p, name)
	if q == nil {
		q = s.newQueue(p, name)
	}
	if o.Priority > 0 {
		q.Priority = int64(o.Priority)
	}
	q.ConcurrencyLimit = nil
	if o.ConcurrencyLimit != nil {
		n := int64(*o.ConcurrencyLimit)
		q.ConcurrencyLimit = &n
	}
	q.IsPaused = o.Paused
	q.Updated = s.now()
	return apiForm(s.queueAPI(q))
}

func (s *Server) ensurePool(name string) *workPool {
	if p := s.st.pools[name]; p != nil {
		return p
	}
	return s.newPool(name, "ecs", nil)
}

// CreateFlow creates a flow, or returns the one with that name.
func (s *Server) CreateFlow(name string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return apiForm(flowAPI(s.createFlow(name)))
}

// CreateDeployment creates a deployment of flowID in the pool poolName
// (created, type "ecs" with an empty template, when missing) and the queue
// queueName (created when missing; "" = the pool's default queue). An empty
// poolName makes a deployment no worker can pick up.
func (s *Server) CreateDeployment(flowID, name, poolName, queueName string, jobVariables map[string]any) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.flows[flowID] == nil {
		panic("prefectfake: CreateDeployment: no flow " + flowID)
	}
	now := s.now()
	d := &deployment{ID: s.newID(), Name: name, FlowID: flowID, Created: now, Updated: now, Extra: map[string]any{}}
	d.JobVariables = normaliseJSON(orEmpty(jobVariables))
	var pool *workPool
	if poolName != "" {
		pool = s.ensurePool(poolName)
	}
	s.placeDeployment(d, pool, queueName)
	s.st.deployments[d.ID] = d
	return apiForm(s.deploymentAPI(d))
}

// SetDeploymentConcurrency sets the deployment's concurrency limit and
// collision strategy ("ENQUEUE", "CANCEL_NEW" or "" for Prefect's default,
// ENQUEUE). A negative limit removes it; 0 is allowed, as Prefect allows
// it through updates (and then aborts every claim).
func (s *Server) SetDeploymentConcurrency(deploymentID string, limit int, strategy string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.st.deployments[deploymentID]
	if d == nil {
		panic("prefectfake: SetDeploymentConcurrency: no deployment " + deploymentID)
	}
	if limit < 0 {
		d.ConcurrencyLimit = nil
	} else {
		n := int64(limit)
		d.ConcurrencyLimit = &n
		if d.ConcurrencyLimitID == "" {
			d.ConcurrencyLimitID = s.newID()
		}
	}
	d.Strategy = strategy
	d.Updated = s.now()
}

// CreateFlowRun creates a SCHEDULED run of the deployment, due at
// scheduledStart (zero = now), with flow-run-level job variables (nil =
// none).
func (s *Server) CreateFlowRun(deploymentID string, jobVariables map[string]any, scheduledStart time.Time) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.st.deployments[deploymentID]
	if d == nil {
		panic("prefectfake: CreateFlowRun: no deployment " + deploymentID)
	}
	st := newState("SCHEDULED", "")
	if !scheduledStart.IsZero() {
		st.Details["scheduled_time"] = fmtTime(scheduledStart.UTC().Truncate(time.Microsecond))
	}
	r := s.newFlowRun(d, st)
	r.JobVariables = normaliseJSON(jobVariables)
	return apiForm(s.flowRunAPI(r, false))
}

// SetFlowRunState forces the run into a state, bypassing orchestration:
// what the engine, a user or the UI does (RUNNING, COMPLETED, CANCELLING,
// ...). name "" uses the type's default name.
func (s *Server) SetFlowRunState(id, stateType, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.st.runs[id]
	if r == nil {
		panic("prefectfake: SetFlowRunState: no flow run " + id)
	}
	s.orchestrate(r, newState(stateType, name), true)
}

// ProposeFlowRunState runs a non-forced proposal through orchestration, as
// an engine would, and returns the OrchestrationResult.
func (s *Server) ProposeFlowRunState(id, stateType, name string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.st.runs[id]
	if r == nil {
		panic("prefectfake: ProposeFlowRunState: no flow run " + id)
	}
	o := s.orchestrate(r, newState(stateType, name), false)
	return apiForm(map[string]any{"status": o.status, "state": o.state.api(), "details": o.details()})
}

// FlowRun returns the run as GET /flow_runs/{id} would, or nil.
func (s *Server) FlowRun(id string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.st.runs[id]
	if r == nil {
		return nil
	}
	return apiForm(s.flowRunAPI(r, false))
}

// WorkPool returns the pool as GET /work_pools/{name} would, or nil.
func (s *Server) WorkPool(name string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.st.pools[name]
	if p == nil {
		return nil
	}
	return apiForm(s.poolAPI(p))
}

// Deployment returns the deployment as GET /deployments/{id} would, or nil.
func (s *Server) Deployment(id string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.st.deployments[id]
	if d == nil {
		return nil
	}
	return apiForm(s.deploymentAPI(d))
}

// SetBlockDocument stores a block document of the given type slug (the
// type is created on first use) and returns its id. Fields listed in
// secretFields (dotted paths), plus the known secret fields of the type,
// are masked unless the reader asks for include_secrets=true.
func (s *Server) SetBlockDocument(typeSlug, name string, data map[string]any, secretFields ...string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	bt := s.st.blockTypes[typeSlug]
	if bt == nil {
		bt = &blockType{ID: s.newID(), Name: defaultStateName(stringsReplace(typeSlug)), Slug: typeSlug, SchemaID: s.newID(), Created: now}
		s.st.blockTypes[typeSlug] = bt
	}
	var stored map[string]any
	_ = json.Unmarshal(normaliseJSON(orEmpty(data)), &stored)
	secret := append(append([]string{}, secretFieldsBySlug[typeSlug]...), secretFields...)
	for _, b := range s.st.blocks {
		if b.Slug == typeSlug && b.Name == name {
			b.Data, b.Secret, b.Updated = stored, secret, now
			return b.ID
		}
	}
	b := &blockDocument{ID: s.newID(), Name: name, Slug: typeSlug, Data: stored, Secret: secret, Created: now, Updated: now}
	s.st.blocks[b.ID] = b
	return b.ID
}

func stringsReplace(slug string) string {
	out := []byte(slug)
	for i, c := range out {
		if c == '-' {
			out[i] = '_'
		}
	}
	return string(out)
}

// SetVariable creates or replaces a variable.
func (s *Server) SetVariable(name string, value any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	raw := normaliseJSON(value)
	if raw == nil {
		raw = json.RawMessage("null")
	}
	if v := s.st.variables[name]; v != nil {
		v.Value, v.Updated = raw, now
		return
	}
	s.st.variables[name] = &variable{ID: s.newID(), Name: name, Value: raw, Created: now, Updated: now}
}

// StateHistory lists every state the run went through, oldest first.
func (s *Server) StateHistory(flowRunID string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.st.runs[flowRunID]
	if r == nil {
		return nil
	}
	out := make([]map[string]any, len(r.History))
	for i, st := range r.History {
		out[i] = apiForm(st.api())
	}
	return out
}

// Logs returns the log records clients sent, in arrival order.
func (s *Server) Logs() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return apiList(s.st.logs)
}

// Heartbeats returns each heartbeat body received, with the pool name
// (work_pool_name) and the server time (timestamp) added.
func (s *Server) Heartbeats() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return apiList(s.st.heartbeats)
}

// Events returns the events clients sent (POST /events and /events/in),
// each with the server's "received" time. Events the server itself emits
// (flow-run state changes) are only streamed on /events/out.
func (s *Server) Events() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return apiList(s.st.events)
}

// Workers returns the pool's workers as POST .../workers/filter would.
func (s *Server) Workers(pool string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.st.pools[pool]
	if p == nil {
		return nil
	}
	var out []map[string]any
	for _, id := range sortedKeys(s.st.workers) {
		if w := s.st.workers[id]; w.PoolID == p.ID {
			out = append(out, apiForm(s.workerAPI(w)))
		}
	}
	return out
}
