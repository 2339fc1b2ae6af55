// Package jobtemplate holds a work pool's base job template and renders it
// into a job configuration the way Prefect's Python workers do.
//
// A base job template is {"job_configuration": {...}, "variables": {...}}.
// The job configuration is a JSON value whose strings may contain
// "{{ name }}" placeholders; the variables section is a JSON schema whose
// property defaults fill placeholders that no job variable supplies.
// Rendering follows prefect.workers.base.BaseJobConfiguration
// .from_template_and_values and prefect.utilities.templating, because users
// write templates against that behaviour: which keys disappear, which values
// keep their JSON type, and how values print inside longer strings all show
// up in the task definitions and RunTask requests the worker sends to AWS.
//
// Everything here works on jsonv values (nil, bool, json.Number, string,
// []any, *jsonv.Object) and never modifies its inputs, so a pool template
// cached by the worker can be rendered for many flow runs at once.
package jobtemplate

import (
	"fmt"

	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/templating"
)

// Template is a work pool's base job template.
type Template struct {
	// JobConfiguration is the "job_configuration" object: job fields mapped
	// to literal values or placeholder templates.
	JobConfiguration *jsonv.Object
	// Variables is the "variables" JSON schema. Only the "default" of each
	// entry under "properties" affects rendering; Prefect's server validates
	// job variables against the rest, the worker does not.
	Variables *jsonv.Object
}

// Parse reads a base job template document.
func Parse(data []byte) (*Template, error) {
	v, err := jsonv.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("parse base job template: %w; fix the JSON syntax and try again", err)
	}
	o, ok := v.(*jsonv.Object)
	if !ok {
		return nil, fmt.Errorf("parse base job template: the document is %s, but it must be an object "+
			`with "job_configuration" and "variables" keys`, jsonv.TypeName(v))
	}
	return FromObject(o)
}

// FromObject builds a Template from an already decoded base job template,
// for example the "base_job_template" of a work pool read from the API. The
// result holds deep copies, so later changes to o do not affect it.
func FromObject(o *jsonv.Object) (*Template, error) {
	if o == nil {
		return nil, fmt.Errorf(`base job template is null; give an object with "job_configuration" and "variables" keys`)
	}
	jcv, ok := o.Get("job_configuration")
	if !ok {
		return nil, fmt.Errorf(`base job template has no "job_configuration"; add an object mapping each ` +
			`job field to a value or a "{{ variable }}" placeholder, e.g. {"env": "{{ env }}"}`)
	}
	jc, ok := jcv.(*jsonv.Object)
	if !ok || jc == nil {
		return nil, fmt.Errorf(`base job template "job_configuration" is %s (%s), but it must be an object `+
			`mapping each job field to a value or a "{{ variable }}" placeholder`, jsonv.TypeName(jcv), templating.Brief(jcv))
	}

	// Prefect reads variables["properties"] without checking; a missing or
	// null schema simply means "no defaults", which is what an empty object
	// schema expresses.
	vars := jsonv.ObjectOf("type", "object", "properties", jsonv.NewObject())
	if vv, ok := o.Get("variables"); ok && vv != nil {
		vo, ok := vv.(*jsonv.Object)
		if !ok || vo == nil {
			return nil, fmt.Errorf(`base job template "variables" is %s (%s), but it must be a JSON schema `+
				`object such as {"type": "object", "properties": {}}`, jsonv.TypeName(vv), templating.Brief(vv))
		}
		if pv, ok := vo.Get("properties"); ok {
			if po, isObj := pv.(*jsonv.Object); !isObj || po == nil {
				return nil, fmt.Errorf(`base job template "variables.properties" is %s (%s), but it must be an `+
					`object mapping each variable name to its schema, e.g. {"image": {"type": "string"}}`,
					jsonv.TypeName(pv), templating.Brief(pv))
			}
		}
		vars = jsonv.CloneObject(vo)
	}
	return &Template{JobConfiguration: jsonv.CloneObject(jc), Variables: vars}, nil
}

// Object returns the template as a {"job_configuration", "variables"}
// document, deep-copied so the caller may change it freely.
func (t *Template) Object() *jsonv.Object {
	o := jsonv.NewObject()
	if t == nil {
		o.Set("job_configuration", jsonv.NewObject())
		o.Set("variables", jsonv.ObjectOf("type", "object", "properties", jsonv.NewObject()))
		return o
	}
	jc := jsonv.CloneObject(t.JobConfiguration)
	if jc == nil {
		jc = jsonv.NewObject()
	}
	vars := jsonv.CloneObject(t.Variables)
	if vars == nil {
		vars = jsonv.ObjectOf("type", "object", "properties", jsonv.NewObject())
	}
	o.Set("job_configuration", jc)
	o.Set("variables", vars)
	return o
}

// Defaults returns the "default" of every variable whose default is present
// and not null, in property order. Prefect drops null defaults so that the
// placeholder stays unset and the key disappears from the rendered
// configuration; the typed configuration model then supplies its own default.
func (t *Template) Defaults() *jsonv.Object {
	out := jsonv.NewObject()
	props := t.properties()
	for _, name := range props.Keys() {
		schema := props.GetObject(name)
		// Boolean schemas (true/false) are valid JSON schema but carry no default.
		if schema == nil {
			continue
		}
		if d, ok := schema.Get("default"); ok && d != nil {
			out.Set(name, jsonv.Clone(d))
		}
	}
	return out
}

// VariableNames lists the variables the template declares, in schema order.
func (t *Template) VariableNames() []string {
	keys := t.properties().Keys()
	return append([]string(nil), keys...)
}

func (t *Template) properties() *jsonv.Object {
	if t == nil {
		return nil
	}
	return t.Variables.GetObject("properties")
}
