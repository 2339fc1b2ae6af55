package report

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/ecsworker/ecsworker/bench/internal/spec"
)

// The starts scenario: a scripted mix of runs, each start phase as the
// worker recorded it on the run, against the script.

func (r Report) startsRun() *spec.Result {
	return r.find(fmt.Sprintf("%s-%d/%s/%s", spec.KindStarts, r.Settings.StartRuns, spec.ConfigOurs, spec.TriggerStream))
}

// startsRecorded is the figures of a starts result, nil when it failed
// without them.
func startsRecorded(res *spec.Result) *spec.Starts {
	if res == nil || res.Starts == nil {
		return nil
	}
	return res.Starts
}

// phaseOK: every run recorded the phase, within the resolution of what
// the script (or, for queueing, the servers) says it was.
func phaseOK(p spec.PhaseCheck) bool { return p.Off == 0 && p.Missing == 0 && p.N > 0 }

// fallbackOK: exactly the runs the script made short fell back, each with
// one more RunTask.
func fallbackOK(g spec.StartGroup) bool {
	return g.Fallbacks == g.SpotShort && g.RunTaskAttempts == g.Runs+g.SpotShort
}

// startsMet: every phase of every group as it happened, and the fallbacks
// as scripted.
func startsMet(res *spec.Result) bool {
	st := startsRecorded(res)
	if failed(res) || st == nil || len(st.Groups) == 0 {
		return false
	}
	for _, g := range st.Groups {
		if !fallbackOK(g) {
			return false
		}
		for _, p := range g.Phases {
			if !phaseOK(p) {
				return false
			}
		}
	}
	return true
}

// startsTally counts a starts result's group phases (all, and those
// within the resolution), names the others, and adds up the fallbacks
// and the scripted shortages.
type startsTally struct {
	ok, all, fell, short int
	off                  []string
}

func tallyStarts(st *spec.Starts) startsTally {
	var t startsTally
	for _, g := range st.Groups {
		t.fell, t.short = t.fell+g.Fallbacks, t.short+g.SpotShort
		for _, p := range g.Phases {
			t.all++
			if phaseOK(p) {
				t.ok++
			} else {
				t.off = append(t.off, g.Script.Name+" "+p.Phase)
			}
		}
	}
	return t
}

// startsCell is the starts scenario in the goals table: "20 of 20 group
// phases within 1 ms; 5 fallbacks, 5 scripted".
func startsCell(res *spec.Result) string {
	st := startsRecorded(res)
	if st == nil {
		return errCell(res)
	}
	t := tallyStarts(st)
	cell := fmt.Sprintf("%d of %d group phases within %s", t.ok, t.all, resolution())
	if len(t.off) > 0 {
		cell += " (off: " + strings.Join(t.off, ", ") + ")"
	}
	return cell + fmt.Sprintf("; %d fallbacks, %d scripted", t.fell, t.short)
}

// startsBrief is startsCell short enough for the summary: "19/20 phases
// within 1 ms (off: spot-fallback queueing); fallbacks 5/5".
func startsBrief(res *spec.Result) string {
	st := startsRecorded(res)
	if st == nil {
		return errCell(res)
	}
	t := tallyStarts(st)
	cell := fmt.Sprintf("%d/%d phases within %s", t.ok, t.all, resolution())
	switch {
	case len(t.off) == 1:
		cell += " (off: " + t.off[0] + ")"
	case len(t.off) > 1:
		cell += fmt.Sprintf(" (off: %s, %d more)", t.off[0], len(t.off)-1)
	}
	return cell + fmt.Sprintf("; fallbacks %d/%d", t.fell, t.short)
}

// startsTotalsCell is each group's scheduled → flow Running p50; short
// names each group by the first word of its name.
func startsTotalsCell(res *spec.Result, short bool) string {
	st := startsRecorded(res)
	if st == nil {
		return errCell(res)
	}
	var parts []string
	for _, g := range st.Groups {
		name := g.Script.Name
		if short {
			name, _, _ = strings.Cut(name, "-")
		}
		if g.ToFlowRunning != nil {
			parts = append(parts, fmt.Sprintf("%s %s", name, secs(g.ToFlowRunning.P50)))
		}
	}
	return strings.Join(parts, ", ")
}

// exact formats seconds to the millisecond without trailing zeros: "58 s",
// "4.001 s", "0.587 s".
func exact(x float64) string {
	return strconv.FormatFloat(math.Round(x*1000)/1000, 'f', -1, 64) + " s"
}

func spreadCell(s *spec.Spread) string {
	if s == nil || s.N == 0 {
		return "-"
	}
	return exact(s.P50) + " / " + exact(s.P95)
}

// phaseNames are the phases' column heads, by their startphase names.
var phaseNames = map[string]string{
	"queueing": "Queueing", "provisioning": "Provisioning", "image_pull": "Image pull",
	"container_start": "Container start", "flow_start": "Flow start",
}

func phaseHead(g spec.StartGroup) []string {
	var out []string
	for _, p := range g.Phases {
		name := phaseNames[p.Phase]
		if name == "" {
			name = p.Phase
		}
		out = append(out, name)
	}
	return out
}

func firstChoice(g spec.StartScript) string {
	if g.Spot {
		return "FARGATE_SPOT, falling back to FARGATE"
	}
	return "FARGATE"
}

func (r Report) startsScriptTable(st *spec.Starts) table {
	t := table{head: []string{"Group (deployment)", "Runs", "Capacity", "Provisioning", "Image pull", "Container start", "Flow start", "Spot short for"}}
	for _, g := range st.Groups {
		s := g.Script
		short := "-"
		if s.Spot {
			short = fmt.Sprintf("the first %d runs", g.SpotShort)
		}
		t.add(s.Name+": "+s.Description, fmt.Sprintf("%d (%.0f %%)", g.Runs, s.Share*100), firstChoice(s),
			exact(s.ProvisionSeconds), exact(s.PullSeconds), exact(s.ContainerStartSeconds), exact(s.FlowStartSeconds), short)
	}
	return t
}

func (r Report) startsPhaseTable(st *spec.Starts) table {
	t := table{head: []string{"Group", "Runs (recorded)"}}
	t.head = append(t.head, phaseHead(st.Groups[0])...)
	t.head = append(t.head, "Scheduled → task RUNNING", "Scheduled → flow Running")
	for _, g := range st.Groups {
		row := []string{g.Script.Name, fmt.Sprintf("%d (%d)", g.Runs, g.Recorded)}
		for _, p := range g.Phases {
			row = append(row, spreadCell(&p.Spread))
		}
		row = append(row, spreadCell(g.ToTaskRunning), spreadCell(g.ToFlowRunning))
		t.add(row...)
	}
	return t
}

func (r Report) startsCheckTable(st *spec.Starts) table {
	t := table{head: []string{"Group"}}
	t.head = append(t.head, phaseHead(st.Groups[0])...)
	for _, g := range st.Groups {
		row := []string{g.Script.Name}
		for _, p := range g.Phases {
			want := "the fake's createdAt − scheduled"
			if p.Expected != nil {
				want = "script " + exact(*p.Expected)
			}
			cell := fmt.Sprintf("%d/%d (%s)", p.N-p.Off, g.Runs, want)
			if !phaseOK(p) {
				cell = fmt.Sprintf("**%d/%d** (%s; worst %s off", p.N-p.Off, g.Runs, want, exact(p.WorstSeconds))
				if p.Missing > 0 {
					cell += fmt.Sprintf(", %d not recorded", p.Missing)
				}
				cell += ")"
			}
			row = append(row, cell)
		}
		t.add(row...)
	}
	return t
}

func (r Report) startsCapacityTable(st *spec.Starts) table {
	t := table{head: []string{"Group", "Runs by `ecsworker.capacity`", "Fallbacks (scripted)", "RunTask attempts per run (scripted)"}}
	for _, g := range st.Groups {
		var caps []string
		for _, k := range slices.Sorted(maps.Keys(g.Capacity)) {
			caps = append(caps, fmt.Sprintf("%s %d", k, g.Capacity[k]))
		}
		t.add(g.Script.Name, strings.Join(caps, ", "), fmt.Sprintf("%d (%d)", g.Fallbacks, g.SpotShort),
			fmt.Sprintf("%s (%s)", perRun(g.RunTaskAttempts, g.Runs), perRun(g.Runs+g.SpotShort, g.Runs)))
	}
	return t
}

// startsSection is the report's section on the starts scenario; "" when
// the run had none.
func (r Report) startsSection() string {
	o := r.Settings
	if o.StartRuns <= 0 {
		return ""
	}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("## Start phases: scheduled → RUNNING for a scripted mix (fake time)\n\n")
	res := r.startsRun()
	st := startsRecorded(res)
	if st == nil || len(st.Groups) == 0 {
		w("%s\n\n", errCell(res))
		return b.String()
	}
	if res.Error != "" {
		w("The scenario failed (%s); the figures below are what it had measured.\n\n", res.Error)
	}
	w("%d runs of %d deployments arrive one by one, %g s apart on average (exponential), the deployments interleaved at random; the worker runs as it ships, with the event stream. "+
		"The AWS test server starts each task in its group's scripted phases (createdAt → pullStartedAt → pullStoppedAt → startedAt) and the simulation plays the flow engine in the container: "+
		"it proposes Running the group's flow start after the task's startedAt, and Completed %s after startedAt, as the container exits.\n\n%s\n",
		o.StartRuns, len(st.Groups), o.StartGap, exact(st.FlowRunSeconds), r.startsScriptTable(st))
	w("Each phase as the worker recorded it on the run (its `ecsworker.start.*-s` labels, read back from the Prefect test server), p50 / p95; "+
		"*scheduled → task RUNNING* is from the run's scheduled time to its task's startedAt (the AWS test server's record), *scheduled → flow Running* to the run's start_time in Prefect:\n\n%s\n",
		r.startsPhaseTable(st))
	w("Recorded against what happened: runs whose recorded phase is within %s of the script (queueing: of the fake's createdAt of the run's task minus its scheduled time, "+
		"since RunTask is answered at the instant the task is created):\n\n%s\n", resolution(), r.startsCheckTable(st))
	w("**Resolution.** ECS reports its timestamps in milliseconds and the worker writes each phase with 1 ms precision, so a phase can differ from the script by up to 1 ms and no more: "+
		"the phases come from ECS's timestamps and Prefect's Running time, not from the moment the worker sees the task RUNNING. That moment is its next DescribeTasks "+
		"(every %s; no ECS events in this simulation)", secs(st.TrackIntervalSeconds))
	if l := st.SeenLag; l != nil {
		w(": here %s after startedAt at p50, %s at p95, %s at most", exact(l.P50), exact(l.P95), exact(l.Max))
	}
	w(". The worker recorded the flow start of %d runs from Prefect's Running event; for the others the event came before the worker had seen the task started, "+
		"and it recorded the flow start when the task stopped, from the run's start_time.\n\n", st.FlowStartByEvent)
	w("Capacity, from each run's `ecsworker.capacity` label, and the RunTask attempts ECS answered for the group's runs (with a task or a capacity failure):\n\n%s\n", r.startsCapacityTable(st))
	return b.String()
}

// startsFindings are the report's findings on the starts scenario: a
// line for each phase that disagrees with the script, and for fallbacks
// that did not go as scripted.
func (r Report) startsFindings() []string {
	if r.Settings.StartRuns <= 0 {
		return nil
	}
	st := startsRecorded(r.startsRun())
	if st == nil {
		return nil
	}
	var out []string
	for _, g := range st.Groups {
		for _, p := range g.Phases {
			if phaseOK(p) {
				continue
			}
			want := "the fake's createdAt minus the scheduled time"
			if p.Expected != nil {
				want = "the script's " + exact(*p.Expected)
			}
			f := fmt.Sprintf("Start phases: the %s phase of the %s group, as the worker recorded it, is not %s for %d of its %d runs (p50 %s, worst %s off",
				p.Phase, g.Script.Name, want, p.Off+p.Missing, g.Runs, exact(p.P50), exact(p.WorstSeconds))
			if p.Missing > 0 {
				f += fmt.Sprintf(", %d runs without it", p.Missing)
			}
			f += ")."
			out = append(out, f)
		}
		if !fallbackOK(g) {
			out = append(out, fmt.Sprintf("Start phases: in the %s group %d runs fell back and ECS answered %d RunTask attempts for %d runs; the script makes %d short, so %d fallbacks and %d attempts.",
				g.Script.Name, g.Fallbacks, g.RunTaskAttempts, g.Runs, g.SpotShort, g.SpotShort, g.Runs+g.SpotShort))
		}
	}
	return out
}

// resolution is spec.StartResolution for people: "1 ms".
func resolution() string { return fmt.Sprintf("%g ms", spec.StartResolution*1000) }
