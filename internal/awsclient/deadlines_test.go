package awsclient_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awsclient/awsclienttest"
	"github.com/ecsworker/ecsworker/internal/awserr"
	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
)

// An endpoint that takes the connection and never answers: each attempt
// gives up after the attempt timeout, the SDK retries, and the call gives
// up once the total is spent, reported as transient.
func TestHungCallsAreBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		monitor := awsclient.NewCallMonitor()
		w := awsclienttest.NewWorld(t, awsclienttest.Options{InProcess: true, Retries: 10, Monitor: monitor,
			Timeouts: awsclient.CallTimeouts{Attempt: 10 * time.Second, Total: 45 * time.Second}})
		w.Srv.InjectFault(awsfake.Fault{Service: "ecs", Action: "DescribeTasks", Hang: true})
		start := time.Now()
		done := make(chan error, 1)
		go func() {
			_, err := w.Clients.ECS.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Cluster: aws.String("c"), Tasks: []string{"t"}})
			done <- err
		}()
		time.Sleep(25 * time.Second)
		synctest.Wait()
		if stalled, why := monitor.Stalled(time.Now(), 20*time.Second); !stalled || !strings.Contains(why, "ecs:DescribeTasks") {
			t.Errorf("after 25s of hung attempts: stalled %v (%s), want true naming the action", stalled, why)
		}
		err := <-done
		elapsed := time.Since(start)
		var cte *awsclient.CallTimeoutError
		if !errors.As(err, &cte) || awserr.KindOf(err) != awserr.KindTransient {
			t.Fatalf("got %v (kind %s), want a transient CallTimeoutError", err, awserr.KindOf(err))
		}
		var ate *awsclient.AttemptTimeoutError
		if !errors.As(err, &ate) {
			t.Errorf("the error does not carry the last attempt's timeout: %v", err)
		}
		if elapsed < 45*time.Second || elapsed > 50*time.Second {
			t.Errorf("gave up after %s, want the 45s total", elapsed)
		}
		if n := w.Calls("ecs:DescribeTasks"); n != 5 {
			t.Errorf("%d attempts, want 5 (10s each, the last cut to the 45s total)", n)
		}
		if ok, _ := monitor.Stalled(time.Now(), time.Minute); ok {
			t.Errorf("stalled for less than a minute, yet reported after a minute")
		}
		if ok, why := monitor.Stalled(time.Now().Add(30*time.Second), 60*time.Second); !ok || !strings.Contains(why, "failed for") {
			t.Errorf("failing for 75s: stalled %v (%s), want true after 60s", ok, why)
		}
		// One answer, even a refusal, means AWS is back.
		w.Srv.ClearFaults()
		if _, err := w.Clients.ECS.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Cluster: aws.String("nope"), Tasks: []string{"t"}}); err == nil {
			t.Fatal("DescribeTasks on an unknown cluster succeeded")
		}
		if ok, why := monitor.Stalled(time.Now().Add(time.Hour), time.Minute); ok {
			t.Errorf("after an answer: stalled (%s)", why)
		}
	})
}

// Waiting for the client-side budget is the worker pacing itself, not AWS
// hanging: it does not count against the attempt timeout.
func TestBudgetWaitIsNotAnAttemptTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := awsclienttest.NewWorld(t, awsclienttest.Options{InProcess: true,
			Budget:   awsclient.BudgetConfig{"ecs:DescribeTasks": {Rate: 0.1, Burst: 1}, "default": {Rate: 1e6, Burst: 1e6}},
			Timeouts: awsclient.CallTimeouts{Attempt: 2 * time.Second, Total: 5 * time.Second}})
		w.Srv.CreateCluster("c")
		start := time.Now()
		for range 2 {
			if _, err := w.Clients.ECS.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Cluster: aws.String("c"), Tasks: []string{"t"}}); err != nil {
				t.Fatalf("after %s: %v", time.Since(start), err)
			}
		}
		if took := time.Since(start); took < 10*time.Second {
			t.Errorf("two calls took %s; the budget should have held the second 10s", took)
		}
	})
}
