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
	// Worker is true for the actions of `worker start`; the others belong
	// to commands (doctor, infra, task-definitions prune).
	Worker bool
	// Python is true for the actions of Prefect's documented policy for the
	// prefect-aws ECS worker, which a team switching over already has.
	Python bool
}

// Actions is every AWS action ecsworker calls, worker actions first.
var Actions = []Action{
	{Name: "ecs:RegisterTaskDefinition", Worker: true, Python: true,
		UsedFor: "registers a task definition for a deployment without task_definition_arn, once per content",
		Without: "runs that need a new task definition crash with the missing permission named; runs with task_definition_arn still start"},
	{Name: "ecs:DescribeTaskDefinition", Worker: true, Python: true,
		UsedFor: "finds the family's latest revision to reuse it, and reads task_definition_arn's task definition to check the job against it",
		Without: "every worker process registers a new revision per deployment (churn), and jobs with task_definition_arn are not checked before RunTask"},
	{Name: "ecs:ListTaskDefinitions", Worker: true,
		UsedFor: "finds a reusable revision among a family's 20 newest, beyond the latest",
		Without: "only each family's latest revision is reused: a deployment that switches back to an older task definition registers it again"},
	{Name: "ecs:TagResource", Worker: true, Python: true,
		UsedFor: "tags task definitions with their content hash and tasks with the prefect.io labels, when they are created",
		Without: "task definitions and tasks are created untagged: reuse compares contents instead of tags, and tasks cannot be found by flow run in the ECS console"},
	{Name: "ecs:RunTask", Worker: true, Python: true,
		UsedFor: "starts each flow run's task, with a client token so that it starts once",
		Without: "no flow run can start: each claimed run crashes with the missing permission named"},
	{Name: "ecs:DescribeTasks", Worker: true, Python: true,
		UsedFor: "follows tasks until they stop, to report crashes and their cause",
		Without: "runs whose task stops before the flow reports a final state stay Pending or Running in Prefect"},
	{Name: "ecs:StopTask", Worker: true, Python: true,
		UsedFor: "stops the task of a run cancelled before its flow started",
		Without: "such runs are marked Cancelled but their tasks run on until they end by themselves"},
	{Name: "ecs:DeregisterTaskDefinition", Worker: true, Python: true,
		UsedFor: "deregisters a revision registered for a run when its task stops (auto_deregister_task_definition)",
		Without: "revisions registered with auto_deregister_task_definition stay registered"},
	{Name: "iam:PassRole", Worker: true, Python: true,
		UsedFor: "hands the execution role and task role to ECS when a task definition is registered or a task is run",
		Without: "runs whose task definition names a role crash with the role named"},
	{Name: "ec2:DescribeVpcs", Worker: true, Python: true,
		UsedFor: "finds the default VPC when a Fargate job names no subnets",
		Without: "such runs crash asking for the subnets job variable"},
	{Name: "ec2:DescribeSubnets", Worker: true, Python: true,
		UsedFor: "lists the VPC's subnets when a job names none, and checks that named subnets belong to vpc_id",
		Without: "such runs crash asking for the subnets job variable"},
	{Name: "logs:GetLogEvents", Worker: true, Python: true,
		UsedFor: "copies the last lines of a crashed task's CloudWatch log into the flow run's logs",
		Without: "crash reports carry the ECS diagnosis but not the container's last output"},
	{Name: "sqs:GetQueueUrl", Worker: true,
		UsedFor: "finds the --events-queue of ECS task state change events",
		Without: "the worker follows tasks by DescribeTasks polling only"},
	{Name: "sqs:ReceiveMessage", Worker: true,
		UsedFor: "reads ECS task state change events from --events-queue",
		Without: "the worker follows tasks by DescribeTasks polling only"},
	{Name: "sqs:DeleteMessage", Worker: true,
		UsedFor: "deletes the events it has handled from --events-queue",
		Without: "handled events come back after their visibility timeout and are handled again"},
	{Name: "sts:AssumeRole",
		UsedFor: "assumes an aws_credentials block's assume_role_arn (granted to the identity the worker starts as)",
		Without: "runs whose block assumes a role crash with the role named"},
	{Name: "sts:GetCallerIdentity",
		UsedFor: "doctor and infra: says whose credentials are used (AWS allows it to every identity)",
		Without: "nothing: AWS never denies it"},
	{Name: "ecs:DescribeClusters",
		UsedFor: "doctor and infra: checks that the cluster exists and has the capacity providers a job names",
		Without: "doctor skips the cluster check"},
	{Name: "ec2:DescribeSecurityGroups",
		UsedFor: "doctor: checks that the security groups exist and are in the subnets' VPC",
		Without: "doctor skips the security group check"},
	{Name: "ec2:DescribeRouteTables",
		UsedFor: "doctor: checks that assign_public_ip fits the subnets' routes to the internet",
		Without: "doctor skips the public IP check"},
	{Name: "iam:GetRole",
		UsedFor: "doctor: checks that the execution and task roles exist and trust ecs-tasks.amazonaws.com",
		Without: "doctor skips the role checks"},
	{Name: "iam:SimulatePrincipalPolicy",
		UsedFor: "doctor: checks that the worker's identity is allowed every action aws-policy lists",
		Without: "doctor skips the permission check"},
	{Name: "ecr:DescribeImages",
		UsedFor: "doctor: checks that an ECR image exists and shows its size",
		Without: "doctor skips the image check"},
	{Name: "logs:DescribeLogGroups",
		UsedFor: "doctor: checks that the awslogs log group exists or will be created",
		Without: "doctor skips the log group check"},
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
