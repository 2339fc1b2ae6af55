package awsfake

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/ecsworker/ecsworker/internal/lazyregexp"
)

// The resources of an EC2 capacity stack (launch template, instance
// profile, Auto Scaling group and warm pool, ECS capacity provider and its
// cluster association) are checked the way their services check them when
// CloudFormation creates them: a refusal fails the resource with the
// service's message and rolls the stack back. A created capacity provider
// and association act on the fake ECS: RunTask can then name the provider.

// capStates holds each server's Auto Scaling groups and SSM parameters
// beside it, as cfnStates does.
var capStates sync.Map // *Server -> *capState

type capState struct {
	ssm  map[string]string
	asgs map[string]map[string]any // by name: resolved properties
}

// The AMI IDs the fake's SSM answers for the ECS-optimised AMIs.
const (
	FakeECSAMI      = "ami-0ec5e0000000000a1"
	FakeECSAMIARM64 = "ami-0ec5e0000000000b2"
)

func (s *Server) capLocked() *capState {
	if v, ok := capStates.Load(s); ok {
		return v.(*capState)
	}
	v, _ := capStates.LoadOrStore(s, &capState{
		ssm: map[string]string{
			"/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id":       FakeECSAMI,
			"/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id": FakeECSAMIARM64,
			"/aws/service/ecs/optimized-ami/amazon-linux-2/recommended/image_id":          "ami-0ec5e0000000000c3",
		},
		asgs: map[string]map[string]any{},
	})
	return v.(*capState)
}

// SetSSMParameter sets (or, with value "", removes) a parameter of the
// SSM table that CloudFormation's SSM parameter types resolve against.
func (s *Server) SetSSMParameter(name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if value == "" {
		delete(s.capLocked().ssm, name)
		return
	}
	s.capLocked().ssm[name] = value
}

// AutoScalingGroup returns the resolved properties of an Auto Scaling
// group a stack created, by name.
func (s *Server) AutoScalingGroup(name string) (map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.capLocked().asgs[name]
	return g, ok
}

const ssmTypePrefix = "AWS::SSM::Parameter::Value<"

// resolveSSMLocked is the value of an SSM parameter-typed parameter: the
// parameter store's value of the name given.
func (s *Server) resolveSSMLocked(typ, name string) (string, *apiError) {
	if !strings.HasPrefix(typ, ssmTypePrefix) {
		return "", nil
	}
	v, ok := s.capLocked().ssm[name]
	if !ok {
		return "", newErr(400, "ValidationError", "Unable to fetch parameters [%s] from parameter store for this account.", name)
	}
	if strings.Contains(typ, "AWS::EC2::Image::Id") && !amiRE().MatchString(v) {
		return "", newErr(400, "ValidationError", "Parameter %s of type AWS::EC2::Image::Id resolved to %q, which is not an AMI ID", name, v)
	}
	return v, nil
}

var (
	amiRE             = lazyregexp.New(`^ami-[0-9a-f]{8,17}$`)
	providerNameRE    = lazyregexp.New(`^[A-Za-z0-9_-]{1,255}$`)
	capacityTypes     = []string{"AWS::EC2::LaunchTemplate", "AWS::IAM::InstanceProfile", "AWS::AutoScaling::AutoScalingGroup", "AWS::AutoScaling::WarmPool", "AWS::ECS::CapacityProvider", "AWS::ECS::ClusterCapacityProviderAssociations"}
	reservedProviders = []string{"aws", "ecs", "fargate"}
)

func propMap(v any, key string) map[string]any {
	m, _ := v.(map[string]any)
	if m == nil {
		return nil
	}
	sub, _ := m[key].(map[string]any)
	return sub
}

// propInt reads a number CloudFormation would coerce: a JSON number or a
// string of digits. ok is false when absent or not a number.
func propInt(v any, key string) (int, bool, bool) {
	m, _ := v.(map[string]any)
	x, present := m[key]
	if !present {
		return 0, false, true
	}
	switch t := x.(type) {
	case json.Number:
		n, err := strconv.Atoi(t.String())
		return n, true, err == nil
	case string:
		n, err := strconv.Atoi(t)
		return n, true, err == nil
	case float64:
		return int(t), true, t == float64(int(t))
	case int:
		return t, true, true
	}
	return 0, true, false
}

func propBool(v any, key string) bool {
	m, _ := v.(map[string]any)
	switch t := m[key].(type) {
	case bool:
		return t
	case string:
		return t == "true"
	}
	return false
}

func handlerMsg(service, code, format string, args ...any) string {
	return fmt.Sprintf("Resource handler returned message: \"%s\" (Service: %s, Status Code: 400, Error Code: %s)", fmt.Sprintf(format, args...), service, code)
}

// checkCapacityResourceLocked returns why the service would refuse to
// create or update r, or "". planned are the plan's resources so far, by
// logical ID: those it refers to are created before it.
func (s *Server) checkCapacityResourceLocked(stackID string, r *cfnResolved, planned map[string]*cfnResolved) string {
	owner := stackID + "/" + r.name
	if !slices.Contains(capacityTypes, r.typ) {
		return ""
	}
	props := r.properties
	plannedASG := func(name string) (map[string]any, bool) {
		for _, p := range planned {
			if p.typ == "AWS::AutoScaling::AutoScalingGroup" && p.physical == name {
				m, _ := p.properties.(map[string]any)
				return m, true
			}
		}
		if i := strings.LastIndex(name, "autoScalingGroupName/"); i >= 0 {
			name = name[i+len("autoScalingGroupName/"):]
		}
		g, ok := s.capLocked().asgs[name]
		return g, ok
	}
	switch r.typ {
	case "AWS::EC2::LaunchTemplate":
		data := propMap(props, "LaunchTemplateData")
		if data == nil {
			return "Properties validation failed for resource " + r.name + " with message: #: required key [LaunchTemplateData] not found"
		}
		if id := propString(data, "ImageId"); id != "" && !amiRE().MatchString(id) {
			return handlerMsg("Ec2", "InvalidAMIID.Malformed", "Invalid id: \"%s\" (expecting \"ami-...\")", id)
		}
	case "AWS::IAM::InstanceProfile":
		m, _ := props.(map[string]any)
		if roles, _ := m["Roles"].([]any); len(roles) != 1 {
			return handlerMsg("Iam", "LimitExceeded", "An instance profile holds exactly one role; got %d", len(roles))
		}
	case "AWS::AutoScaling::AutoScalingGroup":
		minSize, hasMin, okMin := propInt(props, "MinSize")
		maxSize, hasMax, okMax := propInt(props, "MaxSize")
		if !hasMin || !hasMax || !okMin || !okMax {
			return "Properties validation failed for resource " + r.name + " with message: #: MinSize and MaxSize are required integers"
		}
		if maxSize < minSize {
			return handlerMsg("AutoScaling", "ValidationError", "Max bound, %d, must be greater than or equal to min bound, %d", maxSize, minSize)
		}
		if d, has, ok := propInt(props, "DesiredCapacity"); has && (!ok || d < minSize || d > maxSize) {
			return handlerMsg("AutoScaling", "ValidationError", "Desired capacity:%d must be between the specified min size:%d and max size:%d", d, minSize, maxSize)
		}
		m, _ := props.(map[string]any)
		if m["LaunchTemplate"] == nil && m["MixedInstancesPolicy"] == nil && m["LaunchConfigurationName"] == nil && m["InstanceId"] == nil {
			return handlerMsg("AutoScaling", "ValidationError", "Valid requests must contain either LaunchTemplate, LaunchConfigurationName, InstanceId or MixedInstancesPolicy parameter.")
		}
		subnets, _ := m["VPCZoneIdentifier"].([]any)
		for _, x := range subnets {
			if id, _ := x.(string); s.ec2.subnet(id) == nil {
				return handlerMsg("AutoScaling", "ValidationError", "The subnet ID '%s' does not exist", id)
			}
		}
	case "AWS::AutoScaling::WarmPool":
		asg := propString(props, "AutoScalingGroupName")
		g, ok := plannedASG(asg)
		if !ok {
			return handlerMsg("AutoScaling", "ValidationError", "AutoScalingGroup name not found - %s", asg)
		}
		if g["MixedInstancesPolicy"] != nil {
			return handlerMsg("AutoScaling", "ValidationError", "You can't add a warm pool to an Auto Scaling group that has a mixed instances policy or a launch template or launch configuration that requests Spot Instances.")
		}
		if st := propString(props, "PoolState"); st != "" && !slices.Contains([]string{"Stopped", "Running", "Hibernated"}, st) {
			return "Properties validation failed for resource " + r.name + " with message: #/PoolState: " + st + " is not a valid enum value"
		}
		minSize, hasMin, okMin := propInt(props, "MinSize")
		maxPrep, hasMax, okMax := propInt(props, "MaxGroupPreparedCapacity")
		switch {
		case !okMin || !okMax || (hasMin && minSize < 0) || (hasMax && maxPrep < -1):
			return "Properties validation failed for resource " + r.name + " with message: #: MinSize must be 0 or more and MaxGroupPreparedCapacity -1 or more"
		case hasMin && hasMax && maxPrep != -1 && minSize > maxPrep:
			return handlerMsg("AutoScaling", "ValidationError", "The warm pool's MinSize (%d) cannot be greater than its MaxGroupPreparedCapacity (%d).", minSize, maxPrep)
		}
	case "AWS::ECS::CapacityProvider":
		name := r.physical
		lower := strings.ToLower(name)
		if !providerNameRE().MatchString(name) || slices.ContainsFunc(reservedProviders, func(p string) bool { return strings.HasPrefix(lower, p) }) {
			return handlerMsg("AmazonECS", "ClientException", "The specified capacity provider name is invalid. Up to 255 characters are allowed, including letters (upper and lowercase), numbers, underscores, and hyphens. The name cannot be prefixed with \"aws\", \"ecs\", or \"fargate\".")
		}
		if p := s.ecs.providers[name]; p != nil && p.owner != owner {
			return handlerMsg("AmazonECS", "ClientException", "The specified capacity provider already exists. To change the configuration of an existing capacity provider, update the capacity provider.")
		}
		asgp := propMap(props, "AutoScalingGroupProvider")
		if asgp == nil {
			return "Properties validation failed for resource " + r.name + " with message: #: required key [AutoScalingGroupProvider] not found"
		}
		asgRef := propString(asgp, "AutoScalingGroupArn")
		g, ok := plannedASG(asgRef)
		if !ok {
			return handlerMsg("AmazonECS", "ClientException", "The specified Auto Scaling group ARN is not valid. Specify a valid Auto Scaling group ARN and try again.")
		}
		for _, p := range s.ecs.providers {
			if p.asg != "" && p.asg == asgRef && p.owner != owner {
				return handlerMsg("AmazonECS", "ClientException", "The specified Auto Scaling group is already in use by another capacity provider.")
			}
		}
		// Providers of the same plan created before this one: ECS sees
		// them by the time this one is created.
		for _, p := range planned {
			if p.typ != "AWS::ECS::CapacityProvider" || p.name == r.name {
				continue
			}
			if p.physical == name {
				return handlerMsg("AmazonECS", "ClientException", "The specified capacity provider already exists. To change the configuration of an existing capacity provider, update the capacity provider.")
			}
			if propString(propMap(p.properties, "AutoScalingGroupProvider"), "AutoScalingGroupArn") == asgRef {
				return handlerMsg("AmazonECS", "ClientException", "The specified Auto Scaling group is already in use by another capacity provider.")
			}
		}
		scaling := propMap(asgp, "ManagedScaling")
		if t, has, ok := propInt(scaling, "TargetCapacity"); has && (!ok || t < 1 || t > 100) {
			return handlerMsg("AmazonECS", "ClientException", "The managed scaling target capacity must be between 1 and 100.")
		}
		if propString(asgp, "ManagedTerminationProtection") == "ENABLED" {
			if propString(scaling, "Status") != "ENABLED" {
				return handlerMsg("AmazonECS", "ClientException", "The managed termination protection setting for the capacity provider is invalid. To enable managed termination protection for a capacity provider, the capacity provider must have managed scaling enabled.")
			}
			if !propBool(g, "NewInstancesProtectedFromScaleIn") {
				return handlerMsg("AmazonECS", "ClientException", "The managed termination protection setting for the capacity provider is invalid. To enable managed termination protection for a capacity provider, the Auto Scaling group must have instance protection from scale in enabled.")
			}
		}
	case "AWS::ECS::ClusterCapacityProviderAssociations":
		if _, e := s.clusterLocked(propString(props, "Cluster")); e != nil {
			return handlerMsg("AmazonECS", "ClusterNotFoundException", "%s", e.message)
		}
		m, _ := props.(map[string]any)
		var providers []string
		for _, x := range anyList(m["CapacityProviders"]) {
			name, _ := x.(string)
			created := false
			for _, p := range planned {
				created = created || (p.typ == "AWS::ECS::CapacityProvider" && p.physical == name)
			}
			if !created && s.ecs.providers[name] == nil {
				return handlerMsg("AmazonECS", "InvalidParameterException", "The specified capacity provider '%s' is not in an ACTIVE state. Specify a valid capacity provider and try again.", name)
			}
			providers = append(providers, name)
		}
		strategy, bad := strategyOf(m["DefaultCapacityProviderStrategy"])
		if bad != "" {
			return "Properties validation failed for resource " + r.name + " with message: " + bad
		}
		for _, it := range strategy {
			if !slices.Contains(providers, it.CapacityProvider) {
				return handlerMsg("AmazonECS", "InvalidParameterException", "%s", msgCPNotInCluster)
			}
		}
		if e := checkStrategyShape(s, strategy); e != nil {
			return handlerMsg("AmazonECS", "InvalidParameterException", "%s", e.message)
		}
	}
	return ""
}

func anyList(v any) []any {
	l, _ := v.([]any)
	return l
}

// strategyOf reads a CloudFormation strategy (CapacityProvider, Weight,
// Base) as ECS's items.
func strategyOf(v any) ([]ecsCapacityProviderStrategyItem, string) {
	out := []ecsCapacityProviderStrategyItem{}
	for _, x := range anyList(v) {
		m, _ := x.(map[string]any)
		name := propString(m, "CapacityProvider")
		if name == "" {
			return nil, "#/DefaultCapacityProviderStrategy: required key [CapacityProvider] not found"
		}
		it := ecsCapacityProviderStrategyItem{CapacityProvider: name}
		if w, has, ok := propInt(m, "Weight"); has {
			if !ok {
				return nil, "#/DefaultCapacityProviderStrategy/Weight: expected an integer"
			}
			it.Weight = new(w)
		}
		if b, has, ok := propInt(m, "Base"); has {
			if !ok {
				return nil, "#/DefaultCapacityProviderStrategy/Base: expected an integer"
			}
			it.Base = new(b)
		}
		out = append(out, it)
	}
	return out, ""
}

// applyCapacityResourceLocked makes a created (or updated) resource act
// on the fake's services; unapply undoes it when the resource is deleted.
func (s *Server) applyCapacityResourceLocked(stackID string, r *cfnResolved) {
	switch r.typ {
	case "AWS::AutoScaling::AutoScalingGroup":
		m, _ := r.properties.(map[string]any)
		s.capLocked().asgs[r.physical] = m
	case "AWS::ECS::CapacityProvider":
		asgp := propMap(r.properties, "AutoScalingGroupProvider")
		p := &capacityProvider{name: r.physical, owner: stackID + "/" + r.name, asg: propString(asgp, "AutoScalingGroupArn"),
			termination: propString(asgp, "ManagedTerminationProtection")}
		if t, has, ok := propInt(propMap(asgp, "ManagedScaling"), "TargetCapacity"); has && ok {
			p.target = t
		}
		s.ecs.providers[r.physical] = p
	case "AWS::ECS::ClusterCapacityProviderAssociations":
		c, e := s.clusterLocked(propString(r.properties, "Cluster"))
		if e != nil {
			return
		}
		m, _ := r.properties.(map[string]any)
		c.capacityProviders = nil
		for _, x := range anyList(m["CapacityProviders"]) {
			name, _ := x.(string)
			c.capacityProviders = append(c.capacityProviders, name)
		}
		c.defaultStrategy, _ = strategyOf(m["DefaultCapacityProviderStrategy"])
	}
}

func (s *Server) unapplyCapacityResourceLocked(stackID string, r *cfnResolved) {
	switch r.typ {
	case "AWS::AutoScaling::AutoScalingGroup":
		delete(s.capLocked().asgs, r.physical)
	case "AWS::ECS::CapacityProvider":
		if p := s.ecs.providers[r.physical]; p != nil && p.owner == stackID+"/"+r.name {
			delete(s.ecs.providers, r.physical)
		}
	case "AWS::ECS::ClusterCapacityProviderAssociations":
		// Deleting the association leaves the cluster with no providers
		// and no default strategy.
		if c, e := s.clusterLocked(propString(r.properties, "Cluster")); e == nil {
			c.capacityProviders, c.defaultStrategy = nil, nil
		}
	}
}

// ClusterCapacityProviders returns a cluster's capacity providers and the
// providers of its default strategy, as DescribeClusters shows them.
func (s *Server) ClusterCapacityProviders(name string) (providers, strategy []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, e := s.clusterLocked(name)
	if e != nil {
		return nil, nil
	}
	for _, it := range c.defaultStrategy {
		strategy = append(strategy, it.CapacityProvider)
	}
	return slices.Clone(c.capacityProviders), strategy
}
