package awsecs_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ecsworker/ecsworker/internal/awsecs"
	"github.com/ecsworker/ecsworker/internal/ecsjob"
	awsfake "github.com/ecsworker/ecsworker/internal/fakes/aws"
)

// everythingBut allows every action the worker uses except those given.
func everythingBut(t *testing.T, srv *awsfake.Server, denied ...string) {
	t.Helper()
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":["` + strings.Join(denied, `","`) + `"],"Resource":"*"}]}`
	if err := srv.SetIdentityPolicy("", policy); err != nil {
		t.Fatal(err)
	}
}

// Without ecs:TagResource, tasks start untagged (with a warning) instead of
// not at all, and the next launch does not ask again.
func TestLaunchWithoutTagResource(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	w.srv.CreateCluster("prod")
	everythingBut(t, w.srv, "ecs:TagResource")
	l := w.launcher(nil, awsecs.LaunchOptions{})
	for i, run := range []string{"run-1", "run-2"} {
		got, err := l.Launch(context.Background(), fargatePlan("prefect_pool_tags", "prod", run), awsecs.ClientToken(run, "c"))
		if err != nil {
			t.Fatalf("launch %d: %v", i+1, err)
		}
		if !strings.Contains(strings.Join(got.Warnings, "\n"), "without tags") {
			t.Errorf("launch %d: warnings %v, want one about the missing tags", i+1, got.Warnings)
		}
	}
	if n := w.srv.Denied()["ecs:RunTask"]; n != 1 {
		t.Errorf("RunTask refused %d times for its tags, want once", n)
	}
	if n := w.srv.Denied()["ecs:RegisterTaskDefinition"]; n != 1 {
		t.Errorf("RegisterTaskDefinition refused %d times for its tags, want once", n)
	}
	for _, task := range w.srv.Tasks() {
		if len(task.Tags) != 0 {
			t.Errorf("task %s has tags %v", task.Arn, task.Tags)
		}
	}
}

// Without the EC2 permissions, named subnets reach RunTask unchecked, and
// subnets to infer fail with what to set, EC2 being asked only once.
func TestNetworkWithoutEC2(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	w.srv.CreateCluster("prod")
	_, subnets, _ := w.srv.DefaultNetwork()
	everythingBut(t, w.srv, "ec2:*")
	l := w.launcher(nil, awsecs.LaunchOptions{})
	for i, run := range []string{"run-1", "run-2"} {
		_, err := l.Launch(context.Background(), fargatePlan("prefect_pool_net", "prod", run), awsecs.ClientToken(run, "c"))
		if !awsecs.IsUnavailable(err) || !strings.Contains(err.Error(), "subnets job variable") {
			t.Errorf("launch %d inferring subnets: %v, want an unavailable action naming the subnets job variable", i+1, err)
		}
	}
	if n := w.srv.Denied()["ec2:DescribeVpcs"]; n != 1 {
		t.Errorf("DescribeVpcs refused %d times, want once", n)
	}
	plan := fargatePlan("prefect_pool_net", "prod", "run-3")
	plan.RunTask.GetObject("networkConfiguration").GetObject("awsvpcConfiguration").Set("subnets", []any{subnets[0]})
	plan.Network = &ecsjob.NetworkPlan{VPCID: "vpc-any", CheckSubnets: []string{subnets[0]}}
	if _, err := l.Launch(context.Background(), plan, awsecs.ClientToken("run-3", "c")); err != nil {
		t.Errorf("named subnets without ec2:DescribeSubnets: %v", err)
	}
}

// A log group the identity may not read is asked once: later reads of the
// same group say so without calling, other groups are still read.
func TestLogReaderRemembersARefusedGroup(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	if err := w.srv.SetIdentityPolicy("", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"logs:GetLogEvents","Resource":"arn:aws:logs:*:*:log-group:open:*"}]}`); err != nil {
		t.Fatal(err)
	}
	r := awsecs.NewLogReader(w.clients.Logs, awsecs.NewPermissions(awsecs.PermissionOptions{Logger: slog.New(slog.DiscardHandler)}))
	for range 3 {
		_, err := r.Tail(context.Background(), awsecs.LogSource{Group: "secret", Stream: "s"}, 10)
		if !errors.Is(err, awsecs.ErrLogsUnreadable) {
			t.Errorf("refused group: %v, want ErrLogsUnreadable", err)
		}
	}
	if n := w.srv.Denied()["logs:GetLogEvents"]; n != 1 {
		t.Errorf("GetLogEvents refused %d times, want once", n)
	}
	if _, err := r.Tail(context.Background(), awsecs.LogSource{Group: "open", Stream: "s"}, 10); err != nil {
		t.Errorf("a readable group: %v", err)
	}
}

// An identity without SQS permissions: the consumer stops with the refusal
// (the worker then polls) instead of retrying for ever.
func TestEventConsumerWithoutSQS(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, worldOptions{inProcess: true})
		perms := awsecs.NewPermissions(awsecs.PermissionOptions{Logger: slog.New(slog.DiscardHandler)})
		everythingBut(t, w.srv, "sqs:ReceiveMessage")
		admin := sqs.NewFromConfig(w.clients.Config, func(o *sqs.Options) { o.BaseEndpoint = aws.String(w.clients.Endpoint) })
		created, err := admin.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String("events")})
		if err != nil {
			t.Fatal(err)
		}
		err = awsecs.NewEventConsumer(w.clients.SQS, aws.ToString(created.QueueUrl), awsecs.EventOptions{Permissions: perms}).Run(context.Background(), func(awsecs.TaskEvent) {})
		if !awsecs.IsUnavailable(err) || perms.Usable("sqs:ReceiveMessage", "") {
			t.Errorf("Run = %v; want the refusal, remembered", err)
		}
	})
}

// A cluster whose tasks the identity may not describe is asked once, not
// every poll.
func TestTrackerRemembersARefusedCluster(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, worldOptions{inProcess: true})
		w.srv.CreateCluster("prod")
		l := w.launcher(nil, awsecs.LaunchOptions{})
		got, err := l.Launch(context.Background(), fargatePlan("prefect_pool_trk", "prod", "run-1"), awsecs.ClientToken("run-1", "c"))
		if err != nil {
			t.Fatal(err)
		}
		everythingBut(t, w.srv, "ecs:DescribeTasks")
		var logged strings.Builder
		perms := awsecs.NewPermissions(awsecs.PermissionOptions{Logger: slog.New(slog.NewTextHandler(&logged, nil))})
		tr := awsecs.NewTracker(w.clients.ECS, awsecs.TrackerOptions{Permissions: perms, Logger: slog.New(slog.DiscardHandler)})
		tr.Track(awsecs.TaskRef{Cluster: got.ClusterARN, TaskARN: got.TaskARN, FlowRunID: "run-1"})
		for range 5 {
			if err := tr.Poll(context.Background()); err != nil {
				t.Errorf("Poll: %v", err)
			}
		}
		if n := w.srv.Denied()["ecs:DescribeTasks"]; n != 1 {
			t.Errorf("DescribeTasks refused %d times in 5 polls, want once", n)
		}
		if strings.Count(logged.String(), "level=WARN") != 1 {
			t.Errorf("want one warning, got:\n%s", logged.String())
		}
	})
}
