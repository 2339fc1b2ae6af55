package prefect

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/prefectapi"
	"github.com/ecsworker/ecsworker/internal/prefecterr"
)

// The scheduled-runs answer carries every run with its parameters, which
// are user data of any size: 25 runs with 3.5 MB of parameters each make
// an 86 MB answer. Read whole, such an answer would stop every poll of the
// pool, so it is read as a stream, one run at a time, within these limits.
const (
	// MaxScheduledRunBytes is the largest JSON of one scheduled run that
	// PollScheduledFlowRuns decodes. A larger run is not decoded; it is
	// reported in ScheduledRuns.Unreadable with ErrRunTooLarge so that the
	// worker can crash it with an explanation instead of stalling on it.
	// Prefect accepts parameters of any size, but a run this large is
	// almost always data passed by value that should go by reference.
	MaxScheduledRunBytes = 8 << 20
	// ScheduledRunsByteBudget is how many bytes of runs one poll reads:
	// once the runs read reach it, the rest of the answer is dropped (the
	// runs stay SCHEDULED and come back on the next poll) and the poll
	// asks for fewer runs next time. With MaxScheduledRunBytes it bounds a
	// poll's memory at about 24 MiB of JSON, whatever the server sends.
	ScheduledRunsByteBudget = 16 << 20
	// maxSkippedRunBytes bounds how far the client reads through a run
	// over MaxScheduledRunBytes to find where it ends; past that the poll
	// stops there.
	maxSkippedRunBytes = 64 << 20
)

// ErrRunTooLarge matches the error of a scheduled run whose JSON is over
// MaxScheduledRunBytes.
var ErrRunTooLarge = errors.New("flow run too large to read")

type runLimits struct {
	budget, perRun, skip int64
}

var defaultRunLimits = runLimits{budget: ScheduledRunsByteBudget, perRun: MaxScheduledRunBytes, skip: maxSkippedRunBytes}

// ScheduledRuns is the answer of PollScheduledFlowRuns.
type ScheduledRuns struct {
	// Runs are the runs read, in the order the server wants them
	// submitted.
	Runs []WorkerFlowRun
	// Unreadable are runs the server handed out that could not be read:
	// their JSON is over MaxScheduledRunBytes (Err matches
	// ErrRunTooLarge) or nested deeper than jsonv.MaxDepth (Err matches
	// jsonv.ErrTooDeep). They are SCHEDULED and will come back on every
	// poll until someone moves them on: claim and crash them with Err's
	// message, which says why and what to do.
	Unreadable []UnreadableRun
	// Limit is the limit the poll asked for: less than the one given when
	// recent answers were large.
	Limit int
	// More reports that more runs may be due than were returned: the
	// answer was cut at ScheduledRunsByteBudget, or it held as many runs
	// as asked for. Poll again once these are claimed.
	More bool
}

// UnreadableRun is a scheduled run the client could not decode, with
// whatever could be read of it as it went by.
type UnreadableRun struct {
	WorkPoolID  string
	WorkQueueID string
	// ID is the flow run's id, "" when it could not be read (it was not
	// a short string within the run's JSON).
	ID           string
	Name         string
	DeploymentID string
	FlowID       string
	StateType    StateType
	StateName    string
	// Bytes is the size of the run's JSON, or how much was read of it
	// when the poll gave up on finding its end.
	Bytes int64
	// Err says what is wrong with the run and what to do; it is an
	// *UnreadableRunError.
	Err error
}

// UnreadableRunError explains why a scheduled run could not be read. Its
// message is meant for the run's crash message, seen in the Prefect UI.
type UnreadableRunError struct {
	ID    string
	Bytes int64
	// AtLeast means Bytes is a lower bound: the end of the run was not
	// read.
	AtLeast bool
	// Limit is MaxScheduledRunBytes for a run that is too large, else 0.
	Limit int64
	// Cause is the decoding error of a run that is not too large (nested
	// too deeply).
	Cause error
}

func (e *UnreadableRunError) Error() string {
	id := e.ID
	if id == "" {
		id = "(id unknown)"
	}
	if e.Limit > 0 {
		size := mib(e.Bytes)
		if e.AtLeast {
			size = "at least " + size
		}
		return fmt.Sprintf("flow run %s is %s of JSON, over the %s the ECS worker reads for one flow run, "+
			"so it cannot be submitted; its parameters are most likely too large: shrink them, and pass large data by "+
			"reference (e.g. an S3 URI, or the name of a Prefect block or variable) instead of by value", id, size, mib(e.Limit))
	}
	return fmt.Sprintf("flow run %s cannot be read by the ECS worker (%v), so it cannot be submitted; "+
		"its parameters are most likely nested too deeply: flatten them, or pass the data by reference "+
		"(e.g. an S3 URI) instead of by value", id, e.Cause)
}

// Is makes errors.Is(err, ErrRunTooLarge) true for a run that is too
// large.
func (e *UnreadableRunError) Is(target error) bool { return target == ErrRunTooLarge && e.Limit > 0 }

func (e *UnreadableRunError) Unwrap() error { return e.Cause }

// mib writes a size for people: 8 MiB, 9.2 MiB, 410.0 KiB, 150 bytes.
func mib(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// runSizes remembers the bytes per run of recent answers, per pool, to ask
// for as many runs as fit the byte budget.
type runSizes struct {
	mu     sync.Mutex
	perRun map[string]float64
}

// limit is how many runs to ask for: as many as fit the budget at the
// remembered size, at least 1 and at most asked.
func (r *runSizes) limit(pool string, asked int, budget int64) int {
	r.mu.Lock()
	est := r.perRun[pool]
	r.mu.Unlock()
	if est <= 0 {
		return asked
	}
	return max(1, min(asked, int(float64(budget)/est)))
}

// learn takes an answer into account. A larger size is taken at once, so
// that the next poll fits the budget; a smaller one at most halves the
// estimate per answer, so the limit grows back by doubling rather than
// jumping to the maximum on one answer of small runs.
func (r *runSizes) learn(pool string, runs int, bytes int64, budget int64, maxLimit int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.perRun == nil {
		r.perRun = map[string]float64{}
	}
	est := r.perRun[pool]
	switch {
	case runs > 0 && float64(bytes)/float64(runs) >= est:
		est = float64(bytes) / float64(runs)
	case runs > 0:
		est = max(float64(bytes)/float64(runs), est/2)
	default:
		est /= 2
	}
	if est*float64(maxLimit) <= float64(budget) {
		// The whole page fits: nothing to remember.
		delete(r.perRun, pool)
		return
	}
	r.perRun[pool] = est
}

// PollScheduledFlowRuns returns the pool's runs due before
// scheduledBefore, from the named queues (all queues when none are named),
// in the order the server wants them submitted
// (POST /work_pools/{pool}/get_scheduled_flow_runs). The runs' State is
// null in this answer: use StateType and StateName. A zero limit means the
// server's maximum (200).
//
// The endpoint has no offset: runs not returned (or not claimed) come back
// on the next poll. So the poll asks for as many runs as fit
// ScheduledRunsByteBudget at the size of recent answers, reads the answer
// one run at a time, stops reading at the budget, and reports runs over
// MaxScheduledRunBytes in Unreadable instead of failing: one huge run does
// not stop the pool.
//
// The server answers 404 for an unknown pool or queue; Prefect's worker
// treats that as "no runs this time".
func (c *Client) PollScheduledFlowRuns(ctx context.Context, pool string, queues []string, scheduledBefore time.Time, limit int) (ScheduledRuns, error) {
	if queues == nil {
		// The schema wants a list; an empty one means every queue.
		queues = []string{}
	}
	given := limit
	if limit <= 0 || limit > prefectapi.MaxPageSize {
		limit = prefectapi.MaxPageSize
	}
	lim := c.runLimits
	ask := c.runSizes.limit(pool, limit, lim.budget)
	sent := ask
	if given <= 0 && ask == prefectapi.MaxPageSize {
		// The server's default: the body stays what Prefect's worker sends.
		sent = 0
	}
	var got runsAnswer
	cl := prefectapi.Call{Op: fmt.Sprintf("get scheduled flow runs of work pool %q", pool), Method: http.MethodPost,
		Path: "/work_pools/" + prefectapi.Esc(pool) + "/get_scheduled_flow_runs",
		Body: scheduledRunsBody{WorkQueueNames: queues, ScheduledBefore: prefectapi.TimePtr(scheduledBefore), Limit: sent}}
	cl.Stream = func(body io.Reader) error {
		a, err := readRuns(body, lim)
		if err != nil {
			return fmt.Errorf("%s: %s %s: the answer is not the expected list of scheduled runs (%v); check that %s is the Prefect API: %w",
				cl.Op, cl.Method, cl.Path, err, c.t.Config().URLSetting(), prefecterr.ErrInvalidResponse) //nolint:errorlint // callers classify by the sentinel alone; the cause is detail for the message
		}
		got = a
		return nil
	}
	if _, err := c.t.Do(ctx, cl); err != nil {
		return ScheduledRuns{}, err
	}
	c.runSizes.learn(pool, got.count, got.bytes, lim.budget, prefectapi.MaxPageSize)
	if got.cut {
		c.t.Logger().Debug("stopped reading the scheduled runs at the byte budget; the rest come with the next poll",
			"pool", pool, "runs_read", got.count, "bytes_read", got.bytes, "budget", lim.budget, "limit", ask)
	}
	return ScheduledRuns{Runs: got.runs, Unreadable: got.unreadable, Limit: ask, More: got.cut || got.count >= ask}, nil
}

// GetScheduledFlowRuns is PollScheduledFlowRuns for callers that only want
// the runs it could read; runs it could not read are logged and left
// SCHEDULED.
//
// Deprecated: use PollScheduledFlowRuns and crash its Unreadable runs, or
// they come back on every poll.
func (c *Client) GetScheduledFlowRuns(ctx context.Context, pool string, queues []string, scheduledBefore time.Time, limit int) ([]WorkerFlowRun, error) {
	res, err := c.PollScheduledFlowRuns(ctx, pool, queues, scheduledBefore, limit)
	for _, u := range res.Unreadable {
		c.t.Logger().Warn("a scheduled flow run cannot be read and stays SCHEDULED", "pool", pool, "flow_run_id", u.ID, "error", u.Err.Error())
	}
	return res.Runs, err
}

// WorkerFlowRun is one scheduled run handed to a worker.
type WorkerFlowRun struct {
	WorkPoolID  string  `json:"work_pool_id"`
	WorkQueueID string  `json:"work_queue_id"`
	FlowRun     FlowRun `json:"flow_run"`
}

// SetRaw keeps the response object as the server wrote it.
func (w *WorkerFlowRun) SetRaw(o *jsonv.Object) { w.FlowRun.Raw = o.GetObject("flow_run") }

type scheduledRunsBody struct {
	WorkQueueNames  []string         `json:"work_queue_names"`
	ScheduledBefore *prefectapi.Time `json:"scheduled_before,omitempty"`
	Limit           int              `json:"limit,omitempty"`
}

// runsAnswer is what was read of one answer.
type runsAnswer struct {
	runs       []WorkerFlowRun
	unreadable []UnreadableRun
	count      int   // runs seen, readable or not
	bytes      int64 // their JSON
	cut        bool  // reading stopped before the end of the list
}

// readRuns reads a JSON list of WorkerFlowRunResponse objects from r, one
// object at a time: each is scanned for its end into a buffer of at most
// lim.perRun bytes and decoded from there, so memory holds one run's JSON
// plus the runs decoded so far, never the whole answer.
func readRuns(r io.Reader, lim runLimits) (runsAnswer, error) {
	d := &runReader{br: bufio.NewReaderSize(r, 64<<10), lim: lim}
	var a runsAnswer
	b, err := d.nextNonSpace()
	if err != nil {
		return a, err
	}
	if b != '[' {
		return a, fmt.Errorf("it starts with %q, not a list", b)
	}
	_, _ = d.br.Discard(1)
	d.offset++
	if b, err = d.nextNonSpace(); err != nil {
		return a, err
	}
	if b == ']' {
		return a, nil
	}
	for {
		if b != '{' {
			return a, fmt.Errorf("at offset %d: a run should be an object, not something starting with %q", d.offset, b)
		}
		el, err := d.element()
		if err != nil {
			return a, err
		}
		a.count++
		a.bytes += el.size
		switch {
		case el.grab != nil:
			a.unreadable = append(a.unreadable, el.grab.unreadable(el.size, &UnreadableRunError{
				Bytes: el.size, AtLeast: !el.complete, Limit: lim.perRun}))
			if !el.complete {
				// Its end is too far to look for: stop here.
				a.cut = true
				return a, nil
			}
		default:
			run, err := decodeRun(el.raw)
			var de *jsonv.DepthError
			if errors.As(err, &de) {
				g := newFieldGrabber()
				g.feed(el.raw)
				a.unreadable = append(a.unreadable, g.unreadable(el.size, &UnreadableRunError{Bytes: el.size, Cause: err}))
				break
			}
			if err != nil {
				return a, fmt.Errorf("run %d: %w", a.count, err)
			}
			a.runs = append(a.runs, run)
		}
		if b, err = d.nextNonSpace(); err != nil {
			return a, err
		}
		if b == ']' {
			return a, nil
		}
		if b != ',' {
			return a, fmt.Errorf("at offset %d: expected , or ] after a run, found %q", d.offset, b)
		}
		_, _ = d.br.Discard(1)
		d.offset++
		if a.bytes >= lim.budget {
			a.cut = true
			return a, nil
		}
		if b, err = d.nextNonSpace(); err != nil {
			return a, err
		}
	}
}

func decodeRun(raw []byte) (WorkerFlowRun, error) {
	var w WorkerFlowRun
	obj, err := jsonv.DecodeObject(raw)
	if err != nil {
		return w, err
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return w, err
	}
	w.SetRaw(obj)
	return w, nil
}

type runReader struct {
	br     *bufio.Reader
	lim    runLimits
	offset int64
	buf    []byte
}

type element struct {
	raw      []byte // the run's JSON, when it fit lim.perRun
	size     int64
	complete bool          // its end was read
	grab     *fieldGrabber // set when it did not fit
}

// peek returns what is buffered, reading more when nothing is.
func (d *runReader) peek() ([]byte, error) {
	if _, err := d.br.Peek(1); err != nil {
		if err == io.EOF {
			return nil, fmt.Errorf("the answer ends at offset %d, inside the list", d.offset)
		}
		return nil, err
	}
	return d.br.Peek(d.br.Buffered())
}

// nextNonSpace skips whitespace and returns the next byte, unread.
func (d *runReader) nextNonSpace() (byte, error) {
	for {
		p, err := d.peek()
		if err != nil {
			return 0, err
		}
		for i, b := range p {
			switch b {
			case ' ', '\t', '\n', '\r':
				continue
			}
			_, _ = d.br.Discard(i)
			d.offset += int64(i)
			return b, nil
		}
		_, _ = d.br.Discard(len(p))
		d.offset += int64(len(p))
	}
}

// element reads the object that starts at the next byte. Within
// lim.perRun bytes it is kept whole; past that only its short fields are
// picked up as it goes by, until it ends or lim.skip bytes were read.
func (d *runReader) element() (element, error) {
	var end valueEnd
	var el element
	d.buf = d.buf[:0]
	for {
		p, err := d.peek()
		if err != nil {
			return el, err
		}
		n, done := end.advance(p)
		part := p[:n]
		if el.grab == nil && int64(len(d.buf)+n) <= d.lim.perRun {
			d.buf = append(d.buf, part...)
		} else {
			if el.grab == nil {
				el.grab = newFieldGrabber()
				el.grab.feed(d.buf)
				d.buf = d.buf[:0]
			}
			el.grab.feed(part)
		}
		el.size += int64(n)
		d.offset += int64(n)
		_, _ = d.br.Discard(n)
		if done {
			el.complete = true
			if el.grab == nil {
				el.raw = d.buf
			}
			return el, nil
		}
		if el.grab != nil && el.size > d.lim.skip {
			return el, nil
		}
	}
}

// valueEnd finds where a JSON object or list ends, counting brackets
// outside strings. It does not check the syntax: that is the decoder's
// job once the value is whole.
type valueEnd struct {
	depth      int
	inStr, esc bool
}

// advance consumes p up to the end of the value; done reports that the
// value ended at p[n-1].
func (s *valueEnd) advance(p []byte) (n int, done bool) {
	for i := 0; i < len(p); i++ {
		if s.inStr {
			if s.esc {
				s.esc = false
				continue
			}
			j := bytes.IndexAny(p[i:], `"\`)
			if j < 0 {
				return len(p), false
			}
			i += j
			if p[i] == '\\' {
				s.esc = true
			} else {
				s.inStr = false
			}
			continue
		}
		switch p[i] {
		case '"':
			s.inStr = true
		case '{', '[':
			s.depth++
		case '}', ']':
			s.depth--
			if s.depth <= 0 {
				return i + 1, true
			}
		}
	}
	return len(p), false
}

// maxGrabbed bounds a string the grabber keeps: ids, names and states are
// short, and anything longer is not one of them.
const maxGrabbed = 1024

// fieldGrabber picks the short string fields of a WorkerFlowRunResponse
// (work_pool_id, work_queue_id) and of its flow_run (id, name, state_type,
// ...) out of a stream of its JSON, keeping nothing else: it is how a run
// too large to decode still gets a name.
type fieldGrabber struct {
	depth      int
	inStr, esc bool
	kinds      [3]byte   // container at depth 1 and 2: '{' or '['
	wantKey    [3]bool   // the next string at this depth is a key
	keys       [3]string // the last key at depth 1 and 2
	capture    bool      // the current string is kept
	isKey      bool
	cur        []byte
	overflow   bool
	fields     map[string]string
}

func newFieldGrabber() *fieldGrabber { return &fieldGrabber{fields: map[string]string{}} }

func (g *fieldGrabber) feed(p []byte) {
	for i := 0; i < len(p); i++ {
		b := p[i]
		if g.inStr {
			if !g.capture && !g.esc {
				j := bytes.IndexAny(p[i:], `"\`)
				if j < 0 {
					return
				}
				i += j
				b = p[i]
			}
			switch {
			case g.esc:
				g.esc = false
				g.keep(b)
			case b == '\\':
				g.esc = true
				g.keep(b)
			case b == '"':
				g.inStr = false
				g.endString()
			default:
				g.keep(b)
			}
			continue
		}
		switch b {
		case '"':
			g.inStr = true
			g.startString()
		case '{', '[':
			g.depth++
			if g.depth > 0 && g.depth < len(g.kinds) {
				g.kinds[g.depth], g.wantKey[g.depth], g.keys[g.depth] = b, b == '{', ""
			}
		case '}', ']':
			g.depth--
		case ':':
			if g.depth > 0 && g.depth < len(g.kinds) {
				g.wantKey[g.depth] = false
			}
		case ',':
			if g.depth > 0 && g.depth < len(g.kinds) && g.kinds[g.depth] == '{' {
				g.wantKey[g.depth] = true
			}
		}
	}
}

func (g *fieldGrabber) keep(b byte) {
	if !g.capture {
		return
	}
	if len(g.cur) >= maxGrabbed {
		g.overflow = true
		return
	}
	g.cur = append(g.cur, b)
}

func (g *fieldGrabber) startString() {
	d := g.depth
	g.cur, g.overflow, g.capture = g.cur[:0], false, false
	if d < 1 || d >= len(g.kinds) || g.kinds[d] != '{' || (d == 2 && (g.kinds[1] != '{' || g.keys[1] != "flow_run")) {
		return
	}
	g.capture, g.isKey = true, g.wantKey[d]
}

func (g *fieldGrabber) endString() {
	if !g.capture || g.overflow {
		return
	}
	var s string
	if err := json.Unmarshal(append(append([]byte{'"'}, g.cur...), '"'), &s); err != nil {
		return
	}
	d := g.depth
	if g.isKey {
		g.keys[d] = s
		return
	}
	k := g.keys[d]
	if d == 2 {
		k = g.keys[1] + "." + k
	}
	g.fields[k] = s
}

func (g *fieldGrabber) unreadable(size int64, err *UnreadableRunError) UnreadableRun {
	f := g.fields
	err.ID = f["flow_run.id"]
	return UnreadableRun{
		WorkPoolID: f["work_pool_id"], WorkQueueID: f["work_queue_id"],
		ID: f["flow_run.id"], Name: f["flow_run.name"], DeploymentID: f["flow_run.deployment_id"], FlowID: f["flow_run.flow_id"],
		StateType: StateType(f["flow_run.state_type"]), StateName: f["flow_run.state_name"],
		Bytes: size, Err: err,
	}
}
