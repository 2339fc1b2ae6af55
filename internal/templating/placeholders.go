// Package templating is Prefect's templating engine
// (prefect.utilities.templating) as the worker needs it: finding "{{ }}"
// placeholders in template values, applying job variables to them
// (ApplyValues), and resolving block document references and Prefect
// variables through a Resolver. jobtemplate builds a job configuration
// from a work pool's base job template with it.
//
// Everything here works on jsonv values and never modifies its inputs.
package templating

import (
	"encoding/json"
	"math/big"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/lazyregexp"
)

// PlaceholderKind tells which pass of the rendering fills a placeholder.
type PlaceholderKind int

const (
	// Standard placeholders are filled from job variables.
	Standard PlaceholderKind = iota
	// EnvVar placeholders ("{{ $NAME }}") are filled from the worker's
	// environment, and only inside longer strings or as a whole string.
	EnvVar
	// BlockDocument placeholders ("{{ prefect.blocks.<type>.<name>[.path] }}")
	// are filled from block documents read through the Prefect API.
	BlockDocument
	// Variable placeholders ("{{ prefect.variables.<name> }}") are filled
	// from Prefect variables read through the Prefect API.
	Variable
)

// String names the kind the way Prefect's PlaceholderType values do.
func (k PlaceholderKind) String() string {
	switch k {
	case Standard:
		return "standard"
	case EnvVar:
		return "env_var"
	case BlockDocument:
		return "block_document"
	case Variable:
		return "variable"
	}
	return "unknown"
}

// Placeholder is one "{{ ... }}" found in a template string.
type Placeholder struct {
	// Full is the matched text, braces and inner spaces included. Two
	// placeholders with the same name but different spacing are distinct,
	// because substitution replaces the exact text.
	Full string
	// Name is the text between the braces without surrounding whitespace.
	Name string
	Kind PlaceholderKind
}

const (
	blockPrefix    = "prefect.blocks."
	variablePrefix = "prefect.variables."
	envPrefix      = "$"
)

// pyWhitespace lists what Python's \s matches in a str pattern
// (str.isspace()); Go's \s is ASCII-only and lacks \v, and templates that
// Prefect accepts must be accepted here too.
const pyWhitespace = `\t\n\v\f\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}`

// placeholderRE is Prefect's `{{\s*([\w\.\-\[\]$]+)\s*}}` with Python's
// Unicode semantics: in Python 3 \w in a str pattern is exactly letters,
// numbers and underscore (checked over every code point), which is
// \p{L}\p{N}_ here. A regexp is safe for concurrent use and holds no state
// that callers can observe.
var placeholderRE = lazyregexp.New(
	`\{\{[` + pyWhitespace + `]*([\p{L}\p{N}_.\-\[\]$]+)[` + pyWhitespace + `]*\}\}`)

func kindOf(name string) PlaceholderKind {
	switch {
	case strings.HasPrefix(name, blockPrefix):
		return BlockDocument
	case strings.HasPrefix(name, variablePrefix):
		return Variable
	case strings.HasPrefix(name, envPrefix):
		return EnvVar
	}
	return Standard
}

// match is one placeholder occurrence inside a string, with its position so
// that substitution can rebuild the string in a single pass.
type match struct {
	start, end int
	Placeholder
}

func findIn(s string) []match {
	// Every placeholder starts with "{{"; skipping the regexp for the many
	// plain strings in a template keeps rendering cheap.
	if !strings.Contains(s, "{{") {
		return nil
	}
	idx := placeholderRE().FindAllStringSubmatchIndex(s, -1)
	if len(idx) == 0 {
		return nil
	}
	out := make([]match, len(idx))
	for i, m := range idx {
		name := s[m[2]:m[3]]
		out[i] = match{start: m[0], end: m[1], Placeholder: Placeholder{Full: s[m[0]:m[1]], Name: name, Kind: kindOf(name)}}
	}
	return out
}

// wholeString reports whether s is exactly one placeholder and nothing else.
// Prefect asks "is there one distinct placeholder and is its text the whole
// string"; a string that is one placeholder can only contain one match, so
// the two questions have the same answer.
func wholeString(s string, ms []match) bool {
	return len(ms) == 1 && ms[0].start == 0 && ms[0].end == len(s)
}

// replaceMatches rebuilds s with each match replaced by repl's result; when
// repl returns false the placeholder text stays. Prefect replaces one
// distinct placeholder at a time with str.replace, iterating a Python set
// whose order changes from process to process; substituting every
// occurrence in one left-to-right pass gives the same result except when a
// substituted value itself contains placeholder text, where Prefect's
// output is not even reproducible. Here substituted text is never
// re-scanned.
func replaceMatches(s string, ms []match, repl func(m match) (string, bool, error)) (string, error) {
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for _, m := range ms {
		r, ok, err := repl(m)
		if err != nil {
			return "", err
		}
		if !ok {
			continue
		}
		b.WriteString(s[last:m.start])
		b.WriteString(r)
		last = m.end
	}
	b.WriteString(s[last:])
	return b.String(), nil
}

// FindPlaceholders lists the placeholders in a template value in order of
// first appearance, each distinct text once. Object keys are never
// templated, so only values are searched.
func FindPlaceholders(v any) []Placeholder {
	var out []Placeholder
	seen := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch t := v.(type) {
		case string:
			for _, m := range findIn(t) {
				if !seen[m.Full] {
					seen[m.Full] = true
					out = append(out, m.Placeholder)
				}
			}
		case []any:
			for _, e := range t {
				walk(e)
			}
		case *jsonv.Object:
			for _, k := range t.Keys() {
				e, _ := t.Get(k)
				walk(e)
			}
		case nil, bool, json.Number:
		default:
			walk(jsonv.Normalize(t))
		}
	}
	walk(v)
	return out
}

// lookupPath finds a dotted path such as "a.b[0].c" in v the way Prefect's
// get_from_dict does, because users rely on its quirks: brackets are just
// separators ("a[0]" is "a.0", and a stray "]" vanishes), a segment that
// Python's int() accepts is an index (negative counts from the end), an
// index never matches an object key (JSON object keys are strings, Python
// looks the key up as an int), and indexing a string yields one character.
// Any miss returns false, Prefect's NotSet.
func lookupPath(v any, path string) (any, bool) {
	path = strings.ReplaceAll(path, "[", ".")
	path = strings.ReplaceAll(path, "]", "")
	cur := v
	for _, seg := range strings.Split(path, ".") {
		if n, isInt := pyInt(seg); isInt {
			switch t := cur.(type) {
			case []any:
				i, ok := pyIndex(n, len(t))
				if !ok {
					return nil, false
				}
				cur = t[i]
			case string:
				// Python strings index by code point.
				i, ok := pyIndex(n, utf8.RuneCountInString(t))
				if !ok {
					return nil, false
				}
				cur = nthRune(t, i)
			default:
				return nil, false
			}
			continue
		}
		o, ok := cur.(*jsonv.Object)
		if !ok || o == nil {
			return nil, false
		}
		if cur, ok = o.Get(seg); !ok {
			return nil, false
		}
	}
	return cur, true
}

func pyIndex(n *big.Int, length int) (int, bool) {
	if !n.IsInt64() {
		return 0, false
	}
	i := n.Int64()
	if i < 0 {
		i += int64(length)
	}
	if i < 0 || i >= int64(length) {
		return 0, false
	}
	return int(i), true
}

func nthRune(s string, i int) string {
	for _, r := range s {
		if i == 0 {
			return string(r)
		}
		i--
	}
	return ""
}

// pyInt parses s the way Python's int(s) does: optional surrounding
// whitespace, an optional sign, then decimal digits of any script with
// single underscores allowed between digits. Placeholder names may contain
// any Unicode digit and "_", so "1_0" and "١" are indices in Prefect.
func pyInt(s string) (*big.Int, bool) {
	s = strings.TrimFunc(s, isPySpace)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' || strings.Contains(s, "__") {
		return nil, false
	}
	var digits []byte
	for _, r := range s {
		if r == '_' {
			continue
		}
		d, ok := digitValue(r)
		if !ok {
			return nil, false
		}
		digits = append(digits, byte('0'+d))
	}
	n, ok := new(big.Int).SetString(string(digits), 10)
	if !ok {
		return nil, false
	}
	if neg {
		n.Neg(n)
	}
	return n, true
}

// digitValue returns the value of a Unicode decimal digit (category Nd).
// Unicode assigns Nd characters in contiguous runs of complete 0-9 sets, so
// the value is the distance from the start of the run modulo 10.
func digitValue(r rune) (int, bool) {
	if r >= '0' && r <= '9' {
		return int(r - '0'), true
	}
	if !unicode.Is(unicode.Nd, r) {
		return 0, false
	}
	for _, rg := range unicode.Nd.R16 {
		if rune(rg.Lo) <= r && r <= rune(rg.Hi) {
			return int(r-rune(rg.Lo)) % 10, true
		}
	}
	for _, rg := range unicode.Nd.R32 {
		if rune(rg.Lo) <= r && r <= rune(rg.Hi) {
			return int(r-rune(rg.Lo)) % 10, true
		}
	}
	return 0, false
}

func isPySpace(r rune) bool {
	switch {
	case r >= '\t' && r <= '\r', r >= 0x1c && r <= 0x1f, r == ' ', r == 0x85, r == 0xa0, r == 0x1680,
		r >= 0x2000 && r <= 0x200a, r == 0x2028, r == 0x2029, r == 0x202f, r == 0x205f, r == 0x3000:
		return true
	}
	return false
}
