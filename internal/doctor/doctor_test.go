package doctor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awscreds"
	"github.com/ecsworker/ecsworker/internal/doctor"
	"github.com/ecsworker/ecsworker/internal/ecsjob"
	"github.com/ecsworker/ecsworker/internal/ecsrequest"
	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
	"github.com/ecsworker/ecsworker/internal/iampolicy"
	"github.com/ecsworker/ecsworker/internal/jsonv"
)

const (
	testKeyID  = "AKIAIOSFODNN7EXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	trustECS   = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	trustEC2   = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
)

// account is the AWS test server's: every fixture lives in it.
type account struct {
	t       *testing.T
	aws     *awsfake.Server
	factory *awsclient.Factory
	user    string // the caller's ARN

	vpc, otherSG, sg string
	private, public  []string // subnets of vpc: behind a NAT gateway, and with an internet gateway
	isolated         string   // a subnet of vpc without a default route
	defaultSubnet    string   // a subnet of the default VPC
	exec, task       string   // role ARNs
	lambdaRole       string   // a role ecs-tasks may not assume
	image            string
}

func newAccount(t *testing.T) *account {
	t.Helper()
	a := awsfake.NewTestServer(t, awsfake.Options{})
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// Three attempts, as the CLI makes, without waiting between them.
	f := awsclient.NewFactory(awsclient.FactoryOptions{
		BaseEndpoint: a.URL(), MaxAttempts: 3, Backoff: noDelay{},
		LoadOptions: []func(*config.LoadOptions) error{config.WithSharedConfigFiles([]string{empty}), config.WithSharedCredentialsFiles([]string{empty})},
	})
	e := &account{t: t, aws: a, factory: f, user: "arn:aws:iam::" + a.AccountID() + ":user/awsfake"}

	a.CreateCluster("prod")
	if err := a.SetClusterCapacityProviders("prod", []string{"FARGATE", "FARGATE_SPOT"}); err != nil {
		t.Fatal(err)
	}
	a.CreateCluster("bare")
	e.vpc = a.AddVPC("10.0.0.0/16")
	for i, az := range []string{"a", "b"} {
		s := a.AddSubnet(e.vpc, fmt.Sprintf("10.0.%d.0/24", i+1), "us-east-1"+az)
		must(t, a.SetSubnetRoute(s, "nat-0123456789abcdef0"))
		e.private = append(e.private, s)
		p := a.AddSubnet(e.vpc, fmt.Sprintf("10.0.%d.0/24", i+101), "us-east-1"+az)
		must(t, a.SetSubnetRoute(p, "igw-0123456789abcdef0"))
		e.public = append(e.public, p)
	}
	e.isolated = a.AddSubnet(e.vpc, "10.0.200.0/24", "")
	e.sg = a.AddSecurityGroup(e.vpc, "flows")
	var defaultVPC string
	defaultVPC, subnets, defaultSG := a.DefaultNetwork()
	_ = defaultVPC
	e.defaultSubnet, e.otherSG = subnets[0], defaultSG
	e.exec = a.CreateRole("ecsTaskExecutionRole", trustECS)
	e.task = a.CreateRole("service-role/flow-task", trustECS)
	e.lambdaRole = a.CreateRole("ec2-only", trustEC2)
	e.image = a.PutImage("flows", "v1", 734_003_200)

	c := e.clients(awscreds.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret, Region: "us-east-1"})
	logs := c.Logs.(*cloudwatchlogs.Client)
	if _, err := logs.CreateLogGroup(context.Background(), &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("/ecs/flows")}); err != nil {
		t.Fatal(err)
	}
	return e
}

type noDelay struct{}

func (noDelay) BackoffDelay(int, error) (time.Duration, error) { return 0, nil }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// clients are doctor's clients for creds, made as the CLI makes them.
func (e *account) clients(creds awscreds.Credentials) *doctor.Clients {
	e.t.Helper()
	c, err := e.factory.For(context.Background(), creds)
	if err != nil {
		e.t.Fatal(err)
	}
	dc := doctor.NewClients(c.Config, c.Endpoint, false)
	dc.InRegion = func(ctx context.Context, region string) (*doctor.Clients, error) {
		other := creds
		other.Region = region
		return e.clients(other), nil
	}
	return dc
}

// goodVariables is a deployment whose every check passes: Fargate Spot
// on prod, private subnets behind a NAT gateway, the flows group, roles
// that trust ecs-tasks, an image in ECR and a log group that exists.
func (e *account) goodVariables() map[string]any {
	return map[string]any{
		"cluster": "prod", "launch_type": "FARGATE_SPOT",
		"vpc_id": e.vpc, "subnets": e.private, "security_groups": []string{e.sg}, "assign_public_ip": false,
		"execution_role_arn": e.exec, "task_role_arn": e.task,
		"image":                     e.image,
		"configure_cloudwatch_logs": true,
		"cloudwatch_logs_options":   map[string]any{"awslogs-group": "/ecs/flows", "awslogs-create-group": "false"},
	}
}

// plan renders a deployment's job with the default template.
func plan(t *testing.T, name string, vars map[string]any) *ecsrequest.Plan {
	t.Helper()
	b, err := json.Marshal(vars)
	must(t, err)
	obj, err := jsonv.DecodeObject(b)
	must(t, err)
	p, err := ecsjob.Prepare(context.Background(), ecsjob.Job{
		Template: ecsjob.DefaultTemplate(), DeploymentVariables: obj,
		Context: ecsrequest.RunContext{WorkPoolName: "pool", DeploymentID: "0b9e5a0c-" + name, Region: "us-east-1", DefaultImage: "prefecthq/prefect:3-latest"},
	})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return p.Plan
}

// principal is the test server's user running the deployments.
func (e *account) principal(deployments map[string]map[string]any) doctor.Principal {
	e.t.Helper()
	creds := awscreds.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret, Region: "us-east-1"}
	p := doctor.Principal{Credentials: "access key AKIA**** (#test)", Clients: e.clients(creds), Region: "us-east-1",
		PolicyCommand: "ecsworker aws-policy --pool pool"}
	for _, name := range sortedKeys(deployments) {
		pl := plan(e.t, name, deployments[name])
		u, err := iampolicy.FromPlan(name, "us-east-1", pl)
		must(e.t, err)
		p.Deployments = append(p.Deployments, name)
		p.Jobs = append(p.Jobs, doctor.Job{Deployment: name, Plan: pl})
		p.Needs.Jobs = append(p.Needs.Jobs, u)
	}
	return p
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// policy is the identity policy of the test user: doctor's own actions,
// and the aws-policy output of the deployments without the statements
// drop names.
func (e *account) policy(p doctor.Principal, drop ...string) string {
	e.t.Helper()
	pol, err := iampolicy.Generate(p.Needs, iampolicy.Literal{Region: "us-east-1", Account: e.aws.AccountID()})
	must(e.t, err)
	doc := pol.Document()
	var kept []any
	for _, s := range doc.GetArray("Statement") {
		if o := s.(*jsonv.Object); !contains(drop, o.GetString("Sid")) {
			kept = append(kept, o)
		}
	}
	var own []any
	for _, a := range doctor.Actions() {
		if !contains(drop, a) {
			own = append(own, a)
		}
	}
	kept = append(kept, jsonv.ObjectOf("Sid", "Doctor", "Effect", "Allow", "Action", own, "Resource", "*"))
	doc.Set("Statement", kept)
	b, err := jsonv.Marshal(doc)
	must(e.t, err)
	return string(b)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// expect is what a check should be: its status and words of its detail
// and fix.
type expect struct {
	status      doctor.Status
	words       []string
	deployments []string
	action      string
}

func TestRun(t *testing.T) {
	tests := map[string]struct {
		// vars changes the good deployment's variables.
		vars func(e *account, v map[string]any)
		// second adds a deployment "etl/second" with these changes.
		second func(e *account, v map[string]any)
		// policy restricts the caller: the Sids and actions it lacks; nil
		// sets no policy (everything is allowed).
		policy []string
		// want: check name -> expectation; other checks must pass.
		want map[string]expect
	}{
		"good configuration": {
			policy: []string{},
			want: map[string]expect{
				"Cluster prod":                       {status: doctor.Pass, words: []string{"ACTIVE", "FARGATE_SPOT"}},
				"Capacity providers of cluster prod": {status: doctor.Pass, words: []string{"FARGATE_SPOT associated"}},
				"Subnets %private":                   {status: doctor.Pass, words: []string{"in VPC %vpc"}},
				"Security group %sg":                 {status: doctor.Pass, words: []string{"%vpc"}},
				"Internet access from subnets %private (assignPublicIp DISABLED)": {status: doctor.Pass, words: []string{"NAT gateway nat-0123456789abcdef0"}},
				"Execution role ecsTaskExecutionRole":                             {status: doctor.Pass, words: []string{"ecs-tasks.amazonaws.com"}},
				"Task role flow-task":                                             {status: doctor.Pass, words: []string{"role/service-role/flow-task"}},
				"Image %image":                                                    {status: doctor.Pass, words: []string{"734 MB"}},
				"Log group /ecs/flows":                                            {status: doctor.Pass, words: []string{"exists in us-east-1"}},
				"Permissions of %user":                                            {status: doctor.Pass, words: []string{"allowed the"}},
			},
		},
		"one cluster checked once for two deployments": {
			second: func(e *account, v map[string]any) {},
			want: map[string]expect{
				"Cluster prod": {status: doctor.Pass, deployments: []string{"etl/good", "etl/second"}},
			},
		},
		"inferred subnets of the default VPC, public IP, logs created by the task": {
			vars: func(e *account, v map[string]any) {
				for _, k := range []string{"vpc_id", "subnets", "security_groups", "assign_public_ip", "cloudwatch_logs_options"} {
					delete(v, k)
				}
				v["image"] = "python:3.12"
			},
			want: map[string]expect{
				"Subnets of the default VPC": {status: doctor.Pass, words: []string{"3 subnets"}},
				"Internet access from the default VPC's subnets (assignPublicIp ENABLED)": {status: doctor.Pass, words: []string{"internet gateway"}},
				"Images outside ECR": {status: doctor.Pass, words: []string{"python:3.12"}},
				"Log group prefect":  {status: doctor.Pass, words: []string{"logs:CreateLogGroup"}},
			},
		},
		"no default route: VPC endpoints": {
			vars: func(e *account, v map[string]any) { v["subnets"] = []string{e.isolated} },
			want: map[string]expect{
				"Internet access from subnet %isolated (assignPublicIp DISABLED)": {status: doctor.Pass, words: []string{"no default route", "VPC endpoints"}},
			},
		},
		"missing cluster": {
			vars: func(e *account, v map[string]any) { v["cluster"] = "nope" },
			want: map[string]expect{
				"Cluster nope":                       {status: doctor.Fail, words: []string{"no cluster nope", "aws ecs create-cluster --cluster-name nope"}},
				"Capacity providers of cluster nope": {status: doctor.Skipped},
			},
		},
		"capacity provider not associated": {
			vars: func(e *account, v map[string]any) { v["cluster"] = "bare" },
			want: map[string]expect{
				"Capacity providers of cluster bare": {status: doctor.Fail, words: []string{"FARGATE_SPOT", "not associated", "put-cluster-capacity-providers --cluster bare", "capacity_provider_strategy"}},
			},
		},
		"subnets in two VPCs": {
			vars: func(e *account, v map[string]any) {
				v["subnets"] = []string{e.private[0], e.defaultSubnet}
				delete(v, "vpc_id")
			},
			want: map[string]expect{
				"Subnets %split":     {status: doctor.Fail, words: []string{"2 VPCs", "one VPC"}},
				"Security group %sg": {status: doctor.Pass, words: []string{"could not be told"}},
				"Internet access from subnets %split (assignPublicIp DISABLED)": {status: doctor.Fail, words: []string{"only way out"}},
			},
		},
		"subnets outside vpc_id": {
			vars: func(e *account, v map[string]any) {
				v["subnets"] = []string{e.defaultSubnet}
				v["security_groups"] = []string{e.otherSG}
				v["assign_public_ip"] = true
			},
			want: map[string]expect{
				"Subnet %defaultSubnet": {status: doctor.Fail, words: []string{"not in vpc_id %vpc"}},
			},
		},
		"security group in another VPC": {
			vars: func(e *account, v map[string]any) { v["security_groups"] = []string{e.otherSG} },
			want: map[string]expect{
				"Security group %otherSG": {status: doctor.Fail, words: []string{"not in the subnets' VPC %vpc", "security_groups"}},
			},
		},
		"missing subnet and security group": {
			vars: func(e *account, v map[string]any) {
				v["subnets"] = []string{e.private[0], "subnet-0000000000000dead"}
				v["security_groups"] = []string{"sg-0000000000000dead"}
			},
			want: map[string]expect{
				"Subnets %missingSubnet":              {status: doctor.Fail, words: []string{"subnet-0000000000000dead does not exist"}},
				"Security group sg-0000000000000dead": {status: doctor.Fail, words: []string{"does not exist"}},
			},
		},
		"public IP on a private subnet": {
			vars: func(e *account, v map[string]any) { v["assign_public_ip"] = true },
			want: map[string]expect{
				"Internet access from subnets %private (assignPublicIp ENABLED)": {status: doctor.Fail, words: []string{"no 0.0.0.0/0 route to an internet gateway", "never used", "assign_public_ip"}},
			},
		},
		"public IP on a subnet without a default route": {
			vars: func(e *account, v map[string]any) { v["assign_public_ip"] = true; v["subnets"] = []string{e.isolated} },
			want: map[string]expect{
				"Internet access from subnet %isolated (assignPublicIp ENABLED)": {status: doctor.Fail, words: []string{"cannot pull its image"}},
			},
		},
		"no public IP on a public subnet without NAT": {
			vars: func(e *account, v map[string]any) { v["subnets"] = e.public },
			want: map[string]expect{
				"Subnets %public": {status: doctor.Pass},
				"Internet access from subnets %public (assignPublicIp DISABLED)": {status: doctor.Fail, words: []string{"internet gateway", "no NAT", "assign_public_ip to true"}},
			},
		},
		"missing execution role": {
			vars: func(e *account, v map[string]any) {
				v["execution_role_arn"] = "arn:aws:iam::" + e.aws.AccountID() + ":role/nope"
			},
			want: map[string]expect{
				"Execution role nope": {status: doctor.Fail, words: []string{"no role nope", "aws iam create-role --role-name nope", "AmazonECSTaskExecutionRolePolicy", "execution_role_arn"}},
			},
		},
		"a role that does not trust ecs-tasks": {
			vars: func(e *account, v map[string]any) { v["task_role_arn"] = e.lambdaRole },
			want: map[string]expect{
				"Task role ec2-only": {status: doctor.Fail, words: []string{"does not let ecs-tasks.amazonaws.com assume it", "update-assume-role-policy --role-name ec2-only"}},
			},
		},
		"a missing ECR image and repository": {
			vars: func(e *account, v map[string]any) {
				v["image"] = strings.Replace(e.image, ":v1", ":v2", 1)
			},
			second: func(e *account, v map[string]any) {
				v["image"] = strings.Replace(e.image, "/flows:v1", "/nope:v1", 1)
			},
			want: map[string]expect{
				"Image %imageV2":   {status: doctor.Fail, words: []string{"no image with tag v2", "docker push"}},
				"Image %imageRepo": {status: doctor.Fail, words: []string{"no repository nope", "aws ecr create-repository"}},
			},
		},
		"a missing log group without create-group": {
			vars: func(e *account, v map[string]any) {
				v["cloudwatch_logs_options"] = map[string]any{"awslogs-group": "/ecs/missing", "awslogs-create-group": "false"}
			},
			want: map[string]expect{
				"Log group /ecs/missing": {status: doctor.Fail, words: []string{"no group /ecs/missing", "aws logs create-log-group --log-group-name /ecs/missing", "awslogs-create-group"}},
			},
		},
		"an identity policy lacking ecs:RunTask": {
			policy: []string{"RunTaskDefinitionsOnTheCluster"},
			want: map[string]expect{
				"Permissions of %user": {status: doctor.Fail, words: []string{"1 of the 10 actions of the aws-policy output is denied: ecs:RunTask on ", "task-definition/prefect_pool_0b9e5a0c-etl-good:*",
					"ecsworker aws-policy --pool pool --account 123456789012 > policy.json && aws iam put-user-policy --user-name awsfake --policy-name ecsworker --policy-document file://policy.json"}},
			},
		},
		"an identity that may not call iam:GetRole": {
			policy: []string{"iam:GetRole"},
			want: map[string]expect{
				"Execution role ecsTaskExecutionRole": {status: doctor.Skipped, action: "iam:GetRole", words: []string{"refused iam:GetRole"}},
				"Task role flow-task":                 {status: doctor.Skipped, action: "iam:GetRole"},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newAccount(t)
			deps := map[string]map[string]any{"etl/good": e.goodVariables()}
			if tc.vars != nil {
				tc.vars(e, deps["etl/good"])
			}
			if tc.second != nil {
				v := e.goodVariables()
				tc.second(e, v)
				deps["etl/second"] = v
			}
			p := e.principal(deps)
			if tc.policy != nil {
				must(t, e.aws.SetIdentityPolicy(e.user, e.policy(p, tc.policy...)))
			}
			rep := doctor.Run(context.Background(), []doctor.Principal{p})

			subst := strings.NewReplacer(
				"%private", strings.Join(sorted(e.private...), ", "), "%public", strings.Join(sorted(e.public...), ", "),
				"%split", strings.Join(sorted(e.private[0], e.defaultSubnet), ", "),
				"%missingSubnet", strings.Join(sorted(e.private[0], "subnet-0000000000000dead"), ", "),
				"%isolated", e.isolated, "%defaultSubnet", e.defaultSubnet,
				"%vpc", e.vpc, "%otherSG", e.otherSG, "%sg", e.sg, "%user", e.user,
				"%imageV2", strings.Replace(e.image, ":v1", ":v2", 1), "%imageRepo", strings.Replace(e.image, "/flows:v1", "/nope:v1", 1),
				"%image", e.image)
			got := map[string]doctor.Check{}
			for _, c := range rep.Checks {
				if _, dup := got[c.Name]; dup {
					t.Errorf("check %q twice", c.Name)
				}
				got[c.Name] = c
			}
			for rawName, want := range tc.want {
				name := subst.Replace(rawName)
				c, ok := got[name]
				if !ok {
					t.Errorf("no check %q; checks:\n%s", name, dump(rep))
					continue
				}
				if c.Status != want.status {
					t.Errorf("%s: status %s, want %s: %s / %s", name, c.Status, want.status, c.Detail, c.Fix)
				}
				for _, w := range want.words {
					if w = subst.Replace(w); !strings.Contains(c.Detail+" "+c.Fix, w) {
						t.Errorf("%s: %q not in %q / %q", name, w, c.Detail, c.Fix)
					}
				}
				if want.deployments != nil && strings.Join(c.Deployments, ",") != strings.Join(want.deployments, ",") {
					t.Errorf("%s: deployments %v, want %v", name, c.Deployments, want.deployments)
				}
				if c.Action != want.action {
					t.Errorf("%s: action %q, want %q", name, c.Action, want.action)
				}
				if c.Status == doctor.Fail && c.Fix == "" {
					t.Errorf("%s fails without a fix", name)
				}
			}
			for n, c := range got {
				if _, listed := tc.want[n]; listed || c.Status == doctor.Pass || wanted(tc.want, subst, n) {
					continue
				}
				t.Errorf("unexpected %s check %q: %s / %s", c.Status, n, c.Detail, c.Fix)
			}
			if b, _ := json.Marshal(rep); strings.Contains(string(b), testSecret) || strings.Contains(string(b), testKeyID) {
				t.Errorf("a secret is in the report: %s", b)
			}
		})
	}
}

func wanted(want map[string]expect, subst *strings.Replacer, name string) bool {
	for n := range want {
		if subst.Replace(n) == name {
			return true
		}
	}
	return false
}

func sorted(in ...string) []string {
	s := append([]string{}, in...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

func dump(r *doctor.Report) string {
	var b strings.Builder
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "  %s %s: %s | %s\n", c.Status, c.Name, c.Detail, c.Fix)
	}
	return b.String()
}

// A role session's ARN loses the role's path: doctor finds the role with
// iam:GetRole and simulates the role itself.
func TestRoleSessionWithPath(t *testing.T) {
	e := newAccount(t)
	role := e.aws.CreateRole("workers/prefect-runner", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"`+e.user+`"},"Action":"sts:AssumeRole"}]}`)
	creds := awscreds.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret, Region: "us-east-1", AssumeRoleARN: role}
	p := e.principal(map[string]map[string]any{"etl/good": e.goodVariables()})
	p.Clients, p.Jobs[0].Clients = e.clients(creds), e.clients(creds)
	must(t, e.aws.SetIdentityPolicy(role, e.policy(p)))
	must(t, e.aws.SetIdentityPolicy(e.user, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`))

	rep := doctor.Run(context.Background(), []doctor.Principal{p})
	if rep.Identities[0].ARN == "" || !strings.Contains(rep.Identities[0].ARN, ":assumed-role/prefect-runner/") {
		t.Fatalf("identity %+v", rep.Identities[0])
	}
	var perm *doctor.Check
	for i, c := range rep.Checks {
		if strings.HasPrefix(c.Name, "Permissions of ") {
			perm = &rep.Checks[i]
		}
		if c.Status != doctor.Pass {
			t.Errorf("%s %s: %s / %s", c.Status, c.Name, c.Detail, c.Fix)
		}
	}
	if perm == nil || perm.Name != "Permissions of "+role {
		t.Errorf("the permission check should name the role with its path:\n%s", dump(rep))
	}
}

// A call that never gets an answer fails its check at the client's
// deadline; the other checks still run.
func TestHungCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := awsfake.New(awsfake.Options{})
		t.Cleanup(a.Close)
		a.CreateCluster("prod")
		empty := filepath.Join(t.TempDir(), "empty")
		must(t, os.WriteFile(empty, nil, 0o600))
		f := awsclient.NewFactory(awsclient.FactoryOptions{
			BaseEndpoint: "http://awsfake.invalid", HTTPClient: a.HTTPClient(), MaxAttempts: 2, Backoff: noDelay{},
			Timeouts:    awsclient.CallTimeouts{Attempt: 5 * time.Second, Total: 20 * time.Second},
			LoadOptions: []func(*config.LoadOptions) error{config.WithSharedConfigFiles([]string{empty}), config.WithSharedCredentialsFiles([]string{empty})},
		})
		c, err := f.For(context.Background(), awscreds.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret, Region: "us-east-1"})
		must(t, err)
		a.InjectFault(awsfake.Fault{Service: "ecs", Action: "DescribeClusters", Hang: true})

		p := doctor.Principal{Credentials: "test", Clients: doctor.NewClients(c.Config, c.Endpoint, false),
			Jobs: []doctor.Job{{Deployment: "etl/good", Plan: plan(t, "etl/good", map[string]any{"cluster": "prod", "image": "python:3.12"})}}}
		start := time.Now()
		rep := doctor.Run(context.Background(), []doctor.Principal{p})
		if took := time.Since(start); took != 10*time.Second {
			t.Errorf("took %s, want the two 5s attempts", took)
		}
		var cluster doctor.Check
		for _, ch := range rep.Checks {
			if ch.Name == "Cluster prod" {
				cluster = ch
			}
		}
		if cluster.Status != doctor.Fail || !strings.Contains(cluster.Detail, "no usable answer") || !strings.Contains(cluster.Fix, "run ecsworker doctor again") {
			t.Errorf("Cluster prod: %+v\n%s", cluster, dump(rep))
		}
		if s := rep.Summary(); s.Passed < 2 {
			t.Errorf("the other checks should pass:\n%s", dump(rep))
		}
	})
}
