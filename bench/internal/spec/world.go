package spec

import (
	"time"

	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
)

// What both ways of running a scenario, the simulation and the worker
// process, create in the test servers.
const (
	// Cluster is the ECS cluster of every deployment.
	Cluster = "flows"
	// FlowName is the flow every deployment runs.
	FlowName = "etl"
)

// TaskOutcome keeps every task running: runs stay in flight, as the
// memory and tracking figures need.
func TaskOutcome(awsfake.TaskInfo) awsfake.Outcome {
	return awsfake.Outcome{TimeToRunning: 20 * time.Second, RunsForever: true}
}

// JobVariables are a deployment's: made-up credentials (the fake AWS takes
// any) and, when endpoint is set, the AWS endpoint the worker is to call.
func JobVariables(endpoint string) map[string]any {
	creds := map[string]any{
		"aws_access_key_id": "AKIDBENCH", "aws_secret_access_key": "bench-secret", "region_name": "us-east-1",
	}
	if endpoint != "" {
		creds["aws_client_parameters"] = map[string]any{"endpoint_url": endpoint}
	}
	return map[string]any{"cluster": Cluster, "aws_credentials": creds}
}
