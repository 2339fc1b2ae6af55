// Package workerproc runs the bench's wall-clock measurements of the
// worker as its own process, the `ecsworker worker start` binary, against
// the two test servers served by the bench over loopback. The worker's
// memory is then its process's alone, read from /proc and from its
// Prometheus metrics, with the fakes' allocations kept out; and start-up
// is timed from exec, as a user sees it, beside its floor (`ecsworker
// version`, exec to exit) and the package initialisation it includes.
package workerproc

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ecsworker/ecsworker/bench/internal/spec"
	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
)

// Env is the two fakes on loopback and what the bench watches of them.
type Env struct {
	prefect *prefectfake.Server
	aws     *awsfake.Server
	pfURL   string // PREFECT_API_URL
	awsURL  string

	pfLatency atomic.Pointer[spec.Latency]
	awsLat    *spec.Latency

	mu    sync.Mutex
	polls []pollSeen

	closers []func()
	flowID  string
	tmp     string
	// ProfileDir keeps the heap profiles (heap-N.pb.gz, and
	// heap-claim-N.pb.gz half-way through the claims) when set.
	ProfileDir string
	// WorkerEnv is added to the worker's environment (KEY=VALUE), to try
	// runtime settings such as GOGC or GOMEMLIMIT.
	WorkerEnv []string
}

type pollSeen struct {
	at   time.Time
	pool string
}

// NewEnv serves the fakes, each call delayed by a latency drawn from its
// range; tmp is the workers' home.
func NewEnv(awsLatency, prefectLatency string, seed uint64, tmp string) (*Env, error) {
	e := &Env{tmp: tmp}
	var err error
	if e.awsLat, err = spec.NewLatency(awsLatency, seed); err != nil {
		return nil, err
	}
	if err := e.SetPrefectLatency(prefectLatency, seed+1); err != nil {
		return nil, err
	}
	e.prefect = prefectfake.New(prefectfake.Options{SkipResponseCheck: true})
	// Pacing is measured in fake time; here nothing should hold the worker
	// back from having every run in flight.
	e.aws = awsfake.New(awsfake.Options{Script: spec.TaskOutcome, DisableThrottling: true})
	e.aws.CreateCluster(spec.Cluster)
	e.flowID = e.prefect.CreateFlow(spec.FlowName)["id"].(string)

	pf, err := serve(http.HandlerFunc(e.servePrefect))
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, pf.close)
	e.pfURL = pf.url + e.prefect.APIPath()
	aw, err := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e.awsLat.Wait(r.Context()) != nil {
			return
		}
		e.aws.Handler().ServeHTTP(w, r)
	}))
	if err != nil {
		e.Close()
		return nil, err
	}
	e.closers = append(e.closers, aw.close)
	e.awsURL = aw.url
	return e, nil
}

// SetPrefectLatency changes the latency of the Prefect API's calls to the
// range latency ("10ms-50ms").
func (e *Env) SetPrefectLatency(latency string, seed uint64) error {
	l, err := spec.NewLatency(latency, seed)
	if err != nil {
		return err
	}
	e.pfLatency.Store(l)
	return nil
}

func (e *Env) servePrefect(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/get_scheduled_flow_runs") {
		// When the request arrived, before the simulated latency: the
		// worker sent it about now.
		parts := strings.Split(r.URL.Path, "/")
		pool := ""
		if len(parts) >= 3 {
			pool = parts[len(parts)-2]
		}
		e.mu.Lock()
		e.polls = append(e.polls, pollSeen{at: time.Now(), pool: pool})
		e.mu.Unlock()
	}
	if e.pfLatency.Load().Wait(r.Context()) != nil {
		return
	}
	e.prefect.ServeHTTP(w, r)
}

// firstPollAfter is the first poll of pool at or after t.
func (e *Env) firstPollAfter(pool string, t time.Time) (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range e.polls {
		if p.pool == pool && !p.at.Before(t) {
			return p.at, true
		}
	}
	return time.Time{}, false
}

// Close stops serving the fakes.
func (e *Env) Close() {
	for _, c := range slices.Backward(e.closers) {
		c()
	}
	e.aws.Close()
	e.prefect.Close()
}

type served struct {
	url   string
	close func()
}

func serve(h http.Handler) (served, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return served{}, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return served{url: "http://" + ln.Addr().String(), close: func() { _ = srv.Close() }}, nil
}

func (e *Env) deployment(pool, name string) string {
	return e.prefect.CreateDeployment(e.flowID, name, pool, "", spec.JobVariables(e.awsURL))["id"].(string)
}

// child is a running `ecsworker worker start`.
type child struct {
	cmd     *exec.Cmd
	started time.Time
	metrics string // http://addr/metrics
	heap    string // http://addr/debug/pprof/heap
	done    chan error
	stderr  *tailBuffer
	gc      *gcTrace
	init    *initTrace
}

// lines splits what a process writes into lines, for the trace readers:
// each complete line goes to line, called with mu held. A partial line
// longer than 64 KiB is dropped: no trace line is that long.
type lines struct {
	mu      sync.Mutex
	partial []byte
	line    func([]byte)
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.line(l.partial[:i])
		l.partial = l.partial[i+1:]
	}
	if len(l.partial) > 64<<10 {
		l.partial = nil
	}
	return len(p), nil
}

// gcTrace reads GODEBUG=gctrace=1 lines ("gc 7 @1.2s 3%: ..., 4->5->2 MB,
// ...": heap at GC start, at GC end, and live after marking).
type gcTrace struct {
	lines
	last, peak float64 // live heap, MB
	cycles     int
}

var gcLine = regexp.MustCompile(`(\d+)->(\d+)->(\d+) MB`)

func newGCTrace() *gcTrace {
	g := &gcTrace{}
	g.line = func(line []byte) {
		if !bytes.HasPrefix(line, []byte("gc ")) {
			return
		}
		if m := gcLine.FindSubmatch(line); m != nil {
			live, _ := strconv.ParseFloat(string(m[3]), 64)
			g.last, g.peak = live, max(g.peak, live)
			g.cycles++
		}
	}
	return g
}

func (g *gcTrace) read() (last, peak float64, cycles int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.last, g.peak, g.cycles
}

// workerArgs are the worker's flags in every wall-clock scenario. The
// event stream is left out so that figures do not depend on it; the
// budget is raised because pacing is measured in fake time, and here all
// runs should be in flight as soon as the machine allows. The actions are
// qualified ("ecs:RunTask"): a bare "RunTask" lands beside the default
// budget's "ecs:RunTask" and NewBudget keeps whichever of the two it meets
// last in map order.
func workerArgs(pool, metricsAddr string) []string {
	return []string{"worker", "start", "--pool", pool, "--name", "bench-" + pool,
		"--metrics-addr", metricsAddr, "--debug-heap-profile", "--log-level", "warning", "--no-event-stream",
		"--aws-budget", "ecs:RunTask=100000:100000,ecs:cluster-resource-modify=100000:100000,ecs:cluster-resource-read=100000:100000," +
			"ec2:non-mutating=100000:100000,ecs:task-definition-read=100000:100000,ecs:task-definition-modify=100000:100000"}
}

// startChild starts the worker; godebug are GODEBUG settings beside
// gctrace=1.
func (e *Env) startChild(bin, pool string, querySeconds float64, godebug ...string) (*child, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, workerArgs(pool, addr)...)
	// A clean environment: no profile, AWS configuration or PREFECT_*
	// setting of the machine running the bench leaks in.
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + e.tmp, "PREFECT_HOME=" + filepath.Join(e.tmp, "prefect"),
		"PREFECT_API_URL=" + e.pfURL,
		"PREFECT_WORKER_QUERY_SECONDS=" + strconv.FormatFloat(querySeconds, 'f', -1, 64),
		"AWS_CONFIG_FILE=" + os.DevNull, "AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull, "AWS_EC2_METADATA_DISABLED=true",
	}
	cmd.Env = append(cmd.Env, e.WorkerEnv...)
	// The runtime reports each GC's live heap: the one heap figure that
	// does not depend on when the metrics are scraped.
	cmd.Env = append(cmd.Env, "GODEBUG="+strings.Join(append([]string{"gctrace=1"}, godebug...), ","))
	c := &child{cmd: cmd, metrics: "http://" + addr + "/metrics", heap: "http://" + addr + "/debug/pprof/heap", done: make(chan error, 1), stderr: &tailBuffer{}, gc: newGCTrace(), init: newInitTrace()}
	cmd.Stdout = io.Discard
	cmd.Stderr = io.MultiWriter(c.stderr, c.gc, c.init)
	c.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { c.done <- cmd.Wait() }()
	return c, nil
}

// stop sends SIGTERM, as a container runtime would, and waits.
func (c *child) stop() error {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == -1 {
			return nil // ended by the signal
		}
		return err
	case <-time.After(60 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done //nolint:errcheck // the killed child's exit status; the timeout is the error to report
		return fmt.Errorf("the worker did not stop within 60s of SIGTERM; killed. Last output: %s", c.stderr.String())
	}
}

func (c *child) exited() bool {
	select {
	case err := <-c.done:
		c.done <- err
		return true
	default:
		return false
	}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = ln.Close() }() // only held to learn a free port
	return ln.Addr().String(), nil
}

// procMemory is what /proc/PID/status says of a process's memory, in
// bytes: its resident set now and at its peak, and the resident set's
// anonymous part (heap, stacks, the runtime's own) and file-backed part
// (the pages of the binary it has touched).
type procMemory struct {
	rss, hwm, anon, file float64
}

func readProcMemory(pid int) (m procMemory, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m, err
	}
	defer func() { _ = f.Close() }() // read-only: Close cannot lose data
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) < 1 {
			continue
		}
		n, _ := strconv.ParseFloat(fields[0], 64)
		switch k {
		case "VmRSS":
			m.rss = n * 1024
		case "VmHWM":
			m.hwm = n * 1024
		case "RssAnon":
			m.anon = n * 1024
		case "RssFile":
			m.file = n * 1024
		}
	}
	return m, sc.Err()
}

// scrape reads the named metrics (unlabelled, or their sum over labels).
func scrape(ctx context.Context, url string, names ...string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
			_, rest, ok = strings.Cut(line, "} ")
		}
		if !ok || !want[name] {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
		if err == nil {
			out[name] += v
		}
	}
	return out, sc.Err()
}

const mb = 1 << 20

// MemoryRun launches n runs through a worker process and reads its memory
// once they are all in flight; then restarts the worker to time its first
// poll with n runs to adopt.
func (e *Env) MemoryRun(bin string, n int, hold, restartLimit time.Duration) (mem spec.Result, restart spec.Result) {
	pool := fmt.Sprintf("bench-mem-%d", n)
	mem = spec.Result{Name: fmt.Sprintf("memory-%d/ecsworker", n), Clock: "wall", Runs: n}
	restart = spec.Result{Name: fmt.Sprintf("restart-startup-%d/ecsworker", n), Clock: "wall", Runs: n}
	start := time.Now()
	defer func() { mem.WallSeconds = time.Since(start).Seconds() }()
	dep := e.deployment(pool, "nightly")
	for range n {
		e.prefect.CreateFlowRun(dep, nil, time.Time{})
	}
	// Prefect hands out 200 runs a poll: poll twice a second so that even
	// 10,000 runs are claimed within a minute.
	c, err := e.startChild(bin, pool, 0.5)
	if err != nil {
		mem.Error = err.Error()
		return mem, restart
	}
	m := &spec.Memory{InFlight: n}
	mem.Memory = m
	var peakHeap float64
	var last map[string]float64
	sample := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		v, err := scrape(ctx, c.metrics, "go_memstats_heap_inuse_bytes", "go_goroutines", "ecsworker_runs_in_flight", "go_memstats_stack_inuse_bytes")
		if err != nil {
			return err
		}
		peakHeap = max(peakHeap, v["go_memstats_heap_inuse_bytes"])
		m.PeakStackMB = max(m.PeakStackMB, v["go_memstats_stack_inuse_bytes"]/mb)
		m.PeakGoroutines = max(m.PeakGoroutines, int(v["go_goroutines"]))
		last = v
		return nil
	}
	// Claims go at tens of runs a second here: 10 minutes, and more for
	// the largest sizes.
	limit := time.Duration(max(600, n/20)) * time.Second
	deadline := time.Now().Add(limit)
	claimProfiled := false
	for {
		if c.exited() {
			mem.Error = "the worker exited: " + c.stderr.String()
			return mem, restart
		}
		if sample() == nil && int(last["ecsworker_runs_in_flight"]) >= n {
			break
		}
		if e.ProfileDir != "" && !claimProfiled && int(last["ecsworker_runs_in_flight"]) >= n/2 {
			// Mid-claim, for what submissions hold (kept, not reported).
			claimProfiled = true
			_, _ = c.retainers(bin, filepath.Join(e.ProfileDir, fmt.Sprintf("heap-claim-%d.pb.gz", n)))
		}

		if time.Now().After(deadline) {
			mem.Error = fmt.Sprintf("only %v of %d runs in flight after %s", last["ecsworker_runs_in_flight"], n, limit)
			_ = c.stop()
			return mem, restart
		}
		time.Sleep(250 * time.Millisecond)
	}
	m.SecondsToInFlight = time.Since(c.started).Seconds()
	// Hold: tracking polls (every 10 s) describe every task meanwhile.
	for end := time.Now().Add(hold); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		_ = sample()
	}
	pm, err := readProcMemory(c.cmd.Process.Pid)
	if err != nil {
		mem.Error = err.Error()
	}
	m.PeakRSSMB, m.SteadyRSSMB = pm.hwm/mb, pm.rss/mb
	m.SteadyAnonMB, m.SteadyFileMB = pm.anon/mb, pm.file/mb
	m.LiveHeapMB, m.PeakLiveHeapMB, m.GCCycles = c.gc.read()
	m.PeakHeapMB, m.SteadyHeapMB = peakHeap/mb, last["go_memstats_heap_inuse_bytes"]/mb
	m.Goroutines = int(last["go_goroutines"])
	dir := e.tmp
	if e.ProfileDir != "" {
		dir = e.ProfileDir
	}
	if v, err := c.heapAfterGC(heapReadings); err == nil {
		m.HeapAfterGCMB = v / mb
	} else if mem.Error == "" {
		mem.Error = "heap after a GC: " + err.Error()
	}
	if rs, err := c.retainers(bin, filepath.Join(dir, fmt.Sprintf("heap-%d.pb.gz", n))); err == nil {
		m.Retainers = rs
	} else if mem.Error == "" {
		mem.Error = "heap profile: " + err.Error()
	}
	mem.Submitted = int(last["ecsworker_runs_in_flight"])
	if err := c.stop(); err != nil && mem.Error == "" {
		mem.Error = err.Error()
	}
	restart.Startup = e.TimeStartup(bin, pool, restartLimit, 1)
	restart.Startup.InFlight = n
	return mem, restart
}

// heapReadings is how many forced GCs heapAfterGC reads the heap after.
const heapReadings = 5

// heapAfterGC is the heap still allocated right after a forced GC, the
// least of `readings` readings a second apart. The heap profile's handler
// collects first, and go_memstats_heap_alloc_bytes is read at once: what
// the worker allocates afterwards, or holds for a moment at the GC (a
// tracking tick's DescribeTasks answers being decoded), is not what each
// run keeps, and it moved this figure by several MB between runs.
func (c *child) heapAfterGC(readings int) (float64, error) {
	least := -1.0
	for i := range readings {
		if i > 0 {
			time.Sleep(time.Second)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		v, err := c.readHeapAfterGC(ctx)
		cancel()
		if err != nil {
			return 0, err
		}
		if least < 0 || v < least {
			least = v
		}
	}
	return least, nil
}

func (c *child) readHeapAfterGC(ctx context.Context) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.heap, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", c.heap, resp.Status)
	}
	v, err := scrape(ctx, c.metrics, "go_memstats_heap_alloc_bytes")
	if err != nil {
		return 0, err
	}
	return v["go_memstats_heap_alloc_bytes"], nil
}

// TimeStartup starts the worker `samples` times and times each from exec
// to its first poll.
func (e *Env) TimeStartup(bin, pool string, limit time.Duration, samples int) *spec.Startup {
	st := &spec.Startup{PrefectLatency: e.pfLatency.Load().String()}
	for range samples {
		c, err := e.startChild(bin, pool, 10)
		if err != nil {
			st.TimedOut = true
			return st
		}
		got, ok := e.waitFirstPoll(c, pool, limit)
		if ok && st.IdleRSSMB == 0 {
			// A moment after its first poll, with nothing to do: the
			// worker's memory at rest.
			time.Sleep(time.Second)
			if pm, err := readProcMemory(c.cmd.Process.Pid); err == nil {
				st.IdleRSSMB, st.IdleFileMB = pm.hwm/mb, pm.file/mb
			}
		}
		_ = c.stop()
		if !ok {
			st.TimedOut = true
			st.Samples = append(st.Samples, limit.Seconds()*1000)
			break
		}
		st.Samples = append(st.Samples, float64(got.Sub(c.started).Microseconds())/1000)
	}
	st.MedianMS, st.MaxMS = medianMax(st.Samples)
	return st
}

// waitFirstPoll waits for the first poll of pool since c started, until
// limit has passed or c has exited.
func (e *Env) waitFirstPoll(c *child, pool string, limit time.Duration) (time.Time, bool) {
	for deadline := c.started.Add(limit); time.Now().Before(deadline) && !c.exited(); time.Sleep(time.Millisecond) {
		if got, ok := e.firstPollAfter(pool, c.started); ok {
			return got, true
		}
	}
	return time.Time{}, false
}

func medianMax(samples []float64) (median, maxMS float64) {
	s := slices.Clone(samples)
	slices.Sort(s)
	if len(s) == 0 {
		return 0, 0
	}
	return s[len(s)/2], s[len(s)-1]
}

// TimeVersion runs `ecsworker version` `samples` times and times each from
// exec to exit: the floor under every start of the binary (exec, the Go
// runtime's start, the initialisation of every linked package, one print).
func (e *Env) TimeVersion(bin string, samples int) (*spec.Startup, error) {
	st := &spec.Startup{}
	for range samples {
		cmd := exec.Command(bin, "version")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + e.tmp}
		// Stdout and stderr stay /dev/null: pipes would add their copying
		// goroutines to the time.
		began := time.Now()
		if err := cmd.Run(); err != nil {
			return st, fmt.Errorf("%s version: %w", bin, err)
		}
		st.Samples = append(st.Samples, float64(time.Since(began).Microseconds())/1000)
	}
	st.MedianMS, st.MaxMS = medianMax(st.Samples)
	return st, nil
}

// TimeInit starts the worker `samples` times with GODEBUG=inittrace=1,
// each until its first poll, and returns its package initialisation: for
// each start the runtime's per-package clock times summed. These starts
// are not the timed ones, so that tracing costs those nothing.
func (e *Env) TimeInit(bin, pool string, limit time.Duration, samples int) (*spec.Startup, error) {
	st := &spec.Startup{}
	var starts [][]spec.PackageInit
	for range samples {
		c, err := e.startChild(bin, pool, 10, "inittrace=1")
		if err != nil {
			return st, err
		}
		// The trace is complete before main runs, so long before the poll.
		_, ok := e.waitFirstPoll(c, pool, limit)
		stopErr := c.stop()
		pkgs := c.init.read()
		switch {
		case stopErr != nil:
			return st, fmt.Errorf("worker start with GODEBUG=inittrace=1: %w", stopErr)
		case !ok || len(pkgs) == 0:
			return st, fmt.Errorf("worker start with GODEBUG=inittrace=1: polled %v, %d packages traced; last output: %s", ok, len(pkgs), c.stderr.String())
		}
		starts = append(starts, pkgs)
	}
	// Rounded to the trace's precision (µs): sums of decimals drift.
	total := func(pkgs []spec.PackageInit, only string) float64 {
		t := 0.0
		for _, p := range pkgs {
			if strings.HasPrefix(p.Package, only) {
				t += p.MS
			}
		}
		return math.Round(t*1000) / 1000
	}
	for _, pkgs := range starts {
		st.InitSamplesMS = append(st.InitSamplesMS, total(pkgs, ""))
	}
	slices.SortStableFunc(starts, func(a, b []spec.PackageInit) int { return cmp.Compare(total(a, ""), total(b, "")) })
	median := slices.Clone(starts[len(starts)/2])
	st.InitMS, st.InitModuleMS = total(median, ""), total(median, modulePath+"/")
	slices.SortStableFunc(median, func(a, b spec.PackageInit) int { return cmp.Compare(b.MS, a.MS) })
	st.InitTop = median[:min(len(median), 12)]
	return st, nil
}

// initTrace reads GODEBUG=inittrace=1 lines, one per package with an init
// to run, written by the runtime before main: "init PKG @0.51 ms, 1.2 ms
// clock, 4096 bytes, 12 allocs".
type initTrace struct {
	lines
	pkgs []spec.PackageInit
}

// modulePath is the worker's module, whose packages' share of the
// initialisation is reported apart.
const modulePath = "github.com/ecsworker/ecsworker"

var initLine = regexp.MustCompile(`^init (\S+) @[\d.]+ ms, ([\d.]+) ms clock, (\d+) bytes`)

func newInitTrace() *initTrace {
	t := &initTrace{}
	t.line = func(line []byte) {
		if m := initLine.FindSubmatch(line); m != nil {
			ms, _ := strconv.ParseFloat(string(m[2]), 64)
			b, _ := strconv.ParseFloat(string(m[3]), 64)
			t.pkgs = append(t.pkgs, spec.PackageInit{Package: string(m[1]), MS: ms, Bytes: b})
		}
	}
	return t
}

func (t *initTrace) read() []spec.PackageInit {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.pkgs)
}

// tailBuffer keeps the last few KiB a process wrote.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 8<<10 {
		t.b = slices.Clone(t.b[len(t.b)-4<<10:])
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}

// retainers takes the worker's heap profile and lists its largest live
// holders, with go tool pprof.
func (c *child) retainers(bin, path string) ([]spec.Retainer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.heap, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", c.heap, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(f, resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-sample_index=inuse_space", "-unit=B", "-nodecount=15", bin, f.Name()).Output()
	if err != nil {
		return nil, fmt.Errorf("go tool pprof: %w", err)
	}
	return parseTop(string(out)), nil
}

// topLine is a row of pprof -top with -unit=B: flat, flat%, sum%, cum,
// cum%, function.
var topLine = regexp.MustCompile(`^\s*(\d+)B\s+[\d.]+%\s+[\d.]+%\s+\d+B\s+[\d.]+%\s+(.+)$`)

func parseTop(out string) []spec.Retainer {
	var rs []spec.Retainer
	for _, line := range strings.Split(out, "\n") {
		m := topLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		b, _ := strconv.ParseFloat(m[1], 64)
		rs = append(rs, spec.Retainer{Function: strings.TrimSpace(m[2]), Bytes: b})
	}
	return rs
}
