package prefectevents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/prefectapi"
	"github.com/ecsworker/ecsworker/internal/prefecterr"
)

// Prefect's event WebSockets, as its Python clients use them:
//
//   - /events/out streams the events matching a filter. The client offers
//     the "prefect" subprotocol, sends {"type": "auth", "token": ...} (the
//     API key on Prefect Cloud, else PREFECT_API_AUTH_STRING or null),
//     waits for {"type": "auth_success"}, sends {"type": "filter",
//     "filter": <EventFilter>} and then reads {"type": "event", "event":
//     {...}} messages.
//   - /events/in takes one JSON event per message. A self-hosted server
//     gets the "prefect" subprotocol and the same auth message first;
//     Prefect Cloud neither (its API key goes in the Authorization header).
//
// Every upgrade request also carries the client's usual headers
// (Authorization, X-Prefect-Api-Version, custom headers, User-Agent), so
// that proxies which check credentials before the upgrade let it through.

// Errors of the event streams, for errors.Is.
var (
	// ErrEventsUnavailable: the server has no events WebSocket (the upgrade
	// was answered 403, 404, 405, 410, 426, 501 or without upgrading, as
	// by a proxy that does not pass WebSockets). Poll instead; retrying
	// soon will not help.
	ErrEventsUnavailable = errors.New("the Prefect server offers no events WebSocket")
	// ErrEventStreamClosed: a subscription ended, because the server closed
	// it, the connection was lost or Close was called. Subscribe again
	// (EventSubscription.Reconnect) to go on.
	ErrEventStreamClosed = errors.New("the Prefect events stream is closed")
)

const (
	eventsSubprotocol = "prefect"
	// eventsReadLimit bounds one message; Prefect refuses events over
	// 1.5 MB (PREFECT_EVENTS_MAXIMUM_SIZE_BYTES).
	eventsReadLimit = 8 << 20
	// eventsPingInterval is how often an idle subscription checks that the
	// server is still there; a half-open connection would otherwise keep
	// a worker waiting for events forever.
	eventsPingInterval = 20 * time.Second
	// socketCloseWait bounds the WebSocket close handshake.
	socketCloseWait = 2 * time.Second
	// eventsSeenMax bounds the event ids a subscription remembers to drop
	// repeats (backfill after a reconnection).
	eventsSeenMax = 10000
	// defaultEventsBackfill is how far back a subscription starts when the
	// filter sets no Since: Prefect's subscribers use one minute.
	defaultEventsBackfill = time.Minute
)

// Paths of the event WebSockets, relative to the API URL.
const (
	eventsInPath  = "/events/in"
	eventsOutPath = "/events/out"
)

// EventFilter selects the events of a subscription. It is sent as
// Prefect's EventFilter and also checked on every event received, since
// Prefect servers apply Related only to the backfill, not to the live
// stream. Empty fields do not filter.
type EventFilter struct {
	// Names are exact event names, e.g. "prefect.flow-run.Cancelling".
	Names []string
	// Prefixes are event name prefixes, e.g. "prefect.flow-run.".
	Prefixes        []string
	ExcludeNames    []string
	ExcludePrefixes []string

	// ResourceIDs and ResourceIDPrefixes match the primary resource, e.g.
	// "prefect.flow-run.<id>".
	ResourceIDs        []string
	ResourceIDPrefixes []string
	// AnyResourceIDs and AnyResourceIDPrefixes match when the primary
	// resource or one related resource has the id, e.g. the work pool
	// "prefect.work-pool.<id>" (how Prefect's worker watches its pool).
	AnyResourceIDs        []string
	AnyResourceIDPrefixes []string
	// RelatedIDs and RelatedRoles match when one related resource has one
	// of the ids and one of the roles (e.g. "work-pool", "deployment").
	RelatedIDs   []string
	RelatedRoles []string

	// Since is the earliest occurred time; zero means one minute before
	// subscribing, as Prefect's subscribers do. The server replays
	// (backfills) the stored events from Since before streaming new ones.
	Since time.Time
	// Until is the latest occurred time; zero means a year after
	// subscribing.
	Until time.Time
}

// Matches reports whether ev passes the filter, with the semantics of
// Prefect's server-side filter.
func (f EventFilter) Matches(ev Event) bool {
	if !f.Since.IsZero() && ev.Occurred.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && ev.Occurred.After(f.Until) {
		return false
	}
	if len(f.Prefixes) > 0 && !hasAnyPrefix(ev.Event, f.Prefixes) {
		return false
	}
	if len(f.ExcludePrefixes) > 0 && hasAnyPrefix(ev.Event, f.ExcludePrefixes) {
		return false
	}
	if len(f.Names) > 0 && !slices.Contains(f.Names, ev.Event) {
		return false
	}
	if slices.Contains(f.ExcludeNames, ev.Event) {
		return false
	}
	primary := ev.Resource[LabelResourceID]
	if !idMatches(primary, f.ResourceIDs, f.ResourceIDPrefixes) {
		return false
	}
	if len(f.AnyResourceIDs) > 0 || len(f.AnyResourceIDPrefixes) > 0 {
		found := idMatches(primary, f.AnyResourceIDs, f.AnyResourceIDPrefixes)
		for _, r := range ev.Related {
			found = found || idMatches(r[LabelResourceID], f.AnyResourceIDs, f.AnyResourceIDPrefixes)
		}
		if !found {
			return false
		}
	}
	if len(f.RelatedIDs) > 0 || len(f.RelatedRoles) > 0 {
		found := false
		for _, r := range ev.Related {
			id, role := r[LabelResourceID], r[LabelResourceRole]
			if (len(f.RelatedIDs) == 0 || slices.Contains(f.RelatedIDs, id)) &&
				(len(f.RelatedRoles) == 0 && role != "" || slices.Contains(f.RelatedRoles, role)) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func hasAnyPrefix(s string, prefixes []string) bool {
	return slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(s, p) })
}

// idMatches is one resource against an id filter: both lists, when set,
// must match the same resource.
func idMatches(id string, ids, prefixes []string) bool {
	return (len(ids) == 0 || slices.Contains(ids, id)) && (len(prefixes) == 0 || hasAnyPrefix(id, prefixes))
}

// Prefect's EventFilter on the wire; absent parts do not filter.
type wireEventFilter struct {
	Occurred    wireOccurredFilter    `json:"occurred"`
	Event       *wireEventNameFilter  `json:"event,omitempty"`
	Resource    *wireResourceIDFilter `json:"resource,omitempty"`
	Related     *wireRelatedFilter    `json:"related,omitempty"`
	AnyResource *wireResourceIDFilter `json:"any_resource,omitempty"`
}

type wireOccurredFilter struct {
	Since string `json:"since"`
	Until string `json:"until"`
}

type wireEventNameFilter struct {
	Prefix        []string `json:"prefix,omitempty"`
	ExcludePrefix []string `json:"exclude_prefix,omitempty"`
	Name          []string `json:"name,omitempty"`
	ExcludeName   []string `json:"exclude_name,omitempty"`
}

type wireResourceIDFilter struct {
	ID       []string `json:"id,omitempty"`
	IDPrefix []string `json:"id_prefix,omitempty"`
}

type wireRelatedFilter struct {
	ID   []string `json:"id,omitempty"`
	Role []string `json:"role,omitempty"`
}

// wire gives the filter as sent; Since and Until must be set.
func (f EventFilter) wire() wireEventFilter {
	w := wireEventFilter{Occurred: wireOccurredFilter{Since: prefectapi.FormatTime(f.Since), Until: prefectapi.FormatTime(f.Until)}}
	if len(f.Names)+len(f.Prefixes)+len(f.ExcludeNames)+len(f.ExcludePrefixes) > 0 {
		w.Event = &wireEventNameFilter{Prefix: f.Prefixes, ExcludePrefix: f.ExcludePrefixes, Name: f.Names, ExcludeName: f.ExcludeNames}
	}
	if len(f.ResourceIDs)+len(f.ResourceIDPrefixes) > 0 {
		w.Resource = &wireResourceIDFilter{ID: f.ResourceIDs, IDPrefix: f.ResourceIDPrefixes}
	}
	if len(f.RelatedIDs)+len(f.RelatedRoles) > 0 {
		w.Related = &wireRelatedFilter{ID: f.RelatedIDs, Role: f.RelatedRoles}
	}
	if len(f.AnyResourceIDs)+len(f.AnyResourceIDPrefixes) > 0 {
		w.AnyResource = &wireResourceIDFilter{ID: f.AnyResourceIDs, IDPrefix: f.AnyResourceIDPrefixes}
	}
	return w
}

// EventSubscription is an open /events/out stream. Next may be called
// from one goroutine at a time; Close from any.
type EventSubscription struct {
	c      Events
	conn   *websocket.Conn
	filter EventFilter // Since and Until filled in
	asked  EventFilter // as the caller gave it
	seen   *seenIDs

	events chan Event
	done   chan struct{} // closed when the reader stops
	closed chan struct{} // closed by Close
	err    error         // why it stopped; set before done is closed
	cancel context.CancelFunc

	delivering atomic.Bool // the reader waits for Next to take an event

	mu         sync.Mutex
	last       time.Time // occurred of the newest event Next returned
	closeOnce  sync.Once
	closedByUs bool
	noPong     bool // keepAlive dropped the connection
}

// SubscribeEvents opens Prefect's event stream (/events/out) for the
// events matching filter: stored events from filter.Since first (oldest
// first), then new ones as they happen. Reconnecting after the stream ends
// is the caller's job (see Reconnect). A server without the stream gives
// an error matching ErrEventsUnavailable; refused credentials one
// matching prefecterr.ErrUnauthorized.
func (c Events) SubscribeEvents(ctx context.Context, filter EventFilter) (*EventSubscription, error) {
	return c.subscribe(ctx, filter, newSeenIDs())
}

func (c Events) subscribe(ctx context.Context, asked EventFilter, seen *seenIDs) (*EventSubscription, error) {
	cl := prefectapi.Call{Op: "subscribe to Prefect events", Method: http.MethodGet, Path: eventsOutPath}
	now := c.t.Now()
	f := asked
	if f.Since.IsZero() {
		f.Since = now.Add(-defaultEventsBackfill)
	}
	if f.Until.IsZero() {
		f.Until = now.AddDate(1, 0, 0)
	}
	hctx, cancel := context.WithTimeout(ctx, c.t.Config().Timeout)
	defer cancel()
	conn, err := c.dialEvents(ctx, hctx, cl)
	if err != nil {
		return nil, err
	}
	msg, err := prefectapi.MarshalBody(map[string]any{"type": "filter", "filter": f.wire()})
	if err == nil {
		err = conn.Write(hctx, websocket.MessageText, msg)
	}
	if err != nil {
		conn.CloseNow()
		return nil, c.t.TransportErrorFor(cl, fmt.Errorf("send the filter: %w", err), c.t.TimedOut(ctx, hctx))
	}
	rctx, rcancel := context.WithCancel(context.Background())
	s := &EventSubscription{c: c, conn: conn, filter: f, asked: asked, seen: seen,
		events: make(chan Event, 64), done: make(chan struct{}), closed: make(chan struct{}), cancel: rcancel}
	go s.read(rctx)
	go s.keepAlive(rctx)
	return s, nil
}

// Next returns the next matching event. It returns ctx.Err() when ctx
// ends first (the subscription stays usable), and an error matching
// ErrEventStreamClosed once the stream has ended.
func (s *EventSubscription) Next(ctx context.Context) (Event, error) {
	for {
		select {
		case <-s.closed:
			return Event{}, fmt.Errorf("events subscription closed: %w", ErrEventStreamClosed)
		default:
		}
		select {
		case <-s.closed:
			return Event{}, fmt.Errorf("events subscription closed: %w", ErrEventStreamClosed)
		case ev, ok := <-s.events:
			if !ok {
				return Event{}, s.err
			}
			// Marked seen only once taken: an event left in the buffer
			// when the stream ends is replayed after Reconnect.
			if !s.seen.add(ev.ID) {
				continue
			}
			s.mu.Lock()
			if ev.Occurred.After(s.last) {
				s.last = ev.Occurred
			}
			s.mu.Unlock()
			return ev, nil
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

// Close ends the subscription; Next then returns ErrEventStreamClosed,
// dropping events not taken yet (Reconnect replays them).
func (s *EventSubscription) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closedByUs = true
		s.mu.Unlock()
		close(s.closed)
		closeSocket(context.Background(), s.conn, socketCloseWait)
		s.cancel()
	})
	<-s.done
	return nil
}

// ResumeFilter is the filter to subscribe with again after this stream
// ended: as given, but starting one minute before the newest event
// received (the margin Prefect's subscribers replay).
func (s *EventSubscription) ResumeFilter() EventFilter {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.asked
	f.Since = s.filter.Since
	if !s.last.IsZero() {
		if replay := s.last.Add(-defaultEventsBackfill); replay.After(f.Since) {
			f.Since = replay
		}
	}
	return f
}

// Reconnect closes this subscription and opens a new one with
// ResumeFilter. Events this subscription delivered are not delivered
// again.
func (s *EventSubscription) Reconnect(ctx context.Context) (*EventSubscription, error) {
	_ = s.Close()
	return s.c.subscribe(ctx, s.ResumeFilter(), s.seen)
}

// read turns messages into events until the stream ends.
func (s *EventSubscription) read(ctx context.Context) {
	defer close(s.done)
	defer close(s.events)
	for {
		_, data, err := s.conn.Read(ctx)
		if err != nil {
			s.mu.Lock()
			byUs, noPong := s.closedByUs, s.noPong
			s.mu.Unlock()
			s.err = streamEnded(err, byUs)
			if noPong && !byUs {
				s.err = fmt.Errorf("the Prefect events stream stopped answering pings within %s: %w", s.c.t.Config().Timeout, ErrEventStreamClosed)
			}
			return
		}
		var msg struct {
			Type  string          `json:"type"`
			Event json.RawMessage `json:"event"`
		}
		if err := json.Unmarshal(data, &msg); err != nil || len(msg.Event) == 0 || string(msg.Event) == "null" {
			s.c.t.Logger().Debug("ignoring a message of the Prefect events stream that holds no event", "type", msg.Type)
			continue
		}
		ev, err := decodeEvent(msg.Event)
		if err != nil {
			s.c.t.Logger().Warn("ignoring an event of the Prefect events stream that is not a valid event", "error", err.Error())
			continue
		}
		if !s.filter.Matches(ev) || s.seen.has(ev.ID) {
			continue
		}
		s.delivering.Store(true)
		select {
		case s.events <- ev:
			s.delivering.Store(false)
		case <-ctx.Done():
			s.err = fmt.Errorf("events subscription closed: %w", ErrEventStreamClosed)
			return
		}
	}
}

func streamEnded(err error, byUs bool) error {
	if byUs {
		return fmt.Errorf("events subscription closed: %w", ErrEventStreamClosed)
	}
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		reason := ""
		if ce.Reason != "" {
			reason = ": " + ce.Reason
		}
		return fmt.Errorf("the Prefect server closed the events stream (%d %s%s): %w", int(ce.Code), ce.Code, reason, ErrEventStreamClosed)
	}
	return fmt.Errorf("the Prefect events stream was lost (%v): %w", err, ErrEventStreamClosed) //nolint:errorlint // callers classify by the sentinel alone; the cause is detail for the message
}

// keepAlive pings the server while ctx lasts and drops the connection
// when a pong does not come back in time. Pongs are read by the reader, so
// there is no ping while the reader waits for Next to take an event.
func (s *EventSubscription) keepAlive(ctx context.Context) {
	t := time.NewTicker(eventsPingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if s.delivering.Load() {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, s.c.t.Config().Timeout)
		err := s.conn.Ping(pctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				s.mu.Lock()
				s.noPong = true
				s.mu.Unlock()
				s.conn.CloseNow()
			}
			return
		}
	}
}

// closeSocket closes conn with a close handshake of at most wait, or
// until ctx ends.
func closeSocket(ctx context.Context, conn *websocket.Conn, wait time.Duration) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = conn.Close(websocket.StatusNormalClosure, "")
	}()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		_ = conn.CloseNow()
	case <-ctx.Done():
		_ = conn.CloseNow()
	}
}

// wireEventIn is an event as the server sends it.
type wireEventIn struct {
	ID       string              `json:"id"`
	Occurred string              `json:"occurred"`
	Event    string              `json:"event"`
	Resource map[string]string   `json:"resource"`
	Related  []map[string]string `json:"related"`
	Payload  json.RawMessage     `json:"payload"`
	Follows  *string             `json:"follows"`
}

func decodeEvent(data []byte) (Event, error) {
	var w wireEventIn
	if err := json.Unmarshal(data, &w); err != nil {
		return Event{}, err
	}
	if w.ID == "" || w.Event == "" {
		return Event{}, errors.New("the event has no id or name")
	}
	occurred, err := prefectapi.ParseTime(w.Occurred)
	if err != nil {
		return Event{}, err
	}
	ev := Event{ID: w.ID, Occurred: occurred, Event: w.Event, Resource: w.Resource, Related: w.Related}
	if ev.Resource == nil {
		ev.Resource = map[string]string{}
	}
	if w.Follows != nil {
		ev.Follows = *w.Follows
	}
	if len(w.Payload) > 0 && string(w.Payload) != "null" {
		p, err := jsonv.DecodeObject(w.Payload)
		if err != nil {
			return Event{}, fmt.Errorf("payload: %w", err)
		}
		ev.Payload = p
	}
	return ev, nil
}

// wireEventOut is an event as sent, filling in the id and the time.
func (c Events) wireEventOut(e Event) eventBody {
	if e.ID == "" {
		e.ID = prefectapi.NewUUID()
	}
	if e.Occurred.IsZero() {
		e.Occurred = c.t.Now()
	}
	if e.Resource == nil {
		e.Resource = map[string]string{}
	}
	return eventBody{ID: e.ID, Occurred: prefectapi.FormatTime(e.Occurred), Event: e.Event, Resource: e.Resource,
		Related: e.Related, Payload: e.Payload, Follows: e.Follows}
}

// seenIDs remembers the latest event ids, to drop repeats.
type seenIDs struct {
	mu    sync.Mutex
	set   map[string]struct{}
	order []string
}

func newSeenIDs() *seenIDs { return &seenIDs{set: map[string]struct{}{}} }

func (s *seenIDs) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.set[id]
	return ok
}

// add reports whether id is new.
func (s *seenIDs) add(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.set[id]; ok {
		return false
	}
	if len(s.order) >= eventsSeenMax {
		delete(s.set, s.order[0])
		s.order = s.order[1:]
	}
	s.set[id] = struct{}{}
	s.order = append(s.order, id)
	return true
}

// dialEvents opens an event WebSocket and authenticates. hctx bounds the
// handshake; ctx is the caller's, to tell its end from a timeout.
func (c Events) dialEvents(ctx, hctx context.Context, cl prefectapi.Call) (*websocket.Conn, error) {
	req, err := http.NewRequest(http.MethodGet, c.t.BaseURL()+cl.Path, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: build the request: %s", cl.Op, c.t.Redact(err.Error()))
	}
	c.t.SetHeaders(req)
	opts := &websocket.DialOptions{HTTPClient: c.t.HTTPClient(), HTTPHeader: req.Header}
	// Prefect Cloud's /events/in takes the API key from the header and
	// no subprotocol; everything else speaks the "prefect" subprotocol.
	cloudIn := c.t.IsCloud() && cl.Path == eventsInPath
	if !cloudIn {
		opts.Subprotocols = []string{eventsSubprotocol}
	}
	conn, resp, err := websocket.Dial(hctx, wsURL(c.t.BaseURL())+cl.Path, opts)
	if err != nil {
		return nil, c.dialError(ctx, hctx, cl, resp, err)
	}
	conn.SetReadLimit(eventsReadLimit)
	// /events/out always starts with the auth message (Prefect Cloud
	// included). On /events/in a server that did not take the subprotocol
	// is an old one that reads events straight away.
	if cl.Path == eventsOutPath || (!cloudIn && conn.Subprotocol() == eventsSubprotocol) {
		if err := c.eventsAuth(ctx, hctx, cl, conn); err != nil {
			conn.CloseNow()
			return nil, err
		}
	}
	return conn, nil
}

func wsURL(base string) string {
	switch {
	case strings.HasPrefix(base, "https://"):
		return "wss://" + strings.TrimPrefix(base, "https://")
	case strings.HasPrefix(base, "http://"):
		return "ws://" + strings.TrimPrefix(base, "http://")
	}
	return base
}

// eventsUnavailableStatus lists the answers to an upgrade that mean "no
// such stream here" rather than "try again later".
func eventsUnavailableStatus(status int) bool {
	switch status {
	case http.StatusForbidden, http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusGone,
		http.StatusUpgradeRequired, http.StatusNotImplemented:
		return true
	}
	return status < 400
}

func (c Events) dialError(ctx, hctx context.Context, cl prefectapi.Call, resp *http.Response, err error) error {
	var re *prefectapi.RedirectError
	if errors.As(err, &re) {
		// Refused like any redirect to another origin; as a stream that is
		// not there, so that events fall back to POST /events, whose own
		// error then tells the user what to configure.
		return &eventsUnavailableError{err: c.t.RedirectErrorFor(cl, re)}
	}
	if resp == nil {
		return c.t.TransportErrorFor(cl, err, c.t.TimedOut(ctx, hctx))
	}
	var body []byte
	if resp.Body != nil {
		body, _ = io.ReadAll(io.LimitReader(resp.Body, 1024))
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// Upgraded, but not to what was asked (another subprotocol).
		return &eventsUnavailableError{err: fmt.Errorf("%s: GET %s: the upgrade does not fit Prefect's events protocol: %s",
			cl.Op, cl.Path, c.t.Redact(err.Error()))}
	}
	apiErr := c.t.APIErrorFor(cl, &prefectapi.Response{Status: resp.StatusCode, Header: resp.Header, Body: body})
	if eventsUnavailableStatus(resp.StatusCode) {
		return &eventsUnavailableError{err: apiErr}
	}
	return apiErr
}

// eventsUnavailableError matches ErrEventsUnavailable and unwraps to the
// server's answer.
type eventsUnavailableError struct{ err error }

func (e *eventsUnavailableError) Error() string {
	var re *prefectapi.RedirectError
	if errors.As(e.err, &re) {
		return e.err.Error() // says what happened already
	}
	return e.err.Error() + " (the server offers no events WebSocket here)"
}
func (e *eventsUnavailableError) Unwrap() error        { return e.err }
func (e *eventsUnavailableError) Is(target error) bool { return target == ErrEventsUnavailable }

// eventsToken is the token of the auth message: Prefect's subscribers send
// the API key to Cloud and the auth string (or null) elsewhere.
func (c Events) eventsToken() any {
	switch {
	case c.t.IsCloud() && c.t.Config().APIKey != "":
		return c.t.Config().APIKey
	case c.t.Config().AuthString != "":
		return c.t.Config().AuthString
	}
	return nil
}

func (c Events) eventsAuth(ctx, hctx context.Context, cl prefectapi.Call, conn *websocket.Conn) error {
	msg, err := prefectapi.MarshalBody(map[string]any{"type": "auth", "token": c.eventsToken()})
	if err == nil {
		err = conn.Write(hctx, websocket.MessageText, msg)
	}
	var data []byte
	if err == nil {
		_, data, err = conn.Read(hctx)
	}
	if err != nil {
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			if ce.Code == websocket.StatusPolicyViolation {
				return c.eventsAuthRefused(cl, ce.Reason)
			}
			return fmt.Errorf("%s: GET %s: the server closed the connection during the handshake (%d %s: %s)",
				cl.Op, cl.Path, int(ce.Code), ce.Code, c.t.Redact(ce.Reason))
		}
		return c.t.TransportErrorFor(cl, fmt.Errorf("authenticate: %w", err), c.t.TimedOut(ctx, hctx))
	}
	var reply struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(data, &reply); err != nil {
		return fmt.Errorf("%s: GET %s: the answer to the auth message is not JSON (%v): %w", cl.Op, cl.Path, err, prefecterr.ErrInvalidResponse) //nolint:errorlint // callers classify by the sentinel alone; the cause is detail for the message
	}
	if reply.Type != "auth_success" {
		reason := reply.Reason
		if reason == "" {
			reason = "answered " + prefecterr.Truncate(c.t.Redact(string(data)), 100)
		}
		return c.eventsAuthRefused(cl, reason)
	}
	return nil
}

// eventsAuthRefused is the server refusing the token of the auth message;
// it matches prefecterr.ErrUnauthorized, as a 401 would.
func (c Events) eventsAuthRefused(cl prefectapi.Call, reason string) error {
	msg := fmt.Sprintf("%s: GET %s: the server refused the credentials of the auth message", cl.Op, cl.Path)
	if reason != "" {
		msg += " (" + c.t.Redact(reason) + ")"
	}
	if hint := c.t.APIErrorFor(cl, &prefectapi.Response{Status: http.StatusUnauthorized}).Hint; hint != "" {
		msg += "; " + strings.TrimPrefix(hint, "the server refused the credentials: ")
	}
	return &eventsAuthError{msg: msg}
}

type eventsAuthError struct{ msg string }

func (e *eventsAuthError) Error() string        { return e.msg }
func (e *eventsAuthError) Is(target error) bool { return target == prefecterr.ErrUnauthorized }
