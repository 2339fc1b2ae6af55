package prefectfake

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"
)

// fieldVal is one column a Prefect filter can test.
type fieldVal struct {
	s      string
	null   bool
	list   []string
	isList bool
	t      time.Time
	isTime bool
	b      bool
}

func strVal(s string) fieldVal     { return fieldVal{s: s, null: s == ""} }
func listVal(l []string) fieldVal  { return fieldVal{list: l, isList: true} }
func timeVal(t time.Time) fieldVal { return fieldVal{t: t, isTime: true, null: t.IsZero()} }
func boolVal(b bool) fieldVal      { return fieldVal{b: b} }
func ptrVal(p *string) fieldVal {
	if p == nil {
		return fieldVal{null: true}
	}
	return fieldVal{s: *p}
}

var subOps = map[string]bool{"any_": true, "not_any_": true, "like_": true, "startswith_": true, "all_": true, "is_null_": true, "before_": true, "after_": true, "eq_": true}

// matchFilter applies a Prefect filter object (e.g. a FlowRunFilter) to
// the entity whose columns are given: each value is a fieldVal, or a
// map[string]any of fieldVals for nested filters such as state. The
// second result names the first part of the filter this fake does not
// implement; the caller must refuse the request then rather than answer
// wrongly.
func matchFilter(f map[string]any, cols map[string]any) (bool, string) {
	if len(f) == 0 {
		return true, ""
	}
	if bad := unsupportedPart(f, cols); bad != "" {
		return false, bad
	}
	or := f["operator"] == "or_"
	seen := 0
	for k, arg := range f {
		if k == "operator" || arg == nil {
			continue
		}
		sub, _ := arg.(map[string]any)
		var ok bool
		switch col := cols[k].(type) {
		case fieldVal:
			ok = matchSub(sub, col)
		case map[string]any:
			ok, _ = matchFilter(sub, col)
		}
		seen++
		if or && ok {
			return true, ""
		}
		if !or && !ok {
			return false, ""
		}
	}
	return !or || seen == 0, ""
}

func unsupportedPart(f map[string]any, cols map[string]any) string {
	for k, arg := range f {
		if k == "operator" || arg == nil {
			continue
		}
		sub, ok := arg.(map[string]any)
		if !ok {
			return k
		}
		switch col := cols[k].(type) {
		case fieldVal:
			for op, v := range sub {
				if op == "operator" || v == nil {
					continue
				}
				if !subOps[op] {
					return k + "." + op
				}
			}
		case map[string]any:
			if bad := unsupportedPart(sub, col); bad != "" {
				return k + "." + bad
			}
		default:
			if hasNonNull(sub) {
				return k
			}
		}
	}
	return ""
}

func hasNonNull(m map[string]any) bool {
	for k, v := range m {
		if v != nil && k != "operator" {
			return true
		}
	}
	return false
}

func matchSub(sub map[string]any, v fieldVal) bool {
	or := sub["operator"] == "or_"
	seen := 0
	for op, arg := range sub {
		if op == "operator" || arg == nil {
			continue
		}
		var ok bool
		switch op {
		case "any_":
			list := strList(arg)
			if v.isList {
				ok = slices.ContainsFunc(v.list, func(x string) bool { return slices.Contains(list, x) })
			} else {
				ok = !v.null && slices.Contains(list, v.s)
			}
		case "not_any_":
			ok = !v.null && !slices.Contains(strList(arg), v.s)
		case "like_":
			s, _ := arg.(string)
			ok = !v.null && strings.Contains(strings.ToLower(v.s), strings.ToLower(s))
		case "startswith_":
			ok = !v.null && slices.ContainsFunc(strList(arg), func(p string) bool { return strings.HasPrefix(v.s, p) })
		case "all_":
			ok = true
			for _, want := range strList(arg) {
				if !slices.Contains(v.list, want) {
					ok = false
				}
			}
		case "is_null_":
			want, _ := arg.(bool)
			if v.isList {
				ok = (len(v.list) == 0) == want
			} else {
				ok = v.null == want
			}
		case "before_", "after_":
			s, _ := arg.(string)
			t, err := parseTime(s)
			ok = err == nil && !v.t.IsZero() && (op == "before_" && !v.t.After(t) || op == "after_" && !v.t.Before(t))
		case "eq_":
			want, _ := arg.(bool)
			ok = v.b == want
		}
		seen++
		if or && ok {
			return true
		}
		if !or && !ok {
			return false
		}
	}
	return !or || seen == 0
}

// strList reads a list of strings, canonicalising UUIDs so that filters
// match however the client spelled them.
func strList(v any) []string {
	arr, _ := v.([]any)
	out := make([]string, 0, len(arr))
	for _, e := range arr {
		s, _ := e.(string)
		if u, ok := canonicalUUID(s); ok && strings.Count(s, "-") == 4 {
			s = u
		}
		out = append(out, s)
	}
	return out
}

func (s *Server) notImplemented(c *call, part string) *reply {
	c.violatef("%s %s: fake limitation: filter %s is not implemented by prefectfake", c.r.Method, c.path, part)
	return detail(http.StatusNotImplemented, "prefectfake does not implement the filter "+part)
}

func (s *Server) poolCols(p *workPool) map[string]any {
	if p == nil {
		return map[string]any{"id": strVal(""), "name": strVal(""), "type": strVal("")}
	}
	return map[string]any{"id": strVal(p.ID), "name": strVal(p.Name), "type": strVal(p.Type)}
}

func queueCols(q *workQueue) map[string]any {
	if q == nil {
		return map[string]any{"id": strVal(""), "name": strVal("")}
	}
	return map[string]any{"id": strVal(q.ID), "name": strVal(q.Name)}
}

func flowCols(f *flow) map[string]any {
	if f == nil {
		return map[string]any{"id": strVal(""), "name": strVal(""), "tags": listVal(nil)}
	}
	return map[string]any{"id": strVal(f.ID), "name": strVal(f.Name), "tags": listVal(f.Tags)}
}

func (s *Server) deploymentCols(d *deployment) map[string]any {
	if d == nil {
		return map[string]any{"id": strVal(""), "name": strVal(""), "tags": listVal(nil), "work_queue_name": strVal(""), "paused": boolVal(false)}
	}
	qn := d.WorkQueueName
	if q := s.st.queues[d.WorkQueueID]; q != nil {
		qn = q.Name
	}
	return map[string]any{"id": strVal(d.ID), "name": strVal(d.Name), "tags": listVal(d.Tags), "work_queue_name": strVal(qn), "paused": boolVal(d.Paused)}
}

func flowRunCols(r *flowRun) map[string]any {
	st, sn := "", ""
	if r.State != nil {
		st, sn = r.State.Type, r.State.Name
	}
	return map[string]any{
		"id":                        strVal(r.ID),
		"name":                      strVal(r.Name),
		"tags":                      listVal(r.Tags),
		"deployment_id":             strVal(r.DeploymentID),
		"work_queue_name":           strVal(r.WorkQueueName),
		"state":                     map[string]any{"type": strVal(st), "name": strVal(sn)},
		"flow_version":              ptrVal(r.FlowVersion),
		"start_time":                timeVal(r.StartTime),
		"end_time":                  timeVal(r.EndTime),
		"expected_start_time":       timeVal(r.ExpectedStart),
		"next_scheduled_start_time": timeVal(r.NextScheduledStart),
		"parent_task_run_id":        ptrVal(r.ParentTaskRunID),
		"idempotency_key":           ptrVal(r.IdempotencyKey),
	}
}

// plain turns decoded JSON (json.Number numbers) into what encoding/json
// gives by default (float64), for values handed to Go callers.
func plain(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = plain(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = plain(e)
		}
		return out
	case json.Number:
		f, _ := t.Float64()
		return f
	case json.RawMessage:
		var x any
		_ = json.Unmarshal(t, &x)
		return x
	default:
		return v
	}
}

// intPtr reads an integer JSON value (nil when absent or null).
func intPtr(v any) *int64 {
	switch t := v.(type) {
	case json.Number:
		if n, err := t.Int64(); err == nil {
			return &n
		}
		f, err := t.Float64()
		if err != nil {
			return nil
		}
		n := int64(f)
		return &n
	case float64:
		n := int64(t)
		return &n
	case int:
		n := int64(t)
		return &n
	case int64:
		return &t
	}
	return nil
}

func strPtr(v any) *string {
	s, ok := v.(string)
	if !ok {
		return nil
	}
	return &s
}

func stringsOf(v any) []string {
	arr, _ := v.([]any)
	out := make([]string, 0, len(arr))
	for _, e := range arr {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func mustRaw(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic("prefectfake: " + err.Error())
	}
	return b
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func copyMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
