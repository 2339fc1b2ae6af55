package cfnstack

import (
	"context"
	"errors"
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

// Progress hears what a deploy or delete does, as it happens.
type Progress interface {
	// Step announces a phase ("Creating change set ...").
	Step(msg string)
	// Event is a new stack event; events come oldest first.
	Event(StackEvent)
}

// Deployer creates, updates and deletes stacks through change sets.
type Deployer struct {
	CFN    awsclient.CloudFormationAPI
	Region string
	Clock  Clock
	// Progress may be nil.
	Progress Progress
	// Poll is the time between two looks at a stack or change set.
	Poll time.Duration
	// Timeout bounds each wait; the stack operation goes on in AWS after it.
	Timeout time.Duration
}

func (d *Deployer) clock() Clock {
	if d.Clock == nil {
		return RealClock()
	}
	return d.Clock
}

func (d *Deployer) poll() time.Duration {
	if d.Poll <= 0 {
		return 3 * time.Second
	}
	return d.Poll
}

func (d *Deployer) timeout() time.Duration {
	if d.Timeout <= 0 {
		return time.Hour
	}
	return d.Timeout
}

func (d *Deployer) step(format string, args ...any) {
	if d.Progress != nil {
		d.Progress.Step(fmt.Sprintf(format, args...))
	}
}

// DeployInput is one deploy.
type DeployInput struct {
	StackName  string
	Kind       Kind
	Template   string
	Parameters []cfntypes.Parameter
	Tags       []cfntypes.Tag
	// Wait follows the stack until it settles; otherwise Deploy returns
	// once the change set is executing.
	Wait bool
}

// Change is one resource change of a change set.
type Change struct {
	Action      string `json:"action"`
	LogicalID   string `json:"logicalId"`
	Type        string `json:"type"`
	Replacement string `json:"replacement,omitempty"`
}

// DeployResult is what a deploy did.
type DeployResult struct {
	Stack   *Stack   `json:"stack"`
	Action  string   `json:"action"` // create or update
	Changes []Change `json:"changes"`
	// Waited tells whether Stack is the settled result, or the stack as
	// the change set started executing.
	Waited bool `json:"waited"`
}

// NoChangesError is CloudFormation's "no changes" (an empty change set):
// the stack is already as asked. It is a message, not a failure.
type NoChangesError struct{ Stack *Stack }

func (e *NoChangesError) Error() string {
	return fmt.Sprintf("stack %s is already up to date: no changes to deploy", e.Stack.Name)
}

// ChangeSetFailedError is a change set CloudFormation could not make
// (a bad parameter value, a missing capability, ...).
type ChangeSetFailedError struct{ Stack, Reason string }

func (e *ChangeSetFailedError) Error() string {
	return fmt.Sprintf("CloudFormation refused the change set for stack %s: %s", e.Stack, e.Reason)
}

// StackFailedError is an operation that ended in failure (rolled back, or
// a delete that failed), with the resources that failed and why.
type StackFailedError struct {
	Stack     string            `json:"stack"`
	Operation string            `json:"operation"`
	Status    string            `json:"status"`
	Reason    string            `json:"reason,omitempty"`
	Failures  []ResourceFailure `json:"failures"`
}

func (e *StackFailedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the %s of stack %s failed: %s", e.Operation, e.Stack, e.Status)
	if e.Reason != "" {
		fmt.Fprintf(&b, " (%s)", e.Reason)
	}
	return b.String()
}

// StackBusyError means another operation is under way on the stack.
type StackBusyError struct{ Stack, Status string }

func (e *StackBusyError) Error() string {
	return fmt.Sprintf("stack %s is busy (%s); wait until it settles ('ecsworker infra status %s') and try again", e.Stack, e.Status, e.Stack)
}

// StuckStackError is a stack CloudFormation left in a state that needs a
// person: a failed rollback or a failed delete.
type StuckStackError struct{ Stack, Status string }

func (e *StuckStackError) Error() string {
	fix := "fix or retain the resources that failed and run 'ecsworker infra delete " + e.Stack + "', or continue the rollback in the CloudFormation console"
	return fmt.Sprintf("stack %s is in %s, which needs attention before it can be deployed again: %s", e.Stack, e.Status, fix)
}

// TimeoutError means a wait ran out; CloudFormation goes on.
type TimeoutError struct {
	Stack  string
	Status string
	After  time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("stack %s is still %s after %s; CloudFormation goes on: follow it with 'ecsworker infra status %s'", e.Stack, e.Status, e.After, e.Stack)
}

// noChangesReason tells the status reasons of an empty change set.
func noChangesReason(reason string) bool {
	return strings.Contains(reason, "didn't contain changes") || strings.Contains(reason, "No updates are to be performed")
}

// Deploy creates the stack, or updates it, through a change set.
func (d *Deployer) Deploy(ctx context.Context, in DeployInput) (*DeployResult, error) {
	existing, err := DescribeStack(ctx, d.CFN, d.Region, in.StackName)
	var nf *NotFoundError
	switch {
	case errors.As(err, &nf):
		existing = nil
	case err != nil:
		return nil, err
	case !existing.Managed():
		return nil, &NotManagedError{Stack: in.StackName}
	}
	csType := cfntypes.ChangeSetTypeUpdate
	if existing != nil {
		switch st := existing.Status; {
		case st == "ROLLBACK_COMPLETE" || st == "REVIEW_IN_PROGRESS":
			// Nothing of a failed first creation remains; CloudFormation only
			// lets the stack be deleted, so start afresh.
			d.step("Stack %s is in %s after a failed creation; deleting it before creating it again", in.StackName, st)
			if err := d.deleteAndWait(ctx, existing); err != nil {
				return nil, err
			}
			existing = nil
		case InProgress(st):
			return nil, &StackBusyError{Stack: in.StackName, Status: st}
		case strings.HasSuffix(st, "_FAILED"):
			return nil, &StuckStackError{Stack: in.StackName, Status: st}
		}
	}
	if existing == nil {
		csType = cfntypes.ChangeSetTypeCreate
	}

	name := "ecsworker-" + d.clock().Now().UTC().Format("20060102-150405")
	d.step("Creating a change set for stack %s", in.StackName)
	cs, err := d.CFN.CreateChangeSet(ctx, &cloudformation.CreateChangeSetInput{
		StackName:     aws.String(in.StackName),
		ChangeSetName: aws.String(name),
		ChangeSetType: csType,
		TemplateBody:  aws.String(in.Template),
		Parameters:    in.Parameters,
		Tags:          in.Tags,
		// The template creates IAM roles and policies but names none, so
		// CAPABILITY_NAMED_IAM is not needed.
		Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityIam},
		Description:  aws.String("ecsworker infra deploy-" + string(in.Kind)),
	})
	if err != nil {
		return nil, fmt.Errorf("create a change set for stack %s: %s", in.StackName, awserr.ErrorMessage(err))
	}
	changes, err := d.waitChangeSet(ctx, in.StackName, aws.ToString(cs.Id))
	if err != nil {
		var empty *NoChangesError
		if errors.As(err, &empty) {
			d.deleteChangeSet(ctx, aws.ToString(cs.Id))
			return nil, &NoChangesError{Stack: existing}
		}
		if csType == cfntypes.ChangeSetTypeCreate {
			// A refused CREATE change set leaves an empty stack in
			// REVIEW_IN_PROGRESS behind; remove it.
			_, _ = d.CFN.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: cs.StackId})
		} else {
			d.deleteChangeSet(ctx, aws.ToString(cs.Id))
		}
		return nil, err
	}
	action := "update"
	if csType == cfntypes.ChangeSetTypeCreate {
		action = "create"
	}

	since, err := d.lastEventID(ctx, aws.ToString(cs.StackId))
	if err != nil {
		return nil, err
	}
	d.step("Executing the change set (%d resource change(s))", len(changes))
	if _, err := d.CFN.ExecuteChangeSet(ctx, &cloudformation.ExecuteChangeSetInput{ChangeSetName: cs.Id}); err != nil {
		return nil, fmt.Errorf("execute the change set of stack %s: %s", in.StackName, awserr.ErrorMessage(err))
	}
	res := &DeployResult{Action: action, Changes: changes, Waited: in.Wait}
	if !in.Wait {
		res.Stack, err = DescribeStack(ctx, d.CFN, d.Region, aws.ToString(cs.StackId))
		return res, err
	}
	final, events, err := d.follow(ctx, in.StackName, aws.ToString(cs.StackId), since)
	if err != nil {
		return nil, err
	}
	res.Stack = final
	if !Succeeded(final.Status) {
		return nil, &StackFailedError{Stack: in.StackName, Operation: action, Status: final.Status, Reason: failureReason(final, events), Failures: Failures(events)}
	}
	return res, nil
}

// Delete deletes a stack ecsworker created and, with wait, follows it
// until it is gone.
func (d *Deployer) Delete(ctx context.Context, s *Stack, wait bool) (*Stack, error) {
	if InProgress(s.Status) && s.Status != "REVIEW_IN_PROGRESS" {
		return nil, &StackBusyError{Stack: s.Name, Status: s.Status}
	}
	since, err := d.lastEventID(ctx, s.ID)
	if err != nil {
		return nil, err
	}
	if _, err := d.CFN.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: aws.String(s.ID)}); err != nil {
		return nil, fmt.Errorf("delete stack %s: %s", s.Name, awserr.ErrorMessage(err))
	}
	if !wait {
		return DescribeStack(ctx, d.CFN, d.Region, s.ID)
	}
	final, events, err := d.follow(ctx, s.Name, s.ID, since)
	if err != nil {
		return nil, err
	}
	if final.Status != "DELETE_COMPLETE" {
		return nil, &StackFailedError{Stack: s.Name, Operation: "delete", Status: final.Status, Reason: failureReason(final, events), Failures: Failures(events)}
	}
	return final, nil
}

// failureReason is the stack's own explanation of a failed operation.
// Once a rollback completes the stack's status reason is often empty, so
// the reason of the event that started the rollback stands in for it.
func failureReason(final *Stack, events []StackEvent) string {
	if final.StatusReason != "" && final.StatusReason != "User Initiated" {
		return final.StatusReason
	}
	for _, e := range slices.Backward(events) {
		if e.IsStack() && e.Reason != "" && e.Reason != "User Initiated" {
			return strings.TrimSpace(e.Reason)
		}
	}
	return ""
}

func (d *Deployer) deleteAndWait(ctx context.Context, s *Stack) error {
	_, err := d.Delete(ctx, s, true)
	return err
}

func (d *Deployer) deleteChangeSet(ctx context.Context, id string) {
	// Best effort: an empty change set left behind is harmless and
	// CloudFormation removes change sets when the stack next changes.
	_, _ = d.CFN.DeleteChangeSet(ctx, &cloudformation.DeleteChangeSetInput{ChangeSetName: aws.String(id)})
}

func (d *Deployer) waitChangeSet(ctx context.Context, stack, id string) ([]Change, error) {
	clk := d.clock()
	deadline := clk.Now().Add(d.timeout())
	for {
		out, err := d.CFN.DescribeChangeSet(ctx, &cloudformation.DescribeChangeSetInput{ChangeSetName: aws.String(id)})
		if err != nil {
			return nil, fmt.Errorf("describe the change set of stack %s: %s", stack, awserr.ErrorMessage(err))
		}
		switch out.Status {
		case cfntypes.ChangeSetStatusCreateComplete:
			changes := []Change{}
			for _, c := range out.Changes {
				if rc := c.ResourceChange; rc != nil {
					changes = append(changes, Change{Action: string(rc.Action), LogicalID: aws.ToString(rc.LogicalResourceId),
						Type: aws.ToString(rc.ResourceType), Replacement: string(rc.Replacement)})
				}
			}
			for out.NextToken != nil {
				// Large change sets are paged; the first page is enough to
				// decide, the rest only completes the list shown.
				next, err := d.CFN.DescribeChangeSet(ctx, &cloudformation.DescribeChangeSetInput{ChangeSetName: aws.String(id), NextToken: out.NextToken})
				if err != nil {
					break
				}
				for _, c := range next.Changes {
					if rc := c.ResourceChange; rc != nil {
						changes = append(changes, Change{Action: string(rc.Action), LogicalID: aws.ToString(rc.LogicalResourceId),
							Type: aws.ToString(rc.ResourceType), Replacement: string(rc.Replacement)})
					}
				}
				out = next
			}
			return changes, nil
		case cfntypes.ChangeSetStatusFailed:
			reason := aws.ToString(out.StatusReason)
			if noChangesReason(reason) {
				return nil, &NoChangesError{}
			}
			return nil, &ChangeSetFailedError{Stack: stack, Reason: reason}
		}
		if !clk.Now().Before(deadline) {
			return nil, &TimeoutError{Stack: stack, Status: "creating its change set (" + string(out.Status) + ")", After: d.timeout()}
		}
		if err := clk.Sleep(ctx, d.poll()); err != nil {
			return nil, err
		}
	}
}

// lastEventID is the newest event before an operation, so that following
// it shows only what the operation does.
func (d *Deployer) lastEventID(ctx context.Context, stackID string) (string, error) {
	out, err := d.CFN.DescribeStackEvents(ctx, &cloudformation.DescribeStackEventsInput{StackName: aws.String(stackID)})
	if err != nil {
		return "", fmt.Errorf("describe the events of stack %s: %s", stackID, awserr.ErrorMessage(err))
	}
	if len(out.StackEvents) == 0 {
		return "", nil
	}
	return aws.ToString(out.StackEvents[0].EventId), nil
}

// follow streams the stack's events after since until the stack settles,
// and returns the stack as it ended and every event of the operation.
func (d *Deployer) follow(ctx context.Context, name, stackID, since string) (*Stack, []StackEvent, error) {
	clk := d.clock()
	deadline := clk.Now().Add(d.timeout())
	var all []StackEvent
	seen := map[string]bool{}
	for {
		fresh, err := d.newEvents(ctx, stackID, since, seen)
		if err != nil {
			return nil, all, err
		}
		for _, e := range fresh {
			seen[e.ID] = true
			all = append(all, e)
			if d.Progress != nil {
				d.Progress.Event(e)
			}
		}
		settled := false
		if n := len(fresh); n > 0 {
			last := fresh[n-1]
			settled = last.IsStack() && last.LogicalID == name && !InProgress(last.Status)
		}
		if settled || len(fresh) == 0 {
			// Events can lag the stack; the stack's own status decides.
			s, err := DescribeStack(ctx, d.CFN, d.Region, stackID)
			if err != nil {
				return nil, all, err
			}
			if !InProgress(s.Status) {
				if settled {
					return s, all, nil
				}
				// Settled between two looks: pick up its last events.
				if more, err := d.newEvents(ctx, stackID, since, seen); err == nil {
					for _, e := range more {
						all = append(all, e)
						if d.Progress != nil {
							d.Progress.Event(e)
						}
					}
				}
				return s, all, nil
			}
		}
		if !clk.Now().Before(deadline) {
			status := "IN_PROGRESS"
			for _, e := range slices.Backward(all) {
				if e.IsStack() {
					status = e.Status
					break
				}
			}
			return nil, all, &TimeoutError{Stack: name, Status: status, After: d.timeout()}
		}
		if err := clk.Sleep(ctx, d.poll()); err != nil {
			return nil, all, err
		}
	}
}

// newEvents pages through the events, newest first, down to the first one
// already seen (or since), and returns the unseen ones oldest first.
func (d *Deployer) newEvents(ctx context.Context, stackID, since string, seen map[string]bool) ([]StackEvent, error) {
	var fresh []StackEvent
	in := &cloudformation.DescribeStackEventsInput{StackName: aws.String(stackID)}
	for {
		out, err := d.CFN.DescribeStackEvents(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("describe the events of stack %s: %s", stackID, awserr.ErrorMessage(err))
		}
		for _, e := range out.StackEvents {
			id := aws.ToString(e.EventId)
			if id == since || seen[id] {
				slices.Reverse(fresh)
				return fresh, nil
			}
			fresh = append(fresh, eventFrom(e))
		}
		if out.NextToken == nil {
			slices.Reverse(fresh)
			return fresh, nil
		}
		in.NextToken = out.NextToken
	}
}
