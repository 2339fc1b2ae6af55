package awsfake

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

type task struct {
	arn, id             string
	seq                 int
	heapIdx             int
	cluster             *cluster
	def                 *taskDef
	launchType          string
	capacityProvider    string
	fargate             bool
	startedBy, group    string
	caller              string // the identity whose RunTask started it
	tags                []ecsTag
	clientToken         string
	overrides           ecsTaskOverride
	outcome             Outcome
	createdAt           time.Time
	cpu, memory         string // task-level, as shown
	az                  string
	platformVersion     string
	instance            *containerInstance
	released            bool // instance resources given back
	needCPU, needMemory int
	eni                 *eniState

	lastStatus, desiredStatus                            string
	version                                              int64
	updatedAt                                            time.Time
	startedAt, stoppingAt, stoppedAt, executionStoppedAt time.Time
	pullStartedAt, pullStoppedAt, connectivityAt         time.Time
	connectivity                                         string
	stopCode, stoppedReason                              string
	containers                                           []*containerState
	logTarget                                            *logStream
	logTargetEssential                                   bool
	sched                                                []step
}

type containerState struct {
	arn, name, image          string
	essential                 bool
	cpu                       int
	memory, memoryReservation *int
	lastStatus                string
	exitCode                  *int
	reason                    string
	runtimeID                 string
	def                       *ecsContainerDefinition
}

type eniState struct {
	attachmentID, subnetID, eniID, mac, ip, dns, status string
}

func itoa(n int) string { return strconv.Itoa(n) }

func (s *Server) expiredLocked(t *task) bool {
	return t.lastStatus == "STOPPED" && s.opts.StoppedTaskRetention >= 0 &&
		s.now().Sub(t.stoppedAt) > s.opts.StoppedTaskRetention
}

func (s *Server) taskInfoLocked(t *task) TaskInfo {
	info := TaskInfo{
		Cluster:           t.cluster.name,
		ClusterArn:        t.cluster.arn,
		Family:            t.def.fam.name,
		TaskDefinitionArn: t.def.td.TaskDefinitionArn,
		LaunchType:        t.launchType,
		CapacityProvider:  t.capacityProvider,
		StartedBy:         t.startedBy,
		Group:             t.group,
		ClientToken:       t.clientToken,
		Tags:              map[string]string{},
	}
	for _, tg := range t.tags {
		info.Tags[tg.Key] = tg.Value
	}
	for i, c := range t.containers {
		co := t.overrides.ContainerOverrides[i]
		ci := ContainerInfo{Name: c.name, Image: c.image, Essential: c.essential,
			Command: slices.Clone(c.def.Command), Environment: map[string]string{}}
		for _, kv := range c.def.Environment {
			ci.Environment[kv.Name] = kv.Value
		}
		if co.Command != nil {
			ci.Command = slices.Clone(co.Command)
		}
		for _, kv := range co.Environment {
			ci.Environment[kv.Name] = kv.Value
		}
		info.Containers = append(info.Containers, ci)
	}
	return info
}

// taskViewLocked renders a task as DescribeTasks returns it.
func (s *Server) taskViewLocked(t *task, withTags bool) ecsTask {
	v := ecsTask{
		TaskArn:              t.arn,
		ClusterArn:           t.cluster.arn,
		TaskDefinitionArn:    t.def.td.TaskDefinitionArn,
		LastStatus:           t.lastStatus,
		DesiredStatus:        t.desiredStatus,
		CreatedAt:            at(t.createdAt),
		Version:              new(t.version),
		Group:                t.group,
		StartedBy:            t.startedBy,
		LaunchType:           t.launchType,
		CapacityProviderName: t.capacityProvider,
		Cpu:                  t.cpu,
		Memory:               t.memory,
		AvailabilityZone:     t.az,
		Connectivity:         t.connectivity,
		ConnectivityAt:       at(t.connectivityAt),
		HealthStatus:         "UNKNOWN",
		EnableExecuteCommand: new(false),
		Overrides:            &t.overrides,
		Attachments:          []ecsAttachment{},
		Attributes:           []ecsAttribute{{Name: "ecs.cpu-architecture", Value: "x86_64"}},
		StartedAt:            at(t.startedAt),
		StoppingAt:           at(t.stoppingAt),
		StoppedAt:            at(t.stoppedAt),
		ExecutionStoppedAt:   at(t.executionStoppedAt),
		PullStartedAt:        at(t.pullStartedAt),
		PullStoppedAt:        at(t.pullStoppedAt),
		StopCode:             t.stopCode,
		StoppedReason:        t.stoppedReason,
		PlatformVersion:      t.platformVersion,
		Containers:           []ecsContainer{},
	}
	if t.instance != nil {
		v.ContainerInstanceArn = t.instance.arn
	}
	if t.fargate {
		v.PlatformFamily = "Linux"
		size := 20
		if es := t.overrides.EphemeralStorage; es != nil && es.SizeInGiB != nil {
			size = *es.SizeInGiB
		} else if es := t.def.td.EphemeralStorage; es != nil && es.SizeInGiB != nil {
			size = *es.SizeInGiB
		}
		v.EphemeralStorage = &ecsEphemeralStorage{SizeInGiB: new(size)}
		v.FargateEphemeralStorage = &ecsTaskEphemeralStorage{SizeInGiB: new(size)}
	}
	if n := t.eni; n != nil {
		details := []ecsKeyValuePair{{Name: "subnetId", Value: n.subnetID}}
		if n.status != "PRECREATED" {
			details = append(details,
				ecsKeyValuePair{Name: "networkInterfaceId", Value: n.eniID},
				ecsKeyValuePair{Name: "macAddress", Value: n.mac},
				ecsKeyValuePair{Name: "privateDnsName", Value: n.dns},
				ecsKeyValuePair{Name: "privateIPv4Address", Value: n.ip})
		}
		v.Attachments = append(v.Attachments, ecsAttachment{Id: n.attachmentID, Type: "ElasticNetworkInterface", Status: n.status, Details: details})
	}
	for _, c := range t.containers {
		cv := ecsContainer{
			ContainerArn: c.arn,
			TaskArn:      t.arn,
			Name:         c.name,
			Image:        c.image,
			LastStatus:   c.lastStatus,
			ExitCode:     c.exitCode,
			Reason:       c.reason,
			RuntimeId:    c.runtimeID,
			HealthStatus: "UNKNOWN",
			Cpu:          strconv.Itoa(c.cpu),
		}
		if c.memory != nil {
			cv.Memory = strconv.Itoa(*c.memory)
		}
		if c.memoryReservation != nil {
			cv.MemoryReservation = strconv.Itoa(*c.memoryReservation)
		}
		if c.runtimeID != "" {
			cv.ImageDigest = fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(c.image)))
		}
		if t.eni != nil && t.eni.status != "PRECREATED" {
			cv.NetworkInterfaces = []ecsNetworkInterface{{AttachmentId: t.eni.attachmentID, PrivateIpv4Address: t.eni.ip}}
		}
		v.Containers = append(v.Containers, cv)
	}
	if withTags {
		v.Tags = append([]ecsTag{}, t.tags...)
	}
	return v
}

// taskInClusterLocked resolves a task ARN or ID within a cluster.
func (s *Server) taskInClusterLocked(c *cluster, ref string) (*task, string) {
	arn := ref
	if !strings.HasPrefix(ref, "arn:") {
		arn = s.arn("ecs", "task/"+c.name+"/"+ref)
	}
	t := s.ecs.tasks[arn]
	if t == nil || t.cluster != c || s.expiredLocked(t) {
		return nil, arn
	}
	return t, arn
}

func (s *Server) ecsDescribeTasks(in *ecsDescribeTasksRequest, _ *request) (any, *apiError) {
	c, e := s.clusterLocked(in.Cluster)
	if e != nil {
		return nil, e
	}
	if len(in.Tasks) == 0 {
		return nil, invalidParam("Tasks cannot be empty.")
	}
	if len(in.Tasks) > 100 {
		return nil, invalidParam("Tasks cannot have more than 100 elements.")
	}
	withTags := slices.Contains(in.Include, "TAGS")
	out := ecsDescribeTasksResponse{Tasks: []ecsTask{}, Failures: []ecsFailure{}}
	for _, ref := range in.Tasks {
		t, arn := s.taskInClusterLocked(c, ref)
		if t == nil {
			out.Failures = append(out.Failures, ecsFailure{Arn: arn, Reason: "MISSING"})
			continue
		}
		out.Tasks = append(out.Tasks, s.taskViewLocked(t, withTags))
	}
	return out, nil
}

func (s *Server) ecsStopTask(in *ecsStopTaskRequest, _ *request) (any, *apiError) {
	c, e := s.clusterLocked(in.Cluster)
	if e != nil {
		return nil, e
	}
	if len(in.Reason) > 255 {
		return nil, invalidParam("reason can be at most 255 characters.")
	}
	t, _ := s.taskInClusterLocked(c, in.Task)
	if t == nil {
		return nil, invalidParam(msgTaskNotFound)
	}
	reason := in.Reason
	if reason == "" {
		reason = msgStoppedByUser
	}
	s.stopLocked(t, s.now(), "UserInitiated", reason)
	s.armLocked()
	return ecsStopTaskResponse{Task: new(s.taskViewLocked(t, false))}, nil
}

func (s *Server) ecsListTasks(in *ecsListTasksRequest, _ *request) (any, *apiError) {
	c, e := s.clusterLocked(in.Cluster)
	if e != nil {
		return nil, e
	}
	desired := in.DesiredStatus
	switch desired {
	case "":
		desired = "RUNNING"
	case "RUNNING", "PENDING", "STOPPED":
	default:
		return nil, invalidParam("Invalid desiredStatus '%s'.", desired)
	}
	if in.MaxResults != nil && (*in.MaxResults < 1 || *in.MaxResults > 100) {
		return nil, invalidParam("maxResults must be between 1 and 100.")
	}
	var tasks []*task
	for _, t := range s.ecs.tasks {
		switch {
		case t.cluster != c || s.expiredLocked(t) || t.desiredStatus != desired:
		case in.Family != "" && t.def.fam.name != in.Family:
		case in.StartedBy != "" && t.startedBy != in.StartedBy:
		case in.LaunchType != "" && t.launchType != in.LaunchType:
		case in.ServiceName != "" || in.DaemonName != "":
		case in.ContainerInstance != "" && (t.instance == nil || (t.instance.arn != in.ContainerInstance && !strings.HasSuffix(t.instance.arn, "/"+in.ContainerInstance))):
		default:
			tasks = append(tasks, t)
		}
	}
	slices.SortFunc(tasks, func(a, b *task) int { return a.seq - b.seq })
	arns := make([]string, len(tasks))
	for i, t := range tasks {
		arns[i] = t.arn
	}
	items, next, err := ecsPage(arns, in.NextToken, in.MaxResults, 100)
	if err != nil {
		return nil, err
	}
	return ecsListTasksResponse{TaskArns: append([]string{}, items...), NextToken: next}, nil
}
