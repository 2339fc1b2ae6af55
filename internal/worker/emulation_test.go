package worker_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/ecsworker/ecsworker/internal/taskdef"
)

// Config.TaskDefinitionOptions and Config.TrackerBatchSize reach the AWS
// adapter: with the Python worker's call pattern, each run after the first
// costs a DescribeTaskDefinition and each task its own DescribeTasks.
func TestPythonCallPatternKnobs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, map[string]any{"image": "etl:long"})
		cfg := e.config("w1")
		cfg.TaskDefinitionOptions = taskdef.Options{DescribeOnHit: true}
		cfg.TrackerBatchSize = 1
		stop := e.start(cfg)
		defer stop()
		var ids []string
		for range 3 {
			id := e.run(nil)
			ids = append(ids, id)
			e.waitFor("the run's task", 5*time.Minute, func() bool { return len(e.tasksOf(id)) == 1 })
		}
		calls := e.aws.Calls()
		if n := calls["ecs:RegisterTaskDefinition"]; n != 1 {
			t.Errorf("%d registrations, want 1", n)
		}
		// One for the first run's lookup of the family's latest revision,
		// then one per run answered from the cache.
		if n := calls["ecs:DescribeTaskDefinition"]; n != 3 {
			t.Errorf("%d DescribeTaskDefinition calls for a lookup and 2 runs answered from the cache, want 3", n)
		}
		before := calls["ecs:DescribeTasks"]
		time.Sleep(cfg.TrackInterval) // fake time: one tracking poll
		synctest.Wait()
		if n := e.aws.Calls()["ecs:DescribeTasks"] - before; n != len(ids) {
			t.Errorf("%d DescribeTasks calls in one poll of %d tasks with TrackerBatchSize 1, want %d", n, len(ids), len(ids))
		}
	})
}

func TestDefaultCallPattern(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, map[string]any{"image": "etl:long"})
		cfg := e.config("w1")
		stop := e.start(cfg)
		defer stop()
		for range 3 {
			id := e.run(nil)
			e.waitFor("the run's task", 5*time.Minute, func() bool { return len(e.tasksOf(id)) == 1 })
		}
		// The first run looks at the family's latest revision (there is
		// none, so nothing is listed); runs answered from the cache make no
		// call.
		if d, l := e.aws.Calls()["ecs:DescribeTaskDefinition"], e.aws.Calls()["ecs:ListTaskDefinitions"]; d != 1 || l != 0 {
			t.Errorf("%d DescribeTaskDefinition and %d ListTaskDefinitions calls; want 1 lookup and no listing", d, l)
		}
		before := e.aws.Calls()["ecs:DescribeTasks"]
		time.Sleep(cfg.TrackInterval) // fake time: one tracking poll
		synctest.Wait()
		if n := e.aws.Calls()["ecs:DescribeTasks"] - before; n != 1 {
			t.Errorf("%d DescribeTasks calls in one poll of 3 tasks, want 1", n)
		}
	})
}
