package templating

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/pycompat"
)

// Resolver reads the Prefect objects that block and variable placeholders
// refer to. The worker implements it with the Prefect API client; tests and
// the offline dry run use their own.
type Resolver interface {
	// BlockDocument returns the data of the block document with this id
	// (GET /block_documents/{id}?include_secrets=true). Wrap ErrNotFound
	// when the document does not exist.
	BlockDocument(ctx context.Context, id string) (*jsonv.Object, error)
	// BlockDocumentByName returns the data of a block document found by its
	// block type slug and name. Wrap ErrNotFound when it does not exist.
	BlockDocumentByName(ctx context.Context, typeSlug, name string) (*jsonv.Object, error)
	// Variable returns a Prefect variable's value; found is false when no
	// variable has that name (an HTTP 404), which renders as "".
	Variable(ctx context.Context, name string) (value any, found bool, err error)
}

// ErrNotFound is what a Resolver wraps when a block document does not
// exist, so that rendering can tell the user the reference is stale rather
// than report an API failure.
var ErrNotFound = errors.New("not found")

// resolver runs one API-backed pass (block documents or Prefect variables)
// over a job configuration. Prefect reads each block document and variable
// once per render however often a template mentions it; the caches hold the
// API results, and every use gets its own copy so that two places in the
// configuration never share a value.
type resolver struct {
	r      Resolver
	byID   map[string]*jsonv.Object
	byName map[[2]string]*jsonv.Object
	vars   map[string]variableResult
}

type variableResult struct {
	value any
	found bool
}

func newResolver(r Resolver) *resolver {
	return &resolver{
		r:      r,
		byID:   map[string]*jsonv.Object{},
		byName: map[[2]string]*jsonv.Object{},
		vars:   map[string]variableResult{},
	}
}

// blockRefID returns the id of a {"$ref": {"block_document_id": ...}}
// object. Prefect treats any object whose "$ref" holds a truthy
// block_document_id as a reference, whatever other keys it has. Prefect
// crashes on a "$ref" that is not an object (such as a JSON-schema
// "#/definitions/..." string); here such an object is ordinary data.
func blockRefID(o *jsonv.Object) (any, bool) {
	ref := o.GetObject("$ref")
	if ref == nil {
		return nil, false
	}
	id, _ := ref.Get("block_document_id")
	if !jsonv.Truthy(id) {
		return nil, false
	}
	return id, true
}

// ResolveBlockDocuments replaces the block document references in v
// ({"$ref": {"block_document_id": ...}} objects and
// {{ prefect.blocks.* }} placeholders) with the documents' data, as
// Prefect's resolve_block_document_references does. Containers are rebuilt
// in place, so v must be the caller's own copy (Render's is).
func ResolveBlockDocuments(ctx context.Context, r Resolver, v any) (any, error) {
	return newResolver(r).blocks(ctx, v, nil)
}

// ResolveVariables replaces {{ prefect.variables.* }} placeholders in v
// with the variables' values, as Prefect's resolve_variables does; v is
// changed in place, as with ResolveBlockDocuments.
func ResolveVariables(ctx context.Context, r Resolver, v any) (any, error) {
	return newResolver(r).variables(ctx, v, nil)
}

// blocks replaces block document references in v. Containers are rebuilt in
// place: v is always the caller's own copy.
func (p *resolver) blocks(ctx context.Context, v any, path []string) (any, error) {
	return walk(v, path, func(o *jsonv.Object, path []string) (any, bool, error) {
		id, ok := blockRefID(o)
		if !ok {
			return nil, false, nil
		}
		data, err := p.blockByID(ctx, id, path)
		if err != nil {
			return nil, true, err
		}
		// The $ref form takes the data as it is: no "value" unwrapping.
		return jsonv.Clone(data), true, nil
	}, func(s string, path []string) (any, error) {
		return p.blockString(ctx, s, path)
	})
}

// walk rebuilds v in place, giving every object to onObject first (which
// may replace it whole) and every string to onString.
func walk(v any, path []string, onObject func(*jsonv.Object, []string) (any, bool, error), onString func(string, []string) (any, error)) (any, error) {
	switch t := v.(type) {
	case *jsonv.Object:
		if t == nil {
			return nil, nil
		}
		if onObject != nil {
			if nv, replaced, err := onObject(t, path); replaced || err != nil {
				return nv, err
			}
		}
		for _, k := range t.Keys() {
			e, _ := t.Get(k)
			ne, err := walk(e, append(path, k), onObject, onString)
			if err != nil {
				return nil, err
			}
			t.Set(k, ne)
		}
		return t, nil
	case []any:
		for i, e := range t {
			ne, err := walk(e, append(path, indexSeg(i)), onObject, onString)
			if err != nil {
				return nil, err
			}
			t[i] = ne
		}
		return t, nil
	case string:
		return onString(t, path)
	}
	return v, nil
}

func (p *resolver) blockString(ctx context.Context, s string, path []string) (any, error) {
	ms := findIn(s)
	hasBlock := false
	for _, m := range ms {
		hasBlock = hasBlock || m.Kind == BlockDocument
	}
	if !hasBlock {
		return s, nil
	}
	if wholeString(s, ms) {
		return p.blockValue(ctx, ms[0].Placeholder, s, path)
	}
	// Inline use: only block placeholders are filled; the others stay for
	// the variables pass (or were already handled by ApplyValues).
	return replaceMatches(s, ms, func(m match) (string, bool, error) {
		if m.Kind != BlockDocument {
			return "", false, nil
		}
		v, err := p.blockValue(ctx, m.Placeholder, s, path)
		if err != nil {
			return "", false, err
		}
		switch v.(type) {
		case *jsonv.Object, []any:
			return "", false, fmt.Errorf("%s: block placeholder %s in %s resolves to %s, which cannot be "+
				"placed inside a longer string; reference one scalar field of the block instead, "+
				"e.g. %s, or make the placeholder the whole value",
				where(path), m.Full, pycompat.QuoteString(s), jsonv.TypeName(v), suggestField(m.Name, v))
		}
		return pycompat.Str(v), true, nil
	})
}

// blockValue resolves one block placeholder to its value: the document's
// data, unwrapped for system blocks and narrowed by an optional key path.
func (p *resolver) blockValue(ctx context.Context, ph Placeholder, tmpl string, path []string) (any, error) {
	// Prefect removes the prefix wherever it occurs in the name, not only
	// at the start; doing the same keeps odd names resolving identically.
	parts := strings.SplitN(strings.ReplaceAll(ph.Name, blockPrefix, ""), ".", 3)
	if len(parts) < 2 {
		return nil, fmt.Errorf("%s: invalid block placeholder %s: write it as "+
			"{{ prefect.blocks.<block-type-slug>.<block-document-name> }}, optionally followed by "+
			".<field> to pick one field of the block", where(path), ph.Full)
	}
	slug, name := parts[0], parts[1]
	keyPath := ""
	if len(parts) == 3 {
		keyPath = parts[2]
	}
	doc, err := p.blockByName(ctx, slug, name, path)
	if err != nil {
		return nil, err
	}
	var data any = doc
	// System blocks such as Secret or String keep everything under "value";
	// a bare reference means that value unless the key path already starts
	// with "value" (a plain prefix test, as in Prefect, so "values" counts).
	if doc.Len() == 1 && doc.Has("value") && !strings.HasPrefix(keyPath, "value") {
		data, _ = doc.Get("value")
	}
	value := data
	if keyPath != "" {
		v, ok := lookupPath(data, keyPath)
		if !ok {
			return nil, fmt.Errorf("%s: %s: block document %q of type %q has no field at %q "+
				"(the template is %s); fix the path after the block name%s",
				where(path), ph.Full, name, slug, keyPath, pycompat.QuoteString(tmpl), availableKeys(data))
		}
		value = v
	}
	return jsonv.Clone(value), nil
}

func (p *resolver) blockByID(ctx context.Context, idv any, path []string) (*jsonv.Object, error) {
	id, ok := idv.(string)
	if !ok {
		return nil, fmt.Errorf("%s: block document reference has block_document_id %s, which is %s; "+
			"it must be the block document's UUID as a string", where(path), Brief(idv), jsonv.TypeName(idv))
	}
	if doc, ok := p.byID[id]; ok {
		return doc, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	doc, err := p.r.BlockDocument(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%s: block document %s was not found: the work pool's base job template or "+
			"the deployment's job variables refer to a block that no longer exists (it may have been "+
			"deleted); create the block again or update the reference: %w", where(path), id, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: read block document %s: %w", where(path), id, err)
	}
	if doc == nil {
		doc = jsonv.NewObject()
	}
	p.byID[id] = doc
	return doc, nil
}

func (p *resolver) blockByName(ctx context.Context, slug, name string, path []string) (*jsonv.Object, error) {
	key := [2]string{slug, name}
	if doc, ok := p.byName[key]; ok {
		return doc, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	doc, err := p.r.BlockDocumentByName(ctx, slug, name)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%s: block %q of type %q was not found: the work pool's base job template or "+
			"the deployment's job variables refer to a block that no longer exists (it may have been "+
			"deleted); create it again (e.g. in the Prefect UI under Blocks) or fix the placeholder: %w",
			where(path), name, slug, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: read block %q of type %q: %w", where(path), name, slug, err)
	}
	if doc == nil {
		doc = jsonv.NewObject()
	}
	p.byName[key] = doc
	return doc, nil
}

// variables replaces Prefect variable placeholders in v, in place.
func (p *resolver) variables(ctx context.Context, v any, path []string) (any, error) {
	return walk(v, path, nil, func(s string, path []string) (any, error) {
		return p.variableString(ctx, s, path)
	})
}

func (p *resolver) variableString(ctx context.Context, s string, path []string) (any, error) {
	ms := findIn(s)
	hasVar := false
	for _, m := range ms {
		hasVar = hasVar || m.Kind == Variable
	}
	if !hasVar {
		return s, nil
	}
	if wholeString(s, ms) {
		res, err := p.variable(ctx, ms[0].Name, path)
		if err != nil {
			return nil, err
		}
		// A missing variable becomes "" rather than removing the key:
		// this pass runs after NotSet removal is over.
		if !res.found {
			return "", nil
		}
		return jsonv.Clone(res.value), nil
	}
	return replaceMatches(s, ms, func(m match) (string, bool, error) {
		if m.Kind != Variable {
			return "", false, nil
		}
		res, err := p.variable(ctx, m.Name, path)
		if err != nil {
			return "", false, err
		}
		if !res.found {
			return "", true, nil
		}
		return pycompat.Str(res.value), true, nil
	})
}

func (p *resolver) variable(ctx context.Context, placeholderName string, path []string) (variableResult, error) {
	name := strings.ReplaceAll(placeholderName, variablePrefix, "")
	if res, ok := p.vars[name]; ok {
		return res, nil
	}
	if err := ctx.Err(); err != nil {
		return variableResult{}, err
	}
	v, found, err := p.r.Variable(ctx, name)
	if err != nil {
		return variableResult{}, fmt.Errorf("%s: read Prefect variable %q: %w", where(path), name, err)
	}
	res := variableResult{value: jsonv.Normalize(v), found: found}
	if !found {
		res.value = nil
	}
	p.vars[name] = res
	return res, nil
}

// Unresolved describes what a render without a Resolver left for the
// Prefect API to fill: block document references ({"$ref": ...} objects)
// and block or variable placeholders, each with its location, e.g.
//
//	task_definition.executionRoleArn: {{ prefect.variables.role }} (Prefect variable "role")
//
// The offline dry run reports these instead of guessing their values.
func Unresolved(v any) []string {
	var out []string
	var walk func(v any, path []string)
	walk = func(v any, path []string) {
		switch t := v.(type) {
		case *jsonv.Object:
			if t == nil {
				return
			}
			if id, ok := blockRefID(t); ok {
				out = append(out, fmt.Sprintf("%s: block document reference (block_document_id %s)", pathString(path), Brief(id)))
				return
			}
			for _, k := range t.Keys() {
				e, _ := t.Get(k)
				walk(e, append(path, k))
			}
		case []any:
			for i, e := range t {
				walk(e, append(path, indexSeg(i)))
			}
		case string:
			seen := map[string]bool{}
			for _, m := range findIn(t) {
				if seen[m.Full] || (m.Kind != BlockDocument && m.Kind != Variable) {
					continue
				}
				seen[m.Full] = true
				out = append(out, pathString(path)+": "+m.Full+" ("+describe(m.Placeholder)+")")
			}
		}
	}
	walk(v, nil)
	return out
}

func describe(ph Placeholder) string {
	if ph.Kind == Variable {
		return fmt.Sprintf("Prefect variable %q", strings.ReplaceAll(ph.Name, variablePrefix, ""))
	}
	parts := strings.SplitN(strings.ReplaceAll(ph.Name, blockPrefix, ""), ".", 3)
	switch len(parts) {
	case 2:
		return fmt.Sprintf("block %q of type %q", parts[1], parts[0])
	case 3:
		return fmt.Sprintf("field %q of block %q of type %q", parts[2], parts[1], parts[0])
	}
	return "malformed block placeholder; expected prefect.blocks.<block-type-slug>.<block-document-name>"
}

// indexSeg marks a list index in a path; pathString prints it as [i].
func indexSeg(i int) string { return fmt.Sprintf("[%d]", i) }

// pathString prints a location in a job configuration, such as
// task_run_request.overrides.containerOverrides[0].command, quoting keys
// that are not plain identifiers (env["MY.VAR"]).
func pathString(path []string) string {
	if len(path) == 0 {
		return "(job configuration)"
	}
	var b strings.Builder
	for _, seg := range path {
		switch {
		case strings.HasPrefix(seg, "[") && strings.HasSuffix(seg, "]") && isIndexSeg(seg):
			b.WriteString(seg)
		case isPlainKey(seg):
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(seg)
		default:
			q, _ := jsonv.Marshal(seg)
			b.WriteByte('[')
			b.Write(q)
			b.WriteByte(']')
		}
	}
	return b.String()
}

func isIndexSeg(seg string) bool {
	inner := seg[1 : len(seg)-1]
	if inner == "" {
		return false
	}
	for _, c := range inner {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func isPlainKey(k string) bool {
	if k == "" {
		return false
	}
	for i, c := range k {
		letter := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !letter && (i == 0 || !(c == '-' || (c >= '0' && c <= '9'))) { //nolint:staticcheck // QF1001: a character set reads as the set
			return false
		}
	}
	return true
}

func where(path []string) string {
	return "job configuration field " + pathString(path)
}

// suggestField proposes a placeholder that picks one scalar field, using a
// real key of the resolved value when there is one.
func suggestField(name string, v any) string {
	if o, ok := v.(*jsonv.Object); ok {
		for _, k := range o.Keys() {
			e, _ := o.Get(k)
			switch e.(type) {
			case *jsonv.Object, []any:
				continue
			}
			if isPlainKey(k) {
				return "{{ " + name + "." + k + " }}"
			}
		}
	}
	if _, ok := v.([]any); ok {
		return "{{ " + name + "[0] }}"
	}
	return "{{ " + name + ".value }}"
}

func availableKeys(v any) string {
	o, ok := v.(*jsonv.Object)
	if !ok || o.Len() == 0 {
		return ""
	}
	keys := o.Keys()
	const max = 10
	list := strings.Join(keys[:min(len(keys), max)], ", ")
	if len(keys) > max {
		list += ", …"
	}
	return " (its top-level fields are: " + list + ")"
}

// Brief renders a value as short JSON for error messages, so that a huge
// object pasted into the wrong field does not flood the log.
func Brief(v any) string {
	b, err := jsonv.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	const max = 120
	if len(b) > max {
		// Cut on a rune boundary so the message stays valid UTF-8.
		cut := max
		for cut > 0 && b[cut]&0xC0 == 0x80 {
			cut--
		}
		return string(b[:cut]) + "…"
	}
	return string(b)
}
