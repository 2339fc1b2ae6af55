package awscmd_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/cli/clitest"
	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/jsonv/jsonvtest"
)

// Secrets of the test blocks: none may appear in any output.
const (
	policyTestKeyID  = "AKIAIOSFODNN7EXAMPLE"
	policyTestSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	policyTestExtID  = "external-id-7c1f9e"
)

// policyEnv is the Prefect API test server with a pool of deployments.
type policyEnv struct {
	s     *prefectfake.Server
	t     *testing.T
	flows map[string]string
}

// newPolicyEnv starts the Prefect API test server, which checks every call
// against Prefect's OpenAPI schema, and points the CLI at it.
func newPolicyEnv(t *testing.T) *policyEnv {
	t.Helper()
	e := &policyEnv{s: prefectfake.NewTestServer(t, prefectfake.Options{}), t: t, flows: map[string]string{}}
	t.Setenv("PREFECT_HOME", t.TempDir())
	t.Setenv("PREFECT_API_URL", e.s.URL())
	t.Setenv("PREFECT_API_KEY", "")
	t.Setenv("PREFECT_API_AUTH_STRING", "")
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_NAME"} {
		t.Setenv(k, "")
	}
	e.s.CreateWorkPool("ecs-pool", "ecs", clitest.DefaultTemplateMap(t))
	e.s.CreateWorkPool("other-pool", "ecs", clitest.DefaultTemplateMap(t))
	return e
}

// deploy creates the deployment flow/name in pool with job variables.
func (e *policyEnv) deploy(pool, flow, name, vars string) {
	e.t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(vars), &v); err != nil {
		e.t.Fatal(err)
	}
	id, ok := e.flows[flow]
	if !ok {
		id = e.s.CreateFlow(flow)["id"].(string)
		e.flows[flow] = id
	}
	e.s.CreateDeployment(id, name, pool, "", v)
}

// credentialsBlock stores an aws-credentials block and returns the job
// variable that refers to it.
func (e *policyEnv) credentialsBlock(name string, data map[string]any) string {
	id := e.s.SetBlockDocument("aws-credentials", name, data)
	return fmt.Sprintf(`{"$ref": {"block_document_id": %q}}`, id)
}

// awsPolicy runs `ecsworker aws-policy ARGS` through Main.
func awsPolicy(t *testing.T, args ...string) clitest.Result {
	t.Helper()
	return runChecked(t, append([]string{"aws-policy"}, args...)...)
}

// runChecked runs ecsworker with args through Main, as a user would, and
// fails the test if a secret of the test blocks or a traceback shows in
// the output.
func runChecked(t *testing.T, args ...string) clitest.Result {
	t.Helper()
	r := clitest.Run(t, "", args...)
	for _, secret := range []string{policyTestKeyID, policyTestSecret, policyTestExtID, "aws-secret-value-xyz"} {
		if strings.Contains(r.Stdout+r.Stderr, secret) {
			t.Errorf("%v: the secret %q leaked into the output:\n%s\n%s", args, secret, r.Stdout, r.Stderr)
		}
	}
	if strings.Contains(r.Stderr, "panic:") {
		t.Errorf("%v: a traceback:\n%s", args, r.Stderr)
	}
	return r
}

// statements indexes a policy document's statements by Sid.
func policyStatements(t *testing.T, doc *jsonv.Object) map[string]*jsonv.Object {
	t.Helper()
	if doc.GetString("Version") != "2012-10-17" {
		t.Errorf("policy version %q", doc.GetString("Version"))
	}
	out := map[string]*jsonv.Object{}
	for _, s := range doc.GetArray("Statement") {
		o := s.(*jsonv.Object)
		out[o.GetString("Sid")] = o
	}
	return out
}

func TestAWSPolicyOneIdentity(t *testing.T) {
	e := newPolicyEnv(t)
	t.Setenv("AWS_REGION", "eu-west-1")
	e.deploy("ecs-pool", "etl", "nightly", `{"cluster": "prod", "configure_cloudwatch_logs": true,
		"execution_role_arn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"}`)
	e.deploy("ecs-pool", "etl", "hourly", `{"cluster": "prod", "subnets": ["subnet-1"],
		"task_definition_arn": "arn:aws:ecs:eu-west-1:123456789012:task-definition/etl-hourly:3"}`)
	e.deploy("other-pool", "etl", "elsewhere", `{"cluster": "not-this-one"}`)

	r := awsPolicy(t, "--pool", "ecs-pool")
	if r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Stderr)
	}
	doc, err := jsonv.DecodeObject([]byte(r.Stdout))
	if err != nil {
		t.Fatalf("stdout is not a policy document: %v\n%s", err, r.Stdout)
	}
	st := policyStatements(t, doc)
	run := st["RunTaskDefinitionsOnTheCluster"]
	if run == nil {
		t.Fatalf("no RunTask statement: %s", r.Stdout)
	}
	gotRun := jsonvtest.Strings(policyField(run, "Resource"))
	if len(gotRun) != 2 || !slices.Contains(gotRun, "arn:aws:ecs:eu-west-1:123456789012:task-definition/etl-hourly:3") ||
		!strings.HasPrefix(gotRun[0]+gotRun[1], "arn:aws:ecs:eu-west-1:123456789012:task-definition/") {
		t.Errorf("RunTask on %v", gotRun)
	}
	if c := run.GetObject("Condition").GetObject("ArnEquals").GetString("ecs:cluster"); c != "arn:aws:ecs:eu-west-1:123456789012:cluster/prod" {
		t.Errorf("ecs:cluster = %q", c)
	}
	if strings.Contains(r.Stdout, "not-this-one") {
		t.Errorf("another pool's deployment is in the policy")
	}
	if st["PassOnlyTheFlowRunRoles"] == nil || st["ReadCrashedFlowRunLogs"] == nil || st["FindTheTasksSubnets"] == nil {
		t.Errorf("missing statements for roles, logs or subnets: %v", policySids(st))
	}
	if got := jsonvtest.Strings(policyField(st["ReadCrashedFlowRunLogs"], "Resource")); !slices.Equal(got, []string{"arn:aws:logs:eu-west-1:123456789012:log-group:prefect:log-stream:*"}) {
		t.Errorf("logs on %v", got)
	}
	if st["ConsumeTaskStateChanges"] != nil {
		t.Errorf("SQS without --events-queue")
	}
	clitest.MustContain(t, "stderr", r.Stderr, "note: flow runs can override job variables", "run existing task definitions, whose roles and log groups only AWS knows: etl/hourly (arn:aws:ecs:eu-west-1:123456789012:task-definition/etl-hourly:3)")
	if strings.Contains(r.Stdout, ":*:cluster") || strings.Contains(r.Stderr, "account is unknown") {
		t.Errorf("the account should come from the ARNs:\n%s\n%s", r.Stdout, r.Stderr)
	}

	// One deployment by name: only its family.
	r = awsPolicy(t, "--pool", "ecs-pool", "--deployment", "etl/hourly", "--events-queue", "ecsworker-events")
	if r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Stderr)
	}
	doc, _ = jsonv.DecodeObject([]byte(r.Stdout))
	st = policyStatements(t, doc)
	if st["RegisterTheFamilies"] != nil {
		t.Errorf("a task_definition_arn deployment registers nothing: %s", r.Stdout)
	}
	if got := jsonvtest.Strings(policyField(st["ConsumeTaskStateChanges"], "Resource")); !slices.Equal(got, []string{"arn:aws:sqs:eu-west-1:123456789012:ecsworker-events"}) {
		t.Errorf("events queue %v", got)
	}
}

func (e *policyEnv) identities(t *testing.T, r clitest.Result) []*jsonv.Object {
	t.Helper()
	if r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Stderr)
	}
	doc, err := jsonv.DecodeObject([]byte(r.Stdout))
	if err != nil {
		t.Fatalf("--json output: %v\n%s", err, r.Stdout)
	}
	var out []*jsonv.Object
	for _, i := range doc.GetArray("identities") {
		out = append(out, i.(*jsonv.Object))
	}
	if len(doc.GetArray("notes")) == 0 {
		t.Errorf("no notes in the JSON output")
	}
	return out
}

func TestAWSPolicyIdentities(t *testing.T) {
	e := newPolicyEnv(t)
	prod := e.credentialsBlock("prod", map[string]any{
		"aws_access_key_id": policyTestKeyID, "aws_secret_access_key": policyTestSecret, "region_name": "us-west-2",
		"assume_role_arn":    "arn:aws:iam::210987654321:role/prefect-runner",
		"assume_role_kwargs": map[string]any{"ExternalId": policyTestExtID},
	})
	e.deploy("ecs-pool", "etl", "nightly", `{"cluster": "prod", "subnets": ["subnet-1"], "aws_credentials": `+prod+`}`)
	e.deploy("ecs-pool", "etl", "hourly", `{"cluster": "dev", "subnets": ["subnet-1"]}`)

	// Without --json, two identities are an error that names them.
	r := awsPolicy(t, "--pool", "ecs-pool", "--region", "us-east-1")
	if r.Code != 2 || r.Stdout != "" {
		t.Fatalf("two identities without --json: %+v", r)
	}
	clitest.MustContain(t, "stderr", r.Stderr, "2 different AWS identities", "access key AKIA**** (#", "assuming arn:aws:iam::210987654321:role/prefect-runner: etl/nightly",
		"the worker's own AWS credentials (default chain): etl/hourly", "--deployment", "--json")

	r = awsPolicy(t, "--pool", "ecs-pool", "--json", "--events-queue", "https://sqs.us-east-1.amazonaws.com/123456789012/ecsworker-events")
	ids := e.identities(t, r)
	if len(ids) != 3 {
		t.Fatalf("%d identities, want the role, the default chain and the keys that assume the role:\n%s", len(ids), r.Stdout)
	}
	byDesc := map[string]*jsonv.Object{}
	for _, i := range ids {
		byDesc[i.GetString("credentials")] = i
	}
	var role, own, keys *jsonv.Object
	for d, i := range byDesc {
		switch {
		case strings.Contains(d, "assuming"):
			role = i
		case strings.Contains(d, "default chain"):
			own = i
		case strings.HasPrefix(d, "access key"):
			keys = i
		}
	}
	if role == nil || own == nil || keys == nil {
		t.Fatalf("identities %v", policySids(byDesc))
	}
	if got := jsonvtest.Strings(policyField(role, "deployments")); !slices.Equal(got, []string{"etl/nightly"}) {
		t.Errorf("the role runs %v", got)
	}
	// The role's jobs run in the block's region and the role's account.
	roleSt := policyStatements(t, role.GetObject("policy"))
	if c := roleSt["RunTaskDefinitionsOnTheCluster"].GetObject("Condition").GetObject("ArnEquals").GetString("ecs:cluster"); c != "arn:aws:ecs:us-west-2:210987654321:cluster/prod" {
		t.Errorf("the role's cluster: %q", c)
	}
	if roleSt["ConsumeTaskStateChanges"] != nil || roleSt["AssumeTheJobsRoles"] != nil {
		t.Errorf("the role reads the queue or assumes roles: %v", policySids(roleSt))
	}
	ownSt := policyStatements(t, own.GetObject("policy"))
	if got := jsonvtest.Strings(policyField(ownSt["ConsumeTaskStateChanges"], "Resource")); !slices.Equal(got, []string{"arn:aws:sqs:us-east-1:123456789012:ecsworker-events"}) {
		t.Errorf("the worker's own identity reads %v", got)
	}
	if jsonvtest.Strings(policyField(own, "deployments"))[0] != "etl/hourly" {
		t.Errorf("the default chain runs %v", policyField(own, "deployments"))
	}
	keysSt := policyStatements(t, keys.GetObject("policy"))
	if len(keysSt) != 1 || keysSt["AssumeTheJobsRoles"] == nil || keysSt["AssumeTheJobsRoles"].GetString("Resource") != "arn:aws:iam::210987654321:role/prefect-runner" {
		t.Errorf("the keys' policy: %s", keys.GetObject("policy"))
	}
	if len(jsonvtest.Strings(policyField(keys, "deployments"))) != 0 || !strings.Contains(keys.GetString("purpose"), "assume arn:aws:iam::210987654321:role/prefect-runner for etl/nightly") {
		t.Errorf("the keys' entry: %s", keys)
	}

	// One identity picked with --deployment: its policy on stdout, and the
	// policy for assuming its role in a note.
	r = awsPolicy(t, "--pool", "ecs-pool", "--deployment", "etl/nightly")
	if r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Stderr)
	}
	if _, err := jsonv.DecodeObject([]byte(r.Stdout)); err != nil || !strings.Contains(r.Stdout, "arn:aws:ecs:us-west-2:210987654321:task/prod/*") {
		t.Errorf("stdout: %v\n%s", err, r.Stdout)
	}
	clitest.MustContain(t, "stderr", r.Stderr, "access key AKIA**** (#1a5d44a2) also needs this policy, to assume arn:aws:iam::210987654321:role/prefect-runner for etl/nightly", `"Action":"sts:AssumeRole"`)
}

func TestAWSPolicyUnknownAccount(t *testing.T) {
	e := newPolicyEnv(t)
	e.deploy("ecs-pool", "etl", "nightly", `{"subnets": ["subnet-1"]}`)
	r := awsPolicy(t, "--pool", "ecs-pool")
	if r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Stderr)
	}
	clitest.MustContain(t, "stdout", r.Stdout, `"arn:*:ecs:*:*:cluster/default"`, `"ArnLike"`)
	clitest.MustContain(t, "stderr", r.Stderr, "the AWS account is unknown for the worker's own AWS credentials (default chain)", "give --account",
		"the AWS region is unknown for etl/nightly")

	r = awsPolicy(t, "--pool", "ecs-pool", "--account", "123456789012", "--region", "ap-south-1")
	if r.Code != 0 || !strings.Contains(r.Stdout, "arn:aws:ecs:ap-south-1:123456789012:cluster/default") || strings.Contains(r.Stderr, "unknown") {
		t.Errorf("--account and --region: %+v", r)
	}
	r = awsPolicy(t, "--pool", "ecs-pool", "--account", "1234")
	if r.Code != 2 || !strings.Contains(r.Stderr, `account "1234"`) || !strings.Contains(r.Stderr, "12 digits") {
		t.Errorf("a bad --account: %+v", r)
	}
}

func TestAWSPolicyBrokenConfigurations(t *testing.T) {
	e := newPolicyEnv(t)
	e.deploy("ecs-pool", "etl", "nightly", `{"cluster": "prod", "subnets": ["subnet-1"]}`)
	e.deploy("ecs-pool", "etl", "broken", `{"placement_strategy": [{"type": "spread", "field": "attribute:ecs.availability-zone"}]}`)
	badBlock := e.credentialsBlock("half", map[string]any{"aws_access_key_id": policyTestKeyID})
	e.deploy("ecs-pool", "etl", "half-keys", `{"subnets": ["subnet-1"], "aws_credentials": `+badBlock+`}`)

	r := awsPolicy(t, "--pool", "ecs-pool")
	if r.Code != 2 || r.Stdout != "" {
		t.Fatalf("invalid deployments: %+v", r)
	}
	clitest.MustContain(t, "stderr", r.Stderr, "etl/broken: ", "placement", "etl/half-keys: ", "aws_secret_access_key", "2 of 3 deployments do not validate")

	for name, tc := range map[string]struct {
		args []string
		code int
		want string
	}{
		"no pool":            {args: nil, code: 2, want: "--pool is required"},
		"unknown pool":       {args: []string{"--pool", "nope"}, code: 1, want: `work pool "nope" not found`},
		"another pool":       {args: []string{"--pool", "other-pool", "--deployment", "etl/nightly"}, code: 2, want: `runs in work pool "ecs-pool", not "other-pool"`},
		"unknown deployment": {args: []string{"--pool", "ecs-pool", "--deployment", "etl/weekly"}, code: 1, want: `deployment "etl/weekly" not found`},
		"bad deployment":     {args: []string{"--pool", "ecs-pool", "--deployment", "weekly"}, code: 2, want: "FLOW_NAME/DEPLOYMENT_NAME"},
		"bad queue":          {args: []string{"--pool", "ecs-pool", "--deployment", "etl/nightly", "--events-queue", "not a queue"}, code: 2, want: `--events-queue "not a queue"`},
		"valid one picked":   {args: []string{"--pool", "ecs-pool", "--deployment", "etl/nightly"}, code: 0},
	} {
		t.Run(name, func(t *testing.T) {
			r := awsPolicy(t, tc.args...)
			if r.Code != tc.code || !strings.Contains(r.Stderr, tc.want) {
				t.Errorf("exit %d, want %d with %q:\n%s", r.Code, tc.code, tc.want, r.Stderr)
			}
			if tc.code != 0 && r.Stdout != "" {
				t.Errorf("stdout on failure: %s", r.Stdout)
			}
		})
	}
}

func TestAWSPolicyPoolWithoutDeployments(t *testing.T) {
	newPolicyEnv(t)
	r := awsPolicy(t, "--pool", "ecs-pool", "--region", "us-east-1", "--account", "123456789012")
	if r.Code != 0 {
		t.Fatalf("exit %d:\n%s", r.Code, r.Stderr)
	}
	clitest.MustContain(t, "stdout", r.Stdout, "arn:aws:ecs:us-east-1:123456789012:task-definition/prefect_ecs-pool_*:*")
	clitest.MustContain(t, "stderr", r.Stderr, `work pool "ecs-pool" has no deployments`)
}

func policySids(m map[string]*jsonv.Object) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func policyField(o *jsonv.Object, k string) any {
	v, _ := o.Get(k)
	return v
}
