package awsfake

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

type family struct {
	name string
	revs []*taskDef // index i is revision i+1
}

// taskDef is a registered revision. td is what DescribeTaskDefinition
// returns; it is never modified in place after registration (status
// changes replace it), so views can share its slices.
type taskDef struct {
	td   ecsTaskDefinition
	tags []ecsTag
	fam  *family
}

func (d *taskDef) active() bool { return d.td.Status == "ACTIVE" }

// taskDefByRefLocked resolves an ARN, "family:revision" or "family" (the
// latest ACTIVE revision), or returns nil.
func (s *Server) taskDefByRefLocked(ref string) *taskDef {
	if strings.HasPrefix(ref, "arn:") {
		rest, ok := strings.CutPrefix(ref, s.arn("ecs", "task-definition/"))
		if !ok {
			return nil
		}
		ref = rest
	}
	name, rev, hasRev := strings.Cut(ref, ":")
	f := s.ecs.families[name]
	if f == nil {
		return nil
	}
	if !hasRev {
		for i := len(f.revs) - 1; i >= 0; i-- {
			if f.revs[i].active() {
				return f.revs[i]
			}
		}
		return nil
	}
	n, err := strconv.Atoi(rev)
	if err != nil || n < 1 || n > len(f.revs) {
		return nil
	}
	return f.revs[n-1]
}

// fargateMemory lists, per task cpu, the memory range and step Fargate
// accepts (AWS docs, "Task CPU and memory").
var fargateMemory = map[int]struct{ min, max, step int }{
	256:   {512, 2048, 512},
	512:   {1024, 4096, 1024},
	1024:  {2048, 8192, 1024},
	2048:  {4096, 16384, 1024},
	4096:  {8192, 30720, 1024},
	8192:  {16384, 61440, 4096},
	16384: {32768, 122880, 8192},
}

func fargateSizeOK(cpu, mem int) bool {
	r, ok := fargateMemory[cpu]
	if !ok || mem < r.min || mem > r.max {
		return false
	}
	if cpu == 256 {
		return mem == 512 || mem == 1024 || mem == 2048
	}
	return (mem-r.min)%r.step == 0
}

// parseUnits reads task-level cpu ("1024", "1 vCPU") or memory ("2048",
// "2 GB"), which ECS stores as plain numbers.
func parseUnits(v, kind string) (int, bool) {
	t := strings.ToLower(strings.TrimSpace(v))
	scale := 1.0
	for _, u := range []struct {
		suffix string
		scale  float64
	}{{"vcpus", 1024}, {"vcpu", 1024}, {"gib", 1024}, {"gb", 1024}, {"mib", 1}, {"mb", 1}} {
		if (kind == "cpu") != strings.Contains(u.suffix, "cpu") {
			continue
		}
		if strings.HasSuffix(t, u.suffix) {
			t, scale = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.scale
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) {
		return 0, false
	}
	n := f * scale
	if n != math.Trunc(n) || n > math.MaxInt32 {
		return 0, false
	}
	return int(n), true
}

var validLogDrivers = []string{"json-file", "syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "awsfirelens"}

func (s *Server) ecsRegisterTaskDefinition(in *ecsRegisterTaskDefinitionRequest, r *request) (any, *apiError) {
	td, e := s.normalizeTaskDefinition(in)
	if e != nil {
		return nil, e
	}
	if e := validateTags(in.Tags); e != nil {
		return nil, e
	}
	if !s.allowLocked(ThrottleTaskDefinitionFamily, ThrottleTaskDefinitionFamily+":"+in.Family, 1) {
		e := clientErr("Too many concurrent attempts to create a new revision of the specified family.")
		e.throttled = true
		return nil, e
	}
	f := s.ecs.families[in.Family]
	if f == nil {
		f = &family{name: in.Family}
		s.ecs.families[in.Family] = f
	}
	rev := len(f.revs) + 1
	td.Revision = new(rev)
	td.TaskDefinitionArn = s.arn("ecs", fmt.Sprintf("task-definition/%s:%d", in.Family, rev))
	td.Status = "ACTIVE"
	td.RegisteredAt = at(s.now())
	td.RegisteredBy = s.callerArnLocked(r.akid)
	d := &taskDef{td: td, tags: slices.Clone(in.Tags), fam: f}
	f.revs = append(f.revs, d)
	out := ecsRegisterTaskDefinitionResponse{TaskDefinition: new(d.td)}
	if len(in.Tags) > 0 {
		out.Tags = slices.Clone(in.Tags)
	}
	return out, nil
}

// normalizeTaskDefinition applies RegisterTaskDefinition's rules and fills
// in what ECS fills in, returning the definition as DescribeTaskDefinition
// will show it (less the registration fields).
func (s *Server) normalizeTaskDefinition(in *ecsRegisterTaskDefinitionRequest) (ecsTaskDefinition, *apiError) {
	var none ecsTaskDefinition
	if in.Family == "" {
		return none, clientErr("Family should not be null or empty.")
	}
	if len(in.Family) > 255 || !isNameChars(in.Family) {
		return none, clientErr("Family contains invalid characters. Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.")
	}
	if len(in.ContainerDefinitions) == 0 {
		return none, clientErr("Container list cannot be empty.")
	}
	if len(in.ContainerDefinitions) > 10 {
		return none, clientErr("Too many containers: a task definition can have at most 10.")
	}
	mode := in.NetworkMode
	if mode != "" && !slices.Contains([]string{"bridge", "host", "awsvpc", "none"}, mode) {
		return none, clientErr("Invalid networkMode '%s'. Valid values are bridge, host, awsvpc and none.", mode)
	}
	for _, c := range in.RequiresCompatibilities {
		if !slices.Contains([]string{"EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES"}, c) {
			return none, clientErr("Invalid requiresCompatibilities value '%s'.", c)
		}
	}
	td := ecsTaskDefinition{
		Family:                  in.Family,
		TaskRoleArn:             in.TaskRoleArn,
		ExecutionRoleArn:        in.ExecutionRoleArn,
		NetworkMode:             mode,
		Volumes:                 append([]ecsVolume{}, in.Volumes...),
		PlacementConstraints:    append([]ecsTaskDefinitionPlacementConstraint{}, in.PlacementConstraints...),
		RequiresCompatibilities: in.RequiresCompatibilities,
		PidMode:                 in.PidMode,
		IpcMode:                 in.IpcMode,
		ProxyConfiguration:      in.ProxyConfiguration,
		InferenceAccelerators:   in.InferenceAccelerators,
		EphemeralStorage:        in.EphemeralStorage,
		RuntimePlatform:         in.RuntimePlatform,
		EnableFaultInjection:    in.EnableFaultInjection,
	}
	taskCPU, taskMem := 0, 0
	if in.Cpu != "" {
		n, ok := parseUnits(in.Cpu, "cpu")
		if !ok {
			return none, clientErr("Invalid 'cpu' setting for task.")
		}
		taskCPU, td.Cpu = n, strconv.Itoa(n)
	}
	if in.Memory != "" {
		n, ok := parseUnits(in.Memory, "memory")
		if !ok {
			return none, clientErr("Invalid 'memory' setting for task.")
		}
		taskMem, td.Memory = n, strconv.Itoa(n)
	}
	requiresFargate := slices.Contains(in.RequiresCompatibilities, "FARGATE")
	if requiresFargate {
		if mode != "awsvpc" {
			return none, clientErr("Fargate only supports network mode ‘awsvpc’.")
		}
		if in.Cpu == "" {
			return none, clientErr("Fargate requires that 'cpu' be defined at the task level.")
		}
		if in.Memory == "" {
			return none, clientErr("Fargate requires that 'memory' be defined at the task level.")
		}
		if !fargateSizeOK(taskCPU, taskMem) {
			return none, clientErr("No Fargate configuration exists for given values: %d CPU, %d memory. See the Amazon ECS documentation for the valid values.", taskCPU, taskMem)
		}
	}
	if es := in.EphemeralStorage; es != nil {
		if es.SizeInGiB == nil || *es.SizeInGiB < 21 || *es.SizeInGiB > 200 {
			return none, clientErr("The ephemeral storage size must be between 21 and 200 GiB.")
		}
	}

	names := map[string]bool{}
	essential := false
	for i := range in.ContainerDefinitions {
		c, e := normalizeContainer(in.ContainerDefinitions[i], mode, taskMem, in.ExecutionRoleArn, requiresFargate)
		if e != nil {
			return none, e
		}
		if names[c.Name] {
			return none, clientErr("Duplicate container name '%s': container names must be unique within a task definition.", c.Name)
		}
		names[c.Name] = true
		essential = essential || *c.Essential
		td.ContainerDefinitions = append(td.ContainerDefinitions, c)
	}
	if !essential {
		return none, clientErr("Task definition must have at least one essential container.")
	}
	for _, c := range td.ContainerDefinitions {
		for _, d := range c.DependsOn {
			if !names[d.ContainerName] {
				return none, clientErr("Container '%s' cannot depend on container '%s' because it does not exist.", c.Name, d.ContainerName)
			}
		}
	}
	td.Compatibilities = compatibilities(&td)
	for _, c := range in.RequiresCompatibilities {
		if c == "MANAGED_INSTANCES" {
			continue
		}
		if !slices.Contains(td.Compatibilities, c) {
			return none, clientErr("Task definition does not support launch_type %s.", c)
		}
	}
	td.RequiresAttributes = requiresAttributes(&td)
	return td, nil
}

func normalizeContainer(c ecsContainerDefinition, mode string, taskMem int, execRole string, fargate bool) (ecsContainerDefinition, *apiError) {
	if c.Name == "" {
		return c, clientErr("Container.name should not be null or empty.")
	}
	if len(c.Name) > 255 || !isNameChars(c.Name) {
		return c, clientErr("Container name '%s' is invalid. Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.", c.Name)
	}
	if c.Image == "" {
		return c, clientErr("Container.image should not be null or empty.")
	}
	if c.Essential == nil {
		c.Essential = new(true)
	}
	if c.Cpu == nil {
		c.Cpu = new(0)
	}
	if taskMem == 0 && c.Memory == nil && c.MemoryReservation == nil {
		return c, clientErr("Invalid setting for container '%s'. At least one of 'memory' or 'memoryReservation' must be specified.", c.Name)
	}
	if c.Memory != nil && c.MemoryReservation != nil && *c.Memory < *c.MemoryReservation {
		return c, clientErr("Invalid setting for container '%s'. 'memory' must be greater than or equal to 'memoryReservation'.", c.Name)
	}
	if c.Memory != nil && *c.Memory < 6 {
		return c, clientErr("Invalid setting for container '%s'. The minimum allowed value for 'memory' is 6 MiB.", c.Name)
	}
	if (len(c.Secrets) > 0 || c.LogConfiguration != nil && len(c.LogConfiguration.SecretOptions) > 0) && execRole == "" {
		return c, clientErr("When you are specifying container secrets, you must also specify a value for 'executionRoleArn'.")
	}
	if lc := c.LogConfiguration; lc != nil {
		if !slices.Contains(validLogDrivers, lc.LogDriver) {
			return c, clientErr("Log driver %s is not supported.", lc.LogDriver)
		}
		if fargate && !slices.Contains([]string{"awslogs", "splunk", "awsfirelens"}, lc.LogDriver) {
			return c, clientErr("Log driver %s is not supported on Fargate. Supported drivers are awslogs, splunk and awsfirelens.", lc.LogDriver)
		}
		if lc.LogDriver == "awslogs" {
			if lc.Options["awslogs-group"] == "" {
				return c, clientErr("Log driver awslogs requires options: awslogs-group")
			}
			if fargate && execRole == "" {
				return c, clientErr("Fargate requires task definition to have execution role ARN to support log driver awslogs.")
			}
		}
	}
	ports := make([]ecsPortMapping, 0, len(c.PortMappings))
	for _, p := range c.PortMappings {
		if p.ContainerPort == nil && p.ContainerPortRange == "" {
			return c, clientErr("Invalid port mapping for container '%s': containerPort is required.", c.Name)
		}
		if p.ContainerPort != nil && (*p.ContainerPort < 0 || *p.ContainerPort > 65535) {
			return c, clientErr("Invalid port mapping for container '%s': ports must be between 0 and 65535.", c.Name)
		}
		if p.Protocol == "" {
			p.Protocol = "tcp"
		}
		if p.ContainerPort != nil && (mode == "awsvpc" || mode == "host") {
			if p.HostPort == nil {
				p.HostPort = new(*p.ContainerPort)
			} else if *p.HostPort != *p.ContainerPort {
				return c, clientErr("When networkMode=%s, the host ports and container ports in port mappings must match.", mode)
			}
		}
		ports = append(ports, p)
	}
	c.PortMappings = ports
	c.Environment = append([]ecsKeyValuePair{}, c.Environment...)
	c.MountPoints = append([]ecsMountPoint{}, c.MountPoints...)
	c.VolumesFrom = append([]ecsVolumeFrom{}, c.VolumesFrom...)
	c.SystemControls = append([]ecsSystemControl{}, c.SystemControls...)
	return c, nil
}

// compatibilities is the launch types the definition can run on, as ECS
// computes it whatever requiresCompatibilities says.
func compatibilities(td *ecsTaskDefinition) []string {
	var out []string
	if td.NetworkMode != "awsvpc" {
		out = append(out, "EXTERNAL")
	}
	out = append(out, "EC2")
	if fargateCompatible(td) {
		out = append(out, "FARGATE")
	}
	return out
}

func fargateCompatible(td *ecsTaskDefinition) bool {
	if td.NetworkMode != "awsvpc" || td.Cpu == "" || td.Memory == "" {
		return false
	}
	cpu, _ := strconv.Atoi(td.Cpu)
	mem, _ := strconv.Atoi(td.Memory)
	if !fargateSizeOK(cpu, mem) || len(td.PlacementConstraints) > 0 || len(td.InferenceAccelerators) > 0 {
		return false
	}
	if td.IpcMode != "" || td.PidMode == "host" {
		return false
	}
	for _, v := range td.Volumes {
		if v.DockerVolumeConfiguration != nil || v.Host != nil && v.Host.SourcePath != "" || v.FsxWindowsFileServerVolumeConfiguration != nil {
			return false
		}
	}
	for _, c := range td.ContainerDefinitions {
		if c.Privileged != nil && *c.Privileged || len(c.Links) > 0 {
			return false
		}
		if lc := c.LogConfiguration; lc != nil {
			if !slices.Contains([]string{"awslogs", "splunk", "awsfirelens"}, lc.LogDriver) {
				return false
			}
			if lc.LogDriver == "awslogs" && td.ExecutionRoleArn == "" {
				return false
			}
		}
	}
	return true
}

// requiresAttributes lists the container-instance capabilities the
// definition needs, as ECS derives them.
func requiresAttributes(td *ecsTaskDefinition) []ecsAttribute {
	var names []string
	add := func(n string) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for _, c := range td.ContainerDefinitions {
		if lc := c.LogConfiguration; lc != nil {
			add("com.amazonaws.ecs.capability.logging-driver." + lc.LogDriver)
			add("com.amazonaws.ecs.capability.docker-remote-api.1.19")
			if lc.LogDriver == "awslogs" && td.ExecutionRoleArn != "" {
				add("ecs.capability.execution-role-awslogs")
			}
		}
		if len(c.DockerLabels) > 0 {
			add("com.amazonaws.ecs.capability.docker-remote-api.1.18")
		}
		for _, sec := range c.Secrets {
			if strings.Contains(sec.ValueFrom, ":secretsmanager:") {
				add("ecs.capability.secrets.asm.environment-variables")
			} else {
				add("ecs.capability.secrets.ssm.environment-variables")
			}
		}
		if strings.Contains(c.Image, ".dkr.ecr.") && td.ExecutionRoleArn != "" {
			add("ecs.capability.execution-role-ecr-pull")
			add("com.amazonaws.ecs.capability.ecr-auth")
		}
		if len(c.DependsOn) > 0 || c.StartTimeout != nil || c.StopTimeout != nil {
			add("ecs.capability.container-ordering")
		}
		if c.HealthCheck != nil {
			add("ecs.capability.container-health-check")
		}
	}
	if td.TaskRoleArn != "" {
		add("com.amazonaws.ecs.capability.task-iam-role")
	}
	if td.NetworkMode == "awsvpc" {
		add("com.amazonaws.ecs.capability.docker-remote-api.1.18")
		add("ecs.capability.task-eni")
	}
	if td.Cpu != "" || td.Memory != "" {
		add("ecs.capability.task-cpu-mem-limit")
	}
	out := make([]ecsAttribute, 0, len(names))
	for _, n := range names {
		out = append(out, ecsAttribute{Name: n})
	}
	return out
}

func (s *Server) ecsDescribeTaskDefinition(in *ecsDescribeTaskDefinitionRequest, _ *request) (any, *apiError) {
	d := s.taskDefByRefLocked(in.TaskDefinition)
	if d == nil {
		return nil, clientErr("Unable to describe task definition.")
	}
	out := ecsDescribeTaskDefinitionResponse{TaskDefinition: new(d.td)}
	if slices.Contains(in.Include, "TAGS") {
		out.Tags = append([]ecsTag{}, d.tags...)
	}
	return out, nil
}

func (s *Server) ecsDeregisterTaskDefinition(in *ecsDeregisterTaskDefinitionRequest, _ *request) (any, *apiError) {
	ref := in.TaskDefinition
	if strings.HasPrefix(ref, "arn:") {
		ref = ref[strings.LastIndex(ref, "/")+1:]
	}
	if !strings.Contains(ref, ":") {
		return nil, clientErr("Revision is missing.")
	}
	d := s.taskDefByRefLocked(in.TaskDefinition)
	if d == nil {
		return nil, clientErr("The specified task definition does not exist.")
	}
	if d.active() {
		td := d.td
		td.Status = "INACTIVE"
		td.DeregisteredAt = at(s.now())
		d.td = td
	}
	return ecsDeregisterTaskDefinitionResponse{TaskDefinition: new(d.td)}, nil
}

func (s *Server) ecsListTaskDefinitions(in *ecsListTaskDefinitionsRequest, _ *request) (any, *apiError) {
	status := in.Status
	if status == "" {
		status = "ACTIVE"
	}
	if in.MaxResults != nil && (*in.MaxResults < 1 || *in.MaxResults > 100) {
		return nil, invalidParam("maxResults must be between 1 and 100.")
	}
	var fams []string
	for name := range s.ecs.families {
		if in.FamilyPrefix == "" || name == in.FamilyPrefix {
			fams = append(fams, name)
		}
	}
	slices.Sort(fams)
	var arns []string
	for _, name := range fams {
		for _, d := range s.ecs.families[name].revs {
			if d.td.Status == status {
				arns = append(arns, d.td.TaskDefinitionArn)
			}
		}
	}
	switch in.Sort {
	case "", "ASC":
	case "DESC":
		slices.Reverse(arns)
	default:
		return nil, invalidParam("sort must be ASC or DESC.")
	}
	items, next, err := ecsPage(arns, in.NextToken, in.MaxResults, 100)
	if err != nil {
		return nil, err
	}
	return ecsListTaskDefinitionsResponse{TaskDefinitionArns: append([]string{}, items...), NextToken: next}, nil
}

func (s *Server) ecsListTaskDefinitionFamilies(in *ecsListTaskDefinitionFamiliesRequest, _ *request) (any, *apiError) {
	status := in.Status
	if status == "" {
		status = "ACTIVE"
	}
	var names []string
	for name, f := range s.ecs.families {
		if !strings.HasPrefix(name, in.FamilyPrefix) {
			continue
		}
		active := slices.ContainsFunc(f.revs, (*taskDef).active)
		if status == "ALL" || (status == "ACTIVE") == active {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	if in.MaxResults != nil && (*in.MaxResults < 1 || *in.MaxResults > 100) {
		return nil, invalidParam("maxResults must be between 1 and 100.")
	}
	items, next, err := ecsPage(names, in.NextToken, in.MaxResults, 100)
	if err != nil {
		return nil, err
	}
	return ecsListTaskDefinitionFamiliesResponse{Families: append([]string{}, items...), NextToken: next}, nil
}
