package prefectfake

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
)

func (s *Server) createFlowHTTP(c *call) *reply {
	b := c.obj()
	name, _ := b["name"].(string)
	for _, f := range s.st.flows {
		if f.Name == name {
			return jsonReply(http.StatusOK, flowAPI(f))
		}
	}
	f := s.createFlow(name)
	f.Tags = stringsOf(b["tags"])
	if l, ok := b["labels"].(map[string]any); ok {
		f.Labels = l
	}
	return jsonReply(http.StatusCreated, flowAPI(f))
}

func (s *Server) createFlow(name string) *flow {
	for _, f := range s.st.flows {
		if f.Name == name {
			return f
		}
	}
	now := s.now()
	f := &flow{ID: s.newID(), Name: name, Created: now, Updated: now}
	s.st.flows[f.ID] = f
	return f
}

func (s *Server) readFlow(c *call) *reply {
	id, _ := canonicalUUID(c.params["id"])
	f := s.st.flows[id]
	if f == nil {
		return detail(http.StatusNotFound, "Flow not found")
	}
	return jsonReply(http.StatusOK, flowAPI(f))
}

// deploymentCreateEcho are DeploymentCreate fields stored as given and
// echoed back in DeploymentResponse.
var deploymentCreateEcho = []string{"version", "description", "path", "entrypoint", "pull_steps", "parameter_openapi_schema", "enforce_parameter_schema", "storage_document_id", "infrastructure_document_id"}

func (s *Server) createDeploymentHTTP(c *call) *reply {
	b := c.obj()
	name, _ := b["name"].(string)
	flowID, _ := canonicalUUID(b["flow_id"].(string))
	if s.st.flows[flowID] == nil {
		return detail(http.StatusNotFound, "Flow not found")
	}
	poolName, _ := b["work_pool_name"].(string)
	queueName, _ := b["work_queue_name"].(string)
	var pool *workPool
	if poolName != "" {
		if pool = s.st.pools[poolName]; pool == nil {
			return poolNotFound(poolName)
		}
		if jv, ok := b["job_variables"].(map[string]any); ok {
			if msg := checkJobVariables(pool, jv, true); msg != "" {
				return detail(http.StatusConflict, "Error creating deployment: "+msg)
			}
		}
	}
	var existing *deployment
	for _, d := range s.st.deployments {
		if d.FlowID == flowID && d.Name == name {
			existing = d
		}
	}
	d := existing
	now := s.now()
	if d == nil {
		d = &deployment{ID: s.newID(), Name: name, FlowID: flowID, Created: now}
		s.st.deployments[d.ID] = d
	}
	d.Updated = now
	d.Extra = map[string]any{}
	for _, k := range deploymentCreateEcho {
		if v, ok := b[k]; ok {
			d.Extra[k] = v
		}
	}
	if sch, ok := b["schedules"].([]any); ok {
		var out []any
		for _, e := range sch {
			m, _ := e.(map[string]any)
			ds := map[string]any{"id": s.newID(), "created": fmtTime(now), "updated": fmtTime(now), "deployment_id": d.ID, "active": true, "max_scheduled_runs": nil, "parameters": map[string]any{}, "slug": nil}
			for k, v := range m {
				if k != "replaces" {
					ds[k] = v
				}
			}
			out = append(out, ds)
		}
		d.Extra["schedules"] = out
	}
	d.Paused, _ = b["paused"].(bool)
	d.JobVariables = c.rawField("job_variables")
	d.Parameters = c.rawField("parameters")
	d.Tags = stringsOf(b["tags"])
	d.Labels, _ = b["labels"].(map[string]any)
	d.ConcurrencyLimit = intPtr(b["concurrency_limit"])
	d.Strategy, d.GracePeriod = "", nil
	if o, ok := b["concurrency_options"].(map[string]any); ok {
		d.Strategy, _ = o["collision_strategy"].(string)
		d.GracePeriod = intPtr(o["grace_period_seconds"])
	}
	if d.ConcurrencyLimit != nil && d.ConcurrencyLimitID == "" {
		d.ConcurrencyLimitID = s.newID()
	}
	s.placeDeployment(d, pool, queueName)
	status := http.StatusOK
	if existing == nil {
		status = http.StatusCreated
	}
	return jsonReply(status, s.deploymentAPI(d))
}

// placeDeployment resolves the deployment's queue: the named queue of the
// pool (created when missing, as Prefect does), else the pool's default.
func (s *Server) placeDeployment(d *deployment, pool *workPool, queueName string) {
	d.WorkQueueID, d.WorkQueueName = "", ""
	if pool == nil {
		d.WorkQueueName = queueName
		return
	}
	q := s.st.queues[pool.DefaultQueueID]
	if queueName != "" {
		if q = s.queueByName(pool, queueName); q == nil {
			q = s.newQueue(pool, queueName)
		}
	}
	if q != nil {
		d.WorkQueueID = q.ID
	}
}

func (s *Server) deploymentParam(c *call) *deployment {
	id, _ := canonicalUUID(c.params["id"])
	return s.st.deployments[id]
}

func (s *Server) readDeployment(c *call) *reply {
	d := s.deploymentParam(c)
	if d == nil {
		return detail(http.StatusNotFound, "Deployment not found")
	}
	return jsonReply(http.StatusOK, s.deploymentAPI(d))
}

// readDeploymentByName finds a deployment by its flow's name and its own,
// the "flow/deployment" form users type.
func (s *Server) readDeploymentByName(c *call) *reply {
	for _, d := range s.st.deployments {
		if f := s.st.flows[d.FlowID]; f != nil && f.Name == c.params["flow_name"] && d.Name == c.params["deployment_name"] {
			return jsonReply(http.StatusOK, s.deploymentAPI(d))
		}
	}
	return detail(http.StatusNotFound, "Deployment not found")
}

// deploymentSorts are Prefect's DeploymentSort orders. Prefect orders by
// that one column; ties fall back to the id here so that pages are stable.
var deploymentSorts = map[string]func(a, b *deployment) int{
	"CREATED_DESC": func(a, b *deployment) int { return b.Created.Compare(a.Created) },
	"UPDATED_DESC": func(a, b *deployment) int { return b.Updated.Compare(a.Updated) },
	"NAME_ASC":     func(a, b *deployment) int { return strings.Compare(a.Name, b.Name) },
	"NAME_DESC":    func(a, b *deployment) int { return strings.Compare(b.Name, a.Name) },
}

// filterDeployments is read_deployments. As in Prefect, each filter that is
// given (even {}) is an EXISTS over the related rows: flows the
// deployment's flow, flow_runs any run of the deployment, work_pool_queues
// and work_pools its queue and that queue's pool, so a deployment without
// a queue never matches those two.
func (s *Server) filterDeployments(c *call) *reply {
	b := c.obj()
	limit, offset, rep := s.page(c, b)
	if rep != nil {
		return rep
	}
	part := func(k string) (map[string]any, bool) {
		f, ok := b[k].(map[string]any)
		return f, ok
	}
	depF, _ := part("deployments")
	if _, ok := depF["concurrency_limit"]; ok {
		// Deprecated; Prefect accepts it and ignores it.
		depF = copyMap(depF)
		delete(depF, "concurrency_limit")
	}
	flowF, byFlow := part("flows")
	runF, byRun := part("flow_runs")
	queueF, byQueue := part("work_pool_queues")
	poolF, byPool := part("work_pools")
	if _, ok := part("task_runs"); ok {
		return s.notImplemented(c, "task_runs")
	}
	for _, p := range []struct {
		key  string
		f    map[string]any
		cols map[string]any
	}{
		{"deployments", depF, s.deploymentCols(nil)},
		{"flows", flowF, flowCols(nil)},
		{"flow_runs", runF, flowRunCols(&flowRun{})},
		{"work_pool_queues", queueF, queueCols(nil)},
		{"work_pools", poolF, s.poolCols(nil)},
	} {
		if _, bad := matchFilter(p.f, p.cols); bad != "" {
			return s.notImplemented(c, p.key+"."+bad)
		}
	}
	keep := func(d *deployment) bool {
		if ok, _ := matchFilter(depF, s.deploymentCols(d)); !ok {
			return false
		}
		if byFlow {
			f := s.st.flows[d.FlowID]
			if f == nil {
				return false
			}
			if ok, _ := matchFilter(flowF, flowCols(f)); !ok {
				return false
			}
		}
		if byRun {
			found := false
			for _, r := range s.st.runs {
				if r.DeploymentID == d.ID {
					if ok, _ := matchFilter(runF, flowRunCols(r)); ok {
						found = true
						break
					}
				}
			}
			if !found {
				return false
			}
		}
		if byQueue || byPool {
			q := s.st.queues[d.WorkQueueID]
			if q == nil {
				return false
			}
			if ok, _ := matchFilter(queueF, queueCols(q)); !ok {
				return false
			}
			if byPool {
				p := s.poolByID(q.PoolID)
				if p == nil {
					return false
				}
				if ok, _ := matchFilter(poolF, s.poolCols(p)); !ok {
					return false
				}
			}
		}
		return true
	}
	var list []*deployment
	for _, d := range s.st.deployments {
		if keep(d) {
			list = append(list, d)
		}
	}
	sortKey, _ := b["sort"].(string)
	cmp := deploymentSorts[sortKey]
	if cmp == nil {
		cmp = deploymentSorts["NAME_ASC"]
	}
	sort.Slice(list, func(i, j int) bool {
		if c := cmp(list[i], list[j]); c != 0 {
			return c < 0
		}
		return list[i].ID < list[j].ID
	})
	return listReply(list, s.deploymentAPI, limit, offset)
}

// deleteDeployment removes only the deployment. Its runs stay, still
// naming it, so a worker holding one must notice (404) and cancel it.
func (s *Server) deleteDeployment(c *call) *reply {
	d := s.deploymentParam(c)
	if d == nil {
		return detail(http.StatusNotFound, "Deployment not found")
	}
	delete(s.st.deployments, d.ID)
	return noContent()
}

func (s *Server) createFlowRunHTTP(c *call) *reply {
	d := s.deploymentParam(c)
	if d == nil {
		return detail(http.StatusNotFound, "Deployment not found")
	}
	b := c.obj()
	if key, ok := b["idempotency_key"].(string); ok {
		for _, r := range s.st.runs {
			if r.DeploymentID == d.ID && r.IdempotencyKey != nil && *r.IdempotencyKey == key {
				return jsonReply(http.StatusOK, s.flowRunAPI(r, false))
			}
		}
	}
	var jv map[string]any
	if v, ok := b["job_variables"].(map[string]any); ok {
		jv = v
	}
	if q := s.st.queues[d.WorkQueueID]; q != nil && jv != nil {
		if pool := s.poolByID(q.PoolID); pool != nil {
			merged := map[string]any{}
			var dv map[string]any
			_ = decodeJSON(rawOr(d.JobVariables, "{}"), &dv)
			for k, v := range dv {
				merged[k] = v
			}
			for k, v := range jv {
				merged[k] = v
			}
			if msg := checkJobVariables(pool, merged, false); msg != "" {
				return detail(http.StatusUnprocessableEntity, "Error creating flow run: "+msg)
			}
		}
	}
	var state *runState
	if sc, ok := b["state"].(map[string]any); ok {
		state = parseStateCreate(sc)
	}
	r := s.newFlowRun(d, state)
	if jv != nil {
		r.JobVariables = c.rawField("job_variables")
	}
	if n, ok := b["name"].(string); ok {
		r.Name = n
	}
	if _, ok := b["parameters"]; ok {
		var params map[string]any
		_ = decodeJSON(rawOr(d.Parameters, "{}"), &params)
		for k, v := range c.obj()["parameters"].(map[string]any) {
			params[k] = v
		}
		r.Parameters = mustRaw(params)
	}
	if _, ok := b["tags"]; ok {
		r.Tags = stringsOf(b["tags"])
	}
	if l, ok := b["labels"].(map[string]any); ok {
		for k, v := range l {
			r.Labels[k] = v
		}
	}
	if ctx, ok := b["context"].(map[string]any); ok {
		r.Context = ctx
	}
	if p, ok := b["empirical_policy"].(map[string]any); ok {
		r.Policy = copyMap(p)
	}
	r.IdempotencyKey = strPtr(b["idempotency_key"])
	r.ParentTaskRunID = strPtr(b["parent_task_run_id"])
	if qn, ok := b["work_queue_name"].(string); ok && qn != "" {
		if q := s.st.queues[d.WorkQueueID]; q != nil {
			pool := s.poolByID(q.PoolID)
			nq := s.queueByName(pool, qn)
			if nq == nil {
				nq = s.newQueue(pool, qn)
			}
			r.WorkQueueID, r.WorkQueueName = nq.ID, nq.Name
		} else {
			r.WorkQueueName = qn
		}
	}
	return jsonReply(http.StatusCreated, s.flowRunAPI(r, false))
}

// newFlowRun creates a run of d in state (SCHEDULED now when nil).
func (s *Server) newFlowRun(d *deployment, state *runState) *flowRun {
	now := s.now()
	s.st.seq++
	r := &flowRun{
		ID:           s.newID(),
		FlowID:       d.FlowID,
		DeploymentID: d.ID,
		Parameters:   rawOr(d.Parameters, "{}"),
		Tags:         append([]string(nil), d.Tags...),
		Labels:       map[string]any{},
		Policy:       map[string]any{},
		Seq:          s.st.seq,
		Created:      now,
		Updated:      now,
	}
	r.Name = runName(r.ID)
	if v, ok := d.Extra["version"].(string); ok {
		r.DeploymentVersion = &v
	}
	for k, v := range d.Labels {
		r.Labels[k] = v
	}
	r.Labels["prefect.flow.id"] = d.FlowID
	r.Labels["prefect.deployment.id"] = d.ID
	if q := s.st.queues[d.WorkQueueID]; q != nil {
		r.WorkQueueID, r.WorkQueueName = q.ID, q.Name
	} else {
		r.WorkQueueName = d.WorkQueueName
	}
	if state == nil {
		state = newState("SCHEDULED", "")
	}
	if state.Type == "SCHEDULED" && state.detail("scheduled_time") == nil {
		state.Details["scheduled_time"] = fmtTime(now)
	}
	state.Timestamp = now
	s.st.runs[r.ID] = r
	s.writeState(r, state)
	return r
}

var nameAdjectives = []string{"amber", "brave", "calm", "daring", "eager", "fuzzy", "gentle", "hidden", "icy", "jolly", "keen", "lucky", "mellow", "nimble", "olive", "proud", "quiet", "rapid", "silver", "tidy"}
var nameAnimals = []string{"otter", "heron", "lynx", "mole", "gecko", "ibis", "koala", "lemur", "moose", "newt", "orca", "panda", "quail", "raven", "seal", "tapir", "urchin", "vole", "wombat", "yak"}

// runName gives a readable name like Prefect's generated ones, derived from
// the id so that seeded servers name runs reproducibly.
func runName(id string) string {
	var h uint32
	for _, ch := range id {
		h = h*31 + uint32(ch)
	}
	return nameAdjectives[h%uint32(len(nameAdjectives))] + "-" + nameAnimals[(h/97)%uint32(len(nameAnimals))]
}

// checkJobVariables validates job variables against the pool's variables
// schema, as Prefect does for deployments (required ignored) and flow runs
// (pool defaults filled in first). Values Prefect would hydrate first
// (block references, {{ }} templates) are not checked.
func checkJobVariables(pool *workPool, values map[string]any, ignoreRequired bool) string {
	var tmpl map[string]any
	if err := decodeJSON(rawOr(pool.BaseJobTemplate, "{}"), &tmpl); err != nil {
		return ""
	}
	vars, _ := tmpl["variables"].(map[string]any)
	if len(vars) == 0 {
		return ""
	}
	raw, _ := json.Marshal(values)
	if strings.Contains(string(raw), "{{") || strings.Contains(string(raw), `"$ref"`) {
		return ""
	}
	full := map[string]any{}
	if !ignoreRequired {
		props, _ := vars["properties"].(map[string]any)
		for k, pv := range props {
			if pm, ok := pv.(map[string]any); ok {
				if d, ok := pm["default"]; ok {
					full[k] = d
				}
			}
		}
	}
	for k, v := range values {
		full[k] = v
	}
	sch, err := compileVariables(vars, ignoreRequired)
	if err != nil {
		return ""
	}
	if err := sch.Validate(plain(full)); err != nil {
		return validationFailure(err)
	}
	return ""
}
