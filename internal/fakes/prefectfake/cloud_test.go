package prefectfake_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
)

func TestCloud(t *testing.T) {
	t.Parallel()
	s, c, _ := start(t, prefectfake.Options{Cloud: true, APIKey: "pnu_key"})
	c.header = http.Header{"Authorization": {"Bearer pnu_key"}}
	if !strings.HasSuffix(s.URL(), "/api/accounts/"+prefectfake.DefaultAccountID+"/workspaces/"+prefectfake.DefaultWorkspaceID) {
		t.Errorf("URL %s", s.URL())
	}
	s.CreateWorkPool("p", "ecs", nil)
	r := c.must(200, "POST", "/work_pools/p/workers/heartbeat", map[string]any{"name": "w", "heartbeat_interval_seconds": 30, "return_id": true,
		"metadata": map[string]any{"integrations": []any{map[string]any{"name": "ecsworker", "version": "0.1.0"}}}})
	id := strings.Trim(strings.TrimSpace(r.raw), `"`)
	expect(t, id, str(s.Workers("p")[0]["id"]))
	c.must(204, "POST", "/work_pools/p/workers/heartbeat", map[string]any{"name": "w"})
	// Cloud takes worker-level logs.
	c.must(201, "POST", "/logs/", []any{map[string]any{"name": "prefect.workers", "level": 20, "message": "m", "timestamp": "2026-08-21T16:00:00Z", "worker_id": id}})
	expect(t, s.Logs()[0]["worker_id"], id)
	// The self-hosted path is not served.
	res, err := http.Get(strings.TrimSuffix(s.URL(), "/api/accounts/"+prefectfake.DefaultAccountID+"/workspaces/"+prefectfake.DefaultWorkspaceID) + "/api/health")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	expect(t, res.StatusCode, 404)
}

func TestSelfHostedHeartbeatIgnoresReturnID(t *testing.T) {
	t.Parallel()
	s, c, _ := start(t, prefectfake.Options{})
	s.CreateWorkPool("p", "ecs", nil)
	c.must(204, "POST", "/work_pools/p/workers/heartbeat", map[string]any{"name": "w", "return_id": true})
}

func TestSeedMakesIDsReproducible(t *testing.T) {
	t.Parallel()
	ids := func() string {
		s := prefectfake.New(prefectfake.Options{Seed: 42, Now: newClock().Now})
		_, run := seedRun(s)
		s.SetFlowRunState(run, "RUNNING", "")
		h := s.StateHistory(run)
		return run + " " + str(h[1]["id"]) + " " + str(s.FlowRun(run)["name"])
	}
	a, b := ids(), ids()
	if a != b {
		t.Errorf("seeded servers differ: %s vs %s", a, b)
	}
	if other := prefectfake.New(prefectfake.Options{Seed: 43}); str(other.CreateFlow("etl")["id"]) == strings.Fields(a)[0] {
		t.Error("different seeds gave the same id")
	}
}

func TestBlocksAndVariables(t *testing.T) {
	t.Parallel()
	s, c, _ := start(t, prefectfake.Options{})
	id := s.SetBlockDocument("secret", "db", map[string]any{"value": "hunter2"})
	s.SetBlockDocument("json", "cfg", map[string]any{"nested": map[string]any{"token": "t", "keep": 1}}, "nested.token")
	r := c.must(200, "GET", "/block_documents/"+id, nil)
	expect(t, get(r.body, "data", "value"), "********")
	expect(t, get(r.body, "block_type", "slug"), "secret")
	r = c.must(200, "GET", "/block_documents/"+id+"?include_secrets=true", nil)
	expect(t, get(r.body, "data", "value"), "hunter2")
	r = c.must(200, "GET", "/block_types/slug/json/block_documents/name/cfg", nil)
	expect(t, get(r.body, "data", "nested", "token"), "********")
	expect(t, get(r.body, "data", "nested", "keep"), 1)

	for name, v := range map[string]any{"s": "x", "n": 42, "f": 1.5, "o": map[string]any{"a": []any{1, "b"}}, "null": nil} {
		s.SetVariable(name, v)
		r := c.must(200, "GET", "/variables/name/"+name, nil)
		want, _ := json.Marshal(v)
		got, _ := json.Marshal(get(r.body, "value"))
		expect(t, string(got), string(want))
	}
}

// TestJSONNumbersAndKeyOrderSurvive: a worker renders templates with
// Python's str(), where 42 and 42.0 differ, so the server must give back
// exactly what it was sent.
func TestJSONNumbersAndKeyOrderSurvive(t *testing.T) {
	t.Parallel()
	s, c, _ := start(t, prefectfake.Options{})
	tmpl := `{"job_configuration":{"zeta":"{{ zeta }}","alpha":"{{ alpha }}"},"variables":{"properties":{"zeta":{"type":"number","default":42.0},"alpha":{"type":"integer","default":7}}}}`
	c.must(201, "POST", "/work_pools/", `{"name":"p","type":"ecs","base_job_template":`+tmpl+`}`)
	r := c.must(200, "GET", "/work_pools/p", nil)
	if !strings.Contains(r.raw, `"base_job_template":`+tmpl) {
		t.Errorf("template not returned verbatim: %s", r.raw)
	}
	_ = s
}

func TestEventsWebSocket(t *testing.T) {
	t.Parallel()
	s, c, _ := start(t, prefectfake.Options{AuthString: "admin:pass"})
	_, run := seedRun(s)
	ws := "ws" + strings.TrimPrefix(c.base, "http")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dial := func(path, token string) *websocket.Conn {
		t.Helper()
		conn, _, err := websocket.Dial(ctx, ws+path, &websocket.DialOptions{Subprotocols: []string{"prefect"}})
		if err != nil {
			t.Fatal(err)
		}
		send(t, ctx, conn, map[string]any{"type": "auth", "token": token})
		return conn
	}

	out := dial("/events/out", "admin:pass")
	defer out.CloseNow()
	expect(t, get(recv(t, ctx, out), "type"), "auth_success")
	send(t, ctx, out, map[string]any{"type": "filter", "filter": map[string]any{
		"event":        map[string]any{"name": []string{"prefect.flow-run.Cancelling"}},
		"any_resource": map[string]any{"id": []string{"prefect.flow-run." + run}},
		"occurred":     map[string]any{"since": t0.Add(-time.Minute).Format(time.RFC3339), "until": t0.Add(time.Hour).Format(time.RFC3339)},
	}})

	in := dial("/events/in", "admin:pass")
	defer in.CloseNow()
	expect(t, get(recv(t, ctx, in), "type"), "auth_success")
	send(t, ctx, in, map[string]any{"id": "5d8b2f8e-4bb5-4f0e-8a54-3ad8f4d3c2a1", "occurred": "2026-08-21T16:00:00Z", "event": "prefect.worker.started", "resource": map[string]any{"prefect.resource.id": "prefect.worker.ecs.w"}})

	s.SetFlowRunState(run, "CANCELLING", "")
	msg := recv(t, ctx, out)
	expect(t, get(msg, "type"), "event")
	expect(t, get(msg, "event", "event"), "prefect.flow-run.Cancelling")
	expect(t, get(msg, "event", "resource", "prefect.resource.id"), "prefect.flow-run."+run)

	_ = in.Close(websocket.StatusNormalClosure, "") // what matters is the server seeing the event
	for len(s.Events()) == 0 {
		waitABit()
	}
	expect(t, s.Events()[0]["event"], "prefect.worker.started")

	bad, _, err := websocket.Dial(ctx, ws+"/events/in", &websocket.DialOptions{Subprotocols: []string{"prefect"}})
	if err != nil {
		t.Fatal(err)
	}
	send(t, ctx, bad, map[string]any{"type": "auth", "token": "wrong"})
	if _, _, err := bad.Read(ctx); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Errorf("wrong token: %v", err)
	}
}

func send(t *testing.T, ctx context.Context, conn *websocket.Conn, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
}

func recv(t *testing.T, ctx context.Context, conn *websocket.Conn) map[string]any {
	t.Helper()
	_, b, err := conn.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// TestConcurrentClaims: of many workers racing to claim the same runs,
// exactly one wins each run (run under -race this also checks locking).
func TestConcurrentClaims(t *testing.T) {
	t.Parallel()
	s, c, _ := start(t, prefectfake.Options{})
	depID, first := seedRun(s)
	runs := []string{first}
	for range 4 {
		runs = append(runs, str(s.CreateFlowRun(depID, nil, time.Time{})["id"]))
	}
	var mu sync.Mutex
	wins := map[string]int{}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.do("POST", "/work_pools/ecs-pool/workers/heartbeat", map[string]any{"name": fmt.Sprint("w", w)})
			for _, run := range runs {
				r := c.do("POST", "/flow_runs/"+run+"/set_state", pendingBody(run, "Pending", ""))
				if get(r.body, "status") == "ACCEPT" {
					mu.Lock()
					wins[run]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for _, run := range runs {
		if wins[run] != 1 {
			t.Errorf("run %s claimed %d times", run, wins[run])
		}
	}
	expect(t, len(s.Workers("ecs-pool")), 8)
}
