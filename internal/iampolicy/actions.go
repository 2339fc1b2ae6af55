// Package iampolicy knows which AWS actions ecsworker uses, what each one
// is for and what a worker without it loses. The same catalog writes the
// warnings of a worker that was refused an action, the least-privilege
// policy of `ecsworker aws-policy`, the worker role of `infra
// deploy-service`, the checks of `ecsworker doctor` and the permissions
// table of the README, so that none of them can drift from the others.
package iampolicy

import (
	"slices"
	"strings"
)

// Action is one AWS action ecsworker may call.
type Action struct {
	// Name is the IAM action, "service:Operation".
	Name string
	// UsedFor says what ecsworker does with it.
	UsedFor string
	// Without says what happens when the identity may not call it.
	Without string
	// Worker is true for the actions of `worker start` on the jobs'
	// identity; the others belong to the identity the worker starts as, or
	// to commands.
	Worker bool
	// By names who calls it: "worker", "doctor", "infra", ...
	By string
	// Python is true for the actions of Prefect's documented policy for the
	// prefect-aws ECS worker, which a team switching over already has.
	Python bool
}

// Actions is every AWS action ecsworker calls, worker actions first.
var Actions = []Action{
	{Name: "ecs:RegisterTaskDefinition", By: "worker", Worker: true, Python: true,
		UsedFor: "registers a task definition for a deployment without task_definition_arn, once per content",
		Without: "runs that need a new task definition crash with the missing permission named; runs with task_definition_arn still start"},
	{Name: "ecs:DescribeTaskDefinition", By: "worker, task-definitions prune", Worker: true, Python: true,
		UsedFor: "finds the family's latest revision to reuse it, and reads task_definition_arn's task definition to check the job against it",
		Without: "every worker process registers a new revision per deployment (churn), and jobs with task_definition_arn are not checked before RunTask"},
	{Name: "ecs:ListTaskDefinitions", By: "worker, task-definitions prune", Worker: true,
		UsedFor: "finds a reusable revision among a family's 20 newest, beyond the latest",
		Without: "only each family's latest revision is reused: a deployment that switches back to an older task definition registers it again"},
	{Name: "ecs:TagResource", By: "worker", Worker: true, Python: true,
		UsedFor: "tags task definitions with their content hash and tasks with the prefect.io labels, when they are created",
		Without: "task definitions and tasks are created untagged: reuse compares contents instead of tags, and tasks cannot be found by flow run in the ECS console"},
	{Name: "ecs:RunTask", By: "worker", Worker: true, Python: true,
		UsedFor: "starts each flow run's task, with a client token so that it starts once",
		Without: "no flow run can start: each claimed run crashes with the missing permission named"},
	{Name: "ecs:DescribeTasks", By: "worker", Worker: true, Python: true,
		UsedFor: "follows tasks until they stop, to report crashes and their cause",
		Without: "runs whose task stops before the flow reports a final state stay Pending or Running in Prefect"},
	{Name: "ecs:StopTask", By: "worker", Worker: true, Python: true,
		UsedFor: "stops the task of a run cancelled before its flow started",
		Without: "such runs are marked Cancelled but their tasks run on until they end by themselves"},
	{Name: "ecs:DeregisterTaskDefinition", By: "worker, task-definitions prune", Worker: true, Python: true,
		UsedFor: "deregisters a revision registered for a run when its task stops (auto_deregister_task_definition)",
		Without: "revisions registered with auto_deregister_task_definition stay registered"},
	{Name: "iam:PassRole", By: "worker", Worker: true, Python: true,
		UsedFor: "hands the execution role and task role to ECS when a task definition is registered or a task is run",
		Without: "runs whose task definition names a role crash with the role named"},
	{Name: "ec2:DescribeVpcs", By: "worker, doctor, infra", Worker: true, Python: true,
		UsedFor: "finds the default VPC when a Fargate job names no subnets",
		Without: "runs that name no subnets crash asking for the subnets job variable"},
	{Name: "ec2:DescribeSubnets", By: "worker, doctor, infra", Worker: true, Python: true,
		UsedFor: "lists the VPC's subnets when a job names none, and checks that named subnets belong to vpc_id",
		Without: "runs that name no subnets crash asking for the subnets job variable; named subnets reach RunTask unchecked"},
	{Name: "logs:GetLogEvents", By: "worker", Worker: true, Python: true,
		UsedFor: "copies the last lines of a crashed task's CloudWatch log into the flow run's logs",
		Without: "crash reports carry the ECS diagnosis but not the container's last output"},
	{Name: "sqs:GetQueueUrl", By: "worker", Worker: true,
		UsedFor: "finds the --events-queue of ECS task state change events",
		Without: "the worker follows tasks by DescribeTasks polling only"},
	{Name: "sqs:ReceiveMessage", By: "worker", Worker: true,
		UsedFor: "reads ECS task state change events from --events-queue",
		Without: "the worker follows tasks by DescribeTasks polling only"},
	{Name: "sqs:DeleteMessage", By: "worker", Worker: true,
		UsedFor: "deletes the events it has handled from --events-queue",
		Without: "handled events come back after their visibility timeout and are handled again"},
	{Name: "sts:AssumeRole", By: "worker (the identity it starts as)",
		UsedFor: "assumes an aws_credentials block's assume_role_arn (granted to the identity the worker starts as)",
		Without: "runs whose block assumes a role crash with the role named"},
	{Name: "sts:GetCallerIdentity", By: "doctor, infra",
		UsedFor: "says whose credentials are used (AWS allows it to every identity)",
		Without: "nothing: AWS never denies it"},
	{Name: "ecs:DescribeClusters", By: "doctor, infra",
		UsedFor: "checks that the cluster exists and has the capacity providers a job names",
		Without: "doctor skips the cluster check"},
	{Name: "ec2:DescribeSecurityGroups", By: "doctor",
		UsedFor: "checks that the security groups exist and are in the subnets' VPC",
		Without: "doctor skips the security group check"},
	{Name: "ec2:DescribeRouteTables", By: "doctor",
		UsedFor: "checks that assign_public_ip fits the subnets' routes to the internet",
		Without: "doctor skips the public IP check"},
	{Name: "iam:GetRole", By: "doctor",
		UsedFor: "checks that the execution and task roles exist and trust ecs-tasks.amazonaws.com",
		Without: "doctor skips the role checks"},
	{Name: "iam:SimulatePrincipalPolicy", By: "doctor",
		UsedFor: "checks that the worker's identity is allowed every action aws-policy lists",
		Without: "doctor skips the permission check"},
	{Name: "ecr:DescribeImages", By: "doctor, infra, starts",
		UsedFor: "checks that an ECR image exists and shows its size; infra deploy-service checks the worker's image before deploying; starts shows each deployment's image size",
		Without: "doctor skips the image check; infra deploy-service warns that the worker's image was not checked and deploys anyway; starts prints the timings without image sizes"},
	{Name: "logs:DescribeLogGroups", By: "doctor",
		UsedFor: "checks that the awslogs log group exists or will be created",
		Without: "doctor skips the log group check"},
	{Name: "cloudformation:DescribeStacks", By: "infra",
		UsedFor: "reads the worker's stack: whether it exists, its status and outputs",
		Without: "the infra commands cannot tell whether the stack exists and stop"},
	{Name: "cloudformation:CreateChangeSet", By: "infra",
		UsedFor: "prepares a stack create or update (a change set, reviewed before it runs)",
		Without: "infra deploy-service and deploy-events cannot deploy (CloudFormation also needs the permissions to create the stack's resources, or a service role)"},
	{Name: "cloudformation:DescribeChangeSet", By: "infra",
		UsedFor: "shows what a change set would change before it is executed",
		Without: "the deploys cannot be reviewed and stop"},
	{Name: "cloudformation:ExecuteChangeSet", By: "infra",
		UsedFor: "applies the reviewed change set",
		Without: "the deploys stop after showing the changes"},
	{Name: "cloudformation:DeleteChangeSet", By: "infra",
		UsedFor: "removes a change set that has no changes or was not confirmed",
		Without: "unused change sets stay on the stack until removed by hand"},
	{Name: "cloudformation:DescribeStackEvents", By: "infra",
		UsedFor: "follows a deploy or delete event by event",
		Without: "progress is not shown and failures are reported without their cause"},
	{Name: "cloudformation:DeleteStack", By: "infra",
		UsedFor: "infra delete removes the worker's stack",
		Without: "infra delete cannot remove it"},
}

// Lookup returns the catalog entry of an action ("ecs:RunTask"); ok is
// false for an action ecsworker does not call.
func Lookup(name string) (Action, bool) {
	i := slices.IndexFunc(Actions, func(a Action) bool { return strings.EqualFold(a.Name, name) })
	if i < 0 {
		return Action{}, false
	}
	return Actions[i], true
}

// MarkdownTable is the README's permissions table: every action, what uses
// it, and what is lost without it. The README holds it between the
// markers of TestREADMEPermissionsTable, which keeps the two equal.
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| Action | Used by | What it is for | Without it | In Prefect's worker policy |\n|---|---|---|---|---|\n")
	for _, a := range Actions {
		inPython := ""
		if a.Python {
			inPython = "yes"
		}
		b.WriteString("| `" + a.Name + "` | " + a.By + " | " + a.UsedFor + " | " + a.Without + " | " + inPython + " |\n")
	}
	return b.String()
}
