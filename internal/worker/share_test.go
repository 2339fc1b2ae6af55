package worker_test

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/worker"
)

// shareGauge reads ecsworker_aws_budget_share_workers from the worker's
// registry, as /metrics shows it.
func shareGauge(t *testing.T, w *worker.Worker) float64 {
	t.Helper()
	mfs, err := w.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "ecsworker_aws_budget_share_workers" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no ecsworker_aws_budget_share_workers metric")
	return 0
}

func TestReplicasShareTheAWSBudget(t *testing.T) {
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d workers", n), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, nil)
				type replica struct {
					w      *worker.Worker
					budget *awsclient.Budget
					stop   func()
				}
				var rs []replica
				for i := range n {
					// Each replica is its own process: its own factory, so
					// its own budget.
					f := awsclient.NewFactory(awsclient.FactoryOptions{HTTPClient: e.aws.HTTPClient(), BaseEndpoint: e.aws.URL()})
					cfg := e.config(fmt.Sprintf("w%d", i+1))
					cfg.HeartbeatInterval = 10 * time.Second
					w, err := worker.New(cfg, e.api, f)
					if err != nil {
						t.Fatal(err)
					}
					stop := e.startWith(w)
					rs = append(rs, replica{w: w, budget: f.Budget(), stop: stop})
				}
				stopped := false
				defer func() {
					for i, r := range rs {
						if !stopped || i < n-1 {
							r.stop()
						}
					}
				}()
				shares := func(k int) func() bool {
					return func() bool {
						for _, r := range rs[:k] {
							if r.budget.Share() != k || shareGauge(t, r.w) != float64(k) {
								return false
							}
						}
						return true
					}
				}
				// Started together, they agree within a few polls.
				e.waitFor(fmt.Sprintf("every worker to take a share of 1/%d", n), 15*time.Second, shares(n))
				want := awsclient.DefaultBudget()["ecs:RunTask"]
				if got := rs[0].budget.Buckets()["ecs:RunTask"]; got.Burst != want.Burst/n {
					t.Errorf("RunTask burst %d, want %d", got.Burst, want.Burst/n)
				}
				// A worker that stops heartbeating is OFFLINE after 3 ×
				// 10 s; the others take its share back at their next count.
				rs[n-1].stop()
				stopped = true
				e.waitFor(fmt.Sprintf("the %d others to take a share of 1/%d", n-1, n-1), time.Minute, shares(n-1))
			})
		})
	}
}
