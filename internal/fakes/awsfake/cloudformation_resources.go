package awsfake

import (
	"encoding/json"
	"fmt"
	"strings"
)

// physicalName is the name CloudFormation generates for a resource whose
// template names none: stack, logical ID and a random suffix, cut to the
// service's limit.
func (s *Server) physicalNameLocked(stack, logical string, limit int) string {
	suffix := "-" + strings.ToUpper(s.newIDLocked(12))
	base := stack + "-" + logical
	if len(base)+len(suffix) > limit {
		base = base[:max(1, limit-len(suffix))]
	}
	return base + suffix
}

func propString(props any, key string) string {
	m, _ := props.(map[string]any)
	if m == nil {
		return ""
	}
	v, _ := m[key].(string)
	return v
}

// materializeLocked gives a resource its physical ID and the attributes
// Fn::GetAtt may read, from its resolved properties, the way each service
// names and identifies what it creates. Types the fake does not know get
// a generated name and answer any attribute.
func (s *Server) materializeLocked(stack, logical, typ string, props any) *cfnResolved {
	region, acct := s.opts.Region, s.opts.AccountID
	r := &cfnResolved{name: logical, typ: typ, properties: props, attrs: map[string]string{}}
	arn := func(svc, res string) string { return fmt.Sprintf("arn:aws:%s:%s:%s:%s", svc, region, acct, res) }
	switch typ {
	case "AWS::SQS::Queue":
		name := propString(props, "QueueName")
		if name == "" {
			name = s.physicalNameLocked(stack, logical, 80)
		}
		r.physical = fmt.Sprintf("https://sqs.%s.amazonaws.com/%s/%s", region, acct, name)
		r.attrs = map[string]string{"Arn": arn("sqs", name), "QueueName": name, "QueueUrl": r.physical}
	case "AWS::SQS::QueuePolicy", "AWS::IAM::Policy":
		r.physical = stack + "-" + logical + "-" + strings.ToUpper(s.newIDLocked(12))
		r.attrs = map[string]string{"Id": r.physical}
	case "AWS::Events::Rule":
		name := propString(props, "Name")
		if name == "" {
			name = s.physicalNameLocked(stack, logical, 64)
		}
		r.physical = name
		r.attrs = map[string]string{"Arn": arn("events", "rule/"+name)}
	case "AWS::IAM::Role":
		name := propString(props, "RoleName")
		if name == "" {
			name = s.physicalNameLocked(stack, logical, 64)
		}
		r.physical = name
		r.attrs = map[string]string{"Arn": "arn:aws:iam::" + acct + ":role/" + name, "RoleId": "AROA" + strings.ToUpper(s.newIDLocked(17))}
	case "AWS::IAM::ManagedPolicy":
		name := propString(props, "ManagedPolicyName")
		if name == "" {
			name = s.physicalNameLocked(stack, logical, 128)
		}
		r.physical = "arn:aws:iam::" + acct + ":policy/" + name
		r.attrs = map[string]string{"PolicyArn": r.physical, "PolicyName": name}
	case "AWS::SecretsManager::Secret":
		name := propString(props, "Name")
		if name == "" {
			name = logical + "-" + s.newIDLocked(12)
		}
		r.physical = arn("secretsmanager", "secret:"+name+"-"+s.newIDLocked(6))
		r.attrs = map[string]string{"Id": r.physical}
	case "AWS::Logs::LogGroup":
		name := propString(props, "LogGroupName")
		if name == "" {
			name = s.physicalNameLocked(stack, logical, 512)
		}
		r.physical = name
		r.attrs = map[string]string{"Arn": arn("logs", "log-group:"+name+":*")}
	case "AWS::EC2::SecurityGroup":
		r.physical = "sg-" + s.newIDLocked(17)
		r.attrs = map[string]string{"GroupId": r.physical, "VpcId": propString(props, "VpcId")}
	case "AWS::ECS::TaskDefinition":
		family := propString(props, "Family")
		if family == "" {
			family = s.physicalNameLocked(stack, logical, 255)
		}
		r.physical = arn("ecs", "task-definition/"+family+":1")
		r.attrs = map[string]string{"TaskDefinitionArn": r.physical}
	case "AWS::ECS::Service":
		name := propString(props, "ServiceName")
		if name == "" {
			name = s.physicalNameLocked(stack, logical, 255)
		}
		cluster := propString(props, "Cluster")
		if i := strings.LastIndex(cluster, "/"); i >= 0 {
			cluster = cluster[i+1:]
		}
		if cluster == "" {
			cluster = "default"
		}
		r.physical = arn("ecs", "service/"+cluster+"/"+name)
		r.attrs = map[string]string{"Name": name, "ServiceArn": r.physical}
	case "AWS::SNS::Topic":
		name := propString(props, "TopicName")
		if name == "" {
			name = s.physicalNameLocked(stack, logical, 256)
		}
		r.physical = arn("sns", name)
		r.attrs = map[string]string{"TopicArn": r.physical, "TopicName": name}
	case "AWS::CloudWatch::Alarm":
		name := propString(props, "AlarmName")
		if name == "" {
			name = s.physicalNameLocked(stack, logical, 255)
		}
		r.physical = name
		r.attrs = map[string]string{"Arn": arn("cloudwatch", "alarm:"+name)}
	case "AWS::ApplicationAutoScaling::ScalableTarget":
		r.physical = propString(props, "ResourceId") + "|" + propString(props, "ScalableDimension") + "|" + propString(props, "ServiceNamespace")
	case "AWS::ApplicationAutoScaling::ScalingPolicy":
		r.physical = arn("autoscaling", "scalingPolicy:"+s.newUUIDLocked()+":resource/"+propString(props, "PolicyName"))
		r.attrs = map[string]string{"Arn": r.physical}
	case "AWS::CloudWatch::Dashboard":
		name := propString(props, "DashboardName")
		if name == "" {
			name = s.physicalNameLocked(stack, logical, 255)
		}
		r.physical = name
		r.attrs = map[string]string{} // a dashboard has no attributes
	case "AWS::EC2::LaunchTemplate":
		r.physical = "lt-" + s.newIDLocked(17)
		r.attrs = map[string]string{"LaunchTemplateId": r.physical, "LatestVersionNumber": "1", "DefaultVersionNumber": "1"}
	case "AWS::IAM::InstanceProfile":
		name := propString(props, "InstanceProfileName")
		if name == "" {
			name = s.physicalNameLocked(stack, logical, 128)
		}
		r.physical = name
		r.attrs = map[string]string{"Arn": "arn:aws:iam::" + acct + ":instance-profile/" + name}
	case "AWS::AutoScaling::AutoScalingGroup":
		name := propString(props, "AutoScalingGroupName")
		if name == "" {
			name = s.physicalNameLocked(stack, logical, 255)
		}
		r.physical = name
		r.attrs = map[string]string{}
	case "AWS::AutoScaling::WarmPool":
		r.physical = propString(props, "AutoScalingGroupName")
		r.attrs = map[string]string{}
	case "AWS::ECS::CapacityProvider":
		// Without a Name, CloudFormation derives one from the stack, which
		// ECS refuses when the stack's name starts with aws, ecs or fargate.
		name := propString(props, "Name")
		if name == "" {
			name = s.physicalNameLocked(stack, logical, 255)
		}
		r.physical = name
		r.attrs = map[string]string{}
	case "AWS::ECS::ClusterCapacityProviderAssociations":
		r.physical = clusterName(propString(props, "Cluster"))
		r.attrs = map[string]string{}
	case "AWS::CloudFormation::WaitConditionHandle":
		r.physical = "https://cloudformation-waitcondition-" + region + ".s3.amazonaws.com/" + s.newIDLocked(24)
	default:
		r.physical = s.physicalNameLocked(stack, logical, 128)
		r.attrs = nil // any attribute
	}
	return r
}

// dashboardProblem is why the service's handler refuses a resource whose
// properties are wrong in a way CloudFormation learns only when it creates
// or updates it: a dashboard body must be a JSON object (after Fn::Sub)
// with an array of widgets, as PutDashboard checks. "" when none.
func dashboardProblem(typ string, props any) string {
	if typ != "AWS::CloudWatch::Dashboard" {
		return ""
	}
	var body struct {
		Widgets *[]map[string]any `json:"widgets"`
	}
	problem := ""
	if err := json.Unmarshal([]byte(propString(props, "DashboardBody")), &body); err != nil {
		problem = "Should be valid JSON: " + err.Error()
	} else if body.Widgets == nil {
		problem = "Should have required property 'widgets'"
	}
	if problem == "" {
		return ""
	}
	return fmt.Sprintf("Resource handler returned message: \"The dashboard body is invalid, there are 1 validation errors:\n[\n  {\n    \"dataPath\": \"\",\n    \"message\": \"%s\"\n  }\n] (Service: CloudWatch, Status Code: 400)\"", problem)
}

// attr answers GetAtt for types with no attribute table.
func (r *cfnResolved) attr(name string) (string, bool) {
	if r.attrs == nil {
		return r.physical + "." + name, true
	}
	v, ok := r.attrs[name]
	return v, ok
}
