package jobtemplate_test

import (
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/jobtemplate"
	"github.com/ecsworker/ecsworker/internal/jsonv/jsonvtest"
)

func TestCoerceBaseFields(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		cfg          string
		want         string   // when no error
		wantContains []string // error fragments
	}{
		"all missing": {
			cfg:  `{"task_definition": {}}`,
			want: `{"task_definition": {}, "command": null, "env": {}, "labels": {}, "name": null}`,
		},
		"nulls become defaults": {
			cfg:  `{"command": null, "env": null, "labels": null, "name": null}`,
			want: `{"command": null, "env": {}, "labels": {}, "name": null}`,
		},
		"env values become python str, null stays": {
			cfg: `{"env": {"I": 42, "F": 1.50, "E": 1e-7, "T": true, "N": null, "S": "s", "D": {"a": [1, "x"]}, "L": ["a"]}}`,
			want: `{"env": {"I": "42", "F": "1.5", "E": "1e-07", "T": "True", "N": null, "S": "s", "D": "{'a': [1, 'x']}", "L": "['a']"},
			        "command": null, "labels": {}, "name": null}`,
		},
		"labels scalars become strings": {
			cfg:  `{"labels": {"a": "x", "b": 1, "c": false, "d": 2.0}}`,
			want: `{"labels": {"a": "x", "b": "1", "c": "False", "d": "2.0"}, "command": null, "env": {}, "name": null}`,
		},
		"empty command becomes null, others kept": {
			cfg:  `{"name": "job", "command": "", "env": {}, "labels": {}}`,
			want: `{"name": "job", "command": null, "env": {}, "labels": {}}`,
		},
		"command kept": {
			cfg:  `{"command": "python flow.py"}`,
			want: `{"command": "python flow.py", "env": {}, "labels": {}, "name": null}`,
		},
		"env must be an object": {
			cfg:          `{"env": "FOO=bar"}`,
			wantContains: []string{`field "env" is a string ("FOO=bar")`, `{"KEY": "value"}`},
		},
		"labels must be an object": {
			cfg:          `{"labels": ["a"]}`,
			wantContains: []string{`field "labels" is a list (["a"])`, `{"team": "data"}`},
		},
		"label values must be scalars": {
			cfg:          `{"labels": {"team": {"a": 1}, "none": null}}`,
			wantContains: []string{`label "team" is an object ({"a":1})`, `label "none" is null`, "labels must be strings"},
		},
		"command must be a string": {
			cfg:          `{"command": ["prefect", "flow-run", "execute"]}`,
			wantContains: []string{`field "command" is a list`, `"prefect flow-run execute"`},
		},
		"name must be a string": {
			cfg:          `{"name": 5}`,
			wantContains: []string{`field "name" is an integer (5)`, "string or null"},
		},
		"every problem is reported": {
			cfg:          `{"env": 1, "labels": 2, "command": 3, "name": 4}`,
			wantContains: []string{`"env"`, `"labels"`, `"command"`, `"name"`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := jsonvtest.Object(t, tc.cfg)
			before := jsonvtest.Compact(t, cfg)
			err := jobtemplate.CoerceBaseFields(cfg)
			if tc.wantContains == nil {
				if err != nil {
					t.Fatalf("CoerceBaseFields: %v", err)
				}
				jsonvtest.Require(t, tc.want, cfg)
				return
			}
			if err == nil {
				t.Fatalf("got %s, want an error", jsonvtest.Compact(t, cfg))
			}
			for _, want := range tc.wantContains {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if jsonvtest.Compact(t, cfg) != before {
				t.Fatalf("cfg changed despite the error: %s", jsonvtest.Compact(t, cfg))
			}
		})
	}
	t.Run("nil", func(t *testing.T) {
		t.Parallel()
		if err := jobtemplate.CoerceBaseFields(nil); err == nil {
			t.Fatal("want an error")
		}
	})
}
