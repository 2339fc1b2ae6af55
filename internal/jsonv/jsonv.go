// Package jsonv holds JSON values that keep what Prefect's Python code keeps:
// the order of object keys and the literal form of numbers.
//
// A value is one of nil, bool, json.Number, string, []any or *Object.
// Prefect renders templates with Python dicts, which are insertion-ordered,
// and Python's str() of a dict or a float depends on both key order and on
// whether a number was written as 42 or 42.0, so plain map[string]any and
// float64 would lose information that shows up in rendered output.
package jsonv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
)

// Object is a JSON object that remembers the order in which keys were added.
type Object struct {
	keys []string
	vals map[string]any
}

// NewObject returns an empty object.
func NewObject() *Object { return &Object{vals: map[string]any{}} }

// ObjectOf builds an object from alternating keys and values, in that order.
// It is meant for literals in code and tests: ObjectOf("a", 1, "b", "x").
func ObjectOf(kv ...any) *Object {
	o := NewObject()
	for i := 0; i+1 < len(kv); i += 2 {
		o.Set(kv[i].(string), Normalize(kv[i+1]))
	}
	return o
}

// Len is the number of keys.
func (o *Object) Len() int {
	if o == nil {
		return 0
	}
	return len(o.keys)
}

// Keys returns the keys in order. The slice must not be modified.
func (o *Object) Keys() []string {
	if o == nil {
		return nil
	}
	return o.keys
}

// Get returns the value stored under k.
func (o *Object) Get(k string) (any, bool) {
	if o == nil {
		return nil, false
	}
	v, ok := o.vals[k]
	return v, ok
}

// Has reports whether k is present.
func (o *Object) Has(k string) bool { _, ok := o.Get(k); return ok }

// Set stores v under k; a new key goes last, an existing key keeps its place.
func (o *Object) Set(k string, v any) {
	if o.vals == nil {
		o.vals = map[string]any{}
	}
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

// Delete removes k if present.
func (o *Object) Delete(k string) {
	if o == nil {
		return
	}
	if _, ok := o.vals[k]; !ok {
		return
	}
	delete(o.vals, k)
	for i, key := range o.keys {
		if key == k {
			o.keys = append(o.keys[:i:i], o.keys[i+1:]...)
			break
		}
	}
}

// String returns the object as compact JSON.
func (o *Object) String() string {
	b, _ := Marshal(o)
	return string(b)
}

// GetObject returns the object stored under k, or nil when absent or not an object.
func (o *Object) GetObject(k string) *Object {
	v, _ := o.Get(k)
	obj, _ := v.(*Object)
	return obj
}

// GetString returns the string stored under k, or "" when absent or not a string.
func (o *Object) GetString(k string) string {
	v, _ := o.Get(k)
	s, _ := v.(string)
	return s
}

// GetArray returns the array stored under k, or nil when absent or not an array.
func (o *Object) GetArray(k string) []any {
	v, _ := o.Get(k)
	a, _ := v.([]any)
	return a
}

// MarshalJSON writes the object with its keys in order.
func (o *Object) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	if err := encode(&buf, o); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// UnmarshalJSON reads an object, keeping key order and number literals.
func (o *Object) UnmarshalJSON(b []byte) error {
	v, err := Decode(b)
	if err != nil {
		return err
	}
	obj, ok := v.(*Object)
	if !ok {
		return fmt.Errorf("expected a JSON object, got %s", TypeName(v))
	}
	*o = *obj
	return nil
}

// MaxDepth is how deeply Decode lets arrays and objects nest. Decoding
// recurses once per level, so without a bound a document of a few million
// brackets (an error page, a hostile server, a corrupt file) would exhaust
// the stack and kill the process instead of failing. Real documents stay
// far below it: base job templates nest about ten levels, and Prefect's own
// Python side gives up near 1000.
const MaxDepth = 512

// ErrTooDeep matches the error of Decode for a document nested deeper than
// MaxDepth.
var ErrTooDeep = errors.New("JSON nested too deeply")

// DepthError is the error of Decode for a document nested deeper than
// MaxDepth; it matches ErrTooDeep.
type DepthError struct {
	Limit  int
	Offset int64 // byte offset of the bracket or brace that went too deep
	Line   int
	Column int
}

func (e *DepthError) Error() string {
	return fmt.Sprintf("JSON nested deeper than %d levels at offset %d (line %d, column %d)", e.Limit, e.Offset, e.Line, e.Column)
}

// Is makes errors.Is(err, ErrTooDeep) true.
func (e *DepthError) Is(target error) bool { return target == ErrTooDeep }

// Decode parses one JSON document. Numbers stay json.Number, objects are
// *Object, and a repeated key keeps its last value (as Python's json does).
// A document nested deeper than MaxDepth is refused with a *DepthError.
func Decode(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err != nil {
		var de *DepthError
		if errors.As(err, &de) {
			de.Line, de.Column = position(data, de.Offset)
			return nil, de
		}
		return nil, describeSyntax(data, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("invalid JSON: unexpected data after the top-level value")
	}
	return v, nil
}

// DecodeObject parses a JSON document that must be an object.
func DecodeObject(data []byte) (*Object, error) {
	v, err := Decode(data)
	if err != nil {
		return nil, err
	}
	obj, ok := v.(*Object)
	if !ok {
		return nil, fmt.Errorf("expected a JSON object, got %s", TypeName(v))
	}
	return obj, nil
}

func describeSyntax(data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := position(data, se.Offset)
		return fmt.Errorf("invalid JSON at line %d, column %d: %s", line, col, se.Error())
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errors.New("invalid JSON: the document ends early (unclosed bracket, brace or string?)")
	}
	return fmt.Errorf("invalid JSON: %w", err)
}

// position turns a byte offset into a 1-based line and column.
func position(data []byte, offset int64) (line, col int) {
	line, col = 1, 1
	for _, c := range data[:min(max(int(offset), 0), len(data))] {
		if c == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if (t == '{' || t == '[') && depth >= MaxDepth {
			return nil, &DepthError{Limit: MaxDepth, Offset: dec.InputOffset() - 1}
		}
		switch t {
		case '{':
			o := NewObject()
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				o.Set(k, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return o, nil
		case '[':
			a := []any{}
			for dec.More() {
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return a, nil
		}
		return nil, fmt.Errorf("unexpected %q", t)
	default:
		return t, nil
	}
}

// Marshal writes v as compact JSON without HTML escaping.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := encode(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// MarshalIndent writes v as JSON indented by two spaces, ending with a newline.
func MarshalIndent(v any) ([]byte, error) {
	b, err := Marshal(v)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func encode(buf *bytes.Buffer, v any) error {
	switch t := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		buf.WriteString(strconv.FormatBool(t))
	case json.Number:
		if !json.Valid([]byte(t)) {
			return fmt.Errorf("invalid number %q", string(t))
		}
		buf.WriteString(string(t))
	case string:
		writeString(buf, t)
	case []any:
		buf.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := encode(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case *Object:
		if t == nil {
			buf.WriteString("null")
			return nil
		}
		buf.WriteByte('{')
		for i, k := range t.keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, k)
			buf.WriteByte(':')
			if err := encode(buf, t.vals[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	default:
		return encode(buf, Normalize(v))
	}
	return nil
}

func writeString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	buf.Truncate(buf.Len() - 1) // Encode appends a newline
}

// Normalize turns ordinary Go values (maps, slices of any type, ints, floats)
// into jsonv values. Maps are ordered by key. Values that already are jsonv
// values are returned as they are.
func Normalize(v any) any {
	switch t := v.(type) {
	case nil, bool, json.Number, string, *Object:
		return t
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = Normalize(e)
		}
		return out
	case []string:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = e
		}
		return out
	case map[string]any:
		o := NewObject()
		for _, k := range slices.Sorted(maps.Keys(t)) {
			o.Set(k, Normalize(t[k]))
		}
		return o
	case map[string]string:
		o := NewObject()
		for _, k := range slices.Sorted(maps.Keys(t)) {
			o.Set(k, t[k])
		}
		return o
	case int:
		return json.Number(strconv.Itoa(t))
	case int32:
		return json.Number(strconv.FormatInt(int64(t), 10))
	case int64:
		return json.Number(strconv.FormatInt(t, 10))
	case float64:
		if math.IsInf(t, 0) || math.IsNaN(t) {
			return nil
		}
		s := strconv.FormatFloat(t, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eE") {
			s += ".0"
		}
		return json.Number(s)
	default:
		// Last resort for structs and other types: round-trip through encoding/json.
		b, err := json.Marshal(t)
		if err != nil {
			return fmt.Sprint(t)
		}
		out, err := Decode(b)
		if err != nil {
			return fmt.Sprint(t)
		}
		return out
	}
}

// Clone returns a deep copy of v.
func Clone(v any) any {
	switch t := v.(type) {
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = Clone(e)
		}
		return out
	case *Object:
		if t == nil {
			return t
		}
		o := &Object{keys: make([]string, len(t.keys)), vals: make(map[string]any, len(t.vals))}
		copy(o.keys, t.keys)
		for k, e := range t.vals {
			o.vals[k] = Clone(e)
		}
		return o
	default:
		return t
	}
}

// CloneObject returns a deep copy of o (nil stays nil).
func CloneObject(o *Object) *Object {
	if o == nil {
		return nil
	}
	return Clone(o).(*Object)
}

// Equal reports deep equality. Object key order does not matter; numbers
// compare by value, and an integer equals the same float (1 == 1.0), as in Python.
func Equal(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case json.Number:
		y, ok := b.(json.Number)
		return ok && NumbersEqual(x, y)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !Equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case *Object:
		y, ok := b.(*Object)
		if !ok || x.Len() != y.Len() {
			return false
		}
		for _, k := range x.Keys() {
			yv, ok := y.Get(k)
			if !ok {
				return false
			}
			xv, _ := x.Get(k)
			if !Equal(xv, yv) {
				return false
			}
		}
		return true
	}
	return false
}

// NumbersEqual compares two JSON numbers by value.
func NumbersEqual(a, b json.Number) bool {
	if a == b {
		return true
	}
	x, ok1 := new(big.Float).SetString(string(a))
	y, ok2 := new(big.Float).SetString(string(b))
	return ok1 && ok2 && x.Cmp(y) == 0
}

// IsInteger reports whether a number literal is written as an integer (no
// fraction or exponent), which is how Python's json module tells int from float.
func IsInteger(n json.Number) bool { return !strings.ContainsAny(string(n), ".eE") }

// Int returns the value of an integer number literal.
func Int(n json.Number) (int64, bool) {
	if !IsInteger(n) {
		return 0, false
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	return i, err == nil
}

// TypeName names a value's JSON type for error messages.
func TypeName(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		if IsInteger(t) {
			return "an integer"
		}
		return "a number"
	case string:
		return "a string"
	case []any:
		return "a list"
	case *Object:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// Truthy follows Python's truth test on a JSON value: null, false, 0, "",
// [] and {} are false.
func Truthy(v any) bool {
	switch t := v.(type) {
	case nil:
		return false
	case bool:
		return t
	case json.Number:
		f, ok := new(big.Float).SetString(string(t))
		return !ok || f.Sign() != 0
	case string:
		return t != ""
	case []any:
		return len(t) > 0
	case *Object:
		return t.Len() > 0
	}
	return true
}
