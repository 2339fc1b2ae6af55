// Package tracking follows launched ECS tasks until they stop: the Tracker
// polls DescribeTasks (one call per cluster and 100 tasks, backing off when
// throttled), takes the ECS task state change events of an SQS queue as
// shortcuts (EventConsumer), and delivers each change of a task's status,
// the last one with its diagnosis (internal/diagnosis).
package tracking

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awserr"
	"github.com/ecsworker/ecsworker/internal/diagnosis"
	"github.com/ecsworker/ecsworker/internal/startphase"
)

// describeTasksMax is how many tasks one DescribeTasks call accepts.
const describeTasksMax = 100

// Sources of a TaskUpdate.
const (
	SourcePoll  = "poll"
	SourceEvent = "event"
)

// TaskRef names a launched task and what the worker needs to know about it.
type TaskRef struct {
	Cluster       string // name or ARN, as given to RunTask; empty = default
	TaskARN       string
	FlowRunID     string
	ContainerName string // the orchestration container, for Diagnose
}

// TaskUpdate is one change of a task's lastStatus.
type TaskUpdate struct {
	Ref                       TaskRef
	LastStatus, DesiredStatus string
	// StartedAt is when the task's containers started (zero: not yet), and
	// TaskDefinitionARN the task's definition, for its logs (set on the
	// last update only). Updates wait in a queue, thousands at once when
	// tasks start together, so they carry these rather than the task,
	// whose SDK strings would keep each DescribeTasks answer whole.
	StartedAt         time.Time
	TaskDefinitionARN string
	// CreatedAt, PullStartedAt and PullStoppedAt are the task's other
	// start times (zero: not reported yet), for its start breakdown
	// (internal/startphase).
	CreatedAt, PullStartedAt, PullStoppedAt time.Time
	// Capacity is what the task runs on (startphase.Capacity): a constant
	// for ECS's launch types and Fargate's providers, a copy otherwise.
	Capacity string
	// Stopped is set on the last update of a task; Diagnosis then says why
	// it stopped and whether the run crashed.
	Stopped   bool
	Diagnosis *diagnosis.Diagnosis
	Source    string // SourcePoll or SourceEvent
}

// Options tune a Tracker. Zero values take the defaults.
type Options struct {
	// Interval between polls; default 10s. After throttling the wait
	// doubles up to MaxBackoff (default 5m).
	Interval, MaxBackoff time.Duration
	// MissingGrace is how long DescribeTasks may answer MISSING for a task
	// before it is reported stopped with diagnosis.CauseUnknown; default
	// 5m. ECS forgets stopped tasks after about an hour, and may not know a
	// task for a few seconds after RunTask.
	MissingGrace time.Duration
	// Concurrency bounds the DescribeTasks calls of one poll; default 4.
	Concurrency int
	Logger      *slog.Logger
	Now         func() time.Time // for MissingGrace; default time.Now

	// Permissions remembers a cluster whose tasks the identity may not
	// describe (nil: none remembered): its tasks are not polled until the
	// refusal is old, and the refusal is reported once, not every poll.
	Permissions *awserr.Permissions

	// BatchSize is how many tasks one DescribeTasks call describes; default
	// and most 100 (ECS's limit). 1 makes one call per task per poll, as the
	// Python worker's legacy watch loop did: benchmarks set it to show what
	// that costs, nothing else should.
	BatchSize int
}

// Tracker follows launched tasks until they stop, with at most one
// DescribeTasks call per cluster and 100 tasks per poll, and takes events
// from the events queue as shortcuts.
//
// Updates are delivered on the channel of Updates, in order, by Run. The
// loop never waits for a slow reader: updates wait in a queue inside the
// tracker (at most one entry per status change of a tracked task, and
// tasks leave the tracker when they stop, so the queue is bounded by the
// work in flight), and polling goes on meanwhile. Nothing is dropped.
type Tracker struct {
	api  awsclient.ECSAPI
	opts Options
	log  *slog.Logger

	mu    sync.Mutex
	tasks map[string]*trackedTask // by task ARN
	// order keeps the tasks in the order they were tracked, so that polls
	// make the same calls each time without sorting thousands of ARNs;
	// removed tasks stay in it, marked gone, until they are many.
	order   []*trackedTask
	removed int
	queue   []TaskUpdate

	pollMu sync.Mutex // one poll at a time
	// resume is the batch the next poll starts with. A throttled poll stops
	// early; starting the next one where it stopped keeps a quota smaller
	// than one poll from starving the same tasks every time.
	resume  int
	updates chan TaskUpdate
	wake    chan struct{} // the queue grew
	poke    chan struct{}
	running atomic.Bool
}

// trackedTask is kept small: the tracker may hold tens of thousands.
type trackedTask struct {
	ref          TaskRef
	status       string
	version      int64
	missingSince time.Time
	gone         bool
}

// NewTracker returns a tracker that calls api; Run starts it.
func NewTracker(api awsclient.ECSAPI, opts Options) *Tracker {
	if opts.Interval <= 0 {
		opts.Interval = 10 * time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Minute
	}
	if opts.MaxBackoff < opts.Interval {
		opts.MaxBackoff = opts.Interval
	}
	if opts.MissingGrace <= 0 {
		opts.MissingGrace = 5 * time.Minute
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.BatchSize <= 0 || opts.BatchSize > describeTasksMax {
		opts.BatchSize = describeTasksMax
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Tracker{
		api:     api,
		opts:    opts,
		log:     log,
		tasks:   map[string]*trackedTask{},
		updates: make(chan TaskUpdate),
		wake:    make(chan struct{}, 1),
		poke:    make(chan struct{}, 1),
	}
}

// Track starts following a task. Tracking a task again changes nothing.
func (t *Tracker) Track(ref TaskRef) {
	if ref.TaskARN == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.tasks[ref.TaskARN]; !ok {
		st := &trackedTask{ref: ref}
		t.tasks[ref.TaskARN] = st
		t.order = append(t.order, st)
	}
}

// Forget stops following a task; updates already queued are still delivered.
func (t *Tracker) Forget(taskARN string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.removeLocked(taskARN)
}

func (t *Tracker) removeLocked(taskARN string) {
	st, ok := t.tasks[taskARN]
	if !ok {
		return
	}
	st.gone = true
	delete(t.tasks, taskARN)
	t.removed++
	if t.removed > 256 && t.removed > len(t.order)/2 {
		t.order = slices.DeleteFunc(t.order, func(st *trackedTask) bool { return st.gone })
		t.removed = 0
	}
}

// Len is the number of tasks followed.
func (t *Tracker) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.tasks)
}

// Updates is where Run delivers updates. It is closed when Run returns.
func (t *Tracker) Updates() <-chan TaskUpdate { return t.updates }

// Poke asks Run to poll now rather than at the next tick.
func (t *Tracker) Poke() {
	select {
	case t.poke <- struct{}{}:
	default:
	}
}

// Observe applies an event from the events queue. It reports whether the
// event is about a tracked task; an event older than what the tracker
// already knows (by task version, else by lifecycle order) changes nothing.
func (t *Tracker) Observe(ev TaskEvent) bool {
	task := ev.Task
	if task.Version == 0 {
		task.Version = ev.Version
	}
	t.mu.Lock()
	st, ok := t.tasks[aws.ToString(task.TaskArn)]
	if ok {
		t.advanceLocked(st, task, SourceEvent)
	}
	t.mu.Unlock()
	if ok {
		t.signal()
	}
	return ok
}

func (t *Tracker) signal() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// Run polls every Interval (the first poll comes one Interval after the
// start, or at a Poke) and delivers updates until ctx is done; then it
// closes the Updates channel, leaving undelivered updates unsent, and
// returns nil. A DescribeTasks failure never drops a task: throttling makes
// the next poll wait longer, other errors are logged and the next poll
// tries again.
func (t *Tracker) Run(ctx context.Context) error {
	if !t.running.CompareAndSwap(false, true) {
		return errors.New("tracking: Tracker.Run called twice")
	}
	defer close(t.updates)
	timer := time.NewTimer(t.opts.Interval)
	defer timer.Stop()
	var (
		polling  chan error // nil when no poll is under way
		again    bool       // a poke arrived during a poll
		failures int        // consecutive throttled polls
	)
	startPoll := func() {
		polling = make(chan error, 1)
		go func(done chan<- error) { done <- t.Poll(ctx) }(polling)
	}
	for {
		var out chan<- TaskUpdate
		var head TaskUpdate
		t.mu.Lock()
		if len(t.queue) > 0 {
			out, head = t.updates, t.queue[0]
		}
		t.mu.Unlock()
		select {
		case <-ctx.Done():
			if polling != nil {
				<-polling //nolint:errcheck // the poll ends with ctx; its error no longer matters
			}
			return nil
		case out <- head:
			t.mu.Lock()
			t.queue[0] = TaskUpdate{}
			t.queue = t.queue[1:]
			if len(t.queue) == 0 {
				t.queue = nil
			}
			t.mu.Unlock()
		case <-t.wake:
		case <-t.poke:
			if polling == nil {
				startPoll()
			} else {
				again = true
			}
		case <-timer.C:
			if polling == nil {
				startPoll()
			}
		case err := <-polling:
			polling = nil
			next := t.opts.Interval
			switch {
			case err == nil || ctx.Err() != nil:
				failures = 0
			case awserr.IsThrottle(err):
				failures++
				next = min(t.opts.Interval<<min(failures, 16), t.opts.MaxBackoff)
				t.log.Warn("ECS throttled task polling; polling less often", "error", err, "next_poll_in", next)
				again = false
			default:
				failures = 0
				t.log.Warn("polling ECS tasks failed; retrying at the next poll", "error", err)
			}
			if again {
				again = false
				startPoll()
			}
			timer.Reset(next)
		}
	}
}

// pollBatch is one DescribeTasks call.
type pollBatch struct {
	cluster string
	arns    []string
}

// Poll describes every tracked task once, in as few calls as ECS allows,
// and queues the updates. Run calls it every Interval; calling it directly
// (say at start-up) is safe, polls never overlap.
func (t *Tracker) Poll(ctx context.Context) error {
	t.pollMu.Lock()
	defer t.pollMu.Unlock()
	batches := t.batches()
	if len(batches) == 0 {
		return nil
	}
	start := t.resume % len(batches)
	batches = slices.Concat(batches[start:], batches[:start])
	var (
		mu        sync.Mutex
		errs      []error
		throttled atomic.Bool
		described atomic.Int64
		wg        sync.WaitGroup
		sem       = make(chan struct{}, t.opts.Concurrency)
	)
	for _, b := range batches {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		// Once ECS throttles, more calls only dig the hole deeper.
		if throttled.Load() || ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := t.describe(ctx, b); err != nil {
				if awserr.IsThrottle(err) {
					throttled.Store(true)
				}
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			described.Add(1)
		})
	}
	wg.Wait()
	t.resume = start + int(described.Load())
	if n := t.queued(); n > 0 {
		t.signal()
	}
	return errors.Join(errs...)
}

func (t *Tracker) queued() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.queue)
}

// batches groups the tracked tasks by cluster, BatchSize (100) a call, in
// the order they were tracked.
func (t *Tracker) batches() []pollBatch {
	t.mu.Lock()
	byCluster := map[string][]string{}
	for _, st := range t.order {
		if !st.gone {
			byCluster[st.ref.Cluster] = append(byCluster[st.ref.Cluster], st.ref.TaskARN)
		}
	}
	t.mu.Unlock()
	clusters := make([]string, 0, len(byCluster))
	for c := range byCluster {
		clusters = append(clusters, c)
	}
	slices.Sort(clusters)
	var out []pollBatch
	for _, c := range clusters {
		for chunk := range slices.Chunk(byCluster[c], t.opts.BatchSize) {
			out = append(out, pollBatch{cluster: c, arns: chunk})
		}
	}
	return out
}

func (t *Tracker) describe(ctx context.Context, b pollBatch) error {
	if !t.opts.Permissions.Usable("ecs:DescribeTasks", clusterLabel(b.cluster)) {
		return nil // refused, and said so then; events may still come
	}
	out, err := t.api.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: strOrNil(b.cluster), Tasks: b.arns})
	if err != nil {
		// A deleted cluster takes its tasks with it: they go the way of
		// missing tasks rather than being polled forever.
		var cnf *ecstypes.ClusterNotFoundException
		if errors.As(err, &cnf) {
			t.markMissing(b.arns)
		}
		if t.opts.Permissions.Note("ecs:DescribeTasks", clusterLabel(b.cluster), err) {
			return nil
		}
		return fmt.Errorf("describe %d tasks in cluster %q: %w", len(b.arns), clusterLabel(b.cluster), err)
	}
	now := t.opts.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, task := range out.Tasks {
		if st, ok := t.tasks[aws.ToString(task.TaskArn)]; ok {
			st.missingSince = time.Time{}
			t.advanceLocked(st, task, SourcePoll)
		}
	}
	for _, f := range out.Failures {
		st, ok := t.tasks[aws.ToString(f.Arn)]
		if !ok {
			continue
		}
		if aws.ToString(f.Reason) != "MISSING" {
			t.log.Warn("ECS could not describe a task", "task_arn", aws.ToString(f.Arn),
				"reason", aws.ToString(f.Reason), "detail", aws.ToString(f.Detail))
			continue
		}
		t.missingLocked(st, now)
	}
	return nil
}

func (t *Tracker) markMissing(arns []string) {
	now := t.opts.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, arn := range arns {
		if st, ok := t.tasks[arn]; ok {
			t.missingLocked(st, now)
		}
	}
}

// missingLocked gives up on a task ECS has not known for MissingGrace.
func (t *Tracker) missingLocked(st *trackedTask, now time.Time) {
	if st.missingSince.IsZero() {
		st.missingSince = now
		return
	}
	if now.Sub(st.missingSince) < t.opts.MissingGrace {
		return
	}
	last := st.status
	if last == "" {
		last = "never seen"
	}
	t.removeLocked(st.ref.TaskARN)
	t.queue = append(t.queue, TaskUpdate{
		Ref:        st.ref,
		LastStatus: "STOPPED",
		Stopped:    true,
		Source:     SourcePoll,
		Diagnosis: &diagnosis.Diagnosis{
			Cause:   diagnosis.CauseUnknown,
			Summary: "Task end was not observed",
			Detail: fmt.Sprintf("ECS has had no record of task %s for %s (last status: %s). It stopped over an hour ago, "+
				"or it was never started.", st.ref.TaskARN, now.Sub(st.missingSince).Round(time.Second), last),
			Resolution: "The worker could not see how the task ended, usually because it was not running when the task " +
				"stopped. The flow run's own logs in Prefect say how far it got; rerun it if it did not finish.",
			Level: slog.LevelWarn,
			Crash: true,
		},
	})
}

// lifecycle orders the statuses a task goes through; ECS never moves a task
// back, so neither may a late event.
var lifecycle = map[string]int{
	"PROVISIONING": 1, "PENDING": 2, "ACTIVATING": 3, "RUNNING": 4,
	"DEACTIVATING": 5, "STOPPING": 6, "DEPROVISIONING": 7, "STOPPED": 8,
}

// statusNames are lifecycle's keys by rank.
var statusNames = [...]string{"", "PROVISIONING", "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"}

// keptStatus is a status the tracker may keep: a constant, or a copy. The
// SDK's strings share one buffer per answer, and a status kept for a
// task's life would keep its whole DescribeTasks answer.
func keptStatus(s string) string {
	if rank, ok := lifecycle[s]; ok {
		return statusNames[rank]
	}
	return strings.Clone(s)
}

// capacities are the capacities named by ECS itself, kept as constants.
var capacities = map[string]string{
	"FARGATE": "FARGATE", "FARGATE_SPOT": "FARGATE_SPOT", "EC2": "EC2", "EXTERNAL": "EXTERNAL", "MANAGED_INSTANCES": "MANAGED_INSTANCES",
}

// keptCapacity is startphase.Capacity as a string the tracker may keep
// (see keptStatus): an EC2 capacity provider's name is copied.
func keptCapacity(launchType, provider string) string {
	c := startphase.Capacity(launchType, provider)
	if k, ok := capacities[c]; ok {
		return k
	}
	if c == "unknown" {
		return "unknown"
	}
	return strings.Clone(c)
}

// advanceLocked moves a task forward to what task says, if it is newer, and
// queues an update when its lastStatus changed.
func (t *Tracker) advanceLocked(st *trackedTask, task ecstypes.Task, source string) {
	status := aws.ToString(task.LastStatus)
	if status == "" {
		return
	}
	if task.Version != 0 && st.version != 0 && task.Version < st.version {
		return
	}
	newRank, known := lifecycle[status]
	if oldRank, ok := lifecycle[st.status]; ok && known && newRank < oldRank {
		return
	}
	st.version = max(st.version, task.Version)
	if status == st.status {
		return
	}
	st.status = keptStatus(status)
	u := TaskUpdate{
		Ref:           st.ref,
		LastStatus:    st.status,
		DesiredStatus: keptStatus(aws.ToString(task.DesiredStatus)),
		StartedAt:     aws.ToTime(task.StartedAt),
		CreatedAt:     aws.ToTime(task.CreatedAt),
		PullStartedAt: aws.ToTime(task.PullStartedAt),
		PullStoppedAt: aws.ToTime(task.PullStoppedAt),
		Capacity:      keptCapacity(string(task.LaunchType), aws.ToString(task.CapacityProviderName)),
		Source:        source,
	}
	if status == "STOPPED" {
		// Only a stop needs it (its logs); thousands of other updates
		// may wait in the queue at once.
		u.TaskDefinitionARN = strings.Clone(aws.ToString(task.TaskDefinitionArn))
		u.Stopped = true
		u.Diagnosis = diagnosis.Diagnose(task, st.ref.ContainerName)
		t.removeLocked(st.ref.TaskARN)
	}
	t.queue = append(t.queue, u)
}

func clusterLabel(c string) string { return cmp.Or(c, "default") }
