package jsonv_test

import (
	"encoding/json"
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

func FuzzDecode(f *testing.F) {
	f.Add(`{"a": [1, 2.5, {"b": null}], "c": "d"}`)
	f.Fuzz(func(t *testing.T, s string) {
		v, err := jsonv.Decode([]byte(s))
		if err != nil {
			return
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
