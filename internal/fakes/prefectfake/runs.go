package prefectfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

func (s *Server) runParam(c *call) *flowRun {
	id, _ := canonicalUUID(c.params["id"])
	return s.st.runs[id]
}

func flowRunNotFound() *reply { return detail(http.StatusNotFound, "Flow run not found") }

func (s *Server) readFlowRun(c *call) *reply {
	r := s.runParam(c)
	if r == nil {
		return flowRunNotFound()
	}
	return jsonReply(http.StatusOK, s.flowRunAPI(r, false))
}

// updateFlowRun changes exactly the keys present in the body.
func (s *Server) updateFlowRun(c *call) *reply {
	r := s.runParam(c)
	if r == nil {
		return flowRunNotFound()
	}
	b := c.obj()
	if v, ok := b["job_variables"]; ok && v != nil {
		if r.State == nil || r.State.Type != "SCHEDULED" {
			st := "None"
			if r.State != nil {
				st = r.State.Type
			}
			return detail(http.StatusBadRequest, fmt.Sprintf("Job variables for a flow run in state %s cannot be updated", st))
		}
	}
	for k, v := range b {
		switch k {
		case "name":
			if n, ok := v.(string); ok {
				r.Name = n
			}
		case "flow_version":
			r.FlowVersion = strPtr(v)
		case "parameters":
			r.Parameters = c.rawField(k)
		case "empirical_policy":
			if m, ok := v.(map[string]any); ok {
				r.Policy = copyMap(m)
			}
		case "tags":
			r.Tags = stringsOf(v)
		case "infrastructure_pid":
			r.InfraPID = strPtr(v)
		case "job_variables":
			if v == nil {
				r.JobVariables = nil
			} else {
				r.JobVariables = c.rawField(k)
			}
		}
	}
	r.Updated = s.now()
	return noContent()
}

func (s *Server) deleteFlowRun(c *call) *reply {
	r := s.runParam(c)
	if r == nil {
		return flowRunNotFound()
	}
	delete(s.st.runs, r.ID)
	return noContent()
}

// updateFlowRunLabels merges the body into the run's labels.
func (s *Server) updateFlowRunLabels(c *call) *reply {
	r := s.runParam(c)
	if r == nil {
		return exceptionMessage(http.StatusNotFound, fmt.Sprintf("Flow run with id %s not found", c.params["id"]))
	}
	// The body is KeyValueLabels: scalar values only, though the OpenAPI
	// text only says "object".
	for k, v := range c.obj() {
		switch v.(type) {
		case string, bool, json.Number:
		default:
			c.violatef("PATCH /flow_runs/%s/labels: label %q must be a string, number or boolean, got %v", r.ID, k, v)
			return validationReply([]fieldError{{Loc: []any{"body", k}, Msg: "Input should be a valid string", Type: "string_type", Input: v}}, c.body)
		}
	}
	if r.Labels == nil {
		r.Labels = map[string]any{}
	}
	for k, v := range c.obj() {
		r.Labels[k] = v
	}
	r.Updated = s.now()
	return noContent()
}

func (s *Server) setFlowRunStateHTTP(c *call) *reply {
	r := s.runParam(c)
	if r == nil {
		return exceptionMessage(http.StatusNotFound, fmt.Sprintf("Flow run with id %s not found", c.params["id"]))
	}
	b := c.obj()
	sc, _ := b["state"].(map[string]any)
	force, _ := b["force"].(bool)
	o := s.orchestrate(r, parseStateCreate(sc), force)
	status := http.StatusOK
	if o.written {
		status = http.StatusCreated
	}
	return jsonReply(status, map[string]any{"status": o.status, "state": o.state.api(), "details": o.details()})
}

var flowRunSorts = map[string]func(a, b *flowRun) int{
	"ID_DESC":                       func(a, b *flowRun) int { return -strings.Compare(a.ID, b.ID) },
	"START_TIME_ASC":                func(a, b *flowRun) int { return cmpTimeNullsLast(a.StartTime, b.StartTime) },
	"START_TIME_DESC":               func(a, b *flowRun) int { return cmpTimeNullsLast(b.StartTime, a.StartTime) },
	"EXPECTED_START_TIME_ASC":       func(a, b *flowRun) int { return cmpTimeNullsLast(a.ExpectedStart, b.ExpectedStart) },
	"EXPECTED_START_TIME_DESC":      func(a, b *flowRun) int { return cmpTimeNullsLast(b.ExpectedStart, a.ExpectedStart) },
	"NAME_ASC":                      func(a, b *flowRun) int { return strings.Compare(a.Name, b.Name) },
	"NAME_DESC":                     func(a, b *flowRun) int { return strings.Compare(b.Name, a.Name) },
	"NEXT_SCHEDULED_START_TIME_ASC": func(a, b *flowRun) int { return cmpTimeNullsLast(a.NextScheduledStart, b.NextScheduledStart) },
	"END_TIME_DESC":                 func(a, b *flowRun) int { return cmpTimeNullsLast(b.EndTime, a.EndTime) },
}

// cmpTimeNullsLast orders times with unset ones last, as Postgres does
// for ascending sorts.
func cmpTimeNullsLast(a, b time.Time) int {
	switch {
	case a.IsZero() && b.IsZero():
		return 0
	case a.IsZero():
		return 1
	case b.IsZero():
		return -1
	}
	return a.Compare(b)
}

func (s *Server) filterFlowRuns(c *call) *reply {
	b := c.obj()
	limit, offset, rep := s.page(c, b)
	if rep != nil {
		return rep
	}
	parts := []struct {
		key  string
		cols func(*flowRun) map[string]any
	}{
		{"flow_runs", flowRunCols},
		{"flows", func(r *flowRun) map[string]any { return flowCols(s.st.flows[r.FlowID]) }},
		{"deployments", func(r *flowRun) map[string]any { return s.deploymentCols(s.st.deployments[r.DeploymentID]) }},
		{"work_pools", func(r *flowRun) map[string]any {
			var p *workPool
			if q := s.st.queues[r.WorkQueueID]; q != nil {
				p = s.poolByID(q.PoolID)
			}
			return s.poolCols(p)
		}},
		{"work_pool_queues", func(r *flowRun) map[string]any { return queueCols(s.st.queues[r.WorkQueueID]) }},
	}
	probe := &flowRun{}
	for _, p := range parts {
		f, _ := b[p.key].(map[string]any)
		if _, bad := matchFilter(f, p.cols(probe)); bad != "" {
			return s.notImplemented(c, p.key+"."+bad)
		}
	}
	if tr, _ := b["task_runs"].(map[string]any); hasNonNull(tr) {
		return s.notImplemented(c, "task_runs")
	}
	var runs []*flowRun
	for _, r := range s.st.runs {
		keep := true
		for _, p := range parts {
			f, _ := b[p.key].(map[string]any)
			if len(f) == 0 {
				continue
			}
			if ok, _ := matchFilter(f, p.cols(r)); !ok {
				keep = false
				break
			}
		}
		if keep {
			runs = append(runs, r)
		}
	}
	sortKey, _ := b["sort"].(string)
	cmp := flowRunSorts[sortKey]
	if cmp == nil {
		cmp = flowRunSorts["ID_DESC"]
	}
	sort.SliceStable(runs, func(i, j int) bool {
		if c := cmp(runs[i], runs[j]); c != 0 {
			return c < 0
		}
		return runs[i].ID > runs[j].ID
	})
	return listReply(runs, func(r *flowRun) any { return s.flowRunAPI(r, false) }, limit, offset)
}
