package cfnstack_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/ecsworker/ecsworker/internal/cfnstack"
	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
	"github.com/ecsworker/ecsworker/internal/infra"
)

func eventsInput(s *awsfake.Server, stack string) cfnstack.DeployInput {
	body, _ := infra.Body(cfnstack.KindEvents, "")
	cfg := infra.EventsConfig{StackName: stack, WorkPool: "p", ClusterArn: s.CreateCluster("prod")}
	return cfnstack.DeployInput{StackName: stack, Kind: cfnstack.KindEvents, Template: body, Parameters: cfg.Parameters(),
		Tags: cfnstack.Tags(cfnstack.KindEvents, "p"), Wait: true}
}

// Inside a synctest bubble the deployer's RealClock sleeps are virtual and
// the fake's clock is the bubble's, so stack operations take their
// scripted time without the test waiting for it.

func TestDeployCreateUpdateNoChangesDelete(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s, c := fakeAWS(t)
		rec := &recorder{}
		d := &cfnstack.Deployer{CFN: c.CFN, Region: c.Region, Progress: rec}
		in := eventsInput(s, "ev")

		res, err := d.Deploy(ctxOf(t), in)
		if err != nil {
			t.Fatal(err)
		}
		if res.Action != "create" || res.Stack.Status != "CREATE_COMPLETE" || !res.Waited || len(res.Changes) != 5 {
			t.Fatalf("create: %s %s %d changes", res.Action, res.Stack.Status, len(res.Changes))
		}
		if got := rec.statuses("EventsQueue"); !slices.Equal(got, []string{"CREATE_IN_PROGRESS", "CREATE_COMPLETE"}) {
			t.Errorf("EventsQueue events: %v", got)
		}
		if got := rec.statuses("ev"); !slices.Equal(got, []string{"CREATE_IN_PROGRESS", "CREATE_COMPLETE"}) {
			t.Errorf("stack events: %v (the REVIEW_IN_PROGRESS before execution is not part of the deploy)", got)
		}
		for i := 1; i < len(rec.events); i++ {
			if rec.events[i].Time.Before(rec.events[i-1].Time) {
				t.Errorf("events out of order: %v then %v", rec.events[i-1], rec.events[i])
			}
		}
		if res.Stack.WorkPool != "p" || res.Stack.Kind != cfnstack.KindEvents || res.Stack.OutputMap()["EventsQueueName"] == "" {
			t.Errorf("stack: %+v", res.Stack)
		}

		// The same again: CloudFormation's empty change set is a typed "no changes".
		calls := s.Calls()["cloudformation:ExecuteChangeSet"]
		_, err = d.Deploy(ctxOf(t), in)
		var none *cfnstack.NoChangesError
		if !errors.As(err, &none) || none.Stack.Name != "ev" {
			t.Fatalf("redeploy: %v", err)
		}
		if s.Calls()["cloudformation:ExecuteChangeSet"] != calls {
			t.Errorf("an empty change set was executed")
		}
		if out, _ := c.CFN.DescribeStacks(ctxOf(t), &cloudformation.DescribeStacksInput{StackName: aws.String("ev")}); out.Stacks[0].StackStatus != "CREATE_COMPLETE" {
			t.Errorf("status after no-op: %s", out.Stacks[0].StackStatus)
		}

		// A new pool name is a change: an update.
		in.Parameters[0].ParameterValue = aws.String("q")
		rec.events = nil
		res, err = d.Deploy(ctxOf(t), in)
		if err != nil || res.Action != "update" || res.Stack.Status != "UPDATE_COMPLETE" {
			t.Fatalf("update: %v %+v", err, res)
		}

		// Without waiting, Deploy returns as the change set starts executing.
		in.Parameters[0].ParameterValue = aws.String("r")
		in.Wait = false
		res, err = d.Deploy(ctxOf(t), in)
		if err != nil || res.Waited || res.Stack.Status != "UPDATE_IN_PROGRESS" {
			t.Fatalf("--no-wait: %v %+v", err, res)
		}
		_, err = d.Deploy(ctxOf(t), in)
		var busy *cfnstack.StackBusyError
		if !errors.As(err, &busy) || busy.Status != "UPDATE_IN_PROGRESS" {
			t.Errorf("deploying over an update in progress: %v", err)
		}
		time.Sleep(time.Minute)

		st, err := cfnstack.ManagedStack(ctxOf(t), c.CFN, c.Region, "ev")
		if err != nil {
			t.Fatal(err)
		}
		final, err := d.Delete(ctxOf(t), st, true)
		if err != nil || final.Status != "DELETE_COMPLETE" {
			t.Fatalf("delete: %v %+v", err, final)
		}
		_, err = cfnstack.DescribeStack(ctxOf(t), c.CFN, c.Region, "ev")
		var nf *cfnstack.NotFoundError
		if !errors.As(err, &nf) {
			t.Errorf("after delete: %v", err)
		}
	})
}

func TestDeployFailureAndRecreate(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s, c := fakeAWS(t)
		rec := &recorder{}
		d := &cfnstack.Deployer{CFN: c.CFN, Region: c.Region, Progress: rec}
		in := eventsInput(s, "ev")
		s.FailNextStack("EventsQueuePolicy", "Invalid policy syntax (Service: Sqs, Status Code: 400)")
		_, err := d.Deploy(ctxOf(t), in)
		var failed *cfnstack.StackFailedError
		if !errors.As(err, &failed) {
			t.Fatalf("want a StackFailedError, got %v", err)
		}
		if failed.Operation != "create" || failed.Status != "ROLLBACK_COMPLETE" || !strings.Contains(failed.Reason, "[EventsQueuePolicy]") {
			t.Errorf("failure: %+v", failed)
		}
		if len(failed.Failures) != 1 || failed.Failures[0].LogicalID != "EventsQueuePolicy" || failed.Failures[0].Status != "CREATE_FAILED" ||
			!strings.Contains(failed.Failures[0].Reason, "Invalid policy syntax") {
			t.Errorf("failed resources: %+v", failed.Failures)
		}
		if got := rec.statuses("EventsQueue"); !slices.Equal(got, []string{"CREATE_IN_PROGRESS", "CREATE_COMPLETE", "DELETE_IN_PROGRESS", "DELETE_COMPLETE"}) {
			t.Errorf("the rollback was not streamed: %v", got)
		}

		// RecentEvents finds the same failure for 'status'.
		st, _ := cfnstack.DescribeStack(ctxOf(t), c.CFN, c.Region, "ev")
		evs, err := cfnstack.RecentEvents(ctxOf(t), c.CFN, st.ID)
		if err != nil || len(cfnstack.Failures(evs)) != 1 {
			t.Errorf("RecentEvents: %v %v", err, cfnstack.Failures(evs))
		}

		// Deploying again deletes the rolled-back stack and creates it afresh.
		rec.steps = nil
		res, err := d.Deploy(ctxOf(t), in)
		if err != nil || res.Action != "create" || res.Stack.Status != "CREATE_COMPLETE" {
			t.Fatalf("recreate: %v %+v", err, res)
		}
		if !strings.Contains(strings.Join(rec.steps, "\n"), "ROLLBACK_COMPLETE after a failed creation; deleting it") {
			t.Errorf("steps: %v", rec.steps)
		}

		// A failed update rolls back, and says which resource failed.
		s.FailNextStack("TaskStateChangeRule", "Rule limit exceeded")
		in.Parameters[0].ParameterValue = aws.String("other")
		_, err = d.Deploy(ctxOf(t), in)
		if !errors.As(err, &failed) || failed.Operation != "update" || failed.Status != "UPDATE_ROLLBACK_COMPLETE" ||
			failed.Failures[0].LogicalID != "TaskStateChangeRule" || failed.Failures[0].Status != "UPDATE_FAILED" {
			t.Errorf("failed update: %v %+v", err, failed)
		}
		if v, _ := s.Stack("ev"); v.Parameters["WorkPoolName"] != "p" {
			t.Errorf("the rolled back stack kept %v", v.Parameters)
		}
	})
}

func TestDeployRefusals(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s, c := fakeAWS(t)
		d := &cfnstack.Deployer{CFN: c.CFN, Region: c.Region}
		in := eventsInput(s, "theirs")
		// A stack of the same name that ecsworker did not create.
		if _, err := c.CFN.(*cloudformation.Client).CreateStack(ctxOf(t), &cloudformation.CreateStackInput{StackName: aws.String("theirs"),
			TemplateBody: aws.String(in.Template), Parameters: in.Parameters, Capabilities: []cfntypes.Capability{cfntypes.CapabilityCapabilityIam}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		_, err := d.Deploy(ctxOf(t), in)
		var nm *cfnstack.NotManagedError
		if !errors.As(err, &nm) {
			t.Errorf("deploying over a foreign stack: %v", err)
		}
		if _, err := cfnstack.ManagedStack(ctxOf(t), c.CFN, c.Region, "theirs"); !errors.As(err, &nm) {
			t.Errorf("ManagedStack of a foreign stack: %v", err)
		}
		if list, err := cfnstack.ListStacks(ctxOf(t), c.CFN); err != nil || len(list) != 0 {
			t.Errorf("list shows foreign stacks: %v %v", list, err)
		}

		// A bad parameter makes CloudFormation refuse the change set; the
		// empty stack of a CREATE change set is not left behind.
		bad := eventsInput(s, "bad")
		bad.Parameters[1].ParameterValue = aws.String("prod")
		_, err = d.Deploy(ctxOf(t), bad)
		if err == nil || !strings.Contains(err.Error(), "ClusterArn") {
			t.Errorf("bad parameter: %v", err)
		}
		time.Sleep(time.Minute)
		if _, err := cfnstack.DescribeStack(ctxOf(t), c.CFN, c.Region, "bad"); err == nil {
			t.Errorf("a refused creation left a stack behind")
		}

		// A wait that runs out says so, and the stack goes on.
		slow := &cfnstack.Deployer{CFN: c.CFN, Region: c.Region, Timeout: 3 * time.Second}
		_, err = slow.Deploy(ctxOf(t), eventsInput(s, "slow"))
		var te *cfnstack.TimeoutError
		if !errors.As(err, &te) || !strings.Contains(err.Error(), "ecsworker infra status slow") {
			t.Errorf("timeout: %v", err)
		}
	})
}
