package infra_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/ecsworker/ecsworker/internal/cfnstack"
	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
	"github.com/ecsworker/ecsworker/internal/infra"
	"github.com/ecsworker/ecsworker/internal/jsonv"
)

func validConfig() infra.ServiceConfig {
	return infra.ServiceConfig{
		StackName: "ecsworker-p", WorkPool: "p", ClusterArn: "arn:aws:ecs:us-east-1:123456789012:cluster/prod",
		VpcID: "vpc-0123abcd", SubnetIDs: []string{"subnet-0123abcd"}, Image: "img:1",
		APIURL: "https://api.prefect.cloud/api/accounts/a/workspaces/w", APIKey: "pnu_x",
		CPU: 512, Memory: 1024, CPUArchitecture: "X86_64", DesiredCount: 1, MinCapacity: 1,
		LogRetentionDays: 30, FlowRunLogGroup: "prefect", FamilyPattern: "prefect_p_*",
		CrashAlarmThreshold: 5, SubmissionLatencyAlarmSeconds: 60,
	}
}

func TestServiceConfigValidate(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		tweak func(*infra.ServiceConfig)
		want  []string // substrings of the error; none means valid
	}{
		"valid": {tweak: func(*infra.ServiceConfig) {}},
		"existing secret only": {tweak: func(c *infra.ServiceConfig) {
			c.APIKey, c.APIKeySecretArn = "", "arn:aws:secretsmanager:us-east-1:123456789012:secret:k-AbC"
		}},
		"self-hosted no auth": {tweak: func(c *infra.ServiceConfig) { c.APIKey, c.APIURL = "", "http://prefect.internal:4200/api" }},
		"cloud without key": {tweak: func(c *infra.ServiceConfig) { c.APIKey = "" },
			want: []string{"Prefect Cloud needs an API key", "--api-key-stdin", "--api-key-secret-arn"}},
		"fargate memory": {tweak: func(c *infra.ServiceConfig) { c.CPU, c.Memory = 1024, 1024 },
			want: []string{"--memory 1024: with --cpu 1024 Fargate takes 2048 to 8192 in steps of 1024 MiB"}},
		"fargate cpu":   {tweak: func(c *infra.ServiceConfig) { c.CPU = 300 }, want: []string{"--cpu 300"}},
		"retention":     {tweak: func(c *infra.ServiceConfig) { c.LogRetentionDays = 10 }, want: []string{"--log-retention-days 10", "14"}},
		"bad network":   {tweak: func(c *infra.ServiceConfig) { c.VpcID, c.SubnetIDs = "vpc1", []string{"sub-1"} }, want: []string{`--vpc "vpc1"`, `"sub-1" is not a subnet ID`}},
		"no network":    {tweak: func(c *infra.ServiceConfig) { c.VpcID, c.SubnetIDs = "", nil }, want: []string{"--vpc is required", "--subnets is required"}},
		"autoscaling":   {tweak: func(c *infra.ServiceConfig) { c.MaxCapacity, c.DesiredCount = 3, 5 }, want: []string{"--desired-count 5", "between --min-capacity 1 and --max-capacity 3"}},
		"pool and name": {tweak: func(c *infra.ServiceConfig) { c.WorkPool, c.StackName = "a,b", "1stack" }, want: []string{"without commas", `--stack-name "1stack"`}},
		"no pool":       {tweak: func(c *infra.ServiceConfig) { c.WorkPool = "" }, want: []string{"--work-pool is required"}},
		"secret arns": {tweak: func(c *infra.ServiceConfig) { c.APIKeySecretArn, c.AuthStringSecretArn = "my-secret", "x" },
			want: []string{`--api-key-secret-arn "my-secret"`, `--auth-string-secret-arn "x"`}},
		"api url":    {tweak: func(c *infra.ServiceConfig) { c.APIURL = "prefect.internal" }, want: []string{`Prefect API URL "prefect.internal"`}},
		"no api url": {tweak: func(c *infra.ServiceConfig) { c.APIURL = "" }, want: []string{"no Prefect API URL"}},
		"family":     {tweak: func(c *infra.ServiceConfig) { c.FamilyPattern = "a b" }, want: []string{`--family-pattern "a b"`}},
		"role":       {tweak: func(c *infra.ServiceConfig) { c.FlowRunTaskRoleArn = "etl" }, want: []string{"--flow-run-task-role-arn"}},
		"alarms":     {tweak: func(c *infra.ServiceConfig) { c.AlarmEmail, c.AlarmTopicArn = "ops", "t" }, want: []string{"--alarm-email", "--alarm-topic-arn"}},
		"alarm thresholds": {tweak: func(c *infra.ServiceConfig) { c.CrashAlarmThreshold, c.SubmissionLatencyAlarmSeconds = 0, -1 },
			want: []string{"--crash-alarm-threshold 0", "--submission-latency-alarm-seconds -1", "1 or more"}},
		"architecture": {tweak: func(c *infra.ServiceConfig) { c.CPUArchitecture = "arm" }, want: []string{"X86_64 or ARM64"}},
		"queues":       {tweak: func(c *infra.ServiceConfig) { c.WorkQueues = []string{""} }, want: []string{"--work-queue"}},
		"image":        {tweak: func(c *infra.ServiceConfig) { c.Image = "" }, want: []string{"--image is empty"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := validConfig()
			tc.tweak(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %v", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "pnu_x") {
				t.Errorf("an error shows the API key")
			}
		})
	}
}

func TestParametersAndDisplay(t *testing.T) {
	t.Parallel()
	c := validConfig()
	c.APIKeySecretArn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:k-AbC"
	c.AuthString = "admin:pw"
	c.WorkQueues = []string{"a", "b"}
	c.PublicIP = true
	var b bytes.Buffer
	for _, kv := range infra.ShowParameters(c.Parameters()) {
		b.WriteString(kv[0] + "=" + kv[1] + "\n")
	}
	out := b.String()
	golden(t, "service.parameters.txt", b.Bytes())
	for _, secret := range []string{"pnu_x", "admin:pw"} {
		if strings.Contains(out, secret) {
			t.Errorf("a secret is shown:\n%s", out)
		}
	}
	// An existing secret wins: the key itself is not even sent.
	for _, p := range c.Parameters() {
		if aws.ToString(p.ParameterKey) == "PrefectApiKey" && aws.ToString(p.ParameterValue) != "" {
			t.Errorf("the key is sent although --api-key-secret-arn replaces it")
		}
	}
}

// TestParametersCoverTheTemplate: every parameter of the service template
// is sent, so that a redeploy never keeps a previous value (or a default
// the user did not choose) by omission, and nothing unknown is sent.
func TestParametersCoverTheTemplate(t *testing.T) {
	t.Parallel()
	tmpl, err := infra.Render(cfnstack.KindService, "img:1")
	if err != nil {
		t.Fatal(err)
	}
	declared := tmpl.GetObject("Parameters")
	if declared == nil {
		t.Fatal("the service template declares no parameters")
	}
	sent := map[string]bool{}
	for _, p := range validConfig().Parameters() {
		k := aws.ToString(p.ParameterKey)
		sent[k] = true
		if !declared.Has(k) {
			t.Errorf("parameter %s is sent but the template does not declare it", k)
		}
	}
	for _, k := range declared.Keys() {
		if !sent[k] {
			t.Errorf("the template's parameter %s is not sent by ServiceConfig.Parameters", k)
		}
	}
}

func TestNames(t *testing.T) {
	t.Parallel()
	tests := []struct{ pool, stack, events, family string }{
		{"my-pool", "ecsworker-my-pool", "ecsworker-my-pool-events", "prefect_my-pool_*"},
		{"ETL pool (prod)", "ecsworker-ETL-pool-prod", "ecsworker-ETL-pool-prod-events", "prefect_ETL-pool-prod-_*"},
		{strings.Repeat("x", 200), "ecsworker-" + strings.Repeat("x", 118), "ecsworker-" + strings.Repeat("x", 111) + "-events", ""},
	}
	for _, tc := range tests {
		if got := infra.DefaultStackName(tc.pool, cfnstack.KindService); got != tc.stack {
			t.Errorf("stack name of %q = %q, want %q", tc.pool, got, tc.stack)
		}
		if got := infra.DefaultStackName(tc.pool, cfnstack.KindEvents); got != tc.events {
			t.Errorf("events stack name of %q = %q, want %q", tc.pool, got, tc.events)
		}
		if got := infra.DefaultFamilyPattern(tc.pool); tc.family != "" && got != tc.family {
			t.Errorf("family pattern of %q = %q, want %q", tc.pool, got, tc.family)
		}
	}
	if !infra.IsPrefectCloud("https://api.prefect.cloud/api/accounts/a/workspaces/b") || infra.IsPrefectCloud("http://prefect.internal/api") {
		t.Error("IsPrefectCloud")
	}
	if k, err := cfnstack.ParseKind("events-only"); err != nil || k != cfnstack.KindEvents {
		t.Errorf("events-only (upstream's name): %v %v", k, err)
	}
}

func TestFillPoolDefaults(t *testing.T) {
	t.Parallel()
	tmpl := func() *jsonv.Object {
		o, err := jsonv.DecodeObject([]byte(`{"job_configuration": {}, "variables": {"properties": {
			"cluster": {"type": "string"}, "vpc_id": {"default": null}, "subnets": {"type": "array", "default": []},
			"security_groups": {"type": "array"}, "execution_role_arn": {"default": "arn:aws:iam::1:role/mine"},
			"prefect_api_key_secret_arn": {"default": ""}, "assign_public_ip": {"default": null}}}}`))
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	outputs := map[string]string{
		"ClusterArn": "arn:aws:ecs:us-east-1:1:cluster/prod", "VpcId": "vpc-1", "SubnetIds": "subnet-1,subnet-2",
		"SecurityGroupId": "sg-1", "FlowRunExecutionRoleArn": "arn:aws:iam::1:role/flow", "PrefectApiKeySecretArn": "arn:s",
		"PrefectApiAuthStringSecretArn": "arn:a", "AssignPublicIp": "ENABLED",
	}
	bjt := tmpl()
	res := infra.FillPoolDefaults(bjt, infra.PoolDefaults(outputs))
	names := func(ds []infra.PoolDefault) string {
		var n []string
		for _, d := range ds {
			n = append(n, d.Variable)
		}
		return strings.Join(n, ",")
	}
	if got := names(res.Filled); got != "cluster,vpc_id,subnets,security_groups,assign_public_ip,prefect_api_key_secret_arn" {
		t.Errorf("filled %s", got)
	}
	if got := names(res.Kept); got != "execution_role_arn" {
		t.Errorf("kept %s (a user's default must win)", got)
	}
	if got := names(res.Missing); got != "prefect_api_auth_string_secret_arn" {
		t.Errorf("missing %s", got)
	}
	props := bjt.GetObject("variables").GetObject("properties")
	if sub := props.GetObject("subnets").GetArray("default"); len(sub) != 2 || sub[1] != "subnet-2" {
		t.Errorf("subnets default %v", sub)
	}
	if v, _ := props.GetObject("assign_public_ip").Get("default"); v != true {
		t.Errorf("assign_public_ip default %v", v)
	}
	if props.GetObject("execution_role_arn").GetString("default") != "arn:aws:iam::1:role/mine" {
		t.Errorf("a user's default was overwritten")
	}
	// Filling again changes nothing.
	again := infra.FillPoolDefaults(bjt, infra.PoolDefaults(outputs))
	if len(again.Filled) != 0 {
		t.Errorf("second fill: %v", names(again.Filled))
	}
	// A private-IP stack says nothing about public IPs.
	for _, d := range infra.PoolDefaults(map[string]string{"AssignPublicIp": "DISABLED"}) {
		t.Errorf("unexpected default %v", d)
	}
}

func TestPreflight(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s, c := fakeAWS(t)
		arn := s.CreateCluster("prod")
		for _, ident := range []string{"prod", arn} {
			cl, err := infra.ResolveCluster(ctxOf(t), c.ECS, c.Region, ident)
			if err != nil || cl.Arn != arn || cl.Name != "prod" {
				t.Errorf("cluster %s: %v %+v", ident, err, cl)
			}
		}
		if _, err := infra.ResolveCluster(ctxOf(t), c.ECS, c.Region, "nope"); err == nil || !strings.Contains(err.Error(), "--cluster nope: no such ECS cluster in us-east-1") {
			t.Errorf("missing cluster: %v", err)
		}
		vpc, subnets := network(s)
		if _, err := infra.CheckNetwork(ctxOf(t), c.EC2, c.Region, vpc, subnets, false); err != nil {
			t.Errorf("default network: %v", err)
		}
		other := s.AddVPC("10.0.0.0/16")
		foreign := s.AddSubnet(other, "10.0.1.0/24", "")
		if _, err := infra.CheckNetwork(ctxOf(t), c.EC2, c.Region, vpc, []string{subnets[0], foreign}, false); err == nil ||
			!strings.Contains(err.Error(), foreign+" is in "+other) {
			t.Errorf("subnet of another VPC: %v", err)
		}
		if _, err := infra.CheckNetwork(ctxOf(t), c.EC2, c.Region, "vpc-0000000000000000f", subnets, false); err == nil || !strings.Contains(err.Error(), "--vpc vpc-0000000000000000f: no such VPC") {
			t.Errorf("missing VPC: %v", err)
		}
		if _, err := infra.CheckNetwork(ctxOf(t), c.EC2, c.Region, vpc, []string{"subnet-0000000000000000f"}, false); err == nil || !strings.Contains(err.Error(), "--subnets") {
			t.Errorf("missing subnet: %v", err)
		}
		id, err := infra.CheckCredentials(ctxOf(t), c.STS)
		if err != nil || id.Account != "123456789012" {
			t.Errorf("credentials: %v %+v", err, id)
		}
		anon := sts.NewFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(s.URL()), HTTPClient: s.HTTPClient(),
			Credentials: credentials.NewStaticCredentialsProvider("", "", "")})
		_, err = infra.CheckCredentials(ctxOf(t), anon)
		var ce *infra.CredentialsError
		if !errors.As(err, &ce) || !ce.Missing || !strings.Contains(err.Error(), "AWS credentials not found") {
			t.Errorf("no credentials: %v", err)
		}
		s.InjectFault(awsfake.Fault{Service: "sts", Action: "GetCallerIdentity", Code: "InvalidClientTokenId", Status: 403, Count: 1})
		if _, err := infra.CheckCredentials(ctxOf(t), c.STS); !errors.As(err, &ce) || ce.Missing || !strings.Contains(err.Error(), "AWS refused the credentials") {
			t.Errorf("refused credentials: %v", err)
		}
	})
}
