package tracking_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awsclient/awsclienttest"
	"github.com/ecsworker/ecsworker/internal/diagnosis"
	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
	"github.com/ecsworker/ecsworker/internal/tracking"
)

// memECS is an in-memory DescribeTasks for exact control of what ECS says
// and when; the tests against the AWS test server cover the wire.
type memECS struct {
	awsclient.ECSAPI // only DescribeTasks is implemented

	mu    sync.Mutex
	tasks map[string]*ecstypes.Task
	calls []describeCall
	fail  []error // answered, one per call, before describing
}

type describeCall struct {
	cluster string
	n       int
	at      time.Time
}

func newMemECS() *memECS { return &memECS{tasks: map[string]*ecstypes.Task{}} }

func (m *memECS) set(arn, status string, version int64, mut ...func(*ecstypes.Task)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := &ecstypes.Task{TaskArn: aws.String(arn), LastStatus: aws.String(status), DesiredStatus: aws.String("RUNNING"), Version: version}
	if status == "STOPPED" {
		t.DesiredStatus = aws.String("STOPPED")
	}
	for _, f := range mut {
		f(t)
	}
	m.tasks[arn] = t
}

func (m *memECS) remove(arn string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.tasks, arn)
}

func (m *memECS) failNext(errs ...error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fail = append(m.fail, errs...)
}

func (m *memECS) callLog() []describeCall {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.calls)
}

func (m *memECS) DescribeTasks(ctx context.Context, in *ecs.DescribeTasksInput, _ ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, describeCall{cluster: aws.ToString(in.Cluster), n: len(in.Tasks), at: time.Now()})
	if len(in.Tasks) > 100 {
		return nil, &ecstypes.InvalidParameterException{Message: aws.String("Tasks cannot be more than 100")}
	}
	if len(m.fail) > 0 {
		err := m.fail[0]
		m.fail = m.fail[1:]
		if err != nil {
			return nil, err
		}
	}
	out := &ecs.DescribeTasksOutput{}
	for _, arn := range in.Tasks {
		if t, ok := m.tasks[arn]; ok {
			out.Tasks = append(out.Tasks, *t)
		} else {
			out.Failures = append(out.Failures, ecstypes.Failure{Arn: aws.String(arn), Reason: aws.String("MISSING")})
		}
	}
	return out, nil
}

// collector reads a tracker's updates in the background.
type collector struct {
	mu  sync.Mutex
	got []tracking.TaskUpdate
}

func collect(tr *tracking.Tracker) *collector {
	c := &collector{}
	go func() {
		for u := range tr.Updates() {
			c.mu.Lock()
			c.got = append(c.got, u)
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *collector) take() []tracking.TaskUpdate {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.got
	c.got = nil
	return out
}

// summary renders updates as "arn-suffix:STATUS/source" for comparisons.
func summary(us []tracking.TaskUpdate) []string {
	var out []string
	for _, u := range us {
		s := short(u.Ref.TaskARN) + ":" + u.LastStatus + "/" + u.Source
		if u.Stopped {
			s += "!" + string(u.Diagnosis.Cause)
		}
		out = append(out, s)
	}
	return out
}

// short is a task ARN's id.
func short(arn string) string { return arn[strings.LastIndexByte(arn, '/')+1:] }

func memARN(cluster string, i int) string {
	return fmt.Sprintf("arn:aws:ecs:us-east-1:123456789012:task/%s/%032x", cluster, i)
}

// startTracker runs a tracker until the bubble's test ends.
func startTracker(t *testing.T, api awsclient.ECSAPI, opts tracking.Options) (*tracking.Tracker, *collector) {
	t.Helper()
	tr := tracking.NewTracker(api, opts)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return tr, collect(tr)
}

// tick lets one poll interval pass and everything settle.
func tick(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func TestTrackerReportsEachChangeOnce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		m := newMemECS()
		tr, c := startTracker(t, m, tracking.Options{})
		a, b := memARN("prod", 1), memARN("prod", 2)
		m.set(a, "PROVISIONING", 1)
		m.set(b, "PENDING", 2)
		tr.Track(tracking.TaskRef{Cluster: "prod", TaskARN: a, FlowRunID: "fr-a"})
		tr.Track(tracking.TaskRef{Cluster: "prod", TaskARN: b, FlowRunID: "fr-b"})
		tr.Track(tracking.TaskRef{Cluster: "prod", TaskARN: a, FlowRunID: "fr-a"}) // idempotent
		if tr.Len() != 2 {
			t.Fatalf("Len %d", tr.Len())
		}

		tick(10 * time.Second)
		want := []string{short(memARN("prod", 1)) + ":PROVISIONING/poll", short(memARN("prod", 2)) + ":PENDING/poll"}
		if got := summary(c.take()); !slices.Equal(got, want) {
			t.Fatalf("first poll: %v, want %v", got, want)
		}
		// Nothing changed: nothing reported.
		tick(10 * time.Second)
		if got := c.take(); len(got) != 0 {
			t.Fatalf("unchanged poll reported %v", summary(got))
		}
		m.set(a, "PENDING", 2)
		m.set(b, "RUNNING", 4)
		tick(10 * time.Second)
		m.set(a, "RUNNING", 4)
		m.set(b, "STOPPED", 7, func(t *ecstypes.Task) {
			t.StopCode = ecstypes.TaskStopCodeEssentialContainerExited
			t.Containers = []ecstypes.Container{{Name: aws.String("prefect"), ExitCode: aws.Int32(0)}}
		})
		tick(10 * time.Second)
		got := c.take()
		want = []string{
			short(memARN("prod", 1)) + ":PENDING/poll", short(memARN("prod", 2)) + ":RUNNING/poll",
			short(memARN("prod", 1)) + ":RUNNING/poll", short(memARN("prod", 2)) + ":STOPPED/poll!Succeeded",
		}
		if !slices.Equal(summary(got), want) {
			t.Fatalf("got %v, want %v", summary(got), want)
		}
		if u := got[3]; u.Ref.FlowRunID != "fr-b" || u.DesiredStatus != "STOPPED" || u.Diagnosis.Crash {
			t.Errorf("stop update %+v", u)
		}
		// A stopped task is no longer polled.
		if tr.Len() != 1 {
			t.Errorf("Len %d after a stop", tr.Len())
		}
		n := len(m.callLog())
		tr.Forget(a)
		tick(10 * time.Second)
		if len(m.callLog()) != n || tr.Len() != 0 {
			t.Errorf("polled with nothing tracked: %d calls, Len %d", len(m.callLog())-n, tr.Len())
		}
	})
}

func TestTrackerBatchesDescribeTasks(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		m := newMemECS()
		tr, c := startTracker(t, m, tracking.Options{})
		// 250 tasks: 130 in "prod" (2 calls), 120 in the default cluster (2 calls).
		for i := range 250 {
			cluster := "prod"
			if i >= 130 {
				cluster = ""
			}
			arn := memARN(cmpOr(cluster, "default"), i)
			m.set(arn, "PROVISIONING", 1)
			tr.Track(tracking.TaskRef{Cluster: cluster, TaskARN: arn})
		}
		for range 3 {
			tick(10 * time.Second)
		}
		calls := m.callLog()
		per := map[string][]int{}
		for _, call := range calls {
			per[call.cluster] = append(per[call.cluster], call.n)
		}
		slices.Sort(per["prod"])
		slices.Sort(per[""])
		if want := []int{30, 30, 30, 100, 100, 100}; !slices.Equal(per["prod"], want) {
			t.Errorf("prod calls %v, want %v", per["prod"], want)
		}
		if want := []int{20, 20, 20, 100, 100, 100}; !slices.Equal(per[""], want) {
			t.Errorf("default cluster calls %v, want %v", per[""], want)
		}
		if got := c.take(); len(got) != 250 {
			t.Errorf("%d updates, want 250", len(got))
		}
	})
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestTrackerNeverMovesBackwards(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		m := newMemECS()
		tr, c := startTracker(t, m, tracking.Options{})
		a := memARN("prod", 7)
		ref := tracking.TaskRef{Cluster: "prod", TaskARN: a, ContainerName: "prefect"}
		tr.Track(ref)
		m.set(a, "RUNNING", 4)
		tick(10 * time.Second)

		event := func(status string, version int64) tracking.TaskEvent {
			return tracking.TaskEvent{Version: version, Task: ecstypes.Task{TaskArn: aws.String(a), LastStatus: aws.String(status)}}
		}
		// SQS delivers the PENDING event late, after the poll saw RUNNING.
		if !tr.Observe(event("PENDING", 2)) {
			t.Fatal("Observe did not know a tracked task")
		}
		// A redelivery of the RUNNING event changes nothing either.
		tr.Observe(event("RUNNING", 4))
		// Without versions, lifecycle order decides.
		tr.Observe(event("PROVISIONING", 0))
		synctest.Wait()
		if got := summary(c.take()); !slices.Equal(got, []string{short(a) + ":RUNNING/poll"}) {
			t.Fatalf("got %v", got)
		}
		// The STOPPED event is newer: reported at once, from the event.
		stopped := event("STOPPED", 6)
		stopped.Task.StopCode = ecstypes.TaskStopCodeEssentialContainerExited
		stopped.Task.Containers = []ecstypes.Container{{Name: aws.String("prefect"), ExitCode: aws.Int32(1)}}
		tr.Observe(stopped)
		synctest.Wait()
		got := c.take()
		if !slices.Equal(summary(got), []string{short(a) + ":STOPPED/event!NonZeroExit"}) {
			t.Fatalf("got %v", summary(got))
		}
		if !got[0].Diagnosis.Crash || *got[0].Diagnosis.ExitCode != 1 {
			t.Errorf("diagnosis %+v", got[0].Diagnosis)
		}
		// A poll still answering STOPPING, and later events, are ignored.
		m.set(a, "DEPROVISIONING", 5)
		tick(10 * time.Second)
		if tr.Observe(event("STOPPED", 6)) {
			t.Error("Observe still knows a stopped task")
		}
		synctest.Wait()
		if got := c.take(); len(got) != 0 {
			t.Errorf("reported after the stop: %v", summary(got))
		}
	})
}

func TestTrackerEventBeforePollSkipsStatuses(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		m := newMemECS()
		tr, c := startTracker(t, m, tracking.Options{})
		a := memARN("prod", 8)
		tr.Track(tracking.TaskRef{Cluster: "prod", TaskARN: a})
		m.set(a, "PENDING", 2)
		tr.Observe(tracking.TaskEvent{Task: ecstypes.Task{TaskArn: aws.String(a), LastStatus: aws.String("RUNNING"), Version: 3}})
		synctest.Wait()
		tick(10 * time.Second) // the poll's PENDING (version 2) is older
		if got := summary(c.take()); !slices.Equal(got, []string{short(a) + ":RUNNING/event"}) {
			t.Fatalf("got %v", got)
		}
	})
}

func throttling() error {
	return &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded", Fault: smithy.FaultClient}
}

func TestTrackerBacksOffWhenThrottled(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		m := newMemECS()
		start := time.Now()
		// One call at a time, to see that a throttled poll stops early.
		tr, c := startTracker(t, m, tracking.Options{Interval: 10 * time.Second, MaxBackoff: 40 * time.Second, Concurrency: 1})
		for i := range 150 {
			m.set(memARN("prod", i), "RUNNING", 3)
			tr.Track(tracking.TaskRef{Cluster: "prod", TaskARN: memARN("prod", i)})
		}
		m.failNext(throttling(), throttling(), throttling(), throttling())
		tick(10 * time.Second) // throttled: the second batch is not even tried
		tick(20 * time.Second) // throttled
		tick(40 * time.Second) // throttled
		tick(40 * time.Second) // capped; throttled
		tick(40 * time.Second) // recovered
		var at []time.Duration
		for _, call := range m.callLog() {
			at = append(at, call.at.Sub(start))
		}
		want := []time.Duration{10 * time.Second, 30 * time.Second, 70 * time.Second, 110 * time.Second, 150 * time.Second, 150 * time.Second}
		if !slices.Equal(at, want) {
			t.Fatalf("calls at %v, want %v", at, want)
		}
		if tr.Len() != 150 {
			t.Fatalf("Len %d after throttling", tr.Len())
		}
		if got := c.take(); len(got) != 150 {
			t.Fatalf("%d updates", len(got))
		}
		// Back to the normal interval.
		tick(10 * time.Second)
		if n := len(m.callLog()); n != 8 {
			t.Fatalf("%d calls, want 8", n)
		}
	})
}

func TestTrackerKeepsTasksOnErrors(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		m := newMemECS()
		tr, c := startTracker(t, m, tracking.Options{})
		a := memARN("prod", 1)
		m.set(a, "RUNNING", 3)
		tr.Track(tracking.TaskRef{Cluster: "prod", TaskARN: a})
		m.failNext(
			&smithy.GenericAPIError{Code: "ServerException", Message: "Service Unavailable", Fault: smithy.FaultServer},
			errors.New("dial tcp: connection reset by peer"),
			&ecstypes.AccessDeniedException{Message: aws.String("not authorized to perform: ecs:DescribeTasks")},
		)
		for range 3 {
			tick(10 * time.Second)
		}
		if got := c.take(); len(got) != 0 || tr.Len() != 1 {
			t.Fatalf("updates %v, Len %d", summary(got), tr.Len())
		}
		tick(10 * time.Second)
		if got := summary(c.take()); !slices.Equal(got, []string{short(a) + ":RUNNING/poll"}) {
			t.Fatalf("got %v", got)
		}
		if n := len(m.callLog()); n != 4 {
			t.Errorf("%d calls, want one per tick", n)
		}
	})
}

func TestTrackerGivesUpOnMissingTasks(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		m := newMemECS()
		tr, c := startTracker(t, m, tracking.Options{Interval: time.Minute, MissingGrace: 3 * time.Minute})
		a, b := memARN("prod", 1), memARN("prod", 2)
		m.set(a, "RUNNING", 3)
		tr.Track(tracking.TaskRef{Cluster: "prod", TaskARN: a, FlowRunID: "fr-a"})
		// b: ECS does not know it yet right after RunTask, then does.
		tr.Track(tracking.TaskRef{Cluster: "prod", TaskARN: b, FlowRunID: "fr-b"})
		tick(time.Minute)
		m.set(b, "PENDING", 2)
		tick(time.Minute)
		if got := summary(c.take()); !slices.Equal(got, []string{short(a) + ":RUNNING/poll", short(b) + ":PENDING/poll"}) {
			t.Fatalf("got %v", got)
		}
		// a ends while the worker is not looking, and ECS forgets it.
		m.remove(a)
		for range 3 {
			tick(time.Minute)
		}
		if got := c.take(); len(got) != 0 {
			t.Fatalf("gave up within the grace period: %v", summary(got))
		}
		tick(time.Minute)
		got := c.take()
		if !slices.Equal(summary(got), []string{short(a) + ":STOPPED/poll!Unknown"}) {
			t.Fatalf("got %v", summary(got))
		}
		d := got[0].Diagnosis
		if !d.Crash || d.ExitCode != nil || !strings.Contains(d.Detail, "last status: RUNNING") || got[0].Ref.FlowRunID != "fr-a" {
			t.Errorf("update %+v diagnosis %+v", got[0], d)
		}
		if tr.Len() != 1 {
			t.Errorf("Len %d", tr.Len())
		}
	})
}

func TestTrackerClusterGone(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		m := newMemECS()
		tr, c := startTracker(t, m, tracking.Options{Interval: time.Minute, MissingGrace: 2 * time.Minute})
		tr.Track(tracking.TaskRef{Cluster: "gone", TaskARN: memARN("gone", 1)})
		for range 3 {
			m.failNext(&ecstypes.ClusterNotFoundException{Message: aws.String("Cluster not found.")})
		}
		for range 3 {
			tick(time.Minute)
		}
		if got := summary(c.take()); !slices.Equal(got, []string{short(memARN("prod", 1)) + ":STOPPED/poll!Unknown"}) {
			t.Fatalf("got %v", got)
		}
	})
}

func TestTrackerDoesNotWaitForItsReader(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		m := newMemECS()
		tr := tracking.NewTracker(m, tracking.Options{})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- tr.Run(ctx) }()
		a := memARN("prod", 1)
		tr.Track(tracking.TaskRef{Cluster: "prod", TaskARN: a})
		statuses := []string{"PROVISIONING", "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"}
		for i, s := range statuses {
			m.set(a, s, int64(i+1))
			tick(10 * time.Second)
		}
		if n := len(m.callLog()); n != len(statuses) {
			t.Fatalf("%d polls while nobody read, want %d", n, len(statuses))
		}
		var got []string
		for range statuses {
			got = append(got, (<-tr.Updates()).LastStatus)
		}
		if !slices.Equal(got, statuses) {
			t.Errorf("got %v", got)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if _, ok := <-tr.Updates(); ok {
			t.Error("Updates not closed after Run returned")
		}
		if err := tr.Run(t.Context()); err == nil {
			t.Error("a second Run did not fail")
		}
	})
}

func TestTrackerPoke(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		m := newMemECS()
		start := time.Now()
		tr, c := startTracker(t, m, tracking.Options{Interval: time.Minute})
		a := memARN("prod", 1)
		m.set(a, "PENDING", 2)
		tr.Track(tracking.TaskRef{Cluster: "prod", TaskARN: a})
		tick(time.Second)
		tr.Poke()
		synctest.Wait()
		if got := summary(c.take()); !slices.Equal(got, []string{short(a) + ":PENDING/poll"}) {
			t.Fatalf("got %v", got)
		}
		if calls := m.callLog(); len(calls) != 1 || calls[0].at.Sub(start) != time.Second {
			t.Fatalf("calls %v", calls)
		}
	})
}

// BenchmarkTrackerPoll measures one tick with 10,000 tracked tasks that did
// not change, and the memory the tracker keeps per task.
func BenchmarkTrackerPoll(b *testing.B) {
	const n = 10000
	api := &cannedECS{out: map[string]*ecs.DescribeTasksOutput{}}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tr := tracking.NewTracker(api, tracking.Options{})
	for i := range n {
		cluster := fmt.Sprintf("c%d", i%4)
		tr.Track(tracking.TaskRef{Cluster: cluster, TaskARN: memARN(cluster, i), FlowRunID: fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i), ContainerName: "prefect"})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	ctx := b.Context()
	if err := tr.Poll(ctx); err != nil { // the first poll reports every task
		b.Fatal(err)
	}
	drain := func() {
		for {
			select {
			case <-tr.Updates():
			default:
				return
			}
		}
	}
	drain()
	b.ReportAllocs()
	for b.Loop() {
		if err := tr.Poll(ctx); err != nil {
			b.Fatal(err)
		}
	}
	// Reported last: b.Loop resets what was reported before it.
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/task")
}

// cannedECS answers every batch with the same prepared output, so the
// benchmark measures the tracker, not a fake.
type cannedECS struct {
	awsclient.ECSAPI
	mu  sync.Mutex
	out map[string]*ecs.DescribeTasksOutput
}

func (c *cannedECS) DescribeTasks(_ context.Context, in *ecs.DescribeTasksInput, _ ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := in.Tasks[0]
	if out, ok := c.out[key]; ok {
		return out, nil
	}
	out := &ecs.DescribeTasksOutput{}
	for _, arn := range in.Tasks {
		out.Tasks = append(out.Tasks, ecstypes.Task{
			TaskArn: aws.String(arn), ClusterArn: in.Cluster, LastStatus: aws.String("RUNNING"), DesiredStatus: aws.String("RUNNING"), Version: 4,
			Containers: []ecstypes.Container{{Name: aws.String("prefect"), LastStatus: aws.String("RUNNING")}},
		})
	}
	c.out[key] = out
	return out, nil
}

// wire is the AWS test server with real SDK clients. Requests go straight
// to its handler (no socket), so it works inside synctest bubbles, where
// the server's clock is the bubble's.
type wire struct {
	s       *awsfake.Server
	ecs     *ecs.Client
	sqs     *sqs.Client
	logs    *cloudwatchlogs.Client
	subnets []string
}

func newWire(t *testing.T, opts awsfake.Options) *wire {
	t.Helper()
	s, cfg := awsclienttest.InProcess(t, opts)
	// The tracker and the consumer must cope with errors themselves.
	cfg.RetryMaxAttempts = 1
	_, subnets, _ := s.DefaultNetwork()
	return &wire{s: s, ecs: ecs.NewFromConfig(cfg), sqs: sqs.NewFromConfig(cfg), logs: cloudwatchlogs.NewFromConfig(cfg), subnets: subnets}
}

// register registers a Fargate task definition with one "prefect"
// container, logging to CloudWatch when logOpts is set.
func (w *wire) register(t *testing.T, family string, logOpts map[string]string) ecstypes.TaskDefinition {
	t.Helper()
	return registerFlows(t, w.ecs, family, logOpts)
}

// registerFlows registers through api the task definition of
// wire.register.
func registerFlows(t *testing.T, api awsclient.ECSAPI, family string, logOpts map[string]string) ecstypes.TaskDefinition {
	t.Helper()
	cd := ecstypes.ContainerDefinition{Name: aws.String("prefect"), Image: aws.String("prefecthq/prefect:3-latest"), Essential: aws.Bool(true)}
	if logOpts != nil {
		cd.LogConfiguration = &ecstypes.LogConfiguration{LogDriver: ecstypes.LogDriverAwslogs, Options: logOpts}
	}
	out, err := api.RegisterTaskDefinition(t.Context(), &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(family), NetworkMode: ecstypes.NetworkModeAwsvpc, Cpu: aws.String("1024"), Memory: aws.String("2048"),
		RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate},
		ExecutionRoleArn:        aws.String("arn:aws:iam::123456789012:role/ecsTaskExecutionRole"),
		ContainerDefinitions:    []ecstypes.ContainerDefinition{cd},
	})
	if err != nil {
		t.Fatal(err)
	}
	return *out.TaskDefinition
}

// launch runs one task for a flow run, tagged and with the flow run's
// variable as the worker sets them; scenario picks its scripted outcome.
func (w *wire) launch(t *testing.T, cluster, family, flowRunID, scenario string) tracking.TaskRef {
	t.Helper()
	return launchFlowRun(t, w.ecs, w.subnets, cluster, family, flowRunID, scenario)
}

// launchFlowRun runs through api, in subnets, the task of wire.launch.
func launchFlowRun(t *testing.T, api awsclient.ECSAPI, subnets []string, cluster, family, flowRunID, scenario string) tracking.TaskRef {
	t.Helper()
	out, err := api.RunTask(t.Context(), &ecs.RunTaskInput{
		Cluster: aws.String(cluster), TaskDefinition: aws.String(family), LaunchType: ecstypes.LaunchTypeFargate,
		NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: subnets}},
		Overrides: &ecstypes.TaskOverride{ContainerOverrides: []ecstypes.ContainerOverride{{
			Name:        aws.String("prefect"),
			Environment: []ecstypes.KeyValuePair{{Name: aws.String("PREFECT__FLOW_RUN_ID"), Value: aws.String(flowRunID)}},
		}}},
		Tags: []ecstypes.Tag{
			{Key: aws.String("prefect.io/flow-run-id"), Value: aws.String(flowRunID)},
			{Key: aws.String("scenario"), Value: aws.String(scenario)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Tasks) != 1 {
		t.Fatalf("RunTask: %+v", out.Failures)
	}
	return tracking.TaskRef{Cluster: cluster, TaskARN: aws.ToString(out.Tasks[0].TaskArn), FlowRunID: flowRunID, ContainerName: "prefect"}
}

// scenarios scripts task outcomes by the task's "scenario" tag.
func scenarios(ti awsfake.TaskInfo) awsfake.Outcome {
	switch ti.Tags["scenario"] {
	case "oom":
		return awsfake.Outcome{OOM: true}
	case "pull":
		return awsfake.Outcome{NeverStarts: true}
	case "spot":
		return awsfake.Outcome{SpotInterruption: true}
	case "fail":
		return awsfake.Outcome{ExitCode: new(1)}
	case "forever":
		return awsfake.Outcome{RunsForever: true}
	case "phases":
		return awsfake.Outcome{ProvisionFor: 9 * time.Second, PullFor: 58 * time.Second, StartFor: 7 * time.Second}
	}
	return awsfake.Outcome{}
}

func TestTrackerOverTheWire(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWire(t, awsfake.Options{Script: scenarios, DisableThrottling: true})
		w.s.CreateCluster("alpha")
		w.s.CreateCluster("beta")
		w.register(t, "flows", nil)
		tr, c := startTracker(t, w.ecs, tracking.Options{Interval: 10 * time.Second})
		// 130 tasks in alpha (2 calls a poll), 120 in beta (2 calls).
		refs := map[string]tracking.TaskRef{}
		for i := range 250 {
			cluster := "alpha"
			if i%2 == 1 && i < 240 {
				cluster = "beta"
			}
			scenario := []string{"ok", "oom", "pull", "spot", "fail"}[i%5]
			ref := w.launch(t, cluster, "flows", fmt.Sprintf("00000000-0000-4000-8000-%012d", i), scenario)
			refs[ref.TaskARN] = ref
			tr.Track(ref)
		}
		tr.Poke()
		synctest.Wait()
		describe := func() int { return w.s.Calls()["ecs:DescribeTasks"] }
		if n := describe(); n != 4 {
			t.Fatalf("first poll made %d DescribeTasks calls, want 4", n)
		}
		for tick := 1; tr.Len() > 0; tick++ {
			before := describe()
			time.Sleep(10 * time.Second)
			synctest.Wait()
			if n := describe() - before; n > 4 {
				t.Fatalf("tick %d made %d DescribeTasks calls, want at most 4", tick, n)
			}
			if tick > 20 {
				t.Fatalf("%d tasks still tracked after %d ticks", tr.Len(), tick)
			}
		}
		seen := map[string][]string{}
		stops := map[string]*diagnosis.Diagnosis{}
		for _, u := range c.take() {
			if _, ok := refs[u.Ref.TaskARN]; !ok || u.Ref != refs[u.Ref.TaskARN] {
				t.Fatalf("update for an unknown ref %+v", u.Ref)
			}
			if u.Source != tracking.SourcePoll || u.LastStatus == "" {
				t.Fatalf("update %+v", u)
			}
			seen[u.Ref.TaskARN] = append(seen[u.Ref.TaskARN], u.LastStatus)
			if u.Stopped {
				stops[u.Ref.TaskARN] = u.Diagnosis
			}
		}
		wantCause := map[string]diagnosis.Cause{
			"ok": diagnosis.CauseSucceeded, "oom": diagnosis.CauseOutOfMemory, "pull": diagnosis.CauseImagePull,
			"spot": diagnosis.CauseSpotInterruption, "fail": diagnosis.CauseNonZeroExit,
		}
		for _, v := range w.s.Tasks() {
			statuses := seen[v.Arn]
			if statuses[0] != "PROVISIONING" || statuses[len(statuses)-1] != "STOPPED" {
				t.Errorf("%s (%s): %v", v.ID, v.Tags["scenario"], statuses)
			}
			for i := 1; i < len(statuses); i++ {
				if statuses[i] == statuses[i-1] {
					t.Errorf("%s reported %s twice: %v", v.ID, statuses[i], statuses)
				}
			}
			d := stops[v.Arn]
			if d == nil || d.Cause != wantCause[v.Tags["scenario"]] || d.Crash != (v.Tags["scenario"] != "ok") {
				t.Errorf("%s (%s): diagnosis %+v", v.ID, v.Tags["scenario"], d)
			}
		}
		// Nothing tracked, nothing polled.
		before := describe()
		tick(time.Minute)
		if describe() != before {
			t.Error("polled with nothing tracked")
		}
	})
}

func TestTrackerOverTheWireSurvivesThrottlingAndServerErrors(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWire(t, awsfake.Options{Script: scenarios})
		w.s.CreateCluster("alpha")
		w.register(t, "flows", nil)
		tr, c := startTracker(t, w.ecs, tracking.Options{Interval: 10 * time.Second, MaxBackoff: 20 * time.Second})
		var refs []tracking.TaskRef
		for i := range 3 {
			ref := w.launch(t, "alpha", "flows", fmt.Sprintf("fr-%d", i), "ok")
			refs = append(refs, ref)
			tr.Track(ref)
		}
		w.s.InjectFault(awsfake.Fault{Service: "ecs", Action: "DescribeTasks", Code: "ThrottlingException", Message: "Rate exceeded", Count: 2})
		tick(10 * time.Second) // throttled
		tick(20 * time.Second) // throttled
		w.s.InjectFault(awsfake.Fault{Service: "ecs", Action: "DescribeTasks", Code: "ServerException", Message: "Service Unavailable", Count: 1})
		tick(20 * time.Second) // 500
		if got := c.take(); len(got) != 0 || tr.Len() != 3 {
			t.Fatalf("updates %v, Len %d", summary(got), tr.Len())
		}
		if n := w.s.Calls()["ecs:DescribeTasks"]; n != 3 {
			t.Errorf("%d DescribeTasks calls, want one a poll", n)
		}
		for range 5 {
			tick(10 * time.Second)
		}
		got := c.take()
		per := map[string][]string{}
		for _, u := range got {
			per[u.Ref.TaskARN] = append(per[u.Ref.TaskARN], u.LastStatus)
		}
		for _, ref := range refs {
			// The first successful poll came at 60 s, when the tasks were
			// already past RUNNING.
			if s := per[ref.TaskARN]; len(s) != 2 || s[0] != "DEPROVISIONING" || s[1] != "STOPPED" {
				t.Errorf("%s: %v", short(ref.TaskARN), s)
			}
		}
	})
}

func TestTrackerOverTheWireIgnoresOldEvents(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWire(t, awsfake.Options{Script: scenarios})
		cluster := w.s.CreateCluster("alpha")
		w.s.RouteTaskEventsTo("my-pool-ecs-events", cluster)
		w.register(t, "flows", nil)
		// Polls only on request: events must do the rest.
		tr, c := startTracker(t, w.ecs, tracking.Options{Interval: time.Hour})
		ref := w.launch(t, "alpha", "flows", "fr-1", "fail")
		tr.Track(ref)
		time.Sleep(35 * time.Second)
		tr.Poke()
		synctest.Wait()
		if got := summary(c.take()); !slices.Equal(got, []string{short(ref.TaskARN) + ":RUNNING/poll"}) {
			t.Fatalf("got %v", got)
		}
		// The consumer starts late: PROVISIONING, PENDING and RUNNING are
		// waiting in the queue, all older than what the poll saw.
		var observed []bool
		var mu sync.Mutex
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() {
			_ = tracking.NewEventConsumer(w.sqs, "my-pool-ecs-events", tracking.EventOptions{}).Run(ctx, func(ev tracking.TaskEvent) {
				mu.Lock()
				observed = append(observed, tr.Observe(ev))
				mu.Unlock()
			})
		}()
		synctest.Wait()
		if got := c.take(); len(got) != 0 {
			t.Fatalf("old events moved the task: %v", summary(got))
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		got := c.take()
		want := []string{short(ref.TaskARN) + ":DEPROVISIONING/event", short(ref.TaskARN) + ":STOPPED/event!NonZeroExit"}
		if !slices.Equal(summary(got), want) {
			t.Fatalf("got %v, want %v", summary(got), want)
		}
		if d := got[1].Diagnosis; !d.Crash || d.ExitCode == nil || *d.ExitCode != 1 {
			t.Errorf("diagnosis %+v", d)
		}
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(observed, []bool{true, true, true, true, true}) {
			t.Errorf("Observe results %v", observed)
		}
	})
}

// A DescribeTasks quota smaller than one poll: each poll is cut short by
// throttling, and the next one starts where it stopped, so every task is
// still followed to the end.
func TestTrackerOverTheWireTightQuota(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWire(t, awsfake.Options{Script: scenarios, Throttle: map[string]awsfake.Bucket{
			awsfake.ThrottleFargateRunTask: {}, awsfake.ThrottleFargateTasks: {}, "ecs:cluster-resource-modify": {},
			"ecs:DescribeTasks": {Burst: 2, Refill: 0.1},
		}})
		w.s.CreateCluster("alpha")
		w.s.CreateCluster("beta")
		w.register(t, "flows", nil)
		tr, c := startTracker(t, w.ecs, tracking.Options{Interval: 10 * time.Second, MaxBackoff: 20 * time.Second, Concurrency: 1})
		for i := range 400 {
			cluster := []string{"alpha", "beta"}[i%2]
			tr.Track(w.launch(t, cluster, "flows", fmt.Sprintf("fr-%d", i), "forever"))
		}
		for range 30 {
			tick(10 * time.Second)
		}
		if n := w.s.Throttled()["ecs:DescribeTasks"]; n == 0 {
			t.Fatal("the quota never throttled")
		}
		running := map[string]bool{}
		for _, u := range c.take() {
			if u.LastStatus == "RUNNING" {
				if running[u.Ref.TaskARN] {
					t.Fatalf("RUNNING reported twice for %s", u.Ref.TaskARN)
				}
				running[u.Ref.TaskARN] = true
			}
		}
		if len(running) != 400 || tr.Len() != 400 {
			t.Fatalf("%d of 400 tasks seen RUNNING, %d tracked", len(running), tr.Len())
		}
	})
}

func TestTrackerOverTheWireTaskForgottenByECS(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWire(t, awsfake.Options{Script: scenarios, StoppedTaskRetention: time.Minute})
		w.s.CreateCluster("alpha")
		w.register(t, "flows", nil)
		tr, c := startTracker(t, w.ecs, tracking.Options{Interval: 5 * time.Minute, MissingGrace: 5 * time.Minute})
		ref := w.launch(t, "alpha", "flows", "fr-1", "ok")
		tr.Track(ref)
		tr.Poke()
		synctest.Wait()
		// The task stops at 70 s and ECS forgets it at 130 s, all between
		// two polls.
		tick(5 * time.Minute)
		if got := summary(c.take()); !slices.Equal(got, []string{short(ref.TaskARN) + ":PROVISIONING/poll"}) {
			t.Fatalf("got %v", got)
		}
		tick(5 * time.Minute)
		got := c.take()
		if !slices.Equal(summary(got), []string{short(ref.TaskARN) + ":STOPPED/poll!Unknown"}) {
			t.Fatalf("got %v", summary(got))
		}
		if d := got[0].Diagnosis; !d.Crash || !strings.Contains(d.Detail, "last status: PROVISIONING") {
			t.Errorf("diagnosis %+v", d)
		}
	})
}

// TestTrackerStartTimes checks that the updates carry the task's start
// times and capacity, whether they come from polls or from events.
func TestTrackerStartTimes(t *testing.T) {
	t.Parallel()
	for _, source := range []string{tracking.SourcePoll, tracking.SourceEvent} {
		t.Run(source, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				w := newWire(t, awsfake.Options{Script: scenarios, DisableThrottling: true})
				alpha := w.s.CreateCluster("alpha")
				w.register(t, "flows", nil)
				interval := 10 * time.Second
				if source == tracking.SourceEvent {
					w.s.RouteTaskEventsTo("events", alpha)
					interval = time.Hour // events alone
				}
				tr, c := startTracker(t, w.ecs, tracking.Options{Interval: interval})
				ref := w.launch(t, "alpha", "flows", "fr-1", "phases")
				tr.Track(ref)
				if source == tracking.SourceEvent {
					ctx, cancel := context.WithCancel(t.Context())
					t.Cleanup(cancel)
					go func() {
						_ = tracking.NewEventConsumer(w.sqs, "events", tracking.EventOptions{}).Run(ctx, func(ev tracking.TaskEvent) { tr.Observe(ev) })
					}()
				}
				tick(80 * time.Second)
				var running *tracking.TaskUpdate
				for _, u := range c.take() {
					if u.LastStatus == "RUNNING" {
						running = &u
					}
				}
				if running == nil {
					t.Fatal("no RUNNING update")
				}
				if running.Source != source {
					t.Errorf("RUNNING came from %s, want %s", running.Source, source)
				}
				got := [3]time.Duration{running.PullStartedAt.Sub(running.CreatedAt), running.PullStoppedAt.Sub(running.CreatedAt), running.StartedAt.Sub(running.CreatedAt)}
				if running.CreatedAt.IsZero() || got != [3]time.Duration{9 * time.Second, 67 * time.Second, 74 * time.Second} {
					t.Errorf("created %v, pull started/stopped and started after it: %v", running.CreatedAt, got)
				}
				if running.Capacity != "FARGATE" {
					t.Errorf("capacity %q, want FARGATE", running.Capacity)
				}
			})
		})
	}
}
