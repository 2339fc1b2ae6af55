package launch

import (
	"fmt"
	"strings"

	"github.com/ecsworker/ecsworker/internal/awserr"
	"github.com/ecsworker/ecsworker/internal/ecsrequest"
	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// FillRegion puts region wherever ecsrequest.MarkRegion stands in v (a plan's
// task definition or RunTask request), in place: the plan is built before
// the worker knows which region its clients resolved. ecsjob writes the
// marker only as a whole value (the awslogs-region option) and templates
// cannot produce it, so whole values are all it replaces. An empty region
// leaves the marker, for checkResolved to report.
func FillRegion(v any, region string) {
	if region == "" {
		return
	}
	switch t := v.(type) {
	case *jsonv.Object:
		for _, k := range t.Keys() {
			e, _ := t.Get(k)
			if e == ecsrequest.MarkRegion {
				t.Set(k, region)
				continue
			}
			FillRegion(e, region)
		}
	case []any:
		for i, e := range t {
			if e == ecsrequest.MarkRegion {
				t[i] = region
				continue
			}
			FillRegion(e, region)
		}
	}
}

// checkResolved fails when a value only AWS or the flow run can supply is
// still a marker.
func checkResolved(op, where string, v any) error {
	var found []string
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch t := v.(type) {
		case string:
			if strings.Contains(t, "<unresolved") {
				found = append(found, path+" = "+t)
			}
		case *jsonv.Object:
			for _, k := range t.Keys() {
				val, _ := t.Get(k)
				walk(path+"."+k, val)
			}
		case []any:
			for i, e := range t {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		}
	}
	walk(where, v)
	if len(found) == 0 {
		return nil
	}
	return &awserr.LaunchError{Kind: awserr.KindPermanent, Op: op, AWSMessage: "values are still unresolved: " + strings.Join(found, "; "),
		Fix: "Build the plan with the flow run's context (work pool, deployment, region) before launching"}
}
