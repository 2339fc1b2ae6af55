package awsfake

import (
	"container/heap"
	"slices"
	"strings"
)

func ecsService() *service {
	return &service{name: "ecs", wire: wireJSON11, target: "AmazonEC2ContainerServiceV20141113", ops: map[string]op{
		"CreateCluster":               jsonOp((*Server).ecsCreateCluster),
		"DeleteCluster":               jsonOp((*Server).ecsDeleteCluster),
		"DescribeClusters":            jsonOp((*Server).ecsDescribeClusters),
		"ListClusters":                jsonOp((*Server).ecsListClusters),
		"PutClusterCapacityProviders": jsonOp((*Server).ecsPutClusterCapacityProviders),
		"DescribeCapacityProviders":   jsonOp((*Server).ecsDescribeCapacityProviders),
		"RegisterTaskDefinition":      jsonOp((*Server).ecsRegisterTaskDefinition),
		"DescribeTaskDefinition":      jsonOp((*Server).ecsDescribeTaskDefinition),
		"DeregisterTaskDefinition":    jsonOp((*Server).ecsDeregisterTaskDefinition),
		"ListTaskDefinitions":         jsonOp((*Server).ecsListTaskDefinitions),
		"ListTaskDefinitionFamilies":  jsonOp((*Server).ecsListTaskDefinitionFamilies),
		"RunTask":                     jsonOp((*Server).ecsRunTask),
		"DescribeTasks":               jsonOp((*Server).ecsDescribeTasks),
		"StopTask":                    jsonOp((*Server).ecsStopTask),
		"ListTasks":                   jsonOp((*Server).ecsListTasks),
		"TagResource":                 jsonOp((*Server).ecsTagResource),
		"UntagResource":               jsonOp((*Server).ecsUntagResource),
		"ListTagsForResource":         jsonOp((*Server).ecsListTagsForResource),
	}}
}

type ecsState struct {
	clusters   map[string]*cluster // by name
	clusterSeq int
	providers  map[string]*capacityProvider
	families   map[string]*family
	tasks      map[string]*task // by ARN
	taskSeq    int
	tokens     map[string]*tokenRecord
	capacity   map[string]int // scripted capacity failures so far, by cluster|family[|capacity]
	routes     []eventRoute
	sched      taskHeap
}

func (e *ecsState) init() {
	e.clusters = map[string]*cluster{}
	e.providers = map[string]*capacityProvider{
		"FARGATE":      {name: "FARGATE", fargate: true},
		"FARGATE_SPOT": {name: "FARGATE_SPOT", fargate: true},
	}
	e.families = map[string]*family{}
	e.tasks = map[string]*task{}
	e.tokens = map[string]*tokenRecord{}
	e.capacity = map[string]int{}
	heap.Init(&e.sched)
}

type cluster struct {
	name, arn         string
	seq               int
	capacityProviders []string
	defaultStrategy   []ecsCapacityProviderStrategyItem
	tags              []ecsTag
	settings          []ecsClusterSetting
	configuration     *ecsClusterConfiguration
	instances         []*containerInstance
	deleted           bool
}

type capacityProvider struct {
	name    string
	fargate bool
	tags    []ecsTag
	// Set for a provider a CloudFormation stack created: the stack and
	// logical ID that own it, and its Auto Scaling group settings.
	owner, asg, termination string
	target                  int
}

type containerInstance struct {
	arn                 string
	cpu, memory         int
	usedCPU, usedMemory int
}

// Messages of ECS's validation errors. Those AWS users meet most are kept
// word for word; see the package tests for which are checked.
const (
	msgClusterNotFound   = "Cluster not found."
	msgBothLaunchAndCP   = "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again."
	msgCPNotInCluster    = "The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again."
	msgCPMixed           = "The specified capacity provider strategy cannot contain a mix of capacity providers using Auto Scaling groups and Fargate providers. Specify one or the other and try again."
	msgNoNetworkConfig   = "Network Configuration must be provided when networkMode 'awsvpc' is specified."
	msgNetworkConfigMode = "Network Configuration is not valid for the given networkMode of this task definition."
	msgNoSubnets         = "subnets can not be empty."
	msgTaskNotFound      = "The referenced task was not found."
)

// ecsPage is one page of a List call: maxResults items (def when unset)
// after the position nextToken names.
func ecsPage[T any](items []T, nextToken string, maxResults *int, def int) ([]T, string, *apiError) {
	max := 0
	if maxResults != nil {
		max = *maxResults
	}
	out, next, ok := page(items, nextToken, max, def, def)
	if !ok {
		return nil, "", invalidParam("Invalid nextToken.")
	}
	return out, next, nil
}

func invalidParam(format string, args ...any) *apiError {
	return newErr(400, "InvalidParameterException", format, args...)
}

func clientErr(format string, args ...any) *apiError {
	return newErr(400, "ClientException", format, args...)
}

func (s *Server) clusterArn(name string) string { return s.arn("ecs", "cluster/"+name) }

// clusterLocked resolves a cluster name or ARN; "" is the default cluster.
func (s *Server) clusterLocked(ref string) (*cluster, *apiError) {
	name := clusterName(ref)
	c := s.ecs.clusters[name]
	if c == nil || c.deleted || (strings.HasPrefix(ref, "arn:") && ref != c.arn) {
		return nil, newErr(400, "ClusterNotFoundException", msgClusterNotFound)
	}
	return c, nil
}

func clusterName(ref string) string {
	if ref == "" {
		return "default"
	}
	if strings.HasPrefix(ref, "arn:") {
		if i := strings.Index(ref, ":cluster/"); i >= 0 {
			return ref[i+len(":cluster/"):]
		}
	}
	return ref
}

func validClusterName(n string) bool {
	return len(n) >= 1 && len(n) <= 255 && isNameChars(n)
}

// isNameChars is ECS's [a-zA-Z0-9_-] pattern, shared by cluster, family
// and container names.
func isNameChars(n string) bool {
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') { //nolint:staticcheck // QF1001: a character set reads as the set
			return false
		}
	}
	return true
}

func (s *Server) createClusterLocked(name string) *cluster {
	if c := s.ecs.clusters[name]; c != nil && !c.deleted {
		return c
	}
	s.ecs.clusterSeq++
	c := &cluster{name: name, arn: s.clusterArn(name), seq: s.ecs.clusterSeq}
	s.ecs.clusters[name] = c
	return c
}

func (s *Server) ecsCreateCluster(in *ecsCreateClusterRequest, _ *request) (any, *apiError) {
	name := in.ClusterName
	if name == "" {
		name = "default"
	}
	if !validClusterName(name) {
		return nil, invalidParam("Cluster name can be up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens.")
	}
	if e := validateTags(in.Tags); e != nil {
		return nil, e
	}
	if e := s.checkProvidersLocked(in.CapacityProviders, in.DefaultCapacityProviderStrategy); e != nil {
		return nil, e
	}
	if c := s.ecs.clusters[name]; c != nil && !c.deleted {
		// CreateCluster is idempotent on the name and keeps the existing one.
		return map[string]any{"cluster": s.clusterViewLocked(c, nil)}, nil
	}
	c := s.createClusterLocked(name)
	c.capacityProviders = slices.Clone(in.CapacityProviders)
	c.defaultStrategy = slices.Clone(in.DefaultCapacityProviderStrategy)
	c.tags = slices.Clone(in.Tags)
	c.settings = slices.Clone(in.Settings)
	c.configuration = in.Configuration
	return map[string]any{"cluster": s.clusterViewLocked(c, []string{"TAGS", "SETTINGS", "CONFIGURATIONS"})}, nil
}

func (s *Server) ecsDeleteCluster(in *ecsDeleteClusterRequest, _ *request) (any, *apiError) {
	c, e := s.clusterLocked(in.Cluster)
	if e != nil {
		return nil, e
	}
	for _, t := range s.ecs.tasks {
		if t.cluster == c && t.lastStatus != "STOPPED" {
			return nil, newErr(400, "ClusterContainsTasksException", "The Cluster cannot be deleted while Tasks are active.")
		}
	}
	if len(c.instances) > 0 {
		return nil, newErr(400, "ClusterContainsContainerInstancesException", "The Cluster cannot be deleted while Container Instances are active or draining.")
	}
	c.deleted = true
	v := s.clusterViewLocked(c, nil)
	v.Status = "INACTIVE"
	return map[string]any{"cluster": v}, nil
}

func (s *Server) clusterViewLocked(c *cluster, include []string) ecsCluster {
	running, pending := 0, 0
	for _, t := range s.ecs.tasks {
		if t.cluster != c {
			continue
		}
		switch t.lastStatus {
		case "RUNNING":
			running++
		case "PROVISIONING", "PENDING", "ACTIVATING":
			pending++
		}
	}
	v := ecsCluster{
		ClusterArn:                        c.arn,
		ClusterName:                       c.name,
		Status:                            "ACTIVE",
		RegisteredContainerInstancesCount: new(len(c.instances)),
		RunningTasksCount:                 new(running),
		PendingTasksCount:                 new(pending),
		ActiveServicesCount:               new(0),
		Statistics:                        []ecsKeyValuePair{},
		Tags:                              []ecsTag{},
		Settings:                          []ecsClusterSetting{},
		CapacityProviders:                 append([]string{}, c.capacityProviders...),
		DefaultCapacityProviderStrategy:   append([]ecsCapacityProviderStrategyItem{}, c.defaultStrategy...),
	}
	if slices.Contains(include, "TAGS") {
		v.Tags = append(v.Tags, c.tags...)
	}
	if slices.Contains(include, "SETTINGS") {
		v.Settings = append(v.Settings, c.settings...)
		if len(v.Settings) == 0 {
			v.Settings = []ecsClusterSetting{{Name: "containerInsights", Value: "disabled"}}
		}
	}
	if slices.Contains(include, "CONFIGURATIONS") {
		v.Configuration = c.configuration
	}
	return v
}

func (s *Server) ecsDescribeClusters(in *ecsDescribeClustersRequest, _ *request) (any, *apiError) {
	refs := in.Clusters
	if len(refs) == 0 {
		refs = []string{"default"}
	}
	if len(refs) > 100 {
		return nil, invalidParam("Clusters cannot have more than 100 elements")
	}
	out := ecsDescribeClustersResponse{Clusters: []ecsCluster{}, Failures: []ecsFailure{}}
	for _, ref := range refs {
		c, e := s.clusterLocked(ref)
		if e != nil {
			arn := ref
			if !strings.HasPrefix(ref, "arn:") {
				arn = s.clusterArn(ref)
			}
			out.Failures = append(out.Failures, ecsFailure{Arn: arn, Reason: "MISSING"})
			continue
		}
		out.Clusters = append(out.Clusters, s.clusterViewLocked(c, in.Include))
	}
	return out, nil
}

func (s *Server) ecsListClusters(in *ecsListClustersRequest, _ *request) (any, *apiError) {
	var arns []string
	for _, c := range s.sortedClustersLocked() {
		arns = append(arns, c.arn)
	}
	if in.MaxResults != nil && (*in.MaxResults < 1 || *in.MaxResults > 100) {
		return nil, invalidParam("maxResults must be between 1 and 100.")
	}
	items, next, err := ecsPage(arns, in.NextToken, in.MaxResults, 100)
	if err != nil {
		return nil, err
	}
	return ecsListClustersResponse{ClusterArns: append([]string{}, items...), NextToken: next}, nil
}

func (s *Server) sortedClustersLocked() []*cluster {
	var cs []*cluster
	for _, c := range s.ecs.clusters {
		if !c.deleted {
			cs = append(cs, c)
		}
	}
	slices.SortFunc(cs, func(a, b *cluster) int { return strings.Compare(a.name, b.name) })
	return cs
}

// checkProvidersLocked applies the rules of a cluster's provider list and
// default strategy.
func (s *Server) checkProvidersLocked(providers []string, strategy []ecsCapacityProviderStrategyItem) *apiError {
	for _, p := range providers {
		if s.ecs.providers[p] == nil {
			return invalidParam("The specified capacity provider '%s' is not in an ACTIVE state. Specify a valid capacity provider and try again.", p)
		}
	}
	for _, it := range strategy {
		if !slices.Contains(providers, it.CapacityProvider) {
			return invalidParam(msgCPNotInCluster)
		}
	}
	return checkStrategyShape(s, strategy)
}

// checkStrategyShape applies the rules every strategy follows, wherever it
// is given.
func checkStrategyShape(s *Server, strategy []ecsCapacityProviderStrategyItem) *apiError {
	fargate, asg := false, false
	bases, weights := 0, 0
	seen := map[string]bool{}
	for _, it := range strategy {
		if seen[it.CapacityProvider] {
			return invalidParam("The specified capacity provider strategy cannot contain duplicate capacity providers.")
		}
		seen[it.CapacityProvider] = true
		if p := s.ecs.providers[it.CapacityProvider]; p != nil && p.fargate {
			fargate = true
		} else {
			asg = true
		}
		if it.Base != nil {
			if *it.Base < 0 || *it.Base > 100000 {
				return invalidParam("The base value for a capacity provider must be between 0 and 100000.")
			}
			if *it.Base > 0 {
				bases++
			}
		}
		if it.Weight != nil {
			if *it.Weight < 0 || *it.Weight > 1000 {
				return invalidParam("The weight value for a capacity provider must be between 0 and 1000.")
			}
			weights += *it.Weight
		}
	}
	if fargate && asg {
		return invalidParam(msgCPMixed)
	}
	if bases > 1 {
		return invalidParam("Only one capacity provider in a capacity provider strategy can have a base specified.")
	}
	if len(strategy) > 0 && weights == 0 && bases == 0 {
		return invalidParam("The specified capacity provider strategy must contain at least one capacity provider with a weight greater than zero.")
	}
	return nil
}

func (s *Server) ecsPutClusterCapacityProviders(in *ecsPutClusterCapacityProvidersRequest, _ *request) (any, *apiError) {
	c, e := s.clusterLocked(in.Cluster)
	if e != nil {
		return nil, e
	}
	if in.CapacityProviders == nil || in.DefaultCapacityProviderStrategy == nil {
		return nil, invalidParam("capacityProviders and defaultCapacityProviderStrategy are required.")
	}
	if e := s.checkProvidersLocked(in.CapacityProviders, in.DefaultCapacityProviderStrategy); e != nil {
		return nil, e
	}
	for _, t := range s.ecs.tasks {
		if t.cluster == c && t.capacityProvider != "" && t.lastStatus != "STOPPED" && !slices.Contains(in.CapacityProviders, t.capacityProvider) {
			return nil, newErr(400, "ResourceInUseException", "The specified capacity provider is in use and cannot be removed.")
		}
	}
	c.capacityProviders = slices.Clone(in.CapacityProviders)
	c.defaultStrategy = slices.Clone(in.DefaultCapacityProviderStrategy)
	return map[string]any{"cluster": s.clusterViewLocked(c, nil)}, nil
}

func (s *Server) providerView(p *capacityProvider, withTags bool) ecsCapacityProvider {
	v := ecsCapacityProvider{
		CapacityProviderArn: s.arn("ecs", "capacity-provider/"+p.name),
		Name:                p.name,
		Status:              "ACTIVE",
	}
	if withTags {
		v.Tags = append([]ecsTag{}, p.tags...)
	}
	if p.fargate {
		v.Type = p.name
		return v
	}
	v.Type = "EC2_AUTOSCALING"
	defer func() {
		if p.owner == "" {
			return
		}
		asg := p.asg
		if !strings.HasPrefix(asg, "arn:") {
			asg = s.arn("autoscaling", "autoScalingGroup:00000000-0000-4000-8000-000000000000:autoScalingGroupName/"+asg)
		}
		v.AutoScalingGroupProvider.AutoScalingGroupArn = asg
		v.AutoScalingGroupProvider.ManagedTerminationProtection = p.termination
		if p.target > 0 {
			v.AutoScalingGroupProvider.ManagedScaling.TargetCapacity = new(p.target)
		}
	}()
	v.AutoScalingGroupProvider = &ecsAutoScalingGroupProvider{
		AutoScalingGroupArn: s.arn("autoscaling", "autoScalingGroup:00000000-0000-4000-8000-000000000000:autoScalingGroupName/"+p.name),
		ManagedScaling: &ecsManagedScaling{
			Status: "ENABLED", TargetCapacity: new(100), MinimumScalingStepSize: new(1),
			MaximumScalingStepSize: new(10000), InstanceWarmupPeriod: new(300),
		},
		ManagedTerminationProtection: "DISABLED",
		ManagedDraining:              "ENABLED",
	}
	return v
}

func (s *Server) ecsDescribeCapacityProviders(in *ecsDescribeCapacityProvidersRequest, _ *request) (any, *apiError) {
	withTags := slices.Contains(in.Include, "TAGS")
	out := ecsDescribeCapacityProvidersResponse{CapacityProviders: []ecsCapacityProvider{}, Failures: []ecsFailure{}}
	if len(in.CapacityProviders) == 0 {
		names := make([]string, 0, len(s.ecs.providers))
		for n := range s.ecs.providers {
			names = append(names, n)
		}
		slices.Sort(names)
		items, next, err := ecsPage(names, in.NextToken, in.MaxResults, 10)
		if err != nil {
			return nil, err
		}
		for _, n := range items {
			out.CapacityProviders = append(out.CapacityProviders, s.providerView(s.ecs.providers[n], withTags))
		}
		out.NextToken = next
		return out, nil
	}
	for _, ref := range in.CapacityProviders {
		name := ref
		if i := strings.Index(ref, ":capacity-provider/"); i >= 0 {
			name = ref[i+len(":capacity-provider/"):]
		}
		p := s.ecs.providers[name]
		if p == nil {
			out.Failures = append(out.Failures, ecsFailure{Arn: s.arn("ecs", "capacity-provider/"+name), Reason: "MISSING"})
			continue
		}
		out.CapacityProviders = append(out.CapacityProviders, s.providerView(p, withTags))
	}
	return out, nil
}

// AddCapacityProvider registers an Auto Scaling group capacity provider
// that PutClusterCapacityProviders can then attach to a cluster. Tasks
// placed through it launch as EC2 tasks without needing container
// instances, as if managed scaling provided them. It returns the ARN.
func (s *Server) AddCapacityProvider(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ecs.providers[name] == nil {
		s.ecs.providers[name] = &capacityProvider{name: name}
	}
	return s.arn("ecs", "capacity-provider/"+name)
}

// CreateCluster creates a cluster as CreateCluster would, for test set-up.
func (s *Server) CreateCluster(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createClusterLocked(name).arn
}

// CapacityProviderStrategyItem is one entry of a capacity provider
// strategy.
type CapacityProviderStrategyItem struct {
	CapacityProvider string
	Weight, Base     int
}

// SetClusterCapacityProviders gives a cluster (created if missing) its
// capacity providers and default strategy, which DescribeClusters then
// shows, applying PutClusterCapacityProviders's rules; the error is the
// one ECS would answer. Providers are FARGATE, FARGATE_SPOT or ones added
// with AddCapacityProvider.
func (s *Server) SetClusterCapacityProviders(clusterName string, providers []string, defaultStrategy ...CapacityProviderStrategyItem) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	strategy := []ecsCapacityProviderStrategyItem{}
	for _, it := range defaultStrategy {
		strategy = append(strategy, ecsCapacityProviderStrategyItem{CapacityProvider: it.CapacityProvider, Weight: new(it.Weight), Base: new(it.Base)})
	}
	if e := s.checkProvidersLocked(providers, strategy); e != nil {
		return e
	}
	c := s.createClusterLocked(clusterName)
	c.capacityProviders = slices.Clone(providers)
	c.defaultStrategy = strategy
	return nil
}

// AddContainerInstances registers n EC2 container instances with cpu
// units and memory MiB each in the cluster (created if missing), so that
// EC2 launch-type tasks have somewhere to run. It returns their ARNs.
func (s *Server) AddContainerInstances(clusterName string, n int, cpu, memory int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.createClusterLocked(clusterName)
	var arns []string
	for range n {
		ci := &containerInstance{
			arn:    s.arn("ecs", "container-instance/"+c.name+"/"+s.newIDLocked(32)),
			cpu:    cpu,
			memory: memory,
		}
		c.instances = append(c.instances, ci)
		arns = append(arns, ci.arn)
	}
	return arns
}

// validateTags applies the AWS tagging rules ECS enforces.
func validateTags(tags []ecsTag) *apiError {
	if len(tags) > 50 {
		return invalidParam("The number of tags (%d) exceeds the maximum of 50.", len(tags))
	}
	seen := map[string]bool{}
	for _, t := range tags {
		switch {
		case len(t.Key) < 1 || len(t.Key) > 128:
			return invalidParam("Tag key '%s' is invalid: a tag key must be 1 to 128 characters long.", t.Key)
		case len(t.Value) > 256:
			return invalidParam("Tag value for key '%s' is invalid: a tag value can be at most 256 characters long.", t.Key)
		case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
			return invalidParam("Tag key '%s' is invalid: the aws: prefix is reserved for AWS use.", t.Key)
		case seen[t.Key]:
			return invalidParam("Tag key '%s' is given more than once.", t.Key)
		}
		seen[t.Key] = true
	}
	return nil
}

func mergeTags(old, add []ecsTag) []ecsTag {
	out := slices.Clone(old)
	for _, t := range add {
		i := slices.IndexFunc(out, func(o ecsTag) bool { return o.Key == t.Key })
		if i >= 0 {
			out[i] = t
		} else {
			out = append(out, t)
		}
	}
	return out
}

// tagTarget resolves an ARN to the tag list of the resource it names.
func (s *Server) tagTargetLocked(arn string) (*[]ecsTag, *apiError) {
	prefix := s.arn("ecs", "")
	rest, ok := strings.CutPrefix(arn, prefix)
	if !ok {
		return nil, invalidParam("The ARN provided is invalid.")
	}
	kind, id, _ := strings.Cut(rest, "/")
	notFound := newErr(400, "ResourceNotFoundException", "The specified resource could not be found.")
	switch kind {
	case "cluster":
		c := s.ecs.clusters[id]
		if c == nil || c.deleted {
			return nil, notFound
		}
		return &c.tags, nil
	case "task":
		t := s.ecs.tasks[arn]
		if t == nil || s.expiredLocked(t) {
			return nil, notFound
		}
		return &t.tags, nil
	case "task-definition":
		td := s.taskDefByRefLocked(id)
		if td == nil {
			return nil, notFound
		}
		return &td.tags, nil
	case "capacity-provider":
		p := s.ecs.providers[id]
		if p == nil {
			return nil, notFound
		}
		return &p.tags, nil
	}
	return nil, invalidParam("The ARN provided is invalid.")
}

func (s *Server) ecsTagResource(in *ecsTagResourceRequest, _ *request) (any, *apiError) {
	tags, e := s.tagTargetLocked(in.ResourceArn)
	if e != nil {
		return nil, e
	}
	merged := mergeTags(*tags, in.Tags)
	if e := validateTags(merged); e != nil {
		return nil, e
	}
	*tags = merged
	return nil, nil
}

func (s *Server) ecsUntagResource(in *ecsUntagResourceRequest, _ *request) (any, *apiError) {
	tags, e := s.tagTargetLocked(in.ResourceArn)
	if e != nil {
		return nil, e
	}
	*tags = slices.DeleteFunc(slices.Clone(*tags), func(t ecsTag) bool { return slices.Contains(in.TagKeys, t.Key) })
	return nil, nil
}

func (s *Server) ecsListTagsForResource(in *ecsListTagsForResourceRequest, _ *request) (any, *apiError) {
	tags, e := s.tagTargetLocked(in.ResourceArn)
	if e != nil {
		return nil, e
	}
	return ecsListTagsForResourceResponse{Tags: append([]ecsTag{}, *tags...)}, nil
}
