package report

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/bench/internal/spec"
)

// benchResults makes the results of a bench run with sizes 100 and 1000:
// every goal met except the submission of 1000 runs, the polling-only
// latency of the Python-like configuration failed, and a memory figure
// at the size the memory goal is about.
func benchResults() (Settings, []spec.Result) {
	o := Settings{Sizes: []int{100, 1000}, MemSizes: []int{1000, memoryGoalRuns}, Deployments: 20, RestartDeployments: 5, LatencyRuns: 40,
		PrefectLatency: "10ms-50ms", Quick: true, Replicas: 3, ReplicaRuns: 100}
	var rs []spec.Result
	add := func(sc spec.Scenario, r spec.Result) {
		r.Scenario, r.Name = sc, sc.Name()
		rs = append(rs, r)
	}
	bound := &spec.Bound{Seconds: 5, By: "client budget"}
	for _, n := range o.Sizes {
		for _, c := range []struct{ config, trigger string }{{spec.ConfigOurs, spec.TriggerStream}, {spec.ConfigPython, spec.TriggerPoll}} {
			ratio := 1.05
			if n == 1000 || c.config == spec.ConfigPython {
				ratio = 2
			}
			calls := map[string]int{"ecs:RunTask": n, "ecs:RegisterTaskDefinition": 1}
			if c.config == spec.ConfigPython {
				calls["ecs:DescribeTaskDefinition"] = n - 1
			}
			add(spec.Scenario{Kind: spec.KindSubmit, Config: c.config, Trigger: c.trigger, N: n}, spec.Result{Runs: n, Ratio: ratio, AllRunTasksSeconds: 5 * ratio, Bound: bound,
				AWSCalls: calls, Registrations: 1, Tracking: &spec.Tracking{PerHundredPerTick: 1, SecondsBetweenLooks: 10}})
		}
	}
	for _, c := range []struct{ config, trigger string }{{spec.ConfigOurs, spec.TriggerStream}, {spec.ConfigOurs, spec.TriggerPoll}, {spec.ConfigPython, spec.TriggerPoll}} {
		r := spec.Result{Latency: &spec.Percentile{P50: 0.2, P99: 1.2}, Subscriptions: 1}
		if c.config == spec.ConfigPython {
			r = spec.Result{Error: "exit status 2: panic: boom\ngoroutine 1 [running]:\n..."}
		}
		add(spec.Scenario{Kind: spec.KindLatency, Config: c.config, Trigger: c.trigger, N: o.LatencyRuns}, r)
	}
	for _, c := range []string{spec.ConfigOurs, spec.ConfigPython} {
		add(spec.Scenario{Kind: spec.KindRestart, Config: c, N: o.RestartDeployments}, spec.Result{RegistrationsPerPhase: []int{5, 0}})
		add(spec.Scenario{Kind: spec.KindDeployments, Config: c, N: o.Deployments}, spec.Result{Runs: 20, Ratio: 1.05, AllRunTasksSeconds: 5.25, Bound: bound, Registrations: 20})
	}
	add(spec.Scenario{Kind: spec.KindReplicas, Config: spec.ConfigOurs, Trigger: spec.TriggerStream, N: o.ReplicaRuns, Replicas: o.Replicas},
		spec.Result{Runs: 100, Ratio: 1.02, AllRunTasksSeconds: 5.1, Bound: bound, AWSCalls: map[string]int{"ecs:RunTask": 100},
			LaunchedBy: map[string]int{"bench-1": 33, "bench-2": 34, "bench-3": 33}})
	rs = append(rs,
		spec.Result{Name: "memory-1000/ecsworker", Memory: &spec.Memory{PeakRSSMB: 30, HeapAfterGCMB: 8}},
		spec.Result{Name: fmt.Sprintf("memory-%d/ecsworker", memoryGoalRuns), Memory: &spec.Memory{PeakRSSMB: 35, HeapAfterGCMB: 21, LiveHeapMB: 20, PeakLiveHeapMB: 45}},
		spec.Result{Name: "startup/ecsworker/prefect-latency-0", Startup: &spec.Startup{MedianMS: 20, MaxMS: 30, Samples: []float64{20, 30}}},
		spec.Result{Name: versionResult, Startup: &spec.Startup{MedianMS: 12, MaxMS: 14, Samples: []float64{12, 14}}},
		spec.Result{Name: initResult, Startup: &spec.Startup{InitMS: 12.5, InitModuleMS: 0.25, InitSamplesMS: []float64{12.5, 11, 13},
			InitTop: []spec.PackageInit{{Package: "github.com/santhosh-tekuri/jsonschema/v6", MS: 3.3, Bytes: 1.7e6}}}})
	return o, rs
}

func TestSummary(t *testing.T) {
	o, rs := benchResults()
	rep := Report{Settings: o, Results: rs, Machine: Machine{Commit: "abc1234", CPUs: 2}, Took: 42 * time.Second}
	out := rep.Summary("", "")

	lines := strings.Split(out, "\n")
	if !strings.Contains(lines[0], "-quick") || !strings.Contains(lines[0], "abc1234") {
		t.Errorf("the first line should say what was measured: %q", lines[0])
	}
	// The table: a header, then one line per figure until a blank line.
	var table []string
	for _, l := range lines[2:] {
		if l == "" {
			break
		}
		table = append(table, l)
	}
	if !strings.HasPrefix(table[0], "GOAL") {
		t.Fatalf("no table header: %q", table[0])
	}
	table = table[1:]
	// submission, replicas (2), RunTask calls and registrations per size, the
	// restart, tracking per size, two latencies, deployments, memory and
	// its per-run slope, start-up (first poll, package initialisation, the
	// version floor)
	if want := 3*len(o.Sizes) + 2 + 1 + len(o.Sizes) + 2 + 1 + len(o.MemSizes) + 1 + 3; len(table) != want {
		t.Errorf("%d lines in the table, want %d:\n%s", len(table), want, out)
	}
	for _, l := range table {
		if len([]rune(l)) > 160 {
			t.Errorf("line longer than 160 characters: %q", l)
		}
	}
	for prefix, want := range map[string]string{
		"100 runs at once →":                "yes",
		"1000 runs at once →":               "no", // ratio 2 > 1.1
		"Scheduled → RunTask, event stream": "yes",
		"3 replicas, 100 runs →":            "yes",
		"3 replicas: throttled":             "yes",
		"Exec to first poll,":               "yes",
		"Package initialisation":            "no", // 12.5 ms > 10 ms
		"Floor: ecsworker version":          "-",
		"Memory, 10000 runs":                "yes", // peak RSS 35 MB
		"Memory, 1000 runs":                 "-",
		"Live heap per tracked run":         "no", // 13 MB for 9,000 runs: 1,515 bytes each
	} {
		got := ""
		for _, l := range table {
			if f := strings.Fields(l); strings.HasPrefix(l, prefix) {
				got = f[len(f)-1]
			}
		}
		if got != want {
			t.Errorf("%s: met %q, want %q\n%s", prefix, got, want, out)
		}
	}
	if !strings.Contains(out, "1515 B (slope 1000 → 10000)") {
		t.Errorf("the per-run slope should be computed between the memory sizes:\n%s", out)
	}
	if !strings.Contains(out, "failed (see below)") || !strings.Contains(out, "latency-40/python-like/poll: exit status 2: panic: boom") ||
		strings.Contains(out, "goroutine 1") {
		t.Errorf("a failed scenario should be named with the first line of its error, after the table:\n%s", out)
	}
	if !strings.Contains(out, "-out FILE") || !strings.Contains(out, "-json FILE") {
		t.Errorf("the summary should say how to get the report and the JSON:\n%s", out)
	}
	if strings.Contains(out, "{") {
		t.Errorf("the summary shows JSON:\n%s", out)
	}

	// The report's goals table judges the same way.
	goals := rep.goals().String()
	if !strings.Contains(goals, "per replica 33/34/33 | - | **yes**") {
		t.Errorf("goals table: no met replicas row:\n%s", goals)
	}
	for _, row := range []string{"| 100 runs scheduled at once", "| 1000 runs scheduled at once"} {
		i := strings.Index(goals, row)
		if i < 0 {
			t.Fatalf("no row %q in the goals table", row)
		}
		line, _, _ := strings.Cut(goals[i:], "\n")
		want := map[bool]string{true: "**yes**", false: "**no**"}[strings.Contains(row, "| 100 ")]
		if !strings.Contains(line, want) {
			t.Errorf("goals table: %s, want %s", line, want)
		}
	}

	for _, want := range []string{"| Package initialisation of `worker start` (part of the above) | ≤ 10 ms | median 12.5 ms, max 13.0 ms (3 starts) | not comparable | **no** |",
		"| Floor: `ecsworker version`, exec to exit | - | median 12.0 ms, max 14.0 ms (2 runs) |"} {
		if !strings.Contains(goals, want) {
			t.Errorf("goals table: no %q in\n%s", want, goals)
		}
	}
	if md := rep.Markdown(); !strings.Contains(md, "| `github.com/santhosh-tekuri/jsonschema/v6` | 3.30 | 1700 KB |") || !strings.Contains(md, "12.5 ms (median; samples 12.5, 11.0, 13.0 ms), of which 0.25 ms in ecsworker's own") {
		t.Errorf("the start-up section should show the package initialisation and its costliest packages:\n%s", md)
	}

	with := rep.Summary("/tmp/r.md", "standard output")
	if !strings.Contains(with, "findings: /tmp/r.md") || !strings.Contains(with, "JSON: standard output") {
		t.Errorf("the summary should name where the report and the JSON went:\n%s", with)
	}
}
