package prefectevents

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/ecsworker/ecsworker/internal/prefectapi"
	"github.com/ecsworker/ecsworker/internal/prefecterr"
)

// ErrEmitterClosed is returned by Emit after Close.
var ErrEmitterClosed = errors.New("the event emitter is closed")

// Defaults of an EventEmitter.
const (
	DefaultEventBuffer       = 1000
	DefaultEventFlushTimeout = 5 * time.Second
)

const (
	// emitBatch bounds the events of one POST /events.
	emitBatch = 100
	// emitCheckpoint is how many events may be written to the socket
	// before a ping confirms the server has read them (Prefect's client
	// checkpoints every 700).
	emitCheckpoint = 500
	// emitSocketRetry is how long the emitter posts events after the
	// socket failed before it tries the socket again.
	emitSocketRetry = 30 * time.Second
)

// EventTransport says how an EventEmitter delivers events.
type EventTransport string

// The transports, in the order an emitter prefers them: it falls back to
// the next one when the server lacks the previous.
const (
	EventTransportWebSocket EventTransport = "websocket" // /events/in
	EventTransportHTTP      EventTransport = "http"      // POST /events
	EventTransportNone      EventTransport = "none"      // the server takes no events: they are dropped
)

// EventEmitterStats counts what an EventEmitter did with the events it
// was given.
type EventEmitterStats struct {
	Transport EventTransport
	// SentWebSocket counts events the server confirmed reading from the
	// socket; SentHTTP events it accepted with POST /events.
	SentWebSocket int64
	SentHTTP      int64
	// Dropped counts events given up: buffer full, server without events,
	// refused or failed requests, or not sent when Close gave up.
	Dropped int64
}

// EventEmitterOption configures an EventEmitter.
type EventEmitterOption func(*emitterConfig)

type emitterConfig struct {
	buffer int
	flush  time.Duration
}

// WithEventBuffer sets how many events may wait to be sent; Emit drops
// (and counts) events beyond it. Default DefaultEventBuffer.
func WithEventBuffer(n int) EventEmitterOption {
	return func(c *emitterConfig) {
		if n > 0 {
			c.buffer = n
		}
	}
}

// WithEventFlushTimeout bounds how long Close waits for buffered events
// to be sent. Default DefaultEventFlushTimeout.
func WithEventFlushTimeout(d time.Duration) EventEmitterOption {
	return func(c *emitterConfig) {
		if d > 0 {
			c.flush = d
		}
	}
}

// EventEmitter sends events in the background, over Prefect's /events/in
// WebSocket like the Python client, else with POST /events. Events are
// optional to Prefect: the emitter never blocks its caller and never
// fails because the server takes no events; it counts what it drops.
type EventEmitter struct {
	c     Events
	flush time.Duration

	mu     sync.Mutex
	closed bool
	queue  chan Event
	full   bool // a drop for a full buffer was logged

	ctx    context.Context // ends when Close gives up waiting
	cancel context.CancelFunc
	done   chan struct{}

	transport atomic.Value // EventTransport
	sentWS    atomic.Int64
	sentHTTP  atomic.Int64
	dropped   atomic.Int64

	// Owned by the sending goroutine.
	conn        *websocket.Conn
	unconfirmed []Event
	socketGone  bool // the server has no socket: never retry it
	httpGone    bool // the server has no POST /events
	nextSocket  time.Time
	postFailing bool
}

// NewEventEmitter starts an emitter. It connects to /events/in first
// (within ctx and the request timeout); a server without the socket makes
// it post events instead, and a server without events at all makes Emit
// drop them. It returns an error only when ctx ends or the server refuses
// the credentials.
func (c Events) NewEventEmitter(ctx context.Context, opts ...EventEmitterOption) (*EventEmitter, error) {
	cfg := emitterConfig{buffer: DefaultEventBuffer, flush: DefaultEventFlushTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	e := &EventEmitter{c: c, flush: cfg.flush, queue: make(chan Event, cfg.buffer), done: make(chan struct{})}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	if err := e.connect(ctx); err != nil {
		e.cancel()
		return nil, err
	}
	go e.run()
	return e, nil
}

// connect opens the socket, or picks the fallback.
func (e *EventEmitter) connect(ctx context.Context) error {
	cl := prefectapi.Call{Op: "open the Prefect events socket", Method: http.MethodGet, Path: eventsInPath}
	hctx, cancel := context.WithTimeout(ctx, e.c.t.Config().Timeout)
	defer cancel()
	conn, err := e.c.dialEvents(ctx, hctx, cl)
	switch {
	case err == nil:
		e.conn = conn
		// Nothing comes back on /events/in, but pongs must be read.
		conn.CloseRead(e.ctx)
		e.setTransport()
		return nil
	case ctx.Err() != nil:
		return err
	case errors.Is(err, prefecterr.ErrUnauthorized):
		return err
	case errors.Is(err, ErrEventsUnavailable):
		e.socketGone = true
		e.c.t.Logger().Debug("the Prefect server has no events socket; sending events with POST /events", "error", err.Error())
	default:
		e.nextSocket = e.c.t.Now().Add(emitSocketRetry)
		e.c.t.Logger().Warn("cannot open the Prefect events socket; sending events with POST /events for now", "error", err.Error())
	}
	e.setTransport()
	return nil
}

func (e *EventEmitter) setTransport() {
	switch {
	case e.conn != nil:
		e.transport.Store(EventTransportWebSocket)
	case !e.httpGone:
		e.transport.Store(EventTransportHTTP)
	case e.socketGone:
		e.transport.Store(EventTransportNone)
	default:
		// POST is gone but the socket may come back: keep queueing.
		e.transport.Store(EventTransportHTTP)
	}
}

// Emit queues ev to be sent, giving it an id and the current time when it
// has none. It does not block: when the buffer is full, or the server
// takes no events, the event is dropped and counted, and Emit returns nil.
// After Close it returns ErrEmitterClosed.
func (e *EventEmitter) Emit(ev Event) error {
	if ev.ID == "" {
		ev.ID = prefectapi.NewUUID()
	}
	if ev.Occurred.IsZero() {
		ev.Occurred = e.c.t.Now()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrEmitterClosed
	}
	if e.transport.Load() == EventTransportNone {
		e.dropped.Add(1)
		return nil
	}
	select {
	case e.queue <- ev:
	default:
		e.dropped.Add(1)
		if !e.full {
			e.full = true
			e.c.t.Logger().Warn("the Prefect event buffer is full; dropping events", "buffer", cap(e.queue))
		}
	}
	return nil
}

// Stats returns the counters so far.
func (e *EventEmitter) Stats() EventEmitterStats {
	t, _ := e.transport.Load().(EventTransport)
	return EventEmitterStats{Transport: t, SentWebSocket: e.sentWS.Load(), SentHTTP: e.sentHTTP.Load(), Dropped: e.dropped.Load()}
}

// Close sends the buffered events, waiting at most the flush timeout
// (WithEventFlushTimeout), and closes the socket. Events still unsent
// then are dropped; the error says how many. Close may be called again.
func (e *EventEmitter) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		<-e.done
		return nil
	}
	e.closed = true
	close(e.queue)
	e.mu.Unlock()
	before := e.dropped.Load()

	t := time.NewTimer(e.flush)
	defer t.Stop()
	gaveUp := false
	select {
	case <-e.done:
	case <-t.C:
		gaveUp = true
		e.cancel()
		<-e.done
	}
	e.cancel()
	left := int64(0)
	for range e.queue {
		left++
	}
	e.dropped.Add(left)
	if lost := e.dropped.Load() - before; gaveUp && lost > 0 {
		return fmt.Errorf("send Prefect events: %d events still unsent after %s were dropped", lost, e.flush)
	}
	return nil
}

// run sends queued events until the queue is closed and empty, or Close
// gives up.
func (e *EventEmitter) run() {
	defer close(e.done)
	defer e.finish()
	for {
		var ev Event
		var ok bool
		select {
		case ev, ok = <-e.queue:
		case <-e.ctx.Done():
			return
		}
		if !ok {
			e.confirm()
			return
		}
		batch := []Event{ev}
		last := false
	fill:
		for len(batch) < emitBatch {
			select {
			case ev, ok := <-e.queue:
				if !ok {
					last = true
					break fill
				}
				batch = append(batch, ev)
			default:
				break fill
			}
		}
		e.send(batch)
		if last || len(e.queue) == 0 || len(e.unconfirmed) >= emitCheckpoint {
			e.confirm()
		}
		if last {
			return
		}
	}
}

func (e *EventEmitter) send(batch []Event) {
	if e.conn == nil && !e.socketGone && !e.c.t.Now().Before(e.nextSocket) {
		e.reconnect()
	}
	if e.conn == nil {
		e.post(batch)
		return
	}
	for i, ev := range batch {
		msg, err := prefectapi.MarshalBody(e.c.wireEventOut(ev))
		if err != nil {
			e.dropped.Add(1)
			e.c.t.Logger().Warn("cannot encode a Prefect event; dropping it", "event", ev.Event, "error", err.Error())
			continue
		}
		wctx, cancel := context.WithTimeout(e.ctx, e.c.t.Config().Timeout)
		err = e.conn.Write(wctx, websocket.MessageText, msg)
		cancel()
		if err != nil {
			e.socketFailed(err, append(e.takeUnconfirmed(), batch[i:]...))
			return
		}
		e.unconfirmed = append(e.unconfirmed, ev)
	}
}

// confirm pings the server: its pong comes after it has read every event
// written before, as in Prefect's client.
func (e *EventEmitter) confirm() {
	if e.conn == nil || len(e.unconfirmed) == 0 {
		return
	}
	pctx, cancel := context.WithTimeout(e.ctx, e.c.t.Config().Timeout)
	err := e.conn.Ping(pctx)
	cancel()
	if err != nil {
		e.socketFailed(err, e.takeUnconfirmed())
		return
	}
	e.sentWS.Add(int64(len(e.unconfirmed)))
	e.unconfirmed = nil
}

func (e *EventEmitter) takeUnconfirmed() []Event {
	evs := e.unconfirmed
	e.unconfirmed = nil
	return evs
}

// socketFailed drops the socket and posts what it may not have delivered
// (the server ignores events it already has, by id).
func (e *EventEmitter) socketFailed(err error, pending []Event) {
	e.conn.CloseNow()
	e.conn = nil
	if e.ctx.Err() != nil {
		e.dropped.Add(int64(len(pending)))
		return
	}
	e.nextSocket = e.c.t.Now().Add(emitSocketRetry)
	e.setTransport()
	e.c.t.Logger().Warn("lost the Prefect events socket; sending events with POST /events for now", "error", err.Error())
	e.post(pending)
}

func (e *EventEmitter) reconnect() {
	cl := prefectapi.Call{Op: "open the Prefect events socket", Method: http.MethodGet, Path: eventsInPath}
	hctx, cancel := context.WithTimeout(e.ctx, e.c.t.Config().Timeout)
	defer cancel()
	conn, err := e.c.dialEvents(e.ctx, hctx, cl)
	if err != nil {
		if errors.Is(err, ErrEventsUnavailable) {
			e.socketGone = true
		}
		e.nextSocket = e.c.t.Now().Add(emitSocketRetry)
		e.setTransport()
		e.c.t.Logger().Debug("cannot reopen the Prefect events socket", "error", err.Error())
		return
	}
	conn.CloseRead(e.ctx)
	e.conn = conn
	e.setTransport()
	e.c.t.Logger().Debug("reopened the Prefect events socket")
}

// post sends events with POST /events, in batches.
func (e *EventEmitter) post(events []Event) {
	for len(events) > 0 {
		n := min(len(events), emitBatch)
		batch := events[:n]
		events = events[n:]
		if e.httpGone {
			e.dropped.Add(int64(n))
			continue
		}
		err := e.c.EmitEvents(e.ctx, batch)
		if err == nil {
			e.sentHTTP.Add(int64(n))
			if e.postFailing {
				e.postFailing = false
				e.c.t.Logger().Info("POST /events works again")
			}
			continue
		}
		e.dropped.Add(int64(n))
		var ae *prefecterr.APIError
		if errors.As(err, &ae) && (ae.Status == http.StatusNotFound || ae.Status == http.StatusMethodNotAllowed) {
			e.httpGone = true
			e.setTransport()
			e.c.t.Logger().Info("the Prefect server takes no events; they are dropped", "error", err.Error())
			continue
		}
		if !e.postFailing && e.ctx.Err() == nil {
			e.postFailing = true
			e.c.t.Logger().Warn("cannot send Prefect events; dropping them", "events", n, "error", err.Error())
		}
	}
}

// finish drops what cannot be sent any more and closes the socket.
func (e *EventEmitter) finish() {
	if e.ctx.Err() != nil {
		e.dropped.Add(int64(len(e.unconfirmed)))
		e.unconfirmed = nil
	}
	if e.conn != nil {
		if e.ctx.Err() != nil {
			e.conn.CloseNow()
		} else {
			closeSocket(e.ctx, e.conn, socketCloseWait)
		}
		e.conn = nil
	}
}
