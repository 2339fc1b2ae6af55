package prefectfake

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ecsworker/ecsworker/internal/fakes/fakenet"
)

// APIVersion is the X-PREFECT-API-VERSION this fake speaks (GET /version).
const APIVersion = "0.8.4"

// DefaultServerVersion is what GET /admin/version answers unless
// Options.ServerVersion says otherwise.
const DefaultServerVersion = "3.8.3"

// Default Cloud ids, used when Options.Cloud is set without ids.
const (
	DefaultAccountID   = "9a1f6a3e-0000-4000-8000-00000000acc1"
	DefaultWorkspaceID = "9a1f6a3e-0000-4000-8000-0000000000f1"
)

// Options configures a Server. The zero value is an open self-hosted server
// without authentication or CSRF protection.
type Options struct {
	// APIKey, when set, requires "Authorization: Bearer <APIKey>" on every
	// request (401 {"detail": ...} otherwise), as Prefect Cloud does.
	APIKey string
	// AuthString, when set, requires "Authorization: Basic
	// base64(AuthString)" on everything except GET /health and GET /ready,
	// as a self-hosted server with PREFECT_SERVER_API_AUTH_STRING does.
	AuthString string
	// CSRF turns on self-hosted CSRF protection.
	CSRF bool
	// CSRFTokenTTL is the lifetime of issued CSRF tokens (default 1h).
	CSRFTokenTTL time.Duration
	// Cloud serves the API under /api/accounts/{account}/workspaces/{workspace}
	// and answers heartbeats that carry return_id with the worker's id.
	Cloud bool
	// AccountID and WorkspaceID name the Cloud workspace (defaults:
	// DefaultAccountID, DefaultWorkspaceID).
	AccountID, WorkspaceID string
	// Now is the server clock (default time.Now). Scheduling, worker
	// liveness, CSRF expiry and every timestamp read it.
	Now func() time.Time
	// Seed, when non-zero, draws every id from a generator seeded with it,
	// so two runs of the same scenario produce the same ids.
	Seed uint64
	// OnViolation is called with each contract violation as it is seen
	// (besides t.Errorf for NewTestServer and Violations()).
	OnViolation func(string)
	// ServerVersion is the Prefect version of GET /admin/version
	// (default DefaultServerVersion).
	ServerVersion string
	// SkipResponseCheck stops checking this server's own responses against
	// the schemas (requests are still checked). Benchmarks set it to keep
	// the fake's CPU out of their numbers; tests should not.
	SkipResponseCheck bool
}

// Server is an in-memory Prefect API. All its methods are safe for
// concurrent use.
type Server struct {
	opts     Options
	contract *contract
	apiPath  string // "/api" or the Cloud workspace path

	mu      sync.Mutex
	rng     *rand.Rand
	st      store
	faults  []*faultEntry
	latency time.Duration
	calls   map[string]int

	vmu        sync.Mutex
	violations []string
	tb         fakenet.TB
	tbDone     bool

	baseURL string
	ts      *fakenet.Server
	closing chan struct{}
	once    sync.Once

	hub eventHub
}

// New builds a server that is not listening: mount Handler() wherever
// needed. Without a test (NewTestServer), violations are only recorded (Violations)
// and passed to Options.OnViolation.
func New(opts Options) *Server {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CSRFTokenTTL <= 0 {
		opts.CSRFTokenTTL = time.Hour
	}
	if opts.Cloud {
		// Prefect Cloud has no CSRF protection; clients never fetch tokens there.
		opts.CSRF = false
	}
	if opts.ServerVersion == "" {
		opts.ServerVersion = DefaultServerVersion
	}
	if opts.AccountID == "" {
		opts.AccountID = DefaultAccountID
	}
	if opts.WorkspaceID == "" {
		opts.WorkspaceID = DefaultWorkspaceID
	}
	c, err := loadContract(opts.Cloud)
	if err != nil {
		// The documents are embedded: failing here is a build defect.
		panic(fmt.Sprintf("prefectfake: embedded OpenAPI documents do not compile: %v", err))
	}
	s := &Server{
		opts:     opts,
		contract: c,
		apiPath:  "/api",
		calls:    map[string]int{},
		closing:  make(chan struct{}),
	}
	if opts.Cloud {
		s.apiPath = "/api/accounts/" + opts.AccountID + "/workspaces/" + opts.WorkspaceID
	}
	if opts.Seed != 0 {
		s.rng = rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))
	}
	s.st.init()
	s.hub.init()
	return s
}

// NewTestServer starts the server on a loopback port for the duration of
// the test. Each contract violation fails the test with t.Errorf at the
// moment it happens, and is answered as Prefect would (422 for a bad
// request).
func NewTestServer(t fakenet.TB, opts Options) *Server {
	t.Helper()
	s := New(opts)
	s.tb = t
	ts, err := fakenet.Start(s.Handler())
	if err != nil {
		panic("prefectfake: no loopback listener: " + err.Error())
	}
	s.ts = ts
	s.baseURL = s.ts.URL
	t.Cleanup(s.Close)
	return s
}

// Close stops a server started by NewTestServer; requests held by Hang
// faults or latency are released first so that closing never blocks.
func (s *Server) Close() {
	s.once.Do(func() {
		s.vmu.Lock()
		s.tbDone = true
		s.vmu.Unlock()
		close(s.closing)
		s.hub.closeAll()
		if s.ts != nil {
			s.ts.Close()
		}
	})
}

// URL is the API base URL clients use as PREFECT_API_URL, e.g.
// http://127.0.0.1:PORT/api. For a server from New it is only the path
// part, since New does not know where Handler() is mounted.
func (s *Server) URL() string { return s.baseURL + s.apiPath }

// APIPath is the path prefix of every API route ("/api", or the Cloud
// workspace path).
func (s *Server) APIPath() string { return s.apiPath }

// Handler serves the whole URL space: the API under APIPath().
func (s *Server) Handler() http.Handler { return s }

// Violations returns the contract violations seen so far, in order.
func (s *Server) Violations() []string {
	s.vmu.Lock()
	defer s.vmu.Unlock()
	return append([]string(nil), s.violations...)
}

func (s *Server) violate(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.vmu.Lock()
	s.violations = append(s.violations, msg)
	tb, done := s.tb, s.tbDone
	s.vmu.Unlock()
	if tb != nil && !done {
		tb.Errorf("prefectfake contract violation: %s", msg)
	}
	if s.opts.OnViolation != nil {
		s.opts.OnViolation(msg)
	}
}

// Fault makes matching requests fail (or stall) before the API sees them,
// as a proxy, load balancer or overloaded server would.
type Fault struct {
	// Method matches the HTTP method; empty matches any.
	Method string
	// Path is the API path after the base URL: exact ("/work_pools/p"),
	// a route template ("/flow_runs/{id}/set_state") or a path.Match
	// pattern ("/flow_runs/*/set_state"). Empty matches any.
	Path string
	// Status is the answer's status; 0 lets the request through after
	// Delay (a pure slow-down).
	Status int
	// Body is the answer's body; empty gives Prefect's usual body for
	// Status.
	Body string
	// RetryAfter is sent as the Retry-After header when non-empty.
	RetryAfter string
	// Delay is waited before answering (or passing the request on).
	Delay time.Duration
	// Count is how many requests the fault applies to; 0 means forever.
	Count int
	// Hang never answers: the request is held until the client gives up
	// (its context ends) or the server closes.
	Hang bool
}

type faultEntry struct {
	Fault
	used int
}

// InjectFault adds f after the faults already injected; the first
// matching fault that is not used up applies to a request.
func (s *Server) InjectFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &faultEntry{Fault: f})
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// SetLatency delays every request by d (0 turns it off).
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Calls counts requests by "METHOD /route/template" (unknown routes by
// their path), including requests answered by a fault.
func (s *Server) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.calls))
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

func (s *Server) now() time.Time { return s.opts.Now().UTC().Truncate(time.Microsecond) }

// newID returns a v4 UUID; the caller holds s.mu when Seed is set.
func (s *Server) newID() string {
	var b [16]byte
	if s.rng != nil {
		for i := 0; i < 16; i += 8 {
			v := s.rng.Uint64()
			for j := 0; j < 8; j++ {
				b[i+j] = byte(v >> (8 * j))
			}
		}
	} else {
		_, _ = crand.Read(b[:])
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := fmt.Sprintf("%x", b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// call is one request on its way through the API.
type call struct {
	r      *http.Request
	op     *operation
	route  *route
	path   string // API path after the base
	params map[string]string
	body   any // decoded JSON (numbers as json.Number); nil when absent
	raw    []byte
	// pending holds violations found by a handler: they are reported once
	// the store lock is released, so OnViolation may call the Server.
	pending []string
}

func (c *call) violatef(format string, args ...any) {
	c.pending = append(c.pending, fmt.Sprintf(format, args...))
}

func (c *call) query(name string) (string, bool) {
	v, ok := c.r.URL.Query()[name]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

// obj is the body as an object (absent or non-object bodies give an empty
// one; the schema check has already refused those where it matters).
func (c *call) obj() map[string]any {
	m, _ := c.body.(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	return m
}

// rawField is a top-level member of the body as the client wrote it, so
// that objects keep their key order (Prefect on SQLite keeps the JSON text).
func (c *call) rawField(k string) json.RawMessage {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(c.raw, &top); err != nil || top[k] == nil {
		v, ok := c.obj()[k]
		if !ok {
			return nil
		}
		return mustRaw(v)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, top[k]); err != nil {
		return top[k]
	}
	return buf.Bytes()
}

// reply is what a handler answers.
type reply struct {
	status int
	body   any    // JSON-encoded unless noBody or text
	noBody bool   // 204 and friends
	text   []byte // pre-encoded body
	header http.Header
}

func jsonReply(status int, body any) *reply { return &reply{status: status, body: body} }
func noContent() *reply                     { return &reply{status: http.StatusNoContent, noBody: true} }

// detail is FastAPI's HTTPException body.
func detail(status int, msg string) *reply {
	return &reply{status: status, body: map[string]any{"detail": msg}}
}

// exceptionMessage is the body of Prefect's own exception handlers
// (ObjectNotFoundError, auth, 5xx).
func exceptionMessage(status int, msg string) *reply {
	return &reply{status: status, body: map[string]any{"exception_message": msg}}
}

func validationReply(errs []fieldError, body any) *reply {
	if errs == nil {
		errs = []fieldError{}
	}
	return &reply{status: http.StatusUnprocessableEntity, body: map[string]any{
		"exception_message": "Invalid request received.",
		"exception_detail":  errs,
		"request_body":      body,
	}}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	apiPath, ok := s.stripBase(r.URL.EscapedPath())
	if !ok {
		writeReply(w, detail(http.StatusNotFound, "Not Found"))
		return
	}
	rt, params, methodOK := matchRoute(r.Method, apiPath)
	key := r.Method + " " + apiPath
	if rt != nil {
		key = rt.method + " " + rt.pattern
	}
	s.mu.Lock()
	s.calls[key]++
	latency := s.latency
	s.mu.Unlock()

	if latency > 0 && !s.wait(r.Context(), latency) {
		abort()
	}
	tmpl := ""
	if rt != nil {
		tmpl = rt.pattern
	}
	if !s.applyFault(w, r, apiPath, tmpl) {
		return
	}
	if rt != nil && rt.ws != nil {
		// Header middleware does not see WebSocket routes: a self-hosted
		// server checks the auth string in the first message instead.
		if s.opts.AuthString == "" {
			if rep := s.authenticate(r, apiPath); rep != nil {
				writeReply(w, rep)
				return
			}
		}
		rt.ws(s, w, r, params)
		return
	}
	if rep := s.authenticate(r, apiPath); rep != nil {
		writeReply(w, rep)
		return
	}
	if rt == nil {
		s.unrouted(w, r, apiPath, methodOK)
		return
	}
	if rep := s.checkVersion(r); rep != nil {
		writeReply(w, rep)
		return
	}
	if rep := s.checkCSRF(r); rep != nil {
		writeReply(w, rep)
		return
	}
	c := &call{r: r, route: rt, path: apiPath, params: params, op: s.contract.ops[rt.method+" "+rt.pattern]}
	if rep := s.readRequest(c); rep != nil {
		writeReply(w, rep)
		return
	}
	s.mu.Lock()
	rep := rt.handler(s, c)
	s.mu.Unlock()
	for _, v := range c.pending {
		s.violate("%s", v)
	}
	s.respond(w, c, rep)
}

func (s *Server) stripBase(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, s.apiPath)
	if !ok || (rest != "" && rest[0] != '/') {
		return "", false
	}
	if rest == "" {
		rest = "/"
	}
	return rest, true
}

// abort drops the connection without an answer, as a server that went
// away would; returning normally would send an empty 200.
func abort() { panic(http.ErrAbortHandler) }

// wait sleeps d unless the client goes away or the server closes first.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.closing:
		return false
	}
}

func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, apiPath, tmpl string) bool {
	s.mu.Lock()
	var f *Fault
	for _, e := range s.faults {
		if e.Count > 0 && e.used >= e.Count {
			continue
		}
		if e.Method != "" && !strings.EqualFold(e.Method, r.Method) {
			continue
		}
		if e.Path != "" && e.Path != apiPath && e.Path != tmpl {
			if m, _ := path.Match(e.Path, apiPath); !m {
				continue
			}
		}
		e.used++
		cp := e.Fault
		f = &cp
		break
	}
	s.mu.Unlock()
	if f == nil {
		return true
	}
	if f.Hang {
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
		abort()
	}
	if f.Delay > 0 && !s.wait(r.Context(), f.Delay) {
		abort()
	}
	if f.Status == 0 {
		return true
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	body := []byte(f.Body)
	if f.Body == "" {
		switch {
		case f.Status == http.StatusServiceUnavailable:
			body = []byte(`{"exception_message":"Service Unavailable"}`)
		case f.Status >= 500:
			body = []byte(`{"exception_message":"Internal Server Error"}`)
		default:
			body, _ = json.Marshal(map[string]any{"detail": http.StatusText(f.Status)})
		}
	}
	if json.Valid(body) {
		w.Header().Set("Content-Type", "application/json")
	} else {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.WriteHeader(f.Status)
	_, _ = w.Write(body)
	return false
}

func (s *Server) authenticate(r *http.Request, apiPath string) *reply {
	got := r.Header.Get("Authorization")
	if s.opts.AuthString != "" {
		if r.Method == http.MethodGet && (apiPath == "/health" || apiPath == "/ready") {
			return nil
		}
		want := "Basic " + base64.StdEncoding.EncodeToString([]byte(s.opts.AuthString))
		if got != want {
			return exceptionMessage(http.StatusUnauthorized, "Unauthorized")
		}
		return nil
	}
	if s.opts.APIKey != "" {
		scheme, key, _ := strings.Cut(got, " ")
		if !strings.EqualFold(scheme, "bearer") || key != s.opts.APIKey {
			return detail(http.StatusUnauthorized, "Invalid authentication credentials")
		}
	}
	return nil
}

func (s *Server) unrouted(w http.ResponseWriter, r *http.Request, apiPath string, methodOK bool) {
	if methodOK {
		writeReply(w, detail(http.StatusMethodNotAllowed, "Method Not Allowed"))
		return
	}
	// Starlette redirects to the other spelling of a trailing slash; a
	// client that relies on it pays a round trip per call.
	alt := strings.TrimSuffix(apiPath, "/")
	if alt == apiPath {
		alt = apiPath + "/"
	}
	if rt, _, _ := matchRoute(r.Method, alt); rt != nil && alt != "/" {
		s.violate("%s %s: no such route; Prefect redirects to %s (307), call that path directly", r.Method, apiPath, alt)
		u := *r.URL
		u.Path = s.apiPath + alt
		u.RawPath = ""
		w.Header().Set("Location", u.String())
		w.WriteHeader(http.StatusTemporaryRedirect)
		return
	}
	if !isProbeRoute(apiPath) {
		s.violate("%s %s: no such route in the Prefect API", r.Method, apiPath)
	}
	writeReply(w, detail(http.StatusNotFound, "Not Found"))
}

// isProbeRoute lists paths that real clients call knowing an older server
// answers 404, so a 404 there is not a client bug.
func isProbeRoute(p string) bool {
	return strings.HasPrefix(p, "/work_pools/") && strings.HasSuffix(p, "/workers/connect")
}

func (s *Server) checkVersion(r *http.Request) *reply {
	v := r.Header.Get("X-Prefect-Api-Version")
	if v == "" {
		return nil
	}
	parts := strings.Split(v, ".")
	bad := len(parts) != 3
	var n [3]int
	for i := 0; !bad && i < 3; i++ {
		var err error
		if n[i], err = strconv.Atoi(parts[i]); err != nil {
			bad = true
		}
	}
	if bad {
		s.violate("%s %s: malformed X-PREFECT-API-VERSION %q", r.Method, r.URL.Path, v)
		return detail(http.StatusBadRequest, "Invalid X-PREFECT-API-VERSION header format.Expected header in format 'x.y.z' but received "+v)
	}
	if n[0] == 0 && n[1] < 8 {
		s.violate("%s %s: X-PREFECT-API-VERSION %s is older than the 0.8.0 minimum", r.Method, r.URL.Path, v)
		return detail(http.StatusBadRequest, "The request specified API version "+v+" but this server requires version 0.8.0 or higher.")
	}
	return nil
}

func (s *Server) checkCSRF(r *http.Request) *reply {
	if !s.opts.CSRF {
		return nil
	}
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return nil
	}
	client := r.Header.Get("Prefect-Csrf-Client")
	token := r.Header.Get("Prefect-Csrf-Token")
	if client == "" {
		return detail(http.StatusForbidden, "Missing client identifier.")
	}
	if token == "" {
		return detail(http.StatusForbidden, "Missing CSRF token.")
	}
	s.mu.Lock()
	t := s.st.csrf[client]
	valid := t != nil && t.Token == token && s.now().Before(t.Expiration)
	s.mu.Unlock()
	if !valid {
		rep := detail(http.StatusForbidden, "Invalid CSRF token or client identifier.")
		rep.header = http.Header{"Access-Control-Allow-Origin": {"*"}}
		return rep
	}
	return nil
}

// readRequest decodes and checks parameters and the body. A refusal is
// returned as the reply Prefect would give.
func (s *Server) readRequest(c *call) *reply {
	r := c.r
	where := r.Method + " " + c.path
	for _, p := range paramsOf(c.op) {
		var raw string
		var present bool
		switch p.In {
		case "path":
			raw, present = c.params[p.Name]
		case "query":
			raw, present = c.query(p.Name)
		}
		if !present {
			if p.Required {
				return validationReply([]fieldError{{Loc: []any{p.In, p.Name}, Msg: "Field required", Type: "missing"}}, nil)
			}
			continue
		}
		val := paramValue(p, raw)
		if errs, line := s.contract.validate(p.Schema, val, p.In, p.Name); errs != nil {
			s.violate("%s: %s parameter %s=%q is invalid: %s", where, p.In, p.Name, raw, line)
			return validationReply(errs, nil)
		}
	}
	if c.op == nil || c.op.Request == "" {
		return nil
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		return exceptionMessage(http.StatusBadRequest, "could not read the request body")
	}
	c.raw = raw
	if len(bytes.TrimSpace(raw)) == 0 {
		if c.op.Embedded {
			c.body = map[string]any{}
		} else {
			s.violate("%s: the body is missing (schema %s)", where, schemaName(c.op))
			return validationReply([]fieldError{{Loc: []any{"body"}, Msg: "Field required", Type: "missing"}}, nil)
		}
	} else {
		ct := r.Header.Get("Content-Type")
		if ct == "" {
			s.violate("%s: no Content-Type on a JSON body (send application/json)", where)
		} else if mt, _, err := mime.ParseMediaType(ct); err != nil || !(mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) { //nolint:staticcheck // QF1001: the accepted media types read as a list
			s.violate("%s: Content-Type %q on a JSON body (send application/json)", where, ct)
			return validationReply([]fieldError{{Loc: []any{"body"}, Msg: "Input should be a valid dictionary or object to extract fields from", Type: "model_attributes_type", Input: string(raw)}}, string(raw))
		}
		if err := decodeJSON(raw, &c.body); err != nil {
			s.violate("%s: the body is not JSON: %v", where, err)
			return validationReply([]fieldError{{Loc: []any{"body", 0}, Msg: "JSON decode error", Type: "json_invalid"}}, string(raw))
		}
	}
	if m, ok := c.body.(map[string]any); ok && c.op.Embedded {
		// FastAPI reads a null embedded parameter as "not given".
		for k, v := range m {
			if v == nil {
				delete(m, k)
			}
		}
	}
	if errs, line := s.contract.validate(c.op.Request, c.body, "body"); errs != nil {
		s.violate("%s: request body does not match %s: %s", where, schemaName(c.op), line)
		return validationReply(errs, c.body)
	}
	return nil
}

func paramsOf(op *operation) []param {
	if op == nil {
		return nil
	}
	return op.Params
}

// paramValue converts a query/path string into the JSON type its schema
// expects, as FastAPI does before validating.
func paramValue(p param, raw string) any {
	if p.Type == "boolean" {
		switch strings.ToLower(raw) {
		case "true", "1", "yes", "on", "t", "y":
			return true
		case "false", "0", "no", "off", "f", "n":
			return false
		}
	}
	return raw
}

func schemaName(op *operation) string {
	if op == nil {
		return ""
	}
	return op.Method + " " + op.Path
}

// respond encodes the reply and checks it against the documented response
// schema: a mismatch is a defect of this fake, reported like any violation.
func (s *Server) respond(w http.ResponseWriter, c *call, rep *reply) {
	body := s.encode(rep)
	where := c.r.Method + " " + c.path
	if s.opts.SkipResponseCheck {
		writeRaw(w, rep, body)
		return
	}
	if rep.status >= 200 && rep.status < 300 && c.op != nil {
		key, documented := c.op.Responses[rep.status]
		if !documented {
			// Prefect documents 200 where it also answers 201 (upserts,
			// set_state): the body shape is the same.
			for st, k := range c.op.Responses {
				if st >= 200 && st < 300 {
					key, documented = k, true
				}
			}
		}
		if !documented {
			s.violate("%s: fake answered undocumented status %d", where, rep.status)
		}
		if rep.noBody {
			if len(body) != 0 {
				s.violate("%s: fake answered %d with a body", where, rep.status)
			}
		} else if rep.text == nil || json.Valid(body) {
			var v any
			if err := decodeJSON(body, &v); err != nil {
				s.violate("%s: fake answered invalid JSON: %v", where, err)
			} else if _, line := s.contract.validate(key, v); line != "" {
				s.violate("%s: fake's %d response does not match the OpenAPI schema: %s", where, rep.status, line)
			}
		}
	} else if rep.status >= 400 {
		var v any
		if err := decodeJSON(body, &v); err != nil {
			s.violate("%s: fake answered a non-JSON error body", where)
		} else if _, line := s.contract.validate(errorBodySchema, v); line != "" {
			s.violate("%s: fake's %d error body has neither detail nor exception_message", where, rep.status)
		}
	}
	writeRaw(w, rep, body)
}

func (s *Server) encode(rep *reply) []byte {
	if rep.noBody {
		return nil
	}
	if rep.text != nil {
		return rep.text
	}
	b, err := json.Marshal(rep.body)
	if err != nil {
		// Handlers build bodies from JSON-able values only.
		panic(fmt.Sprintf("prefectfake: encode reply: %v", err))
	}
	return b
}

func writeReply(w http.ResponseWriter, rep *reply) {
	b, err := json.Marshal(rep.body)
	if err != nil {
		panic(fmt.Sprintf("prefectfake: encode reply: %v", err))
	}
	if rep.noBody {
		b = nil
	}
	writeRaw(w, rep, b)
}

func writeRaw(w http.ResponseWriter, rep *reply, body []byte) {
	for k, vs := range rep.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if !rep.noBody {
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(rep.status)
	if !rep.noBody {
		_, _ = w.Write(body)
	}
}

// sortedKeys is for deterministic output where Prefect orders by name.
func sortedKeys[M ~map[string]V, V any](m M) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
