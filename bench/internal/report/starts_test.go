package report

import (
	"strings"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/bench/internal/spec"
)

// startsResult is a starts scenario of 100 runs as the simulation reports
// it; spoil changes it before it is returned.
func startsResult(spoil func(*spec.Starts)) spec.Result {
	sc := spec.Scenario{Kind: spec.KindStarts, Config: spec.ConfigOurs, Trigger: spec.TriggerStream, N: 100, MeanGapSeconds: 0.25}
	st := &spec.Starts{FlowRunSeconds: 30, TrackIntervalSeconds: 10, SeenLag: &spec.Spread{N: 100, P50: 5.3, P95: 9.2, Max: 9.4}, FlowStartByEvent: 46}
	counts := spec.StartCounts(spec.StartMix, sc.N)
	for i, g := range spec.StartMix {
		sg := spec.StartGroup{Script: g, Runs: counts[i], Recorded: counts[i], SpotShort: g.SpotShort(counts[i]),
			ToTaskRunning: &spec.Spread{N: counts[i], P50: 9.686, P95: 10.125}, ToFlowRunning: &spec.Spread{N: counts[i], P50: 13.686, P95: 14.125},
			Capacity: map[string]int{"FARGATE": counts[i]}}
		sg.RunTaskAttempts = sg.Runs + sg.SpotShort
		sg.Fallbacks = sg.SpotShort
		if g.Spot {
			sg.Capacity = map[string]int{"FARGATE": sg.SpotShort, "FARGATE_SPOT": sg.Runs - sg.SpotShort}
		}
		// Recorded as v, scripted as want (nil: queueing).
		phase := func(name string, v float64, want *float64) spec.PhaseCheck {
			return spec.PhaseCheck{Phase: name, Spread: spec.Spread{N: counts[i], P50: v, P95: v, Max: v}, Expected: want, WorstSeconds: 0.001}
		}
		sg.Phases = []spec.PhaseCheck{phase("queueing", 0.685, nil), phase("provisioning", g.ProvisionSeconds, &g.ProvisionSeconds),
			phase("image_pull", g.PullSeconds, &g.PullSeconds), phase("container_start", g.ContainerStartSeconds, &g.ContainerStartSeconds),
			phase("flow_start", g.FlowStartSeconds+0.001, &g.FlowStartSeconds)}
		st.Groups = append(st.Groups, sg)
	}
	if spoil != nil {
		spoil(st)
	}
	return spec.Result{Scenario: sc, Name: sc.Name(), Clock: "fake", Runs: sc.N, Submitted: sc.N, Starts: st}
}

func TestStartsSection(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(*spec.Starts)
		met   bool
		// in the report's section, its findings and the summary
		section, findings, summary []string
	}{
		{
			name: "as scripted",
			met:  true,
			section: []string{
				"## Start phases: scheduled → RUNNING for a scripted mix (fake time)",
				"100 runs of 4 deployments arrive one by one, 0.25 s apart on average",
				"| large-image: a large image (58 s pull) | 30 (30 %) | FARGATE | 5 s | 58 s | 2 s | 8 s | - |",
				"| spot-fallback: FARGATE_SPOT, short for half the runs: capacity_fallback to FARGATE | 10 (10 %) | FARGATE_SPOT, falling back to FARGATE | 5 s | 3 s | 1 s | 4 s | the first 5 runs |",
				"| large-image | 30 (30) | 0.685 s / 0.685 s | 5 s / 5 s | 58 s / 58 s | 2 s / 2 s | 8.001 s / 8.001 s | 9.686 s / 10.125 s | 13.686 s / 14.125 s |",
				"| large-image | 30/30 (the fake's createdAt − scheduled) | 30/30 (script 5 s) | 30/30 (script 58 s) | 30/30 (script 2 s) | 30/30 (script 8 s) |",
				"(every 10.0 s; no ECS events in this simulation): here 5.3 s after startedAt at p50, 9.2 s at p95, 9.4 s at most",
				"flow start of 46 runs from Prefect's Running event",
				"| spot-fallback | FARGATE 5, FARGATE_SPOT 5 | 5 (5) | 1.50 (1.50) |",
			},
			summary: []string{"20/20 phases within 1 ms; fallbacks 5/5", "small 13.7 s, large 13.7 s"},
		},
		{
			name: "a phase off and a fallback missing",
			spoil: func(st *spec.Starts) {
				pull := &st.Groups[1].Phases[2]
				pull.Off, pull.Missing, pull.WorstSeconds, pull.P50 = 3, 1, 2, 58.5
				spot := &st.Groups[3]
				spot.Fallbacks, spot.RunTaskAttempts = 4, 14
			},
			section: []string{"**27/30** (script 58 s; worst 2 s off, 1 not recorded)"},
			findings: []string{
				"the image_pull phase of the large-image group, as the worker recorded it, is not the script's 58 s for 4 of its 30 runs (p50 58.5 s, worst 2 s off, 1 runs without it).",
				"in the spot-fallback group 4 runs fell back and ECS answered 14 RunTask attempts for 10 runs; the script makes 5 short, so 5 fallbacks and 15 attempts.",
			},
			summary: []string{"19/20 phases within 1 ms (off: large-image image_pull); fallbacks 4/5"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := Report{Settings: Settings{StartRuns: 100, StartGap: 0.25, Quick: true}, Results: []spec.Result{startsResult(tc.spoil)}, Took: time.Second}
			res := rep.startsRun()
			if res == nil {
				t.Fatal("the starts result is not found by its name")
			}
			if got := startsMet(res); got != tc.met {
				t.Errorf("startsMet = %v, want %v", got, tc.met)
			}
			md := rep.Markdown()
			for _, want := range tc.section {
				if !strings.Contains(md, want) {
					t.Errorf("the report has no %q:\n%s", want, rep.startsSection())
				}
			}
			fs := strings.Join(rep.findings(), "\n")
			for _, want := range tc.findings {
				if !strings.Contains(fs, want) {
					t.Errorf("findings have no %q:\n%s", want, fs)
				}
			}
			if len(tc.findings) == 0 && strings.Contains(fs, "Start phases:") {
				t.Errorf("findings on a starts scenario that went as scripted:\n%s", fs)
			}
			sum := rep.Summary("", "")
			for _, want := range tc.summary {
				if !strings.Contains(sum, want) {
					t.Errorf("the summary has no %q:\n%s", want, sum)
				}
			}
			for _, l := range strings.Split(sum, "\n") {
				if len([]rune(l)) > 160 && strings.Contains(l, "Start phases") {
					t.Errorf("summary line longer than 160 characters: %q", l)
				}
			}
		})
	}
}

// TestStartsSectionWithoutTheScenario: a run without the starts scenario
// (or the JSON of an older bench) renders no section and no goal.
func TestStartsSectionWithoutTheScenario(t *testing.T) {
	o, rs := benchResults()
	rep := Report{Settings: o, Results: rs}
	if md := rep.Markdown(); strings.Contains(md, "Start phases") || strings.Contains(rep.goals().String(), "scripted start mix") {
		t.Errorf("a report without the starts scenario mentions it")
	}
	rep.Settings.StartRuns = 100
	if s := rep.startsSection(); !strings.Contains(s, "not run") {
		t.Errorf("a starts scenario asked for and missing should read as not run:\n%s", s)
	}
}
