package infra_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ecsworker/ecsworker/internal/cfnstack"
	"github.com/ecsworker/ecsworker/internal/infra"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/jsonv/jsonvtest"
)

const testImage = "ghcr.io/ecsworker/ecsworker:v0.0.0-test"

func TestTemplatesGolden(t *testing.T) {
	t.Parallel()
	for _, kind := range cfnstack.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			pretty, err := infra.Pretty(kind, testImage)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, string(kind)+".template.json", pretty)
			var v any
			if err := json.Unmarshal(pretty, &v); err != nil {
				t.Fatalf("the %s template is not JSON: %v", kind, err)
			}
			body, err := infra.Body(kind, testImage)
			if err != nil {
				t.Fatal(err)
			}
			if len(body) > infra.MaxTemplateBody*3/4 {
				t.Errorf("the %s template is %d bytes; keep a margin under CloudFormation's %d", kind, len(body), infra.MaxTemplateBody)
			}
		})
	}
}

func TestTemplatesLint(t *testing.T) {
	t.Parallel()
	for _, kind := range cfnstack.Kinds {
		tmpl, err := infra.Render(kind, testImage)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range lint(tmpl) {
			t.Errorf("%s: %v", kind, e)
		}
	}
}

func TestLintFindsBrokenReferences(t *testing.T) {
	t.Parallel()
	base := `"Parameters": {"P": {"Type": "String"}}, "Conditions": {"C": {"Fn::Equals": [{"Ref": "P"}, "x"]}}`
	tests := map[string]struct {
		resources string
		outputs   string
		want      string // "" means no problem
	}{
		"all fine": {
			resources: `"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::Sub": "${P}-${AWS::Region}-${!Literal}"}}},
			            "S": {"Type": "AWS::SecretsManager::Secret", "Condition": "C"},
			            "R": {"Type": "AWS::Events::Rule", "Properties": {"Targets": [{"Arn": {"Fn::GetAtt": ["Q", "Arn"]}}],
			                  "Description": {"Fn::If": ["C", {"Ref": "S"}, {"Ref": "AWS::NoValue"}]}}}`,
			outputs: `"O": {"Condition": "C", "Value": {"Ref": "S"}}`,
		},
		"undefined Ref":                {resources: `"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Ref": "Nope"}}}`, want: `"Nope" is neither a parameter, a resource nor a pseudo parameter`},
		"undefined GetAtt":             {resources: `"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::GetAtt": ["Nope", "Arn"]}}}`, want: `resource "Nope" is not defined`},
		"undefined Sub variable":       {resources: `"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::Sub": "${Nope}"}}}`, want: `"Nope" is neither`},
		"undefined Sub resource":       {resources: `"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::Sub": "${Nope.Arn}"}}}`, want: `resource "Nope" is not defined`},
		"undefined If condition":       {resources: `"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::If": ["Nope", "a", "b"]}}}`, want: `condition "Nope" is not defined`},
		"undefined resource condition": {resources: `"Q": {"Type": "AWS::SQS::Queue", "Condition": "Nope"}`, want: `condition "Nope" is not defined`},
		"undefined output condition":   {resources: `"Q": {"Type": "AWS::SQS::Queue"}`, outputs: `"O": {"Condition": "Nope", "Value": "x"}`, want: `condition "Nope" is not defined`},
		"unguarded conditional ref": {
			resources: `"S": {"Type": "AWS::SecretsManager::Secret", "Condition": "C"}, "Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Ref": "S"}}}`,
			want:      "S exists only when C holds",
		},
		"unguarded conditional output": {
			resources: `"S": {"Type": "AWS::SecretsManager::Secret", "Condition": "C"}`, outputs: `"O": {"Value": {"Fn::GetAtt": ["S", "Id"]}}`,
			want: "S exists only when C holds",
		},
		"DependsOn undefined": {resources: `"Q": {"Type": "AWS::SQS::Queue", "DependsOn": "Nope"}`, want: `resource "Nope" is not defined`},
		"DependsOn conditional": {
			resources: `"S": {"Type": "AWS::SecretsManager::Secret", "Condition": "C"}, "Q": {"Type": "AWS::SQS::Queue", "DependsOn": ["S"]}`,
			want:      "exists only when C holds",
		},
		"unknown function":        {resources: `"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::Concat": ["a"]}}}`, want: "unknown function"},
		"no type":                 {resources: `"Q": {"Properties": {}}`, want: "has no Type"},
		"resource in a condition": {resources: `"Q": {"Type": "AWS::SQS::Queue"}`, want: "conditions can only refer to parameters"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			conds := base
			if name == "resource in a condition" {
				conds = `"Parameters": {"P": {"Type": "String"}}, "Conditions": {"C": {"Fn::Equals": [{"Ref": "Q"}, "x"]}}`
			}
			doc := `{` + conds + `, "Resources": {` + tc.resources + `}`
			if tc.outputs != "" {
				doc += `, "Outputs": {` + tc.outputs + `}`
			}
			doc += `}`
			tmpl, err := jsonv.DecodeObject([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			errs := lint(tmpl)
			if tc.want == "" {
				for _, e := range errs {
					t.Errorf("unexpected: %v", e)
				}
				return
			}
			found := false
			for _, e := range errs {
				found = found || strings.Contains(e.Error(), tc.want)
			}
			if !found {
				t.Errorf("want a problem containing %q, got %v", tc.want, errs)
			}
		})
	}
}

// walkStrings calls fn with every string of v and its path.
func walkStrings(path string, v any, fn func(path, s string)) {
	switch x := v.(type) {
	case string:
		fn(path, x)
	case []any:
		for i, e := range x {
			walkStrings(path+"["+strconv.Itoa(i)+"]", e, fn)
		}
	case *jsonv.Object:
		for _, k := range x.Keys() {
			e, _ := x.Get(k)
			walkStrings(path+"."+k, e, fn)
		}
	}
}

// statements yields every IAM policy statement of the template with its path.
func statements(tmpl *jsonv.Object) map[string]*jsonv.Object {
	out := map[string]*jsonv.Object{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case []any:
			for i, e := range x {
				walk(path+"["+strconv.Itoa(i)+"]", e)
			}
		case *jsonv.Object:
			if x.Has("Effect") && (x.Has("Action") || x.Has("NotAction")) {
				out[path] = x
				return
			}
			for _, k := range x.Keys() {
				e, _ := x.Get(k)
				walk(path+"."+k, e)
			}
		}
	}
	walk("Resources", tmpl.GetObject("Resources"))
	return out
}

func actions(st *jsonv.Object) []string {
	a, _ := st.Get("Action")
	return jsonvtest.Strings(a)
}

// TestTemplatesFixUpstreamDefects pins, one by one, what the prefect-aws
// templates got wrong and these do not.
func TestTemplatesFixUpstreamDefects(t *testing.T) {
	t.Parallel()
	svc, err := infra.Render(cfnstack.KindService, testImage)
	if err != nil {
		t.Fatal(err)
	}
	res := svc.GetObject("Resources")

	t.Run("partition-aware ARNs", func(t *testing.T) {
		for _, section := range []string{"Resources", "Outputs"} {
			walkStrings(section, svc.GetObject(section), func(path, s string) {
				if strings.Contains(s, "arn:aws:") {
					t.Errorf("%s: literal arn:aws: breaks aws-cn and aws-us-gov; use arn:${AWS::Partition}: (%s)", path, s)
				}
			})
		}
	})
	t.Run("no inbound port", func(t *testing.T) {
		for _, name := range res.Keys() {
			r := res.GetObject(name)
			switch r.GetString("Type") {
			case "AWS::EC2::SecurityGroup":
				if r.GetObject("Properties").Has("SecurityGroupIngress") {
					t.Errorf("%s opens an inbound port", name)
				}
			case "AWS::EC2::SecurityGroupIngress":
				t.Errorf("%s opens an inbound port", name)
			case "AWS::ECS::TaskDefinition":
				for _, c := range r.GetObject("Properties").GetArray("ContainerDefinitions") {
					if c.(*jsonv.Object).Has("PortMappings") {
						t.Errorf("%s maps a port", name)
					}
				}
			}
		}
	})
	container := res.GetObject("WorkerTaskDefinition").GetObject("Properties").GetArray("ContainerDefinitions")[0].(*jsonv.Object)
	t.Run("secrets by their right names, never in the environment", func(t *testing.T) {
		var secretNames, envNames []string
		for _, s := range container.GetArray("Secrets") {
			walkStrings("", s, func(path, v string) {
				if strings.HasSuffix(path, ".Name") {
					secretNames = append(secretNames, v)
				}
			})
		}
		for _, e := range container.GetArray("Environment") {
			envNames = append(envNames, e.(*jsonv.Object).GetString("Name"))
		}
		if !slices.Equal(secretNames, []string{"PREFECT_API_KEY", "PREFECT_API_AUTH_STRING"}) {
			t.Errorf("container secrets %v; want PREFECT_API_KEY and PREFECT_API_AUTH_STRING (upstream injected PREFECT_AUTH_STRING, which Prefect ignores)", secretNames)
		}
		for _, n := range envNames {
			if strings.Contains(n, "KEY") || strings.Contains(n, "AUTH") {
				t.Errorf("environment variable %s would carry a secret in clear text", n)
			}
		}
		if !slices.Contains(envNames, "PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_NAME") {
			t.Errorf("the worker is not told its events queue: environment %v", envNames)
		}
		for _, p := range []string{"PrefectApiKey", "PrefectApiAuthString"} {
			if v, _ := svc.GetObject("Parameters").GetObject(p).Get("NoEcho"); v != true {
				t.Errorf("parameter %s must be NoEcho", p)
			}
		}
	})
	t.Run("queue only for the rule, encrypted", func(t *testing.T) {
		for _, name := range []string{"EventsQueue", "EventsDeadLetterQueue"} {
			if v, _ := res.GetObject(name).GetObject("Properties").Get("SqsManagedSseEnabled"); v != true {
				t.Errorf("%s is not encrypted at rest", name)
			}
		}
		for _, st := range res.GetObject("EventsQueuePolicy").GetObject("Properties").GetObject("PolicyDocument").GetArray("Statement") {
			s := st.(*jsonv.Object)
			if s.GetString("Effect") == "Allow" && s.GetObject("Condition").GetObject("ArnEquals").GetObject("aws:SourceArn") == nil {
				t.Errorf("queue policy statement %s allows without aws:SourceArn: any rule could send", s.GetString("Sid"))
			}
		}
	})
	t.Run("least privilege", func(t *testing.T) {
		starOK := []string{"ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage",
			"ecs:RegisterTaskDefinition", "ecs:DescribeTaskDefinition", "ecs:ListTaskDefinitions", "ecs:DeregisterTaskDefinition",
			"ec2:DescribeVpcs", "ec2:DescribeSubnets"}
		clusterBound := []string{"ecs:RunTask", "ecs:StopTask", "ecs:DescribeTasks"}
		for path, st := range statements(svc) {
			r, _ := st.Get("Resource")
			for _, a := range actions(st) {
				if strings.HasSuffix(a, "*") && st.GetString("Effect") == "Allow" {
					t.Errorf("%s: wildcard action %s", path, a)
				}
				if r == "*" && !slices.Contains(starOK, a) {
					t.Errorf("%s: %s on every resource; only actions without resource-level permissions may be", path, a)
				}
				if slices.Contains(clusterBound, a) && st.GetObject("Condition").GetObject("ArnEquals").GetObject("ecs:cluster") == nil {
					t.Errorf("%s: %s is not conditioned on the cluster", path, a)
				}
				if a == "iam:PassRole" {
					walkStrings(path, r, func(p, s string) {
						if strings.Contains(s, "*") {
							t.Errorf("%s: PassRole on %s", p, s)
						}
					})
				}
			}
			if arr, ok := r.([]any); ok && len(arr) == 0 {
				t.Errorf("%s: a statement with no resource", path)
			}
		}
	})
	t.Run("no IAM names, so CAPABILITY_IAM is enough", func(t *testing.T) {
		for _, name := range res.Keys() {
			p := res.GetObject(name).GetObject("Properties")
			for _, k := range []string{"RoleName", "ManagedPolicyName", "UserName", "GroupName"} {
				if p != nil && p.Has(k) {
					t.Errorf("%s names its IAM %s: two stacks would collide account-wide", name, k)
				}
			}
		}
	})
	t.Run("circuit breaker with rollback", func(t *testing.T) {
		cb := res.GetObject("WorkerService").GetObject("Properties").GetObject("DeploymentConfiguration").GetObject("DeploymentCircuitBreaker")
		if v, _ := cb.Get("Enable"); v != true {
			t.Error("no deployment circuit breaker")
		}
		if v, _ := cb.Get("Rollback"); v != true {
			t.Error("the circuit breaker does not roll back")
		}
	})
	t.Run("alarms", func(t *testing.T) {
		metrics := map[string]bool{}
		for _, name := range res.Keys() {
			r := res.GetObject(name)
			if r.GetString("Type") == "AWS::CloudWatch::Alarm" {
				p := r.GetObject("Properties")
				metrics[p.GetString("Namespace")+"/"+p.GetString("MetricName")] = true
			}
		}
		for _, m := range []string{"AWS/ECS/CPUUtilization", "AWS/Events/MatchedEvents", "AWS/SQS/ApproximateNumberOfMessagesVisible"} {
			if !metrics[m] {
				t.Errorf("no alarm on %s (have %v)", m, metrics)
			}
		}
	})
}

// TestServiceTemplateResolves deploys the service template on the AWS
// test server under each way of passing credentials and options, and
// checks the resources as CloudFormation resolves them: no empty policy
// resource, the right container secrets and command, the conditional
// resources there exactly when asked for.
func TestServiceTemplateResolves(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		tweak       func(*infra.ServiceConfig)
		secrets     []string // container secret names
		present     []string
		absent      []string
		commandTail []string
	}{
		"api key": {
			tweak:   func(c *infra.ServiceConfig) {},
			secrets: []string{"PREFECT_API_KEY"}, present: []string{"PrefectApiKeySecret", "PrefectSecretsPolicy", "WorkerDashboard", "CrashAlarm", "SubmissionLatencyAlarm"},
			absent: []string{"PrefectApiAuthStringSecret", "WorkerScalableTarget", "AlarmTopic"},
		},
		"existing key secret": {
			tweak: func(c *infra.ServiceConfig) {
				c.APIKey, c.APIKeySecretArn = "", "arn:aws:secretsmanager:us-east-1:123456789012:secret:prefect-key-AbCdEf"
			},
			secrets: []string{"PREFECT_API_KEY"}, present: []string{"PrefectSecretsPolicy"}, absent: []string{"PrefectApiKeySecret"},
		},
		"self-hosted with auth string": {
			tweak: func(c *infra.ServiceConfig) {
				c.APIKey, c.APIURL, c.AuthString = "", "https://prefect.internal/api", "admin:pass"
			},
			secrets: []string{"PREFECT_API_AUTH_STRING"}, present: []string{"PrefectApiAuthStringSecret"}, absent: []string{"PrefectApiKeySecret"},
		},
		"self-hosted without auth": {
			tweak:  func(c *infra.ServiceConfig) { c.APIKey, c.APIURL = "", "https://prefect.internal/api" },
			absent: []string{"PrefectSecretsPolicy", "PrefectApiKeySecret", "PrefectApiAuthStringSecret"},
		},
		"everything": {
			tweak: func(c *infra.ServiceConfig) {
				c.AuthStringSecretArn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:auth-AbCdEf"
				c.WorkQueues = []string{"critical", "default"}
				c.MaxCapacity, c.MinCapacity, c.DesiredCount = 4, 1, 2
				c.AlarmEmail = "ops@example.com"
				c.FlowRunTaskRoleArn = "arn:aws:iam::123456789012:role/etl"
			},
			secrets: []string{"PREFECT_API_KEY", "PREFECT_API_AUTH_STRING"},
			present: []string{"WorkerScalableTarget", "WorkerCpuScalingPolicy", "AlarmTopic", "PrefectApiKeySecret"},
			absent:  []string{"PrefectApiAuthStringSecret"}, commandTail: []string{"--work-queue", "critical", "--work-queue", "default"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				s, c := fakeAWS(t)
				cfg := serviceConfig(s, "etl pool")
				tc.tweak(&cfg)
				if err := cfg.Validate(); err != nil {
					t.Fatal(err)
				}
				v := deployService(t, s, c, cfg)
				for _, n := range tc.present {
					if _, ok := v.Resource(n); !ok {
						t.Errorf("%s should exist", n)
					}
				}
				for _, n := range tc.absent {
					if _, ok := v.Resource(n); ok {
						t.Errorf("%s should not exist", n)
					}
				}
				td, _ := v.Resource("WorkerTaskDefinition")
				ctr := td.Properties.(map[string]any)["ContainerDefinitions"].([]any)[0].(map[string]any)
				var names []string
				for _, sec := range ctr["Secrets"].([]any) {
					m := sec.(map[string]any)
					names = append(names, m["Name"].(string))
					if !strings.HasPrefix(m["ValueFrom"].(string), "arn:aws:secretsmanager:") {
						t.Errorf("secret %s comes from %q", m["Name"], m["ValueFrom"])
					}
				}
				if !slices.Equal(names, tc.secrets) {
					t.Errorf("container secrets %v, want %v", names, tc.secrets)
				}
				cmd := ctr["Command"].([]any)
				wantCmd := append([]any{"worker", "start", "--pool", "etl pool", "--with-healthcheck", "--healthcheck-addr", "127.0.0.1:8080"}, toAny(tc.commandTail)...)
				if !slices.Equal(cmd, wantCmd) {
					t.Errorf("command %q, want %q", cmd, wantCmd)
				}
				for _, e := range ctr["Environment"].([]any) {
					m := e.(map[string]any)
					if m["Name"] == "PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_NAME" && m["Value"] != v.Outputs["EventsQueueName"] {
						t.Errorf("the worker reads queue %q but the stack's queue is %q", m["Value"], v.Outputs["EventsQueueName"])
					}
				}
				// No statement of any policy may end up with an empty resource.
				for _, r := range v.Resources {
					walkResolved(r.LogicalID, r.Properties, func(path string, st map[string]any) {
						if strings.Contains(path, "AssumeRolePolicyDocument") {
							return // trust policies name principals, not resources
						}
						res, ok := st["Resource"]
						if !ok {
							t.Errorf("%s: statement without Resource", path)
						}
						if arr, isArr := res.([]any); isArr && len(arr) == 0 {
							t.Errorf("%s: statement with an empty resource list", path)
						}
						if res == "" {
							t.Errorf("%s: statement with an empty resource", path)
						}
					})
				}
				if want := "prefect_etl-pool_*"; !strings.Contains(jsonString(t, v.Resources), "task-definition/"+want+":*") {
					t.Errorf("RunTask is not scoped to the pool's families %s", want)
				}
			})
		})
	}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func jsonString(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// walkResolved calls fn with every IAM statement of resolved properties.
func walkResolved(path string, v any, fn func(string, map[string]any)) {
	switch x := v.(type) {
	case []any:
		for i, e := range x {
			walkResolved(path+"["+strconv.Itoa(i)+"]", e, fn)
		}
	case map[string]any:
		if _, ok := x["Effect"]; ok {
			fn(path, x)
			return
		}
		for k, e := range x {
			walkResolved(path+"."+k, e, fn)
		}
	}
}

func TestEventsTemplateResolves(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s, c := fakeAWS(t)
		cfg := infra.EventsConfig{StackName: "ecsworker-p-events", WorkPool: "p", ClusterArn: s.CreateCluster("prod")}
		body, _ := infra.Body(cfnstack.KindEvents, "")
		d := &cfnstack.Deployer{CFN: c.CFN, Region: c.Region}
		res, err := d.Deploy(ctxOf(t), cfnstack.DeployInput{StackName: cfg.StackName, Kind: cfnstack.KindEvents, Template: body,
			Parameters: cfg.Parameters(), Tags: cfnstack.Tags(cfnstack.KindEvents, "p"), Wait: true})
		if err != nil {
			t.Fatal(err)
		}
		out := res.Stack.OutputMap()
		if out["WorkerEnvironment"] != "PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_NAME="+out["EventsQueueName"] || out["ClusterArn"] != cfg.ClusterArn {
			t.Errorf("outputs: %v", out)
		}
		v, _ := s.Stack(cfg.StackName)
		rule, _ := v.Resource("TaskStateChangeRule")
		pattern := rule.Properties.(map[string]any)["EventPattern"].(map[string]any)
		if got := pattern["detail"].(map[string]any)["clusterArn"].([]any); len(got) != 1 || got[0] != cfg.ClusterArn {
			t.Errorf("the rule matches clusters %v", got)
		}
	})
}

// TestTemplatesCfnLint runs cfn-lint, which knows every resource type's
// schema, on the rendered templates in the three partitions, when it is
// installed (pip install cfn-lint); it is skipped otherwise.
func TestTemplatesCfnLint(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Skip("cfn-lint is not installed")
	}
	dir := t.TempDir()
	var files []string
	for _, kind := range cfnstack.Kinds {
		pretty, err := infra.Pretty(kind, testImage)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, string(kind)+".json")
		if err := os.WriteFile(f, pretty, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	args := append([]string{"--regions", "us-east-1", "cn-north-1", "us-gov-west-1", "--"}, files...)
	if out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput(); err != nil {
		t.Errorf("cfn-lint: %v\n%s", err, out)
	}
}
