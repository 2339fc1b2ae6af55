package awsfake

import "time"

// Bucket is a token bucket: Burst requests at once, refilled at Refill
// tokens a second. A zero Burst disables the bucket.
type Bucket struct {
	Burst  int
	Refill float64
}

// Throttle keys. An action key ("ecs:RunTask") in Options.Throttle gives that
// action a bucket of its own; a category key ("ecs:cluster-resource-modify")
// replaces the bucket the category's actions share. These keys cover the
// limits that are not one action's:
const (
	// ThrottleTaskDefinitionFamily is the per-family bucket of
	// RegisterTaskDefinition; running dry answers ClientException "Too many
	// concurrent attempts to create a new revision of the specified family."
	ThrottleTaskDefinitionFamily = "ecs:RegisterTaskDefinition/family"
	// ThrottleFargateRunTask limits RunTask calls that launch on Fargate.
	ThrottleFargateRunTask = "ecs:RunTask/fargate-calls"
	// ThrottleFargateTasks counts Fargate tasks launched, one token each.
	ThrottleFargateTasks = "ecs:RunTask/fargate-tasks"
)

// defaultBuckets are the account-wide limits of the real services.
//
// ECS: "Request throttling for the Amazon ECS API" (APIReference,
// request-throttling.html): actions are grouped in categories that share one
// bucket; capacity is the burst and refill the sustained rate per second.
// Fargate: "AWS Fargate throttling quotas" (developerguide/throttling.html):
// 20 RunTask calls a second (burst and sustained) and 100 tasks burst, 20 a
// second sustained. The per-family revision limit (burst 20, 1 a second) is
// the ECS quota "task definition revisions per family per second".
// CloudWatch Logs: the "CloudWatch Logs quotas" page gives TPS per account
// and Region; burst is taken equal to the rate. EC2: "Request throttling for
// the Amazon EC2 API", non-mutating actions: bucket 100, refill 20. STS: the
// documented 600 requests a second per account. SQS standard queues have no
// practical API rate limit, so none is modelled.
var defaultBuckets = map[string]Bucket{
	"ecs:cluster-modify":          {20, 1},
	"ecs:cluster-read":            {50, 20},
	"ecs:task-definition-modify":  {20, 1},
	"ecs:task-definition-read":    {50, 20},
	"ecs:capacity-provider-read":  {50, 20},
	"ecs:tag-modify":              {20, 10},
	"ecs:tag-read":                {50, 20},
	"ecs:cluster-resource-modify": {100, 40},
	"ecs:cluster-resource-read":   {100, 20},
	ThrottleTaskDefinitionFamily:  {20, 1},
	ThrottleFargateRunTask:        {20, 20},
	ThrottleFargateTasks:          {100, 20},
	"logs:CreateLogGroup":         {5, 5},
	"logs:CreateLogStream":        {50, 50},
	"logs:DescribeLogGroups":      {10, 10},
	"logs:DescribeLogStreams":     {25, 25},
	"logs:FilterLogEvents":        {5, 5},
	"logs:GetLogEvents":           {25, 25},
	"logs:PutLogEvents":           {5000, 5000},
	"ec2:non-mutating":            {100, 20},
	"sts:requests":                {600, 600},
}

// throttleCategory maps an action to the shared bucket it draws from.
var throttleCategory = map[string]string{
	"ecs:CreateCluster":               "ecs:cluster-modify",
	"ecs:DeleteCluster":               "ecs:cluster-modify",
	"ecs:PutClusterCapacityProviders": "ecs:cluster-modify",
	"ecs:DescribeClusters":            "ecs:cluster-read",
	"ecs:ListClusters":                "ecs:cluster-read",
	"ecs:RegisterTaskDefinition":      "ecs:task-definition-modify",
	"ecs:DeregisterTaskDefinition":    "ecs:task-definition-modify",
	"ecs:DescribeTaskDefinition":      "ecs:task-definition-read",
	"ecs:ListTaskDefinitions":         "ecs:task-definition-read",
	"ecs:ListTaskDefinitionFamilies":  "ecs:task-definition-read",
	"ecs:DescribeCapacityProviders":   "ecs:capacity-provider-read",
	"ecs:TagResource":                 "ecs:tag-modify",
	"ecs:UntagResource":               "ecs:tag-modify",
	"ecs:ListTagsForResource":         "ecs:tag-read",
	"ecs:RunTask":                     "ecs:cluster-resource-modify",
	"ecs:StopTask":                    "ecs:cluster-resource-modify",
	"ecs:DescribeTasks":               "ecs:cluster-resource-read",
	"ecs:ListTasks":                   "ecs:cluster-resource-read",
	"logs:CreateLogGroup":             "logs:CreateLogGroup",
	"logs:CreateLogStream":            "logs:CreateLogStream",
	"logs:DescribeLogGroups":          "logs:DescribeLogGroups",
	"logs:DescribeLogStreams":         "logs:DescribeLogStreams",
	"logs:FilterLogEvents":            "logs:FilterLogEvents",
	"logs:GetLogEvents":               "logs:GetLogEvents",
	"logs:PutLogEvents":               "logs:PutLogEvents",
	"ec2:DescribeVpcs":                "ec2:non-mutating",
	"ec2:DescribeSubnets":             "ec2:non-mutating",
	"ec2:DescribeSecurityGroups":      "ec2:non-mutating",
	"ec2:DescribeRouteTables":         "ec2:non-mutating",
	"sts:GetCallerIdentity":           "sts:requests",
	"sts:AssumeRole":                  "sts:requests",
}

type bucketState struct {
	cfg    Bucket
	tokens float64
	last   time.Time
}

func (b *bucketState) take(now time.Time, n float64) bool {
	if b.last.IsZero() {
		b.tokens = float64(b.cfg.Burst)
	} else if d := now.Sub(b.last); d > 0 {
		b.tokens = min(float64(b.cfg.Burst), b.tokens+d.Seconds()*b.cfg.Refill)
	}
	if now.After(b.last) || b.last.IsZero() {
		b.last = now
	}
	if b.tokens < n {
		return false
	}
	b.tokens -= n
	return true
}

// bucketConfig resolves the configuration of a bucket key: an override in
// Options.Throttle, else the default.
func (s *Server) bucketConfig(key string) (Bucket, bool) {
	if b, ok := s.opts.Throttle[key]; ok {
		return b, b.Burst > 0
	}
	b, ok := defaultBuckets[key]
	return b, ok && b.Burst > 0
}

// allowLocked takes n tokens from the bucket an action draws on. name keys
// the bucket state (it differs from the config key for per-family buckets).
func (s *Server) allowLocked(cfgKey, name string, n float64) bool {
	if s.opts.DisableThrottling {
		return true
	}
	cfg, ok := s.bucketConfig(cfgKey)
	if !ok {
		return true
	}
	b := s.buckets[name]
	if b == nil || b.cfg != cfg {
		b = &bucketState{cfg: cfg}
		s.buckets[name] = b
	}
	return b.take(s.now(), n)
}

// allowActionLocked applies the action's own bucket when one is configured,
// else its category's.
func (s *Server) allowActionLocked(key string) bool {
	if _, ok := s.opts.Throttle[key]; ok {
		return s.allowLocked(key, key, 1)
	}
	cat := throttleCategory[key]
	if cat == "" {
		return true
	}
	return s.allowLocked(cat, cat, 1)
}

// throttleError is what each service answers when a bucket is empty.
func throttleError(svc string) *apiError {
	switch svc {
	case "ec2":
		return newErr(503, "RequestLimitExceeded", "Request limit exceeded.")
	case "sts":
		return newErr(400, "Throttling", "Rate exceeded")
	case "sqs":
		e := newErr(400, "RequestThrottled", "Request is throttled.")
		e.queryCode = "RequestThrottled"
		return e
	}
	return newErr(400, "ThrottlingException", "Rate exceeded")
}
