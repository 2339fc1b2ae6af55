package templating

import (
	"encoding/json"
	"os"
	"strings"

	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/pycompat"
)

// ApplyValues fills the standard and $ENV placeholders of a template value
// from values, as Prefect's apply_values does; block and variable
// placeholders are left for ResolveBlockDocuments and ResolveVariables.
//
//   - A string that is exactly one standard placeholder becomes the looked-up
//     value with its JSON type (object, list, number, bool, null, string).
//   - Any other string with placeholders becomes a string: each placeholder
//     is replaced by Python's str() of its value; "{{ $NAME }}" reads the
//     process environment (leading "$"s stripped). A missing value is
//     replaced by "" when removeNotSet is set and left as written otherwise.
//   - In an object, a value whose single placeholder is missing ("NotSet")
//     is dropped when removeNotSet is set, and kept unrendered otherwise.
//   - In a list, NotSet items are always dropped.
//
// The second result is false when template itself is a single missing
// placeholder, the one case Prefect returns its NotSet sentinel for; the
// first result is then nil. The template and values are never modified and
// the result shares no mutable parts with either.
func ApplyValues(template any, values *jsonv.Object, removeNotSet bool) (any, bool) {
	a := Applier{Values: values, RemoveNotSet: removeNotSet, LookupEnv: os.LookupEnv}
	return a.Apply(template)
}

// Applier is ApplyValues with its environment given: jobtemplate's Render
// and the flow run's name read {{ $NAME }} through a lookup the caller chooses.
type Applier struct {
	Values       *jsonv.Object
	RemoveNotSet bool
	LookupEnv    func(string) (string, bool)
}

// Apply returns (value, true), or (nil, false) for NotSet. Prefect uses a
// sentinel object for NotSet; a boolean keeps it from ever reaching callers.
func (a *Applier) Apply(tmpl any) (any, bool) {
	switch t := tmpl.(type) {
	case nil, bool, json.Number:
		return t, true
	case string:
		return a.applyString(t)
	case *jsonv.Object:
		if t == nil {
			return nil, true
		}
		out := jsonv.NewObject()
		for _, k := range t.Keys() {
			v, _ := t.Get(k)
			if nv, ok := a.Apply(v); ok {
				out.Set(k, nv)
			} else if !a.RemoveNotSet {
				out.Set(k, jsonv.Clone(v))
			}
		}
		// An object whose every key was removed stays, as {}: Prefect only
		// removes keys whose own value is NotSet.
		return out, true
	case []any:
		out := make([]any, 0, len(t))
		for _, v := range t {
			if nv, ok := a.Apply(v); ok {
				out = append(out, nv)
			}
		}
		return out, true
	default:
		return a.Apply(jsonv.Normalize(t))
	}
}

func (a *Applier) applyString(s string) (any, bool) {
	ms := findIn(s)
	if len(ms) == 0 {
		return s, true
	}
	if wholeString(s, ms) && ms[0].Kind == Standard {
		v, ok := lookupPath(a.Values, ms[0].Name)
		if !ok {
			return nil, false
		}
		return jsonv.Clone(v), true
	}
	out, _ := replaceMatches(s, ms, func(m match) (string, bool, error) {
		var (
			v     any
			found bool
		)
		switch m.Kind {
		case Standard:
			v, found = lookupPath(a.Values, m.Name)
		case EnvVar:
			v, found = a.LookupEnv(strings.TrimLeft(m.Name, envPrefix))
		default:
			// Blocks and variables need the API; their passes run later.
			return "", false, nil
		}
		if !found {
			return "", a.RemoveNotSet, nil
		}
		return pycompat.Str(v), true, nil
	})
	return out, true
}
