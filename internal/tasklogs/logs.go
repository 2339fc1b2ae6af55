// Package tasklogs reads the output of a flow run's container from
// CloudWatch Logs: where the awslogs driver writes it (the group and
// stream of a container of a task), reading forward from a cursor, and the
// last lines of a stream, as the worker forwards them for crashed runs.
package tasklogs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwltypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awserr"
)

// getLogEventsMax is the most events one GetLogEvents call returns.
const getLogEventsMax = 10000

// maxReadPages bounds the calls of one Read: CloudWatch may answer with
// empty pages before the data, each with a new token, and a caller that
// reads again later loses nothing.
const maxReadPages = 10

// Source is the CloudWatch Logs stream of one container of one task.
type Source struct {
	Group, Stream string
	// Region is the awslogs-region of the container, else the task's; Read
	// and Tail call that region whatever the client's default.
	Region string
}

// Cursor is where a Read stopped; the zero cursor is the stream's start.
type Cursor struct {
	// Token is CloudWatch's nextForwardToken.
	Token string
}

// Line is one log event.
type Line struct {
	Time    time.Time
	Message string
}

// SourceFor finds where the awslogs driver writes a container's output:
// stream <awslogs-stream-prefix>/<container>/<task id>. An empty
// containerName picks "prefect", else the only container, as the worker
// does. It reports false when the container is not in td, or does not log
// to CloudWatch with a stream prefix (without one the stream is named after
// the Docker container id, which ECS does not report).
func SourceFor(td ecstypes.TaskDefinition, containerName, taskARN string) (Source, bool) {
	want := cmp.Or(containerName, "prefect")
	var cd *ecstypes.ContainerDefinition
	for i := range td.ContainerDefinitions {
		if aws.ToString(td.ContainerDefinitions[i].Name) == want {
			cd = &td.ContainerDefinitions[i]
			break
		}
	}
	// A name that was asked for is not guessed at: another container's
	// output would be passed off as the flow's.
	if cd == nil && containerName == "" && len(td.ContainerDefinitions) == 1 {
		cd = &td.ContainerDefinitions[0]
	}
	if cd == nil || cd.LogConfiguration == nil || cd.LogConfiguration.LogDriver != ecstypes.LogDriverAwslogs {
		return Source{}, false
	}
	opts := cd.LogConfiguration.Options
	group, prefix := opts["awslogs-group"], opts["awslogs-stream-prefix"]
	taskID := arnLastSegment(taskARN)
	if group == "" || prefix == "" || taskID == "" {
		return Source{}, false
	}
	region := opts["awslogs-region"]
	if region == "" {
		region = arnRegionField(taskARN)
	}
	return Source{Group: group, Stream: prefix + "/" + aws.ToString(cd.Name) + "/" + taskID, Region: region}, true
}

// arnLastSegment is the last part of a task ARN (both the old
// task/<id> and the new task/<cluster>/<id> forms).
func arnLastSegment(arn string) string {
	if i := strings.LastIndexByte(arn, '/'); i >= 0 {
		return arn[i+1:]
	}
	return ""
}

// arnRegionField is the region field of an ARN.
func arnRegionField(arn string) string {
	parts := strings.SplitN(arn, ":", 5)
	if len(parts) < 5 || parts[0] != "arn" {
		return ""
	}
	return parts[3]
}

// Reader reads container output from CloudWatch Logs.
type Reader struct {
	api   awsclient.LogsAPI
	perms *awserr.Permissions
}

// NewReader returns a reader that calls api. A log group the identity
// may not read (logs:GetLogEvents) is remembered in perms (which may be
// nil) and not read again until the refusal is old: its reads return no
// lines and the refusal.
func NewReader(api awsclient.LogsAPI, perms *awserr.Permissions) *Reader {
	return &Reader{api: api, perms: perms}
}

// ErrUnreadable wraps the refusal of a log group the reader may not
// read; the caller goes on without the lines.
var ErrUnreadable = errors.New("the log group cannot be read")

func (r *Reader) refused(src Source) error {
	if err := r.perms.Refusal("logs:GetLogEvents", src.Group); err != nil {
		return fmt.Errorf("%w: %w", ErrUnreadable, err)
	}
	return nil
}

func (r *Reader) note(src Source, err error) error {
	if r.perms.Note("logs:GetLogEvents", src.Group, err) {
		return fmt.Errorf("%w: %w", ErrUnreadable, err)
	}
	return err
}

// Read returns up to limit lines after cursor, oldest first, and the
// cursor to read on from. No lines and the same cursor mean the reader is
// caught up. A stream that does not exist (yet: the awslogs driver creates
// it when the container starts) gives no lines and no error.
func (r *Reader) Read(ctx context.Context, src Source, cursor Cursor, limit int) ([]Line, Cursor, error) {
	if limit <= 0 || limit > getLogEventsMax {
		limit = getLogEventsMax
	}
	if err := r.refused(src); err != nil {
		return nil, cursor, err
	}
	var lines []Line
	for page := 0; page < maxReadPages && len(lines) < limit; page++ {
		in := &cloudwatchlogs.GetLogEventsInput{
			LogGroupName:  aws.String(src.Group),
			LogStreamName: aws.String(src.Stream),
			StartFromHead: aws.Bool(true),
			Limit:         aws.Int32(int32(limit - len(lines))),
		}
		if cursor.Token != "" {
			in.NextToken = aws.String(cursor.Token)
		}
		out, err := r.api.GetLogEvents(ctx, in, src.inRegion)
		if err != nil {
			if isLogsNotFound(err) {
				return lines, cursor, nil
			}
			return lines, cursor, fmt.Errorf("read log stream %s of group %s: %w", src.Stream, src.Group, r.note(src, err))
		}
		lines = appendEvents(lines, out.Events)
		next := aws.ToString(out.NextForwardToken)
		if next == "" || next == cursor.Token {
			break
		}
		cursor.Token = next
	}
	return lines, cursor, nil
}

// Tail returns the last n lines of the stream (at most 10,000), oldest
// first, as the Python observer forwards them for crashed runs.
func (r *Reader) Tail(ctx context.Context, src Source, n int) ([]Line, error) {
	if n <= 0 {
		return nil, nil
	}
	if err := r.refused(src); err != nil {
		return nil, err
	}
	out, err := r.api.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{
		LogGroupName:  aws.String(src.Group),
		LogStreamName: aws.String(src.Stream),
		StartFromHead: aws.Bool(false),
		Limit:         aws.Int32(int32(min(n, getLogEventsMax))),
	}, src.inRegion)
	if err != nil {
		if isLogsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("read the end of log stream %s of group %s: %w", src.Stream, src.Group, r.note(src, err))
	}
	return appendEvents(nil, out.Events), nil
}

func (src Source) inRegion(o *cloudwatchlogs.Options) {
	if src.Region != "" {
		o.Region = src.Region
	}
}

func appendEvents(lines []Line, evs []cwltypes.OutputLogEvent) []Line {
	for _, e := range evs {
		lines = append(lines, Line{Time: time.UnixMilli(aws.ToInt64(e.Timestamp)).UTC(), Message: aws.ToString(e.Message)})
	}
	return lines
}

func isLogsNotFound(err error) bool {
	var nf *cwltypes.ResourceNotFoundException
	return errors.As(err, &nf)
}
