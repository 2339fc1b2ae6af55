// Package simulation runs the bench's scenarios with the real worker,
// Prefect client and AWS SDK clients against the two test servers in one
// process: in a testing/synctest bubble (the fake clock), or on real
// timers for what a bubble cannot run (see deployments).
//
// In a bubble, timers, sleeps and time.Now are fake, and fake time only
// moves when every goroutine of the bubble is blocked. Pacing (token
// buckets, poll intervals, latencies) is therefore exact and costs no wall
// time, while CPU work takes no fake time at all: these figures say how
// the worker paces its calls, not how fast a machine runs it.
package simulation

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"testing/synctest"
	"time"

	"github.com/ecsworker/ecsworker/bench/internal/spec"
	"github.com/ecsworker/ecsworker/internal/awsclient"
	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectapi"
	"github.com/ecsworker/ecsworker/internal/prefectconfig"
	"github.com/ecsworker/ecsworker/internal/taskdef"
	"github.com/ecsworker/ecsworker/internal/worker"
)

const (
	poolName   = "bench-pool"
	benchImage = "prefecthq/prefect:3-latest"
)

// pythonLike turns a worker configuration into one that calls AWS and
// Prefect the way the Python worker does (prefect-aws-ecs-worker.md §4.3,
// §4.11; prefect-worker-api.md §1.4-§1.5): a DescribeTaskDefinition for
// every run whose task definition it has cached and a registration, without
// looking, for every one it has not; a DescribeTasks per task every 5 s;
// polls every 10 s; no event stream. Everything else, including the
// client-side AWS budget and the retry policies, stays ecsworker's.
func pythonLike(c worker.Config) worker.Config {
	c.QueryInterval = 10 * time.Second
	c.TrackInterval = 5 * time.Second
	c.TrackerBatchSize = 1
	c.TaskDefinitionOptions = taskdef.Options{DescribeOnHit: true, SkipLookup: true}
	c.EventStream = false
	return c
}

// sim is one scenario's world.
type sim struct {
	sc      spec.Scenario
	prefect *prefectfake.Server
	aws     *awsfake.Server
	awsRT   *delayed
	pfLat   *spec.Latency
	flowID  string
	logs    *logCounter
	// pfBefore are the Prefect calls counted when the runs were scheduled.
	pfBefore map[string]int

	mu        sync.Mutex
	created   map[string]time.Time // run -> when it was scheduled
	submitted map[string]bool
	crashed   map[string]bool
	by        map[string]int // worker name -> runs it submitted
	// What a starts scenario follows, per run: RunTask attempts the fake
	// answered, when the worker reported the task's start and the flow's.
	attempts   map[string]int
	startSeen  map[string]time.Time
	flowSeen   map[string]time.Time
	startGroup map[string]int // image -> index in spec.StartMix
	spotShort  int            // Spot launch attempts the fake refuses
	engines    sync.WaitGroup // the flow engines of a starts scenario
	refused    int            // engine proposals Prefect did not accept
}

func newSim(sc spec.Scenario) (*sim, error) {
	awsLat, err := spec.NewLatency(sc.AWSLatency, sc.Seed)
	if err != nil {
		return nil, err
	}
	pfLat, err := spec.NewLatency(sc.PrefectLatency, sc.Seed+1)
	if err != nil {
		return nil, err
	}
	s := &sim{sc: sc, pfLat: pfLat, logs: newLogCounter(),
		created: map[string]time.Time{}, submitted: map[string]bool{}, crashed: map[string]bool{}, by: map[string]int{},
		attempts: map[string]int{}, startSeen: map[string]time.Time{}, flowSeen: map[string]time.Time{}}
	script := spec.TaskOutcome
	if sc.Kind == spec.KindStarts {
		script = s.startOutcome
	}
	// Response checks cost the fake CPU that says nothing of the worker;
	// requests are still checked against Prefect's schemas.
	s.prefect = prefectfake.New(prefectfake.Options{SkipResponseCheck: true, Seed: sc.Seed + 2})
	s.aws = awsfake.New(awsfake.Options{Script: script, Throttle: spec.FakeThrottle, Seed: sc.Seed + 3})
	s.aws.CreateCluster(spec.Cluster)
	s.awsRT = &delayed{next: s.aws.HTTPClient().Transport, delay: awsLat}
	s.flowID = s.prefect.CreateFlow(spec.FlowName)["id"].(string)
	return s, nil
}

func (s *sim) close() {
	s.aws.Close()
	s.prefect.Close()
}

func (s *sim) deployment(name string) string {
	return s.prefect.CreateDeployment(s.flowID, name, poolName, "", spec.JobVariables(""))["id"].(string)
}

func (s *sim) newRun(deployment string) string {
	id := s.prefect.CreateFlowRun(deployment, nil, time.Time{})["id"].(string)
	s.mu.Lock()
	s.created[id] = time.Now()
	s.mu.Unlock()
	return id
}

func (s *sim) notify(event, run string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch event {
	case "submitted":
		s.submitted[run] = true
	case "submission-crashed":
		s.crashed[run] = true
	case "start-breakdown":
		s.startSeen[run] = time.Now()
	case "flow-start":
		s.flowSeen[run] = time.Now()
	}
}

// done counts runs that reached a task or a crash.
func (s *sim) done() (submitted, crashed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.submitted), len(s.crashed)
}

// runningWorker is a worker and how to stop it.
type runningWorker struct {
	w    *worker.Worker
	stop func() error
}

// start runs a worker with its own Prefect client and AWS client factory
// (and so its own budget and caches), as a new process would have.
func (s *sim) start(name string) (*runningWorker, error) {
	cfg := worker.Config{
		Pool: poolName, Name: name, CreatePool: true, DefaultImage: benchImage,
		Logger: slog.New(s.logs), ShutdownTimeout: 30 * time.Second,
		Notify: func(event, run string) {
			s.notify(event, run)
			if event == "submitted" {
				s.mu.Lock()
				s.by[name]++
				s.mu.Unlock()
			}
		},
	}
	cfg.EventStream = s.sc.Trigger == spec.TriggerStream
	if s.sc.Config == spec.ConfigPython {
		cfg = pythonLike(cfg)
	}
	api, err := prefect.New(prefectconfig.Config{APIURL: "http://prefect.invalid" + s.prefect.APIPath(), Timeout: 30 * time.Second, MaxRetries: 3, RetryJitter: 0.2},
		prefectapi.WithHTTPClient(&http.Client{Transport: &delayed{next: inProcess{s.prefect}, delay: s.pfLat}}))
	if err != nil {
		return nil, err
	}
	factory := awsclient.NewFactory(awsclient.FactoryOptions{HTTPClient: &http.Client{Transport: s.awsRT}, BaseEndpoint: s.aws.URL()})
	w, err := worker.New(cfg, api, factory)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx) }()
	return &runningWorker{w: w, stop: func() error { cancel(); return <-errc }}, nil
}

// polls counts the worker polls the Prefect API has answered.
func (s *sim) polls() int {
	return s.prefect.Calls()["POST /work_pools/{name}/get_scheduled_flow_runs"]
}

// subscriptions counts the event stream subscriptions Prefect has seen.
func (s *sim) subscriptions() int {
	return s.prefect.Calls()["GET /events/out"]
}

// waitUntil lets time pass in steps until cond holds or limit passes.
func (s *sim) waitUntil(limit, step time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	if s.sc.Clock == "wall" {
		step = min(step, 100*time.Millisecond)
	}
	s.settle()
	for !cond() {
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(step)
		s.settle()
	}
	return true
}

// settle lets everything that can run at this instant of fake time run.
func (s *sim) settle() {
	if s.sc.Clock != "wall" {
		synctest.Wait()
	}
}

// lastRunTask is the latest task creation among runs, and per run its
// creation time, from the fake's own records.
func (s *sim) taskTimes() map[string]time.Time {
	out := map[string]time.Time{}
	for _, t := range s.aws.Tasks() {
		if id := t.Tags["prefect.io/flow-run-id"]; id != "" {
			if old, ok := out[id]; !ok || t.CreatedAt.Before(old) {
				out[id] = t.CreatedAt
			}
		}
	}
	return out
}

// Run simulates one scenario; with the fake clock it must run inside a
// synctest bubble.
func Run(sc spec.Scenario) (res spec.Result) {
	res = spec.Result{Scenario: sc, Name: sc.Name(), Clock: sc.Clock}
	s, err := newSim(sc)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer s.close()
	switch sc.Kind {
	case spec.KindSubmit:
		err = s.submit(&res)
	case spec.KindLatency:
		err = s.latency(&res)
	case spec.KindDeployments:
		err = s.deployments(&res)
	case spec.KindRestart:
		err = s.restart(&res)
	case spec.KindReplicas:
		err = s.replicas(&res)
	case spec.KindStarts:
		err = s.starts(&res)
	default:
		err = fmt.Errorf("unknown scenario kind %q", sc.Kind)
	}
	if err != nil {
		res.Error = err.Error()
	}
	res.Warnings, res.Errors, res.FirstLines = s.logs.counts()
	res.Subscriptions = s.subscriptions()
	return res
}

// warm starts a worker and lets it make its first poll.
func (s *sim) warm(name string) (*runningWorker, error) {
	before, subscribed := s.polls(), s.subscriptions()
	w, err := s.start(name)
	if err != nil {
		return nil, err
	}
	if !s.waitUntil(time.Minute, 100*time.Millisecond, func() bool { return s.polls() > before }) {
		_ = w.stop()
		return nil, fmt.Errorf("the worker did not poll within a minute of starting")
	}
	if s.sc.Trigger == spec.TriggerStream && s.sc.Config != spec.ConfigPython {
		if !s.waitUntil(time.Minute, 100*time.Millisecond, func() bool { return s.subscriptions() > subscribed }) {
			_ = w.stop()
			return nil, fmt.Errorf("the worker did not subscribe to the event stream within a minute of starting")
		}
		// Let the subscription's handshake (auth, filter) finish.
		time.Sleep(time.Second)
		s.settle()
	}
	return w, nil
}

// launchAll schedules runs at once (made by mk), and waits until each has
// a task or crashed; it fills the submission figures of res.
func (s *sim) launchAll(res *spec.Result, w *runningWorker, n int, mk func(i int) string) (t0 time.Time, ids []string, err error) {
	awsBefore, thrBefore := s.aws.Calls(), s.aws.Throttled()
	s.pfBefore = s.prefect.Calls()
	t0 = time.Now()
	for i := range n {
		ids = append(ids, mk(i))
	}
	limit := time.Duration(s.sc.LimitSeconds * float64(time.Second))
	s.waitUntil(limit, time.Second, func() bool { a, b := s.done(); return a+b >= n })
	res.Runs = n
	res.Submitted, res.Crashed = s.done()
	res.Unfinished = n - res.Submitted - res.Crashed
	times := s.taskTimes()
	var last time.Time
	for _, id := range ids {
		if at, ok := times[id]; ok && at.After(last) {
			last = at
		}
	}
	if !last.IsZero() {
		res.AllRunTasksSeconds = last.Sub(t0).Seconds()
	}
	res.AWSCalls = diff(s.aws.Calls(), awsBefore)
	delete(res.AWSCalls, "ecs:DescribeTasks") // per tick, not per run: see Tracking
	res.AWSThrottled = diff(s.aws.Throttled(), thrBefore)
	res.PrefectCalls = diff(s.prefect.Calls(), s.pfBefore)
	res.Registrations = len(s.aws.TaskDefinitions())
	if res.Unfinished > 0 {
		return t0, ids, fmt.Errorf("%d of %d runs had neither a task nor a crash after %s of fake time", res.Unfinished, n, limit)
	}
	return t0, ids, nil
}

// track watches DescribeTasks for a while with every task in flight.
func (s *sim) track(res *spec.Result, interval time.Duration) {
	window := time.Duration(s.sc.TrackWindowSeconds * float64(time.Second))
	if window <= 0 {
		return
	}
	calls, thr, described := s.aws.Calls()["ecs:DescribeTasks"], s.aws.Throttled()["ecs:DescribeTasks"], s.awsRT.tasksDescribed()
	time.Sleep(window)
	s.settle()
	tr := &spec.Tracking{
		Tasks: res.Submitted, WindowSeconds: window.Seconds(), IntervalSeconds: interval.Seconds(),
		DescribeTasks:  s.aws.Calls()["ecs:DescribeTasks"] - calls,
		TasksDescribed: s.awsRT.tasksDescribed() - described,
		Throttled:      s.aws.Throttled()["ecs:DescribeTasks"] - thr,
	}
	ticks := window.Seconds() / interval.Seconds()
	if hundreds := math.Ceil(float64(tr.Tasks) / 100); hundreds > 0 && ticks > 0 {
		tr.PerHundredPerTick = float64(tr.DescribeTasks) / ticks / hundreds
	}
	if tr.TasksDescribed > 0 {
		tr.SecondsBetweenLooks = window.Seconds() * float64(tr.Tasks) / float64(tr.TasksDescribed)
	}
	res.Tracking = tr
}

func (s *sim) trackInterval() time.Duration {
	if s.sc.Config == spec.ConfigPython {
		return 5 * time.Second
	}
	return 10 * time.Second // worker.Config's default
}

// submit: N runs of one deployment scheduled at once.
func (s *sim) submit(res *spec.Result) error {
	dep := s.deployment("nightly")
	w, err := s.warm("bench-1")
	if err != nil {
		return err
	}
	defer func() { _ = w.stop() }()
	if _, _, err := s.launchAll(res, w, s.sc.N, func(int) string { return s.newRun(dep) }); err != nil {
		return err
	}
	res.Bound = spec.BoundFor("ecs:RunTask", s.sc.N)
	if res.Bound.Seconds > 0 {
		res.Ratio = res.AllRunTasksSeconds / res.Bound.Seconds
	}
	s.track(res, s.trackInterval())
	// A run costs Prefect calls after its RunTask too (InfrastructurePending
	// when the tracker first sees the task): count them.
	res.PrefectCalls = diff(s.prefect.Calls(), s.pfBefore)
	return nil
}

// replicas: Replicas workers started together on one pool, each with its
// own clients and so its own AWS budget (as separate processes), then N
// runs of one deployment scheduled at once, against the fake AWS's ECS
// buckets. The workers must divide the budget among themselves: each with
// the whole of it, they would ask AWS for Replicas times what the budget
// allows and be throttled.
func (s *sim) replicas(res *spec.Result) error {
	dep := s.deployment("nightly")
	thrBefore := s.aws.Throttled()
	polls, subscribed := s.polls(), s.subscriptions()
	var ws []*runningWorker
	defer func() {
		for _, w := range ws {
			_ = w.stop()
		}
	}()
	for i := range s.sc.Replicas {
		w, err := s.start(fmt.Sprintf("bench-%d", i+1))
		if err != nil {
			return err
		}
		ws = append(ws, w)
	}
	ready := func() bool {
		if s.polls()-polls < s.sc.Replicas {
			return false
		}
		return s.sc.Trigger != spec.TriggerStream || s.subscriptions()-subscribed >= s.sc.Replicas
	}
	if !s.waitUntil(time.Minute, 100*time.Millisecond, ready) {
		return fmt.Errorf("the %d workers did not all poll (and subscribe) within a minute of starting", s.sc.Replicas)
	}
	// Let the subscriptions' handshakes finish: the runs then arrive about
	// a second after the workers started.
	time.Sleep(time.Second)
	s.settle()
	_, ids, err := s.launchAll(res, nil, s.sc.N, func(int) string { return s.newRun(dep) })
	if err != nil {
		return err
	}
	tasks := map[string]int{}
	for _, t := range s.aws.Tasks() {
		tasks[t.Tags["prefect.io/flow-run-id"]]++
	}
	for _, id := range ids {
		if tasks[id] > 1 {
			res.LaunchedTwice++
		}
	}
	res.Bound = spec.BoundFor("ecs:RunTask", s.sc.N)
	if res.Bound.Seconds > 0 {
		res.Ratio = res.AllRunTasksSeconds / res.Bound.Seconds
	}
	for _, n := range diff(s.aws.Throttled(), thrBefore) {
		res.Throttled += n
	}
	s.mu.Lock()
	res.LaunchedBy = maps.Clone(s.by)
	s.mu.Unlock()
	return nil
}

// deployments: N deployments with one run each, scheduled at once: N
// registrations behind RegisterTaskDefinition's 1-a-second bucket.
//
// It runs on the wall clock: TaskDefinitions serialises registrations
// with 64 striped sync.Mutexes held across the AWS calls, and a goroutine
// waiting on a sync.Mutex is not durably blocked for testing/synctest, so
// as soon as two families share a stripe fake time stops for good.
func (s *sim) deployments(res *spec.Result) error {
	deps := make([]string, s.sc.N)
	for i := range deps {
		deps[i] = s.deployment(fmt.Sprintf("dep-%04d", i))
	}
	w, err := s.warm("bench-1")
	if err != nil {
		return err
	}
	defer func() { _ = w.stop() }()
	if _, _, err := s.launchAll(res, w, s.sc.N, func(i int) string { return s.newRun(deps[i]) }); err != nil {
		return err
	}
	res.Bound = spec.BoundFor("ecs:RegisterTaskDefinition", s.sc.N)
	if res.Bound.Seconds > 0 {
		res.Ratio = res.AllRunTasksSeconds / res.Bound.Seconds
	}
	return nil
}

// restart: N deployments, two runs each before a worker restart and two
// after; counts the registrations on either side. It runs on the wall
// clock, for the reason given at deployments.
func (s *sim) restart(res *spec.Result) error {
	deps := make([]string, s.sc.N)
	for i := range deps {
		deps[i] = s.deployment(fmt.Sprintf("dep-%04d", i))
	}
	awsBefore, pfBefore, thrBefore := s.aws.Calls(), s.prefect.Calls(), s.aws.Throttled()
	total := 0
	for phase := range 2 {
		w, err := s.warm(fmt.Sprintf("bench-%d", phase+1))
		if err != nil {
			return err
		}
		want := total + 2*s.sc.N
		for round := range 2 {
			for _, d := range deps {
				s.newRun(d)
			}
			w.w.PollNow()
			// Let the round be launched before the next, as runs of a
			// schedule arrive.
			s.waitUntil(10*time.Minute, time.Second, func() bool { a, b := s.done(); return a+b >= total+(round+1)*s.sc.N })
		}
		total = want
		if err := w.stop(); err != nil {
			return err
		}
		res.RegistrationsPerPhase = append(res.RegistrationsPerPhase, len(s.aws.TaskDefinitions())-sumInts(res.RegistrationsPerPhase))
	}
	res.Runs = total
	res.Submitted, res.Crashed = s.done()
	res.Unfinished = total - res.Submitted - res.Crashed
	res.AWSCalls = diff(s.aws.Calls(), awsBefore)
	delete(res.AWSCalls, "ecs:DescribeTasks")
	res.AWSThrottled = diff(s.aws.Throttled(), thrBefore)
	res.PrefectCalls = diff(s.prefect.Calls(), pfBefore)
	res.Registrations = len(s.aws.TaskDefinitions())
	return nil
}

// latency: runs arriving one by one, at exponentially distributed gaps;
// each run's time from being scheduled to its RunTask.
func (s *sim) latency(res *spec.Result) error {
	dep := s.deployment("nightly")
	w, err := s.warm("bench-1")
	if err != nil {
		return err
	}
	defer func() { _ = w.stop() }()
	// A first run registers the task definition: steady state is measured.
	s.newRun(dep)
	w.w.PollNow()
	if !s.waitUntil(5*time.Minute, time.Second, func() bool { a, b := s.done(); return a+b >= 1 }) {
		return fmt.Errorf("the warm-up run was not submitted")
	}
	awsBefore, pfBefore, thrBefore := s.aws.Calls(), s.prefect.Calls(), s.aws.Throttled()
	rng := rand.New(rand.NewPCG(s.sc.Seed, 7))
	mean := s.sc.MeanGapSeconds
	var ids []string
	for range s.sc.N {
		gap := time.Duration(rng.ExpFloat64() * mean * float64(time.Second))
		time.Sleep(gap)
		ids = append(ids, s.newRun(dep))
	}
	limit := time.Duration(s.sc.LimitSeconds * float64(time.Second))
	s.waitUntil(limit, time.Second, func() bool { a, b := s.done(); return a+b >= s.sc.N+1 })
	res.Runs = s.sc.N
	sub, cr := s.done()
	res.Submitted, res.Crashed = sub-1, cr
	res.Unfinished = s.sc.N - res.Submitted - res.Crashed
	times := s.taskTimes()
	var lat []float64
	s.mu.Lock()
	for _, id := range ids {
		if at, ok := times[id]; ok {
			lat = append(lat, at.Sub(s.created[id]).Seconds())
		}
	}
	s.mu.Unlock()
	res.Latency = percentiles(lat)
	res.AWSCalls = diff(s.aws.Calls(), awsBefore)
	delete(res.AWSCalls, "ecs:DescribeTasks")
	res.AWSThrottled = diff(s.aws.Throttled(), thrBefore)
	res.PrefectCalls = diff(s.prefect.Calls(), pfBefore)
	res.Registrations = len(s.aws.TaskDefinitions())
	if res.Unfinished > 0 {
		return fmt.Errorf("%d of %d runs were not submitted", res.Unfinished, s.sc.N)
	}
	return nil
}

func sumInts(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

// percentiles summarises latencies, in seconds.
func percentiles(xs []float64) *spec.Percentile {
	if len(xs) == 0 {
		return nil
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	at := func(q float64) float64 { return spec.NearestRank(s, q) }
	sum := 0.0
	for _, x := range s {
		sum += x
	}
	return &spec.Percentile{N: len(s), P50: at(0.5), P90: at(0.9), P99: at(0.99), Max: s[len(s)-1], Mean: sum / float64(len(s))}
}
