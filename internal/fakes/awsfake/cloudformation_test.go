package awsfake_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
)

// cfnEnv is the fake in a synctest bubble (time.Sleep moves its clock
// instantly) with a CloudFormation client.
func cfnEnv(t *testing.T) (*awsfake.Server, *cloudformation.Client, context.Context) {
	t.Helper()
	s := awsfake.New(awsfake.Options{})
	t.Cleanup(s.Close)
	cfg := aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		BaseEndpoint: aws.String(s.URL()),
		HTTPClient:   s.HTTPClient(),
	}
	return s, cloudformation.NewFromConfig(cfg), t.Context()
}

// testTemplate has a parameter of each kind the fake validates, a
// conditional resource, a retained one, IAM (for the capability check),
// and outputs built with every intrinsic function the worker templates use.
const testTemplate = `{
  "Description": "fake test",
  "Parameters": {
    "Name": {"Type": "String", "AllowedPattern": "^[a-z]+$", "ConstraintDescription": "lower-case letters"},
    "Secret": {"Type": "String", "NoEcho": true, "Default": ""},
    "Count": {"Type": "Number", "Default": 1, "MinValue": 0, "MaxValue": 5},
    "Items": {"Type": "CommaDelimitedList", "Default": "a,b"},
    "Mode": {"Type": "String", "Default": "on", "AllowedValues": ["on", "off"]}
  },
  "Conditions": {
    "HasSecret": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Secret"}, ""]}]},
    "On": {"Fn::And": [{"Fn::Equals": [{"Ref": "Mode"}, "on"]}, {"Condition": "HasSecret"}]}
  },
  "Resources": {
    "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 30}},
    "Logs": {"Type": "AWS::Logs::LogGroup", "DeletionPolicy": "Retain", "Properties": {"RetentionInDays": 7}},
    "Store": {"Type": "AWS::SecretsManager::Secret", "Condition": "HasSecret", "Properties": {"SecretString": {"Ref": "Secret"}}},
    "Role": {"Type": "AWS::IAM::Role", "Properties": {
      "AssumeRolePolicyDocument": {"Statement": []},
      "Policies": [{"PolicyName": "p", "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "sqs:*",
        "Resource": [{"Fn::GetAtt": ["Queue", "Arn"]}, {"Fn::If": ["HasSecret", {"Ref": "Store"}, {"Ref": "AWS::NoValue"}]}]}]}}]}}
  },
  "Outputs": {
    "QueueName": {"Value": {"Fn::GetAtt": ["Queue", "QueueName"]}},
    "Joined": {"Value": {"Fn::Join": ["+", {"Ref": "Items"}]}},
    "Sub": {"Value": {"Fn::Sub": ["${AWS::StackName}/${Name}/${X}", {"X": {"Fn::Select": [1, {"Fn::Split": ["/", "a/b/c"]}]}}]}},
    "SecretArn": {"Condition": "HasSecret", "Value": {"Ref": "Store"}},
    "Role": {"Value": {"Fn::GetAtt": ["Role", "Arn"]}}
  }
}`

func params(kv ...string) []cfntypes.Parameter {
	var out []cfntypes.Parameter
	for i := 0; i < len(kv); i += 2 {
		out = append(out, cfntypes.Parameter{ParameterKey: aws.String(kv[i]), ParameterValue: aws.String(kv[i+1])})
	}
	return out
}

var iamCaps = []cfntypes.Capability{cfntypes.CapabilityCapabilityIam}

func stackStatus(t *testing.T, ctx context.Context, c *cloudformation.Client, name string) string {
	t.Helper()
	out, err := c.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	if err != nil {
		t.Fatalf("DescribeStacks %s: %v", name, err)
	}
	return string(out.Stacks[0].StackStatus)
}

// events returns the stack's events oldest first as "Logical STATUS".
func events(t *testing.T, ctx context.Context, c *cloudformation.Client, stack string) []string {
	t.Helper()
	var out []string
	p := cloudformation.NewDescribeStackEventsPaginator(c, &cloudformation.DescribeStackEventsInput{StackName: aws.String(stack)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.StackEvents {
			s := aws.ToString(e.LogicalResourceId) + " " + string(e.ResourceStatus)
			if r := aws.ToString(e.ResourceStatusReason); r != "" && r != "User Initiated" {
				s += ": " + r
			}
			out = append([]string{s}, out...)
		}
	}
	return out
}

func TestCloudFormationChangeSetLifecycle(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s, c, ctx := cfnEnv(t)
		cs, err := c.CreateChangeSet(ctx, &cloudformation.CreateChangeSetInput{
			StackName: aws.String("app"), ChangeSetName: aws.String("one"), ChangeSetType: cfntypes.ChangeSetTypeCreate,
			TemplateBody: aws.String(testTemplate), Parameters: params("Name", "app", "Secret", "s3cr3t-value"),
			Capabilities: iamCaps, Tags: []cfntypes.Tag{{Key: aws.String("team"), Value: aws.String("data")}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := stackStatus(t, ctx, c, "app"); got != "REVIEW_IN_PROGRESS" {
			t.Errorf("status after CreateChangeSet = %s", got)
		}
		d, _ := c.DescribeChangeSet(ctx, &cloudformation.DescribeChangeSetInput{ChangeSetName: cs.Id})
		if d.Status != cfntypes.ChangeSetStatusCreateInProgress {
			t.Errorf("change set status = %s, want CREATE_IN_PROGRESS at first", d.Status)
		}
		if _, err := c.ExecuteChangeSet(ctx, &cloudformation.ExecuteChangeSetInput{ChangeSetName: cs.Id}); apiCode(err) != "InvalidChangeSetStatus" {
			t.Errorf("executing an unfinished change set: %v", err)
		}
		time.Sleep(awsfake.DefaultStackStep)
		d, _ = c.DescribeChangeSet(ctx, &cloudformation.DescribeChangeSetInput{ChangeSetName: aws.String("one"), StackName: aws.String("app")})
		if d.Status != cfntypes.ChangeSetStatusCreateComplete || d.ExecutionStatus != cfntypes.ExecutionStatusAvailable || len(d.Changes) != 4 {
			t.Fatalf("change set: %s %s %d changes", d.Status, d.ExecutionStatus, len(d.Changes))
		}
		for _, p := range d.Parameters {
			if aws.ToString(p.ParameterKey) == "Secret" && aws.ToString(p.ParameterValue) != "****" {
				t.Errorf("a NoEcho parameter is shown: %s", aws.ToString(p.ParameterValue))
			}
		}
		if _, err := c.ExecuteChangeSet(ctx, &cloudformation.ExecuteChangeSetInput{ChangeSetName: cs.Id}); err != nil {
			t.Fatal(err)
		}
		if got := stackStatus(t, ctx, c, "app"); got != "CREATE_IN_PROGRESS" {
			t.Errorf("status while executing = %s", got)
		}
		time.Sleep(10 * awsfake.DefaultStackStep)
		out, _ := c.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String("app")})
		st := out.Stacks[0]
		if st.StackStatus != cfntypes.StackStatusCreateComplete {
			t.Fatalf("status = %s", st.StackStatus)
		}
		outputs := map[string]string{}
		for _, o := range st.Outputs {
			outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
		}
		if outputs["Joined"] != "a+b" || outputs["Sub"] != "app/app/b" || !strings.HasPrefix(outputs["QueueName"], "app-Queue-") ||
			!strings.HasPrefix(outputs["SecretArn"], "arn:aws:secretsmanager:us-east-1:123456789012:secret:Store-") ||
			!strings.HasPrefix(outputs["Role"], "arn:aws:iam::123456789012:role/app-Role-") {
			t.Errorf("outputs: %v", outputs)
		}
		want := []string{"app REVIEW_IN_PROGRESS", "app CREATE_IN_PROGRESS",
			"Queue CREATE_IN_PROGRESS", "Queue CREATE_COMPLETE", "Logs CREATE_IN_PROGRESS", "Logs CREATE_COMPLETE",
			"Store CREATE_IN_PROGRESS", "Store CREATE_COMPLETE", "Role CREATE_IN_PROGRESS", "Role CREATE_COMPLETE", "app CREATE_COMPLETE"}
		if got := events(t, ctx, c, "app"); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		view, _ := s.Stack("app")
		role, _ := view.Resource("Role")
		stmt := role.Properties.(map[string]any)["Policies"].([]any)[0].(map[string]any)["PolicyDocument"].(map[string]any)["Statement"].([]any)[0].(map[string]any)
		if res := stmt["Resource"].([]any); len(res) != 2 || res[1] != outputs["SecretArn"] {
			t.Errorf("policy resources resolved to %v", res)
		}
		if view.Parameters["Secret"] != "s3cr3t-value" || view.Tags["team"] != "data" {
			t.Errorf("view: %v %v", view.Parameters, view.Tags)
		}

		// The same template and parameters again: an empty change set.
		cs2, err := c.CreateChangeSet(ctx, &cloudformation.CreateChangeSetInput{
			StackName: aws.String("app"), ChangeSetName: aws.String("two"), TemplateBody: aws.String(testTemplate),
			Parameters: params("Name", "app", "Secret", "s3cr3t-value"), Capabilities: iamCaps,
			Tags: []cfntypes.Tag{{Key: aws.String("team"), Value: aws.String("data")}},
		})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(awsfake.DefaultStackStep)
		d, _ = c.DescribeChangeSet(ctx, &cloudformation.DescribeChangeSetInput{ChangeSetName: cs2.Id})
		if d.Status != cfntypes.ChangeSetStatusFailed || !strings.Contains(aws.ToString(d.StatusReason), "didn't contain changes") {
			t.Errorf("unchanged change set: %s %q", d.Status, aws.ToString(d.StatusReason))
		}
		if _, err := c.DeleteChangeSet(ctx, &cloudformation.DeleteChangeSetInput{ChangeSetName: cs2.Id}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DescribeChangeSet(ctx, &cloudformation.DescribeChangeSetInput{ChangeSetName: cs2.Id}); apiCode(err) != "ChangeSetNotFound" {
			t.Errorf("deleted change set: %v", err)
		}
		_, err = c.UpdateStack(ctx, &cloudformation.UpdateStackInput{StackName: aws.String("app"), TemplateBody: aws.String(testTemplate),
			Parameters: params("Name", "app", "Secret", "s3cr3t-value"), Capabilities: iamCaps,
			Tags: []cfntypes.Tag{{Key: aws.String("team"), Value: aws.String("data")}}})
		if apiCode(err) != "ValidationError" || apiMessage(err) != "No updates are to be performed." {
			t.Errorf("UpdateStack without changes: %v", err)
		}

		// Without the secret, the conditional resource goes at cleanup.
		if _, err := c.UpdateStack(ctx, &cloudformation.UpdateStackInput{StackName: aws.String("app"), TemplateBody: aws.String(testTemplate),
			Parameters: params("Name", "app"), Capabilities: iamCaps}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * awsfake.DefaultStackStep)
		if got := stackStatus(t, ctx, c, "app"); got != "UPDATE_COMPLETE" {
			t.Fatalf("after update: %s", got)
		}
		ev := strings.Join(events(t, ctx, c, "app"), "\n")
		if !strings.Contains(ev, "Role UPDATE_COMPLETE\napp UPDATE_COMPLETE_CLEANUP_IN_PROGRESS\nStore DELETE_IN_PROGRESS\nStore DELETE_COMPLETE\napp UPDATE_COMPLETE") {
			t.Errorf("update events:\n%s", ev)
		}
		if v, _ := s.Stack("app"); v.Outputs["SecretArn"] != "" || v.Tags["team"] != "data" {
			t.Errorf("after update: outputs %v, tags %v (UpdateStack without Tags keeps them)", v.Outputs, v.Tags)
		}

		// Deleting skips the retained log group; the stack stays visible by ID.
		id := view.ID
		if _, err := c.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: aws.String("app")}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * awsfake.DefaultStackStep)
		if _, err := c.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String("app")}); apiCode(err) != "ValidationError" || !strings.Contains(apiMessage(err), "does not exist") {
			t.Errorf("deleted stack by name: %v", err)
		}
		if got := stackStatus(t, ctx, c, id); got != "DELETE_COMPLETE" {
			t.Errorf("deleted stack by ID: %s", got)
		}
		if ev := strings.Join(events(t, ctx, c, id), "\n"); !strings.Contains(ev, "Logs DELETE_SKIPPED") || !strings.HasSuffix(ev, "app DELETE_COMPLETE") {
			t.Errorf("delete events:\n%s", ev)
		}
		ls, _ := c.ListStacks(ctx, &cloudformation.ListStacksInput{StackStatusFilter: []cfntypes.StackStatus{cfntypes.StackStatusDeleteComplete}})
		if len(ls.StackSummaries) != 1 {
			t.Errorf("ListStacks DELETE_COMPLETE: %d", len(ls.StackSummaries))
		}
		if _, err := c.DeleteStack(ctx, &cloudformation.DeleteStackInput{StackName: aws.String("app")}); err != nil {
			t.Errorf("deleting a deleted stack succeeds on AWS: %v", err)
		}
	})
}

func TestCloudFormationFailures(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s, c, ctx := cfnEnv(t)
		s.FailNextStack("Store", "Resource handler returned message: \"Access denied\"")
		if _, err := c.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("bad"), TemplateBody: aws.String(testTemplate),
			Parameters: params("Name", "bad", "Secret", "x"), Capabilities: iamCaps}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * awsfake.DefaultStackStep)
		out, _ := c.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String("bad")})
		if st := out.Stacks[0]; st.StackStatus != cfntypes.StackStatusRollbackComplete || len(st.Outputs) != 0 {
			t.Errorf("failed creation: %s, %d outputs", st.StackStatus, len(st.Outputs))
		}
		want := []string{"bad CREATE_IN_PROGRESS", "Queue CREATE_IN_PROGRESS", "Queue CREATE_COMPLETE", "Logs CREATE_IN_PROGRESS", "Logs CREATE_COMPLETE",
			"Store CREATE_IN_PROGRESS", "Store CREATE_FAILED: Resource handler returned message: \"Access denied\"",
			"bad ROLLBACK_IN_PROGRESS: The following resource(s) failed to create: [Store]. Rollback requested by user.",
			"Logs DELETE_SKIPPED", "Queue DELETE_IN_PROGRESS", "Queue DELETE_COMPLETE", "Store DELETE_COMPLETE", "bad ROLLBACK_COMPLETE"}
		if got := events(t, ctx, c, "bad"); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("events:\n%s", strings.Join(got, "\n"))
		}
		_, err := c.CreateChangeSet(ctx, &cloudformation.CreateChangeSetInput{StackName: aws.String("bad"), ChangeSetName: aws.String("x"),
			TemplateBody: aws.String(testTemplate), Parameters: params("Name", "bad"), Capabilities: iamCaps})
		if apiCode(err) != "ValidationError" || !strings.Contains(apiMessage(err), "ROLLBACK_COMPLETE state and can not be updated") {
			t.Errorf("updating a rolled back stack: %v", err)
		}

		// A failed update rolls back and leaves the stack as it was.
		if _, err := c.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("good"), TemplateBody: aws.String(testTemplate),
			Parameters: params("Name", "good"), Capabilities: iamCaps}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * awsfake.DefaultStackStep)
		s.FailNextStack("Role", "Policy is malformed")
		if _, err := c.UpdateStack(ctx, &cloudformation.UpdateStackInput{StackName: aws.String("good"), TemplateBody: aws.String(testTemplate),
			Parameters: params("Name", "good", "Count", "3", "Secret", "new"), Capabilities: iamCaps}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * awsfake.DefaultStackStep)
		v, _ := s.Stack("good")
		if v.Status != "UPDATE_ROLLBACK_COMPLETE" || v.Parameters["Count"] != "1" || v.Outputs["SecretArn"] != "" {
			t.Errorf("after a failed update: %s %v %v", v.Status, v.Parameters, v.Outputs)
		}
		ev := strings.Join(events(t, ctx, c, "good"), "\n")
		if !strings.Contains(ev, "Role UPDATE_FAILED: Policy is malformed\ngood UPDATE_ROLLBACK_IN_PROGRESS") || !strings.Contains(ev, "Store DELETE_COMPLETE\ngood UPDATE_ROLLBACK_COMPLETE") {
			t.Errorf("failed update events:\n%s", ev)
		}
	})
}

func TestCloudFormationValidation(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		body   string
		params []cfntypes.Parameter
		caps   []cfntypes.Capability
		code   string
		msg    string
	}{
		"missing parameter":  {body: testTemplate, caps: iamCaps, code: "ValidationError", msg: "Parameters: [Name] must have values"},
		"unknown parameter":  {body: testTemplate, params: params("Name", "a", "Nope", "x"), caps: iamCaps, code: "ValidationError", msg: "Parameters: [Nope] do not exist in the template"},
		"pattern":            {body: testTemplate, params: params("Name", "A1"), caps: iamCaps, code: "ValidationError", msg: "Parameter 'Name' failed to satisfy constraint: lower-case letters"},
		"allowed values":     {body: testTemplate, params: params("Name", "a", "Mode", "maybe"), caps: iamCaps, code: "ValidationError", msg: "Parameter 'Mode' must be one of AllowedValues"},
		"number range":       {body: testTemplate, params: params("Name", "a", "Count", "9"), caps: iamCaps, code: "ValidationError", msg: "Parameter 'Count' must be a number not greater than 5"},
		"not a number":       {body: testTemplate, params: params("Name", "a", "Count", "x"), caps: iamCaps, code: "ValidationError", msg: "Parameter 'Count' must be a number."},
		"capabilities":       {body: testTemplate, params: params("Name", "a"), code: "InsufficientCapabilitiesException", msg: "Requires capabilities : [CAPABILITY_IAM]"},
		"named IAM":          {body: `{"Resources": {"R": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "x"}}}}`, caps: iamCaps, code: "InsufficientCapabilitiesException", msg: "[CAPABILITY_NAMED_IAM]"},
		"unresolved ref":     {body: `{"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Ref": "Nope"}}}}}`, code: "ValidationError", msg: "Unresolved resource dependencies [Nope]"},
		"unresolved sub":     {body: `{"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::Sub": "${Nope.Arn}"}}}}}`, code: "ValidationError", msg: "Unresolved resource dependencies [Nope]"},
		"undefined cond":     {body: `{"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Condition": "Nope"}}}`, code: "ValidationError", msg: "unresolved condition dependency Nope"},
		"no resources":       {body: `{"Resources": {}}`, code: "ValidationError", msg: "At least one Resources member must be defined."},
		"yaml":               {body: "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n", code: "ValidationError", msg: "Template format error"},
		"vpc does not exist": {body: `{"Parameters": {"V": {"Type": "AWS::EC2::VPC::Id"}}, "Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}`, params: params("V", "vpc-0123456789abcdef0"), code: "ValidationError", msg: "Parameter value vpc-0123456789abcdef0 for parameter name V does not exist"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, c, ctx := cfnEnv(t)
			_, err := c.CreateChangeSet(ctx, &cloudformation.CreateChangeSetInput{StackName: aws.String("v"), ChangeSetName: aws.String("v"),
				ChangeSetType: cfntypes.ChangeSetTypeCreate, TemplateBody: aws.String(tc.body), Parameters: tc.params, Capabilities: tc.caps})
			if apiCode(err) != tc.code || !strings.Contains(apiMessage(err), tc.msg) {
				t.Errorf("got %v, want %s: %s", err, tc.code, tc.msg)
			}
			if _, err := c.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String("v")}); err == nil {
				t.Errorf("a refused change set left a stack behind")
			}
		})
	}
}

func TestCloudFormationValidateAndGetTemplate(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		_, c, ctx := cfnEnv(t)
		v, err := c.ValidateTemplate(ctx, &cloudformation.ValidateTemplateInput{TemplateBody: aws.String(testTemplate)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(v.Description) != "fake test" || len(v.Parameters) != 5 || len(v.Capabilities) != 1 || v.Capabilities[0] != cfntypes.CapabilityCapabilityIam ||
			!strings.Contains(aws.ToString(v.CapabilitiesReason), "AWS::IAM::Role") {
			t.Errorf("ValidateTemplate: %+v", v)
		}
		for _, p := range v.Parameters {
			if aws.ToString(p.ParameterKey) == "Secret" && !aws.ToBool(p.NoEcho) {
				t.Errorf("Secret should be NoEcho")
			}
		}
		if _, err := c.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("g"), TemplateBody: aws.String(testTemplate),
			Parameters: params("Name", "g"), Capabilities: iamCaps}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("g"), TemplateBody: aws.String(testTemplate),
			Parameters: params("Name", "g"), Capabilities: iamCaps}); apiCode(err) != "AlreadyExistsException" {
			t.Errorf("second CreateStack: %v", err)
		}
		if _, err := c.UpdateStack(ctx, &cloudformation.UpdateStackInput{StackName: aws.String("g"), TemplateBody: aws.String(testTemplate),
			Parameters: params("Name", "h"), Capabilities: iamCaps}); apiCode(err) != "ValidationError" || !strings.Contains(apiMessage(err), "CREATE_IN_PROGRESS state and can not be updated") {
			t.Errorf("update while creating: %v", err)
		}
		got, err := c.GetTemplate(ctx, &cloudformation.GetTemplateInput{StackName: aws.String("g")})
		if err != nil || aws.ToString(got.TemplateBody) != testTemplate {
			t.Errorf("GetTemplate: %v", err)
		}
	})
}

// A dashboard whose body is not a JSON object with widgets once Fn::Sub
// has run fails to create, as PutDashboard refuses it; a good one is
// created with a generated name.
func TestCloudFormationDashboardBody(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		body, want string
	}{
		"valid":      {body: `{"widgets": [{"type": "text", "properties": {"markdown": "${AWS::Region} ${Name}"}}]}`},
		"not JSON":   {body: `{"widgets": [${Name}]}`, want: "Should be valid JSON"},
		"no widgets": {body: `{"title": "${Name}"}`, want: "Should have required property 'widgets'"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, c, ctx := cfnEnv(t)
				b, _ := json.Marshal(tc.body)
				tmpl := `{"Parameters": {"Name": {"Type": "String"}}, "Resources": {"Board": {"Type": "AWS::CloudWatch::Dashboard", "Properties": {"DashboardBody": {"Fn::Sub": ` + string(b) + `}}}},
					"Outputs": {"Board": {"Value": {"Ref": "Board"}}}}`
				if _, err := c.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("dash"), TemplateBody: aws.String(tmpl), Parameters: params("Name", "etl")}); err != nil {
					t.Fatal(err)
				}
				time.Sleep(20 * awsfake.DefaultStackStep)
				v, _ := s.Stack("dash")
				ev := strings.Join(events(t, ctx, c, "dash"), "\n")
				if tc.want == "" {
					if v.Status != "CREATE_COMPLETE" || !strings.HasPrefix(v.Outputs["Board"], "dash-Board-") {
						t.Errorf("%s, dashboard %q:\n%s", v.Status, v.Outputs["Board"], ev)
					}
					return
				}
				if v.Status != "ROLLBACK_COMPLETE" || !strings.Contains(ev, "Board CREATE_FAILED: Resource handler returned message: \"The dashboard body is invalid") || !strings.Contains(ev, tc.want) {
					t.Errorf("%s:\n%s", v.Status, ev)
				}
			})
		})
	}
}
