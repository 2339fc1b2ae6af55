//go:build chaos

package chaos

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectapi"
	"github.com/ecsworker/ecsworker/internal/prefectconfig"
	"github.com/ecsworker/ecsworker/internal/worker"
)

// The secrets the suite watches for. They are long and unlike anything
// else a log holds, so that a plain substring search finds every leak.
const (
	prefectAPIKey = "pnu_chaosPrefectApiKey4Vq9ZtXr2Lm8Wc"
	awsKeyID      = "AKIACHAOSEXAMPLE7Q2Z"
	awsSecretKey  = "chaosAwsSecretAccessKey9Fh3Kd7Pq1Xz5Tb"
)

const (
	poolName    = "chaos-pool"
	clusterName = "flows"

	// Client timeouts turn Hang faults into timed-out attempts; they are
	// short for the same reason real deployments keep them short: a stalled
	// connection must not stall the worker for long.
	prefectTimeout = 15 * time.Second
	awsTimeout     = 20 * time.Second

	// startupGrace is the worker's StartupGrace: how old a claim without a
	// task must be before a worker resumes it. Restarts are drawn on both
	// sides of it.
	startupGrace = 30 * time.Second

	// healthCheckInterval and healthCheckRetries are an ECS container
	// health check on the worker's /health: a worker that fails it three
	// times in a row is replaced.
	healthCheckInterval = 30 * time.Second
	healthCheckRetries  = 3

	// The base latencies keep every request in flight for a little fake
	// time, so that a kill at a random moment can land in the middle of a
	// submission.
	basePrefectLatency = 30 * time.Millisecond
	baseAWSLatency     = 40 * time.Millisecond
)

// errKilled is what a hard-killed worker's requests get: its process and
// its connections are gone. It wraps context.Canceled so that neither the
// Prefect client nor the AWS SDK retries it, as a dead process cannot.
var errKilled = fmt.Errorf("chaos: the worker process was killed: %w", context.Canceled)

// behaviour is what a flow run's ECS task does, drawn before the run
// starts so that a seed reproduces it whichever worker launches the run.
type behaviour struct {
	capacity      int // RunTask attempts still to answer "no capacity"
	neverStarts   bool
	forever       bool
	oom           bool // the container is killed before the flow can report
	exitCode      int
	timeToRunning time.Duration
	runFor        time.Duration
}

// killMode says how a worker dies. A soft kill cancels its context, as
// SIGTERM does, and lets it report what it can within ShutdownTimeout; a
// hard kill also cuts its connections at once, as SIGKILL or a lost host
// does, so that nothing it does afterwards reaches Prefect or AWS.
type killMode int

const (
	soft killMode = iota
	hard
)

func (m killMode) String() string {
	if m == hard {
		return "hard"
	}
	return "soft"
}

// Kill points are the moments a kill hurts most: right after the server
// took a claim, started a task, or recorded the task on the run, before the
// worker has heard the answer.
const (
	killAfterClaim   = "claim"
	killAfterRunTask = "runtask"
	killAfterPID     = "pid"
)

type stats struct {
	faults      int // fault rules, outages and latency spikes injected
	capacity    int // RunTask attempts answered without capacity
	neverStarts int // tasks scripted never to start
	restarts    int
	kills       map[string]int
}

type harness struct {
	t       *testing.T
	sc      scenario
	runs    int
	prefect *prefectfake.Server
	aws     *awsfake.Server
	deploy  string
	leaks   *leakScanner
	logger  *slog.Logger

	mu        sync.Mutex
	behaviour map[string]*behaviour // by flow run id
	runIDs    []string
	capFails  map[string]int // capacity failures handed out, by cluster|family
	killPlan  map[string]map[int]killMode
	seen      map[string]int // kill points passed, by kind
	calm      bool           // chaos is over: no more faults or kills
	incs      []*incarnation
	stats     stats
	engine    map[string]string // what the engine last did for a run
	// awsFault, when set, answers a worker's AWS request in its place (a
	// fault that only one worker meets); nil lets the request through.
	awsFault func(inc *incarnation, r *http.Request) *http.Response
	lost     map[string]int // answers still to lose, by kind (see loseAnswer)
}

func newHarness(t *testing.T, sc scenario, seed uint64, runs int) *harness {
	h := &harness{
		t: t, sc: sc, runs: runs,
		behaviour: map[string]*behaviour{},
		capFails:  map[string]int{},
		killPlan:  map[string]map[int]killMode{},
		seen:      map[string]int{},
		engine:    map[string]string{},
		lost:      map[string]int{},
		stats:     stats{kills: map[string]int{}},
	}
	h.leaks = newLeakScanner(prefectAPIKey, awsSecretKey)
	h.logger = slog.New(slog.NewTextHandler(h.leaks, &slog.HandlerOptions{Level: slog.LevelDebug}))

	h.prefect = prefectfake.New(prefectfake.Options{
		APIKey: prefectAPIKey, Seed: seed | 1,
		OnViolation: func(v string) { t.Errorf("Prefect API contract violation: %s", v) },
	})
	opts := awsfake.Options{
		Seed:                 seed,
		Script:               h.script,
		StoppedTaskRetention: -1, // every task stays visible, so duplicates cannot hide
	}
	if sc.throttle {
		// Far below AWS's real buckets and below the worker's own budget,
		// so that ECS does the throttling and the worker must cope.
		opts.Throttle = map[string]awsfake.Bucket{
			"ecs:cluster-resource-modify":        {Burst: 5, Refill: 1},
			"ecs:cluster-resource-read":          {Burst: 5, Refill: 1},
			"ecs:task-definition-modify":         {Burst: 2, Refill: 0.2},
			"ecs:task-definition-read":           {Burst: 5, Refill: 1},
			awsfake.ThrottleFargateRunTask:       {Burst: 3, Refill: 1},
			awsfake.ThrottleFargateTasks:         {Burst: 5, Refill: 1},
			awsfake.ThrottleTaskDefinitionFamily: {Burst: 1, Refill: 0.2},
		}
	}
	h.aws = awsfake.New(opts)
	h.prefect.SetLatency(basePrefectLatency)
	h.aws.SetLatency(baseAWSLatency)
	h.aws.CreateCluster(clusterName)

	flow := h.prefect.CreateFlow("chaos-etl")
	h.deploy = h.prefect.CreateDeployment(flow["id"].(string), "nightly", poolName, "", map[string]any{
		"cluster": clusterName,
		"aws_credentials": map[string]any{
			"aws_access_key_id":     awsKeyID,
			"aws_secret_access_key": awsSecretKey,
			"region_name":           "us-east-1",
		},
	})["id"].(string)
	return h
}

// plan draws every run's behaviour and the kill points from the seed,
// before anything runs, so that the same seed makes the same plan.
func (h *harness) plan(rng *rand.Rand, arrivals time.Duration) {
	start := time.Now()
	waves := []time.Time{start}
	for range 3 {
		waves = append(waves, start.Add(time.Duration(rng.Int64N(int64(arrivals)))))
	}
	for range h.runs {
		b := &behaviour{
			timeToRunning: time.Duration(10+rng.IntN(80)) * time.Second,
			runFor:        time.Duration(30+rng.IntN(270)) * time.Second,
		}
		switch p := rng.Float64(); {
		case p < h.sc.neverStart:
			b.neverStarts = true
		case p < h.sc.neverStart+0.1:
			b.forever = true
		case p < h.sc.neverStart+0.15:
			b.exitCode = 1
		case p < h.sc.neverStart+0.2:
			b.oom = true
		}
		if rng.Float64() < h.sc.capacity {
			// Mostly within the launcher's retries; now and then beyond
			// them, so that giving up is exercised too.
			b.capacity = 1 + rng.IntN(3)
			if rng.IntN(8) == 0 {
				b.capacity = 6 + rng.IntN(3)
			}
		}
		// Half the runs come in waves due at the same instant, as a
		// schedule on the hour makes them: that is what fills ECS's
		// buckets and keeps many submissions in flight at once.
		due := start.Add(time.Duration(rng.Int64N(int64(arrivals))))
		if rng.IntN(2) == 0 {
			due = waves[rng.IntN(len(waves))]
		}
		h.addRun(b, due)
	}
	if !h.sc.kills {
		return
	}
	per := max(2, h.runs/25)
	for _, kind := range []string{killAfterClaim, killAfterRunTask, killAfterPID} {
		h.killPlan[kind] = map[int]killMode{}
		for range per {
			h.killPlan[kind][1+rng.IntN(h.runs)] = killMode(rng.IntN(2))
		}
	}
}

// addRun creates a run of the deployment due at due (zero: now) whose
// task will behave as b says.
func (h *harness) addRun(b *behaviour, due time.Time) string {
	id := h.prefect.CreateFlowRun(h.deploy, nil, due)["id"].(string)
	h.mu.Lock()
	h.behaviour[id] = b
	h.runIDs = append(h.runIDs, id)
	h.mu.Unlock()
	return id
}

// script decides what each task does. It runs under the AWS fake's lock,
// so it only touches the harness's own state.
func (h *harness) script(ti awsfake.TaskInfo) awsfake.Outcome {
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.behaviour[ti.Tags["prefect.io/flow-run-id"]]
	if b == nil {
		h.t.Errorf("RunTask for a task without a known flow run id: tags %v", ti.Tags)
		return awsfake.Outcome{}
	}
	if b.capacity > 0 {
		// The fake fails the first n attempts of a family; asking for one
		// more failure than it has handed out fails exactly this attempt.
		b.capacity--
		key := ti.ClusterArn + "|" + ti.Family
		h.capFails[key]++
		h.stats.capacity++
		return awsfake.Outcome{CapacityFailures: h.capFails[key]}
	}
	o := awsfake.Outcome{TimeToRunning: b.timeToRunning, RunFor: b.runFor, RunsForever: b.forever, NeverStarts: b.neverStarts, OOM: b.oom}
	if b.exitCode != 0 {
		o.ExitCode = new(b.exitCode)
	}
	if b.neverStarts {
		h.stats.neverStarts++
	}
	return o
}

// incarnation is one life of a worker process.
type incarnation struct {
	name   string
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // Run returned
	killed chan struct{}
	dead   atomic.Bool // hard-killed: its connections are cut
	once   sync.Once
	mode   killMode
	w      *worker.Worker
}

func (inc *incarnation) kill(mode killMode) bool {
	first := false
	inc.once.Do(func() {
		first = true
		inc.mode = mode
		if mode == hard {
			inc.dead.Store(true)
		}
		inc.cancel()
		close(inc.killed)
	})
	return first
}

func (inc *incarnation) isKilled() bool {
	select {
	case <-inc.killed:
		return true
	default:
		return false
	}
}

// start runs a new worker process: its own Prefect client, AWS clients
// and budget, as a restarted process would have.
func (h *harness) start(name string) *incarnation {
	inc := &incarnation{name: name, done: make(chan struct{}), killed: make(chan struct{})}
	inc.ctx, inc.cancel = context.WithCancel(context.Background())
	api, err := prefect.New(prefectconfig.Config{
		APIURL: "http://prefect.invalid" + h.prefect.APIPath(), APIKey: prefectAPIKey,
		Timeout: prefectTimeout, MaxRetries: 3, RetryJitter: 0.2,
	}, prefectapi.WithHTTPClient(&http.Client{Transport: &prefectWire{h: h, inc: inc}}), prefectapi.WithLogger(h.logger))
	if err != nil {
		panic(err) // the configuration is the suite's own: a bug here is the suite's
	}
	factory := awsclient.NewFactory(awsclient.FactoryOptions{
		HTTPClient:   &http.Client{Transport: &awsWire{h: h, inc: inc, next: h.aws.HTTPClient().Transport}, Timeout: awsTimeout},
		BaseEndpoint: h.aws.URL(),
		// The SDK's adaptive mode, once throttled, can wait for a token
		// for a duration that rounds down to zero; on a real clock time
		// moves on meanwhile, but a synctest clock only moves when every
		// goroutine is blocked, so the wait spins at one instant forever.
		// Standard mode has the same retries and retry quota without the
		// client-side rate limiter.
		RetryMode: "standard",
	})
	w, err := worker.New(worker.Config{
		Pool: poolName, Name: name, CreatePool: true,
		QueryInterval: 5 * time.Second, HeartbeatInterval: 30 * time.Second,
		TrackInterval: 5 * time.Second, CancelInterval: 5 * time.Second,
		StartupGrace: startupGrace, ShutdownTimeout: 10 * time.Millisecond,
		DefaultImage: "prefecthq/prefect:3-latest",
		Logger:       h.logger,
	}, api, factory)
	if err != nil {
		panic(err) // the configuration is the suite's own: a bug here is the suite's
	}
	inc.w = w
	h.mu.Lock()
	h.incs = append(h.incs, inc)
	h.mu.Unlock()
	go func() {
		defer close(inc.done)
		// A worker told to stop while it starts may say why it could not
		// start; only an error of its own making counts.
		if err := w.Run(inc.ctx); err != nil && inc.ctx.Err() == nil {
			h.t.Errorf("worker %s: %v", name, err)
		}
	}()
	return inc
}

// supervise keeps a worker named name running, as ECS keeps a service's
// task running: it replaces a worker whose health check fails three times
// in a row (as it does during a Prefect outage), and, in scenarios with
// kills, kills it now and then and starts it again a little later. Once
// chaos is over it leaves the worker running.
func (h *harness) supervise(name string, rng *rand.Rand, calm <-chan struct{}) {
	for {
		inc := h.start(name)
		uptime := time.Duration(5+rng.IntN(175)) * time.Second
		mode := killMode(rng.IntN(2))
		restartAfter := time.Duration(1+rng.IntN(75)) * time.Second
		var killAt <-chan time.Time
		if h.sc.kills {
			t := time.NewTimer(uptime)
			defer t.Stop()
			killAt = t.C
		}
		health := time.NewTicker(healthCheckInterval)
		failed := 0
	alive:
		for {
			select {
			case <-calm:
				health.Stop()
				if inc.isKilled() { // a kill point got it just before
					h.start(name)
				}
				return
			case <-inc.killed: // a kill point got it
				break alive
			case <-killAt:
				if inc.kill(mode) {
					h.count("timer-" + mode.String())
				}
				break alive
			case <-health.C:
				if ok, _ := inc.w.Healthy(); ok {
					failed = 0
					continue
				}
				if failed++; failed < healthCheckRetries {
					continue
				}
				if inc.kill(soft) {
					h.count("health-check")
				}
				// ECS starts the replacement of an unhealthy task soon.
				restartAfter = time.Duration(5+rng.IntN(20)) * time.Second
				break alive
			}
		}
		health.Stop()
		if inc.mode == soft {
			// The process exits before it is started again; a hard-killed
			// one is gone already, whatever its goroutines still do.
			<-inc.done
		}
		t := time.NewTimer(restartAfter)
		select {
		case <-calm:
			t.Stop()
		case <-t.C:
		}
		h.mu.Lock()
		h.stats.restarts++
		h.mu.Unlock()
		select {
		case <-calm:
			h.start(name)
			return
		default:
		}
	}
}

func (h *harness) count(kill string) {
	h.mu.Lock()
	h.stats.kills[kill]++
	h.mu.Unlock()
}

// errAnswerLost is what a worker gets when the server acted on its request
// but the connection broke before the answer arrived: the one failure after
// which only idempotent retries keep a run from being launched twice.
var errAnswerLost = &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}

// loseAnswer reports whether the answer to a request of this kind is to be
// lost, using up one planned loss.
func (h *harness) loseAnswer(kind string) bool {
	if kind == "" {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.calm || h.lost[kind] == 0 {
		return false
	}
	h.lost[kind]--
	return true
}

// killPoint is passed by every request that reached a server; when the
// plan says so, the worker that sent it dies before hearing the answer.
func (h *harness) killPoint(inc *incarnation, kind string) {
	if kind == "" || inc.isKilled() {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.calm {
		return
	}
	h.seen[kind]++
	// Killing under the lock that settle takes means no kill can slip in
	// once chaos is over, when no supervisor would restart the worker.
	if mode, ok := h.killPlan[kind][h.seen[kind]]; ok && inc.kill(mode) {
		h.stats.kills[kind+"-"+mode.String()]++
	}
}

// prefectWire carries one worker process's Prefect requests to the fake,
// in process (synctest cannot see through sockets).
type prefectWire struct {
	h   *harness
	inc *incarnation
}

func (p *prefectWire) RoundTrip(r *http.Request) (*http.Response, error) {
	if p.inc.dead.Load() {
		return nil, errKilled
	}
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	rec := httptest.NewRecorder()
	if !serve(p.h.prefect, rec, r) {
		if err := r.Context().Err(); err != nil {
			return nil, err
		}
		return nil, io.ErrUnexpectedEOF // the server dropped the connection
	}
	if p.inc.dead.Load() {
		return nil, errKilled // the answer died with the process
	}
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	res := rec.Result()
	path := strings.TrimPrefix(r.URL.Path, p.h.prefect.APIPath())
	flowRun := strings.HasPrefix(path, "/flow_runs/") && strings.Count(path, "/") == 2 && path != "/flow_runs/filter"
	var kill, loss string
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(path, "/set_state"):
		loss = "prefect:set_state"
		if res.StatusCode/100 == 2 && bytes.Contains(body, []byte(`"type":"PENDING"`)) && bytes.Contains(rec.Body.Bytes(), []byte(`"status":"ACCEPT"`)) {
			kill = killAfterClaim
		}
	case r.Method == http.MethodPatch && flowRun:
		loss = "prefect:flow_run"
		if res.StatusCode/100 == 2 {
			kill = killAfterPID
		}
	case r.Method == http.MethodPost && path == "/logs/":
		loss = "prefect:logs"
	}
	if p.h.loseAnswer(loss) {
		return nil, errAnswerLost
	}
	p.h.killPoint(p.inc, kill)
	return res, nil
}

// serve runs the handler, turning its abort (a Hang fault given up on, a
// dropped connection) into false instead of a panic in the caller.
func serve(h http.Handler, w http.ResponseWriter, r *http.Request) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler { //nolint:errorlint // a recovered panic value, compared as net/http compares it
				panic(v)
			}
			ok = false
		}
	}()
	h.ServeHTTP(w, r)
	return true
}

// awsWire does for AWS what prefectWire does for Prefect.
type awsWire struct {
	h    *harness
	inc  *incarnation
	next http.RoundTripper
}

func (a *awsWire) RoundTrip(r *http.Request) (*http.Response, error) {
	if a.inc.dead.Load() {
		return nil, errKilled
	}
	runTask := strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".RunTask")
	if a.h.awsFault != nil {
		if res := a.h.awsFault(a.inc, r); res != nil {
			return res, nil
		}
	}
	res, err := a.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	if a.inc.dead.Load() {
		res.Body.Close()
		return nil, errKilled
	}
	if _, action, ok := strings.Cut(r.Header.Get("X-Amz-Target"), "."); ok && a.h.loseAnswer("aws:"+action) {
		res.Body.Close()
		return nil, errAnswerLost
	}
	if runTask && res.StatusCode == http.StatusOK {
		a.h.killPoint(a.inc, killAfterRunTask)
	}
	return res, nil
}

// inject plays the scenario's faults until calm is closed.
func (h *harness) inject(rng *rand.Rand, calm <-chan struct{}) {
	var menu []func()
	if h.sc.prefectFaults {
		menu = append(menu, h.prefectFaultMenu(rng, calm)...)
	}
	if h.sc.awsFaults {
		menu = append(menu, h.awsFaultMenu(rng, calm)...)
	}
	if len(menu) == 0 {
		return
	}
	for {
		t := time.NewTimer(time.Duration(2+rng.IntN(40)) * time.Second)
		select {
		case <-calm:
			t.Stop()
			return
		case <-t.C:
		}
		menu[rng.IntN(len(menu))]()
		h.mu.Lock()
		h.stats.faults++
		h.mu.Unlock()
	}
}

// hold waits d unless calm comes first.
func hold(d time.Duration, calm <-chan struct{}) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-calm:
	case <-t.C:
	}
}

func (h *harness) prefectFaultMenu(rng *rand.Rand, calm <-chan struct{}) []func() {
	p := h.prefect
	paths := []string{
		"/work_pools/{name}/get_scheduled_flow_runs",
		"/work_pools/{work_pool_name}/workers/heartbeat",
		"/work_pools/{name}",
		"/flow_runs/{id}/set_state",
		"/flow_runs/{id}",
		"/flow_runs/{id}/labels",
		"/flow_runs/filter",
		"/deployments/{id}",
		"/flows/{id}",
		"/logs/",
	}
	path := func() string { return paths[rng.IntN(len(paths))] }
	return []func(){
		// Bursts of the answers Prefect's client retries.
		func() { p.InjectFault(prefectfake.Fault{Status: 503, Count: 1 + rng.IntN(30)}) },
		func() { p.InjectFault(prefectfake.Fault{Status: 429, RetryAfter: "3", Count: 1 + rng.IntN(10)}) },
		func() { p.InjectFault(prefectfake.Fault{Path: path(), Status: 502, Count: 1 + rng.IntN(8)}) },
		// Answers it does not retry: the worker has to.
		func() { p.InjectFault(prefectfake.Fault{Path: path(), Status: 500, Count: 1 + rng.IntN(4)}) },
		func() {
			p.InjectFault(prefectfake.Fault{Method: http.MethodPost, Path: "/flow_runs/{id}/set_state", Status: 500, Count: 1 + rng.IntN(3)})
		},
		func() {
			p.InjectFault(prefectfake.Fault{Method: http.MethodPatch, Path: "/flow_runs/{id}", Status: 500, Count: 1 + rng.IntN(3)})
		},
		// Stalls that only the client timeout ends.
		func() { p.InjectFault(prefectfake.Fault{Path: path(), Hang: true, Count: 1 + rng.IntN(4)}) },
		func() {
			p.InjectFault(prefectfake.Fault{Delay: time.Duration(1+rng.IntN(25)) * time.Second, Count: 1 + rng.IntN(10)})
		},
		// The server acts, the answer is lost: only idempotent retries
		// keep a claim, a task record or a log batch from counting twice.
		func() { h.planLoss(rng, "prefect:set_state", "prefect:flow_run", "prefect:logs") },
		// A full outage, then the server comes back.
		func() {
			p.InjectFault(prefectfake.Fault{Status: 503})
			hold(time.Duration(20+rng.IntN(160))*time.Second, calm)
			p.ClearFaults()
		},
		// A slow database.
		func() {
			p.SetLatency(time.Duration(500+rng.IntN(4500)) * time.Millisecond)
			hold(time.Duration(20+rng.IntN(100))*time.Second, calm)
			p.SetLatency(basePrefectLatency)
		},
	}
}

func (h *harness) awsFaultMenu(rng *rand.Rand, calm <-chan struct{}) []func() {
	a := h.aws
	actions := []struct{ svc, action string }{
		{"ecs", "RunTask"}, {"ecs", "RunTask"}, {"ecs", "DescribeTasks"}, {"ecs", "DescribeTasks"},
		{"ecs", "RegisterTaskDefinition"}, {"ecs", "DescribeTaskDefinition"}, {"ecs", "ListTaskDefinitions"},
		{"ec2", "DescribeVpcs"}, {"ec2", "DescribeSubnets"}, {"ec2", "DescribeSecurityGroups"},
	}
	pick := func() (string, string) { x := actions[rng.IntN(len(actions))]; return x.svc, x.action }
	return []func(){
		// Server errors the SDK retries, some beyond its attempts.
		func() {
			svc, act := pick()
			a.InjectFault(awsfake.Fault{Service: svc, Action: act, Code: "ServerException", Count: 1 + rng.IntN(6)})
		},
		func() {
			svc, act := pick()
			a.InjectFault(awsfake.Fault{Service: svc, Action: act, Code: "InternalFailure", Status: 503, Count: 1 + rng.IntN(4)})
		},
		// Throttling beyond the buckets, where it hurts most.
		func() {
			a.InjectFault(awsfake.Fault{Service: "ecs", Action: "RunTask", Code: "ThrottlingException", Count: 1 + rng.IntN(12)})
		},
		func() {
			a.InjectFault(awsfake.Fault{Service: "ecs", Action: "DescribeTasks", Code: "ThrottlingException", Count: 1 + rng.IntN(12)})
		},
		// Stalls that only the client timeout ends, and slow answers.
		func() {
			svc, act := pick()
			a.InjectFault(awsfake.Fault{Service: svc, Action: act, Hang: true, Count: 1 + rng.IntN(3)})
		},
		func() {
			svc, act := pick()
			a.InjectFault(awsfake.Fault{Service: svc, Action: act, Delay: time.Duration(1+rng.IntN(30)) * time.Second, Count: 1 + rng.IntN(5)})
		},
		// RunTask started a task, its answer was lost: the client token
		// must make the retry return that task.
		func() {
			h.planLoss(rng, "aws:RunTask", "aws:RunTask", "aws:RegisterTaskDefinition", "aws:DescribeTasks")
		},
		// ECS down for a while.
		func() {
			a.InjectFault(awsfake.Fault{Service: "ecs", Code: "ServerException"})
			hold(time.Duration(15+rng.IntN(100))*time.Second, calm)
			a.ClearFaults()
		},
		// A slow region.
		func() {
			a.SetLatency(time.Duration(200+rng.IntN(3000)) * time.Millisecond)
			hold(time.Duration(20+rng.IntN(100))*time.Second, calm)
			a.SetLatency(baseAWSLatency)
		},
	}
}

// waitFor lets fake time pass, with the engine playing, until cond holds;
// it fails the test after limit.
func (h *harness) waitFor(what string, limit time.Duration, cond func() bool) {
	h.t.Helper()
	if !h.within(limit, cond) {
		h.t.Fatalf("gave up waiting for %s after %s of fake time", what, limit)
	}
}

// within lets fake time pass, with the engine playing, until cond holds or
// limit has passed; it reports whether cond held.
func (h *harness) within(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Second)
		h.playEngine()
	}
	return true
}

// planLoss loses the next few answers of one of kinds.
func (h *harness) planLoss(rng *rand.Rand, kinds ...string) {
	k := kinds[rng.IntN(len(kinds))]
	h.mu.Lock()
	h.lost[k] += 1 + rng.IntN(3)
	h.mu.Unlock()
}

// endChaos stops kill points and answer losses; closing calm then stops
// the injector and the supervisors.
func (h *harness) endChaos() {
	h.mu.Lock()
	h.calm = true
	h.mu.Unlock()
}

// heal removes what the injector left behind, once it has stopped: faults
// not used up and slowness.
func (h *harness) heal() {
	h.prefect.ClearFaults()
	h.aws.ClearFaults()
	h.prefect.SetLatency(basePrefectLatency)
	h.aws.SetLatency(baseAWSLatency)
}

// stopAll stops every worker process still alive and waits for all of
// them, the killed ones included, to be gone.
func (h *harness) stopAll() {
	h.mu.Lock()
	incs := append([]*incarnation(nil), h.incs...)
	h.mu.Unlock()
	for _, inc := range incs {
		inc.cancel()
	}
	for _, inc := range incs {
		<-inc.done
	}
}

// tasksByRun groups the AWS fake's tasks by their flow run tag.
func (h *harness) tasksByRun() map[string][]awsfake.TaskView {
	out := map[string][]awsfake.TaskView{}
	for _, t := range h.aws.Tasks() {
		out[t.Tags["prefect.io/flow-run-id"]] = append(out[t.Tags["prefect.io/flow-run-id"]], t)
	}
	return out
}

// playEngine does what `prefect flow-run execute` does in the container:
// the run goes RUNNING once its task runs, and COMPLETED or FAILED a few
// seconds before the container exits, as a flow reports its end before its
// process does. Only the first task counts: a second one is a duplicate the
// suite reports, not something the engine should paper over.
func (h *harness) playEngine() {
	now := time.Now()
	for id, ts := range h.tasksByRun() {
		t := ts[0]
		h.mu.Lock()
		did, b := h.engine[id], *h.behaviour[id]
		h.mu.Unlock()
		var next string
		switch {
		case did == "" && !t.StartedAt.IsZero():
			next = "RUNNING"
		case did == "RUNNING" && !b.forever && !b.oom && (t.LastStatus == "STOPPED" || !now.Before(t.StartedAt.Add(b.runFor-5*time.Second))):
			next = "COMPLETED"
			if b.exitCode != 0 {
				next = "FAILED"
			}
		default:
			continue
		}
		typ := stateType(h.prefect.FlowRun(id))
		switch {
		case next == "RUNNING" && typ == "PENDING":
			h.prefect.ProposeFlowRunState(id, "RUNNING", "Running")
		case next == "RUNNING":
			// The run went elsewhere before its flow started (a crash the
			// worker reported): this engine leaves it there, so that the
			// suite sees it.
		case typ == "RUNNING":
			h.prefect.ProposeFlowRunState(id, next, strings.ToUpper(next[:1])+strings.ToLower(next[1:]))
		}
		h.mu.Lock()
		h.engine[id] = next
		h.mu.Unlock()
	}
}

func stateType(run map[string]any) string {
	if run == nil {
		return ""
	}
	s, _ := run["state_type"].(string)
	return s
}

func terminal(typ string) bool {
	switch typ {
	case "COMPLETED", "FAILED", "CRASHED", "CANCELLED":
		return true
	}
	return false
}

// verdict is where every run ended up.
type verdict struct {
	states     map[string]int
	lost       []string       // not final, and not RUNNING with one live task
	duplicates []string       // more than one task
	falseCrash []string       // reported as never submitted, yet it has a task
	crashes    map[string]int // by cause
	details    map[string]string
}

func (h *harness) judge() verdict {
	v := verdict{states: map[string]int{}, crashes: map[string]int{}, details: map[string]string{}}
	tasks := h.tasksByRun()
	for _, id := range h.runIDs {
		run := h.prefect.FlowRun(id)
		typ := stateType(run)
		ts := tasks[id]
		v.states[typ]++
		if typ == "CRASHED" {
			st, _ := run["state"].(map[string]any)
			msg, _ := st["message"].(string)
			v.crashes[crashCause(msg)]++
		}
		if len(ts) > 1 {
			v.duplicates = append(v.duplicates, id)
		}
		if !settled(typ, ts) {
			v.lost = append(v.lost, id)
		}
		if len(ts) > 0 && h.crashedAsUnsubmitted(id) {
			v.falseCrash = append(v.falseCrash, id)
		}
	}
	for _, id := range append(append(append([]string(nil), v.lost...), v.duplicates...), v.falseCrash...) {
		v.details[id] = h.describe(id, tasks[id])
	}
	return v
}

// settled reports whether a run is where the suite wants every run in the
// end: in a final state, or RUNNING in its one task, which still runs. A
// RUNNING run whose task has stopped is as lost as a PENDING one without a
// task: nobody will ever end it.
func settled(typ string, ts []awsfake.TaskView) bool {
	return terminal(typ) || typ == "RUNNING" && len(ts) == 1 && ts[0].LastStatus != "STOPPED"
}

// allSettled is judge's cheap half, for polling.
func (h *harness) allSettled() bool {
	tasks := h.tasksByRun()
	for _, id := range h.runIDs {
		if !settled(stateType(h.prefect.FlowRun(id)), tasks[id]) {
			return false
		}
	}
	return true
}

// crashCause shortens a crash message to what tells causes apart.
func crashCause(msg string) string {
	msg = strings.TrimPrefix(msg, "Failed to submit flow run to infrastructure: ")
	msg = digits.ReplaceAllString(msg, "N")
	if len(msg) > 90 {
		msg = msg[:90] + "..."
	}
	return msg
}

var digits = regexp.MustCompile(`[0-9]+`)

// crashedAsUnsubmitted reports whether a worker ever told Prefect that it
// could not submit the run. Said of a run that has a task, it is false: the
// run ends Crashed while its flow runs (or may run), and nothing follows
// that task any more.
func (h *harness) crashedAsUnsubmitted(id string) bool {
	for _, st := range h.prefect.StateHistory(id) {
		msg, _ := st["message"].(string)
		if st["type"] == "CRASHED" && strings.HasPrefix(msg, submitFailure) {
			return true
		}
	}
	return false
}

// submitFailure starts the message of the Crashed state the worker
// proposes when a submission fails.
const submitFailure = "Failed to submit flow run to infrastructure"

// describe tells a run's story for a failure message.
func (h *harness) describe(id string, ts []awsfake.TaskView) string {
	var b strings.Builder
	run := h.prefect.FlowRun(id)
	fmt.Fprintf(&b, "run %s: state %v, infrastructure_pid %v\n", id, run["state_name"], run["infrastructure_pid"])
	for _, st := range h.prefect.StateHistory(id) {
		msg, _ := st["message"].(string)
		fmt.Fprintf(&b, "    %v %v/%v %q\n", st["timestamp"], st["type"], st["name"], msg)
	}
	for _, t := range ts {
		started := "never"
		if !t.StartedAt.IsZero() {
			started = t.StartedAt.Format(time.TimeOnly)
		}
		fmt.Fprintf(&b, "  task %s: %s (created %s, started %s, client token %s)\n", t.Arn, t.LastStatus,
			t.CreatedAt.Format(time.TimeOnly), started, t.ClientToken)
	}
	h.mu.Lock()
	b2 := *h.behaviour[id]
	h.mu.Unlock()
	fmt.Fprintf(&b, "  behaviour %+v", b2)
	return b.String()
}

// leakScanner is an io.Writer for log handlers that looks for secrets in
// every line written, keeping the first few offending lines.
type leakScanner struct {
	secrets []string
	mu      sync.Mutex
	lines   int
	leaks   int
	samples []string
}

func newLeakScanner(secrets ...string) *leakScanner { return &leakScanner{secrets: secrets} }

func (l *leakScanner) Write(p []byte) (int, error) {
	l.check(string(p))
	return len(p), nil
}

func (l *leakScanner) check(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines++
	for _, s := range l.secrets {
		if strings.Contains(line, s) {
			l.leaks++
			if len(l.samples) < 5 {
				l.samples = append(l.samples, strings.TrimSpace(line))
			}
			return
		}
	}
}

// scanServerLogs feeds what reached Prefect through the scanner: the flow
// run logs, the events and every state message.
func (h *harness) scanServerLogs() {
	for _, rec := range h.prefect.Logs() {
		h.leaks.check(fmt.Sprint(rec))
	}
	for _, ev := range h.prefect.Events() {
		h.leaks.check(fmt.Sprint(ev))
	}
	for _, id := range h.runIDs {
		for _, st := range h.prefect.StateHistory(id) {
			msg, _ := st["message"].(string)
			h.leaks.check(msg)
		}
	}
}

func sortedCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

// throttled is ECS's answer to a call over its rate, as the SDK reads it.
func throttled(r *http.Request) *http.Response {
	body := `{"__type":"ThrottlingException","message":"Rate exceeded"}`
	return &http.Response{
		StatusCode: http.StatusBadRequest, Status: "400 Bad Request", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{
			"Content-Type":     {"application/x-amz-json-1.1"},
			"X-Amzn-Requestid": {"chaos-throttled"},
		},
		Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: r,
	}
}
