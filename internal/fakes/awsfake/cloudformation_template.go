package awsfake

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/lazyregexp"
)

// cfnTemplate is a parsed template. Only JSON templates are read: the
// fake answers a YAML one with the ValidationError CloudFormation gives
// for malformed templates.
type cfnTemplate struct {
	body        string
	description string
	params      []cfnParamDef // in template order
	conditions  *jsonv.Object
	mappings    *jsonv.Object
	resources   []cfnResourceDef // in template order
	outputs     []cfnOutputDef
}

type cfnParamDef struct {
	name, typ, def, description string
	hasDefault, noEcho          bool
	allowedValues               []string
	pattern, constraint         string
	minLen, maxLen              int
	minVal, maxVal              *float64
}

type cfnResourceDef struct {
	name, typ, condition string
	deletionPolicy       string
	dependsOn            []string
	properties           any
	metadata             any
}

type cfnOutputDef struct {
	name, description, condition string
	value                        any
}

func templateError(format string, args ...any) *apiError {
	return newErr(400, "ValidationError", "Template format error: "+format, args...)
}

func parseCFNTemplate(body string) (*cfnTemplate, *apiError) {
	if len(body) > 51200 {
		return nil, newErr(400, "ValidationError", "1 validation error detected: Value '%s...' at 'templateBody' failed to satisfy constraint: Member must have length less than or equal to 51200", body[:40])
	}
	root, err := jsonv.DecodeObject([]byte(body))
	if err != nil {
		if trimmed := strings.TrimSpace(body); trimmed != "" && trimmed[0] != '{' {
			return nil, templateError("this fake reads JSON templates only (YAML not well-formed for it)")
		}
		return nil, templateError("JSON not well-formed. (%v)", err)
	}
	t := &cfnTemplate{body: body, description: root.GetString("Description"), conditions: root.GetObject("Conditions"), mappings: root.GetObject("Mappings")}
	known := []string{"AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Rules", "Mappings", "Conditions", "Transform", "Resources", "Outputs"}
	for _, k := range root.Keys() {
		if !slices.Contains(known, k) {
			return nil, templateError("Invalid template property or properties [%s]", k)
		}
	}
	if root.Has("Transform") {
		return nil, templateError("this fake does not expand transforms")
	}
	if ps := root.GetObject("Parameters"); ps != nil {
		for _, name := range ps.Keys() {
			p := ps.GetObject(name)
			if p == nil {
				return nil, templateError("Parameter %s must be an object", name)
			}
			d := cfnParamDef{name: name, typ: p.GetString("Type"), description: p.GetString("Description"),
				pattern: p.GetString("AllowedPattern"), constraint: p.GetString("ConstraintDescription")}
			if d.typ == "" {
				return nil, templateError("Every Parameters object must contain a Type member.")
			}
			if v, ok := p.Get("Default"); ok {
				d.def, d.hasDefault = scalarString(v), true
			}
			if v, ok := p.Get("NoEcho"); ok {
				d.noEcho = scalarString(v) == "true"
			}
			for _, av := range p.GetArray("AllowedValues") {
				d.allowedValues = append(d.allowedValues, scalarString(av))
			}
			d.minLen, d.maxLen = intProp(p, "MinLength", -1), intProp(p, "MaxLength", -1)
			d.minVal, d.maxVal = floatProp(p, "MinValue"), floatProp(p, "MaxValue")
			t.params = append(t.params, d)
		}
	}
	res := root.GetObject("Resources")
	if res == nil || res.Len() == 0 {
		return nil, templateError("At least one Resources member must be defined.")
	}
	for _, name := range res.Keys() {
		r := res.GetObject(name)
		if r == nil || r.GetString("Type") == "" {
			return nil, templateError("[/Resources/%s] Every Resources object must contain a Type member.", name)
		}
		d := cfnResourceDef{name: name, typ: r.GetString("Type"), condition: r.GetString("Condition"), deletionPolicy: r.GetString("DeletionPolicy")}
		d.properties, _ = r.Get("Properties")
		d.metadata, _ = r.Get("Metadata")
		switch dep, _ := r.Get("DependsOn"); dv := dep.(type) {
		case string:
			d.dependsOn = []string{dv}
		case []any:
			for _, x := range dv {
				d.dependsOn = append(d.dependsOn, scalarString(x))
			}
		}
		t.resources = append(t.resources, d)
	}
	if outs := root.GetObject("Outputs"); outs != nil {
		for _, name := range outs.Keys() {
			o := outs.GetObject(name)
			v, ok := o.Get("Value")
			if !ok {
				return nil, templateError("Every Outputs member must contain a Value object")
			}
			t.outputs = append(t.outputs, cfnOutputDef{name: name, description: o.GetString("Description"), condition: o.GetString("Condition"), value: v})
		}
	}
	if e := t.checkReferences(); e != nil {
		return nil, e
	}
	return t, nil
}

func intProp(o *jsonv.Object, k string, def int) int {
	if v, ok := o.Get(k); ok {
		if n, err := strconv.Atoi(scalarString(v)); err == nil {
			return n
		}
	}
	return def
}

func floatProp(o *jsonv.Object, k string) *float64 {
	if v, ok := o.Get(k); ok {
		if f, err := strconv.ParseFloat(scalarString(v), 64); err == nil {
			return &f
		}
	}
	return nil
}

func scalarString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case json.Number:
		return t.String()
	case bool:
		return strconv.FormatBool(t)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

var cfnPseudo = []string{"AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition", "AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix"}

var subVarRE = lazyregexp.New(`\$\{([^}]*)\}`)

// checkReferences rejects what CloudFormation rejects before creating
// anything: references to undefined names and undefined conditions.
func (t *cfnTemplate) checkReferences() *apiError {
	params := map[string]bool{}
	for _, p := range t.params {
		params[p.name] = true
	}
	res := map[string]bool{}
	for _, r := range t.resources {
		res[r.name] = true
	}
	var unresolved []string
	var badCond []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e)
			}
		case *jsonv.Object:
			if x.Len() == 1 {
				k := x.Keys()[0]
				arg, _ := x.Get(k)
				switch k {
				case "Ref":
					if n, ok := arg.(string); ok && !params[n] && !res[n] && !slices.Contains(cfnPseudo, n) {
						unresolved = append(unresolved, n)
					}
					return
				case "Fn::GetAtt":
					var n string
					switch a := arg.(type) {
					case []any:
						if len(a) > 0 {
							n = scalarString(a[0])
						}
					case string:
						n, _, _ = strings.Cut(a, ".")
					}
					if !res[n] {
						unresolved = append(unresolved, n)
					}
					return
				case "Fn::Sub":
					tmpl, vars := "", map[string]bool{}
					switch a := arg.(type) {
					case string:
						tmpl = a
					case []any:
						if len(a) == 2 {
							tmpl = scalarString(a[0])
							if m, ok := a[1].(*jsonv.Object); ok {
								for _, k := range m.Keys() {
									vars[k] = true
									mv, _ := m.Get(k)
									walk(mv)
								}
							}
						}
					}
					for _, m := range subVarRE().FindAllStringSubmatch(tmpl, -1) {
						n := m[1]
						if strings.HasPrefix(n, "!") || vars[n] || params[n] || slices.Contains(cfnPseudo, n) {
							continue
						}
						head, _, _ := strings.Cut(n, ".")
						if !res[head] {
							unresolved = append(unresolved, head)
						}
					}
					return
				case "Fn::If":
					if a, ok := arg.([]any); ok && len(a) == 3 {
						if c := scalarString(a[0]); t.conditions == nil || !t.conditions.Has(c) {
							badCond = append(badCond, c)
						}
					}
				case "Condition":
					if c, ok := arg.(string); ok && (t.conditions == nil || !t.conditions.Has(c)) {
						badCond = append(badCond, c)
					}
				}
			}
			for _, k := range x.Keys() {
				e, _ := x.Get(k)
				walk(e)
			}
		}
	}
	for _, r := range t.resources {
		walk(r.properties)
		walk(r.metadata)
		if r.condition != "" && (t.conditions == nil || !t.conditions.Has(r.condition)) {
			badCond = append(badCond, r.condition)
		}
		for _, d := range r.dependsOn {
			if !res[d] {
				return templateError("Unresolved resource dependencies [%s] in the Resources block of the template", d)
			}
		}
	}
	for _, o := range t.outputs {
		walk(o.value)
		if o.condition != "" && (t.conditions == nil || !t.conditions.Has(o.condition)) {
			badCond = append(badCond, o.condition)
		}
	}
	if t.conditions != nil {
		for _, k := range t.conditions.Keys() {
			v, _ := t.conditions.Get(k)
			walk(v)
		}
	}
	if len(unresolved) > 0 {
		slices.Sort(unresolved)
		return templateError("Unresolved resource dependencies [%s] in the Resources block of the template", strings.Join(slices.Compact(unresolved), ", "))
	}
	if len(badCond) > 0 {
		return newErr(400, "ValidationError", "Template error: unresolved condition dependency %s in Fn::If", badCond[0])
	}
	return nil
}

// iamTypes need CAPABILITY_IAM; with a name property they need
// CAPABILITY_NAMED_IAM.
var iamTypes = map[string]string{
	"AWS::IAM::Role":            "RoleName",
	"AWS::IAM::ManagedPolicy":   "ManagedPolicyName",
	"AWS::IAM::User":            "UserName",
	"AWS::IAM::Group":           "GroupName",
	"AWS::IAM::InstanceProfile": "InstanceProfileName",
	"AWS::IAM::Policy":          "",
	"AWS::IAM::AccessKey":       "",
}

// requiredCapability is "", CAPABILITY_IAM or CAPABILITY_NAMED_IAM.
func (t *cfnTemplate) requiredCapability() string {
	need := ""
	for _, r := range t.resources {
		nameProp, ok := iamTypes[r.typ]
		if !ok {
			continue
		}
		need = "CAPABILITY_IAM"
		if p, isObj := r.properties.(*jsonv.Object); isObj && nameProp != "" && p.Has(nameProp) {
			return "CAPABILITY_NAMED_IAM"
		}
	}
	return need
}

// paramValue is a parameter as the stack holds it.
type paramValue struct {
	value  string
	noEcho bool
	// resolved is an SSM parameter-typed parameter's value from the
	// parameter store, which Ref gives; value is the parameter's name.
	resolved string
}

// resolveParams validates the given values against the template, as
// CloudFormation does before making a change set. previous supplies
// UsePreviousValue.
func (s *Server) resolveParamsLocked(t *cfnTemplate, given []cfnParamInput, previous map[string]paramValue) (map[string]paramValue, *apiError) {
	out := map[string]paramValue{}
	declared := map[string]cfnParamDef{}
	for _, p := range t.params {
		declared[p.name] = p
	}
	var unknown []string
	for _, g := range given {
		if _, ok := declared[g.key]; !ok {
			unknown = append(unknown, g.key)
		}
	}
	if len(unknown) > 0 {
		return nil, newErr(400, "ValidationError", "Parameters: [%s] do not exist in the template", strings.Join(unknown, ", "))
	}
	var missing []string
	for _, d := range t.params {
		v, set := "", false
		for _, g := range given {
			if g.key != d.name {
				continue
			}
			if g.usePrevious {
				pv, ok := previous[d.name]
				if !ok {
					return nil, newErr(400, "ValidationError", "Invalid input for parameter key %s. Cannot specify usePreviousValue as true for a parameter key not in the previous template", d.name)
				}
				v, set = pv.value, true
			} else {
				v, set = g.value, true
			}
		}
		if !set {
			if !d.hasDefault {
				missing = append(missing, d.name)
				continue
			}
			v = d.def
		}
		if e := s.checkParamLocked(d, v); e != nil {
			return nil, e
		}
		resolved, e := s.resolveSSMLocked(d.typ, v)
		if e != nil {
			return nil, e
		}
		out[d.name] = paramValue{value: v, noEcho: d.noEcho, resolved: resolved}
	}
	if len(missing) > 0 {
		return nil, newErr(400, "ValidationError", "Parameters: [%s] must have values", strings.Join(missing, ", "))
	}
	return out, nil
}

func (s *Server) checkParamLocked(d cfnParamDef, v string) *apiError {
	fail := func(format string, args ...any) *apiError {
		if d.constraint != "" {
			return newErr(400, "ValidationError", "Parameter '%s' failed to satisfy constraint: %s", d.name, d.constraint)
		}
		return newErr(400, "ValidationError", format, args...)
	}
	values := []string{v}
	if isListType(d.typ) {
		values = strings.Split(v, ",")
	}
	for _, x := range values {
		if len(d.allowedValues) > 0 && !slices.Contains(d.allowedValues, x) {
			return newErr(400, "ValidationError", "Parameter '%s' must be one of AllowedValues", d.name)
		}
		if d.pattern != "" {
			re, err := regexp.Compile(d.pattern)
			if err == nil && !re.MatchString(x) {
				return fail("Parameter '%s' must match pattern %s", d.name, d.pattern)
			}
		}
		if d.minLen >= 0 && len(x) < d.minLen {
			return fail("Parameter '%s' must contain at least %d characters", d.name, d.minLen)
		}
		if d.maxLen >= 0 && len(x) > d.maxLen {
			return fail("Parameter '%s' must contain at most %d characters", d.name, d.maxLen)
		}
	}
	switch d.typ {
	case "Number":
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return newErr(400, "ValidationError", "Parameter '%s' must be a number.", d.name)
		}
		if d.minVal != nil && f < *d.minVal {
			return fail("Parameter '%s' must be a number not less than %v", d.name, *d.minVal)
		}
		if d.maxVal != nil && f > *d.maxVal {
			return fail("Parameter '%s' must be a number not greater than %v", d.name, *d.maxVal)
		}
	case "AWS::EC2::VPC::Id":
		if s.ec2.vpc(v) == nil {
			return newErr(400, "ValidationError", "Parameter value %s for parameter name %s does not exist. Rollback requested by user.", v, d.name)
		}
	case "List<AWS::EC2::Subnet::Id>", "AWS::EC2::Subnet::Id":
		for _, x := range values {
			if s.ec2.subnet(x) == nil {
				return newErr(400, "ValidationError", "Parameter value %s for parameter name %s does not exist. Rollback requested by user.", x, d.name)
			}
		}
	}
	return nil
}

func isListType(typ string) bool {
	return typ == "CommaDelimitedList" || strings.HasPrefix(typ, "List<")
}

// noValue stands for AWS::NoValue while a value is resolved; containers
// drop it.
type noValueT struct{}

var noValue = noValueT{}

// cfnResolved is a resource as it exists in a stack.
type cfnResolved struct {
	name, typ, physical string
	// invalid is why the resource's service would refuse it; its
	// creation or update then fails with this reason.
	invalid        string
	attrs          map[string]string
	properties     any // resolved, plain Go values
	deletionPolicy string
}

// cfnEval resolves intrinsic functions for one stack operation.
type cfnEval struct {
	t          *cfnTemplate
	params     map[string]paramValue
	paramTypes map[string]string
	pseudo     map[string]string
	conds      map[string]bool
	resources  map[string]*cfnResolved
}

func newCFNEval(t *cfnTemplate, params map[string]paramValue, pseudo map[string]string) *cfnEval {
	e := &cfnEval{t: t, params: params, pseudo: pseudo, conds: map[string]bool{}, resources: map[string]*cfnResolved{}, paramTypes: map[string]string{}}
	for _, p := range t.params {
		e.paramTypes[p.name] = p.typ
	}
	return e
}

func evalError(format string, args ...any) *apiError {
	return newErr(400, "ValidationError", "Template error: "+format, args...)
}

func (e *cfnEval) condition(name string) (bool, *apiError) {
	if v, ok := e.conds[name]; ok {
		return v, nil
	}
	if e.t.conditions == nil || !e.t.conditions.Has(name) {
		return false, evalError("unresolved condition dependency %s in Fn::If", name)
	}
	def, _ := e.t.conditions.Get(name)
	v, err := e.condValue(def)
	if err != nil {
		return false, err
	}
	e.conds[name] = v
	return v, nil
}

func (e *cfnEval) condValue(v any) (bool, *apiError) {
	o, ok := v.(*jsonv.Object)
	if !ok || o.Len() != 1 {
		return false, evalError("a condition must be a condition function")
	}
	k := o.Keys()[0]
	arg, _ := o.Get(k)
	if k == "Condition" {
		return e.condition(scalarString(arg))
	}
	args, _ := arg.([]any)
	switch k {
	case "Fn::Equals":
		if len(args) != 2 {
			return false, evalError("Fn::Equals takes two values")
		}
		a, err := e.value(args[0])
		if err != nil {
			return false, err
		}
		b, err := e.value(args[1])
		if err != nil {
			return false, err
		}
		return toStr(a) == toStr(b), nil
	case "Fn::Not":
		if len(args) != 1 {
			return false, evalError("Fn::Not takes one condition")
		}
		v, err := e.condValue(args[0])
		return !v, err
	case "Fn::And", "Fn::Or":
		if len(args) < 2 || len(args) > 10 {
			return false, evalError("%s takes 2 to 10 conditions", k)
		}
		for _, a := range args {
			v, err := e.condValue(a)
			if err != nil {
				return false, err
			}
			if k == "Fn::And" && !v {
				return false, nil
			}
			if k == "Fn::Or" && v {
				return true, nil
			}
		}
		return k == "Fn::And", nil
	}
	return false, evalError("%s is not a condition function", k)
}

// value resolves every intrinsic function in v.
func (e *cfnEval) value(v any) (any, *apiError) {
	switch x := v.(type) {
	case []any:
		out := []any{}
		for _, item := range x {
			r, err := e.value(item)
			if err != nil {
				return nil, err
			}
			if r != noValue {
				out = append(out, r)
			}
		}
		return out, nil
	case *jsonv.Object:
		if x.Len() == 1 {
			k := x.Keys()[0]
			if k == "Ref" || strings.HasPrefix(k, "Fn::") {
				arg, _ := x.Get(k)
				return e.intrinsic(k, arg)
			}
		}
		out := map[string]any{}
		for _, k := range x.Keys() {
			item, _ := x.Get(k)
			r, err := e.value(item)
			if err != nil {
				return nil, err
			}
			if r != noValue {
				out[k] = r
			}
		}
		return out, nil
	case json.Number:
		return x.String(), nil
	}
	return v, nil
}

func (e *cfnEval) intrinsic(fn string, arg any) (any, *apiError) {
	switch fn {
	case "Ref":
		return e.ref(scalarString(arg))
	case "Fn::GetAtt":
		var res, attr string
		switch a := arg.(type) {
		case []any:
			if len(a) == 2 {
				res, attr = scalarString(a[0]), scalarString(a[1])
			}
		case string:
			res, attr, _ = strings.Cut(a, ".")
		}
		return e.getAtt(res, attr)
	case "Fn::If":
		a, ok := arg.([]any)
		if !ok || len(a) != 3 {
			return nil, evalError("Fn::If takes [condition, value if true, value if false]")
		}
		c, err := e.condition(scalarString(a[0]))
		if err != nil {
			return nil, err
		}
		if c {
			return e.value(a[1])
		}
		return e.value(a[2])
	case "Fn::Join":
		a, ok := arg.([]any)
		if !ok || len(a) != 2 {
			return nil, evalError("Fn::Join takes [delimiter, list]")
		}
		delim, isStr := a[0].(string)
		if !isStr {
			return nil, evalError("the Fn::Join delimiter must be a string")
		}
		list, err := e.value(a[1])
		if err != nil {
			return nil, err
		}
		items, ok := list.([]any)
		if !ok {
			return nil, evalError("Fn::Join needs a list")
		}
		parts := make([]string, len(items))
		for i, it := range items {
			if _, isList := it.([]any); isList {
				return nil, evalError("Fn::Join: a list element must be a string")
			}
			parts[i] = toStr(it)
		}
		return strings.Join(parts, delim), nil
	case "Fn::Split":
		a, ok := arg.([]any)
		if !ok || len(a) != 2 {
			return nil, evalError("Fn::Split takes [delimiter, string]")
		}
		s, err := e.value(a[1])
		if err != nil {
			return nil, err
		}
		var out []any
		for _, p := range strings.Split(toStr(s), scalarString(a[0])) {
			out = append(out, p)
		}
		return out, nil
	case "Fn::Select":
		a, ok := arg.([]any)
		if !ok || len(a) != 2 {
			return nil, evalError("Fn::Select takes [index, list]")
		}
		iv, err := e.value(a[0])
		if err != nil {
			return nil, err
		}
		i, convErr := strconv.Atoi(toStr(iv))
		list, err := e.value(a[1])
		if err != nil {
			return nil, err
		}
		items, _ := list.([]any)
		if convErr != nil || i < 0 || i >= len(items) {
			return nil, evalError("Fn::Select cannot select nonexistent value at index %s", toStr(iv))
		}
		return items[i], nil
	case "Fn::Sub":
		var tmpl string
		vars := map[string]any{}
		switch a := arg.(type) {
		case string:
			tmpl = a
		case []any:
			if len(a) != 2 {
				return nil, evalError("Fn::Sub takes a string or [string, {variables}]")
			}
			tmpl = scalarString(a[0])
			m, _ := a[1].(*jsonv.Object)
			if m != nil {
				for _, k := range m.Keys() {
					mv, _ := m.Get(k)
					r, err := e.value(mv)
					if err != nil {
						return nil, err
					}
					vars[k] = r
				}
			}
		}
		var ferr *apiError
		out := subVarRE().ReplaceAllStringFunc(tmpl, func(m string) string {
			name := m[2 : len(m)-1]
			if strings.HasPrefix(name, "!") {
				return "${" + name[1:] + "}"
			}
			if v, ok := vars[name]; ok {
				return toStr(v)
			}
			var r any
			var err *apiError
			if res, attr, ok := strings.Cut(name, "."); ok && !strings.HasPrefix(name, "AWS::") {
				r, err = e.getAtt(res, attr)
			} else {
				r, err = e.ref(name)
			}
			if err != nil {
				ferr = err
				return ""
			}
			if _, isList := r.([]any); isList {
				ferr = evalError("Fn::Sub: variable %s is a list", name)
			}
			return toStr(r)
		})
		if ferr != nil {
			return nil, ferr
		}
		return out, nil
	case "Fn::Base64":
		r, err := e.value(arg)
		if err != nil {
			return nil, err
		}
		return toStr(r), nil
	case "Fn::FindInMap":
		a, ok := arg.([]any)
		if !ok || len(a) != 3 || e.t.mappings == nil {
			return nil, evalError("Fn::FindInMap takes [map, top-level key, second-level key] of the Mappings")
		}
		var keys [3]string
		for i := range a {
			r, err := e.value(a[i])
			if err != nil {
				return nil, err
			}
			keys[i] = toStr(r)
		}
		v, ok := e.t.mappings.GetObject(keys[0]).GetObject(keys[1]).Get(keys[2])
		if !ok {
			return nil, evalError("Unable to get mapping for %s::%s::%s", keys[0], keys[1], keys[2])
		}
		return e.value(v)
	}
	return nil, evalError("%s is not supported by this fake", fn)
}

func (e *cfnEval) ref(name string) (any, *apiError) {
	if name == "AWS::NoValue" {
		return noValue, nil
	}
	if v, ok := e.pseudo[name]; ok {
		if name == "AWS::NotificationARNs" {
			return []any{}, nil
		}
		return v, nil
	}
	if p, ok := e.params[name]; ok {
		if isListType(e.paramTypes[name]) {
			var out []any
			for _, x := range strings.Split(p.value, ",") {
				out = append(out, x)
			}
			return out, nil
		}
		if p.resolved != "" {
			return p.resolved, nil
		}
		return p.value, nil
	}
	if r, ok := e.resources[name]; ok {
		return r.physical, nil
	}
	return nil, templateError("Unresolved resource dependencies [%s] in the Resources block of the template", name)
}

func (e *cfnEval) getAtt(res, attr string) (any, *apiError) {
	r, ok := e.resources[res]
	if !ok {
		return nil, templateError("Unresolved resource dependencies [%s] in the Resources block of the template", res)
	}
	v, ok := r.attr(attr)
	if !ok {
		return nil, evalError("resource %s does not support attribute type %s in Fn::GetAtt", res, attr)
	}
	return v, nil
}

func toStr(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case nil:
		return ""
	case []any:
		parts := make([]string, len(t))
		for i, x := range t {
			parts[i] = toStr(x)
		}
		return strings.Join(parts, ",")
	}
	return scalarString(v)
}

// order sorts the resources that exist under the conditions so that each
// comes after what it refers to, keeping template order otherwise, as
// CloudFormation creates them.
func (e *cfnEval) order() ([]cfnResourceDef, *apiError) {
	var present []cfnResourceDef
	for _, r := range e.t.resources {
		if r.condition != "" {
			ok, err := e.condition(r.condition)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
		}
		present = append(present, r)
	}
	names := map[string]bool{}
	for _, r := range present {
		names[r.name] = true
	}
	deps := map[string][]string{}
	for _, r := range present {
		seen := map[string]bool{}
		for _, d := range append(slices.Clone(r.dependsOn), refsIn(r.properties)...) {
			if names[d] && d != r.name && !seen[d] {
				seen[d] = true
				deps[r.name] = append(deps[r.name], d)
			}
		}
		for _, d := range refsIn(r.metadata) {
			if names[d] && d != r.name && !seen[d] {
				seen[d] = true
				deps[r.name] = append(deps[r.name], d)
			}
		}
	}
	var out []cfnResourceDef
	done := map[string]bool{}
	for len(out) < len(present) {
		progressed := false
		for _, r := range present {
			if done[r.name] {
				continue
			}
			ready := true
			for _, d := range deps[r.name] {
				if !done[d] {
					ready = false
					break
				}
			}
			if ready {
				out = append(out, r)
				done[r.name] = true
				progressed = true
				break
			}
		}
		if !progressed {
			var cyc []string
			for _, r := range present {
				if !done[r.name] {
					cyc = append(cyc, r.name)
				}
			}
			return nil, newErr(400, "ValidationError", "Circular dependency between resources: [%s]", strings.Join(cyc, ", "))
		}
	}
	return out, nil
}

// refsIn lists the resource names v may refer to (Ref, GetAtt, Sub).
func refsIn(v any) []string {
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, i := range x {
				walk(i)
			}
		case *jsonv.Object:
			if x.Len() == 1 {
				k := x.Keys()[0]
				arg, _ := x.Get(k)
				switch k {
				case "Ref":
					out = append(out, scalarString(arg))
					return
				case "Fn::GetAtt":
					switch a := arg.(type) {
					case []any:
						if len(a) > 0 {
							out = append(out, scalarString(a[0]))
						}
					case string:
						n, _, _ := strings.Cut(a, ".")
						out = append(out, n)
					}
					return
				case "Fn::Sub":
					tmpl := ""
					switch a := arg.(type) {
					case string:
						tmpl = a
					case []any:
						if len(a) == 2 {
							tmpl = scalarString(a[0])
							walk(a[1])
						}
					}
					for _, m := range subVarRE().FindAllStringSubmatch(tmpl, -1) {
						n, _, _ := strings.Cut(m[1], ".")
						out = append(out, n)
					}
					return
				}
			}
			for _, k := range x.Keys() {
				i, _ := x.Get(k)
				walk(i)
			}
		}
	}
	walk(v)
	return out
}
