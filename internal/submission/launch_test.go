package submission_test

import (
	"context"
	"maps"
	"slices"
	"testing"

	"github.com/ecsworker/ecsworker/internal/awsclient/awsclienttest"
	"github.com/ecsworker/ecsworker/internal/awserr"
	"github.com/ecsworker/ecsworker/internal/ecsrequest"
	"github.com/ecsworker/ecsworker/internal/launch"
	"github.com/ecsworker/ecsworker/internal/prefectpool"
	"github.com/ecsworker/ecsworker/internal/submission"
)

func claimed() submission.Claimed {
	return submission.Claimed{
		RunID: testRunID, ClaimID: "9d1f0c3a-claim", WorkerName: "worker-a", WorkerType: "ecs",
		Pool: &prefectpool.WorkPool{Name: "ecs-pool", ID: "pool-1"},
	}
}

func TestClaimedLabels(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		c    submission.Claimed
		want map[string]any
	}{
		{
			name: "a claimed run",
			c:    claimed(),
			want: map[string]any{
				"prefect.worker.name": "worker-a", "prefect.worker.type": "ecs",
				"prefect.work-pool.name": "ecs-pool", "prefect.work-pool.id": "pool-1",
				"ecsworker.io/claim": "9d1f0c3a-claim",
			},
		},
		{
			name: "a pool known by name only",
			c:    submission.Claimed{RunID: "r", ClaimID: "c", WorkerName: "w", WorkerType: "ecs", Pool: &prefectpool.WorkPool{Name: "p"}},
			want: map[string]any{
				"prefect.worker.name": "w", "prefect.worker.type": "ecs",
				"prefect.work-pool.name": "p", "prefect.work-pool.id": "",
				submission.ClaimLabel: "c",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.c.Labels(); !maps.Equal(got, tt.want) {
				t.Errorf("Labels = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLaunch(t *testing.T) {
	t.Parallel()
	labelsOp := "update flow run labels " + testRunID
	labelsPath := "/flow_runs/" + testRunID + "/labels"
	labelsURL := "http://prefect:4200/api" + labelsPath
	started := &launch.Launched{
		TaskARN: "arn:aws:ecs:us-east-1:123456789012:task/flows/abc", ClusterARN: "arn:aws:ecs:us-east-1:123456789012:cluster/flows",
		Identifier: "flows::arn:aws:ecs:us-east-1:123456789012:task/flows/abc", TaskDefinitionARN: testTDARN, Attempts: 1,
	}
	tests := []struct {
		name         string
		labelsErr    error
		launchErr    error
		wantKind     submission.Kind
		wantErr      string // "" for a launched task
		wantLaunches int
	}{
		{name: "labels recorded, task started", wantLaunches: 1},
		// Without the claim label on record no task is started.
		{
			name:      "Prefect unreachable for the labels",
			labelsErr: prefectRefused(labelsOp, "PATCH", labelsURL),
			wantKind:  submission.Retry,
			wantErr:   labelsOp + ": PATCH " + labelsURL + ": dial tcp: connect: connection refused (start the Prefect server, or correct the host and port in PREFECT_API_URL)",
		},
		{
			name:      "Prefect failing on the labels",
			labelsErr: prefectAnswer(labelsOp, "PATCH", labelsPath, 502, "Bad Gateway"),
			wantKind:  submission.Retry,
			wantErr:   labelsOp + ": PATCH " + labelsPath + ": 502 Bad Gateway: Bad Gateway",
		},
		{
			name:      "Prefect refusing the labels: the run is gone",
			labelsErr: prefectAnswer(labelsOp, "PATCH", labelsPath, 404, "Flow run not found"),
			wantKind:  submission.Crash,
			wantErr:   labelsOp + ": PATCH " + labelsPath + ": 404 Not Found: Flow run not found",
		},
		{
			name:      "Prefect refusing the labels as invalid",
			labelsErr: prefectAnswer(labelsOp, "PATCH", labelsPath, 422, "labels: Input should be a valid dictionary"),
			wantKind:  submission.Crash,
			wantErr:   labelsOp + ": PATCH " + labelsPath + ": 422 Unprocessable Entity: labels: Input should be a valid dictionary",
		},
		// The launcher's failures, as it explains them.
		{
			name:         "RunTask throttled",
			launchErr:    awserr.Explain("RunTask", awsclienttest.Answer("RunTask", "ThrottlingException", "Rate exceeded", 400), 5),
			wantKind:     submission.Retry,
			wantErr:      "RunTask failed after 5 attempts: Rate exceeded (ThrottlingException). AWS kept throttling the calls; lower the number of flow runs submitted at once, or ask AWS for a higher API rate quota",
			wantLaunches: 1,
		},
		{
			name:         "RunTask's connection broke",
			launchErr:    awserr.Explain("RunTask", awsclienttest.Unanswered("RunTask"), 3),
			wantKind:     submission.Retry,
			wantErr:      "RunTask failed after 3 attempts: operation error ECS: RunTask, request send failed, read tcp: read: connection reset by peer. This looks temporary (a server or network error, or no answer in time); it is retried on the next attempt",
			wantLaunches: 1,
		},
		{
			name:         "ECS failing on its side",
			launchErr:    awserr.Explain("RunTask", awsclienttest.Answer("RunTask", "ServerException", "Service Unavailable", 500), 3),
			wantKind:     submission.Retry,
			wantErr:      "RunTask failed after 3 attempts: Service Unavailable (ServerException). This looks temporary (a server or network error, or no answer in time); it is retried on the next attempt",
			wantLaunches: 1,
		},
		{
			name:         "ECS answering neither task nor failure",
			launchErr:    &awserr.LaunchError{Kind: awserr.KindTransient, Op: "RunTask", Attempts: 1, AWSMessage: "ECS returned neither a task nor a failure"},
			wantKind:     submission.Retry,
			wantErr:      "RunTask failed: ECS returned neither a task nor a failure",
			wantLaunches: 1,
		},
		{
			name:         "RunTask refused as it is",
			launchErr:    awserr.Explain("RunTask", awsclienttest.Answer("RunTask", "InvalidParameterException", "subnets can not be empty.", 400), 1),
			wantKind:     submission.Crash,
			wantErr:      "RunTask failed: subnets can not be empty. (InvalidParameterException)",
			wantLaunches: 1,
		},
		{
			name:         "RunTask denied",
			launchErr:    awserr.Explain("RunTask", awsclienttest.Answer("RunTask", "AccessDeniedException", "User: arn:aws:iam::123456789012:user/w is not authorized to perform: iam:PassRole on resource: arn:aws:iam::123456789012:role/exec", 400), 1),
			wantKind:     submission.Crash,
			wantErr:      "RunTask failed: User: arn:aws:iam::123456789012:user/w is not authorized to perform: iam:PassRole on resource: arn:aws:iam::123456789012:role/exec (AccessDeniedException). Grant the worker's AWS identity iam:PassRole (the message names the resource; 'ecsworker aws-policy --pool NAME' prints the whole policy)",
			wantLaunches: 1,
		},
		{
			name:         "no capacity after the launcher's retries",
			launchErr:    awserr.Explain("RunTask", &awserr.RunTaskFailure{Arn: "arn:aws:ecs:us-east-1:123456789012:container-instance/x", Reason: "RESOURCE:MEMORY"}, 4),
			wantKind:     submission.Crash,
			wantErr:      "RunTask failed after 4 attempts: RESOURCE:MEMORY",
			wantLaunches: 1,
		},
		{
			name:         "a network plan the VPC cannot satisfy",
			launchErr:    &launch.NetworkError{Msg: "the VPC vpc-1 has no subnets; set the subnets job variable"},
			wantKind:     submission.Crash,
			wantErr:      "the VPC vpc-1 has no subnets; set the subnets job variable",
			wantLaunches: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api := &fakePrefect{labelsErr: tt.labelsErr}
			l := &fakeLauncher{launched: started, err: tt.launchErr, calls: &api.calls}
			c := claimed()
			plan := &ecsrequest.Plan{TaskDefinitionARN: testTDARN, Launch: ecsrequest.LaunchFargate}

			got, err := submission.Launch(context.Background(), api, l, c, plan)

			if tt.wantErr != "" {
				checkStepError(t, err, submission.StepLaunch, tt.wantKind, tt.wantErr)
				if got != nil {
					t.Errorf("Launch returned %+v with its error", got)
				}
			} else {
				if err != nil {
					t.Fatalf("Launch: %v", err)
				}
				if got != started {
					t.Errorf("Launch = %+v, want the launcher's task", got)
				}
			}
			wantCalls := []string{"UpdateFlowRunLabels"}
			if tt.wantLaunches > 0 {
				wantCalls = append(wantCalls, "Launch")
			}
			if !slices.Equal(api.calls, wantCalls) {
				t.Errorf("calls = %v, want %v", api.calls, wantCalls)
			}
			if len(api.labels) != 1 || api.labelRuns[0] != testRunID || !maps.Equal(api.labels[0], c.Labels()) {
				t.Errorf("labels recorded = %v on %v, want %v on %s", api.labels, api.labelRuns, c.Labels(), testRunID)
			}
			if len(l.tokens) != tt.wantLaunches {
				t.Fatalf("launches = %d, want %d", len(l.tokens), tt.wantLaunches)
			}
			if tt.wantLaunches > 0 {
				if want := launch.ClientToken(testRunID, "9d1f0c3a-claim"); l.tokens[0] != want {
					t.Errorf("client token = %q, want %q (the claim's)", l.tokens[0], want)
				}
				if l.plans[0] != plan {
					t.Error("the launcher got another plan")
				}
			}
		})
	}
}
