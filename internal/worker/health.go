package worker

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// health remembers the last poll and heartbeat, and whether they worked.
type health struct {
	mu                     sync.Mutex
	lastPoll, lastBeat     time.Time
	pollOK, beatOK, polled bool
}

func (h *health) poll(at time.Time, ok bool) {
	h.mu.Lock()
	h.lastPoll, h.pollOK, h.polled = at, ok, true
	h.mu.Unlock()
}

func (h *health) heartbeat(at time.Time, ok bool) {
	h.mu.Lock()
	h.lastBeat, h.beatOK = at, ok
	h.mu.Unlock()
}

// Healthy reports whether polls and heartbeats succeed (the last of each
// worked and happened within three of its intervals) and AWS answers: no
// AWS call has waited, nor have all failed, for AWSUnhealthyAfter.
func (w *Worker) Healthy() (bool, string) {
	h := &w.health
	h.mu.Lock()
	defer h.mu.Unlock()
	now := w.cfg.Now()
	switch {
	case !h.beatOK:
		return false, "the last heartbeat to Prefect failed"
	case now.Sub(h.lastBeat) > 3*w.cfg.HeartbeatInterval:
		return false, "no heartbeat for " + now.Sub(h.lastBeat).Round(time.Second).String()
	case h.polled && !h.pollOK:
		return false, "the last poll for scheduled runs failed"
	case h.polled && now.Sub(h.lastPoll) > 3*w.cfg.QueryInterval+w.cfg.HeartbeatInterval:
		return false, "no poll for " + now.Sub(h.lastPoll).Round(time.Second).String()
	}
	if stalled, why := w.aws.Monitor().Stalled(now, w.cfg.AWSUnhealthyAfter); stalled {
		return false, why
	}
	return true, "OK"
}

// HealthHandler serves GET /health: 200 while the worker polls and
// heartbeats successfully, 503 with the reason otherwise.
func (w *Worker) HealthHandler() http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		ok, msg := w.Healthy()
		rw.Header().Set("Content-Type", "application/json")
		if !ok {
			rw.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(rw).Encode(map[string]string{"message": msg})
	})
}
