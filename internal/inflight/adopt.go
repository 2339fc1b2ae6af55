package inflight

import (
	"context"

	"github.com/ecsworker/ecsworker/internal/awscreds"
	"github.com/ecsworker/ecsworker/internal/ecsjob"
	"github.com/ecsworker/ecsworker/internal/ecsrequest"
	"github.com/ecsworker/ecsworker/internal/launch"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectpool"
	"github.com/ecsworker/ecsworker/internal/tracking"
)

// AdoptOrphaned tracks tasks whose runs were submitted by a worker of
// this pool that is no longer online. Tasks of live workers are left to
// them, so replicas do not all track everything.
func (r *Runs) AdoptOrphaned(ctx context.Context, pool string, runs []prefect.FlowRun) int {
	var candidates []prefect.FlowRun
	for _, fr := range runs {
		if fr.InfrastructurePID != "" && !r.known(fr.ID) && r.opts.Now().Sub(fr.Updated.Time) >= r.opts.StartupGrace {
			candidates = append(candidates, fr)
		}
	}
	if len(candidates) == 0 {
		return 0
	}
	workers, err := r.opts.API.FilterWorkers(ctx, pool, prefectpool.WorkerFilter{Statuses: []string{"ONLINE"}})
	if err != nil {
		return 0
	}
	online := map[string]bool{r.opts.Worker: true}
	for _, wk := range workers {
		online[wk.Name] = true
	}
	n := 0
	for _, fr := range candidates {
		if name := fr.Labels.GetString("prefect.worker.name"); name != "" && online[name] {
			continue
		}
		if r.adopt(ctx, fr) {
			n++
		}
	}
	return n
}

// Adopt tracks the task of a run submitted before this worker started,
// unless the run is already followed or being submitted.
func (r *Runs) Adopt(ctx context.Context, fr prefect.FlowRun) bool {
	return !r.known(fr.ID) && r.adopt(ctx, fr)
}

// adopt tracks a run's task. The run's job is rendered again to know its
// AWS credentials and container.
func (r *Runs) adopt(ctx context.Context, fr prefect.FlowRun) bool {
	cluster, arn, err := launch.ParseIdentifier(fr.InfrastructurePID)
	if err != nil {
		return false
	}
	job, ok := r.opts.Job(ctx, fr)
	if !ok {
		return false
	}
	creds := awscreds.Credentials{}
	container := ecsrequest.DefaultContainerName
	// Only the credentials and the container name are wanted: a job that no
	// longer validates (its pool template changed since) still has them.
	if prepared, _ := ecsjob.Prepare(ctx, job); prepared != nil && prepared.JobConfiguration != nil {
		if c, cerr := awscreds.CredentialsFromBlock(prepared.JobConfiguration.GetObject("aws_credentials")); cerr == nil {
			creds = c
		}
		if prepared.Plan != nil && prepared.Plan.ContainerName != "" {
			container = prepared.Plan.ContainerName
		}
	}
	b, release, err := r.Backend(ctx, creds)
	if err != nil {
		r.opts.Log.Warn("cannot follow the task of a run in flight", "flow_run", fr.ID, "err", err)
		return false
	}
	defer release()
	r.Track(fr.ID, fr.InfrastructurePID, tracking.TaskRef{Cluster: cluster, TaskARN: arn, FlowRunID: fr.ID, ContainerName: container}, b, nil, false)
	r.mu.Lock()
	if tr := r.runs[fr.ID]; tr != nil {
		tr.started = fr.StateType == prefect.StateRunning
		tr.adoptedStart(fr.Labels)
	}
	r.mu.Unlock()
	return true
}
