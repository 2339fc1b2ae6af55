package simulation

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/ecsworker/ecsworker/bench/internal/spec"
)

// The simulation's plumbing: calls carried to the test servers in
// process, after a drawn latency, and the worker's log counted.

// delayed is a RoundTripper that waits a network round trip before
// handing the request on, and counts the tasks of DescribeTasks calls
// (the fake counts calls, not how many tasks each described).
type delayed struct {
	next  http.RoundTripper
	delay *spec.Latency

	mu        sync.Mutex
	described int
}

func (d *delayed) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".DescribeTasks") && r.Body != nil {
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		var in struct{ Tasks []string }
		if json.Unmarshal(body, &in) == nil {
			d.mu.Lock()
			d.described += len(in.Tasks)
			d.mu.Unlock()
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	if err := d.delay.Wait(r.Context()); err != nil {
		return nil, err
	}
	return d.next.RoundTrip(r)
}

func (d *delayed) tasksDescribed() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.described
}

// inProcess serves requests by calling a handler: a testing/synctest
// bubble cannot see through sockets. WebSocket upgrades (Prefect's event
// stream) get an in-memory connection, net.Pipe, instead.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return t.upgrade(r)
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

// upgrade hands the handler a ResponseWriter it can hijack, and the
// client the other end of the pipe as the 101 response's body, which is
// what WebSocket clients read and write once the handshake is done.
func (t inProcess) upgrade(r *http.Request) (*http.Response, error) {
	client, server := net.Pipe()
	// The socket outlives the dial's context, as a real connection does.
	in := r.Clone(context.WithoutCancel(r.Context()))
	in.RequestURI = r.URL.RequestURI()
	in.RemoteAddr = "127.0.0.1:0"
	if in.Body == nil {
		in.Body = http.NoBody
	}
	rw := &hijackable{ResponseRecorder: httptest.NewRecorder(), conn: server, switched: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(rw.done)
		t.h.ServeHTTP(rw, in)
		if !rw.hijacked {
			_ = server.Close() // a net.Pipe end: Close always succeeds
		}
	}()
	select {
	case <-rw.switched:
		return &http.Response{Status: "101 Switching Protocols", StatusCode: http.StatusSwitchingProtocols, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: rw.switchedHeader, Body: client, Request: r}, nil
	case <-rw.done:
		_ = client.Close()
		resp := rw.Result()
		resp.Request = r
		return resp, nil
	case <-r.Context().Done():
		_ = client.Close()
		return nil, r.Context().Err()
	}
}

// hijackable is a ResponseWriter that switches protocols onto a pipe.
type hijackable struct {
	*httptest.ResponseRecorder
	conn           net.Conn
	switched, done chan struct{}
	switchedHeader http.Header
	hijacked       bool // set before switched is closed, read after done
}

func (h *hijackable) WriteHeader(code int) {
	if code == http.StatusSwitchingProtocols {
		h.switchedHeader = h.Header().Clone()
		return
	}
	h.ResponseRecorder.WriteHeader(code)
}

func (h *hijackable) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h.switchedHeader == nil {
		return nil, nil, errors.New("hijack before 101 Switching Protocols")
	}
	h.hijacked = true
	close(h.switched)
	return h.conn, bufio.NewReadWriter(bufio.NewReader(h.conn), bufio.NewWriter(h.conn)), nil
}

// logCounter is a slog handler that counts warnings and errors and keeps
// the first few, so that a scenario can say what went wrong without
// printing thousands of lines.
type logCounter struct {
	shared *logCounts
	attrs  []slog.Attr
}

type logCounts struct {
	mu           sync.Mutex
	warns, errs  int
	first        []string
	distinctSeen map[string]bool
}

const keepLogLines = 8

func newLogCounter() *logCounter {
	return &logCounter{shared: &logCounts{distinctSeen: map[string]bool{}}}
}

func (h *logCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *logCounter) Handle(_ context.Context, r slog.Record) error {
	c := h.shared
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.Level >= slog.LevelError {
		c.errs++
	} else {
		c.warns++
	}
	// One line per distinct message: the same warning for a thousand runs
	// says no more than once.
	if len(c.first) < keepLogLines && !c.distinctSeen[r.Message] {
		c.distinctSeen[r.Message] = true
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
		for _, a := range h.attrs {
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "err" || a.Key == "error" {
				fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
			}
			return true
		})
		c.first = append(c.first, b.String())
	}
	return nil
}

func (h *logCounter) WithAttrs(as []slog.Attr) slog.Handler {
	var keep []slog.Attr
	for _, a := range as {
		if a.Key != "worker" && a.Key != "pool" {
			keep = append(keep, a)
		}
	}
	return &logCounter{shared: h.shared, attrs: append(append([]slog.Attr(nil), h.attrs...), keep...)}
}

func (h *logCounter) WithGroup(string) slog.Handler { return h }

func (h *logCounter) counts() (warns, errs int, first []string) {
	c := h.shared
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.warns, c.errs, append([]string(nil), c.first...)
}

// diff is after minus before, without zero entries.
func diff(after, before map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}
