package awsfake

import (
	"encoding/json"
	"maps"
	"slices"
	"time"
)

// TaskView is a task as tests assert on it.
type TaskView struct {
	Arn, ID                   string
	Cluster, ClusterArn       string
	Family, TaskDefinitionArn string
	LastStatus, DesiredStatus string
	LaunchType                string
	CapacityProvider          string
	StartedBy, Group          string
	// Caller is the identity whose RunTask started the task: an IAM user,
	// or an assumed-role session (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION).
	Caller                  string
	ClientToken             string
	StopCode, StoppedReason string
	Tags                    map[string]string
	// ExitCodes has an entry per container; nil until the container exits
	// with a code.
	ExitCodes                       map[string]*int
	CreatedAt, StartedAt, StoppedAt time.Time
	Version                         int64
}

// Tasks lists every task launched, in launch order, as of now.
func (s *Server) Tasks() []TaskView {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked()
	ts := slices.Collect(maps.Values(s.ecs.tasks))
	slices.SortFunc(ts, func(a, b *task) int { return a.seq - b.seq })
	out := make([]TaskView, 0, len(ts))
	for _, t := range ts {
		v := TaskView{
			Arn: t.arn, ID: t.id, Cluster: t.cluster.name, ClusterArn: t.cluster.arn,
			Family: t.def.fam.name, TaskDefinitionArn: t.def.td.TaskDefinitionArn,
			LastStatus: t.lastStatus, DesiredStatus: t.desiredStatus, LaunchType: t.launchType,
			CapacityProvider: t.capacityProvider, StartedBy: t.startedBy, Group: t.group, Caller: t.caller,
			ClientToken: t.clientToken, StopCode: t.stopCode, StoppedReason: t.stoppedReason,
			Tags: map[string]string{}, ExitCodes: map[string]*int{},
			CreatedAt: t.createdAt, StartedAt: t.startedAt, StoppedAt: t.stoppedAt, Version: t.version,
		}
		for _, tg := range t.tags {
			v.Tags[tg.Key] = tg.Value
		}
		for _, c := range t.containers {
			if c.exitCode != nil {
				v.ExitCodes[c.name] = new(*c.exitCode)
			} else {
				v.ExitCodes[c.name] = nil
			}
		}
		out = append(out, v)
	}
	return out
}

// TaskDefinitionView is a registered revision.
type TaskDefinitionView struct {
	Arn, Family string
	Revision    int
	Status      string
	Tags        map[string]string
	// JSON is the taskDefinition object DescribeTaskDefinition returns.
	JSON json.RawMessage
}

// TaskDefinitions lists every revision of every family, by family name
// then revision.
func (s *Server) TaskDefinitions() []TaskDefinitionView {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := slices.Sorted(maps.Keys(s.ecs.families))
	var out []TaskDefinitionView
	for _, n := range names {
		for _, d := range s.ecs.families[n].revs {
			raw, _ := json.Marshal(d.td)
			v := TaskDefinitionView{Arn: d.td.TaskDefinitionArn, Family: n, Revision: *d.td.Revision,
				Status: d.td.Status, Tags: map[string]string{}, JSON: raw}
			for _, tg := range d.tags {
				v.Tags[tg.Key] = tg.Value
			}
			out = append(out, v)
		}
	}
	return out
}
