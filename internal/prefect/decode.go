package prefect

import (
	"errors"
	"net/url"

	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// withRaw is implemented by response types that keep the whole response
// object next to their typed fields.
type withRaw[T any] interface {
	*T
	setRaw(*jsonv.Object)
}

// decodeOne decodes an object twice: into the typed struct for
// convenience, and as an ordered jsonv object for whoever needs the JSON
// exactly as the server wrote it (templates and job variables are rendered
// with Python's key order and number literals).
func decodeOne[T any, PT withRaw[T]](c *Client, cl call, resp *response) (*T, error) {
	var v T
	if err := c.decodeJSON(cl, resp, &v); err != nil {
		return nil, err
	}
	raw, err := jsonv.DecodeObject(resp.body)
	if err != nil {
		return nil, c.invalidResponse(cl, resp, err)
	}
	PT(&v).setRaw(raw)
	return &v, nil
}

func decodeList[T any, PT withRaw[T]](c *Client, cl call, resp *response) ([]T, error) {
	var vs []T
	if err := c.decodeJSON(cl, resp, &vs); err != nil {
		return nil, err
	}
	raw, err := jsonv.Decode(resp.body)
	if err != nil {
		return nil, c.invalidResponse(cl, resp, err)
	}
	if raw == nil {
		return nil, nil
	}
	arr, ok := raw.([]any)
	if !ok || len(arr) != len(vs) {
		return nil, c.invalidResponse(cl, resp, errors.New("expected a JSON list"))
	}
	for i := range vs {
		o, _ := arr[i].(*jsonv.Object)
		PT(&vs[i]).setRaw(o)
	}
	return vs, nil
}

// esc escapes one path segment. Pool, queue and block names may hold
// spaces and other characters that must not split the path.
func esc(s string) string { return url.PathEscape(s) }

// anyOf is the {"any_": [...]} shape of Prefect's filters.
type anyOf struct {
	Any []string `json:"any_"`
}

func anyOfOrNil(v []string) *anyOf {
	if len(v) == 0 {
		return nil
	}
	return &anyOf{Any: v}
}

// maxPageSize is Prefect's PREFECT_SERVER_API_DEFAULT_LIMIT, the largest
// limit a server accepts on filter endpoints.
const maxPageSize = 200

// maxPages stops paging through a server that ignores offset and would
// return the same page forever.
const maxPages = 1000
