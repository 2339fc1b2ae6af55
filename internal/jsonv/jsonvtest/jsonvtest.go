// Package jsonvtest holds the JSON helpers that tests share: decoding
// literals written in a test, comparing results as printed JSON, and
// reading IAM's string-or-list fields. Only tests import it; it is not part
// of the binary.
package jsonvtest

import (
	"testing"

	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// Object decodes a JSON object literal; a nil result stands for "".
func Object(t testing.TB, s string) *jsonv.Object {
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

// Value decodes any JSON literal.
func Value(t testing.TB, s string) any {
	t.Helper()
	v, err := jsonv.Decode([]byte(s))
	if err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return v
}

// Compact prints a value as compact JSON. Comparing these strings checks
// key order and number literals too, both of which Prefect's output
// preserves.
func Compact(t testing.TB, v any) string {
	t.Helper()
	b, err := jsonv.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %#v: %v", v, err)
	}
	return string(b)
}

// Require fails unless got prints exactly as the JSON literal want (after
// normalising the literal's whitespace).
func Require(t testing.TB, want string, got any) {
	t.Helper()
	w := Compact(t, Value(t, want))
	if g := Compact(t, got); g != w {
		t.Fatalf("got  %s\nwant %s", g, w)
	}
}

// Strings reads a field that holds one string or a list of them, as IAM
// policies write actions and resources; anything else is nil.
func Strings(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, e.(string))
		}
		return out
	}
	return nil
}
