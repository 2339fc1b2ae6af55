package tasklogs_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwltypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/ecsworker/ecsworker/internal/awsclient/awsclienttest"
	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
	"github.com/ecsworker/ecsworker/internal/tasklogs"
)

func awslogs(name string, opts map[string]string) ecstypes.ContainerDefinition {
	cd := ecstypes.ContainerDefinition{Name: aws.String(name), Image: aws.String("prefecthq/prefect:3-latest")}
	if opts != nil {
		cd.LogConfiguration = &ecstypes.LogConfiguration{LogDriver: ecstypes.LogDriverAwslogs, Options: opts}
	}
	return cd
}

func TestLogSourceFor(t *testing.T) {
	t.Parallel()
	const newARN = "arn:aws:ecs:eu-west-1:123456789012:task/prod/8c1a0c3e5ef34bb69e4d12ab7c0f5d21"
	const oldARN = "arn:aws:ecs:eu-west-1:123456789012:task/8c1a0c3e-5ef3-4bb6-9e4d-12ab7c0f5d21"
	std := map[string]string{"awslogs-group": "prefect", "awslogs-region": "us-east-2", "awslogs-stream-prefix": "prefect-logs_pool_dep", "awslogs-create-group": "true"}
	noRegion := map[string]string{"awslogs-group": "/ecs/etl", "awslogs-stream-prefix": "etl"}
	noPrefix := map[string]string{"awslogs-group": "/ecs/etl", "awslogs-region": "us-east-2"}
	tests := map[string]struct {
		defs      []ecstypes.ContainerDefinition
		container string
		arn       string
		want      tasklogs.Source
		ok        bool
	}{
		"the prefect container": {
			defs: []ecstypes.ContainerDefinition{awslogs("sidecar", noRegion), awslogs("prefect", std)}, arn: newARN, ok: true,
			want: tasklogs.Source{Group: "prefect", Stream: "prefect-logs_pool_dep/prefect/8c1a0c3e5ef34bb69e4d12ab7c0f5d21", Region: "us-east-2"},
		},
		"a named container, region from the task": {
			defs: []ecstypes.ContainerDefinition{awslogs("prefect", std), awslogs("flow", noRegion)}, container: "flow", arn: newARN, ok: true,
			want: tasklogs.Source{Group: "/ecs/etl", Stream: "etl/flow/8c1a0c3e5ef34bb69e4d12ab7c0f5d21", Region: "eu-west-1"},
		},
		"the only container": {
			defs: []ecstypes.ContainerDefinition{awslogs("etl", noRegion)}, arn: oldARN, ok: true,
			want: tasklogs.Source{Group: "/ecs/etl", Stream: "etl/etl/8c1a0c3e-5ef3-4bb6-9e4d-12ab7c0f5d21", Region: "eu-west-1"},
		},
		"several containers, none named prefect": {
			defs: []ecstypes.ContainerDefinition{awslogs("a", std), awslogs("b", std)}, arn: newARN,
		},
		"a named container that does not exist": {
			defs: []ecstypes.ContainerDefinition{awslogs("prefect", std)}, container: "flow", arn: newARN,
		},
		"no stream prefix": {
			defs: []ecstypes.ContainerDefinition{awslogs("prefect", noPrefix)}, arn: newARN,
		},
		"no log configuration": {
			defs: []ecstypes.ContainerDefinition{awslogs("prefect", nil)}, arn: newARN,
		},
		"another log driver": {
			defs: []ecstypes.ContainerDefinition{{
				Name:             aws.String("prefect"),
				LogConfiguration: &ecstypes.LogConfiguration{LogDriver: ecstypes.LogDriverAwsfirelens, Options: std},
			}}, arn: newARN,
		},
		"not a task ARN": {
			defs: []ecstypes.ContainerDefinition{awslogs("prefect", std)}, arn: "8c1a0c3e5ef34bb69e4d12ab7c0f5d21",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, ok := tasklogs.SourceFor(ecstypes.TaskDefinition{ContainerDefinitions: tc.defs}, tc.container, tc.arn)
			if ok != tc.ok || got != tc.want {
				t.Errorf("got %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

// memLogs is one CloudWatch Logs stream in memory with forward tokens
// "f/<offset>", plus the option to answer empty pages first as
// CloudWatch does at times.
type memLogs struct {
	mu         sync.Mutex
	group      string
	stream     string
	events     []cwltypes.OutputLogEvent
	emptyFirst int // empty pages before the data, each with a new token
	fail       error
	calls      []*cloudwatchlogs.GetLogEventsInput
	regions    []string
}

func (m *memLogs) add(base time.Time, msgs ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range msgs {
		ts := base.Add(time.Duration(len(m.events)) * time.Millisecond).UnixMilli()
		m.events = append(m.events, cwltypes.OutputLogEvent{Message: aws.String(s), Timestamp: aws.Int64(ts), IngestionTime: aws.Int64(ts)})
	}
}

func (m *memLogs) GetLogEvents(_ context.Context, in *cloudwatchlogs.GetLogEventsInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.GetLogEventsOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o := cloudwatchlogs.Options{Region: "us-east-1"}
	for _, f := range optFns {
		f(&o)
	}
	m.calls = append(m.calls, in)
	m.regions = append(m.regions, o.Region)
	if m.fail != nil {
		return nil, m.fail
	}
	if aws.ToString(in.LogGroupName) != m.group || aws.ToString(in.LogStreamName) != m.stream {
		return nil, &cwltypes.ResourceNotFoundException{Message: aws.String("The specified log stream does not exist.")}
	}
	limit := int(aws.ToInt32(in.Limit))
	if limit == 0 {
		limit = 10000
	}
	if !aws.ToBool(in.StartFromHead) && in.NextToken == nil {
		from := max(len(m.events)-limit, 0)
		return &cloudwatchlogs.GetLogEventsOutput{Events: slices.Clone(m.events[from:]), NextForwardToken: aws.String(fmt.Sprintf("f/%d", len(m.events)))}, nil
	}
	off := 0
	if tok := aws.ToString(in.NextToken); tok != "" {
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(tok, "f/")))
		if err != nil {
			return nil, &smithy.GenericAPIError{Code: "InvalidParameterException", Message: "The specified nextToken is invalid."}
		}
		off = n
	}
	if m.emptyFirst > 0 {
		m.emptyFirst--
		return &cloudwatchlogs.GetLogEventsOutput{NextForwardToken: aws.String(fmt.Sprintf("f/%d", off) + strings.Repeat(" ", m.emptyFirst+1))}, nil
	}
	end := min(off+limit, len(m.events))
	return &cloudwatchlogs.GetLogEventsOutput{Events: slices.Clone(m.events[off:end]), NextForwardToken: aws.String(fmt.Sprintf("f/%d", end))}, nil
}

func messages(lines []tasklogs.Line) []string {
	var out []string
	for _, l := range lines {
		out = append(out, l.Message)
	}
	return out
}

func numbered(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("line %d", i))
	}
	return out
}

func TestLogReaderReadsForward(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 3, 2, 10, 15, 42, 0, time.UTC)
	m := &memLogs{group: "prefect", stream: "p/prefect/1"}
	m.add(base, numbered(0, 25)...)
	r := tasklogs.NewReader(m, nil)
	src := tasklogs.Source{Group: "prefect", Stream: "p/prefect/1", Region: "eu-west-1"}
	ctx := t.Context()

	var cur tasklogs.Cursor
	var all []string
	for _, want := range []int{10, 10, 5} {
		lines, next, err := r.Read(ctx, src, cur, 10)
		if err != nil || len(lines) != want {
			t.Fatalf("read %d lines (err %v), want %d", len(lines), err, want)
		}
		all = append(all, messages(lines)...)
		cur = next
	}
	if !slices.Equal(all, numbered(0, 25)) {
		t.Fatalf("got %v", all)
	}
	lines, next, err := r.Read(ctx, src, cur, 10)
	if err != nil || len(lines) != 0 || next != cur {
		t.Fatalf("caught up: %v lines, cursor %v -> %v, err %v", len(lines), cur, next, err)
	}
	m.add(base, "late 1", "late 2")
	lines, _, err = r.Read(ctx, src, cur, 10)
	if err != nil || !slices.Equal(messages(lines), []string{"late 1", "late 2"}) {
		t.Fatalf("after new output: %v, %v", messages(lines), err)
	}
	if !lines[0].Time.Equal(base.Add(25 * time.Millisecond)) {
		t.Errorf("time %v", lines[0].Time)
	}
	for _, r := range m.regions {
		if r != "eu-west-1" {
			t.Fatalf("called region %s, want the stream's", r)
		}
	}
}

func TestLogReaderSkipsEmptyPages(t *testing.T) {
	t.Parallel()
	m := &memLogs{group: "g", stream: "s", emptyFirst: 3}
	m.add(time.Now(), "hello")
	lines, cur, err := tasklogs.NewReader(m, nil).Read(t.Context(), tasklogs.Source{Group: "g", Stream: "s"}, tasklogs.Cursor{}, 100)
	if err != nil || !slices.Equal(messages(lines), []string{"hello"}) || cur.Token != "f/1" {
		t.Fatalf("got %v, %+v, %v", messages(lines), cur, err)
	}
	if m.regions[0] != "us-east-1" {
		t.Errorf("an empty Region changed the client's region to %q", m.regions[0])
	}
}

func TestLogReaderMissingStream(t *testing.T) {
	t.Parallel()
	m := &memLogs{group: "g", stream: "s"}
	r := tasklogs.NewReader(m, nil)
	src := tasklogs.Source{Group: "g", Stream: "not-yet"}
	cur := tasklogs.Cursor{Token: "f/3"}
	lines, next, err := r.Read(t.Context(), src, cur, 10)
	if err != nil || lines != nil || next != cur {
		t.Fatalf("read: %v, %v, %v", lines, next, err)
	}
	if lines, err := r.Tail(t.Context(), src, 10); err != nil || lines != nil {
		t.Fatalf("tail: %v, %v", lines, err)
	}
	m.fail = &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized to perform: logs:GetLogEvents"}
	if _, _, err := r.Read(t.Context(), src, cur, 10); err == nil || !strings.Contains(err.Error(), "logs:GetLogEvents") {
		t.Fatalf("read error %v", err)
	}
	if _, err := r.Tail(t.Context(), src, 10); err == nil {
		t.Fatal("tail hid an error")
	}
}

func TestLogReaderTail(t *testing.T) {
	t.Parallel()
	m := &memLogs{group: "g", stream: "s"}
	m.add(time.Now(), numbered(0, 600)...)
	r := tasklogs.NewReader(m, nil)
	lines, err := r.Tail(t.Context(), tasklogs.Source{Group: "g", Stream: "s"}, 500)
	if err != nil || !slices.Equal(messages(lines), numbered(100, 600)) {
		t.Fatalf("got %d lines, %v", len(lines), err)
	}
	if in := m.calls[0]; aws.ToBool(in.StartFromHead) || aws.ToInt32(in.Limit) != 500 {
		t.Errorf("request %+v", in)
	}
	if lines, err := r.Tail(t.Context(), tasklogs.Source{Group: "g", Stream: "s"}, 0); err != nil || lines != nil || len(m.calls) != 1 {
		t.Errorf("Tail 0: %v, %v, %d calls", lines, err, len(m.calls))
	}
}

func TestLogReaderOverTheWire(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := awsclienttest.NewWorld(t, awsclienttest.Options{InProcess: true, Retries: 1, Fake: awsfake.Options{
			Script: func(awsfake.TaskInfo) awsfake.Outcome {
				return awsfake.Outcome{LogLines: numbered(0, 25), RunFor: 50 * time.Second}
			},
		}})
		w.Srv.CreateCluster("alpha")
		taskARN := runLoggingTask(t, w, "alpha", map[string]string{
			"awslogs-group": "prefect", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "prefect-logs_my-pool_dep", "awslogs-create-group": "true",
		})
		desc, err := w.Clients.ECS.DescribeTaskDefinition(t.Context(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("flows")})
		if err != nil {
			t.Fatal(err)
		}
		src, ok := tasklogs.SourceFor(*desc.TaskDefinition, "prefect", taskARN)
		if !ok || src.Stream != "prefect-logs_my-pool_dep/prefect/"+taskARN[strings.LastIndexByte(taskARN, '/')+1:] {
			t.Fatalf("source %+v, %v", src, ok)
		}
		r := tasklogs.NewReader(w.Clients.Logs, nil)
		// Before the container starts its stream does not exist.
		lines, cur, err := r.Read(t.Context(), src, tasklogs.Cursor{}, 10)
		if err != nil || len(lines) != 0 || cur != (tasklogs.Cursor{}) {
			t.Fatalf("before start: %v, %+v, %v", lines, cur, err)
		}
		// Follow the output while the task runs, a read every 10 s.
		var got []string
		for range 12 {
			time.Sleep(10 * time.Second)
			lines, cur, err = r.Read(t.Context(), src, cur, 7)
			if err != nil {
				t.Fatal(err)
			}
			if len(lines) > 7 {
				t.Fatalf("%d lines for a limit of 7", len(lines))
			}
			for i := 1; i < len(lines); i++ {
				if lines[i].Time.Before(lines[i-1].Time) {
					t.Fatalf("lines out of order: %v", lines)
				}
			}
			got = append(got, messages(lines)...)
		}
		if !slices.Equal(got, numbered(0, 25)) {
			t.Fatalf("followed %v", got)
		}
		lines, next, err := r.Read(t.Context(), src, cur, 7)
		if err != nil || len(lines) != 0 || next != cur {
			t.Fatalf("caught up: %v, %+v -> %+v, %v", lines, cur, next, err)
		}
		tail, err := r.Tail(t.Context(), src, 5)
		if err != nil || !slices.Equal(messages(tail), numbered(20, 25)) {
			t.Fatalf("tail %v, %v", messages(tail), err)
		}
	})
}

// runLoggingTask registers the Fargate task definition "flows", whose one
// container "prefect" logs to CloudWatch with logOpts, and runs it in
// cluster; it returns the task's ARN.
func runLoggingTask(t *testing.T, w *awsclienttest.World, cluster string, logOpts map[string]string) string {
	t.Helper()
	_, err := w.Clients.ECS.RegisterTaskDefinition(t.Context(), &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("flows"), NetworkMode: ecstypes.NetworkModeAwsvpc, Cpu: aws.String("1024"), Memory: aws.String("2048"),
		RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate},
		ExecutionRoleArn:        aws.String("arn:aws:iam::123456789012:role/ecsTaskExecutionRole"),
		ContainerDefinitions:    []ecstypes.ContainerDefinition{awslogs("prefect", logOpts)},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, subnets, _ := w.Srv.DefaultNetwork()
	out, err := w.Clients.ECS.RunTask(t.Context(), &ecs.RunTaskInput{
		Cluster: aws.String(cluster), TaskDefinition: aws.String("flows"), LaunchType: ecstypes.LaunchTypeFargate,
		NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: subnets}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Tasks) != 1 {
		t.Fatalf("RunTask: %+v", out.Failures)
	}
	return aws.ToString(out.Tasks[0].TaskArn)
}
