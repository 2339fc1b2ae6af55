package prefectevents_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectapi"
	"github.com/ecsworker/ecsworker/internal/prefectconfig"
	"github.com/ecsworker/ecsworker/internal/prefectdeploy"
	"github.com/ecsworker/ecsworker/internal/prefectevents"
)

// esClient is a client for url without retries; cfg.APIURL is set here.
func esClient(t *testing.T, url string, cfg prefectconfig.Config) *prefect.Client {
	t.Helper()
	cfg.APIURL = url
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	c, err := prefect.New(cfg, prefectapi.WithUserAgent(prefectapi.UserAgent("1.2.3")))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func esContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// esPool creates a pool with a deployment and returns their ids.
func esPool(s *prefectfake.Server, pool string) (poolID, deploymentID string) {
	poolID = s.CreateWorkPool(pool, "ecs", nil)["id"].(string)
	flowID := s.CreateFlow("flow")["id"].(string)
	return poolID, s.CreateDeployment(flowID, "dep-"+pool, pool, "", nil)["id"].(string)
}

func esRun(s *prefectfake.Server, deploymentID string) string {
	return s.CreateFlowRun(deploymentID, nil, time.Time{})["id"].(string)
}

func esNext(t *testing.T, ctx context.Context, sub *prefectevents.EventSubscription) prefectevents.Event {
	t.Helper()
	ev, err := sub.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return ev
}

func TestSubscribeEventsFiltersAndOrders(t *testing.T) {
	t.Parallel()
	s := prefectfake.NewTestServer(t, prefectfake.Options{})
	c := esClient(t, s.URL(), prefectconfig.Config{})
	ctx := esContext(t)
	poolA, depA := esPool(s, "pool-a")
	_, depB := esPool(s, "pool-b")

	sub, err := c.SubscribeEvents(ctx, prefectevents.EventFilter{
		Names:          []string{prefectevents.EventFlowRunScheduled, prefectevents.EventFlowRunCancelling},
		AnyResourceIDs: []string{prefectevents.WorkPoolResourceID(poolA)},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Close() }()

	a1 := esRun(s, depA)
	b1 := esRun(s, depB)
	s.SetFlowRunState(a1, "PENDING", "")
	s.SetFlowRunState(b1, "CANCELLING", "")
	a2 := esRun(s, depA)
	s.SetFlowRunState(a1, "CANCELLING", "")
	s.SetFlowRunState(a2, "RUNNING", "")
	s.SetFlowRunState(b1, "CANCELLED", "")
	a3 := esRun(s, depA) // a later match: nothing in between may show up

	want := []struct{ event, run string }{
		{prefectevents.EventFlowRunScheduled, a1},
		{prefectevents.EventFlowRunScheduled, a2},
		{prefectevents.EventFlowRunCancelling, a1},
		{prefectevents.EventFlowRunScheduled, a3},
	}
	var last time.Time
	for i, w := range want {
		ev := esNext(t, ctx, sub)
		if ev.Event != w.event || ev.Resource["prefect.resource.id"] != prefectevents.FlowRunResourceID(w.run) {
			t.Fatalf("event %d: got %s for %s, want %s for %s", i, ev.Event, ev.Resource["prefect.resource.id"], w.event, w.run)
		}
		if ev.ID == "" || ev.Occurred.Before(last) || ev.Payload == nil {
			t.Errorf("event %d: id %q, occurred %v after %v, payload %v", i, ev.ID, ev.Occurred, last, ev.Payload)
		}
		last = ev.Occurred
		if !slices.ContainsFunc(ev.Related, func(r map[string]string) bool {
			return r["prefect.resource.id"] == prefectevents.WorkPoolResourceID(poolA) && r["prefect.resource.role"] == "work-pool"
		}) {
			t.Errorf("event %d: no work-pool related resource in %v", i, ev.Related)
		}
	}
}

func TestSubscribeEventsNextContextAndEnd(t *testing.T) {
	t.Parallel()
	s := prefectfake.NewTestServer(t, prefectfake.Options{})
	c := esClient(t, s.URL(), prefectconfig.Config{})
	ctx := esContext(t)
	_, dep := esPool(s, "pool")
	sub, err := c.SubscribeEvents(ctx, prefectevents.EventFilter{Prefixes: []string{"prefect.flow-run."}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Close() }()

	// A caller giving up on Next does not end the subscription.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := sub.Next(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next with a cancelled context: %v", err)
	}
	run := esRun(s, dep)
	if ev := esNext(t, ctx, sub); ev.Resource["prefect.resource.id"] != prefectevents.FlowRunResourceID(run) {
		t.Fatalf("got %v", ev)
	}

	s.Close()
	_, err = sub.Next(ctx)
	if !errors.Is(err, prefectevents.ErrEventStreamClosed) {
		t.Fatalf("after the server closed: %v", err)
	}
	if _, again := sub.Next(ctx); !errors.Is(again, prefectevents.ErrEventStreamClosed) {
		t.Errorf("Next again: %v", again)
	}
}

func TestSubscribeEventsCloseEndsNext(t *testing.T) {
	t.Parallel()
	s := prefectfake.NewTestServer(t, prefectfake.Options{})
	c := esClient(t, s.URL(), prefectconfig.Config{})
	ctx := esContext(t)
	sub, err := c.SubscribeEvents(ctx, prefectevents.EventFilter{Names: []string{prefectevents.EventFlowRunCancelling}})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		_, err := sub.Next(ctx)
		got <- err
	}()
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; !errors.Is(err, prefectevents.ErrEventStreamClosed) || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Next after Close: %v", err)
	}
	_ = sub.Close() // twice is fine
}

func TestSubscribeEventsReconnectSkipsRepeats(t *testing.T) {
	t.Parallel()
	s := prefectfake.NewTestServer(t, prefectfake.Options{})
	c := esClient(t, s.URL(), prefectconfig.Config{})
	ctx := esContext(t)
	pool, dep := esPool(s, "pool")
	filter := prefectevents.EventFilter{Names: []string{prefectevents.EventFlowRunScheduled}, AnyResourceIDs: []string{prefectevents.WorkPoolResourceID(pool)}}
	sub, err := c.SubscribeEvents(ctx, filter)
	if err != nil {
		t.Fatal(err)
	}
	r1 := esRun(s, dep)
	r2 := esRun(s, dep) // still unread when the subscription ends
	first := esNext(t, ctx, sub)
	if first.Resource["prefect.resource.id"] != prefectevents.FlowRunResourceID(r1) {
		t.Fatalf("got %v", first)
	}
	resume := sub.ResumeFilter()
	if !resume.Since.Equal(first.Occurred.Add(-time.Minute)) || !resume.Until.IsZero() || !slices.Equal(resume.Names, filter.Names) {
		t.Errorf("resume filter %+v, first event at %v", resume, first.Occurred)
	}

	sub2, err := sub.Reconnect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub2.Close() }()
	if _, err := sub.Next(ctx); !errors.Is(err, prefectevents.ErrEventStreamClosed) {
		t.Errorf("old subscription: %v", err)
	}
	// The server replays the events of the last minute: r1's is skipped,
	// r2's (never taken) is delivered, then new ones.
	r3 := esRun(s, dep)
	for _, want := range []string{r2, r3} {
		if ev := esNext(t, ctx, sub2); ev.Resource["prefect.resource.id"] != prefectevents.FlowRunResourceID(want) {
			t.Fatalf("after reconnecting got %s, want %s", ev.Resource["prefect.resource.id"], want)
		}
	}
	if n := s.Calls()["GET /events/out"]; n != 2 {
		t.Errorf("%d connections to /events/out", n)
	}
}

func TestSubscribeEventsAuth(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		opts  prefectfake.Options
		good  prefectconfig.Config
		bad   prefectconfig.Config
		wrong string
	}{
		"auth string": {prefectfake.Options{AuthString: "admin:s3cret"},
			prefectconfig.Config{AuthString: "admin:s3cret"}, prefectconfig.Config{AuthString: "admin:wr0ng-secret"}, "wr0ng-secret"},
		"api key": {prefectfake.Options{APIKey: "pnu_good"},
			prefectconfig.Config{APIKey: "pnu_good"}, prefectconfig.Config{APIKey: "pnu_wr0ng"}, "pnu_wr0ng"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := prefectfake.NewTestServer(t, tc.opts)
			ctx := esContext(t)
			_, dep := esPool(s, "pool")
			c := esClient(t, s.URL(), tc.good)
			sub, err := c.SubscribeEvents(ctx, prefectevents.EventFilter{Names: []string{prefectevents.EventFlowRunScheduled}})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = sub.Close() }()
			run := esRun(s, dep)
			if ev := esNext(t, ctx, sub); ev.Resource["prefect.resource.id"] != prefectevents.FlowRunResourceID(run) {
				t.Errorf("got %v", ev)
			}

			bad := esClient(t, s.URL(), tc.bad)
			_, err = bad.SubscribeEvents(ctx, prefectevents.EventFilter{})
			if !errors.Is(err, prefect.ErrUnauthorized) || errors.Is(err, prefectevents.ErrEventsUnavailable) {
				t.Fatalf("wrong credentials: %v", err)
			}
			if strings.Contains(err.Error(), tc.wrong) {
				t.Errorf("the error shows the secret: %v", err)
			}
			if _, err := bad.NewEventEmitter(ctx); !errors.Is(err, prefect.ErrUnauthorized) {
				t.Errorf("emitter with wrong credentials: %v", err)
			}
		})
	}
}

func TestSubscribeEventsUnavailable(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusForbidden, http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusOK} {
		s := prefectfake.NewTestServer(t, prefectfake.Options{})
		s.InjectFault(prefectfake.Fault{Path: "/events/out", Status: status})
		c := esClient(t, s.URL(), prefectconfig.Config{})
		_, err := c.SubscribeEvents(esContext(t), prefectevents.EventFilter{})
		if !errors.Is(err, prefectevents.ErrEventsUnavailable) || prefect.IsTransient(err) {
			t.Errorf("%d: %v", status, err)
		}
	}
	s := prefectfake.NewTestServer(t, prefectfake.Options{})
	s.InjectFault(prefectfake.Fault{Path: "/events/out", Status: http.StatusServiceUnavailable})
	c := esClient(t, s.URL(), prefectconfig.Config{})
	_, err := c.SubscribeEvents(esContext(t), prefectevents.EventFilter{})
	if errors.Is(err, prefectevents.ErrEventsUnavailable) || !prefect.IsTransient(err) {
		t.Errorf("503: %v", err)
	}
}

func TestEventFilterMatches(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 8, 21, 16, 0, 0, 0, time.UTC)
	ev := prefectevents.Event{
		ID: "e", Occurred: t0, Event: "prefect.flow-run.Cancelling",
		Resource: map[string]string{"prefect.resource.id": "prefect.flow-run.r1"},
		Related: []map[string]string{
			{"prefect.resource.id": "prefect.deployment.d1", "prefect.resource.role": "deployment"},
			{"prefect.resource.id": "prefect.work-pool.p1", "prefect.resource.role": "work-pool"},
		},
	}
	cases := []struct {
		name string
		f    prefectevents.EventFilter
		want bool
	}{
		{"empty", prefectevents.EventFilter{}, true},
		{"name", prefectevents.EventFilter{Names: []string{"x", "prefect.flow-run.Cancelling"}}, true},
		{"other name", prefectevents.EventFilter{Names: []string{"prefect.flow-run.Scheduled"}}, false},
		{"prefix", prefectevents.EventFilter{Prefixes: []string{"prefect.flow-run."}}, true},
		{"excluded prefix", prefectevents.EventFilter{ExcludePrefixes: []string{"prefect.flow-run.C"}}, false},
		{"excluded name", prefectevents.EventFilter{ExcludeNames: []string{"prefect.flow-run.Cancelling"}}, false},
		{"since", prefectevents.EventFilter{Since: t0}, true},
		{"since later", prefectevents.EventFilter{Since: t0.Add(time.Microsecond)}, false},
		{"until earlier", prefectevents.EventFilter{Until: t0.Add(-time.Microsecond)}, false},
		{"resource", prefectevents.EventFilter{ResourceIDs: []string{"prefect.flow-run.r1"}}, true},
		{"resource is not related", prefectevents.EventFilter{ResourceIDs: []string{"prefect.work-pool.p1"}}, false},
		{"resource prefix", prefectevents.EventFilter{ResourceIDPrefixes: []string{"prefect.flow-run."}}, true},
		{"any resource related", prefectevents.EventFilter{AnyResourceIDs: []string{"prefect.work-pool.p1"}}, true},
		{"any resource primary", prefectevents.EventFilter{AnyResourceIDs: []string{"prefect.flow-run.r1"}}, true},
		{"any resource other", prefectevents.EventFilter{AnyResourceIDs: []string{"prefect.work-pool.p2"}}, false},
		{"any resource id and prefix on one resource", prefectevents.EventFilter{
			AnyResourceIDs: []string{"prefect.work-pool.p1"}, AnyResourceIDPrefixes: []string{"prefect.deployment."}}, false},
		{"related id", prefectevents.EventFilter{RelatedIDs: []string{"prefect.work-pool.p1"}}, true},
		{"related id is not primary", prefectevents.EventFilter{RelatedIDs: []string{"prefect.flow-run.r1"}}, false},
		{"related id and role", prefectevents.EventFilter{RelatedIDs: []string{"prefect.work-pool.p1"}, RelatedRoles: []string{"work-pool"}}, true},
		{"related id in another role", prefectevents.EventFilter{RelatedIDs: []string{"prefect.work-pool.p1"}, RelatedRoles: []string{"deployment"}}, false},
		{"related role", prefectevents.EventFilter{RelatedRoles: []string{"deployment"}}, true},
	}
	for _, tc := range cases {
		if got := tc.f.Matches(ev); got != tc.want {
			t.Errorf("%s: Matches = %v", tc.name, got)
		}
	}
}

// esWorker reads what the worker's events describe from the server.
func esWorker(t *testing.T, ctx context.Context, c *prefect.Client, s *prefectfake.Server) (prefect.WorkerEventSource, *prefect.FlowRun, *prefectdeploy.Deployment, *prefectdeploy.Flow) {
	t.Helper()
	_, depID := esPool(s, "pool")
	runID := esRun(s, depID)
	pool, err := c.ReadWorkPool(ctx, "pool")
	if err != nil {
		t.Fatal(err)
	}
	run, err := c.ReadFlowRun(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	dep, err := c.ReadDeployment(ctx, depID)
	if err != nil {
		t.Fatal(err)
	}
	flow, err := c.ReadFlow(ctx, dep.FlowID)
	if err != nil {
		t.Fatal(err)
	}
	return prefect.WorkerEventSource{Name: "ECSWorker 1", Type: "ecs", Version: "3.8.3", Pool: pool}, run, dep, flow
}

func TestEventEmitterWebSocket(t *testing.T) {
	t.Parallel()
	s := prefectfake.NewTestServer(t, prefectfake.Options{AuthString: "admin:pass"})
	c := esClient(t, s.URL(), prefectconfig.Config{AuthString: "admin:pass"})
	ctx := esContext(t)
	w, run, dep, flow := esWorker(t, ctx, c, s)

	sub, err := c.SubscribeEvents(ctx, prefectevents.EventFilter{Prefixes: []string{"prefect.worker."}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Close() }()
	e, err := c.NewEventEmitter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tr := e.Stats().Transport; tr != prefectevents.EventTransportWebSocket {
		t.Fatalf("transport %s", tr)
	}
	started := prefect.WorkerStartedEvent(w)
	submitted := prefect.SubmittedFlowRunEvent(w, run, dep, flow)
	executed := prefect.ExecutedFlowRunEvent(w, prefect.NewRunSubjects(run, dep, flow), "prod::arn:aws:ecs:eu-west-1:1:task/prod/abc", 0, submitted.ID)
	stopped := prefect.WorkerStoppedEvent(w, started.ID)
	sent := []prefectevents.Event{started, submitted, executed, stopped}
	for _, ev := range sent {
		if err := e.Emit(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Emit(started); !errors.Is(err, prefectevents.ErrEmitterClosed) {
		t.Errorf("Emit after Close: %v", err)
	}
	if st := e.Stats(); st.SentWebSocket != 4 || st.SentHTTP != 0 || st.Dropped != 0 {
		t.Errorf("stats %+v", st)
	}

	// Close returns once the server has read every event.
	got := s.Events()
	if len(got) != len(sent) {
		t.Fatalf("server has %d events: %v", len(got), got)
	}
	for i, ev := range sent {
		if got[i]["id"] != ev.ID || got[i]["event"] != ev.Event {
			t.Errorf("event %d: %v, want %s %s", i, got[i], ev.ID, ev.Event)
		}
	}
	res, _ := got[0]["resource"].(map[string]any)
	if res["prefect.resource.id"] != "prefect.worker.ecs.ecsworker-1" || res["prefect.resource.name"] != "ECSWorker 1" ||
		res["prefect.worker-type"] != "ecs" || res["prefect.version"] != "3.8.3" {
		t.Errorf("worker resource %v", res)
	}
	if got[2]["follows"] != submitted.ID || got[3]["follows"] != started.ID {
		t.Errorf("follows: %v, %v", got[2]["follows"], got[3]["follows"])
	}
	if calls := s.Calls(); calls["GET /events/in"] != 1 || calls["POST /events"] != 0 {
		t.Errorf("calls %v", calls)
	}

	// The events come back out of the stream, executed with the
	// infrastructure of the run on its flow-run resource.
	for i, want := range sent {
		ev := esNext(t, ctx, sub)
		if ev.ID != want.ID {
			t.Fatalf("streamed event %d: %s %s, want %s", i, ev.Event, ev.ID, want.ID)
		}
		if ev.Event == prefectevents.EventWorkerExecutedFlowRun {
			i := slices.IndexFunc(ev.Related, func(r map[string]string) bool { return r["prefect.resource.role"] == "flow-run" })
			if i < 0 || ev.Related[i]["prefect.infrastructure.identifier"] != "prod::arn:aws:ecs:eu-west-1:1:task/prod/abc" ||
				ev.Related[i]["prefect.infrastructure.status-code"] != "0" {
				t.Errorf("executed related %v", ev.Related)
			}
		}
	}
}

func TestEventEmitterFallsBackToPost(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusNotFound, http.StatusServiceUnavailable} {
		s := prefectfake.NewTestServer(t, prefectfake.Options{CSRF: true})
		s.InjectFault(prefectfake.Fault{Path: "/events/in", Status: status})
		c := esClient(t, s.URL(), prefectconfig.Config{CSRFEnabled: true})
		ctx := esContext(t)
		e, err := c.NewEventEmitter(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if tr := e.Stats().Transport; tr != prefectevents.EventTransportHTTP {
			t.Errorf("%d: transport %s", status, tr)
		}
		var ids []string
		for range 3 {
			ev := prefectevents.Event{ID: "5d8b2f8e-4bb5-4f0e-8a54-3ad8f4d3c2a" + string(rune('0'+len(ids))), Event: "prefect.worker.started",
				Resource: map[string]string{"prefect.resource.id": "prefect.worker.ecs.w"}}
			ids = append(ids, ev.ID)
			if err := e.Emit(ev); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ev := range s.Events() {
			got = append(got, ev["id"].(string))
		}
		if !slices.Equal(got, ids) {
			t.Errorf("%d: server has %v, want %v", status, got, ids)
		}
		if st := e.Stats(); st.SentHTTP != 3 || st.SentWebSocket != 0 || st.Dropped != 0 {
			t.Errorf("%d: stats %+v", status, st)
		}
		if s.Calls()["POST /events"] == 0 {
			t.Errorf("%d: no POST /events", status)
		}
	}
}

func TestEventEmitterServerWithoutEvents(t *testing.T) {
	t.Parallel()
	s := prefectfake.NewTestServer(t, prefectfake.Options{})
	s.InjectFault(prefectfake.Fault{Path: "/events/in", Status: http.StatusNotFound})
	s.InjectFault(prefectfake.Fault{Method: "POST", Path: "/events", Status: http.StatusNotFound})
	c := esClient(t, s.URL(), prefectconfig.Config{})
	e, err := c.NewEventEmitter(esContext(t))
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := e.Emit(prefectevents.Event{Event: "prefect.worker.started", Resource: map[string]string{"prefect.resource.id": "prefect.worker.ecs.w"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if st := e.Stats(); st.Dropped != 5 || st.SentHTTP != 0 || st.Transport != prefectevents.EventTransportNone {
		t.Errorf("stats %+v", st)
	}
}

func TestEventEmitterCloseIsBounded(t *testing.T) {
	t.Parallel()
	s := prefectfake.NewTestServer(t, prefectfake.Options{})
	s.InjectFault(prefectfake.Fault{Path: "/events/in", Status: http.StatusNotFound})
	s.InjectFault(prefectfake.Fault{Method: "POST", Path: "/events", Hang: true})
	c := esClient(t, s.URL(), prefectconfig.Config{Timeout: time.Minute})
	e, err := c.NewEventEmitter(esContext(t), prefectevents.WithEventBuffer(2), prefectevents.WithEventFlushTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := e.Emit(prefectevents.Event{Event: "x", Resource: map[string]string{"prefect.resource.id": "r"}}); err != nil {
			t.Fatal(err)
		}
	}
	began := time.Now()
	err = e.Close()
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("Close took %s", took)
	}
	if err == nil {
		t.Error("Close reported nothing about the unsent events")
	}
	if st := e.Stats(); st.Dropped != 10 || st.SentHTTP != 0 {
		t.Errorf("stats %+v", st)
	}
}

// refServer speaks the event WebSockets as the reference describes, for
// what the test server does not cover.
type refServer struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	in     []map[string]any // first message and events on /events/in
	posted []string         // ids of POST /events
	notes  []string         // protocol problems seen
}

type refOptions struct {
	hangPost  chan struct{} // POST /events signals it and never answers
	cloud     bool
	legacyIn  bool // /events/in of an old server: no subprotocol, no auth
	dropAfter int  // close /events/in abruptly after so many events
}

func newRefServer(t *testing.T, o refOptions) *refServer {
	r := &refServer{t: t}
	base := "/api"
	if o.cloud {
		base = "/api/accounts/a/workspaces/w"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+base+"/events", func(w http.ResponseWriter, req *http.Request) {
		if o.hangPost != nil {
			// The body is read so that the server notices the client
			// giving up.
			_, _ = io.Copy(io.Discard, req.Body)
			o.hangPost <- struct{}{}
			<-req.Context().Done()
			return
		}
		var evs []map[string]any
		_ = json.NewDecoder(req.Body).Decode(&evs)
		r.mu.Lock()
		for _, ev := range evs {
			r.posted = append(r.posted, ev["id"].(string))
		}
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET "+base+"/events/in", func(w http.ResponseWriter, req *http.Request) {
		offered := req.Header.Get("Sec-WebSocket-Protocol")
		if o.cloud {
			if offered != "" {
				r.note("Cloud /events/in offered subprotocol %q", offered)
			}
			if req.Header.Get("Authorization") != "Bearer pnu_key" {
				r.note("Cloud /events/in without the API key header: %q", req.Header.Get("Authorization"))
			}
		}
		opts := &websocket.AcceptOptions{}
		if !o.cloud && !o.legacyIn {
			opts.Subprotocols = []string{"prefect"}
		}
		conn, err := websocket.Accept(w, req, opts)
		if err != nil {
			return
		}
		defer conn.CloseNow()
		ctx := req.Context()
		if !o.cloud && !o.legacyIn {
			var auth map[string]any
			if !r.read(ctx, conn, &auth) || auth["type"] != "auth" {
				r.note("/events/in: first message %v", auth)
				return
			}
			_ = conn.Write(ctx, websocket.MessageText, []byte(`{"type":"auth_success"}`))
		}
		for n := 0; o.dropAfter == 0 || n < o.dropAfter; n++ {
			var ev map[string]any
			if !r.read(ctx, conn, &ev) {
				return
			}
			if ev["type"] == "auth" {
				r.note("/events/in: unexpected auth message")
			}
			r.mu.Lock()
			r.in = append(r.in, ev)
			r.mu.Unlock()
		}
	})
	mux.HandleFunc("GET "+base+"/events/out", func(w http.ResponseWriter, req *http.Request) {
		conn, err := websocket.Accept(w, req, &websocket.AcceptOptions{Subprotocols: []string{"prefect"}})
		if err != nil {
			return
		}
		defer conn.CloseNow()
		ctx := req.Context()
		var auth, filter map[string]any
		if !r.read(ctx, conn, &auth) || auth["type"] != "auth" {
			r.note("/events/out: first message %v", auth)
			return
		}
		if o.cloud && auth["token"] != "pnu_key" {
			r.note("/events/out: Cloud token %v", auth["token"])
		}
		_ = conn.Write(ctx, websocket.MessageText, []byte(`{"type":"auth_success"}`))
		if !r.read(ctx, conn, &filter) || filter["type"] != "filter" {
			r.note("/events/out: second message %v", filter)
			return
		}
		_ = conn.Write(ctx, websocket.MessageText, []byte(`{"type":"event","event":{"id":"5d8b2f8e-4bb5-4f0e-8a54-3ad8f4d3c2a1",`+
			`"occurred":"`+prefectapi.FormatTime(time.Now())+`","event":"prefect.flow-run.Cancelling",`+
			`"resource":{"prefect.resource.id":"prefect.flow-run.r1"},"related":[],"payload":{"n":1},"follows":null,"received":"2026-08-21T16:00:00Z"}}`))
		_, _, _ = conn.Read(ctx) // until the client closes
	})
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)
	return r
}

func (r *refServer) read(ctx context.Context, conn *websocket.Conn, v any) bool {
	_, data, err := conn.Read(ctx)
	return err == nil && json.Unmarshal(data, v) == nil
}

func (r *refServer) note(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

func (r *refServer) check(t *testing.T) (in []map[string]any, posted []string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.notes {
		t.Error(n)
	}
	return slices.Clone(r.in), slices.Clone(r.posted)
}

func TestEventsCloudHandshake(t *testing.T) {
	t.Parallel()
	r := newRefServer(t, refOptions{cloud: true})
	c := esClient(t, r.srv.URL+"/api/accounts/a/workspaces/w", prefectconfig.Config{CloudAPIURL: r.srv.URL + "/api", APIKey: "pnu_key"})
	if !c.IsCloud() {
		t.Fatal("not a Cloud client")
	}
	ctx := esContext(t)
	sub, err := c.SubscribeEvents(ctx, prefectevents.EventFilter{Names: []string{prefectevents.EventFlowRunCancelling}})
	if err != nil {
		t.Fatal(err)
	}
	ev := esNext(t, ctx, sub)
	if ev.Event != prefectevents.EventFlowRunCancelling || ev.Payload == nil || !ev.Payload.Has("n") {
		t.Errorf("event %+v", ev)
	}
	_ = sub.Close()

	e, err := c.NewEventEmitter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tr := e.Stats().Transport; tr != prefectevents.EventTransportWebSocket {
		t.Errorf("transport %s", tr)
	}
	ev = prefect.WorkerStartedEvent(prefect.WorkerEventSource{Name: "w", Type: "ecs", Version: "1"})
	if err := e.Emit(ev); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	in, posted := r.check(t)
	if len(in) != 1 || in[0]["id"] != ev.ID || len(posted) != 0 {
		t.Errorf("socket got %v, POST got %v", in, posted)
	}
}

func TestEventEmitterLegacySocket(t *testing.T) {
	t.Parallel()
	r := newRefServer(t, refOptions{legacyIn: true})
	c := esClient(t, r.srv.URL+"/api", prefectconfig.Config{})
	e, err := c.NewEventEmitter(esContext(t))
	if err != nil {
		t.Fatal(err)
	}
	ev := prefectevents.Event{Event: "x", Resource: map[string]string{"prefect.resource.id": "r"}}
	if err := e.Emit(ev); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	in, _ := r.check(t)
	if len(in) != 1 || in[0]["event"] != "x" || in[0]["id"] == "" {
		t.Errorf("socket got %v", in)
	}
}

func TestEventEmitterSocketLost(t *testing.T) {
	t.Parallel()
	r := newRefServer(t, refOptions{dropAfter: 1})
	c := esClient(t, r.srv.URL+"/api", prefectconfig.Config{})
	e, err := c.NewEventEmitter(esContext(t))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, name := range []string{"a", "b", "c"} {
		ev := prefectevents.Event{ID: "5d8b2f8e-4bb5-4f0e-8a54-3ad8f4d3c2a" + name, Event: name, Resource: map[string]string{"prefect.resource.id": "r"}}
		ids = append(ids, ev.ID)
		if err := e.Emit(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	in, posted := r.check(t)
	// What the socket may not have delivered is posted again; the server
	// keeps one of each id.
	got := slices.Clone(posted)
	for _, ev := range in {
		got = append(got, ev["id"].(string))
	}
	slices.Sort(got)
	if !slices.Equal(slices.Compact(got), ids) || len(posted) == 0 {
		t.Errorf("socket got %v, POST got %v", in, posted)
	}
	if st := e.Stats(); st.SentHTTP == 0 || st.Dropped != 0 || st.SentWebSocket+st.SentHTTP != 3 {
		t.Errorf("stats %+v", st)
	}
}

func TestEventEmitterBufferIsBounded(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 1)
	r := newRefServer(t, refOptions{hangPost: arrived})
	r.srv.Config.Handler = func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if strings.HasSuffix(req.URL.Path, "/events/in") {
				http.NotFound(w, req) // no socket: events are posted
				return
			}
			next.ServeHTTP(w, req)
		})
	}(r.srv.Config.Handler)
	c := esClient(t, r.srv.URL+"/api", prefectconfig.Config{})
	e, err := c.NewEventEmitter(esContext(t), prefectevents.WithEventBuffer(2), prefectevents.WithEventFlushTimeout(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ev := prefectevents.Event{Event: "x", Resource: map[string]string{"prefect.resource.id": "r"}}
	if err := e.Emit(ev); err != nil {
		t.Fatal(err)
	}
	<-arrived // the sender is stuck in POST /events with that event
	for range 10 {
		if err := e.Emit(ev); err != nil {
			t.Fatal(err)
		}
	}
	if st := e.Stats(); st.Dropped != 8 {
		t.Errorf("buffer of 2: %+v", st)
	}
	if err := e.Close(); err == nil {
		t.Error("Close reported nothing about the unsent events")
	}
	if st := e.Stats(); st.Dropped != 11 || st.SentHTTP != 0 {
		t.Errorf("after Close: %+v", st)
	}
}
