package jobtemplate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/templating"
)

// RenderOptions supplies what rendering needs from outside the template.
type RenderOptions struct {
	// Resolver reads block documents and Prefect variables. When nil,
	// {"$ref": ...} objects and {{ prefect.blocks.* }} /
	// {{ prefect.variables.* }} placeholders are left as written, which is
	// what an offline dry run wants; templating.Unresolved lists them.
	Resolver templating.Resolver
	// LookupEnv answers {{ $NAME }} placeholders; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// Render builds a job configuration from the template and the merged job
// variables (see MergeJobVariables), following Prefect's
// from_template_and_values:
//
//  1. start from a copy of job_configuration;
//  2. take the non-null defaults of the variables schema;
//  3. merge a non-empty env default into an object job_configuration.env
//     (defaults win), or let it replace a templated one;
//  4. expand dotted job-variable keys ("env.FOO") into nested objects, with
//     plain keys deep-merged on top (see ExpandDotKeys);
//  5. overlay the job variables on the defaults, key by key, so a job
//     variable replaces its default wholesale;
//  6. merge the job variables' env into an object config env (they win),
//     which makes env the one variable merged key by key;
//  7. apply the values (templating.ApplyValues with NotSet removal), then resolve
//     block document references, then Prefect variables.
//
// The result still needs CoerceBaseFields (Prefect's typed-model step) and,
// for a real flow run, PrepareForFlowRun. Neither t nor values is modified.
func (t *Template) Render(ctx context.Context, values *jsonv.Object, opts RenderOptions) (*jsonv.Object, error) {
	if t == nil {
		return nil, errors.New("render job configuration: no base job template; read the work pool's base_job_template first")
	}
	config := jsonv.CloneObject(t.JobConfiguration)
	if config == nil {
		config = jsonv.NewObject()
	}
	vars := t.Defaults()

	// Step 3 happens before the job variables are looked at, so an env
	// default survives a deployment that sets only some env keys.
	if envDefault, _ := vars.Get("env"); jsonv.Truthy(envDefault) {
		if cfgEnv := config.GetObject("env"); cfgEnv != nil {
			d, ok := envDefault.(*jsonv.Object)
			if !ok {
				return nil, fmt.Errorf(`render job configuration: the "env" variable's default is %s (%s), but `+
					`job_configuration.env is an object and can only be merged with an object; make the default `+
					`an object such as {"KEY": "value"}`, jsonv.TypeName(envDefault), templating.Brief(envDefault))
			}
			config.Set("env", mergeShallow(cfgEnv, d))
		} else {
			config.Set("env", jsonv.Clone(envDefault))
		}
	}

	expanded, err := expandDotKeys(values, true)
	if err != nil {
		return nil, fmt.Errorf("render job configuration: %w", err)
	}
	for _, k := range expanded.Keys() {
		v, _ := expanded.Get(k)
		vars.Set(k, v)
	}

	if cfgEnv := config.GetObject("env"); cfgEnv != nil {
		if varEnv, _ := vars.Get("env"); jsonv.Truthy(varEnv) {
			e, ok := varEnv.(*jsonv.Object)
			if !ok {
				return nil, fmt.Errorf(`render job configuration: the "env" job variable is %s (%s), but it must `+
					`be an object mapping variable names to strings, e.g. {"KEY": "value"}`,
					jsonv.TypeName(varEnv), templating.Brief(varEnv))
			}
			config.Set("env", mergeShallow(cfgEnv, e))
		}
	}

	lookupEnv := opts.LookupEnv
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	a := templating.Applier{Values: vars, RemoveNotSet: true, LookupEnv: lookupEnv}
	applied, _ := a.Apply(config) // an object is never NotSet
	out, _ := applied.(*jsonv.Object)
	if out == nil {
		out = jsonv.NewObject()
	}
	if opts.Resolver == nil {
		return out, nil
	}

	resolved, err := templating.ResolveBlockDocuments(ctx, opts.Resolver, out)
	if err != nil {
		return nil, fmt.Errorf("resolve block documents: %w", err)
	}
	resolved, err = templating.ResolveVariables(ctx, opts.Resolver, resolved)
	if err != nil {
		return nil, fmt.Errorf("resolve Prefect variables: %w", err)
	}
	// The top level is an object, not a $ref or a string, so both passes
	// return it as an object.
	res, _ := resolved.(*jsonv.Object)
	if res == nil {
		res = jsonv.NewObject()
	}
	return res, nil
}

// MergeJobVariables combines a deployment's job variables with a flow run's
// as Prefect's resolve_for_flow_run does: flow-run values replace deployment
// values key by key, except env, whose entries are merged one by one when
// the deployment's env is an object. Nil means no job variables. Neither
// input is modified.
//
// Prefect raises a TypeError when the deployment's env is an object and
// the flow run's env is not; the server's schema validation keeps that from
// happening, and here the flow run's value simply replaces the deployment's.
func MergeJobVariables(deployment, flowRun *jsonv.Object) *jsonv.Object {
	jv := jsonv.CloneObject(deployment)
	if jv == nil {
		jv = jsonv.NewObject()
	}
	envMerged := false
	if dEnv := jv.GetObject("env"); dEnv != nil {
		if fEnv := flowRun.GetObject("env"); fEnv != nil {
			for _, k := range fEnv.Keys() {
				v, _ := fEnv.Get(k)
				dEnv.Set(k, jsonv.Clone(v))
			}
			envMerged = true
		} else if !flowRun.Has("env") {
			envMerged = true
		}
	}
	for _, k := range flowRun.Keys() {
		if k == "env" && envMerged {
			continue
		}
		v, _ := flowRun.Get(k)
		jv.Set(k, jsonv.Clone(v))
	}
	return jv
}

// ExpandDotKeys turns dotted job-variable keys into nested objects, so that
// {"env.FOO": "bar"} means {"env": {"FOO": "bar"}}. Brackets count as dots
// ("a[0]" is the key "0" of "a"). Keys without a dot are applied afterwards:
// an object value is deep-merged over what the dotted keys built (the plain
// key wins on conflicts) and any other value replaces it. The input is not
// modified.
//
// When a dotted key must descend through a non-object value that an earlier
// dotted key set ("a.b": 1 then "a.b.c": 2), Prefect raises a KeyError and
// Render reports an error; ExpandDotKeys lets the later key replace the
// value.
func ExpandDotKeys(values *jsonv.Object) *jsonv.Object {
	out, _ := expandDotKeys(values, false)
	return out
}

func expandDotKeys(values *jsonv.Object, strict bool) (*jsonv.Object, error) {
	out := jsonv.NewObject()
	for _, k := range values.Keys() {
		if !strings.Contains(k, ".") {
			continue
		}
		v, _ := values.Get(k)
		segs := strings.Split(strings.ReplaceAll(strings.ReplaceAll(k, "[", "."), "]", ""), ".")
		cur := out
		for i, seg := range segs[:len(segs)-1] {
			next, ok := cur.Get(seg)
			if !ok {
				n := jsonv.NewObject()
				cur.Set(seg, n)
				cur = n
				continue
			}
			o, isObj := next.(*jsonv.Object)
			if !isObj || o == nil {
				if strict {
					return nil, fmt.Errorf("job variable %q cannot be applied: an earlier job variable set %q to %s "+
						"(%s), and a dotted key can only descend into objects; keep one of the two keys",
						k, strings.Join(segs[:i+1], "."), jsonv.TypeName(next), templating.Brief(next))
				}
				o = jsonv.NewObject()
				cur.Set(seg, o)
			}
			cur = o
		}
		cur.Set(segs[len(segs)-1], jsonv.Clone(v))
	}
	for _, k := range values.Keys() {
		if strings.Contains(k, ".") {
			continue
		}
		v, _ := values.Get(k)
		dotted, _ := out.Get(k)
		d, _ := dotted.(*jsonv.Object)
		p, _ := v.(*jsonv.Object)
		if d != nil && p != nil {
			out.Set(k, deepMerge(d, p))
		} else {
			out.Set(k, jsonv.Clone(v))
		}
	}
	return out, nil
}

// deepMerge returns base with over merged in: objects on both sides merge
// recursively, anything else from over replaces. New keys go last, as with
// Python dict updates.
func deepMerge(base, over *jsonv.Object) *jsonv.Object {
	out := jsonv.CloneObject(base)
	for _, k := range over.Keys() {
		v, _ := over.Get(k)
		b, _ := out.Get(k)
		bo, _ := b.(*jsonv.Object)
		vo, _ := v.(*jsonv.Object)
		if bo != nil && vo != nil {
			out.Set(k, deepMerge(bo, vo))
		} else {
			out.Set(k, jsonv.Clone(v))
		}
	}
	return out
}

// mergeShallow is Python's a | b for dicts: a's keys keep their places, b's
// values win, b's new keys go last.
func mergeShallow(a, b *jsonv.Object) *jsonv.Object {
	out := jsonv.CloneObject(a)
	for _, k := range b.Keys() {
		v, _ := b.Get(k)
		out.Set(k, jsonv.Clone(v))
	}
	return out
}
