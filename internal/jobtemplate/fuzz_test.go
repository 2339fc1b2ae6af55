package jobtemplate_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/ecsworker/ecsworker/internal/jobtemplate"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/jsonv/jsonvtest"
	"github.com/ecsworker/ecsworker/internal/templating"
)

// fuzzResolver answers every lookup deterministically, choosing between
// "not found", a system block / scalar and a structured value by the name's
// length, so that the fuzzer reaches every resolution branch.
type fuzzResolver struct{}

func (fuzzResolver) doc(key string) (*jsonv.Object, error) {
	switch len(key) % 3 {
	case 0:
		return nil, fmt.Errorf("%q: %w", key, templating.ErrNotFound)
	case 1:
		return jsonv.ObjectOf("value", key), nil
	}
	return jsonv.ObjectOf("a", key, "n", 1.5, "l", []any{1, jsonv.ObjectOf("x", "{{ prefect.variables.v }}")}, "value", nil), nil
}

func (f fuzzResolver) BlockDocument(_ context.Context, id string) (*jsonv.Object, error) {
	return f.doc(id)
}

func (f fuzzResolver) BlockDocumentByName(_ context.Context, slug, name string) (*jsonv.Object, error) {
	return f.doc(slug + "/" + name)
}

func (fuzzResolver) Variable(_ context.Context, name string) (any, bool, error) {
	switch len(name) % 3 {
	case 0:
		return nil, false, nil
	case 1:
		return name, true, nil
	}
	return jsonv.ObjectOf("k", []any{name, nil, true}), true, nil
}

func FuzzRender(f *testing.F) {
	ecs, err := os.ReadFile(ecsTemplatePath)
	if err != nil {
		f.Fatal(err)
	}
	merged, _ := jsonv.Marshal(jobtemplate.MergeJobVariables(jsonvtest.Object(f, ecsDeploymentVars), jsonvtest.Object(f, ecsFlowRunVars)))
	f.Add(ecs, merged)
	f.Add(ecs, []byte(`{}`))
	f.Add([]byte(baseTemplate), []byte(`{"env.FOO": "bar", "env": {"A": 1}, "labels": {"x": null}, "command": ""}`))
	f.Add([]byte(`{"job_configuration": {"a": ["{{ x }}", "{{ missing }}", {"b": "{{ l[-1] }}-{{ $HOME }}"}],
		"r": {"$ref": {"block_document_id": "abcd"}}, "s": "{{ prefect.blocks.t.nm.a }}/{{ prefect.variables.vv }}",
		"w": "{{ prefect.blocks.t.nm }}", "bad": "{{ prefect.blocks.x }}"},
		"variables": {"properties": {"x": {"default": 1.0}, "env": {"default": {"E": "{{ x }}"}}}}}`),
		[]byte(`{"l": [1, "two"], "a.b.c": 1, "a.b": {"d": 2}}`))
	f.Add([]byte(`{"job_configuration": {"env": {"A": "1"}}, "variables": {"properties": {"env": {"default": "x"}}}}`), []byte(`{"env": "y"}`))
	f.Add([]byte(`{"job_configuration": {"name": "{{ name }}"}}`), []byte(`{"name": "{{ ctx.flow_run.name }}", "x.y": 1, "x.y.z": 2}`))

	f.Fuzz(func(t *testing.T, templateJSON, valuesJSON []byte) {
		tmpl, err := jobtemplate.Parse(templateJSON)
		if err != nil {
			return
		}
		values, err := jsonv.DecodeObject(valuesJSON)
		if err != nil {
			values = nil
		}
		tmplBefore := mustMarshal(t, tmpl.Object())
		valuesBefore := mustMarshal(t, values)
		ctx := context.Background()
		opts := jobtemplate.RenderOptions{Resolver: fuzzResolver{}, LookupEnv: envMap(map[string]string{"HOME": "/root"})}

		out, err := tmpl.Render(ctx, values, opts)
		out2, err2 := tmpl.Render(ctx, values, opts)
		if (err == nil) != (err2 == nil) || (err == nil && mustMarshal(t, out) != mustMarshal(t, out2)) {
			t.Fatalf("Render is not deterministic: %v / %v", err, err2)
		}
		if err == nil {
			mustMarshal(t, out)
			if jobtemplate.CoerceBaseFields(out) == nil {
				jobtemplate.PrepareForFlowRun(out, jobtemplate.FlowRunContext{
					FlowRun: values, Flow: values, Deployment: values, WorkPool: values, BaseEnv: values,
					LookupEnv: opts.LookupEnv,
				})
				mustMarshal(t, out)
			}
		}

		offline, err := tmpl.Render(ctx, values, jobtemplate.RenderOptions{LookupEnv: opts.LookupEnv})
		if err == nil {
			_ = templating.Unresolved(offline)
		}

		// The exported helpers must be total as well.
		_ = templating.FindPlaceholders(tmpl.JobConfiguration)
		_, _ = templating.ApplyValues(tmpl.JobConfiguration, values, false)
		_ = jobtemplate.ExpandDotKeys(values)
		_ = jobtemplate.MergeJobVariables(values, values)
		_ = tmpl.Defaults()
		_ = tmpl.VariableNames()

		if got := mustMarshal(t, tmpl.Object()); got != tmplBefore {
			t.Fatalf("template was modified:\nbefore %s\nafter  %s", tmplBefore, got)
		}
		if got := mustMarshal(t, values); got != valuesBefore {
			t.Fatalf("values were modified:\nbefore %s\nafter  %s", valuesBefore, got)
		}
	})
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := jsonv.Marshal(v)
	if err != nil {
		t.Fatalf("result does not marshal: %v", err)
	}
	return string(b)
}
