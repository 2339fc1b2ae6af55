package launch

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ecsworker/ecsworker/internal/awserr"
)

// launchFacts is what RunTask's error messages name.
type launchFacts struct {
	Cluster            string // as the user gave it; "default" when unset
	Region             string
	LaunchType         string
	TaskDefinition     string
	UserTaskDefinition bool // task_definition_arn named it, we did not register it
	ExecutionRole      string
	Subnets            []string
	SecurityGroups     []string
	CapacityProviders  []string
}

// runTaskError explains a failed RunTask in the worker's words, covering
// the cases the Python worker maps (§3.2 of the reference) and more. What
// the error is comes from awserr; the advice, which names the request's
// cluster, roles and network, is the launcher's.
func runTaskError(err error, f launchFacts, attempts int) *awserr.LaunchError {
	if le := (*awserr.LaunchError)(nil); errors.As(err, &le) {
		return le
	}
	le := awserr.Explain("RunTask", err, attempts)
	msg := le.AWSMessage
	where := fmt.Sprintf("cluster %q", f.Cluster)
	if f.Region != "" {
		where += " (region " + f.Region + ")"
	}
	denied := awserr.DeniedAction(err)
	switch {
	case awserr.IsClusterNotFound(err):
		le.Kind = awserr.KindNotFound
		le.Fix = fmt.Sprintf("ECS has no %s. Create it (aws ecs create-cluster --cluster-name %s) or set the cluster job variable to an existing cluster in this region", where, f.Cluster)
	case awserr.IsTaskDefinitionGone(err):
		le.Kind = awserr.KindNotFound
		if f.UserTaskDefinition {
			le.Fix = fmt.Sprintf("The task definition %s is inactive or does not exist. Register it again, or remove task_definition_arn so that the worker registers one", f.TaskDefinition)
		} else {
			le.Fix = fmt.Sprintf("The task definition %s was deregistered while in use; the next attempt registers it again", f.TaskDefinition)
		}
	case awserr.IsLoggerSetupFailure(msg):
		le.Kind = awserr.KindPermanent
		role := orNone(f.ExecutionRole)
		le.Fix = fmt.Sprintf("The execution role %s cannot write the task's CloudWatch logs. Give it logs:CreateLogGroup, logs:CreateLogStream and logs:PutLogEvents, or set execution_role_arn to a role that has them", role)
	case le.Kind == awserr.KindCapacity:
		le.Fix = capacityFix(awserr.ShortageOf(le.AWSCode+" "+msg), where)
	case le.Kind == awserr.KindPermanent && (containsFold(msg, "capacity provider") || containsFold(msg, "capacityprovider")):
		le.Fix = fmt.Sprintf("The capacity provider strategy %s does not fit %s. Associate the capacity providers with the cluster (aws ecs put-cluster-capacity-providers) or change capacity_provider_strategy", listOrNone(f.CapacityProviders), where)
	case le.Kind == awserr.KindPermanent && le.AWSCode == "InvalidParameterException" && (containsFold(msg, "subnet") || containsFold(msg, "security group") || containsFold(msg, "securitygroup") || containsFold(msg, "network")):
		le.Fix = fmt.Sprintf("The network configuration was refused. Check that the subnets %s and security groups %s exist in region %s and belong to one VPC (vpc_id), or set the subnets and security_groups job variables", listOrNone(f.Subnets), listOrNone(f.SecurityGroups), f.Region)
	case le.Kind == awserr.KindUnavailable && denied == "iam:PassRole":
		le.Fix = fmt.Sprintf("Grant the worker's AWS identity iam:PassRole on the task's roles (execution role %s), with iam:PassedToService ecs-tasks.amazonaws.com ('ecsworker aws-policy --pool NAME' prints the whole policy)", orNone(f.ExecutionRole))
	case le.Kind == awserr.KindUnavailable && denied != "":
		le.Fix = fmt.Sprintf("Grant the worker's AWS identity %s on the task definition %s and %s ('ecsworker aws-policy --pool NAME' prints the whole policy)", awserr.QualifiedAction(firstNonEmpty(strings.Trim(denied, "?"), "RunTask")), f.TaskDefinition, where)
	case le.Kind == awserr.KindPermanent:
		le.Fix = "ECS refused the request as it is; correct the work pool's task_run_request template or the job variables that fill it"
	}
	return le
}

// capacityFix says what to do about a task there was no room for.
func capacityFix(s awserr.Shortage, where string) string {
	switch s {
	case awserr.ShortageNoInstances:
		return fmt.Sprintf("%s has no container instances. Start EC2 container instances in it (or attach an Auto Scaling group capacity provider), or use launch_type FARGATE", upperFirst(where))
	case awserr.ShortageFargate:
		return "Fargate had no capacity for the task in the chosen subnets' availability zones. Retry later, or add subnets in other availability zones"
	case awserr.ShortageTaskQuota:
		return "The account's quota of concurrent Fargate tasks is used up. Wait for tasks to finish, or ask AWS for a higher Fargate vCPU quota"
	case awserr.ShortageResources:
		return fmt.Sprintf("No container instance in %s has the CPU, memory or GPUs the task asks for. Add or enlarge container instances, or lower cpu/memory", where)
	case awserr.ShortagePorts:
		return fmt.Sprintf("Every container instance in %s already uses the task's host ports. Use dynamic host ports (hostPort 0) or add instances", where)
	case awserr.ShortageENI:
		return fmt.Sprintf("The container instances in %s have no free network interfaces for awsvpc tasks. Add instances or enable ENI trunking", where)
	case awserr.ShortageAgent:
		return fmt.Sprintf("The ECS agent of the container instances in %s is disconnected. Check the instances and their agent", where)
	}
	return fmt.Sprintf("There was no room for the task in %s. Add capacity, or retry later", where)
}

// containsFold matches the words that pick the advice (not the kind of
// the error, which awserr decides).
func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

func orNone(s string) string {
	if s == "" {
		return "(none set)"
	}
	return s
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "[]"
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
