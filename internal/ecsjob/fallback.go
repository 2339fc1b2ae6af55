package ecsjob

import (
	"slices"
	"strconv"
	"strings"

	"github.com/ecsworker/ecsworker/internal/ecsrequest"
	"github.com/ecsworker/ecsworker/internal/ecsshape"
	"github.com/ecsworker/ecsworker/internal/jobconfig"
	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// stepFix is the way out of any problem with one fallback step.
const stepFix = `Give each step either "launch_type" (FARGATE, EC2, EXTERNAL, FARGATE_SPOT) or "capacity_provider_strategy" (ECS's list of {"capacityProvider", "weight", "base"}), e.g. [{"capacity_provider_strategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]}, {"launch_type": "FARGATE"}].`

// parseFallback reads the capacity_fallback entries into steps 1..n. An
// entry that cannot be read is reported and left out.
func parseFallback(list []any, c *jobconfig.Collector) []ecsrequest.CapacityStep {
	var steps []ecsrequest.CapacityStep
	for i, e := range list {
		f := stepField(i)
		o, ok := e.(*jsonv.Object)
		if !ok {
			if e == nil {
				c.FailNoValue(f, "an empty entry: a step must say where to launch.", "Remove it. "+stepFix)
			} else {
				c.Fail(f, e, "expected an object, got "+jsonv.TypeName(e)+".", stepFix)
			}
			continue
		}
		for _, k := range o.Keys() {
			if k != "launch_type" && k != "capacity_provider_strategy" {
				c.Fail(f+"."+k, o, "unknown key: a step has launch_type or capacity_provider_strategy, nothing else (the rest of the request is the same on every step).", stepFix)
			}
		}
		lt, _ := o.Get("launch_type")
		cps, _ := o.Get("capacity_provider_strategy")
		switch {
		case lt != nil && cps != nil:
			c.Fail(f, o, "a step has both launch_type and capacity_provider_strategy; ECS refuses a RunTask request with both.", "Keep one of them, or make them two steps.")
			continue
		case lt == nil && cps == nil:
			c.Fail(f, o, "an empty entry: a step must say where to launch.", "Remove it. "+stepFix)
			continue
		case lt != nil:
			s, isStr := lt.(string)
			switch {
			case !isStr:
				c.Fail(f+".launch_type", lt, "expected a string, got "+jsonv.TypeName(lt)+".", stepFix)
			case s == "FARGATE_SPOT":
				// As RunTask's own launch_type: FARGATE_SPOT is a provider.
				steps = append(steps, ecsrequest.CapacityStep{Strategy: []any{jsonv.ObjectOf("capacityProvider", "FARGATE_SPOT", "weight", 1)}, Kind: ecsrequest.LaunchFargate})
			case s == "FARGATE" || s == "EC2" || s == "EXTERNAL":
				steps = append(steps, ecsrequest.CapacityStep{LaunchType: s, Kind: ecsrequest.LaunchKind(s)})
			default:
				c.Fail(f+".launch_type", lt, "not a launch type.", "Use FARGATE, EC2, EXTERNAL or FARGATE_SPOT.")
			}
		default:
			if s, ok := parseStrategy(f+".capacity_provider_strategy", cps, c); ok {
				steps = append(steps, s)
			}
		}
	}
	return steps
}

// parseStrategy reads one step's capacity provider strategy.
func parseStrategy(f string, v any, c *jobconfig.Collector) (ecsrequest.CapacityStep, bool) {
	arr, ok := v.([]any)
	if !ok || len(arr) == 0 {
		c.Fail(f, v, "expected a non-empty list of capacity providers.", `Give e.g. [{"capacityProvider": "FARGATE_SPOT", "weight": 1}].`)
		return ecsrequest.CapacityStep{}, false
	}
	items := make([]any, 0, len(arr))
	fargate := 0
	for i, e := range arr {
		o, isObj := e.(*jsonv.Object)
		if !isObj || o.GetString("capacityProvider") == "" {
			c.Fail(f+"["+strconv.Itoa(i)+"]", e, "each item needs a capacityProvider name.", `Give e.g. {"capacityProvider": "FARGATE_SPOT", "weight": 1}.`)
			return ecsrequest.CapacityStep{}, false
		}
		if p := o.GetString("capacityProvider"); p == "FARGATE" || p == "FARGATE_SPOT" {
			fargate++
		}
		items = append(items, jsonv.CloneObject(o))
	}
	kind := ecsrequest.LaunchEC2
	switch fargate {
	case len(items):
		kind = ecsrequest.LaunchFargate
	case 0:
	default:
		c.Fail(f, v, "a step cannot mix Fargate providers (FARGATE, FARGATE_SPOT) with EC2 Auto Scaling group providers; ECS refuses such a strategy.", "Make them two steps: e.g. your EC2 provider first, then FARGATE.")
		return ecsrequest.CapacityStep{}, false
	}
	return ecsrequest.CapacityStep{Strategy: items, Kind: kind}, true
}

func stepField(i int) string { return "capacity_fallback[" + strconv.Itoa(i) + "]" }

// anyFargate tells whether a step runs on Fargate, so that the task
// definition the worker prepares must suit Fargate (awsvpc, task-level
// sizes), which also runs on EC2.
func anyFargate(steps []ecsrequest.CapacityStep) bool {
	return slices.ContainsFunc(steps, func(s ecsrequest.CapacityStep) bool { return s.Kind == ecsrequest.LaunchFargate })
}

// checkFallback holds every fallback step to the rules its launch kind
// must satisfy, with the task definition and the request of step 0, and
// refuses chains that cannot work: duplicate steps, ECS Anywhere mixed
// with Fargate. A step's problems that step 0 already has are not
// repeated.
func checkFallback(cfg *jobconfig.Config, rc ecsrequest.RunContext, plan *ecsrequest.Plan, req, td *jsonv.Object, kind ecsrequest.LaunchKind, steps []ecsrequest.CapacityStep, c *jobconfig.Collector) {
	step0 := ecsrequest.StepOfRequest(req, kind)
	seen := map[string]string{step0.Name(): "step 0, the task's own launch_type or capacity_provider_strategy"}
	external, fargate := kind == ecsrequest.LaunchExternal, kind == ecsrequest.LaunchFargate
	for i, s := range steps {
		f := stepField(i)
		if prev, dup := seen[s.Name()]; dup {
			c.Fail(f, s.Name(), "the same capacity as "+prev+": a shortage there is a shortage here.", "Remove the duplicate step.")
			continue
		}
		seen[s.Name()] = f
		external = external || s.Kind == ecsrequest.LaunchExternal
		fargate = fargate || s.Kind == ecsrequest.LaunchFargate
		if external && fargate {
			c.Fail(f, s.Name(), "ECS Anywhere (EXTERNAL) and Fargate cannot share a chain: Fargate runs only awsvpc task definitions, EXTERNAL never does.", "Use separate deployments for ECS Anywhere and for Fargate.")
			continue
		}

		sub := &jobconfig.Collector{}
		stepReq := s.Apply(req)
		if plan.DefaultPublicIP {
			ecsrequest.SetPublicIP(stepReq, ecsrequest.PublicIPFor(s.Kind))
		}
		if ip := stepReq.GetObject("networkConfiguration").GetObject("awsvpcConfiguration").GetString("assignPublicIp"); ip == "ENABLED" && s.Kind != ecsrequest.LaunchFargate {
			sub.Fail(rc.FieldFor("assign_public_ip", "task_run_request.networkConfiguration.awsvpcConfiguration.assignPublicIp"), ip, "ECS gives public IPs only to Fargate tasks; it refuses assignPublicIp ENABLED on EC2.", "Remove assign_public_ip (the worker then sets it per step), or set it to false.")
		}
		if td != nil {
			checkTaskDefinition(cfg, rc, td, s.Kind, sub)
		}
		checkRunTask(rc, stepReq, td, s.Kind, sub)
		for _, p := range ecsshape.Check(stepReq, "RunTask") {
			sub.FailNoValue(f, p.Message, stepFix)
		}
		for _, p := range sub.Problems {
			if slices.ContainsFunc(c.Problems, func(q jobconfig.Problem) bool { return q.Field == p.Field && q.Message == p.Message }) {
				continue
			}
			if strings.HasPrefix(p.Field, "capacity_provider_strategy") || strings.HasPrefix(p.Field, "task_run_request.capacityProviderStrategy") || p.Field == "launch_type" {
				p.Field = f
			}
			p.Message = "on " + f + " (" + s.Name() + "): " + p.Message
			if p.Field != f {
				p.Fix += " Or remove " + f + "."
			}
			c.Problems = append(c.Problems, p)
		}
	}
	if cfg.RelaunchOnSpotInterruption && len(steps) == 0 {
		c.Warn("relaunch_on_spot_interruption", "has no effect without capacity_fallback: a task Spot takes back is relaunched on the next step of capacity_fallback, and there is none.")
	}
}
