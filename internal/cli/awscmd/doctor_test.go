package awscmd_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/cli/clitest"
	"github.com/ecsworker/ecsworker/internal/doctor"
	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// doctorEnv is the Prefect API test server with a pool, and the AWS test
// server as the account the pool's deployments run in: cluster prod with
// Fargate Spot, a VPC with private subnets behind a NAT gateway, roles
// that trust ecs-tasks, an image in ECR.
type doctorEnv struct {
	*policyEnv
	aws      *awsfake.Server
	user     string
	vpc, sg  string
	private  []string
	public   string
	exec     string
	image    string
	otherVPC string
}

const doctorTrustECS = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

func newDoctorEnv(t *testing.T) *doctorEnv {
	t.Helper()
	e := &doctorEnv{policyEnv: newPolicyEnv(t)}
	a := awsfake.NewTestServer(t, awsfake.Options{})
	e.aws, e.user = a, "arn:aws:iam::"+a.AccountID()+":user/awsfake"
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": a.URL(), "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "aws-secret-value-xyz",
		"AWS_REGION": "us-east-1", "AWS_PROFILE": "", "AWS_CONFIG_FILE": filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"), "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	a.CreateCluster("prod")
	if err := a.SetClusterCapacityProviders("prod", []string{"FARGATE", "FARGATE_SPOT"}); err != nil {
		t.Fatal(err)
	}
	e.vpc = a.AddVPC("10.0.0.0/16")
	for i := range 2 {
		s := a.AddSubnet(e.vpc, fmt.Sprintf("10.0.%d.0/24", i+1), "")
		if err := a.SetSubnetRoute(s, "nat-0123456789abcdef0"); err != nil {
			t.Fatal(err)
		}
		e.private = append(e.private, s)
	}
	e.public = a.AddSubnet(e.vpc, "10.0.100.0/24", "")
	if err := a.SetSubnetRoute(e.public, "igw-0123456789abcdef0"); err != nil {
		t.Fatal(err)
	}
	e.sg = a.AddSecurityGroup(e.vpc, "flows")
	e.exec = a.CreateRole("ecsTaskExecutionRole", doctorTrustECS)
	e.image = a.PutImage("flows", "v1", 512_000_000)
	e.otherVPC, _, _ = a.DefaultNetwork()
	return e
}

// good is a deployment's variables under which every check passes.
func (e *doctorEnv) good(extra string) string {
	v := fmt.Sprintf(`{"cluster": "prod", "launch_type": "FARGATE_SPOT", "vpc_id": %q, "subnets": [%q, %q],
		"security_groups": [%q], "assign_public_ip": false, "execution_role_arn": %q, "image": %q`,
		e.vpc, e.private[0], e.private[1], e.sg, e.exec, e.image)
	if extra != "" {
		v += ", " + extra
	}
	return v + "}"
}

// allow gives the caller the aws-policy output of the pool (as the
// command prints it) and doctor's own actions but those in deny.
func (e *doctorEnv) allow(t *testing.T, principal string, deny ...string) {
	t.Helper()
	r := awsPolicy(t, "--pool", "ecs-pool", "--account", e.aws.AccountID(), "--region", "us-east-1")
	if r.Code != 0 {
		t.Fatalf("aws-policy: %+v", r)
	}
	doc, err := jsonv.DecodeObject([]byte(r.Stdout))
	if err != nil {
		t.Fatal(err)
	}
	var own []any
	for _, a := range doctor.Actions() {
		if !contains(deny, a) {
			own = append(own, a)
		}
	}
	var kept []any
	for _, s := range doc.GetArray("Statement") {
		if !contains(deny, s.(*jsonv.Object).GetString("Sid")) {
			kept = append(kept, s)
		}
	}
	doc.Set("Statement", append(kept, jsonv.ObjectOf("Effect", "Allow", "Action", own, "Resource", "*")))
	b, _ := jsonv.Marshal(doc)
	if err := e.aws.SetIdentityPolicy(principal, string(b)); err != nil {
		t.Fatal(err)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// runDoctorCmd runs `ecsworker doctor ARGS` through Main.
func runDoctorCmd(t *testing.T, args ...string) clitest.Result {
	t.Helper()
	return runChecked(t, append([]string{"doctor"}, args...)...)
}

func TestDoctorChecklist(t *testing.T) {
	tests := map[string]struct {
		setup  func(t *testing.T, e *doctorEnv)
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		"good configuration": {
			setup: func(t *testing.T, e *doctorEnv) {
				e.deploy("ecs-pool", "etl", "nightly", e.good(""))
				e.deploy("ecs-pool", "etl", "hourly", e.good(""))
				e.deploy("other-pool", "etl", "elsewhere", `{"cluster": "not-this-one"}`)
				e.allow(t, e.user)
			},
			stdout: []string{"✓ AWS credentials: the worker's own AWS credentials (default chain) — account 123456789012, arn:aws:iam::123456789012:user/awsfake",
				"✓ Cluster prod — ACTIVE in us-east-1, capacity providers FARGATE, FARGATE_SPOT [etl/hourly, etl/nightly]",
				"✓ Capacity providers of cluster prod", "✓ Subnets ", "✓ Security group ", "✓ Internet access from subnets ",
				"✓ Execution role ecsTaskExecutionRole", "✓ Image 123456789012.dkr.ecr.us-east-1.amazonaws.com/flows:v1 — in ECR, 512 MB",
				"✓ Permissions of arn:aws:iam::123456789012:user/awsfake", "0 failed, 0 skipped"},
			stderr: []string{"note: flow runs can override job variables"},
		},
		"broken configuration": {
			setup: func(t *testing.T, e *doctorEnv) {
				e.deploy("ecs-pool", "etl", "nightly", e.good(`"cluster": "nope"`))
				e.deploy("ecs-pool", "etl", "hourly", fmt.Sprintf(`{"cluster": "prod", "subnets": [%q], "assign_public_ip": false, "security_groups": [%q],
					"execution_role_arn": "arn:aws:iam::123456789012:role/missing", "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/flows:v9",
					"configure_cloudwatch_logs": true, "cloudwatch_logs_options": {"awslogs-create-group": "false"}}`, e.public, e.sg))
				e.allow(t, e.user, "RunTaskDefinitionsOnClusterProd")
			},
			code: 1,
			stdout: []string{"✗ Cluster nope — ECS has no cluster nope in region us-east-1 [etl/nightly]",
				"    fix: Create it (aws ecs create-cluster --cluster-name nope --region us-east-1)",
				"- Capacity providers of cluster nope — not checked",
				"(assignPublicIp DISABLED) — assignPublicIp is DISABLED but the only way out of",
				"    fix: Set assign_public_ip to true",
				"✗ Execution role missing — IAM has no role missing", "aws iam create-role --role-name missing",
				"✗ Image 123456789012.dkr.ecr.us-east-1.amazonaws.com/flows:v9 — repository flows has no image with tag v9",
				"✗ Log group prefect — CloudWatch Logs has no group prefect in us-east-1",
				"✗ Permissions of arn:aws:iam::123456789012:user/awsfake — 1 of the 10 actions of the aws-policy output is denied: ecs:RunTask on arn:aws:ecs:us-east-1:123456789012:task-definition/prefect_ecs-pool_",
				"    fix: ecsworker aws-policy --pool ecs-pool > policy.json && aws iam put-user-policy --user-name awsfake --policy-name ecsworker --policy-document file://policy.json",
				"failed, 1 skipped"},
		},
		"an identity that may not call iam:GetRole": {
			setup: func(t *testing.T, e *doctorEnv) {
				e.deploy("ecs-pool", "etl", "nightly", e.good(""))
				e.allow(t, e.user, "iam:GetRole")
			},
			stdout: []string{"- Execution role ecsTaskExecutionRole — not checked: AWS refused iam:GetRole to this identity", "    grant: iam:GetRole", "0 failed, 1 skipped"},
		},
		"a block that assumes a role": {
			setup: func(t *testing.T, e *doctorEnv) {
				role := e.aws.CreateRole("prefect-runner", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"`+e.user+`"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"`+policyTestExtID+`"}}}]}`)
				block := e.credentialsBlock("runner", map[string]any{
					"aws_access_key_id": policyTestKeyID, "aws_secret_access_key": policyTestSecret, "region_name": "us-east-1",
					"assume_role_arn": role, "assume_role_kwargs": map[string]any{"ExternalId": policyTestExtID},
				})
				e.deploy("ecs-pool", "etl", "nightly", e.good(`"aws_credentials": `+block))
				e.allow(t, role)
				if err := e.aws.SetIdentityPolicy(e.user, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","iam:SimulatePrincipalPolicy"],"Resource":"*"}]}`); err != nil {
					t.Fatal(err)
				}
			},
			stdout: []string{"✓ AWS credentials: access key AKIA**** (#", "assuming arn:aws:iam::123456789012:role/prefect-runner — account 123456789012, arn:aws:sts::123456789012:assumed-role/prefect-runner/",
				"✓ Permissions of arn:aws:iam::123456789012:role/prefect-runner — allowed the 9 actions", "used to assume arn:aws:iam::123456789012:role/prefect-runner for etl/nightly",
				"✓ Permissions of arn:aws:iam::123456789012:user/awsfake — allowed the 1 action of", "0 failed, 0 skipped"},
		},
		"credentials that do not resolve": {
			setup: func(t *testing.T, e *doctorEnv) {
				block := e.credentialsBlock("runner", map[string]any{
					"aws_access_key_id": policyTestKeyID, "aws_secret_access_key": policyTestSecret, "region_name": "us-east-1",
					"assume_role_arn": e.exec, "assume_role_kwargs": map[string]any{"ExternalId": policyTestExtID},
				})
				e.deploy("ecs-pool", "etl", "nightly", e.good(`"aws_credentials": `+block))
			},
			code:   1,
			stdout: []string{"✗ AWS credentials: access key AKIA**** (#", "the credentials do not resolve", "sts:AssumeRole", "nothing else was checked for etl/nightly", "fix: Check the aws_credentials block"},
		},
		"a pool without deployments": {
			setup:  func(t *testing.T, e *doctorEnv) {},
			stdout: []string{"✗ Cluster default — ECS has no cluster default", "✓ Subnets of the default VPC", "✓ Images outside ECR — not checked (doctor looks up only ECR images): prefecthq/prefect:3-latest"},
			code:   1, // the account has no cluster "default"
		},
		"no region": {
			setup: func(t *testing.T, e *doctorEnv) {
				e.deploy("ecs-pool", "etl", "nightly", e.good(""))
				t.Setenv("AWS_REGION", "")
			},
			code: 2, stderr: []string{"no AWS region", "or give --region"},
		},
		"no --pool": {
			args: []string{}, code: 2, stderr: []string{"--pool is required"},
		},
		"an invalid deployment": {
			setup: func(t *testing.T, e *doctorEnv) {
				e.deploy("ecs-pool", "etl", "broken", `{"launch_type": "FARGATE", "placement_strategy": [{"type": "binpack", "field": "memory"}]}`)
			},
			code: 2, stderr: []string{"etl/broken: ", "placement", "do not validate"},
		},
		"a deployment of another pool": {
			setup: func(t *testing.T, e *doctorEnv) {
				e.deploy("other-pool", "etl", "elsewhere", `{"cluster": "prod"}`)
			},
			args: []string{"--pool", "ecs-pool", "--deployment", "etl/elsewhere"},
			code: 2, stderr: []string{`it runs in work pool "other-pool"`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newDoctorEnv(t)
			if tc.setup != nil {
				tc.setup(t, e)
			}
			args := tc.args
			if args == nil {
				args = []string{"--pool", "ecs-pool"}
			}
			r := runDoctorCmd(t, args...)
			if r.Code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.Code, tc.code, r.Stdout, r.Stderr)
			}
			clitest.MustContain(t, "stdout", r.Stdout, tc.stdout...)
			clitest.MustContain(t, "stderr", r.Stderr, tc.stderr...)
			if tc.code == 2 && r.Stdout != "" {
				t.Errorf("stdout should be empty:\n%s", r.Stdout)
			}
		})
	}
	t.Run("pool default with a cluster", func(t *testing.T) {
		e := newDoctorEnv(t)
		e.aws.CreateCluster("default")
		r := runDoctorCmd(t, "--pool", "ecs-pool")
		if r.Code != 0 {
			t.Fatalf("exit %d:\n%s\n%s", r.Code, r.Stdout, r.Stderr)
		}
		clitest.MustContain(t, "stdout", r.Stdout, "✓ Permissions of", "0 failed, 0 skipped")
	})
}

func TestDoctorJSON(t *testing.T) {
	e := newDoctorEnv(t)
	e.deploy("ecs-pool", "etl", "nightly", e.good(""))
	e.deploy("ecs-pool", "etl", "hourly", e.good(`"cluster": "nope"`))
	r := runDoctorCmd(t, "--pool", "ecs-pool", "--json")
	if r.Code != 1 {
		t.Fatalf("exit %d:\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	var out struct {
		Identity   map[string]any   `json:"identity"`
		Identities []map[string]any `json:"identities"`
		Checks     []doctor.Check   `json:"checks"`
		Summary    map[string]int   `json:"summary"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, r.Stdout)
	}
	if out.Identity["account"] != "123456789012" || out.Identity["arn"] != e.user || len(out.Identities) != 1 {
		t.Errorf("identity: %v %v", out.Identity, out.Identities)
	}
	byName := map[string]doctor.Check{}
	for _, c := range out.Checks {
		byName[c.Name] = c
		if c.Deployments == nil {
			t.Errorf("%s: no deployments list", c.Name)
		}
	}
	if c := byName["Cluster nope"]; c.Status != doctor.Fail || strings.Join(c.Deployments, ",") != "etl/hourly" || !strings.Contains(c.Fix, "create-cluster") {
		t.Errorf("Cluster nope: %+v", c)
	}
	if c := byName["Cluster prod"]; c.Status != doctor.Pass || strings.Join(c.Deployments, ",") != "etl/nightly" {
		t.Errorf("Cluster prod: %+v", c)
	}
	if out.Summary["failed"] != 1 || out.Summary["passed"] != len(out.Checks)-2 || out.Summary["skipped"] != 1 {
		t.Errorf("summary %v over %d checks", out.Summary, len(out.Checks))
	}
	if !strings.Contains(r.Stdout, `"fix": "Create it (aws ecs create-cluster`) || strings.Contains(r.Stdout, `\u0026`) {
		t.Errorf("the JSON should keep commands readable:\n%s", r.Stdout)
	}
}
