package jobtemplate_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/jobtemplate"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/jsonv/jsonvtest"
)

// baseTemplate is the bare BaseJobConfiguration template of Prefect's tests.
const baseTemplate = `{
	"job_configuration": {"command": "{{ command }}", "env": "{{ env }}", "labels": "{{ labels }}", "name": "{{ name }}"},
	"variables": {"properties": {"env": {"title": "Environment Variables", "type": "object", "additionalProperties": {"type": "string"}}}, "required": []}}`

func TestRender(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		template string
		values   string
		env      map[string]string
		want     string // Render's output
		coerced  string // after CoerceBaseFields, when set
	}{
		// Prefect's test_base_job_configuration_from_template_and_overrides.
		"command default used when templated": {
			template: `{"job_configuration": {"command": "{{ command }}", "env": "{{ env }}", "labels": "{{ labels }}", "name": "{{ name }}"},
			            "variables": {"properties": {"command": {"type": "string", "default": "echo hello"}, "env": {"type": "object"}}, "type": "object"}}`,
			want:    `{"command": "echo hello"}`,
			coerced: `{"command": "echo hello", "env": {}, "labels": {}, "name": null}`,
		},
		// test_job_configuration_from_template_and_overrides.
		"defaults fill placeholders": {
			template: `{"job_configuration": {"var1": "{{ var1 }}", "var2": "{{ var2 }}"},
			            "variables": {"properties": {"var1": {"type": "string", "default": "hello"}, "var2": {"type": "integer", "default": 42}}, "required": []}}`,
			want:    `{"var1": "hello", "var2": 42}`,
			coerced: `{"var1": "hello", "var2": 42, "command": null, "env": {}, "labels": {}, "name": null}`,
		},
		"unused variables and an unreferenced command default have no effect": {
			template: `{"job_configuration": {"var1": "{{ var1 }}", "var2": "{{ var2 }}"},
			            "variables": {"properties": {"var1": {"default": "hello"}, "var2": {"default": 42}, "var3": {"default": 21},
			                                         "command": {"type": "string", "default": "echo hello"}}}}`,
			want: `{"var1": "hello", "var2": 42}`,
		},
		"job variable replaces its default": {
			template: `{"job_configuration": {"var1": "{{ var1 }}", "var2": "{{ var2 }}"},
			            "variables": {"properties": {"var1": {"default": "hello"}, "var2": {"default": 42}}}, "required": []}`,
			values: `{"var1": "woof!"}`,
			want:   `{"var1": "woof!", "var2": 42}`,
		},
		"nested placeholders": {
			template: `{"job_configuration": {"config": {"var1": "{{ var1 }}", "var2": "{{ var2 }}"}},
			            "variables": {"properties": {"var1": {"type": "string"}, "var2": {"type": "integer", "default": 42}}}}`,
			values: `{"var1": "woof!"}`,
			want:   `{"config": {"var1": "woof!", "var2": 42}}`,
		},
		"hard-coded primitives keep their literal form": {
			template: `{"job_configuration": {"config": {"var1": 1, "var2": 1.1, "var3": true, "var4": 1.0, "var5": 1E+2}}, "variables": {}}`,
			want:     `{"config": {"var1": 1, "var2": 1.1, "var3": true, "var4": 1.0, "var5": 1E+2}}`,
		},
		"placeholders in a list": {
			template: `{"job_configuration": {"config": ["{{ var1 }}", "{{ var2 }}", "{{ var3 }}"]},
			            "variables": {"properties": {"var1": {}, "var2": {"default": 42}, "var3": {}}}}`,
			values: `{"var1": "woof!"}`,
			want:   `{"config": ["woof!", 42]}`,
		},
		"work pool env values are stringified by coercion": {
			template: `{"job_configuration": {"var1": "hello", "env": {"MY_ENV_VAR": 42, "OTHER_ENV_VAR": null, "F": 1.50, "B": true}},
			            "variables": {"properties": {"var1": {"type": "string"}, "env": {"type": "object"}}}}`,
			want:    `{"var1": "hello", "env": {"MY_ENV_VAR": 42, "OTHER_ENV_VAR": null, "F": 1.50, "B": true}}`,
			coerced: `{"var1": "hello", "env": {"MY_ENV_VAR": "42", "OTHER_ENV_VAR": null, "F": "1.5", "B": "True"}, "command": null, "labels": {}, "name": null}`,
		},
		"null command becomes null": {
			template: `{"job_configuration": {"command": "{{ command }}"}, "variables": {"properties": {"command": {"type": "string"}}}}`,
			values:   `{"command": null}`,
			want:     `{"command": null}`,
			coerced:  `{"command": null, "env": {}, "labels": {}, "name": null}`,
		},
		"empty command becomes null": {
			template: `{"job_configuration": {"command": "{{ command }}"}, "variables": {"properties": {"command": {"type": "string"}}}}`,
			values:   `{"command": ""}`,
			want:     `{"command": ""}`,
			coerced:  `{"command": null, "env": {}, "labels": {}, "name": null}`,
		},
		"null defaults are ignored, so the key disappears": {
			template: `{"job_configuration": {"name": "{{ name }}", "image": "{{ image }}"},
			            "variables": {"properties": {"name": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null}, "image": {"default": null}}}}`,
			want: `{}`,
		},
		"explicit null job variable keeps the key": {
			template: `{"job_configuration": {"cluster": "{{ cluster }}", "launchType": "{{ launch_type }}"},
			            "variables": {"properties": {"launch_type": {"default": "FARGATE"}}}}`,
			values: `{"cluster": null, "launch_type": null}`,
			want:   `{"cluster": null, "launchType": null}`,
		},
		"object emptied by removal stays": {
			template: `{"job_configuration": {"task_definition": {"containerDefinitions": [{"image": "{{ image }}"}], "cpu": "{{ cpu }}"}}, "variables": {}}`,
			want:     `{"task_definition": {"containerDefinitions": [{}]}}`,
		},
		"empty string is a real value": {
			template: `{"job_configuration": {"cluster": "{{ cluster }}"}, "variables": {"properties": {"cluster": {"default": "main"}}}}`,
			values:   `{"cluster": ""}`,
			want:     `{"cluster": ""}`,
		},
		"whole versus partial placeholders": {
			template: `{"job_configuration": {"whole": "{{ cpu }}", "partial": "cpu={{ cpu }}", "spaced": " {{ cpu }}", "two": "{{ cpu }}{{ memory }}",
			                                  "obj": "{{ opts }}", "objtext": "opts: {{ opts }}"},
			            "variables": {"properties": {"cpu": {"default": 1024}, "memory": {"default": 2048.0}, "opts": {"default": {"a": true, "b": null}}}}}`,
			want: `{"whole": 1024, "partial": "cpu=1024", "spaced": " 1024", "two": "10242048.0", "obj": {"a": true, "b": null}, "objtext": "opts: {'a': True, 'b': None}"}`,
		},
		"environment placeholders": {
			template: `{"job_configuration": {"whole": "{{ $REGION }}", "inline": "s3://{{ $BUCKET }}/{{ key }}", "missing": "{{ $NOPE }}",
			                                  "dollars": "{{ $$REGION }}", "number": "{{ $PORT }}"}, "variables": {}}`,
			values: `{"key": "k"}`,
			env:    map[string]string{"REGION": "us-east-2", "BUCKET": "b", "PORT": "8080"},
			want:   `{"whole": "us-east-2", "inline": "s3://b/k", "missing": "", "dollars": "us-east-2", "number": "8080"}`,
		},
		"env default merges into a hard-coded env, defaults win": {
			template: `{"job_configuration": {"env": {"WORK_POOL_BASE_VAR": "from-job-config", "SHARED": "job-config"}},
			            "variables": {"properties": {"env": {"type": "object", "default": {"WORK_POOL_DEFAULT_VAR": "from-variable-defaults", "SHARED": "default"}}}}}`,
			values: `{"env": {"DEPLOYMENT_VAR": "from-deployment"}}`,
			want:   `{"env": {"WORK_POOL_BASE_VAR": "from-job-config", "SHARED": "default", "WORK_POOL_DEFAULT_VAR": "from-variable-defaults", "DEPLOYMENT_VAR": "from-deployment"}}`,
		},
		"env default replaces a templated env, then job variables merge per key": {
			template: `{"job_configuration": {"env": "{{ env }}"}, "variables": {"properties": {"env": {"type": "object", "default": {"A": "1", "B": "2"}}}}}`,
			values:   `{"env": {"B": "3", "C": null}}`,
			want:     `{"env": {"A": "1", "B": "3", "C": null}}`,
		},
		"env values may hold placeholders": {
			template: `{"job_configuration": {"env": {"IMAGE": "{{ image }}", "GONE": "{{ missing }}"}}, "variables": {"properties": {"image": {"default": "img"}}}}`,
			want:     `{"env": {"IMAGE": "img"}}`,
		},
		"labels are replaced wholesale, not merged": {
			template: `{"job_configuration": {"labels": "{{ labels }}"}, "variables": {"properties": {"labels": {"default": {"team": "a", "tier": "x"}}}}}`,
			values:   `{"labels": {"team": "b"}}`,
			want:     `{"labels": {"team": "b"}}`,
		},
		// Dotted keys, Prefect's test_base_job_configuration_*dot_delimited*.
		"dotted env key": {
			template: baseTemplate,
			values:   `{"env.EXTRA_PIP_PACKAGES": "s3fs"}`,
			want:     `{"env": {"EXTRA_PIP_PACKAGES": "s3fs"}}`,
			// Missing base fields are added after the rendered ones.
			coerced: `{"env": {"EXTRA_PIP_PACKAGES": "s3fs"}, "command": null, "labels": {}, "name": null}`,
		},
		"several dotted keys": {
			template: baseTemplate,
			values:   `{"env.FOO": "bar", "env.BAZ": "qux"}`,
			want:     `{"env": {"FOO": "bar", "BAZ": "qux"}}`,
		},
		"nested form wins over dotted form": {
			template: baseTemplate,
			values:   `{"env.FOO": "from_dot", "env": {"FOO": "from_nested", "BAR": "also_nested"}}`,
			want:     `{"env": {"FOO": "from_nested", "BAR": "also_nested"}}`,
		},
		"dotted and nested forms merge": {
			template: baseTemplate,
			values:   `{"env.FOO": "from_dot", "env": {"BAR": "from_nested"}}`,
			want:     `{"env": {"FOO": "from_dot", "BAR": "from_nested"}}`,
		},
		"dotted key with a hard-coded env": {
			template: `{"job_configuration": {"command": "{{ command }}", "env": {"BASE_VAR": "base_value"}, "labels": "{{ labels }}", "name": "{{ name }}"},
			            "variables": {"properties": {"env": {"type": "object"}}}}`,
			values: `{"env.EXTRA_PIP_PACKAGES": "s3fs"}`,
			want:   `{"env": {"BASE_VAR": "base_value", "EXTRA_PIP_PACKAGES": "s3fs"}}`,
		},
		"dotted key reaches into a nested variable": {
			template: `{"job_configuration": {"nc": "{{ network_configuration }}"}, "variables": {"properties": {"network_configuration": {"default": {"subnets": ["a"], "assignPublicIp": "ENABLED"}}}}}`,
			values:   `{"network_configuration.assignPublicIp": "DISABLED"}`,
			want:     `{"nc": {"assignPublicIp": "DISABLED"}}`,
		},
		"missing variables section": {
			template: `{"job_configuration": {"a": "{{ a }}", "b": "b"}}`,
			want:     `{"b": "b"}`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tmpl := parseTemplate(t, tc.template)
			values := jsonvtest.Object(t, tc.values)
			tmplBefore, valuesBefore := jsonvtest.Compact(t, tmpl.Object()), jsonvtest.Compact(t, values)

			got, err := tmpl.Render(context.Background(), values, jobtemplate.RenderOptions{LookupEnv: envMap(tc.env)})
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			jsonvtest.Require(t, tc.want, got)
			if tc.coerced != "" {
				if err := jobtemplate.CoerceBaseFields(got); err != nil {
					t.Fatalf("CoerceBaseFields: %v", err)
				}
				jsonvtest.Require(t, tc.coerced, got)
			}
			if jsonvtest.Compact(t, tmpl.Object()) != tmplBefore {
				t.Fatalf("template was modified: %s", jsonvtest.Compact(t, tmpl.Object()))
			}
			if jsonvtest.Compact(t, values) != valuesBefore {
				t.Fatalf("values were modified: %s", jsonvtest.Compact(t, values))
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		template     string
		values       string
		wantContains []string
	}{
		"env default that is not an object cannot merge into an object env": {
			template:     `{"job_configuration": {"env": {"A": "1"}}, "variables": {"properties": {"env": {"default": "A=1"}}}}`,
			wantContains: []string{`"env" variable's default is a string ("A=1")`, `{"KEY": "value"}`},
		},
		"env job variable that is not an object cannot merge into an object env": {
			template:     `{"job_configuration": {"env": {"A": "1"}}, "variables": {}}`,
			values:       `{"env": ["A=1"]}`,
			wantContains: []string{`"env" job variable is a list (["A=1"])`, "must be an object"},
		},
		"dotted key through a scalar": {
			template:     baseTemplate,
			values:       `{"env.A": "1", "env.A.B": "2"}`,
			wantContains: []string{`job variable "env.A.B"`, `set "env.A" to a string ("1")`, "keep one of the two keys"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := parseTemplate(t, tc.template).Render(context.Background(), jsonvtest.Object(t, tc.values), jobtemplate.RenderOptions{})
			if err == nil {
				t.Fatalf("got %s, want an error", jsonvtest.Compact(t, got))
			}
			for _, want := range tc.wantContains {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
	t.Run("nil template", func(t *testing.T) {
		t.Parallel()
		var tmpl *jobtemplate.Template
		if _, err := tmpl.Render(context.Background(), nil, jobtemplate.RenderOptions{}); err == nil {
			t.Fatal("want an error")
		}
	})
}

// Prefect's test_env_merge_logic_is_deep: pool env (as a hard-coded
// job_configuration.env or as the env variable's default) < deployment env
// < flow-run env, and empty strings override.
func TestEnvPrecedence(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		workPoolEnv, deploymentEnv, flowRunEnv, want string
	}{
		"flow_run_into_deployment": {
			workPoolEnv: `{}`, deploymentEnv: `{"test-var": "foo"}`, flowRunEnv: `{"another-var": "boo"}`,
			want: `{"test-var": "foo", "another-var": "boo"}`,
		},
		"deployment_into_work_pool_overlap": {
			workPoolEnv: `{"A": "1", "B": "2"}`, deploymentEnv: `{"A": "1", "B": "3"}`, flowRunEnv: `{}`,
			want: `{"A": "1", "B": "3"}`,
		},
		"deployment_into_work_pool_no_overlap": {
			workPoolEnv: `{"A": "1", "B": "2"}`, deploymentEnv: `{"C": "3", "D": "4"}`, flowRunEnv: `{}`,
			want: `{"A": "1", "B": "2", "C": "3", "D": "4"}`,
		},
		"flow_run_into_work_pool": {
			workPoolEnv: `{"A": "1", "B": "2"}`, deploymentEnv: `{"C": "42"}`, flowRunEnv: `{"C": "3", "D": "4"}`,
			want: `{"A": "1", "B": "2", "C": "3", "D": "4"}`,
		},
		"try_overwrite_with_empty_str": {
			workPoolEnv: `{"A": "1", "B": "2"}`, deploymentEnv: `{"B": ""}`, flowRunEnv: `{}`,
			want: `{"A": "1", "B": ""}`,
		},
	}
	for name, tc := range cases {
		for _, withDefaults := range []bool{true, false} {
			label := name + "/without_defaults"
			if withDefaults {
				label = name + "/with_defaults"
			}
			t.Run(label, func(t *testing.T) {
				t.Parallel()
				var tmpl *jobtemplate.Template
				switch {
				case tc.workPoolEnv == `{}`:
					// Prefect's test falls back to the worker's default template.
					tmpl = parseTemplate(t, baseTemplate)
				case withDefaults:
					tmpl = parseTemplate(t, `{"job_configuration": {"env": "{{ env }}"},
						"variables": {"properties": {"env": {"type": "object", "default": `+tc.workPoolEnv+`}}}}`)
				default:
					tmpl = parseTemplate(t, `{"job_configuration": {"env": `+tc.workPoolEnv+`},
						"variables": {"properties": {"env": {"type": "object"}}}}`)
				}
				deployment := jsonvtest.Object(t, `{"env": `+tc.deploymentEnv+`}`)
				flowRun := jsonvtest.Object(t, `{"env": `+tc.flowRunEnv+`}`)
				got, err := tmpl.Render(context.Background(), jobtemplate.MergeJobVariables(deployment, flowRun), jobtemplate.RenderOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if err := jobtemplate.CoerceBaseFields(got); err != nil {
					t.Fatal(err)
				}
				jsonvtest.Require(t, tc.want, got.GetObject("env"))
			})
		}
	}
}

// Prefect's test_base_job_configuration_does_not_mutate_base_job_template:
// renders for different deployments must not leak env into each other
// through the shared template.
func TestRenderDoesNotLeakBetweenRenders(t *testing.T) {
	t.Parallel()
	tmpl := parseTemplate(t, `{
		"job_configuration": {"command": "{{ command }}", "env": {"SHARED_VAR": "shared_value"}, "labels": {}, "name": null},
		"variables": {"properties": {"command": {"type": "string"}, "env": {"type": "object", "default": {"DEFAULT_VAR": "default_value"}}}, "required": []}}`)
	before := jsonvtest.Compact(t, tmpl.Object())
	a, err := tmpl.Render(context.Background(), jsonvtest.Object(t, `{"env": {"DEPLOY_A_VAR": "a_value"}}`), jobtemplate.RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := tmpl.Render(context.Background(), jsonvtest.Object(t, `{"env": {"DEPLOY_B_VAR": "b_value"}}`), jobtemplate.RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	jsonvtest.Require(t, `{"env": {"SHARED_VAR": "shared_value", "DEFAULT_VAR": "default_value", "DEPLOY_A_VAR": "a_value"}, "labels": {}, "name": null}`, a)
	jsonvtest.Require(t, `{"env": {"SHARED_VAR": "shared_value", "DEFAULT_VAR": "default_value", "DEPLOY_B_VAR": "b_value"}, "labels": {}, "name": null}`, b)
	if jsonvtest.Compact(t, tmpl.Object()) != before {
		t.Fatalf("template was modified: %s", jsonvtest.Compact(t, tmpl.Object()))
	}
}

func TestMergeJobVariables(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		deployment, flowRun, want string
	}{
		"both empty":         {want: `{}`},
		"deployment only":    {deployment: `{"image": "a", "env": {"A": "1"}}`, want: `{"image": "a", "env": {"A": "1"}}`},
		"flow run only":      {flowRun: `{"image": "b", "env": {"B": "2"}}`, want: `{"image": "b", "env": {"B": "2"}}`},
		"flow run wins":      {deployment: `{"image": "a", "cpu": 1}`, flowRun: `{"image": "b"}`, want: `{"image": "b", "cpu": 1}`},
		"env merged per key": {deployment: `{"env": {"A": "1", "B": "2"}, "x": 1}`, flowRun: `{"env": {"B": "3", "C": "4"}, "y": 2}`, want: `{"env": {"A": "1", "B": "3", "C": "4"}, "x": 1, "y": 2}`},
		"empty string and null override": {
			deployment: `{"env": {"A": "1", "B": "2"}}`, flowRun: `{"env": {"A": "", "B": null}}`, want: `{"env": {"A": "", "B": null}}`,
		},
		"deployment env not an object: flow run env replaces": {
			deployment: `{"env": null}`, flowRun: `{"env": {"B": "2"}}`, want: `{"env": {"B": "2"}}`,
		},
		"flow run env not an object replaces": {
			deployment: `{"env": {"A": "1"}}`, flowRun: `{"env": null}`, want: `{"env": null}`,
		},
		"other objects replaced wholesale": {
			deployment: `{"labels": {"a": "1"}, "network_configuration": {"subnets": ["s"]}}`, flowRun: `{"labels": {"b": "2"}}`,
			want: `{"labels": {"b": "2"}, "network_configuration": {"subnets": ["s"]}}`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d, f := jsonvtest.Object(t, tc.deployment), jsonvtest.Object(t, tc.flowRun)
			dBefore, fBefore := jsonvtest.Compact(t, d), jsonvtest.Compact(t, f)
			got := jobtemplate.MergeJobVariables(d, f)
			jsonvtest.Require(t, tc.want, got)
			if jsonvtest.Compact(t, d) != dBefore || jsonvtest.Compact(t, f) != fBefore {
				t.Fatalf("inputs modified: %s %s", jsonvtest.Compact(t, d), jsonvtest.Compact(t, f))
			}
			// The result must not share objects with the inputs either.
			if env := got.GetObject("env"); env != nil {
				env.Set("ZZZ", "x")
				if jsonvtest.Compact(t, d) != dBefore || jsonvtest.Compact(t, f) != fBefore {
					t.Fatal("result aliases an input")
				}
			}
		})
	}
}

func TestExpandDotKeys(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		values, want string
	}{
		"nil":                                {want: `{}`},
		"no dots":                            {values: `{"a": 1, "b": {"c": 2}}`, want: `{"a": 1, "b": {"c": 2}}`},
		"one dotted key":                     {values: `{"env.FOO": "bar"}`, want: `{"env": {"FOO": "bar"}}`},
		"deep dotted key":                    {values: `{"a.b.c": 1, "a.b.d": 2, "a.e": 3}`, want: `{"a": {"b": {"c": 1, "d": 2}, "e": 3}}`},
		"brackets are dots":                  {values: `{"a[0].b": 1, "c[1]": 2}`, want: `{"a": {"0": {"b": 1}}, "c[1]": 2}`},
		"dotted keys first, then plain keys": {values: `{"x": 1, "env.A": "1"}`, want: `{"env": {"A": "1"}, "x": 1}`},
		"plain object deep-merged, plain wins": {
			values: `{"env.A": "dot", "env.B": "dot", "env": {"A": "plain"}, "nc.x.y": 1, "nc": {"x": {"z": 2}}}`,
			want:   `{"env": {"A": "plain", "B": "dot"}, "nc": {"x": {"y": 1, "z": 2}}}`,
		},
		"plain non-object replaces": {values: `{"env.A": "dot", "env": null}`, want: `{"env": null}`},
		"later dotted key descends into an earlier object value": {
			values: `{"a.b": {"x": 1}, "a.b.y": 2}`, want: `{"a": {"b": {"x": 1, "y": 2}}}`,
		},
		"later dotted key replaces an earlier scalar": {values: `{"a.b": 1, "a.b.c": 2}`, want: `{"a": {"b": {"c": 2}}}`},
		"leading and trailing dots":                   {values: `{".x": 1, "y.": 2}`, want: `{"": {"x": 1}, "y": {"": 2}}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			values := jsonvtest.Object(t, tc.values)
			before := jsonvtest.Compact(t, values)
			jsonvtest.Require(t, tc.want, jobtemplate.ExpandDotKeys(values))
			if jsonvtest.Compact(t, values) != before {
				t.Fatalf("input modified: %s", jsonvtest.Compact(t, values))
			}
		})
	}
}

func TestRenderIsSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	tmpl := parseTemplate(t, `{"job_configuration": {"env": {"A": "{{ a }}"}, "x": "{{ x }}"},
		"variables": {"properties": {"env": {"default": {"B": "b"}}, "x": {"default": {"deep": [1, 2]}}}}}`)
	values := jsonvtest.Object(t, `{"a": "1", "env": {"C": "c"}}`)
	done := make(chan *jsonv.Object)
	for range 8 {
		go func() {
			out, err := tmpl.Render(context.Background(), values, jobtemplate.RenderOptions{Resolver: blockAPI()})
			if err != nil {
				t.Error(err)
			}
			out.GetObject("env").Set("MUTATED", "yes")
			done <- out
		}()
	}
	for range 8 {
		jsonvtest.Require(t, `{"env": {"A": "1", "B": "b", "C": "c", "MUTATED": "yes"}, "x": {"deep": [1, 2]}}`, <-done)
	}
}
