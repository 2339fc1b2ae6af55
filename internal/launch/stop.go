package launch

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awserr"
)

// StopOutcome says what StopTask found.
type StopOutcome string

const (
	// StopRequested means the task was running (or starting) and ECS is
	// stopping it.
	StopRequested StopOutcome = "Stopped"
	// StopAlreadyStopped means the task had stopped before.
	StopAlreadyStopped StopOutcome = "AlreadyStopped"
	// StopNotFound means ECS does not know the task (or its cluster): it
	// stopped long ago, or never started.
	StopNotFound StopOutcome = "NotFound"
)

// StopResult is the outcome of StopTask.
type StopResult struct {
	Outcome StopOutcome
	Cluster string
	TaskARN string
	// LastStatus is the task's status when StopTask was called.
	LastStatus string
	// Detail is what ECS said when the task was not found.
	Detail string
}

// maxStopReason is how long StopTask's reason may be.
const maxStopReason = 255

// ParseIdentifier splits a flow run's infrastructure_pid,
// "<cluster>::<taskArn>", at the first "::" (ARNs hold single colons).
func ParseIdentifier(identifier string) (cluster, taskARN string, err error) {
	cluster, taskARN, ok := strings.Cut(identifier, "::")
	if !ok || cluster == "" || taskARN == "" {
		return "", "", fmt.Errorf("infrastructure identifier %q is not of the form <cluster>::<task ARN> (for example prod::arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef)", identifier)
	}
	return cluster, taskARN, nil
}

// StopTask stops the task a flow run's identifier names. A task that has
// already stopped, or that ECS does not know, is an outcome, not an error.
func StopTask(ctx context.Context, api awsclient.ECSAPI, identifier, reason string) (StopResult, error) {
	cluster, taskARN, err := ParseIdentifier(identifier)
	if err != nil {
		return StopResult{}, err
	}
	res := StopResult{Cluster: cluster, TaskARN: taskARN}
	if len(reason) > maxStopReason {
		reason = reason[:maxStopReason]
	}
	in := &ecs.StopTaskInput{Cluster: aws.String(cluster), Task: aws.String(taskARN)}
	if reason != "" {
		in.Reason = aws.String(reason)
	}
	out, err := api.StopTask(ctx, in)
	if err != nil {
		if awserr.IsContextError(err) {
			return res, fmt.Errorf("stop task %s: %w", taskARN, err)
		}
		if awserr.IsTaskNotFound(err) || awserr.IsClusterNotFound(err) {
			// Both are AWS answers, so the message is AWS's own.
			res.Outcome = StopNotFound
			res.Detail = awserr.ErrorMessage(err)
			return res, nil
		}
		return res, awserr.Explain("StopTask", err, 1)
	}
	res.Outcome = StopRequested
	if out.Task != nil {
		res.LastStatus = aws.ToString(out.Task.LastStatus)
		if res.LastStatus == "STOPPED" || res.LastStatus == "DELETED" {
			res.Outcome = StopAlreadyStopped
		}
	}
	return res, nil
}
