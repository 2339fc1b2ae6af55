package awsclient_test

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go/middleware"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awsclient/awsclienttest"
)

func TestBudgetPacesCalls(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		cfg      awsclient.BudgetConfig
		action   string
		calls    int
		wantTime time.Duration // when the last call is let through
	}{
		"burst passes at once": {
			cfg: awsclient.BudgetConfig{"ecs:RunTask": {Rate: 1, Burst: 5}}, action: "RunTask", calls: 5, wantTime: 0,
		},
		"then the rate": {
			cfg: awsclient.BudgetConfig{"ecs:RunTask": {Rate: 2, Burst: 5}}, action: "RunTask", calls: 9, wantTime: 2 * time.Second,
		},
		"a call waits for its action and its category": {
			cfg:    awsclient.BudgetConfig{"RunTask": {Rate: 10, Burst: 10}, "ecs:cluster-resource-modify": {Rate: 1, Burst: 2}},
			action: "ecs:RunTask", calls: 4, wantTime: 2 * time.Second,
		},
		"unknown actions use the default bucket": {
			cfg: awsclient.BudgetConfig{"default": {Rate: 4, Burst: 1}}, action: "ecs:CreateService", calls: 5, wantTime: time.Second,
		},
		"no bucket, no wait": {
			cfg: awsclient.BudgetConfig{"ecs:RunTask": {Rate: 1, Burst: 1}}, action: "logs:GetLogEvents", calls: 50, wantTime: 0,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				b := awsclient.NewBudget(tc.cfg)
				start := time.Now()
				var last time.Duration
				var mu sync.Mutex
				var wg sync.WaitGroup
				for range tc.calls {
					wg.Go(func() {
						if err := b.Wait(context.Background(), tc.action); err != nil {
							t.Error(err)
						}
						mu.Lock()
						last = max(last, time.Since(start))
						mu.Unlock()
					})
				}
				wg.Wait()
				if last != tc.wantTime {
					t.Errorf("last call passed after %v, want %v", last, tc.wantTime)
				}
			})
		})
	}
}

func TestBudgetDeadlineAndCounters(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := awsclient.NewBudget(awsclient.BudgetConfig{"ecs:task-definition-modify": {Rate: 1, Burst: 1}})
		ctx := context.Background()
		if err := b.Wait(ctx, "RegisterTaskDefinition"); err != nil {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := b.Wait(short, "ecs:DeregisterTaskDefinition") // same category bucket
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 0 {
			t.Fatalf("a wait past the deadline must fail at once, got %v after %v", err, time.Since(start))
		}
		// The refused call gave its token back: the next call waits 1s, not 2s.
		if err := b.Wait(ctx, "RegisterTaskDefinition"); err != nil || time.Since(start) != time.Second {
			t.Fatalf("got %v after %v", err, time.Since(start))
		}
		canceled, cancelNow := context.WithCancel(ctx)
		go func() { time.Sleep(100 * time.Millisecond); cancelNow() }()
		if err := b.Wait(canceled, "RegisterTaskDefinition"); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
		got := b.Counters()
		if c := got["ecs:RegisterTaskDefinition"]; c.Calls != 3 || c.Waits != 2 || c.WaitTime != 2*time.Second {
			t.Errorf("RegisterTaskDefinition counters = %+v", c)
		}
		if c := got["ecs:DeregisterTaskDefinition"]; c.Calls != 1 || c.Waits != 1 {
			t.Errorf("DeregisterTaskDefinition counters = %+v", c)
		}
	})
}

func TestDefaultBudgetStaysUnderAWSLimits(t *testing.T) {
	t.Parallel()
	// "Request throttling for the Amazon ECS API" and "AWS Fargate
	// throttling quotas": burst / sustained rate.
	aws := map[string]awsclient.Bucket{
		"ecs:cluster-read":            {Burst: 50, Rate: 20},
		"ecs:task-definition-modify":  {Burst: 20, Rate: 1},
		"ecs:task-definition-read":    {Burst: 50, Rate: 20},
		"ecs:cluster-resource-modify": {Burst: 100, Rate: 40},
		"ecs:cluster-resource-read":   {Burst: 100, Rate: 20},
		"ecs:RunTask":                 {Burst: 20, Rate: 20},
	}
	got := awsclient.NewBudget(awsclient.DefaultBudget()).Buckets()
	for name, limit := range aws {
		b, ok := got[name]
		if !ok {
			t.Errorf("no default bucket %s", name)
			continue
		}
		if b.Burst >= limit.Burst || b.Rate >= limit.Rate || b.Burst < limit.Burst*7/10 || b.Rate < limit.Rate*0.7 {
			t.Errorf("%s = %+v, want slightly below AWS's %+v", name, b, limit)
		}
	}
}

// TestBudgetMiddlewarePacesEveryAttempt checks that the budget applied to
// an SDK client also paces the SDK's own retries.
func TestBudgetMiddlewarePacesEveryAttempt(t *testing.T) {
	t.Parallel()
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if requests.Add(1) == 1 {
			w.WriteHeader(400)
			_, _ = io.WriteString(w, `{"__type": "ThrottlingException", "message": "Rate exceeded"}`)
			return
		}
		_, _ = io.WriteString(w, `{"taskArns": []}`)
	}))
	t.Cleanup(srv.Close)
	b := awsclient.NewBudget(awsclient.BudgetConfig{"ecs:cluster-resource-read": {Rate: 1000, Burst: 10}})
	client := ecs.New(ecs.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		Retryer:     awsclienttest.NoDelayRetryer(),
		APIOptions:  []func(*middleware.Stack) error{b.APIOption("ecs")},
	})
	if _, err := client.ListTasks(context.Background(), &ecs.ListTasksInput{}); err != nil {
		t.Fatal(err)
	}
	if c := b.Counters()["ecs:ListTasks"]; c.Calls != 2 || requests.Load() != 2 || c.Throttles != 1 {
		t.Errorf("budget saw %d calls (%d throttled) for %d requests, want 2 (1) and 2", c.Calls, c.Throttles, requests.Load())
	}
}

func TestBudgetSetShareDividesEveryBucket(t *testing.T) {
	t.Parallel()
	cfg := awsclient.BudgetConfig{
		"ecs:RunTask":                {Rate: 16, Burst: 16},
		"ecs:task-definition-modify": {Rate: 0.8, Burst: 16},
		"ecs:task-definition-delete": {Rate: 0.8, Burst: 4},
	}
	tests := map[string]struct {
		shares []int // set in turn; the last one is checked
		want   awsclient.BudgetConfig
		share  int
	}{
		"one worker keeps all": {shares: []int{1}, share: 1, want: cfg},
		"three workers": {shares: []int{3}, share: 3, want: awsclient.BudgetConfig{
			"ecs:RunTask":                {Rate: 16.0 / 3, Burst: 5},
			"ecs:task-definition-modify": {Rate: 0.8 / 3, Burst: 5},
			"ecs:task-definition-delete": {Rate: 0.8 / 3, Burst: 1},
		}},
		"the burst is at least one call": {shares: []int{8}, share: 8, want: awsclient.BudgetConfig{
			"ecs:RunTask":                {Rate: 2, Burst: 2},
			"ecs:task-definition-modify": {Rate: 0.1, Burst: 2},
			"ecs:task-definition-delete": {Rate: 0.1, Burst: 1},
		}},
		"back to one restores the configuration": {shares: []int{3, 2, 1}, share: 1, want: cfg},
		"zero counts as one":                     {shares: []int{4, 0}, share: 1, want: cfg},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := awsclient.NewBudget(cfg)
			for _, n := range tc.shares {
				b.SetShare(n)
			}
			if got := b.Share(); got != tc.share {
				t.Errorf("Share() = %d, want %d", got, tc.share)
			}
			got := b.Buckets()
			for k, w := range tc.want {
				g := got[k]
				if g.Burst != w.Burst || math.Abs(g.Rate-w.Rate) > 1e-9 {
					t.Errorf("%s = %+v, want %+v", k, g, w)
				}
			}
		})
	}
}

func TestBudgetShareDropsTokensAboveTheNewBurst(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := awsclient.NewBudget(awsclient.BudgetConfig{"ecs:RunTask": {Rate: 10, Burst: 10}})
		if !b.SetShare(2) || b.SetShare(2) {
			t.Fatal("SetShare should report a change once")
		}
		start := time.Now()
		for range 6 { // a burst of 5, then 5 a second
			if err := b.Wait(context.Background(), "RunTask"); err != nil {
				t.Fatal(err)
			}
		}
		if got := time.Since(start); got != 200*time.Millisecond {
			t.Errorf("the 6th call passed after %s, want 200ms", got)
		}
	})
}
