// Package ecsrequest builds the ECS requests that start a flow run's task
// from its parsed job configuration: the RegisterTaskDefinition request
// (taskdef.go), the RunTask request (runtask.go) with its network
// configuration (network.go) and tags (tags.go), and the Plan that carries
// them to the AWS layer. It holds no ECS rules beyond what building needs:
// ecsjob checks the requests and calls these builders.
package ecsrequest

import (
	"slices"

	"github.com/ecsworker/ecsworker/internal/jobconfig"
	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// RunContext is what the worker knows about a flow run besides its job
// configuration. Every field may be empty for an offline dry run; what
// cannot be decided without it is then marked unresolved in the plan.
type RunContext struct {
	WorkPoolName string
	DeploymentID string
	FlowID       string

	// Region is the AWS region of the ECS client. Empty means the region
	// of the job's aws_credentials, or unresolved.
	Region string

	// DefaultImage runs the flow when neither the image variable nor the
	// task definition names one.
	DefaultImage string

	// ExplicitVariables are the job variables a deployment or flow run set
	// (as opposed to pool defaults): messages name these variables, and a
	// launch_type the user chose is worth a warning when it is dropped.
	ExplicitVariables []string

	// PoolTaskDefinition is the unrendered task_definition of the pool's
	// template, used to say which variables an existing task definition
	// ARN makes pointless.
	PoolTaskDefinition *jsonv.Object

	// ExistingTaskDefinition is the task definition behind
	// task_definition_arn as DescribeTaskDefinition returned it, when the
	// caller has looked it up. Without it the checks that need it are skipped.
	ExistingTaskDefinition *jsonv.Object
}

// Explicit tells whether a deployment or flow run set the job variable.
func (rc RunContext) Explicit(variable string) bool {
	return slices.Contains(rc.ExplicitVariables, variable)
}

// FieldFor names where a problem lies: the job variable when a deployment
// or flow run set it, since that is what the user will edit, else the
// request path.
func (rc RunContext) FieldFor(variable, path string) string {
	if rc.Explicit(variable) {
		return variable
	}
	return path
}

// LaunchKind is where a task runs, which decides how its task definition
// is prepared and which ECS rules apply to it.
type LaunchKind string

// The launch kinds. LaunchFargate covers FARGATE_SPOT too: the two differ
// in price and interruptions, not in what a task definition must satisfy.
const (
	LaunchFargate  LaunchKind = "FARGATE"
	LaunchEC2      LaunchKind = "EC2"
	LaunchExternal LaunchKind = "EXTERNAL"
)

// Plan is everything needed to start one flow run's ECS task.
type Plan struct {
	// TaskDefinition is the RegisterTaskDefinition request, or nil when an
	// existing task definition (TaskDefinitionARN) is used.
	TaskDefinition    *jsonv.Object
	TaskDefinitionARN string

	// RunTask is the RunTask request. Values that need AWS to be known
	// (the ARN of a task definition still to be registered, subnets found
	// from a VPC) hold a marker string listed in Unresolved.
	RunTask *jsonv.Object

	Launch        LaunchKind
	ContainerName string
	// Cluster is what the flow run's infrastructure_pid is built from
	// (cluster::taskArn); empty means the cluster ARN that RunTask returns.
	Cluster string

	// Network says what the AWS layer must still do for the task's
	// awsvpc configuration; nil when RunTask is complete.
	Network *NetworkPlan

	AutoDeregister      bool
	MatchLatestRevision bool

	// Fallback are the launch choices tried, in order, after RunTask's own
	// when ECS has no capacity (the capacity_fallback job variable): steps
	// 1..n of Steps. FallsBack is set on the plan of a step that has a
	// later one (AtStep). RelaunchOnSpot relaunches on the next step a
	// task Spot took back before its flow started.
	Fallback       []CapacityStep
	FallsBack      bool
	RelaunchOnSpot bool
	// DefaultPublicIP says that assignPublicIp is the worker's default,
	// not the job's: each step gets the one its kind takes (PublicIPFor).
	DefaultPublicIP bool

	Warnings   []jobconfig.Warning
	Unresolved []Unresolved
}

// NetworkPlan is the part of the network configuration that needs EC2 calls.
type NetworkPlan struct {
	// Infer means: use the subnets of VPCID, or of the default VPC when
	// VPCID is empty, and put them where the marker is.
	Infer bool
	VPCID string
	// CheckSubnets must all belong to VPCID (a custom network_configuration).
	CheckSubnets   []string
	SecurityGroups []string
	AssignPublicIP string
}

// Unresolved is a value the offline dry run cannot know.
type Unresolved struct {
	Path   string // where the marker stands in the requests
	Reason string
}

// Markers stand in the requests for values only AWS can supply.
const (
	MarkTaskDefinitionARN = "<unresolved: ARN of the registered task definition>"
	MarkSubnets           = "<unresolved: subnets of the VPC>"
	MarkRegion            = "<unresolved: AWS region>"
	MarkDeploymentID      = "<unresolved: deployment id>"
	MarkFamily            = "<unresolved: prefect_<work pool>_<deployment id>>"
)
