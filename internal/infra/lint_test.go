// The template linter lives with the tests: only they run it, on the
// embedded templates, so that a broken reference fails a test rather
// than a deploy.

package infra_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// pseudoParameters are the names CloudFormation defines in every stack.
var pseudoParameters = []string{
	"AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition",
	"AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix",
}

// intrinsics are the functions lint knows; any other Fn:: is a typo that
// CloudFormation would only report at deploy time.
var intrinsics = []string{
	"Fn::And", "Fn::Base64", "Fn::Cidr", "Fn::Equals", "Fn::FindInMap", "Fn::GetAtt", "Fn::GetAZs",
	"Fn::If", "Fn::ImportValue", "Fn::Join", "Fn::Not", "Fn::Or", "Fn::Select", "Fn::Split", "Fn::Sub",
}

// lint checks what CloudFormation checks only when a stack is created:
// every Ref, Fn::GetAtt and Fn::Sub variable names a parameter, a
// resource or a pseudo parameter; every condition used is defined; every
// DependsOn names a resource; and a resource that exists only under a
// condition is referenced only where that condition holds (inside an
// Fn::If on it, or from a resource or output with the same condition), so
// that no parameter combination leaves a dangling reference.
func lint(t *jsonv.Object) []error {
	l := &linter{
		params:     names(t.GetObject("Parameters")),
		resources:  names(t.GetObject("Resources")),
		conditions: names(t.GetObject("Conditions")),
		resCond:    map[string]string{},
	}
	if len(l.resources) == 0 {
		l.errf("Resources", "a template needs at least one resource")
	}
	for _, section := range []string{"Parameters", "Conditions", "Resources", "Outputs"} {
		if v, ok := t.Get(section); ok {
			if _, isObj := v.(*jsonv.Object); !isObj {
				l.errf(section, "must be an object")
			}
		}
	}
	res := t.GetObject("Resources")
	for _, name := range l.resources {
		if c := res.GetObject(name).GetString("Condition"); c != "" {
			l.resCond[name] = c
		}
	}
	if conds := t.GetObject("Conditions"); conds != nil {
		for _, name := range conds.Keys() {
			v, _ := conds.Get(name)
			l.walk("Conditions."+name, v, scope{inCondition: true})
		}
	}
	for _, name := range l.resources {
		r := res.GetObject(name)
		path := "Resources." + name
		if r == nil {
			l.errf(path, "must be an object")
			continue
		}
		if r.GetString("Type") == "" {
			l.errf(path, "has no Type")
		}
		sc := scope{}
		if c := r.GetString("Condition"); c != "" {
			if !slices.Contains(l.conditions, c) {
				l.errf(path+".Condition", "condition %q is not defined", c)
			}
			sc.holds = []string{c}
		}
		for _, dep := range dependsOn(r) {
			if !slices.Contains(l.resources, dep) {
				l.errf(path+".DependsOn", "resource %q is not defined", dep)
			} else if c := l.resCond[dep]; c != "" && !slices.Contains(sc.holds, c) {
				l.errf(path+".DependsOn", "%s exists only when %s holds, but %s depends on it always", dep, c, name)
			}
		}
		for _, k := range []string{"Properties", "Metadata"} {
			if v, ok := r.Get(k); ok {
				l.walk(path+"."+k, v, sc)
			}
		}
	}
	if outs := t.GetObject("Outputs"); outs != nil {
		for _, name := range outs.Keys() {
			o := outs.GetObject(name)
			path := "Outputs." + name
			sc := scope{}
			if c := o.GetString("Condition"); c != "" {
				if !slices.Contains(l.conditions, c) {
					l.errf(path+".Condition", "condition %q is not defined", c)
				}
				sc.holds = []string{c}
			}
			if v, ok := o.Get("Value"); ok {
				l.walk(path+".Value", v, sc)
			} else {
				l.errf(path, "has no Value")
			}
		}
	}
	return l.errs
}

type linter struct {
	params, resources, conditions []string
	resCond                       map[string]string
	errs                          []error
}

// scope is what is known where a value is evaluated: the conditions that
// hold there, and whether it is inside the Conditions section (where
// only parameters may be referenced).
type scope struct {
	holds       []string
	inCondition bool
}

func (s scope) with(cond string) scope {
	return scope{holds: append(slices.Clone(s.holds), cond), inCondition: s.inCondition}
}

func (l *linter) errf(path, format string, args ...any) {
	l.errs = append(l.errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
}

func (l *linter) walk(path string, v any, sc scope) {
	switch t := v.(type) {
	case []any:
		for i, x := range t {
			l.walk(fmt.Sprintf("%s[%d]", path, i), x, sc)
		}
	case *jsonv.Object:
		if t.Len() == 1 {
			k := t.Keys()[0]
			arg, _ := t.Get(k)
			if l.intrinsic(path, k, arg, sc) {
				return
			}
		}
		for _, k := range t.Keys() {
			x, _ := t.Get(k)
			l.walk(path+"."+k, x, sc)
		}
	}
}

// intrinsic checks a one-key object that is a function call and reports
// whether it was one.
func (l *linter) intrinsic(path, fn string, arg any, sc scope) bool {
	at := path + "." + fn
	switch fn {
	case "Ref":
		name, ok := arg.(string)
		if !ok {
			l.errf(at, "takes the name of a parameter or resource")
			return true
		}
		l.ref(at, name, sc, true)
		return true
	case "Condition":
		name, ok := arg.(string)
		if !ok {
			return false // a property that happens to be called Condition
		}
		if !sc.inCondition {
			return false
		}
		if !slices.Contains(l.conditions, name) {
			l.errf(at, "condition %q is not defined", name)
		}
		return true
	case "Fn::GetAtt":
		var res string
		switch a := arg.(type) {
		case []any:
			if len(a) == 2 {
				res, _ = a[0].(string)
				if _, ok := a[1].(string); !ok {
					res = ""
				}
			}
		case string:
			res, _, _ = strings.Cut(a, ".")
		}
		if res == "" {
			l.errf(at, "takes [resource, attribute]")
			return true
		}
		if sc.inCondition {
			l.errf(at, "conditions can only refer to parameters")
			return true
		}
		if !slices.Contains(l.resources, res) {
			l.errf(at, "resource %q is not defined", res)
			return true
		}
		l.guarded(at, res, sc)
		return true
	case "Fn::Sub":
		var tmpl string
		vars := map[string]bool{}
		switch a := arg.(type) {
		case string:
			tmpl = a
		case []any:
			if len(a) != 2 {
				l.errf(at, "takes a string or [string, {variables}]")
				return true
			}
			tmpl, _ = a[0].(string)
			m, ok := a[1].(*jsonv.Object)
			if !ok {
				l.errf(at, "variables must be an object")
				return true
			}
			for _, k := range m.Keys() {
				vars[k] = true
				x, _ := m.Get(k)
				l.walk(at+"[1]."+k, x, sc)
			}
		default:
			l.errf(at, "takes a string or [string, {variables}]")
			return true
		}
		for _, m := range subVar.FindAllStringSubmatch(tmpl, -1) {
			name := m[1]
			if strings.HasPrefix(name, "!") || vars[name] {
				continue
			}
			if res, attr, ok := strings.Cut(name, "."); ok && !strings.HasPrefix(name, "AWS::") {
				if !slices.Contains(l.resources, res) {
					l.errf(at, "${%s}: resource %q is not defined", name, res)
				} else {
					l.guarded(at, res, sc)
				}
				_ = attr
				continue
			}
			l.ref(at, name, sc, false)
		}
		return true
	case "Fn::If":
		a, ok := arg.([]any)
		if !ok || len(a) != 3 {
			l.errf(at, "takes [condition, value if true, value if false]")
			return true
		}
		cond, _ := a[0].(string)
		if !slices.Contains(l.conditions, cond) {
			l.errf(at, "condition %q is not defined", cond)
		}
		l.walk(at+"[1]", a[1], sc.with(cond))
		l.walk(at+"[2]", a[2], sc)
		return true
	}
	if strings.HasPrefix(fn, "Fn::") {
		if !slices.Contains(intrinsics, fn) {
			l.errf(at, "unknown function")
			return true
		}
		l.walk(at, arg, sc)
		return true
	}
	return false
}

var subVar = regexp.MustCompile(`\$\{([^}]*)\}`)

func (l *linter) ref(at, name string, sc scope, isRef bool) {
	switch {
	case slices.Contains(pseudoParameters, name):
		if name == "AWS::NoValue" && !isRef {
			l.errf(at, "AWS::NoValue cannot be substituted")
		}
	case slices.Contains(l.params, name):
	case slices.Contains(l.resources, name):
		if sc.inCondition {
			l.errf(at, "conditions can only refer to parameters, not resource %q", name)
			return
		}
		l.guarded(at, name, sc)
	default:
		l.errf(at, "%q is neither a parameter, a resource nor a pseudo parameter", name)
	}
}

// guarded reports a reference to a conditional resource made where its
// condition is not known to hold.
func (l *linter) guarded(at, res string, sc scope) {
	c := l.resCond[res]
	if c == "" || slices.Contains(sc.holds, c) {
		return
	}
	l.errf(at, "%s exists only when %s holds; refer to it inside Fn::If [%s, ...]", res, c, c)
}

func names(o *jsonv.Object) []string {
	if o == nil {
		return nil
	}
	return o.Keys()
}

func dependsOn(r *jsonv.Object) []string {
	v, ok := r.Get("DependsOn")
	if !ok {
		return nil
	}
	switch d := v.(type) {
	case string:
		return []string{d}
	case []any:
		var out []string
		for _, x := range d {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
