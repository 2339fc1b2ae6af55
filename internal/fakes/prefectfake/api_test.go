package prefectfake_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
)

// TestEveryOperation walks one scenario through every operation of both
// OpenAPI documents over HTTP. The test server checks each request and
// each response against the schemas and fails the test on any mismatch,
// so passing proves the generated responses validate; the end of the test
// proves no operation was skipped.
func TestEveryOperation(t *testing.T) {
	t.Parallel()
	s, c, clk := start(t, prefectfake.Options{})
	ids := map[string]string{}
	p := func(format string, keys ...string) func() string {
		return func() string {
			out := format
			for _, k := range keys {
				out = strings.Replace(out, "%s", url.PathEscape(ids[k]), 1)
			}
			return out
		}
	}
	steps := []struct {
		name   string
		method string
		path   func() string
		body   any
		want   int
		check  func(t *testing.T, r resp)
	}{
		{"health", "GET", p("/health"), nil, 200, func(t *testing.T, r resp) { expect(t, r.body, true) }},
		{"ready", "GET", p("/ready"), nil, 200, nil},
		{"hello", "GET", p("/hello"), nil, 200, nil},
		{"version", "GET", p("/version"), nil, 200, func(t *testing.T, r resp) { expect(t, r.body, "0.8.4") }},
		{"admin version", "GET", p("/admin/version"), nil, 200, func(t *testing.T, r resp) { expect(t, r.body, prefectfake.DefaultServerVersion) }},
		{"csrf disabled", "GET", p("/csrf-token?client=c1"), nil, 422, func(t *testing.T, r resp) { expect(t, get(r.body, "detail"), "CSRF protection is disabled.") }},
		{"create pool", "POST", p("/work_pools/"), map[string]any{"name": "ecs-pool", "type": "ecs"}, 201, func(t *testing.T, r resp) {
			ids["pool"] = str(get(r.body, "id"))
			expect(t, get(r.body, "status"), "NOT_READY")
			expect(t, len(get(r.body, "base_job_template").(map[string]any)), 0)
			if get(r.body, "default_queue_id") == nil {
				t.Error("no default queue")
			}
		}},
		{"read pool", "GET", p("/work_pools/ecs-pool"), nil, 200, func(t *testing.T, r resp) { expect(t, get(r.body, "type"), "ecs") }},
		{"patch pool template", "PATCH", p("/work_pools/ecs-pool"), map[string]any{"base_job_template": ecsTemplate()}, 204, nil},
		{"patch keeps other keys", "GET", p("/work_pools/ecs-pool"), nil, 200, func(t *testing.T, r resp) {
			expect(t, get(r.body, "type"), "ecs")
			expect(t, get(r.body, "base_job_template", "job_configuration", "image"), "{{ image }}")
		}},
		{"filter pools", "POST", p("/work_pools/filter"), map[string]any{"work_pools": map[string]any{"name": map[string]any{"any_": []string{"ecs-pool"}}}}, 200, func(t *testing.T, r resp) { expect(t, len(r.list()), 1) }},
		{"heartbeat", "POST", p("/work_pools/ecs-pool/workers/heartbeat"), map[string]any{"name": "w1", "heartbeat_interval_seconds": 30}, 204, nil},
		{"pool ready after heartbeat", "GET", p("/work_pools/ecs-pool"), nil, 200, func(t *testing.T, r resp) { expect(t, get(r.body, "status"), "READY") }},
		{"filter workers", "POST", p("/work_pools/ecs-pool/workers/filter"), map[string]any{}, 200, func(t *testing.T, r resp) {
			expect(t, len(r.list()), 1)
			expect(t, get(r.list()[0], "status"), "ONLINE")
		}},
		{"filter queues", "POST", p("/work_pools/ecs-pool/queues/filter"), map[string]any{}, 200, func(t *testing.T, r resp) {
			expect(t, len(r.list()), 1)
			expect(t, get(r.list()[0], "name"), "default")
		}},
		{"read queue", "GET", p("/work_pools/ecs-pool/queues/default"), nil, 200, nil},
		{"create flow", "POST", p("/flows/"), map[string]any{"name": "etl"}, 201, func(t *testing.T, r resp) { ids["flow"] = str(get(r.body, "id")) }},
		{"create flow again returns it", "POST", p("/flows/"), map[string]any{"name": "etl"}, 200, func(t *testing.T, r resp) { expect(t, get(r.body, "id"), ids["flow"]) }},
		{"read flow", "GET", p("/flows/%s", "flow"), nil, 200, func(t *testing.T, r resp) { expect(t, get(r.body, "name"), "etl") }},
		{"create deployment", "POST", p("/deployments/"), map[string]any{"name": "nightly", "flow_id": "@flow", "work_pool_name": "ecs-pool", "work_queue_name": "critical", "job_variables": map[string]any{"cpu": 2048}}, 201, func(t *testing.T, r resp) {
			ids["deployment"] = str(get(r.body, "id"))
			expect(t, get(r.body, "work_queue_name"), "critical")
			expect(t, get(r.body, "work_pool_name"), "ecs-pool")
		}},
		{"read deployment", "GET", p("/deployments/%s", "deployment"), nil, 200, func(t *testing.T, r resp) { expect(t, get(r.body, "job_variables", "cpu"), 2048.0) }},
		{"read deployment by name", "GET", p("/deployments/name/etl/nightly"), nil, 200, func(t *testing.T, r resp) { expect(t, get(r.body, "id"), ids["deployment"]) }},
		{"unknown deployment name", "GET", p("/deployments/name/etl/weekly"), nil, 404, nil},
		{"filter deployments", "POST", p("/deployments/filter"), map[string]any{"work_pools": map[string]any{"name": map[string]any{"any_": []string{"ecs-pool"}}}, "sort": "NAME_ASC", "limit": 10, "offset": 0}, 200, func(t *testing.T, r resp) {
			expect(t, len(r.list()), 1)
			expect(t, get(r.list()[0], "id"), ids["deployment"])
			expect(t, get(r.list()[0], "job_variables", "cpu"), 2048.0)
		}},
		{"create flow run", "POST", p("/deployments/%s/create_flow_run", "deployment"), map[string]any{"job_variables": map[string]any{"image": "etl:1"}}, 201, func(t *testing.T, r resp) {
			ids["run"] = str(get(r.body, "id"))
			expect(t, get(r.body, "state_type"), "SCHEDULED")
			expect(t, get(r.body, "work_pool_name"), "ecs-pool")
		}},
		{"poll", "POST", p("/work_pools/ecs-pool/get_scheduled_flow_runs"), map[string]any{"work_queue_names": []string{}, "scheduled_before": "2026-08-21 16:05:00.123456+00:00"}, 200, func(t *testing.T, r resp) {
			expect(t, len(r.list()), 1)
			expect(t, get(r.list()[0], "flow_run", "id"), ids["run"])
			expect(t, get(r.list()[0], "flow_run", "state"), nil)
		}},
		{"read run", "GET", p("/flow_runs/%s", "run"), nil, 200, func(t *testing.T, r resp) { expect(t, get(r.body, "job_variables", "image"), "etl:1") }},
		{"claim", "POST", p("/flow_runs/%s/set_state", "run"), pendingBody("@run", "Pending", "0b4c9a7e-3f0e-4f47-9d43-0a3c2a1b9f10"), 201, func(t *testing.T, r resp) { expect(t, get(r.body, "status"), "ACCEPT") }},
		{"labels", "PATCH", p("/flow_runs/%s/labels", "run"), map[string]any{"prefect.worker.name": "w1"}, 204, nil},
		{"infrastructure pid", "PATCH", p("/flow_runs/%s", "run"), map[string]any{"infrastructure_pid": "cluster::arn"}, 204, nil},
		{"filter runs", "POST", p("/flow_runs/filter"), map[string]any{"flow_runs": map[string]any{"id": map[string]any{"any_": []string{"@run"}}, "state": map[string]any{"type": map[string]any{"any_": []string{"PENDING"}}}}, "limit": nil, "offset": 0}, 200, func(t *testing.T, r resp) {
			expect(t, len(r.list()), 1)
			expect(t, get(r.list()[0], "infrastructure_pid"), "cluster::arn")
			expect(t, get(r.list()[0], "labels", "prefect.worker.name"), "w1")
			expect(t, get(r.list()[0], "labels", "prefect.deployment.id"), ids["deployment"])
		}},
		{"logs", "POST", p("/logs/"), []any{map[string]any{"name": "prefect.flow_runs.worker", "level": 20, "message": "hi", "timestamp": "2026-08-21T16:00:00Z", "flow_run_id": "@run", "task_run_id": nil}}, 201, nil},
		{"events", "POST", p("/events"), []any{map[string]any{"id": "5d8b2f8e-4bb5-4f0e-8a54-3ad8f4d3c2a1", "occurred": "2026-08-21T16:00:00Z", "event": "prefect.worker.started", "resource": map[string]any{"prefect.resource.id": "prefect.worker.ecs.w1"}}}, 204, nil},
		{"block by id", "GET", p("/block_documents/%s?include_secrets=true", "block"), nil, 200, func(t *testing.T, r resp) { expect(t, get(r.body, "data", "aws_secret_access_key"), "s3cr3t") }},
		{"block by id masked", "GET", p("/block_documents/%s", "block"), nil, 200, func(t *testing.T, r resp) { expect(t, get(r.body, "data", "aws_secret_access_key"), "********") }},
		{"block by name", "GET", p("/block_types/slug/aws-credentials/block_documents/name/prod?include_secrets=true"), nil, 200, func(t *testing.T, r resp) { expect(t, get(r.body, "data", "region_name"), "us-east-1") }},
		{"variable", "GET", p("/variables/name/cluster"), nil, 200, func(t *testing.T, r resp) { expect(t, get(r.body, "value"), "prod") }},
		{"delete run", "DELETE", p("/flow_runs/%s", "run"), nil, 204, nil},
		{"delete deployment", "DELETE", p("/deployments/%s", "deployment"), nil, 204, nil},
		{"delete pool", "DELETE", p("/work_pools/ecs-pool"), nil, 204, nil},
		{"pool gone", "GET", p("/work_pools/ecs-pool"), nil, 404, nil},
	}
	ids["block"] = s.SetBlockDocument("aws-credentials", "prod", map[string]any{"aws_access_key_id": "AKIA", "aws_secret_access_key": "s3cr3t", "region_name": "us-east-1"})
	s.SetVariable("cluster", "prod")
	for _, st := range steps {
		body := resolveRefs(st.body, ids)
		r := c.do(st.method, st.path(), body)
		if r.status != st.want {
			t.Fatalf("%s: %s %s: status %d, want %d: %s", st.name, st.method, st.path(), r.status, st.want, r.raw)
		}
		if st.check != nil {
			st.check(t, r)
		}
		checkTimestamps(t, st.name, r.body)
		clk.Advance(time.Second)
	}
	if len(s.Logs()) != 1 || len(s.Events()) != 1 || len(s.Heartbeats()) != 1 {
		t.Errorf("logs %d, events %d, heartbeats %d; want 1 each", len(s.Logs()), len(s.Events()), len(s.Heartbeats()))
	}
	calls := s.Calls()
	for _, op := range prefectfake.Operations(false) {
		if calls[op] == 0 {
			t.Errorf("operation %s was not exercised", op)
		}
	}
	if v := s.Violations(); len(v) != 0 {
		t.Errorf("violations: %v", v)
	}
}

// resolveRefs replaces "@key" strings with ids[key].
func resolveRefs(v any, ids map[string]string) any {
	switch t := v.(type) {
	case string:
		if strings.HasPrefix(t, "@") {
			return ids[t[1:]]
		}
	case map[string]any:
		out := map[string]any{}
		for k, e := range t {
			out[k] = resolveRefs(e, ids)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = resolveRefs(e, ids)
		}
		return out
	case []string:
		out := make([]string, len(t))
		for i, e := range t {
			out[i] = str(resolveRefs(e, ids))
		}
		return out
	}
	return v
}

// checkTimestamps requires every date-time the server writes to be UTC
// with a Z, as pydantic writes them.
func checkTimestamps(t *testing.T, step string, v any) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			checkTimestamps(t, step, e)
		}
	case []any:
		for _, e := range x {
			checkTimestamps(t, step, e)
		}
	case string:
		if len(x) >= 20 && x[4] == '-' && x[10] == 'T' && x[13] == ':' {
			if _, err := time.Parse(time.RFC3339Nano, x); err != nil || !strings.HasSuffix(x, "Z") {
				t.Errorf("%s: timestamp %q is not RFC 3339 UTC with Z", step, x)
			}
		}
	}
}

func expect(t *testing.T, got, want any) {
	t.Helper()
	if n, ok := want.(int); ok {
		want = float64(n)
		if g, ok := got.(int); ok {
			got = float64(g)
		}
	}
	if got != want {
		t.Errorf("got %v (%T), want %v (%T)", got, got, want, want)
	}
}

func TestResponseCheckCatchesBadBodies(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		method, path string
		status       int
		body         any
		wantBad      bool
	}{
		"valid pool":           {"GET", "/work_pools/{name}", 200, map[string]any{"id": "0b4c9a7e-3f0e-4f47-9d43-0a3c2a1b9f10", "name": "p", "type": "ecs", "created": "2026-08-21T16:00:00Z", "updated": nil}, false},
		"pool without id":      {"GET", "/work_pools/{name}", 200, map[string]any{"name": "p", "type": "ecs", "created": nil, "updated": nil}, true},
		"bad status enum":      {"GET", "/work_pools/{name}", 200, map[string]any{"id": "0b4c9a7e-3f0e-4f47-9d43-0a3c2a1b9f10", "name": "p", "type": "ecs", "created": nil, "updated": nil, "status": "ONLINE"}, true},
		"orchestration detail": {"POST", "/flow_runs/{id}/set_state", 201, map[string]any{"status": "MAYBE", "state": nil, "details": map[string]any{"type": "accept_details"}}, true},
		"error without detail": {"GET", "/flows/{id}", 404, map[string]any{"message": "nope"}, true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := prefectfake.CheckResponse(tc.method, tc.path, tc.status, tc.body)
			if (len(got) > 0) != tc.wantBad {
				t.Errorf("violations %v, want bad=%v", got, tc.wantBad)
			}
		})
	}
}

func TestOperationsAreTheDocumentedOnes(t *testing.T) {
	t.Parallel()
	ops := prefectfake.Operations(false)
	if len(ops) != 35 {
		t.Errorf("%d operations, want 24 + 9 + 2 (deployment by name, deployments filter): %v", len(ops), ops)
	}
	for _, want := range []string{"POST /flow_runs/{id}/set_state", "POST /events", "GET /ready", "POST /deployments/filter"} {
		if !slices.Contains(ops, want) {
			t.Errorf("missing %s", want)
		}
	}
}

// TestFilterDeployments covers POST /deployments/filter: each filter
// object, Prefect's EXISTS semantics for related rows, the four sorts and
// pagination.
func TestFilterDeployments(t *testing.T) {
	t.Parallel()
	s, c, clk := start(t, prefectfake.Options{})
	s.CreateWorkPool("ecs-pool", "ecs", nil)
	other := str(s.CreateWorkPool("other", "ecs", nil)["id"])
	etl, report := str(s.CreateFlow("etl")["id"]), str(s.CreateFlow("report")["id"])
	deploy := func(flow, name, pool, queue string) string {
		clk.Advance(time.Second)
		return str(s.CreateDeployment(flow, name, pool, queue, nil)["id"])
	}
	nightly := deploy(etl, "nightly", "ecs-pool", "")
	deploy(etl, "hourly", "ecs-pool", "critical")
	weekly := deploy(report, "weekly", "other", "")
	deploy(report, "adhoc", "", "") // no pool, so no queue
	clk.Advance(time.Second)
	s.SetDeploymentConcurrency(nightly, 1, "") // now the last updated
	s.CreateFlowRun(weekly, nil, time.Time{})

	anyOf := func(v ...string) map[string]any { return map[string]any{"any_": v} }
	cases := map[string]struct {
		body map[string]any
		want string
	}{
		"no filter, NAME_ASC by default":    {map[string]any{}, "adhoc,hourly,nightly,weekly"},
		"NAME_DESC":                         {map[string]any{"sort": "NAME_DESC"}, "weekly,nightly,hourly,adhoc"},
		"CREATED_DESC":                      {map[string]any{"sort": "CREATED_DESC"}, "adhoc,weekly,hourly,nightly"},
		"UPDATED_DESC":                      {map[string]any{"sort": "UPDATED_DESC"}, "nightly,adhoc,weekly,hourly"},
		"a page":                            {map[string]any{"limit": 2, "offset": 1}, "hourly,nightly"},
		"offset past the end":               {map[string]any{"offset": 10}, ""},
		"limit 0":                           {map[string]any{"limit": 0}, ""},
		"limit 200":                         {map[string]any{"limit": 200}, "adhoc,hourly,nightly,weekly"},
		"nulls are no filter":               {map[string]any{"work_pools": nil, "flows": nil, "deployments": nil, "limit": nil, "sort": nil}, "adhoc,hourly,nightly,weekly"},
		"pool name":                         {map[string]any{"work_pools": map[string]any{"name": anyOf("ecs-pool")}}, "hourly,nightly"},
		"pool id":                           {map[string]any{"work_pools": map[string]any{"id": anyOf(other)}}, "weekly"},
		"pool name, sorted and paged":       {map[string]any{"work_pools": map[string]any{"name": anyOf("ecs-pool", "other")}, "sort": "NAME_DESC", "limit": 2}, "weekly,nightly"},
		"an empty pool filter needs a pool": {map[string]any{"work_pools": map[string]any{}}, "hourly,nightly,weekly"},
		"queue name":                        {map[string]any{"work_pool_queues": map[string]any{"name": anyOf("critical")}}, "hourly"},
		"deployment id":                     {map[string]any{"deployments": map[string]any{"id": anyOf(nightly, weekly)}}, "nightly,weekly"},
		"deployment name":                   {map[string]any{"deployments": map[string]any{"name": anyOf("weekly", "nope")}}, "weekly"},
		"deployment name like, any case":    {map[string]any{"deployments": map[string]any{"name": map[string]any{"like_": "HOUR"}}}, "hourly"},
		"deployments or_":                   {map[string]any{"deployments": map[string]any{"operator": "or_", "id": anyOf(nightly), "name": anyOf("adhoc")}}, "adhoc,nightly"},
		"deprecated concurrency_limit is ignored": {map[string]any{"deployments": map[string]any{"concurrency_limit": map[string]any{"ge_": 5}}}, "adhoc,hourly,nightly,weekly"},
		"flow name":            {map[string]any{"flows": map[string]any{"name": anyOf("report")}}, "adhoc,weekly"},
		"flow id":              {map[string]any{"flows": map[string]any{"id": anyOf(etl)}}, "hourly,nightly"},
		"with a scheduled run": {map[string]any{"flow_runs": map[string]any{"state": map[string]any{"type": anyOf("SCHEDULED")}}}, "weekly"},
		"filters are ANDed":    {map[string]any{"flows": map[string]any{"name": anyOf("etl")}, "work_pool_queues": map[string]any{"name": anyOf("default")}}, "nightly"},
		"nothing matches":      {map[string]any{"work_pools": map[string]any{"name": anyOf("nope")}}, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := c.must(200, "POST", "/deployments/filter", tc.body)
			var names []string
			for _, d := range r.list() {
				names = append(names, str(get(d, "name")))
			}
			if got := strings.Join(names, ","); got != tc.want {
				t.Errorf("deployments %q, want %q", got, tc.want)
			}
		})
	}
	if v := s.Violations(); len(v) != 0 {
		t.Errorf("violations: %v", v)
	}
}
