package iampolicy

import (
	"cmp"
	"regexp"
	"slices"

	"github.com/ecsworker/ecsworker/internal/ecsrequest"
	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// Usage is what the worker does in AWS for one job (a deployment's
// rendered job configuration): the facts of its ecsrequest.Plan that decide
// which actions it needs on which resources.
type Usage struct {
	// Name says whose job this is in error messages ("flow/deployment").
	Name string
	// Region is the region of the job's ECS client; empty leaves it to
	// the ARNWriter.
	Region string
	// Cluster is the cluster name or ARN; empty is ECS's default cluster.
	Cluster string
	// Family is the task definition family the worker registers (a *
	// matches any characters). Empty when TaskDefinition is set.
	Family string
	// TaskDefinition is the existing task definition the job runs
	// (task_definition_arn): an ARN, FAMILY:REVISION or FAMILY. Nothing
	// is registered for such a job.
	TaskDefinition string
	// PassRoles are the roles the worker hands to ECS: the registered
	// task definition's execution and task roles, and RunTask's overrides.
	PassRoles []string
	// LogGroups are where the flow's container writes with the awslogs
	// driver, which the worker reads when a task crashes.
	LogGroups []LogGroup
	// InferSubnets: the worker finds the subnets of a VPC (DescribeVpcs,
	// DescribeSubnets).
	InferSubnets bool
	// CheckSubnets: the worker checks that the subnets given belong to
	// vpc_id (DescribeSubnets).
	CheckSubnets bool
	// AutoDeregister: the worker deregisters the revisions it registered
	// for a run when the run's task stops.
	AutoDeregister bool
}

// LogGroup is a CloudWatch Logs group, in Region (empty: the job's).
type LogGroup struct {
	Region string
	Name   string
}

// Needs is everything one AWS identity does for a worker: the jobs it
// runs, and what the worker does with its own credentials.
type Needs struct {
	Jobs []Usage
	// EventsQueue is the SQS queue of ECS task state change events the
	// worker reads (--events-queue): a name, URL or ARN; empty for none.
	// The worker reads it with the credentials it starts with.
	EventsQueue string
	// AssumeRoles are the roles this identity assumes for jobs whose
	// aws_credentials block sets assume_role_arn.
	AssumeRoles []string
}

// FromPlan reads what a job does in AWS from its plan. name labels the
// job in errors; region is the region of the job's ECS client (empty when
// unknown). The awslogs options of the task definition give the log
// groups and their regions; a region ecsjob left unresolved is the job's.
func FromPlan(name, region string, plan *ecsrequest.Plan) (Usage, error) {
	u := Usage{Name: name, Region: region}
	if plan == nil || plan.RunTask == nil {
		return u, InputErrors{{Job: name, Field: "job", Value: "", Problem: "has no RunTask request.", Fix: "Render the job with ecsjob.Prepare and use its plan."}}
	}
	u.Cluster = plan.Cluster
	if u.Cluster == "" {
		u.Cluster = plan.RunTask.GetString("cluster")
	}
	var errs []InputError
	if td := plan.TaskDefinition; td != nil {
		u.Family = td.GetString("family")
		if u.Family == "" || u.Family == ecsrequest.MarkFamily {
			errs = append(errs, InputError{Job: name, Field: "family", Value: u.Family,
				Problem: "is not known: the default family is prefect_<work pool>_<deployment id>.",
				Fix:     "Render the job with its work pool's name and its deployment's id, or set the family job variable."})
		}
		u.PassRoles = appendNonEmpty(u.PassRoles, td.GetString("executionRoleArn"), td.GetString("taskRoleArn"))
		if g, ok := awslogsGroup(td, plan.ContainerName); ok {
			u.LogGroups = append(u.LogGroups, g)
		}
		u.AutoDeregister = plan.AutoDeregister
	} else {
		u.TaskDefinition = plan.TaskDefinitionARN
	}
	overrides := plan.RunTask.GetObject("overrides")
	u.PassRoles = appendNonEmpty(u.PassRoles, overrides.GetString("executionRoleArn"), overrides.GetString("taskRoleArn"))
	if n := plan.Network; n != nil {
		u.InferSubnets = n.Infer
		u.CheckSubnets = !n.Infer && n.VPCID != "" && len(n.CheckSubnets) > 0
	}
	return u, errOrNil(errs)
}

func appendNonEmpty(list []string, values ...string) []string {
	for _, v := range values {
		if v != "" && !slices.Contains(list, v) {
			list = append(list, v)
		}
	}
	return list
}

// awslogsGroup finds the log group the worker reads a crashed task's
// output from, choosing the container as tasklogs.SourceFor does: the
// named container, else "prefect", else the only one. Without a stream
// prefix the stream cannot be found, so nothing is read.
func awslogsGroup(td *jsonv.Object, containerName string) (LogGroup, bool) {
	want := cmp.Or(containerName, ecsrequest.DefaultContainerName)
	var defs []*jsonv.Object
	for _, e := range td.GetArray("containerDefinitions") {
		if o, ok := e.(*jsonv.Object); ok {
			defs = append(defs, o)
		}
	}
	var c *jsonv.Object
	for _, d := range defs {
		if d.GetString("name") == want {
			c = d
			break
		}
	}
	if c == nil && containerName == "" && len(defs) == 1 {
		c = defs[0]
	}
	lc := c.GetObject("logConfiguration")
	if lc.GetString("logDriver") != "awslogs" {
		return LogGroup{}, false
	}
	opts := lc.GetObject("options")
	group := opts.GetString("awslogs-group")
	if group == "" || opts.GetString("awslogs-stream-prefix") == "" {
		return LogGroup{}, false
	}
	region := opts.GetString("awslogs-region")
	if region == ecsrequest.MarkRegion {
		region = ""
	}
	return LogGroup{Region: region, Name: group}, true
}

// ARNs are the ARNs a job names (cluster, task definition, roles), most
// telling first, for finding the account a policy is for.
func (u Usage) ARNs() []string {
	var out []string
	for _, s := range append([]string{u.Cluster, u.TaskDefinition}, u.PassRoles...) {
		if isARN(s) {
			out = append(out, s)
		}
	}
	return out
}

// AccountOf returns the account of the first ARN that has one, and the
// other accounts the ARNs name, in order.
func AccountOf(arns ...string) (account string, others []string) {
	for _, s := range arns {
		a, ok := splitARN(s)
		if !ok || !accountRE().MatchString(a.account) {
			continue
		}
		switch {
		case account == "":
			account = a.account
		case a.account != account && !slices.Contains(others, a.account):
			others = append(others, a.account)
		}
	}
	return account, others
}

// check reports every value the writer cannot turn into an ARN.
func (n Needs) check(w ARNWriter) []InputError {
	var errs []InputError
	bad := func(job, field, value, problem, fix string) {
		errs = append(errs, InputError{Job: job, Field: field, Value: value, Problem: problem, Fix: fix})
	}
	ok := func(re func() *regexp.Regexp, s string) bool {
		return w.Reference(s) || re().MatchString(s)
	}
	for _, u := range n.Jobs {
		if u.Region != "" && !ok(regionRE, u.Region) {
			bad(u.Name, "region", u.Region, "is not an AWS region.", "Set region_name in the aws_credentials block (or AWS_REGION) to a region such as us-east-1.")
		}
		if u.Cluster != "" && !ok(clusterNameRE, u.Cluster) && !clusterARNRE().MatchString(u.Cluster) {
			bad(u.Name, "cluster", u.Cluster, "is neither a cluster name nor a cluster ARN.", "Give the cluster's name (letters, digits, - and _) or its ARN, arn:aws:ecs:REGION:ACCOUNT:cluster/NAME.")
		}
		switch {
		case u.Family == "" && u.TaskDefinition == "":
			bad(u.Name, "task_definition_arn", "", "is empty and the job registers no family, so there is no task definition to run.", "Give the family the worker registers or the task definition the job runs.")
		case u.Family != "" && u.TaskDefinition != "":
			bad(u.Name, "task_definition_arn", u.TaskDefinition, "is set while the job also registers family "+u.Family+".", "Give one of them: a job with task_definition_arn registers nothing.")
		case u.Family != "" && !ok(familyRE, u.Family):
			bad(u.Name, "family", u.Family, "is not a task definition family.", "Use up to 255 letters, digits, - and _ (and * to match several families).")
		case u.TaskDefinition != "" && !ok(taskDefRE, u.TaskDefinition) && !taskDefARN().MatchString(u.TaskDefinition):
			bad(u.Name, "task_definition_arn", u.TaskDefinition, "is not a task definition.", "Give its ARN, arn:aws:ecs:REGION:ACCOUNT:task-definition/FAMILY:REVISION, or FAMILY:REVISION.")
		}
		for _, r := range u.PassRoles {
			if !ok(roleNameRE, r) && !roleARNRE().MatchString(r) {
				bad(u.Name, "execution_role_arn/task_role_arn", r, "is not an IAM role.", "Give the role's ARN, arn:aws:iam::ACCOUNT:role/NAME.")
			}
		}
		for _, g := range u.LogGroups {
			if !ok(logGroupRE, g.Name) {
				bad(u.Name, "cloudwatch_logs_options.awslogs-group", g.Name, "is not a log group name.", "Use letters, digits and . - _ / #.")
			}
			if g.Region != "" && !ok(regionRE, g.Region) {
				bad(u.Name, "cloudwatch_logs_options.awslogs-region", g.Region, "is not an AWS region.", "Give a region such as us-east-1, or leave it unset to log in the job's region.")
			}
		}
	}
	if q := n.EventsQueue; q != "" && !w.Reference(q) && !queueName().MatchString(q) && !queueARN().MatchString(q) {
		if _, isURL := parseQueueURL(q); !isURL {
			bad("", "--events-queue", q, "is not an SQS queue name, URL or ARN.", "Give the queue's name, its URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME) or its ARN.")
		}
	}
	for _, r := range n.AssumeRoles {
		if !w.Reference(r) && !roleARNRE().MatchString(r) {
			bad("", "aws_credentials.assume_role_arn", r, "is not an IAM role ARN.", "Write it like arn:aws:iam::123456789012:role/my-role.")
		}
	}
	if l, isLiteral := w.(Literal); isLiteral {
		errs = append(errs, l.check()...)
	}
	return errs
}
