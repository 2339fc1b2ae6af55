package spec

import (
	"fmt"
	"strings"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
)

// bucket is a token bucket as both the fake and the budget describe it.
type bucket struct {
	Name  string
	Burst float64
	Rate  float64
}

// FakeThrottle is given to the fake AWS explicitly, so that the bounds the
// bench computes are, by construction, those of the buckets the fake
// enforced. The values are the fake's defaults (internal/fakes/awsfake/
// throttle.go), themselves AWS's documented ECS and Fargate limits.
var FakeThrottle = map[string]awsfake.Bucket{
	awsfake.ThrottleFargateRunTask:       {Burst: 20, Refill: 20},
	awsfake.ThrottleFargateTasks:         {Burst: 100, Refill: 20},
	"ecs:cluster-resource-modify":        {Burst: 100, Refill: 40},
	"ecs:cluster-resource-read":          {Burst: 100, Refill: 20},
	"ecs:task-definition-modify":         {Burst: 20, Refill: 1},
	"ecs:task-definition-read":           {Burst: 50, Refill: 20},
	awsfake.ThrottleTaskDefinitionFamily: {Burst: 20, Refill: 1},
}

// fakeBuckets are the fake's buckets one call of action draws from (a
// Fargate RunTask of one task, or a registration in a new family).
func fakeBuckets(action string) []bucket {
	var keys []string
	switch action {
	case "ecs:RunTask":
		keys = []string{awsfake.ThrottleFargateRunTask, awsfake.ThrottleFargateTasks, "ecs:cluster-resource-modify"}
	case "ecs:RegisterTaskDefinition":
		keys = []string{"ecs:task-definition-modify"}
	}
	var out []bucket
	for _, k := range keys {
		b := FakeThrottle[k]
		out = append(out, bucket{Name: k, Burst: float64(b.Burst), Rate: b.Refill})
	}
	return out
}

// budgetCategory is the category of the budget a call also waits for
// (awsclient.budgetCategories, for the two actions bounded here).
var budgetCategory = map[string]string{
	"ecs:RunTask":                "ecs:cluster-resource-modify",
	"ecs:RegisterTaskDefinition": "ecs:task-definition-modify",
}

// budgetBuckets are the worker's client-side buckets for action.
func budgetBuckets(action string) []bucket {
	cfg := awsclient.DefaultBudget()
	var out []bucket
	for _, k := range []string{action, budgetCategory[action]} {
		if b, ok := cfg[k]; ok {
			out = append(out, bucket{Name: k, Burst: float64(b.Burst), Rate: b.Rate})
		}
	}
	return out
}

// drainSeconds is when the last of n calls can be made through buckets
// that start full: call k waits for (k-burst)/rate in each bucket.
func drainSeconds(n int, bs []bucket) float64 {
	worst := 0.0
	for _, b := range bs {
		worst = max(worst, (float64(n)-b.Burst)/b.Rate)
	}
	return worst
}

func describeBuckets(bs []bucket) string {
	parts := make([]string, len(bs))
	for i, b := range bs {
		parts[i] = fmt.Sprintf("%s %g burst, %g/s", b.Name, b.Burst, b.Rate)
	}
	return strings.Join(parts, "; ")
}

// BoundFor is the least time n calls of action take through the fake's
// buckets and the worker's budget, whichever is tighter.
func BoundFor(action string, n int) *Bound {
	f, c := drainSeconds(n, fakeBuckets(action)), drainSeconds(n, budgetBuckets(action))
	b := &Bound{Action: action, FakeAWS: f, ClientBudget: c, Seconds: f, By: "fake AWS",
		FakeBuckets: describeBuckets(fakeBuckets(action)), BudgetBuckets: describeBuckets(budgetBuckets(action))}
	if c > f {
		b.Seconds, b.By = c, "client budget"
	}
	return b
}
