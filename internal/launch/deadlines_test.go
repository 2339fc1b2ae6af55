package launch_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awsclient/awsclienttest"
	"github.com/ecsworker/ecsworker/internal/awserr"
	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
	"github.com/ecsworker/ecsworker/internal/launch"
)

// A hung RunTask is abandoned, and launching again with the same client
// token once AWS answers starts exactly one task.
func TestHungRunTaskIsResumedWithTheSameToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := awsclienttest.NewWorld(t, awsclienttest.Options{InProcess: true, Retries: 3,
			Timeouts: awsclient.CallTimeouts{Attempt: 10 * time.Second, Total: 25 * time.Second}})
		w.Srv.CreateCluster("prod")
		w.Srv.InjectFault(awsfake.Fault{Service: "ecs", Action: "RunTask", Hang: true})
		l := newLauncher(w, nil, launch.Options{ThrottleRetries: -1, CapacityRetries: -1})
		plan := fargatePlan("prefect_pool_hang", "prod", "run-1")
		token := launch.ClientToken("run-1", "claim-1")
		_, err := l.Launch(context.Background(), plan, token)
		if awserr.KindOf(err) != awserr.KindTransient {
			t.Fatalf("hung RunTask: %v (kind %s), want a transient error", err, awserr.KindOf(err))
		}
		w.Srv.ClearFaults()
		got, err := l.Launch(context.Background(), plan, token)
		if err != nil {
			t.Fatal(err)
		}
		again, err := l.Launch(context.Background(), plan, token)
		if err != nil || again.TaskARN != got.TaskARN {
			t.Errorf("a repeated launch got %v, %v; want the same task %s", again, err, got.TaskARN)
		}
		if n := len(w.Srv.Tasks()); n != 1 {
			t.Errorf("%d tasks, want 1", n)
		}
	})
}
