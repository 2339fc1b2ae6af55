package templating_test

import (
	"reflect"
	"testing"

	"github.com/ecsworker/ecsworker/internal/jsonv/jsonvtest"
	"github.com/ecsworker/ecsworker/internal/templating"
)

func TestFindPlaceholders(t *testing.T) {
	t.Parallel()
	type ph = templating.Placeholder
	std := func(full, name string) ph { return ph{Full: full, Name: name, Kind: templating.Standard} }
	tests := map[string]struct {
		template any // a Go string, or JSON when json is set
		json     bool
		want     []ph
	}{
		"empty string": {template: "", want: nil},
		"single": {
			template: "Hello {{name}}!",
			want:     []ph{std("{{name}}", "name")},
		},
		"multiple in order": {
			template: "Hello {{first_name}} {{last_name}}!",
			want:     []ph{std("{{first_name}}", "first_name"), std("{{last_name}}", "last_name")},
		},
		"dollar before braces is text": {
			template: "Hello {{name}}! Your balance is ${{balance}}.",
			want:     []ph{std("{{name}}", "name"), std("{{balance}}", "balance")},
		},
		"nested values, keys never templated": {
			template: `{"{{ key }}": "Hello {{name}}!", "message": {"text": "{{greeting}}"}, "n": [1, true, null, "{{ x }}"]}`,
			json:     true,
			want:     []ph{std("{{name}}", "name"), std("{{greeting}}", "greeting"), std("{{ x }}", "x")},
		},
		"duplicates collapse": {
			template: "{{x}}{{x}}",
			want:     []ph{std("{{x}}", "x")},
		},
		"same name with other spacing is distinct": {
			template: "{{x}}{{ x }}",
			want:     []ph{std("{{x}}", "x"), std("{{ x }}", "x")},
		},
		"unconventional spacing": {
			template: "Hello {{    first_name }} {{ last_name}}!",
			want:     []ph{std("{{    first_name }}", "first_name"), std("{{ last_name}}", "last_name")},
		},
		"kinds by prefix": {
			template: "{{prefect.blocks.document.name}} {{ $MY_ENV_VAR }} {{ prefect.variables.v }} {{ prefect.blocksx }}",
			want: []ph{
				{Full: "{{prefect.blocks.document.name}}", Name: "prefect.blocks.document.name", Kind: templating.BlockDocument},
				{Full: "{{ $MY_ENV_VAR }}", Name: "$MY_ENV_VAR", Kind: templating.EnvVar},
				{Full: "{{ prefect.variables.v }}", Name: "prefect.variables.v", Kind: templating.Variable},
				std("{{ prefect.blocksx }}", "prefect.blocksx"),
			},
		},
		"malformed block placeholder is still a block placeholder": {
			template: "{{ prefect.blocks.my-block }}",
			want:     []ph{{Full: "{{ prefect.blocks.my-block }}", Name: "prefect.blocks.my-block", Kind: templating.BlockDocument}},
		},
		"allowed name characters": {
			template: "{{ a-b.c[0]$_9 }}",
			want:     []ph{std("{{ a-b.c[0]$_9 }}", "a-b.c[0]$_9")},
		},
		"not placeholders: inner spaces, quotes, filters, single braces": {
			template: "{{ a b }} {{ 'x' }} {{ a|upper }} { a } {{}} {{ }} {{ a/b }}",
			want:     nil,
		},
		"extra braces around a placeholder": {
			template: "{{{ a }}}",
			want:     []ph{std("{{ a }}", "a")},
		},
		"unicode letters and digits are word characters": {
			template: "{{ café }} {{ 名前 }} {{ ١ }}",
			want:     []ph{std("{{ café }}", "café"), std("{{ 名前 }}", "名前"), std("{{ ١ }}", "١")},
		},
		"combining marks are not word characters in Python": {
			template: "{{ cafe\u0301 }}",
			want:     nil,
		},
		"python whitespace: vertical tab, nbsp, ideographic space, file separator": {
			template: "{{\va\u00a0}} {{\u3000b\x1c}}",
			want:     []ph{std("{{\va\u00a0}}", "a"), std("{{\u3000b\x1c}}", "b")},
		},
		"zero-width space is neither whitespace nor a word character": {
			template: "{{\u200ba}}",
			want:     nil,
		},
		"numbers and booleans": {template: `[1, 2.5, true, null]`, json: true, want: nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tmpl := tc.template
			if tc.json {
				tmpl = jsonvtest.Value(t, tc.template.(string))
			}
			got := templating.FindPlaceholders(tmpl)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestPlaceholderKindString(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		kind templating.PlaceholderKind
		want string
	}{
		"standard": {templating.Standard, "standard"},
		"env":      {templating.EnvVar, "env_var"},
		"block":    {templating.BlockDocument, "block_document"},
		"variable": {templating.Variable, "variable"},
		"unknown":  {templating.PlaceholderKind(42), "unknown"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := tc.kind.String(); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}
