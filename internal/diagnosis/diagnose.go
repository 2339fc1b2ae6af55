// Package diagnosis explains why a stopped ECS task stopped, in words for
// the person who owns the flow run: the causes it tells apart (out of
// memory, image pull, missing secret or permission, Spot interruption, ...),
// their summaries and resolutions in the texts of the Python worker's
// observer, and the rule that says whether the run crashed. It makes no
// AWS call: it reads a described task.
package diagnosis

import (
	"log/slog"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/ecsworker/ecsworker/internal/pycompat"
)

// Cause says why a task stopped. The values are stable: they appear in logs
// and people search for them.
type Cause string

// The causes Diagnose tells apart, roughly in the order it checks them.
const (
	CauseSucceeded              Cause = "Succeeded"
	CauseStoppedByUser          Cause = "StoppedByUser"
	CauseNetworkUnreachable     Cause = "NetworkUnreachable"
	CauseLogGroupMissing        Cause = "LogGroupMissing"
	CauseMissingPermission      Cause = "MissingPermission"
	CauseMissingSecret          Cause = "MissingSecret"
	CauseImagePull              Cause = "ImagePull"
	CauseCapacityNeverPlaced    Cause = "CapacityNeverPlaced"
	CauseTaskFailedToStart      Cause = "TaskFailedToStart"
	CauseSpotInterruption       Cause = "SpotInterruption"
	CauseOutOfMemory            Cause = "OutOfMemory"
	CauseNoExitCode             Cause = "NoExitCode"
	CauseEssentialSidecarExited Cause = "EssentialSidecarExited"
	CauseNonZeroExit            Cause = "NonZeroExit"
	// CauseUnknown is for a task ECS no longer knows: its end was never seen.
	CauseUnknown Cause = "Unknown"
)

// WorkerStopReason is the reason the worker gives StopTask. Diagnose
// recognises it to tell a cancellation the worker asked for (the worker
// records that itself) from a stop by someone else (a crash for the run).
const WorkerStopReason = "Stopped by Prefect worker"

// Diagnosis explains a stopped task to the person who owns the flow run.
type Diagnosis struct {
	Cause Cause
	// Summary is short and stable; Detail holds the facts ECS gave
	// (stopped reason, exit codes); Resolution says what to change.
	Summary, Detail, Resolution string
	Level                       slog.Level
	// Crash is true when the flow run must be marked Crashed unless it
	// already reached a final state on its own: its container did not exit
	// 0, or the task never started, and the worker did not ask for the stop.
	Crash bool
	// ExitCode is the orchestration container's exit code (or, when that
	// container is unknown, the first non-zero one); nil when ECS gave none.
	ExitCode *int
}

// Message is the one-line form the Python observer logs, so that searches
// for its messages keep finding ours.
func (d *Diagnosis) Message() string {
	return d.Summary + ": " + d.Detail + " Resolution: " + d.Resolution
}

// Diagnose explains why a STOPPED task stopped; it returns nil for a task
// that has not stopped. orchestrationContainer names the container that runs
// the flow; empty means "prefect", or the only container.
//
// Crash rule (the Python observer's, extended): the run crashed when the
// orchestration container (every container, if it is unknown) has a missing
// or non-zero exit code, or the task never got containers. An exit code 0
// of the orchestration container is never a crash, whatever its sidecars
// did: the flow finished and reported its own state. An essential sidecar
// that exits and takes a still-running flow container down with it is a
// crash. A stop the worker asked for (WorkerStopReason) is never a crash:
// the worker is cancelling the run and records that itself.
func Diagnose(task ecstypes.Task, orchestrationContainer string) *Diagnosis {
	if aws.ToString(task.LastStatus) != "STOPPED" {
		return nil
	}
	s := newStopFacts(task, orchestrationContainer)
	d := s.classify()
	d.Crash = s.crashed() && d.Cause != CauseSucceeded && !s.stoppedByWorker()
	if s.oc != nil {
		d.ExitCode = exitCodeOf(*s.oc)
	} else {
		for _, c := range task.Containers {
			if c.ExitCode != nil && *c.ExitCode != 0 {
				d.ExitCode = exitCodeOf(c)
				break
			}
		}
		if d.ExitCode == nil && len(task.Containers) == 1 {
			d.ExitCode = exitCodeOf(task.Containers[0])
		}
	}
	return d
}

// stopFacts is what Diagnose reads from a stopped task, computed once.
type stopFacts struct {
	task   ecstypes.Task
	code   ecstypes.TaskStopCode
	reason string // stoppedReason
	// text is the stopped reason and every container reason, for the
	// markers AWS only puts in free text.
	text string
	oc   *ecstypes.Container // nil when the flow's container is unknown
}

func newStopFacts(task ecstypes.Task, name string) *stopFacts {
	s := &stopFacts{task: task, code: task.StopCode, reason: aws.ToString(task.StoppedReason)}
	parts := []string{s.reason}
	for _, c := range task.Containers {
		if r := aws.ToString(c.Reason); r != "" {
			parts = append(parts, r)
		}
	}
	s.text = strings.Join(parts, "\n")
	s.oc = findOrchestration(task.Containers, name)
	return s
}

// findOrchestration picks the flow's container the way the worker names it:
// the configured name, else "prefect", else the only container.
func findOrchestration(cs []ecstypes.Container, name string) *ecstypes.Container {
	for _, want := range []string{name, "prefect"} {
		if want == "" {
			continue
		}
		for i := range cs {
			if aws.ToString(cs[i].Name) == want {
				return &cs[i]
			}
		}
	}
	if len(cs) == 1 {
		return &cs[0]
	}
	return nil
}

// checked is what the crash rule looks at: the flow's container, or all.
func (s *stopFacts) checked() []ecstypes.Container {
	if s.oc != nil {
		return []ecstypes.Container{*s.oc}
	}
	return s.task.Containers
}

func (s *stopFacts) crashed() bool {
	if len(s.task.Containers) == 0 || s.code == ecstypes.TaskStopCodeTaskFailedToStart {
		return true
	}
	for _, c := range s.checked() {
		if c.ExitCode == nil || *c.ExitCode != 0 {
			return true
		}
	}
	return false
}

func (s *stopFacts) succeeded() bool {
	cs := s.checked()
	if len(cs) == 0 {
		return false
	}
	for _, c := range cs {
		if c.ExitCode == nil || *c.ExitCode != 0 {
			return false
		}
	}
	return true
}

func (s *stopFacts) stoppedByWorker() bool {
	return strings.HasPrefix(s.reason, WorkerStopReason)
}

func (s *stopFacts) has(markers ...string) bool {
	lower := strings.ToLower(s.text)
	for _, m := range markers {
		if strings.Contains(lower, strings.ToLower(m)) {
			return true
		}
	}
	return false
}

// classify decides the cause. The order matters: failures before the
// containers ran come first because they explain missing exit codes; the
// stop code comes before exit codes because a signal exit (137, 143) after
// a stop says nothing about the flow.
func (s *stopFacts) classify() *Diagnosis {
	switch {
	case s.succeeded():
		return s.success()
	case s.stoppedByWorker():
		return &Diagnosis{
			Cause:      CauseStoppedByUser,
			Summary:    "Task stopped by the worker",
			Detail:     s.withReason(""),
			Resolution: "None needed: the worker stopped the task to cancel the flow run.",
			Level:      slog.LevelInfo,
		}
	}
	if d := s.startFailure(); d != nil {
		return d
	}
	switch {
	case s.code == ecstypes.TaskStopCodeSpotInterruption || s.has("Spot Task was interrupted", "spot interruption"):
		return s.afterExit(CauseSpotInterruption, "Spot capacity was reclaimed",
			"AWS took the Spot capacity back and stopped the task. Retry the flow run (set retries on the flow to do it "+
				"automatically), or run flows that cannot be interrupted on on-demand capacity: launch_type FARGATE instead of "+
				"FARGATE_SPOT, or an on-demand capacity provider.",
			slog.LevelWarn)
	case s.code == ecstypes.TaskStopCodeUserInitiated || s.code == ecstypes.TaskStopCodeServiceSchedulerInitiated:
		return s.afterExit(CauseStoppedByUser, "Task stopped outside Prefect",
			"A StopTask call that did not come from this worker stopped the task (the console, the AWS CLI, "+
				"a script or a service scheduler). To stop a flow run, cancel it in Prefect so its state is recorded; "+
				"CloudTrail shows who called StopTask.",
			slog.LevelWarn)
	}
	if c := s.outOfMemory(); c != nil {
		return s.afterExit(CauseOutOfMemory, "Container ran out of memory",
			"Container "+pycompat.QuoteString(aws.ToString(c.Name))+" used more memory than its limit and was killed. "+
				"Raise the memory job variable (on Fargate with a matching cpu), or the container's own memory limit "+
				"in the task definition, or make the flow use less memory.",
			slog.LevelError)
	}
	if s.infrastructureStop() {
		return s.noExitCode()
	}
	if sc := s.essentialSidecar(); sc != nil {
		return s.afterExit(CauseEssentialSidecarExited, "Essential container exited",
			"Container "+pycompat.QuoteString(aws.ToString(sc.Name))+" is essential and its exit stopped the task while "+
				"the flow was still running. Fix what made it exit (see its logs), or mark it essential: false in the task "+
				"definition if the flow can run without it.",
			slog.LevelError)
	}
	for _, c := range s.checked() {
		if c.ExitCode != nil && *c.ExitCode != 0 {
			return s.nonZero()
		}
	}
	return s.noExitCode()
}

func (s *stopFacts) success() *Diagnosis {
	d := s.afterExit(CauseSucceeded, "Task completed",
		"None needed.",
		slog.LevelInfo)
	// A failed sidecar does not change the run's outcome but is worth a look.
	for _, c := range s.task.Containers {
		if c.ExitCode == nil || *c.ExitCode != 0 {
			d.Level = slog.LevelWarn
			d.Resolution = "The flow's container exited 0; check the other containers' logs for why they failed."
			break
		}
	}
	return d
}

// startFailure recognises tasks that stopped before the flow ran. AWS
// gives the reason only as text (stoppedReason or a container reason), so
// the markers below are the texts ECS and the container agent emit.
func (s *stopFacts) startFailure() *Diagnosis {
	initErr := s.has("ResourceInitializationError", "CannotPullContainerError", "unable to pull secrets", "failed to validate logger args")
	switch {
	case initErr && s.has("i/o timeout", "dial tcp", "context deadline exceeded", "no such host", "RequestError: send request failed", "connection refused", "network is unreachable"):
		return &Diagnosis{
			Cause:   CauseNetworkUnreachable,
			Summary: "Task could not reach AWS services",
			Detail:  s.withReason(""),
			Resolution: "The task's network has no route to ECR, Secrets Manager, SSM or CloudWatch Logs. In a private subnet, " +
				"add a NAT gateway or VPC endpoints (ecr.api, ecr.dkr, s3, logs, secretsmanager, ssm); in a public subnet set " +
				"assign_public_ip to true. Also check that the security groups allow outbound HTTPS.",
			Level: slog.LevelError,
		}
	case s.has("log group does not exist"):
		return &Diagnosis{
			Cause:   CauseLogGroupMissing,
			Summary: "CloudWatch log group does not exist",
			Detail:  s.withReason(""),
			Resolution: "Create the log group named in the awslogs-group option, or let ECS create it: set " +
				"cloudwatch_logs_options {\"awslogs-create-group\": \"true\"} and give the execution role logs:CreateLogGroup.",
			Level: slog.LevelError,
		}
	case s.has("not authorized to perform: logs:", "not authorized to perform: ecr:") ||
		(s.has("403 Forbidden") && s.has(".dkr.ecr.")) ||
		(initErr && s.has("AccessDenied") && s.has("ecr registry auth", "ecr:", "log stream", "log group")):
		return &Diagnosis{
			Cause:   CauseMissingPermission,
			Summary: "Task execution role is missing permissions",
			Detail:  s.withReason(""),
			Resolution: "Give the role in execution_role_arn the permissions named above; the AWS managed policy " +
				"AmazonECSTaskExecutionRolePolicy covers pulling from ECR and writing logs (add logs:CreateLogGroup " +
				"when awslogs-create-group is on).",
			Level: slog.LevelError,
		}
	case s.has("unable to pull secrets", "unable to retrieve secret", "secretsmanager:", "ssm:", "kms:Decrypt",
		"Secrets Manager can't find", "fetch secret", "retrieve secrets from ssm", "invalid ssm parameters", "InvalidParameters"):
		return &Diagnosis{
			Cause:   CauseMissingSecret,
			Summary: "Task secrets could not be retrieved",
			Detail:  s.withReason(""),
			Resolution: "Check that every secret ARN (secrets, prefect_api_key_secret_arn, prefect_api_auth_string_secret_arn) " +
				"exists in the task's region and that the role in execution_role_arn may read it: " +
				"secretsmanager:GetSecretValue or ssm:GetParameters, and kms:Decrypt for a customer-managed key.",
			Level: slog.LevelError,
		}
	case s.has("toomanyrequests", "pull rate limit"):
		return &Diagnosis{
			Cause:   CauseImagePull,
			Summary: "Container image pull failed",
			Detail:  s.withReason(""),
			Resolution: "The registry refused the pull because of its rate limit (Docker Hub limits anonymous pulls). Copy the " +
				"image to ECR or use an ECR pull-through cache, or give the container repositoryCredentials for an " +
				"authenticated account.",
			Level: slog.LevelError,
		}
	case s.has("CannotPullContainerError", "pull access denied", "manifest unknown", "failed to resolve ref"):
		return &Diagnosis{
			Cause:   CauseImagePull,
			Summary: "Container image pull failed",
			Detail:  s.withReason(""),
			Resolution: "Check that the image job variable names an image and tag that exist (the tag is case-sensitive). " +
				"For a private registry, give the container repositoryCredentials; for ECR in another account, allow the " +
				"execution role in the repository policy.",
			Level: slog.LevelError,
		}
	case s.code != ecstypes.TaskStopCodeTaskFailedToStart:
		return nil
	case len(s.task.Containers) == 0 || s.has("capacity", "placement", "could not place", "unable to place", "RESOURCE:"):
		return &Diagnosis{
			Cause:   CauseCapacityNeverPlaced,
			Summary: "ECS task was never placed",
			Detail:  s.withReason("No container was started."),
			Resolution: "ECS found no capacity for the task. Check that the cluster's capacity provider can scale " +
				"(managed scaling on, the Auto Scaling group's maximum not reached) and that an instance type fits the " +
				"task's cpu, memory and GPU; placement_constraints may exclude every instance.",
			Level: slog.LevelError,
		}
	default:
		return &Diagnosis{
			Cause:   CauseTaskFailedToStart,
			Summary: "ECS task failed to start",
			Detail:  s.withReason(""),
			Resolution: "The stopped reason above says what failed. Frequent causes: a subnet without free IP addresses, " +
				"an execution role that cannot be assumed, or a task definition the launch type does not support.",
			Level: slog.LevelError,
		}
	}
}

// outOfMemory finds the container killed for its memory, preferring the
// flow's container. Exit code 137 alone is not enough: it is also what a
// container gets when it ignores SIGTERM during a stop.
func (s *stopFacts) outOfMemory() *ecstypes.Container {
	cs := s.task.Containers
	if s.oc != nil {
		cs = append([]ecstypes.Container{*s.oc}, cs...)
	}
	for i := range cs {
		r := strings.ToLower(aws.ToString(cs[i].Reason))
		if strings.Contains(r, "outofmemory") || (isExit(cs[i], 137) && strings.Contains(r, "memory")) {
			return &cs[i]
		}
	}
	return nil
}

// infrastructureStop is a stop by ECS or EC2 rather than by the task: host
// termination, scale-in, Fargate retirement. A flow container then has no
// exit code or the one of the signal that ended it.
func (s *stopFacts) infrastructureStop() bool {
	byInfra := s.code == ecstypes.TaskStopCodeTerminationNotice || s.code == ecstypes.TaskStopCodeInfrastructureHealth ||
		s.has("Host EC2", "instance terminated", "scale-in", "task retirement", "container instance is draining")
	if !byInfra {
		return false
	}
	for _, c := range s.checked() {
		if c.ExitCode != nil && *c.ExitCode != 137 && *c.ExitCode != 143 {
			return false
		}
	}
	return true
}

// essentialSidecar finds the essential container whose exit stopped a task
// while the flow's container was still running (it then has no exit code,
// or the signal exit of the stop).
func (s *stopFacts) essentialSidecar() *ecstypes.Container {
	if s.code != ecstypes.TaskStopCodeEssentialContainerExited || s.oc == nil {
		return nil
	}
	if s.oc.ExitCode != nil && *s.oc.ExitCode != 137 && *s.oc.ExitCode != 143 {
		return nil
	}
	var found *ecstypes.Container
	for i := range s.task.Containers {
		c := &s.task.Containers[i]
		if aws.ToString(c.Name) == aws.ToString(s.oc.Name) || c.ExitCode == nil {
			continue
		}
		// Prefer a sidecar that failed over one that merely finished.
		if found == nil || (*found.ExitCode == 0 && *c.ExitCode != 0) {
			found = c
		}
	}
	return found
}

func (s *stopFacts) nonZero() *Diagnosis {
	res := "The flow's container exited with an error: its logs (and the flow run's logs in Prefect) say why."
	if s.oc != nil && (isExit(*s.oc, 137) || isExit(*s.oc, 143)) {
		res += " Exit code 137 or 143 means a signal ended it: an out-of-memory kill without a reason from ECS, " +
			"or a stop; consider more memory."
	}
	return s.afterExit(CauseNonZeroExit, "Container exited with non-zero exit code",
		res,
		slog.LevelError)
}

func (s *stopFacts) noExitCode() *Diagnosis {
	return s.afterExit(CauseNoExitCode, "Task terminated by infrastructure",
		"ECS or the host stopped the task before the flow's container could exit (instance termination, "+
			"scale-in, Fargate maintenance). Retry the flow run; if it keeps happening, look for the instance's "+
			"termination in CloudTrail and the Auto Scaling activity, and protect running tasks from scale-in "+
			"(managed termination protection).",
		slog.LevelWarn)
}

// afterExit is a diagnosis whose detail is the stop reason with the exit
// codes, as for every cause found once the containers ran.
func (s *stopFacts) afterExit(cause Cause, summary, resolution string, level slog.Level) *Diagnosis {
	return &Diagnosis{Cause: cause, Summary: summary, Detail: s.withReason(s.exitSummary()), Resolution: resolution, Level: level}
}

// exitSummary states the exit codes like the Python observer does.
func (s *stopFacts) exitSummary() string {
	var parts, missing []string
	for _, c := range s.task.Containers {
		name := aws.ToString(c.Name)
		if name == "" {
			name = "<unknown>"
		}
		switch {
		case c.ExitCode == nil:
			missing = append(missing, pycompat.QuoteString(name))
		case *c.ExitCode != 0:
			parts = append(parts, "Container "+pycompat.QuoteString(name)+" exited with code "+strconv.Itoa(int(*c.ExitCode))+".")
		}
	}
	if len(missing) > 0 {
		parts = append(parts, "Container(s) "+strings.Join(missing, ", ")+
			" had no exit code, indicating the task was terminated by ECS or the underlying infrastructure.")
	}
	if len(parts) == 0 {
		if len(s.task.Containers) == 0 {
			return "No container was started."
		}
		return "All containers exited with code 0."
	}
	return strings.Join(parts, " ")
}

// withReason puts ECS's own words first: that is what users paste into a
// search engine.
func (s *stopFacts) withReason(more string) string {
	var b strings.Builder
	if s.reason != "" {
		b.WriteString(strings.TrimRight(s.reason, " "))
		if !strings.HasSuffix(s.reason, ".") {
			b.WriteString(".")
		}
	} else if s.code != "" {
		b.WriteString("Stop code " + string(s.code) + ".")
	}
	if more != "" {
		if b.Len() > 0 {
			b.WriteString(" ")
		}
		b.WriteString(more)
	}
	if b.Len() == 0 {
		return "ECS gave no reason."
	}
	return b.String()
}

func isExit(c ecstypes.Container, code int32) bool { return c.ExitCode != nil && *c.ExitCode == code }

func exitCodeOf(c ecstypes.Container) *int {
	if c.ExitCode == nil {
		return nil
	}
	v := int(*c.ExitCode)
	return &v
}
