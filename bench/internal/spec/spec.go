// Package spec is what the bench and its scenario processes agree on: a
// Scenario to simulate, the Result it measured, the latencies the test
// servers add to each call, the token-bucket bounds a submission is held
// to, and the world both ways of running a scenario set up in the servers.
package spec

import (
	"fmt"
	"strings"
	"time"
)

// Configurations compared.
const (
	// ConfigOurs is ecsworker as it ships.
	ConfigOurs = "ecsworker"
	// ConfigPython is ecsworker calling AWS and Prefect the way the Python
	// worker does (see the simulation's pythonLike).
	ConfigPython = "python-like"
)

// Triggers of a poll when runs are created.
const (
	// TriggerPoll leaves the worker to find runs by its regular polls.
	TriggerPoll = "poll"
	// TriggerStream runs the worker with Prefect's event stream
	// (Config.EventStream): a Scheduled event makes it poll at once.
	TriggerStream = "stream"
)

// Kinds of simulated scenario.
const (
	KindSubmit      = "submit"      // N runs of one deployment scheduled at once
	KindLatency     = "latency"     // N runs arriving one by one
	KindDeployments = "deployments" // N deployments, one run each, at once
	KindRestart     = "restart"     // N deployments, runs before and after a worker restart
	KindReplicas    = "replicas"    // N runs of one deployment at once, for Replicas workers
	KindStarts      = "starts"      // N runs of a scripted mix of deployments, each start phase scripted
)

// Scenario is one fake-time measurement: what the bench asks a test
// process to simulate.
type Scenario struct {
	Kind    string `json:"kind"`
	Config  string `json:"config"`
	Trigger string `json:"trigger"`
	N       int    `json:"n"`
	// MeanGapSeconds is the mean time between two runs of a latency or a
	// starts scenario (exponentially distributed).
	MeanGapSeconds float64 `json:"mean_gap_seconds,omitempty"`
	// AWSLatency and PrefectLatency are ranges such as "20ms-60ms": each
	// call waits a uniformly drawn time in the range before it is served.
	AWSLatency     string `json:"aws_latency"`
	PrefectLatency string `json:"prefect_latency"`
	// TrackWindowSeconds is how long task tracking is watched once every
	// run is submitted.
	TrackWindowSeconds float64 `json:"track_window_seconds,omitempty"`
	// Replicas is how many workers serve the pool together (replicas
	// scenarios), each with its own clients and budget, as separate
	// processes would have.
	Replicas int `json:"replicas,omitempty"`
	// LimitSeconds is how much fake time the scenario may take.
	LimitSeconds float64 `json:"limit_seconds"`
	Seed         uint64  `json:"seed"`
	// Clock is "fake" (a testing/synctest bubble) or "wall" (real timers,
	// for what a bubble cannot run: see the deployments scenario).
	Clock string `json:"clock"`
}

// Name is short and unique within a bench run.
func (s Scenario) Name() string {
	name := fmt.Sprintf("%s-%d/%s", s.Kind, s.N, s.Config)
	if s.Kind == KindReplicas {
		name = fmt.Sprintf("%s-%dx%d/%s", s.Kind, s.Replicas, s.N, s.Config)
	}
	if s.Kind == KindLatency || s.Kind == KindSubmit || s.Kind == KindReplicas || s.Kind == KindStarts {
		name += "/" + s.Trigger
	}
	return name
}

// Result is what a scenario measured.
type Result struct {
	Scenario Scenario `json:"scenario"`
	Name     string   `json:"name"`
	// Clock says how the figures were timed: "fake" (testing/synctest:
	// pacing and call counts, deterministic up to scheduling) or "wall".
	Clock       string  `json:"clock"`
	WallSeconds float64 `json:"wall_seconds"` // what simulating it cost
	Error       string  `json:"error,omitempty"`

	Runs      int `json:"runs,omitempty"`
	Submitted int `json:"submitted,omitempty"`
	Crashed   int `json:"crashed"`
	// Unfinished runs had neither a task nor a crash when the scenario
	// gave up.
	Unfinished int `json:"unfinished"`

	// AllRunTasksSeconds is from the moment the runs were scheduled to the
	// last RunTask that started a task.
	AllRunTasksSeconds float64 `json:"all_runtasks_seconds,omitempty"`
	Bound              *Bound  `json:"bound,omitempty"`
	// Ratio is AllRunTasksSeconds over the bound.
	Ratio float64 `json:"ratio,omitempty"`

	// Calls made from the moment the runs were scheduled until the last
	// one was submitted (tracking calls excepted: see Tracking).
	AWSCalls     map[string]int `json:"aws_calls,omitempty"`
	AWSThrottled map[string]int `json:"aws_throttled,omitempty"`
	PrefectCalls map[string]int `json:"prefect_calls,omitempty"`
	// Registrations is how many task definition revisions were created.
	Registrations int `json:"registrations"`
	// RegistrationsPerPhase, for a restart: before and after it.
	RegistrationsPerPhase []int `json:"registrations_per_phase,omitempty"`

	Tracking *Tracking   `json:"tracking,omitempty"`
	Latency  *Percentile `json:"latency_seconds,omitempty"`

	// LaunchedBy is, for replicas scenarios, how many runs each worker
	// submitted (by worker name); LaunchedTwice how many runs got more
	// than one ECS task.
	LaunchedBy    map[string]int `json:"launched_by,omitempty"`
	LaunchedTwice int            `json:"launched_twice"`
	// Throttled is every AWS attempt the fake throttled, from the workers'
	// start to the last submission (replicas scenarios).
	Throttled int `json:"throttled"`

	// Subscriptions to Prefect's event stream the worker made.
	Subscriptions int `json:"event_stream_subscriptions"`

	// Worker log records at WARN and ERROR, and the first few of them.
	Warnings   int      `json:"warnings"`
	Errors     int      `json:"errors"`
	FirstLines []string `json:"first_log_lines,omitempty"`

	Memory  *Memory  `json:"memory,omitempty"`
	Startup *Startup `json:"startup,omitempty"`
	// Starts is what a starts scenario measured: its runs' start phases
	// as the worker recorded them, against the script.
	Starts *Starts `json:"starts,omitempty"`
}

// Bound is the least time the token buckets allow for a number of calls.
type Bound struct {
	Seconds float64 `json:"seconds"`
	// By names the tighter bucket set: "fake AWS" or "client budget".
	By string `json:"by"`
	// Action is the call the bound is about.
	Action        string  `json:"action"`
	FakeAWS       float64 `json:"fake_aws_seconds"`
	ClientBudget  float64 `json:"client_budget_seconds"`
	FakeBuckets   string  `json:"fake_buckets"`
	BudgetBuckets string  `json:"budget_buckets"`
}

// Tracking is what following the tasks cost once they were all launched.
type Tracking struct {
	Tasks           int     `json:"tasks"`
	WindowSeconds   float64 `json:"window_seconds"`
	IntervalSeconds float64 `json:"interval_seconds"`
	DescribeTasks   int     `json:"describe_tasks_calls"`
	TasksDescribed  int     `json:"tasks_described"`
	Throttled       int     `json:"throttled"`
	// PerHundredPerTick is DescribeTasks calls per 100 tasks per tracking
	// interval.
	PerHundredPerTick float64 `json:"per_100_tasks_per_tick"`
	// SecondsBetweenLooks is how long, on average, a task goes between two
	// DescribeTasks that include it: how stale the worker's view is.
	SecondsBetweenLooks float64 `json:"seconds_between_looks"`
}

// Percentile summarises latencies, in seconds.
type Percentile struct {
	N    int     `json:"n"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// Memory is the worker process's memory with runs in flight.
type Memory struct {
	InFlight int `json:"in_flight"`
	// PeakRSS is the kernel's high-water mark (VmHWM) of the worker
	// process; SteadyRSS and SteadyHeap are read once every run was in
	// flight and two tracking polls had passed.
	PeakRSSMB    float64 `json:"peak_rss_mb"`
	SteadyRSSMB  float64 `json:"steady_rss_mb"`
	PeakHeapMB   float64 `json:"peak_heap_inuse_mb"`
	SteadyHeapMB float64 `json:"steady_heap_inuse_mb"`
	Goroutines   int     `json:"goroutines"`
	// LiveHeap is the heap still reachable at the last GC (gctrace), and
	// PeakLiveHeap the most it was at any GC: what the worker holds, as
	// opposed to what the runtime has not collected or returned yet.
	LiveHeapMB     float64 `json:"live_heap_mb"`
	PeakLiveHeapMB float64 `json:"peak_live_heap_mb"`
	GCCycles       int     `json:"gc_cycles"`
	// SecondsToInFlight is the wall time from the worker's start until
	// every run was in flight.
	SecondsToInFlight float64 `json:"seconds_to_in_flight"`
	// PeakStackMB and PeakGoroutines are the most goroutine stack memory
	// and goroutines seen while the runs were claimed and launched.
	PeakStackMB    float64 `json:"peak_stack_mb,omitempty"`
	PeakGoroutines int     `json:"peak_goroutines,omitempty"`
	// SteadyAnonMB and SteadyFileMB split the steady RSS: anonymous memory
	// (the Go heap, stacks, the runtime's own) and file-backed pages (the
	// worker binary's code and read-only data that the process touched).
	SteadyAnonMB float64 `json:"steady_anon_mb,omitempty"`
	SteadyFileMB float64 `json:"steady_file_mb,omitempty"`
	// HeapAfterGCMB is the heap still allocated right after a forced GC
	// (go_memstats_heap_alloc_bytes read as soon as the heap profile,
	// which collects first, is served), the least of a few such readings:
	// the live heap to the byte, where gctrace rounds to MB. The per-run
	// slope is computed from it.
	HeapAfterGCMB float64 `json:"heap_after_gc_mb,omitempty"`
	// Retainers are the heap profile's largest holders of live memory once
	// every run was in flight (go tool pprof -top, inuse_space), biggest
	// first.
	Retainers []Retainer `json:"retainers,omitempty"`
}

// Retainer is one function whose allocations are still live, with the
// bytes they hold (flat: allocated by that function itself).
type Retainer struct {
	Function string  `json:"function"`
	Bytes    float64 `json:"bytes"`
}

// Startup is the time from exec to the worker's first poll; for
// `ecsworker version`, the floor, from exec to exit.
type Startup struct {
	InFlight       int       `json:"in_flight"`
	PrefectLatency string    `json:"prefect_latency"`
	Samples        []float64 `json:"samples_ms"`
	MedianMS       float64   `json:"median_ms"`
	MaxMS          float64   `json:"max_ms"`
	// TimedOut is set when no poll came within the limit.
	TimedOut bool `json:"timed_out,omitempty"`
	// IdleRSSMB is the first start's peak RSS a second after its first
	// poll, and IdleFileMB the binary's pages in it: the worker at rest on
	// an empty pool (after a restart, with InFlight runs to adopt).
	IdleRSSMB  float64 `json:"idle_rss_mb,omitempty"`
	IdleFileMB float64 `json:"idle_file_mb,omitempty"`
	// InitMS is the package initialisation of `worker start`: each start's
	// GODEBUG=inittrace=1 lines summed (their "ms clock"), the median over
	// InitSamplesMS. It is part of the time to the first poll, measured in
	// starts of their own so that tracing does not slow the timed ones.
	InitMS        float64   `json:"init_ms,omitempty"`
	InitSamplesMS []float64 `json:"init_samples_ms,omitempty"`
	// InitModuleMS is the part of InitMS spent in this module's own
	// packages (github.com/ecsworker/ecsworker/...); the rest is the Go
	// standard library and the dependencies.
	InitModuleMS float64 `json:"init_module_ms,omitempty"`
	// InitTop are the packages whose initialisation took longest in the
	// start of median InitMS, longest first.
	InitTop []PackageInit `json:"init_top,omitempty"`
}

// PackageInit is one package's initialisation as the runtime traces it.
type PackageInit struct {
	Package string  `json:"package"`
	MS      float64 `json:"ms"`
	Bytes   float64 `json:"bytes"`
}

// LatencyRange parses "20ms-60ms" (or a single duration, or "0").
func LatencyRange(s string) (lo, hi time.Duration, err error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, 0, nil
	}
	a, b, found := strings.Cut(s, "-")
	if lo, err = time.ParseDuration(a); err != nil {
		return 0, 0, fmt.Errorf("latency %q: %w", s, err)
	}
	hi = lo
	if found {
		if hi, err = time.ParseDuration(b); err != nil {
			return 0, 0, fmt.Errorf("latency %q: %w", s, err)
		}
	}
	if lo < 0 || hi < lo {
		return 0, 0, fmt.Errorf("latency %q: write MIN-MAX with 0 <= MIN <= MAX, e.g. 20ms-60ms", s)
	}
	return lo, hi, nil
}
