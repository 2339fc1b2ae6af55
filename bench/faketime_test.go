package main

import (
	"encoding/json"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ecsworker/ecsworker/bench/internal/simulation"
	"github.com/ecsworker/ecsworker/bench/internal/spec"
)

// TestFakeTime runs the scenarios listed in $BENCH_SPEC (JSON), each in a
// synctest bubble of its own, and writes their results to $BENCH_OUT:
// `go run ./bench` builds this test binary and runs it, because synctest
// bubbles can only be made by tests. Without $BENCH_SPEC it runs small
// versions of the scenarios and checks the harness and the worker's call
// pattern with them.
func TestFakeTime(t *testing.T) {
	specJSON := os.Getenv("BENCH_SPEC")
	scenarios := smokeScenarios()
	if specJSON != "" {
		if err := json.Unmarshal([]byte(specJSON), &scenarios); err != nil {
			t.Fatalf("BENCH_SPEC: %v", err)
		}
	}
	var results []spec.Result
	for _, sc := range scenarios {
		var res spec.Result
		start := time.Now() // outside the bubble: the wall clock
		if sc.Clock == "wall" {
			res = simulation.Run(sc)
		} else {
			synctest.Test(t, func(t *testing.T) { res = simulation.Run(sc) })
		}
		res.WallSeconds = time.Since(start).Seconds()
		results = append(results, res)
	}
	if out := os.Getenv("BENCH_OUT"); out != "" {
		b, err := json.MarshalIndent(results, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	checked := 0
	for _, r := range results {
		if checkSmoke(t, r) {
			checked++
		}
	}
	if checked != 7 {
		t.Errorf("%d scenarios held to their specific checks, want 7: a scenario's name changed", checked)
	}
}

func smokeScenarios() []spec.Scenario {
	base := spec.Scenario{AWSLatency: "20ms-60ms", PrefectLatency: "10ms-50ms", LimitSeconds: 900, Seed: 1, Clock: "fake"}
	with := func(kind, config, trigger string, n int) spec.Scenario {
		s := base
		s.Kind, s.Config, s.Trigger, s.N = kind, config, trigger, n
		switch kind {
		case spec.KindSubmit:
			s.TrackWindowSeconds = 30
		case spec.KindLatency:
			s.MeanGapSeconds = 5
		case spec.KindDeployments, spec.KindRestart:
			s.Clock, s.LimitSeconds = "wall", 60
		case spec.KindStarts:
			s.MeanGapSeconds = 0.25
		}
		return s
	}
	replicas := with(spec.KindReplicas, spec.ConfigOurs, spec.TriggerStream, 60)
	replicas.Replicas = 3
	return []spec.Scenario{
		with(spec.KindSubmit, spec.ConfigOurs, spec.TriggerStream, 40),
		with(spec.KindSubmit, spec.ConfigPython, spec.TriggerPoll, 40),
		with(spec.KindLatency, spec.ConfigOurs, spec.TriggerStream, 10),
		with(spec.KindLatency, spec.ConfigOurs, spec.TriggerPoll, 10),
		with(spec.KindDeployments, spec.ConfigOurs, spec.TriggerStream, 20),
		with(spec.KindRestart, spec.ConfigOurs, spec.TriggerStream, 3),
		with(spec.KindRestart, spec.ConfigPython, spec.TriggerStream, 3),
		replicas,
		with(spec.KindStarts, spec.ConfigOurs, spec.TriggerStream, 20),
	}
}

// checkSmoke holds the small scenarios to the goals that do not depend on
// size.
func checkSmoke(t *testing.T, r spec.Result) (specific bool) {
	t.Helper()
	if r.Error != "" {
		t.Errorf("%s: %s", r.Name, r.Error)
		return false
	}
	if r.Crashed > 0 || r.Unfinished > 0 {
		t.Errorf("%s: %d crashed, %d unfinished; log: %v", r.Name, r.Crashed, r.Unfinished, r.FirstLines)
	}
	// A starts scenario's Spot runs fall back: checked below.
	if r.Scenario.Kind != spec.KindLatency && r.Scenario.Kind != spec.KindStarts && r.AWSCalls["ecs:RunTask"] != r.Runs {
		t.Errorf("%s: %d RunTask calls for %d runs", r.Name, r.AWSCalls["ecs:RunTask"], r.Runs)
	}
	switch r.Name {
	case "submit-40/ecsworker/stream":
		specific = true
		// The goal is 1.1 (the bench reports it); this only catches a
		// harness or pacing that has gone badly wrong.
		if r.Ratio > 1.5 {
			t.Errorf("%s: %.2fs to launch, %.2f times the bound %+v", r.Name, r.AllRunTasksSeconds, r.Ratio, r.Bound)
		}
		if r.Subscriptions == 0 {
			t.Errorf("%s: the worker never subscribed to the event stream", r.Name)
		}
		if r.Registrations != 1 {
			t.Errorf("%s: %d registrations for one deployment", r.Name, r.Registrations)
		}
		if r.Tracking == nil || r.Tracking.PerHundredPerTick > 1 {
			t.Errorf("%s: tracking %+v, want at most one DescribeTasks per 100 tasks per tick", r.Name, r.Tracking)
		}
	case "submit-40/python-like/poll":
		specific = true
		if r.Tracking == nil || r.Tracking.DescribeTasks < 40 {
			t.Errorf("%s: tracking %+v, want a DescribeTasks per task", r.Name, r.Tracking)
		}
	case "latency-10/ecsworker/stream":
		specific = true
		if r.Latency == nil || r.Latency.P50 >= 1 {
			t.Errorf("%s: latency %+v, want p50 under 1s", r.Name, r.Latency)
		}
	case "replicas-3x60/ecsworker/stream":
		specific = true
		// Each replica with the whole budget would burst 3 × 16 RunTasks
		// into Fargate's bucket of 20.
		if r.Throttled != 0 || r.LaunchedTwice != 0 || len(r.LaunchedBy) != 3 {
			t.Errorf("%s: %d throttled, %d launched twice, per replica %v; want 0, 0 and 3 replicas", r.Name, r.Throttled, r.LaunchedTwice, r.LaunchedBy)
		}
	case "starts-20/ecsworker/stream":
		specific = true
		st := r.Starts
		if st == nil || len(st.Groups) != len(spec.StartMix) {
			t.Fatalf("%s: no start figures per group: %+v", r.Name, st)
		}
		for _, g := range st.Groups {
			if g.Recorded != g.Runs || g.Fallbacks != g.SpotShort || g.RunTaskAttempts != g.Runs+g.SpotShort {
				t.Errorf("%s %s: %d of %d runs recorded, %d fallbacks (scripted %d), %d RunTask attempts", r.Name, g.Script.Name, g.Recorded, g.Runs, g.Fallbacks, g.SpotShort, g.RunTaskAttempts)
			}
			for _, p := range g.Phases {
				if p.Off+p.Missing > 0 {
					t.Errorf("%s %s %s: %d runs off by up to %.4fs, %d missing; expected %v", r.Name, g.Script.Name, p.Phase, p.Off, p.WorstSeconds, p.Missing, p.Expected)
				}
			}
		}
		if g := st.Groups[len(st.Groups)-1]; !g.Script.Spot || g.SpotShort == 0 {
			t.Errorf("%s: the mix's last group should find Spot short for some runs: %+v", r.Name, g)
		}
	case "restart-3/ecsworker":
		specific = true
		if r.Registrations != 3 {
			t.Errorf("%s: %d registrations (per phase %v) for 3 deployments across a restart, want 3", r.Name, r.Registrations, r.RegistrationsPerPhase)
		}
	case "restart-3/python-like":
		specific = true
		if r.Registrations != 6 {
			t.Errorf("%s: %d registrations (per phase %v), want 6: one per deployment per worker process", r.Name, r.Registrations, r.RegistrationsPerPhase)
		}
	}
	return specific
}
