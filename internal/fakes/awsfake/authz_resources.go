package awsfake

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// authorizers name, per "service:Action", the permissions a request needs:
// the action on the resources AWS authorizes it against, with the
// condition keys AWS supplies, then any further permissions the service
// checks on the caller's behalf (iam:PassRole, ecs:TagResource). Actions
// not listed here need their own permission on "*".
var authorizers = map[string]func(s *Server, r *request) []authCheck{
	"ecs:RunTask":                     (*Server).authzRunTask,
	"ecs:RegisterTaskDefinition":      (*Server).authzRegisterTaskDefinition,
	"ecs:CreateCluster":               (*Server).authzCreateCluster,
	"ecs:DeleteCluster":               ecsClusterCheck,
	"ecs:PutClusterCapacityProviders": ecsClusterCheck,
	"ecs:DescribeClusters":            (*Server).authzDescribeClusters,
	"ecs:DescribeCapacityProviders":   (*Server).authzDescribeCapacityProviders,
	"ecs:DescribeTasks":               (*Server).authzDescribeTasks,
	"ecs:StopTask":                    (*Server).authzStopTask,
	"ecs:ListTasks":                   (*Server).authzListTasks,
	"ecs:TagResource":                 (*Server).authzECSTagging,
	"ecs:UntagResource":               (*Server).authzECSTagging,
	"ecs:ListTagsForResource":         (*Server).authzECSTagging,

	"logs:CreateLogGroup":     logsGroupCheck,
	"logs:CreateLogStream":    logsStreamCheck,
	"logs:DescribeLogGroups":  (*Server).authzDescribeLogGroups,
	"logs:DescribeLogStreams": logsGroupCheck,
	"logs:PutLogEvents":       logsStreamCheck,
	"logs:GetLogEvents":       logsStreamCheck,
	"logs:FilterLogEvents":    logsGroupCheck,

	"sqs:CreateQueue":             sqsQueueCheck,
	"sqs:GetQueueUrl":             sqsQueueCheck,
	"sqs:GetQueueAttributes":      sqsQueueCheck,
	"sqs:SetQueueAttributes":      sqsQueueCheck,
	"sqs:DeleteQueue":             sqsQueueCheck,
	"sqs:PurgeQueue":              sqsQueueCheck,
	"sqs:SendMessage":             sqsQueueCheck,
	"sqs:SendMessageBatch":        sqsQueueCheck,
	"sqs:ReceiveMessage":          sqsQueueCheck,
	"sqs:DeleteMessage":           sqsQueueCheck,
	"sqs:DeleteMessageBatch":      sqsQueueCheck,
	"sqs:ChangeMessageVisibility": sqsQueueCheck,
	// ChangeMessageVisibilityBatch is not served, but is mapped so that
	// the rule is in one place when it is.
	"sqs:ChangeMessageVisibilityBatch": sqsQueueCheck,

	"cloudformation:CreateStack":         (*Server).authzStack,
	"cloudformation:UpdateStack":         (*Server).authzStack,
	"cloudformation:DeleteStack":         (*Server).authzStack,
	"cloudformation:DescribeStacks":      (*Server).authzStack,
	"cloudformation:DescribeStackEvents": (*Server).authzStack,
	"cloudformation:CreateChangeSet":     (*Server).authzStack,
	"cloudformation:DescribeChangeSet":   (*Server).authzStack,
	"cloudformation:ExecuteChangeSet":    (*Server).authzStack,
	"cloudformation:DeleteChangeSet":     (*Server).authzStack,
	"cloudformation:GetTemplate":         (*Server).authzStack,

	"iam:GetRole":                 (*Server).authzGetRole,
	"iam:SimulatePrincipalPolicy": (*Server).authzSimulate,

	"ecr:DescribeImages": (*Server).authzECRRepository,
}

// decodeLoose reads a JSON body for authorization only: a body the
// handler will refuse still gets its action checked.
func decodeLoose(r *request, v any) { _ = json.Unmarshal(r.body, v) }

func (s *Server) clusterArnRef(ref string) string {
	if strings.HasPrefix(ref, "arn:") {
		return ref
	}
	return s.clusterArn(clusterName(ref))
}

func clusterKey(arn string) map[string][]string { return map[string][]string{"ecs:cluster": {arn}} }

// tagKeys are the condition keys of tags a request asks to set.
func tagKeys(tags []ecsTag) map[string][]string {
	k := map[string][]string{}
	var names []string
	for _, t := range tags {
		k["aws:requesttag/"+strings.ToLower(t.Key)] = []string{t.Value}
		names = append(names, t.Key)
	}
	if len(names) > 0 {
		k["aws:tagkeys"] = names
	}
	return k
}

// passRoleChecks are the iam:PassRole permissions a caller needs to hand
// roles to a service.
func passRoleChecks(service string, roles ...string) []authCheck {
	var out []authCheck
	var seen []string
	for _, r := range roles {
		if r == "" || slices.Contains(seen, r) {
			continue
		}
		seen = append(seen, r)
		out = append(out, authCheck{action: "iam:PassRole", resource: r,
			keys: map[string][]string{"iam:passedtoservice": {service}}})
	}
	return out
}

// createTagCheck is the ecs:TagResource permission ECS requires, beside
// the creating action, when a request tags what it creates.
func createTagCheck(arn, createAction string, tags []ecsTag) authCheck {
	k := tagKeys(tags)
	k["ecs:createaction"] = []string{createAction}
	return authCheck{action: "ecs:TagResource", resource: arn, keys: k}
}

func (s *Server) authzRunTask(r *request) []authCheck {
	var in ecsRunTaskRequest
	decodeLoose(r, &in)
	cluster := s.clusterArnRef(in.Cluster)
	tdArn := in.TaskDefinition
	d := s.taskDefByRefLocked(in.TaskDefinition)
	if d != nil {
		tdArn = d.td.TaskDefinitionArn
	} else if !strings.HasPrefix(tdArn, "arn:") {
		tdArn = s.arn("ecs", "task-definition/"+tdArn)
	}
	keys := clusterKey(cluster)
	for _, it := range in.CapacityProviderStrategy {
		keys["ecs:capacity-provider"] = append(keys["ecs:capacity-provider"], s.arn("ecs", "capacity-provider/"+it.CapacityProvider))
	}
	for k, v := range tagKeys(in.Tags) {
		keys[k] = v
	}
	checks := []authCheck{{action: "ecs:RunTask", resource: tdArn, keys: keys}}
	var roles []string
	if d != nil {
		roles = append(roles, d.td.ExecutionRoleArn, d.td.TaskRoleArn)
	}
	if ov := in.Overrides; ov != nil {
		roles = append(roles, ov.TaskRoleArn, ov.ExecutionRoleArn)
	}
	checks = append(checks, passRoleChecks("ecs-tasks.amazonaws.com", roles...)...)
	if len(in.Tags) > 0 {
		// The task's ID is drawn now, and RunTask gives it to the first
		// task, so that the ARN authorized is the ARN created.
		r.taskID = s.newIDLocked(32)
		arn := s.arn("ecs", "task/"+clusterName(in.Cluster)+"/"+r.taskID)
		checks = append(checks, createTagCheck(arn, "RunTask", in.Tags))
	}
	return checks
}

// RegisterTaskDefinition is authorized on the revision it creates (the
// Service Authorization Reference gives it the task-definition resource
// type), so that a policy may scope it to families ("family:*") as well
// as grant it on "*".
func (s *Server) authzRegisterTaskDefinition(r *request) []authCheck {
	var in ecsRegisterTaskDefinitionRequest
	decodeLoose(r, &in)
	rev := 1
	if f := s.ecs.families[in.Family]; f != nil {
		rev = len(f.revs) + 1
	}
	arn := s.arn("ecs", fmt.Sprintf("task-definition/%s:%d", in.Family, rev))
	checks := []authCheck{{action: "ecs:RegisterTaskDefinition", resource: arn, keys: tagKeys(in.Tags)}}
	checks = append(checks, passRoleChecks("ecs-tasks.amazonaws.com", in.ExecutionRoleArn, in.TaskRoleArn)...)
	if len(in.Tags) > 0 {
		checks = append(checks, createTagCheck(arn, "RegisterTaskDefinition", in.Tags))
	}
	return checks
}

func (s *Server) authzCreateCluster(r *request) []authCheck {
	var in ecsCreateClusterRequest
	decodeLoose(r, &in)
	checks := []authCheck{{action: "ecs:CreateCluster", resource: "*", keys: tagKeys(in.Tags)}}
	if len(in.Tags) > 0 {
		checks = append(checks, createTagCheck(s.clusterArnRef(in.ClusterName), "CreateCluster", in.Tags))
	}
	return checks
}

func ecsClusterCheck(s *Server, r *request) []authCheck {
	var in struct{ Cluster string }
	decodeLoose(r, &in)
	return []authCheck{{action: "ecs:" + r.action, resource: s.clusterArnRef(in.Cluster)}}
}

func (s *Server) authzDescribeClusters(r *request) []authCheck {
	var in ecsDescribeClustersRequest
	decodeLoose(r, &in)
	refs := in.Clusters
	if len(refs) == 0 {
		refs = []string{"default"}
	}
	var out []authCheck
	for _, ref := range refs {
		out = append(out, authCheck{action: "ecs:DescribeClusters", resource: s.clusterArnRef(ref)})
	}
	return out
}

func (s *Server) authzDescribeCapacityProviders(r *request) []authCheck {
	var in ecsDescribeCapacityProvidersRequest
	decodeLoose(r, &in)
	if len(in.CapacityProviders) == 0 {
		return []authCheck{{action: "ecs:DescribeCapacityProviders", resource: "*"}}
	}
	var out []authCheck
	for _, ref := range in.CapacityProviders {
		arn := ref
		if !strings.HasPrefix(ref, "arn:") {
			arn = s.arn("ecs", "capacity-provider/"+ref)
		}
		out = append(out, authCheck{action: "ecs:DescribeCapacityProviders", resource: arn})
	}
	return out
}

func (s *Server) taskArnRef(cluster, ref string) string {
	if strings.HasPrefix(ref, "arn:") {
		return ref
	}
	return s.arn("ecs", "task/"+clusterName(cluster)+"/"+ref)
}

func (s *Server) authzDescribeTasks(r *request) []authCheck {
	var in ecsDescribeTasksRequest
	decodeLoose(r, &in)
	cluster := s.clusterArnRef(in.Cluster)
	var out []authCheck
	for _, ref := range in.Tasks {
		out = append(out, authCheck{action: "ecs:DescribeTasks", resource: s.taskArnRef(in.Cluster, ref), keys: clusterKey(cluster)})
	}
	if len(out) == 0 {
		out = append(out, authCheck{action: "ecs:DescribeTasks", resource: "*", keys: clusterKey(cluster)})
	}
	return out
}

func (s *Server) authzStopTask(r *request) []authCheck {
	var in ecsStopTaskRequest
	decodeLoose(r, &in)
	return []authCheck{{action: "ecs:StopTask", resource: s.taskArnRef(in.Cluster, in.Task), keys: clusterKey(s.clusterArnRef(in.Cluster))}}
}

func (s *Server) authzListTasks(r *request) []authCheck {
	var in ecsListTasksRequest
	decodeLoose(r, &in)
	return []authCheck{{action: "ecs:ListTasks", resource: "*", keys: clusterKey(s.clusterArnRef(in.Cluster))}}
}

func (s *Server) authzECSTagging(r *request) []authCheck {
	var in struct {
		ResourceArn string   `json:"resourceArn"`
		Tags        []ecsTag `json:"tags"`
		TagKeys     []string `json:"tagKeys"`
	}
	decodeLoose(r, &in)
	keys := tagKeys(in.Tags)
	if len(in.TagKeys) > 0 {
		keys["aws:tagkeys"] = in.TagKeys
	}
	return []authCheck{{action: "ecs:" + r.action, resource: in.ResourceArn, keys: keys}}
}

// CloudWatch Logs authorizes against log-group ARNs that end in a
// log-stream part, empty for group-level actions: the ARN its denials
// name, and why a policy must say "log-group:NAME:*" to cover them.
func (s *Server) logStreamArn(group, stream string) string {
	return s.arn("logs", "log-group:"+group+":log-stream:"+stream)
}

type logsRef struct {
	LogGroupName       string `json:"logGroupName"`
	LogGroupIdentifier string `json:"logGroupIdentifier"`
	LogStreamName      string `json:"logStreamName"`
}

func (s *Server) logsGroupName(in logsRef) string {
	if in.LogGroupName != "" {
		return in.LogGroupName
	}
	return strings.TrimSuffix(strings.TrimPrefix(in.LogGroupIdentifier, s.arn("logs", "log-group:")), ":*")
}

func logsGroupCheck(s *Server, r *request) []authCheck {
	var in logsRef
	decodeLoose(r, &in)
	return []authCheck{{action: "logs:" + r.action, resource: s.logStreamArn(s.logsGroupName(in), "")}}
}

func logsStreamCheck(s *Server, r *request) []authCheck {
	var in logsRef
	decodeLoose(r, &in)
	return []authCheck{{action: "logs:" + r.action, resource: s.logStreamArn(s.logsGroupName(in), in.LogStreamName)}}
}

func (s *Server) authzDescribeLogGroups(r *request) []authCheck {
	return []authCheck{{action: "logs:DescribeLogGroups", resource: s.logStreamArn("", "")}}
}

// sqsActions are the permissions SQS's batch actions are authorized as:
// IAM has no batch actions of its own.
var sqsActions = map[string]string{
	"DeleteMessageBatch":           "DeleteMessage",
	"ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
	"SendMessageBatch":             "SendMessage",
}

func sqsQueueCheck(s *Server, r *request) []authCheck {
	var in struct {
		QueueUrl, QueueName, QueueOwnerAWSAccountId string
	}
	decodeLoose(r, &in)
	account, name := s.opts.AccountID, in.QueueName
	if in.QueueOwnerAWSAccountId != "" {
		account = in.QueueOwnerAWSAccountId
	}
	if in.QueueUrl != "" {
		parts := strings.Split(strings.TrimSuffix(in.QueueUrl, "/"), "/")
		name = parts[len(parts)-1]
		if len(parts) >= 2 {
			account = parts[len(parts)-2]
		}
	}
	action := r.action
	if a, ok := sqsActions[action]; ok {
		action = a
	}
	return []authCheck{{action: "sqs:" + action, resource: fmt.Sprintf("arn:aws:sqs:%s:%s:%s", s.opts.Region, account, name)}}
}

// authzStack authorizes CloudFormation actions on the stack named: its ID
// when it exists, else the ARN pattern CloudFormation uses for a name.
func (s *Server) authzStack(r *request) []authCheck {
	action := "cloudformation:" + r.action
	name := r.form.Get("StackName")
	if name == "" {
		// Listing, or a change set named by its ARN alone: no stack to
		// name up front.
		return []authCheck{{action: action, resource: "*"}}
	}
	arn := name
	if !strings.HasPrefix(name, "arn:") {
		arn = fmt.Sprintf("arn:aws:cloudformation:%s:%s:stack/%s/*", s.opts.Region, s.opts.AccountID, name)
		if st := s.findStackLocked(name); st != nil && st.deleted.IsZero() {
			arn = st.id
		}
	}
	checks := []authCheck{{action: action, resource: arn}}
	if role := r.form.Get("RoleARN"); role != "" {
		checks = append(checks, passRoleChecks("cloudformation.amazonaws.com", role)...)
	}
	return checks
}

func (s *Server) authzGetRole(r *request) []authCheck {
	name := r.form.Get("RoleName")
	arn := "arn:aws:iam::" + s.opts.AccountID + ":role/" + name
	if role := s.iam.roles[name]; role != nil {
		arn = role.arn
	}
	return []authCheck{{action: "iam:GetRole", resource: arn, display: "role " + name}}
}

func (s *Server) authzSimulate(r *request) []authCheck {
	src := r.form.Get("PolicySourceArn")
	display := src
	if kind, name, ok := iamEntity(src); ok {
		display = kind + " " + name
	}
	return []authCheck{{action: "iam:SimulatePrincipalPolicy", resource: src, display: display}}
}

func (s *Server) authzECRRepository(r *request) []authCheck {
	var in struct{ RegistryId, RepositoryName string }
	decodeLoose(r, &in)
	registry := in.RegistryId
	if registry == "" {
		registry = s.opts.AccountID
	}
	region := signingRegion(r.http)
	if region == "" {
		region = s.opts.Region
	}
	return []authCheck{{action: "ecr:" + r.action, resource: fmt.Sprintf("arn:aws:ecr:%s:%s:repository/%s", region, registry, in.RepositoryName)}}
}
