package awsfake_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
)

const user = "arn:aws:iam::123456789012:user/awsfake"

// workerPolicy lets the user run the "flow" family on cluster "work"
// only, passing the execution role to ECS tasks only, and tag the tasks
// RunTask creates there.
const workerPolicy = `{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": ["ecs:RegisterTaskDefinition", "ecs:Describe*"], "Resource": "*"},
    {"Effect": "Allow", "Action": "ECS:runtask", "Resource": "arn:aws:ecs:*:123456789012:task-definition/flow:*",
     "Condition": {"ArnEquals": {"ecs:cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/work"}}},
    {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
     "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}},
    {"Effect": "Allow", "Action": "ecs:TagResource", "Resource": "arn:aws:ecs:us-east-1:123456789012:task/work/*",
     "Condition": {"StringEquals": {"ecs:CreateAction": "RunTask"}}}
  ]
}`

func TestRunTaskAuthorization(t *testing.T) {
	t.Parallel()
	e := newEnv(t, awsfake.Options{DisableThrottling: true})
	e.s.CreateCluster("work")
	e.s.CreateCluster("other")
	td := e.register(t, fargateTD("flow"))
	if err := e.s.SetIdentityPolicy(user, workerPolicy); err != nil {
		t.Fatal(err)
	}

	if _, err := e.ecs.RunTask(e.ctx, e.fargateRun("work", "flow")); err != nil {
		t.Fatalf("allowed RunTask: %v", err)
	}
	tagged := e.fargateRun("work", "flow")
	tagged.Tags = []ecstypes.Tag{{Key: aws.String("prefect.io/flow-run-id"), Value: aws.String("r1")}}
	if _, err := e.ecs.RunTask(e.ctx, tagged); err != nil {
		t.Fatalf("tagged RunTask with ecs:TagResource allowed: %v", err)
	}

	_, err := e.ecs.RunTask(e.ctx, e.fargateRun("other", "flow"))
	want := "User: " + user + " is not authorized to perform: ecs:RunTask on resource: " + aws.ToString(td.TaskDefinitionArn) +
		" because no identity-based policy allows the ecs:RunTask action"
	if apiCode(err) != "AccessDeniedException" || apiMessage(err) != want || httpStatus(err) != 400 {
		t.Errorf("RunTask on another cluster = %v (status %d)\nwant %s", err, httpStatus(err), want)
	}

	override := e.fargateRun("work", "flow")
	override.Overrides = &ecstypes.TaskOverride{TaskRoleArn: aws.String("arn:aws:iam::123456789012:role/admin")}
	_, err = e.ecs.RunTask(e.ctx, override)
	want = "User: " + user + " is not authorized to perform: iam:PassRole on resource: arn:aws:iam::123456789012:role/admin because no identity-based policy allows the iam:PassRole action"
	if apiCode(err) != "AccessDeniedException" || apiMessage(err) != want {
		t.Errorf("RunTask passing another role = %v\nwant %s", err, want)
	}

	// Without ecs:TagResource, a tagged RunTask fails as a whole.
	if err := e.s.SetIdentityPolicy(user, strings.Replace(workerPolicy, `"ecs:CreateAction": "RunTask"`, `"ecs:CreateAction": "CreateService"`, 1)); err != nil {
		t.Fatal(err)
	}
	before := len(e.s.Tasks())
	_, err = e.ecs.RunTask(e.ctx, tagged)
	re := regexp.MustCompile(`^User: ` + user + ` is not authorized to perform: ecs:TagResource on resource: arn:aws:ecs:us-east-1:123456789012:task/work/[0-9a-f]{32} because no identity-based policy allows the ecs:TagResource action$`)
	if apiCode(err) != "AccessDeniedException" || !re.MatchString(apiMessage(err)) {
		t.Errorf("tagged RunTask without ecs:TagResource = %v", err)
	}
	if n := len(e.s.Tasks()); n != before {
		t.Errorf("%d tasks launched by a refused RunTask", n-before)
	}

	// An explicit deny wins over the allow.
	deny := strings.Replace(workerPolicy, `"Statement": [`, `"Statement": [{"Effect": "Deny", "NotAction": ["ecs:Describe*", "ecs:Register*", "iam:*"], "Resource": "*"},`, 1)
	if err := e.s.SetIdentityPolicy(user, deny); err != nil {
		t.Fatal(err)
	}
	_, err = e.ecs.RunTask(e.ctx, e.fargateRun("work", "flow"))
	if want := "with an explicit deny in an identity-based policy"; !strings.HasSuffix(apiMessage(err), want) {
		t.Errorf("explicitly denied RunTask = %v", err)
	}

	if got := e.s.Denied()["ecs:RunTask"]; got != 4 {
		t.Errorf("Denied()[ecs:RunTask] = %d, want 4", got)
	}
	if got := e.s.Calls()["ecs:RunTask"]; got != 6 {
		t.Errorf("Calls()[ecs:RunTask] = %d, want 6 (refused calls count)", got)
	}

	// Clearing the policies allows everything again.
	e.s.ClearIdentityPolicies()
	if _, err := e.ecs.RunTask(e.ctx, e.fargateRun("other", "flow")); err != nil {
		t.Errorf("after ClearIdentityPolicies: %v", err)
	}
}

func TestRegisterTaskDefinitionAuthorization(t *testing.T) {
	t.Parallel()
	e := newEnv(t, awsfake.Options{DisableThrottling: true})
	e.register(t, fargateTD("flow"))
	if err := e.s.SetIdentityPolicy("", `{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": "ecs:RegisterTaskDefinition", "Resource": "*"},
		{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::*:role/ecs*"}]}`); err != nil {
		t.Fatal(err)
	}
	in := fargateTD("flow")
	in.Tags = []ecstypes.Tag{{Key: aws.String("team"), Value: aws.String("data")}}
	_, err := e.ecs.RegisterTaskDefinition(e.ctx, in)
	want := "User: " + user + " is not authorized to perform: ecs:TagResource on resource: arn:aws:ecs:us-east-1:123456789012:task-definition/flow:2 because no identity-based policy allows the ecs:TagResource action"
	if apiCode(err) != "AccessDeniedException" || apiMessage(err) != want {
		t.Errorf("tagged RegisterTaskDefinition = %v\nwant %s", err, want)
	}
	if n := len(e.s.TaskDefinitions()); n != 1 {
		t.Errorf("%d revisions after a refused registration, want 1", n)
	}

	in = fargateTD("flow")
	in.TaskRoleArn = aws.String("arn:aws:iam::123456789012:role/flow-task")
	_, err = e.ecs.RegisterTaskDefinition(e.ctx, in)
	if !strings.Contains(apiMessage(err), "iam:PassRole on resource: arn:aws:iam::123456789012:role/flow-task") {
		t.Errorf("RegisterTaskDefinition passing a task role = %v", err)
	}
	if _, err := e.ecs.RegisterTaskDefinition(e.ctx, fargateTD("flow")); err != nil {
		t.Errorf("untagged RegisterTaskDefinition: %v", err)
	}
	// Actions without resource-level permissions are authorized on "*":
	// a narrower Resource does not cover them.
	_, err = e.ecs.ListTaskDefinitions(e.ctx, &ecs.ListTaskDefinitionsInput{})
	if want := "User: " + user + " is not authorized to perform: ecs:ListTaskDefinitions on resource: * because no identity-based policy allows the ecs:ListTaskDefinitions action"; apiMessage(err) != want {
		t.Errorf("ListTaskDefinitions = %v", err)
	}
}

// TestDenialDialects checks that each protocol refuses as its service does.
func TestDenialDialects(t *testing.T) {
	t.Parallel()
	e := newEnv(t, awsfake.Options{DisableThrottling: true})
	q, err := e.sqs.CreateQueue(e.ctx, &sqs.CreateQueueInput{QueueName: aws.String("events")})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.s.SetIdentityPolicy("", `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}`); err != nil {
		t.Fatal(err)
	}
	because := func(action string) string {
		return " because no identity-based policy allows the " + action + " action"
	}
	by := "User: " + user + " is not authorized to perform: "
	tests := []struct {
		name         string
		call         func() error
		status       int
		code         string
		message, key string
	}{
		{"ec2", func() error { _, err := e.ec2.DescribeVpcs(e.ctx, &ec2.DescribeVpcsInput{}); return err },
			403, "UnauthorizedOperation", "You are not authorized to perform this operation. " + by + "ec2:DescribeVpcs" + because("ec2:DescribeVpcs"), "ec2:DescribeVpcs"},
		{"sqs", func() error {
			_, err := e.sqs.SendMessage(e.ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("x")})
			return err
		}, 403, "AccessDenied", by + "sqs:sendmessage on resource: arn:aws:sqs:us-east-1:123456789012:events" + because("sqs:sendmessage"), "sqs:SendMessage"},
		{"sqs batch", func() error {
			_, err := e.sqs.DeleteMessageBatch(e.ctx, &sqs.DeleteMessageBatchInput{QueueUrl: q.QueueUrl,
				Entries: []sqstypes.DeleteMessageBatchRequestEntry{{Id: aws.String("a"), ReceiptHandle: aws.String("h")}}})
			return err
		}, 403, "AccessDenied", by + "sqs:deletemessage on resource: arn:aws:sqs:us-east-1:123456789012:events" + because("sqs:deletemessage"), "sqs:DeleteMessageBatch"},
		{"sqs queue URL", func() error {
			_, err := e.sqs.GetQueueUrl(e.ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("events")})
			return err
		}, 403, "AccessDenied", by + "sqs:getqueueurl on resource: arn:aws:sqs:us-east-1:123456789012:events" + because("sqs:getqueueurl"), "sqs:GetQueueUrl"},
		{"logs stream", func() error {
			_, err := e.logs.GetLogEvents(e.ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("/ecs/flow"), LogStreamName: aws.String("prefect/prefect/abc")})
			return err
		}, 400, "AccessDeniedException", by + "logs:GetLogEvents on resource: arn:aws:logs:us-east-1:123456789012:log-group:/ecs/flow:log-stream:prefect/prefect/abc" + because("logs:GetLogEvents"), "logs:GetLogEvents"},
		{"logs groups", func() error {
			_, err := e.logs.DescribeLogGroups(e.ctx, &cloudwatchlogs.DescribeLogGroupsInput{})
			return err
		}, 400, "AccessDeniedException", by + "logs:DescribeLogGroups on resource: arn:aws:logs:us-east-1:123456789012:log-group::log-stream:" + because("logs:DescribeLogGroups"), "logs:DescribeLogGroups"},
		{"logs group", func() error {
			_, err := e.logs.CreateLogGroup(e.ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("/ecs/flow")})
			return err
		}, 400, "AccessDeniedException", by + "logs:CreateLogGroup on resource: arn:aws:logs:us-east-1:123456789012:log-group:/ecs/flow:log-stream:" + because("logs:CreateLogGroup"), "logs:CreateLogGroup"},
		{"ecs", func() error {
			_, err := e.ecs.DescribeTasks(e.ctx, &ecs.DescribeTasksInput{Cluster: aws.String("work"), Tasks: []string{"0123"}})
			return err
		}, 400, "AccessDeniedException", by + "ecs:DescribeTasks on resource: arn:aws:ecs:us-east-1:123456789012:task/work/0123" + because("ecs:DescribeTasks"), "ecs:DescribeTasks"},
		{"ecr", func() error {
			_, err := e.ecr.DescribeImages(e.ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("flows")})
			return err
		}, 400, "AccessDeniedException", by + "ecr:DescribeImages on resource: arn:aws:ecr:us-east-1:123456789012:repository/flows" + because("ecr:DescribeImages"), "ecr:DescribeImages"},
		{"cloudformation", func() error {
			_, err := e.cfn.DescribeStacks(e.ctx, &cloudformation.DescribeStacksInput{StackName: aws.String("infra")})
			return err
		}, 403, "AccessDenied", by + "cloudformation:DescribeStacks on resource: arn:aws:cloudformation:us-east-1:123456789012:stack/infra/*" + because("cloudformation:DescribeStacks"), "cloudformation:DescribeStacks"},
		{"iam", func() error {
			_, err := e.iam.GetRole(e.ctx, &iam.GetRoleInput{RoleName: aws.String("worker")})
			return err
		},
			403, "AccessDenied", by + "iam:GetRole on resource: role worker" + because("iam:GetRole"), "iam:GetRole"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if apiCode(err) != tt.code || httpStatus(err) != tt.status || apiMessage(err) != tt.message {
				t.Errorf("got %v (status %d)\nwant %d %s: %s", err, httpStatus(err), tt.status, tt.code, tt.message)
			}
			if e.s.Denied()[tt.key] == 0 {
				t.Errorf("Denied()[%s] = 0", tt.key)
			}
		})
	}
	// Nobody needs a permission to ask who they are.
	if _, err := e.sts.GetCallerIdentity(e.ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Errorf("GetCallerIdentity: %v", err)
	}

	// Resource patterns as policies write them cover the ARNs checked.
	if err := e.s.SetIdentityPolicy("", `{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": "logs:GetLogEvents", "Resource": "arn:aws:logs:*:*:log-group:/ecs/*:*"},
		{"Effect": "Allow", "Action": ["sqs:SendMessage", "sqs:GetQueueUrl"], "Resource": "arn:aws:sqs:us-east-1:123456789012:event?"},
		{"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}]}`); err != nil {
		t.Fatal(err)
	}
	_, err = e.logs.GetLogEvents(e.ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("/ecs/flow"), LogStreamName: aws.String("s")})
	if apiCode(err) != "ResourceNotFoundException" {
		t.Errorf("allowed GetLogEvents = %v, want the group's absence", err)
	}
	if _, err := e.sqs.SendMessage(e.ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String("x")}); err != nil {
		t.Errorf("allowed SendMessage: %v", err)
	}
	if _, err := e.ec2.DescribeSubnets(e.ctx, &ec2.DescribeSubnetsInput{}); err != nil {
		t.Errorf("allowed DescribeSubnets: %v", err)
	}
}

func TestSessionPolicies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, awsfake.Options{DisableThrottling: true})
	e.s.CreateCluster("work")
	role := "arn:aws:iam::123456789012:role/prefect-worker"
	if err := e.s.SetIdentityPolicy(role, awsfake.AllowActions("ecs:*")); err != nil {
		t.Fatal(err)
	}
	if err := e.s.SetIdentityPolicy("", awsfake.AllowActions("sts:AssumeRole")); err != nil {
		t.Fatal(err)
	}
	// The user has no ECS permission; the role's sessions have them all.
	if _, err := e.ecs.ListClusters(e.ctx, &ecs.ListClustersInput{}); apiCode(err) != "AccessDeniedException" {
		t.Errorf("user ListClusters = %v", err)
	}
	full, err := e.sts.AssumeRole(e.ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("full")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.as(t, full.Credentials).ecs.DescribeClusters(e.ctx, &ecs.DescribeClustersInput{Clusters: []string{"work"}}); err != nil {
		t.Errorf("role session DescribeClusters: %v", err)
	}

	// A session policy narrows the session to what both allow.
	narrow, err := e.sts.AssumeRole(e.ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("narrow"),
		Policy: aws.String(awsfake.AllowActions("ecs:ListClusters", "sqs:*"))})
	if err != nil {
		t.Fatal(err)
	}
	n := e.as(t, narrow.Credentials)
	if _, err := n.ecs.ListClusters(e.ctx, &ecs.ListClustersInput{}); err != nil {
		t.Errorf("narrow session ListClusters: %v", err)
	}
	_, err = n.ecs.DescribeClusters(e.ctx, &ecs.DescribeClustersInput{Clusters: []string{"work"}})
	want := "User: arn:aws:sts::123456789012:assumed-role/prefect-worker/narrow is not authorized to perform: ecs:DescribeClusters on resource: arn:aws:ecs:us-east-1:123456789012:cluster/work because no session policy allows the ecs:DescribeClusters action"
	if apiMessage(err) != want {
		t.Errorf("narrow session DescribeClusters = %v\nwant %s", err, want)
	}
	// sqs:* in the session policy grants nothing the role lacks.
	if _, err := n.sqs.ListQueues(e.ctx, &sqs.ListQueuesInput{}); !strings.Contains(apiMessage(err), "because no identity-based policy allows the sqs:listqueues action") {
		t.Errorf("narrow session ListQueues = %v", err)
	}

	// AssumeRole refuses a malformed session policy.
	_, err = e.sts.AssumeRole(e.ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("bad"), Policy: aws.String(`{"Statement": []}`)})
	if apiCode(err) != "MalformedPolicyDocument" {
		t.Errorf("malformed session policy = %v", err)
	}
}

func TestSetIdentityPolicyRefusesWhatIAMRefuses(t *testing.T) {
	t.Parallel()
	s := awsfake.New(awsfake.Options{})
	defer s.Close()
	for doc, want := range map[string]string{
		`not json`: "Syntax errors in policy.",
		`{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "ecs:RunTask"}}`:                                       "Policy statement must contain resources.",
		`{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Resource": "*"}}`:                                               "Policy statement must contain actions.",
		`{"Version": "2012-10-17", "Statement": {"Effect": "Permit", "Action": "*", "Resource": "*"}}`:                               "Invalid effect: Permit",
		`{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "RunTask", "Resource": "*"}}`:                          "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
		`{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}}`:              "Policy document should not specify a principal.",
		`{"Version": "2012-10-17", "Statement": {"effect": "Allow", "Action": "*", "Resource": "*"}}`:                                "Syntax errors in policy.",
		`{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEq": {}}}}`: "Invalid Condition type : StringEq",
		`{"Version": "2021-01-01", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}`:                                "The policy failed legacy parsing",
	} {
		if err := s.SetIdentityPolicy(user, doc); err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %s", doc, err, want)
		}
	}
	if d := s.Denied(); len(d) != 0 {
		t.Errorf("Denied() = %v", d)
	}
}
