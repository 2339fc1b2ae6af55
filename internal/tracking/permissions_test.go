package tracking_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ecsworker/ecsworker/internal/awsclient/awsclienttest"
	"github.com/ecsworker/ecsworker/internal/awserr"
	"github.com/ecsworker/ecsworker/internal/tracking"
)

// An identity without SQS permissions: the consumer stops with the refusal
// (the worker then polls) instead of retrying for ever.
func TestEventConsumerWithoutSQS(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := awsclienttest.NewWorld(t, awsclienttest.Options{InProcess: true})
		perms := awserr.NewPermissions(awserr.PermissionOptions{Logger: slog.New(slog.DiscardHandler)})
		w.AllowAllBut(t, "sqs:ReceiveMessage")
		admin := sqs.NewFromConfig(w.Clients.Config, func(o *sqs.Options) { o.BaseEndpoint = aws.String(w.Clients.Endpoint) })
		created, err := admin.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String("events")})
		if err != nil {
			t.Fatal(err)
		}
		err = tracking.NewEventConsumer(w.Clients.SQS, aws.ToString(created.QueueUrl), tracking.EventOptions{Permissions: perms}).Run(context.Background(), func(tracking.TaskEvent) {})
		if !awserr.IsUnavailable(err) || perms.Usable("sqs:ReceiveMessage", "") {
			t.Errorf("Run = %v; want the refusal, remembered", err)
		}
	})
}

// A cluster whose tasks the identity may not describe is asked once, not
// every poll.
func TestTrackerRemembersARefusedCluster(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := awsclienttest.NewWorld(t, awsclienttest.Options{InProcess: true})
		w.Srv.CreateCluster("prod")
		registerFlows(t, w.Clients.ECS, "flows", nil)
		_, subnets, _ := w.Srv.DefaultNetwork()
		ref := launchFlowRun(t, w.Clients.ECS, subnets, "prod", "flows", "run-1", "")
		w.AllowAllBut(t, "ecs:DescribeTasks")
		var logged strings.Builder
		perms := awserr.NewPermissions(awserr.PermissionOptions{Logger: slog.New(slog.NewTextHandler(&logged, nil))})
		tr := tracking.NewTracker(w.Clients.ECS, tracking.Options{Permissions: perms, Logger: slog.New(slog.DiscardHandler)})
		tr.Track(ref)
		for range 5 {
			if err := tr.Poll(context.Background()); err != nil {
				t.Errorf("Poll: %v", err)
			}
		}
		if n := w.Srv.Denied()["ecs:DescribeTasks"]; n != 1 {
			t.Errorf("DescribeTasks refused %d times in 5 polls, want once", n)
		}
		if strings.Count(logged.String(), "level=WARN") != 1 {
			t.Errorf("want one warning, got:\n%s", logged.String())
		}
	})
}
