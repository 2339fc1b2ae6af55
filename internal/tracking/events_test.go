package tracking_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/ecsworker/ecsworker/internal/diagnosis"
	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
	"github.com/ecsworker/ecsworker/internal/tracking"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseTaskEvent(t *testing.T) {
	t.Parallel()
	const task = "arn:aws:ecs:us-east-1:123456789012:task/prod/8c1a0c3e5ef34bb69e4d12ab7c0f5d21"
	tests := map[string]struct {
		file      string
		check     func(t *testing.T, ev tracking.TaskEvent)
		flowRunID string
	}{
		"running, flow run from the overrides": {
			file:      "running.json",
			flowRunID: "0b6f0c1e-7a3d-4c2b-9e8f-1a2b3c4d5e6f",
			check: func(t *testing.T, ev tracking.TaskEvent) {
				tk := ev.Task
				if ev.ID != "3317b2af-7005-947d-b652-f55e762e571a" || ev.Version != 3 || tk.Version != 3 {
					t.Errorf("id %q version %d/%d", ev.ID, ev.Version, tk.Version)
				}
				if !ev.Time.Equal(time.Date(2026, 3, 2, 10, 15, 42, 0, time.UTC)) {
					t.Errorf("time %v", ev.Time)
				}
				if aws.ToString(tk.TaskArn) != task || aws.ToString(tk.LastStatus) != "RUNNING" || aws.ToString(tk.DesiredStatus) != "RUNNING" {
					t.Errorf("task %s %s/%s", aws.ToString(tk.TaskArn), aws.ToString(tk.LastStatus), aws.ToString(tk.DesiredStatus))
				}
				if aws.ToString(tk.ClusterArn) != "arn:aws:ecs:us-east-1:123456789012:cluster/prod" || tk.LaunchType != ecstypes.LaunchTypeFargate {
					t.Errorf("cluster %s launch type %s", aws.ToString(tk.ClusterArn), tk.LaunchType)
				}
				if tk.StartedAt == nil || !tk.StartedAt.Equal(time.Date(2026, 3, 2, 10, 15, 41, 93e6, time.UTC)) {
					t.Errorf("startedAt %v", tk.StartedAt)
				}
				if len(tk.Containers) != 1 || aws.ToString(tk.Containers[0].Name) != "prefect" || tk.Containers[0].ExitCode != nil {
					t.Errorf("containers %+v", tk.Containers)
				}
				if len(tk.Attachments) != 1 || len(tk.Attachments[0].Details) != 4 || aws.ToString(tk.Attachments[0].Details[3].Value) != "10.0.1.23" {
					t.Errorf("attachments %+v", tk.Attachments)
				}
				if tk.StopCode != "" || tk.StoppedReason != nil || tk.StoppedAt != nil {
					t.Errorf("a running task with stop fields: %+v", tk)
				}
				if o := tk.Overrides; o == nil || len(o.ContainerOverrides) != 1 || len(o.ContainerOverrides[0].Command) != 3 {
					t.Errorf("overrides %+v", o)
				}
			},
		},
		"stopped out of memory": {
			file:      "stopped-oom.json",
			flowRunID: "0b6f0c1e-7a3d-4c2b-9e8f-1a2b3c4d5e6f",
			check: func(t *testing.T, ev tracking.TaskEvent) {
				tk := ev.Task
				if tk.StopCode != ecstypes.TaskStopCodeEssentialContainerExited || aws.ToString(tk.StoppedReason) != "Essential container in task exited" {
					t.Errorf("stop %s %q", tk.StopCode, aws.ToString(tk.StoppedReason))
				}
				if c := tk.Containers[0]; aws.ToInt32(c.ExitCode) != 137 || aws.ToString(c.Reason) == "" {
					t.Errorf("container %+v", c)
				}
				d := diagnosis.Diagnose(tk, "")
				if d == nil || d.Cause != diagnosis.CauseOutOfMemory || !d.Crash {
					t.Errorf("diagnosis %+v", d)
				}
			},
		},
		"flow run from the tag": {
			file:      "tagged-pending.json",
			flowRunID: "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9",
			check: func(t *testing.T, ev tracking.TaskEvent) {
				tk := ev.Task
				if len(tk.Tags) != 2 || aws.ToString(tk.StartedBy) != "ecsworker" || aws.ToString(tk.CapacityProviderName) != "gpu-asg" {
					t.Errorf("task %+v", tk)
				}
				if !ev.Time.Equal(time.Date(2026, 3, 2, 10, 15, 1, 250e6, time.UTC)) {
					t.Errorf("time %v", ev.Time)
				}
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ev, ours, err := tracking.ParseTaskEvent(readFixture(t, tc.file))
			if err != nil || !ours {
				t.Fatalf("ours %v err %v", ours, err)
			}
			if ev.FlowRunID != tc.flowRunID {
				t.Errorf("flow run %q, want %q", ev.FlowRunID, tc.flowRunID)
			}
			tc.check(t, ev)
		})
	}
}

func TestParseTaskEventUnwrapsSNS(t *testing.T) {
	t.Parallel()
	inner := readFixture(t, "running.json")
	body, err := json.Marshal(map[string]string{
		"Type": "Notification", "MessageId": "5b4f5e8c", "TopicArn": "arn:aws:sns:us-east-1:123456789012:ecs-events",
		"Message": string(inner), "Timestamp": "2026-03-02T10:15:42.510Z",
	})
	if err != nil {
		t.Fatal(err)
	}
	ev, ours, err := tracking.ParseTaskEvent(body)
	if err != nil || !ours || ev.Version != 3 {
		t.Fatalf("ours %v err %v version %d", ours, err, ev.Version)
	}
}

func TestParseTaskEventNotOurs(t *testing.T) {
	t.Parallel()
	for _, file := range []string{"foreign-task.json", "container-instance.json"} {
		ev, ours, err := tracking.ParseTaskEvent(readFixture(t, file))
		if err != nil || ours {
			t.Errorf("%s: ours %v err %v (%+v)", file, ours, err, ev)
		}
	}
}

func TestParseTaskEventMalformed(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"not JSON":           `Hello from the SQS console`,
		"empty":              ``,
		"no detail-type":     `{"id": "1", "detail": {}}`,
		"detail not object":  `{"detail-type": "ECS Task State Change", "detail": "oops"}`,
		"no detail":          `{"detail-type": "ECS Task State Change"}`,
		"no task ARN":        `{"detail-type": "ECS Task State Change", "detail": {"lastStatus": "RUNNING", "version": 1}}`,
		"no lastStatus":      `{"detail-type": "ECS Task State Change", "detail": {"taskArn": "arn:aws:ecs:us-east-1:1:task/c/1"}}`,
		"exit code a string": `{"detail-type": "ECS Task State Change", "detail": {"taskArn": "a", "lastStatus": "STOPPED", "containers": [{"exitCode": "1"}]}}`,
		"bad time":           `{"detail-type": "ECS Task State Change", "time": "yesterday", "detail": {"taskArn": "a", "lastStatus": "RUNNING"}}`,
	} {
		if _, ours, err := tracking.ParseTaskEvent([]byte(body)); err == nil || ours {
			t.Errorf("%s: ours %v err %v, want an error", name, ours, err)
		}
	}
}

// memSQS is one queue in memory with long polls, for exact control over
// failures and timing; the tests against the AWS test server cover the wire.
type memSQS struct {
	mu       sync.Mutex
	url      string
	bodies   []string
	arrived  chan struct{} // closed and replaced when a message arrives
	handles  int
	deleted  []string
	receives []*sqs.ReceiveMessageInput
	lookups  []*sqs.GetQueueUrlInput
	fail     []error // for ReceiveMessage, one per call
	lookFail []error // for GetQueueUrl
}

func newMemSQS() *memSQS {
	return &memSQS{url: "https://sqs.us-east-1.amazonaws.com/123456789012/my-pool-ecs-events", arrived: make(chan struct{})}
}

func (m *memSQS) send(bodies ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.bodies = append(m.bodies, bodies...)
	close(m.arrived)
	m.arrived = make(chan struct{})
}

func (m *memSQS) GetQueueUrl(_ context.Context, in *sqs.GetQueueUrlInput, _ ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lookups = append(m.lookups, in)
	if len(m.lookFail) > 0 {
		err := m.lookFail[0]
		m.lookFail = m.lookFail[1:]
		return nil, err
	}
	if aws.ToString(in.QueueName) != "my-pool-ecs-events" {
		return nil, &sqstypes.QueueDoesNotExist{Message: aws.String("The specified queue does not exist.")}
	}
	return &sqs.GetQueueUrlOutput{QueueUrl: aws.String(m.url)}, nil
}

func (m *memSQS) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	m.mu.Lock()
	m.receives = append(m.receives, in)
	if aws.ToString(in.QueueUrl) != m.url {
		m.mu.Unlock()
		return nil, &smithy.GenericAPIError{Code: "AWS.SimpleQueueService.NonExistentQueue", Message: "The specified queue does not exist."}
	}
	if len(m.fail) > 0 {
		err := m.fail[0]
		m.fail = m.fail[1:]
		m.mu.Unlock()
		return nil, err
	}
	timeout := time.NewTimer(time.Duration(in.WaitTimeSeconds) * time.Second)
	defer timeout.Stop()
	for len(m.bodies) == 0 {
		arrived := m.arrived
		m.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timeout.C:
			return &sqs.ReceiveMessageOutput{}, nil
		case <-arrived:
		}
		m.mu.Lock()
	}
	defer m.mu.Unlock()
	n := min(int(in.MaxNumberOfMessages), len(m.bodies))
	out := &sqs.ReceiveMessageOutput{}
	for _, b := range m.bodies[:n] {
		m.handles++
		out.Messages = append(out.Messages, sqstypes.Message{
			Body: aws.String(b), MessageId: aws.String(fmt.Sprintf("msg-%d", m.handles)), ReceiptHandle: aws.String(fmt.Sprintf("rh-%d", m.handles)),
		})
	}
	m.bodies = m.bodies[n:]
	return out, nil
}

func (m *memSQS) DeleteMessageBatch(_ context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(in.Entries) > 10 {
		return nil, &sqstypes.TooManyEntriesInBatchRequest{Message: aws.String("too many entries")}
	}
	out := &sqs.DeleteMessageBatchOutput{}
	for _, e := range in.Entries {
		m.deleted = append(m.deleted, aws.ToString(e.ReceiptHandle))
		out.Successful = append(out.Successful, sqstypes.DeleteMessageBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

func (m *memSQS) requests() ([]*sqs.ReceiveMessageInput, []*sqs.GetQueueUrlInput) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.receives), slices.Clone(m.lookups)
}

func (m *memSQS) state() (deleted []string, receives int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.deleted), len(m.receives)
}

// eventBody is a minimal task state change of a flow-run task.
func eventBody(task, status string, version int64, at time.Time) string {
	b, err := json.Marshal(map[string]any{
		"version": "0", "id": fmt.Sprintf("ev-%s-%d", short(task), version), "detail-type": "ECS Task State Change",
		"source": "aws.ecs", "account": "123456789012", "time": at.UTC().Format(time.RFC3339Nano), "region": "us-east-1",
		"resources": []string{task},
		"detail": map[string]any{
			"taskArn": task, "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/prod",
			"lastStatus": status, "desiredStatus": "RUNNING", "version": version,
			"tags": []map[string]string{{"key": "prefect.io/flow-run-id", "value": "fr-" + short(task)}},
		},
	})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// runConsumer runs c in the bubble until the test ends, collecting events.
func runConsumer(t *testing.T, c *tracking.EventConsumer) (events func() []tracking.TaskEvent, done <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	var mu sync.Mutex
	var got []tracking.TaskEvent
	ch := make(chan error, 1)
	go func() {
		ch <- c.Run(ctx, func(ev tracking.TaskEvent) {
			mu.Lock()
			got = append(got, ev)
			mu.Unlock()
		})
	}()
	t.Cleanup(func() {
		cancel()
		synctest.Wait()
	})
	return func() []tracking.TaskEvent {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}, ch
}

func eventSummary(evs []tracking.TaskEvent) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, fmt.Sprintf("%s:%s/%d", short(aws.ToString(ev.Task.TaskArn)), aws.ToString(ev.Task.LastStatus), ev.Version))
	}
	return out
}

func TestEventConsumerDeliversAndDeletes(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		m := newMemSQS()
		events, _ := runConsumer(t, tracking.NewEventConsumer(m, "my-pool-ecs-events", tracking.EventOptions{}))
		synctest.Wait()
		a, b := memARN("prod", 1), memARN("prod", 2)
		t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
		m.send(
			eventBody(a, "PROVISIONING", 1, t0),
			string(readFixture(t, "foreign-task.json")),
			eventBody(b, "PENDING", 2, t0.Add(2*time.Second)),
			`{"Records": "not an EventBridge event"}`,
			// Out of order in the batch: delivered by event time.
			eventBody(a, "RUNNING", 3, t0.Add(3*time.Second)),
			eventBody(a, "PENDING", 2, t0.Add(time.Second)),
			string(readFixture(t, "container-instance.json")),
			"",
		)
		synctest.Wait()
		want := []string{short(a) + ":PROVISIONING/1", short(a) + ":PENDING/2", short(b) + ":PENDING/2", short(a) + ":RUNNING/3"}
		if got := eventSummary(events()); !slices.Equal(got, want) {
			t.Fatalf("delivered %v, want %v", got, want)
		}
		deleted, receives := m.state()
		if len(deleted) != 8 {
			t.Errorf("deleted %v, want all 8 messages", deleted)
		}
		rs, _ := m.requests()
		if in := rs[0]; in.WaitTimeSeconds != 20 || in.MaxNumberOfMessages != 10 || aws.ToString(in.QueueUrl) != m.url {
			t.Errorf("receive request %+v", in)
		}
		// Idle: long polls of 20 s, back to back.
		time.Sleep(time.Minute)
		synctest.Wait()
		if _, n := m.state(); n != receives+3 {
			t.Errorf("%d receives in a minute of idling, want 3", n-receives)
		}
		if got := events()[0].FlowRunID; got != "fr-"+short(a) {
			t.Errorf("flow run %q", got)
		}
	})
}

func TestEventConsumerBacksOff(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		m := newMemSQS()
		m.lookFail = []error{&smithy.GenericAPIError{Code: "InternalError", Message: "We encountered an internal error.", Fault: smithy.FaultServer}}
		m.fail = []error{
			&smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"},
			errors.New("dial tcp 52.46.0.1:443: connect: connection refused"),
			&smithy.GenericAPIError{Code: "KMS.AccessDeniedException", Message: "not authorized to perform kms:Decrypt"},
		}
		start := time.Now()
		events, _ := runConsumer(t, tracking.NewEventConsumer(m, "my-pool-ecs-events", tracking.EventOptions{WaitSeconds: 5, MaxBackoff: 3 * time.Second}))
		m.send(eventBody(memARN("prod", 1), "RUNNING", 3, start))
		// 1 lookup retry (≤1 s) and 3 receive retries (≤1, ≤2, ≤3 s).
		time.Sleep(8 * time.Second)
		synctest.Wait()
		if got := events(); len(got) != 1 {
			t.Fatalf("delivered %d events", len(got))
		}
		if rs, ls := m.requests(); len(ls) != 2 || len(rs) < 4 {
			t.Fatalf("%d lookups, %d receives", len(ls), len(rs))
		}
	})
}

func TestEventConsumerQueueMissing(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		m := newMemSQS()
		_, done := runConsumer(t, tracking.NewEventConsumer(m, "prefect-ecs-tasks-events", tracking.EventOptions{}))
		if err := <-done; !errors.Is(err, tracking.ErrEventQueueNotFound) || !strings.Contains(err.Error(), "deploy-events") {
			t.Fatalf("Run: %v", err)
		}
		// A queue URL that stops existing ends Run too.
		_, done = runConsumer(t, tracking.NewEventConsumer(m, "https://sqs.us-east-1.amazonaws.com/123456789012/deleted", tracking.EventOptions{}))
		if err := <-done; !errors.Is(err, tracking.ErrEventQueueNotFound) {
			t.Fatalf("Run: %v", err)
		}
	})
}

func TestEventConsumerQueueARN(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		m := newMemSQS()
		runConsumer(t, tracking.NewEventConsumer(m, "arn:aws:sqs:us-east-1:210987654321:my-pool-ecs-events", tracking.EventOptions{}))
		synctest.Wait()
		_, ls := m.requests()
		if len(ls) != 1 || aws.ToString(ls[0].QueueOwnerAWSAccountId) != "210987654321" || aws.ToString(ls[0].QueueName) != "my-pool-ecs-events" {
			t.Fatalf("lookups %+v", ls)
		}
	})
}

func TestEventConsumerStopsWithItsContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		m := newMemSQS()
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			done <- tracking.NewEventConsumer(m, m.url, tracking.EventOptions{}).Run(ctx, func(tracking.TaskEvent) {})
		}()
		synctest.Wait() // in a long poll
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		if _, ls := m.requests(); len(ls) != 0 {
			t.Errorf("looked up a queue URL")
		}
	})
}

func TestEventConsumerOverTheWire(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWire(t, awsfake.Options{Script: scenarios})
		alpha := w.s.CreateCluster("alpha")
		w.s.CreateCluster("beta")
		url := w.s.RouteTaskEventsTo("my-pool-ecs-events", alpha)
		w.register(t, "flows", nil)
		events, done := runConsumer(t, tracking.NewEventConsumer(w.sqs, "my-pool-ecs-events", tracking.EventOptions{}))
		refs := map[string]tracking.TaskRef{}
		for i, scenario := range []string{"ok", "oom", "pull", "spot"} {
			ref := w.launch(t, "alpha", "flows", fmt.Sprintf("fr-%d", i), scenario)
			refs[ref.TaskARN] = ref
		}
		w.launch(t, "beta", "flows", "fr-beta", "ok") // not routed
		// Poison and strangers on the same queue.
		for _, body := range []string{"{", `{"detail-type": "ECS Task State Change", "detail": {}}`, string(readFixture(t, "foreign-task.json"))} {
			if _, err := w.sqs.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body)}); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Run returned %v", err)
		default:
		}

		per := map[string][]tracking.TaskEvent{}
		for _, ev := range events() {
			ref, ok := refs[aws.ToString(ev.Task.TaskArn)]
			if !ok {
				t.Fatalf("delivered an event of another task: %s", eventSummary([]tracking.TaskEvent{ev}))
			}
			if ev.FlowRunID != ref.FlowRunID || ev.ID == "" || ev.Time.IsZero() {
				t.Errorf("event %+v", ev)
			}
			per[ref.TaskARN] = append(per[ref.TaskARN], ev)
		}
		for arn, evs := range per {
			var statuses []string
			for i, ev := range evs {
				statuses = append(statuses, aws.ToString(ev.Task.LastStatus))
				if i > 0 && ev.Version <= evs[i-1].Version {
					t.Errorf("%s: versions out of order: %v", short(arn), eventSummary(evs))
				}
			}
			if statuses[0] != "PROVISIONING" || statuses[len(statuses)-1] != "STOPPED" {
				t.Errorf("%s: %v", short(arn), statuses)
			}
		}
		if len(per) != 4 {
			t.Errorf("events of %d tasks, want 4", len(per))
		}
		// Everything handled was deleted, poison included.
		attrs, err := w.sqs.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{
			QueueUrl: aws.String(url),
			AttributeNames: []sqstypes.QueueAttributeName{
				sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range attrs.Attributes {
			if v != "0" {
				t.Errorf("%s = %s after consuming", k, v)
			}
		}
	})
}

func TestEventConsumerOverTheWireRetries(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWire(t, awsfake.Options{Script: scenarios})
		alpha := w.s.CreateCluster("alpha")
		w.s.RouteTaskEventsTo("my-pool-ecs-events", alpha)
		w.register(t, "flows", nil)
		w.s.InjectFault(awsfake.Fault{Service: "sqs", Action: "ReceiveMessage", Code: "InternalError", Status: 500, Count: 3})
		w.s.InjectFault(awsfake.Fault{Service: "sqs", Action: "DeleteMessageBatch", Code: "InternalError", Status: 500, Count: 1})
		events, _ := runConsumer(t, tracking.NewEventConsumer(w.sqs, "my-pool-ecs-events", tracking.EventOptions{}))
		ref := w.launch(t, "alpha", "flows", "fr-1", "ok")
		// The first batch's deletion fails: it comes back after the
		// queue's visibility timeout and is delivered again, which the
		// tracker's version check absorbs.
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		seen := map[int64]int{}
		for _, ev := range events() {
			if aws.ToString(ev.Task.TaskArn) != ref.TaskARN {
				t.Fatalf("event of %s", aws.ToString(ev.Task.TaskArn))
			}
			seen[ev.Version]++
		}
		// Receives resume within 7 s, before the second change at 10 s: the
		// first batch holds the first event alone.
		if want := map[int64]int{1: 2, 2: 1, 3: 1, 4: 1, 5: 1}; !maps.Equal(seen, want) {
			t.Errorf("deliveries per version %v, want %v", seen, want)
		}
		if w.s.Calls()["sqs:ReceiveMessage"] < 4 {
			t.Errorf("calls %v", w.s.Calls())
		}
	})
}

func TestEventConsumerOverTheWireMissingQueue(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWire(t, awsfake.Options{})
		_, done := runConsumer(t, tracking.NewEventConsumer(w.sqs, "prefect-ecs-tasks-events", tracking.EventOptions{}))
		if err := <-done; !errors.Is(err, tracking.ErrEventQueueNotFound) {
			t.Fatalf("Run: %v", err)
		}
	})
}
