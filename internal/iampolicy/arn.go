package iampolicy

import (
	"cmp"
	"net/url"
	"strings"

	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/lazyregexp"
)

// ARNWriter writes the resources and condition values of a policy. The
// generator decides what to allow and on which resources; the writer only
// spells them, so that one generator serves both a policy for an account
// (Literal) and a policy inside a CloudFormation template (CloudFormation).
//
// Every method receives a value as the jobs gave it (a name, an ARN, ...)
// and returns a string or a *jsonv.Object (an intrinsic function). A
// region argument may be empty: the writer then uses its own.
type ARNWriter interface {
	// ClusterARN is the cluster's ARN, the value of the ecs:cluster
	// condition key. An empty cluster is ECS's default cluster.
	ClusterARN(region, cluster string) any
	// Tasks matches every task of the cluster.
	Tasks(region, cluster string) any
	// Family matches every revision of a task definition family, in
	// which * matches any characters.
	Family(region, family string) any
	// TaskDefinition matches an existing task definition given as an ARN,
	// FAMILY:REVISION or FAMILY (any revision).
	TaskDefinition(region, taskDefinition string) any
	// Role is an IAM role given by ARN or name.
	Role(role string) any
	// LogStreams matches every stream of a CloudWatch Logs group.
	LogStreams(region, group string) any
	// Queue is an SQS queue given by name, URL or ARN.
	Queue(region, queue string) any
	// Reference reports that s is an expression the writer resolves
	// itself (a template reference), which the generator must not check
	// as a name or an ARN.
	Reference(s string) bool
}

// Literal writes ARNs for one account. Fields left empty become "*" in
// the ARNs that need them, which IAM reads as "any": the policy is then
// wider than it could be, never narrower than the worker needs.
type Literal struct {
	// Partition is "aws", "aws-cn", ...; empty means the partition of
	// each ARN's region.
	Partition string
	// Region is used where a job gives none (the events queue by name,
	// and jobs whose region is unknown).
	Region string
	// Account is the 12-digit account of the resources that the jobs
	// name without an ARN.
	Account string
}

var _ ARNWriter = Literal{}

func (l Literal) region(r string) string { return cmp.Or(r, l.Region, "*") }

func (l Literal) partition(region string) string {
	return cmp.Or(l.Partition, PartitionOf(region))
}

func (l Literal) arn(service, region, resource string) string {
	region = l.region(region)
	return "arn:" + l.partition(region) + ":" + service + ":" + region + ":" + cmp.Or(l.Account, "*") + ":" + resource
}

// ClusterARN implements ARNWriter.
func (l Literal) ClusterARN(region, cluster string) any {
	if isARN(cluster) {
		return cluster
	}
	return l.arn("ecs", region, "cluster/"+cmp.Or(cluster, DefaultCluster))
}

// Tasks implements ARNWriter. Tasks live in their cluster's region and
// account, which a cluster ARN says.
func (l Literal) Tasks(region, cluster string) any {
	if a, ok := splitARN(cluster); ok {
		return clusterTasks(a)
	}
	return l.arn("ecs", region, "task/"+cmp.Or(cluster, DefaultCluster)+"/*")
}

func clusterTasks(cluster arnParts) string {
	return "arn:" + cluster.partition + ":ecs:" + cluster.region + ":" + cluster.account + ":task/" + strings.TrimPrefix(cluster.resource, "cluster/") + "/*"
}

// Family implements ARNWriter.
func (l Literal) Family(region, family string) any {
	return l.arn("ecs", region, "task-definition/"+family+":*")
}

// TaskDefinition implements ARNWriter.
func (l Literal) TaskDefinition(region, td string) any {
	if isARN(td) {
		return withRevision(td)
	}
	return l.arn("ecs", region, "task-definition/"+withRevision(td))
}

// Role implements ARNWriter. IAM is global: its ARNs have no region.
func (l Literal) Role(role string) any {
	if isARN(role) {
		return role
	}
	return "arn:" + l.partition(l.region("")) + ":iam::" + cmp.Or(l.Account, "*") + ":role/" + role
}

// LogStreams implements ARNWriter.
func (l Literal) LogStreams(region, group string) any {
	return l.arn("logs", region, "log-group:"+group+":log-stream:*")
}

// Queue implements ARNWriter.
func (l Literal) Queue(region, queue string) any {
	if isARN(queue) {
		return queue
	}
	if q, ok := parseQueueURL(queue); ok {
		region = cmp.Or(q.region, region)
		return "arn:" + l.partition(l.region(region)) + ":sqs:" + l.region(region) + ":" + q.account + ":" + q.name
	}
	return l.arn("sqs", region, queue)
}

// Reference implements ARNWriter: a literal policy has no references.
func (Literal) Reference(string) bool { return false }

func (l Literal) check() []InputError {
	var errs []InputError
	if l.Account != "" && !accountRE().MatchString(l.Account) {
		errs = append(errs, InputError{Field: "account", Value: l.Account, Problem: "is not an AWS account id.", Fix: "Give the 12 digits of the account, e.g. 123456789012."})
	}
	if l.Region != "" && !regionRE().MatchString(l.Region) {
		errs = append(errs, InputError{Field: "region", Value: l.Region, Problem: "is not an AWS region.", Fix: "Give a region such as us-east-1."})
	}
	if l.Partition != "" && !partitionRE().MatchString(l.Partition) {
		errs = append(errs, InputError{Field: "partition", Value: l.Partition, Problem: "is not an AWS partition.", Fix: "Give aws, aws-cn or aws-us-gov, or leave it empty to take it from the region."})
	}
	return errs
}

// withRevision makes a task definition without a revision match every
// revision of its family. ECS has resolved the revision before
// authorizing RunTask since March 21, 2024: a family alone is authorized
// as its latest revision, family:N, which FAMILY:* matches and the bare
// family ARN does not.
func withRevision(td string) string {
	i := strings.LastIndex(td, "task-definition/")
	name := td
	if i >= 0 {
		name = td[i+len("task-definition/"):]
	}
	if strings.Contains(name, ":") {
		return td
	}
	return td + ":*"
}

// CloudFormation writes resources as CloudFormation intrinsics, with
// ${AWS::Partition}, ${AWS::Region} and ${AWS::AccountId} in place of the
// account's values. Every input is a fragment of an Fn::Sub template, so
// "${Param}" and "${Resource.Attr}" refer to the template's parameters
// and resources; an input that is nothing but such a reference is written
// as Ref or Fn::GetAtt. A cluster given as a reference must hold the
// cluster's ARN.
type CloudFormation struct {
	// Optional maps a reference ("FlowRunTaskRoleArn") that may be empty
	// to the condition under which it is set. A resource written from it
	// is wrapped in Fn::If on that condition, so that it disappears,
	// instead of being empty, when the condition is false. A statement
	// must not consist of optional resources only.
	Optional map[string]string
}

var _ ARNWriter = CloudFormation{}

var wholeRef = lazyregexp.New(`^\$\{([A-Za-z0-9:]+)(?:\.([A-Za-z0-9.]+))?\}$`)

// ref writes a reference and reports whether s was one.
func (c CloudFormation) ref(s string) (any, bool) {
	m := wholeRef().FindStringSubmatch(s)
	if m == nil {
		return nil, false
	}
	var v any = jsonv.ObjectOf("Ref", m[1])
	if m[2] != "" {
		v = jsonv.ObjectOf("Fn::GetAtt", []any{m[1], m[2]})
	}
	if cond, ok := c.Optional[s[2:len(s)-1]]; ok {
		v = jsonv.ObjectOf("Fn::If", []any{cond, v, jsonv.ObjectOf("Ref", "AWS::NoValue")})
	}
	return v, true
}

func (c CloudFormation) sub(s string) any {
	if v, ok := c.ref(s); ok {
		return v
	}
	if !strings.Contains(s, "${") {
		return s
	}
	return jsonv.ObjectOf("Fn::Sub", s)
}

// given is a resource named by a stack reference or by a whole ARN, which
// the policy uses as it is instead of building an ARN from a name.
func (c CloudFormation) given(s string) (any, bool) {
	if v, ok := c.ref(s); ok {
		return v, true
	}
	if isARN(s) {
		return s, true
	}
	return nil, false
}

func cfnRegion(r string) string { return cmp.Or(r, "${AWS::Region}") }

func (c CloudFormation) arn(service, region, resource string) any {
	return c.sub("arn:${AWS::Partition}:" + service + ":" + cfnRegion(region) + ":${AWS::AccountId}:" + resource)
}

// ClusterARN implements ARNWriter.
func (c CloudFormation) ClusterARN(region, cluster string) any {
	if v, ok := c.given(cluster); ok {
		return v
	}
	return c.arn("ecs", region, "cluster/"+cmp.Or(cluster, DefaultCluster))
}

// Tasks implements ARNWriter. A cluster ARN known only at deploy time
// gives its name through Fn::Split, since task ARNs name the cluster.
func (c CloudFormation) Tasks(region, cluster string) any {
	if v, ok := c.ref(cluster); ok {
		name := jsonv.ObjectOf("Fn::Select", []any{jsonv.Normalize(1), jsonv.ObjectOf("Fn::Split", []any{"/", v})})
		return jsonv.ObjectOf("Fn::Sub", []any{
			"arn:${AWS::Partition}:ecs:" + cfnRegion(region) + ":${AWS::AccountId}:task/${ClusterName}/*",
			jsonv.ObjectOf("ClusterName", name),
		})
	}
	if a, ok := splitARN(cluster); ok {
		return clusterTasks(a)
	}
	return c.arn("ecs", region, "task/"+cmp.Or(cluster, DefaultCluster)+"/*")
}

// Family implements ARNWriter.
func (c CloudFormation) Family(region, family string) any {
	return c.arn("ecs", region, "task-definition/"+family+":*")
}

// TaskDefinition implements ARNWriter.
func (c CloudFormation) TaskDefinition(region, td string) any {
	if v, ok := c.ref(td); ok {
		return v
	}
	if isARN(td) {
		return withRevision(td)
	}
	return c.arn("ecs", region, "task-definition/"+withRevision(td))
}

// Role implements ARNWriter.
func (c CloudFormation) Role(role string) any {
	if v, ok := c.given(role); ok {
		return v
	}
	return c.sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/" + role)
}

// LogStreams implements ARNWriter.
func (c CloudFormation) LogStreams(region, group string) any {
	return c.arn("logs", region, "log-group:"+group+":log-stream:*")
}

// Queue implements ARNWriter.
func (c CloudFormation) Queue(region, queue string) any {
	if v, ok := c.given(queue); ok {
		return v
	}
	if q, ok := parseQueueURL(queue); ok {
		return c.sub("arn:${AWS::Partition}:sqs:" + cfnRegion(cmp.Or(q.region, region)) + ":" + q.account + ":" + q.name)
	}
	return c.arn("sqs", region, queue)
}

// Reference implements ARNWriter.
func (CloudFormation) Reference(s string) bool { return strings.Contains(s, "${") }

// DefaultCluster is the cluster ECS uses when a request names none.
const DefaultCluster = "default"

// PartitionOf is the partition of a region: "aws-cn" for cn-north-1,
// "aws-us-gov" for us-gov-west-1, "aws" for the commercial regions, and
// "*" when the region is unknown ("" or "*").
func PartitionOf(region string) string {
	switch {
	case region == "" || region == "*":
		return "*"
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	case strings.HasPrefix(region, "us-isob-"):
		return "aws-iso-b"
	case strings.HasPrefix(region, "us-isof-"):
		return "aws-iso-f"
	case strings.HasPrefix(region, "us-iso-"):
		return "aws-iso"
	case strings.HasPrefix(region, "eu-isoe-"):
		return "aws-iso-e"
	case strings.HasPrefix(region, "eusc-"):
		return "aws-eusc"
	}
	return "aws"
}

var (
	accountRE   = lazyregexp.New(`^[0-9]{12}$`)
	regionRE    = lazyregexp.New(`^[a-z]{2,4}(-[a-z]+)+-[0-9]+$`)
	partitionRE = lazyregexp.New(`^aws(-[a-z]+)*$`)

	clusterNameRE = lazyregexp.New(`^[A-Za-z0-9_-]{1,255}$`)
	clusterARNRE  = lazyregexp.New(`^arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:cluster/[A-Za-z0-9_-]{1,255}$`)
	// Families may hold * where a pattern covers several (prefect_pool_*).
	familyRE   = lazyregexp.New(`^[A-Za-z0-9_*-]{1,255}$`)
	taskDefRE  = lazyregexp.New(`^[A-Za-z0-9_-]{1,255}(:[0-9]+)?$`)
	taskDefARN = lazyregexp.New(`^arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:task-definition/[A-Za-z0-9_-]{1,255}(:[0-9]+)?$`)
	roleNameRE = lazyregexp.New(`^[\w+=,.@-]{1,64}$`)
	roleARNRE  = lazyregexp.New(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$`)
	logGroupRE = lazyregexp.New(`^[.\-_/#A-Za-z0-9]{1,512}$`)
	queueName  = lazyregexp.New(`^[A-Za-z0-9_-]{1,80}(\.fifo)?$`)
	queueARN   = lazyregexp.New(`^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,80}(\.fifo)?$`)
	// sqs.REGION.amazonaws.com(.cn), REGION.queue.amazonaws.com and the
	// us-east-1 legacy queue.amazonaws.com.
	queueHostRE = lazyregexp.New(`^(?:sqs\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?|([a-z0-9-]+)\.queue\.amazonaws\.com(?:\.cn)?|(queue)\.amazonaws\.com)$`)
)

func isARN(s string) bool { return strings.HasPrefix(s, "arn:") }

type arnParts struct{ partition, service, region, account, resource string }

func splitARN(s string) (arnParts, bool) {
	p := strings.SplitN(s, ":", 6)
	if len(p) != 6 || p[0] != "arn" {
		return arnParts{}, false
	}
	return arnParts{p[1], p[2], p[3], p[4], p[5]}, true
}

type queueRef struct{ region, account, name string }

// parseQueueURL reads https://sqs.REGION.amazonaws.com/ACCOUNT/NAME and its
// other spellings. The region is empty for a custom endpoint (LocalStack,
// a VPC endpoint), where only the path says which queue it is.
func parseQueueURL(s string) (queueRef, bool) {
	if !strings.HasPrefix(s, "https://") && !strings.HasPrefix(s, "http://") {
		return queueRef{}, false
	}
	u, err := url.Parse(s)
	if err != nil {
		return queueRef{}, false
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) != 2 || !accountRE().MatchString(parts[0]) || !queueName().MatchString(parts[1]) {
		return queueRef{}, false
	}
	q := queueRef{account: parts[0], name: parts[1]}
	if m := queueHostRE().FindStringSubmatch(u.Hostname()); m != nil {
		q.region = cmp.Or(m[1], m[2])
		if m[3] != "" {
			q.region = "us-east-1"
		}
	}
	return q, true
}
