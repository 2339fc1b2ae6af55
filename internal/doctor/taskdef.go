package doctor

import (
	"slices"
	"strings"

	"github.com/ecsworker/ecsworker/internal/ecsrequest"
	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// taskDefinition registers the checks of what the job's task definition
// names: its roles, images and log groups. A job that runs an existing
// task definition (task_definition_arn) names none of them itself.
func (r *runner) taskDefinition(scope string, j Job) {
	td := j.Plan.TaskDefinition
	c := j.Clients
	overrides := j.Plan.RunTask.GetObject("overrides")
	if td == nil {
		arn := j.Plan.TaskDefinitionARN
		if s, isNew := r.add(catTaskDefinition, "taskdef|"+scope+"|"+c.Region+"|"+arn, "Task definition "+arn, j.Deployment); isNew {
			s.run = func() Check {
				return Check{Status: Skipped, Detail: "not checked: the job runs this existing task definition (task_definition_arn), whose roles, images and log groups only AWS knows"}
			}
		}
	}
	r.role(scope, j, "execution", td.GetString("executionRoleArn"))
	r.role(scope, j, "task", td.GetString("taskRoleArn"))
	r.role(scope, j, "execution", overrides.GetString("executionRoleArn"))
	r.role(scope, j, "task", overrides.GetString("taskRoleArn"))
	for _, cd := range containers(td) {
		if img := cd.GetString("image"); img != "" {
			r.image(scope, j, img)
		}
		lc := cd.GetObject("logConfiguration")
		if lc.GetString("logDriver") != "awslogs" {
			continue
		}
		opts := lc.GetObject("options")
		group := opts.GetString("awslogs-group")
		if group == "" {
			continue
		}
		region := opts.GetString("awslogs-region")
		if region == ecsrequest.MarkRegion || region == "" {
			region = c.Region
		}
		create := strings.EqualFold(opts.GetString("awslogs-create-group"), "true")
		r.logGroup(scope, j, region, group, create)
	}
}

func containers(td *jsonv.Object) []*jsonv.Object {
	var out []*jsonv.Object
	for _, e := range td.GetArray("containerDefinitions") {
		if o, ok := e.(*jsonv.Object); ok {
			out = append(out, o)
		}
	}
	return out
}

// addUnique appends s to list unless it is there.
func addUnique(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}
