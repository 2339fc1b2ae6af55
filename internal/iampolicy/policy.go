package iampolicy

import (
	"cmp"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/lazyregexp"
)

// PolicyVersion is the IAM policy language version; policy variables and
// some condition operators exist only in it.
const PolicyVersion = "2012-10-17"

// Size limits IAM puts on policy documents, in characters without
// whitespace (what Policy.Size counts).
const (
	MaxInlineRolePolicy = 10240
	MaxManagedPolicy    = 6144
)

// Policy is an IAM identity policy document.
type Policy struct {
	Statements []Statement
}

// Statement is one Allow statement.
type Statement struct {
	// Sid is stable: the same needs give the same Sids, so that a diff of
	// two policies shows what changed.
	Sid string
	// Actions are sorted.
	Actions []string
	// Resources are strings or CloudFormation intrinsics (*jsonv.Object),
	// deduplicated and sorted.
	Resources  []any
	Conditions []Condition
}

// Condition is one condition operator on one key: the statement applies
// when the key matches any of the values.
type Condition struct {
	Operator string
	Key      string
	Values   []any
}

// Actions are the actions the policy allows, sorted, each once.
func (p *Policy) Actions() []string {
	var out []string
	for _, s := range p.Statements {
		for _, a := range s.Actions {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Document is the policy as IAM reads it: a single action, resource or
// condition value is written alone, several as a list.
func (p *Policy) Document() *jsonv.Object {
	sts := make([]any, len(p.Statements))
	for i, s := range p.Statements {
		o := jsonv.ObjectOf("Sid", s.Sid, "Effect", "Allow", "Action", oneOrList(toAny(s.Actions)), "Resource", oneOrList(s.Resources))
		if len(s.Conditions) > 0 {
			cond := jsonv.NewObject()
			for _, c := range s.Conditions {
				op := cond.GetObject(c.Operator)
				if op == nil {
					op = jsonv.NewObject()
					cond.Set(c.Operator, op)
				}
				op.Set(c.Key, oneOrList(c.Values))
			}
			o.Set("Condition", cond)
		}
		sts[i] = o
	}
	return jsonv.ObjectOf("Version", PolicyVersion, "Statement", sts)
}

// MarshalJSON writes the document.
func (p *Policy) MarshalJSON() ([]byte, error) { return jsonv.Marshal(p.Document()) }

// Size is the document's length as IAM counts it against its limits
// (MaxInlineRolePolicy, MaxManagedPolicy): compact, without whitespace.
func (p *Policy) Size() int {
	b, _ := jsonv.Marshal(p.Document())
	return len(b)
}

func oneOrList(vs []any) any {
	if len(vs) == 1 {
		return vs[0]
	}
	return vs
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// ErrNothingToAllow is returned for needs that ask for no action at all:
// IAM refuses a policy without statements.
var ErrNothingToAllow = errors.New("nothing to allow: no job, no events queue and no role to assume")

// Generate writes the least policy that lets an identity do what n says,
// with resources spelled by w. It is a pure function of its inputs. Every
// value w cannot turn into a resource is reported at once in an
// InputErrors.
//
// What it allows, and why (see Actions for what each action is for):
//
//   - ecs:RegisterTaskDefinition on the families the jobs register, and
//     ecs:TagResource on them for ecs:CreateAction RegisterTaskDefinition:
//     every registration carries the content-hash tag.
//   - ecs:DescribeTaskDefinition, and ecs:ListTaskDefinitions and
//     ecs:DeregisterTaskDefinition when a job registers (with
//     auto_deregister for the latter), on "*": ECS has no resource-level
//     permissions for them.
//   - ecs:RunTask per cluster, on the families and task definitions run
//     there, under ecs:cluster; ecs:DescribeTasks and ecs:StopTask on the
//     clusters' tasks under ecs:cluster; ecs:TagResource on those tasks
//     for ecs:CreateAction RunTask, as RunTask always carries the
//     prefect.io tags.
//   - iam:PassRole on the roles handed to ECS, only to ecs-tasks.amazonaws.com.
//   - ec2:DescribeSubnets (and ec2:DescribeVpcs) on "*" when subnets are
//     checked (inferred).
//   - logs:GetLogEvents on the streams of the awslogs groups.
//   - sqs:GetQueueUrl, sqs:ReceiveMessage, sqs:DeleteMessage on the
//     events queue.
//   - sts:AssumeRole on the roles this identity assumes.
func Generate(n Needs, w ARNWriter) (*Policy, error) {
	if err := errOrNil(n.check(w)); err != nil {
		return nil, err
	}
	if len(n.Jobs) == 0 && n.EventsQueue == "" && len(n.AssumeRoles) == 0 {
		return nil, ErrNothingToAllow
	}

	// Jobs on the same cluster share its statements; a cluster is known
	// by its ARN, so a name and an ARN of one cluster may still differ.
	type cluster struct {
		region, name, arnKey string
		arn                  any
		run                  resources
	}
	var clusters []*cluster
	clusterOf := func(u Usage) *cluster {
		name := cmp.Or(u.Cluster, DefaultCluster)
		arn := w.ClusterARN(u.Region, name)
		for _, c := range clusters {
			if c.arnKey == key(arn) {
				return c
			}
		}
		c := &cluster{region: u.Region, name: name, arn: arn, arnKey: key(arn)}
		clusters = append(clusters, c)
		return c
	}
	var families, roles, logs resources
	registers, deregisters, infer, check := false, false, false, false
	for _, u := range n.Jobs {
		c := clusterOf(u)
		if u.Family != "" {
			registers = true
			deregisters = deregisters || u.AutoDeregister
			f := w.Family(u.Region, u.Family)
			families.add(f)
			c.run.add(f)
		} else {
			c.run.add(w.TaskDefinition(u.Region, u.TaskDefinition))
		}
		for _, r := range u.PassRoles {
			roles.add(w.Role(r))
		}
		for _, g := range u.LogGroups {
			logs.add(w.LogStreams(cmp.Or(g.Region, u.Region), g.Name))
		}
		infer = infer || u.InferSubnets
		check = check || u.CheckSubnets
	}
	slices.SortFunc(clusters, func(a, b *cluster) int { return cmp.Compare(a.arnKey, b.arnKey) })

	p := &Policy{}
	add := func(sid string, actions []string, res resources, conds ...Condition) {
		slices.Sort(actions)
		p.Statements = append(p.Statements, Statement{Sid: sid, Actions: actions, Resources: res.sorted(), Conditions: conds})
	}
	anywhere := resources{}
	anywhere.add("*")

	if registers {
		add("RegisterTheFamilies", []string{"ecs:RegisterTaskDefinition"}, families)
	}
	if len(n.Jobs) > 0 {
		actions := []string{"ecs:DescribeTaskDefinition"}
		if registers {
			actions = append(actions, "ecs:ListTaskDefinitions")
		}
		if deregisters {
			actions = append(actions, "ecs:DeregisterTaskDefinition")
		}
		add("TaskDefinitionActionsWithoutResourceLevelPermissions", actions, anywhere)

		sids := clusterSids(len(clusters), func(i int) string { return clusters[i].name })
		var tasks, arns resources
		for i, c := range clusters {
			add(sids[i], []string{"ecs:RunTask"}, c.run, clusterCondition(c.arn))
			tasks.add(w.Tasks(c.region, c.name))
			arns.add(c.arn)
		}
		add("FollowAndStopTasksOnTheClusters", []string{"ecs:DescribeTasks", "ecs:StopTask"}, tasks, clusterCondition(arns.sorted()...))

		tagged := resources{}
		createActions := []any{"RunTask"}
		if registers {
			tagged.add(families.sorted()...)
			createActions = []any{"RegisterTaskDefinition", "RunTask"}
		}
		tagged.add(tasks.sorted()...)
		add("TagWhatItCreates", []string{"ecs:TagResource"}, tagged, Condition{Operator: "StringEquals", Key: "ecs:CreateAction", Values: createActions})

		if len(roles) > 0 {
			add("PassOnlyTheFlowRunRoles", []string{"iam:PassRole"}, roles,
				Condition{Operator: "StringEquals", Key: "iam:PassedToService", Values: []any{"ecs-tasks.amazonaws.com"}})
		}
		if infer || check {
			actions := []string{"ec2:DescribeSubnets"}
			if infer {
				actions = append(actions, "ec2:DescribeVpcs")
			}
			add("FindTheTasksSubnets", actions, anywhere)
		}
		if len(logs) > 0 {
			add("ReadCrashedFlowRunLogs", []string{"logs:GetLogEvents"}, logs)
		}
	}
	if n.EventsQueue != "" {
		q := resources{}
		q.add(w.Queue("", n.EventsQueue))
		add("ConsumeTaskStateChanges", []string{"sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"}, q)
	}
	if len(n.AssumeRoles) > 0 {
		assumed := resources{}
		for _, r := range n.AssumeRoles {
			assumed.add(w.Role(r))
		}
		add("AssumeTheJobsRoles", []string{"sts:AssumeRole"}, assumed)
	}
	return p, nil
}

// clusterCondition limits a statement to clusters by ARN. ArnLike when
// an ARN has a wildcard (an unknown account or region): ArnLike is the
// operator IAM documents for patterns.
func clusterCondition(arns ...any) Condition {
	op := "ArnEquals"
	for _, a := range arns {
		if s, ok := a.(string); ok && strings.ContainsAny(s, "*?") {
			op = "ArnLike"
		}
	}
	return Condition{Operator: op, Key: "ecs:cluster", Values: arns}
}

var notSidChar = lazyregexp.New(`[^A-Za-z0-9]+`)

// clusterSids names the RunTask statements: after the cluster when there
// are several, so that adding a cluster does not rename the others.
func clusterSids(n int, name func(int) string) []string {
	if n == 1 {
		return []string{"RunTaskDefinitionsOnTheCluster"}
	}
	sids := make([]string, n)
	seen := map[string]int{}
	for i := range n {
		base := cmp.Or(name(i), DefaultCluster)
		if a, ok := splitARN(base); ok {
			base = strings.TrimPrefix(a.resource, "cluster/")
		}
		var b strings.Builder
		for _, part := range notSidChar().Split(base, -1) {
			if part != "" {
				b.WriteString(strings.ToUpper(part[:1]) + part[1:])
			}
		}
		sid := "RunTaskDefinitionsOnCluster" + b.String()
		seen[sid]++
		if seen[sid] > 1 {
			sid += strconv.Itoa(seen[sid])
		}
		sids[i] = sid
	}
	return sids
}

// resources is a set of resources that keeps its first spelling of each.
type resources []any

func key(v any) string {
	b, _ := jsonv.Marshal(v)
	return string(b)
}

func (r *resources) add(vs ...any) {
	for _, v := range vs {
		if !slices.ContainsFunc(*r, func(e any) bool { return key(e) == key(v) }) {
			*r = append(*r, v)
		}
	}
}

// sorted orders resources by their JSON: plain ARNs alphabetically, then
// intrinsics.
func (r resources) sorted() []any {
	out := slices.Clone([]any(r))
	slices.SortStableFunc(out, func(a, b any) int { return cmp.Compare(key(a), key(b)) })
	return out
}
