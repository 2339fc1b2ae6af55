package prefect_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectapi"
	"github.com/ecsworker/ecsworker/internal/prefectconfig"
	"github.com/ecsworker/ecsworker/internal/prefectdeploy"
	"github.com/ecsworker/ecsworker/internal/prefectpool"
)

// pollRecorder records the limit of each get_scheduled_flow_runs request.
type pollRecorder struct {
	mu     sync.Mutex
	limits []int
}

func (p *pollRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/get_scheduled_flow_runs") && r.Body != nil {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		var body struct {
			Limit *int `json:"limit"`
		}
		_ = json.Unmarshal(b, &body)
		p.mu.Lock()
		if body.Limit == nil {
			p.limits = append(p.limits, 0)
		} else {
			p.limits = append(p.limits, *body.Limit)
		}
		p.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (p *pollRecorder) get() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.limits...)
}

// deepObject nests an object n levels deep, built in code: decoding it
// from text would hit jsonv's depth limit, which is the point.
func deepObject(n int) *jsonv.Object {
	o := jsonv.ObjectOf("leaf", 1)
	for range n {
		o = jsonv.ObjectOf("k", o)
	}
	return o
}

// TestPollScheduledRunsWithLargeParameters is the pool that stopped: 25
// runs whose deployment carries large parameters plus 5 small ones made
// every answer larger than the client would read, so every poll failed
// and nothing ran. The sizes are those of the incident divided by twenty,
// and so are the client's limits (64 MiB → 3.2 MiB of answer read whole;
// the budget, per-run and skip limits alike).
func TestPollScheduledRunsWithLargeParameters(t *testing.T) {
	t.Parallel()
	const (
		bigParam   = 175_000   // 3.5 MB / 20
		maxResp    = 3_355_443 // 64 MiB / 20
		budget     = 838_860   // 16 MiB / 20
		perRun     = 419_430   // 8 MiB / 20
		hugeParam  = 500_000   // over perRun
		bigRuns    = 25
		smallRuns  = 5
		totalClaim = bigRuns + smallRuns
	)
	rec := &pollRecorder{}
	e := start(t, prefectfake.Options{}, prefectconfig.Config{},
		prefectapi.WithMaxResponse(maxResp), prefectapi.WithHTTPClient(&http.Client{Transport: rec}))
	ctx := context.Background()
	c := e.client
	prefect.SetSizeLimits(c, budget, perRun, maxResp)
	if _, err := c.CreateWorkPool(ctx, prefectpool.WorkPoolCreate{Name: "pool", Type: "ecs"}); err != nil {
		t.Fatal(err)
	}
	flow, err := c.CreateFlow(ctx, prefectdeploy.FlowCreate{Name: "etl"})
	if err != nil {
		t.Fatal(err)
	}
	deploy := func(name string, params *jsonv.Object) string {
		t.Helper()
		d, err := c.CreateDeployment(ctx, prefectdeploy.DeploymentCreate{Name: name, FlowID: flow.ID, WorkPoolName: "pool", Parameters: params})
		if err != nil {
			t.Fatal(err)
		}
		return d.ID
	}
	big := deploy("big", jsonv.ObjectOf("rows", strings.Repeat("r", bigParam)))
	small := deploy("small", jsonv.ObjectOf("day", "2026-08-21"))
	huge := deploy("huge", jsonv.ObjectOf("rows", strings.Repeat("h", hugeParam)))
	// The client refuses to read this deployment back, so it goes in by
	// hand: Prefect stores parameters nested this deep.
	deepBody, _ := jsonv.Marshal(jsonv.ObjectOf("name", "deep", "flow_id", flow.ID, "work_pool_name", "pool",
		"parameters", deepObject(jsonv.MaxDepth+10)))
	resp, err := http.Post(e.srv.URL()+"/deployments/", "application/json", bytes.NewReader(deepBody))
	if err != nil {
		t.Fatal(err)
	}
	var created struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&created); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create the deep deployment: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	deep := created.ID

	// The unreadable runs come first, where they used to block the rest.
	hugeRun := e.srv.CreateFlowRun(huge, nil, testNow.Add(-time.Hour))["id"].(string)
	deepRun := e.srv.CreateFlowRun(deep, nil, testNow.Add(-time.Hour+time.Second))["id"].(string)
	for i := range bigRuns {
		e.srv.CreateFlowRun(big, nil, testNow.Add(-30*time.Minute+time.Duration(i)*time.Second))
	}
	for i := range smallRuns {
		e.srv.CreateFlowRun(small, nil, testNow.Add(-time.Minute+time.Duration(i)*time.Second))
	}

	claimed := map[string]bool{}
	unreadable := map[string]prefect.UnreadableRun{}
	var answers []prefect.ScheduledRuns
	for poll := 0; len(claimed) < totalClaim+2 && poll < 40; poll++ {
		res, err := c.PollScheduledFlowRuns(ctx, "pool", nil, testNow, 0)
		if err != nil {
			t.Fatalf("poll %d failed, as every poll did before: %v", poll, err)
		}
		answers = append(answers, res)
		var bigInAnswer int
		for _, r := range res.Runs {
			if r.FlowRun.DeploymentID == big {
				bigInAnswer++
				if got := r.FlowRun.Parameters.GetString("rows"); len(got) != bigParam {
					t.Errorf("run %s: parameters of %d bytes, want %d", r.FlowRun.ID, len(got), bigParam)
				}
			}
			if claimed[r.FlowRun.ID] {
				t.Errorf("run %s handed out again after it was claimed", r.FlowRun.ID)
			}
			claimed[r.FlowRun.ID] = true
			if _, err := c.SetFlowRunState(ctx, r.FlowRun.ID, prefect.StateCreate{Type: prefect.StatePending}, false); err != nil {
				t.Fatal(err)
			}
		}
		// The byte budget holds: one poll reads at most the budget plus
		// the run that crosses it.
		if limit := budget/bigParam + 1; bigInAnswer > limit {
			t.Errorf("poll %d read %d large runs, more than the %d that fit the budget", poll, bigInAnswer, limit)
		}
		// What the worker does with an unreadable run: claim it and crash
		// it with the error's message, so it stops coming back.
		for _, u := range res.Unreadable {
			unreadable[u.ID] = u
			claimed[u.ID] = true
			if _, err := c.SetFlowRunState(ctx, u.ID, prefect.StateCreate{Type: prefect.StatePending}, false); err != nil {
				t.Fatal(err)
			}
			if _, err := c.SetFlowRunState(ctx, u.ID, prefect.StateCreate{Type: prefect.StateCrashed, Message: u.Err.Error()}, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(claimed) != totalClaim+2 {
		t.Fatalf("%d of %d runs handed out after %d polls", len(claimed), totalClaim+2, len(answers))
	}

	h, ok := unreadable[hugeRun]
	if !ok {
		t.Fatalf("the run over the per-run limit is not among the unreadable runs: %+v", unreadable)
	}
	if !errors.Is(h.Err, prefect.ErrRunTooLarge) || h.StateType != prefect.StateScheduled || h.StateName != "Scheduled" ||
		h.DeploymentID != huge || h.WorkPoolID == "" || h.Name == "" || h.Bytes <= hugeParam {
		t.Errorf("oversized run %+v", h)
	}
	for _, want := range []string{"flow run " + hugeRun + " is 48", " KiB of JSON, over the 409.6 KiB the ECS worker reads for one flow run", "pass large data by reference"} {
		if !strings.Contains(h.Err.Error(), want) {
			t.Errorf("crash message %q lacks %q", h.Err, want)
		}
	}
	d, ok := unreadable[deepRun]
	if !ok || !errors.Is(d.Err, jsonv.ErrTooDeep) || errors.Is(d.Err, prefect.ErrRunTooLarge) || d.StateType != prefect.StateScheduled {
		t.Errorf("deeply nested run %+v (found %v)", d, ok)
	}
	if run := e.srv.FlowRun(hugeRun); run["state_type"] != "CRASHED" {
		t.Errorf("the oversized run is %v, not CRASHED", run["state_type"])
	}

	// The limit shrinks when answers grow and grows back when they shrink.
	limits := rec.get()
	if limits[0] != 0 {
		t.Errorf("first poll sent limit %d; with nothing learnt yet it should ask for the server's default", limits[0])
	}
	lowest := 200
	for _, l := range limits {
		if l != 0 {
			lowest = min(lowest, l)
		}
	}
	if lowest < 1 || lowest > budget/bigParam {
		t.Errorf("limits %v: the smallest should fit the budget (%d runs)", limits, budget/bigParam)
	}
	if last := answers[len(answers)-1]; last.Limit <= lowest {
		t.Errorf("limits %v: no growth once the large runs were gone", limits)
	}
	for i, a := range answers {
		if a.Limit < 1 || a.Limit > 200 {
			t.Errorf("poll %d asked for %d runs", i, a.Limit)
		}
	}
}

// TestPollScheduledRunsGrowsBack: an empty answer or one of small runs
// lets the limit double back to the server's default, not jump to it.
func TestPollScheduledRunsGrowsBack(t *testing.T) {
	t.Parallel()
	rec := &pollRecorder{}
	e := start(t, prefectfake.Options{}, prefectconfig.Config{},
		prefectapi.WithMaxResponse(64<<20), prefectapi.WithHTTPClient(&http.Client{Transport: rec}))
	ctx := context.Background()
	c := e.client
	prefect.SetSizeLimits(c, 100_000, 90_000, 1<<20)
	if _, err := c.CreateWorkPool(ctx, prefectpool.WorkPoolCreate{Name: "pool", Type: "ecs"}); err != nil {
		t.Fatal(err)
	}
	flow, _ := c.CreateFlow(ctx, prefectdeploy.FlowCreate{Name: "f"})
	d, err := c.CreateDeployment(ctx, prefectdeploy.DeploymentCreate{Name: "d", FlowID: flow.ID, WorkPoolName: "pool",
		Parameters: jsonv.ObjectOf("x", strings.Repeat("x", 40_000))})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		e.srv.CreateFlowRun(d.ID, nil, testNow.Add(-time.Minute))
	}
	res, err := c.PollScheduledFlowRuns(ctx, "pool", nil, testNow, 0)
	if err != nil {
		t.Fatal(err)
	}
	// 3 runs of ~41 kB: the third crosses the 100 kB budget, so all three
	// are read, and the next poll asks for 2.
	if len(res.Runs) != 3 || res.More {
		t.Errorf("first poll: %d runs, more %v", len(res.Runs), res.More)
	}
	for _, r := range res.Runs {
		if _, err := c.SetFlowRunState(ctx, r.FlowRun.ID, prefect.StateCreate{Type: prefect.StatePending}, false); err != nil {
			t.Fatal(err)
		}
	}
	for range 8 {
		if _, err := c.PollScheduledFlowRuns(ctx, "pool", nil, testNow, 0); err != nil {
			t.Fatal(err)
		}
	}
	// Then 2 (what fits), doubling on each empty answer (2, 4, 9, 19, ...)
	// until the whole page fits and the default (0) is sent again.
	got := rec.get()
	if len(got) != 9 || got[0] != 0 || got[1] != 2 || got[8] != 0 {
		t.Fatalf("limits %v", got)
	}
	for i := 2; i < 8; i++ {
		if got[i] < 2*got[i-1] || got[i] > 2*got[i-1]+1 {
			t.Errorf("limits %v: %d after %d is not a doubling", got, got[i], got[i-1])
		}
	}
}

// TestPollScheduledRunsBadAnswers: answers that are not a list of runs
// fail the poll with a message (never a panic), and a broken connection
// mid-answer is retried.
func TestPollScheduledRunsBadAnswers(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		body string
		want string
	}{
		"an object":      {body: `{"detail":"x"}`, want: "not a list"},
		"scalar element": {body: `[1]`, want: "a run should be an object"},
		"cut short":      {body: `[{"work_pool_id":"p","flow_run":{"id":"x"`, want: "ends at offset"},
		"bad syntax":     {body: `[{"work_pool_id":}]`, want: "run 1: invalid JSON"},
		"bad separator":  {body: `[{"flow_run":{}} {"flow_run":{}}]`, want: "expected , or ]"},
		"wrong types":    {body: `[{"flow_run":{"run_count":"many"}}]`, want: "run 1: "},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newStub(t, func(w http.ResponseWriter, r *http.Request, body string) { writeJSON(w, 200, tc.body) })
			c, _ := newTestClient(t, prefectconfig.Config{APIURL: s.url(), MaxRetries: 2})
			_, err := c.PollScheduledFlowRuns(context.Background(), "p", nil, testNow, 0)
			if !errors.Is(err, prefect.ErrInvalidResponse) || !strings.Contains(err.Error(), tc.want) ||
				!strings.Contains(err.Error(), `get scheduled flow runs of work pool "p"`) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
			if len(s.requests()) != 1 {
				t.Errorf("%d requests: a bad answer is not worth a retry", len(s.requests()))
			}
		})
	}
	t.Run("connection lost mid-answer", func(t *testing.T) {
		t.Parallel()
		first := firstCall()
		s := newStub(t, func(w http.ResponseWriter, r *http.Request, body string) {
			if first() {
				w.Header().Set("Content-Length", "100000")
				w.WriteHeader(200)
				_, _ = io.WriteString(w, `[{"flow_run":{"id":"`)
				return // the handler ends: the body is short of its length
			}
			writeJSON(w, 200, `[]`)
		})
		c, sl := newTestClient(t, prefectconfig.Config{APIURL: s.url(), MaxRetries: 2})
		res, err := c.PollScheduledFlowRuns(context.Background(), "p", nil, testNow, 0)
		if err != nil || len(res.Runs) != 0 || len(sl.get()) != 1 {
			t.Errorf("runs %v, err %v, waits %v", res.Runs, err, sl.get())
		}
	})
}
