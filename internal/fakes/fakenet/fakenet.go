// Package fakenet serves the test servers over loopback and in process,
// without net/http/httptest or testing: the binary serves them too (for
// `ecsworker sandbox` and `ecsworker dev`), and must not link the testing
// packages.
package fakenet

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// TB is what the test servers need of a test: *testing.T and *testing.B
// have it.
type TB interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
}

// Server serves a handler on a loopback port until Close.
type Server struct {
	URL string
	srv *http.Server
}

// Start serves h on 127.0.0.1 on a free port.
func Start(h http.Handler) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{URL: "http://" + ln.Addr().String(), srv: &http.Server{Handler: h}}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops listening and closes every connection, idle or busy, so that
// a client waiting on a held request sees it end.
func (s *Server) Close() { _ = s.srv.Close() }

// RoundTripper serves requests by calling a handler in the same process:
// no socket, which testing/synctest bubbles cannot see through.
type RoundTripper struct{ Handler http.Handler }

// RoundTrip calls the handler with a copy of req as a server would get it.
func (t RoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	in := req.Clone(req.Context())
	if in.Body == nil {
		in.Body = http.NoBody
	}
	in.RequestURI = req.URL.RequestURI()
	in.RemoteAddr = "127.0.0.1:0"
	if in.Host == "" {
		in.Host = req.URL.Host
	}
	rec := &recorder{header: http.Header{}}
	t.Handler.ServeHTTP(rec, in)
	if req.Body != nil {
		_ = req.Body.Close()
	}
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	return rec.response(req), nil
}

// recorder keeps what a handler writes.
type recorder struct {
	mu     sync.Mutex
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.body.Write(b)
}

// Flush lets handlers that stream (long polls) flush; the answer is whole
// once the handler returns anyway.
func (r *recorder) Flush() {}

func (r *recorder) response(req *http.Request) *http.Response {
	status := r.status
	if status == 0 {
		status = http.StatusOK
	}
	body := r.body.Bytes()
	return &http.Response{
		Status:        http.StatusText(status),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        r.header.Clone(),
		Body:          readCloser{bytes.NewReader(body)},
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// Clock is a time that only Advance and Sleep move, for a test server and
// its clients to share so that expiries and schedules line up without the
// test sleeping. The zero Clock starts at the zero time.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock makes a clock that starts at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now tells the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Sleep moves the clock forward by d instead of waiting, so that code
// which waits (stack operations, retries) takes its time at once. It fails
// only when ctx is done.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return nil
}
