package prefectfake

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// eventHub fans events out to /events/out subscribers.
type eventHub struct {
	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	closed bool
}

type subscriber struct {
	filter map[string]any
	ch     chan map[string]any
}

func (h *eventHub) init() { h.subs = map[*subscriber]struct{}{} }

func (h *eventHub) add(sub *subscriber) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.subs[sub] = struct{}{}
	return true
}

func (h *eventHub) remove(sub *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, sub)
}

func (h *eventHub) publish(ev map[string]any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range h.subs {
		if eventMatches(sub.filter, ev) {
			select {
			case sub.ch <- ev:
			default:
				// A subscriber that stopped reading loses events rather than
				// stalling the API.
			}
		}
	}
}

func (h *eventHub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for sub := range h.subs {
		close(sub.ch)
		delete(h.subs, sub)
	}
}

// recordEvent stores an event a client sent; the caller holds s.mu.
func (s *Server) recordEvent(ev map[string]any) {
	if ev == nil {
		return
	}
	ev = copyMap(ev)
	ev["received"] = fmtTime(s.now())
	s.st.events = append(s.st.events, ev)
	s.hub.publish(ev)
}

// emitStateEvent publishes prefect.flow-run.<state name>, which Prefect
// emits for every flow-run state change (the cancellation observers watch
// prefect.flow-run.Cancelling). Such events are streamed on /events/out
// but not listed by Events(), which holds what clients sent.
func (s *Server) emitStateEvent(r *flowRun, prev, st *runState) {
	resource := map[string]any{
		"prefect.resource.id":     "prefect.flow-run." + r.ID,
		"prefect.resource.name":   r.Name,
		"prefect.state-name":      st.Name,
		"prefect.state-type":      st.Type,
		"prefect.state-timestamp": fmtTime(st.Timestamp),
	}
	if st.Message != nil {
		resource["prefect.state-message"] = *st.Message
	}
	related := []any{}
	if f := s.st.flows[r.FlowID]; f != nil {
		related = append(related, map[string]any{"prefect.resource.id": "prefect.flow." + f.ID, "prefect.resource.role": "flow", "prefect.resource.name": f.Name})
	}
	if d := s.st.deployments[r.DeploymentID]; d != nil {
		related = append(related, map[string]any{"prefect.resource.id": "prefect.deployment." + d.ID, "prefect.resource.role": "deployment", "prefect.resource.name": d.Name})
	}
	if q := s.st.queues[r.WorkQueueID]; q != nil {
		related = append(related, map[string]any{"prefect.resource.id": "prefect.work-queue." + q.ID, "prefect.resource.role": "work-queue", "prefect.resource.name": q.Name})
		if p := s.poolByID(q.PoolID); p != nil {
			related = append(related, map[string]any{"prefect.resource.id": "prefect.work-pool." + p.ID, "prefect.resource.role": "work-pool", "prefect.resource.name": p.Name, "prefect.work-pool.type": p.Type})
		}
	}
	for _, t := range r.Tags {
		related = append(related, map[string]any{"prefect.resource.id": "prefect.tag." + t, "prefect.resource.role": "tag"})
	}
	payload := map[string]any{"intended": map[string]any{"from": nil, "to": st.Type}, "validated_state": map[string]any{"type": st.Type, "name": st.Name}}
	if prev != nil {
		payload["intended"].(map[string]any)["from"] = prev.Type
		payload["initial_state"] = map[string]any{"type": prev.Type, "name": prev.Name}
	}
	now := fmtTime(s.now())
	ev := map[string]any{
		"id":       s.newID(),
		"occurred": fmtTime(st.Timestamp),
		"event":    "prefect.flow-run." + st.Name,
		"resource": resource,
		"related":  related,
		"payload":  payload,
		"follows":  nil,
		"received": now,
	}
	s.st.emitted = append(s.st.emitted, ev)
	s.hub.publish(ev)
}

// wsAuth does the OSS handshake: the first message must be
// {"type": "auth", "token": ...}, checked against the auth string, since
// header middleware does not see WebSocket routes. Cloud takes the API key
// in the Authorization header instead (checked before the upgrade).
// wsAuth reads the auth message. Prefect Cloud's /events/in takes the key
// from the Authorization header only (its clients send no auth message),
// while /events/out reads the key from the auth message everywhere.
func (s *Server) wsAuth(ctx context.Context, conn *websocket.Conn, headerOnly bool) bool {
	if headerOnly {
		return true
	}
	var msg map[string]any
	if err := readJSON(ctx, conn, &msg); err != nil {
		return false
	}
	if msg["type"] != "auth" {
		s.violate("websocket: first message must be {\"type\": \"auth\", ...}, got %v", msg)
		_ = conn.Close(websocket.StatusPolicyViolation, "Expected 'auth' message") // the client may be gone already
		return false
	}
	token, _ := msg["token"].(string)
	want := s.opts.AuthString
	if s.opts.Cloud {
		want = s.opts.APIKey
	}
	if want != "" && token != want {
		_ = conn.Close(websocket.StatusPolicyViolation, "Invalid token")
		return false
	}
	return writeJSON(ctx, conn, map[string]any{"type": "auth_success"}) == nil
}

func (s *Server) acceptPrefectSocket(w http.ResponseWriter, r *http.Request, requireSubprotocol bool) *websocket.Conn {
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"prefect"}})
	if err != nil {
		return nil
	}
	if requireSubprotocol && conn.Subprotocol() != "prefect" {
		s.violate("%s: websocket without the \"prefect\" subprotocol", r.URL.Path)
		_ = conn.Close(websocket.StatusProtocolError, "")
		return nil
	}
	return conn
}

// socketContext ends with the request or when the server closes.
func (s *Server) socketContext(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	go func() {
		select {
		case <-s.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

func (s *Server) eventsIn(w http.ResponseWriter, r *http.Request, _ map[string]string) {
	// Prefect Cloud's events client connects with the API key header and
	// no subprotocol or auth message.
	conn := s.acceptPrefectSocket(w, r, !s.opts.Cloud)
	if conn == nil {
		return
	}
	defer conn.CloseNow()
	ctx, cancel := s.socketContext(r)
	defer cancel()
	if !s.wsAuth(ctx, conn, s.opts.Cloud) {
		return
	}
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			return
		}
		var ev any
		if err := decodeJSON(data, &ev); err != nil {
			s.violate("/events/in: message is not JSON: %v", err)
			continue
		}
		if _, line := s.contract.validate("Event", ev); line != "" {
			s.violate("/events/in: event does not match Event: %s", line)
			continue
		}
		s.mu.Lock()
		s.recordEvent(plain(ev).(map[string]any))
		s.mu.Unlock()
	}
}

func (s *Server) eventsOut(w http.ResponseWriter, r *http.Request, _ map[string]string) {
	conn := s.acceptPrefectSocket(w, r, true)
	if conn == nil {
		return
	}
	defer conn.CloseNow()
	ctx, cancel := s.socketContext(r)
	defer cancel()
	if !s.wsAuth(ctx, conn, false) {
		return
	}
	var msg map[string]any
	if err := readJSON(ctx, conn, &msg); err != nil {
		return
	}
	filter, _ := msg["filter"].(map[string]any)
	if msg["type"] != "filter" {
		s.violate("/events/out: expected a {\"type\": \"filter\"} message, got %v", msg["type"])
		_ = conn.Close(websocket.StatusPolicyViolation, "Expected 'filter' message")
		return
	}
	if _, line := s.contract.validate("EventFilter", filter); line != "" {
		s.violate("/events/out: filter does not match EventFilter: %s", line)
		_ = conn.Close(websocket.StatusPolicyViolation, "Invalid filter")
		return
	}
	filter, _ = plain(filter).(map[string]any)
	sub := &subscriber{filter: filter, ch: make(chan map[string]any, 4096)}
	s.mu.Lock()
	backfill := s.matchingEvents(filter)
	ok := s.hub.add(sub)
	s.mu.Unlock()
	if !ok {
		return
	}
	defer s.hub.remove(sub)
	// The reader notices the client closing; messages after the filter
	// mean nothing to Prefect either.
	go func() {
		for {
			if _, _, err := conn.Read(ctx); err != nil {
				cancel()
				return
			}
		}
	}()
	for _, ev := range backfill {
		if writeJSON(ctx, conn, map[string]any{"type": "event", "event": ev}) != nil {
			return
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-sub.ch:
			if !ok {
				_ = conn.Close(websocket.StatusGoingAway, "server closing")
				return
			}
			if writeJSON(ctx, conn, map[string]any{"type": "event", "event": ev}) != nil {
				return
			}
		}
	}
}

// matchingEvents are the stored events (sent and emitted) a new
// subscriber is backfilled with, oldest first; the caller holds s.mu.
func (s *Server) matchingEvents(filter map[string]any) []map[string]any {
	var out []map[string]any
	for _, list := range [][]map[string]any{s.st.events, s.st.emitted} {
		for _, ev := range list {
			if eventMatches(filter, ev) {
				out = append(out, ev)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, _ := out[i]["occurred"].(string)
		b, _ := out[j]["occurred"].(string)
		ta, _ := parseTime(a)
		tb, _ := parseTime(b)
		return ta.Before(tb)
	})
	return out
}

// eventMatches implements the parts of EventFilter a worker or engine
// uses: occurred window, event names and prefixes, resource and
// any_resource ids and id prefixes, and event ids.
func eventMatches(f map[string]any, ev map[string]any) bool {
	if f == nil {
		return true
	}
	occurred, _ := ev["occurred"].(string)
	t, _ := parseTime(occurred)
	if o, ok := f["occurred"].(map[string]any); ok {
		if since, ok := o["since"].(string); ok {
			if st, err := parseTime(since); err == nil && t.Before(st) {
				return false
			}
		}
		if until, ok := o["until"].(string); ok {
			if ut, err := parseTime(until); err == nil && t.After(ut) {
				return false
			}
		}
	}
	name, _ := ev["event"].(string)
	if n, ok := f["event"].(map[string]any); ok {
		if l := stringsOf(n["name"]); n["name"] != nil && !slices.Contains(l, name) {
			return false
		}
		if l := stringsOf(n["exclude_name"]); slices.Contains(l, name) {
			return false
		}
		if l := stringsOf(n["prefix"]); n["prefix"] != nil && !slices.ContainsFunc(l, func(p string) bool { return strings.HasPrefix(name, p) }) {
			return false
		}
		if l := stringsOf(n["exclude_prefix"]); slices.ContainsFunc(l, func(p string) bool { return strings.HasPrefix(name, p) }) {
			return false
		}
	}
	if idf, ok := f["id"].(map[string]any); ok && idf["id"] != nil {
		id, _ := ev["id"].(string)
		if !slices.Contains(strList(idf["id"]), id) {
			return false
		}
	}
	resourceID := func(v any) string {
		m, _ := v.(map[string]any)
		id, _ := m["prefect.resource.id"].(string)
		return id
	}
	mainID := resourceID(ev["resource"])
	if rf, ok := f["resource"].(map[string]any); ok && !resourceMatches(rf, []string{mainID}) {
		return false
	}
	all := []string{mainID}
	rel, _ := ev["related"].([]any)
	for _, r := range rel {
		all = append(all, resourceID(r))
	}
	switch ar := f["any_resource"].(type) {
	case map[string]any:
		if !resourceMatches(ar, all) {
			return false
		}
	case []any:
		for _, e := range ar {
			if m, ok := e.(map[string]any); ok && !resourceMatches(m, all) {
				return false
			}
		}
	}
	return true
}

func resourceMatches(f map[string]any, ids []string) bool {
	if f["id"] != nil {
		want := stringsOf(f["id"])
		if !slices.ContainsFunc(ids, func(id string) bool { return slices.Contains(want, id) }) {
			return false
		}
	}
	if f["id_prefix"] != nil {
		want := stringsOf(f["id_prefix"])
		if !slices.ContainsFunc(ids, func(id string) bool {
			return slices.ContainsFunc(want, func(p string) bool { return strings.HasPrefix(id, p) })
		}) {
			return false
		}
	}
	return true
}

func readJSON(ctx context.Context, conn *websocket.Conn, v any) error {
	_, data, err := conn.Read(ctx)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

func writeJSON(ctx context.Context, conn *websocket.Conn, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return conn.Write(wctx, websocket.MessageText, b)
}
