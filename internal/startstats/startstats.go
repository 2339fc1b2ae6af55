// Package startstats summarises the start records of a pool's flow runs
// (the labels of package startphase) per deployment: how many runs, the
// p50 and p95 of each phase, the capacity they ran on, the runs without a
// record, and the phase that dominates with advice on how to win it back.
// It is the pure core of `ecsworker starts`: no I/O, no clock.
package startstats

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/ecsworker/ecsworker/internal/startphase"
)

// Run is one flow run as the summary sees it.
type Run struct {
	ID, Name string
	// Record is the run's start record; valid when Recorded.
	Record startphase.Record
	// Recorded is true when the run carries a start record.
	Recorded bool
	// Problem is set when a start label of the run does not parse: the
	// run is reported with it, and counted as without a record.
	Problem string
	// NotStarted is true for a run without a record that has not started:
	// still scheduled or pending, or ended before its flow started.
	NotStarted bool
}

// ReadRun reads a flow run's start record from its labels (numbers as
// float64, as encoding/json decodes them, or numeric strings). When the
// flow start phase is not among them, it is computed from the run's
// start_time (set by Prefect when the run enters Running) minus the task's
// startedAt; startTime is zero when the run has none.
func ReadRun(id, name string, labels map[string]any, startTime time.Time) Run {
	r := Run{ID: id, Name: name}
	rec, err := startphase.FromLabels(labels)
	if err != nil {
		r.Problem = err.Error()
		return r
	}
	if _, ok := rec.Get(startphase.FlowStart); !ok && !rec.TaskStartedAt.IsZero() && !startTime.IsZero() {
		rec.Set(startphase.FlowStart, startTime.Sub(rec.TaskStartedAt))
	}
	r.Record = rec
	r.Recorded = rec.Has() || rec.Capacity != "" || !rec.TaskStartedAt.IsZero()
	r.NotStarted = !r.Recorded && startTime.IsZero()
	return r
}

// Percentile is the nearest-rank percentile p (0 < p <= 100) of sorted,
// which must be in ascending order: the smallest value that at least p %
// of the values are less than or equal to. It is zero for no values.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 || p <= 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// PhaseStats are the figures of one phase across a deployment's runs.
type PhaseStats struct {
	Phase startphase.Phase
	// Count is the number of runs that recorded the phase.
	Count    int
	P50, P95 time.Duration
}

// Capacity is how many of a deployment's recorded runs ran on one
// capacity (FARGATE, FARGATE_SPOT, EC2 or a capacity provider's name).
type Capacity struct {
	Name string
	Runs int
}

// Malformed is a run whose start labels did not parse.
type Malformed struct {
	ID, Name, Problem string
}

// Deployment is the summary of one deployment's runs.
type Deployment struct {
	// Key is what the runs were grouped by (the deployment's id, or "" for
	// runs without a deployment); Name is FLOW/DEPLOYMENT for people.
	Key, Name string
	// Runs counts every run; Recorded those with a start record;
	// NotStarted and Unrecorded the others (Unrecorded started without
	// one: an older worker, or another worker).
	Runs, Recorded, NotStarted, Unrecorded int
	Malformed                              []Malformed
	// Phases has every phase, in order, Count 0 when no run recorded it.
	Phases   []PhaseStats
	Capacity []Capacity // most runs first
	// Dominant is the phase that dominates the start, or nil (see
	// DominantPhase).
	Dominant *Dominant
}

// Summary collects runs by deployment. The zero value is ready to use.
type Summary struct {
	groups map[string]*group
}

type group struct {
	d         Deployment
	phases    [len(startphase.Phases)][]time.Duration
	capacity  map[string]int
	malformed []Malformed
}

// Add counts run r in the deployment key (name is how it is shown).
func (s *Summary) Add(key, name string, r Run) {
	if s.groups == nil {
		s.groups = map[string]*group{}
	}
	g := s.groups[key]
	if g == nil {
		g = &group{d: Deployment{Key: key, Name: name}, capacity: map[string]int{}}
		s.groups[key] = g
	}
	g.d.Runs++
	switch {
	case r.Problem != "":
		g.malformed = append(g.malformed, Malformed{ID: r.ID, Name: r.Name, Problem: r.Problem})
	case r.Recorded:
		g.d.Recorded++
		for i, p := range startphase.Phases {
			if d, ok := r.Record.Get(p); ok {
				g.phases[i] = append(g.phases[i], d)
			}
		}
		if r.Record.Capacity != "" {
			g.capacity[r.Record.Capacity]++
		}
	case r.NotStarted:
		g.d.NotStarted++
	default:
		g.d.Unrecorded++
	}
}

// Deployments returns the summary of each deployment, by name.
func (s *Summary) Deployments() []Deployment {
	out := make([]Deployment, 0, len(s.groups))
	for _, g := range s.groups {
		d := g.d
		d.Malformed = slices.Clone(g.malformed)
		for i, p := range startphase.Phases {
			v := slices.Clone(g.phases[i])
			slices.Sort(v)
			d.Phases = append(d.Phases, PhaseStats{Phase: p, Count: len(v), P50: Percentile(v, 50), P95: Percentile(v, 95)})
		}
		for name, n := range g.capacity {
			d.Capacity = append(d.Capacity, Capacity{Name: name, Runs: n})
		}
		slices.SortFunc(d.Capacity, func(a, b Capacity) int { return cmp.Or(b.Runs-a.Runs, cmp.Compare(a.Name, b.Name)) })
		d.Dominant = DominantPhase(d.Phases)
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b Deployment) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Key, b.Key)) })
	return out
}

// A phase dominates a deployment's start when its p50 is at least
// DominantShare of the sum of the phases' p50s and at least DominantMin:
// then winning it back is worth a change to the image, the capacity or
// the worker. Below 40 % no one phase explains the start; below 10 s the
// start is fast enough that none is worth it (Fargate alone takes about
// that to provision a task).
const (
	DominantShare = 0.40
	DominantMin   = 10 * time.Second
)

// Dominant is the phase that takes the largest share of a typical start.
type Dominant struct {
	Phase startphase.Phase
	// P50 is the phase's p50, Total the sum of every phase's p50, and
	// Share P50/Total.
	P50, Total time.Duration
	Share      float64
}

// DominantPhase returns the phase whose p50 is the largest share of the
// sum of the phases' p50s, when it is at least DominantShare of it and at
// least DominantMin; else nil. Ties go to the earlier phase.
func DominantPhase(phases []PhaseStats) *Dominant {
	var total time.Duration
	best := -1
	for i, p := range phases {
		if p.Count == 0 {
			continue
		}
		total += p.P50
		if best < 0 || p.P50 > phases[best].P50 {
			best = i
		}
	}
	if best < 0 || total <= 0 {
		return nil
	}
	top := phases[best]
	share := float64(top.P50) / float64(total)
	if share < DominantShare || top.P50 < DominantMin {
		return nil
	}
	return &Dominant{Phase: top.Phase, P50: top.P50, Total: total, Share: share}
}
