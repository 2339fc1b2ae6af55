package templating_test

import (
	"testing"

	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/jsonv/jsonvtest"
	"github.com/ecsworker/ecsworker/internal/templating"
)

func TestApplyValues(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		template   string // JSON
		values     string // JSON object
		keepNotSet bool   // removeNotSet=false
		want       string // JSON; ignored when wantNotSet
		wantNotSet bool
	}{
		// Cases mirroring Prefect's TestApplyValues.
		"one placeholder in text": {
			template: `"Hello, {{name}}!"`, values: `{"name": "Alice"}`, want: `"Hello, Alice!"`,
		},
		"several placeholders": {
			template: `"Hello, {{first_name}} {{last_name}}!"`,
			values:   `{"first_name": "Alice", "last_name": "Smith"}`,
			want:     `"Hello, Alice Smith!"`,
		},
		"object with placeholders keeps value types": {
			template: `{"name": "{{first_name}} {{last_name}}", "age": "{{age}}"}`,
			values:   `{"first_name": "Alice", "last_name": "Smith", "age": 30}`,
			want:     `{"name": "Alice Smith", "age": 30}`,
		},
		"missing value removes the key": {
			template: `{"last_name": "{{last_name}}", "age": "{{age}}"}`,
			values:   `{"first_name": "Alice", "age": 30}`,
			want:     `{"age": 30}`,
		},
		"literal null in the template stays": {
			template: `{"last_name": null, "age": "{{age}}"}`,
			values:   `{"age": 30}`,
			want:     `{"last_name": null, "age": 30}`,
		},
		"nested object": {
			template: `{"name": {"first_name": "{{ first_name }}", "last_name": "{{ last_name }}"}, "age": "{{age}}"}`,
			values:   `{"first_name": "Alice", "last_name": "Smith", "age": 30}`,
			want:     `{"name": {"first_name": "Alice", "last_name": "Smith"}, "age": 30}`,
		},
		"missing value kept unrendered when not removing": {
			template:   `{"name": "{{last_name}}", "age": "{{age}}"}`,
			values:     `{"age": 30}`,
			keepNotSet: true,
			want:       `{"name": "{{last_name}}", "age": 30}`,
		},
		"missing inline value left verbatim when not removing": {
			template:   `{"name": "Bob {{last_name}}", "age": "{{age}}"}`,
			values:     `{"age": 30}`,
			keepNotSet: true,
			want:       `{"name": "Bob {{last_name}}", "age": 30}`,
		},
		"list items": {
			template: `["Hello, {{first_name}} {{last_name}}!", {"name": "{{first_name}} {{last_name}}"}]`,
			values:   `{"first_name": "Alice", "last_name": "Smith"}`,
			want:     `["Hello, Alice Smith!", {"name": "Alice Smith"}]`,
		},
		"integer":      {template: `123`, values: `{"name": "Alice"}`, want: `123`},
		"float":        {template: `3.14`, values: `{"pi": 3.14}`, want: `3.14`},
		"boolean":      {template: `true`, values: `{"flag": false}`, want: `true`},
		"null":         {template: `null`, values: `{"key": "value"}`, want: `null`},
		"no values":    {template: `"{{ a }}-x"`, values: ``, want: `"-x"`},
		"dotted path":  {template: `"Hello {{ person.name }}!"`, values: `{"person": {"name": "Arthur"}}`, want: `"Hello Arthur!"`},
		"list in path": {template: `"Hello {{ people[0].name }}!"`, values: `{"people": [{"name": "Arthur"}]}`, want: `"Hello Arthur!"`},
		"dotted path to an object": {
			template: `{"right now we need": "{{ people.superman }}"}`,
			values:   `{"people": {"superman": {"first_name": "Superman", "age": 30}}}`,
			want:     `{"right now we need": {"first_name": "Superman", "age": 30}}`,
		},
		"indexed path to an object": {
			template: `{"right now we need": "{{ people[0] }}"}`,
			values:   `{"people": [{"first_name": "Superman", "age": 30}]}`,
			want:     `{"right now we need": {"first_name": "Superman", "age": 30}}`,
		},
		"block, variable and env placeholders are not standard": {
			template: `["Hello {{prefect.blocks.document.name}}!", "{{ prefect.variables.x }}", "{{ prefect.blocks.a.b }}"]`,
			values:   `{"name": "Alice"}`,
			want:     `["Hello {{prefect.blocks.document.name}}!", "{{ prefect.variables.x }}", "{{ prefect.blocks.a.b }}"]`,
		},
		"invalid env placeholders become empty (Prefect's $$ case)": {
			template: `{"greeting": "Hello {{name}}!", "message": {"text": "{{$$}}", "other": "{{ $JOBTEMPLATE_TEST_UNSET_51f0 }}"}}`,
			values:   `{"name": "Dan"}`,
			want:     `{"greeting": "Hello Dan!", "message": {"text": "", "other": ""}}`,
		},

		// Whole-string substitution keeps the JSON type and the literal form.
		"whole string keeps float literal": {template: `"{{ n }}"`, values: `{"n": 42.0}`, want: `42.0`},
		"whole string keeps big integer":   {template: `"{{ n }}"`, values: `{"n": 123456789012345678901234567890}`, want: `123456789012345678901234567890`},
		"whole string list":                {template: `"{{ l }}"`, values: `{"l": [1, "a", null]}`, want: `[1, "a", null]`},
		"whole string bool":                {template: `"{{ b }}"`, values: `{"b": false}`, want: `false`},
		"explicit null keeps the key":      {template: `{"cluster": "{{ cluster }}"}`, values: `{"cluster": null}`, want: `{"cluster": null}`},
		"surrounding whitespace is text":   {template: `" {{ n }}"`, values: `{"n": 42}`, want: `" 42"`},
		"top-level missing is NotSet":      {template: `"{{ missing }}"`, values: `{}`, wantNotSet: true},
		"top-level missing NotSet even when kept": {
			template: `"{{ missing }}"`, values: `{}`, keepNotSet: true, wantNotSet: true,
		},

		// Interpolation prints values with Python's str().
		"python str of values": {
			template: `"{{ i }}|{{ f }}|{{ e }}|{{ t }}|{{ n }}|{{ d }}|{{ l }}|{{ s }}"`,
			values:   `{"i": 42, "f": 42.0, "e": 1e-05, "t": true, "n": null, "d": {"a": 1, "b": "it's"}, "l": [1, "a", false], "s": "x"}`,
			want:     `"42|42.0|1e-05|True|None|{'a': 1, 'b': \"it's\"}|[1, 'a', False]|x"`,
		},
		"repeated placeholder replaced everywhere": {
			template: `"{{x}}-{{x}}-{{ x }}"`, values: `{"x": "y"}`, want: `"y-y-y"`,
		},
		"substituted text is not rendered again": {
			template: `"{{ a }}/{{ b }}"`, values: `{"a": "{{ b }}", "b": "B"}`, want: `"{{ b }}/B"`,
		},
		"missing inline placeholders removed": {
			template: `"a{{ missing }}b{{ also.missing[3] }}c"`, values: `{}`, want: `"abc"`,
		},

		// NotSet handling in containers.
		"NotSet list items always dropped": {
			template: `["{{ a }}", "{{ missing }}", "x", "{{ b }}"]`, values: `{"a": 1, "b": null}`, keepNotSet: true,
			want: `[1, "x", null]`,
		},
		"object emptied by removal stays as {}": {
			template: `{"outer": {"a": "{{ missing }}", "b": "{{ gone }}"}, "list": ["{{ missing }}"]}`,
			values:   `{}`,
			want:     `{"outer": {}, "list": []}`,
		},

		// Path lookup follows Prefect's get_from_dict.
		"negative index": {template: `"{{ l[-1] }}"`, values: `{"l": [1, 2, 3]}`, want: `3`},
		"negative index out of range": {
			template: `{"v": "{{ l[-4] }}"}`, values: `{"l": [1, 2, 3]}`, want: `{}`,
		},
		"index out of range":   {template: `{"v": "{{ l[3] }}"}`, values: `{"l": [1, 2, 3]}`, want: `{}`},
		"index as dotted part": {template: `"{{ l.1 }}"`, values: `{"l": [1, 2, 3]}`, want: `2`},
		"numeric segment never matches an object key": {
			template: `{"v": "{{ o.0 }}", "w": "{{ o[1] }}"}`, values: `{"o": {"0": "zero", "1": "one"}}`, want: `{}`,
		},
		"indexing a string gives a character": {
			template: `["{{ s[1] }}", "{{ s[-1] }}", "{{ s[0][0] }}", "{{ u[1] }}"]`, values: `{"s": "abc", "u": "héllo"}`,
			want: `["b", "c", "a", "é"]`,
		},
		"key lookup on a string misses":   {template: `{"v": "{{ s.x }}"}`, values: `{"s": "abc"}`, want: `{}`},
		"key lookup on a list misses":     {template: `{"v": "{{ l.x }}"}`, values: `{"l": [1]}`, want: `{}`},
		"indexing a number misses":        {template: `{"v": "{{ n[0] }}"}`, values: `{"n": 5}`, want: `{}`},
		"path through null misses":        {template: `{"v": "{{ n.x }}"}`, values: `{"n": null}`, want: `{}`},
		"python int accepts underscores":  {template: `"{{ l[1_0] }}"`, values: `{"l": [0,1,2,3,4,5,6,7,8,9,"ten"]}`, want: `"ten"`},
		"python int accepts other digits": {template: `"{{ l[١] }}"`, values: `{"l": ["zero", "one"]}`, want: `"one"`},
		"leading underscore is a key":     {template: `"{{ o._1 }}"`, values: `{"o": {"_1": "k"}}`, want: `"k"`},
		"huge index misses": {
			template: `{"v": "{{ l[99999999999999999999] }}"}`, values: `{"l": [1]}`, want: `{}`,
		},
		"stray closing bracket vanishes": {template: `"{{ a]b }}"`, values: `{"ab": "joined"}`, want: `"joined"`},
		"empty segments are empty keys":  {template: `["{{ a..b }}", "{{ c[] }}"]`, values: `{"a": {"": {"b": 1}}, "c": {"": 2}}`, want: `[1, 2]`},
		"dashes and dollars in keys":     {template: `"{{ my-key.a$b }}"`, values: `{"my-key": {"a$b": "ok"}}`, want: `"ok"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tmpl := jsonvtest.Value(t, tc.template)
			values := jsonvtest.Object(t, tc.values)
			before := jsonvtest.Compact(t, tmpl)
			var valuesBefore string
			if values != nil {
				valuesBefore = jsonvtest.Compact(t, values)
			}

			got, ok := templating.ApplyValues(tmpl, values, !tc.keepNotSet)

			if tc.wantNotSet {
				if ok || got != nil {
					t.Fatalf("got (%s, %v), want NotSet (nil, false)", jsonvtest.Compact(t, got), ok)
				}
			} else {
				if !ok {
					t.Fatalf("got NotSet, want %s", tc.want)
				}
				jsonvtest.Require(t, tc.want, got)
			}
			if jsonvtest.Compact(t, tmpl) != before {
				t.Fatalf("template was modified: %s", jsonvtest.Compact(t, tmpl))
			}
			if values != nil && jsonvtest.Compact(t, values) != valuesBefore {
				t.Fatalf("values were modified: %s", jsonvtest.Compact(t, values))
			}
		})
	}
}

// A whole-string substitution must hand out a copy: changing the rendered
// value must not reach into the job variables (Render's callers coerce and
// extend the result in place).
func TestApplyValuesResultDoesNotAliasValues(t *testing.T) {
	t.Parallel()
	values := jsonvtest.Object(t, `{"env": {"A": "1"}, "l": [{"x": 1}]}`)
	got, _ := templating.ApplyValues(jsonvtest.Value(t, `{"e": "{{ env }}", "l": "{{ l }}"}`), values, true)
	out := got.(*jsonv.Object)
	out.GetObject("e").Set("B", "2")
	out.GetArray("l")[0].(*jsonv.Object).Set("y", 2)
	jsonvtest.Require(t, `{"env": {"A": "1"}, "l": [{"x": 1}]}`, values)
}

// Go values that are not jsonv values are normalised rather than rejected.
func TestApplyValuesNormalisesGoValues(t *testing.T) {
	t.Parallel()
	got, ok := templating.ApplyValues(map[string]any{"a": "{{ x }}", "b": 3}, jsonv.ObjectOf("x", "y"), true)
	if !ok {
		t.Fatal("got NotSet")
	}
	jsonvtest.Require(t, `{"a": "y", "b": 3}`, got)
}
