package diagnosis_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/ecsworker/ecsworker/internal/diagnosis"
)

const (
	taskARN   = "arn:aws:ecs:us-east-1:123456789012:task/prod/0f2d3c4b5a6978e1a2b3c4d5e6f70819"
	role      = "arn:aws:sts::123456789012:assumed-role/ecsTaskExecutionRole/0f2d3c4b5a6978e1"
	essential = "Essential container in task exited"
)

// exited is a container as ECS reports it once stopped; code < 0 means ECS
// gave no exit code.
func exited(name string, code int32, reason string) ecstypes.Container {
	c := ecstypes.Container{
		Name:       aws.String(name),
		LastStatus: aws.String("STOPPED"),
		TaskArn:    aws.String(taskARN),
		Image:      aws.String("prefecthq/prefect:3-latest"),
	}
	if code >= 0 {
		c.ExitCode = aws.Int32(code)
	}
	if reason != "" {
		c.Reason = aws.String(reason)
	}
	return c
}

func stoppedTask(code ecstypes.TaskStopCode, reason string, cs ...ecstypes.Container) ecstypes.Task {
	t := ecstypes.Task{
		TaskArn:           aws.String(taskARN),
		ClusterArn:        aws.String("arn:aws:ecs:us-east-1:123456789012:cluster/prod"),
		TaskDefinitionArn: aws.String("arn:aws:ecs:us-east-1:123456789012:task-definition/prefect_pool_dep:3"),
		LastStatus:        aws.String("STOPPED"),
		DesiredStatus:     aws.String("STOPPED"),
		LaunchType:        ecstypes.LaunchTypeFargate,
		StopCode:          code,
		Containers:        cs,
		Version:           5,
	}
	if reason != "" {
		t.StoppedReason = aws.String(reason)
	}
	return t
}

func TestDiagnose(t *testing.T) {
	t.Parallel()
	pullNotFound := "CannotPullContainerError: pull image manifest has been retried 7 time(s): failed to resolve ref " +
		"docker.io/prefecthq/prefect:3-pyhton3.12: docker.io/prefecthq/prefect:3-pyhton3.12: not found"
	pullDenied := "CannotPullContainerError: Error response from daemon: pull access denied for acme/etl, repository does " +
		"not exist or may require 'docker login': denied: requested access to the resource is denied"
	manifestUnknown := "CannotPullContainerError: Error response from daemon: manifest for " +
		"123456789012.dkr.ecr.us-east-1.amazonaws.com/etl:1.5 not found: manifest unknown: Requested image not found"
	rateLimited := "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref " +
		"docker.io/prefecthq/prefect:3-latest: unexpected status from HEAD request to " +
		"https://registry-1.docker.io/v2/prefecthq/prefect/manifests/3-latest: 429 Too Many Requests - Server message: " +
		"toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: " +
		"https://www.docker.com/increase-rate-limit"
	secretDenied := "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval " +
		"failed: unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret " +
		"arn:aws:secretsmanager:us-east-1:123456789012:secret:prefect-api-key-AbCdEf from secrets manager: " +
		"AccessDeniedException: User: " + role + " is not authorized to perform: secretsmanager:GetSecretValue on resource: " +
		"arn:aws:secretsmanager:us-east-1:123456789012:secret:prefect-api-key-AbCdEf because no identity-based policy " +
		"allows the secretsmanager:GetSecretValue action status code: 400, request id: 5d0c1e2f"
	secretGone := "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval " +
		"failed: unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret " +
		"arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf from secrets manager: ResourceNotFoundException: " +
		"Secrets Manager can't find the specified secret. status code: 400, request id: 6e1d2f30"
	ssmDenied := "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval " +
		"failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s): AccessDeniedException: " +
		"User: " + role + " is not authorized to perform: ssm:GetParameters on resource: " +
		"arn:aws:ssm:us-east-1:123456789012:parameter/prefect/db status code: 400, request id: 7f2e3041"
	ecrDenied := "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval " +
		"failed: unable to retrieve ecr registry auth: service call has been retried 3 time(s): AccessDeniedException: " +
		"User: " + role + " is not authorized to perform: ecr:GetAuthorizationToken on resource: * because no " +
		"identity-based policy allows the ecr:GetAuthorizationToken action status code: 400, request id: 80314152"
	logsDenied := "ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: " +
		"failed to create Cloudwatch log stream: AccessDeniedException: User: " + role + " is not authorized to perform: " +
		"logs:CreateLogStream on resource: arn:aws:logs:us-east-1:123456789012:log-group:prefect:log-stream:" +
		"prefect-logs_pool_dep/prefect/0f2d3c4b because no identity-based policy allows the logs:CreateLogStream action : exit status 1"
	noGroup := "ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: " +
		"failed to create Cloudwatch log stream: ResourceNotFoundException: The specified log group does not exist. : exit status 1"
	noRoute := "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: " +
		"unable to retrieve ecr registry auth: service call has been retried 3 time(s): RequestError: send request failed " +
		"caused by: Post \"https://api.ecr.us-east-1.amazonaws.com/\": dial tcp 52.46.145.120:443: i/o timeout. " +
		"Please check your task network configuration."
	oom := "OutOfMemoryError: Container killed due to memory usage"

	tests := map[string]struct {
		task      ecstypes.Task
		container string
		cause     diagnosis.Cause
		crash     bool
		level     slog.Level
		exit      int // -1: no exit code
		detail    string
	}{
		"flow container exited 0": {
			task:  stoppedTask(ecstypes.TaskStopCodeEssentialContainerExited, essential, exited("prefect", 0, "")),
			cause: diagnosis.CauseSucceeded, level: slog.LevelInfo, exit: 0, detail: "All containers exited with code 0.",
		},
		"flow container exited 0, a sidecar failed": {
			task: stoppedTask(ecstypes.TaskStopCodeEssentialContainerExited, essential,
				exited("prefect", 0, ""), exited("datadog-agent", 1, "")),
			cause: diagnosis.CauseSucceeded, level: slog.LevelWarn, exit: 0, detail: "Container 'datadog-agent' exited with code 1.",
		},
		"out of memory": {
			task:  stoppedTask(ecstypes.TaskStopCodeEssentialContainerExited, essential, exited("prefect", 137, oom)),
			cause: diagnosis.CauseOutOfMemory, crash: true, level: slog.LevelError, exit: 137, detail: "exited with code 137",
		},
		"sidecar out of memory took the flow down": {
			task: stoppedTask(ecstypes.TaskStopCodeEssentialContainerExited, essential,
				exited("prefect", 143, ""), exited("fluent-bit", 137, oom)),
			cause: diagnosis.CauseOutOfMemory, crash: true, level: slog.LevelError, exit: 143, detail: "'fluent-bit' exited with code 137",
		},
		"image tag does not exist": {
			task:  stoppedTask(ecstypes.TaskStopCodeTaskFailedToStart, pullNotFound, exited("prefect", -1, pullNotFound)),
			cause: diagnosis.CauseImagePull, crash: true, level: slog.LevelError, exit: -1, detail: "3-pyhton3.12",
		},
		"private image without credentials": {
			task:  stoppedTask(ecstypes.TaskStopCodeTaskFailedToStart, pullDenied, exited("prefect", -1, pullDenied)),
			cause: diagnosis.CauseImagePull, crash: true, level: slog.LevelError, exit: -1, detail: "pull access denied",
		},
		"ECR manifest unknown (EC2 agent words)": {
			task:  stoppedTask(ecstypes.TaskStopCodeTaskFailedToStart, manifestUnknown, exited("prefect", -1, "")),
			cause: diagnosis.CauseImagePull, crash: true, level: slog.LevelError, exit: -1, detail: "manifest unknown",
		},
		"Docker Hub rate limit": {
			task:  stoppedTask(ecstypes.TaskStopCodeTaskFailedToStart, rateLimited, exited("prefect", -1, rateLimited)),
			cause: diagnosis.CauseImagePull, crash: true, level: slog.LevelError, exit: -1, detail: "toomanyrequests",
		},
		"secret not readable by the execution role": {
			task:  stoppedTask(ecstypes.TaskStopCodeTaskFailedToStart, secretDenied, exited("prefect", -1, "")),
			cause: diagnosis.CauseMissingSecret, crash: true, level: slog.LevelError, exit: -1, detail: "secretsmanager:GetSecretValue",
		},
		"secret does not exist": {
			task:  stoppedTask(ecstypes.TaskStopCodeTaskFailedToStart, secretGone, exited("prefect", -1, "")),
			cause: diagnosis.CauseMissingSecret, crash: true, level: slog.LevelError, exit: -1, detail: "can't find the specified secret",
		},
		"SSM parameter not readable": {
			task:  stoppedTask(ecstypes.TaskStopCodeTaskFailedToStart, ssmDenied, exited("prefect", -1, "")),
			cause: diagnosis.CauseMissingSecret, crash: true, level: slog.LevelError, exit: -1, detail: "ssm:GetParameters",
		},
		"SSM parameter does not exist": {
			task: stoppedTask(ecstypes.TaskStopCodeTaskFailedToStart, "ResourceInitializationError: unable to pull secrets or registry auth: "+
				"execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s): "+
				"invalid ssm parameters: /prefect/db-password", exited("prefect", -1, "")),
			cause: diagnosis.CauseMissingSecret, crash: true, level: slog.LevelError, exit: -1, detail: "/prefect/db-password",
		},
		"execution role cannot pull from ECR": {
			task:  stoppedTask(ecstypes.TaskStopCodeTaskFailedToStart, ecrDenied, exited("prefect", -1, "")),
			cause: diagnosis.CauseMissingPermission, crash: true, level: slog.LevelError, exit: -1, detail: "ecr:GetAuthorizationToken",
		},
		"execution role cannot write logs": {
			task:  stoppedTask(ecstypes.TaskStopCodeTaskFailedToStart, logsDenied, exited("prefect", -1, "")),
			cause: diagnosis.CauseMissingPermission, crash: true, level: slog.LevelError, exit: -1, detail: "logs:CreateLogStream",
		},
		"log group missing, create-group off": {
			task:  stoppedTask(ecstypes.TaskStopCodeTaskFailedToStart, noGroup, exited("prefect", -1, "")),
			cause: diagnosis.CauseLogGroupMissing, crash: true, level: slog.LevelError, exit: -1, detail: "log group does not exist",
		},
		"private subnet without a route to ECR": {
			task:  stoppedTask(ecstypes.TaskStopCodeTaskFailedToStart, noRoute, exited("prefect", -1, "")),
			cause: diagnosis.CauseNetworkUnreachable, crash: true, level: slog.LevelError, exit: -1, detail: "i/o timeout",
		},
		"Fargate Spot interruption": {
			task:  stoppedTask(ecstypes.TaskStopCodeSpotInterruption, "Your Spot Task was interrupted.", exited("prefect", 143, "")),
			cause: diagnosis.CauseSpotInterruption, crash: true, level: slog.LevelWarn, exit: 143, detail: "Your Spot Task was interrupted.",
		},
		"Spot interruption before any exit code": {
			task:  stoppedTask(ecstypes.TaskStopCodeSpotInterruption, "Your Spot Task was interrupted.", exited("prefect", -1, "")),
			cause: diagnosis.CauseSpotInterruption, crash: true, level: slog.LevelWarn, exit: -1, detail: "had no exit code",
		},
		"capacity provider could not place the task": {
			task:  stoppedTask(ecstypes.TaskStopCodeTaskFailedToStart, "Capacity provider gpu-asg could not scale out in time to place the task"),
			cause: diagnosis.CauseCapacityNeverPlaced, crash: true, level: slog.LevelError, exit: -1, detail: "No container was started.",
		},
		"failed to start without containers or reason": {
			task:  stoppedTask(ecstypes.TaskStopCodeTaskFailedToStart, ""),
			cause: diagnosis.CauseCapacityNeverPlaced, crash: true, level: slog.LevelError, exit: -1, detail: "Stop code TaskFailedToStart.",
		},
		"essential sidecar exited while the flow ran": {
			task: stoppedTask(ecstypes.TaskStopCodeEssentialContainerExited, essential,
				exited("prefect", 143, ""), exited("envoy", 1, "")),
			cause: diagnosis.CauseEssentialSidecarExited, crash: true, level: slog.LevelError, exit: 143, detail: "'envoy' exited with code 1",
		},
		"essential sidecar finished before the flow started": {
			task: stoppedTask(ecstypes.TaskStopCodeEssentialContainerExited, essential,
				exited("flow", -1, ""), exited("migrations", 0, "")),
			container: "flow",
			cause:     diagnosis.CauseEssentialSidecarExited, crash: true, level: slog.LevelError, exit: -1, detail: "'flow' had no exit code",
		},
		"flow failed": {
			task:  stoppedTask(ecstypes.TaskStopCodeEssentialContainerExited, essential, exited("prefect", 1, "")),
			cause: diagnosis.CauseNonZeroExit, crash: true, level: slog.LevelError, exit: 1, detail: "Container 'prefect' exited with code 1.",
		},
		"flow failed, its sidecar killed on the way out": {
			task: stoppedTask(ecstypes.TaskStopCodeEssentialContainerExited, essential,
				exited("prefect", 2, ""), exited("envoy", 143, "")),
			cause: diagnosis.CauseNonZeroExit, crash: true, level: slog.LevelError, exit: 2, detail: "'prefect' exited with code 2",
		},
		"SIGKILL without an out-of-memory reason": {
			task:  stoppedTask(ecstypes.TaskStopCodeEssentialContainerExited, essential, exited("prefect", 137, "")),
			cause: diagnosis.CauseNonZeroExit, crash: true, level: slog.LevelError, exit: 137, detail: "exited with code 137",
		},
		"EC2 host terminated": {
			task:  stoppedTask("", "Host EC2 (instance i-0a1b2c3d4e5f60718) terminated.", exited("prefect", -1, "")),
			cause: diagnosis.CauseNoExitCode, crash: true, level: slog.LevelWarn, exit: -1, detail: "Host EC2 (instance i-0a1b2c3d4e5f60718) terminated.",
		},
		"Fargate maintenance": {
			task: stoppedTask(ecstypes.TaskStopCodeTerminationNotice,
				"Task stopped due to a scheduled task retirement on the underlying infrastructure", exited("prefect", 143, "")),
			cause: diagnosis.CauseNoExitCode, crash: true, level: slog.LevelWarn, exit: 143, detail: "task retirement",
		},
		"no exit code at all": {
			task:  stoppedTask(ecstypes.TaskStopCodeEssentialContainerExited, essential, exited("prefect", -1, "")),
			cause: diagnosis.CauseNoExitCode, crash: true, level: slog.LevelWarn, exit: -1, detail: "Container(s) 'prefect' had no exit code",
		},
		"stopped with neither containers nor stop code": {
			task:  stoppedTask("", ""),
			cause: diagnosis.CauseNoExitCode, crash: true, level: slog.LevelWarn, exit: -1, detail: "No container was started.",
		},
		"cancelled by the worker": {
			task:  stoppedTask(ecstypes.TaskStopCodeUserInitiated, diagnosis.WorkerStopReason, exited("prefect", 143, "")),
			cause: diagnosis.CauseStoppedByUser, level: slog.LevelInfo, exit: 143, detail: diagnosis.WorkerStopReason,
		},
		"cancelled by the worker before it started": {
			task:  stoppedTask(ecstypes.TaskStopCodeUserInitiated, diagnosis.WorkerStopReason),
			cause: diagnosis.CauseStoppedByUser, level: slog.LevelInfo, exit: -1, detail: diagnosis.WorkerStopReason,
		},
		"stopped by someone with the console": {
			task:  stoppedTask(ecstypes.TaskStopCodeUserInitiated, "Task stopped by user", exited("prefect", 137, "")),
			cause: diagnosis.CauseStoppedByUser, crash: true, level: slog.LevelWarn, exit: 137, detail: "Task stopped by user.",
		},
		"stopped by a service scheduler": {
			task: stoppedTask(ecstypes.TaskStopCodeServiceSchedulerInitiated,
				"Scaling activity initiated by (deployment ecs-svc/1234567890123456789)", exited("prefect", -1, "")),
			cause: diagnosis.CauseStoppedByUser, crash: true, level: slog.LevelWarn, exit: -1, detail: "Scaling activity",
		},
		"other start failure": {
			task: stoppedTask(ecstypes.TaskStopCodeTaskFailedToStart,
				"Timeout waiting for network interface provisioning to complete.", exited("prefect", -1, "")),
			cause: diagnosis.CauseTaskFailedToStart, crash: true, level: slog.LevelError, exit: -1, detail: "network interface provisioning",
		},
		"unknown orchestration container, all exited 0": {
			task: stoppedTask(ecstypes.TaskStopCodeEssentialContainerExited, essential,
				exited("app", 0, ""), exited("sidecar", 0, "")),
			cause: diagnosis.CauseSucceeded, level: slog.LevelInfo, exit: -1, detail: "All containers exited with code 0.",
		},
		"unknown orchestration container, one failed": {
			task: stoppedTask(ecstypes.TaskStopCodeEssentialContainerExited, essential,
				exited("app", 0, ""), exited("sidecar", 3, "")),
			cause: diagnosis.CauseNonZeroExit, crash: true, level: slog.LevelError, exit: 3, detail: "'sidecar' exited with code 3",
		},
		"configured container name wins over prefect": {
			task: stoppedTask(ecstypes.TaskStopCodeEssentialContainerExited, essential,
				exited("prefect", 1, ""), exited("flow", 0, "")),
			container: "flow",
			cause:     diagnosis.CauseSucceeded, level: slog.LevelWarn, exit: 0, detail: "'prefect' exited with code 1",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := diagnosis.Diagnose(tc.task, tc.container)
			if d == nil {
				t.Fatal("Diagnose returned nil for a stopped task")
			}
			if d.Cause != tc.cause || d.Crash != tc.crash || d.Level != tc.level {
				t.Errorf("got cause %s crash %v level %v, want %s %v %v\n%s", d.Cause, d.Crash, d.Level, tc.cause, tc.crash, tc.level, d.Message())
			}
			switch {
			case tc.exit < 0 && d.ExitCode != nil:
				t.Errorf("exit code %d, want none", *d.ExitCode)
			case tc.exit >= 0 && (d.ExitCode == nil || *d.ExitCode != tc.exit):
				t.Errorf("exit code %v, want %d", d.ExitCode, tc.exit)
			}
			if !strings.Contains(d.Detail, tc.detail) {
				t.Errorf("detail %q does not contain %q", d.Detail, tc.detail)
			}
			if d.Summary == "" || d.Resolution == "" {
				t.Errorf("empty summary or resolution: %+v", d)
			}
			if want := d.Summary + ": " + d.Detail + " Resolution: " + d.Resolution; d.Message() != want {
				t.Errorf("Message() = %q, want %q", d.Message(), want)
			}
		})
	}
}

func TestDiagnoseIgnoresTasksStillRunning(t *testing.T) {
	t.Parallel()
	for _, status := range []string{"PROVISIONING", "PENDING", "RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING", ""} {
		task := stoppedTask(ecstypes.TaskStopCodeEssentialContainerExited, essential, exited("prefect", 1, ""))
		task.LastStatus = aws.String(status)
		if d := diagnosis.Diagnose(task, ""); d != nil {
			t.Errorf("lastStatus %q: got %s, want nil", status, d.Cause)
		}
	}
}

// Users search for the Python observer's summaries; the ones that mean the
// same thing keep its words.
func TestDiagnoseKeepsPythonSummaries(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		task    ecstypes.Task
		summary string
	}{
		"pull": {stoppedTask(ecstypes.TaskStopCodeTaskFailedToStart, "CannotPullContainerError: x", exited("prefect", -1, "")), "Container image pull failed"},
		"start": {stoppedTask(ecstypes.TaskStopCodeTaskFailedToStart, "Timeout waiting for network interface provisioning to complete.",
			exited("prefect", -1, "")), "ECS task failed to start"},
		"sidecar":  {stoppedTask(ecstypes.TaskStopCodeEssentialContainerExited, essential, exited("prefect", 143, ""), exited("envoy", 1, "")), "Essential container exited"},
		"nonzero":  {stoppedTask(ecstypes.TaskStopCodeEssentialContainerExited, essential, exited("prefect", 1, "")), "Container exited with non-zero exit code"},
		"no exit":  {stoppedTask(ecstypes.TaskStopCodeEssentialContainerExited, essential, exited("prefect", -1, "")), "Task terminated by infrastructure"},
		"no exit2": {stoppedTask("", "Host EC2 (instance i-1) terminated.", exited("prefect", -1, "")), "Task terminated by infrastructure"},
	}
	for name, tc := range tests {
		if got := diagnosis.Diagnose(tc.task, "").Summary; got != tc.summary {
			t.Errorf("%s: summary %q, want %q", name, got, tc.summary)
		}
	}
}
