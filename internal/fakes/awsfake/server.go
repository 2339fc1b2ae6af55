// Package awsfake is an in-process stand-in for the AWS services the ECS
// worker talks to: ECS, CloudWatch Logs, SQS, EC2, STS, CloudFormation,
// IAM and ECR. It speaks their wire protocols (awsJson 1.0/1.1, EC2 query,
// AWS query) so that the real aws-sdk-go-v2 clients, pointed at it with a
// BaseEndpoint, work unmodified, and it answers with the error codes,
// messages and HTTP statuses the real services use. Signatures are not
// checked, but unsigned requests are refused.
//
// Time comes from Options.Now (time.Now by default), so tests drive task
// lifecycles, long polls and throttling with testing/synctest or a fake
// clock. Under synctest, use HTTPClient for the SDK clients: requests then
// never touch a socket, which synctest cannot see through.
//
// Everything is allowed until a test sets an identity-based IAM policy
// (SetIdentityPolicy); from then on every request is authorized as AWS
// authorizes it, on the resources and condition keys the real service
// uses, including the permissions services check on the caller's behalf
// (iam:PassRole, ecs:TagResource on what RunTask and
// RegisterTaskDefinition create), and refused in each protocol's words.
// Access keys that AssumeRole issued act as their role session, bound by
// the role's policy and the session policy; roles made with CreateRole
// also have their trust policy enforced. SimulatePrincipalPolicy answers
// from the same engine. AssumeRoleCalls and CallLog tell which session
// signed what, Denied counts refusals.
//
// Tests can also make an operation unknown to the endpoint
// (RemoveOperation), park calls in flight until released (Hold), push
// images to ECR (PutImage) and give subnets routes that make them public
// or private (SetSubnetRoute).
package awsfake

//go:generate go run gen_shapes.go

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ecsworker/ecsworker/internal/fakes/fakenet"
)

// Options configures a Server. The zero value is usable.
type Options struct {
	// Region defaults to us-east-1 and AccountID to 123456789012; both end
	// up in ARNs, queue URLs and events.
	Region    string
	AccountID string
	// Now is the clock. With a clock other than time.Now (which synctest
	// fakes), the server arms no timers: call Sync after moving the clock
	// so that events are delivered and long polls notice.
	Now func() time.Time
	// Script decides how each task launched by RunTask behaves; nil gives
	// every task DefaultOutcome. It runs while the server is locked, so it
	// must not call the Server.
	Script func(TaskInfo) Outcome
	// Throttle overrides token buckets, keyed by action ("ecs:RunTask"),
	// category ("ecs:cluster-resource-read") or one of the Throttle*
	// constants. A Bucket with Burst 0 disables that limit.
	Throttle          map[string]Bucket
	DisableThrottling bool
	// Seed makes ids and ARNs reproducible for a given sequence of calls.
	Seed uint64
	// StoppedTaskRetention is how long a stopped task stays visible to
	// DescribeTasks and ListTasks; ECS keeps them "at least an hour", the
	// default. Negative keeps them forever.
	StoppedTaskRetention time.Duration
	// ClientTokenTTL is how long a RunTask clientToken is remembered; ECS
	// documents 24 hours, the default.
	ClientTokenTTL time.Duration
}

// Fault makes matching calls fail or stall. Service ("ecs", "logs", "sqs",
// "ec2", "sts", "cloudformation", "iam", "ecr") and Action ("RunTask")
// match anything when empty.
type Fault struct {
	Service, Action string
	// Code is the AWS error code to answer with, e.g. "ServerException";
	// empty means the call proceeds normally after Delay.
	Code string
	// Status defaults to 500 for server-side codes and 400 otherwise.
	Status  int
	Message string
	// Delay holds the call before it is answered.
	Delay time.Duration
	// Count is how many calls the fault applies to; 0 means all of them.
	Count int
	// Hang holds the call until the client gives up or the server closes.
	Hang bool
}

// Server is the fake. It is safe for concurrent use.
type Server struct {
	opts     Options
	services map[string]*service // by name
	targets  map[string]*service // by X-Amz-Target prefix
	versions map[string]*service // by query Version

	mu        sync.Mutex
	rng       *rand.Rand
	seq       uint64
	calls     map[string]int
	throttled map[string]int
	buckets   map[string]*bucketState
	faults    []*Fault
	latency   time.Duration

	ecs   ecsState
	logs  logsState
	sqs   sqsState
	ec2   ec2State
	sts   stsState
	iam   iamState
	ecr   ecrState
	authz authzState

	removed map[string]bool // "service:Action" answered as unknown
	holds   []*hold
	holding int
	callLog []Call

	// changed is closed and replaced whenever state that a waiter may be
	// waiting for changes: a poor man's condition variable that also
	// composes with select and timers.
	changed  chan struct{}
	closed   chan struct{}
	once     sync.Once
	timer    *time.Timer
	timerAt  time.Time
	timerGen uint64
	base     string
	// closeHTTP stops the listener of NewTestServer or Listen.
	closeHTTP func()
}

// New makes a server without a listener; serve Handler yourself or use
// HTTPClient.
func New(opts Options) *Server {
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.AccountID == "" {
		opts.AccountID = "123456789012"
	}
	if opts.StoppedTaskRetention == 0 {
		opts.StoppedTaskRetention = time.Hour
	}
	if opts.ClientTokenTTL == 0 {
		opts.ClientTokenTTL = 24 * time.Hour
	}
	s := &Server{
		opts:      opts,
		rng:       rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		calls:     map[string]int{},
		throttled: map[string]int{},
		buckets:   map[string]*bucketState{},
		changed:   make(chan struct{}),
		closed:    make(chan struct{}),
		base:      "http://awsfake.invalid",
	}
	s.services = map[string]*service{}
	s.targets = map[string]*service{}
	s.versions = map[string]*service{}
	for _, svc := range []*service{ecsService(), logsService(), sqsService(), ec2Service(), stsService(), cfnService(), iamService(), ecrService()} {
		s.services[svc.name] = svc
		if svc.target != "" {
			s.targets[svc.target] = svc
		}
		if svc.version != "" {
			s.versions[svc.version] = svc
		}
	}
	s.ecs.init()
	s.logs.init()
	s.sqs.init()
	s.ec2.init(s)
	s.sts.init()
	return s
}

// URL is the base endpoint to give the SDK clients.
func (s *Server) URL() string { return s.base }

// Region is the region the server's ARNs are made of.
func (s *Server) Region() string { return s.opts.Region }

// AccountID is the account the server's ARNs are made of.
func (s *Server) AccountID() string { return s.opts.AccountID }

// Handler serves the AWS wire protocols.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// HTTPClient returns a client that hands requests straight to Handler,
// without a network round trip. Give it to the SDK (aws.Config.HTTPClient)
// in synctest bubbles and benchmarks.
func (s *Server) HTTPClient() *http.Client {
	return &http.Client{Transport: fakenet.RoundTripper{Handler: s.Handler()}}
}

// Close stops timers and releases calls held by Hang faults or long polls.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.closed)
		s.mu.Lock()
		if s.timer != nil {
			s.timer.Stop()
		}
		s.mu.Unlock()
		if s.closeHTTP != nil {
			s.closeHTTP()
		}
	})
}

// Sync brings every task lifecycle up to the clock, delivers the events
// that produces, and wakes long polls to re-check their deadlines. It is
// only needed with a custom Options.Now.
func (s *Server) Sync() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	s.broadcastLocked()
}

// Calls counts requests per "service:Action", including refused ones.
func (s *Server) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.calls)
}

// Throttled counts requests refused by a token bucket, per "service:Action".
func (s *Server) Throttled() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.throttled)
}

// InjectFault adds a fault; faults are tried in the order added.
func (s *Server) InjectFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// SetLatency delays every call by d before it is handled.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

func (s *Server) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

func (s *Server) broadcastLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// newIDLocked draws n hex digits from the seeded generator, so that a
// seed reproduces every ID and ARN.
func (s *Server) newIDLocked(n int) string {
	const hex = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = hex[s.rng.IntN(16)]
	}
	return string(b)
}

func (s *Server) newUUIDLocked() string {
	h := s.newIDLocked(32)
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32]
}

func (s *Server) arn(svc, resource string) string {
	return fmt.Sprintf("arn:aws:%s:%s:%s:%s", svc, s.opts.Region, s.opts.AccountID, resource)
}

func (s *Server) serveHTTP(w http.ResponseWriter, hr *http.Request) {
	s.mu.Lock()
	s.seq++
	r := &request{http: hr, id: fmt.Sprintf("%08x-aaaa-4bbb-8ccc-%012x", s.seq, s.opts.Seed)}
	s.mu.Unlock()

	raw, err := io.ReadAll(io.LimitReader(hr.Body, 16<<20))
	if err != nil {
		writeError(w, r, newErr(400, "SerializationException", "could not read the request body"))
		return
	}
	r.body = raw
	if e := s.route(r); e != nil {
		writeError(w, r, e)
		return
	}
	r.akid = accessKeyID(hr)
	if r.akid == "" {
		writeError(w, r, missingAuth(r.svc.wire))
		return
	}
	key := r.svc.name + ":" + r.action
	o, ok := r.svc.ops[r.action]

	s.mu.Lock()
	s.calls[key]++
	// The access key is cloned so that the log does not keep the whole
	// Authorization header alive.
	s.callLog = append(s.callLog, Call{Key: key, AccessKeyID: strings.Clone(r.akid), Caller: s.callerArnLocked(r.akid)})
	ok = ok && !s.removed[key]
	var h *hold
	if ok {
		if h = s.holdForLocked(r.svc.name, r.action); h != nil {
			s.holding++
		}
	}
	s.mu.Unlock()

	if !ok {
		writeError(w, r, unknownOperation(r.svc, r.action))
		return
	}
	if h != nil && !s.awaitRelease(hr.Context(), w, r, h) {
		return
	}

	s.mu.Lock()
	latency := s.latency
	fault := s.matchFaultLocked(r.svc.name, r.action)
	s.mu.Unlock()

	if !s.wait(hr.Context(), latency) {
		return
	}
	if fault != nil {
		if fault.Hang {
			select {
			case <-hr.Context().Done():
			case <-s.closed:
				writeError(w, r, newErr(503, "ServiceUnavailable", "fake server closed"))
			}
			return
		}
		if !s.wait(hr.Context(), fault.Delay) {
			return
		}
		if fault.Code != "" {
			writeError(w, r, faultError(r.svc, fault))
			return
		}
	}

	var body []byte
	var aerr *apiError
	if o.unlocked {
		s.mu.Lock()
		withinLimit := s.allowActionLocked(key)
		if !withinLimit {
			s.throttled[key]++
		}
		var denied *apiError
		if withinLimit {
			denied = s.authorizeLocked(r)
		}
		s.mu.Unlock()
		if !withinLimit {
			writeError(w, r, throttleError(r.svc.name))
			return
		}
		if denied != nil {
			writeError(w, r, denied)
			return
		}
		var out any
		if out, aerr = o.run(s, r); aerr == nil {
			body, aerr = encodeResult(r, out)
		}
	} else {
		s.mu.Lock()
		if !s.allowActionLocked(key) {
			s.throttled[key]++
			s.mu.Unlock()
			writeError(w, r, throttleError(r.svc.name))
			return
		}
		if denied := s.authorizeLocked(r); denied != nil {
			s.mu.Unlock()
			writeError(w, r, denied)
			return
		}
		s.advanceLocked()
		var out any
		if out, aerr = o.run(s, r); aerr == nil {
			body, aerr = encodeResult(r, out)
		}
		if aerr != nil && (aerr.throttled || isThrottle(aerr.code)) {
			s.throttled[key]++
		}
		s.mu.Unlock()
	}
	if aerr != nil {
		writeError(w, r, aerr)
		return
	}
	writeBody(w, r, body)
}

func isThrottle(code string) bool {
	switch code {
	case "ThrottlingException", "Throttling", "RequestLimitExceeded", "RequestThrottled":
		return true
	}
	return false
}

// route finds the service and action of a request: JSON services by
// X-Amz-Target, query services by the form's Action and Version.
func (s *Server) route(r *request) *apiError {
	if target := r.http.Header.Get("X-Amz-Target"); target != "" {
		prefix, action, _ := strings.Cut(target, ".")
		svc := s.targets[prefix]
		if svc == nil {
			r.svc = &service{wire: wireJSON11}
			return newErr(400, "UnknownOperationException", "No such target %q.", target)
		}
		r.svc, r.action = svc, action
		return nil
	}
	form, err := url.ParseQuery(string(r.body))
	if err != nil || r.http.Method != http.MethodPost {
		r.svc = &service{wire: wireQuery}
		return newErr(400, "MalformedQueryString", "The request is neither an awsJson call (X-Amz-Target) nor a form-encoded query call.")
	}
	for k, v := range r.http.URL.Query() {
		if _, ok := form[k]; !ok {
			form[k] = v
		}
	}
	r.form = form
	svc := s.versions[form.Get("Version")]
	if svc == nil {
		r.svc = &service{wire: wireQuery}
		if form.Get("Version") == "2012-11-05" {
			return newErr(400, "InvalidAction", "This fake speaks SQS's awsJson 1.0 protocol only; upgrade the SDK.")
		}
		return newErr(400, "InvalidAction", "Could not find operation %s for version %s", form.Get("Action"), form.Get("Version"))
	}
	r.svc, r.action = svc, form.Get("Action")
	return nil
}

func unknownOperation(svc *service, action string) *apiError {
	switch svc.wire {
	case wireEC2:
		return newErr(400, "InvalidAction", "The action %s is not valid for this web service.", action)
	case wireQuery:
		return newErr(400, "InvalidAction", "Could not find operation %s for version %s", action, svc.version)
	}
	return newErr(400, "UnknownOperationException", "The fake does not implement %s.", action)
}

func (s *Server) matchFaultLocked(svc, action string) *Fault {
	for i, f := range s.faults {
		if (f.Service == "" || f.Service == svc) && (f.Action == "" || f.Action == action) {
			matched := *f
			if f.Count > 0 {
				f.Count--
				if f.Count == 0 {
					s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
				}
			}
			return &matched
		}
	}
	return nil
}

func faultError(svc *service, f *Fault) *apiError {
	status := f.Status
	if status == 0 {
		status = 400
		switch f.Code {
		case "ServerException", "InternalFailure", "InternalError", "ServiceUnavailable",
			"ServiceUnavailableException", "InternalServerError", "Unavailable":
			status = 500
		case "RequestLimitExceeded":
			status = 503
		}
	}
	msg := f.Message
	if msg == "" {
		switch f.Code {
		case "ThrottlingException", "Throttling", "RequestLimitExceeded":
			msg = "Rate exceeded"
		case "ServerException":
			msg = "Service Unavailable. Please try again later."
		default:
			msg = "Injected fault"
		}
	}
	e := newErr(status, f.Code, "%s", msg)
	if svc.wire == wireJSON10 {
		e.queryCode = f.Code
	}
	return e
}

// wait sleeps d on the server's clock, giving up if the call is abandoned.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.closed:
		return false
	}
}
