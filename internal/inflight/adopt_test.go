package inflight_test

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ecsworker/ecsworker/internal/awscreds"
	"github.com/ecsworker/ecsworker/internal/ecsjob"
	"github.com/ecsworker/ecsworker/internal/inflight"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectapi"
	"github.com/ecsworker/ecsworker/internal/prefectpool"
	"github.com/ecsworker/ecsworker/internal/tracking"
)

// jobWith is the pool's default job with the deployment's variables vars
// (JSON).
func jobWith(t *testing.T, vars string) ecsjob.Job {
	t.Helper()
	v, err := jsonv.DecodeObject([]byte(vars))
	if err != nil {
		t.Fatal(err)
	}
	return ecsjob.Job{Template: ecsjob.DefaultTemplate(), DeploymentVariables: v}
}

func TestAdopt(t *testing.T) {
	t.Parallel()
	eu := awscreds.Credentials{AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "secret", Region: "eu-west-1"}
	tests := []struct {
		name       string
		state      prefect.StateType
		pid        string // default pid
		followed   bool   // the run's task is followed already
		kept       bool   // the run's stop is still to be reported
		submitting bool
		vars       string // the deployment's job variables; "-": no job
		backendErr error

		want          bool
		wantCreds     awscreds.Credentials
		wantContainer string
		wantStarted   bool
		wantWarn      bool
	}{
		{name: "adopted", state: prefect.StatePending, vars: `{}`, want: true, wantContainer: "prefect"},
		{name: "with the job's credentials and container", state: prefect.StatePending,
			vars: `{"container_name": "flow", "aws_credentials": {"aws_access_key_id": "AKIAEXAMPLE", "aws_secret_access_key": "secret", "region_name": "eu-west-1"}}`,
			want: true, wantCreds: eu, wantContainer: "flow"},
		{name: "credentials unreadable: default chain", state: prefect.StatePending,
			vars: `{"aws_credentials": {"$ref": {"block_document_id": "123"}}}`, want: true, wantContainer: "prefect"},
		{name: "running flow: its task counts as started", state: prefect.StateRunning, vars: `{}`,
			want: true, wantContainer: "prefect", wantStarted: true},
		{name: "followed already", state: prefect.StatePending, followed: true, vars: `{}`},
		{name: "stop still to report", state: prefect.StatePending, kept: true, vars: `{}`},
		{name: "being submitted", state: prefect.StatePending, submitting: true, vars: `{}`},
		{name: "bad identifier", state: prefect.StatePending, pid: "i-0123", vars: `{}`},
		{name: "no job", state: prefect.StatePending, vars: "-"},
		{name: "no backend", state: prefect.StatePending, vars: `{}`, backendErr: errOutage, wantWarn: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var jobsAsked []string
				h := newHarness(t, func(o *inflight.Options) {
					o.Submitting = func(id string) bool { return tt.submitting && id == runID }
					o.Job = func(_ context.Context, fr prefect.FlowRun) (ecsjob.Job, bool) {
						jobsAsked = append(jobsAsked, fr.ID)
						if tt.vars == "-" {
							return ecsjob.Job{}, false
						}
						return jobWith(t, tt.vars), true
					}
				})
				if tt.followed || tt.kept {
					fb := h.track(runID, taskARN, nil, false)
					if tt.kept {
						h.api.setReadErr(errOutage)
						h.update(fb, stoppedUpdate(taskARN, nil))
						h.api.setReadErr(nil)
					}
				}
				made := h.madeCount()
				h.backendErr = tt.backendErr
				fr := flowRun(runID, tt.state)
				if tt.pid != "" {
					fr.InfrastructurePID = tt.pid
				}

				if got := h.runs.Adopt(h.ctx, fr); got != tt.want {
					t.Fatalf("Adopt() = %v, want %v", got, tt.want)
				}
				if _, warned := h.log.Find("cannot follow the task of a run in flight"); warned != tt.wantWarn {
					t.Errorf("warning logged: %v, want %v", warned, tt.wantWarn)
				}
				if !tt.want {
					if h.madeCount() != made && !tt.followed && !tt.kept {
						t.Error("a backend was made for a run not adopted")
					}
					if (tt.followed || tt.kept || tt.submitting) && len(jobsAsked) != 0 {
						t.Error("the job of a known run was rendered")
					}
					if !tt.followed && !tt.kept && h.runs.Has(runID) {
						t.Error("the run is followed")
					}
					return
				}
				if !h.runs.Following(runID) || h.madeCount() != made+1 {
					t.Fatalf("the run is not followed, or not on its own backend (%d made)", h.madeCount()-made)
				}
				h.mu.Lock()
				fb := h.backends[len(h.backends)-1]
				h.mu.Unlock()
				if fb.creds.Fingerprint() != tt.wantCreds.Fingerprint() {
					t.Errorf("backend for %v, want %v", fb.creds, tt.wantCreds)
				}
				tracked, _, _, _, _ := fb.tracker.state()
				wantRef := tracking.TaskRef{Cluster: cluster, TaskARN: taskARN, FlowRunID: runID, ContainerName: tt.wantContainer}
				if !slices.Equal(tracked, []tracking.TaskRef{wantRef}) {
					t.Errorf("tracking %+v, want %+v", tracked, wantRef)
				}

				// A cancellation stops a task whose flow has not started.
				fr.StateType = prefect.StateCancelling
				fr.StartTime = prefectapi.Time{Time: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
				h.runs.Cancel(h.ctx, fr)
				if stopped := len(fb.ecs.stops) == 1; stopped == tt.wantStarted {
					t.Errorf("task stopped on cancellation: %v; want it seen as started: %v", stopped, tt.wantStarted)
				}
			})
		})
	}
}

func TestAdoptOrphaned(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	orphan := func(id, worker string, updated time.Duration) prefect.FlowRun {
		fr := flowRun(id, prefect.StateRunning)
		fr.InfrastructurePID = cluster + "::arn:aws:ecs:us-east-1:123456789012:task/prod/" + id
		fr.Updated = prefectapi.Time{Time: now.Add(-updated)}
		if worker != "" {
			fr.Labels = jsonv.ObjectOf("prefect.worker.name", worker)
		}
		return fr
	}
	noPID := orphan("no-pid", "", time.Hour)
	noPID.InfrastructurePID = ""
	badPID := orphan("bad-pid", "", time.Hour)
	badPID.InfrastructurePID = "garbage"
	all := []prefect.FlowRun{
		noPID,
		orphan("recent", "", 30*time.Second),
		orphan("followed", "", time.Hour),
		orphan("online-worker", "worker-2", time.Hour),
		orphan("this-worker", "worker-1", time.Hour),
		orphan("offline-worker", "worker-3", time.Hour),
		orphan("unlabelled", "", time.Minute),
		badPID,
	}
	tests := []struct {
		name       string
		runs       []prefect.FlowRun
		workersErr error

		want        int
		wantAdopted []string
		wantAsked   bool // the pool's online workers were asked for
	}{
		{name: "offline and unknown workers' runs", runs: all, want: 2, wantAdopted: []string{"offline-worker", "unlabelled"}, wantAsked: true},
		{name: "no candidates: Prefect not asked", runs: all[:3]},
		{name: "workers unknown: nothing adopted", runs: all, workersErr: errOutage, wantAsked: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, func(o *inflight.Options) {
					o.Now = func() time.Time { return now }
					o.Job = func(context.Context, prefect.FlowRun) (ecsjob.Job, bool) { return jobWith(t, `{}`), true }
				})
				h.api.workers = []prefectpool.Worker{{Name: "worker-2", Status: "ONLINE"}}
				h.api.workersErr = tt.workersErr
				h.track("followed", "arn:aws:ecs:us-east-1:123456789012:task/prod/followed", nil, false)

				if got := h.runs.AdoptOrphaned(h.ctx, "my-pool", tt.runs); got != tt.want {
					t.Fatalf("AdoptOrphaned() = %d, want %d", got, tt.want)
				}
				var adopted []string
				for _, fr := range all {
					if fr.ID != "followed" && h.runs.Following(fr.ID) {
						adopted = append(adopted, fr.ID)
					}
				}
				if !slices.Equal(adopted, tt.wantAdopted) {
					t.Errorf("adopted %v, want %v", adopted, tt.wantAdopted)
				}
				h.api.mu.Lock()
				pools, filters := h.api.pools, h.api.filters
				h.api.mu.Unlock()
				if !tt.wantAsked {
					if len(pools) != 0 {
						t.Errorf("workers asked for %v", pools)
					}
					return
				}
				if !slices.Equal(pools, []string{"my-pool"}) || len(filters) != 1 || !slices.Equal(filters[0].Statuses, []string{"ONLINE"}) {
					t.Errorf("workers asked for %v with %+v, want my-pool's online workers once", pools, filters)
				}
			})
		})
	}
}
