package awsfake

import (
	"context"
	"net/http"
	"slices"
	"sync"
)

// A hold parks matching calls until the test releases them, so that a
// test can act while a request is in flight (stop a task while RunTask is
// outstanding, restart a worker mid-call) and then let it finish.
type hold struct {
	service, action string
	released        chan struct{}
	once            sync.Once
}

// Hold makes every call to service's action ("" matches any) that arrives
// from now on wait, without holding up other calls, until release is
// called, the client gives up or the server closes. Held calls then
// proceed normally; calls arriving after release are not held. release
// may be called more than once. Under testing/synctest, call Hold inside
// the bubble, as New: a call waits on channels Hold makes.
func (s *Server) Hold(service, action string) (release func()) {
	h := &hold{service: service, action: action, released: make(chan struct{})}
	s.mu.Lock()
	s.holds = append(s.holds, h)
	s.mu.Unlock()
	return func() {
		h.once.Do(func() {
			s.mu.Lock()
			s.holds = slices.DeleteFunc(s.holds, func(x *hold) bool { return x == h })
			s.mu.Unlock()
			close(h.released)
		})
	}
}

// Holding is how many calls are being held right now. Wait for it to
// reach the number expected before acting on a held call: under
// testing/synctest, synctest.Wait; over sockets, poll it.
func (s *Server) Holding() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.holding
}

func (s *Server) holdForLocked(service, action string) *hold {
	for _, h := range s.holds {
		if (h.service == "" || h.service == service) && (h.action == "" || h.action == action) {
			return h
		}
	}
	return nil
}

// awaitRelease parks a held call. It reports whether the call should go
// on; when it should not, the answer (if any) has been written.
func (s *Server) awaitRelease(ctx context.Context, w http.ResponseWriter, r *request, h *hold) bool {
	defer func() {
		s.mu.Lock()
		s.holding--
		s.mu.Unlock()
	}()
	select {
	case <-h.released:
		return true
	case <-ctx.Done():
		return false
	case <-s.closed:
		writeError(w, r, newErr(503, "ServiceUnavailable", "fake server closed"))
		return false
	}
}
