// Package worker is ecsworker's long-running worker: it keeps a Prefect
// work pool's scheduled flow runs flowing into ECS tasks and follows each
// task until it stops, reporting crashes, cancellations and diagnoses back
// to Prefect. It is a drop-in for `prefect worker start --type ecs`.
//
// The worker holds the pool, the loops (heartbeat, poll, cancellation,
// sweep, events) and the submission slots. A submission runs the steps of
// internal/submission (claim, render, launch) and records the task; from
// then on internal/inflight follows the run, and internal/runreport is how
// either tells Prefect. What the worker consumes from Prefect and AWS it
// declares as interfaces (deps.go).
package worker

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ecsworker/ecsworker/internal/awserr"
	"github.com/ecsworker/ecsworker/internal/taskdef"
)

// Type is the work pool and worker type served.
const Type = "ecs"

// Config tunes a Worker. Zero values take the defaults documented on each
// field, which are Prefect's own where Prefect has one.
type Config struct {
	Pool   string   // work pool name (required)
	Queues []string // work queues to poll; empty = all of the pool's
	Name   string   // worker name; default "ECSWorker <uuid>" as Prefect names them

	// Limit bounds the flow runs being submitted at once (claim to RunTask);
	// 0 = no limit. MaxInFlight bounds the runs whose tasks are being
	// tracked (submitted and not yet stopped); 0 = no limit.
	Limit       int
	MaxInFlight int

	QueryInterval time.Duration // poll interval; default 10s (PREFECT_WORKER_QUERY_SECONDS)
	// MinPollGap is the least time between two polls, however many events
	// or freed slots ask for one; default 1s.
	MinPollGap        time.Duration
	HeartbeatInterval time.Duration // default 30s (PREFECT_WORKER_HEARTBEAT_SECONDS)
	Prefetch          time.Duration // look-ahead for scheduled runs; default 10s (PREFECT_WORKER_PREFETCH_SECONDS)
	CancelInterval    time.Duration // how often CANCELLING runs are looked for; default 10s
	TrackInterval     time.Duration // DescribeTasks interval; default 10s
	// ShutdownTimeout bounds the whole stop, from the signal to Run's
	// return: submissions in progress finish within it, and what is left
	// to tell Prefect (crashes, logs, events) is given up at its end even
	// when Prefect and AWS do not answer; default 30s.
	ShutdownTimeout time.Duration

	// AWSUnhealthyAfter makes /health fail once AWS has not answered (a
	// call waiting, or every call failing) for this long; default 5m.
	AWSUnhealthyAfter time.Duration
	// PermissionRecheck is how long an AWS action refused to the worker
	// is not asked for again; default 1h.
	PermissionRecheck time.Duration

	RunOnce    bool // one poll, submit what it claimed, exit
	CreatePool bool // create the pool when missing (the default in the CLI)

	// EventStream subscribes to Prefect's event stream to poll as soon as a
	// run is scheduled and to see cancellations at once; polling remains.
	EventStream bool
	// EventsQueue is the SQS queue of ECS task state change events (the
	// Python observer's queue); empty = DescribeTasks polling only.
	EventsQueue string

	// DefaultImage runs flows whose job names no image.
	DefaultImage string
	// StartupGrace is how long a PENDING run without an infrastructure pid
	// must have waited before a restarted worker resumes its submission
	// (another worker may be submitting it right now); default 60s.
	StartupGrace time.Duration

	// TaskDefinitionOptions and TrackerBatchSize are passed to the
	// task-definition registry and the tracker (taskdef.Options,
	// tracking.Options.BatchSize); zero values keep their defaults. Benchmarks use them to make the worker call
	// AWS the way the Python worker does.
	TaskDefinitionOptions taskdef.Options
	TrackerBatchSize      int

	Logger *slog.Logger
	Now    func() time.Time

	// OnStarted, when set, is called once the worker has read its pool and
	// sent its first heartbeat (or found Prefect failing only for now),
	// before it polls.
	OnStarted func()

	// Notify, when set, is called after each step that changes a run
	// (claimed, submitted, crashed, cancelled, task update handled), with a
	// short description. Tests wait on it instead of sleeping.
	Notify func(event, flowRunID string)
}

func (c *Config) defaults() error {
	if strings.TrimSpace(c.Pool) == "" {
		return fmt.Errorf("no work pool: give --pool NAME")
	}
	if strings.ContainsAny(c.Name, "/%") {
		return fmt.Errorf("worker name %q: a worker name may not contain / or %%", c.Name)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.QueryInterval, 10*time.Second)
	def(&c.MinPollGap, time.Second)
	def(&c.HeartbeatInterval, 30*time.Second)
	def(&c.CancelInterval, 10*time.Second)
	def(&c.TrackInterval, 10*time.Second)
	def(&c.ShutdownTimeout, 30*time.Second)
	def(&c.StartupGrace, 60*time.Second)
	def(&c.AWSUnhealthyAfter, 5*time.Minute)
	def(&c.PermissionRecheck, awserr.DefaultPermissionRecheck)
	if c.Prefetch < 0 {
		c.Prefetch = 0
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}
