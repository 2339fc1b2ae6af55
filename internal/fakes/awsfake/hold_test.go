package awsfake_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"testing/synctest"

	"github.com/aws/aws-sdk-go-v2/service/ecs"

	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
)

// waitHolding polls Holding over real sockets, where synctest cannot
// tell when the call has arrived.
func waitHolding(t *testing.T, s *awsfake.Server, n int) {
	t.Helper()
	for s.Holding() != n {
		if t.Context().Err() != nil {
			t.Fatalf("Holding() = %d, want %d", s.Holding(), n)
		}
		runtime.Gosched()
	}
}

func TestHoldOverSockets(t *testing.T) {
	t.Parallel()
	e := newEnv(t, awsfake.Options{})
	e.cluster(t, "c")
	e.register(t, fargateTD("f"))
	release := e.s.Hold("ecs", "RunTask")

	type result struct {
		out *ecs.RunTaskOutput
		err error
	}
	done := make(chan result, 2)
	for range 2 {
		go func() {
			out, err := e.ecs.RunTask(e.ctx, e.fargateRun("c", "f"))
			done <- result{out, err}
		}()
	}
	waitHolding(t, e.s, 2)
	// Held calls are counted, have launched nothing, and hold up nobody.
	if n := e.s.Calls()["ecs:RunTask"]; n != 2 {
		t.Errorf("Calls()[ecs:RunTask] = %d while held", n)
	}
	if _, err := e.ecs.ListClusters(e.ctx, &ecs.ListClustersInput{}); err != nil {
		t.Errorf("ListClusters during the hold: %v", err)
	}
	if n := len(e.s.Tasks()); n != 0 {
		t.Errorf("%d tasks launched by held calls", n)
	}

	release()
	release() // idempotent
	for range 2 {
		if r := <-done; r.err != nil || len(r.out.Tasks) != 1 {
			t.Errorf("released RunTask: %+v, %v", r.out, r.err)
		}
	}
	if e.s.Holding() != 0 {
		t.Errorf("Holding() = %d after release", e.s.Holding())
	}
	// New calls are not held after release.
	if _, err := e.ecs.RunTask(e.ctx, e.fargateRun("c", "f")); err != nil {
		t.Errorf("RunTask after release: %v", err)
	}
}

func TestHoldInBubble(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newBubbleEnv(t, awsfake.Options{})
		e.cluster(t, "c")
		release := e.s.Hold("", "DescribeClusters")
		defer release()

		// A held call ends when the client gives up.
		ctx, cancel := context.WithCancel(e.ctx)
		errc := make(chan error, 1)
		go func() {
			_, err := e.ecs.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"c"}})
			errc <- err
		}()
		synctest.Wait()
		if n := e.s.Holding(); n != 1 {
			t.Fatalf("Holding() = %d, want 1", n)
		}
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("abandoned held call = %v", err)
		}
		synctest.Wait()
		if n := e.s.Holding(); n != 0 {
			t.Errorf("Holding() = %d after the client left", n)
		}

		// Closing the server lets held calls go with an error.
		go func() {
			_, err := e.ecs.DescribeClusters(e.ctx, &ecs.DescribeClustersInput{Clusters: []string{"c"}}, once)
			errc <- err
		}()
		synctest.Wait()
		e.s.Close()
		if err := <-errc; apiCode(err) != "ServiceUnavailable" {
			t.Errorf("held call on close = %v", err)
		}
	})
}

func TestHoldThenRelease(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newBubbleEnv(t, awsfake.Options{})
		e.cluster(t, "c")
		release := e.s.Hold("ecs", "ListClusters")
		var out *ecs.ListClustersOutput
		var err error
		finished := make(chan struct{})
		go func() {
			out, err = e.ecs.ListClusters(e.ctx, &ecs.ListClustersInput{})
			close(finished)
		}()
		synctest.Wait()
		// Cluster created while the call waits: the released call sees it.
		e.s.CreateCluster("late")
		release()
		<-finished
		if err != nil || len(out.ClusterArns) != 2 || out.ClusterArns[1] != "arn:aws:ecs:us-east-1:123456789012:cluster/late" {
			t.Errorf("released ListClusters = %+v, %v", out, err)
		}
	})
}
