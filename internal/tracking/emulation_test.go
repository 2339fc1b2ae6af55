package tracking_test

import (
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ecsworker/ecsworker/internal/tracking"
)

// BatchSize makes the tracker call AWS as the Python worker's legacy
// watch loop does, for benchmarks; its default must leave behaviour
// unchanged.

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
			tr, _ := startTracker(t, m, tracking.Options{BatchSize: tc.batch})
			for i := range 5 {
				arn := memARN("prod", i)
				m.set(arn, "RUNNING", 1)
				tr.Track(tracking.TaskRef{Cluster: "prod", TaskARN: arn})
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
		tr, _ := startTracker(t, m, tracking.Options{BatchSize: 250})
		for i := range 250 {
			arn := memARN("prod", i)
			m.set(arn, "RUNNING", 1)
			tr.Track(tracking.TaskRef{Cluster: "prod", TaskARN: arn})
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
