package prefectfake

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/ecsworker/ecsworker/internal/lazyregexp"
)

// The two documents are Prefect's own OpenAPI text, cut down to what a
// worker and a test set-up use. Validating against them (rather than
// against hand-written Go structs) is what keeps this fake honest when the
// reference is refreshed.
//
//go:embed openapi/prefect-openapi-subset.json openapi/prefect-openapi-extra.json openapi/ecsworker-additions.json
var openapiFiles embed.FS

var openapiNames = []string{"openapi/prefect-openapi-subset.json", "openapi/prefect-openapi-extra.json", "openapi/ecsworker-additions.json"}

// operation is one (method, path) of the OpenAPI documents, reduced to what
// request and response checking needs.
type operation struct {
	Method, Path string
	// Request is the schema key of the JSON body; "" when the operation
	// takes no body.
	Request string
	// Embedded marks FastAPI bodies made of separate Body(...) parameters:
	// an absent body there is the same as {} (and extra keys are ignored,
	// which the schemas already say by not forbidding them).
	Embedded bool
	// Responses maps a documented status to its schema key ("" = no body
	// or an empty schema).
	Responses map[int]string
	Params    []param
}

type param struct {
	Name, In string
	Required bool
	Schema   string // schema key
	Type     string // the schema's JSON type, to convert the raw string
}

// contract is the compiled form of both documents.
type contract struct {
	ops     map[string]*operation // "METHOD /path/template"
	schemas map[string]*jsonschema.Schema
}

var (
	contractOnce [2]sync.Once
	contracts    [2]*contract
	contractErr  [2]error
)

// loadContract compiles the documents once per flavour: Cloud's LogCreate
// also takes worker_id (worker-level logs), which a self-hosted server
// refuses.
func loadContract(cloud bool) (*contract, error) {
	i := 0
	if cloud {
		i = 1
	}
	contractOnce[i].Do(func() { contracts[i], contractErr[i] = compileContract(cloud) })
	return contracts[i], contractErr[i]
}

func compileContract(cloud bool) (*contract, error) {
	schemas := map[string]any{}
	ops := map[string]*operation{}
	n := 0
	for _, name := range openapiNames {
		raw, err := openapiFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		var doc map[string]any
		if err := decodeJSON(raw, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		comps, _ := doc["components"].(map[string]any)
		cs, _ := comps["schemas"].(map[string]any)
		for k, v := range cs {
			schemas[k] = v
		}
		paths, _ := doc["paths"].(map[string]any)
		for p, item := range paths {
			methods, _ := item.(map[string]any)
			for m, v := range methods {
				opDoc, _ := v.(map[string]any)
				n++
				op := &operation{Method: strings.ToUpper(m), Path: p, Responses: map[int]string{}}
				key := fmt.Sprintf("op%d", n)
				if rb, ok := dig(opDoc, "requestBody", "content", "application/json", "schema").(map[string]any); ok {
					schemas[key+"_request"] = rb
					op.Request = key + "_request"
					ref, _ := rb["$ref"].(string)
					op.Embedded = strings.HasPrefix(ref, "#/components/schemas/Body_")
				}
				resps, _ := opDoc["responses"].(map[string]any)
				for code, rv := range resps {
					status, err := strconv.Atoi(code)
					if err != nil {
						continue
					}
					sch, ok := dig(rv, "content", "application/json", "schema").(map[string]any)
					if !ok || len(sch) == 0 {
						op.Responses[status] = ""
						continue
					}
					k := fmt.Sprintf("%s_%d", key, status)
					schemas[k] = sch
					op.Responses[status] = k
				}
				params, _ := opDoc["parameters"].([]any)
				for j, pv := range params {
					pm, _ := pv.(map[string]any)
					pr := param{}
					pr.Name, _ = pm["name"].(string)
					pr.In, _ = pm["in"].(string)
					pr.Required, _ = pm["required"].(bool)
					if pr.In == "header" {
						continue
					}
					if sch, ok := pm["schema"].(map[string]any); ok {
						k := fmt.Sprintf("%s_param%d", key, j)
						schemas[k] = sch
						pr.Schema = k
						pr.Type, _ = sch["type"].(string)
					}
					op.Params = append(op.Params, pr)
				}
				ops[op.Method+" "+op.Path] = op
			}
		}
	}
	if cloud {
		if lc, ok := schemas["LogCreate"].(map[string]any); ok {
			props, _ := lc["properties"].(map[string]any)
			cp := map[string]any{}
			for k, v := range props {
				cp[k] = v
			}
			cp["worker_id"] = map[string]any{"anyOf": []any{map[string]any{"type": "string", "format": "uuid"}, map[string]any{"type": "null"}}}
			nl := map[string]any{}
			for k, v := range lc {
				nl[k] = v
			}
			nl["properties"] = cp
			schemas["LogCreate"] = nl
		}
	}
	schemas[errorBodySchema] = map[string]any{
		"type": "object",
		"anyOf": []any{
			map[string]any{"required": []any{"detail"}},
			map[string]any{"required": []any{"exception_message"}, "properties": map[string]any{"exception_message": map[string]any{"type": "string"}}},
		},
	}

	const url = "https://prefectfake.invalid/openapi.json"
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	// Every $ref points into the documents themselves; nothing is fetched.
	c.UseLoader(jsonschema.SchemeURLLoader{})
	c.AssertFormat()
	c.RegisterFormat(&jsonschema.Format{Name: "uuid", Validate: validateUUIDFormat})
	c.RegisterFormat(&jsonschema.Format{Name: "date-time", Validate: validateDateTimeFormat})
	root := map[string]any{"components": map[string]any{"schemas": schemas}}
	if err := c.AddResource(url, root); err != nil {
		return nil, err
	}
	out := &contract{ops: ops, schemas: map[string]*jsonschema.Schema{}}
	for k := range schemas {
		sch, err := c.Compile(url + "#/components/schemas/" + k)
		if err != nil {
			return nil, fmt.Errorf("compile %s: %w", k, err)
		}
		out.schemas[k] = sch
	}
	return out, nil
}

const errorBodySchema = "x-error-body"

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// validateUUIDFormat accepts what pydantic's UUID type accepts: 32 hex
// digits, optionally hyphenated, braced or urn-prefixed.
func validateUUIDFormat(v any) error {
	s, ok := v.(string)
	if !ok {
		return nil
	}
	if _, ok := canonicalUUID(s); !ok {
		return fmt.Errorf("not a UUID")
	}
	return nil
}

func canonicalUUID(s string) (string, bool) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimPrefix(t, "urn:uuid:")
	t = strings.TrimPrefix(t, "{")
	t = strings.TrimSuffix(t, "}")
	h := strings.ReplaceAll(t, "-", "")
	if len(h) != 32 {
		return "", false
	}
	for _, r := range h {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') { //nolint:staticcheck // QF1001: a character set reads as the set
			return "", false
		}
	}
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], true
}

// validateDateTimeFormat is as lenient as pydantic: a space instead of T,
// no offset (read as UTC), or a bare date are all accepted, because the
// Python client itself sends str(datetime).
func validateDateTimeFormat(v any) error {
	s, ok := v.(string)
	if !ok {
		return nil
	}
	if _, err := parseTime(s); err != nil {
		return err
	}
	return nil
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02",
}

func parseTime(s string) (time.Time, error) {
	t := strings.TrimSpace(s)
	if len(t) > 10 && t[10] == ' ' {
		t = t[:10] + "T" + t[11:]
	}
	if strings.HasSuffix(t, "z") {
		t = t[:len(t)-1] + "Z"
	}
	for _, l := range timeLayouts {
		if v, err := time.Parse(l, t); err == nil {
			return v.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an ISO-8601 date-time", s)
}

// fieldError is one entry of a 422 body, in pydantic's shape.
type fieldError struct {
	Loc   []any  `json:"loc"`
	Msg   string `json:"msg"`
	Type  string `json:"type"`
	Input any    `json:"input,omitempty"`
}

// validate checks v against the schema key and returns the failures both as
// pydantic-style entries (for the 422 body) and as one readable line (for
// the violation report). loc is the prefix of every location, e.g. "body".
func (c *contract) validate(key string, v any, loc ...any) ([]fieldError, string) {
	sch := c.schemas[key]
	if sch == nil {
		return nil, ""
	}
	err := sch.Validate(v)
	if err == nil {
		return nil, ""
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return []fieldError{{Loc: loc, Msg: err.Error(), Type: "value_error"}}, err.Error()
	}
	p := message.NewPrinter(language.English)
	var out []fieldError
	var lines []string
	for _, leaf := range usefulLeaves(leaves(verr)) {
		where := locOf(v, leaf.InstanceLocation, loc)
		got := ""
		switch x := valueAt(v, leaf.InstanceLocation).(type) {
		case string, json.Number, bool:
			got = fmt.Sprintf(" (got %q)", fmt.Sprint(x))
		}
		lines = append(lines, fmt.Sprintf("at /%s%s: %s", strings.Join(leaf.InstanceLocation, "/"), got, leaf.ErrorKind.LocalizedString(p)))
		out = append(out, pydanticErrors(v, leaf, where)...)
	}
	sort.Strings(lines)
	return out, strings.Join(lines, "; ")
}

func leaves(e *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		return []*jsonschema.ValidationError{e}
	}
	var out []*jsonschema.ValidationError
	for _, c := range e.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}

// usefulLeaves drops the "want null" half of an Optional field's anyOf when
// the other half explains the failure better.
func usefulLeaves(all []*jsonschema.ValidationError) []*jsonschema.ValidationError {
	at := map[string]int{}
	for _, l := range all {
		at[strings.Join(l.InstanceLocation, "\x00")]++
	}
	var out []*jsonschema.ValidationError
	seen := map[string]bool{}
	for _, l := range all {
		k := strings.Join(l.InstanceLocation, "\x00")
		if tk, ok := l.ErrorKind.(*kind.Type); ok && len(tk.Want) == 1 && tk.Want[0] == "null" && at[k] > 1 {
			continue
		}
		sig := k + "\x01" + fmt.Sprint(l.ErrorKind.KeywordPath()) + fmt.Sprintf("%v", l.ErrorKind)
		if seen[sig] {
			continue
		}
		seen[sig] = true
		out = append(out, l)
	}
	return out
}

func locOf(v any, path []string, prefix []any) []any {
	loc := append([]any{}, prefix...)
	cur := v
	for _, seg := range path {
		switch t := cur.(type) {
		case []any:
			i, _ := strconv.Atoi(seg)
			loc = append(loc, i)
			if i >= 0 && i < len(t) {
				cur = t[i]
			} else {
				cur = nil
			}
		case map[string]any:
			loc = append(loc, seg)
			cur = t[seg]
		default:
			loc = append(loc, seg)
			cur = nil
		}
	}
	return loc
}

func valueAt(v any, path []string) any {
	for _, seg := range path {
		switch t := v.(type) {
		case []any:
			i, _ := strconv.Atoi(seg)
			if i < 0 || i >= len(t) {
				return nil
			}
			v = t[i]
		case map[string]any:
			v = t[seg]
		default:
			return nil
		}
	}
	return v
}

var pyTypes = map[string][2]string{
	"string":  {"string_type", "Input should be a valid string"},
	"integer": {"int_type", "Input should be a valid integer"},
	"number":  {"float_type", "Input should be a valid number"},
	"boolean": {"bool_type", "Input should be a valid boolean"},
	"object":  {"dict_type", "Input should be a valid dictionary"},
	"array":   {"list_type", "Input should be a valid list"},
	"null":    {"none_required", "Input should be None"},
}

func pydanticErrors(root any, leaf *jsonschema.ValidationError, loc []any) []fieldError {
	input := valueAt(root, leaf.InstanceLocation)
	p := message.NewPrinter(language.English)
	switch k := leaf.ErrorKind.(type) {
	case *kind.AdditionalProperties:
		var out []fieldError
		obj, _ := input.(map[string]any)
		for _, name := range k.Properties {
			out = append(out, fieldError{Loc: append(append([]any{}, loc...), name), Msg: "Extra inputs are not permitted", Type: "extra_forbidden", Input: obj[name]})
		}
		return out
	case *kind.Required:
		var out []fieldError
		for _, name := range k.Missing {
			out = append(out, fieldError{Loc: append(append([]any{}, loc...), name), Msg: "Field required", Type: "missing", Input: input})
		}
		return out
	case *kind.Type:
		if len(k.Want) > 0 {
			if t, ok := pyTypes[k.Want[0]]; ok {
				return []fieldError{{Loc: loc, Msg: t[1], Type: t[0], Input: input}}
			}
		}
	case *kind.Enum:
		return []fieldError{{Loc: loc, Msg: "Input should be " + k.LocalizedString(p), Type: "enum", Input: input}}
	case *kind.Const:
		return []fieldError{{Loc: loc, Msg: "Input should be " + k.LocalizedString(p), Type: "literal_error", Input: input}}
	case *kind.Format:
		if k.Want == "uuid" {
			return []fieldError{{Loc: loc, Msg: "Input should be a valid UUID", Type: "uuid_parsing", Input: input}}
		}
		return []fieldError{{Loc: loc, Msg: "Input should be a valid datetime", Type: "datetime_from_date_parsing", Input: input}}
	case *kind.Minimum:
		return []fieldError{{Loc: loc, Msg: "Input should be greater than or equal to " + ratString(k.Want), Type: "greater_than_equal", Input: input}}
	case *kind.ExclusiveMinimum:
		return []fieldError{{Loc: loc, Msg: "Input should be greater than " + ratString(k.Want), Type: "greater_than", Input: input}}
	case *kind.Maximum:
		return []fieldError{{Loc: loc, Msg: "Input should be less than or equal to " + ratString(k.Want), Type: "less_than_equal", Input: input}}
	case *kind.Pattern:
		return []fieldError{{Loc: loc, Msg: fmt.Sprintf("String should match pattern '%s'", k.Want), Type: "string_pattern_mismatch", Input: input}}
	}
	return []fieldError{{Loc: loc, Msg: leaf.ErrorKind.LocalizedString(p), Type: "value_error", Input: input}}
}

func ratString(r *big.Rat) string {
	if r == nil {
		return ""
	}
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// decodeJSON keeps numbers as json.Number so that 42 and 42.0 come back out
// exactly as they went in: the worker renders them with Python's str().
func decodeJSON(raw []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("invalid character after top-level value")
	}
	return nil
}

// placeholderRE is Prefect's placeholder pattern (templating.PLACEHOLDER).
var placeholderRE = lazyregexp.New(`\{\{\s*([\w\.\-\[\]$]+)\s*\}\}`)
