package prefectfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

func (s *Server) createWorkPool(c *call) *reply {
	b := c.obj()
	name, _ := b["name"].(string)
	typ := "prefect-agent"
	if t, ok := b["type"].(string); ok {
		typ = t
	}
	tmpl, _ := b["base_job_template"].(map[string]any)
	if msg := checkTemplateShape(tmpl); msg != "" {
		c.violatef("POST /work_pools/: base_job_template refused: %s", msg)
		return validationReply([]fieldError{{Loc: []any{"body", "base_job_template"}, Msg: "Value error, " + msg, Type: "value_error", Input: tmpl}}, c.body)
	}
	if reservedPoolName(name) {
		return detail(http.StatusForbidden, "Work pools starting with 'Prefect' are reserved for internal use.")
	}
	if msg := checkTemplateDefaults(tmpl); msg != "" {
		return detail(http.StatusUnprocessableEntity, msg)
	}
	if s.st.pools[name] != nil {
		return detail(http.StatusConflict, "A work pool with this name already exists.")
	}
	p := s.newPool(name, typ, tmpl)
	if tmpl != nil {
		p.BaseJobTemplate = c.rawField("base_job_template")
	}
	if v, ok := b["description"].(string); ok {
		p.Description = &v
	}
	if v, ok := b["is_paused"].(bool); ok {
		p.IsPaused = v
	}
	p.ConcurrencyLimit = intPtr(b["concurrency_limit"])
	if sc, ok := b["storage_configuration"].(map[string]any); ok {
		p.Storage = sc
	}
	return jsonReply(http.StatusCreated, s.poolAPI(p))
}

// newPool creates a pool with its "default" queue, as Prefect does.
func (s *Server) newPool(name, typ string, tmpl map[string]any) *workPool {
	now := s.now()
	p := &workPool{ID: s.newID(), Name: name, Type: typ, BaseJobTemplate: mustRaw(orEmpty(tmpl)), Created: now, Updated: now}
	s.st.pools[name] = p
	q := s.newQueue(p, "default")
	desc := "The work pool's default queue."
	q.Description = &desc
	p.DefaultQueueID = q.ID
	return p
}

func (s *Server) newQueue(p *workPool, name string) *workQueue {
	now := s.now()
	prio := int64(1)
	for _, q := range s.st.queues {
		if q.PoolID == p.ID && q.Priority >= prio {
			prio = q.Priority + 1
		}
	}
	q := &workQueue{ID: s.newID(), Name: name, PoolID: p.ID, Priority: prio, Created: now, Updated: now}
	s.st.queues[q.ID] = q
	return q
}

func reservedPoolName(name string) bool { return strings.HasPrefix(strings.ToLower(name), "prefect") }

func poolNotFound(name string) *reply {
	return detail(http.StatusNotFound, fmt.Sprintf("Work pool %q not found.", name))
}

func (s *Server) readWorkPool(c *call) *reply {
	p := s.st.pools[c.params["name"]]
	if p == nil {
		return poolNotFound(c.params["name"])
	}
	return jsonReply(http.StatusOK, s.poolAPI(p))
}

func (s *Server) updateWorkPool(c *call) *reply {
	name := c.params["name"]
	b := c.obj()
	if v, ok := b["base_job_template"]; ok && v != nil {
		tmpl, _ := v.(map[string]any)
		if msg := checkTemplateShape(tmpl); msg != "" {
			c.violatef("PATCH /work_pools/%s: base_job_template refused: %s", name, msg)
			return validationReply([]fieldError{{Loc: []any{"body", "base_job_template"}, Msg: "Value error, " + msg, Type: "value_error", Input: tmpl}}, c.body)
		}
	}
	if reservedPoolName(name) {
		for k := range b {
			if k != "is_paused" && k != "concurrency_limit" {
				return detail(http.StatusForbidden, "Worker pools starting with 'Prefect' are reserved for internal use and can only be updated to set concurrency limits or pause.")
			}
		}
	}
	p := s.st.pools[name]
	if p == nil {
		return poolNotFound(name)
	}
	if v, ok := b["base_job_template"].(map[string]any); ok {
		if msg := checkTemplateDefaults(v); msg != "" {
			return detail(http.StatusUnprocessableEntity, msg)
		}
		p.BaseJobTemplate = c.rawField("base_job_template")
	}
	if v, ok := b["description"]; ok {
		if d, ok := v.(string); ok {
			p.Description = &d
		} else {
			p.Description = nil
		}
	}
	if v, ok := b["is_paused"].(bool); ok {
		p.IsPaused = v
	}
	if _, ok := b["concurrency_limit"]; ok {
		p.ConcurrencyLimit = intPtr(b["concurrency_limit"])
	}
	if v, ok := b["storage_configuration"]; ok {
		sc, _ := v.(map[string]any)
		p.Storage = sc
	}
	p.Updated = s.now()
	return noContent()
}

func (s *Server) deleteWorkPool(c *call) *reply {
	name := c.params["name"]
	if reservedPoolName(name) {
		return detail(http.StatusForbidden, "Work pools starting with 'Prefect' are reserved for internal use and can not be deleted.")
	}
	p := s.st.pools[name]
	if p == nil {
		return poolNotFound(name)
	}
	delete(s.st.pools, name)
	for id, q := range s.st.queues {
		if q.PoolID != p.ID {
			continue
		}
		delete(s.st.queues, id)
		// Foreign keys to a queue are ON DELETE SET NULL in Prefect.
		for _, d := range s.st.deployments {
			if d.WorkQueueID == id {
				d.WorkQueueID = ""
			}
		}
		for _, r := range s.st.runs {
			if r.WorkQueueID == id {
				r.WorkQueueID = ""
			}
		}
	}
	for id, w := range s.st.workers {
		if w.PoolID == p.ID {
			delete(s.st.workers, id)
		}
	}
	return noContent()
}

func (s *Server) filterWorkPools(c *call) *reply {
	b := c.obj()
	limit, offset, rep := s.page(c, b)
	if rep != nil {
		return rep
	}
	f, _ := b["work_pools"].(map[string]any)
	if _, bad := matchFilter(f, s.poolCols(nil)); bad != "" {
		return s.notImplemented(c, "work_pools."+bad)
	}
	out := []any{}
	for _, name := range sortedKeys(s.st.pools) {
		p := s.st.pools[name]
		if ok, _ := matchFilter(f, s.poolCols(p)); !ok {
			continue
		}
		out = append(out, s.poolAPI(p))
	}
	return jsonReply(http.StatusOK, paginate(out, limit, offset))
}

func (s *Server) heartbeat(c *call) *reply {
	p := s.st.pools[c.params["work_pool_name"]]
	if p == nil {
		return poolNotFound(c.params["work_pool_name"])
	}
	b := c.obj()
	name, _ := b["name"].(string)
	now := s.now()
	var w *worker
	for _, cand := range s.st.workers {
		if cand.PoolID == p.ID && cand.Name == name {
			w = cand
		}
	}
	if w == nil {
		w = &worker{ID: s.newID(), Name: name, PoolID: p.ID, Created: now}
		s.st.workers[w.ID] = w
	}
	w.LastHeartbeat, w.Updated = now, now
	if _, ok := b["heartbeat_interval_seconds"]; ok {
		w.Interval = intPtr(b["heartbeat_interval_seconds"])
	}
	rec := map[string]any{}
	for k, v := range b {
		rec[k] = v
	}
	rec["work_pool_name"] = p.Name
	rec["timestamp"] = fmtTime(now)
	s.st.heartbeats = append(s.st.heartbeats, plain(rec).(map[string]any))
	if ret, _ := b["return_id"].(bool); ret && s.opts.Cloud {
		return jsonReply(http.StatusOK, w.ID)
	}
	return noContent()
}

func (s *Server) filterWorkers(c *call) *reply {
	p := s.st.pools[c.params["work_pool_name"]]
	if p == nil {
		return poolNotFound(c.params["work_pool_name"])
	}
	b := c.obj()
	limit, offset, rep := s.page(c, b)
	if rep != nil {
		return rep
	}
	f, _ := b["workers"].(map[string]any)
	workerCols := func(status string, t time.Time) map[string]any {
		return map[string]any{"status": strVal(status), "last_heartbeat_time": timeVal(t)}
	}
	if _, bad := matchFilter(f, workerCols("", time.Time{})); bad != "" {
		return s.notImplemented(c, "workers."+bad)
	}
	var ws []*worker
	for _, w := range s.st.workers {
		if w.PoolID != p.ID {
			continue
		}
		status := "OFFLINE"
		if s.workerOnline(w) {
			status = "ONLINE"
		}
		if ok, _ := matchFilter(f, workerCols(status, w.LastHeartbeat)); !ok {
			continue
		}
		ws = append(ws, w)
	}
	sort.Slice(ws, func(i, j int) bool {
		if !ws[i].LastHeartbeat.Equal(ws[j].LastHeartbeat) {
			return ws[i].LastHeartbeat.After(ws[j].LastHeartbeat)
		}
		return ws[i].Name < ws[j].Name
	})
	return listReply(ws, s.workerAPI, limit, offset)
}

func (s *Server) filterWorkQueues(c *call) *reply {
	p := s.st.pools[c.params["work_pool_name"]]
	if p == nil {
		return poolNotFound(c.params["work_pool_name"])
	}
	b := c.obj()
	limit, offset, rep := s.page(c, b)
	if rep != nil {
		return rep
	}
	f, _ := b["work_queues"].(map[string]any)
	if _, bad := matchFilter(f, queueCols(nil)); bad != "" {
		return s.notImplemented(c, "work_queues."+bad)
	}
	var qs []*workQueue
	for _, q := range s.st.queues {
		if ok, _ := matchFilter(f, queueCols(q)); q.PoolID != p.ID || !ok {
			continue
		}
		qs = append(qs, q)
	}
	sortQueues(qs)
	return listReply(qs, s.queueAPI, limit, offset)
}

func sortQueues(qs []*workQueue) {
	sort.Slice(qs, func(i, j int) bool {
		if qs[i].Priority != qs[j].Priority {
			return qs[i].Priority < qs[j].Priority
		}
		return qs[i].Name < qs[j].Name
	})
}

func queueNotFound(pool, queue string) *reply {
	return detail(http.StatusNotFound, fmt.Sprintf("Work pool queue '%s/%s' not found.", pool, queue))
}

func (s *Server) readWorkQueue(c *call) *reply {
	pool, name := c.params["work_pool_name"], c.params["name"]
	p := s.st.pools[pool]
	if p == nil {
		return poolNotFound(pool)
	}
	q := s.queueByName(p, name)
	if q == nil {
		return queueNotFound(pool, name)
	}
	return jsonReply(http.StatusOK, s.queueAPI(q))
}

// getScheduledFlowRuns follows Prefect's worker query: SCHEDULED runs due
// by scheduled_before, nothing from paused pools or queues, queue and pool
// concurrency limits counted over PENDING and RUNNING runs, ordered by
// queue priority then start time. Polling claims nothing.
func (s *Server) getScheduledFlowRuns(c *call) *reply {
	pool := c.params["name"]
	p := s.st.pools[pool]
	if p == nil {
		return poolNotFound(pool)
	}
	b := c.obj()
	limit := defaultLimit
	if v, ok := b["limit"]; ok && v != nil {
		n := *intPtr(v)
		if n < 0 || n > defaultLimit {
			return s.limitError(c, v)
		}
		limit = int(n)
	}
	var before, after time.Time
	if v, ok := b["scheduled_before"].(string); ok {
		before, _ = parseTime(v)
	}
	if v, ok := b["scheduled_after"].(string); ok {
		after, _ = parseTime(v)
	}
	var queues []*workQueue
	names, _ := b["work_queue_names"].([]any)
	if len(names) > 0 {
		seen := map[string]bool{}
		for _, n := range names {
			qn, _ := n.(string)
			q := s.queueByName(p, qn)
			if q == nil {
				return queueNotFound(pool, qn)
			}
			if !seen[q.ID] {
				seen[q.ID] = true
				queues = append(queues, q)
			}
		}
	} else {
		for _, q := range s.st.queues {
			if q.PoolID == p.ID {
				queues = append(queues, q)
			}
		}
	}
	now := s.now()
	for _, q := range queues {
		q.LastPolled = now
		for _, d := range s.st.deployments {
			if d.WorkQueueID == q.ID {
				d.LastPolled = now
			}
		}
	}
	sortQueues(queues)

	active := func(match func(*flowRun) bool) int64 {
		var n int64
		for _, r := range s.st.runs {
			if r.State != nil && (r.State.Type == "PENDING" || r.State.Type == "RUNNING") && match(r) {
				n++
			}
		}
		return n
	}
	poolQueues := map[string]bool{}
	for _, q := range s.st.queues {
		if q.PoolID == p.ID {
			poolQueues[q.ID] = true
		}
	}
	poolRoom := int64(-1)
	if p.ConcurrencyLimit != nil {
		poolRoom = max(0, *p.ConcurrencyLimit-active(func(r *flowRun) bool { return poolQueues[r.WorkQueueID] }))
	}
	out := []any{}
	if p.IsPaused {
		return jsonReply(http.StatusOK, out)
	}
	for _, q := range queues {
		if q.IsPaused {
			continue
		}
		queueRoom := int64(-1)
		if q.ConcurrencyLimit != nil {
			queueRoom = max(0, *q.ConcurrencyLimit-active(func(r *flowRun) bool { return r.WorkQueueID == q.ID }))
		}
		var due []*flowRun
		for _, r := range s.st.runs {
			if r.WorkQueueID != q.ID || r.State == nil || r.State.Type != "SCHEDULED" {
				continue
			}
			if rt, _ := r.Policy["retry_type"].(string); rt == "in_process" {
				continue
			}
			t := r.NextScheduledStart
			if t.IsZero() || (!before.IsZero() && t.After(before)) || (!after.IsZero() && t.Before(after)) {
				continue
			}
			due = append(due, r)
		}
		sort.Slice(due, func(i, j int) bool {
			if !due[i].NextScheduledStart.Equal(due[j].NextScheduledStart) {
				return due[i].NextScheduledStart.Before(due[j].NextScheduledStart)
			}
			return due[i].Seq < due[j].Seq
		})
		for _, r := range due {
			if len(out) >= limit || queueRoom == 0 || poolRoom == 0 {
				break
			}
			out = append(out, map[string]any{"work_pool_id": p.ID, "work_queue_id": q.ID, "flow_run": s.flowRunAPI(r, true)})
			if queueRoom > 0 {
				queueRoom--
			}
			if poolRoom > 0 {
				poolRoom--
			}
		}
	}
	return jsonReply(http.StatusOK, out)
}

// page reads limit and offset of a filter body. Prefect's default and
// maximum limit is 200; anything outside 0..200 is a 422 the client must
// never see.
func (s *Server) page(c *call, b map[string]any) (limit, offset int, rep *reply) {
	limit = defaultLimit
	if v, ok := b["limit"]; ok && v != nil {
		n := *intPtr(v)
		if n < 0 || n > defaultLimit {
			return 0, 0, s.limitError(c, v)
		}
		limit = int(n)
	}
	if v := intPtr(b["offset"]); v != nil {
		offset = int(*v)
	}
	return limit, offset, nil
}

func (s *Server) limitError(c *call, v any) *reply {
	c.violatef("%s %s: limit %v is outside Prefect's 0..%d", c.r.Method, c.path, v, defaultLimit)
	if n := intPtr(v); n != nil && *n < 0 {
		return detail(http.StatusUnprocessableEntity, "Invalid limit: must be greater than or equal to 0.")
	}
	return detail(http.StatusUnprocessableEntity, fmt.Sprintf("Invalid limit: must be less than or equal to %d.", defaultLimit))
}

// listReply answers a filter call with the page of items the call asked
// for, each as the API writes it.
func listReply[T, V any](items []T, api func(T) V, limit, offset int) *reply {
	out := make([]any, 0, len(items))
	for _, it := range items {
		out = append(out, api(it))
	}
	return jsonReply(http.StatusOK, paginate(out, limit, offset))
}

func paginate(items []any, limit, offset int) []any {
	if offset >= len(items) {
		return []any{}
	}
	items = items[offset:]
	if len(items) > limit {
		items = items[:limit]
	}
	return items
}

// checkTemplateShape is the WorkPoolCreate/WorkPoolUpdate validator: a
// non-empty template needs job_configuration and variables, and every
// placeholder of job_configuration must be a declared variable.
func checkTemplateShape(tmpl map[string]any) string {
	if len(tmpl) == 0 {
		return ""
	}
	jc, _ := tmpl["job_configuration"].(map[string]any)
	vars, _ := tmpl["variables"].(map[string]any)
	if len(jc) == 0 || len(vars) == 0 {
		return "The `base_job_template` must contain both a `job_configuration` key and a `variables` key."
	}
	props, _ := vars["properties"].(map[string]any)
	missing := map[string]bool{}
	for _, v := range jc {
		raw, _ := json.Marshal(plain(v))
		for _, m := range placeholderRE().FindAllStringSubmatch(string(raw), -1) {
			if _, ok := props[m[1]]; !ok {
				missing[m[1]] = true
			}
		}
	}
	if len(missing) > 0 {
		return "The variables specified in the job configuration template must be present as properties in the variables schema. Your job configuration uses the following undeclared variable(s): " + strings.Join(sortedKeys(missing), ", ") + "."
	}
	return ""
}

// checkTemplateDefaults checks that variables is a usable JSON schema and
// that every default validates against its property. Block references
// ({"$ref": ...}) are hydrated by Prefect first; they are skipped here.
func checkTemplateDefaults(tmpl map[string]any) string {
	vars, _ := tmpl["variables"].(map[string]any)
	if len(vars) == 0 {
		return ""
	}
	sch, err := compileVariables(vars, true)
	if err != nil {
		return "The variables schema is not a valid JSON schema: " + err.Error()
	}
	props, _ := vars["properties"].(map[string]any)
	defaults := map[string]any{}
	for k, pv := range props {
		pm, _ := pv.(map[string]any)
		d, ok := pm["default"]
		if !ok || isBlockRef(d) {
			continue
		}
		defaults[k] = d
	}
	if err := sch.Validate(plain(defaults)); err != nil {
		return validationFailure(err)
	}
	return ""
}

func isBlockRef(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	_, ok = m["$ref"]
	return ok
}

// compileVariables compiles a pool's variables schema; ignoreRequired is
// how Prefect checks defaults and deployment job variables.
func compileVariables(vars map[string]any, ignoreRequired bool) (*jsonschema.Schema, error) {
	doc := map[string]any{}
	for k, v := range plain(vars).(map[string]any) {
		if ignoreRequired && k == "required" {
			continue
		}
		doc[k] = v
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(jsonschema.SchemeURLLoader{})
	if err := c.AddResource("variables.json", doc); err != nil {
		return nil, err
	}
	return c.Compile("variables.json")
}

func validationFailure(err error) string {
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return err.Error()
	}
	leaf := usefulLeaves(leaves(verr))[0]
	p := message.NewPrinter(language.English)
	return fmt.Sprintf("Validation failed for field '%s'. Failure reason: %s", strings.Join(leaf.InstanceLocation, "."), leaf.ErrorKind.LocalizedString(p))
}
