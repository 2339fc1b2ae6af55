// Package report writes what a bench run measured: docs/benchmarks.md,
// every table with how each figure was measured and the findings the
// figures support, and the summary the command prints, one line per goal.
// Both judge the goals with the same functions, so that they cannot
// disagree.
package report

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ecsworker/ecsworker/bench/internal/spec"
)

// Report is a bench run's figures and what it was measured on and with;
// it writes docs/benchmarks.md (Markdown) and the command's summary.
type Report struct {
	Settings Settings
	Results  []spec.Result
	Machine  Machine
	Took     time.Duration
}

// Settings are the options of a bench run that its report shows; -json
// saves them and -render reads them back.
type Settings struct {
	Sizes              []int   `json:"sizes"`
	MemSizes           []int   `json:"mem_sizes"`
	Deployments        int     `json:"deployments"`
	RestartDeployments int     `json:"restart_deployments"`
	LatencyRuns        int     `json:"latency_runs"`
	MeanGap            float64 `json:"mean_gap_seconds"`
	AWSLatency         string  `json:"aws_latency"`
	PrefectLatency     string  `json:"prefect_latency"`
	TrackWindow        float64 `json:"track_window_seconds"`
	Hold               Seconds `json:"hold_seconds"`
	Seed               uint64  `json:"seed"`
	Quick              bool    `json:"quick"`
	NoWall             bool    `json:"no_wall"`
	// WorkerEnv was added to the worker process's environment (-worker-env).
	WorkerEnv []string `json:"worker_env,omitempty"`
	// Replicas workers serve ReplicaRuns runs scheduled at once in the
	// replicas scenario; 0 replicas: not run.
	Replicas    int `json:"replicas"`
	ReplicaRuns int `json:"replica_runs"`
	// StartRuns runs of the scripted start mix arrive StartGap seconds
	// apart on average in the starts scenario; 0 runs: not run.
	StartRuns int     `json:"start_runs"`
	StartGap  float64 `json:"start_gap_seconds"`
}

// Seconds is a duration that JSON holds as a number of seconds.
type Seconds time.Duration

// MarshalJSON writes the number of seconds.
func (d Seconds) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).Seconds()) }

// UnmarshalJSON reads a number of seconds.
func (d *Seconds) UnmarshalJSON(b []byte) error {
	var s float64
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*d = Seconds(s * float64(time.Second))
	return nil
}

func (r Report) find(name string) *spec.Result {
	for i := range r.Results {
		if r.Results[i].Name == name {
			return &r.Results[i]
		}
	}
	return nil
}

func (r Report) submit(n int, config string) *spec.Result {
	trigger := spec.TriggerStream
	if config == spec.ConfigPython {
		trigger = spec.TriggerPoll
	}
	return r.find(fmt.Sprintf("%s-%d/%s/%s", spec.KindSubmit, n, config, trigger))
}

// table renders a Markdown table.
type table struct {
	head []string
	rows [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t table) String() string {
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for _, c := range cells {
			b.WriteString(" " + strings.ReplaceAll(c, "|", "\\|") + " |")
		}
		b.WriteString("\n")
	}
	line(t.head)
	sep := make([]string, len(t.head))
	for i := range sep {
		sep[i] = "---"
	}
	line(sep)
	for _, row := range t.rows {
		line(row)
	}
	return b.String()
}

func secs(x float64) string {
	switch {
	case x == 0:
		return "0 s"
	case x < 1:
		return fmt.Sprintf("%.0f ms", x*1000)
	case x < 100:
		return fmt.Sprintf("%.1f s", x)
	}
	return fmt.Sprintf("%.0f s", x)
}

func perRun(n, runs int) string {
	if runs == 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(n)/float64(runs), 'f', 2, 64)
}

func yesNo(ok bool) string {
	if ok {
		return "**yes**"
	}
	return "**no**"
}

func failed(res *spec.Result) bool { return res == nil || res.Error != "" }

func errCell(res *spec.Result) string {
	if res == nil {
		return "not run"
	}
	return "failed: " + res.Error
}

// ratioCell is "69.2 s = 1.13 × 61.5 s".
func ratioCell(res *spec.Result) string {
	if failed(res) {
		return errCell(res)
	}
	if res.Bound == nil {
		return secs(res.AllRunTasksSeconds)
	}
	return fmt.Sprintf("%s = %.2f × %s", secs(res.AllRunTasksSeconds), res.Ratio, secs(res.Bound.Seconds))
}

// goals is the summary: each goal of issue #6, what was measured for
// ecsworker and for the Python-like configuration, and whether it is met.
func (r Report) goals() table {
	t := table{head: []string{"Goal", "Target", "ecsworker", "Python-like", "Met (ecsworker)", "Clock"}}
	for _, n := range r.Settings.Sizes {
		ours, py := r.submit(n, spec.ConfigOurs), r.submit(n, spec.ConfigPython)
		by := ""
		if !failed(ours) && ours.Bound != nil {
			by = " (bound set by the " + ours.Bound.By + ")"
		}
		t.add(fmt.Sprintf("%d runs scheduled at once: time until every run has its RunTask", n), "≤ 1.1 × bound"+by,
			ratioCell(ours), ratioCell(py), yesNo(submitMet(ours)), "fake")
	}
	if r.Settings.Replicas > 0 {
		t.add(fmt.Sprintf("%d replicas of the worker on one pool, %d runs scheduled at once: time until every run has its RunTask; AWS throttling; runs launched twice; runs per replica",
			r.Settings.Replicas, r.Settings.ReplicaRuns), "≤ 1.1 × the account's bound, 0 throttled, 1 RunTask/run, 0 launched twice",
			replicasCell(r.replicasRun()), "-", yesNo(replicasMet(r.replicasRun())), "fake")
	}
	// Calls per run, over every submission size.
	runTaskOK, regOK := true, true
	var runTaskCells, regCells, pyRunTask, pyDTD []string
	for _, n := range r.Settings.Sizes {
		ours, py := r.submit(n, spec.ConfigOurs), r.submit(n, spec.ConfigPython)
		if failed(ours) {
			runTaskOK, regOK = false, false
			continue
		}
		runTaskOK = runTaskOK && runTaskMet(ours)
		regOK = regOK && registrationMet(ours)
		runTaskCells = append(runTaskCells, fmt.Sprintf("%s (%d)", perRun(ours.AWSCalls["ecs:RunTask"], ours.Runs), n))
		regCells = append(regCells, fmt.Sprintf("%d (%d runs)", ours.AWSCalls["ecs:RegisterTaskDefinition"], n))
		if !failed(py) {
			pyRunTask = append(pyRunTask, fmt.Sprintf("%s (%d)", perRun(py.AWSCalls["ecs:RunTask"], py.Runs), n))
			pyDTD = append(pyDTD, fmt.Sprintf("%d registration, %s DescribeTaskDefinition/run (%d)", py.AWSCalls["ecs:RegisterTaskDefinition"], perRun(py.AWSCalls["ecs:DescribeTaskDefinition"], py.Runs), n))
		}
	}
	t.add("RunTask calls per run", "1", strings.Join(runTaskCells, ", "), strings.Join(pyRunTask, ", "), yesNo(runTaskOK), "fake")
	t.add("RegisterTaskDefinition for N runs of one deployment", "1", strings.Join(regCells, ", "), strings.Join(pyDTD, "; "), yesNo(regOK), "fake")
	ours, py := r.restart(spec.ConfigOurs), r.restart(spec.ConfigPython)
	restartCell := func(res *spec.Result) string {
		if failed(res) || len(res.RegistrationsPerPhase) < 2 {
			return errCell(res)
		}
		return fmt.Sprintf("%d before, %d after the restart (%d deployments)", res.RegistrationsPerPhase[0], res.RegistrationsPerPhase[1], res.Scenario.N)
	}
	t.add("RegisterTaskDefinition after a worker restart", "0 after", restartCell(ours), restartCell(py),
		yesNo(restartMet(ours)), "wall")
	trackOK := true
	var trackCells, pyTrack []string
	for _, n := range r.Settings.Sizes {
		ours, py := r.submit(n, spec.ConfigOurs), r.submit(n, spec.ConfigPython)
		if failed(ours) || ours.Tracking == nil {
			trackOK = false
			continue
		}
		trackOK = trackOK && trackingMet(ours)
		trackCells = append(trackCells, fmt.Sprintf("%.2f, every task seen every %s (%d)", ours.Tracking.PerHundredPerTick, secs(ours.Tracking.SecondsBetweenLooks), n))
		if !failed(py) && py.Tracking != nil {
			pyTrack = append(pyTrack, fmt.Sprintf("%.2f, every task seen every %s (%d)", py.Tracking.PerHundredPerTick, secs(py.Tracking.SecondsBetweenLooks), n))
		}
	}
	t.add("DescribeTasks per 100 tasks per tracking tick", "≤ 1", strings.Join(trackCells, "; "), strings.Join(pyTrack, "; "), yesNo(trackOK), "fake")

	ev, poll, pyl := r.latency(spec.ConfigOurs, spec.TriggerStream), r.latency(spec.ConfigOurs, spec.TriggerPoll), r.latency(spec.ConfigPython, spec.TriggerPoll)
	lat := func(res *spec.Result) string {
		if failed(res) || res.Latency == nil {
			return errCell(res)
		}
		return fmt.Sprintf("p50 %s, p99 %s", secs(res.Latency.P50), secs(res.Latency.P99))
	}
	t.add("Scheduled → RunTask, runs one by one, with the event stream", "p50 < 1 s", lat(ev), "no event stream", yesNo(streamMet(ev)), "fake")
	t.add("Scheduled → RunTask, runs one by one, polling only (10 s ± 30 %)", "about half a poll interval", lat(poll), lat(pyl), "(reference)", "fake")

	if r.Settings.StartRuns > 0 {
		res := r.startsRun()
		t.add(fmt.Sprintf("%d runs of a scripted start mix: each start phase as the worker recorded it on the run; capacity fallbacks", r.Settings.StartRuns),
			"as scripted, within "+resolution(), startsCell(res), "not comparable", yesNo(startsMet(res)), "fake")
		t.add("Scheduled → flow Running, p50 per group of the mix", "-", startsTotalsCell(res, false), "-", "(reference)", "fake")
	}
	dOurs, dPy := r.deploymentsRun(spec.ConfigOurs), r.deploymentsRun(spec.ConfigPython)
	dep := func(res *spec.Result) string {
		if failed(res) {
			return errCell(res)
		}
		return fmt.Sprintf("%s; %d registrations, %d throttled calls, %d failed runs", ratioCell(res), res.Registrations, sum(res.AWSThrottled), res.Crashed+res.Unfinished)
	}
	if r.Settings.Deployments > 0 && !r.Settings.NoWall {
		t.add(fmt.Sprintf("%d deployments at once: time to every RunTask", r.Settings.Deployments), "0 failed runs", dep(dOurs), dep(dPy),
			yesNo(deploymentsMet(dOurs)), "wall")
	}

	for _, n := range r.Settings.MemSizes {
		m := r.memory(n)
		cell := errCell(m)
		met := "(reference)"
		if !failed(m) && m.Memory != nil {
			mm := m.Memory
			cell = fmt.Sprintf("peak RSS %.1f MB (steady %.1f MB), peak heap in use %.1f MB, live heap %.1f MB after a GC", mm.PeakRSSMB, mm.SteadyRSSMB, mm.PeakHeapMB, mm.HeapAfterGCMB)
		}
		if n >= memoryGoalRuns {
			met = yesNo(memoryMet(n, m))
		}
		if !r.Settings.NoWall {
			t.add(fmt.Sprintf("Worker memory, %d runs in flight", n), memoryTargetFor(n), cell, "not comparable (another runtime)", met, "wall")
		}
	}
	if _, _, _, ok := r.slope(); ok && !r.Settings.NoWall {
		cell, met := r.slopeCell()
		t.add("Live heap per tracked run (slope between the memory sizes)", fmt.Sprintf("≤ %d bytes", slopeGoalBytes), cell, "not comparable", yesNo(met), "wall")
	}
	if !r.Settings.NoWall {
		st := r.find("startup/ecsworker/prefect-latency-0")
		cell, met := errCell(st), yesNo(false)
		if !failed(st) && st.Startup != nil {
			cell = fmt.Sprintf("median %.1f ms, max %.1f ms (%d starts)", st.Startup.MedianMS, st.Startup.MaxMS, len(st.Startup.Samples))
			met = yesNo(startupMet(st))
		}
		t.add("Exec to first poll, empty pool, no added Prefect latency", "< 50 ms", cell, "not comparable", met, "wall")
		in := r.find(initResult)
		cell, met = errCell(in), yesNo(false)
		if !failed(in) && in.Startup != nil {
			cell = fmt.Sprintf("median %.1f ms, max %.1f ms (%d starts)", in.Startup.InitMS, slices.Max(append([]float64{0}, in.Startup.InitSamplesMS...)), len(in.Startup.InitSamplesMS))
			met = yesNo(initMet(in))
		}
		t.add("Package initialisation of `worker start` (part of the above)", fmt.Sprintf("≤ %d ms", initGoalMS), cell, "not comparable", met, "wall")
		v := r.find(versionResult)
		cell = errCell(v)
		if !failed(v) && v.Startup != nil {
			cell = fmt.Sprintf("median %.1f ms, max %.1f ms (%d runs)", v.Startup.MedianMS, v.Startup.MaxMS, len(v.Startup.Samples))
		}
		t.add("Floor: `ecsworker version`, exec to exit", "-", cell, "not comparable", "(reference)", "wall")
	}
	return t
}

func (r Report) submissionTable() table {
	t := table{head: []string{"Runs", "Config", "Runs found by", "Every RunTask after", "Bound", "Ratio", "RunTask/run", "Registrations", "DescribeTaskDefinition/run", "ListTaskDefinitions", "EC2 calls/run", "Prefect calls/run", "Throttled", "Crashed"}}
	for _, n := range r.Settings.Sizes {
		for _, c := range []string{spec.ConfigOurs, spec.ConfigPython} {
			res := r.submit(n, c)
			if failed(res) {
				t.add(strconv.Itoa(n), c, "", errCell(res))
				continue
			}
			ec2 := res.AWSCalls["ec2:DescribeVpcs"] + res.AWSCalls["ec2:DescribeSubnets"]
			t.add(strconv.Itoa(n), c, triggerLabel(res.Scenario.Trigger), secs(res.AllRunTasksSeconds),
				fmt.Sprintf("%s (%s)", secs(res.Bound.Seconds), res.Bound.By), fmt.Sprintf("%.3f", res.Ratio),
				perRun(res.AWSCalls["ecs:RunTask"], res.Runs), strconv.Itoa(res.AWSCalls["ecs:RegisterTaskDefinition"]),
				perRun(res.AWSCalls["ecs:DescribeTaskDefinition"], res.Runs), strconv.Itoa(res.AWSCalls["ecs:ListTaskDefinitions"]),
				perRun(ec2, res.Runs), perRun(sum(res.PrefectCalls), res.Runs), strconv.Itoa(sum(res.AWSThrottled)), strconv.Itoa(res.Crashed+res.Unfinished))
		}
	}
	return t
}

func triggerLabel(t string) string {
	if t == spec.TriggerStream {
		return "event stream"
	}
	return "polling"
}

func (r Report) trackingTable() table {
	t := table{head: []string{"Tasks", "Config", "Interval", "DescribeTasks in window", "Window", "Per 100 tasks per tick", "Tasks per call", "Each task seen every", "Throttled"}}
	for _, n := range r.Settings.Sizes {
		for _, c := range []string{spec.ConfigOurs, spec.ConfigPython} {
			res := r.submit(n, c)
			if failed(res) || res.Tracking == nil {
				continue
			}
			tr := res.Tracking
			per := "-"
			if tr.DescribeTasks > 0 {
				per = fmt.Sprintf("%.1f", float64(tr.TasksDescribed)/float64(tr.DescribeTasks))
			}
			t.add(strconv.Itoa(tr.Tasks), c, secs(tr.IntervalSeconds), strconv.Itoa(tr.DescribeTasks), secs(tr.WindowSeconds),
				fmt.Sprintf("%.2f", tr.PerHundredPerTick), per, secs(tr.SecondsBetweenLooks), strconv.Itoa(tr.Throttled))
		}
	}
	return t
}

func (r Report) latencyTable() table {
	t := table{head: []string{"Config", "Trigger", "Runs", "p50", "p90", "p99", "max", "mean", "AWS calls/run", "Prefect calls/run"}}
	for _, c := range []struct{ config, trigger string }{{spec.ConfigOurs, spec.TriggerStream}, {spec.ConfigOurs, spec.TriggerPoll}, {spec.ConfigPython, spec.TriggerPoll}} {
		res := r.latency(c.config, c.trigger)
		if failed(res) || res.Latency == nil {
			t.add(c.config, triggerLabel(c.trigger), errCell(res))
			continue
		}
		l := res.Latency
		t.add(c.config, triggerLabel(c.trigger), strconv.Itoa(l.N), secs(l.P50), secs(l.P90), secs(l.P99), secs(l.Max), secs(l.Mean),
			perRun(sum(res.AWSCalls), res.Runs), perRun(sum(res.PrefectCalls), res.Runs))
	}
	return t
}

func (r Report) deploymentsTable() table {
	t := table{head: []string{"Config", "Deployments", "Every RunTask after", "Bound", "Ratio", "Registrations", "RegisterTaskDefinition calls", "ListTaskDefinitions", "DescribeTaskDefinition", "Throttled", "Failed runs"}}
	for _, c := range []string{spec.ConfigOurs, spec.ConfigPython} {
		res := r.deploymentsRun(c)
		if failed(res) {
			t.add(c, strconv.Itoa(r.Settings.Deployments), errCell(res))
			continue
		}
		t.add(c, strconv.Itoa(res.Runs), secs(res.AllRunTasksSeconds), fmt.Sprintf("%s (%s)", secs(res.Bound.Seconds), res.Bound.By), fmt.Sprintf("%.3f", res.Ratio),
			strconv.Itoa(res.Registrations), strconv.Itoa(res.AWSCalls["ecs:RegisterTaskDefinition"]), strconv.Itoa(res.AWSCalls["ecs:ListTaskDefinitions"]),
			strconv.Itoa(res.AWSCalls["ecs:DescribeTaskDefinition"]), throttledCell(res.AWSThrottled), strconv.Itoa(res.Crashed+res.Unfinished))
	}
	return t
}

func throttledCell(m map[string]int) string {
	if len(m) == 0 {
		return "0"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func (r Report) restartTable() table {
	t := table{head: []string{"Config", "Deployments", "Runs", "Registrations before restart", "after restart", "ListTaskDefinitions", "DescribeTaskDefinition", "Failed runs"}}
	for _, c := range []string{spec.ConfigOurs, spec.ConfigPython} {
		res := r.restart(c)
		if failed(res) || len(res.RegistrationsPerPhase) < 2 {
			t.add(c, strconv.Itoa(r.Settings.RestartDeployments), errCell(res))
			continue
		}
		t.add(c, strconv.Itoa(res.Scenario.N), strconv.Itoa(res.Runs), strconv.Itoa(res.RegistrationsPerPhase[0]), strconv.Itoa(res.RegistrationsPerPhase[1]),
			strconv.Itoa(res.AWSCalls["ecs:ListTaskDefinitions"]), strconv.Itoa(res.AWSCalls["ecs:DescribeTaskDefinition"]), strconv.Itoa(res.Crashed+res.Unfinished))
	}
	return t
}

func (r Report) memoryTable() table {
	t := table{head: []string{"Runs in flight", "Peak RSS (VmHWM)", "Steady RSS (anonymous + binary pages)", "Peak heap in use", "Steady heap in use", "Live heap after a GC", "Live heap, last GC", "Peak live heap", "GCs", "Goroutines (peak)", "Peak stacks", "All in flight after", "Restart: exec to first poll"}}
	for _, n := range r.Settings.MemSizes {
		m, rs := r.find(fmt.Sprintf("memory-%d/ecsworker", n)), r.find(fmt.Sprintf("restart-startup-%d/ecsworker", n))
		if failed(m) || m.Memory == nil {
			t.add(strconv.Itoa(n), errCell(m))
			continue
		}
		restart := "-"
		if rs != nil && rs.Startup != nil && len(rs.Startup.Samples) > 0 {
			restart = secs(rs.Startup.Samples[0] / 1000)
			if rs.Startup.TimedOut {
				restart = "> " + restart + " (gave up)"
			}
		}
		mm := m.Memory
		t.add(strconv.Itoa(n), fmt.Sprintf("%.1f MB", mm.PeakRSSMB), fmt.Sprintf("%.1f MB (%.1f + %.1f)", mm.SteadyRSSMB, mm.SteadyAnonMB, mm.SteadyFileMB), fmt.Sprintf("%.1f MB", mm.PeakHeapMB),
			fmt.Sprintf("%.1f MB", mm.SteadyHeapMB), fmt.Sprintf("%.1f MB", mm.HeapAfterGCMB), fmt.Sprintf("%.0f MB", mm.LiveHeapMB), fmt.Sprintf("%.0f MB", mm.PeakLiveHeapMB), strconv.Itoa(mm.GCCycles),
			fmt.Sprintf("%d (%d)", mm.Goroutines, mm.PeakGoroutines), fmt.Sprintf("%.1f MB", mm.PeakStackMB), secs(mm.SecondsToInFlight), restart)
	}
	return t
}

func (r Report) startupTable() table {
	t := table{head: []string{"Prefect latency", "Starts", "Median", "Max", "Samples (ms)", "Idle RSS (binary pages)"}}
	for _, lat := range []string{"0", r.Settings.PrefectLatency} {
		st := r.find("startup/ecsworker/prefect-latency-" + lat)
		if failed(st) || st.Startup == nil {
			continue
		}
		var ss []string
		for _, s := range st.Startup.Samples {
			ss = append(ss, fmt.Sprintf("%.1f", s))
		}
		idle := "-"
		if st.Startup.IdleRSSMB > 0 {
			idle = fmt.Sprintf("%.1f MB (%.1f MB)", st.Startup.IdleRSSMB, st.Startup.IdleFileMB)
		}
		t.add(lat, strconv.Itoa(len(st.Startup.Samples)), fmt.Sprintf("%.1f ms", st.Startup.MedianMS), fmt.Sprintf("%.1f ms", st.Startup.MaxMS), strings.Join(ss, ", "), idle)
	}
	return t
}

// startupFloor is the start-up section's account of what precedes main:
// `ecsworker version` from exec to exit, and the package initialisation
// of `worker start` with the packages that cost most.
func (r Report) startupFloor() string {
	var b strings.Builder
	if v := r.find(versionResult); !failed(v) && v.Startup != nil {
		fmt.Fprintf(&b, "**Floor.** `ecsworker version`, from exec to exit, took %.1f ms (median of %d runs, max %.1f ms): exec, the Go runtime's start and the initialisation of every package linked into the binary, which Go runs whatever the command. "+
			"No start of the worker can be faster.\n\n", v.Startup.MedianMS, len(v.Startup.Samples), v.Startup.MaxMS)
	}
	in := r.find(initResult)
	if failed(in) || in.Startup == nil || len(in.Startup.InitSamplesMS) == 0 {
		if in != nil && in.Error != "" {
			fmt.Fprintf(&b, "**Package initialisation** was not measured: %s\n\n", errCell(in))
		}
		return b.String()
	}
	var ss []string
	for _, s := range in.Startup.InitSamplesMS {
		ss = append(ss, fmt.Sprintf("%.1f", s))
	}
	fmt.Fprintf(&b, "**Package initialisation.** `worker start` run with `GODEBUG=inittrace=1`, in starts of its own (the timed ones are not traced): the runtime's per-package clock times summed, %.1f ms (median; samples %s ms), "+
		"of which %.2f ms in ecsworker's own packages and the rest in the standard library and the dependencies. "+
		"The packages that took longest in the median start:\n\n", in.Startup.InitMS, strings.Join(ss, ", "), in.Startup.InitModuleMS)
	t := table{head: []string{"Package", "Init (ms)", "Allocated"}}
	for _, p := range in.Startup.InitTop {
		t.add("`"+p.Package+"`", fmt.Sprintf("%.2f", p.MS), fmt.Sprintf("%.0f KB", p.Bytes/1000))
	}
	fmt.Fprintf(&b, "%s\n", t)
	return b.String()
}

// callsTable lists every call of the largest ecsworker submission, per run.
func (r Report) callsTable() (table, int) {
	t := table{head: []string{"Call", "ecsworker per run", "Python-like per run"}}
	if len(r.Settings.Sizes) == 0 {
		return t, 0
	}
	n := slices.Max(r.Settings.Sizes)
	ours, py := r.submit(n, spec.ConfigOurs), r.submit(n, spec.ConfigPython)
	if failed(ours) {
		return t, n
	}
	all := map[string]bool{}
	for k := range ours.AWSCalls {
		all["AWS "+k] = true
	}
	for k := range ours.PrefectCalls {
		all["Prefect "+k] = true
	}
	if !failed(py) {
		for k := range py.AWSCalls {
			all["AWS "+k] = true
		}
		for k := range py.PrefectCalls {
			all["Prefect "+k] = true
		}
	}
	get := func(res *spec.Result, key string) string {
		if failed(res) {
			return "-"
		}
		if k, ok := strings.CutPrefix(key, "AWS "); ok {
			return perRun(res.AWSCalls[k], res.Runs)
		}
		return perRun(res.PrefectCalls[strings.TrimPrefix(key, "Prefect ")], res.Runs)
	}
	for _, k := range slices.Sorted(maps.Keys(all)) {
		t.add(k, get(ours, k), get(py, k))
	}
	return t, n
}

// findings are observations the figures support, written only when the
// figures show them.
func (r Report) findings() []string {
	var out []string
	var ec2Cells []string
	for _, n := range r.Settings.Sizes {
		res := r.submit(n, spec.ConfigOurs)
		if failed(res) {
			continue
		}
		if ec2 := res.AWSCalls["ec2:DescribeVpcs"] + res.AWSCalls["ec2:DescribeSubnets"]; float64(ec2)/float64(res.Runs) > 0.05 {
			ec2Cells = append(ec2Cells, fmt.Sprintf("%d EC2 calls for %d runs (ratio to the bound %.3f)", ec2, n, res.Ratio))
		}
	}
	if len(ec2Cells) > 0 {
		out = append(out, "Runs launched together each resolve the default VPC's subnets (DescribeVpcs + DescribeSubnets): "+strings.Join(ec2Cells, ", ")+
			", although every run uses the same VPC. Launcher.subnets caches the answer for 5 minutes but does not coalesce concurrent misses, so every run of the first poll calls EC2, "+
			"and those calls queue on the ec2:non-mutating budget (80 burst, then 16 a second) before the runs reach RunTask: with 100 runs, 200 calls take 7.5 s of that budget, "+
			"which is the whole gap to the RunTask bound. A single-flight around the resolution, as TaskDefinitions.Ensure has, would make it one pair of calls per VPC.")
	}
	if m := r.memory(memoryGoalRuns); !failed(m) && m.Memory != nil && !memoryMet(memoryGoalRuns, m) {
		mm := m.Memory
		out = append(out, fmt.Sprintf("With %d runs in flight the worker's peak RSS is %.1f MB, over the %d MB goal. Once they are all in flight, %.1f MB of the RSS are the binary's own pages "+
			"(file-backed: the code and read-only data the process touched, nearly all of the %.0f MB binary, since every linked package is initialised at start) and %.1f MB anonymous memory, "+
			"of which the live heap after a GC is %.1f MB; the rest is the room the GC leaves the heap before collecting (GOGC) and the runtime's own. The peak adds the claims' working set: "+
			"the heap in use peaked at %.1f MB.",
			memoryGoalRuns, mm.PeakRSSMB, memoryGoalMB, mm.SteadyFileMB, r.Machine.BinaryMB, mm.SteadyAnonMB, mm.HeapAfterGCMB, mm.PeakHeapMB))
		if st := r.find("startup/ecsworker/prefect-latency-0"); !failed(st) && st.Startup != nil && st.Startup.IdleRSSMB > 0 {
			out[len(out)-1] += fmt.Sprintf(" An idle worker (an empty pool, a second after its first poll) already peaks at %.1f MB, %.1f MB of them the binary's pages: "+
				"the goal leaves %.1f MB for 10,000 runs.", st.Startup.IdleRSSMB, st.Startup.IdleFileMB, memoryGoalMB-st.Startup.IdleRSSMB)
		}
	}
	if in := r.find(initResult); !failed(in) && in.Startup != nil && len(in.Startup.InitSamplesMS) > 0 && !initMet(in) {
		var sdk, schema, other float64
		for _, p := range in.Startup.InitTop {
			switch {
			case strings.HasPrefix(p.Package, "github.com/aws/"):
				sdk += p.MS
			case strings.HasPrefix(p.Package, "github.com/santhosh-tekuri/jsonschema"):
				schema += p.MS
			default:
				other += p.MS
			}
		}
		out = append(out, fmt.Sprintf("Package initialisation takes %.1f ms, over the %d ms goal, and ecsworker's own packages take %.2f ms of it: "+
			"of the costliest packages, the JSON Schema library takes %.1f ms (it compiles the metaschemas of five JSON Schema drafts at init, with no lazy option), "+
			"the AWS SDK's service schemas and endpoint tables %.1f ms, and the others %.1f ms. Go initialises every linked package whatever the command, so only "+
			"those libraries, or a binary without them, can take this below the goal.",
			in.Startup.InitMS, initGoalMS, in.Startup.InitModuleMS, schema, sdk, other))
	}
	var restarts []string
	for _, n := range r.Settings.MemSizes {
		rs := r.find(fmt.Sprintf("restart-startup-%d/ecsworker", n))
		if rs == nil || rs.Startup == nil || len(rs.Startup.Samples) == 0 || rs.Startup.Samples[0] < 1000 {
			continue
		}
		if rs.Startup.TimedOut {
			restarts = append(restarts, fmt.Sprintf("with %d runs in flight it had not polled after %s", n, secs(rs.Startup.Samples[0]/1000)))
		} else {
			restarts = append(restarts, fmt.Sprintf("with %d runs in flight its first poll came %s after exec", n, secs(rs.Startup.Samples[0]/1000)))
		}
	}
	if len(restarts) > 0 {
		out = append(out, "A restarted worker polls only once it has adopted every run in flight ("+strings.Join(restarts, "; ")+"): recoverRuns runs before the poll loop starts "+
			"and, for each run, reads its deployment (one Prefect call per run, in sequence) and renders its job. New runs wait meanwhile; starting the poll loop first, "+
			"or adopting concurrently with the deployments read once each, would fix it.")
	}
	out = append(out, r.startsFindings()...)
	for _, res := range r.Results {
		if res.Error == "" && res.Warnings+res.Errors > 0 && res.Scenario.Kind != "" {
			out = append(out, fmt.Sprintf("%s: the worker logged %d warnings and %d errors, the first distinct ones: %s", res.Name, res.Warnings, res.Errors, strings.Join(res.FirstLines, " / ")))
		}
	}
	return out
}

// Markdown is docs/benchmarks.md.
func (r Report) Markdown() string {
	var b strings.Builder
	m := r.Machine
	o := r.Settings
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Benchmarks\n\n")
	w("Written by `go run ./bench%s` on %s; every figure below was measured by that run. Do not edit by hand: run the bench again.\n\n", r.flagsUsed(), m.Date)
	w("| Machine | |\n|---|---|\n| CPUs | %d (%s) |\n| Memory | %.0f GiB |\n| Go | %s (%s) |\n| Commit | %s |\n| Load average at the end | %s |\n| Bench run time | %s |\n",
		m.CPUs, m.CPUModel, m.MemoryGiB, m.Go, m.OS, m.Commit, m.LoadAverage, r.Took.Round(time.Second))
	if m.BinaryMB > 0 {
		w("| Worker binary | %.1f MB (static, `-trimpath -ldflags='-s -w'`, as released) |\n", m.BinaryMB)
	}
	w("\n")
	w("## How to reproduce\n\n```sh\ngo run ./bench                 # full size: writes docs/benchmarks.md (about 11 minutes on 2 cores)\ngo run ./bench -quick          # small sizes, for CI (under a minute)\ngo run ./bench -sizes 100,1000 -mem-sizes 1000 -deployments 100 -out /tmp/b.md -json /tmp/b.json\n```\n\n")
	w("Settings of this run: submission sizes %s; memory sizes %s; %d distinct deployments; %d runs arriving one by one, %g s apart on average (exponential); "+
		"AWS latency %s and Prefect API latency %s per call (uniform); tracking watched for %g s; seed %d.\n\n",
		joinInts(o.Sizes), joinInts(o.MemSizes), o.Deployments, o.LatencyRuns, o.MeanGap, o.AWSLatency, o.PrefectLatency, o.TrackWindow, o.Seed)
	if len(o.WorkerEnv) > 0 {
		w("The worker process ran with `%s` added to its environment.\n\n", strings.Join(o.WorkerEnv, " "))
	}

	w("## Goals\n\n%s\n", r.goals())
	w("**Clock**: *fake* figures come from a simulation in fake time (below): they measure pacing and call counts exactly and do not depend on the machine. " +
		"*wall* figures are measured on the wall clock of the machine above and vary with it and with its load.\n\n")

	w("## What was measured, and how\n\n")
	w("**Fake time.** The real worker (`internal/worker`), the real Prefect client and the real AWS SDK clients run against the Prefect API test server and the AWS test server in one process, " +
		"inside a `testing/synctest` bubble: every timer, sleep and `time.Now` of the worker, the SDK, the client-side budget and the fakes is fake, and fake time only moves when every goroutine waits. " +
		"Each AWS call waits a latency drawn from the AWS range, each Prefect call one from the Prefect range, and the fake AWS applies ECS's token buckets. " +
		"Pacing, latencies and call counts are therefore what the worker's logic produces, while the CPU the simulation spends costs no fake time " +
		"(so these figures cannot show the worker being CPU-bound; the wall-clock ones can). Synctest bubbles can only be made by tests, so `go run ./bench` builds the package's test binary " +
		"(`go test -c ./bench`) and runs each scenario in a process of it (`TestFakeTime`, driven by `$BENCH_SPEC`).\n\n")
	w("**Wall clock.** The %d-deployment and the restart scenarios run the same simulation on real timers, because the fake clock cannot run them: `TaskDefinitions` serialises registrations with 64 striped `sync.Mutex`es held across AWS calls, "+
		"and a goroutine waiting on a `sync.Mutex` is not durably blocked for synctest, so fake time stops as soon as two families share a stripe. "+
		"Memory and start-up are measured with the worker as its own process: the bench builds `ecsworker` and runs `ecsworker worker start --no-event-stream` against the two test servers, "+
		"which the bench serves over loopback with the same latencies. The worker's memory is then its own: peak RSS is the kernel's high-water mark (`VmHWM` in `/proc/PID/status`), "+
		"heap in use is `go_memstats_heap_inuse_bytes` from the worker's `/metrics`, sampled every 250 ms. For the memory runs the fake AWS does not throttle, the worker's client budget is raised "+
		"(`--aws-budget`) and it polls every 0.5 s (`PREFECT_WORKER_QUERY_SECONDS`), so that all runs are in flight quickly (pacing is the fake-time scenarios' business); the worker then holds them for %s (it tracks them every 10 s) before memory is read. "+
		"*Live heap, last GC* and *peak live heap* come from the runtime's own GC trace (`GODEBUG=gctrace=1`): the heap still reachable at each GC. "+
		"*Live heap after a GC*, from which the heap per tracked run is computed, is `go_memstats_heap_alloc_bytes` read as soon as a forced GC ends, the least of 5 readings a second apart: "+
		"a GC in the middle of a tracking tick counts the tick's DescribeTasks answers, which no run keeps. "+
		"Start-up is timed from `exec` to the arrival of the worker's first `get_scheduled_flow_runs` at the fake Prefect server, on a pool with nothing in flight, and again after a restart with every run of a memory scenario still in flight.\n\n",
		o.Deployments, time.Duration(o.Hold))
	w("**Bounds.** The least time n RunTask calls can take, given token buckets that start full: call k waits (k − burst) / rate in every bucket it draws from. " +
		"Two sets apply and the tighter is the bound: the fake AWS's (ECS's documented limits: Fargate RunTask 20 burst, 20/s; Fargate tasks 100, 20/s; cluster-resource-modify 100, 40/s; " +
		"task-definition-modify 20, 1/s) and the worker's own client-side budget (`awsclient.DefaultBudget`, about 80 %% of them: RunTask 16, 16/s; cluster-resource-modify 80, 32/s; task-definition-modify 16, 0.8/s). " +
		"The budget is the tighter in every scenario here, by design: the worker paces itself so that AWS never throttles it. Times are counted from the moment the runs were scheduled to the fake's record of the last task's creation.\n\n")
	if o.Replicas > 0 {
		w("**Replicas.** %d workers (the real worker, each with its own Prefect client and AWS client factory, so its own caches and its own client-side budget, as %d processes would have) "+
			"start together on one pool, in one fake-time bubble, against the same two test servers, with the fake AWS applying ECS's buckets; about a second later %d runs of one deployment are scheduled at once. "+
			"Each worker divides the configured budget by the pool's ONLINE workers as Prefect lists them (itself included), counting after every heartbeat and on polls (soon after start, then at most every 10 s). "+
			"The bound is the one above for %d RunTask calls: the whole account's, as if one worker had the whole budget; replicas cannot beat it, only match it. "+
			"*Throttled* counts every AWS attempt the fake answered with throttling; *launched twice* counts runs with more than one ECS task (from the fake's task records); "+
			"*per replica* is how many runs each worker submitted.\n\n", o.Replicas, o.Replicas, o.ReplicaRuns, o.ReplicaRuns)
	}
	w("**Event stream.** When the bench ran, the worker's event stream (`Config.EventStream`) was %s. *Event stream* figures run the worker with it: "+
		"the simulation carries its WebSocket over an in-memory pipe (`net.Pipe`) to the Prefect test server, which emits `prefect.flow-run.Scheduled` when a run is created, and the worker polls at once. "+
		"Events arrive without added latency (a real server adds its own). *Polling* figures have the worker find runs by its 10 s (± 30 %% jitter) polls alone. "+
		"The wall-clock memory and start-up runs use `--no-event-stream`, so that they do not depend on it.\n\n", m.EventStream)
	w("**Python-like.** ecsworker configured to make the Python worker's calls (prefect-aws-ecs-worker.md §4.3, §4.11; prefect-worker-api.md §1.4–§1.5): " +
		"`TaskDefinitionOptions{DescribeOnHit: true, SkipLookup: true}` (a DescribeTaskDefinition for every run whose task definition is cached; on a miss, a registration without looking for an existing revision, " +
		"so every worker process registers again), `TrackerBatchSize: 1` with `TrackInterval: 5s` (the legacy watch loop: one DescribeTasks per task every 5 s), 10 s polls and no event stream. " +
		"Everything else is ecsworker's, notably the client-side budget, which the Python worker does not have: where the Python worker would send those calls and be throttled by AWS, " +
		"the Python-like configuration queues them (its tracking falls behind instead, see *each task seen every*). Memory and start-up of the Python worker are a matter of its runtime and are not emulated.\n\n")

	w("## Submission: N runs of one deployment scheduled at once (fake time)\n\n%s\n", r.submissionTable())
	w("*Runs found by*: with the event stream, the Scheduled events make the worker poll at once; with polling, runs wait for the next regular poll. Prefect hands out at most 200 runs a poll. " +
		"AWS calls are counted from the moment the runs are scheduled until the last is submitted, tracking calls (DescribeTasks) excepted (next table); " +
		"Prefect calls until the end of the tracking window, so as to include what a run costs after its RunTask (reading the run and reporting InfrastructurePending when its task is first seen).\n\n")
	if t, n := r.callsTable(); len(t.rows) > 0 {
		w("Every call per run, %d runs:\n\n%s\n", n, t)
	}
	w("## Tracking: DescribeTasks with every task in flight (fake time)\n\n%s\n", r.trackingTable())
	w("Counted over the window once every run of the submission scenario had its task. *Each task seen every* is window × tasks / tasks described: how old, on average, the worker's view of a task is.\n\n")
	w("## Scheduled → RunTask latency, runs arriving one by one (fake time)\n\n%s\n", r.latencyTable())
	w("A first run registers the task definition before the measured runs arrive.\n\n")
	w("%s", r.startsSection())
	if !o.NoWall {
		w("## %d distinct deployments at once: registrations (wall clock)\n\n%s\n", o.Deployments, r.deploymentsTable())
		w("Each deployment has its own task definition family, so each run needs a registration: RegisterTaskDefinition's bucket (1 a second after a burst of 20; the budget's 0.8 after 16) sets the pace.\n\n")
	}
	w("## Task definitions across a worker restart (wall clock)\n\n%s\n", r.restartTable())
	w("Two runs per deployment before the restart and two after; the restarted worker has an empty cache.\n\n")
	if !o.NoWall {
		w("## Worker memory (wall clock, worker process only)\n\n%s\n", r.memoryTable())
		if n, t, ok := r.retainersTable(); ok {
			w("What the live heap holds with %d runs in flight: the heap profile taken once every run was in flight (`go tool pprof -top -sample_index=inuse_space`, after a GC), "+
				"by the function that allocated each block (flat). *Per tracked run* divides by the runs in flight, although part of each line is the worker's fixed cost "+
				"(the AWS SDK's and the JSON Schema library's tables, built at start). `go run ./bench -heap-profiles DIR` keeps the profiles.\n\n%s\n", n, t)
		}
		w("## Start-up: exec to first poll (wall clock)\n\n%s\n", r.startupTable())
		w("Before its first poll the worker reads the pool, sends a heartbeat and lists the pool's runs in flight: three Prefect round trips, so the Prefect latency counts three times.\n\n")
		w("%s", r.startupFloor())
	}
	if fs := r.findings(); len(fs) > 0 {
		w("## Findings\n\n")
		for _, f := range fs {
			w("- %s\n", f)
		}
		w("\n")
	}
	w("## Raw results\n\n`go run ./bench -json FILE` writes every figure above, and the per-call counts of every scenario, as JSON.\n")
	return b.String()
}

func (r Report) flagsUsed() string {
	if r.Settings.Quick {
		return " -quick"
	}
	return ""
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ", ")
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
