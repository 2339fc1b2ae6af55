package cfnstack

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awserr"
)

// Stack is a CloudFormation stack as the infra commands show it.
type Stack struct {
	Name         string            `json:"name"`
	ID           string            `json:"id"`
	Status       string            `json:"status"`
	StatusReason string            `json:"statusReason,omitempty"`
	Kind         Kind              `json:"type,omitempty"`
	WorkPool     string            `json:"workPool,omitempty"`
	Cluster      string            `json:"cluster,omitempty"`
	Description  string            `json:"description,omitempty"`
	Created      time.Time         `json:"created"`
	Updated      *time.Time        `json:"updated,omitempty"`
	Outputs      []Output          `json:"outputs"`
	Tags         map[string]string `json:"tags"`
}

// Output is a stack output.
type Output struct {
	Key         string `json:"key"`
	Value       string `json:"value"`
	Description string `json:"description,omitempty"`
}

// Managed tells whether ecsworker created the stack.
func (s *Stack) Managed() bool { return s.Tags[TagManagedBy] == ManagedByVal }

// OutputMap returns the outputs by key.
func (s *Stack) OutputMap() map[string]string {
	m := make(map[string]string, len(s.Outputs))
	for _, o := range s.Outputs {
		m[o.Key] = o.Value
	}
	return m
}

// InProgress tells whether CloudFormation is still working on the stack.
func InProgress(status string) bool { return strings.HasSuffix(status, "_IN_PROGRESS") }

// Succeeded tells a status that ends a successful operation.
func Succeeded(status string) bool {
	switch status {
	case "CREATE_COMPLETE", "UPDATE_COMPLETE", "DELETE_COMPLETE", "IMPORT_COMPLETE":
		return true
	}
	return false
}

// NotFoundError means there is no such stack.
type NotFoundError struct{ Stack, Region string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("stack %s does not exist in %s; 'ecsworker infra list' shows the stacks ecsworker deployed there", e.Stack, e.Region)
}

// NotManagedError means the stack exists but ecsworker did not create it,
// so no infra command changes it.
type NotManagedError struct{ Stack string }

func (e *NotManagedError) Error() string {
	return fmt.Sprintf("stack %s was not deployed by ecsworker (it lacks the tag %s=%s), so ecsworker leaves it alone; pick another --stack-name, or manage it with CloudFormation directly", e.Stack, TagManagedBy, ManagedByVal)
}

func stackFrom(s cfntypes.Stack) *Stack {
	out := &Stack{
		Name:         aws.ToString(s.StackName),
		ID:           aws.ToString(s.StackId),
		Status:       string(s.StackStatus),
		StatusReason: aws.ToString(s.StackStatusReason),
		Description:  aws.ToString(s.Description),
		Created:      aws.ToTime(s.CreationTime),
		Updated:      s.LastUpdatedTime,
		Tags:         map[string]string{},
		Outputs:      []Output{},
	}
	for _, t := range s.Tags {
		out.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	out.Kind = Kind(out.Tags[TagKind])
	out.WorkPool = out.Tags[TagWorkPool]
	out.Cluster = out.Tags[TagCluster]
	for _, o := range s.Outputs {
		out.Outputs = append(out.Outputs, Output{Key: aws.ToString(o.OutputKey), Value: aws.ToString(o.OutputValue), Description: aws.ToString(o.Description)})
	}
	slices.SortFunc(out.Outputs, func(a, b Output) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// DescribeStack returns a stack by name or ID, or a *NotFoundError.
func DescribeStack(ctx context.Context, api awsclient.CloudFormationAPI, region, nameOrID string) (*Stack, error) {
	out, err := api.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(nameOrID)})
	if err != nil {
		if awserr.IsStackNotFound(err) {
			return nil, &NotFoundError{Stack: nameOrID, Region: region}
		}
		return nil, fmt.Errorf("describe stack %s: %w", nameOrID, err)
	}
	if len(out.Stacks) == 0 {
		return nil, &NotFoundError{Stack: nameOrID, Region: region}
	}
	return stackFrom(out.Stacks[0]), nil
}

// ManagedStack returns a stack only if ecsworker created it.
func ManagedStack(ctx context.Context, api awsclient.CloudFormationAPI, region, name string) (*Stack, error) {
	s, err := DescribeStack(ctx, api, region, name)
	if err != nil {
		return nil, err
	}
	if !s.Managed() {
		return nil, &NotManagedError{Stack: name}
	}
	return s, nil
}

// ListStacks returns the stacks ecsworker created in the region, by name.
// DescribeStacks is used rather than ListStacks because only it has tags.
func ListStacks(ctx context.Context, api awsclient.CloudFormationAPI) ([]*Stack, error) {
	var out []*Stack
	p := cloudformation.NewDescribeStacksPaginator(api, &cloudformation.DescribeStacksInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list stacks: %w", err)
		}
		for _, s := range page.Stacks {
			st := stackFrom(s)
			if st.Managed() && st.Status != "DELETE_COMPLETE" {
				out = append(out, st)
			}
		}
	}
	slices.SortFunc(out, func(a, b *Stack) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// StackEvent is one event of a stack operation.
type StackEvent struct {
	ID         string    `json:"id"`
	Time       time.Time `json:"time"`
	LogicalID  string    `json:"logicalId"`
	PhysicalID string    `json:"physicalId,omitempty"`
	Type       string    `json:"type"`
	Status     string    `json:"status"`
	Reason     string    `json:"reason,omitempty"`
}

// IsStack tells an event about the stack itself rather than a resource.
func (e StackEvent) IsStack() bool { return e.Type == "AWS::CloudFormation::Stack" }

// ResourceFailure is a resource that failed, with CloudFormation's reason.
type ResourceFailure struct {
	LogicalID string `json:"logicalId"`
	Type      string `json:"type"`
	Status    string `json:"status"`
	Reason    string `json:"reason"`
}

// cancelled are the reasons CloudFormation gives resources it stopped
// because another one failed; they are consequences, not causes.
func cancelled(reason string) bool {
	return strings.Contains(reason, "Resource creation cancelled") || strings.Contains(reason, "Resource update cancelled")
}

// Failures picks the failed resources out of events, oldest first, root
// causes before the resources that were only cancelled because of them.
func Failures(events []StackEvent) []ResourceFailure {
	var causes, consequences []ResourceFailure
	for _, e := range events {
		if e.IsStack() || !strings.HasSuffix(e.Status, "_FAILED") {
			continue
		}
		f := ResourceFailure{LogicalID: e.LogicalID, Type: e.Type, Status: e.Status, Reason: e.Reason}
		if cancelled(e.Reason) {
			consequences = append(consequences, f)
		} else {
			causes = append(causes, f)
		}
	}
	return append(causes, consequences...)
}

// RecentEvents returns the events of the stack's last operation, oldest
// first: those since the last stack-level *_IN_PROGRESS event that began
// it (User Initiated).
func RecentEvents(ctx context.Context, api awsclient.CloudFormationAPI, stackID string) ([]StackEvent, error) {
	var newest []StackEvent
	in := &cloudformation.DescribeStackEventsInput{StackName: aws.String(stackID)}
	for {
		out, err := api.DescribeStackEvents(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("describe the events of stack %s: %w", stackID, err)
		}
		for _, e := range out.StackEvents {
			ev := eventFrom(e)
			newest = append(newest, ev)
			if ev.IsStack() && InProgress(ev.Status) && ev.Reason == "User Initiated" {
				slices.Reverse(newest)
				return newest, nil
			}
		}
		if out.NextToken == nil {
			break
		}
		in.NextToken = out.NextToken
	}
	slices.Reverse(newest)
	return newest, nil
}

func eventFrom(e cfntypes.StackEvent) StackEvent {
	return StackEvent{
		ID:         aws.ToString(e.EventId),
		Time:       aws.ToTime(e.Timestamp),
		LogicalID:  aws.ToString(e.LogicalResourceId),
		PhysicalID: aws.ToString(e.PhysicalResourceId),
		Type:       aws.ToString(e.ResourceType),
		Status:     string(e.ResourceStatus),
		Reason:     aws.ToString(e.ResourceStatusReason),
	}
}
