package prefectdeploy

import (
	"context"
	"errors"

	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/prefecterr"
	"github.com/ecsworker/ecsworker/internal/templating"
)

// TemplateResolver reads the block documents and variables that base job
// templates and job variables refer to.
func (c Deployments) TemplateResolver() templating.Resolver { return templateResolver{c} }

type templateResolver struct{ c Deployments }

var _ templating.Resolver = templateResolver{}

func (r templateResolver) BlockDocument(ctx context.Context, id string) (*jsonv.Object, error) {
	doc, err := r.c.ReadBlockDocument(ctx, id)
	if err != nil {
		return nil, notFound(err)
	}
	return doc.Data, nil
}

func (r templateResolver) BlockDocumentByName(ctx context.Context, typeSlug, name string) (*jsonv.Object, error) {
	doc, err := r.c.ReadBlockDocumentByName(ctx, typeSlug, name)
	if err != nil {
		return nil, notFound(err)
	}
	return doc.Data, nil
}

func (r templateResolver) Variable(ctx context.Context, name string) (any, bool, error) {
	v, found, err := r.c.ReadVariable(ctx, name)
	if err != nil || !found {
		return nil, false, err
	}
	return v.Value, true, nil
}

// notFound makes a 404 also match templating.ErrNotFound, which is how
// the renderer tells a stale block reference from an API failure.
func notFound(err error) error {
	if errors.Is(err, prefecterr.ErrNotFound) {
		return &resolverNotFound{err}
	}
	return err
}

type resolverNotFound struct{ err error }

func (e *resolverNotFound) Error() string   { return e.err.Error() }
func (e *resolverNotFound) Unwrap() []error { return []error{e.err, templating.ErrNotFound} }
