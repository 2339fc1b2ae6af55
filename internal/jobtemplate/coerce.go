package jobtemplate

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/pycompat"
	"github.com/ecsworker/ecsworker/internal/templating"
)

// CoerceBaseFields gives the four fields every Prefect worker understands
// the shapes Prefect's BaseJobConfiguration model gives them after
// rendering:
//
//   - env: an object (missing or null becomes {}); every non-null value
//     becomes Python's str() of itself, so 8080 is "8080" and true is
//     "True"; null values stay, they mean "do not set" until
//     PrepareForFlowRun drops them.
//   - labels: an object of strings (missing or null becomes {}); numbers and
//     booleans become their Python str().
//   - command: a string or null; "" becomes null so that PrepareForFlowRun
//     fills in the default command.
//   - name: a string or null.
//
// Missing fields are added. Every problem is reported, each naming the
// field, the bad value and the fix; cfg is only changed when there is none.
func CoerceBaseFields(cfg *jsonv.Object) error {
	if cfg == nil {
		return errors.New("job configuration is null; render the base job template first")
	}
	var errs []error

	env := jsonv.NewObject()
	switch v, _ := cfg.Get("env"); t := v.(type) {
	case nil:
	case *jsonv.Object:
		for _, k := range t.Keys() {
			e, _ := t.Get(k)
			if e == nil {
				env.Set(k, nil)
			} else {
				env.Set(k, pycompat.Str(e))
			}
		}
	default:
		errs = append(errs, fmt.Errorf(`job configuration field "env" is %s (%s), but it must be an object `+
			`mapping variable names to strings; set the "env" job variable to something like {"KEY": "value"}`,
			jsonv.TypeName(v), templating.Brief(v)))
	}

	labels := jsonv.NewObject()
	switch v, _ := cfg.Get("labels"); t := v.(type) {
	case nil:
	case *jsonv.Object:
		for _, k := range t.Keys() {
			e, _ := t.Get(k)
			switch e.(type) {
			case string, bool, json.Number:
				labels.Set(k, pycompat.Str(e))
			default:
				errs = append(errs, fmt.Errorf(`label %q is %s (%s), but labels must be strings; `+
					`give it a string value such as "team-a", or remove it`, k, jsonv.TypeName(e), templating.Brief(e)))
			}
		}
	default:
		errs = append(errs, fmt.Errorf(`job configuration field "labels" is %s (%s), but it must be an object `+
			`mapping label names to strings; set the "labels" job variable to something like {"team": "data"}`,
			jsonv.TypeName(v), templating.Brief(v)))
	}

	var command any
	switch v, _ := cfg.Get("command"); t := v.(type) {
	case nil:
	case string:
		if t != "" {
			command = t
		}
	default:
		errs = append(errs, fmt.Errorf(`job configuration field "command" is %s (%s), but it must be a string `+
			`or null; give the whole command as one string, e.g. "prefect flow-run execute", or leave it unset`,
			jsonv.TypeName(v), templating.Brief(v)))
	}

	var name any
	switch v, _ := cfg.Get("name"); t := v.(type) {
	case nil, string:
		name = t
	default:
		errs = append(errs, fmt.Errorf(`job configuration field "name" is %s (%s), but it must be a string `+
			`or null; set the "name" job variable to a string or leave it unset`, jsonv.TypeName(v), templating.Brief(v)))
	}

	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	cfg.Set("command", command)
	cfg.Set("env", env)
	cfg.Set("labels", labels)
	cfg.Set("name", name)
	return nil
}
