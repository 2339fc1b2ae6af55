package templating_test

import (
	"testing"

	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// obj decodes a JSON object literal; a nil result stands for "".
func obj(t testing.TB, s string) *jsonv.Object {
	t.Helper()
	if s == "" {
		return nil
	}
	o, err := jsonv.DecodeObject([]byte(s))
	if err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return o
}

// val decodes any JSON literal.
func val(t testing.TB, s string) any {
	t.Helper()
	v, err := jsonv.Decode([]byte(s))
	if err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return v
}

// js prints a value as compact JSON. Comparing these strings checks key
// order and number literals too, both of which Prefect's output preserves.
func js(t testing.TB, v any) string {
	t.Helper()
	b, err := jsonv.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %#v: %v", v, err)
	}
	return string(b)
}

// requireJSON fails unless got prints exactly as the JSON literal want
// (after normalising the literal's whitespace).
func requireJSON(t testing.TB, want string, got any) {
	t.Helper()
	w := js(t, val(t, want))
	if g := js(t, got); g != w {
		t.Fatalf("got  %s\nwant %s", g, w)
	}
}
