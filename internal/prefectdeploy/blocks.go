package prefectdeploy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/prefectapi"
	"github.com/ecsworker/ecsworker/internal/prefecterr"
)

// BlockDocument is a block document read with its secrets.
type BlockDocument struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	BlockTypeID   string `json:"block_type_id"`
	BlockTypeName string `json:"block_type_name"`
	BlockSchemaID string `json:"block_schema_id"`
	IsAnonymous   bool   `json:"is_anonymous"`
	// Data holds the block's fields, secrets in clear text.
	Data    *jsonv.Object   `json:"data"`
	Created prefectapi.Time `json:"created"`
	Updated prefectapi.Time `json:"updated"`
	Raw     *jsonv.Object   `json:"-"`
}

// SetRaw keeps the response object as the server wrote it.
func (b *BlockDocument) SetRaw(o *jsonv.Object) { b.Raw = o }

var includeSecrets = url.Values{"include_secrets": {"true"}}

// ReadBlockDocument reads a block document by id, secrets included.
func (c Deployments) ReadBlockDocument(ctx context.Context, id string) (*BlockDocument, error) {
	cl := prefectapi.Call{Op: "read block document " + id, Method: http.MethodGet, Path: "/block_documents/" + prefectapi.Esc(id), Query: includeSecrets}
	resp, err := c.t.Do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return prefectapi.DecodeOne[BlockDocument](c.t, cl, resp)
}

// ReadBlockDocumentByName reads the block document of a block type (by
// slug, e.g. aws-credentials) and name, secrets included.
func (c Deployments) ReadBlockDocumentByName(ctx context.Context, typeSlug, name string) (*BlockDocument, error) {
	cl := prefectapi.Call{Op: fmt.Sprintf("read block %q of type %q", name, typeSlug), Method: http.MethodGet,
		Path:  "/block_types/slug/" + prefectapi.Esc(typeSlug) + "/block_documents/name/" + prefectapi.Esc(name),
		Query: includeSecrets}
	resp, err := c.t.Do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return prefectapi.DecodeOne[BlockDocument](c.t, cl, resp)
}

// Variable is a Prefect variable.
type Variable struct {
	ID   string   `json:"id"`
	Name string   `json:"name"`
	Tags []string `json:"tags"`
	// Value is any JSON value, as a jsonv value (nil, bool, json.Number,
	// string, []any or *jsonv.Object).
	Value   any             `json:"-"`
	Created prefectapi.Time `json:"created"`
	Updated prefectapi.Time `json:"updated"`
	Raw     *jsonv.Object   `json:"-"`
}

// SetRaw keeps the response object as the server wrote it.
func (v *Variable) SetRaw(o *jsonv.Object) {
	v.Raw = o
	v.Value, _ = o.Get("value")
}

// ReadVariable reads a variable by name. A variable that does not exist is
// not an error: found is false, as Prefect renders it as "".
func (c Deployments) ReadVariable(ctx context.Context, name string) (v *Variable, found bool, err error) {
	cl := prefectapi.Call{Op: fmt.Sprintf("read variable %q", name), Method: http.MethodGet, Path: "/variables/name/" + prefectapi.Esc(name)}
	resp, err := c.t.Do(ctx, cl)
	if errors.Is(err, prefecterr.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	v, err = prefectapi.DecodeOne[Variable](c.t, cl, resp)
	if err != nil {
		return nil, false, err
	}
	return v, true, nil
}
