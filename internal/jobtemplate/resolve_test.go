package jobtemplate_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/jobtemplate"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/jsonv/jsonvtest"
	"github.com/ecsworker/ecsworker/internal/templating"
)

// blockAPI is the fake Prefect API shared by the resolution tests.
func blockAPI() *fakeResolver {
	return &fakeResolver{
		byID: map[string]string{
			"6f9e1c1e-0000-4000-8000-000000000001": `{"a": 1, "b": "hello"}`,
			"6f9e1c1e-0000-4000-8000-000000000002": `{"value": "wrapped"}`,
		},
		byName: map[string]string{
			"arbitraryblock/my-block": `{"a": 1, "b": "hello"}`,
			"secret/registry":         `{"value": "my-private-repo.com"}`,
			"secret/structured":       `{"value": {"key": {"nested-key": "nested-value"}, "list": [{"list-key": "list-value"}, 1, 2]}}`,
			"webhook/hook":            `{"url": "https://example.com", "headers": {"X": "1"}}`,
			"json/cfg":                `{"value": {"n": 2.50, "flag": true, "none": null}}`,
			"string/templated":        `{"value": "{{ prefect.variables.region }}"}`,
			"aws-credentials/prod":    `{"region_name": "us-east-1", "aws_access_key_id": "AKIA", "aws_secret_access_key": "s3cret"}`,
		},
		variables: map[string]string{
			"region": `"eu-west-1"`,
			"my_var": `{"key": "val"}`,
			"nully":  `null`,
			"count":  `3`,
			"ratio":  `1.0`,
			"flag":   `true`,
			"blocky": `"{{ prefect.blocks.secret.registry }}"`,
		},
	}
}

func TestRenderResolvesBlocksAndVariables(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		config    string // job_configuration JSON
		values    string // job variables JSON
		want      string
		wantCalls []string
	}{
		"no references": {
			config: `{"key": "value"}`, want: `{"key": "value"}`, wantCalls: nil,
		},
		"$ref replaced by the block data": {
			config:    `{"key": {"$ref": {"block_document_id": "6f9e1c1e-0000-4000-8000-000000000001"}}}`,
			want:      `{"key": {"a": 1, "b": "hello"}}`,
			wantCalls: []string{"id:6f9e1c1e-0000-4000-8000-000000000001"},
		},
		"$ref is not unwrapped for system blocks": {
			config:    `{"key": {"$ref": {"block_document_id": "6f9e1c1e-0000-4000-8000-000000000002"}}}`,
			want:      `{"key": {"value": "wrapped"}}`,
			wantCalls: []string{"id:6f9e1c1e-0000-4000-8000-000000000002"},
		},
		"nested and repeated $ref read once": {
			config: `{"key": {"nested_key": {"$ref": {"block_document_id": "6f9e1c1e-0000-4000-8000-000000000001"}},
			          "other": [{"$ref": {"block_document_id": "6f9e1c1e-0000-4000-8000-000000000001"}}]}}`,
			want:      `{"key": {"nested_key": {"a": 1, "b": "hello"}, "other": [{"a": 1, "b": "hello"}]}}`,
			wantCalls: []string{"id:6f9e1c1e-0000-4000-8000-000000000001"},
		},
		"$ref supplied as a job variable default": {
			config:    `{"aws_credentials": "{{ aws_credentials }}"}`,
			values:    `{"aws_credentials": {"$ref": {"block_document_id": "6f9e1c1e-0000-4000-8000-000000000001"}}}`,
			want:      `{"aws_credentials": {"a": 1, "b": "hello"}}`,
			wantCalls: []string{"id:6f9e1c1e-0000-4000-8000-000000000001"},
		},
		"falsy block_document_id or non-object $ref is an ordinary object": {
			config:    `{"a": {"$ref": {"block_document_id": ""}}, "b": {"$ref": "#/definitions/AwsCredentials"}, "c": {"$ref": {}}}`,
			want:      `{"a": {"$ref": {"block_document_id": ""}}, "b": {"$ref": "#/definitions/AwsCredentials"}, "c": {"$ref": {}}}`,
			wantCalls: nil,
		},
		"whole placeholder gives the data": {
			config:    `{"key": "{{ prefect.blocks.arbitraryblock.my-block }}"}`,
			want:      `{"key": {"a": 1, "b": "hello"}}`,
			wantCalls: []string{"name:arbitraryblock/my-block"},
		},
		"system block unwrapped to its value": {
			config:    `{"key": "{{ prefect.blocks.secret.registry }}"}`,
			want:      `{"key": "my-private-repo.com"}`,
			wantCalls: []string{"name:secret/registry"},
		},
		"key path starting with value is not unwrapped first": {
			config:    `{"a": "{{ prefect.blocks.secret.structured.value.key }}", "b": "{{ prefect.blocks.secret.structured.value.key.nested-key }}", "c": "{{ prefect.blocks.secret.structured.value.list[0].list-key }}"}`,
			want:      `{"a": {"nested-key": "nested-value"}, "b": "nested-value", "c": "list-value"}`,
			wantCalls: []string{"name:secret/structured"},
		},
		"key path into an unwrapped system block": {
			config:    `{"a": "{{ prefect.blocks.secret.structured.key.nested-key }}", "b": "{{ prefect.blocks.secret.structured.list[-1] }}"}`,
			want:      `{"a": "nested-value", "b": 2}`,
			wantCalls: []string{"name:secret/structured"},
		},
		"block attribute": {
			config:    `{"block_attribute": "{{ prefect.blocks.webhook.hook.url }}"}`,
			want:      `{"block_attribute": "https://example.com"}`,
			wantCalls: []string{"name:webhook/hook"},
		},
		"inline substitution": {
			config:    `{"key": "prefix-{{ prefect.blocks.arbitraryblock.my-block.b }}-suffix"}`,
			want:      `{"key": "prefix-hello-suffix"}`,
			wantCalls: []string{"name:arbitraryblock/my-block"},
		},
		"inline substitution of a system block": {
			config:    `{"image": "{{ prefect.blocks.secret.registry.value }}/my-image-name", "image2": "{{ prefect.blocks.secret.registry }}/x"}`,
			want:      `{"image": "my-private-repo.com/my-image-name", "image2": "my-private-repo.com/x"}`,
			wantCalls: []string{"name:secret/registry"},
		},
		"inline scalars print with python str": {
			config:    `{"s": "{{ prefect.blocks.json.cfg.n }}|{{ prefect.blocks.json.cfg.flag }}|{{ prefect.blocks.json.cfg.none }}"}`,
			want:      `{"s": "2.5|True|None"}`,
			wantCalls: []string{"name:json/cfg"},
		},
		"whole placeholder keeps number literal": {
			config: `{"n": "{{ prefect.blocks.json.cfg.n }}"}`, want: `{"n": 2.50}`, wantCalls: []string{"name:json/cfg"},
		},
		"block and standard placeholders together": {
			config:    `{"key": "{{ standard }}/{{ prefect.blocks.arbitraryblock.my-block.b }}"}`,
			values:    `{"standard": "std"}`,
			want:      `{"key": "std/hello"}`,
			wantCalls: []string{"name:arbitraryblock/my-block"},
		},
		"one read per document across whole, inline and nested uses": {
			config: `{"full": "{{ prefect.blocks.arbitraryblock.my-block }}",
			          "inline": "prefix-{{ prefect.blocks.arbitraryblock.my-block.b }}-suffix",
			          "nested": {"repeat": "{{ prefect.blocks.arbitraryblock.my-block }}"}}`,
			want:      `{"full": {"a": 1, "b": "hello"}, "inline": "prefix-hello-suffix", "nested": {"repeat": {"a": 1, "b": "hello"}}}`,
			wantCalls: []string{"name:arbitraryblock/my-block"},
		},
		"block placeholder supplied by a job variable": {
			config:    `{"arbitrary_block": "{{ arbitrary_block }}"}`,
			values:    `{"arbitrary_block": "{{ prefect.blocks.arbitraryblock.my-block }}"}`,
			want:      `{"arbitrary_block": {"a": 1, "b": "hello"}}`,
			wantCalls: []string{"name:arbitraryblock/my-block"},
		},

		"variable whole and inline": {
			config:    `{"full": "{{ prefect.variables.region }}", "inline": "aws-{{ prefect.variables.region }}-x"}`,
			want:      `{"full": "eu-west-1", "inline": "aws-eu-west-1-x"}`,
			wantCalls: []string{"var:region"},
		},
		"variables with python str and JSON types": {
			config: `{"full": "{{ prefect.variables.my_var }}", "inline": "prefix-{{ prefect.variables.my_var }}-suffix",
			          "null": "{{ prefect.variables.nully }}", "count": "{{ prefect.variables.count }}",
			          "mixed": "{{ prefect.variables.count }}/{{ prefect.variables.ratio }}/{{ prefect.variables.flag }}/{{ prefect.variables.nully }}"}`,
			want: `{"full": {"key": "val"}, "inline": "prefix-{'key': 'val'}-suffix", "null": null, "count": 3,
			        "mixed": "3/1.0/True/None"}`,
			wantCalls: []string{"var:my_var", "var:nully", "var:count", "var:ratio", "var:flag"},
		},
		"missing variables become empty strings, misses are cached": {
			config: `{"missing_full": "{{ prefect.variables.gone }}", "missing_inline": "x{{ prefect.variables.gone }}y",
			          "two": "{{ prefect.variables.missing_1 }} - {{ prefect.variables.missing_2 }}",
			          "nested": {"other": "{{ prefect.variables.gone }}"}}`,
			want:      `{"missing_full": "", "missing_inline": "xy", "two": " - ", "nested": {"other": ""}}`,
			wantCalls: []string{"var:gone", "var:missing_1", "var:missing_2"},
		},
		"variables in lists and job variables": {
			config:    `{"var1": "{{ var1 }}", "env": "{{ env }}", "l": ["value1", "{{ prefect.variables.region }}", 42]}`,
			values:    `{"var1": "{{  prefect.variables.region }}", "env": {"MY_ENV_VAR": "{{  prefect.variables.count }}"}}`,
			want:      `{"var1": "eu-west-1", "env": {"MY_ENV_VAR": 3}, "l": ["value1", "eu-west-1", 42]}`,
			wantCalls: []string{"var:region", "var:count"},
		},
		"variables run after blocks, so a block may hold a variable placeholder": {
			config:    `{"region": "{{ prefect.blocks.string.templated }}"}`,
			want:      `{"region": "eu-west-1"}`,
			wantCalls: []string{"name:string/templated", "var:region"},
		},
		"a variable holding a block placeholder is not resolved again": {
			config:    `{"v": "{{ prefect.variables.blocky }}"}`,
			want:      `{"v": "{{ prefect.blocks.secret.registry }}"}`,
			wantCalls: []string{"var:blocky"},
		},
		"other placeholder kinds are untouched by the API passes": {
			config:    `{"key": "{{ another }}", "key3": "{{ $JT_UNSET }}"}`,
			values:    `{"another": "{{ prefect.nothing }}"}`,
			want:      `{"key": "{{ prefect.nothing }}", "key3": ""}`,
			wantCalls: nil,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			api := blockAPI()
			tmpl := &jobtemplate.Template{JobConfiguration: jsonvtest.Object(t, tc.config)}
			got, err := tmpl.Render(context.Background(), jsonvtest.Object(t, tc.values), jobtemplate.RenderOptions{
				Resolver: api, LookupEnv: envMap(nil),
			})
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			jsonvtest.Require(t, tc.want, got)
			if calls := api.callLog(); !reflect.DeepEqual(calls, tc.wantCalls) {
				t.Fatalf("API calls %q, want %q", calls, tc.wantCalls)
			}
		})
	}
}

// Prefect hands out a deep copy of a cached document for every use.
func TestRenderBlockResultsAreIndependentCopies(t *testing.T) {
	t.Parallel()
	tmpl := &jobtemplate.Template{JobConfiguration: jsonvtest.Object(t, `{
		"first": {"$ref": {"block_document_id": "6f9e1c1e-0000-4000-8000-000000000001"}},
		"second": {"$ref": {"block_document_id": "6f9e1c1e-0000-4000-8000-000000000001"}},
		"full": "{{ prefect.blocks.arbitraryblock.my-block }}",
		"repeat": "{{ prefect.blocks.arbitraryblock.my-block }}",
		"v1": "{{ prefect.variables.my_var }}", "v2": "{{ prefect.variables.my_var }}"}`)}
	got, err := tmpl.Render(context.Background(), nil, jobtemplate.RenderOptions{Resolver: blockAPI()})
	if err != nil {
		t.Fatal(err)
	}
	got.GetObject("first").Set("a", "changed")
	got.GetObject("full").Set("a", "changed")
	got.GetObject("v1").Set("key", "changed")
	jsonvtest.Require(t, `{"first": {"a": "changed", "b": "hello"}, "second": {"a": 1, "b": "hello"},
		"full": {"a": "changed", "b": "hello"}, "repeat": {"a": 1, "b": "hello"},
		"v1": {"key": "changed"}, "v2": {"key": "val"}}`, got)
}

func TestRenderResolutionErrors(t *testing.T) {
	t.Parallel()
	apiErr := errors.New("connection refused")
	tests := map[string]struct {
		config       string
		apiErr       error
		wantContains []string
		wantIs       error
	}{
		"missing block by name": {
			config:       `{"block_ref": "{{ prefect.blocks.aws-credentials.nonexistent-block }}"}`,
			wantContains: []string{`block "nonexistent-block" of type "aws-credentials" was not found`, "no longer exists", "block_ref"},
			wantIs:       templating.ErrNotFound,
		},
		"missing block by id": {
			config:       `{"block_ref": {"$ref": {"block_document_id": "0b7c3c3e-dead-4000-8000-000000000000"}}}`,
			wantContains: []string{"0b7c3c3e-dead-4000-8000-000000000000", "was not found", "no longer exists"},
			wantIs:       templating.ErrNotFound,
		},
		"block id that is not a string": {
			config:       `{"block_ref": {"$ref": {"block_document_id": 7}}}`,
			wantContains: []string{"block_document_id 7", "UUID as a string"},
		},
		"malformed block placeholder": {
			config:       `{"key": "{{ prefect.blocks.only-type }}"}`,
			wantContains: []string{"invalid block placeholder {{ prefect.blocks.only-type }}", "prefect.blocks.<block-type-slug>.<block-document-name>"},
		},
		"unknown key path": {
			config:       `{"task_definition": {"image": "{{ prefect.blocks.webhook.hook.missing }}"}}`,
			wantContains: []string{"task_definition.image", `has no field at "missing"`, "url, headers"},
		},
		"object placed inside a longer string": {
			config:       `{"key": "{{ prefect.blocks.arbitraryblock.my-block }} extra text"}`,
			wantContains: []string{"cannot be placed inside a longer string", "{{ prefect.blocks.arbitraryblock.my-block.a }}"},
		},
		"list placed inside a longer string": {
			config:       `{"key": "x{{ prefect.blocks.secret.structured.list }}"}`,
			wantContains: []string{"resolves to a list", "cannot be placed inside a longer string"},
		},
		"API failure reading a block": {
			config: `{"key": "{{ prefect.blocks.secret.registry }}"}`, apiErr: apiErr,
			wantContains: []string{`read block "registry" of type "secret"`, "connection refused"},
			wantIs:       apiErr,
		},
		"API failure reading a variable": {
			config: `{"env": {"A": "{{ prefect.variables.region }}"}}`, apiErr: apiErr,
			wantContains: []string{`env.A: read Prefect variable "region"`, "connection refused"},
			wantIs:       apiErr,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			api := blockAPI()
			api.err = tc.apiErr
			tmpl := &jobtemplate.Template{JobConfiguration: jsonvtest.Object(t, tc.config)}
			got, err := tmpl.Render(context.Background(), nil, jobtemplate.RenderOptions{Resolver: api})
			if err == nil {
				t.Fatalf("got %s, want an error", jsonvtest.Compact(t, got))
			}
			for _, want := range tc.wantContains {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %q does not wrap %v", err, tc.wantIs)
			}
		})
	}
}

func TestRenderStopsWhenContextIsCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	api := blockAPI()
	tmpl := &jobtemplate.Template{JobConfiguration: jsonvtest.Object(t, `{"a": "{{ prefect.variables.region }}"}`)}
	if _, err := tmpl.Render(ctx, nil, jobtemplate.RenderOptions{Resolver: api}); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if calls := api.callLog(); len(calls) != 0 {
		t.Fatalf("API was called after cancellation: %q", calls)
	}
}

func TestRenderWithoutResolverLeavesReferences(t *testing.T) {
	t.Parallel()
	tmpl := &jobtemplate.Template{JobConfiguration: jsonvtest.Object(t, `{
		"aws_credentials": "{{ aws_credentials }}",
		"task_definition": {"containerDefinitions": [{"image": "{{ prefect.blocks.secret.registry }}/app:{{ tag }}"}],
		                    "executionRoleArn": "{{ prefect.variables.role }}"},
		"env": {"MY.VAR": "{{ prefect.blocks.aws-credentials.prod.region_name }}", "B": "{{ prefect.blocks.bad }}"}}`)}
	values := jsonvtest.Object(t, `{"tag": "v1", "aws_credentials": {"$ref": {"block_document_id": "6f9e1c1e-0000-4000-8000-000000000001"}}}`)
	got, err := tmpl.Render(context.Background(), values, jobtemplate.RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	jsonvtest.Require(t, `{
		"aws_credentials": {"$ref": {"block_document_id": "6f9e1c1e-0000-4000-8000-000000000001"}},
		"task_definition": {"containerDefinitions": [{"image": "{{ prefect.blocks.secret.registry }}/app:v1"}],
		                    "executionRoleArn": "{{ prefect.variables.role }}"},
		"env": {"MY.VAR": "{{ prefect.blocks.aws-credentials.prod.region_name }}", "B": "{{ prefect.blocks.bad }}"}}`, got)

	want := []string{
		`aws_credentials: block document reference (block_document_id "6f9e1c1e-0000-4000-8000-000000000001")`,
		`task_definition.containerDefinitions[0].image: {{ prefect.blocks.secret.registry }} (block "registry" of type "secret")`,
		`task_definition.executionRoleArn: {{ prefect.variables.role }} (Prefect variable "role")`,
		`env["MY.VAR"]: {{ prefect.blocks.aws-credentials.prod.region_name }} (field "region_name" of block "prod" of type "aws-credentials")`,
		`env.B: {{ prefect.blocks.bad }} (malformed block placeholder; expected prefect.blocks.<block-type-slug>.<block-document-name>)`,
	}
	if got := templating.Unresolved(got); !reflect.DeepEqual(got, want) {
		t.Fatalf("Unresolved:\n got  %q\n want %q", got, want)
	}
}

// Resolver data is copied, never aliased: changing the rendered result must
// not change what the resolver handed out (it may be a shared cache).
func TestRenderDoesNotAliasResolverData(t *testing.T) {
	t.Parallel()
	shared := jsonv.ObjectOf("a", 1)
	r := staticResolver{doc: shared}
	tmpl := &jobtemplate.Template{JobConfiguration: jsonvtest.Object(t, `{"x": "{{ prefect.blocks.t.n }}", "y": {"$ref": {"block_document_id": "i"}}}`)}
	got, err := tmpl.Render(context.Background(), nil, jobtemplate.RenderOptions{Resolver: r})
	if err != nil {
		t.Fatal(err)
	}
	got.GetObject("x").Set("a", 2)
	got.GetObject("y").Set("a", 3)
	jsonvtest.Require(t, `{"a": 1}`, shared)
}

type staticResolver struct{ doc *jsonv.Object }

func (s staticResolver) BlockDocument(context.Context, string) (*jsonv.Object, error) {
	return s.doc, nil
}

func (s staticResolver) BlockDocumentByName(context.Context, string, string) (*jsonv.Object, error) {
	return s.doc, nil
}

func (s staticResolver) Variable(context.Context, string) (any, bool, error) { return nil, false, nil }
