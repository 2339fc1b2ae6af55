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
	{Name: "iam:PassRole", By: "worker, infra deploy-capacity (through CloudFormation)", Worker: true, Python: true,
		UsedFor: "hands the execution role and task role to ECS when a task definition is registered or a task is run; deploy-capacity hands the instance role to EC2 in the launch template",
		Without: "runs whose task definition names a role crash with the role named"},
	{Name: "ec2:DescribeVpcs", By: "worker, doctor, infra", Worker: true, Python: true,
		UsedFor: "finds the default VPC when a Fargate job names no subnets",
		Without: "runs that name no subnets crash asking for the subnets job variable"},
	{Name: "ec2:DescribeSubnets", By: "worker, doctor, infra", Worker: true, Python: true,
		UsedFor: "lists the VPC's subnets when a job names none, and checks that named subnets belong to vpc_id; infra deploy-service and deploy-capacity check their --subnets",
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
		UsedFor: "checks that the cluster exists and has the capacity providers a job names; infra deploy-capacity reads the cluster's providers and default strategy, which it keeps",
		Without: "doctor skips the cluster check; the infra deploys stop"},
	{Name: "ec2:DescribeSecurityGroups", By: "doctor, infra deploy-capacity",
		UsedFor: "checks that the security groups exist and are in the subnets' VPC",
		Without: "doctor skips the security group check; infra deploy-capacity stops when given --security-groups"},
	{Name: "ec2:DescribeRouteTables", By: "doctor",
		UsedFor: "checks that assign_public_ip fits the subnets' routes to the internet",
		Without: "doctor skips the public IP check"},
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
		Without: "infra deploy-service, deploy-events and deploy-capacity cannot deploy (CloudFormation also needs the permissions to create the stack's resources, or a service role)"},
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
		UsedFor: "infra delete removes the worker's stack, or the capacity stack",
		Without: "infra delete cannot remove it"},

	// What CloudFormation does with the caller's credentials (there is no
	// service role) to create, update and delete deploy-capacity's stack:
	// a denial fails that resource and rolls the stack back with the
	// action named in the stack's events.
	{Name: "ssm:GetParameters", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "resolves the public SSM parameter of the ECS-optimised AMI (/aws/service/ecs/optimized-ami/...) at each deploy",
		Without: "CloudFormation refuses the change set: it cannot fetch the AMI parameter"},
	{Name: "ec2:CreateLaunchTemplate", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "creates the instances' launch template (AMI, instance type, instance profile, user data)",
		Without: "the capacity stack rolls back at LaunchTemplate"},
	{Name: "ec2:CreateLaunchTemplateVersion", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "updates the launch template on a redeploy (a new AMI, instance type or pre-pull list)",
		Without: "redeploys that change the instances roll back"},
	{Name: "ec2:DescribeLaunchTemplates", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "reads the launch template back while CloudFormation creates and updates it",
		Without: "the capacity stack rolls back at LaunchTemplate"},
	{Name: "ec2:DeleteLaunchTemplate", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "removes the launch template when the capacity stack is deleted or rolled back",
		Without: "deleting the capacity stack fails at LaunchTemplate"},
	{Name: "ec2:RunInstances", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "EC2 Auto Scaling checks that the caller may launch the launch template's instances when the group is created",
		Without: "the capacity stack rolls back at AutoScalingGroup"},
	{Name: "ec2:CreateSecurityGroup", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "creates the instances' security group (no inbound rule) when --security-groups is not given",
		Without: "the capacity stack rolls back at InstanceSecurityGroup; give --security-groups instead"},
	{Name: "ec2:AuthorizeSecurityGroupEgress", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "writes the created security group's outbound rule",
		Without: "the capacity stack rolls back at InstanceSecurityGroup"},
	{Name: "ec2:RevokeSecurityGroupEgress", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "removes the default outbound rule EC2 puts on a new security group, which the template replaces",
		Without: "the capacity stack rolls back at InstanceSecurityGroup"},
	{Name: "ec2:DeleteSecurityGroup", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "removes the created security group with the stack",
		Without: "deleting the capacity stack fails at InstanceSecurityGroup"},
	{Name: "ec2:CreateTags", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "tags the security group, the launch template and the instances with the stack's tags",
		Without: "the capacity stack rolls back at the first tagged resource"},
	{Name: "autoscaling:CreateAutoScalingGroup", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "creates the Auto Scaling group (minimum 0, scale-in protection for the ECS-managed instances)",
		Without: "the capacity stack rolls back at AutoScalingGroup"},
	{Name: "autoscaling:UpdateAutoScalingGroup", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "changes the group's size, subnets or launch template version on a redeploy; sets its size to 0 before deleting it",
		Without: "redeploys that change the group, and deletions, fail at AutoScalingGroup"},
	{Name: "autoscaling:DescribeAutoScalingGroups", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "follows the group while it is created, updated and deleted",
		Without: "the capacity stack rolls back at AutoScalingGroup"},
	{Name: "autoscaling:DescribeScalingActivities", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "reports why the group failed to launch or terminate instances",
		Without: "a failing group is reported without its cause"},
	{Name: "autoscaling:CreateOrUpdateTags", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "writes the group's tags (the stack's, and the Name its instances take)",
		Without: "the capacity stack rolls back at AutoScalingGroup"},
	{Name: "autoscaling:DeleteAutoScalingGroup", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "removes the group, and its instances, with the stack",
		Without: "deleting the capacity stack fails at AutoScalingGroup"},
	{Name: "autoscaling:PutWarmPool", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "creates and resizes the warm pool of stopped instances",
		Without: "the capacity stack rolls back at WarmPool; --warm-pool-size 0 deploys without one"},
	{Name: "autoscaling:DescribeWarmPool", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "follows the warm pool while it is created, updated and deleted",
		Without: "the capacity stack rolls back at WarmPool"},
	{Name: "autoscaling:DeleteWarmPool", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "removes the warm pool with the stack, or on a redeploy with --warm-pool-size 0",
		Without: "deleting the capacity stack fails at WarmPool"},
	{Name: "ecs:CreateCapacityProvider", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "creates the capacity provider on the Auto Scaling group (managed scaling, managed termination protection)",
		Without: "the capacity stack rolls back at CapacityProvider"},
	{Name: "ecs:UpdateCapacityProvider", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "changes managed scaling's target capacity on a redeploy",
		Without: "redeploys that change --target-capacity roll back"},
	{Name: "ecs:DescribeCapacityProviders", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "follows the capacity provider while it is created, updated and deleted",
		Without: "the capacity stack rolls back at CapacityProvider"},
	{Name: "ecs:DeleteCapacityProvider", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "removes the capacity provider with the stack",
		Without: "deleting the capacity stack fails at CapacityProvider"},
	{Name: "ecs:PutClusterCapacityProviders", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "sets the cluster's capacity providers and default strategy: the new provider beside those the cluster had",
		Without: "the capacity stack rolls back at ClusterAssociation, and deleting it fails there"},
	{Name: "iam:CreateRole", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "creates the instance role the ECS agent runs as (AmazonEC2ContainerServiceforEC2Role)",
		Without: "the capacity stack rolls back at InstanceRole"},
	{Name: "iam:GetRole", By: "doctor, infra deploy-capacity (through CloudFormation)",
		UsedFor: "doctor checks that the execution and task roles exist and trust ecs-tasks.amazonaws.com; CloudFormation reads the instance role back",
		Without: "doctor skips the role checks; the capacity stack rolls back at InstanceRole"},
	{Name: "iam:AttachRolePolicy", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "attaches the AWS managed policies to the instance role",
		Without: "the capacity stack rolls back at InstanceRole"},
	{Name: "iam:DetachRolePolicy", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "detaches them when the role is updated or deleted",
		Without: "deleting the capacity stack fails at InstanceRole"},
	{Name: "iam:PutRolePolicy", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "writes the instance role's ECR read policy when a --prepull-image is in ECR",
		Without: "deploys with an ECR --prepull-image roll back at PrepullPolicy"},
	{Name: "iam:DeleteRolePolicy", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "removes that policy with the stack, or when no ECR image is pre-pulled any more",
		Without: "deleting the capacity stack fails at PrepullPolicy"},
	{Name: "iam:DeleteRole", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "removes the instance role with the stack",
		Without: "deleting the capacity stack fails at InstanceRole"},
	{Name: "iam:CreateInstanceProfile", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "creates the instance profile that carries the instance role to EC2",
		Without: "the capacity stack rolls back at InstanceProfile"},
	{Name: "iam:AddRoleToInstanceProfile", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "puts the instance role in the instance profile",
		Without: "the capacity stack rolls back at InstanceProfile"},
	{Name: "iam:GetInstanceProfile", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "reads the instance profile back while CloudFormation creates it",
		Without: "the capacity stack rolls back at InstanceProfile"},
	{Name: "iam:RemoveRoleFromInstanceProfile", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "takes the role out of the instance profile before both are deleted",
		Without: "deleting the capacity stack fails at InstanceProfile"},
	{Name: "iam:DeleteInstanceProfile", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "removes the instance profile with the stack",
		Without: "deleting the capacity stack fails at InstanceProfile"},
	{Name: "iam:CreateServiceLinkedRole", By: "infra deploy-capacity (through CloudFormation)",
		UsedFor: "creates the AWSServiceRoleForAutoScaling and AWSServiceRoleForECS roles, the first time an account uses those services",
		Without: "in an account without those roles yet, the capacity stack rolls back at AutoScalingGroup or CapacityProvider"},
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
