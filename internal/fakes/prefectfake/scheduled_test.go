package prefectfake_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
)

func TestGetScheduledFlowRuns(t *testing.T) {
	t.Parallel()
	one := 1
	// Every case starts from pool "p" with queues default (priority 1),
	// high (priority 1 after reordering... see setup) and runs named by
	// their scheduled offset from t0.
	type world struct {
		s    *prefectfake.Server
		c    *client
		runs map[string]string // label -> id
	}
	build := func(t *testing.T, s *prefectfake.Server, c *client) world {
		w := world{s: s, c: c, runs: map[string]string{}}
		s.CreateWorkPool("p", "ecs", nil)
		s.CreateWorkQueue("p", "high", prefectfake.QueueOptions{Priority: 1})
		s.CreateWorkQueue("p", "default", prefectfake.QueueOptions{Priority: 2})
		s.CreateWorkQueue("p", "low", prefectfake.QueueOptions{Priority: 3})
		f := s.CreateFlow("f")
		deps := map[string]string{}
		for _, q := range []string{"high", "default", "low"} {
			deps[q] = str(s.CreateDeployment(str(f["id"]), "d-"+q, "p", q, nil)["id"])
		}
		add := func(label, queue string, offset time.Duration) {
			w.runs[label] = str(s.CreateFlowRun(deps[queue], nil, t0.Add(offset))["id"])
		}
		add("default+0", "default", 0)
		add("default-60", "default", -time.Minute)
		add("high+5", "high", 5*time.Second)
		add("low-120", "low", -2*time.Minute)
		add("default+30", "default", 30*time.Second)
		return w
	}
	label := func(w world, id string) string {
		for k, v := range w.runs {
			if v == id {
				return k
			}
		}
		return id
	}
	before := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339) }
	cases := map[string]struct {
		setup   func(w world)
		body    map[string]any
		want    string // labels in response order
		wantErr int
	}{
		"due runs by queue priority then time": {
			body: map[string]any{"work_queue_names": []string{}, "scheduled_before": before(10 * time.Second)},
			want: "high+5 default-60 default+0 low-120",
		},
		"no queue names means all queues": {
			body: map[string]any{"scheduled_before": before(time.Hour)},
			want: "high+5 default-60 default+0 default+30 low-120",
		},
		"named queues only": {
			body: map[string]any{"work_queue_names": []string{"low", "default"}, "scheduled_before": before(0)},
			want: "default-60 default+0 low-120",
		},
		"scheduled_after": {
			body: map[string]any{"scheduled_before": before(time.Hour), "scheduled_after": before(0)},
			want: "high+5 default+0 default+30",
		},
		"limit": {
			body: map[string]any{"scheduled_before": before(time.Hour), "limit": 2},
			want: "high+5 default-60",
		},
		"only SCHEDULED runs": {
			setup: func(w world) {
				w.s.SetFlowRunState(w.runs["high+5"], "PENDING", "")
				w.s.SetFlowRunState(w.runs["default-60"], "CANCELLED", "")
			},
			body: map[string]any{"scheduled_before": before(10 * time.Second)},
			want: "default+0 low-120",
		},
		"paused pool gives nothing": {
			setup: func(w world) { w.c.must(204, "PATCH", "/work_pools/p", map[string]any{"is_paused": true}) },
			body:  map[string]any{"scheduled_before": before(time.Hour)},
			want:  "",
		},
		"paused queue gives nothing": {
			setup: func(w world) {
				w.s.CreateWorkQueue("p", "default", prefectfake.QueueOptions{Priority: 2, Paused: true})
			},
			body: map[string]any{"scheduled_before": before(time.Hour)},
			want: "high+5 low-120",
		},
		"queue concurrency counts PENDING and RUNNING": {
			setup: func(w world) {
				w.s.CreateWorkQueue("p", "default", prefectfake.QueueOptions{Priority: 2, ConcurrencyLimit: &one})
				extra := w.s.CreateFlowRun(str(w.s.FlowRun(w.runs["default+0"])["deployment_id"]), nil, t0)
				w.s.SetFlowRunState(str(extra["id"]), "RUNNING", "")
			},
			body: map[string]any{"scheduled_before": before(time.Hour)},
			want: "high+5 low-120",
		},
		"queue concurrency leaves room": {
			setup: func(w world) {
				two := 2
				w.s.CreateWorkQueue("p", "default", prefectfake.QueueOptions{Priority: 2, ConcurrencyLimit: &two})
			},
			body: map[string]any{"scheduled_before": before(time.Hour)},
			want: "high+5 default-60 default+0 low-120",
		},
		"pool concurrency": {
			setup: func(w world) {
				w.c.must(204, "PATCH", "/work_pools/p", map[string]any{"concurrency_limit": 3})
				w.s.SetFlowRunState(w.runs["low-120"], "PENDING", "")
			},
			body: map[string]any{"scheduled_before": before(time.Hour)},
			want: "high+5 default-60",
		},
		"unknown queue": {
			body:    map[string]any{"work_queue_names": []string{"nope"}},
			wantErr: 404,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, c, _ := start(t, prefectfake.Options{})
			w := build(t, s, c)
			if tc.setup != nil {
				tc.setup(w)
			}
			if tc.wantErr != 0 {
				c.must(tc.wantErr, "POST", "/work_pools/p/get_scheduled_flow_runs", tc.body)
				return
			}
			r := c.must(200, "POST", "/work_pools/p/get_scheduled_flow_runs", tc.body)
			var got []string
			for _, e := range r.list() {
				got = append(got, label(w, str(get(e, "flow_run", "id"))))
				if get(e, "flow_run", "state") != nil {
					t.Error("flow_run.state must be null in this response")
				}
				if str(get(e, "flow_run", "state_type")) != "SCHEDULED" {
					t.Errorf("state_type %v", get(e, "flow_run", "state_type"))
				}
				if get(e, "work_pool_id") != s.WorkPool("p")["id"] {
					t.Error("wrong work_pool_id")
				}
			}
			expect(t, strings.Join(got, " "), tc.want)
		})
	}
}

func TestPollingMarksQueuesAndDeploymentsReady(t *testing.T) {
	t.Parallel()
	s, c, clk := start(t, prefectfake.Options{})
	depID, _ := seedRun(s)
	expect(t, s.Deployment(depID)["status"], "NOT_READY")
	c.must(200, "POST", "/work_pools/ecs-pool/get_scheduled_flow_runs", map[string]any{"work_queue_names": []string{"default"}})
	expect(t, s.Deployment(depID)["status"], "READY")
	expect(t, get(c.must(200, "GET", "/work_pools/ecs-pool/queues/default", nil).body, "status"), "READY")
	clk.Advance(61 * time.Second)
	expect(t, s.Deployment(depID)["status"], "NOT_READY")
	expect(t, get(c.must(200, "GET", "/work_pools/ecs-pool/queues/default", nil).body, "status"), "NOT_READY")
}

func TestHeartbeatsAndWorkerLiveness(t *testing.T) {
	t.Parallel()
	s, c, clk := start(t, prefectfake.Options{})
	s.CreateWorkPool("p", "ecs", nil)
	expect(t, s.WorkPool("p")["status"], "NOT_READY")
	c.must(204, "POST", "/work_pools/p/workers/heartbeat", map[string]any{"name": "w1", "heartbeat_interval_seconds": 10})
	c.must(204, "POST", "/work_pools/p/workers/heartbeat", map[string]any{"name": "w1", "heartbeat_interval_seconds": 10})
	c.must(204, "POST", "/work_pools/p/workers/heartbeat", map[string]any{"name": "w2"})
	expect(t, len(s.Workers("p")), 2)
	expect(t, len(s.Heartbeats()), 3)
	expect(t, s.Heartbeats()[0]["work_pool_name"], "p")
	expect(t, s.WorkPool("p")["status"], "READY")

	clk.Advance(31 * time.Second) // w1 missed 3 × 10 s; w2 has 3 × 30 s
	r := c.must(200, "POST", "/work_pools/p/workers/filter", map[string]any{"workers": map[string]any{"status": map[string]any{"any_": []string{"OFFLINE"}}}})
	expect(t, len(r.list()), 1)
	expect(t, get(r.list()[0], "name"), "w1")
	expect(t, s.WorkPool("p")["status"], "READY")
	clk.Advance(60 * time.Second)
	expect(t, s.WorkPool("p")["status"], "NOT_READY")
	c.must(204, "PATCH", "/work_pools/p", map[string]any{"is_paused": true})
	expect(t, s.WorkPool("p")["status"], "PAUSED")
}

func TestFlowRunFilter(t *testing.T) {
	t.Parallel()
	s, c, clk := start(t, prefectfake.Options{})
	depID, a := seedRun(s)
	clk.Advance(time.Second)
	b := str(s.CreateFlowRun(depID, nil, time.Time{})["id"])
	clk.Advance(time.Second)
	cRun := str(s.CreateFlowRun(depID, nil, time.Time{})["id"])
	s.SetFlowRunState(b, "CANCELLING", "")
	s.SetFlowRunState(cRun, "CANCELLED", "Cancelling") // legacy spelling
	filter := func(body map[string]any) []string {
		t.Helper()
		var ids []string
		for _, e := range c.must(200, "POST", "/flow_runs/filter", body).list() {
			ids = append(ids, str(get(e, "id")))
		}
		return ids
	}
	// The cancellation observer's two queries.
	got := filter(map[string]any{"flow_runs": map[string]any{"id": map[string]any{"any_": []string{a, b, cRun}}, "state": map[string]any{"type": map[string]any{"any_": []string{"CANCELLING"}}}}})
	expect(t, strings.Join(got, ","), b)
	got = filter(map[string]any{"flow_runs": map[string]any{"state": map[string]any{"type": map[string]any{"any_": []string{"CANCELLED"}}, "name": map[string]any{"any_": []string{"Cancelling"}}}}})
	expect(t, strings.Join(got, ","), cRun)
	got = filter(map[string]any{"deployments": map[string]any{"id": map[string]any{"any_": []string{depID}}}, "work_pools": map[string]any{"name": map[string]any{"any_": []string{"ecs-pool"}}}, "sort": "EXPECTED_START_TIME_ASC"})
	expect(t, strings.Join(got, ","), strings.Join([]string{a, b, cRun}, ","))
	got = filter(map[string]any{"sort": "EXPECTED_START_TIME_ASC", "limit": 1, "offset": 1})
	expect(t, strings.Join(got, ","), b)
	got = filter(map[string]any{"flow_runs": map[string]any{"operator": "or_", "id": map[string]any{"any_": []string{a}}, "state": map[string]any{"type": map[string]any{"any_": []string{"CANCELLED"}}}}, "sort": "EXPECTED_START_TIME_ASC"})
	expect(t, strings.Join(got, ","), a+","+cRun)
	got = filter(map[string]any{"work_pools": map[string]any{"name": map[string]any{"any_": []string{"other"}}}})
	expect(t, len(got), 0)
}

func TestUnimplementedFilterIsLoud(t *testing.T) {
	t.Parallel()
	s, c, _, rec := startLenient(t, prefectfake.Options{})
	r := c.do("POST", "/flow_runs/filter", map[string]any{"task_runs": map[string]any{"id": map[string]any{"any_": []string{"0b4c9a7e-3f0e-4f47-9d43-0a3c2a1b9f10"}}}})
	if r.status != 501 || rec.count() != 1 || !strings.Contains(s.Violations()[0], "fake limitation") {
		t.Errorf("status %d, violations %v", r.status, s.Violations())
	}
}

func TestPatchChangesOnlyGivenKeys(t *testing.T) {
	t.Parallel()
	s, c, _ := start(t, prefectfake.Options{})
	_, run := seedRun(s)
	c.must(204, "PATCH", "/flow_runs/"+run, map[string]any{"tags": []string{"a"}, "name": "renamed"})
	c.must(204, "PATCH", "/flow_runs/"+run, map[string]any{"infrastructure_pid": "c::t"})
	c.must(204, "PATCH", "/flow_runs/"+run+"/labels", map[string]any{"x": "1"})
	c.must(204, "PATCH", "/flow_runs/"+run+"/labels", map[string]any{"y": true})
	fr := s.FlowRun(run)
	expect(t, fr["name"], "renamed")
	expect(t, len(fr["tags"].([]any)), 1)
	expect(t, fr["infrastructure_pid"], "c::t")
	expect(t, get(fr, "labels", "x"), "1")
	expect(t, get(fr, "labels", "y"), true)
	expect(t, get(fr, "labels", "prefect.flow.id"), fr["flow_id"])

	c.must(201, "POST", "/work_pools/", map[string]any{"name": "p", "type": "ecs", "description": "d", "concurrency_limit": 3})
	c.must(204, "PATCH", "/work_pools/p", map[string]any{"is_paused": true})
	p := s.WorkPool("p")
	expect(t, p["description"], "d")
	expect(t, p["concurrency_limit"], 3)
	expect(t, p["is_paused"], true)
	c.must(204, "PATCH", "/work_pools/p", map[string]any{"concurrency_limit": nil})
	expect(t, s.WorkPool("p")["concurrency_limit"], nil)
}

// TestWorkerOfflineAfterThreeIntervals holds the fake to Prefect 3's
// liveness rule (prefect-worker-api.md §1.3): a worker is OFFLINE once its
// last heartbeat is more than heartbeat_interval_seconds × 3 old (30 s
// when it sent none), and ONLINE again at its next heartbeat. Real Prefect
// applies it on its foreman's 15 s tick, so it may show OFFLINE up to 15 s
// later than the fake, never earlier.
func TestWorkerOfflineAfterThreeIntervals(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		heartbeat map[string]any
		online    time.Duration // still ONLINE this long after the heartbeat
	}{
		"interval sent":    {heartbeat: map[string]any{"name": "w", "heartbeat_interval_seconds": 10}, online: 30 * time.Second},
		"no interval sent": {heartbeat: map[string]any{"name": "w"}, online: 90 * time.Second},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, c, clk := start(t, prefectfake.Options{})
			s.CreateWorkPool("p", "ecs", nil)
			status := func() string {
				t.Helper()
				ws := c.must(200, "POST", "/work_pools/p/workers/filter", map[string]any{}).list()
				if len(ws) != 1 {
					t.Fatalf("%d workers, want 1", len(ws))
				}
				return str(get(ws[0], "status"))
			}
			online := func() int {
				return len(c.must(200, "POST", "/work_pools/p/workers/filter", map[string]any{"workers": map[string]any{"status": map[string]any{"any_": []string{"ONLINE"}}}}).list())
			}
			c.must(204, "POST", "/work_pools/p/workers/heartbeat", tc.heartbeat)
			expect(t, status(), "ONLINE")
			clk.Advance(tc.online)
			expect(t, status(), "ONLINE")
			expect(t, online(), 1)
			clk.Advance(time.Millisecond)
			expect(t, status(), "OFFLINE")
			expect(t, online(), 0)
			expect(t, s.WorkPool("p")["status"], "NOT_READY")
			c.must(204, "POST", "/work_pools/p/workers/heartbeat", tc.heartbeat)
			expect(t, status(), "ONLINE")
			expect(t, online(), 1)
		})
	}
}
