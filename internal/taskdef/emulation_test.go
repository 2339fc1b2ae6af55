package taskdef_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/ecsworker/ecsworker/internal/awsclient/awsclienttest"
	"github.com/ecsworker/ecsworker/internal/taskdef"
)

// The knobs tested here make the adapter call AWS as the Python worker
// does, for benchmarks; their defaults must leave behaviour unchanged.

func TestDescribeOnHitChecksEveryCachedARN(t *testing.T) {
	t.Parallel()
	w := awsclienttest.NewWorld(t, awsclienttest.Options{})
	ctx := context.Background()
	tds := taskdef.NewRegistry(w.Clients.ECS, taskdef.Options{DescribeOnHit: true})
	td := fargateTD("prefect_pool_hit", "img:1")
	arn, registered, err := tds.Ensure(ctx, td, taskdef.EnsureOptions{})
	if err != nil || !registered {
		t.Fatalf("first Ensure: %v, registered %v", err, registered)
	}
	before := w.Calls("ecs:DescribeTaskDefinition")
	for range 3 {
		again, registered, err := tds.Ensure(ctx, td, taskdef.EnsureOptions{})
		if err != nil || again != arn || registered {
			t.Fatalf("cached Ensure: %s registered %v err %v, want %s", again, registered, err, arn)
		}
	}
	if n := w.Calls("ecs:DescribeTaskDefinition") - before; n != 3 {
		t.Errorf("%d DescribeTaskDefinition calls for 3 cache hits, want 3", n)
	}
	if n := w.Calls("ecs:RegisterTaskDefinition"); n != 1 {
		t.Errorf("%d registrations, want 1", n)
	}

	// A revision deregistered behind the cache's back is seen at once.
	if _, err := w.Clients.ECS.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	fresh, registered, err := tds.Ensure(ctx, td, taskdef.EnsureOptions{})
	if err != nil || fresh == arn || !registered {
		t.Errorf("Ensure after deregistration: %s registered %v err %v, want a new revision", fresh, registered, err)
	}
}

func TestCacheHitsMakeNoCallsByDefault(t *testing.T) {
	t.Parallel()
	w := awsclienttest.NewWorld(t, awsclienttest.Options{})
	ctx := context.Background()
	tds := taskdef.NewRegistry(w.Clients.ECS, taskdef.Options{})
	td := fargateTD("prefect_pool_quiet", "img:1")
	if _, _, err := tds.Ensure(ctx, td, taskdef.EnsureOptions{}); err != nil {
		t.Fatal(err)
	}
	before := w.Srv.Calls()
	for range 3 {
		if _, _, err := tds.Ensure(ctx, td, taskdef.EnsureOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if after := w.Srv.Calls(); !mapsEqual(before, after) {
		t.Errorf("cache hits called AWS: %v -> %v", before, after)
	}
}

func TestSkipLookupRegistersInEachProcess(t *testing.T) {
	t.Parallel()
	w := awsclienttest.NewWorld(t, awsclienttest.Options{})
	ctx := context.Background()
	td := fargateTD("prefect_pool_skip", "img:1")
	first, _, err := taskdef.NewRegistry(w.Clients.ECS, taskdef.Options{}).Ensure(ctx, td, taskdef.EnsureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lists := w.Calls("ecs:ListTaskDefinitions")

	// A restarted worker that does not look registers the same definition
	// again, as the Python worker does.
	arn, registered, err := taskdef.NewRegistry(w.Clients.ECS, taskdef.Options{SkipLookup: true}).Ensure(ctx, td, taskdef.EnsureOptions{})
	if err != nil || !registered || arn == first {
		t.Errorf("Ensure with SkipLookup: %s registered %v err %v, want a second revision", arn, registered, err)
	}
	if n := w.Calls("ecs:ListTaskDefinitions"); n != lists {
		t.Errorf("SkipLookup listed revisions (%d calls, want %d)", n, lists)
	}

	// MatchLatestRevision is an explicit request to look: it still works.
	arn, registered, err = taskdef.NewRegistry(w.Clients.ECS, taskdef.Options{SkipLookup: true}).Ensure(ctx, td, taskdef.EnsureOptions{MatchLatestRevision: true})
	if err != nil || registered {
		t.Errorf("Ensure with SkipLookup and MatchLatestRevision: %s registered %v err %v, want reuse", arn, registered, err)
	}
	if n := w.Calls("ecs:RegisterTaskDefinition"); n != 2 {
		t.Errorf("%d registrations, want 2", n)
	}
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
