package infra

import (
	"fmt"

	"github.com/ecsworker/ecsworker/internal/iampolicy"
	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// workerPolicyPlaceholder stands in templates/worker.json where the worker
// role's "run-flow-runs" policy document goes. Render puts the document
// of WorkerPolicy there, so that the role the service stack creates and
// the policy `ecsworker aws-policy` prints come from one generator and
// cannot drift apart.
const workerPolicyPlaceholder = "ecsworker:generated:worker-policy"

// workerPolicyName is the worker role's inline policy that is generated.
const workerPolicyName = "run-flow-runs"

// WorkerNeeds is what the worker of the service stack does in AWS, in the
// stack's own terms: it registers task definitions in the families of
// FlowRunFamilyPattern and runs them on ClusterArn, hands ECS the flow
// runs' execution role and the optional FlowRunTaskRoleArn, reads crashed
// runs' logs from FlowRunLogGroupName, and consumes the stack's events
// queue.
//
// Beyond that, the stack serves deployments it does not know: a pool
// whose subnets the deploy did not fill (its template has no subnets
// variable, or it already had other defaults) has them found from the VPC,
// and deployments may set auto_deregister_task_definition. Both stay
// allowed, as they were before the policy was generated.
func WorkerNeeds() iampolicy.Needs {
	return iampolicy.Needs{
		Jobs: []iampolicy.Usage{{
			Name:           "the service stack's worker",
			Cluster:        "${ClusterArn}",
			Family:         "${FlowRunFamilyPattern}",
			PassRoles:      []string{"${FlowRunExecutionRole.Arn}", "${FlowRunTaskRoleArn}"},
			LogGroups:      []iampolicy.LogGroup{{Name: "${FlowRunLogGroupName}"}},
			InferSubnets:   true,
			AutoDeregister: true,
		}},
		EventsQueue: "${EventsQueue.Arn}",
	}
}

// WorkerPolicy is the worker role's policy, with CloudFormation references
// to the stack's parameters and resources.
func WorkerPolicy() (*iampolicy.Policy, error) {
	return iampolicy.Generate(WorkerNeeds(), iampolicy.CloudFormation{
		Optional: map[string]string{"FlowRunTaskRoleArn": "HasFlowRunTaskRole"},
	})
}

// fillWorkerPolicy replaces the placeholder of the worker role's policy
// with the generated document.
func fillWorkerPolicy(tmpl *jsonv.Object) error {
	role := tmpl.GetObject("Resources").GetObject("WorkerTaskRole")
	for _, p := range role.GetObject("Properties").GetArray("Policies") {
		po, ok := p.(*jsonv.Object)
		if !ok || po.GetString("PolicyName") != workerPolicyName {
			continue
		}
		if po.GetString("PolicyDocument") != workerPolicyPlaceholder {
			return fmt.Errorf("templates: WorkerTaskRole's %s policy must be %q, which Render replaces with iampolicy's document; write the worker's permissions in internal/infra.WorkerNeeds", workerPolicyName, workerPolicyPlaceholder)
		}
		policy, err := WorkerPolicy()
		if err != nil {
			return fmt.Errorf("templates: worker policy: %w", err)
		}
		po.Set("PolicyDocument", policy.Document())
		return nil
	}
	return fmt.Errorf("templates: WorkerTaskRole has no %s policy to generate", workerPolicyName)
}
