// Package prefect is a client for the Prefect 3 REST API, limited to what a
// work-pool worker and its command line need. It behaves like Prefect's own
// Python client where servers can tell the difference: the same headers,
// CSRF handshake, retry policy and request bodies, so that a Prefect server
// or Prefect Cloud treats it as a well-behaved modern client.
package prefect

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
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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

// maxResponseBytes bounds what one response may hold; the largest honest
// answers (200 flow runs with their parameters) are far below it.
const maxResponseBytes = 64 << 20

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

// Client calls the Prefect API. It is safe for concurrent use.
type Client struct {
	cfg     Config
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

	connected atomic.Bool

	csrfMu      sync.Mutex
	csrfClient  string
	csrfOn      bool
	csrfToken   string
	csrfExpires time.Time

	workerMu   sync.RWMutex
	workerName string
	workerID   string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send requests through hc. The TLS
// settings of the Config are then the caller's business.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithUserAgent replaces the User-Agent; see UserAgent.
func WithUserAgent(ua string) Option { return func(c *Client) { c.ua = ua } }

// WithClock replaces time.Now (CSRF token expiry, Retry-After dates).
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// WithSleep replaces the wait between retries, so tests need not sleep.
// It must return ctx.Err() when ctx ends first.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Client) { c.sleep = sleep }
}

// WithLogger sets where requests and retries are logged (at debug and
// warning level); nothing is logged by default.
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// WithWorker sets the attribution headers X-Prefect-Worker-Name and
// X-Prefect-Worker-Id that Prefect Cloud uses to tell which worker makes
// which calls. SetWorker changes them later.
func WithWorker(name, id string) Option {
	return func(c *Client) { c.workerName, c.workerID = name, id }
}

// New returns a client for cfg.APIURL.
func New(cfg Config, opts ...Option) (*Client, error) {
	if cfg.APIURL == "" {
		return nil, &ConfigError{Setting: EnvAPIURL, Problem: "is not set",
			Fix: "set it to the Prefect API, e.g. http://127.0.0.1:4200/api for a self-hosted server or " +
				"https://api.prefect.cloud/api/accounts/<account id>/workspaces/<workspace id> for Prefect Cloud"}
	}
	base, err := checkAPIURL(cfg.APIURL)
	if err != nil {
		return nil, &ConfigError{Setting: EnvAPIURL, Value: redactURL(cfg.APIURL), Problem: err.Error(),
			Fix: "set it to the Prefect API, e.g. http://127.0.0.1:4200/api"}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxRetries < 0 {
		cfg.MaxRetries = 0
	}
	c := &Client{
		cfg:        cfg,
		baseURL:    base,
		cloud:      cfg.IsCloud(),
		ua:         UserAgent(defaultVersion()),
		log:        slog.New(slog.DiscardHandler),
		now:        time.Now,
		sleep:      sleepCtx,
		jitter:     rand.Float64,
		csrfClient: newUUID(),
		retry:      map[int]bool{},
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
				"header", k, "setting", EnvCustomHeaders)
			continue
		}
		c.headers.Set(k, v)
		c.secrets = append(c.secrets, v)
	}
	if c.cloud && !strings.Contains(strings.TrimPrefix(base, c.cfg.cloudAPIURL()), "/workspaces/") {
		c.log.Warn("the Prefect Cloud API URL names no workspace; most calls will fail with 404",
			"setting", EnvAPIURL, "fix", "copy the URL from `prefect cloud workspace ls` or the UI: "+
				DefaultCloudAPIURL+"/accounts/<account id>/workspaces/<workspace id>")
	}
	return c, nil
}

func newTransport(cfg Config) (*http.Transport, error) {
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
				return nil, &ConfigError{Setting: EnvSSLCertFile, Value: cfg.CACertFile,
					Problem: "cannot be read: " + err.Error(),
					Fix:     "point " + EnvSSLCertFile + " (or SSL_CERT_FILE) at a PEM file of CA certificates"}
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, &ConfigError{Setting: EnvSSLCertFile, Value: cfg.CACertFile,
					Problem: "holds no PEM certificate",
					Fix:     "point " + EnvSSLCertFile + " (or SSL_CERT_FILE) at a PEM file of CA certificates"}
			}
			tc.RootCAs = pool
		}
		tr.TLSClientConfig = tc
	}
	return tr, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Config returns the client's settings.
func (c *Client) Config() Config { return c.cfg }

// IsCloud reports whether the client talks to Prefect Cloud.
func (c *Client) IsCloud() bool { return c.cloud }

// SetWorker changes the attribution headers (see WithWorker); Prefect sets
// the id once the first Cloud heartbeat returns it.
func (c *Client) SetWorker(name, id string) {
	c.workerMu.Lock()
	defer c.workerMu.Unlock()
	c.workerName, c.workerID = name, id
}

func (c *Client) redact(s string) string { return redact.String(s, c.secrets...) }

// call describes one API operation.
type call struct {
	op     string // what the caller was doing, for errors: `read work pool "x"`
	method string
	path   string // escaped, relative to the API URL
	query  url.Values
	body   any
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a call with Prefect's retry policy and returns the response of
// a 2xx answer; any other answer becomes an *APIError.
func (c *Client) do(ctx context.Context, cl call) (*response, error) {
	var body []byte
	if cl.body != nil {
		b, err := marshalBody(cl.body)
		if err != nil {
			return nil, fmt.Errorf("%s: encode the request: %w", cl.op, err)
		}
		// Marshalled once: retries resend the same bytes, so a set_state
		// retry carries the same transition_id and the server can tell a
		// repeat from a new proposal.
		body = b
	}
	mutating := cl.method != http.MethodGet && cl.method != http.MethodHead
	retries, maintenance := 0, 0
	csrfRefreshed := false
	for {
		var csrfToken string
		if mutating {
			tok, err := c.csrfHeader(ctx)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", cl.op, err)
			}
			csrfToken = tok
		}
		started := c.now()
		resp, err := c.send(ctx, cl, body, csrfToken)
		if err != nil {
			var te *TransportError
			if !errors.As(err, &te) || ctx.Err() != nil || !c.retryableTransport(te) || retries >= c.cfg.MaxRetries {
				return nil, err
			}
			retries++
			wait := c.backoff(retries)
			c.log.Warn("Prefect API request failed; retrying", "op", cl.op, "method", cl.method, "path", cl.path,
				"error", err.Error(), "attempt", retries, "max_retries", c.cfg.MaxRetries, "wait", wait)
			if err := c.sleep(ctx, wait); err != nil {
				return nil, c.transportError(cl, err, 0)
			}
			continue
		}
		c.connected.Store(true)
		c.log.Debug("Prefect API request", "method", cl.method, "path", cl.path, "status", resp.status,
			"duration", c.now().Sub(started))
		if resp.status >= 200 && resp.status < 300 {
			return resp, nil
		}
		if resp.status == http.StatusForbidden && csrfToken != "" && !csrfRefreshed &&
			bytes.Contains(resp.body, []byte("Invalid CSRF token")) {
			// The server forgot our token (restart, expiry, another
			// replica): a fresh one fixes it, so retry at once.
			c.dropCSRFToken(csrfToken)
			csrfRefreshed = true
			retries++
			continue
		}
		inMaintenance := resp.header.Get(headerMaintenance) == "true"
		if c.retry[resp.status] && (retries < c.cfg.MaxRetries || (inMaintenance && maintenance < maxMaintenanceWaits)) {
			if inMaintenance {
				maintenance++
			} else {
				retries++
			}
			wait, fromHeader := c.retryAfter(resp.header)
			if !fromHeader {
				wait = c.backoff(retries)
			}
			c.log.Warn("Prefect API answered with a retryable status; retrying", "op", cl.op, "method", cl.method,
				"path", cl.path, "status", resp.status, "attempt", retries, "max_retries", c.cfg.MaxRetries, "wait", wait)
			if err := c.sleep(ctx, wait); err != nil {
				return nil, c.transportError(cl, err, 0)
			}
			continue
		}
		return nil, c.apiError(cl, resp)
	}
}

func marshalBody(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Templates and labels may hold <, > and &: send them as written.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func (c *Client) send(ctx context.Context, cl call, body []byte, csrfToken string) (*response, error) {
	u := c.baseURL + cl.path
	if len(cl.query) > 0 {
		u += "?" + cl.query.Encode()
	}
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(actx, cl.method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("%s: build the request: %s", cl.op, c.redact(err.Error()))
	}
	c.setHeaders(req, body != nil, csrfToken)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.transportError(cl, err, c.timedOut(ctx, actx))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, c.transportError(cl, err, c.timedOut(ctx, actx))
	}
	if len(data) > maxResponseBytes {
		return nil, fmt.Errorf("%s: %s %s: the response is larger than %d MiB: %w",
			cl.op, cl.method, cl.path, maxResponseBytes>>20, ErrInvalidResponse)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// timedOut tells the request timeout apart from the caller giving up.
func (c *Client) timedOut(parent, attempt context.Context) time.Duration {
	if parent.Err() == nil && errors.Is(attempt.Err(), context.DeadlineExceeded) {
		return c.cfg.Timeout
	}
	return 0
}

func (c *Client) setHeaders(req *http.Request, hasBody bool, csrfToken string) {
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

// retryableTransport follows Prefect: timeouts, resets and protocol errors
// are retried; a refused or unresolvable connection only once the server
// has answered before, so that a wrong PREFECT_API_URL fails at once; TLS
// verification failures never.
func (c *Client) retryableTransport(te *TransportError) bool {
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
	var opErr *net.OpError
	var dnsErr *net.DNSError
	if (errors.As(err, &opErr) && opErr.Op == "dial") || errors.As(err, &dnsErr) {
		return c.connected.Load()
	}
	return true
}

// backoff is Prefect's 2^n seconds with a symmetric jitter.
func (c *Client) backoff(retry int) time.Duration {
	secs := math.Pow(2, float64(min(retry, 10)))
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
func (c *Client) retryAfter(h http.Header) (time.Duration, bool) {
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

func (c *Client) transportError(cl call, err error, timeout time.Duration) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		// url.Error repeats the method and URL, which the message has already.
		err = ue.Err
	}
	return &TransportError{
		Op: cl.op, Method: cl.method, URL: redactURL(c.baseURL) + cl.path,
		Err: err, Timeout: timeout, secrets: c.secrets,
	}
}

func (c *Client) apiError(cl call, resp *response) *APIError {
	e := &APIError{
		Op: cl.op, Method: cl.method, Path: cl.path, Status: resp.status,
		Detail: c.redact(parseDetail(resp.body)),
	}
	if d, ok := parseRetryAfter(resp.header.Get("Retry-After"), c.now()); ok {
		e.RetryAfter = d
	}
	switch resp.status {
	case http.StatusUnauthorized:
		switch {
		case c.cfg.AuthString != "":
			e.hint = "the server refused the credentials: check " + EnvAPIAuthString +
				" (user:password, as set in the server's PREFECT_SERVER_API_AUTH_STRING)"
		case c.cfg.APIKey != "":
			e.hint = "the server refused the credentials: check " + EnvAPIKey +
				" (it may be mistyped, expired, or belong to another account)"
		default:
			e.hint = "the server requires credentials and none are set: set " + EnvAPIKey +
				" (Prefect Cloud) or " + EnvAPIAuthString + " (self-hosted server with basic auth)"
		}
	}
	return e
}

// decodeJSON decodes a response body, naming the operation on failure.
func (c *Client) decodeJSON(cl call, resp *response, out any) error {
	if err := json.Unmarshal(resp.body, out); err != nil {
		return c.invalidResponse(cl, resp, err)
	}
	return nil
}

func (c *Client) invalidResponse(cl call, resp *response, err error) error {
	snippet := truncate(c.redact(strings.Join(strings.Fields(string(resp.body)), " ")), 60)
	return fmt.Errorf("%s: %s %s: the server answered %d %s with a body that is not the expected JSON (%v; body starts %q); "+
		"check that %s is the Prefect API (it usually ends in /api): %w",
		cl.op, cl.method, cl.path, resp.status, http.StatusText(resp.status), err, snippet, EnvAPIURL, ErrInvalidResponse)
}
