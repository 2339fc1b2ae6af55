package prefect_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectapi"
	"github.com/ecsworker/ecsworker/internal/prefectconfig"
	"github.com/ecsworker/ecsworker/internal/prefectdeploy"
	"github.com/ecsworker/ecsworker/internal/prefecterr"
	"github.com/ecsworker/ecsworker/internal/prefectevents"
	"github.com/ecsworker/ecsworker/internal/prefectpool"
	"github.com/ecsworker/ecsworker/internal/templating"
)

// recorded is one request a test server saw.
type recorded struct {
	Method, Path, Query string
	Header              http.Header
	Body                string
}

// stub is an httptest server whose answers a test scripts per request.
type stub struct {
	t    *testing.T
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

// firstCall reports true on its first call only, for a stub that fails
// once and then answers; stub handlers run concurrently.
func firstCall() func() bool {
	var called atomic.Bool
	return func() bool { return !called.Swap(true) }
}

func newStub(t *testing.T, handler func(w http.ResponseWriter, r *http.Request, body string)) *stub {
	t.Helper()
	s := &stub{t: t}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, recorded{Method: r.Method, Path: strings.TrimPrefix(r.URL.EscapedPath(), "/api"),
			Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: string(b)})
		s.mu.Unlock()
		handler(w, r, string(b))
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *stub) url() string { return s.srv.URL + "/api" }

func (s *stub) requests() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

// sleeps records the waits between retries instead of sleeping.
type sleeps struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waits = append(s.waits, d)
	return ctx.Err()
}

func (s *sleeps) get() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.waits)
}

var testNow = time.Date(2026, 8, 21, 16, 0, 0, 0, time.UTC)

func newTestClient(t *testing.T, cfg prefectconfig.Config, opts ...prefectapi.Option) (*prefect.Client, *sleeps) {
	t.Helper()
	sl := &sleeps{}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	all := append([]prefectapi.Option{prefectapi.WithSleep(sl.sleep), prefectapi.WithClock(func() time.Time { return testNow }),
		prefectapi.WithUserAgent(prefectapi.UserAgent("1.2.3"))}, opts...)
	c, err := prefect.New(cfg, all...)
	if err != nil {
		t.Fatal(err)
	}
	return c, sl
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

const poolJSON = `{"id":"6f1c0d5e-1d0e-4c35-9c1b-0a5a3b1f2c3d","name":"my pool","type":"ecs","is_paused":false,` +
	`"base_job_template":{"variables":{"properties":{"cpu":{"type":"integer","default":1024.0}}},"job_configuration":{"z":1,"a":2}},` +
	`"status":"READY","created":"2026-08-21T15:00:00Z","updated":"2026-08-21 15:00:00.123456+00:00","future_field":{"x":1}}`

func TestHeaders(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		cfg      prefectconfig.Config
		opts     []prefectapi.Option
		wantAuth string
		check    func(t *testing.T, h http.Header)
	}{
		"bearer key": {
			cfg:      prefectconfig.Config{APIKey: "pnu_key123"},
			wantAuth: "Bearer pnu_key123",
		},
		"basic auth wins over the key": {
			cfg:      prefectconfig.Config{APIKey: "pnu_key123", AuthString: "admin:pass"},
			wantAuth: "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:pass")),
		},
		"no credentials": {},
		"custom headers, protected ones ignored": {
			cfg: prefectconfig.Config{CustomHeaders: map[string]string{"X-Team": "data", "user-agent": "prefect/3.0.0 (API 0.8.4)",
				"Prefect-Csrf-Token": "forged"}},
			check: func(t *testing.T, h http.Header) {
				if h.Get("X-Team") != "data" {
					t.Errorf("custom header missing: %v", h)
				}
				if h.Get("Prefect-Csrf-Token") != "" {
					t.Errorf("a custom header set the CSRF token")
				}
			},
		},
		"attribution headers": {
			opts: []prefectapi.Option{prefectapi.WithWorker("ECSWorker 1", "w-id")},
			check: func(t *testing.T, h http.Header) {
				if h.Get("X-Prefect-Worker-Name") != "ECSWorker 1" || h.Get("X-Prefect-Worker-Id") != "w-id" {
					t.Errorf("attribution headers: %v", h)
				}
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newStub(t, func(w http.ResponseWriter, r *http.Request, body string) { writeJSON(w, 200, poolJSON) })
			cfg := tc.cfg
			cfg.APIURL = s.url()
			c, _ := newTestClient(t, cfg, tc.opts...)
			if _, err := c.ReadWorkPool(context.Background(), "my pool"); err != nil {
				t.Fatal(err)
			}
			r := s.requests()[0]
			if r.Path != "/work_pools/my%20pool" {
				t.Errorf("path = %q", r.Path)
			}
			if got := r.Header.Get("X-Prefect-Api-Version"); got != "0.8.4" {
				t.Errorf("API version header = %q", got)
			}
			if got := r.Header.Get("User-Agent"); got != "ecsworker/1.2.3 (API 0.8.4)" {
				t.Errorf("User-Agent = %q", got)
			}
			if got := r.Header.Get("Authorization"); got != tc.wantAuth {
				t.Errorf("Authorization = %q, want %q", got, tc.wantAuth)
			}
			if r.Header.Get("Content-Type") != "" {
				t.Errorf("Content-Type on a request without a body")
			}
			if tc.check != nil {
				tc.check(t, r.Header)
			}
		})
	}
}

func TestSetWorkerChangesAttribution(t *testing.T) {
	t.Parallel()
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, body string) { w.WriteHeader(204) })
	c, _ := newTestClient(t, prefectconfig.Config{APIURL: s.url()})
	ctx := context.Background()
	if _, err := c.Heartbeat(ctx, "p", prefectpool.WorkerHeartbeat{Name: "w"}); err != nil {
		t.Fatal(err)
	}
	c.SetWorker("w", "id-1")
	if _, err := c.Heartbeat(ctx, "p", prefectpool.WorkerHeartbeat{Name: "w"}); err != nil {
		t.Fatal(err)
	}
	reqs := s.requests()
	if reqs[0].Header.Get("X-Prefect-Worker-Id") != "" || reqs[1].Header.Get("X-Prefect-Worker-Id") != "id-1" ||
		reqs[1].Header.Get("X-Prefect-Worker-Name") != "w" {
		t.Errorf("attribution: %v / %v", reqs[0].Header, reqs[1].Header)
	}
	if reqs[0].Header.Get("Content-Type") != "application/json" {
		t.Errorf("Content-Type = %q", reqs[0].Header.Get("Content-Type"))
	}
}

func TestRetryPolicy(t *testing.T) {
	t.Parallel()
	type answer struct {
		status int
		header map[string]string
		body   string
	}
	ok := answer{status: 200, body: poolJSON}
	five := prefectconfig.Config{MaxRetries: 5}
	tests := map[string]struct {
		cfg        prefectconfig.Config
		answers    []answer // then the last repeats
		wantErr    string
		wantIs     error
		wantCalls  int
		wantWaits  []time.Duration
		wantStatus int
	}{
		"503 then success: exponential backoff": {
			cfg:       five,
			answers:   []answer{{status: 503}, {status: 503}, ok},
			wantCalls: 3, wantWaits: []time.Duration{2 * time.Second, 4 * time.Second},
		},
		"429 honours Retry-After seconds": {
			cfg:       five,
			answers:   []answer{{status: 429, header: map[string]string{"Retry-After": "7"}}, ok},
			wantCalls: 2, wantWaits: []time.Duration{7 * time.Second},
		},
		"Retry-After as an HTTP date": {
			cfg:       five,
			answers:   []answer{{status: 503, header: map[string]string{"Retry-After": testNow.Add(90 * time.Second).Format(http.TimeFormat)}}, ok},
			wantCalls: 2, wantWaits: []time.Duration{90 * time.Second},
		},
		"Retry-After is capped": {
			cfg:       five,
			answers:   []answer{{status: 429, header: map[string]string{"Retry-After": "86400"}}, ok},
			wantCalls: 2, wantWaits: []time.Duration{5 * time.Minute},
		},
		"408 and 502 are retried": {
			cfg:       five,
			answers:   []answer{{status: 408}, {status: 502}, ok},
			wantCalls: 3, wantWaits: []time.Duration{2 * time.Second, 4 * time.Second},
		},
		"retries run out: the last answer is the error": {
			cfg:       prefectconfig.Config{MaxRetries: 2},
			answers:   []answer{{status: 503, body: `{"exception_message":"Service Unavailable"}`}},
			wantCalls: 3, wantWaits: []time.Duration{2 * time.Second, 4 * time.Second},
			wantErr:    `read work pool "my pool": GET /work_pools/my%20pool: 503 Service Unavailable: Service Unavailable`,
			wantStatus: 503,
		},
		"500 is returned, not retried": {
			cfg:       five,
			answers:   []answer{{status: 500, body: `{"exception_message":"Internal Server Error"}`}},
			wantCalls: 1, wantErr: "500 Internal Server Error: Internal Server Error", wantStatus: 500,
		},
		"504 is not retried by default": {
			cfg:       five,
			answers:   []answer{{status: 504}},
			wantCalls: 1, wantStatus: 504,
		},
		"extra codes are retried": {
			cfg:       prefectconfig.Config{MaxRetries: 5, ExtraRetryCodes: []int{500}},
			answers:   []answer{{status: 500}, ok},
			wantCalls: 2, wantWaits: []time.Duration{2 * time.Second},
		},
		"404 is not retried": {
			cfg:       five,
			answers:   []answer{{status: 404, body: `{"detail":"Work pool \"my pool\" not found."}`}},
			wantCalls: 1, wantIs: prefect.ErrNotFound, wantStatus: 404,
			wantErr: `read work pool "my pool": GET /work_pools/my%20pool: 404 Not Found: Work pool "my pool" not found.`,
		},
		"no retries configured": {
			cfg:       prefectconfig.Config{MaxRetries: 0},
			answers:   []answer{{status: 503}},
			wantCalls: 1, wantStatus: 503,
		},
		"maintenance answers do not use the budget": {
			cfg: prefectconfig.Config{MaxRetries: 1},
			answers: []answer{{status: 503, header: map[string]string{"Prefect-Maintenance": "true"}},
				{status: 503, header: map[string]string{"Prefect-Maintenance": "true"}}, {status: 503}, ok},
			wantCalls: 4, wantWaits: []time.Duration{time.Second, time.Second, 2 * time.Second},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			n := 0
			s := newStub(t, func(w http.ResponseWriter, r *http.Request, body string) {
				mu.Lock()
				a := tc.answers[min(n, len(tc.answers)-1)]
				n++
				mu.Unlock()
				for k, v := range a.header {
					w.Header().Set(k, v)
				}
				writeJSON(w, a.status, a.body)
			})
			cfg := tc.cfg
			cfg.APIURL = s.url()
			c, sl := newTestClient(t, cfg)
			_, err := c.ReadWorkPool(context.Background(), "my pool")
			if got := len(s.requests()); got != tc.wantCalls {
				t.Errorf("%d calls, want %d", got, tc.wantCalls)
			}
			if !slices.Equal(sl.get(), tc.wantWaits) {
				t.Errorf("waits %v, want %v", sl.get(), tc.wantWaits)
			}
			if tc.wantStatus == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var ae *prefecterr.APIError
			if !errors.As(err, &ae) || ae.Status != tc.wantStatus {
				t.Fatalf("error %v, want an APIError with status %d", err, tc.wantStatus)
			}
			if tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q\nwant      %q", err, tc.wantErr)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("errors.Is(%v, %v) is false", err, tc.wantIs)
			}
			if got := prefect.IsTransient(err); got != (tc.wantStatus >= 500) {
				t.Errorf("IsTransient = %v", got)
			}
		})
	}
}

func TestRetryJitter(t *testing.T) {
	t.Parallel()
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, body string) {
		if r.Header.Get("X-Answer") == "" {
			w.Header().Set("Retry-After", "10")
			w.WriteHeader(429)
		}
	})
	c, sl := newTestClient(t, prefectconfig.Config{APIURL: s.url(), MaxRetries: 20, RetryJitter: 0.2})
	_, _ = c.ReadWorkPool(context.Background(), "p")
	waits := sl.get()
	if len(waits) != 20 {
		t.Fatalf("%d waits", len(waits))
	}
	for _, w := range waits {
		// Retry-After is a minimum: jitter may only add to it.
		if w < 10*time.Second || w > 12*time.Second {
			t.Errorf("wait %v outside [10s, 12s]", w)
		}
	}
}

func TestSetStateRetriesResendTheSameBody(t *testing.T) {
	t.Parallel()
	first := firstCall()
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, body string) {
		if first() {
			w.WriteHeader(502)
			return
		}
		writeJSON(w, 201, `{"status":"ACCEPT","state":{"id":"s1","type":"PENDING","name":"Pending","timestamp":"2026-08-21T16:00:00Z",`+
			`"state_details":{"flow_run_id":"r1","transition_id":"t1","scheduled_time":"2026-08-21T15:59:00+00:00"}},"details":{"type":"accept_details"}}`)
	})
	c, _ := newTestClient(t, prefectconfig.Config{APIURL: s.url(), MaxRetries: 3})
	res, err := c.SetFlowRunState(context.Background(), "r1", prefect.StateCreate{Type: prefect.StatePending, Name: "Pending"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != prefect.StatusAccept || res.State.Type != prefect.StatePending || res.Details.Type != "accept_details" ||
		!res.State.StateDetails.ScheduledTime.Equal(testNow.Add(-time.Minute)) {
		t.Errorf("result %+v", res)
	}
	reqs := s.requests()
	if len(reqs) != 2 || reqs[0].Body != reqs[1].Body {
		t.Fatalf("retry changed the body:\n%s\n%s", reqs[0].Body, reqs[1].Body)
	}
	var body struct {
		State struct {
			Type         string            `json:"type"`
			Name         string            `json:"name"`
			StateDetails map[string]string `json:"state_details"`
		} `json:"state"`
		Force *bool `json:"force"`
	}
	if err := json.Unmarshal([]byte(reqs[0].Body), &body); err != nil {
		t.Fatal(err)
	}
	if body.State.Type != "PENDING" || body.State.Name != "Pending" || body.Force == nil || *body.Force ||
		body.State.StateDetails["flow_run_id"] != "r1" || len(body.State.StateDetails["transition_id"]) != 36 {
		t.Errorf("body %s", reqs[0].Body)
	}
	// A new proposal gets a new transition id.
	_, _ = c.SetFlowRunState(context.Background(), "r1", prefect.StateCreate{Type: prefect.StatePending}, false)
	if reqs := s.requests(); reqs[2].Body == reqs[0].Body {
		t.Errorf("two proposals share a transition id")
	}
}

func TestTransportErrors(t *testing.T) {
	t.Parallel()
	t.Run("refused before any answer: retried like any call", func(t *testing.T) {
		t.Parallel()
		addr := closedAddr(t)
		c, sl := newTestClient(t, prefectconfig.Config{APIURL: "http://" + addr + "/api", MaxRetries: 3, APIKey: "pnu_secretkey"})
		_, err := c.ReadWorkPool(context.Background(), "p")
		var te *prefecterr.TransportError
		if !errors.As(err, &te) {
			t.Fatalf("error %T %v", err, err)
		}
		// A worker started next to its server meets a refused connection
		// first; the README promises retries for it.
		if !slices.Equal(sl.get(), []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second}) {
			t.Errorf("waits %v, want three growing ones", sl.get())
		}
		msg := err.Error()
		if !strings.Contains(msg, `read work pool "p": GET http://`+addr+`/api/work_pools/p`) ||
			!strings.Contains(msg, "(start the Prefect server, or correct the host and port in PREFECT_API_URL)") {
			t.Errorf("message %q", msg)
		}
		if strings.Contains(msg, "pnu_secretkey") || !prefect.IsTransient(err) {
			t.Errorf("message %q, transient %v", msg, prefect.IsTransient(err))
		}
	})
	t.Run("refused after an answer: retried", func(t *testing.T) {
		t.Parallel()
		s := newStub(t, func(w http.ResponseWriter, r *http.Request, body string) { writeJSON(w, 200, "true") })
		c, sl := newTestClient(t, prefectconfig.Config{APIURL: s.url(), MaxRetries: 2, RetryJitter: 0})
		if err := c.Health(context.Background()); err != nil {
			t.Fatal(err)
		}
		s.srv.Close()
		err := c.Health(context.Background())
		if err == nil || len(sl.get()) != 2 {
			t.Errorf("err %v, waits %v", err, sl.get())
		}
	})
	t.Run("hanging server: timeout, retried, then reported", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		s := newStub(t, func(w http.ResponseWriter, r *http.Request, body string) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		defer close(release)
		c, sl := newTestClient(t, prefectconfig.Config{APIURL: s.url(), MaxRetries: 1, Timeout: 50 * time.Millisecond})
		_, err := c.ReadWorkPool(context.Background(), "p")
		var te *prefecterr.TransportError
		if !errors.As(err, &te) || te.Timeout != 50*time.Millisecond {
			t.Fatalf("error %v", err)
		}
		if !strings.Contains(err.Error(), "no response within 50ms") || !strings.Contains(err.Error(), "PREFECT_API_REQUEST_TIMEOUT") {
			t.Errorf("message %q", err)
		}
		if len(s.requests()) != 2 || len(sl.get()) != 1 || !prefect.IsTransient(err) {
			t.Errorf("%d requests, waits %v", len(s.requests()), sl.get())
		}
	})
	t.Run("cancelled context: no retry, not transient", func(t *testing.T) {
		t.Parallel()
		s := newStub(t, func(w http.ResponseWriter, r *http.Request, body string) { <-r.Context().Done() })
		c, sl := newTestClient(t, prefectconfig.Config{APIURL: s.url(), MaxRetries: 3})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		_, err := c.ReadWorkPool(ctx, "p")
		if !errors.Is(err, context.DeadlineExceeded) || prefect.IsTransient(err) || len(sl.get()) != 0 {
			t.Errorf("err %v, waits %v", err, sl.get())
		}
	})
}

func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	type server struct {
		tokenStatus int
		tokenBody   string
		// invalidOnce answers the first mutating request with 403 Invalid CSRF token.
		invalidOnce bool
	}
	validToken := func(tok string, exp time.Time) string {
		return fmt.Sprintf(`{"token":%q,"client":"c","expiration":%q,"id":"4f0a3c1e-0000-4000-8000-000000000001","created":null,"updated":null}`,
			tok, exp.Format(time.RFC3339))
	}
	tests := map[string]struct {
		srv        server
		cfg        prefectconfig.Config
		clock      []time.Time // one per heartbeat
		wantFetch  int
		wantTokens []string // CSRF header of each heartbeat
	}{
		"token fetched once and cached": {
			srv:   server{tokenStatus: 200, tokenBody: validToken("tok1", testNow.Add(time.Hour))},
			clock: []time.Time{testNow, testNow.Add(time.Minute)}, wantFetch: 1, wantTokens: []string{"tok1", "tok1"},
		},
		"expired token refetched": {
			srv:   server{tokenStatus: 200, tokenBody: validToken("tok1", testNow.Add(time.Hour))},
			clock: []time.Time{testNow, testNow.Add(2 * time.Hour)}, wantFetch: 2, wantTokens: []string{"tok1", "tok1"},
		},
		"old server without the endpoint: disabled for good": {
			srv:   server{tokenStatus: 404, tokenBody: `{"detail":"Not Found"}`},
			clock: []time.Time{testNow, testNow}, wantFetch: 1, wantTokens: []string{"", ""},
		},
		"CSRF protection disabled on the server": {
			srv:   server{tokenStatus: 422, tokenBody: `{"detail":"CSRF protection is disabled."}`},
			clock: []time.Time{testNow, testNow}, wantFetch: 1, wantTokens: []string{"", ""},
		},
		"invalid token: refreshed and retried once": {
			srv:   server{tokenStatus: 200, tokenBody: validToken("tok1", testNow.Add(time.Hour)), invalidOnce: true},
			clock: []time.Time{testNow}, wantFetch: 2, wantTokens: []string{"tok1", "tok1"},
		},
		"disabled by setting": {
			srv: server{tokenStatus: 200, tokenBody: validToken("tok1", testNow.Add(time.Hour))},
			cfg: prefectconfig.Config{CSRFEnabled: false}, clock: []time.Time{testNow}, wantTokens: []string{""},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			fetches, rejected := 0, false
			var clientIDs []string
			s := newStub(t, func(w http.ResponseWriter, r *http.Request, body string) {
				mu.Lock()
				defer mu.Unlock()
				if strings.HasSuffix(r.URL.Path, "/csrf-token") {
					fetches++
					clientIDs = append(clientIDs, r.URL.Query().Get("client"))
					writeJSON(w, tc.srv.tokenStatus, tc.srv.tokenBody)
					return
				}
				if tc.srv.invalidOnce && !rejected {
					rejected = true
					writeJSON(w, 403, `{"detail":"Invalid CSRF token or client identifier."}`)
					return
				}
				w.WriteHeader(204)
			})
			cfg := tc.cfg
			cfg.APIURL = s.url()
			if name != "disabled by setting" {
				cfg.CSRFEnabled = true
			}
			var clockMu sync.Mutex
			now := testNow
			c, sl := newTestClient(t, cfg, prefectapi.WithClock(func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }))
			for _, at := range tc.clock {
				clockMu.Lock()
				now = at
				clockMu.Unlock()
				if _, err := c.Heartbeat(context.Background(), "p", prefectpool.WorkerHeartbeat{Name: "w"}); err != nil {
					t.Fatal(err)
				}
			}
			// GETs never carry a token.
			_, _ = c.ReadWorkPool(context.Background(), "p")
			var tokens []string
			for _, r := range s.requests() {
				if strings.HasSuffix(r.Path, "/heartbeat") {
					tokens = append(tokens, r.Header.Get("Prefect-Csrf-Token"))
					if tok := r.Header.Get("Prefect-Csrf-Token"); tok != "" && r.Header.Get("Prefect-Csrf-Client") != clientIDs[0] {
						t.Errorf("client header %q, token fetched for %q", r.Header.Get("Prefect-Csrf-Client"), clientIDs[0])
					}
				}
				if r.Method == http.MethodGet && r.Header.Get("Prefect-Csrf-Token") != "" {
					t.Errorf("GET %s carried a CSRF token", r.Path)
				}
			}
			if fetches != tc.wantFetch || !slices.Equal(tokens, tc.wantTokens) {
				t.Errorf("fetches %d (want %d), tokens %q (want %q)", fetches, tc.wantFetch, tokens, tc.wantTokens)
			}
			if len(sl.get()) != 0 {
				t.Errorf("CSRF handling slept: %v", sl.get())
			}
			for _, id := range clientIDs {
				if len(id) != 36 || id != clientIDs[0] {
					t.Errorf("client ids %q", clientIDs)
				}
			}
		})
	}
}

func TestCSRFInvalidTwiceIsForbidden(t *testing.T) {
	t.Parallel()
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, body string) {
		if strings.HasSuffix(r.URL.Path, "/csrf-token") {
			writeJSON(w, 200, `{"token":"t","client":"c","expiration":"2030-01-01T00:00:00Z","id":"x","created":null,"updated":null}`)
			return
		}
		writeJSON(w, 403, `{"detail":"Invalid CSRF token or client identifier."}`)
	})
	c, _ := newTestClient(t, prefectconfig.Config{APIURL: s.url(), CSRFEnabled: true, MaxRetries: 5})
	err := c.DeleteWorkPool(context.Background(), "p")
	if !errors.Is(err, prefect.ErrForbidden) || len(s.requests()) != 4 {
		t.Errorf("err %v after %d requests", err, len(s.requests()))
	}
}

func TestCloudSkipsCSRF(t *testing.T) {
	t.Parallel()
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, body string) {
		if strings.HasSuffix(r.URL.Path, "/csrf-token") {
			t.Errorf("Cloud client fetched a CSRF token")
		}
		w.WriteHeader(200)
		_, _ = io.WriteString(w, "\"9a3b1c2d-0000-4000-8000-00000000abcd\"\n")
	})
	c, _ := newTestClient(t, prefectconfig.Config{APIURL: s.url() + "/accounts/a/workspaces/w", CloudAPIURL: s.url(), CSRFEnabled: true, APIKey: "pnu_k"})
	if !c.IsCloud() {
		t.Fatal("not Cloud")
	}
	id, err := c.Heartbeat(context.Background(), "p", prefectpool.WorkerHeartbeat{Name: "w", ReturnID: true, HeartbeatIntervalSeconds: 30})
	if err != nil || id != "9a3b1c2d-0000-4000-8000-00000000abcd" {
		t.Errorf("id %q, err %v", id, err)
	}
	r := s.requests()[0]
	if r.Path != "/accounts/a/workspaces/w/work_pools/p/workers/heartbeat" ||
		r.Body != `{"name":"w","heartbeat_interval_seconds":30,"return_id":true}` {
		t.Errorf("request %s %s", r.Path, r.Body)
	}
}

func TestHeartbeatFallsBackWithoutReturnID(t *testing.T) {
	t.Parallel()
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, body string) {
		if strings.Contains(body, "return_id") {
			writeJSON(w, 422, `{"exception_message":"Invalid request received.","exception_detail":[{"loc":["body","return_id"],"msg":"Extra inputs are not permitted","type":"extra_forbidden"}]}`)
			return
		}
		w.WriteHeader(204)
	})
	c, _ := newTestClient(t, prefectconfig.Config{APIURL: s.url()})
	meta := jsonv.ObjectOf("integrations", []any{jsonv.ObjectOf("name", "ecsworker", "version", "1.2.3")})
	id, err := c.Heartbeat(context.Background(), "p", prefectpool.WorkerHeartbeat{Name: "w", ReturnID: true, Metadata: meta})
	if err != nil || id != "" {
		t.Fatalf("id %q, err %v", id, err)
	}
	reqs := s.requests()
	if len(reqs) != 2 || reqs[1].Body != `{"name":"w"}` {
		t.Errorf("requests %+v", reqs)
	}
	if !strings.Contains(reqs[0].Body, `"metadata":{"integrations":[{"name":"ecsworker","version":"1.2.3"}]}`) {
		t.Errorf("first body %s", reqs[0].Body)
	}
}

func TestErrorDetails(t *testing.T) {
	t.Parallel()
	const key = "pnu_leakedkey987"
	tests := map[string]struct {
		cfg    prefectconfig.Config
		status int
		body   string
		want   string
		is     error
	}{
		"FastAPI detail": {
			status: 404, body: `{"detail":"Work pool \"p\" not found."}`, is: prefect.ErrNotFound,
			want: `read work pool "p": GET /work_pools/p: 404 Not Found: Work pool "p" not found.`,
		},
		"exception_message": {
			status: 404, body: `{"exception_message":"Flow run not found"}`, is: prefect.ErrNotFound,
			want: `GET /work_pools/p: 404 Not Found: Flow run not found`,
		},
		"validation errors": {
			status: 422, is: prefect.ErrUnprocessable,
			body: `{"exception_message":"Invalid request received.","exception_detail":[{"loc":["body","state","type"],"msg":"Input should be 'SCHEDULED'","type":"enum"},{"loc":["body","x",0],"msg":"bad","type":"t"}],"request_body":{"k":"` + key + `"}}`,
			want: `422 Unprocessable Entity: Invalid request received.: body.state.type: Input should be 'SCHEDULED'; body.x[0]: bad`,
		},
		"FastAPI validation list": {
			status: 422, is: prefect.ErrUnprocessable,
			body: `{"detail":[{"loc":["query","limit"],"msg":"Input should be less than or equal to 200","type":"x"}]}`,
			want: `422 Unprocessable Entity: query.limit: Input should be less than or equal to 200`,
		},
		"401 with a key": {
			cfg: prefectconfig.Config{APIKey: key}, status: 401, body: `{"exception_message":"Unauthorized"}`, is: prefect.ErrUnauthorized,
			want: "401 Unauthorized: Unauthorized (the server refused the credentials: check PREFECT_API_KEY",
		},
		"401 with basic auth": {
			cfg: prefectconfig.Config{AuthString: "admin:" + key}, status: 401, body: `{"exception_message":"Unauthorized"}`, is: prefect.ErrUnauthorized,
			want: "check PREFECT_API_AUTH_STRING",
		},
		"401 without credentials": {
			status: 401, is: prefect.ErrUnauthorized,
			want: "401 Unauthorized (the server requires credentials and none are set: set PREFECT_API_KEY",
		},
		"403 reserved name": {
			status: 403, body: `{"detail":"Work pools starting with 'Prefect' are reserved for internal use."}`, is: prefect.ErrForbidden,
			want: "403 Forbidden: Work pools starting with 'Prefect' are reserved for internal use.",
		},
		"409": {
			status: 409, body: `{"detail":"A work pool with this name already exists."}`, is: prefect.ErrConflict,
			want: "409 Conflict: A work pool with this name already exists.",
		},
		"echoed key is masked": {
			cfg: prefectconfig.Config{APIKey: key}, status: 400, body: `{"detail":"bad header ` + key + `"}`,
			want: "400 Bad Request: bad header ********",
		},
		"echoed basic credentials are masked": {
			cfg: prefectconfig.Config{AuthString: "admin:" + key}, status: 400,
			body: `{"detail":"bad ` + base64.StdEncoding.EncodeToString([]byte("admin:"+key)) + `"}`,
			want: "400 Bad Request: bad ********",
		},
		"HTML from a proxy": {
			status: 404, body: "<!DOCTYPE html><html><head><title>Prefect Server</title></head></html>", is: prefect.ErrNotFound,
			want: "404 Not Found: HTML page: Prefect Server",
		},
		"plain text": {
			status: 400, body: "upstream   connect error\n", want: "400 Bad Request: upstream connect error",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newStub(t, func(w http.ResponseWriter, r *http.Request, body string) { writeJSON(w, tc.status, tc.body) })
			cfg := tc.cfg
			cfg.APIURL = s.url()
			c, _ := newTestClient(t, cfg)
			_, err := c.ReadWorkPool(context.Background(), "p")
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\nwant      %q", err, tc.want)
			}
			if strings.Contains(err.Error(), key) {
				t.Errorf("error leaks the key: %q", err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(err, %v) is false", tc.is)
			}
			for _, other := range []error{prefect.ErrNotFound, prefect.ErrUnauthorized, prefect.ErrForbidden, prefect.ErrConflict, prefect.ErrUnprocessable} {
				if other != tc.is && errors.Is(err, other) { //nolint:errorlint // two sentinels compared with each other, not a returned error
					t.Errorf("errors.Is(err, %v) is true", other)
				}
			}
		})
	}
}

func TestBadJSON(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		body string
		do   func(c *prefect.Client) error
		want string
	}{
		"work pool": {body: `{"id": `, want: `read work pool "p": GET /work_pools/p: the server answered 200 OK with a body that is not the expected JSON`,
			do: func(c *prefect.Client) error { _, err := c.ReadWorkPool(context.Background(), "p"); return err }},
		"HTML instead of JSON": {body: `<html>Prefect UI</html>`, want: `body starts "<html>Prefect UI</html>"`,
			do: func(c *prefect.Client) error { _, err := c.ReadFlow(context.Background(), "f"); return err }},
		"wrong type": {body: `{"id": 3}`, want: "read flow run r: GET /flow_runs/r",
			do: func(c *prefect.Client) error { _, err := c.ReadFlowRun(context.Background(), "r"); return err }},
		"list expected": {body: `{}`, want: "list work pools: POST /work_pools/filter",
			do: func(c *prefect.Client) error {
				_, err := c.ListWorkPools(context.Background(), prefectpool.WorkPoolFilter{})
				return err
			}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newStub(t, func(w http.ResponseWriter, r *http.Request, body string) { writeJSON(w, 200, tc.body) })
			c, _ := newTestClient(t, prefectconfig.Config{APIURL: s.url()})
			err := tc.do(c)
			if !errors.Is(err, prefect.ErrInvalidResponse) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v\nwant %q", err, tc.want)
			}
		})
	}
}

func TestRawKeepsOrderAndNumbers(t *testing.T) {
	t.Parallel()
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, body string) { writeJSON(w, 200, poolJSON) })
	c, _ := newTestClient(t, prefectconfig.Config{APIURL: s.url()})
	p, err := c.ReadWorkPool(context.Background(), "my pool")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := jsonv.Marshal(p.BaseJobTemplate)
	if string(b) != `{"variables":{"properties":{"cpu":{"type":"integer","default":1024.0}}},"job_configuration":{"z":1,"a":2}}` {
		t.Errorf("template %s", b)
	}
	if !p.Raw.Has("future_field") || p.Raw.Keys()[0] != "id" {
		t.Errorf("raw %v", p.Raw)
	}
	if p.Name != "my pool" || p.Type != "ecs" || p.Status != "READY" || !p.Created.Equal(testNow.Add(-time.Hour)) ||
		p.Updated.Nanosecond() != 123456000 {
		t.Errorf("typed %+v", p)
	}
}

func TestWorkPoolUpdateSendsOnlySetFields(t *testing.T) {
	t.Parallel()
	paused, desc, limit := true, "", 3
	tests := map[string]struct {
		u    prefectpool.WorkPoolUpdate
		want string
	}{
		"template only":       {u: prefectpool.WorkPoolUpdate{BaseJobTemplate: jsonv.ObjectOf("b", 1, "a", 2)}, want: `{"base_job_template":{"b":1,"a":2}}`},
		"pause and limit":     {u: prefectpool.WorkPoolUpdate{IsPaused: &paused, ConcurrencyLimit: &limit}, want: `{"is_paused":true,"concurrency_limit":3}`},
		"clear limit":         {u: prefectpool.WorkPoolUpdate{ClearConcurrencyLimit: true}, want: `{"concurrency_limit":null}`},
		"empty description":   {u: prefectpool.WorkPoolUpdate{Description: &desc}, want: `{"description":""}`},
		"nothing is an error": {u: prefectpool.WorkPoolUpdate{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newStub(t, func(w http.ResponseWriter, r *http.Request, body string) { w.WriteHeader(204) })
			c, _ := newTestClient(t, prefectconfig.Config{APIURL: s.url()})
			err := c.UpdateWorkPool(context.Background(), "p", tc.u)
			if tc.want == "" {
				if err == nil || len(s.requests()) != 0 {
					t.Errorf("err %v, %d requests", err, len(s.requests()))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r := s.requests()[0]; r.Method != http.MethodPatch || r.Body != tc.want {
				t.Errorf("%s %s", r.Method, r.Body)
			}
		})
	}
}

func TestPagination(t *testing.T) {
	t.Parallel()
	const total = 450
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, body string) {
		var req struct{ Limit, Offset int }
		_ = json.Unmarshal([]byte(body), &req)
		var items []string
		for i := req.Offset; i < min(total, req.Offset+req.Limit); i++ {
			items = append(items, fmt.Sprintf(`{"id":"%d","flow_id":"f","name":"r%d"}`, i, i))
		}
		writeJSON(w, 200, "["+strings.Join(items, ",")+"]")
	})
	c, _ := newTestClient(t, prefectconfig.Config{APIURL: s.url()})
	runs, err := c.ListFlowRuns(context.Background(), prefect.FlowRunFilter{StateTypes: []prefect.StateType{prefect.StateCancelling}})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != total || runs[449].Name != "r449" || runs[449].Raw.GetString("name") != "r449" {
		t.Errorf("%d runs", len(runs))
	}
	var offsets []string
	for _, r := range s.requests() {
		var req map[string]any
		_ = json.Unmarshal([]byte(r.Body), &req)
		offsets = append(offsets, fmt.Sprint(req["limit"], "@", req["offset"]))
	}
	if want := []string{"200@0", "200@200", "200@400"}; !slices.Equal(offsets, want) {
		t.Errorf("pages %v, want %v", offsets, want)
	}
	if !strings.Contains(s.requests()[0].Body, `"flow_runs":{"state":{"type":{"any_":["CANCELLING"]}}}`) {
		t.Errorf("filter body %s", s.requests()[0].Body)
	}
	// A limit above the server's maximum is fetched in pages too.
	runs, err = c.ListFlowRuns(context.Background(), prefect.FlowRunFilter{Limit: 250, Offset: 10})
	if err != nil || len(runs) != 250 || runs[0].ID != "10" {
		t.Errorf("%d runs, err %v", len(runs), err)
	}

	// Page by page, each as it arrives; an error of the callback ends the
	// listing without another request.
	var sizes []int
	err = c.EachFlowRunPage(context.Background(), prefect.FlowRunFilter{}, func(page []prefect.FlowRun) error {
		sizes = append(sizes, len(page))
		return nil
	})
	if err != nil || !slices.Equal(sizes, []int{200, 200, 50}) {
		t.Errorf("pages of %v, err %v", sizes, err)
	}
	before := len(s.requests())
	stop := errors.New("stop")
	if err := c.EachFlowRunPage(context.Background(), prefect.FlowRunFilter{}, func([]prefect.FlowRun) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("err %v, want the callback's", err)
	}
	if n := len(s.requests()) - before; n != 1 {
		t.Errorf("%d requests after the callback failed on the first page", n)
	}
}

func TestLogsAndWorkerID(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		cloud bool
		want  string
	}{
		"self-hosted drops worker_id": {want: `[{"name":"prefect.flow_runs.worker","level":20,"message":"hi","timestamp":"2026-08-21T16:00:00.000000+00:00","flow_run_id":"r1"}]`},
		"cloud keeps it":              {cloud: true, want: `[{"name":"prefect.flow_runs.worker","level":20,"message":"hi","timestamp":"2026-08-21T16:00:00.000000+00:00","flow_run_id":"r1","worker_id":"w1"}]`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newStub(t, func(w http.ResponseWriter, r *http.Request, body string) { w.WriteHeader(201) })
			cfg := prefectconfig.Config{APIURL: s.url()}
			if tc.cloud {
				cfg.CloudAPIURL = s.url()
			}
			c, _ := newTestClient(t, cfg)
			err := c.CreateLogs(context.Background(), []prefect.LogCreate{{Name: "prefect.flow_runs.worker", Level: prefect.LevelInfo,
				Message: "hi", FlowRunID: "r1", WorkerID: "w1"}})
			if err != nil {
				t.Fatal(err)
			}
			if got := s.requests()[0].Body; got != tc.want {
				t.Errorf("body %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestResolver(t *testing.T) {
	t.Parallel()
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, body string) {
		switch r.URL.Path {
		case "/api/block_documents/b1":
			writeJSON(w, 200, `{"id":"b1","name":"creds","data":{"region_name":"eu-west-1","aws_secret_access_key":"s3cr3t"},"block_type_id":"t","block_schema_id":"s"}`)
		case "/api/block_types/slug/aws-credentials/block_documents/name/my creds":
			writeJSON(w, 200, `{"id":"b2","name":"my creds","data":{"value":1.50},"block_type_id":"t","block_schema_id":"s"}`)
		case "/api/variables/name/role":
			writeJSON(w, 200, `{"id":"v1","name":"role","value":{"arn":"arn:aws:iam::1:role/x","n":2.0},"tags":[]}`)
		case "/api/variables/name/nulled":
			writeJSON(w, 200, `{"id":"v2","name":"nulled","value":null,"tags":[]}`)
		default:
			writeJSON(w, 404, `{"detail":"Block document not found"}`)
		}
	})
	c, _ := newTestClient(t, prefectconfig.Config{APIURL: s.url()})
	r := c.TemplateResolver()
	ctx := context.Background()

	doc, err := r.BlockDocument(ctx, "b1")
	if err != nil || doc.GetString("aws_secret_access_key") != "s3cr3t" {
		t.Errorf("doc %v, err %v", doc, err)
	}
	if q := s.requests()[0].Query; q != "include_secrets=true" {
		t.Errorf("query %q", q)
	}
	doc, err = r.BlockDocumentByName(ctx, "aws-credentials", "my creds")
	if b, _ := jsonv.Marshal(doc); err != nil || string(b) != `{"value":1.50}` {
		t.Errorf("doc %s, err %v", b, err)
	}
	if p := s.requests()[1].Path; p != "/block_types/slug/aws-credentials/block_documents/name/my%20creds" {
		t.Errorf("path %q", p)
	}
	for _, get := range []func() error{
		func() error { _, err := r.BlockDocument(ctx, "gone"); return err },
		func() error { _, err := r.BlockDocumentByName(ctx, "aws-credentials", "gone"); return err },
	} {
		err := get()
		if !errors.Is(err, templating.ErrNotFound) || !errors.Is(err, prefect.ErrNotFound) {
			t.Errorf("404 does not match both sentinels: %v", err)
		}
	}
	v, found, err := r.Variable(ctx, "role")
	if b, _ := jsonv.Marshal(v); err != nil || !found || string(b) != `{"arn":"arn:aws:iam::1:role/x","n":2.0}` {
		t.Errorf("variable %s %v %v", b, found, err)
	}
	v, found, err = r.Variable(ctx, "nulled")
	if err != nil || !found || v != nil {
		t.Errorf("null variable %v %v %v", v, found, err)
	}
	v, found, err = r.Variable(ctx, "missing")
	if err != nil || found || v != nil {
		t.Errorf("missing variable %v %v %v", v, found, err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		cfg  prefectconfig.Config
		want string
	}{
		"no URL":     {cfg: prefectconfig.Config{}, want: "PREFECT_API_URL: is not set; set it to the Prefect API"},
		"bad URL":    {cfg: prefectconfig.Config{APIURL: "127.0.0.1:4200"}, want: "PREFECT_API_URL"},
		"missing CA": {cfg: prefectconfig.Config{APIURL: "https://x/api", CACertFile: "/nonexistent/ca.pem"}, want: "PREFECT_API_SSL_CERT_FILE=\"/nonexistent/ca.pem\": cannot be read"},
		"CA not PEM": {cfg: prefectconfig.Config{APIURL: "https://x/api", CACertFile: "client_test.go"}, want: "holds no PEM certificate"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := prefect.New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, "true") }))
	// The refused handshake is the point of one subtest: keep it out of the output.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	t.Run("self-signed refused, not retried", func(t *testing.T) {
		t.Parallel()
		c, sl := newTestClient(t, prefectconfig.Config{APIURL: srv.URL + "/api", MaxRetries: 3})
		if err := c.Health(context.Background()); err == nil || len(sl.get()) != 0 {
			t.Errorf("err %v, waits %v", err, sl.get())
		}
	})
	t.Run("insecure skip verify", func(t *testing.T) {
		t.Parallel()
		c, _ := newTestClient(t, prefectconfig.Config{APIURL: srv.URL + "/api", TLSInsecureSkipVerify: true})
		if err := c.Health(context.Background()); err != nil {
			t.Error(err)
		}
	})
	t.Run("custom CA file", func(t *testing.T) {
		t.Parallel()
		path := t.TempDir() + "/ca.pem"
		writeCert(t, path, srv)
		c, _ := newTestClient(t, prefectconfig.Config{APIURL: srv.URL + "/api", CACertFile: path})
		if err := c.Health(context.Background()); err != nil {
			t.Error(err)
		}
	})
}

func writeCert(t *testing.T, path string, srv *httptest.Server) {
	t.Helper()
	block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(path, block, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLogsNeverShowSecrets(t *testing.T) {
	t.Parallel()
	const key = "pnu_loggedkey42"
	first := firstCall()
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, body string) {
		if first() {
			writeJSON(w, 503, `{"detail":"overloaded, your key `+key+` is fine"}`)
			return
		}
		writeJSON(w, 404, `{"detail":"no such pool for `+key+`"}`)
	})
	var buf strings.Builder
	var bufMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		bufMu.Lock()
		defer bufMu.Unlock()
		return buf.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, _ := newTestClient(t, prefectconfig.Config{APIURL: s.url(), APIKey: key, MaxRetries: 2,
		CustomHeaders: map[string]string{"User-Agent": "x"}}, prefectapi.WithLogger(logger))
	_, err := c.ReadWorkPool(context.Background(), "p")
	if err == nil || strings.Contains(err.Error(), key) {
		t.Errorf("error %v", err)
	}
	bufMu.Lock()
	out := buf.String()
	bufMu.Unlock()
	if !strings.Contains(out, "retrying") || !strings.Contains(out, "status=503") || !strings.Contains(out, "ignoring a custom header") {
		t.Errorf("expected retry and header warnings in the log:\n%s", out)
	}
	if strings.Contains(out, key) {
		t.Errorf("log leaks the key:\n%s", out)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

type countingTransport struct {
	mu sync.Mutex
	n  int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func TestWithHTTPClient(t *testing.T) {
	t.Parallel()
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, body string) { writeJSON(w, 200, "true") })
	tr := &countingTransport{}
	c, _ := newTestClient(t, prefectconfig.Config{APIURL: s.url()}, prefectapi.WithHTTPClient(&http.Client{Transport: tr}))
	if err := c.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	if tr.n != 1 {
		t.Errorf("the given HTTP client was not used")
	}
}

func TestResolverPassesOtherErrors(t *testing.T) {
	t.Parallel()
	s := newStub(t, func(w http.ResponseWriter, r *http.Request, body string) {
		writeJSON(w, 500, `{"exception_message":"Internal Server Error"}`)
	})
	c, _ := newTestClient(t, prefectconfig.Config{APIURL: s.url()})
	r := c.TemplateResolver()
	ctx := context.Background()
	if _, err := r.BlockDocument(ctx, "b"); err == nil || errors.Is(err, templating.ErrNotFound) || !prefect.IsTransient(err) {
		t.Errorf("500 on a block: %v", err)
	}
	if _, found, err := r.Variable(ctx, "v"); err == nil || found || !strings.Contains(err.Error(), `read variable "v": GET /variables/name/v: 500`) {
		t.Errorf("500 on a variable: %v", err)
	}
}

func TestRequestBodies(t *testing.T) {
	t.Parallel()
	limit := 2
	pid := "c::arn"
	tests := map[string]struct {
		do   func(c *prefect.Client) error
		want string
	}{
		"work pool create omits unset fields": {
			do: func(c *prefect.Client) error {
				_, err := c.CreateWorkPool(context.Background(), prefectpool.WorkPoolCreate{Name: "p", Type: "ecs", ConcurrencyLimit: &limit})
				return err
			},
			want: `{"name":"p","type":"ecs","concurrency_limit":2}`,
		},
		"infrastructure pid only": {
			do: func(c *prefect.Client) error {
				return c.UpdateFlowRun(context.Background(), "r", prefect.FlowRunUpdate{InfrastructurePID: &pid})
			},
			want: `{"infrastructure_pid":"c::arn"}`,
		},
		"labels sorted, scalars only": {
			do: func(c *prefect.Client) error {
				return c.UpdateFlowRunLabels(context.Background(), "r", map[string]any{"b": true, "a": "x", "c": 1.5})
			},
			want: `{"a":"x","b":true,"c":1.5}`,
		},
		"scheduled runs always send the queue list": {
			do: func(c *prefect.Client) error {
				_, err := c.GetScheduledFlowRuns(context.Background(), "p", nil, testNow.Add(10*time.Second), 0)
				return err
			},
			want: `{"work_queue_names":[],"scheduled_before":"2026-08-21T16:00:10.000000+00:00"}`,
		},
		"worker filter": {
			do: func(c *prefect.Client) error {
				_, err := c.FilterWorkers(context.Background(), "p", prefectpool.WorkerFilter{Statuses: []string{"ONLINE"}, LastHeartbeatAfter: testNow, Limit: 5})
				return err
			},
			want: `{"workers":{"status":{"any_":["ONLINE"]},"last_heartbeat_time":{"after_":"2026-08-21T16:00:00.000000+00:00"}},"limit":5,"offset":0}`,
		},
		"flow run from a deployment": {
			do: func(c *prefect.Client) error {
				_, err := c.CreateFlowRunFromDeployment(context.Background(), "d", prefect.DeploymentFlowRunCreate{Name: "n",
					IdempotencyKey: "k", WorkQueueName: "q",
					State: &prefect.StateCreate{Type: prefect.StateScheduled, TransitionID: "t", ScheduledTime: testNow}})
				return err
			},
			want: `{"name":"n","idempotency_key":"k","work_queue_name":"q","state":{"type":"SCHEDULED","state_details":{"transition_id":"t","scheduled_time":"2026-08-21T16:00:00.000000+00:00"}}}`,
		},
		"events get an id and a time": {
			do: func(c *prefect.Client) error {
				return c.EmitEvents(context.Background(), []prefectevents.Event{{ID: "e", Event: "x", Resource: map[string]string{"prefect.resource.id": "r"}}})
			},
			want: `[{"id":"e","occurred":"2026-08-21T16:00:00.000000+00:00","event":"x","resource":{"prefect.resource.id":"r"}}]`,
		},
		"templates keep <, > and &": {
			do: func(c *prefect.Client) error {
				_, err := c.CreateDeployment(context.Background(), prefectdeploy.DeploymentCreate{Name: "d", FlowID: "f",
					JobVariables: jsonv.ObjectOf("command", "a && b > c")})
				return err
			},
			want: `{"name":"d","flow_id":"f","job_variables":{"command":"a && b > c"}}`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newStub(t, func(w http.ResponseWriter, r *http.Request, body string) {
				switch {
				case strings.HasSuffix(r.URL.Path, "/get_scheduled_flow_runs"), strings.HasSuffix(r.URL.Path, "/filter"):
					writeJSON(w, 200, "[]")
				case r.Method == http.MethodPost && !strings.HasSuffix(r.URL.Path, "/events"):
					writeJSON(w, 201, `{"id":"x"}`)
				default:
					w.WriteHeader(204)
				}
			})
			c, _ := newTestClient(t, prefectconfig.Config{APIURL: s.url()})
			if err := tc.do(c); err != nil {
				t.Fatal(err)
			}
			if got := s.requests()[0].Body; got != tc.want {
				t.Errorf("body %s\nwant %s", got, tc.want)
			}
		})
	}
	b, err := json.Marshal(prefectpool.WorkPoolUpdate{ConcurrencyLimit: &limit})
	if err != nil || string(b) != `{"concurrency_limit":2}` {
		t.Errorf("WorkPoolUpdate JSON %s, %v", b, err)
	}
	if !prefect.StateCrashed.IsTerminal() || prefect.StateCancelling.IsTerminal() {
		t.Error("IsTerminal")
	}
}
