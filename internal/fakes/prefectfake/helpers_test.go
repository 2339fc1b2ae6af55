package prefectfake_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/fakes/fakenet"
	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
)

// t0 is the fake clock's start; every test reads time from its clock.
var t0 = time.Date(2026, 8, 21, 16, 0, 0, 0, time.UTC)

func newClock() *fakenet.Clock { return fakenet.NewClock(t0) }

// client speaks raw HTTP to the server, as any Prefect client would.
type client struct {
	t      testing.TB
	base   string
	hc     *http.Client
	header http.Header
}

type resp struct {
	status int
	body   any
	raw    string
	header http.Header
}

func (r resp) list() []any {
	l, _ := r.body.([]any)
	return l
}

// do sends body as JSON (a string is sent as is) with extra headers given
// as name, value pairs.
func (c *client) do(method, path string, body any, hdr ...string) resp {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		if s, ok := body.(string); ok {
			rd = strings.NewReader(s)
		} else {
			b, err := json.Marshal(body)
			if err != nil {
				c.t.Fatal(err)
			}
			rd = bytes.NewReader(b)
		}
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("X-PREFECT-API-VERSION", "0.8.4")
	for k, vs := range c.header {
		req.Header[k] = vs
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	hc := c.hc
	if hc == nil {
		hc = http.DefaultClient
	}
	res, err := hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{status: res.StatusCode, raw: string(raw), header: res.Header}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &out.body)
	}
	return out
}

func (c *client) must(want int, method, path string, body any, hdr ...string) resp {
	c.t.Helper()
	r := c.do(method, path, body, hdr...)
	if r.status != want {
		c.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, want, r.raw)
	}
	return r
}

// start runs a test server with a fake clock; violations fail t.
func start(t *testing.T, opts prefectfake.Options) (*prefectfake.Server, *client, *fakenet.Clock) {
	t.Helper()
	clk := newClock()
	if opts.Now == nil {
		opts.Now = clk.Now
	}
	s := prefectfake.NewTestServer(t, opts)
	return s, &client{t: t, base: s.URL()}, clk
}

// recTB records Errorf calls instead of failing, for tests that provoke
// violations on purpose.
type recTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, format)
}

func (r *recTB) Helper() {}

func (r *recTB) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.errs)
}

// startLenient is start for tests that break the contract on purpose.
func startLenient(t *testing.T, opts prefectfake.Options) (*prefectfake.Server, *client, *fakenet.Clock, *recTB) {
	t.Helper()
	clk := newClock()
	if opts.Now == nil {
		opts.Now = clk.Now
	}
	rec := &recTB{TB: t}
	s := prefectfake.NewTestServer(rec, opts)
	return s, &client{t: t, base: s.URL()}, clk, rec
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func get(v any, path ...string) any {
	for _, k := range path {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

// ecsTemplate is a small valid base job template.
func ecsTemplate() map[string]any {
	return map[string]any{
		"job_configuration": map[string]any{
			"image": "{{ image }}",
			"cpu":   "{{ cpu }}",
			"env":   "{{ env }}",
		},
		"variables": map[string]any{
			"type": "object",
			"properties": map[string]any{
				"image": map[string]any{"type": "string", "default": "prefecthq/prefect:3-latest"},
				"cpu":   map[string]any{"type": "integer", "default": 1024},
				"env":   map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}},
			},
		},
	}
}

// seedRun makes a pool, flow, deployment and one SCHEDULED run due now.
func seedRun(s *prefectfake.Server) (deploymentID, runID string) {
	f := s.CreateFlow("etl")
	d := s.CreateDeployment(str(f["id"]), "nightly", "ecs-pool", "", map[string]any{"cpu": 2048})
	r := s.CreateFlowRun(str(d["id"]), nil, time.Time{})
	return str(d["id"]), str(r["id"])
}

func pendingBody(runID, name, transitionID string) map[string]any {
	details := map[string]any{"flow_run_id": runID}
	if transitionID != "" {
		details["transition_id"] = transitionID
	}
	return map[string]any{"state": map[string]any{"type": "PENDING", "name": name, "message": nil, "data": nil, "state_details": details}, "force": false}
}

func stateBody(typ, name string, force bool) map[string]any {
	st := map[string]any{"type": typ}
	if name != "" {
		st["name"] = name
	}
	return map[string]any{"state": st, "force": force}
}

// newHTTPServer serves h on a loopback port for the test's duration.
func newHTTPServer(t *testing.T, h interface{ Handler() http.Handler }) string {
	t.Helper()
	srv := httptest.NewServer(h.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// waitABit yields to other goroutines while a test polls for a condition
// the server reaches on its own.
func waitABit() { runtime.Gosched() }
