package report

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ecsworker/ecsworker/bench/internal/spec"
)

func (r Report) restart(config string) *spec.Result {
	return r.find(fmt.Sprintf("%s-%d/%s", spec.KindRestart, r.Settings.RestartDeployments, config))
}

func (r Report) latency(config, trigger string) *spec.Result {
	return r.find(fmt.Sprintf("%s-%d/%s/%s", spec.KindLatency, r.Settings.LatencyRuns, config, trigger))
}

func (r Report) replicasRun() *spec.Result {
	return r.find(fmt.Sprintf("%s-%dx%d/%s/%s", spec.KindReplicas, r.Settings.Replicas, r.Settings.ReplicaRuns, spec.ConfigOurs, spec.TriggerStream))
}

func (r Report) deploymentsRun(config string) *spec.Result {
	return r.find(fmt.Sprintf("%s-%d/%s", spec.KindDeployments, r.Settings.Deployments, config))
}

// Whether ecsworker met each goal. The report's goals table and the
// summary both ask these, so that they cannot disagree.

func submitMet(res *spec.Result) bool { return !failed(res) && res.Ratio <= 1.1 && res.Crashed == 0 }

func runTaskMet(res *spec.Result) bool {
	return !failed(res) && res.AWSCalls["ecs:RunTask"] == res.Runs
}

// replicasMet: replicas together as fast as one worker could be (the
// account's bound), without AWS throttling them and with one task a run.
func replicasMet(res *spec.Result) bool { return submitMet(res) && replicasSafe(res) }

// replicasSafe: AWS never throttled the replicas and no run got two tasks.
func replicasSafe(res *spec.Result) bool {
	return !failed(res) && res.Throttled == 0 && res.LaunchedTwice == 0 && runTaskMet(res)
}

// replicasCell is the replicas scenario in the report's goals table.
func replicasCell(res *spec.Result) string {
	if failed(res) {
		return errCell(res)
	}
	return fmt.Sprintf("%s, %d throttled, %s RunTask/run, %d launched twice, per replica %s",
		ratioCell(res), res.Throttled, perRun(res.AWSCalls["ecs:RunTask"], res.Runs), res.LaunchedTwice, perReplica(res))
}

// perReplica is the runs each replica launched, by worker name: "330/338/332".
func perReplica(res *spec.Result) string {
	by := make([]string, 0, len(res.LaunchedBy))
	for _, k := range slices.Sorted(maps.Keys(res.LaunchedBy)) {
		by = append(by, strconv.Itoa(res.LaunchedBy[k]))
	}
	return strings.Join(by, "/")
}

func registrationMet(res *spec.Result) bool { return !failed(res) && res.Registrations == 1 }

func restartMet(res *spec.Result) bool {
	return !failed(res) && len(res.RegistrationsPerPhase) == 2 && res.RegistrationsPerPhase[1] == 0 && res.Crashed == 0
}

// trackingMet allows for rounding: a tick can see exactly one call per
// 100 tasks.
func trackingMet(res *spec.Result) bool {
	return !failed(res) && res.Tracking != nil && res.Tracking.PerHundredPerTick <= 1.0001
}

// streamMet needs a subscription: a low p50 without one would be luck.
func streamMet(res *spec.Result) bool {
	return !failed(res) && res.Latency != nil && res.Latency.P50 < 1 && res.Subscriptions > 0
}

func deploymentsMet(res *spec.Result) bool { return !failed(res) && res.Crashed+res.Unfinished == 0 }

func startupMet(res *spec.Result) bool {
	return !failed(res) && res.Startup != nil && !res.Startup.TimedOut && res.Startup.MedianMS < 50
}

// Package initialisation of `worker start`, summed over the packages
// (GODEBUG=inittrace=1), median start.
const initGoalMS = 10

func initMet(res *spec.Result) bool {
	return !failed(res) && res.Startup != nil && len(res.Startup.InitSamplesMS) > 0 && res.Startup.InitMS <= initGoalMS
}

// The start-up results beside the time to the first poll.
const (
	versionResult = "startup/ecsworker/version"
	initResult    = "startup/ecsworker/init"
)

// Summary is what the bench prints: the figures of the report's goals
// table, one line each and short enough for a terminal, then where the
// rest is. report names the file the report went to ("" for none), data
// the JSON's.
func (r Report) Summary(reportPath, dataPath string) string {
	var b strings.Builder
	m := r.Machine
	mode := "full sizes"
	if r.Settings.Quick {
		mode = "-quick: small sizes, indicative only"
	}
	fmt.Fprintf(&b, "ecsworker bench (%s) at %s, %s, %d CPUs, load %s; took %s\n\n",
		mode, m.Commit, m.Date, m.CPUs, m.LoadAverage, r.Took.Round(time.Second))

	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	row := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")) }
	row("GOAL", "TARGET", "ECSWORKER", "PYTHON-LIKE", "MET")
	for _, n := range r.Settings.Sizes {
		ours, py := r.submit(n, spec.ConfigOurs), r.submit(n, spec.ConfigPython)
		row(fmt.Sprintf("%d runs at once → every RunTask", n), "≤ 1.1 × bound", brief(ours, ratioCell), brief(py, ratioCell), metCell(ours, submitMet))
	}
	if r.Settings.Replicas > 0 {
		rep := r.replicasRun()
		row(fmt.Sprintf("%d replicas, %d runs → every RunTask", r.Settings.Replicas, r.Settings.ReplicaRuns), "≤ 1.1 × bound", brief(rep, ratioCell), "-", metCell(rep, submitMet))
		row(fmt.Sprintf("%d replicas: throttled / launched twice", r.Settings.Replicas), "0 / 0", brief(rep, func(res *spec.Result) string {
			return fmt.Sprintf("%d / %d (per replica %s)", res.Throttled, res.LaunchedTwice, perReplica(res))
		}), "-", metCell(rep, replicasSafe))
	}
	runTasks := func(res *spec.Result) string { return perRun(res.AWSCalls["ecs:RunTask"], res.Runs) }
	for _, n := range r.Settings.Sizes {
		ours, py := r.submit(n, spec.ConfigOurs), r.submit(n, spec.ConfigPython)
		row(fmt.Sprintf("RunTask calls per run (%d runs)", n), "1", brief(ours, runTasks), brief(py, runTasks), metCell(ours, runTaskMet))
	}
	for _, n := range r.Settings.Sizes {
		ours, py := r.submit(n, spec.ConfigOurs), r.submit(n, spec.ConfigPython)
		row(fmt.Sprintf("Registrations for %d runs of 1 deployment", n), "1",
			brief(ours, func(res *spec.Result) string { return fmt.Sprint(res.AWSCalls["ecs:RegisterTaskDefinition"]) }),
			brief(py, func(res *spec.Result) string {
				return fmt.Sprintf("%d (+ %s DescribeTaskDefinition/run)", res.AWSCalls["ecs:RegisterTaskDefinition"], perRun(res.AWSCalls["ecs:DescribeTaskDefinition"], res.Runs))
			}),
			metCell(ours, registrationMet))
	}
	restarts := func(res *spec.Result) string {
		if len(res.RegistrationsPerPhase) < 2 {
			return "-"
		}
		return fmt.Sprintf("%d before, %d after", res.RegistrationsPerPhase[0], res.RegistrationsPerPhase[1])
	}
	row(fmt.Sprintf("Registrations across a restart (%d deployments)", r.Settings.RestartDeployments), "0 after",
		brief(r.restart(spec.ConfigOurs), restarts), brief(r.restart(spec.ConfigPython), restarts), metCell(r.restart(spec.ConfigOurs), restartMet))
	tracking := func(res *spec.Result) string {
		if res.Tracking == nil {
			return "-"
		}
		return fmt.Sprintf("%.2f (each task seen every %s)", res.Tracking.PerHundredPerTick, secs(res.Tracking.SecondsBetweenLooks))
	}
	for _, n := range r.Settings.Sizes {
		ours, py := r.submit(n, spec.ConfigOurs), r.submit(n, spec.ConfigPython)
		row(fmt.Sprintf("DescribeTasks per 100 tasks per tick (%d)", n), "≤ 1", brief(ours, tracking), brief(py, tracking), metCell(ours, trackingMet))
	}
	lat := func(res *spec.Result) string {
		if res.Latency == nil {
			return "-"
		}
		return fmt.Sprintf("p50 %s, p99 %s", secs(res.Latency.P50), secs(res.Latency.P99))
	}
	row("Scheduled → RunTask, event stream", "p50 < 1 s", brief(r.latency(spec.ConfigOurs, spec.TriggerStream), lat), "no event stream",
		metCell(r.latency(spec.ConfigOurs, spec.TriggerStream), streamMet))
	row("Scheduled → RunTask, polling only", "about ½ poll", brief(r.latency(spec.ConfigOurs, spec.TriggerPoll), lat), brief(r.latency(spec.ConfigPython, spec.TriggerPoll), lat), "-")
	if r.Settings.StartRuns > 0 {
		res := r.startsRun()
		row(fmt.Sprintf("Start phases of %d runs = script", r.Settings.StartRuns), "within "+resolution(), brief(res, startsBrief), "-", metCell(res, startsMet))
		row("Scheduled → flow Running, p50", "-", brief(res, func(res *spec.Result) string { return startsTotalsCell(res, true) }), "-", "-")
	}
	if !r.Settings.NoWall && r.Settings.Deployments > 0 {
		deps := func(res *spec.Result) string {
			return fmt.Sprintf("%s, %d failed runs", ratioCell(res), res.Crashed+res.Unfinished)
		}
		row(fmt.Sprintf("%d deployments at once → every RunTask", r.Settings.Deployments), "0 failed runs",
			brief(r.deploymentsRun(spec.ConfigOurs), deps), brief(r.deploymentsRun(spec.ConfigPython), deps), metCell(r.deploymentsRun(spec.ConfigOurs), deploymentsMet))
	}
	if !r.Settings.NoWall {
		for _, n := range r.Settings.MemSizes {
			res := r.memory(n)
			target, met := memoryTargetFor(n), "-"
			if n >= memoryGoalRuns {
				met = plainYesNo(memoryMet(n, res))
			}
			row(fmt.Sprintf("Memory, %d runs in flight", n), target, brief(res, func(res *spec.Result) string {
				if res.Memory == nil {
					return "-"
				}
				return fmt.Sprintf("peak RSS %.1f MB, steady %.1f MB", res.Memory.PeakRSSMB, res.Memory.SteadyRSSMB)
			}), "-", met)
		}
		if per, from, to, ok := r.slope(); ok {
			row("Live heap per tracked run", fmt.Sprintf("≤ %d B", slopeGoalBytes), fmt.Sprintf("%.0f B (slope %d → %d)", per, from, to), "-", plainYesNo(per <= slopeGoalBytes))
		}
		st := r.find("startup/ecsworker/prefect-latency-0")
		row("Exec to first poll, empty pool", "< 50 ms", brief(st, func(res *spec.Result) string {
			if res.Startup == nil {
				return "-"
			}
			return fmt.Sprintf("median %.1f ms, max %.1f ms", res.Startup.MedianMS, res.Startup.MaxMS)
		}), "-", metCell(st, startupMet))
		in := r.find(initResult)
		row("Package initialisation (worker start)", fmt.Sprintf("≤ %d ms", initGoalMS), brief(in, func(res *spec.Result) string {
			if res.Startup == nil {
				return "-"
			}
			return fmt.Sprintf("median %.1f ms, max %.1f ms", res.Startup.InitMS, slices.Max(append([]float64{0}, res.Startup.InitSamplesMS...)))
		}), "-", metCell(in, initMet))
		row("Floor: ecsworker version, exec to exit", "-", brief(r.find(versionResult), func(res *spec.Result) string {
			if res.Startup == nil {
				return "-"
			}
			return fmt.Sprintf("median %.1f ms, max %.1f ms", res.Startup.MedianMS, res.Startup.MaxMS)
		}), "-", "-")
	}
	_ = tw.Flush() // into a bytes.Buffer, which never fails a write

	var failures []string
	for _, res := range r.Results {
		if res.Error != "" {
			first, _, _ := strings.Cut(res.Error, "\n")
			failures = append(failures, fmt.Sprintf("  %s: %s", res.Name, first))
		}
	}
	if len(failures) > 0 {
		fmt.Fprintf(&b, "\nFailed scenarios (the JSON has their whole output):\n%s\n", strings.Join(failures, "\n"))
	}
	b.WriteString("\n")
	if reportPath != "" {
		fmt.Fprintf(&b, "Every table, how each figure is measured, and the findings: %s\n", reportPath)
	} else {
		b.WriteString("Every table, how each figure is measured, and the findings: add -out FILE (go run ./bench writes docs/benchmarks.md)\n")
	}
	if dataPath != "" {
		fmt.Fprintf(&b, "Every figure as JSON: %s\n", dataPath)
	} else {
		b.WriteString("Every figure as JSON: add -json FILE\n")
	}
	return b.String()
}

// brief is a result's cell in the summary: what f makes of it, or why
// there is nothing (the error follows the table: it can be long).
func brief(res *spec.Result, f func(*spec.Result) string) string {
	switch {
	case res == nil:
		return "not run"
	case res.Error != "":
		return "failed (see below)"
	}
	return f(res)
}

func metCell(res *spec.Result, met func(*spec.Result) bool) string { return plainYesNo(met(res)) }

func plainYesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}
