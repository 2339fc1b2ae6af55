package ecsjob_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/ecsjob"
	"github.com/ecsworker/ecsworker/internal/ecsrequest"
	"github.com/ecsworker/ecsworker/internal/jobtemplate"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/templating"
)

// pythonWorkerVariables are the variables of the current prefect-aws ECS
// worker with their JSON types and defaults. Deployments written for it
// must keep working on a pool created with ecsworker's template.
var pythonWorkerVariables = map[string]struct {
	typ string
	def any
}{
	"name": {"string", nil}, "env": {"object", nil}, "labels": {"object", nil}, "command": {"string", nil},
	"task_definition_arn": {"string", nil}, "aws_credentials": {"object", nil}, "cluster": {"string", nil},
	"family": {"string", nil}, "launch_type": {"string", "FARGATE"}, "capacity_provider_strategy": {"array", nil},
	"image": {"string", nil}, "cpu": {"integer", nil}, "memory": {"integer", nil}, "container_name": {"string", nil},
	"prefect_api_key_secret_arn": {"string", nil}, "prefect_api_auth_string_secret_arn": {"string", nil},
	"task_role_arn": {"string", nil}, "execution_role_arn": {"string", nil}, "vpc_id": {"string", nil},
	"configure_cloudwatch_logs": {"boolean", nil}, "cloudwatch_logs_options": {"object", nil},
	"cloudwatch_logs_prefix": {"string", nil}, "network_configuration": {"object", nil},
	"auto_deregister_task_definition": {"boolean", false}, "match_latest_revision_in_family": {"boolean", false},
}

func TestDefaultTemplateHasPythonWorkerVariables(t *testing.T) {
	t.Parallel()
	tmpl := ecsjob.DefaultTemplate()
	props := tmpl.Variables.GetObject("properties")
	for name, want := range pythonWorkerVariables {
		p := props.GetObject(name)
		if p == nil {
			t.Errorf("variable %s is missing", name)
			continue
		}
		if got := schemaTypes(p, tmpl.Variables); !strings.Contains(got, want.typ) {
			t.Errorf("variable %s has type %s, want %s", name, got, want.typ)
		}
		def, _ := p.Get("default")
		if !jsonv.Equal(def, jsonv.Normalize(want.def)) {
			t.Errorf("variable %s has default %v, want %v", name, def, want.def)
		}
		if p.GetString("title") == "" || p.GetString("description") == "" {
			t.Errorf("variable %s needs a title and a description", name)
		}
	}
	for _, name := range []string{"placement_strategy", "placement_constraints", "platform_version", "propagate_tags", "enable_execute_command", "ephemeral_storage", "runtime_platform", "resource_requirements", "secrets", "security_groups", "subnets", "assign_public_ip"} {
		if p := props.GetObject(name); p == nil || p.GetString("description") == "" {
			t.Errorf("new variable %s is missing or undocumented", name)
		}
	}
}

// TestDefaultTemplateEveryVariableIsUsed guards against a variable that the
// UI offers but the job configuration never references (it would silently
// do nothing).
func TestDefaultTemplateEveryVariableIsUsed(t *testing.T) {
	t.Parallel()
	tmpl := ecsjob.DefaultTemplate()
	used := map[string]bool{}
	for _, p := range templating.FindPlaceholders(tmpl.JobConfiguration) {
		used[p.Name] = true
	}
	for _, name := range tmpl.VariableNames() {
		if !used[name] {
			t.Errorf("variable %s is not referenced by job_configuration", name)
		}
	}
}

// schemaTypes lists the JSON types a property schema allows, following
// anyOf, allOf and local $refs.
func schemaTypes(p *jsonv.Object, root *jsonv.Object) string {
	var out []string
	if s := p.GetString("type"); s != "" {
		out = append(out, s)
	}
	for _, k := range []string{"anyOf", "allOf"} {
		for _, e := range p.GetArray(k) {
			if o, ok := e.(*jsonv.Object); ok {
				out = append(out, schemaTypes(o, root))
			}
		}
	}
	if ref := p.GetString("$ref"); strings.HasPrefix(ref, "#/definitions/") {
		out = append(out, schemaTypes(root.GetObject("definitions").GetObject(strings.TrimPrefix(ref, "#/definitions/")), root))
	}
	return strings.Join(out, ",")
}

func TestTagLimits(t *testing.T) {
	t.Parallel()
	labels := jsonv.NewObject()
	labels.Set("aws:reserved", "x")
	labels.Set(strings.Repeat("k", 200), strings.Repeat("v", 300))
	labels.Set("Hello, World", "it's fine")
	for i := range 60 {
		labels.Set(fmt.Sprintf("label-%02d", i), "v")
	}
	vars := jsonv.ObjectOf("labels", labels)
	b, _ := jsonv.Marshal(vars)
	p, err := prepare(t, "", string(b))
	if err != nil {
		t.Fatal(err)
	}
	tags := p.Plan.RunTask.GetArray("tags")
	if len(tags) != 50 {
		t.Fatalf("%d tags, want 50", len(tags))
	}
	first := tags[0].(*jsonv.Object)
	if k := first.GetString("key"); len(k) != 128 {
		t.Errorf("long key not cut to 128 characters: %d", len(k))
	}
	if v := first.GetString("value"); len(v) != 256 {
		t.Errorf("long value not cut to 256 characters: %d", len(v))
	}
	second := tags[1].(*jsonv.Object)
	if second.GetString("key") != "Hello-World" || second.GetString("value") != "it-s-fine" {
		t.Errorf("label not cleaned like the Python worker: %v", second)
	}
	for _, tag := range tags {
		if strings.HasPrefix(tag.(*jsonv.Object).GetString("key"), "aws:") {
			t.Errorf("reserved aws: tag sent")
		}
	}
	var text []string
	for _, w := range p.Warnings {
		text = append(text, w.String())
	}
	all := strings.Join(text, "\n")
	for _, want := range []string{"aws:", "128", "256", "label-59"} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings do not mention %s:\n%s", want, all)
		}
	}
}

func TestSecretsReplacePlainEnvironment(t *testing.T) {
	t.Parallel()
	p, err := prepare(t, "", `{"env": {"PREFECT_API_KEY": "pnu_plain", "DB_PASSWORD": "plain", "KEEP": "1"},
		"prefect_api_key_secret_arn": "arn:aws:secretsmanager:us-east-1:1:secret:key",
		"secrets": {"DB_PASSWORD": "arn:aws:ssm:us-east-1:1:parameter/db"},
		"execution_role_arn": "arn:aws:iam::1:role/exec"}`)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := jsonv.Marshal(p.Plan.RunTask)
	if strings.Contains(string(out), "pnu_plain") || strings.Contains(string(out), `"plain"`) {
		t.Errorf("a value that is read from a secret is also sent in clear text: %s", out)
	}
	if !strings.Contains(string(out), `"KEEP"`) {
		t.Errorf("other environment variables were lost: %s", out)
	}
	td, _ := jsonv.Marshal(p.Plan.TaskDefinition)
	for _, want := range []string{`{"name":"PREFECT_API_KEY","valueFrom":"arn:aws:secretsmanager:us-east-1:1:secret:key"}`, `{"name":"DB_PASSWORD","valueFrom":"arn:aws:ssm:us-east-1:1:parameter/db"}`} {
		if !strings.Contains(string(td), want) {
			t.Errorf("task definition lacks %s: %s", want, td)
		}
	}
}

// FuzzPrepare feeds arbitrary templates and job variables through the
// whole pipeline: whatever the input, it must return an error or a plan,
// never panic.
func FuzzPrepare(f *testing.F) {
	// The seeds use the default job_configuration with a small schema: the
	// fuzzer minimises every new input byte by byte, which takes minutes on
	// the full 17 KB template.
	small := `{"job_configuration": ` + ecsjob.DefaultTemplate().JobConfiguration.String() + `, "variables": {"properties": {"launch_type": {"default": "FARGATE"}, "cpu": {"type": "integer"}}}}`
	f.Add(small, `{"cpu": 512, "memory": 1024}`)
	f.Add(small, `{"launch_type": "EC2", "placement_strategy": [{"type": "spread", "field": "x"}]}`)
	f.Add(`{"job_configuration": {"task_definition": {"containerDefinitions": "{{ c }}"}, "task_run_request": {"tags": "{{ t }}"}}, "variables": {"properties": {"c": {"default": [1, {}]}}}}`, `{"t": [null, {"key": 1}]}`)
	f.Add(`{"job_configuration": {"env": "{{ e }}", "task_definition": {"cpu": "{{ x }}"}, "task_run_request": {"overrides": {"containerOverrides": "{{ o }}"}}}}`, `{"e": {"A": 1.5}, "x": "1 vCPU", "o": [1, "a", null]}`)
	f.Fuzz(func(t *testing.T, template, vars string) {
		tmpl, err := jobtemplate.Parse([]byte(template))
		if err != nil {
			return
		}
		values, err := jsonv.DecodeObject([]byte(vars))
		if err != nil {
			return
		}
		_, _ = ecsjob.Prepare(context.Background(), ecsjob.Job{
			Template: tmpl, FlowRunVariables: values,
			Context: ecsrequest.RunContext{WorkPoolName: "p", DeploymentID: "d", DefaultImage: "i", Region: "r"},
			Render:  jobtemplate.RenderOptions{LookupEnv: func(string) (string, bool) { return "", false }},
		})
	})
}

func BenchmarkPrepare(b *testing.B) {
	tmpl := ecsjob.DefaultTemplate()
	vars, _ := jsonv.DecodeObject([]byte(`{"cluster": "c", "cpu": 2048, "memory": 4096, "subnets": ["subnet-1"], "env": {"A": "1"}, "labels": {"team": "data"}}`))
	job := ecsjob.Job{
		Template: tmpl, DeploymentVariables: vars,
		Context: ecsrequest.RunContext{WorkPoolName: "p", DeploymentID: "d", DefaultImage: "i", Region: "r"},
		FlowRun: &jobtemplate.FlowRunContext{FlowRun: jsonv.ObjectOf("id", "0b9e5ad6-6a3e-4c4c-9f43-2f7f8f4a1c11", "name", "run", "flow_id", "f"), Version: "bench"},
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ecsjob.Prepare(context.Background(), job); err != nil {
			b.Fatal(err)
		}
	}
}
