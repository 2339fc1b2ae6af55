package awsfake

import (
	"net"
	"net/http"

	"github.com/ecsworker/ecsworker/internal/fakes/fakenet"
)

// NewTestServer starts a server on a loopback listener and closes it when
// the test ends.
func NewTestServer(t fakenet.TB, opts Options) *Server {
	t.Helper()
	s := New(opts)
	ts, err := fakenet.Start(s.Handler())
	if err != nil {
		panic("awsfake: no loopback listener: " + err.Error())
	}
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
	s.closeHTTP = func() { _ = srv.Close() }
	go func() { _ = srv.Serve(ln) }() // it returns http.ErrServerClosed once closeHTTP ran
	return s.base, nil
}
