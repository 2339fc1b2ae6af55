package prefect

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/ecsworker/ecsworker/internal/jsonv"
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
	Data    *jsonv.Object `json:"data"`
	Created Time          `json:"created"`
	Updated Time          `json:"updated"`
	Raw     *jsonv.Object `json:"-"`
}

func (b *BlockDocument) setRaw(o *jsonv.Object) { b.Raw = o }

var includeSecrets = url.Values{"include_secrets": {"true"}}

// ReadBlockDocument reads a block document by id, secrets included.
func (c *Client) ReadBlockDocument(ctx context.Context, id string) (*BlockDocument, error) {
	cl := call{op: "read block document " + id, method: http.MethodGet, path: "/block_documents/" + esc(id), query: includeSecrets}
	resp, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return decodeOne[BlockDocument](c, cl, resp)
}

// ReadBlockDocumentByName reads the block document of a block type (by
// slug, e.g. aws-credentials) and name, secrets included.
func (c *Client) ReadBlockDocumentByName(ctx context.Context, typeSlug, name string) (*BlockDocument, error) {
	cl := call{op: fmt.Sprintf("read block %q of type %q", name, typeSlug), method: http.MethodGet,
		path:  "/block_types/slug/" + esc(typeSlug) + "/block_documents/name/" + esc(name),
		query: includeSecrets}
	resp, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return decodeOne[BlockDocument](c, cl, resp)
}

// Variable is a Prefect variable.
type Variable struct {
	ID   string   `json:"id"`
	Name string   `json:"name"`
	Tags []string `json:"tags"`
	// Value is any JSON value, as a jsonv value (nil, bool, json.Number,
	// string, []any or *jsonv.Object).
	Value   any           `json:"-"`
	Created Time          `json:"created"`
	Updated Time          `json:"updated"`
	Raw     *jsonv.Object `json:"-"`
}

func (v *Variable) setRaw(o *jsonv.Object) {
	v.Raw = o
	v.Value, _ = o.Get("value")
}

// ReadVariable reads a variable by name. A variable that does not exist is
// not an error: found is false, as Prefect renders it as "".
func (c *Client) ReadVariable(ctx context.Context, name string) (v *Variable, found bool, err error) {
	cl := call{op: fmt.Sprintf("read variable %q", name), method: http.MethodGet, path: "/variables/name/" + esc(name)}
	resp, err := c.do(ctx, cl)
	if errors.Is(err, ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	v, err = decodeOne[Variable](c, cl, resp)
	if err != nil {
		return nil, false, err
	}
	return v, true, nil
}
