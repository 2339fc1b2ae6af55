package awsclient

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/time/rate"

	"github.com/ecsworker/ecsworker/internal/awserr"
)

// Bucket is a token bucket: Burst calls at once, then Rate calls a second.
type Bucket struct {
	Rate  float64
	Burst int
}

// BudgetConfig maps bucket names to buckets. A name is either an action,
// qualified by its service ("ecs:RunTask", "logs:GetLogEvents"; a bare
// action name means ECS), or one of the categories below, whose actions
// share one bucket as AWS's own limits do ("ecs:cluster-resource-modify").
// A call waits for every configured bucket it belongs to: its action's and
// its category's. A call that belongs to none uses "default".
type BudgetConfig map[string]Bucket

// DefaultBucket is the name of the bucket for calls no other bucket covers.
const DefaultBucket = "default"

// DefaultBudget returns the budget the worker uses unless told otherwise:
// about 80% of each documented AWS limit, leaving the rest of the account's
// quota to other clients (the console, CI, other workers).
//
// Sources: "Request throttling for the Amazon ECS API" (Amazon ECS API
// Reference, request-throttling.html): bucket capacity (burst) and refill
// rate (sustained) per category, per account and Region; "AWS Fargate
// throttling quotas" (Amazon ECS Developer Guide, throttling.html): RunTask
// calls that launch on Fargate are limited to 20 a second, burst and
// sustained; "Request throttling for the Amazon EC2 API": non-mutating
// actions, bucket 100, refill 20; CloudWatch Logs quotas: GetLogEvents 25
// transactions a second.
func DefaultBudget() BudgetConfig {
	return BudgetConfig{
		//                                AWS burst/rate    ours
		"ecs:cluster-modify":          {Rate: 0.8, Burst: 16}, // 20 / 1
		"ecs:cluster-read":            {Rate: 16, Burst: 40},  // 50 / 20
		"ecs:task-definition-modify":  {Rate: 0.8, Burst: 16}, // 20 / 1
		"ecs:task-definition-read":    {Rate: 16, Burst: 40},  // 50 / 20
		"ecs:task-definition-delete":  {Rate: 0.8, Burst: 4},  // 5 / 1
		"ecs:capacity-provider-read":  {Rate: 16, Burst: 40},  // 50 / 20
		"ecs:tag-modify":              {Rate: 8, Burst: 16},   // 20 / 10
		"ecs:tag-read":                {Rate: 16, Burst: 40},  // 50 / 20
		"ecs:cluster-resource-modify": {Rate: 32, Burst: 80},  // 100 / 40 (RunTask, StopTask, ...)
		"ecs:cluster-resource-read":   {Rate: 16, Burst: 80},  // 100 / 20 (DescribeTasks, ListTasks, ...)
		"ecs:RunTask":                 {Rate: 16, Burst: 16},  // Fargate: 20 / 20
		"ec2:non-mutating":            {Rate: 16, Burst: 80},  // 100 / 20
		"logs:GetLogEvents":           {Rate: 20, Burst: 20},  // 25 / 25
		DefaultBucket:                 {Rate: 0.8, Burst: 16}, // the strictest category
	}
}

// budgetCategories maps actions to the AWS throttling category whose bucket
// they share.
var budgetCategories = map[string]string{
	"ecs:CreateCluster":                  "ecs:cluster-modify",
	"ecs:DeleteCluster":                  "ecs:cluster-modify",
	"ecs:PutClusterCapacityProviders":    "ecs:cluster-modify",
	"ecs:UpdateCluster":                  "ecs:cluster-modify",
	"ecs:UpdateClusterSettings":          "ecs:cluster-modify",
	"ecs:DescribeClusters":               "ecs:cluster-read",
	"ecs:ListClusters":                   "ecs:cluster-read",
	"ecs:RegisterTaskDefinition":         "ecs:task-definition-modify",
	"ecs:DeregisterTaskDefinition":       "ecs:task-definition-modify",
	"ecs:DescribeTaskDefinition":         "ecs:task-definition-read",
	"ecs:ListTaskDefinitions":            "ecs:task-definition-read",
	"ecs:ListTaskDefinitionFamilies":     "ecs:task-definition-read",
	"ecs:DeleteTaskDefinitions":          "ecs:task-definition-delete",
	"ecs:DescribeCapacityProviders":      "ecs:capacity-provider-read",
	"ecs:TagResource":                    "ecs:tag-modify",
	"ecs:UntagResource":                  "ecs:tag-modify",
	"ecs:ListTagsForResource":            "ecs:tag-read",
	"ecs:RunTask":                        "ecs:cluster-resource-modify",
	"ecs:StartTask":                      "ecs:cluster-resource-modify",
	"ecs:StopTask":                       "ecs:cluster-resource-modify",
	"ecs:ExecuteCommand":                 "ecs:cluster-resource-modify",
	"ecs:DescribeTasks":                  "ecs:cluster-resource-read",
	"ecs:ListTasks":                      "ecs:cluster-resource-read",
	"ecs:DescribeContainerInstances":     "ecs:cluster-resource-read",
	"ecs:ListContainerInstances":         "ecs:cluster-resource-read",
	"ecs:ListAttributes":                 "ecs:cluster-resource-read",
	"ec2:DescribeVpcs":                   "ec2:non-mutating",
	"ec2:DescribeSubnets":                "ec2:non-mutating",
	"ec2:DescribeSecurityGroups":         "ec2:non-mutating",
	"ec2:DescribeAvailabilityZones":      "ec2:non-mutating",
	"ec2:DescribeNetworkInterfaces":      "ec2:non-mutating",
	"logs:GetLogEvents":                  "logs:GetLogEvents",
	"ecs:UpdateContainerInstancesStates": "ecs:cluster-resource-modify",
}

// Budget is a process-wide client-side rate limit on AWS calls, so that
// many concurrent flow-run submissions stay under AWS's throttling instead
// of running into it. Clients made by a Factory wait on it before
// every attempt of every ECS, EC2 and CloudWatch Logs call; callers cannot
// forget it. A nil *Budget lets every call through.
type Budget struct {
	buckets map[string]*rate.Limiter
	// configured are the buckets as given, before SetShare divides them.
	configured BudgetConfig

	mu       sync.Mutex
	counters map[string]*BudgetCounter
	share    int
}

// BudgetCounter counts, for one action, the calls that passed the budget,
// how many of them had to wait, and for how long in total.
type BudgetCounter struct {
	Calls    int64
	Waits    int64
	WaitTime time.Duration
	// Throttles counts attempts that AWS answered with throttling anyway
	// (other clients share the account's limits).
	Throttles int64
}

// NewBudget builds a budget from cfg. Buckets with a Rate or Burst of zero
// or less are left out: they would never let a call through.
func NewBudget(cfg BudgetConfig) *Budget {
	b := &Budget{buckets: map[string]*rate.Limiter{}, configured: BudgetConfig{}, counters: map[string]*BudgetCounter{}, share: 1}
	for name, bk := range cfg {
		if bk.Rate <= 0 || bk.Burst <= 0 {
			continue
		}
		b.buckets[qualifyAction(name)] = rate.NewLimiter(rate.Limit(bk.Rate), bk.Burst)
		b.configured[qualifyAction(name)] = bk
	}
	return b
}

// SetShare divides the configured budget among n workers that spend the
// same account's AWS limits (the replicas of one pool): every bucket keeps
// 1/n of its rate and of its burst (at least one call), so that n workers
// bursting together stay within what one worker alone was allowed. n below
// 1 counts as 1, which restores the configured budget. Tokens a worker holds
// above its new burst are dropped at its next call. It reports whether the
// share changed.
func (b *Budget) SetShare(n int) bool {
	if b == nil {
		return false
	}
	n = max(n, 1)
	b.mu.Lock()
	defer b.mu.Unlock()
	if n == b.share {
		return false
	}
	b.share = n
	now := time.Now()
	for name, l := range b.buckets {
		bk := b.configured[name]
		l.SetLimitAt(now, rate.Limit(bk.Rate/float64(n)))
		// Rounded down: n workers' bursts together must not exceed AWS's.
		l.SetBurstAt(now, max(1, bk.Burst/n))
	}
	return true
}

// Share is the number of workers the budget is divided among (1: all of
// it); see SetShare.
func (b *Budget) Share() int {
	if b == nil {
		return 1
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.share
}

// qualifyAction adds the ecs: prefix to bare action names.
func qualifyAction(action string) string {
	if action == DefaultBucket || strings.Contains(action, ":") {
		return action
	}
	return "ecs:" + action
}

func (b *Budget) limitersFor(action string) []*rate.Limiter {
	var ls []*rate.Limiter
	if l, ok := b.buckets[action]; ok {
		ls = append(ls, l)
	}
	if cat, ok := budgetCategories[action]; ok && cat != action {
		if l, ok := b.buckets[cat]; ok {
			ls = append(ls, l)
		}
	}
	if len(ls) == 0 {
		if l, ok := b.buckets[DefaultBucket]; ok {
			ls = append(ls, l)
		}
	}
	return ls
}

// Wait blocks until the budget allows one call of action ("RunTask" or
// "ecs:RunTask", "logs:GetLogEvents", ...), or until ctx ends. It never
// waits past ctx's deadline: when the wait would end after it, Wait fails at
// once.
func (b *Budget) Wait(ctx context.Context, action string) error {
	if b == nil {
		return nil
	}
	action = qualifyAction(action)
	ls := b.limitersFor(action)
	now := time.Now()
	var delay time.Duration
	rs := make([]*rate.Reservation, 0, len(ls))
	cancel := func() {
		for _, r := range rs {
			r.CancelAt(now)
		}
	}
	for _, l := range ls {
		r := l.ReserveN(now, 1)
		if !r.OK() {
			cancel()
			return fmt.Errorf("AWS call budget: %s can never be allowed; check the budget configuration", action)
		}
		rs = append(rs, r)
		delay = max(delay, r.DelayFrom(now))
	}
	b.count(action, delay)
	if delay <= 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && now.Add(delay).After(dl) {
		cancel()
		return fmt.Errorf("waiting %s for the AWS call budget of %s would outlast the deadline: %w", delay.Round(time.Millisecond), action, context.DeadlineExceeded)
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		cancel()
		return fmt.Errorf("waiting for the AWS call budget of %s: %w", action, ctx.Err())
	}
}

func (b *Budget) count(action string, delay time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.counter(action)
	c.Calls++
	if delay > 0 {
		c.Waits++
		c.WaitTime += delay
	}
}

// Counters returns a snapshot of the counters, by qualified action name
// ("ecs:RunTask"), for metrics.
func (b *Budget) Counters() map[string]BudgetCounter {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]BudgetCounter, len(b.counters))
	for k, c := range b.counters {
		out[k] = *c
	}
	return out
}

// Buckets returns the buckets in force (for display), by qualified name:
// the configured ones divided by the share (SetShare).
func (b *Budget) Buckets() BudgetConfig {
	if b == nil {
		return nil
	}
	out := BudgetConfig{}
	for name, l := range b.buckets {
		out[name] = Bucket{Rate: float64(l.Limit()), Burst: l.Burst()}
	}
	return out
}

// APIOption returns SDK middleware that makes every attempt of every call
// of a client wait for the budget; service is the prefix of the action
// names ("ecs", "ec2", "logs"). It sits inside the SDK's retry loop, so the
// SDK's own retries are paced too.
func (b *Budget) APIOption(service string) func(*middleware.Stack) error {
	return func(s *middleware.Stack) error {
		m := &budgetMiddleware{budget: b, service: service}
		if err := s.Finalize.Insert(m, "Retry", middleware.After); err != nil {
			return s.Finalize.Add(m, middleware.Before)
		}
		return nil
	}
}

type budgetMiddleware struct {
	budget  *Budget
	service string
}

func (*budgetMiddleware) ID() string { return "ecsworker.Budget" }

func (m *budgetMiddleware) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (
	middleware.FinalizeOutput, middleware.Metadata, error,
) {
	action := m.service + ":" + awsmiddleware.GetOperationName(ctx)
	if err := m.budget.Wait(ctx, action); err != nil {
		return middleware.FinalizeOutput{}, middleware.Metadata{}, err
	}
	out, md, err := next.HandleFinalize(ctx, in)
	if err != nil && awserr.IsThrottle(err) {
		m.budget.countThrottle(action)
	}
	return out, md, err
}

// counter is action's counter, made on first use; b.mu must be held.
func (b *Budget) counter(action string) *BudgetCounter {
	c := b.counters[action]
	if c == nil {
		c = &BudgetCounter{}
		b.counters[action] = c
	}
	return c
}

func (b *Budget) countThrottle(action string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.counter(action)
	c.Throttles++
}
