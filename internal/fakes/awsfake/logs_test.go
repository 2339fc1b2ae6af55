package awsfake_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logstypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
)

func messages(evs []logstypes.OutputLogEvent) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, aws.ToString(ev.Message))
	}
	return out
}

func TestLogsReadAndWrite(t *testing.T) {
	t.Parallel()
	e := newEnv(t, awsfake.Options{DisableThrottling: true})
	g, st := aws.String("/ecs/flows"), aws.String("prefect/app/1")
	if _, err := e.logs.CreateLogGroup(e.ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: g}); err != nil {
		t.Fatal(err)
	}
	_, err := e.logs.CreateLogGroup(e.ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: g})
	var exists *logstypes.ResourceAlreadyExistsException
	if !errors.As(err, &exists) {
		t.Errorf("second CreateLogGroup = %v", err)
	}
	_, err = e.logs.CreateLogStream(e.ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String("/nope"), LogStreamName: st})
	var nf *logstypes.ResourceNotFoundException
	if !errors.As(err, &nf) || nf.ErrorMessage() != "The specified log group does not exist." {
		t.Errorf("stream in a missing group = %v", err)
	}
	if _, err := e.logs.CreateLogStream(e.ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: g, LogStreamName: st}); err != nil {
		t.Fatal(err)
	}

	base := time.Now().Add(-time.Minute).UnixMilli()
	var evs []logstypes.InputLogEvent
	for i := range 10 {
		evs = append(evs, logstypes.InputLogEvent{Timestamp: aws.Int64(base + int64(i)), Message: aws.String(fmt.Sprintf("line %d", i))})
	}
	if _, err := e.logs.PutLogEvents(e.ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: g, LogStreamName: st, LogEvents: evs}); err != nil {
		t.Fatal(err)
	}
	_, err = e.logs.PutLogEvents(e.ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: g, LogStreamName: st,
		LogEvents: []logstypes.InputLogEvent{evs[1], evs[0]}})
	var inv *logstypes.InvalidParameterException
	if !errors.As(err, &inv) {
		t.Errorf("out of order batch = %v", err)
	}

	get := func(in cloudwatchlogs.GetLogEventsInput) *cloudwatchlogs.GetLogEventsOutput {
		t.Helper()
		in.LogGroupName, in.LogStreamName = g, st
		out, err := e.logs.GetLogEvents(e.ctx, &in)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	head := get(cloudwatchlogs.GetLogEventsInput{StartFromHead: aws.Bool(true), Limit: aws.Int32(4)})
	if got := messages(head.Events); !slices.Equal(got, []string{"line 0", "line 1", "line 2", "line 3"}) {
		t.Errorf("from head: %v", got)
	}
	next := get(cloudwatchlogs.GetLogEventsInput{NextToken: head.NextForwardToken, Limit: aws.Int32(4)})
	if got := messages(next.Events); !slices.Equal(got, []string{"line 4", "line 5", "line 6", "line 7"}) {
		t.Errorf("forward: %v", got)
	}
	back := get(cloudwatchlogs.GetLogEventsInput{NextToken: next.NextBackwardToken, Limit: aws.Int32(2)})
	if got := messages(back.Events); !slices.Equal(got, []string{"line 2", "line 3"}) {
		t.Errorf("backward: %v", got)
	}
	tail := get(cloudwatchlogs.GetLogEventsInput{Limit: aws.Int32(3)})
	if got := messages(tail.Events); !slices.Equal(got, []string{"line 7", "line 8", "line 9"}) {
		t.Errorf("tail: %v", got)
	}
	end := get(cloudwatchlogs.GetLogEventsInput{NextToken: tail.NextForwardToken})
	if len(end.Events) != 0 || aws.ToString(end.NextForwardToken) != aws.ToString(tail.NextForwardToken) {
		t.Errorf("at the end: %v, token %s then %s", messages(end.Events), aws.ToString(tail.NextForwardToken), aws.ToString(end.NextForwardToken))
	}
	window := get(cloudwatchlogs.GetLogEventsInput{StartFromHead: aws.Bool(true), StartTime: aws.Int64(base + 2), EndTime: aws.Int64(base + 4)})
	if got := messages(window.Events); !slices.Equal(got, []string{"line 2", "line 3"}) {
		t.Errorf("time window: %v", got)
	}
	// A stream followed with the forward token sees later writes.
	if _, err := e.logs.PutLogEvents(e.ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: g, LogStreamName: st,
		LogEvents: []logstypes.InputLogEvent{{Timestamp: aws.Int64(base + 100), Message: aws.String("late")}}}); err != nil {
		t.Fatal(err)
	}
	if got := messages(get(cloudwatchlogs.GetLogEventsInput{NextToken: end.NextForwardToken}).Events); !slices.Equal(got, []string{"late"}) {
		t.Errorf("following: %v", got)
	}

	if _, err := e.logs.CreateLogStream(e.ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: g, LogStreamName: aws.String("other")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.logs.PutLogEvents(e.ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: g, LogStreamName: aws.String("other"),
		LogEvents: []logstypes.InputLogEvent{{Timestamp: aws.Int64(base + 5), Message: aws.String("ERROR other")}}}); err != nil {
		t.Fatal(err)
	}
	var filtered []string
	p := cloudwatchlogs.NewFilterLogEventsPaginator(e.logs, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: g, FilterPattern: aws.String("line -9"), Limit: aws.Int32(3)})
	for p.HasMorePages() {
		pg, err := p.NextPage(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range pg.Events {
			filtered = append(filtered, aws.ToString(ev.Message))
		}
	}
	if len(filtered) != 9 || filtered[0] != "line 0" || filtered[8] != "line 8" {
		t.Errorf("filtered: %v", filtered)
	}
	all, err := e.logs.FilterLogEvents(e.ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: g, StartTime: aws.Int64(base + 5), EndTime: aws.Int64(base + 5)})
	if err != nil || len(all.Events) != 2 || aws.ToString(all.Events[1].LogStreamName) != "other" {
		t.Errorf("across streams: %+v, %v", all, err)
	}

	ds, err := e.logs.DescribeLogStreams(e.ctx, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: g, OrderBy: logstypes.OrderByLastEventTime, Descending: aws.Bool(true)})
	if err != nil || len(ds.LogStreams) != 2 || aws.ToString(ds.LogStreams[0].LogStreamName) != "prefect/app/1" ||
		aws.ToInt64(ds.LogStreams[0].LastEventTimestamp) != base+100 {
		t.Errorf("DescribeLogStreams = %+v, %v", ds, err)
	}
	_, err = e.logs.DescribeLogStreams(e.ctx, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: g, OrderBy: logstypes.OrderByLastEventTime, LogStreamNamePrefix: aws.String("p")})
	if !errors.As(err, &inv) {
		t.Errorf("prefix with LastEventTime = %v", err)
	}
}

func awslogsTD(family, group, create string) *ecs.RegisterTaskDefinitionInput {
	in := fargateTD(family)
	opts := map[string]string{"awslogs-group": group, "awslogs-region": "us-east-1", "awslogs-stream-prefix": "prefect"}
	if create != "" {
		opts["awslogs-create-group"] = create
	}
	in.ContainerDefinitions[0].LogConfiguration = &ecstypes.LogConfiguration{LogDriver: ecstypes.LogDriverAwslogs, Options: opts}
	return in
}

func TestTaskLogs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		create     string
		makeGroup  bool
		wantStatus ecstypes.TaskStopCode
		wantLines  bool
	}{
		{"existing group", "", true, "EssentialContainerExited", true},
		{"group created by the task", "true", false, "EssentialContainerExited", true},
		{"missing group", "", false, "TaskFailedToStart", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := newBubbleEnv(t, awsfake.Options{Script: func(awsfake.TaskInfo) awsfake.Outcome {
					return awsfake.Outcome{TimeToRunning: 10 * time.Second, RunFor: 40 * time.Second, LogLines: []string{"hello", "from", "prefect"}}
				}})
				e.cluster(t, "c")
				if tt.makeGroup {
					if _, err := e.logs.CreateLogGroup(e.ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("/ecs/flows")}); err != nil {
						t.Fatal(err)
					}
				}
				e.register(t, awslogsTD("f", "/ecs/flows", tt.create))
				task := e.run(t, e.fargateRun("c", "f")).Tasks[0]
				id := aws.ToString(task.TaskArn)[len(aws.ToString(task.TaskArn))-32:]
				stream := aws.String("prefect/prefect/" + id)

				time.Sleep(25 * time.Second)
				if tt.wantLines {
					// Lines arrive while the task runs: 10s apart from 10s on.
					out, err := e.logs.GetLogEvents(e.ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("/ecs/flows"), LogStreamName: stream, StartFromHead: aws.Bool(true)})
					if err != nil {
						t.Fatal(err)
					}
					if got := messages(out.Events); !slices.Equal(got, []string{"hello"}) {
						t.Errorf("after 25s: %v", got)
					}
				}
				time.Sleep(time.Minute)
				got := e.describe(t, "c", aws.ToString(task.TaskArn))
				if got.StopCode != tt.wantStatus {
					t.Errorf("stopCode %s (%s), want %s", got.StopCode, aws.ToString(got.StoppedReason), tt.wantStatus)
				}
				if !tt.wantLines {
					if want := "ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: failed to create Cloudwatch log stream: ResourceNotFoundException: The specified log group does not exist. : exit status 1"; aws.ToString(got.StoppedReason) != want {
						t.Errorf("stoppedReason %q", aws.ToString(got.StoppedReason))
					}
					return
				}
				out, err := e.logs.GetLogEvents(e.ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("/ecs/flows"), LogStreamName: stream, StartFromHead: aws.Bool(true)})
				if err != nil {
					t.Fatal(err)
				}
				if got := messages(out.Events); !slices.Equal(got, []string{"hello", "from", "prefect"}) {
					t.Errorf("lines %v", got)
				}
				if start := time.Date(2000, 1, 1, 0, 0, 20, 0, time.UTC).UnixMilli(); aws.ToInt64(out.Events[0].Timestamp) != start {
					t.Errorf("first line at %d, want %d", aws.ToInt64(out.Events[0].Timestamp), start)
				}
			})
		})
	}
}
