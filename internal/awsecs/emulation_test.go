package awsecs_test

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/ecsworker/ecsworker/internal/awsecs"
)

// The knobs tested here make the adapter call AWS as the Python worker
// does, for benchmarks; their defaults must leave behaviour unchanged.

func TestDescribeOnHitChecksEveryCachedARN(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	ctx := context.Background()
	tds := awsecs.NewTaskDefinitions(w.clients.ECS, awsecs.TDOptions{DescribeOnHit: true})
	td := fargateTD("prefect_pool_hit", "img:1")
	arn, registered, err := tds.Ensure(ctx, td, awsecs.EnsureOptions{})
	if err != nil || !registered {
		t.Fatalf("first Ensure: %v, registered %v", err, registered)
	}
	before := w.calls("ecs:DescribeTaskDefinition")
	for range 3 {
		again, registered, err := tds.Ensure(ctx, td, awsecs.EnsureOptions{})
		if err != nil || again != arn || registered {
			t.Fatalf("cached Ensure: %s registered %v err %v, want %s", again, registered, err, arn)
		}
	}
	if n := w.calls("ecs:DescribeTaskDefinition") - before; n != 3 {
		t.Errorf("%d DescribeTaskDefinition calls for 3 cache hits, want 3", n)
	}
	if n := w.calls("ecs:RegisterTaskDefinition"); n != 1 {
		t.Errorf("%d registrations, want 1", n)
	}

	// A revision deregistered behind the cache's back is seen at once.
	if _, err := w.clients.ECS.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	fresh, registered, err := tds.Ensure(ctx, td, awsecs.EnsureOptions{})
	if err != nil || fresh == arn || !registered {
		t.Errorf("Ensure after deregistration: %s registered %v err %v, want a new revision", fresh, registered, err)
	}
}

func TestCacheHitsMakeNoCallsByDefault(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	ctx := context.Background()
	tds := awsecs.NewTaskDefinitions(w.clients.ECS, awsecs.TDOptions{})
	td := fargateTD("prefect_pool_quiet", "img:1")
	if _, _, err := tds.Ensure(ctx, td, awsecs.EnsureOptions{}); err != nil {
		t.Fatal(err)
	}
	before := w.srv.Calls()
	for range 3 {
		if _, _, err := tds.Ensure(ctx, td, awsecs.EnsureOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if after := w.srv.Calls(); !mapsEqual(before, after) {
		t.Errorf("cache hits called AWS: %v -> %v", before, after)
	}
}

func TestSkipLookupRegistersInEachProcess(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{})
	ctx := context.Background()
	td := fargateTD("prefect_pool_skip", "img:1")
	first, _, err := awsecs.NewTaskDefinitions(w.clients.ECS, awsecs.TDOptions{}).Ensure(ctx, td, awsecs.EnsureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lists := w.calls("ecs:ListTaskDefinitions")

	// A restarted worker that does not look registers the same definition
	// again, as the Python worker does.
	arn, registered, err := awsecs.NewTaskDefinitions(w.clients.ECS, awsecs.TDOptions{SkipLookup: true}).Ensure(ctx, td, awsecs.EnsureOptions{})
	if err != nil || !registered || arn == first {
		t.Errorf("Ensure with SkipLookup: %s registered %v err %v, want a second revision", arn, registered, err)
	}
	if n := w.calls("ecs:ListTaskDefinitions"); n != lists {
		t.Errorf("SkipLookup listed revisions (%d calls, want %d)", n, lists)
	}

	// MatchLatestRevision is an explicit request to look: it still works.
	arn, registered, err = awsecs.NewTaskDefinitions(w.clients.ECS, awsecs.TDOptions{SkipLookup: true}).Ensure(ctx, td, awsecs.EnsureOptions{MatchLatestRevision: true})
	if err != nil || registered {
		t.Errorf("Ensure with SkipLookup and MatchLatestRevision: %s registered %v err %v, want reuse", arn, registered, err)
	}
	if n := w.calls("ecs:RegisterTaskDefinition"); n != 2 {
		t.Errorf("%d registrations, want 2", n)
	}
}

func TestTrackerBatchSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		batch int
		want  []int // tasks per DescribeTasks call in one poll, sorted
	}{
		{batch: 0, want: []int{5}},
		{batch: 1, want: []int{1, 1, 1, 1, 1}},
		{batch: 2, want: []int{1, 2, 2}},
		{batch: 1000, want: []int{5}}, // ECS takes at most 100
	} {
		synctest.Test(t, func(t *testing.T) {
			m := newMemECS()
			tr, _ := startTracker(t, m, awsecs.TrackerOptions{BatchSize: tc.batch})
			for i := range 5 {
				arn := memARN("prod", i)
				m.set(arn, "RUNNING", 1)
				tr.Track(awsecs.TaskRef{Cluster: "prod", TaskARN: arn})
			}
			tick(10 * time.Second)
			var sizes []int
			for _, c := range m.callLog() {
				sizes = append(sizes, c.n)
			}
			slices.Sort(sizes)
			if !slices.Equal(sizes, tc.want) {
				t.Errorf("BatchSize %d: calls of %v tasks, want %v", tc.batch, sizes, tc.want)
			}
		})
	}
}

func TestTrackerBatchSizeCapsAt100(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		m := newMemECS()
		tr, _ := startTracker(t, m, awsecs.TrackerOptions{BatchSize: 250})
		for i := range 250 {
			arn := memARN("prod", i)
			m.set(arn, "RUNNING", 1)
			tr.Track(awsecs.TaskRef{Cluster: "prod", TaskARN: arn})
		}
		tick(10 * time.Second)
		for _, c := range m.callLog() {
			if c.n > 100 {
				t.Errorf("a DescribeTasks call of %d tasks; ECS refuses more than 100", c.n)
			}
		}
		if n := len(m.callLog()); n != 3 {
			t.Errorf("%d calls for 250 tasks, want 3", n)
		}
	})
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
