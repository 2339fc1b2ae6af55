// Package startphase splits the time from a flow run's schedule to its
// flow's start into phases, from what Prefect and ECS already report: the
// scheduled time, the worker's RunTask, the task's createdAt, pullStartedAt,
// pullStoppedAt and startedAt, and the run entering Running.
//
// The worker reports a breakdown three ways (a line in the run's logs,
// Prometheus histograms, and labels on the flow run), and `ecsworker starts`
// reads the labels back. This package is the one place that knows the
// phases, their label names and how a breakdown reads.
package startphase

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Phase is one stretch of a run's start.
type Phase uint8

// The phases, in the order a run passes through them.
const (
	// Queueing is from the run's scheduled time to the worker's RunTask.
	Queueing Phase = iota
	// Provisioning is from the task's createdAt to its pullStartedAt: ECS
	// finding capacity, attaching the ENI, starting a Fargate micro-VM.
	Provisioning
	// ImagePull is from pullStartedAt to pullStoppedAt.
	ImagePull
	// ContainerStart is from pullStoppedAt to the task's startedAt.
	ContainerStart
	// FlowStart is from startedAt to the flow run entering Running in
	// Prefect: the container's entry point, pull steps, imports.
	FlowStart
	numPhases
)

// Phases lists every phase in order.
var Phases = [...]Phase{Queueing, Provisioning, ImagePull, ContainerStart, FlowStart}

var names = [numPhases]string{"queueing", "provisioning", "image_pull", "container_start", "flow_start"}

// String is the phase's name in metrics and JSON: queueing, provisioning,
// image_pull, container_start, flow_start.
func (p Phase) String() string {
	if p < numPhases {
		return names[p]
	}
	return "phase(" + strconv.Itoa(int(p)) + ")"
}

// Label is the flow run label that records the phase, in seconds.
func (p Phase) Label() string {
	return LabelPrefix + strings.ReplaceAll(p.String(), "_", "-") + "-s"
}

// Label names on the flow run. Values are JSON numbers of seconds with
// millisecond precision, which Prefect's labels accept (str, bool, int or
// float), and an RFC 3339 time for TaskStartedAtLabel.
const (
	LabelPrefix = "ecsworker.start."
	// TaskStartedAtLabel keeps the task's startedAt, so that the flow start
	// phase can be computed later from the run's start_time when the
	// worker did not see the run enter Running.
	TaskStartedAtLabel = LabelPrefix + "task-started-at"
	// CapacityLabel is the capacity the task ran on (see Capacity).
	CapacityLabel = "ecsworker.capacity"
)

// Times are the instants a run's start passes through; zero when unknown.
type Times struct {
	Scheduled time.Time // the flow run's expected (scheduled) start
	RunTask   time.Time // when the worker's RunTask was answered with a task

	Created, PullStarted, PullStopped, Started time.Time // the ECS task's

	Running time.Time // the flow run entered Running in Prefect
}

// Breakdown is a run's start split into phases; a phase whose two ends are
// not both known is absent.
type Breakdown struct {
	d     [numPhases]time.Duration
	known uint8
	// Total is from the task's createdAt to its startedAt (zero when either
	// is unknown): how long ECS took to start the task.
	Total time.Duration
}

// Compute returns the breakdown of t. A phase whose end comes before its
// start (clocks of two services, or a run claimed ahead of its scheduled
// time by the prefetch) counts as zero, not as negative.
func Compute(t Times) Breakdown {
	var b Breakdown
	b.span(Queueing, t.Scheduled, t.RunTask)
	b.span(Provisioning, t.Created, t.PullStarted)
	b.span(ImagePull, t.PullStarted, t.PullStopped)
	b.span(ContainerStart, t.PullStopped, t.Started)
	b.span(FlowStart, t.Started, t.Running)
	if !t.Created.IsZero() && !t.Started.IsZero() {
		b.Total = max(t.Started.Sub(t.Created), 0)
	}
	return b
}

func (b *Breakdown) span(p Phase, from, to time.Time) {
	if from.IsZero() || to.IsZero() {
		return
	}
	b.Set(p, to.Sub(from))
}

// Set records phase p as d (negative counts as zero).
func (b *Breakdown) Set(p Phase, d time.Duration) {
	if p >= numPhases {
		return
	}
	b.d[p] = max(d, 0)
	b.known |= 1 << p
}

// Get returns phase p and whether it is known.
func (b Breakdown) Get(p Phase) (time.Duration, bool) {
	if p >= numPhases || b.known&(1<<p) == 0 {
		return 0, false
	}
	return b.d[p], true
}

// Has reports whether any phase is known.
func (b Breakdown) Has() bool { return b.known != 0 }

// Line is the sentence the worker writes to the flow run's logs when its
// task starts, e.g. "ECS task started in 74 s: 9 s provisioning, 58 s
// pulling the image, 7 s starting the container (queued 2 s in the worker
// before RunTask)". It says which times ECS did not report rather than
// guessing them.
func (b Breakdown) Line() string {
	var parts []string
	for _, p := range [...]Phase{Provisioning, ImagePull, ContainerStart} {
		if d, ok := b.Get(p); ok {
			parts = append(parts, Seconds(d)+" "+verbs[p])
		}
	}
	line := "ECS task started"
	if b.Total > 0 {
		line += " in " + Seconds(b.Total)
	}
	switch _, pulled := b.Get(ImagePull); {
	case b.Total == 0 && len(parts) == 0:
		line += " (ECS reported no start times)"
	case len(parts) > 0 && pulled:
		line += ": " + strings.Join(parts, ", ")
	case len(parts) > 0:
		line += ": " + strings.Join(parts, ", ") + " (ECS reported no image pull times)"
	default:
		line += " (ECS reported no image pull times)"
	}
	if d, ok := b.Get(Queueing); ok {
		line += "; queued " + Seconds(d) + " in the worker before RunTask"
	}
	return line
}

// NotStartedLine is the sentence for a task that stopped before it
// started, e.g. "ECS task stopped before starting, after 9 s provisioning
// and 3 s pulling the image" or "ECS task stopped before starting; it never
// pulled its image".
func (b Breakdown) NotStartedLine() string {
	var parts []string
	for _, p := range [...]Phase{Provisioning, ImagePull} {
		if d, ok := b.Get(p); ok {
			parts = append(parts, Seconds(d)+" "+verbs[p])
		}
	}
	line := "ECS task stopped before starting"
	if len(parts) > 0 {
		line += ", after " + strings.Join(parts, " and ")
	}
	if _, ok := b.Get(Provisioning); !ok {
		line += "; it never pulled its image"
	}
	if d, ok := b.Get(Queueing); ok {
		line += "; queued " + Seconds(d) + " in the worker before RunTask"
	}
	return line
}

var verbs = [numPhases]string{
	Queueing:       "queued",
	Provisioning:   "provisioning",
	ImagePull:      "pulling the image",
	ContainerStart: "starting the container",
	FlowStart:      "starting the flow",
}

// Seconds formats d for people: whole seconds from 10 s up, one decimal
// below ("0.4 s", "7 s", "58 s").
func Seconds(d time.Duration) string {
	s := d.Seconds()
	if s >= 9.95 {
		return strconv.FormatFloat(math.Round(s), 'f', 0, 64) + " s"
	}
	v := strconv.FormatFloat(math.Round(s*10)/10, 'f', 1, 64)
	return strings.TrimSuffix(v, ".0") + " s"
}

// Capacity names what a task ran on, for labels and metrics: its capacity
// provider when it was placed through one (FARGATE_SPOT, or an EC2
// provider's name), else its launch type (FARGATE, EC2, EXTERNAL).
func Capacity(launchType, capacityProvider string) string {
	if capacityProvider != "" {
		return capacityProvider
	}
	if launchType != "" {
		return launchType
	}
	return "unknown"
}

// Record is what is kept on a flow run: the breakdown, the capacity and the
// task's startedAt.
type Record struct {
	Breakdown
	Capacity      string
	TaskStartedAt time.Time
}

// Labels returns the flow run labels of r: one per known phase, the
// capacity and the task's startedAt when known.
func (r Record) Labels() map[string]any {
	l := make(map[string]any, int(numPhases)+2)
	for _, p := range Phases {
		if d, ok := r.Get(p); ok {
			l[p.Label()] = math.Round(d.Seconds()*1000) / 1000
		}
	}
	if r.Capacity != "" {
		l[CapacityLabel] = r.Capacity
	}
	if !r.TaskStartedAt.IsZero() {
		l[TaskStartedAtLabel] = r.TaskStartedAt.UTC().Format(time.RFC3339Nano)
	}
	return l
}

// FromLabels reads a Record back from a flow run's labels (as the Prefect
// API returns them: numbers, or numeric strings where another client wrote
// them). Labels it does not know are ignored; a known label that does not
// parse is an error naming it.
func FromLabels(labels map[string]any) (Record, error) {
	var r Record
	for _, p := range Phases {
		v, ok := labels[p.Label()]
		if !ok {
			continue
		}
		s, err := number(v)
		if err != nil || s < 0 || math.IsInf(s, 0) || math.IsNaN(s) {
			return Record{}, fmt.Errorf("flow run label %s is %v, not a number of seconds (written by ecsworker; remove the label or let the worker rewrite it)", p.Label(), v)
		}
		r.Set(p, time.Duration(s*float64(time.Second)))
	}
	if v, ok := labels[CapacityLabel].(string); ok {
		r.Capacity = v
	}
	if v, ok := labels[TaskStartedAtLabel]; ok {
		s, _ := v.(string)
		at, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return Record{}, fmt.Errorf("flow run label %s is %v, not an RFC 3339 time", TaskStartedAtLabel, v)
		}
		r.TaskStartedAt = at
	}
	return r, nil
}

func number(v any) (float64, error) {
	switch n := v.(type) {
	case float64:
		return n, nil
	case int:
		return float64(n), nil
	case int64:
		return float64(n), nil
	case string:
		return strconv.ParseFloat(n, 64)
	}
	return 0, fmt.Errorf("not a number: %T", v)
}
