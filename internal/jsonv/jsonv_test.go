package jsonv_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/jsonv"
)

func TestRoundTripKeepsOrderAndNumbers(t *testing.T) {
	t.Parallel()
	tests := map[string]struct{ in, want string }{
		"key order":          {`{"b": 1, "a": 2, "c": {"z": 1, "y": 2}}`, `{"b":1,"a":2,"c":{"z":1,"y":2}}`},
		"number literals":    {`[42, 42.0, 1e3, -0, 1.50, 123456789012345678901234567890]`, `[42,42.0,1e3,-0,1.50,123456789012345678901234567890]`},
		"duplicate key last": {`{"a": 1, "b": 2, "a": 3}`, `{"a":3,"b":2}`},
		"no html escaping":   {`{"expr": "a < b && c > d"}`, `{"expr":"a < b && c > d"}`},
		"unicode":            {`{"k": "é\u2028"}`, `{"k":"é\u2028"}`},
		"empty containers":   {`{"a": {}, "b": []}`, `{"a":{},"b":[]}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			v, err := jsonv.Decode([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			got, err := jsonv.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct{ in, want string }{
		"syntax":   {"{\n  \"a\": ,\n}", "line 2"},
		"trailing": {`{} {}`, "after the top-level value"},
		"early":    {`{"a": [1, 2`, "ends early"},
		"empty":    {``, "ends early"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := jsonv.Decode([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v does not mention %q", err, tc.want)
			}
		})
	}
	if _, err := jsonv.DecodeObject([]byte(`[1]`)); err == nil || !strings.Contains(err.Error(), "a list") {
		t.Errorf("DecodeObject of a list: %v", err)
	}
}

func TestObjectEditing(t *testing.T) {
	t.Parallel()
	o := jsonv.ObjectOf("a", 1, "b", "x", "c", true)
	o.Set("a", 2) // keeps its place
	o.Delete("b")
	o.Set("d", nil)
	if got := o.String(); got != `{"a":2,"c":true,"d":null}` {
		t.Errorf("got %s", got)
	}
	c := jsonv.CloneObject(o)
	c.Set("a", 3)
	if o.String() != `{"a":2,"c":true,"d":null}` {
		t.Errorf("Clone shares state: %s", o)
	}
	var nilObj *jsonv.Object
	if nilObj.Len() != 0 || nilObj.GetString("x") != "" || nilObj.GetObject("x") != nil || nilObj.Has("x") {
		t.Errorf("nil object accessors must be safe and empty")
	}
}

func TestEqualAndTruthy(t *testing.T) {
	t.Parallel()
	dec := func(s string) any { v, _ := jsonv.Decode([]byte(s)); return v }
	if !jsonv.Equal(dec(`{"a": 1, "b": [1.0, "x"]}`), dec(`{"b": [1, "x"], "a": 1.0}`)) {
		t.Errorf("key order or number form should not matter")
	}
	if jsonv.Equal(dec(`"1"`), dec(`1`)) || jsonv.Equal(dec(`{"a": 1}`), dec(`{"a": 1, "b": 2}`)) {
		t.Errorf("different values compared equal")
	}
	for in, want := range map[string]bool{`0`: false, `0.0`: false, `""`: false, `[]`: false, `{}`: false, `null`: false, `false`: false, `1`: true, `"0"`: true, `[0]`: true} {
		if got := jsonv.Truthy(dec(in)); got != want {
			t.Errorf("Truthy(%s) = %v, want %v", in, got, want)
		}
	}
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	got, _ := jsonv.Marshal(jsonv.Normalize(map[string]any{"b": []string{"x"}, "a": 1.0, "c": 3, "d": map[string]string{"k": "v"}}))
	if string(got) != `{"a":1.0,"b":["x"],"c":3,"d":{"k":"v"}}` {
		t.Errorf("got %s", got)
	}
	if n, ok := jsonv.Int(json.Number("42")); !ok || n != 42 {
		t.Errorf("Int(42) = %d, %v", n, ok)
	}
	if _, ok := jsonv.Int(json.Number("42.0")); ok {
		t.Errorf("42.0 is a float literal, not an integer")
	}
}

// nest wraps inner in n levels of alternating lists and objects.
func nest(n int, inner string) string {
	var open, closing strings.Builder
	for i := range n {
		if i%2 == 0 {
			open.WriteString("[")
			closing.WriteString("]")
		} else {
			open.WriteString(`{"k":`)
			closing.WriteString("}")
		}
	}
	c := []byte(closing.String())
	for i, j := 0, len(c)-1; i < j; i, j = i+1, j-1 {
		c[i], c[j] = c[j], c[i]
	}
	return open.String() + inner + string(c)
}

func TestDecodeDepthLimit(t *testing.T) {
	t.Parallel()
	if _, err := jsonv.Decode([]byte(nest(jsonv.MaxDepth, "1"))); err != nil {
		t.Errorf("%d levels must decode: %v", jsonv.MaxDepth, err)
	}
	_, err := jsonv.Decode([]byte(nest(jsonv.MaxDepth+1, "1")))
	var de *jsonv.DepthError
	if !errors.Is(err, jsonv.ErrTooDeep) || !errors.As(err, &de) {
		t.Fatalf("%d levels: %v", jsonv.MaxDepth+1, err)
	}
	// The offending bracket is the 513th: 256 "[" and 256 `{"k":` before it.
	wantOffset := int64(256 + 256*len(`{"k":`))
	if de.Offset != wantOffset || de.Line != 1 || de.Column != int(wantOffset)+1 {
		t.Errorf("offset %d line %d column %d, want offset %d", de.Offset, de.Line, de.Column, wantOffset)
	}
	want := fmt.Sprintf("JSON nested deeper than 512 levels at offset %d (line 1, column %d)", wantOffset, wantOffset+1)
	if err.Error() != want {
		t.Errorf("message %q\nwant %q", err, want)
	}

	// What used to end the process with "fatal error: stack overflow": an
	// error page of six million brackets.
	huge := strings.Repeat("[", 6_000_000) + strings.Repeat("]", 6_000_000)
	if _, err := jsonv.Decode([]byte(huge)); !errors.Is(err, jsonv.ErrTooDeep) {
		t.Errorf("6M brackets: %v", err)
	}
	var o jsonv.Object
	if err := json.Unmarshal([]byte(`{"a":`+nest(600, "0")+`}`), &o); !errors.Is(err, jsonv.ErrTooDeep) {
		t.Errorf("UnmarshalJSON of a deep value: %v", err)
	}
	// Brackets inside strings do not count.
	if _, err := jsonv.Decode([]byte(`["` + strings.Repeat("[", 10000) + `"]`)); err != nil {
		t.Errorf("brackets in a string: %v", err)
	}
}

// depthOf is the nesting depth of valid JSON, counted outside strings.
func depthOf(s string) int {
	depth, deepest, inStr, esc := 0, 0, false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inStr && esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case inStr && c == '"':
			inStr = false
		case inStr:
		case c == '"':
			inStr = true
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

func FuzzDecode(f *testing.F) {
	f.Add(`{"a": [1, 2.5, {"b": null}], "c": "d"}`)
	// The limit: as deep as allowed, one level more, and far more, plus a
	// long flat document and broken deep ones. (The six million brackets
	// that used to overflow the stack are in TestDecodeDepthLimit: inputs
	// that large slow the fuzzer to a crawl.)
	f.Add(nest(jsonv.MaxDepth, `"x"`))
	f.Add(nest(jsonv.MaxDepth+1, `"x"`))
	f.Add(strings.Repeat("[", 20_000) + strings.Repeat("]", 20_000))
	f.Add(strings.Repeat("[", 10_000))
	f.Add(strings.Repeat(`{"a":`, 1000) + "1")
	f.Add(`[` + strings.Repeat(`"`+strings.Repeat("x", 1000)+`",`, 100) + `0]`)
	f.Add(`["[[[[", {"}": "]]]"}]`)
	f.Fuzz(func(t *testing.T, s string) {
		v, err := jsonv.Decode([]byte(s))
		valid := json.Valid([]byte(s))
		if err != nil {
			if valid && depthOf(s) <= jsonv.MaxDepth {
				t.Fatalf("valid JSON within the depth limit refused: %v", err)
			}
			if valid && !errors.Is(err, jsonv.ErrTooDeep) {
				t.Fatalf("valid JSON too deep, but the error is %v", err)
			}
			if strings.Contains(err.Error(), "goroutine ") {
				t.Fatalf("error carries a stack trace: %v", err)
			}
			return
		}
		if !valid {
			t.Fatalf("invalid JSON accepted")
		}
		b, err := jsonv.Marshal(v)
		if err != nil {
			t.Fatalf("marshal of decoded value failed: %v", err)
		}
		w, err := jsonv.Decode(b)
		if err != nil || !jsonv.Equal(v, w) {
			t.Fatalf("round trip changed the value: %s", b)
		}
	})
}
