package simulation

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/ecsworker/ecsworker/bench/internal/spec"
	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
	"github.com/ecsworker/ecsworker/internal/startphase"
	"github.com/ecsworker/ecsworker/internal/tracking"
)

// startRunFor is how long each flow of a starts scenario runs: its task
// then exits 0 and the worker settles the run, which records the flow
// start phase of runs whose Running event came before the worker saw
// their task started.
const startRunFor = 30 * time.Second

func seconds(x float64) time.Duration { return time.Duration(x * float64(time.Second)) }

// startOutcome is the fake AWS's script in a starts scenario: each task
// starts in its group's phases, and the flow engine in it (engine) is
// set going.
func (s *sim) startOutcome(ti awsfake.TaskInfo) awsfake.Outcome {
	gi := -1
	for _, c := range ti.Containers {
		if i, ok := s.startGroup[c.Image]; ok {
			gi = i
		}
	}
	if gi < 0 {
		return spec.TaskOutcome(ti) // not a run of the mix: there is none
	}
	g := spec.StartMix[gi]
	run := ti.Tags[tracking.FlowRunTag]
	s.mu.Lock()
	s.attempts[run]++
	attempt := s.attempts[run]
	s.mu.Unlock()
	o := awsfake.Outcome{ProvisionFor: seconds(g.ProvisionSeconds), PullFor: seconds(g.PullSeconds), StartFor: seconds(g.ContainerStartSeconds), RunFor: startRunFor}
	if g.Spot {
		o.CapacityFailuresBy = map[string]int{"FARGATE_SPOT": s.spotShort}
	}
	s.engines.Add(1)
	go s.engine(run, attempt, o.ProvisionFor+o.PullFor+o.StartFor, seconds(g.FlowStartSeconds))
	return o
}

// engine plays `prefect flow-run execute` in the task of a run's attempt
// launched now: Running flowStart after the task's startedAt (which comes
// start after its creation), Completed as its container exits. An attempt
// ECS refused (Spot short) is followed at once by the next step's: only
// the run's latest attempt has a task.
func (s *sim) engine(run string, attempt int, start, flowStart time.Duration) {
	defer s.engines.Done()
	time.Sleep(start + flowStart)
	s.mu.Lock()
	latest := s.attempts[run] == attempt
	s.mu.Unlock()
	if !latest {
		return
	}
	for _, st := range []struct {
		typ, name string
		after     time.Duration
	}{{"RUNNING", "Running", 0}, {"COMPLETED", "Completed", startRunFor - flowStart}} {
		time.Sleep(st.after)
		if res := s.prefect.ProposeFlowRunState(run, st.typ, st.name); res["status"] != "ACCEPT" {
			s.mu.Lock()
			s.refused++
			s.mu.Unlock()
			return
		}
	}
}

// starts: N runs of the mix spec.StartMix, one deployment per group, the
// groups interleaved at random, arriving one by one at exponentially
// distributed gaps; each run's start phases as the worker recorded them
// on the run, against the script.
func (s *sim) starts(res *spec.Result) error {
	mix := spec.StartMix
	counts := spec.StartCounts(mix, s.sc.N)
	// A strategy may only name providers associated with the cluster.
	if err := s.aws.SetClusterCapacityProviders(spec.Cluster, []string{"FARGATE", "FARGATE_SPOT"}); err != nil {
		return err
	}
	s.startGroup = map[string]int{}
	deps := make([]string, len(mix))
	for i, g := range mix {
		s.startGroup[g.Image] = i
		vars := spec.JobVariables("")
		vars["image"] = g.Image
		if g.Spot {
			vars["launch_type"] = "FARGATE_SPOT"
			vars["capacity_fallback"] = []any{map[string]any{"launch_type": "FARGATE"}}
			s.spotShort = g.SpotShort(counts[i])
		}
		deps[i] = s.prefect.CreateDeployment(s.flowID, g.Name, poolName, "", vars)["id"].(string)
	}
	var order []int
	for i, n := range counts {
		for range n {
			order = append(order, i)
		}
	}
	rng := rand.New(rand.NewPCG(s.sc.Seed, 11))
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })

	w, err := s.warm("bench-1")
	if err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = w.stop()
		}
	}()
	awsBefore, thrBefore := s.aws.Calls(), s.aws.Throttled()
	s.pfBefore = s.prefect.Calls()
	group := map[string]int{}
	ids := make([]string, 0, len(order))
	for _, gi := range order {
		time.Sleep(time.Duration(rng.ExpFloat64() * s.sc.MeanGapSeconds * float64(time.Second)))
		id := s.newRun(deps[gi])
		group[id] = gi
		ids = append(ids, id)
	}
	limit := time.Duration(s.sc.LimitSeconds * float64(time.Second))
	// Done when every run has its flow start recorded, or crashed.
	s.waitUntil(limit, time.Second, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.flowSeen)+len(s.crashed) >= len(ids)
	})
	stopped = true
	if err := w.stop(); err != nil {
		return err
	}
	s.engines.Wait()

	res.Runs = len(ids)
	res.Submitted, res.Crashed = s.done()
	s.mu.Lock()
	res.Unfinished = len(ids) - len(s.flowSeen) - res.Crashed
	refused := s.refused
	s.mu.Unlock()
	res.AWSCalls = diff(s.aws.Calls(), awsBefore)
	delete(res.AWSCalls, "ecs:DescribeTasks")
	res.AWSThrottled = diff(s.aws.Throttled(), thrBefore)
	res.PrefectCalls = diff(s.prefect.Calls(), s.pfBefore)
	res.Registrations = len(s.aws.TaskDefinitions())
	st, err := s.startFigures(ids, group, counts)
	if err != nil {
		return err
	}
	res.Starts = st
	switch {
	case refused > 0:
		return fmt.Errorf("the Prefect test server refused %d of the flow engine's state proposals", refused)
	case res.Unfinished > 0:
		return fmt.Errorf("%d of %d runs had no flow start recorded after %s of fake time", res.Unfinished, len(ids), limit)
	}
	return nil
}

// phaseAcc gathers one phase of one group.
type phaseAcc struct {
	phase        startphase.Phase
	expected     *float64 // nil: per run, the fake's createdAt − scheduled
	values       []float64
	off, missing int
	worst        float64
}

func (a *phaseAcc) add(d time.Duration, ok bool, want float64) {
	if !ok {
		a.missing++
		return
	}
	v := d.Seconds()
	a.values = append(a.values, v)
	diff := math.Abs(v - want)
	a.worst = max(a.worst, diff)
	if diff > spec.StartResolution+1e-9 {
		a.off++
	}
}

// startFigures reads each run back: its labels and start_time from the
// fake Prefect, its task's timestamps from the fake AWS.
func (s *sim) startFigures(ids []string, group map[string]int, counts []int) (*spec.Starts, error) {
	tasks := map[string]awsfake.TaskView{}
	for _, t := range s.aws.Tasks() {
		id := t.Tags[tracking.FlowRunTag]
		if old, ok := tasks[id]; !ok || old.StartedAt.IsZero() {
			tasks[id] = t
		}
	}
	mix := spec.StartMix
	type acc struct {
		phases              []*phaseAcc
		toTask, toFlow      []float64
		capacity            map[string]int
		recorded, fallbacks int
		attempts            int
	}
	accs := make([]*acc, len(mix))
	for i, g := range mix {
		a := &acc{capacity: map[string]int{}}
		scripted := map[startphase.Phase]float64{startphase.Provisioning: g.ProvisionSeconds, startphase.ImagePull: g.PullSeconds,
			startphase.ContainerStart: g.ContainerStartSeconds, startphase.FlowStart: g.FlowStartSeconds}
		for _, p := range startphase.Phases {
			pa := &phaseAcc{phase: p}
			if v, ok := scripted[p]; ok {
				pa.expected = &v
			}
			a.phases = append(a.phases, pa)
		}
		accs[i] = a
	}
	var seenLag []float64
	byEvent := 0
	s.mu.Lock()
	attempts, startSeen, flowSeen, created := s.attempts, s.startSeen, s.flowSeen, s.created
	s.mu.Unlock()
	for _, id := range ids {
		g, a := mix[group[id]], accs[group[id]]
		fr := s.prefect.FlowRun(id)
		labels, _ := fr["labels"].(map[string]any)
		rec, err := startphase.FromLabels(labels)
		if err != nil {
			return nil, fmt.Errorf("flow run %s: %w", id, err)
		}
		scheduled := created[id]
		if v, ok := fr["expected_start_time"].(string); ok {
			if at, err := time.Parse(time.RFC3339Nano, v); err == nil {
				scheduled = at
			}
		}
		t := tasks[id]
		all := true
		for _, pa := range a.phases {
			d, ok := rec.Get(pa.phase)
			all = all && ok
			want := 0.0
			if pa.expected != nil {
				want = *pa.expected
			} else if !t.CreatedAt.IsZero() {
				want = t.CreatedAt.Sub(scheduled).Seconds()
			}
			pa.add(d, ok, want)
		}
		if all {
			a.recorded++
		}
		if !t.StartedAt.IsZero() {
			a.toTask = append(a.toTask, t.StartedAt.Sub(scheduled).Seconds())
			if at, ok := startSeen[id]; ok {
				seenLag = append(seenLag, at.Sub(t.StartedAt).Seconds())
			}
			if at, ok := flowSeen[id]; ok && at.Before(t.StartedAt.Add(startRunFor)) {
				byEvent++
			}
		}
		if v, ok := fr["start_time"].(string); ok {
			if at, err := time.Parse(time.RFC3339Nano, v); err == nil {
				a.toFlow = append(a.toFlow, at.Sub(scheduled).Seconds())
			}
		}
		if rec.Capacity != "" {
			a.capacity[rec.Capacity]++
			first := "FARGATE"
			if g.Spot {
				first = "FARGATE_SPOT"
			}
			if rec.Capacity != first {
				a.fallbacks++
			}
		}
		a.attempts += attempts[id]
	}
	out := &spec.Starts{FlowRunSeconds: startRunFor.Seconds(), TrackIntervalSeconds: s.trackInterval().Seconds(), SeenLag: spec.SpreadOf(seenLag), FlowStartByEvent: byEvent}
	for i, g := range mix {
		a := accs[i]
		sg := spec.StartGroup{Script: g, Runs: counts[i], Recorded: a.recorded, ToTaskRunning: spec.SpreadOf(a.toTask), ToFlowRunning: spec.SpreadOf(a.toFlow),
			Capacity: a.capacity, Fallbacks: a.fallbacks, SpotShort: g.SpotShort(counts[i]), RunTaskAttempts: a.attempts}
		for _, pa := range a.phases {
			pc := spec.PhaseCheck{Phase: pa.phase.String(), Expected: pa.expected, Off: pa.off, Missing: pa.missing, WorstSeconds: pa.worst}
			if sp := spec.SpreadOf(pa.values); sp != nil {
				pc.Spread = *sp
			}
			sg.Phases = append(sg.Phases, pc)
		}
		out.Groups = append(out.Groups, sg)
	}
	return out, nil
}
