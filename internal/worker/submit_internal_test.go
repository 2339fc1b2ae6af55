package worker

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ecsworker/ecsworker/internal/awsclient/awsclienttest"
	"github.com/ecsworker/ecsworker/internal/launch"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectapi"
	"github.com/ecsworker/ecsworker/internal/prefectdeploy"
	"github.com/ecsworker/ecsworker/internal/prefecterr"
)

var unitNow = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func launchedTask() *launch.Launched {
	return &launch.Launched{
		TaskARN: unitTask, ClusterARN: "arn:aws:ecs:us-east-1:123456789012:cluster/prefect",
		Identifier:        "prefect::" + unitTask,
		TaskDefinitionARN: "arn:aws:ecs:us-east-1:123456789012:task-definition/prefect_ecs-pool:3",
	}
}

// TestLaunchClaimedSteps covers every way the steps after the claim end:
// what Prefect is told (a Crashed state and its message, or nothing), the
// task recorded, and the outcome counted.
func TestLaunchClaimedSteps(t *testing.T) {
	t.Parallel()
	const crashPrefix = "Failed to submit flow run to infrastructure: "
	tests := []struct {
		name       string
		vars       string
		noTemplate bool
		api        *fakePrefect
		launcher   *fakeLauncher
		tds        fakeTaskDefinitions
		backendErr error
		claimedAgo time.Duration // how long ago the run was claimed
		stopping   bool          // the worker's stop cancelled the submission

		wantCrash   string // the Crashed state's message; "" for none
		wantOutcome string // the submissions counter's outcome; "" for none
		wantEvent   string // the last Notify event
		wantPID     bool   // the task was recorded on the run
	}{
		{
			name:        "launched and recorded",
			launcher:    &fakeLauncher{launched: launchedTask()},
			wantOutcome: "submitted", wantEvent: "submitted", wantPID: true,
		},
		{
			name:        "the pool's template cannot be read",
			noTemplate:  true,
			wantCrash:   crashPrefix + "the work pool's base job template cannot be read; fix it with 'ecsworker work-pool update ecs-pool --base-job-template FILE'.",
			wantOutcome: "crashed", wantEvent: "submission-crashed",
		},
		{
			name:        "a job variable the template refuses",
			vars:        `{"cpu": "lots"}`,
			wantCrash:   crashPrefix + `invalid ECS job configuration: cpu = "lots"`,
			wantOutcome: "crashed", wantEvent: "submission-crashed",
		},
		{
			name:        "no AWS clients for the job's credentials",
			backendErr:  errors.New("no region: set region_name in aws_credentials"),
			wantCrash:   crashPrefix + "AWS clients: no region: set region_name in aws_credentials",
			wantOutcome: "crashed", wantEvent: "submission-crashed",
		},
		{
			name:        "the named task definition cannot be described: left to RunTask",
			vars:        `{"task_definition_arn": "arn:aws:ecs:us-east-1:123456789012:task-definition/mine:1"}`,
			tds:         fakeTaskDefinitions{err: awsclienttest.Answer("DescribeTaskDefinition", "AccessDeniedException", "AccessDeniedException"+" from the test", 400)},
			launcher:    &fakeLauncher{launched: launchedTask()},
			wantOutcome: "submitted", wantEvent: "submitted", wantPID: true,
		},
		{
			name:        "the named task definition does not exist",
			vars:        `{"task_definition_arn": "arn:aws:ecs:us-east-1:123456789012:task-definition/mine:1"}`,
			tds:         fakeTaskDefinitions{err: awsclienttest.Answer("DescribeTaskDefinition", "ClientException", "ClientException"+" from the test", 400)},
			wantCrash:   crashPrefix + "read task definition arn:aws:ecs:us-east-1:123456789012:task-definition/mine:1:",
			wantOutcome: "crashed", wantEvent: "submission-crashed",
		},
		{
			name:        "the claim label cannot be recorded for now",
			api:         &fakePrefect{labelsErr: prefectAnswer(503)},
			wantOutcome: "deferred", wantEvent: "submission-deferred",
		},
		{
			name:        "Prefect refuses the claim label",
			api:         &fakePrefect{labelsErr: prefectAnswer(422)},
			wantCrash:   crashPrefix + "update flow run labels: PATCH /flow_runs/" + unitRunID + "/labels: 422",
			wantOutcome: "crashed", wantEvent: "submission-crashed",
		},
		{
			name:        "RunTask throttled",
			launcher:    &fakeLauncher{err: awsclienttest.Answer("RunTask", "ThrottlingException", "ThrottlingException"+" from the test", 400)},
			wantOutcome: "deferred", wantEvent: "submission-deferred",
		},
		{
			name:        "RunTask throttled for over an hour since the claim",
			launcher:    &fakeLauncher{err: awsclienttest.Answer("RunTask", "ThrottlingException", "ThrottlingException"+" from the test", 400)},
			claimedAgo:  2 * time.Hour,
			wantCrash:   crashPrefix,
			wantOutcome: "crashed", wantEvent: "submission-crashed",
		},
		{
			name:        "RunTask refused",
			launcher:    &fakeLauncher{err: awsclienttest.Answer("RunTask", "InvalidParameterException", "InvalidParameterException"+" from the test", 400)},
			wantCrash:   crashPrefix,
			wantOutcome: "crashed", wantEvent: "submission-crashed",
		},
		{
			name:     "RunTask refused, but another worker recorded the run's task",
			launcher: &fakeLauncher{err: awsclienttest.Answer("RunTask", "InvalidParameterException", "InvalidParameterException"+" from the test", 400)},
			api:      &fakePrefect{current: &prefect.FlowRun{ID: unitRunID, InfrastructurePID: "prefect::" + unitTask}},
		},
		{
			name:     "RunTask refused while the worker stops: left to the next worker",
			launcher: &fakeLauncher{err: awsclienttest.Answer("RunTask", "InvalidParameterException", "InvalidParameterException"+" from the test", 400)},
			stopping: true,
		},
		{
			name:        "the crash report does not reach Prefect",
			launcher:    &fakeLauncher{err: awsclienttest.Answer("RunTask", "InvalidParameterException", "InvalidParameterException"+" from the test", 400)},
			api:         &fakePrefect{stateErr: prefectAnswer(503)},
			wantCrash:   crashPrefix,
			wantOutcome: "crashed", wantEvent: "submission-crashed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api := tt.api
			if api == nil {
				api = &fakePrefect{}
			}
			vars := tt.vars
			if vars == "" {
				vars = `{"cluster": "prefect"}`
			}
			l := tt.launcher
			if l == nil {
				l = &fakeLauncher{launched: launchedTask()}
			}
			w := newUnitWorker(t, api, backendWith(l, tt.tds), tt.backendErr, unitNow)
			if tt.noTemplate {
				w.tmpl = nil
			}
			run := scheduledRun(t, vars)
			run.State = &prefect.State{Type: prefect.StatePending, Name: "Pending", Timestamp: prefectapi.Time{Time: unitNow.Add(-tt.claimedAgo)}}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.stopping {
				cancel()
			}

			w.launchClaimed(ctx, run, nil, "claim-1", 0)

			states, pids, labels := api.recorded()
			var crash string
			for _, s := range states {
				if s.Type == prefect.StateCrashed {
					crash = s.Message
				}
			}
			switch {
			case tt.wantCrash == "" && crash != "":
				t.Errorf("crashed with %q, want no crash", crash)
			case tt.wantCrash != "" && !strings.HasPrefix(crash, tt.wantCrash):
				t.Errorf("crash message = %q, want it to start with %q", crash, tt.wantCrash)
			}
			for _, outcome := range []string{"submitted", "crashed", "deferred"} {
				want := 0.0
				if outcome == tt.wantOutcome {
					want = 1
				}
				if got := counterValue(t, w.metrics.submissions.WithLabelValues(outcome)); got != want {
					t.Errorf("submissions{outcome=%s} = %v, want %v", outcome, got, want)
				}
			}
			events := w.events.list()
			if tt.wantEvent == "" && len(events) > 0 {
				t.Errorf("events %v, want none", events)
			}
			if tt.wantEvent != "" && (len(events) == 0 || events[len(events)-1] != tt.wantEvent) {
				t.Errorf("events %v, want the last to be %s", events, tt.wantEvent)
			}
			if got := slices.Contains(pids, launchedTask().Identifier); got != tt.wantPID {
				t.Errorf("task recorded on the run = %v (%v), want %v", got, pids, tt.wantPID)
			}
			if tt.wantPID {
				if refs := w.tracker.refs(); len(refs) != 1 || refs[0].TaskARN != unitTask || refs[0].FlowRunID != unitRunID {
					t.Errorf("tracked %+v, want the run's task", refs)
				}
				if labels["ecsworker.io/claim"] != "claim-1" || labels["prefect.worker.name"] != "unit-worker" {
					t.Errorf("labels %v, want the claim and the worker", labels)
				}
				if got := l.tokens; len(got) != 1 || got[0] != launch.ClientToken(unitRunID, "claim-1") {
					t.Errorf("client tokens %v, want the claim's", got)
				}
			}
			if tt.wantOutcome == "deferred" && l.calls() > 1 {
				t.Errorf("RunTask called %d times for a deferred run", l.calls())
			}
		})
	}
}

// TestSubmitBeforeTheClaim covers what happens before a run is claimed:
// its deployment gone or unreadable, and a claim another worker won.
func TestSubmitBeforeTheClaim(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		api         *fakePrefect
		wantState   string // the forced state's message
		wantOutcome string
		wantEvent   string
	}{
		{
			name:        "the deployment was deleted",
			api:         &fakePrefect{deploymentErr: prefecterr.ErrNotFound},
			wantState:   "Deployment dep-1 no longer exists, cancelled run.",
			wantOutcome: "deployment_missing", wantEvent: "deployment-missing",
		},
		{
			name:        "the deployment cannot be read now",
			api:         &fakePrefect{deploymentErr: prefectAnswer(503)},
			wantOutcome: "deferred",
		},
		{
			name:      "another worker claimed the run",
			api:       &fakePrefect{deployment: &prefectdeploy.Deployment{ID: "dep-1"}, claimAnswer: &prefect.OrchestrationResult{Status: prefect.StatusAbort}},
			wantEvent: "not-claimed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api := tt.api
			if api == nil {
				api = &fakePrefect{}
			}
			l := &fakeLauncher{launched: launchedTask()}
			w := newUnitWorker(t, api, backendWith(l, fakeTaskDefinitions{}), nil, unitNow)
			run := scheduledRun(t, `{}`)
			run.DeploymentID = "dep-1"

			w.submit(context.Background(), run)

			states, _, _ := api.recorded()
			var forced string
			for _, s := range states {
				forced = s.Message
			}
			if forced != tt.wantState {
				t.Errorf("state message %q, want %q", forced, tt.wantState)
			}
			if tt.wantOutcome != "" {
				if got := counterValue(t, w.metrics.submissions.WithLabelValues(tt.wantOutcome)); got != 1 {
					t.Errorf("submissions{outcome=%s} = %v, want 1", tt.wantOutcome, got)
				}
			}
			if events := w.events.list(); tt.wantEvent != "" && !slices.Contains(events, tt.wantEvent) {
				t.Errorf("events %v, want %s", events, tt.wantEvent)
			}
			if l.calls() != 0 {
				t.Errorf("RunTask called %d times for a run that was not claimed", l.calls())
			}
		})
	}
}

// TestRecordRetriesInTheBackground: a task that could not be put on record
// is retried until Prefect takes it, without holding the submission.
func TestRecordRetriesInTheBackground(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		api := &fakePrefect{pidErr: []error{prefectAnswer(503), prefectAnswer(503)}}
		w := newUnitWorker(t, api, backendWith(&fakeLauncher{launched: launchedTask()}, fakeTaskDefinitions{}), nil, unitNow)

		w.launchClaimed(context.Background(), scheduledRun(t, `{"cluster": "prefect"}`), nil, "claim-1", 0)
		if _, pids, _ := api.recorded(); len(pids) != 1 {
			t.Fatalf("%d records before the retries, want 1", len(pids))
		}
		time.Sleep(5 * time.Second) // the first retry's wait, in the bubble's fake time
		synctest.Wait()
		if _, pids, _ := api.recorded(); len(pids) != 2 {
			t.Fatalf("%d records after 5s, want 2", len(pids))
		}
		time.Sleep(10 * time.Second) // the wait doubles
		synctest.Wait()
		if _, pids, _ := api.recorded(); len(pids) != 3 {
			t.Fatalf("%d records after 15s, want 3 (the last accepted)", len(pids))
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if _, pids, _ := api.recorded(); len(pids) != 3 {
			t.Fatalf("%d records, want no more once Prefect took it", len(pids))
		}
	})
}

// counterValue reads a counter the way a scrape does.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
