package awsfake

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
)

type tokenRecord struct {
	fingerprint string
	taskArns    []string
	failures    []ecsFailure
	at          time.Time
}

func validClientToken(tok string) bool {
	if len(tok) > 64 {
		return false
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] < 33 || tok[i] > 126 {
			return false
		}
	}
	return true
}

func (s *Server) ecsRunTask(in *ecsRunTaskRequest, r *request) (any, *apiError) {
	count := 1
	if in.Count != nil {
		count = *in.Count
	}
	if count < 1 || count > 10 {
		return nil, invalidParam("Count must be between 1 and 10.")
	}
	if in.TaskDefinition == "" {
		return nil, invalidParam("TaskDefinition can not be blank.")
	}
	c, e := s.clusterLocked(in.Cluster)
	if e != nil {
		return nil, e
	}
	now := s.now()
	var tokenKey, fingerprint string
	if in.ClientToken != "" {
		if !validClientToken(in.ClientToken) {
			return nil, invalidParam("The clientToken can be up to 64 ASCII characters in the range 33-126.")
		}
		tokenKey = c.arn + "\x00" + in.ClientToken
		fp := *in
		fp.ClientToken = ""
		b, _ := json.Marshal(fp)
		fingerprint = string(b)
		if rec := s.ecs.tokens[tokenKey]; rec != nil && now.Sub(rec.at) < s.opts.ClientTokenTTL {
			if rec.fingerprint != fingerprint {
				e := newErr(400, "ConflictException", "The RunTask request could not be processed due to conflicts. The provided clientToken is already in use with a different RunTask request. The resourceIds are the existing task ARNs which are already associated with the clientToken.")
				e.fields = map[string]any{"resourceIds": rec.taskArns}
				return nil, e
			}
			out := ecsRunTaskResponse{Tasks: []ecsTask{}, Failures: append([]ecsFailure{}, rec.failures...)}
			for _, arn := range rec.taskArns {
				out.Tasks = append(out.Tasks, s.taskViewLocked(s.ecs.tasks[arn], true))
			}
			return out, nil
		}
	}

	d := s.taskDefByRefLocked(in.TaskDefinition)
	if d == nil {
		return nil, invalidParam("TaskDefinition not found.")
	}
	if !d.active() {
		return nil, invalidParam("TaskDefinition is inactive")
	}
	p, e := s.placeLocked(c, d, in)
	if e != nil {
		return nil, e
	}
	if e := s.checkRunTaskDetails(c, d, in, p); e != nil {
		return nil, e
	}
	if p.fargate {
		if !s.allowLocked(ThrottleFargateRunTask, ThrottleFargateRunTask, 1) ||
			!s.allowLocked(ThrottleFargateTasks, ThrottleFargateTasks, float64(count)) {
			return nil, throttleError("ecs")
		}
	}
	if p.launchType == "EC2" && p.provider == "" && len(c.instances) == 0 {
		return nil, invalidParam("No Container Instances were found in your cluster.")
	}

	out := ecsRunTaskResponse{Tasks: []ecsTask{}, Failures: []ecsFailure{}}
	var launched []string
	used := map[*containerInstance]bool{}
	for i := range count {
		lt, provider, fargate := p.launchType, "", p.fargate
		if len(p.strategy) > 0 {
			provider = pickProvider(p.strategy, i)
			fargate = s.ecs.providers[provider].fargate
			lt = "EC2"
			if fargate {
				lt = "FARGATE"
			}
		}
		id := ""
		if i == 0 {
			id = r.taskID
		}
		t := s.newTaskLocked(c, d, in, lt, provider, fargate, now, id)
		t.caller = s.callerArnLocked(r.akid)
		o := DefaultOutcome
		if s.opts.Script != nil {
			o = s.opts.Script(s.taskInfoLocked(t))
		}
		t.outcome = o
		capacity := provider
		if capacity == "" {
			capacity = lt
		}
		if s.shortLocked(c.arn+"|"+d.fam.name, o.CapacityFailures) ||
			s.shortLocked(c.arn+"|"+d.fam.name+"|"+capacity, o.CapacityFailuresBy[capacity]) {
			f := ecsFailure{Reason: o.CapacityReason}
			if f.Reason == "" {
				f.Reason = "RESOURCE:MEMORY"
				if fargate {
					f.Reason = msgFargateCapacity
				}
			}
			if !fargate && len(c.instances) > 0 {
				f.Arn = c.instances[0].arn
			}
			out.Failures = append(out.Failures, f)
			continue
		}
		if lt == "EC2" && provider == "" {
			ci, fails := s.pickInstanceLocked(c, t, in, used)
			if ci == nil {
				out.Failures = append(out.Failures, fails...)
				continue
			}
			used[ci] = true
			t.instance = ci
			ci.usedCPU += t.needCPU
			ci.usedMemory += t.needMemory
		}
		s.ecs.taskSeq++
		t.seq = s.ecs.taskSeq
		s.ecs.tasks[t.arn] = t
		s.startLifecycleLocked(t)
		launched = append(launched, t.arn)
		out.Tasks = append(out.Tasks, s.taskViewLocked(t, true))
	}
	if tokenKey != "" && len(launched) > 0 {
		s.ecs.tokens[tokenKey] = &tokenRecord{fingerprint: fingerprint, taskArns: launched, failures: out.Failures, at: now}
	}
	s.armLocked()
	return out, nil
}

// shortLocked counts one scripted capacity failure under key and reports
// whether this attempt is one of the first n, which fail.
func (s *Server) shortLocked(key string, n int) bool {
	if n <= 0 || s.ecs.capacity[key] >= n {
		return false
	}
	s.ecs.capacity[key]++
	return true
}

// placement is how RunTask will launch: a launch type, or a strategy.
type placement struct {
	launchType string
	provider   string // set for a single-provider strategy, for checks
	strategy   []ecsCapacityProviderStrategyItem
	fargate    bool
}

func (s *Server) placeLocked(c *cluster, d *taskDef, in *ecsRunTaskRequest) (placement, *apiError) {
	var p placement
	if in.LaunchType != "" && len(in.CapacityProviderStrategy) > 0 {
		return p, invalidParam(msgBothLaunchAndCP)
	}
	p.launchType = in.LaunchType
	p.strategy = in.CapacityProviderStrategy
	if p.launchType == "" && len(p.strategy) == 0 {
		p.strategy = c.defaultStrategy
		if len(p.strategy) == 0 {
			p.launchType = "EC2"
		}
	}
	switch p.launchType {
	case "", "EC2", "FARGATE", "EXTERNAL":
	case "MANAGED_INSTANCES":
		return p, invalidParam("The fake does not model the MANAGED_INSTANCES launch type.")
	default:
		return p, invalidParam("Invalid launchType '%s'.", p.launchType)
	}
	if len(p.strategy) > 0 {
		for _, it := range p.strategy {
			if s.ecs.providers[it.CapacityProvider] == nil || !slices.Contains(c.capacityProviders, it.CapacityProvider) {
				return p, invalidParam(msgCPNotInCluster)
			}
		}
		if e := checkStrategyShape(s, p.strategy); e != nil {
			return p, e
		}
		p.fargate = s.ecs.providers[p.strategy[0].CapacityProvider].fargate
		p.provider = p.strategy[0].CapacityProvider
	} else {
		p.fargate = p.launchType == "FARGATE"
	}
	need := p.launchType
	if len(p.strategy) > 0 {
		need = "EC2"
		if p.fargate {
			need = "FARGATE"
		}
	}
	if !slices.Contains(d.td.Compatibilities, need) {
		return p, invalidParam("Task definition does not support launch_type %s.", need)
	}
	return p, nil
}

// pickProvider spreads tasks over a strategy: the provider with a base
// takes the first tasks, then weights share the rest.
func pickProvider(strategy []ecsCapacityProviderStrategyItem, i int) string {
	for _, it := range strategy {
		if it.Base != nil && i < *it.Base {
			return it.CapacityProvider
		}
		if it.Base != nil {
			i -= *it.Base
		}
	}
	total := 0
	for _, it := range strategy {
		if it.Weight != nil {
			total += *it.Weight
		}
	}
	if total == 0 {
		return strategy[0].CapacityProvider
	}
	n := i % total
	for _, it := range strategy {
		if it.Weight == nil {
			continue
		}
		if n < *it.Weight {
			return it.CapacityProvider
		}
		n -= *it.Weight
	}
	return strategy[0].CapacityProvider
}

// checkRunTaskDetails applies RunTask's rules on placement, network,
// overrides and tags.
func (s *Server) checkRunTaskDetails(c *cluster, d *taskDef, in *ecsRunTaskRequest, p placement) *apiError {
	if p.fargate {
		if len(in.PlacementConstraints) > 0 {
			return invalidParam("Placement constraints are not supported with FARGATE launch type.")
		}
		if len(in.PlacementStrategy) > 0 {
			return invalidParam("Placement strategies are not supported with FARGATE launch type.")
		}
		switch in.PlatformVersion {
		case "", "LATEST", "1.4.0", "1.3.0":
		default:
			return invalidParam("The specified platform does not exist.")
		}
	} else if in.PlatformVersion != "" {
		return invalidParam("The platform version must be null when specifying an EC2 launch type.")
	}
	for _, pc := range in.PlacementConstraints {
		switch pc.Type {
		case "distinctInstance":
		case "memberOf":
			if pc.Expression == "" {
				return invalidParam("A memberOf placement constraint requires an expression.")
			}
		default:
			return invalidParam("Invalid placement constraint type '%s'.", pc.Type)
		}
	}
	for _, ps := range in.PlacementStrategy {
		switch ps.Type {
		case "random", "spread", "binpack":
		default:
			return invalidParam("Invalid placement strategy type '%s'.", ps.Type)
		}
		if ps.Type == "binpack" && ps.Field != "cpu" && ps.Field != "memory" {
			return invalidParam("The binpack placement strategy field must be cpu or memory.")
		}
	}
	if len(in.PlacementConstraints) > 10 || len(in.PlacementStrategy) > 5 {
		return invalidParam("A task can have at most 10 placement constraints and 5 placement strategies.")
	}

	if d.td.NetworkMode == "awsvpc" {
		nc := in.NetworkConfiguration
		if nc == nil || nc.AwsvpcConfiguration == nil {
			return invalidParam(msgNoNetworkConfig)
		}
		vc := nc.AwsvpcConfiguration
		if len(vc.Subnets) == 0 {
			return invalidParam(msgNoSubnets)
		}
		if len(vc.Subnets) > 16 || len(vc.SecurityGroups) > 5 {
			return invalidParam("At most 16 subnets and 5 security groups are allowed.")
		}
		var vpc string
		for _, id := range vc.Subnets {
			sn := s.ec2.subnet(id)
			if sn == nil {
				return invalidParam("Error retrieving subnet information for [%s]: The subnet ID '%s' does not exist (Service: AmazonEC2; Status Code: 400; Error Code: InvalidSubnetID.NotFound)", id, id)
			}
			if vpc != "" && sn.vpcID != vpc {
				return invalidParam("Subnets must all be in the same VPC.")
			}
			vpc = sn.vpcID
		}
		for _, id := range vc.SecurityGroups {
			if sg := s.ec2.securityGroup(id); sg == nil {
				return invalidParam("Error retrieving security group information for [%s]: The security group '%s' does not exist (Service: AmazonEC2; Status Code: 400; Error Code: InvalidGroup.NotFound)", id, id)
			} else if sg.vpcID != vpc {
				return invalidParam("Security group %s is not in the same VPC as the subnets.", id)
			}
		}
		switch vc.AssignPublicIp {
		case "", "DISABLED":
		case "ENABLED":
			if !p.fargate {
				return invalidParam("Assign public IP is not supported for this launch type.")
			}
		default:
			return invalidParam("Invalid assignPublicIp value '%s'.", vc.AssignPublicIp)
		}
	} else if in.NetworkConfiguration != nil {
		return invalidParam(msgNetworkConfigMode)
	}

	if ov := in.Overrides; ov != nil {
		b, _ := json.Marshal(ov)
		if len(b) > 8192 {
			return invalidParam("Container Overrides length must be at most 8192")
		}
		for _, co := range ov.ContainerOverrides {
			if !slices.ContainsFunc(d.td.ContainerDefinitions, func(cd ecsContainerDefinition) bool { return cd.Name == co.Name }) {
				return invalidParam("Override for container named %s is not a container in the TaskDefinition.", co.Name)
			}
		}
		if es := ov.EphemeralStorage; es != nil && (es.SizeInGiB == nil || *es.SizeInGiB < 21 || *es.SizeInGiB > 200) {
			return invalidParam("The ephemeral storage size must be between 21 and 200 GiB.")
		}
		if p.fargate && (ov.Cpu != "" || ov.Memory != "") {
			cpu, mem := d.td.Cpu, d.td.Memory
			if ov.Cpu != "" {
				cpu = ov.Cpu
			}
			if ov.Memory != "" {
				mem = ov.Memory
			}
			cn, ok1 := parseUnits(cpu, "cpu")
			mn, ok2 := parseUnits(mem, "memory")
			if !ok1 || !ok2 || !fargateSizeOK(cn, mn) {
				return invalidParam("No Fargate configuration exists for given values: %s CPU, %s memory.", cpu, mem)
			}
		}
	}
	if e := validateTags(in.Tags); e != nil {
		return e
	}
	switch in.PropagateTags {
	case "", "TASK_DEFINITION", "NONE":
	case "SERVICE":
		return invalidParam("The specified propagateTags value SERVICE is only valid for tasks launched by a service.")
	default:
		return invalidParam("Invalid propagateTags value '%s'.", in.PropagateTags)
	}
	if len(in.StartedBy) > 128 {
		return invalidParam("startedBy can be at most 128 characters.")
	}
	if len(in.Group) > 255 {
		return invalidParam("group can be at most 255 characters.")
	}
	return nil
}

// newTaskLocked builds a task; id is the task's ID when authorization
// already drew it, "" to draw one.
func (s *Server) newTaskLocked(c *cluster, d *taskDef, in *ecsRunTaskRequest, lt, provider string, fargate bool, now time.Time, id string) *task {
	if id == "" {
		id = s.newIDLocked(32)
	}
	t := &task{
		arn:              s.arn("ecs", "task/"+c.name+"/"+id),
		id:               id,
		heapIdx:          -1,
		cluster:          c,
		def:              d,
		launchType:       lt,
		capacityProvider: provider,
		fargate:          fargate,
		startedBy:        in.StartedBy,
		group:            in.Group,
		clientToken:      in.ClientToken,
		createdAt:        now,
		desiredStatus:    "RUNNING",
		cpu:              d.td.Cpu,
		memory:           d.td.Memory,
	}
	if t.group == "" {
		t.group = "family:" + d.fam.name
	}
	if in.Overrides != nil {
		if in.Overrides.Cpu != "" {
			t.cpu = in.Overrides.Cpu
		}
		if in.Overrides.Memory != "" {
			t.memory = in.Overrides.Memory
		}
	}
	var tags []ecsTag
	if in.PropagateTags == "TASK_DEFINITION" {
		tags = mergeTags(tags, d.tags)
	}
	tags = mergeTags(tags, in.Tags)
	if in.EnableECSManagedTags != nil && *in.EnableECSManagedTags {
		tags = append(tags, ecsTag{Key: "aws:ecs:clusterName", Value: c.name})
	}
	t.tags = tags

	t.overrides = ecsTaskOverride{InferenceAcceleratorOverrides: []ecsInferenceAcceleratorOverride{}}
	if ov := in.Overrides; ov != nil {
		t.overrides.Cpu, t.overrides.Memory = ov.Cpu, ov.Memory
		t.overrides.TaskRoleArn, t.overrides.ExecutionRoleArn = ov.TaskRoleArn, ov.ExecutionRoleArn
		t.overrides.EphemeralStorage = ov.EphemeralStorage
	}
	for i := range d.td.ContainerDefinitions {
		cd := &d.td.ContainerDefinitions[i]
		co := ecsContainerOverride{Name: cd.Name}
		if in.Overrides != nil {
			for _, o := range in.Overrides.ContainerOverrides {
				if o.Name == cd.Name {
					co = o
				}
			}
		}
		t.overrides.ContainerOverrides = append(t.overrides.ContainerOverrides, co)
		cs := &containerState{
			arn:               s.arn("ecs", "container/"+c.name+"/"+id+"/"+s.newUUIDLocked()),
			name:              cd.Name,
			image:             cd.Image,
			essential:         *cd.Essential,
			cpu:               *cd.Cpu,
			memory:            cd.Memory,
			memoryReservation: cd.MemoryReservation,
			lastStatus:        "PENDING",
			def:               cd,
		}
		if co.Memory != nil {
			cs.memory = co.Memory
		}
		t.containers = append(t.containers, cs)
		t.needCPU += cs.cpu
		if cs.memory != nil {
			t.needMemory += *cs.memory
		} else if cs.memoryReservation != nil {
			t.needMemory += *cs.memoryReservation
		}
	}
	if n, ok := parseUnits(t.cpu, "cpu"); ok {
		t.needCPU = n
	}
	if n, ok := parseUnits(t.memory, "memory"); ok {
		t.needMemory = n
	}

	t.az = s.opts.Region + "a"
	if d.td.NetworkMode == "awsvpc" {
		subnets := in.NetworkConfiguration.AwsvpcConfiguration.Subnets
		sn := s.ec2.subnet(subnets[s.ecs.taskSeq%len(subnets)])
		ip := sn.nextIP()
		t.az = sn.az
		t.eni = &eniState{
			attachmentID: s.newUUIDLocked(),
			subnetID:     sn.id,
			eniID:        "eni-" + s.newIDLocked(17),
			mac:          "0a:" + strings.Join(chunk(s.newIDLocked(10), 2), ":"),
			ip:           ip,
			dns:          privateDNS(ip, s.opts.Region),
			status:       "PRECREATED",
		}
	}
	if fargate {
		t.platformVersion = "1.4.0"
	}
	return t
}

func chunk(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

func privateDNS(ip, region string) string {
	host := "ip-" + strings.ReplaceAll(ip, ".", "-")
	if region == "us-east-1" {
		return host + ".ec2.internal"
	}
	return host + "." + region + ".compute.internal"
}

// pickInstanceLocked chooses a container instance with room for the task,
// honouring distinctInstance and the binpack/spread strategies, or explains
// per instance why none fits, as RunTask's failures do.
func (s *Server) pickInstanceLocked(c *cluster, t *task, in *ecsRunTaskRequest, used map[*containerInstance]bool) (*containerInstance, []ecsFailure) {
	distinct := slices.ContainsFunc(in.PlacementConstraints, func(pc ecsPlacementConstraint) bool { return pc.Type == "distinctInstance" })
	var fits []*containerInstance
	var fails []ecsFailure
	for _, ci := range c.instances {
		switch {
		case distinct && used[ci]:
			fails = append(fails, ecsFailure{Arn: ci.arn, Reason: "DistinctInstance placement constraint unsatisfied."})
		case ci.memory-ci.usedMemory < t.needMemory:
			fails = append(fails, ecsFailure{Arn: ci.arn, Reason: "RESOURCE:MEMORY"})
		case ci.cpu-ci.usedCPU < t.needCPU:
			fails = append(fails, ecsFailure{Arn: ci.arn, Reason: "RESOURCE:CPU"})
		default:
			fits = append(fits, ci)
		}
	}
	if len(fits) == 0 {
		return nil, fails
	}
	free := func(ci *containerInstance) int { return ci.memory - ci.usedMemory }
	for _, ps := range in.PlacementStrategy {
		switch ps.Type {
		case "binpack":
			if ps.Field == "cpu" {
				free = func(ci *containerInstance) int { return ci.cpu - ci.usedCPU }
			}
			return slices.MinFunc(fits, func(a, b *containerInstance) int { return free(a) - free(b) }), nil
		case "spread":
			return slices.MaxFunc(fits, func(a, b *containerInstance) int { return free(a) - free(b) }), nil
		case "random":
			return fits[s.rng.IntN(len(fits))], nil
		}
	}
	return fits[0], nil
}
