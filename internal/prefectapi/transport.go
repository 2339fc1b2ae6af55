// Package prefectapi is how the Prefect API client talks to the server: the
// request loop with Prefect's retry policy (backoff, Retry-After,
// maintenance waits), the CSRF handshake, same-origin redirects, the
// headers Prefect's own Python client sends, and the errors that explain a
// failed call and what to change. It also holds the API's wire formats that
// every caller shares: timestamps (Time) and UUIDs.
package prefectapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ecsworker/ecsworker/internal/backoff"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/prefectconfig"
	"github.com/ecsworker/ecsworker/internal/prefecterr"
	"github.com/ecsworker/ecsworker/internal/redact"
)

// APIVersion is the Prefect API version the client speaks (Prefect's
// SERVER_API_VERSION). Servers reject versions older than 0.8.0.
const APIVersion = "0.8.4"

// Headers the client manages itself; custom headers cannot replace them.
const (
	headerAPIVersion  = "X-Prefect-Api-Version"
	headerCSRFToken   = "Prefect-Csrf-Token"
	headerCSRFClient  = "Prefect-Csrf-Client"
	headerMaintenance = "Prefect-Maintenance"
	headerWorkerName  = "X-Prefect-Worker-Name"
	headerWorkerID    = "X-Prefect-Worker-Id"
)

// maxResponseBytes bounds what one response may hold. Answers that can
// grow with user data (scheduled runs with their parameters) are read
// as a stream instead; see prefect.Client.PollScheduledFlowRuns.
const maxResponseBytes = 64 << 20

// maxErrorBodyBytes bounds what is read of an answer other than 2xx: the
// explanation is in the first few hundred bytes, and an error page (or a
// hostile server) may be endless. The rest is reported as cut off.
const maxErrorBodyBytes = 1 << 20

// maxRedirects is how many same-origin redirects one request follows.
const maxRedirects = 10

// The client warns once when the API has failed this many attempts in a
// row over at least this long, and says so again when it answers: single
// failed attempts are routine and only logged at debug level.
const (
	outageWarnFailures = 3
	outageWarnAfter    = 10 * time.Second
)

// maxMaintenanceWaits bounds the waits on responses marked
// Prefect-Maintenance: Prefect waits on those forever, which would let a
// misconfigured proxy stall a worker with no error at all.
const maxMaintenanceWaits = 100

// defaultRetryCodes are the statuses Prefect's client retries. Other 5xx
// answers are returned: the caller's loop treats them as soft failures.
var defaultRetryCodes = []int{http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable}

// UserAgent is the User-Agent of ecsworker version v. It deliberately does
// not impersonate prefect/<version>: the server would then apply
// workarounds meant for old Python workers.
func UserAgent(version string) string {
	if version == "" {
		version = "dev"
	}
	return "ecsworker/" + version + " (API " + APIVersion + ")"
}

func defaultVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// Transport sends calls to the Prefect API; the operations of package
// prefect and the event streams of package prefectevents are built on it.
// It is safe for concurrent use.
type Transport struct {
	cfg     prefectconfig.Config
	baseURL string
	cloud   bool
	hc      *http.Client
	ua      string
	log     *slog.Logger
	now     func() time.Time
	sleep   func(context.Context, time.Duration) error
	jitter  func() float64 // uniform in [0, 1)
	headers http.Header    // custom headers, already filtered
	auth    string         // Authorization header value
	secrets []string
	retry   map[int]bool

	// maxResponse is the largest 2xx body read into memory; tests lower it.
	maxResponse int64

	outageMu       sync.Mutex
	outageFailures int       // failed attempts in a row
	outageSince    time.Time // the first of them
	outageWarned   bool

	csrfMu      sync.Mutex
	csrfClient  string
	csrfOn      bool
	csrfToken   string
	csrfExpires time.Time

	workerMu   sync.RWMutex
	workerName string
	workerID   string
}

// Option configures a Transport.
type Option func(*Transport)

// WithHTTPClient makes the client send requests through hc. The TLS
// settings of the Config are then the caller's business; the redirect
// policy is not: the client works on a copy of hc whose CheckRedirect
// refuses redirects to another origin before hc's own CheckRedirect runs.
func WithHTTPClient(hc *http.Client) Option { return func(c *Transport) { c.hc = hc } }

// WithUserAgent replaces the User-Agent; see UserAgent.
func WithUserAgent(ua string) Option { return func(c *Transport) { c.ua = ua } }

// WithClock replaces time.Now (CSRF token expiry, Retry-After dates).
func WithClock(now func() time.Time) Option { return func(c *Transport) { c.now = now } }

// WithSleep replaces the wait between retries, so tests need not sleep.
// It must return ctx.Err() when ctx ends first.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Transport) { c.sleep = sleep }
}

// WithLogger sets where the client logs: each request and each retry at
// debug level, one warning when the API keeps failing (and one info line
// when it answers again), and warnings about the configuration. Nothing is
// logged by default, and secrets never are.
func WithLogger(l *slog.Logger) Option { return func(c *Transport) { c.log = l } }

// WithWorker sets the attribution headers X-Prefect-Worker-Name and
// X-Prefect-Worker-Id that Prefect Cloud uses to tell which worker makes
// which calls. SetWorker changes them later.
func WithWorker(name, id string) Option {
	return func(c *Transport) { c.workerName, c.workerID = name, id }
}

// WithMaxResponse lowers the largest 2xx answer read into memory (64 MiB),
// so that tests can reach the limit with answers of a few megabytes.
func WithMaxResponse(n int64) Option { return func(c *Transport) { c.maxResponse = n } }

// New returns a transport for cfg.APIURL.
func New(cfg prefectconfig.Config, opts ...Option) (*Transport, error) {
	if cfg.APIURL == "" {
		return nil, &prefectconfig.ConfigError{Setting: prefectconfig.EnvAPIURL, Problem: "is not set",
			Fix: "set it to the Prefect API, e.g. http://127.0.0.1:4200/api for a self-hosted server or " +
				"https://api.prefect.cloud/api/accounts/<account id>/workspaces/<workspace id> for Prefect Cloud"}
	}
	base, err := prefectconfig.CheckAPIURL(cfg.APIURL)
	if err != nil {
		return nil, prefectconfig.APIURLError(cfg.APIURLSource, cfg.APIURL, err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = prefectconfig.DefaultTimeout
	}
	if cfg.MaxRetries < 0 {
		cfg.MaxRetries = 0
	}
	c := &Transport{
		cfg:        cfg,
		baseURL:    base,
		cloud:      cfg.IsCloud(),
		ua:         UserAgent(defaultVersion()),
		log:        slog.New(slog.DiscardHandler),
		now:        time.Now,
		sleep:      backoff.Sleep,
		jitter:     rand.Float64,
		csrfClient: NewUUID(),
		retry:      map[int]bool{},

		maxResponse: maxResponseBytes,
	}
	c.csrfOn = cfg.CSRFEnabled && !c.cloud
	for _, code := range defaultRetryCodes {
		c.retry[code] = true
	}
	for _, code := range cfg.ExtraRetryCodes {
		c.retry[code] = true
	}
	for _, o := range opts {
		o(c)
	}
	if c.hc == nil {
		tr, err := newTransport(cfg)
		if err != nil {
			return nil, err
		}
		c.hc = &http.Client{Transport: tr}
	}
	hc := *c.hc
	hc.CheckRedirect = sameOriginRedirects(c.hc.CheckRedirect)
	c.hc = &hc

	// Prefect prefers the auth string: a self-hosted server behind basic
	// auth may still have a key configured from an old Cloud profile.
	switch {
	case cfg.AuthString != "":
		c.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.AuthString))
	case cfg.APIKey != "":
		c.auth = "Bearer " + cfg.APIKey
	}
	c.secrets = []string{cfg.APIKey, cfg.AuthString}
	if cfg.AuthString != "" {
		c.secrets = append(c.secrets, base64.StdEncoding.EncodeToString([]byte(cfg.AuthString)))
	}
	c.headers = http.Header{}
	for k, v := range cfg.CustomHeaders {
		switch http.CanonicalHeaderKey(k) {
		case "User-Agent", headerCSRFToken, headerCSRFClient:
			c.log.Warn("ignoring a custom header that the Prefect client manages itself",
				"header", k, "setting", prefectconfig.EnvCustomHeaders)
			continue
		}
		c.headers.Set(k, v)
		c.secrets = append(c.secrets, v)
	}
	if c.cloud && !strings.Contains(strings.TrimPrefix(base, c.cfg.CloudAPI()), "/workspaces/") {
		c.log.Warn("the Prefect Cloud API URL names no workspace; most calls will fail with 404",
			"setting", prefectconfig.EnvAPIURL, "fix", "copy the URL from `prefect cloud workspace ls` or the UI: "+
				prefectconfig.DefaultCloudAPIURL+"/accounts/<account id>/workspaces/<workspace id>")
	}
	return c, nil
}

func newTransport(cfg prefectconfig.Config) (*http.Transport, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Prefect Cloud's load balancer drops idle connections after 30 s;
	// reusing one just then fails the request.
	tr.IdleConnTimeout = 25 * time.Second
	tr.MaxConnsPerHost = 16
	if cfg.TLSInsecureSkipVerify || cfg.CACertFile != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.TLSInsecureSkipVerify {
			tc.InsecureSkipVerify = true //nolint:gosec // the user asked for it with PREFECT_API_TLS_INSECURE_SKIP_VERIFY
		}
		if cfg.CACertFile != "" && !cfg.TLSInsecureSkipVerify {
			pem, err := os.ReadFile(cfg.CACertFile)
			if err != nil {
				return nil, &prefectconfig.ConfigError{Setting: prefectconfig.EnvSSLCertFile, Value: cfg.CACertFile,
					Problem: "cannot be read: " + err.Error(),
					Fix:     "point " + prefectconfig.EnvSSLCertFile + " (or SSL_CERT_FILE) at a PEM file of CA certificates"}
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, &prefectconfig.ConfigError{Setting: prefectconfig.EnvSSLCertFile, Value: cfg.CACertFile,
					Problem: "holds no PEM certificate",
					Fix:     "point " + prefectconfig.EnvSSLCertFile + " (or SSL_CERT_FILE) at a PEM file of CA certificates"}
			}
			tc.RootCAs = pool
		}
		tr.TLSClientConfig = tc
	}
	return tr, nil
}

// Config returns the settings.
func (c *Transport) Config() prefectconfig.Config { return c.cfg }

// IsCloud reports whether the client talks to Prefect Cloud.
func (c *Transport) IsCloud() bool { return c.cloud }

// SetWorker changes the attribution headers (see WithWorker); Prefect sets
// the id once the first Cloud heartbeat returns it.
func (c *Transport) SetWorker(name, id string) {
	c.workerMu.Lock()
	defer c.workerMu.Unlock()
	c.workerName, c.workerID = name, id
}

// Redact masks the credentials and custom header values in s.
func (c *Transport) Redact(s string) string { return redact.String(s, c.secrets...) }

// BaseURL is the API URL, without a trailing slash.
func (c *Transport) BaseURL() string { return c.baseURL }

// HTTPClient is the client requests go through, with the same-origin
// redirect policy in place.
func (c *Transport) HTTPClient() *http.Client { return c.hc }

// Logger is where the transport logs (see WithLogger).
func (c *Transport) Logger() *slog.Logger { return c.log }

// Now is the transport's clock (see WithClock).
func (c *Transport) Now() time.Time { return c.now() }

// SetHeaders sets the headers of every call on a request the transport
// does not send itself (a WebSocket upgrade), so that proxies checking
// credentials before the upgrade let it through.
func (c *Transport) SetHeaders(req *http.Request) { c.setHeaders(req, false, "") }

// Call describes one API operation.
type Call struct {
	Op     string // what the caller was doing, for errors: `read work pool "x"`
	Method string
	Path   string // escaped, relative to the API URL
	Query  url.Values
	Body   any
	// Stream, when set, reads a 2xx answer straight from the connection
	// instead of from memory. It is called again on each retry and must
	// start over; an error it returns is final unless reading failed.
	Stream func(body io.Reader) error
}

// Response is an answer of the API.
type Response struct {
	Status    int
	Header    http.Header
	Body      []byte
	Truncated bool // an error body longer than maxErrorBodyBytes; Body is its start
}

// Do sends a call with Prefect's retry policy and returns the response of
// a 2xx answer; any other answer becomes a *prefecterr.APIError.
func (c *Transport) Do(ctx context.Context, cl Call) (*Response, error) {
	var body []byte
	if cl.Body != nil {
		b, err := MarshalBody(cl.Body)
		if err != nil {
			return nil, fmt.Errorf("%s: encode the request: %w", cl.Op, err)
		}
		// Marshalled once: retries resend the same bytes, so a set_state
		// retry carries the same transition_id and the server can tell a
		// repeat from a new proposal.
		body = b
	}
	mutating := cl.Method != http.MethodGet && cl.Method != http.MethodHead
	retries, maintenance := 0, 0
	csrfRefreshed := false
	for {
		var csrfToken string
		if mutating {
			tok, err := c.csrfHeader(ctx)
			if err != nil {
				var te *prefecterr.TransportError
				if errors.As(err, &te) {
					// The token is fetched on the caller's behalf: a
					// connection that fails is the caller's failure, and
					// "fetch a CSRF token" would hide what went wrong.
					return nil, c.TransportErrorFor(cl, te.Err, te.Timeout)
				}
				return nil, fmt.Errorf("%s: %w", cl.Op, err)
			}
			csrfToken = tok
		}
		started := c.now()
		resp, err := c.send(ctx, cl, body, csrfToken)
		if err != nil {
			var te *prefecterr.TransportError
			if !errors.As(err, &te) || ctx.Err() != nil {
				return nil, err
			}
			c.attemptFailed(te.Error())
			if !c.retryableTransport(te) || retries >= c.cfg.MaxRetries {
				return nil, err
			}
			retries++
			wait := c.backoff(retries)
			c.log.Debug("Prefect API request failed; retrying", "op", cl.Op, "method", cl.Method, "path", cl.Path,
				"error", err.Error(), "attempt", retries, "max_retries", c.cfg.MaxRetries, "wait", wait)
			if err := c.sleep(ctx, wait); err != nil {
				return nil, c.TransportErrorFor(cl, err, 0)
			}
			continue
		}
		c.log.Debug("Prefect API request", "method", cl.Method, "path", cl.Path, "status", resp.Status,
			"duration", c.now().Sub(started))
		if resp.Status >= 500 || c.retry[resp.Status] {
			c.attemptFailed(fmt.Sprintf("%s %s: %d %s", cl.Method, cl.Path, resp.Status, http.StatusText(resp.Status)))
		} else {
			c.attemptAnswered()
		}
		if resp.Status >= 200 && resp.Status < 300 {
			return resp, nil
		}
		if resp.Status == http.StatusForbidden && csrfToken != "" && !csrfRefreshed &&
			bytes.Contains(resp.Body, []byte("Invalid CSRF token")) {
			// The server forgot our token (restart, expiry, another
			// replica): a fresh one fixes it, so retry at once.
			c.dropCSRFToken(csrfToken)
			csrfRefreshed = true
			retries++
			continue
		}
		inMaintenance := resp.Header.Get(headerMaintenance) == "true"
		if c.retry[resp.Status] && (retries < c.cfg.MaxRetries || (inMaintenance && maintenance < maxMaintenanceWaits)) {
			if inMaintenance {
				maintenance++
			} else {
				retries++
			}
			wait, fromHeader := c.retryAfter(resp.Header)
			if !fromHeader {
				wait = c.backoff(retries)
			}
			c.log.Debug("Prefect API answered with a retryable status; retrying", "op", cl.Op, "method", cl.Method,
				"path", cl.Path, "status", resp.Status, "attempt", retries, "max_retries", c.cfg.MaxRetries, "wait", wait)
			if err := c.sleep(ctx, wait); err != nil {
				return nil, c.TransportErrorFor(cl, err, 0)
			}
			continue
		}
		return nil, c.APIErrorFor(cl, resp)
	}
}

// MarshalBody encodes a request body or WebSocket message as Prefect's
// client does: compact JSON with <, > and & as written.
func MarshalBody(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Templates and labels may hold <, > and &: send them as written.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// send makes one attempt. A 2xx answer of a call with a stream function
// is handed to it as it arrives; other bodies are read into memory, at
// most c.maxResponse bytes of a 2xx answer and maxErrorBodyBytes of others.
func (c *Transport) send(ctx context.Context, cl Call, body []byte, csrfToken string) (*Response, error) {
	u := c.baseURL + cl.Path
	if len(cl.Query) > 0 {
		u += "?" + cl.Query.Encode()
	}
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(actx, cl.Method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("%s: build the request: %s", cl.Op, c.Redact(err.Error()))
	}
	c.setHeaders(req, body != nil, csrfToken)
	resp, err := c.hc.Do(req)
	if err != nil {
		var re *RedirectError
		if errors.As(err, &re) {
			return nil, c.RedirectErrorFor(cl, re)
		}
		return nil, c.TransportErrorFor(cl, err, c.TimedOut(ctx, actx))
	}
	// Closing a body that was not read to its end drops the connection
	// instead of draining it: a poll that stops at its byte budget does
	// not download the rest.
	defer resp.Body.Close()
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	if ok && cl.Stream != nil {
		rr := &readErrors{r: resp.Body}
		if err := cl.Stream(rr); err != nil {
			if rr.err != nil {
				return nil, c.TransportErrorFor(cl, rr.err, c.TimedOut(ctx, actx))
			}
			return nil, err
		}
		return &Response{Status: resp.StatusCode, Header: resp.Header}, nil
	}
	limit := c.maxResponse
	if !ok {
		limit = maxErrorBodyBytes
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, c.TransportErrorFor(cl, err, c.TimedOut(ctx, actx))
	}
	truncated := false
	if int64(len(data)) > limit {
		if ok {
			return nil, fmt.Errorf("%s: %s %s: the response is larger than %d MiB, more than the client reads: %w",
				cl.Op, cl.Method, cl.Path, limit>>20, prefecterr.ErrInvalidResponse)
		}
		data, truncated = data[:limit], true
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: data, Truncated: truncated}, nil
}

// readErrors remembers the error of the underlying reader, so that a
// stream function's failure can be told apart: the connection broke (worth
// a retry) or the body was not what it should be (not worth one).
type readErrors struct {
	r   io.Reader
	err error
}

func (r *readErrors) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// TimedOut tells the request timeout apart from the caller giving up.
func (c *Transport) TimedOut(parent, attempt context.Context) time.Duration {
	if parent.Err() == nil && errors.Is(attempt.Err(), context.DeadlineExceeded) {
		return c.cfg.Timeout
	}
	return 0
}

func (c *Transport) setHeaders(req *http.Request, hasBody bool, csrfToken string) {
	h := req.Header
	h.Set(headerAPIVersion, APIVersion)
	h.Set("Accept", "application/json")
	if hasBody {
		h.Set("Content-Type", "application/json")
	}
	if c.auth != "" {
		h.Set("Authorization", c.auth)
	}
	c.workerMu.RLock()
	if c.workerName != "" {
		h.Set(headerWorkerName, c.workerName)
	}
	if c.workerID != "" {
		h.Set(headerWorkerID, c.workerID)
	}
	c.workerMu.RUnlock()
	// As in Prefect, custom headers may replace everything above (a proxy
	// may need its own Authorization) but not what follows.
	for k, vs := range c.headers {
		h[k] = append([]string(nil), vs...)
	}
	h.Set("User-Agent", c.ua)
	if csrfToken != "" {
		h.Set(headerCSRFToken, csrfToken)
		h.Set(headerCSRFClient, c.csrfClient)
	}
}

// retryableTransport decides which failed connections are worth another
// attempt: timeouts, resets, protocol errors, and refused or unresolvable
// connections too, the first contact included. Prefect retries the last
// two only once the server has answered, but a worker started alongside
// its server (compose, a fresh cluster) meets exactly those at first, and
// the retries are bounded by PREFECT_CLIENT_MAX_RETRIES all the same. TLS
// verification failures are never retried: they do not go away by waiting.
func (c *Transport) retryableTransport(te *prefecterr.TransportError) bool {
	if te.Timeout > 0 {
		return true
	}
	err := te.Err
	if errors.Is(err, context.Canceled) {
		return false
	}
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	if errors.As(err, &certErr) || errors.As(err, &unknownAuth) || errors.As(err, &hostErr) || errors.As(err, &invalid) {
		return false
	}
	var recordErr tls.RecordHeaderError
	if errors.As(err, &recordErr) || prefecterr.IsHTTPToHTTPS(err) {
		return false
	}
	return true
}

// backoff is Prefect's 2^n seconds with a symmetric jitter.
func (c *Transport) backoff(retry int) time.Duration {
	secs := backoff.Doubling(retry+1, time.Second, 1024*time.Second).Seconds()
	if j := c.cfg.RetryJitter; j > 0 {
		lo := secs * math.Max(0, 1-j)
		hi := secs * (1 + j)
		secs = lo + (hi-lo)*c.jitter()
	}
	return time.Duration(secs * float64(time.Second))
}

// maxRetryAfter caps a server's Retry-After: honouring an hour-long wait
// would silently stop the worker's heartbeats.
const maxRetryAfter = 5 * time.Minute

// retryAfter reads Retry-After (seconds or an HTTP date). The wait is
// jittered upwards only: the server asked for at least that long.
func (c *Transport) retryAfter(h http.Header) (time.Duration, bool) {
	d, ok := parseRetryAfter(h.Get("Retry-After"), c.now())
	if !ok {
		return 0, false
	}
	d = min(d, maxRetryAfter)
	if j := c.cfg.RetryJitter; j > 0 && d > 0 {
		d += time.Duration(float64(d) * j * c.jitter())
	}
	return d, true
}

// parseRetryAfter reads a Retry-After value relative to now.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if math.IsNaN(secs) || math.IsInf(secs, 0) {
			return 0, false
		}
		if secs < 0 {
			secs = 0
		}
		return time.Duration(math.Min(secs, maxRetryAfter.Seconds()) * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// TransportErrorFor is the *prefecterr.TransportError of cl failing with
// err, without an answer; timeout is the request timeout when that is what
// ended it (see TimedOut).
func (c *Transport) TransportErrorFor(cl Call, err error, timeout time.Duration) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		// url.Error repeats the method and URL, which the message has already.
		err = ue.Err
	}
	return prefecterr.NewTransportError(cl.Op, cl.Method, prefectconfig.RedactURL(c.baseURL)+cl.Path,
		err, timeout, c.cfg.URLSetting(), c.secrets)
}

// APIErrorFor is the *prefecterr.APIError of an answer other than 2xx to
// cl, with the server's explanation and, when the client can tell, the
// fix (a URL without /api, missing or refused credentials).
func (c *Transport) APIErrorFor(cl Call, resp *Response) *prefecterr.APIError {
	detail := prefecterr.ParseDetail(resp.Body)
	if resp.Truncated {
		detail = strings.TrimSpace(detail + fmt.Sprintf(" (the answer is longer than %d MiB; only its start was read)", maxErrorBodyBytes>>20))
	}
	e := &prefecterr.APIError{
		Op: cl.Op, Method: cl.Method, Path: cl.Path, Status: resp.Status,
		Detail: c.Redact(detail),
	}
	if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), c.now()); ok {
		e.RetryAfter = d
	}
	switch resp.Status {
	case http.StatusNotFound:
		// FastAPI's answer for a path it has no route for: with an API URL
		// that lacks /api, every call gets it.
		if fix := c.MissingAPISuffix(); fix != "" && (e.Detail == "Not Found" || strings.HasPrefix(e.Detail, "HTML page") ||
			strings.HasPrefix(e.Detail, "an HTML page")) {
			e.Hint = fix
		}
	case http.StatusUnauthorized:
		switch {
		case c.cfg.AuthString != "":
			e.Hint = "the server refused the credentials: check " + prefectconfig.EnvAPIAuthString +
				" (user:password, as set in the server's PREFECT_SERVER_API_AUTH_STRING)"
		case c.cfg.APIKey != "":
			e.Hint = "the server refused the credentials: check " + prefectconfig.EnvAPIKey +
				" (it may be mistyped, expired, or belong to another account)"
		default:
			e.Hint = "the server requires credentials and none are set: set " + prefectconfig.EnvAPIKey +
				" (Prefect Cloud) or " + prefectconfig.EnvAPIAuthString + " (self-hosted server with basic auth)"
		}
	}
	return e
}

// DecodeJSON decodes a response body, naming the operation on failure.
func (c *Transport) DecodeJSON(cl Call, resp *Response, out any) error {
	if err := json.Unmarshal(resp.Body, out); err != nil {
		return c.InvalidResponse(cl, resp, err)
	}
	return nil
}

// InvalidResponse is the error of an answer to cl whose body is not the
// JSON it should be; it matches prefecterr.ErrInvalidResponse.
func (c *Transport) InvalidResponse(cl Call, resp *Response, err error) error {
	if errors.Is(err, jsonv.ErrTooDeep) {
		// The server is the API; what it holds (parameters, a template)
		// is nested deeper than the client decodes.
		return fmt.Errorf("%s: %s %s: the answer is nested deeper than the client reads (%w); "+
			"flatten the data it holds (parameters, job variables or a template): %w",
			cl.Op, cl.Method, cl.Path, err, prefecterr.ErrInvalidResponse)
	}
	snippet := prefecterr.Truncate(c.Redact(strings.Join(strings.Fields(string(resp.Body)), " ")), 60)
	fix := c.MissingAPISuffix()
	if fix == "" {
		fix = "check that " + c.cfg.URLSetting() + " is the Prefect API (it usually ends in /api)"
	}
	return fmt.Errorf("%s: %s %s: the server answered %d %s with a body that is not the expected JSON (%v; body starts %q); %s: %w",
		cl.Op, cl.Method, cl.Path, resp.Status, http.StatusText(resp.Status), err, snippet, fix, prefecterr.ErrInvalidResponse) //nolint:errorlint // callers classify by the sentinel alone; the cause is detail for the message
}

// MissingAPISuffix returns the fix for a self-hosted API URL without the
// /api that Prefect serves its API under, or "" when the URL has it (or
// is Prefect Cloud's, where the workspace path follows /api).
func (c *Transport) MissingAPISuffix() string {
	if c.cloud {
		return ""
	}
	u, err := url.Parse(c.baseURL)
	if err != nil || strings.HasSuffix(u.Path, "/api") {
		return ""
	}
	return fmt.Sprintf("%s is %s, without the /api under which Prefect serves its API: set it to %s/api",
		c.cfg.URLSetting(), prefectconfig.RedactURL(c.baseURL), prefectconfig.RedactURL(c.baseURL))
}

// attemptFailed counts a failed attempt (no answer, or a 5xx or retryable
// status) and warns once the API has failed long enough to matter.
func (c *Transport) attemptFailed(cause string) {
	now := c.now()
	c.outageMu.Lock()
	if c.outageFailures == 0 {
		c.outageSince = now
	}
	c.outageFailures++
	n, since := c.outageFailures, c.outageSince
	warn := !c.outageWarned && n >= outageWarnFailures && now.Sub(since) >= outageWarnAfter
	if warn {
		c.outageWarned = true
	}
	c.outageMu.Unlock()
	if warn {
		c.log.Warn("the Prefect API keeps failing; requests are retried with backoff",
			"url", prefectconfig.RedactURL(c.baseURL), "failed_attempts", n, "for", now.Sub(since).Round(time.Second),
			"last_error", c.Redact(cause))
	}
}

// attemptAnswered ends a run of failures, saying so if it was warned about.
func (c *Transport) attemptAnswered() {
	now := c.now()
	c.outageMu.Lock()
	n, since, warned := c.outageFailures, c.outageSince, c.outageWarned
	c.outageFailures, c.outageWarned = 0, false
	c.outageMu.Unlock()
	if warned {
		c.log.Info("the Prefect API answers again", "url", prefectconfig.RedactURL(c.baseURL), "failed_attempts", n,
			"after", now.Sub(since).Round(time.Second))
	}
}
