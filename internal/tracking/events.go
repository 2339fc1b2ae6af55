package tracking

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awserr"
	"github.com/ecsworker/ecsworker/internal/backoff"
)

// FlowRunTag is the task tag the worker sets to the flow run's id.
const FlowRunTag = "prefect.io/flow-run-id"

// flowRunEnv is the variable the worker puts in the orchestration
// container's overrides. EventBridge task events carry no tags (the Python
// observer calls DescribeTasks for them), but they do carry the overrides,
// so this is how an event is matched to its flow run without an extra call.
const flowRunEnv = "PREFECT__FLOW_RUN_ID"

// TaskEvent is one "ECS Task State Change" event of a flow-run task.
type TaskEvent struct {
	ID        string // the EventBridge event id
	Task      ecstypes.Task
	FlowRunID string
	// Version is the task's version in ECS; it grows with every change, so
	// it orders events that SQS delivers out of order or twice.
	Version int64
	Time    time.Time
}

// ErrEventQueueNotFound is returned by EventConsumer.Run when the queue does
// not exist. The worker then works on polling alone.
var ErrEventQueueNotFound = errors.New("ECS events queue not found")

// EventOptions tune an EventConsumer. Zero values take the defaults.
type EventOptions struct {
	WaitSeconds int32 // long-poll wait, default (and SQS maximum) 20
	MaxMessages int32 // per receive, default (and SQS maximum) 10
	Logger      *slog.Logger
	// MaxBackoff caps the wait after failed SQS calls; default 1 minute.
	MaxBackoff time.Duration
	// Permissions remembers the SQS actions refused to the identity (nil:
	// none remembered).
	Permissions *awserr.Permissions
}

// EventConsumer reads ECS task state change events from an SQS queue fed
// by an EventBridge rule, in the format of the queue that
// `prefect-aws ecs-worker deploy-events` creates, so existing stacks work
// unchanged. Events only make the tracker faster: a lost or late event is
// caught by its next poll.
type EventConsumer struct {
	api   awsclient.SQSAPI
	queue string
	opts  EventOptions
	log   *slog.Logger
}

// NewEventConsumer returns a consumer of the queue given by URL, ARN or name.
func NewEventConsumer(api awsclient.SQSAPI, queueURLOrName string, opts EventOptions) *EventConsumer {
	if opts.WaitSeconds <= 0 || opts.WaitSeconds > 20 {
		opts.WaitSeconds = 20
	}
	if opts.MaxMessages <= 0 || opts.MaxMessages > 10 {
		opts.MaxMessages = 10
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = time.Minute
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &EventConsumer{api: api, queue: queueURLOrName, opts: opts, log: log.With("queue", queueURLOrName)}
}

// Run receives events until ctx is done and then returns nil. Every event
// of a flow-run task is passed to deliver, in the order of each batch's
// event times, and deleted from the queue once deliver returns. Messages
// that are not such events (other event types, other tasks, broken JSON)
// are deleted without delivery: left on the queue they would only come
// back. SQS failures are retried with a growing wait; a missing queue ends
// Run early with ErrEventQueueNotFound, and an action the identity may not
// use (or the endpoint lacks) with that error, remembered in the
// Permissions: the worker then follows tasks by polling.
func (c *EventConsumer) Run(ctx context.Context, deliver func(TaskEvent)) error {
	url, err := c.queueURL(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	var failures int
	for ctx.Err() == nil {
		out, err := c.api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:            &url,
			MaxNumberOfMessages: c.opts.MaxMessages,
			WaitTimeSeconds:     c.opts.WaitSeconds,
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if awserr.IsQueueNotFound(err) {
				return fmt.Errorf("receive from %s: %w: %w", url, ErrEventQueueNotFound, err)
			}
			if c.opts.Permissions.Note("sqs:ReceiveMessage", "", err) {
				return fmt.Errorf("receive from %s: %w", url, err)
			}
			failures++
			c.log.Warn("receiving ECS task events failed; retrying", "error", err, "attempt", failures)
			if backoff.Sleep(ctx, backoff.Delay(failures, time.Second, c.opts.MaxBackoff)) != nil {
				return nil
			}
			continue
		}
		failures = 0
		c.handle(ctx, url, out.Messages, deliver)
	}
	return nil
}

func (c *EventConsumer) handle(ctx context.Context, url string, msgs []sqstypes.Message, deliver func(TaskEvent)) {
	var events []TaskEvent
	var done []sqstypes.DeleteMessageBatchRequestEntry
	for i, m := range msgs {
		if m.ReceiptHandle == nil {
			continue
		}
		done = append(done, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String("m" + strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
		ev, ours, err := ParseTaskEvent([]byte(aws.ToString(m.Body)))
		switch {
		case err != nil:
			c.log.Warn("deleting an unreadable message from the ECS events queue", "message_id", aws.ToString(m.MessageId), "error", err)
		case ours:
			events = append(events, ev)
		}
	}
	// SQS standard queues reorder; the tracker copes either way, but
	// delivering a batch in event order avoids needless version checks.
	slices.SortStableFunc(events, func(a, b TaskEvent) int { return a.Time.Compare(b.Time) })
	for _, ev := range events {
		deliver(ev)
	}
	if len(done) == 0 {
		return
	}
	// Deletion must not be skipped when Run is being stopped: the events
	// were delivered, and redelivering them costs a whole visibility timeout.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if !c.opts.Permissions.Usable("sqs:DeleteMessage", "") {
		return // refused before, and said so then
	}
	out, err := c.api.DeleteMessageBatch(dctx, &sqs.DeleteMessageBatchInput{QueueUrl: &url, Entries: done})
	if c.opts.Permissions.Note("sqs:DeleteMessage", "", err) {
		return
	}
	if err != nil {
		c.log.Warn("deleting handled ECS task events failed; they will be received again", "error", err, "count", len(done))
		return
	}
	for _, f := range out.Failed {
		c.log.Warn("deleting a handled ECS task event failed; it will be received again",
			"id", aws.ToString(f.Id), "code", aws.ToString(f.Code), "error", aws.ToString(f.Message))
	}
}

// queueURL resolves a queue name or ARN, retrying failures other than a
// missing queue.
func (c *EventConsumer) queueURL(ctx context.Context) (string, error) {
	q := c.queue
	if strings.HasPrefix(q, "https://") || strings.HasPrefix(q, "http://") {
		return q, nil
	}
	in := &sqs.GetQueueUrlInput{QueueName: aws.String(q)}
	// arn:aws:sqs:<region>:<account>:<name>
	if parts := strings.Split(q, ":"); len(parts) == 6 && parts[0] == "arn" && parts[2] == "sqs" {
		in = &sqs.GetQueueUrlInput{QueueName: aws.String(parts[5]), QueueOwnerAWSAccountId: aws.String(parts[4])}
	}
	for attempt := 1; ; attempt++ {
		out, err := c.api.GetQueueUrl(ctx, in)
		if err == nil {
			return aws.ToString(out.QueueUrl), nil
		}
		if c.opts.Permissions.Note("sqs:GetQueueUrl", "", err) {
			return "", fmt.Errorf("find SQS queue %q: %w", q, err)
		}
		if awserr.IsQueueNotFound(err) {
			return "", fmt.Errorf("find SQS queue %q: %w: deploy it (ecsworker's events stack or `prefect-aws ecs-worker deploy-events`) "+
				"or point the worker at an existing queue; until then tasks are followed by polling alone: %w", q, ErrEventQueueNotFound, err)
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		c.log.Warn("finding the ECS events queue failed; retrying", "error", err, "attempt", attempt)
		if backoff.Sleep(ctx, backoff.Delay(attempt, time.Second, c.opts.MaxBackoff)) != nil {
			return "", ctx.Err()
		}
	}
}

// ParseTaskEvent reads one SQS message body. ours is false, with no error,
// for well-formed messages that are not task state changes of a flow run
// (other event types, tasks without the flow-run tag or variable). err is
// set for bodies that are not EventBridge events at all. Bodies wrapped in
// an SNS notification are unwrapped, so a queue fed through SNS works too.
func ParseTaskEvent(body []byte) (ev TaskEvent, ours bool, err error) {
	var env eventEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		return TaskEvent{}, false, fmt.Errorf("not an EventBridge event: %w", err)
	}
	if env.Type == "Notification" && env.Message != "" {
		return ParseTaskEvent([]byte(env.Message))
	}
	if env.DetailType == "" {
		return TaskEvent{}, false, errors.New("not an EventBridge event: no detail-type")
	}
	if env.DetailType != "ECS Task State Change" {
		return TaskEvent{}, false, nil
	}
	var d taskDetail
	if len(env.Detail) == 0 || bytes.Equal(env.Detail, []byte("null")) {
		return TaskEvent{}, false, errors.New("ECS task state change without detail")
	}
	if err := json.Unmarshal(env.Detail, &d); err != nil {
		return TaskEvent{}, false, fmt.Errorf("ECS task state change with an unreadable detail: %w", err)
	}
	if d.TaskArn == "" || d.LastStatus == "" {
		return TaskEvent{}, false, errors.New("ECS task state change without taskArn or lastStatus")
	}
	ev = TaskEvent{ID: env.ID, Task: d.task(), Version: d.Version, Time: env.Time}
	ev.FlowRunID = flowRunID(ev.Task)
	return ev, ev.FlowRunID != "", nil
}

// flowRunID reads the flow-run tag, else the flow-run variable of any
// container override.
func flowRunID(t ecstypes.Task) string {
	for _, tag := range t.Tags {
		if aws.ToString(tag.Key) == FlowRunTag && aws.ToString(tag.Value) != "" {
			return aws.ToString(tag.Value)
		}
	}
	if t.Overrides != nil {
		for _, co := range t.Overrides.ContainerOverrides {
			for _, kv := range co.Environment {
				if aws.ToString(kv.Name) == flowRunEnv && aws.ToString(kv.Value) != "" {
					return aws.ToString(kv.Value)
				}
			}
		}
	}
	return ""
}

type eventEnvelope struct {
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Time       time.Time       `json:"time"`
	Detail     json.RawMessage `json:"detail"`
	// SNS notification wrapping.
	Type    string `json:"Type"`
	Message string `json:"Message"`
}

// taskDetail is the detail of an "ECS Task State Change" event. Its field
// names are the ECS API's; times are ISO-8601 strings, not the epoch
// numbers of the API, which is why the SDK's own decoder cannot be used.
type taskDetail struct {
	Attachments []struct {
		ID      string          `json:"id"`
		Type    string          `json:"type"`
		Status  string          `json:"status"`
		Details []nameValueJSON `json:"details"`
	} `json:"attachments"`
	Attributes           []nameValueJSON `json:"attributes"`
	AvailabilityZone     string          `json:"availabilityZone"`
	CapacityProviderName string          `json:"capacityProviderName"`
	ClusterArn           string          `json:"clusterArn"`
	Connectivity         string          `json:"connectivity"`
	ConnectivityAt       *time.Time      `json:"connectivityAt"`
	ContainerInstanceArn string          `json:"containerInstanceArn"`
	Containers           []struct {
		ContainerArn string   `json:"containerArn"`
		ExitCode     *int32   `json:"exitCode"`
		LastStatus   string   `json:"lastStatus"`
		Name         string   `json:"name"`
		Image        string   `json:"image"`
		ImageDigest  string   `json:"imageDigest"`
		RuntimeID    string   `json:"runtimeId"`
		TaskArn      string   `json:"taskArn"`
		Reason       string   `json:"reason"`
		CPU          string   `json:"cpu"`
		Memory       string   `json:"memory"`
		GpuIds       []string `json:"gpuIds"`
	} `json:"containers"`
	CPU                string     `json:"cpu"`
	CreatedAt          *time.Time `json:"createdAt"`
	DesiredStatus      string     `json:"desiredStatus"`
	ExecutionStoppedAt *time.Time `json:"executionStoppedAt"`
	Group              string     `json:"group"`
	LastStatus         string     `json:"lastStatus"`
	LaunchType         string     `json:"launchType"`
	Memory             string     `json:"memory"`
	Overrides          *struct {
		ContainerOverrides []struct {
			Name        string          `json:"name"`
			Command     []string        `json:"command"`
			Environment []nameValueJSON `json:"environment"`
		} `json:"containerOverrides"`
		CPU              string `json:"cpu"`
		Memory           string `json:"memory"`
		TaskRoleArn      string `json:"taskRoleArn"`
		ExecutionRoleArn string `json:"executionRoleArn"`
	} `json:"overrides"`
	PlatformFamily  string     `json:"platformFamily"`
	PlatformVersion string     `json:"platformVersion"`
	PullStartedAt   *time.Time `json:"pullStartedAt"`
	PullStoppedAt   *time.Time `json:"pullStoppedAt"`
	StartedAt       *time.Time `json:"startedAt"`
	StartedBy       string     `json:"startedBy"`
	StopCode        string     `json:"stopCode"`
	StoppedAt       *time.Time `json:"stoppedAt"`
	StoppedReason   string     `json:"stoppedReason"`
	StoppingAt      *time.Time `json:"stoppingAt"`
	Tags            []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"tags"`
	TaskArn           string `json:"taskArn"`
	TaskDefinitionArn string `json:"taskDefinitionArn"`
	Version           int64  `json:"version"`
}

type nameValueJSON struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

func (d *taskDetail) task() ecstypes.Task {
	t := ecstypes.Task{
		AvailabilityZone:     strOrNil(d.AvailabilityZone),
		CapacityProviderName: strOrNil(d.CapacityProviderName),
		ClusterArn:           strOrNil(d.ClusterArn),
		Connectivity:         ecstypes.Connectivity(d.Connectivity),
		ConnectivityAt:       d.ConnectivityAt,
		ContainerInstanceArn: strOrNil(d.ContainerInstanceArn),
		Cpu:                  strOrNil(d.CPU),
		CreatedAt:            d.CreatedAt,
		DesiredStatus:        strOrNil(d.DesiredStatus),
		ExecutionStoppedAt:   d.ExecutionStoppedAt,
		Group:                strOrNil(d.Group),
		LastStatus:           strOrNil(d.LastStatus),
		LaunchType:           ecstypes.LaunchType(d.LaunchType),
		Memory:               strOrNil(d.Memory),
		PlatformFamily:       strOrNil(d.PlatformFamily),
		PlatformVersion:      strOrNil(d.PlatformVersion),
		PullStartedAt:        d.PullStartedAt,
		PullStoppedAt:        d.PullStoppedAt,
		StartedAt:            d.StartedAt,
		StartedBy:            strOrNil(d.StartedBy),
		StopCode:             ecstypes.TaskStopCode(d.StopCode),
		StoppedAt:            d.StoppedAt,
		StoppedReason:        strOrNil(d.StoppedReason),
		StoppingAt:           d.StoppingAt,
		TaskArn:              strOrNil(d.TaskArn),
		TaskDefinitionArn:    strOrNil(d.TaskDefinitionArn),
		Version:              d.Version,
	}
	for _, a := range d.Attachments {
		att := ecstypes.Attachment{Id: strOrNil(a.ID), Type: strOrNil(a.Type), Status: strOrNil(a.Status)}
		for _, kv := range a.Details {
			att.Details = append(att.Details, ecstypes.KeyValuePair{Name: strOrNil(kv.Name), Value: aws.String(kv.Value)})
		}
		t.Attachments = append(t.Attachments, att)
	}
	for _, a := range d.Attributes {
		t.Attributes = append(t.Attributes, ecstypes.Attribute{Name: aws.String(a.Name), Value: strOrNil(a.Value)})
	}
	for _, c := range d.Containers {
		t.Containers = append(t.Containers, ecstypes.Container{
			ContainerArn: strOrNil(c.ContainerArn),
			ExitCode:     c.ExitCode,
			LastStatus:   strOrNil(c.LastStatus),
			Name:         strOrNil(c.Name),
			Image:        strOrNil(c.Image),
			ImageDigest:  strOrNil(c.ImageDigest),
			RuntimeId:    strOrNil(c.RuntimeID),
			TaskArn:      strOrNil(c.TaskArn),
			Reason:       strOrNil(c.Reason),
			Cpu:          strOrNil(c.CPU),
			Memory:       strOrNil(c.Memory),
			GpuIds:       c.GpuIds,
		})
	}
	if o := d.Overrides; o != nil {
		to := &ecstypes.TaskOverride{
			Cpu:              strOrNil(o.CPU),
			Memory:           strOrNil(o.Memory),
			TaskRoleArn:      strOrNil(o.TaskRoleArn),
			ExecutionRoleArn: strOrNil(o.ExecutionRoleArn),
		}
		for _, co := range o.ContainerOverrides {
			eco := ecstypes.ContainerOverride{Name: strOrNil(co.Name), Command: co.Command}
			for _, kv := range co.Environment {
				eco.Environment = append(eco.Environment, ecstypes.KeyValuePair{Name: aws.String(kv.Name), Value: aws.String(kv.Value)})
			}
			to.ContainerOverrides = append(to.ContainerOverrides, eco)
		}
		t.Overrides = to
	}
	for _, tag := range d.Tags {
		t.Tags = append(t.Tags, ecstypes.Tag{Key: aws.String(tag.Key), Value: aws.String(tag.Value)})
	}
	return t
}

// strOrNil keeps absent fields nil, as the SDK would decode them.
func strOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
