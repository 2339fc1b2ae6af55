package prefect_test

import (
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectapi"
	"github.com/ecsworker/ecsworker/internal/prefectcheck"
	"github.com/ecsworker/ecsworker/internal/prefectconfig"
	"github.com/ecsworker/ecsworker/internal/prefectdeploy"
	"github.com/ecsworker/ecsworker/internal/prefecterr"
	"github.com/ecsworker/ecsworker/internal/prefectevents"
	"github.com/ecsworker/ecsworker/internal/prefectpool"
)

// logBuffer is a slog destination tests can read while the client writes.
type logBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestDeepErrorBody: a 404 of six million "[" and as many "]" used to
// end the process with a stack overflow at 1.1 GB. Now the client reads
// the first MiB of an error body and says what it is.
func TestDeepErrorBody(t *testing.T) {
	t.Parallel()
	e := start(t, prefectfake.Options{}, prefectconfig.Config{})
	deep := strings.Repeat("[", 6_000_000) + strings.Repeat("]", 6_000_000)
	e.srv.InjectFault(prefectfake.Fault{Method: "POST", Path: "/work_pools/filter", Status: 404, Body: deep})
	_, err := e.client.ListWorkPools(context.Background(), prefectpool.WorkPoolFilter{})
	if !errors.Is(err, prefect.ErrNotFound) {
		t.Fatalf("error %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"list work pools: POST /work_pools/filter: 404 Not Found", "nested too deeply",
		"JSON nested deeper than 512 levels", "longer than 1 MiB; only its start was read"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if len(msg) > 2000 {
		t.Errorf("message of %d bytes", len(msg))
	}

	// A long error page is cut too, and still explained.
	e.srv.ClearFaults()
	page := "<html><head><title>502 Bad Gateway</title></head><body>" + strings.Repeat("x", 3<<20) + "</body></html>"
	e.srv.InjectFault(prefectfake.Fault{Method: "GET", Path: "/work_pools/p", Status: 404, Body: page})
	_, err = e.client.ReadWorkPool(context.Background(), "p")
	if err == nil || !strings.Contains(err.Error(), "HTML page: 502 Bad Gateway") || !strings.Contains(err.Error(), "only its start was read") {
		t.Errorf("error %v", err)
	}
}

// redirector answers every request with a redirect to target + the same
// path, as a proxy or load balancer would.
func redirector(t *testing.T, tls bool, status int, target func() string) *httptest.Server {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target()+r.URL.RequestURI(), status)
	})
	var s *httptest.Server
	if tls {
		s = httptest.NewUnstartedServer(h)
		s.Config.ErrorLog = log.New(io.Discard, "", 0)
		s.StartTLS()
	} else {
		s = httptest.NewServer(h)
	}
	t.Cleanup(s.Close)
	return s
}

// authRecorder runs the Prefect test server behind a handler that notes
// every request it gets, and which of them carried credentials.
type authRecorder struct {
	srv *prefectfake.Server
	ts  *httptest.Server

	mu       sync.Mutex
	requests []string
	leaked   []string
}

func newAuthRecorder(t *testing.T, opts prefectfake.Options) *authRecorder {
	t.Helper()
	a := &authRecorder{srv: prefectfake.New(opts)}
	a.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.requests = append(a.requests, r.Method+" "+r.URL.Path)
		for _, h := range []string{"Authorization", "Prefect-Csrf-Token", "X-Proxy-Token"} {
			if r.Header.Get(h) != "" {
				a.leaked = append(a.leaked, h)
			}
		}
		a.mu.Unlock()
		a.srv.ServeHTTP(w, r)
	}))
	t.Cleanup(a.ts.Close)
	t.Cleanup(func() {
		if v := a.srv.Violations(); len(v) > 0 {
			t.Errorf("contract violations: %v", v)
		}
	})
	return a
}

func (a *authRecorder) seen() (requests, leaked []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.requests...), append([]string(nil), a.leaked...)
}

// TestRedirectsStayWithinTheOrigin: a 307 from one port to another of the
// same host delivered "Authorization: Bearer <key>" to the second server.
// Now nothing goes there, and the error says which URL to configure.
func TestRedirectsStayWithinTheOrigin(t *testing.T) {
	t.Parallel()
	const key = "pnu_redirected_key"
	headers := map[string]string{"X-Proxy-Token": "proxy-secret"}
	check := func(t *testing.T, err error, other *authRecorder, wantLocation string) {
		t.Helper()
		var re *prefectapi.RedirectError
		if !errors.As(err, &re) {
			t.Fatalf("error %T %v", err, err)
		}
		msg := err.Error()
		for _, want := range []string{"307 Temporary Redirect", "to " + wantLocation, "another origin",
			"set PREFECT_API_URL to " + other.ts.URL + "/api if that is the Prefect API"} {
			if !strings.Contains(msg, want) {
				t.Errorf("message %q lacks %q", msg, want)
			}
		}
		if strings.Contains(msg, key) || strings.Contains(msg, "proxy-secret") || prefect.IsTransient(err) {
			t.Errorf("message %q (transient %v)", msg, prefect.IsTransient(err))
		}
		if reqs, leaked := other.seen(); len(reqs) != 0 || len(leaked) != 0 {
			t.Errorf("the other origin got %v (with %v)", reqs, leaked)
		}
	}

	t.Run("another port of the same host", func(t *testing.T) {
		t.Parallel()
		other := newAuthRecorder(t, prefectfake.Options{APIKey: key, CSRF: true})
		front := redirector(t, false, http.StatusTemporaryRedirect, func() string { return other.ts.URL })
		c, sl := newTestClient(t, prefectconfig.Config{APIURL: front.URL + "/api", APIKey: key, CSRFEnabled: true,
			CustomHeaders: headers, MaxRetries: 3})
		_, err := c.ReadWorkPool(context.Background(), "p")
		check(t, err, other, other.ts.URL+"/api/work_pools/p")
		// A mutating call fetches a CSRF token first: that request is
		// redirected too, and must not leak either.
		_, err = c.CreateWorkPool(context.Background(), prefectpool.WorkPoolCreate{Name: "p", Type: "ecs"})
		check(t, err, other, other.ts.URL+"/api/csrf-token")
		if len(sl.get()) != 0 {
			t.Errorf("a refused redirect was retried: %v", sl.get())
		}
		// The events WebSocket is refused the same way, as a stream that
		// is not there (so events fall back to POST /events).
		_, err = c.SubscribeEvents(context.Background(), prefectevents.EventFilter{})
		if !errors.Is(err, prefectevents.ErrEventsUnavailable) {
			t.Errorf("events: %v", err)
		}
		check(t, err, other, other.ts.URL+"/api/events/out")
	})
	t.Run("https to http", func(t *testing.T) {
		t.Parallel()
		other := newAuthRecorder(t, prefectfake.Options{APIKey: key})
		front := redirector(t, true, http.StatusTemporaryRedirect, func() string { return other.ts.URL })
		c, _ := newTestClient(t, prefectconfig.Config{APIURL: front.URL + "/api", APIKey: key, TLSInsecureSkipVerify: true,
			CustomHeaders: headers})
		err := c.Health(context.Background())
		check(t, err, other, other.ts.URL+"/api/health")
		if !strings.HasPrefix(other.ts.URL, "http://") || !strings.HasPrefix(front.URL, "https://") {
			t.Fatalf("servers %s and %s", front.URL, other.ts.URL)
		}
	})
	t.Run("within the origin: followed with credentials", func(t *testing.T) {
		t.Parallel()
		api := newAuthRecorder(t, prefectfake.Options{APIKey: key})
		api.srv.CreateWorkPool("moved", "ecs", nil)
		// A proxy path that redirects to the API on the same server.
		mux := http.NewServeMux()
		mux.Handle("/api/", api.ts.Config.Handler)
		mux.HandleFunc("/old/", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/api/"+strings.TrimPrefix(r.URL.Path, "/old/"), http.StatusTemporaryRedirect)
		})
		ts := httptest.NewServer(mux)
		t.Cleanup(ts.Close)
		c, _ := newTestClient(t, prefectconfig.Config{APIURL: ts.URL + "/old", APIKey: key})
		pool, err := c.ReadWorkPool(context.Background(), "moved")
		if err != nil || pool.Name != "moved" {
			t.Fatalf("pool %+v, err %v", pool, err)
		}
	})
}

func TestCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("healthy servers", func(t *testing.T) {
		t.Parallel()
		for name, tc := range map[string]struct {
			srv prefectfake.Options
			cfg prefectconfig.Config
		}{
			"open":        {},
			"auth string": {srv: prefectfake.Options{AuthString: "admin:pw"}, cfg: prefectconfig.Config{AuthString: "admin:pw"}},
			"cloud":       {srv: prefectfake.Options{Cloud: true, APIKey: "pnu_k"}, cfg: prefectconfig.Config{APIKey: "pnu_k"}},
		} {
			e := start(t, tc.srv, tc.cfg)
			if err := e.client.Check(ctx); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	})

	type want struct {
		problem, fix string
		is           error
	}
	checkErr := func(t *testing.T, err error, w want, secrets ...string) {
		t.Helper()
		var ce *prefectcheck.ConnectionError
		if !errors.As(err, &ce) {
			t.Fatalf("error %T %v", err, err)
		}
		if !strings.Contains(ce.Problem, w.problem) || !strings.Contains(ce.Fix, w.fix) {
			t.Errorf("error %q\nwant problem %q, fix %q", err, w.problem, w.fix)
		}
		if w.is != nil && !errors.Is(err, w.is) {
			t.Errorf("error %v is not %v", err, w.is)
		}
		for _, s := range secrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error leaks %q: %v", s, err)
			}
		}
	}

	t.Run("API URL without /api", func(t *testing.T) {
		t.Parallel()
		srv := prefectfake.NewTestServer(t, prefectfake.Options{})
		root := strings.TrimSuffix(srv.URL(), "/api")
		c, _ := newTestClient(t, prefectconfig.Config{APIURL: root})
		err := c.Check(ctx)
		checkErr(t, err, want{problem: "GET /hello answered 404 Not Found: this URL is not the Prefect API",
			fix: "PREFECT_API_URL is " + root + ", without the /api under which Prefect serves its API: set it to " + root + "/api",
			is:  prefect.ErrNotFound})
		// Every other call says the same on its 404.
		_, err = c.ListWorkPools(ctx, prefectpool.WorkPoolFilter{})
		if err == nil || !strings.Contains(err.Error(), "set it to "+root+"/api") {
			t.Errorf("list: %v", err)
		}
	})
	t.Run("the Prefect UI instead of the API", func(t *testing.T) {
		t.Parallel()
		ui := newStub(t, func(w http.ResponseWriter, r *http.Request, body string) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, "<!doctype html><html><head><title>Prefect</title></head></html>")
		})
		c, _ := newTestClient(t, prefectconfig.Config{APIURL: ui.srv.URL})
		checkErr(t, c.Check(ctx), want{problem: "GET /health answered an HTML page", fix: "set it to " + ui.srv.URL + "/api",
			is: prefect.ErrInvalidResponse})
	})
	t.Run("wrong API key", func(t *testing.T) {
		t.Parallel()
		e := start(t, prefectfake.Options{APIKey: "pnu_right"}, prefectconfig.Config{APIKey: "pnu_wrong_key"})
		checkErr(t, e.client.Check(ctx), want{problem: "the server refused the credentials (GET /health answered 401 Unauthorized",
			fix: "check PREFECT_API_KEY", is: prefect.ErrUnauthorized}, "pnu_wrong_key")
	})
	t.Run("wrong auth string", func(t *testing.T) {
		t.Parallel()
		// /health needs no credentials here: /hello is what catches it.
		e := start(t, prefectfake.Options{AuthString: "admin:right"}, prefectconfig.Config{AuthString: "admin:wrong-pw"})
		checkErr(t, e.client.Check(ctx), want{problem: "GET /hello answered 401 Unauthorized", fix: "check PREFECT_API_AUTH_STRING",
			is: prefect.ErrUnauthorized}, "wrong-pw")
	})
	t.Run("no credentials", func(t *testing.T) {
		t.Parallel()
		e := start(t, prefectfake.Options{Cloud: true, APIKey: "pnu_k"}, prefectconfig.Config{})
		checkErr(t, e.client.Check(ctx), want{problem: "401", fix: "set PREFECT_API_KEY (Prefect Cloud) or PREFECT_API_AUTH_STRING"})
	})
	t.Run("wrong Cloud workspace", func(t *testing.T) {
		t.Parallel()
		srv := prefectfake.NewTestServer(t, prefectfake.Options{Cloud: true, APIKey: "pnu_k"})
		base := strings.TrimSuffix(srv.URL(), srv.APIPath())
		wrong := base + "/api/accounts/" + prefectfake.DefaultAccountID + "/workspaces/00000000-0000-4000-8000-000000000000"
		c, _ := newTestClient(t, prefectconfig.Config{APIURL: wrong, APIKey: "pnu_k", CloudAPIURL: base + "/api"})
		checkErr(t, c.Check(ctx), want{problem: "404", fix: "the account or workspace in PREFECT_API_URL is wrong"})
	})
	t.Run("connection refused: retried, then explained", func(t *testing.T) {
		t.Parallel()
		addr := closedAddr(t)
		c, sl := newTestClient(t, prefectconfig.Config{APIURL: "http://" + addr + "/api", MaxRetries: 2, APIKey: "pnu_secret"})
		checkErr(t, c.Check(ctx), want{problem: "nothing is listening at " + addr + " (connection refused)",
			fix: "start the Prefect server, or correct the host and port in PREFECT_API_URL"}, "pnu_secret")
		if len(sl.get()) != 2 {
			t.Errorf("waits %v: the first contact is retried like any call", sl.get())
		}
	})
	t.Run("unknown host", func(t *testing.T) {
		t.Parallel()
		c, _ := newTestClient(t, prefectconfig.Config{APIURL: "http://prefect.invalid:4200/api", MaxRetries: 0})
		checkErr(t, c.Check(ctx), want{problem: `the host name "prefect.invalid"`, fix: "PREFECT_API_URL"})
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		t.Parallel()
		ts := httptest.NewUnstartedServer(prefectfake.New(prefectfake.Options{}).Handler())
		ts.Config.ErrorLog = log.New(io.Discard, "", 0)
		ts.StartTLS()
		t.Cleanup(ts.Close)
		c, sl := newTestClient(t, prefectconfig.Config{APIURL: ts.URL + "/api", MaxRetries: 3})
		checkErr(t, c.Check(ctx), want{problem: "TLS certificate", fix: "set PREFECT_API_SSL_CERT_FILE to a PEM file"})
		if err := c.Check(ctx); !strings.Contains(err.Error(), "PREFECT_API_TLS_INSECURE_SKIP_VERIFY=true") || len(sl.get()) != 0 {
			t.Errorf("error %v, waits %v", err, sl.get())
		}
		ok, _ := newTestClient(t, prefectconfig.Config{APIURL: ts.URL + "/api", TLSInsecureSkipVerify: true})
		if err := ok.Check(ctx); err != nil {
			t.Errorf("with verification off: %v", err)
		}
	})
	t.Run("https to a plain HTTP server", func(t *testing.T) {
		t.Parallel()
		srv := prefectfake.NewTestServer(t, prefectfake.Options{})
		c, _ := newTestClient(t, prefectconfig.Config{APIURL: strings.Replace(srv.URL(), "http://", "https://", 1), MaxRetries: 3})
		checkErr(t, c.Check(ctx), want{problem: "does not speak TLS", fix: "use http:// instead of https:// in PREFECT_API_URL"})
	})
	t.Run("http to an HTTPS server", func(t *testing.T) {
		t.Parallel()
		ts := httptest.NewUnstartedServer(prefectfake.New(prefectfake.Options{}).Handler())
		ts.Config.ErrorLog = log.New(io.Discard, "", 0)
		ts.StartTLS()
		t.Cleanup(ts.Close)
		c, _ := newTestClient(t, prefectconfig.Config{APIURL: strings.Replace(ts.URL, "https://", "http://", 1) + "/api"})
		checkErr(t, c.Check(ctx), want{problem: "the server speaks HTTPS", fix: "use https:// instead of http://"})
	})
	t.Run("a URL from the --api-url flag is named so", func(t *testing.T) {
		t.Parallel()
		addr := closedAddr(t)
		cfg, err := prefectconfig.LoadConfig(func(string) (string, bool) { return "", false },
			prefectconfig.Config{APIURL: "http://" + addr + "/api", APIURLSource: "--api-url"})
		if err != nil {
			t.Fatal(err)
		}
		c, _ := newTestClient(t, cfg)
		err = c.Check(ctx)
		checkErr(t, err, want{problem: "connection refused", fix: "correct the host and port in --api-url"})
		if !strings.Contains(err.Error(), "cannot use the Prefect API at http://"+addr+"/api (--api-url)") {
			t.Errorf("message %q", err)
		}
	})
	t.Run("server failing: retried with debug logs, one warning, one recovery", func(t *testing.T) {
		t.Parallel()
		var logs logBuffer
		clock := newFakeClock()
		srv := prefectfake.NewTestServer(t, prefectfake.Options{Now: clock.Now})
		srv.InjectFault(prefectfake.Fault{Path: "/health", Status: 503, Count: 4})
		// Each wait moves the clock: the fourth failed attempt, 14 s after
		// the first, is the first to meet both thresholds (3 attempts,
		// 10 s); the fifth attempt, at 30 s, succeeds.
		c, err := prefect.New(prefectconfig.Config{APIURL: srv.URL(), MaxRetries: 5, Timeout: 5 * time.Second,
			APIKey: "pnu_logged_key"}, prefectapi.WithClock(clock.Now), prefectapi.WithLogger(logs.logger()),
			prefectapi.WithSleep(func(ctx context.Context, d time.Duration) error { clock.Advance(d); return ctx.Err() }))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Check(ctx); err != nil {
			t.Fatal(err)
		}
		out := logs.String()
		for _, want := range []string{
			`level=DEBUG msg="Prefect API answered with a retryable status; retrying" op="check the Prefect API" method=GET path=/health status=503 attempt=1 max_retries=5 wait=2s`,
			"attempt=4 max_retries=5 wait=16s",
			`level=WARN msg="the Prefect API keeps failing; requests are retried with backoff" url=` + srv.URL() + ` failed_attempts=4 for=14s`,
			`level=INFO msg="the Prefect API answers again" url=` + srv.URL() + ` failed_attempts=4 after=30s`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("log lacks %q:\n%s", want, out)
			}
		}
		if strings.Count(out, "level=WARN") != 1 || strings.Contains(out, "pnu_logged_key") {
			t.Errorf("one warning and no key expected:\n%s", out)
		}
	})
}

func TestCSRFFetchDoesNotHideTheCause(t *testing.T) {
	t.Parallel()
	addr := closedAddr(t)
	c, _ := newTestClient(t, prefectconfig.Config{APIURL: "http://" + addr + "/api", CSRFEnabled: true, MaxRetries: 1})
	_, err := c.CreateWorkPool(context.Background(), prefectpool.WorkPoolCreate{Name: "p", Type: "ecs"})
	msg := fmtErr(err)
	if !strings.HasPrefix(msg, `create work pool "p": POST http://`+addr+`/api/work_pools/: `) ||
		!strings.Contains(msg, "connection refused (start the Prefect server, or correct the host and port in PREFECT_API_URL)") ||
		strings.Contains(msg, "CSRF") {
		t.Errorf("message %q", msg)
	}
	var te *prefecterr.TransportError
	if !errors.As(err, &te) || !prefect.IsTransient(err) {
		t.Errorf("error %T, transient %v", err, prefect.IsTransient(err))
	}
}

func fmtErr(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// TestCreateWorkPoolRefusesBadNames: the client refuses a name Prefect
// would refuse before the server sees it.
func TestCreateWorkPoolRefusesBadNames(t *testing.T) {
	t.Parallel()
	e := start(t, prefectfake.Options{}, prefectconfig.Config{})
	_, err := e.client.CreateWorkPool(context.Background(), prefectpool.WorkPoolCreate{Name: "bad/name", Type: "ecs"})
	var ne *prefectpool.NameError
	if !errors.As(err, &ne) || ne.Value != "bad/name" {
		t.Errorf("error %v", err)
	}
	if n := e.srv.Calls()["POST /work_pools/"]; n != 0 {
		t.Errorf("%d requests reached the server", n)
	}
}

func TestJSONDepthInAnswers(t *testing.T) {
	t.Parallel()
	e := start(t, prefectfake.Options{}, prefectconfig.Config{})
	ctx := context.Background()
	if _, err := e.client.CreateWorkPool(ctx, prefectpool.WorkPoolCreate{Name: "pool", Type: "ecs"}); err != nil {
		t.Fatal(err)
	}
	flow, _ := e.client.CreateFlow(ctx, prefectdeploy.FlowCreate{Name: "f"})
	_, err := e.client.CreateDeployment(ctx, prefectdeploy.DeploymentCreate{Name: "d", FlowID: flow.ID, WorkPoolName: "pool",
		Parameters: deepObject(jsonv.MaxDepth + 1)})
	if !errors.Is(err, prefect.ErrInvalidResponse) || !errors.Is(err, jsonv.ErrTooDeep) ||
		!strings.Contains(err.Error(), "nested deeper than the client reads") || strings.Contains(err.Error(), "/api") {
		t.Errorf("error %v", err)
	}
}
