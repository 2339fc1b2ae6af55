package prefectfake_test

import (
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
)

// BenchmarkPoll measures one worker poll returning 50 runs, with and
// without the server checking its own responses.
func BenchmarkPoll(b *testing.B) {
	for _, skip := range []bool{false, true} {
		name := "checked"
		if skip {
			name = "unchecked"
		}
		b.Run(name, func(b *testing.B) {
			s := prefectfake.NewTestServer(b, prefectfake.Options{Now: newClock().Now, SkipResponseCheck: skip})
			depID, _ := seedRun(s)
			for range 49 {
				s.CreateFlowRun(depID, nil, time.Time{})
			}
			c := &client{t: b, base: s.URL()}
			body := map[string]any{"work_queue_names": []string{}, "scheduled_before": t0.Add(time.Minute).Format(time.RFC3339)}
			b.ResetTimer()
			for b.Loop() {
				c.must(200, "POST", "/work_pools/ecs-pool/get_scheduled_flow_runs", body)
			}
		})
	}
}
