package ecsrequest

import (
	"strings"

	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// CapacityStep is one launch choice of a capacity fallback chain: what the
// RunTask request's launchType or capacityProviderStrategy become on that
// step. Everything else in the request is the same on every step.
type CapacityStep struct {
	// LaunchType is set when the step names a launch type; Strategy (the
	// capacityProviderStrategy items, *jsonv.Object) otherwise. Both
	// empty is the cluster's default capacity provider strategy.
	LaunchType string
	Strategy   []any
	// Kind is where the step's task runs, which decides the ECS rules it
	// must satisfy.
	Kind LaunchKind
}

// Name is how the step is shown and recorded on the run: the launch type,
// or the strategy's providers joined by "+" ("FARGATE_SPOT", "my-asg").
func (s CapacityStep) Name() string {
	if s.LaunchType != "" {
		return s.LaunchType
	}
	names := capacityProviders(jsonv.ObjectOf("capacityProviderStrategy", s.Strategy))
	if len(names) == 0 {
		return "cluster default"
	}
	return strings.Join(names, "+")
}

// IsSpot tells whether the step runs on Fargate Spot alone.
func (s CapacityStep) IsSpot() bool { return s.Name() == "FARGATE_SPOT" }

// StepOfRequest reads step 0, the launch choice of the RunTask request
// itself.
func StepOfRequest(req *jsonv.Object, kind LaunchKind) CapacityStep {
	return CapacityStep{LaunchType: req.GetString("launchType"), Strategy: req.GetArray("capacityProviderStrategy"), Kind: kind}
}

// Apply returns a copy of the RunTask request that launches on step s:
// the request's launchType and capacityProviderStrategy are replaced by
// the step's, which ECS refuses together.
func (s CapacityStep) Apply(req *jsonv.Object) *jsonv.Object {
	out := jsonv.CloneObject(req)
	out.Delete("launchType")
	out.Delete("capacityProviderStrategy")
	if s.LaunchType != "" {
		out.Set("launchType", s.LaunchType)
	}
	if len(s.Strategy) > 0 {
		items := make([]any, len(s.Strategy))
		for i, e := range s.Strategy {
			if o, ok := e.(*jsonv.Object); ok {
				items[i] = jsonv.CloneObject(o)
			} else {
				items[i] = e
			}
		}
		out.Set("capacityProviderStrategy", items)
	}
	return out
}

// Steps lists the plan's launch choices in the order they are tried: the
// request's own (step 0), then the capacity fallback (steps 1..n).
func (p *Plan) Steps() []CapacityStep {
	return append([]CapacityStep{StepOfRequest(p.RunTask, p.Launch)}, p.Fallback...)
}

// AtStep is the plan that launches on step k of Steps: the same plan for
// step 0, else a copy whose RunTask request is that step's. A step that
// is not the last is marked FallsBack, so that the launcher returns a
// capacity shortage at once instead of waiting it out.
func (p *Plan) AtStep(k int) *Plan {
	last := k >= len(p.Fallback)
	if k == 0 {
		if last {
			return p
		}
		cp := *p
		cp.FallsBack = true
		return &cp
	}
	cp := *p
	step := p.Fallback[k-1]
	cp.RunTask = step.Apply(p.RunTask)
	if p.DefaultPublicIP {
		SetPublicIP(cp.RunTask, PublicIPFor(step.Kind))
	}
	cp.Launch = step.Kind
	cp.FallsBack = !last
	return &cp
}

// PublicIPFor is the assignPublicIp the worker gives by default to a task
// of kind in subnets it found: ENABLED on Fargate, which needs it to pull
// images from public subnets, nothing on EC2, where ECS refuses it.
func PublicIPFor(kind LaunchKind) string {
	if kind == LaunchFargate {
		return "ENABLED"
	}
	return ""
}

// SetPublicIP sets (or, with "", removes) the request's assignPublicIp,
// when it has an awsvpc configuration.
func SetPublicIP(req *jsonv.Object, v string) {
	aws := req.GetObject("networkConfiguration").GetObject("awsvpcConfiguration")
	switch {
	case aws == nil:
	case v == "":
		aws.Delete("assignPublicIp")
	default:
		aws.Set("assignPublicIp", v)
	}
}
