package prefectfake_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
)

func TestAuth(t *testing.T) {
	t.Parallel()
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:pass"))
	cases := map[string]struct {
		opts       prefectfake.Options
		method     string
		path       string
		auth       string
		wantStatus int
		wantBody   string
	}{
		"bearer missing":           {prefectfake.Options{APIKey: "pnu_key"}, "GET", "/work_pools/p", "", 401, `"detail"`},
		"bearer wrong":             {prefectfake.Options{APIKey: "pnu_key"}, "GET", "/work_pools/p", "Bearer nope", 401, `"detail"`},
		"bearer right":             {prefectfake.Options{APIKey: "pnu_key"}, "GET", "/health", "Bearer pnu_key", 200, "true"},
		"bearer on health":         {prefectfake.Options{APIKey: "pnu_key"}, "GET", "/health", "", 401, `"detail"`},
		"basic missing":            {prefectfake.Options{AuthString: "admin:pass"}, "GET", "/work_pools/p", "", 401, `{"exception_message":"Unauthorized"}`},
		"basic wrong":              {prefectfake.Options{AuthString: "admin:pass"}, "GET", "/version", "Basic eA==", 401, `{"exception_message":"Unauthorized"}`},
		"basic right":              {prefectfake.Options{AuthString: "admin:pass"}, "GET", "/version", basic, 200, `"0.8.4"`},
		"basic exempts health":     {prefectfake.Options{AuthString: "admin:pass"}, "GET", "/health", "", 200, "true"},
		"basic exempts ready":      {prefectfake.Options{AuthString: "admin:pass"}, "GET", "/ready", "", 200, `{"message":"OK"}`},
		"basic on pool 404 passes": {prefectfake.Options{AuthString: "admin:pass"}, "GET", "/work_pools/p", basic, 404, `Work pool \"p\" not found.`},
		"cloud bearer":             {prefectfake.Options{Cloud: true, APIKey: "pnu_key"}, "GET", "/version", "Bearer pnu_key", 200, `"0.8.4"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, c, _ := start(t, tc.opts)
			r := c.do(tc.method, tc.path, nil, "Authorization", tc.auth)
			if r.status != tc.wantStatus || !strings.Contains(r.raw, tc.wantBody) {
				t.Errorf("status %d body %s; want %d containing %s", r.status, r.raw, tc.wantStatus, tc.wantBody)
			}
		})
	}
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	s, c, clk := start(t, prefectfake.Options{CSRF: true, CSRFTokenTTL: time.Hour})
	body := map[string]any{"name": "p", "type": "ecs"}
	const client = "7a0f3c1e-5b7d-4c52-9d8e-2f4a6b8c0d1e"

	r := c.must(403, "POST", "/work_pools/", body)
	expect(t, get(r.body, "detail"), "Missing client identifier.")
	r = c.must(403, "POST", "/work_pools/", body, "Prefect-Csrf-Client", client)
	expect(t, get(r.body, "detail"), "Missing CSRF token.")
	r = c.must(403, "POST", "/work_pools/", body, "Prefect-Csrf-Client", client, "Prefect-Csrf-Token", "forged")
	if !strings.Contains(str(get(r.body, "detail")), "Invalid CSRF token") {
		t.Errorf("invalid token body %s", r.raw)
	}
	c.must(422, "GET", "/csrf-token", nil) // client is required

	tok := c.must(200, "GET", "/csrf-token?client="+client, nil)
	expect(t, get(tok.body, "client"), client)
	expect(t, get(tok.body, "expiration"), "2026-08-21T17:00:00Z")
	token := str(get(tok.body, "token"))
	c.must(201, "POST", "/work_pools/", body, "Prefect-Csrf-Client", client, "Prefect-Csrf-Token", token)
	// Reads never need a token.
	c.must(200, "GET", "/work_pools/p", nil)

	clk.Advance(time.Hour + time.Second)
	r = c.must(403, "PATCH", "/work_pools/p", map[string]any{"is_paused": true}, "Prefect-Csrf-Client", client, "Prefect-Csrf-Token", token)
	if !strings.Contains(r.raw, "Invalid CSRF token") {
		t.Errorf("expired token body %s", r.raw)
	}
	token = str(get(c.must(200, "GET", "/csrf-token?client="+client, nil).body, "token"))
	c.must(204, "PATCH", "/work_pools/p", map[string]any{"is_paused": true}, "Prefect-Csrf-Client", client, "Prefect-Csrf-Token", token)
	if len(s.Violations()) != 0 {
		t.Errorf("violations %v", s.Violations())
	}
}

// TestErrorPaths covers the refusals a client must handle, each with the
// status and body text of the real server.
func TestErrorPaths(t *testing.T) {
	t.Parallel()
	missing := "00000000-0000-4000-8000-000000000000"
	cases := map[string]struct {
		setup      func(*prefectfake.Server, *client)
		method     string
		path       string
		body       any
		wantStatus int
		wantBody   string
	}{
		"reserved name create": {nil, "POST", "/work_pools/", map[string]any{"name": "Prefect-managed", "type": "ecs"}, 403, "Work pools starting with 'Prefect' are reserved for internal use."},
		"reserved name update": {nil, "PATCH", "/work_pools/prefect-x", map[string]any{"base_job_template": map[string]any{}}, 403, "reserved for internal use"},
		"reserved name delete": {nil, "DELETE", "/work_pools/prefect-x", nil, 403, "can not be deleted"},
		"duplicate pool": {func(s *prefectfake.Server, c *client) {
			c.must(201, "POST", "/work_pools/", map[string]any{"name": "p", "type": "ecs"})
		},
			"POST", "/work_pools/", map[string]any{"name": "p", "type": "ecs"}, 409, "A work pool with this name already exists."},
		"pool 404":           {nil, "GET", "/work_pools/nope", nil, 404, `{"detail":"Work pool \"nope\" not found."}`},
		"pool patch 404":     {nil, "PATCH", "/work_pools/nope", map[string]any{"is_paused": true}, 404, "not found"},
		"heartbeat 404":      {nil, "POST", "/work_pools/nope/workers/heartbeat", map[string]any{"name": "w"}, 404, `Work pool \"nope\" not found.`},
		"queue 404":          {poolP, "GET", "/work_pools/p/queues/nope", nil, 404, "Work pool queue 'p/nope' not found."},
		"poll unknown queue": {poolP, "POST", "/work_pools/p/get_scheduled_flow_runs", map[string]any{"work_queue_names": []string{"default", "nope"}}, 404, "Work pool queue 'p/nope' not found."},
		"poll unknown pool":  {nil, "POST", "/work_pools/nope/get_scheduled_flow_runs", map[string]any{}, 404, `Work pool \"nope\" not found.`},
		"deployment 404":     {nil, "GET", "/deployments/" + missing, nil, 404, `{"detail":"Deployment not found"}`},
		"flow 404":           {nil, "GET", "/flows/" + missing, nil, 404, `{"detail":"Flow not found"}`},
		"flow run 404":       {nil, "GET", "/flow_runs/" + missing, nil, 404, `{"detail":"Flow run not found"}`},
		"set_state 404":      {nil, "POST", "/flow_runs/" + missing + "/set_state", stateBody("PENDING", "", false), 404, `{"exception_message":"Flow run with id ` + missing + ` not found"}`},
		"labels 404":         {nil, "PATCH", "/flow_runs/" + missing + "/labels", map[string]any{"a": "b"}, 404, "not found"},
		"block 404":          {nil, "GET", "/block_documents/" + missing, nil, 404, "Block document not found"},
		"block name 404":     {nil, "GET", "/block_types/slug/secret/block_documents/name/nope", nil, 404, "Block document not found"},
		"variable 404":       {nil, "GET", "/variables/name/nope", nil, 404, `{"detail":"Variable not found."}`},
		"template without variables": {nil, "POST", "/work_pools/", map[string]any{"name": "p", "type": "ecs", "base_job_template": map[string]any{"job_configuration": map[string]any{"image": "{{ image }}"}}}, 422,
			"must contain both a `job_configuration` key and a `variables` key"},
		"template undeclared placeholder": {nil, "POST", "/work_pools/", map[string]any{"name": "p", "type": "ecs", "base_job_template": map[string]any{
			"job_configuration": map[string]any{"image": "{{ image }}", "cluster": "{{ prefect.variables.cluster }}"},
			"variables":         map[string]any{"properties": map[string]any{"image": map[string]any{"type": "string"}}}}}, 422, "undeclared variable(s): prefect.variables.cluster"},
		"template bad default": {nil, "POST", "/work_pools/", map[string]any{"name": "p", "type": "ecs", "base_job_template": map[string]any{
			"job_configuration": map[string]any{"cpu": "{{ cpu }}"},
			"variables":         map[string]any{"properties": map[string]any{"cpu": map[string]any{"type": "integer", "default": "lots"}}}}}, 422, "Validation failed for field 'cpu'"},
		"job variables on running run": {func(s *prefectfake.Server, c *client) {
			_, id := seedRun(s)
			s.SetFlowRunState(id, "RUNNING", "")
			c.header = http.Header{"X-Run": {id}}
		}, "PATCH", "/flow_runs/{run}", map[string]any{"job_variables": map[string]any{"cpu": 1}}, 400, "cannot be updated"},
		"method not allowed": {nil, "DELETE", "/flows/" + missing, nil, 405, "Method Not Allowed"},
		"old api version":    {nil, "GET", "/version", nil, 400, "requires version 0.8.0 or higher"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, c, _, rec := startLenient(t, prefectfake.Options{})
			if tc.setup != nil {
				tc.setup(s, c)
			}
			path := strings.ReplaceAll(tc.path, "{run}", c.header.Get("X-Run"))
			var hdr []string
			if name == "old api version" {
				hdr = []string{"X-PREFECT-API-VERSION", "0.7.9"}
			}
			r := c.do(tc.method, path, tc.body, hdr...)
			if r.status != tc.wantStatus || !strings.Contains(r.raw, tc.wantBody) {
				t.Errorf("status %d body %s; want %d containing %s", r.status, r.raw, tc.wantStatus, tc.wantBody)
			}
			// A well-formed request refused by the API is not a client
			// contract violation; a malformed one is.
			wantViolation := strings.HasPrefix(name, "template ") && tc.wantStatus == 422 && name != "template bad default" || name == "old api version"
			if got := rec.count() > 0; got != wantViolation {
				t.Errorf("violation reported = %v, want %v: %v", got, wantViolation, s.Violations())
			}
		})
	}
}

func poolP(s *prefectfake.Server, c *client) {
	c.must(201, "POST", "/work_pools/", map[string]any{"name": "p", "type": "ecs"})
}

// TestMalformedRequests checks that what the real server refuses with 422
// is refused the same way and reported as a violation of the contract.
func TestMalformedRequests(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		method, path string
		body         any
		hdr          []string
		wantStatus   int
		wantBody     string
		wantMsg      string
	}{
		"unknown field in action body":   {"POST", "/work_pools/", map[string]any{"name": "p", "type": "ecs", "worker_id": "x"}, nil, 422, `"type":"extra_forbidden"`, "additional properties 'worker_id' not allowed"},
		"unknown field in StateCreate":   {"POST", "/flow_runs/{run}/set_state", map[string]any{"state": map[string]any{"type": "PENDING", "extra": 1}}, nil, 422, `"loc":["body","state","extra"]`, "extra"},
		"unknown field in FlowRunUpdate": {"PATCH", "/flow_runs/{run}", map[string]any{"infrastructure_pid": "x", "worker_name": "w"}, nil, 422, "extra_forbidden", "worker_name"},
		"worker_id on self-hosted logs":  {"POST", "/logs/", []any{map[string]any{"name": "n", "level": 20, "message": "m", "timestamp": "2026-08-21T16:00:00Z", "worker_id": "7a0f3c1e-5b7d-4c52-9d8e-2f4a6b8c0d1e"}}, nil, 422, `"loc":["body",0,"worker_id"]`, "worker_id"},
		"bad state type":                 {"POST", "/flow_runs/{run}/set_state", stateBody("STARTED", "", false), nil, 422, `"type":"enum"`, "STARTED"},
		"missing state":                  {"POST", "/flow_runs/{run}/set_state", map[string]any{"force": true}, nil, 422, `"type":"missing"`, "state"},
		"limit over 200":                 {"POST", "/flow_runs/filter", map[string]any{"limit": 201}, nil, 422, `{"detail":"Invalid limit: must be less than or equal to 200."}`, "limit"},
		"negative limit":                 {"POST", "/work_pools/p/get_scheduled_flow_runs", map[string]any{"limit": -1}, nil, 422, "greater than or equal to 0", "limit"},
		"deployments limit over 200":     {"POST", "/deployments/filter", map[string]any{"limit": 201, "sort": "NAME_ASC"}, nil, 422, `{"detail":"Invalid limit: must be less than or equal to 200."}`, "limit"},
		"negative deployments offset":    {"POST", "/deployments/filter", map[string]any{"offset": -1}, nil, 422, `"loc":["body","offset"],"msg":"Input should be greater than or equal to 0"`, "offset"},
		"unknown deployment sort":        {"POST", "/deployments/filter", map[string]any{"sort": "ID_DESC"}, nil, 422, `"type":"enum"`, "ID_DESC"},
		"unknown DeploymentFilter member": {"POST", "/deployments/filter", map[string]any{"deployments": map[string]any{"name": map[string]any{"any_": []string{"x"}}, "slug": map[string]any{"any_": []string{"x"}}}}, nil, 422,
			`{"loc":["body","deployments","slug"],"msg":"Extra inputs are not permitted","type":"extra_forbidden"`, "slug"},
		"unknown operator in a deployment filter": {"POST", "/deployments/filter", map[string]any{"deployments": map[string]any{"name": map[string]any{"eq_": "x"}}}, nil, 422,
			`"loc":["body","deployments","name","eq_"],"msg":"Extra inputs are not permitted","type":"extra_forbidden"`, "eq_"},
		"unknown WorkPoolFilter member": {"POST", "/deployments/filter", map[string]any{"work_pools": map[string]any{"pool_name": map[string]any{"any_": []string{"p"}}}}, nil, 422,
			`"loc":["body","work_pools","pool_name"]`, "pool_name"},
		"deployment ids not uuids": {"POST", "/deployments/filter", map[string]any{"deployments": map[string]any{"id": map[string]any{"any_": []string{"nightly"}}}}, nil, 422, "uuid_parsing", "nightly"},
		"not a uuid":               {"GET", "/flow_runs/not-a-uuid", nil, nil, 422, "uuid_parsing", "not-a-uuid"},
		"not json":                 {"POST", "/work_pools/", "{", nil, 422, "json_invalid", "not JSON"},
		"wrong content type":       {"POST", "/work_pools/", map[string]any{"name": "p2", "type": "ecs"}, []string{"Content-Type", "text/plain"}, 422, "model_attributes_type", "Content-Type"},
		"bad datetime":             {"POST", "/work_pools/p/get_scheduled_flow_runs", map[string]any{"scheduled_before": "tomorrow"}, nil, 422, "datetime", "tomorrow"},
		"trailing slash":           {"POST", "/work_pools", map[string]any{"name": "p2", "type": "ecs"}, nil, 307, "", "/work_pools/"},
		"unknown route":            {"GET", "/nothing/here", nil, nil, 404, "Not Found", "no such route"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, c, _, rec := startLenient(t, prefectfake.Options{})
			s.CreateWorkPool("p", "ecs", nil)
			_, run := seedRun(s)
			c.hc = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			r := c.do(tc.method, strings.ReplaceAll(tc.path, "{run}", run), tc.body, tc.hdr...)
			if r.status != tc.wantStatus || !strings.Contains(r.raw, tc.wantBody) {
				t.Errorf("status %d body %s; want %d containing %s", r.status, r.raw, tc.wantStatus, tc.wantBody)
			}
			v := s.Violations()
			if len(v) != 1 || !strings.Contains(v[0], tc.wantMsg) {
				t.Errorf("violations %q, want one mentioning %q", v, tc.wantMsg)
			}
			if rec.count() != len(v) {
				t.Errorf("t.Errorf called %d times for %d violations", rec.count(), len(v))
			}
		})
	}
}

func TestOnViolationWithoutTB(t *testing.T) {
	t.Parallel()
	var got []string
	s := prefectfake.New(prefectfake.Options{OnViolation: func(v string) { got = append(got, v) }})
	c := &client{t: t}
	srv := newHTTPServer(t, s)
	c.base = srv + s.URL()
	r := c.do("POST", "/work_pools/", map[string]any{"name": "p", "typo": "ecs"})
	if r.status != 422 || len(got) != 1 || len(s.Violations()) != 1 {
		t.Errorf("status %d, OnViolation %v, Violations %v", r.status, got, s.Violations())
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	t.Run("429 with Retry-After, then through", func(t *testing.T) {
		t.Parallel()
		s, c, _ := start(t, prefectfake.Options{})
		s.InjectFault(prefectfake.Fault{Method: "GET", Path: "/work_pools/*", Status: 429, RetryAfter: "2", Count: 1})
		s.CreateWorkPool("p", "ecs", nil)
		r := c.must(429, "GET", "/work_pools/p", nil)
		expect(t, r.header.Get("Retry-After"), "2")
		c.must(200, "GET", "/work_pools/p", nil)
		expect(t, s.Calls()["GET /work_pools/{name}"], 2)
	})
	t.Run("503 forever on a route template", func(t *testing.T) {
		t.Parallel()
		s, c, _ := start(t, prefectfake.Options{})
		_, run := seedRun(s)
		s.InjectFault(prefectfake.Fault{Path: "/flow_runs/{id}/set_state", Status: 503})
		for range 3 {
			r := c.must(503, "POST", "/flow_runs/"+run+"/set_state", pendingBody(run, "Pending", ""))
			expect(t, get(r.body, "exception_message"), "Service Unavailable")
		}
		expect(t, s.FlowRun(run)["state_type"], "SCHEDULED")
	})
	t.Run("custom body", func(t *testing.T) {
		t.Parallel()
		s, c, _ := start(t, prefectfake.Options{})
		s.InjectFault(prefectfake.Fault{Path: "/health", Status: 502, Body: "bad gateway"})
		r := c.must(502, "GET", "/health", nil)
		expect(t, r.raw, "bad gateway")
	})
	t.Run("hang until the client gives up", func(t *testing.T) {
		t.Parallel()
		s, c, _ := start(t, prefectfake.Options{})
		s.InjectFault(prefectfake.Fault{Path: "/health", Hang: true, Count: 1})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", c.base+"/health", nil)
		_, err := http.DefaultClient.Do(req)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v, want deadline exceeded", err)
		}
		c.must(200, "GET", "/health", nil)
	})
	t.Run("hang is released when the server closes", func(t *testing.T) {
		t.Parallel()
		s, c, _ := start(t, prefectfake.Options{})
		s.InjectFault(prefectfake.Fault{Path: "/health", Hang: true})
		done := make(chan error, 1)
		go func() {
			_, err := http.Get(c.base + "/health")
			done <- err
		}()
		for s.Calls()["GET /health"] == 0 {
			waitABit()
		}
		s.Close()
		if err := <-done; err == nil {
			t.Error("a hung request got an answer")
		}
	})
	t.Run("delay and latency", func(t *testing.T) {
		t.Parallel()
		s, c, _ := start(t, prefectfake.Options{})
		s.InjectFault(prefectfake.Fault{Path: "/version", Delay: 30 * time.Millisecond, Count: 1})
		began := time.Now()
		c.must(200, "GET", "/version", nil)
		if time.Since(began) < 30*time.Millisecond {
			t.Error("delay fault not applied")
		}
		s.SetLatency(20 * time.Millisecond)
		began = time.Now()
		c.must(200, "GET", "/version", nil)
		if time.Since(began) < 20*time.Millisecond {
			t.Error("latency not applied")
		}
	})
}

// TestUnimplementedDeploymentFilterIsLoud: what Prefect accepts but the
// fake cannot answer is refused with 501 and reported, never answered
// wrongly.
func TestUnimplementedDeploymentFilterIsLoud(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]map[string]any{
		"task_runs":                           {"task_runs": map[string]any{}},
		"deployments.flow_or_deployment_name": {"deployments": map[string]any{"flow_or_deployment_name": map[string]any{"like_": "etl"}}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, c, _, rec := startLenient(t, prefectfake.Options{})
			r := c.do("POST", "/deployments/filter", body)
			if r.status != 501 || rec.count() != 1 || !strings.Contains(s.Violations()[0], "fake limitation: filter "+name) {
				t.Errorf("status %d, violations %v", r.status, s.Violations())
			}
		})
	}
}
