package awsfake

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// NewTestServer starts a server on a loopback listener and closes it when
// the test ends.
func NewTestServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s := New(opts)
	ts := httptest.NewServer(s.Handler())
	s.base = ts.URL
	s.closeHTTP = ts.Close
	t.Cleanup(s.Close)
	return s
}

// Listen serves on addr (e.g. "127.0.0.1:0") until Close, for a sandbox
// that runs real processes against the fake. It returns the base URL.
func (s *Server) Listen(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: s.Handler()}
	s.base = "http://" + ln.Addr().String()
	s.closeHTTP = func() { srv.Close() }
	go srv.Serve(ln)
	return s.base, nil
}

// inProcess is a RoundTripper that serves requests by calling the handler
// directly.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	in := req.Clone(req.Context())
	if in.Body == nil {
		in.Body = http.NoBody
	}
	in.RequestURI = req.URL.RequestURI()
	in.RemoteAddr = "127.0.0.1:0"
	if in.Host == "" {
		in.Host = req.URL.Host
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, in)
	if req.Body != nil {
		req.Body.Close()
	}
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}
