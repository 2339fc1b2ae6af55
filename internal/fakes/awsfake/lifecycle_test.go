package awsfake_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
)

// state is what a task looks like at an instant after RunTask.
type state struct {
	after         time.Duration
	last, desired string
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		outcome awsfake.Outcome
		bridge  bool
		// act runs once, at actAt after launch.
		actAt    time.Duration
		act      func(e *env, taskArn string) error
		timeline []state
		check    func(t *testing.T, task ecstypes.Task)
	}{
		{
			name: "default: running after 30s, exit 0 at 60s",
			timeline: []state{{0, "PROVISIONING", "RUNNING"}, {10 * time.Second, "PENDING", "RUNNING"},
				{30 * time.Second, "RUNNING", "RUNNING"}, {60 * time.Second, "DEPROVISIONING", "STOPPED"}, {70 * time.Second, "STOPPED", "STOPPED"}},
			check: func(t *testing.T, task ecstypes.Task) {
				wantExit(t, task, 0, "")
				wantStop(t, task, "EssentialContainerExited", "Essential container in task exited")
				t0 := *task.CreatedAt
				if task.StartedAt.Sub(t0) != 30*time.Second || task.StoppingAt.Sub(t0) != 60*time.Second || task.StoppedAt.Sub(t0) != 70*time.Second {
					t.Errorf("started %v stopping %v stopped %v after creation", task.StartedAt.Sub(t0), task.StoppingAt.Sub(t0), task.StoppedAt.Sub(t0))
				}
				if a := task.Attachments[0]; aws.ToString(a.Status) != "DELETED" || len(a.Details) != 5 {
					t.Errorf("ENI attachment = %+v", a)
				}
			},
		},
		{
			name:     "scripted exit code",
			outcome:  awsfake.Outcome{TimeToRunning: 6 * time.Second, RunFor: 10 * time.Second, ExitCode: aws.Int(3)},
			timeline: []state{{5 * time.Second, "PENDING", "RUNNING"}, {6 * time.Second, "RUNNING", "RUNNING"}, {16 * time.Second, "DEPROVISIONING", "STOPPED"}, {26 * time.Second, "STOPPED", "STOPPED"}},
			check:    func(t *testing.T, task ecstypes.Task) { wantExit(t, task, 3, "") },
		},
		{
			name:     "image cannot be pulled",
			outcome:  awsfake.Outcome{NeverStarts: true},
			timeline: []state{{29 * time.Second, "PENDING", "RUNNING"}, {30 * time.Second, "DEPROVISIONING", "STOPPED"}, {40 * time.Second, "STOPPED", "STOPPED"}},
			check: func(t *testing.T, task ecstypes.Task) {
				wantStop(t, task, "TaskFailedToStart", "CannotPullContainerError: pull image manifest has been retried 7 time(s): failed to resolve ref prefecthq/prefect:3-latest: not found")
				wantExit(t, task, -1, "CannotPullContainerError")
				if task.StartedAt != nil {
					t.Errorf("a task that never started has startedAt %v", task.StartedAt)
				}
			},
		},
		{
			name:     "secrets cannot be pulled",
			outcome:  awsfake.Outcome{NeverStarts: true, TimeToRunning: 3 * time.Second, StoppedReason: "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed"},
			timeline: []state{{3 * time.Second, "DEPROVISIONING", "STOPPED"}, {13 * time.Second, "STOPPED", "STOPPED"}},
			check: func(t *testing.T, task ecstypes.Task) {
				wantStop(t, task, "TaskFailedToStart", "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed")
			},
		},
		{
			name:     "Fargate Spot interruption",
			outcome:  awsfake.Outcome{SpotInterruption: true},
			timeline: []state{{59 * time.Second, "RUNNING", "RUNNING"}, {60 * time.Second, "DEPROVISIONING", "STOPPED"}, {70 * time.Second, "STOPPED", "STOPPED"}},
			check: func(t *testing.T, task ecstypes.Task) {
				wantStop(t, task, "SpotInterruption", "Your Spot Task was interrupted.")
				wantExit(t, task, -1, "")
			},
		},
		{
			name:     "out of memory",
			outcome:  awsfake.Outcome{OOM: true},
			timeline: []state{{70 * time.Second, "STOPPED", "STOPPED"}},
			check: func(t *testing.T, task ecstypes.Task) {
				wantExit(t, task, 137, "OutOfMemoryError: Container killed due to memory usage")
				wantStop(t, task, "EssentialContainerExited", "Essential container in task exited")
			},
		},
		{
			name:    "StopTask while running",
			outcome: awsfake.Outcome{RunsForever: true},
			actAt:   40 * time.Second,
			act: func(e *env, arn string) error {
				_, err := e.ecs.StopTask(e.ctx, &ecs.StopTaskInput{Cluster: aws.String("c"), Task: aws.String(arn)})
				return err
			},
			timeline: []state{{39 * time.Second, "RUNNING", "RUNNING"}, {40 * time.Second, "RUNNING", "STOPPED"},
				{42 * time.Second, "DEPROVISIONING", "STOPPED"}, {52 * time.Second, "STOPPED", "STOPPED"}},
			check: func(t *testing.T, task ecstypes.Task) {
				wantStop(t, task, "UserInitiated", "Task stopped by user")
				wantExit(t, task, 143, "")
			},
		},
		{
			name:  "StopTask while provisioning",
			actAt: 5 * time.Second,
			act: func(e *env, arn string) error {
				_, err := e.ecs.StopTask(e.ctx, &ecs.StopTaskInput{Cluster: aws.String("c"), Task: aws.String(arn), Reason: aws.String("cancelled")})
				return err
			},
			timeline: []state{{5 * time.Second, "STOPPED", "STOPPED"}},
			check: func(t *testing.T, task ecstypes.Task) {
				wantStop(t, task, "UserInitiated", "cancelled")
				wantExit(t, task, -1, "")
			},
		},
		{
			name:    "stopped by something else",
			outcome: awsfake.Outcome{RunsForever: true},
			actAt:   45 * time.Second,
			act: func(e *env, arn string) error {
				e.s.StopTaskExternally(arn, "TerminationNotice", "Task stopped because the underlying host was retired")
				return nil
			},
			timeline: []state{{45 * time.Second, "RUNNING", "STOPPED"}, {57 * time.Second, "STOPPED", "STOPPED"}},
			check: func(t *testing.T, task ecstypes.Task) {
				wantStop(t, task, "TerminationNotice", "Task stopped because the underlying host was retired")
			},
		},
		{
			name:     "bridge task on EC2 has no ENI to provision",
			bridge:   true,
			timeline: []state{{0, "PENDING", "RUNNING"}, {30 * time.Second, "RUNNING", "RUNNING"}, {60 * time.Second, "STOPPED", "STOPPED"}},
			check: func(t *testing.T, task ecstypes.Task) {
				wantExit(t, task, 0, "")
				if len(task.Attachments) != 0 || task.ContainerInstanceArn == nil {
					t.Errorf("attachments %v container instance %v", task.Attachments, task.ContainerInstanceArn)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := newBubbleEnv(t, awsfake.Options{Script: func(awsfake.TaskInfo) awsfake.Outcome { return tt.outcome }})
				e.cluster(t, "c")
				in := e.fargateRun("c", "f")
				if tt.bridge {
					e.s.AddContainerInstances("c", 1, 2048, 4096)
					e.register(t, bridgeTD("f"))
					in.LaunchType, in.NetworkConfiguration = "EC2", nil
				} else {
					e.register(t, fargateTD("f"))
				}
				start := time.Now()
				arn := aws.ToString(e.run(t, in).Tasks[0].TaskArn)
				acted := tt.act == nil
				var task ecstypes.Task
				for _, st := range tt.timeline {
					if !acted && tt.actAt <= st.after {
						time.Sleep(time.Until(start.Add(tt.actAt)))
						if err := tt.act(e, arn); err != nil {
							t.Fatal(err)
						}
						acted = true
					}
					time.Sleep(time.Until(start.Add(st.after)))
					task = e.describe(t, "c", arn)
					if got := [2]string{aws.ToString(task.LastStatus), aws.ToString(task.DesiredStatus)}; got != [2]string{st.last, st.desired} {
						t.Fatalf("after %v: %v, want %s/%s", st.after, got, st.last, st.desired)
					}
				}
				tt.check(t, task)
			})
		})
	}
}

// wantExit checks the essential container's exit code (-1: none) and that
// its reason contains reason.
func wantExit(t *testing.T, task ecstypes.Task, code int32, reason string) {
	t.Helper()
	c := task.Containers[0]
	switch {
	case code < 0 && c.ExitCode != nil:
		t.Errorf("exit code %d, want none", *c.ExitCode)
	case code >= 0 && (c.ExitCode == nil || *c.ExitCode != code):
		t.Errorf("exit code %v, want %d", c.ExitCode, code)
	}
	if !strings.Contains(aws.ToString(c.Reason), reason) || reason == "" && c.Reason != nil {
		t.Errorf("container reason %q, want %q", aws.ToString(c.Reason), reason)
	}
	if aws.ToString(c.LastStatus) != "STOPPED" {
		t.Errorf("container lastStatus %s", aws.ToString(c.LastStatus))
	}
}

func wantStop(t *testing.T, task ecstypes.Task, code ecstypes.TaskStopCode, reason string) {
	t.Helper()
	if task.StopCode != code || aws.ToString(task.StoppedReason) != reason {
		t.Errorf("stopCode %s reason %q, want %s %q", task.StopCode, aws.ToString(task.StoppedReason), code, reason)
	}
}

func TestCapacityFailures(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var infos []awsfake.TaskInfo
		var mu sync.Mutex
		e := newBubbleEnv(t, awsfake.Options{Script: func(ti awsfake.TaskInfo) awsfake.Outcome {
			mu.Lock()
			defer mu.Unlock()
			infos = append(infos, ti)
			return awsfake.Outcome{CapacityFailures: 2}
		}})
		e.cluster(t, "c")
		e.register(t, fargateTD("f"))
		for i := range 3 {
			in := e.fargateRun("c", "f")
			in.Overrides = &ecstypes.TaskOverride{ContainerOverrides: []ecstypes.ContainerOverride{{
				Name: aws.String("prefect"), Environment: []ecstypes.KeyValuePair{{Name: aws.String("PREFECT__FLOW_RUN_ID"), Value: aws.String("abc")}},
			}}}
			out := e.run(t, in)
			if i < 2 {
				if len(out.Tasks) != 0 || len(out.Failures) != 1 ||
					aws.ToString(out.Failures[0].Reason) != "Capacity is unavailable at this time. Please try again later or in a different availability zone" {
					t.Fatalf("attempt %d: %+v", i, out)
				}
				continue
			}
			if len(out.Tasks) != 1 {
				t.Fatalf("attempt %d: %+v", i, out)
			}
		}
		c, ok := infos[2].Container("prefect")
		if !ok || c.Environment["PREFECT__FLOW_RUN_ID"] != "abc" || infos[2].Family != "f" || infos[2].LaunchType != "FARGATE" {
			t.Errorf("TaskInfo = %+v", infos[2])
		}
	})
}

func TestAdvanceTask(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newBubbleEnv(t, awsfake.Options{})
		e.cluster(t, "c")
		e.register(t, fargateTD("f"))
		arn := aws.ToString(e.run(t, e.fargateRun("c", "f")).Tasks[0].TaskArn)
		for _, want := range []string{"PENDING", "RUNNING", "DEPROVISIONING", "STOPPED"} {
			if !e.s.AdvanceTask(arn) {
				t.Fatalf("no change left before %s", want)
			}
			if got := aws.ToString(e.describe(t, "c", arn).LastStatus); got != want {
				t.Fatalf("lastStatus %s, want %s", got, want)
			}
		}
		if e.s.AdvanceTask(arn) {
			t.Error("a stopped task advanced")
		}
		if v := e.s.Tasks()[0]; v.LastStatus != "STOPPED" || *v.ExitCodes["prefect"] != 0 || !v.StartedAt.Equal(v.CreatedAt) {
			t.Errorf("TaskView = %+v", v)
		}
	})
}

func TestStoppedTasksExpire(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newBubbleEnv(t, awsfake.Options{})
		e.cluster(t, "c")
		e.register(t, fargateTD("f"))
		arn := aws.ToString(e.run(t, e.fargateRun("c", "f")).Tasks[0].TaskArn)
		time.Sleep(70*time.Second + time.Hour)
		e.describe(t, "c", arn)
		time.Sleep(time.Second)
		out, err := e.ecs.DescribeTasks(e.ctx, &ecs.DescribeTasksInput{Cluster: aws.String("c"), Tasks: []string{arn}})
		if err != nil || len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "MISSING" {
			t.Errorf("an hour after stopping: %+v, %v", out, err)
		}
	})
}

// event is the part of an EventBridge envelope the tests look at.
type event struct {
	Version    string   `json:"version"`
	ID         string   `json:"id"`
	DetailType string   `json:"detail-type"`
	Source     string   `json:"source"`
	Account    string   `json:"account"`
	Time       string   `json:"time"`
	Region     string   `json:"region"`
	Resources  []string `json:"resources"`
	Detail     struct {
		TaskArn, ClusterArn, TaskDefinitionArn string
		LastStatus, DesiredStatus              string
		StopCode, StoppedReason                string
		CreatedAt, UpdatedAt, StoppedAt        string
		Version                                int
		Tags                                   []struct{ Key, Value string }
		Containers                             []struct {
			Name     string
			ExitCode *int
		}
	} `json:"detail"`
}

func TestTaskEventsToSQS(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newBubbleEnv(t, awsfake.Options{})
		clusterArn := e.cluster(t, "c")
		e.cluster(t, "elsewhere")
		url := e.s.RouteTaskEventsTo("ecs-events", clusterArn)
		e.register(t, fargateTD("f"))
		in := e.fargateRun("c", "f")
		in.Tags = []ecstypes.Tag{{Key: aws.String("prefect.io/flow-run-id"), Value: aws.String("abc")}}
		arn := aws.ToString(e.run(t, in).Tasks[0].TaskArn)
		e.run(t, e.fargateRun("elsewhere", "f"))

		var got []event
		for polls := 0; len(got) < 5; polls++ {
			if polls == 10 {
				t.Fatalf("only %d events after %d long polls", len(got), polls)
			}
			out, err := e.sqs.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 20})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range out.Messages {
				var ev event
				if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &ev); err != nil {
					t.Fatal(err)
				}
				got = append(got, ev)
				if _, err := e.sqs.DeleteMessage(e.ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
					t.Fatal(err)
				}
			}
		}
		var statuses []string
		for i, ev := range got {
			statuses = append(statuses, ev.Detail.LastStatus+"/"+ev.Detail.DesiredStatus)
			if ev.Detail.Version != i+1 {
				t.Errorf("event %d has version %d", i, ev.Detail.Version)
			}
			if ev.DetailType != "ECS Task State Change" || ev.Source != "aws.ecs" || ev.Version != "0" || ev.Account != "123456789012" ||
				ev.Region != "us-east-1" || len(ev.Resources) != 1 || ev.Resources[0] != arn || ev.Detail.TaskArn != arn ||
				ev.Detail.ClusterArn != clusterArn || ev.ID == "" {
				t.Errorf("envelope %+v", ev)
			}
			if len(ev.Detail.Tags) != 0 {
				t.Errorf("real task state change events carry no tags, got %+v", ev.Detail.Tags)
			}
			if _, err := time.Parse(time.RFC3339, ev.Detail.UpdatedAt); err != nil || ev.Detail.CreatedAt != "2000-01-01T00:00:00.000Z" {
				t.Errorf("createdAt %q updatedAt %q", ev.Detail.CreatedAt, ev.Detail.UpdatedAt)
			}
		}
		want := "PROVISIONING/RUNNING PENDING/RUNNING RUNNING/RUNNING DEPROVISIONING/STOPPED STOPPED/STOPPED"
		if strings.Join(statuses, " ") != want {
			t.Errorf("events %v, want %s", statuses, want)
		}
		last := got[4].Detail
		if last.StopCode != "EssentialContainerExited" || last.Containers[0].ExitCode == nil || *last.Containers[0].ExitCode != 0 ||
			last.StoppedAt != "2000-01-01T00:01:10.000Z" || got[4].Time != "2000-01-01T00:01:10Z" {
			t.Errorf("last event detail %+v at %s", last, got[4].Time)
		}
	})
}

func TestCustomClock(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	advance := func(d time.Duration) {
		mu.Lock()
		now = now.Add(d)
		mu.Unlock()
	}
	e := newEnv(t, awsfake.Options{Now: clock, DisableThrottling: true})
	e.cluster(t, "c")
	url := e.s.RouteTaskEventsTo("events", "")
	e.register(t, fargateTD("f"))
	arn := aws.ToString(e.run(t, e.fargateRun("c", "f")).Tasks[0].TaskArn)
	advance(31 * time.Second)
	e.s.Sync()
	out, err := e.sqs.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})
	if err != nil || len(out.Messages) != 3 {
		t.Fatalf("%d events after Sync, %v", len(out.Messages), err)
	}
	task := e.describe(t, "c", arn)
	if aws.ToString(task.LastStatus) != "RUNNING" || !task.StartedAt.Equal(time.Date(2025, 6, 1, 12, 0, 30, 0, time.UTC)) {
		t.Errorf("task %s started %v", aws.ToString(task.LastStatus), task.StartedAt)
	}
}

// TestStartPhases checks the task timestamps each start script gives:
// createdAt to pullStartedAt, to pullStoppedAt, to startedAt (-1: unset).
func TestStartPhases(t *testing.T) {
	t.Parallel()
	const s = time.Second
	tests := []struct {
		name    string
		outcome awsfake.Outcome
		bridge  bool
		// at is when the task is described, after launch; want are its
		// pullStartedAt, pullStoppedAt and startedAt after createdAt.
		at     time.Duration
		status string
		want   [3]time.Duration
	}{
		{name: "default awsvpc: a third provisioning, pull until RUNNING", at: 30 * s, status: "RUNNING", want: [3]time.Duration{10 * s, 30 * s, 30 * s}},
		{name: "default bridge: pull from creation", bridge: true, at: 30 * s, status: "RUNNING", want: [3]time.Duration{0, 30 * s, 30 * s}},
		{name: "TimeToRunning alone splits as before", outcome: awsfake.Outcome{TimeToRunning: 9 * s}, at: 9 * s, status: "RUNNING", want: [3]time.Duration{3 * s, 9 * s, 9 * s}},
		{
			name:    "slow pull",
			outcome: awsfake.Outcome{ProvisionFor: 9 * s, PullFor: 58 * s, StartFor: 7 * s},
			at:      74 * s, status: "RUNNING", want: [3]time.Duration{9 * s, 67 * s, 74 * s},
		},
		{
			name:    "slow provisioning, other phases from TimeToRunning",
			outcome: awsfake.Outcome{TimeToRunning: 30 * s, ProvisionFor: 3 * time.Minute},
			at:      3*time.Minute + 20*s, status: "RUNNING", want: [3]time.Duration{3 * time.Minute, 3*time.Minute + 20*s, 3*time.Minute + 20*s},
		},
		{
			name:    "mid-pull: DescribeTasks shows the pull begun",
			outcome: awsfake.Outcome{ProvisionFor: 5 * s, PullFor: 20 * s, StartFor: 2 * s},
			at:      10 * s, status: "PENDING", want: [3]time.Duration{5 * s, -1, -1},
		},
		{
			name:    "pull over, container starting",
			outcome: awsfake.Outcome{ProvisionFor: 5 * s, PullFor: 20 * s, StartFor: 2 * s},
			at:      26 * s, status: "PENDING", want: [3]time.Duration{5 * s, 25 * s, -1},
		},
		{
			name:    "bridge task waiting for an instance before the pull",
			outcome: awsfake.Outcome{ProvisionFor: 40 * s, PullFor: 5 * s},
			bridge:  true, at: 45 * s, status: "RUNNING", want: [3]time.Duration{40 * s, 45 * s, 45 * s},
		},
		{
			name:    "fails before it ever pulls",
			outcome: awsfake.Outcome{FailsProvisioning: true, ProvisionFor: 2 * time.Minute},
			at:      2 * time.Minute, status: "STOPPED", want: [3]time.Duration{-1, -1, -1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := newBubbleEnv(t, awsfake.Options{Script: func(awsfake.TaskInfo) awsfake.Outcome { return tt.outcome }})
				e.cluster(t, "c")
				in := e.fargateRun("c", "f")
				if tt.bridge {
					e.s.AddContainerInstances("c", 1, 2048, 4096)
					e.register(t, bridgeTD("f"))
					in.LaunchType, in.NetworkConfiguration = "EC2", nil
				} else {
					e.register(t, fargateTD("f"))
				}
				start := time.Now()
				arn := aws.ToString(e.run(t, in).Tasks[0].TaskArn)
				time.Sleep(time.Until(start.Add(tt.at)))
				task := e.describe(t, "c", arn)
				if got := aws.ToString(task.LastStatus); got != tt.status {
					t.Fatalf("lastStatus %s, want %s", got, tt.status)
				}
				for i, ts := range []*time.Time{task.PullStartedAt, task.PullStoppedAt, task.StartedAt} {
					name := [...]string{"pullStartedAt", "pullStoppedAt", "startedAt"}[i]
					switch {
					case tt.want[i] < 0 && ts != nil:
						t.Errorf("%s = createdAt+%v, want unset", name, ts.Sub(*task.CreatedAt))
					case tt.want[i] >= 0 && ts == nil:
						t.Errorf("%s unset, want createdAt+%v", name, tt.want[i])
					case ts != nil && ts.Sub(*task.CreatedAt) != tt.want[i]:
						t.Errorf("%s = createdAt+%v, want +%v", name, ts.Sub(*task.CreatedAt), tt.want[i])
					}
				}
				if tt.outcome.FailsProvisioning {
					wantStop(t, task, "TaskFailedToStart", "Timeout waiting for network interface provisioning to complete.")
				}
			})
		})
	}
}

// TestCapacityFailuresBy scripts a shortage on one capacity at a time: the
// Spot provider, an Auto Scaling group provider, a launch type. Other
// capacities have room, and each key counts its own attempts.
func TestCapacityFailuresBy(t *testing.T) {
	t.Parallel()
	spot := []ecstypes.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE_SPOT"), Weight: 1}}
	asg := []ecstypes.CapacityProviderStrategyItem{{CapacityProvider: aws.String("my-asg"), Weight: 1}}
	tests := map[string]struct {
		by       map[string]int
		strategy []ecstypes.CapacityProviderStrategyItem
		reason   string
		failures int // of 3 attempts on that capacity
	}{
		"spot short, twice":         {by: map[string]int{"FARGATE_SPOT": 2}, strategy: spot, reason: "Capacity is unavailable at this time. Please try again later or in a different availability zone", failures: 2},
		"spot short, fargate fine":  {by: map[string]int{"FARGATE_SPOT": 5}},
		"fargate launch type short": {by: map[string]int{"FARGATE": 1}, reason: "Capacity is unavailable at this time. Please try again later or in a different availability zone", failures: 1},
		"provider short":            {by: map[string]int{"my-asg": 3}, strategy: asg, reason: "RESOURCE:MEMORY", failures: 3},
		"other provider short":      {by: map[string]int{"my-asg": 3}, strategy: spot},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newBubbleEnv(t, awsfake.Options{Script: func(awsfake.TaskInfo) awsfake.Outcome {
					return awsfake.Outcome{CapacityFailuresBy: tt.by}
				}})
				e.s.AddCapacityProvider("my-asg")
				if err := e.s.SetClusterCapacityProviders("c", []string{"FARGATE", "FARGATE_SPOT"}); err != nil {
					t.Fatal(err)
				}
				if tt.strategy != nil && tt.strategy[0].CapacityProvider != nil && *tt.strategy[0].CapacityProvider == "my-asg" {
					if err := e.s.SetClusterCapacityProviders("c", []string{"my-asg"}); err != nil {
						t.Fatal(err)
					}
				}
				td := fargateTD("f")
				td.RequiresCompatibilities = append(td.RequiresCompatibilities, ecstypes.CompatibilityEc2)
				e.register(t, td)
				failures := 0
				for i := range 3 {
					in := e.fargateRun("c", "f")
					if tt.strategy != nil {
						in.LaunchType, in.CapacityProviderStrategy = "", tt.strategy
					}
					out := e.run(t, in)
					switch {
					case len(out.Failures) == 1 && len(out.Tasks) == 0:
						failures++
						if got := aws.ToString(out.Failures[0].Reason); got != tt.reason {
							t.Errorf("attempt %d: reason %q, want %q", i, got, tt.reason)
						}
					case len(out.Tasks) == 1 && len(out.Failures) == 0:
						if failures < tt.failures {
							t.Errorf("attempt %d launched after %d failures, want %d first", i, failures, tt.failures)
						}
					default:
						t.Fatalf("attempt %d: %+v", i, out)
					}
				}
				if failures != tt.failures {
					t.Errorf("%d capacity failures, want %d", failures, tt.failures)
				}
			})
		})
	}
}
