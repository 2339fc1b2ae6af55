package jobtemplate_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/jobtemplate"
	"github.com/ecsworker/ecsworker/internal/jsonv/jsonvtest"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		doc          string
		wantObject   string   // Object() of the parsed template
		wantContains []string // error fragments
	}{
		"full template": {
			doc:        `{"job_configuration": {"image": "{{ image }}"}, "variables": {"type": "object", "properties": {"image": {"type": "string"}}}}`,
			wantObject: `{"job_configuration": {"image": "{{ image }}"}, "variables": {"type": "object", "properties": {"image": {"type": "string"}}}}`,
		},
		"missing variables becomes an empty object schema": {
			doc:        `{"job_configuration": {}}`,
			wantObject: `{"job_configuration": {}, "variables": {"type": "object", "properties": {}}}`,
		},
		"null variables becomes an empty object schema": {
			doc:        `{"job_configuration": {"a": 1}, "variables": null}`,
			wantObject: `{"job_configuration": {"a": 1}, "variables": {"type": "object", "properties": {}}}`,
		},
		"variables without properties are kept as written": {
			doc:        `{"job_configuration": {}, "variables": {}}`,
			wantObject: `{"job_configuration": {}, "variables": {}}`,
		},
		"other top-level keys are dropped": {
			doc:        `{"job_configuration": {}, "variables": {}, "extra": 1}`,
			wantObject: `{"job_configuration": {}, "variables": {}}`,
		},
		"invalid JSON": {
			doc:          `{"job_configuration": {`,
			wantContains: []string{"parse base job template", "fix the JSON syntax"},
		},
		"not an object": {
			doc:          `[1, 2]`,
			wantContains: []string{"the document is a list", `"job_configuration" and "variables"`},
		},
		"missing job_configuration": {
			doc:          `{"variables": {}}`,
			wantContains: []string{`has no "job_configuration"`, `{"env": "{{ env }}"}`},
		},
		"job_configuration not an object": {
			doc:          `{"job_configuration": "{{ x }}"}`,
			wantContains: []string{`"job_configuration" is a string ("{{ x }}")`, "must be an object"},
		},
		"variables not an object": {
			doc:          `{"job_configuration": {}, "variables": [1]}`,
			wantContains: []string{`"variables" is a list ([1])`, `{"type": "object", "properties": {}}`},
		},
		"properties not an object": {
			doc:          `{"job_configuration": {}, "variables": {"properties": "image"}}`,
			wantContains: []string{`"variables.properties" is a string ("image")`, `{"image": {"type": "string"}}`},
		},
		"long values are shortened in errors": {
			doc:          `{"job_configuration": "` + strings.Repeat("é", 200) + `"}`,
			wantContains: []string{"…)"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tmpl, err := jobtemplate.Parse([]byte(tc.doc))
			if tc.wantContains == nil {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				jsonvtest.Require(t, tc.wantObject, tmpl.Object())
				return
			}
			if err == nil {
				t.Fatalf("got %s, want an error", jsonvtest.Compact(t, tmpl.Object()))
			}
			for _, want := range tc.wantContains {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestFromObjectCopiesItsInput(t *testing.T) {
	t.Parallel()
	doc := jsonvtest.Object(t, `{"job_configuration": {"env": {"A": "1"}}, "variables": {"properties": {"x": {"default": 1}}}}`)
	tmpl, err := jobtemplate.FromObject(doc)
	if err != nil {
		t.Fatal(err)
	}
	doc.GetObject("job_configuration").GetObject("env").Set("B", "2")
	doc.GetObject("variables").GetObject("properties").Delete("x")
	jsonvtest.Require(t, `{"job_configuration": {"env": {"A": "1"}}, "variables": {"properties": {"x": {"default": 1}}}}`, tmpl.Object())

	// Object() hands out copies too.
	tmpl.Object().GetObject("job_configuration").Set("C", 3)
	jsonvtest.Require(t, `{"env": {"A": "1"}}`, tmpl.JobConfiguration)

	if _, err := jobtemplate.FromObject(nil); err == nil {
		t.Fatal("FromObject(nil): want an error")
	}
}

func TestDefaultsAndVariableNames(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		doc          string
		wantDefaults string
		wantNames    []string
	}{
		"ECS-style defaults, nulls skipped, order kept": {
			doc: `{"job_configuration": {}, "variables": {"properties": {
				"name": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null},
				"launch_type": {"default": "FARGATE"}, "cpu": {"type": "integer"},
				"task_start_timeout_seconds": {"default": 300}, "task_watch_poll_interval": {"default": 5.0},
				"auto_deregister_task_definition": {"default": false}, "env": {"default": {}},
				"aws_credentials": {"default": {"$ref": {"block_document_id": "abc"}}},
				"flag": true}}}`,
			wantDefaults: `{"launch_type": "FARGATE", "task_start_timeout_seconds": 300, "task_watch_poll_interval": 5.0,
				"auto_deregister_task_definition": false, "env": {}, "aws_credentials": {"$ref": {"block_document_id": "abc"}}}`,
			wantNames: []string{"name", "launch_type", "cpu", "task_start_timeout_seconds", "task_watch_poll_interval",
				"auto_deregister_task_definition", "env", "aws_credentials", "flag"},
		},
		"no properties": {
			doc:          `{"job_configuration": {}, "variables": {}}`,
			wantDefaults: `{}`,
			wantNames:    []string{},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tmpl := parseTemplate(t, tc.doc)
			before := jsonvtest.Compact(t, tmpl.Object())
			defaults := tmpl.Defaults()
			jsonvtest.Require(t, tc.wantDefaults, defaults)
			if got := tmpl.VariableNames(); !reflect.DeepEqual(got, tc.wantNames) && (len(got) > 0 || len(tc.wantNames) > 0) {
				t.Fatalf("VariableNames = %q, want %q", got, tc.wantNames)
			}
			// Changing what Defaults returned must not reach the template.
			defaults.Set("launch_type", "EC2")
			if env := defaults.GetObject("env"); env != nil {
				env.Set("X", "1")
			}
			if jsonvtest.Compact(t, tmpl.Object()) != before {
				t.Fatalf("template was modified through Defaults: %s", jsonvtest.Compact(t, tmpl.Object()))
			}
		})
	}
	t.Run("nil template", func(t *testing.T) {
		t.Parallel()
		var tmpl *jobtemplate.Template
		jsonvtest.Require(t, `{}`, tmpl.Defaults())
		if names := tmpl.VariableNames(); len(names) != 0 {
			t.Fatalf("got %q", names)
		}
		jsonvtest.Require(t, `{"job_configuration": {}, "variables": {"type": "object", "properties": {}}}`, tmpl.Object())
	})
}
