package templating_test

import (
	"reflect"
	"testing"

	"github.com/ecsworker/ecsworker/internal/jsonv/jsonvtest"
	"github.com/ecsworker/ecsworker/internal/templating"
)

func TestUnresolved(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		value string
		want  []string
	}{
		"nothing left":           {value: `{"a": "x", "b": [1, {"c": "{{ standard }}"}]}`, want: nil},
		"root string":            {value: `"{{ prefect.variables.v }}"`, want: []string{`(job configuration): {{ prefect.variables.v }} (Prefect variable "v")`}},
		"root $ref":              {value: `{"$ref": {"block_document_id": "x"}}`, want: []string{`(job configuration): block document reference (block_document_id "x")`}},
		"duplicates in a string": {value: `{"a": "{{ prefect.variables.v }}{{ prefect.variables.v }}"}`, want: []string{`a: {{ prefect.variables.v }} (Prefect variable "v")`}},
		"odd keys are quoted": {
			value: `{"": {"1x": ["{{ prefect.variables.v }}"]}}`,
			want:  []string{`[""]["1x"][0]: {{ prefect.variables.v }} (Prefect variable "v")`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := templating.Unresolved(jsonvtest.Value(t, tc.value)); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
