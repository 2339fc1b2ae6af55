package ecsrequest

import (
	"strconv"

	"github.com/ecsworker/ecsworker/internal/jobconfig"
	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// NetworkMode is the task definition's network mode as ECS applies it:
// awsvpc when unset on Fargate, bridge when unset elsewhere (Linux).
func NetworkMode(td *jsonv.Object, kind LaunchKind) string {
	if m := td.GetString("networkMode"); m != "" {
		return m
	}
	if kind == LaunchFargate {
		return "awsvpc"
	}
	return "bridge"
}

// ApplyNetwork fills RunTask's networkConfiguration for awsvpc tasks. In
// order of precedence: the network_configuration variable (checked against
// vpc_id by the AWS layer), the subnets/security_groups/assign_public_ip
// shortcuts, a networkConfiguration already in the request, and last the
// subnets of vpc_id or of the default VPC, which only AWS can list.
func ApplyNetwork(cfg *jobconfig.Config, rc RunContext, req *jsonv.Object, mode string, modeKnown bool, c *jobconfig.Collector, plan *Plan) {
	shortcuts := len(cfg.Subnets) > 0 || len(cfg.SecurityGroups) > 0 || cfg.AssignPublicIP != nil
	custom := cfg.NetworkConfiguration.Len() > 0
	if custom && shortcuts {
		c.Fail("network_configuration", cfg.NetworkConfiguration, "network_configuration and subnets/security_groups/assign_public_ip both describe the task's network.", "Keep one: the shortcuts subnets, security_groups and assign_public_ip are simpler.")
		return
	}
	if mode != "awsvpc" {
		if !modeKnown {
			return
		}
		if shortcuts {
			c.Fail(firstSet(cfg), nil, "subnets, security groups and public IPs apply only to tasks in awsvpc network mode; this task definition uses "+strconv.Quote(mode)+".", `Remove them, or set "networkMode": "awsvpc" in the task definition.`)
			c.Problems[len(c.Problems)-1].HasValue = false
		}
		if custom {
			c.Warn("network_configuration", "ignored: the task definition's network mode is %q, and only awsvpc tasks take a network configuration.", mode)
		}
		if v, ok := req.Get("networkConfiguration"); ok {
			c.Fail("task_run_request.networkConfiguration", v, "ECS refuses a network configuration for a task definition in "+strconv.Quote(mode)+" network mode.", "Remove networkConfiguration from the pool's task_run_request, or use awsvpc network mode.")
		}
		return
	}

	assign := ""
	if cfg.AssignPublicIP != nil {
		assign = "DISABLED"
		if *cfg.AssignPublicIP {
			assign = "ENABLED"
		}
	}
	switch {
	case custom:
		aws := jsonv.CloneObject(cfg.NetworkConfiguration)
		var subnets []string
		for _, s := range aws.GetArray("subnets") {
			if str, ok := s.(string); ok {
				subnets = append(subnets, str)
			}
		}
		if len(subnets) == 0 {
			c.Fail("network_configuration", cfg.NetworkConfiguration, "an awsvpc network configuration needs at least one subnet; ECS refuses one without.", `Add "subnets": ["subnet-..."].`)
		}
		req.Set("networkConfiguration", jsonv.ObjectOf("awsvpcConfiguration", aws))
		plan.Network = &NetworkPlan{VPCID: cfg.VPCID, CheckSubnets: subnets}
	case len(cfg.Subnets) > 0:
		if cfg.VPCID != "" {
			plan.Network = &NetworkPlan{VPCID: cfg.VPCID, CheckSubnets: cfg.Subnets}
		}
		aws := jsonv.ObjectOf("subnets", toAny(cfg.Subnets))
		if len(cfg.SecurityGroups) > 0 {
			aws.Set("securityGroups", toAny(cfg.SecurityGroups))
		}
		if assign != "" {
			aws.Set("assignPublicIp", assign)
		}
		req.Set("networkConfiguration", jsonv.ObjectOf("awsvpcConfiguration", aws))
	case hasSubnets(req):
		aws := req.GetObject("networkConfiguration").GetObject("awsvpcConfiguration")
		if len(cfg.SecurityGroups) > 0 {
			aws.Set("securityGroups", toAny(cfg.SecurityGroups))
		}
		if assign != "" {
			aws.Set("assignPublicIp", assign)
		}
	default:
		if assign == "" {
			// Subnets found this way include public ones, where a Fargate
			// task needs a public IP to pull its image: the Python worker's
			// choice, kept so that switching workers changes nothing.
			assign = "ENABLED"
		}
		aws := jsonv.ObjectOf("subnets", []any{MarkSubnets}, "assignPublicIp", assign)
		if len(cfg.SecurityGroups) > 0 {
			aws.Set("securityGroups", toAny(cfg.SecurityGroups))
		}
		req.Set("networkConfiguration", jsonv.ObjectOf("awsvpcConfiguration", aws))
		where := "the default VPC"
		if cfg.VPCID != "" {
			where = "VPC " + cfg.VPCID
		}
		plan.Network = &NetworkPlan{Infer: true, VPCID: cfg.VPCID, SecurityGroups: cfg.SecurityGroups, AssignPublicIP: assign}
		plan.Unresolved = append(plan.Unresolved, Unresolved{
			Path:   "runTask.networkConfiguration.awsvpcConfiguration.subnets",
			Reason: "the worker uses every subnet of " + where + "; set the subnets variable to choose them",
		})
	}
}

func hasSubnets(req *jsonv.Object) bool {
	return len(req.GetObject("networkConfiguration").GetObject("awsvpcConfiguration").GetArray("subnets")) > 0
}

func firstSet(cfg *jobconfig.Config) string {
	switch {
	case len(cfg.Subnets) > 0:
		return "subnets"
	case len(cfg.SecurityGroups) > 0:
		return "security_groups"
	}
	return "assign_public_ip"
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, e := range s {
		out[i] = e
	}
	return out
}
