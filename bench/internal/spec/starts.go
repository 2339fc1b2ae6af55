package spec

import (
	"math"
	"slices"
)

// StartScript is one group of a starts scenario's mix: a deployment of its
// own, with its own image, whose tasks the fake AWS starts in scripted
// phases, and whose flow the simulation's engine reports Running a
// scripted time after the task's startedAt.
type StartScript struct {
	// Name is the group's and its deployment's name.
	Name        string  `json:"name"`
	Description string  `json:"description"`
	Share       float64 `json:"share"` // of the scenario's runs
	// Image tells the group's tasks apart in the fake AWS's script.
	Image string `json:"image"`
	// The task's phases (createdAt → pullStartedAt → pullStoppedAt →
	// startedAt) and the flow's start (startedAt → Running), in seconds.
	ProvisionSeconds      float64 `json:"provision_seconds"`
	PullSeconds           float64 `json:"pull_seconds"`
	ContainerStartSeconds float64 `json:"container_start_seconds"`
	FlowStartSeconds      float64 `json:"flow_start_seconds"`
	// Spot launches the group on FARGATE_SPOT with capacity_fallback to
	// FARGATE; the first SpotShortShare of the group's runs find Spot
	// short (the fake refuses the first that many launch attempts on
	// FARGATE_SPOT) and must fall back.
	Spot           bool    `json:"spot,omitempty"`
	SpotShortShare float64 `json:"spot_short_share,omitempty"`
}

// StartMix is the starts scenario's mix: typical Fargate starts, a large
// image, slow Fargate provisioning and a Spot shortage. The figures are
// round versions of what Prefect users report: about 5 s of provisioning
// on a good day, 45 s on a bad one, a minute to pull a multi-GB image.
var StartMix = []StartScript{
	{Name: "small-image", Description: "a small image", Share: 0.40, Image: "bench.example/etl-small:1",
		ProvisionSeconds: 5, PullSeconds: 3, ContainerStartSeconds: 1, FlowStartSeconds: 4},
	{Name: "large-image", Description: "a large image (58 s pull)", Share: 0.30, Image: "bench.example/etl-large:1",
		ProvisionSeconds: 5, PullSeconds: 58, ContainerStartSeconds: 2, FlowStartSeconds: 8},
	{Name: "slow-provisioning", Description: "slow Fargate provisioning (45 s)", Share: 0.20, Image: "bench.example/etl-slowprov:1",
		ProvisionSeconds: 45, PullSeconds: 3, ContainerStartSeconds: 1, FlowStartSeconds: 4},
	{Name: "spot-fallback", Description: "FARGATE_SPOT, short for half the runs: capacity_fallback to FARGATE", Share: 0.10, Image: "bench.example/etl-spot:1",
		ProvisionSeconds: 5, PullSeconds: 3, ContainerStartSeconds: 1, FlowStartSeconds: 4, Spot: true, SpotShortShare: 0.5},
}

// StartCounts splits n runs among the mix's groups by share: each gets its
// share rounded down, and the first groups one more each until all n are
// given out.
func StartCounts(mix []StartScript, n int) []int {
	out := make([]int, len(mix))
	left := n
	for i, g := range mix {
		out[i] = int(math.Floor(g.Share*float64(n) + 1e-9)) // 0.29 × 100 is 28.999… in floating point
		left -= out[i]
	}
	for i := 0; left > 0 && len(out) > 0; i = (i + 1) % len(out) {
		out[i]++
		left--
	}
	return out
}

// SpotShort is how many of a Spot group's runs find Spot short.
func (g StartScript) SpotShort(runs int) int {
	if !g.Spot {
		return 0
	}
	return int(math.Round(g.SpotShortShare * float64(runs)))
}

// StartResolution is how exactly a recorded phase can match its script:
// ECS gives its timestamps in milliseconds (epoch seconds with three
// decimals), and the worker writes each phase on the run as seconds with
// 1 ms precision. The phases come from those timestamps and Prefect's
// Running time, not from when the worker saw the task RUNNING, so this is
// the whole of the error.
const StartResolution = 0.001

// Starts is what a starts scenario measured.
type Starts struct {
	Groups []StartGroup `json:"groups"`
	// FlowRunSeconds is from each task's startedAt to its flow's end (and
	// the container's exit).
	FlowRunSeconds float64 `json:"flow_run_seconds"`
	// TrackIntervalSeconds is how often the worker describes its tasks.
	TrackIntervalSeconds float64 `json:"track_interval_seconds"`
	// SeenLag is from each task's startedAt to the worker's report of its
	// start: how late the worker sees a task RUNNING (its next
	// DescribeTasks), which the recorded phases must not depend on.
	SeenLag *Spread `json:"seen_lag_seconds,omitempty"`
	// FlowStartByEvent counts the runs whose flow start the worker
	// recorded from Prefect's Running event; the others got it when their
	// task stopped, from the run's start_time.
	FlowStartByEvent int `json:"flow_start_by_event"`
}

// StartGroup is one group's figures.
type StartGroup struct {
	Script StartScript `json:"script"`
	Runs   int         `json:"runs"`
	// Recorded counts the runs with every phase on their labels.
	Recorded int `json:"recorded"`
	// Phases are the recorded phases, in startphase order.
	Phases []PhaseCheck `json:"phases"`
	// ToTaskRunning is from each run's scheduled time to its task's
	// startedAt (the fake AWS's record), ToFlowRunning to its flow's
	// Running (Prefect's start_time).
	ToTaskRunning *Spread `json:"to_task_running_seconds,omitempty"`
	ToFlowRunning *Spread `json:"to_flow_running_seconds,omitempty"`
	// Capacity counts the runs by their ecsworker.capacity label.
	Capacity map[string]int `json:"capacity,omitempty"`
	// Fallbacks counts the runs whose capacity label is not the group's
	// first choice; SpotShort is how many the script made fall back.
	Fallbacks int `json:"fallbacks"`
	SpotShort int `json:"spot_short"`
	// RunTaskAttempts counts the RunTask attempts the fake ECS answered
	// for the group's runs (with a task or a capacity failure).
	RunTaskAttempts int `json:"runtask_attempts"`
}

// PhaseCheck is one phase of a group: as recorded, and against what the
// script (or, for queueing, the servers' records) says it was.
type PhaseCheck struct {
	Phase string `json:"phase"`
	Spread
	// Expected is the scripted value; nil for queueing, which is checked
	// run by run against the fake's createdAt minus the scheduled time.
	Expected *float64 `json:"expected,omitempty"`
	// Off counts the runs whose recorded value is further than
	// StartResolution from the expected one, Missing those without it;
	// WorstSeconds is the largest difference.
	Off          int     `json:"off"`
	Missing      int     `json:"missing"`
	WorstSeconds float64 `json:"worst_seconds"`
}

// Spread summarises seconds: nearest-rank p50 and p95, and the maximum.
type Spread struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	Max float64 `json:"max"`
}

// SpreadOf summarises xs; nil for none.
func SpreadOf(xs []float64) *Spread {
	if len(xs) == 0 {
		return nil
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return &Spread{N: len(s), P50: NearestRank(s, 0.5), P95: NearestRank(s, 0.95), Max: s[len(s)-1]}
}

// NearestRank is the q quantile of a sorted, non-empty sample: the
// smallest value with at least q of the sample at or below it.
func NearestRank(sorted []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
