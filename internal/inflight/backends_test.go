package inflight_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"

	"github.com/ecsworker/ecsworker/internal/awscreds"
	"github.com/ecsworker/ecsworker/internal/inflight"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/runreport"
	"github.com/ecsworker/ecsworker/internal/tracking"
)

// credsN is the n-th set of credentials of a pool.
func credsN(n int) awscreds.Credentials {
	return awscreds.Credentials{AccessKeyID: fmt.Sprintf("AKIAEXAMPLE%04d", n), SecretAccessKey: "secret", Region: "us-east-1"}
}

// TestBackendSharing: one backend per set of credentials, told apart by
// every field.
func TestBackendSharing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		a, b     awscreds.Credentials
		wantSame bool
	}{
		{name: "same credentials", a: credsN(1), b: credsN(1), wantSame: true},
		{name: "default chain", wantSame: true},
		{name: "other key", a: credsN(1), b: credsN(2)},
		{name: "other region", a: credsN(1), b: func() awscreds.Credentials { c := credsN(1); c.Region = "eu-west-1"; return c }()},
		{name: "other external id", a: awscreds.Credentials{AssumeRoleARN: "arn:aws:iam::1:role/r", AssumeRole: awscreds.AssumeRoleOptions{ExternalID: "a"}},
			b: awscreds.Credentials{AssumeRoleARN: "arn:aws:iam::1:role/r", AssumeRole: awscreds.AssumeRoleOptions{ExternalID: "b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, nil)
				a, b := h.backend(tt.a), h.backend(tt.b)
				if (a == b) != tt.wantSame {
					t.Fatalf("same backend: %v, want %v", a == b, tt.wantSame)
				}
				want := 2
				if tt.wantSame {
					want = 1
				}
				if h.madeCount() != want {
					t.Fatalf("%d backends made, want %d", h.madeCount(), want)
				}
				if a.creds.Fingerprint() != tt.a.Fingerprint() {
					t.Fatalf("backend made with %+v, want %+v", a.creds, tt.a)
				}
				synctest.Wait()
				if _, _, _, running, _ := a.tracker.state(); running != 1 {
					t.Fatalf("tracker runs %d times, want once", running)
				}
			})
		})
	}
}

func TestBackendError(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		h.backendErr = errOutage
		if b, release, err := h.runs.Backend(h.ctx, credsN(1)); !errors.Is(err, errOutage) || b != nil || release != nil {
			t.Fatalf("Backend() = %v, %v, %v; want the factory's error", b, release != nil, err)
		}
		h.backendErr = nil
		h.backend(credsN(1))
		if h.madeCount() != 1 {
			t.Fatalf("%d backends made, want 1 after the failure", h.madeCount())
		}
	})
}

// TestBackendRace: two callers make the same credentials' backend at
// once; both get the first one kept, the other is dropped unstarted.
func TestBackendRace(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		var inner *fakeBackend
		h.onBackend = func(creds awscreds.Credentials) {
			h.onBackend = nil // the other caller, while this one is making it
			inner = h.backend(creds)
		}
		outer := h.backend(credsN(1))
		synctest.Wait()
		if outer != inner || h.madeCount() != 2 {
			t.Fatalf("callers got different backends (%p, %p), %d made", outer, inner, h.madeCount())
		}
		h.mu.Lock()
		dropped := h.backends[1]
		h.mu.Unlock()
		if dropped == inner {
			dropped = h.backends[0]
		}
		if _, _, _, running, ended := dropped.tracker.state(); running+ended != 0 {
			t.Fatal("the dropped backend's tracker was started")
		}
	})
}

// TestBackendNotStarted: before Start, backends follow nothing by
// themselves.
func TestBackendNotStarted(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		api := newFakePrefect()
		h := &harness{t: t}
		runs := inflight.New(inflight.Options{API: api, Report: runreport.New(api, runreport.Options{}), Backends: h.makeBackend})
		b, release, err := runs.Backend(context.Background(), credsN(1))
		if err != nil {
			t.Fatal(err)
		}
		release()
		synctest.Wait()
		if _, _, _, running, _ := h.fake(b).tracker.state(); running != 0 {
			t.Fatal("a tracker runs before Start")
		}
	})
}

// TestBackendEviction: with 32 sets of credentials in use, a 33rd drops
// the least recently used backend that follows no task and that nobody
// holds; its tracker stops. Backends in use are never dropped.
func TestBackendEviction(t *testing.T) {
	t.Parallel()
	const full = 32
	tests := []struct {
		name string
		// before runs after the first 32 backends are made, released, in
		// order 0..31; first holds their fakes.
		before      func(h *harness, first []*fakeBackend)
		wantEvicted int // -1: none
	}{
		{name: "least recently made", before: func(*harness, []*fakeBackend) {}, wantEvicted: 0},
		{name: "least recently used", before: func(h *harness, _ []*fakeBackend) {
			h.backend(credsN(0))
		}, wantEvicted: 1},
		{name: "following a task: kept", before: func(h *harness, first []*fakeBackend) {
			h.runs.Track(runID, pid, tracking.TaskRef{Cluster: cluster, TaskARN: taskARN, FlowRunID: runID}, first[0].b, nil, false)
		}, wantEvicted: 1},
		{name: "held: kept", before: func(h *harness, _ []*fakeBackend) {
			if _, _, err := h.runs.Backend(h.ctx, credsN(0)); err != nil { // never released
				h.t.Fatal(err)
			}
		}, wantEvicted: 1},
		{name: "task moved to another backend: evictable again", before: func(h *harness, first []*fakeBackend) {
			h.runs.Track(runID, pid, tracking.TaskRef{Cluster: cluster, TaskARN: taskARN, FlowRunID: runID}, first[0].b, nil, false)
			h.runs.Track(runID, pid, tracking.TaskRef{Cluster: cluster, TaskARN: task2, FlowRunID: runID}, first[5].b, nil, false)
		}, wantEvicted: 0},
		{name: "task taken over by a run on another backend: evictable again", before: func(h *harness, first []*fakeBackend) {
			h.runs.Track(runID, pid, tracking.TaskRef{Cluster: cluster, TaskARN: taskARN, FlowRunID: runID}, first[0].b, nil, false)
			h.runs.Track(run2, pid, tracking.TaskRef{Cluster: cluster, TaskARN: taskARN, FlowRunID: run2}, first[5].b, nil, false)
		}, wantEvicted: 0},
		{name: "task stopped: evictable again", before: func(h *harness, first []*fakeBackend) {
			h.runs.Track(runID, pid, tracking.TaskRef{Cluster: cluster, TaskARN: taskARN, FlowRunID: runID}, first[0].b, nil, false)
			h.update(first[0], stoppedUpdate(taskARN, nil))
		}, wantEvicted: 0},
		{name: "every one busy: none dropped", before: func(h *harness, first []*fakeBackend) {
			for i, fb := range first {
				arn := fmt.Sprintf("arn:aws:ecs:us-east-1:123456789012:task/prod/%02d", i)
				id := fmt.Sprintf("run-%02d", i)
				h.runs.Track(id, cluster+"::"+arn, tracking.TaskRef{Cluster: cluster, TaskARN: arn, FlowRunID: id}, fb.b, nil, false)
			}
		}, wantEvicted: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, nil)
				h.api.setRun(flowRun(runID, prefect.StateCompleted))
				var first []*fakeBackend
				for i := range full {
					first = append(first, h.backend(credsN(i)))
				}
				tt.before(h, first)
				h.backend(credsN(full))
				synctest.Wait()
				var ended []int
				for i, fb := range first {
					if _, _, _, _, n := fb.tracker.state(); n > 0 {
						ended = append(ended, i)
					}
				}
				var want []int
				if tt.wantEvicted >= 0 {
					want = []int{tt.wantEvicted}
				}
				if !slices.Equal(ended, want) {
					t.Fatalf("trackers stopped: %v, want %v", ended, want)
				}
				// The ones kept are handed out again; the dropped one is
				// made anew.
				made := h.madeCount()
				for i, fb := range first {
					if i == tt.wantEvicted {
						continue
					}
					if again := h.backend(credsN(i)); again != fb {
						t.Fatalf("backend %d was made again", i)
					}
				}
				if h.madeCount() != made {
					t.Fatalf("%d backends made again", h.madeCount()-made)
				}
				if tt.wantEvicted >= 0 {
					if again := h.backend(credsN(tt.wantEvicted)); again == first[tt.wantEvicted] {
						t.Fatal("the dropped backend is still handed out")
					}
				}
			})
		})
	}
}
