// Package redact hides secret values (API keys, auth strings, AWS
// credentials) in values that are about to be shown to a person: rendered
// job configurations, ECS requests, log lines and error messages.
package redact

import (
	"regexp"
	"strings"

	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// Mask replaces a secret value.
const Mask = "********"

var sensitiveName = regexp.MustCompile(`(?i)(api_?key|auth_?string|secret|password|passwd|token|private_?key|credential|access_key_id)`)

// SensitiveName reports whether a variable or field of this name holds a
// secret. Names of ARNs and parameter references (…_ARN, valueFrom) point
// at secrets without holding them and are not sensitive.
func SensitiveName(name string) bool {
	lower := strings.ToLower(name)
	if strings.HasSuffix(lower, "_arn") || strings.HasSuffix(lower, "arn") || lower == "valuefrom" {
		return false
	}
	return sensitiveName.MatchString(name)
}

// Value returns a deep copy of v in which secret values are masked: string
// values under sensitive keys, and the value of {"name": ..., "value": ...}
// pairs (ECS environment entries) whose name is sensitive.
func Value(v any) any {
	return walk(jsonv.Clone(v))
}

func walk(v any) any {
	switch t := v.(type) {
	case *jsonv.Object:
		if name := t.GetString("name"); name != "" && SensitiveName(name) {
			if s, ok := t.Get("value"); ok {
				if str, isStr := s.(string); isStr && str != "" {
					t.Set("value", Mask)
				}
			}
		}
		for _, k := range t.Keys() {
			e, _ := t.Get(k)
			if s, ok := e.(string); ok && s != "" && SensitiveName(k) {
				t.Set(k, Mask)
				continue
			}
			t.Set(k, walk(e))
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = walk(e)
		}
		return t
	}
	return v
}

// String masks every occurrence of the given secret values in s. Values
// shorter than four characters are left alone: masking them would hide
// ordinary text without protecting anything.
func String(s string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, Mask)
		}
	}
	return s
}
