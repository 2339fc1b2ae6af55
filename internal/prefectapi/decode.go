package prefectapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/prefecterr"
)

// WithRaw is implemented by response types that keep the whole response
// object next to their typed fields.
type WithRaw[T any] interface {
	*T
	SetRaw(*jsonv.Object)
}

// DecodeOne decodes an object twice: into the typed struct for
// convenience, and as an ordered jsonv object for whoever needs the JSON
// exactly as the server wrote it (templates and job variables are rendered
// with Python's key order and number literals).
func DecodeOne[T any, PT WithRaw[T]](c *Transport, cl Call, resp *Response) (*T, error) {
	var v T
	if err := c.DecodeJSON(cl, resp, &v); err != nil {
		return nil, err
	}
	raw, err := jsonv.DecodeObject(resp.Body)
	if err != nil {
		return nil, c.InvalidResponse(cl, resp, err)
	}
	PT(&v).SetRaw(raw)
	return &v, nil
}

// DecodeList is DecodeOne for a list of objects.
func DecodeList[T any, PT WithRaw[T]](c *Transport, cl Call, resp *Response) ([]T, error) {
	var vs []T
	if err := c.DecodeJSON(cl, resp, &vs); err != nil {
		return nil, err
	}
	raw, err := jsonv.Decode(resp.Body)
	if err != nil {
		return nil, c.InvalidResponse(cl, resp, err)
	}
	if raw == nil {
		return nil, nil
	}
	arr, ok := raw.([]any)
	if !ok || len(arr) != len(vs) {
		return nil, c.InvalidResponse(cl, resp, errors.New("expected a JSON list"))
	}
	for i := range vs {
		o, _ := arr[i].(*jsonv.Object)
		PT(&vs[i]).SetRaw(o)
	}
	return vs, nil
}

// FilterAll lists what a POST filter endpoint (path) returns, page by
// page as Paginate does; body is the request body of one page, which
// carries its limit and offset.
func FilterAll[T any, PT WithRaw[T]](ctx context.Context, c *Transport, op, path string, limit, offset int, body func(limit, offset int) any) ([]T, error) {
	return Paginate(ctx, limit, offset, func(ctx context.Context, limit, offset int) ([]T, error) {
		cl := Call{Op: op, Method: http.MethodPost, Path: path, Body: body(limit, offset)}
		resp, err := c.Do(ctx, cl)
		if err != nil {
			return nil, err
		}
		return DecodeList[T, PT](c, cl, resp)
	})
}

// Esc escapes one path segment. Pool, queue and block names may hold
// spaces and other characters that must not split the path.
func Esc(s string) string { return url.PathEscape(s) }

// AnyOf is the {"any_": [...]} shape of Prefect's filters.
type AnyOf struct {
	Any []string `json:"any_"`
}

// AnyOfOrNil is the filter matching any of v, or nil (no filter) when v
// is empty.
func AnyOfOrNil(v []string) *AnyOf {
	if len(v) == 0 {
		return nil
	}
	return &AnyOf{Any: v}
}

// WorkPoolCriteria is Prefect's work_pools filter, which flow runs and
// deployments are filtered by too.
type WorkPoolCriteria struct {
	ID   *AnyOf `json:"id,omitempty"`
	Name *AnyOf `json:"name,omitempty"`
	Type *AnyOf `json:"type,omitempty"`
}

// MaxPageSize is Prefect's PREFECT_SERVER_API_DEFAULT_LIMIT, the largest
// limit a server accepts on filter endpoints.
const MaxPageSize = 200

// maxPages stops paging through a server that ignores offset and would
// return the same page forever.
const maxPages = 1000

// Paginate fetches up to limit items (all of them when limit is 0) in
// pages no larger than the server accepts.
func Paginate[T any](ctx context.Context, limit, offset int, page func(ctx context.Context, limit, offset int) ([]T, error)) ([]T, error) {
	var all []T
	err := EachPage(ctx, limit, offset, page, func(items []T) error {
		all = append(all, items...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return all, nil
}

// EachPage is Paginate handing each page to fn as it arrives, so that a
// long listing is never held whole; an error of fn ends it.
func EachPage[T any](ctx context.Context, limit, offset int, page func(ctx context.Context, limit, offset int) ([]T, error), fn func([]T) error) error {
	seen := 0
	for range maxPages {
		size := MaxPageSize
		if limit > 0 {
			size = min(size, limit-seen)
		}
		items, err := page(ctx, size, offset)
		if err != nil {
			return err
		}
		seen += len(items)
		if err := fn(items); err != nil {
			return err
		}
		if len(items) < size || (limit > 0 && seen >= limit) {
			return nil
		}
		offset += len(items)
	}
	return fmt.Errorf("more than %d pages of results: the server seems to ignore offset: %w", maxPages, prefecterr.ErrInvalidResponse)
}
