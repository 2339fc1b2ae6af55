package doctor

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/ecsworker/ecsworker/internal/doctor/netcheck"
	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// clusterName is a cluster's name for people: its name, or the name in
// its ARN.
func clusterName(ref string) string {
	if _, name, ok := strings.Cut(ref, ":cluster/"); ok && strings.HasPrefix(ref, "arn:") {
		return name
	}
	return ref
}

// clusterState is what the capacity provider check collects over jobs.
type clusterState struct {
	providers []string
}

// cluster registers the checks of the job's cluster: it exists and is
// ACTIVE, and has the capacity providers the job's strategy names.
func (r *runner) cluster(scope string, j Job) {
	ref := j.Plan.Cluster
	if ref == "" {
		ref = j.Plan.RunTask.GetString("cluster")
	}
	if ref == "" {
		ref = "default"
	}
	c := j.Clients
	key := scope + "|" + c.Region + "|" + ref
	name := "Cluster " + clusterName(ref)
	if s, isNew := r.add(catCluster, "cluster|"+key, name, j.Deployment); isNew {
		s.run = func() Check { return r.checkCluster(c, ref) }
	}

	var providers []string
	for _, e := range j.Plan.RunTask.GetArray("capacityProviderStrategy") {
		if o, ok := e.(*jsonv.Object); ok {
			if p := o.GetString("capacityProvider"); p != "" {
				providers = append(providers, p)
			}
		}
	}
	if len(providers) == 0 {
		return
	}
	s, isNew := r.add(catCapacity, "capacity|"+key, "Capacity providers of cluster "+clusterName(ref), j.Deployment)
	if isNew {
		st := &clusterState{}
		s.state = st
		s.run = func() Check { return r.checkCapacity(c, ref, st.providers) }
	}
	st := s.state.(*clusterState)
	for _, p := range providers {
		if !slices.Contains(st.providers, p) {
			st.providers = append(st.providers, p)
		}
	}
}

// describeCluster is DescribeClusters of one cluster, once; nil without
// error means ECS does not know it.
func (r *runner) describeCluster(c *Clients, ref string) (*ecstypes.Cluster, error) {
	v, err := r.memo.Once("DescribeClusters|"+c.Region+"|"+ref, func() (any, error) {
		out, err := c.ECS.DescribeClusters(r.ctx, &ecs.DescribeClustersInput{Clusters: []string{ref}})
		if err != nil {
			return nil, err
		}
		for i := range out.Clusters {
			return &out.Clusters[i], nil
		}
		return (*ecstypes.Cluster)(nil), nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*ecstypes.Cluster), nil
}

func (r *runner) checkCluster(c *Clients, ref string) Check {
	cl, err := r.describeCluster(c, ref)
	if err != nil {
		return r.callFailed("ecs:DescribeClusters", err)
	}
	name := clusterName(ref)
	create := fmt.Sprintf("Create it (aws ecs create-cluster --cluster-name %s --region %s) or set the cluster job variable to an existing cluster of region %s", name, c.Region, c.Region)
	if cl == nil {
		return Check{Status: Fail, Detail: fmt.Sprintf("ECS has no cluster %s in region %s", ref, c.Region), Fix: create}
	}
	status := aws.ToString(cl.Status)
	if status != "ACTIVE" {
		return Check{Status: Fail, Detail: fmt.Sprintf("the cluster is %s, not ACTIVE: ECS runs no task in it", status), Fix: create}
	}
	detail := "ACTIVE"
	if c.Region != "" {
		detail += " in " + c.Region
	}
	if len(cl.CapacityProviders) > 0 {
		detail += ", capacity providers " + netcheck.List(cl.CapacityProviders)
	}
	return Check{Status: Pass, Detail: detail}
}

func (r *runner) checkCapacity(c *Clients, ref string, want []string) Check {
	cl, err := r.describeCluster(c, ref)
	if err != nil {
		return r.callFailed("ecs:DescribeClusters", err)
	}
	if cl == nil || aws.ToString(cl.Status) != "ACTIVE" {
		return Check{Status: Skipped, Detail: "not checked: the cluster is missing or not ACTIVE"}
	}
	var missing []string
	for _, p := range want {
		if !slices.Contains(cl.CapacityProviders, p) {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return Check{Status: Pass, Detail: fmt.Sprintf("%s associated with the cluster", netcheck.List(want))}
	}
	all := append(slices.Clone(cl.CapacityProviders), missing...)
	strategy := "'[]'"
	if len(cl.DefaultCapacityProviderStrategy) > 0 {
		var items []string
		for _, it := range cl.DefaultCapacityProviderStrategy {
			items = append(items, fmt.Sprintf("capacityProvider=%s,weight=%d,base=%d", aws.ToString(it.CapacityProvider), it.Weight, it.Base))
		}
		strategy = strings.Join(items, " ")
	}
	detail := fmt.Sprintf("the capacity provider strategy names %s, which %s not associated with the cluster: ECS refuses the task", netcheck.List(missing), netcheck.Plural(len(missing), "is", "are"))
	if len(cl.CapacityProviders) > 0 {
		detail += fmt.Sprintf(" (it has %s)", netcheck.List(cl.CapacityProviders))
	} else {
		detail += " (it has none)"
	}
	return Check{Status: Fail, Detail: detail,
		Fix: fmt.Sprintf("aws ecs put-cluster-capacity-providers --cluster %s --region %s --capacity-providers %s --default-capacity-provider-strategy %s (the list replaces the cluster's, so it keeps those it has), or change the capacity_provider_strategy (or launch_type) job variable",
			clusterName(ref), c.Region, strings.Join(all, " "), strategy)}
}
