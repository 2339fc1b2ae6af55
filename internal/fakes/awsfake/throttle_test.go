package awsfake_test

import (
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
)

// once makes an SDK call give up after its first attempt.
func once(o *ecs.Options) { o.Retryer = retry.AddWithMaxAttempts(retry.NewStandard(), 1) }

func isThrottle(err error) bool {
	return retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary
}

func TestThrottlingBuckets(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newBubbleEnv(t, awsfake.Options{})
		e.cluster(t, "c")
		describe := func() error {
			_, err := e.ecs.DescribeTasks(e.ctx, &ecs.DescribeTasksInput{Cluster: aws.String("c"), Tasks: []string{"x"}}, once)
			return err
		}
		// Cluster resource reads: burst 100, then 20 a second.
		for i := range 100 {
			if err := describe(); err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}
		err := describe()
		if apiCode(err) != "ThrottlingException" || apiMessage(err) != "Rate exceeded" || !isThrottle(err) {
			t.Fatalf("101st call = %v", err)
		}
		// ListTasks draws on the same bucket.
		if _, err := e.ecs.ListTasks(e.ctx, &ecs.ListTasksInput{Cluster: aws.String("c")}, once); !isThrottle(err) {
			t.Errorf("ListTasks on an empty bucket = %v", err)
		}
		time.Sleep(time.Second)
		for i := range 20 {
			if err := describe(); err != nil {
				t.Fatalf("refilled call %d: %v", i, err)
			}
		}
		if err := describe(); !isThrottle(err) {
			t.Errorf("21st call after a second = %v", err)
		}
		if got := e.s.Throttled(); got["ecs:DescribeTasks"] != 2 || got["ecs:ListTasks"] != 1 {
			t.Errorf("Throttled() = %v", got)
		}

		// The SDK's own retryer backs off and gets through once tokens return.
		before := e.s.Calls()["ecs:DescribeTasks"]
		if _, err := e.ecs.DescribeTasks(e.ctx, &ecs.DescribeTasksInput{Cluster: aws.String("c"), Tasks: []string{"x"}}); err != nil {
			t.Errorf("with retries: %v", err)
		}
		if n := e.s.Calls()["ecs:DescribeTasks"] - before; n < 2 {
			t.Errorf("%d attempts, want a retry after throttling", n)
		}
	})
}

func TestThrottlingPerFamily(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		// Lift the account-wide bucket to see the per-family one.
		e := newBubbleEnv(t, awsfake.Options{Throttle: map[string]awsfake.Bucket{"ecs:task-definition-modify": {Burst: 1000, Refill: 1000}}})
		for i := range 20 {
			if _, err := e.ecs.RegisterTaskDefinition(e.ctx, fargateTD("busy"), once); err != nil {
				t.Fatalf("revision %d: %v", i+1, err)
			}
		}
		_, err := e.ecs.RegisterTaskDefinition(e.ctx, fargateTD("busy"), once)
		if apiCode(err) != "ClientException" || apiMessage(err) != "Too many concurrent attempts to create a new revision of the specified family." {
			t.Errorf("21st revision = %v", err)
		}
		if _, err := e.ecs.RegisterTaskDefinition(e.ctx, fargateTD("quiet"), once); err != nil {
			t.Errorf("another family: %v", err)
		}
		time.Sleep(time.Second)
		if _, err := e.ecs.RegisterTaskDefinition(e.ctx, fargateTD("busy"), once); err != nil {
			t.Errorf("a second later: %v", err)
		}
		if got := e.s.Throttled()["ecs:RegisterTaskDefinition"]; got != 1 {
			t.Errorf("Throttled = %d", got)
		}
	})
}

func TestThrottlingOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		opts      awsfake.Options
		calls     int
		throttled int
	}{
		{"defaults: task definition changes burst 20", awsfake.Options{}, 25, 5},
		{"an action's own bucket", awsfake.Options{Throttle: map[string]awsfake.Bucket{"ecs:RegisterTaskDefinition": {Burst: 3, Refill: 0.5}}}, 5, 2},
		{"a bucket disabled", awsfake.Options{Throttle: map[string]awsfake.Bucket{"ecs:task-definition-modify": {}, awsfake.ThrottleTaskDefinitionFamily: {}}}, 30, 0},
		{"throttling off", awsfake.Options{DisableThrottling: true}, 30, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := newBubbleEnv(t, tt.opts)
				throttled := 0
				for i := range tt.calls {
					_, err := e.ecs.RegisterTaskDefinition(e.ctx, fargateTD(fmt.Sprintf("f%d", i)), once)
					if isThrottle(err) {
						throttled++
					} else if err != nil {
						t.Fatal(err)
					}
				}
				if throttled != tt.throttled {
					t.Errorf("%d throttled, want %d", throttled, tt.throttled)
				}
			})
		})
	}
}

func TestThrottlingEC2(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newBubbleEnv(t, awsfake.Options{Throttle: map[string]awsfake.Bucket{"ec2:DescribeVpcs": {Burst: 1, Refill: 1}}})
		noRetry := func(o *ec2.Options) { o.Retryer = retry.AddWithMaxAttempts(retry.NewStandard(), 1) }
		if _, err := e.ec2.DescribeVpcs(e.ctx, &ec2.DescribeVpcsInput{}, noRetry); err != nil {
			t.Fatal(err)
		}
		_, err := e.ec2.DescribeVpcs(e.ctx, &ec2.DescribeVpcsInput{}, noRetry)
		if apiCode(err) != "RequestLimitExceeded" || !isThrottle(err) || !strings.Contains(err.Error(), "StatusCode: 503") {
			t.Errorf("second call = %v", err)
		}
	})
}
