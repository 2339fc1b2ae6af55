package ecsshape

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"strconv"
	"strings"

	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// Decode fills out, a pointer to an aws-sdk-go-v2 ECS input struct such as
// *ecs.RunTaskInput, from v and returns every problem found, in the order the
// offending values appear in v. Values that do not fit are left unset and
// everything else is still filled, so a caller can show all problems at once
// and still inspect the rest of the request.
func Decode(v *jsonv.Object, out any) []Problem {
	rv := reflect.ValueOf(out)
	if !rv.IsValid() || rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return []Problem{{Message: fmt.Sprintf("ecsshape: cannot decode into %T; pass a pointer to an SDK input struct", out)}}
	}
	var d decoder
	if v == nil {
		v = jsonv.NewObject()
	}
	// Walking the object's keys and arrays in order is what keeps the
	// problems in order of appearance; nothing needs sorting afterwards.
	d.value("", v, rv.Elem(), "key")
	return d.problems
}

type decoder struct {
	problems []Problem
}

func (d *decoder) addf(path, format string, args ...any) {
	d.problems = append(d.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// value stores jv into dst and reports whether it stored anything.
// container says what holds jv ("key" or "item") so that a null can be
// reported with the right fix.
func (d *decoder) value(path string, jv any, dst reflect.Value, container string) bool {
	if jv == nil {
		// The API has no use for null: botocore rejects None and the Go SDK
		// cannot tell null from absent, so the key is noise at best.
		d.addf(path, "null is not allowed; remove the %s", container)
		return false
	}
	t := dst.Type()
	if isEnum(t) {
		return d.enum(path, jv, dst)
	}
	switch t.Kind() {
	case reflect.Pointer:
		elem := reflect.New(t.Elem())
		if !d.value(path, jv, elem.Elem(), container) {
			return false
		}
		dst.Set(elem)
		return true
	case reflect.Struct:
		return d.object(path, jv, dst)
	case reflect.Interface:
		return d.union(path, jv, dst)
	case reflect.Slice:
		return d.list(path, jv, dst)
	case reflect.Map:
		return d.mapping(path, jv, dst)
	case reflect.String:
		s, ok := expect[string](d, path, jv, "a string")
		if ok {
			dst.SetString(s)
		}
		return ok
	case reflect.Bool:
		b, ok := expect[bool](d, path, jv, "a boolean")
		if ok {
			dst.SetBool(b)
		}
		return ok
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return d.integer(path, jv, dst)
	case reflect.Float32, reflect.Float64:
		n, ok := expect[json.Number](d, path, jv, "a number")
		if !ok {
			return false
		}
		f, err := strconv.ParseFloat(string(n), t.Bits())
		if err != nil {
			d.addf(path, "%s is out of range for this field", n)
			return false
		}
		dst.SetFloat(f)
		return true
	}
	d.addf(path, "ecsshape cannot check a %s value; this is a bug in ecsshape", t)
	return false
}

// expect is jv as a T, or a mismatch error naming want.
func expect[T any](d *decoder, path string, jv any, want string) (T, bool) {
	v, ok := jv.(T)
	if !ok {
		d.mismatch(path, want, jv)
	}
	return v, ok
}

func (d *decoder) object(path string, jv any, dst reflect.Value) bool {
	obj, ok := jv.(*jsonv.Object)
	if !ok {
		d.mismatch(path, "an object", jv)
		return false
	}
	info := structInfoOf(dst.Type())
	for _, k := range obj.Keys() {
		val, _ := obj.Get(k)
		sub := joinKey(path, k)
		i, ok := info.fields[k]
		if !ok {
			d.unknownField(sub, k, info.names)
			continue
		}
		d.value(sub, val, dst.Field(i), "key")
	}
	return true
}

// union decodes a Smithy union: an object with exactly one key naming the
// member that is set. The SDK models it as an interface implemented by one
// wrapper struct per member.
func (d *decoder) union(path string, jv any, dst reflect.Value) bool {
	u, ok := unionOf(dst.Type())
	if !ok {
		d.addf(path, "ecsshape cannot check a %s value; this is a bug in ecsshape", dst.Type())
		return false
	}
	obj, ok := jv.(*jsonv.Object)
	if !ok {
		d.mismatch(path, "an object", jv)
		return false
	}
	if obj.Len() != 1 {
		d.addf(path, "expected an object with exactly one of the keys %s, got %d keys", strings.Join(u.names, ", "), obj.Len())
	}
	stored := false
	for _, k := range obj.Keys() {
		val, _ := obj.Get(k)
		sub := joinKey(path, k)
		mt, ok := u.members[k]
		if !ok {
			d.unknownField(sub, k, u.names)
			continue
		}
		m := reflect.New(mt)
		if d.value(sub, val, m.Elem().Field(0), "key") && !stored {
			dst.Set(m)
			stored = true
		}
	}
	return stored
}

func (d *decoder) list(path string, jv any, dst reflect.Value) bool {
	arr, ok := jv.([]any)
	if !ok {
		d.mismatch(path, "a list", jv)
		return false
	}
	s := reflect.MakeSlice(dst.Type(), len(arr), len(arr))
	for i, e := range arr {
		d.value(path+"["+strconv.Itoa(i)+"]", e, s.Index(i), "item")
	}
	dst.Set(s)
	return true
}

func (d *decoder) mapping(path string, jv any, dst reflect.Value) bool {
	t := dst.Type()
	if t.Key().Kind() != reflect.String {
		d.addf(path, "ecsshape cannot check a %s value; this is a bug in ecsshape", t)
		return false
	}
	obj, ok := jv.(*jsonv.Object)
	if !ok {
		d.mismatch(path, "an object", jv)
		return false
	}
	m := reflect.MakeMapWithSize(t, obj.Len())
	for _, k := range obj.Keys() {
		val, _ := obj.Get(k)
		e := reflect.New(t.Elem()).Elem()
		if d.value(joinKey(path, k), val, e, "key") {
			m.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), e)
		}
	}
	dst.Set(m)
	return true
}

func (d *decoder) enum(path string, jv any, dst reflect.Value) bool {
	allowed := enumValues(dst.Type())
	s, ok := jv.(string)
	if !ok {
		d.addf(path, "expected a string, got %s; use one of: %s", describe(jv), strings.Join(allowed, ", "))
		return false
	}
	for _, a := range allowed {
		if s == a {
			dst.SetString(s)
			return true
		}
	}
	for _, a := range allowed {
		if strings.EqualFold(s, a) {
			d.addf(path, "%s is not a valid value; did you mean %q? Values are case-sensitive; use one of: %s", strconv.Quote(s), a, strings.Join(allowed, ", "))
			return false
		}
	}
	d.addf(path, "%s is not a valid value; use one of: %s", strconv.Quote(s), strings.Join(allowed, ", "))
	return false
}

func (d *decoder) integer(path string, jv any, dst reflect.Value) bool {
	n, ok := jv.(json.Number)
	if !ok || !jsonv.IsInteger(n) {
		// ECS parses integer members strictly: 1.0 and "1" are rejected
		// even though Python would happily coerce them.
		d.mismatch(path, "an integer", jv)
		return false
	}
	t := dst.Type()
	if t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64 {
		u, err := strconv.ParseUint(string(n), 10, t.Bits())
		if errors.Is(err, strconv.ErrSyntax) && !strings.HasPrefix(string(n), "-") {
			d.addf(path, "%q is not a valid JSON number", string(n))
			return false
		}
		if err != nil {
			d.addf(path, "%s is out of range; use an integer from 0 to %d", n, uint64(1)<<t.Bits()-1)
			return false
		}
		dst.SetUint(u)
		return true
	}
	i, err := strconv.ParseInt(string(n), 10, t.Bits())
	if errors.Is(err, strconv.ErrSyntax) {
		// Only reachable for objects built in code with a bad json.Number.
		d.addf(path, "%q is not a valid JSON number", string(n))
		return false
	}
	if err != nil {
		lo := int64(-1) << (t.Bits() - 1)
		d.addf(path, "%s is out of range; use an integer from %d to %d", n, lo, -(lo + 1))
		return false
	}
	dst.SetInt(i)
	return true
}

func (d *decoder) unknownField(path, key string, names []string) {
	if s := suggest(key, names); s != "" {
		d.addf(path, "unknown field %q; did you mean %q?", key, s)
		return
	}
	d.addf(path, "unknown field %q; remove it or use one of: %s", key, strings.Join(names, ", "))
}

// mismatch reports a value of the wrong JSON type, with a concrete fix for
// the mistakes templates tend to produce: quoted numbers and booleans,
// unquoted strings, a single value where a list belongs, and JSON that was
// rendered into a string instead of inlined.
func (d *decoder) mismatch(path, want string, jv any) {
	msg := "expected " + want + ", got " + describe(jv)
	switch want {
	case "a string":
		switch v := jv.(type) {
		case json.Number:
			msg += "; quote it: " + strconv.Quote(string(v))
		case bool:
			msg += "; quote it: " + strconv.Quote(strconv.FormatBool(v))
		}
	case "an integer":
		switch v := jv.(type) {
		case string:
			if n := json.Number(strings.TrimSpace(v)); isNumber(n) && jsonv.IsInteger(n) {
				msg += "; remove the quotes"
			}
		case json.Number:
			if f, ok := new(big.Float).SetString(string(v)); ok && f.IsInt() {
				msg += "; write " + f.Text('f', 0)
			} else {
				msg += "; use a whole number"
			}
		}
	case "a number":
		if s, ok := jv.(string); ok && isNumber(json.Number(strings.TrimSpace(s))) {
			msg += "; remove the quotes"
		}
	case "a boolean":
		if s, ok := jv.(string); ok && (s == "true" || s == "false") {
			msg += "; remove the quotes"
		}
	case "a list":
		s, isString := jv.(string)
		if _, isObj := jv.(*jsonv.Object); isObj {
			msg += "; wrap it in a list: [{...}]"
		} else if words := strings.Fields(s); isString && len(words) > 1 {
			// Mostly a command line. Wrapping it whole would make ECS look
			// for an executable named "prefect flow-run execute".
			b, _ := jsonv.Marshal(jsonv.Normalize(words))
			msg += "; write it as a list, e.g. " + string(b)
		} else if b, err := jsonv.Marshal(jv); err == nil && len(b) <= 60 {
			msg += "; wrap it in a list: [" + string(b) + "]"
		} else {
			msg += "; wrap it in a list: [...]"
		}
	case "an object":
		switch v := jv.(type) {
		case []any:
			if len(v) == 1 {
				if _, ok := v[0].(*jsonv.Object); ok {
					msg += "; remove the surrounding [ ]"
				}
			}
		case string:
			if _, err := jsonv.DecodeObject([]byte(v)); err == nil {
				msg += "; the object was written as a JSON string, write it without the quotes"
			}
		}
	}
	d.problems = append(d.problems, Problem{Path: path, Message: msg})
}

func isNumber(n json.Number) bool {
	_, err := strconv.ParseFloat(string(n), 64)
	return err == nil && json.Valid([]byte(n))
}

// describe names a JSON value and shows it, so messages point at the exact
// value the user wrote.
func describe(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean " + strconv.FormatBool(t)
	case json.Number:
		return jsonv.TypeName(t) + " " + string(t)
	case string:
		if r := []rune(t); len(r) > 60 {
			t = string(r[:57]) + "..."
		}
		return "a string " + strconv.Quote(t)
	case []any:
		if len(t) == 1 {
			return "a list of 1 item"
		}
		return fmt.Sprintf("a list of %d items", len(t))
	}
	return jsonv.TypeName(v)
}

// joinKey appends an object key to a path, bracketing keys such as
// "awslogs-group" that would be ambiguous after a dot.
func joinKey(path, key string) string {
	if !isIdent(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && r >= '0' && r <= '9':
		default:
			return false
		}
	}
	return true
}
