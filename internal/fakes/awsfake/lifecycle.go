package awsfake

import (
	"container/heap"
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// TaskInfo is what Script sees of a task RunTask is about to launch.
type TaskInfo struct {
	Cluster, ClusterArn string
	Family              string
	TaskDefinitionArn   string
	// LaunchType is FARGATE, EC2 or EXTERNAL; CapacityProvider is set when
	// the task was placed through a capacity provider strategy.
	LaunchType       string
	CapacityProvider string
	StartedBy, Group string
	ClientToken      string
	Tags             map[string]string
	// Containers are the task definition's containers with RunTask's
	// overrides applied (command replaced, environment merged).
	Containers []ContainerInfo
}

// ContainerInfo is one container of a TaskInfo.
type ContainerInfo struct {
	Name, Image string
	Essential   bool
	Command     []string
	Environment map[string]string
}

// Container returns the container called name.
func (ti TaskInfo) Container(name string) (ContainerInfo, bool) {
	for _, c := range ti.Containers {
		if c.Name == name {
			return c, true
		}
	}
	return ContainerInfo{}, false
}

// Outcome scripts what happens to a task. The zero value is the default:
// RUNNING 30s after launch, exit code 0 30s later.
type Outcome struct {
	// TimeToRunning is from RunTask to RUNNING (default 30s); awsvpc tasks
	// spend its first third PROVISIONING, then PENDING. The task's
	// pullStartedAt is the end of PROVISIONING (its createdAt for tasks
	// without an ENI), and pullStoppedAt is its startedAt.
	TimeToRunning time.Duration
	// ProvisionFor, PullFor and StartFor script the task's start phase by
	// phase instead: createdAt to pullStartedAt (PROVISIONING while an ENI
	// is attached), pullStartedAt to pullStoppedAt (the image pull), and
	// pullStoppedAt to startedAt (RUNNING). When any is set, the task is
	// RUNNING at their sum, and an unset one takes its part of
	// TimeToRunning above (StartFor's part is zero); when none is,
	// TimeToRunning alone applies, as above.
	ProvisionFor, PullFor, StartFor time.Duration
	// FailsProvisioning fails the task at the end of provisioning, before
	// it ever pulls (no pullStartedAt, pullStoppedAt or startedAt), with
	// stopCode TaskFailedToStart; StoppedReason defaults to the timeout of
	// an ENI that was never attached.
	FailsProvisioning bool
	// RunFor is how long the task stays RUNNING (default 30s).
	RunFor time.Duration
	// RunsForever keeps the task RUNNING until it is stopped.
	RunsForever bool
	// ExitCode of the essential containers (default 0). Non-essential
	// containers are stopped by ECS and exit 143.
	ExitCode *int
	// StopCode and StoppedReason override the task's; ContainerReason sets
	// the essential containers' reason.
	StopCode, StoppedReason, ContainerReason string
	// NeverStarts fails the task at TimeToRunning with stopCode
	// TaskFailedToStart and no exit codes; StoppedReason defaults to a
	// CannotPullContainerError for the first essential container's image.
	NeverStarts bool
	// CapacityFailures makes RunTask return a failure instead of a task for
	// the first n launch attempts of this task definition family in the
	// cluster: "Capacity is unavailable at this time. ..." on Fargate,
	// "RESOURCE:MEMORY" on EC2. CapacityReason overrides the reason.
	CapacityFailures int
	CapacityReason   string
	// CapacityFailuresBy scripts shortages per capacity: the first n
	// launch attempts of the family in the cluster on that capacity fail,
	// keyed by capacity provider name when the task is placed through a
	// strategy ("FARGATE_SPOT", "FARGATE", an Auto Scaling group provider)
	// and by launch type otherwise ("FARGATE", "EC2", "EXTERNAL"). It
	// counts apart from CapacityFailures, so that a Spot shortage can be
	// scripted while on-demand Fargate has room.
	CapacityFailuresBy map[string]int
	// SpotInterruption stops the RUNNING task after RunFor with stopCode
	// SpotInterruption and no exit codes. Script sees each task's
	// capacity (TaskInfo.CapacityProvider) and may interrupt only Spot ones.
	SpotInterruption bool
	// OOM kills the essential containers after RunFor: exit code 137,
	// reason "OutOfMemoryError: Container killed due to memory usage".
	OOM bool
	// LogLines are written, spread over RunFor, to the awslogs stream of
	// the first essential container that logs with awslogs.
	LogLines []string
}

// DefaultOutcome is the Outcome of tasks when Options.Script is nil.
var DefaultOutcome = Outcome{}

const (
	defaultTimeToRunning = 30 * time.Second
	defaultRunFor        = 30 * time.Second
	// deprovisionTime is how long awsvpc tasks stay DEPROVISIONING while
	// their ENI is detached; stopGrace is between StopTask and the
	// containers exiting on SIGTERM.
	deprovisionTime = 10 * time.Second
	stopGrace       = 2 * time.Second
)

const (
	msgEssentialExited = "Essential container in task exited"
	msgOOM             = "OutOfMemoryError: Container killed due to memory usage"
	msgSpot            = "Your Spot Task was interrupted."
	msgStoppedByUser   = "Task stopped by user"
	msgFargateCapacity = "Capacity is unavailable at this time. Please try again later or in a different availability zone"
	msgENITimeout      = "Timeout waiting for network interface provisioning to complete."
	msgLogGroupMissing = "ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: failed to create Cloudwatch log stream: ResourceNotFoundException: The specified log group does not exist. : exit status 1"
)

type step struct {
	at     time.Time
	silent bool // log writes: no state change, no event
	apply  func(s *Server, t *task, at time.Time)
}

// taskHeap orders tasks with pending steps by their next step, then by
// launch order so that simultaneous transitions are applied (and their
// events delivered) deterministically.
type taskHeap []*task

func (h taskHeap) Len() int { return len(h) }
func (h taskHeap) Less(i, j int) bool {
	a, b := h[i].sched[0].at, h[j].sched[0].at
	if !a.Equal(b) {
		return a.Before(b)
	}
	return h[i].seq < h[j].seq
}
func (h taskHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx, h[j].heapIdx = i, j
}
func (h *taskHeap) Push(x any) {
	t := x.(*task)
	t.heapIdx = len(*h)
	*h = append(*h, t)
}
func (h *taskHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	t.heapIdx = -1
	return t
}

func (s *Server) reschedLocked(t *task) {
	h := &s.ecs.sched
	switch {
	case t.heapIdx >= 0 && len(t.sched) == 0:
		heap.Remove(h, t.heapIdx)
	case t.heapIdx >= 0:
		heap.Fix(h, t.heapIdx)
	case len(t.sched) > 0:
		heap.Push(h, t)
	}
}

func (s *Server) scheduleLocked(t *task, at time.Time, silent bool, fn func(*Server, *task, time.Time)) {
	i := len(t.sched)
	for i > 0 && t.sched[i-1].at.After(at) {
		i--
	}
	t.sched = slices.Insert(t.sched, i, step{at: at, silent: silent, apply: fn})
	s.reschedLocked(t)
}

// advanceLocked applies, in time order across all tasks, every step due by
// now, and delivers one event per state change.
func (s *Server) advanceLocked() {
	now := s.now()
	for s.ecs.sched.Len() > 0 {
		t := s.ecs.sched[0]
		st := t.sched[0]
		if st.at.After(now) {
			break
		}
		t.sched = t.sched[1:]
		s.reschedLocked(t)
		st.apply(s, t, st.at)
		s.reschedLocked(t)
		if !st.silent {
			s.changedLocked(t, st.at)
		}
	}
	s.armLocked()
}

func (s *Server) changedLocked(t *task, at time.Time) {
	t.version++
	t.updatedAt = at
	s.emitLocked(t)
}

// armLocked sets a timer for the next step, so that events reach SQS and
// long polls without anyone calling. A custom clock has no timers: Sync.
func (s *Server) armLocked() {
	if s.opts.Now != nil {
		return
	}
	select {
	case <-s.closed:
		return
	default:
	}
	if s.ecs.sched.Len() == 0 {
		if s.timer != nil {
			s.timer.Stop()
			s.timer = nil
		}
		return
	}
	next := s.ecs.sched[0].sched[0].at
	if s.timer != nil && s.timerAt.Equal(next) {
		return
	}
	if s.timer != nil {
		s.timer.Stop()
	}
	s.timerAt = next
	s.timerGen++
	gen := s.timerGen
	s.timer = time.AfterFunc(max(time.Until(next), 0), func() { s.onTimer(gen) })
}

// onTimer ignores a timer that fired while being replaced, so that only
// the latest one re-arms.
func (s *Server) onTimer(gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.closed:
		return
	default:
	}
	if gen != s.timerGen {
		return
	}
	s.timer = nil
	s.advanceLocked()
}

// phases are the times a task's start takes, from createdAt.
type phases struct{ provision, pull, start time.Duration }

// phasesOf reads the Outcome's start phases: TimeToRunning split as it
// always was (a third provisioning for a task that provisions: an ENI, or
// managed scaling), unless ProvisionFor, PullFor or StartFor is set.
func (o Outcome) phasesOf(provisions bool) phases {
	ttr := o.TimeToRunning
	if ttr <= 0 {
		ttr = defaultTimeToRunning
	}
	var p phases
	if provisions {
		p.provision = ttr / 3
	}
	p.pull = ttr - p.provision
	if o.ProvisionFor <= 0 && o.PullFor <= 0 && o.StartFor <= 0 {
		return p
	}
	if o.ProvisionFor > 0 {
		p.provision = o.ProvisionFor
	}
	if o.PullFor > 0 {
		p.pull = o.PullFor
	}
	p.start = max(o.StartFor, 0)
	return p
}

// startLifecycleLocked puts a new task on its scripted course.
func (s *Server) startLifecycleLocked(t *task) {
	o := t.outcome
	// A task on a stack's Auto Scaling group provider waits, like an
	// awsvpc task, before its pull (awaitsScalingLocked).
	provisions := t.eni != nil || s.awaitsScalingLocked(t)
	p := o.phasesOf(provisions)
	t0 := t.createdAt
	pullAt := t0.Add(p.provision)
	runAt := pullAt.Add(p.pull + p.start)
	switch {
	case o.FailsProvisioning:
		t.lastStatus = "PENDING"
		if provisions {
			t.lastStatus = "PROVISIONING"
		}
		s.scheduleLocked(t, pullAt, false, (*Server).failProvisioning)
	case provisions:
		t.lastStatus = "PROVISIONING"
		s.scheduleLocked(t, pullAt, false, (*Server).toPending)
	default:
		t.lastStatus = "PENDING"
		t.pullStartedAt = pullAt
		if p.provision > 0 {
			// No ENI to wait for, but the script asked for a wait before the
			// pull (an EC2 instance scaling out): PENDING, pull not begun.
			t.pullStartedAt = time.Time{}
			s.scheduleLocked(t, pullAt, true, func(_ *Server, t *task, at time.Time) { t.pullStartedAt = at })
		}
	}
	if !o.FailsProvisioning {
		if p.start > 0 {
			// The pull ends before the task runs: DescribeTasks shows it, but
			// ECS sends no event until the task's status changes.
			s.scheduleLocked(t, pullAt.Add(p.pull), true, func(_ *Server, t *task, at time.Time) { t.pullStoppedAt = at })
		}
		s.scheduleLocked(t, runAt, false, (*Server).toRunning)
	}
	s.changedLocked(t, t0)
}

// awaitsScalingLocked tells a task placed by the capacity provider of a
// stack's Auto Scaling group. The group starts with no instance (minimum
// 0) and the fake registers none, so, as ECS does when a provider has no
// instance with room, the task waits in PROVISIONING for managed scaling
// to start one (from the warm pool); the fake then lets it proceed as if
// that instance had registered, without modelling the instance itself.
func (s *Server) awaitsScalingLocked(t *task) bool {
	p := s.ecs.providers[t.capacityProvider]
	return t.capacityProvider != "" && p != nil && p.asg != ""
}

func (s *Server) toPending(t *task, at time.Time) {
	t.lastStatus = "PENDING"
	if t.eni == nil {
		// A task that waited for managed scaling: the instance has joined.
		t.pullStartedAt = at
		return
	}
	t.eni.status = "ATTACHED"
	t.connectivity, t.connectivityAt = "CONNECTED", at
	t.pullStartedAt = at
}

// failProvisioning stops a task that never got to pull its image.
func (s *Server) failProvisioning(t *task, at time.Time) {
	reason := t.outcome.StoppedReason
	if reason == "" {
		reason = msgENITimeout
	}
	s.failStartLocked(t, at, reason, t.outcome.ContainerReason)
}

func (s *Server) toRunning(t *task, at time.Time) {
	o := t.outcome
	if t.connectivity == "" {
		t.connectivity, t.connectivityAt = "CONNECTED", at
	}
	if t.pullStoppedAt.IsZero() {
		t.pullStoppedAt = at
	}
	if o.NeverStarts {
		reason := o.StoppedReason
		if reason == "" {
			reason = "CannotPullContainerError: pull image manifest has been retried 7 time(s): failed to resolve ref " + t.firstEssential().image + ": not found"
		}
		s.failStartLocked(t, at, reason, o.ContainerReason)
		return
	}
	if !s.openTaskLogsLocked(t, at) {
		s.failStartLocked(t, at, msgLogGroupMissing, "")
		return
	}
	t.lastStatus = "RUNNING"
	t.startedAt = at
	for i, c := range t.containers {
		c.lastStatus = "RUNNING"
		c.runtimeID = t.id + "-" + itoa(i+1000000000)
	}
	runFor := o.RunFor
	if runFor <= 0 {
		runFor = defaultRunFor
	}
	gap := runFor / time.Duration(len(o.LogLines)+1)
	if o.RunsForever {
		gap = time.Second
	}
	for i, line := range o.LogLines {
		s.scheduleLocked(t, at.Add(gap*time.Duration(i+1)), true, func(s *Server, t *task, at time.Time) {
			s.writeTaskLogLocked(t, at, line)
		})
	}
	if !o.RunsForever {
		s.scheduleLocked(t, at.Add(runFor), false, (*Server).exitScripted)
	}
}

// firstEssential exists: registration refuses definitions without one.
func (t *task) firstEssential() *containerState {
	for _, c := range t.containers {
		if c.essential {
			return c
		}
	}
	return t.containers[0]
}

// exitScripted ends a RUNNING task the way its Outcome says.
func (s *Server) exitScripted(t *task, at time.Time) {
	o := t.outcome
	code := 0
	if o.ExitCode != nil {
		code = *o.ExitCode
	}
	reason := o.ContainerReason
	stopCode, stoppedReason := "EssentialContainerExited", msgEssentialExited
	switch {
	case o.SpotInterruption:
		stopCode, stoppedReason = "SpotInterruption", msgSpot
		for _, c := range t.containers {
			c.lastStatus = "STOPPED"
		}
	case o.OOM:
		if reason == "" {
			reason = msgOOM
		}
		code = 137
		fallthrough
	default:
		for _, c := range t.containers {
			c.lastStatus = "STOPPED"
			if c.essential {
				c.exitCode, c.reason = new(code), reason
			} else {
				c.exitCode = new(143)
			}
		}
	}
	if o.StopCode != "" {
		stopCode = o.StopCode
	}
	if o.StoppedReason != "" {
		stoppedReason = o.StoppedReason
	}
	t.desiredStatus, t.stopCode, t.stoppedReason = "STOPPED", stopCode, stoppedReason
	t.stoppingAt, t.executionStoppedAt = at, at
	s.deprovisionLocked(t, at)
}

func (s *Server) failStartLocked(t *task, at time.Time, reason, containerReason string) {
	if containerReason == "" {
		containerReason = reason
	}
	for _, c := range t.containers {
		c.lastStatus = "STOPPED"
		if c.essential {
			c.reason = containerReason
		}
	}
	t.desiredStatus, t.stopCode, t.stoppedReason = "STOPPED", "TaskFailedToStart", reason
	t.stoppingAt, t.executionStoppedAt = at, at
	s.deprovisionLocked(t, at)
}

// deprovisionLocked moves a task whose containers have stopped towards
// STOPPED: through DEPROVISIONING while an ENI is released.
func (s *Server) deprovisionLocked(t *task, at time.Time) {
	if t.eni != nil && t.eni.status == "ATTACHED" {
		t.lastStatus = "DEPROVISIONING"
		t.eni.status = "DELETED"
		s.scheduleLocked(t, at.Add(deprovisionTime), false, (*Server).toStopped)
		return
	}
	s.toStopped(t, at)
}

func (s *Server) toStopped(t *task, at time.Time) {
	t.lastStatus = "STOPPED"
	t.stoppedAt = at
	if t.eni != nil {
		t.eni.status = "DELETED"
	}
	for _, c := range t.containers {
		c.lastStatus = "STOPPED"
	}
	if ci := t.instance; ci != nil && !t.released {
		ci.usedCPU -= t.needCPU
		ci.usedMemory -= t.needMemory
		t.released = true
	}
}

// stopLocked is StopTask and StopTaskExternally: desiredStatus goes to
// STOPPED now, containers get SIGTERM and exit stopGrace later.
func (s *Server) stopLocked(t *task, at time.Time, stopCode, reason string) bool {
	if t.desiredStatus == "STOPPED" {
		return false
	}
	t.desiredStatus, t.stopCode, t.stoppedReason = "STOPPED", stopCode, reason
	t.stoppingAt = at
	t.sched = nil
	s.reschedLocked(t)
	if t.lastStatus == "RUNNING" {
		spot := stopCode == "SpotInterruption"
		s.scheduleLocked(t, at.Add(stopGrace), false, func(s *Server, t *task, at time.Time) {
			for _, c := range t.containers {
				c.lastStatus = "STOPPED"
				if !spot {
					c.exitCode = new(143)
				}
			}
			t.executionStoppedAt = at
			s.deprovisionLocked(t, at)
		})
	} else {
		for _, c := range t.containers {
			c.lastStatus = "STOPPED"
		}
		t.executionStoppedAt = at
		s.deprovisionLocked(t, at)
	}
	s.changedLocked(t, at)
	return true
}

// StopTaskExternally stops a task as something other than the worker
// would: a person in the console, ECS itself ("ServiceSchedulerInitiated",
// "TerminationNotice") or Fargate Spot ("SpotInterruption"). It reports
// whether the task was running and is now stopping.
func (s *Server) StopTaskExternally(taskArn, stopCode, reason string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	t := s.ecs.tasks[taskArn]
	if t == nil {
		return false
	}
	if stopCode == "" {
		stopCode = "UserInitiated"
	}
	ok := s.stopLocked(t, s.now(), stopCode, reason)
	s.armLocked()
	return ok
}

// AdvanceTask makes the task's next state change happen now instead of
// when it is due, keeping the time between later changes. It reports
// whether there was a change left to make.
func (s *Server) AdvanceTask(taskArn string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	t := s.ecs.tasks[taskArn]
	if t == nil {
		return false
	}
	k := slices.IndexFunc(t.sched, func(st step) bool { return !st.silent })
	if k < 0 {
		return false
	}
	if d := t.sched[k].at.Sub(s.now()); d > 0 {
		for i := range t.sched {
			t.sched[i].at = t.sched[i].at.Add(-d)
		}
		s.reschedLocked(t)
	}
	s.advanceLocked()
	return true
}

type eventRoute struct {
	queue, clusterArn string
}

// RouteTaskEventsTo delivers an EventBridge "ECS Task State Change" event
// to the SQS queue (created if missing) for every state change of tasks in
// the cluster ("" for all clusters), as an EventBridge rule with an SQS
// target would. It returns the queue URL.
func (s *Server) RouteTaskEventsTo(queueName, clusterArn string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.sqs.byName[queueName]
	if q == nil {
		q = s.newQueueLocked(queueName, nil)
	}
	s.ecs.routes = append(s.ecs.routes, eventRoute{queue: queueName, clusterArn: clusterArn})
	return s.queueURL(q.name)
}

var eventTimeKeys = []string{"createdAt", "startedAt", "stoppedAt", "stoppingAt", "executionStoppedAt",
	"pullStartedAt", "pullStoppedAt", "connectivityAt"}

func (s *Server) emitLocked(t *task) {
	var body string
	for _, rt := range s.ecs.routes {
		if rt.clusterArn != "" && rt.clusterArn != t.cluster.arn {
			continue
		}
		q := s.sqs.byName[rt.queue]
		if q == nil {
			continue
		}
		if body == "" {
			body = s.eventJSONLocked(t)
		}
		s.enqueueLocked(q, body, nil, 0)
	}
}

// eventJSONLocked renders the EventBridge envelope. Its detail is the task
// as DescribeTasks shows it, but with ISO-8601 timestamps, as events carry.
func (s *Server) eventJSONLocked(t *task) string {
	// Real "ECS Task State Change" events carry no tags: consumers that need
	// them must call DescribeTasks, as the Python observer does.
	raw, _ := json.Marshal(s.taskViewLocked(t, false))
	var detail map[string]any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	_ = dec.Decode(&detail) // raw was marshalled just above: it decodes
	for _, k := range eventTimeKeys {
		if n, ok := detail[k].(json.Number); ok {
			f, _ := n.Float64()
			detail[k] = isoMillis(time.UnixMilli(int64(f * 1000)))
		}
	}
	detail["updatedAt"] = isoMillis(t.updatedAt)
	env := map[string]any{
		"version":     "0",
		"id":          s.newUUIDLocked(),
		"detail-type": "ECS Task State Change",
		"source":      "aws.ecs",
		"account":     s.opts.AccountID,
		"time":        t.updatedAt.UTC().Format("2006-01-02T15:04:05Z"),
		"region":      s.opts.Region,
		"resources":   []string{t.arn},
		"detail":      detail,
	}
	b, _ := json.Marshal(env)
	return string(b)
}

func isoMillis(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
