package ecsjob

import (
	_ "embed"
	"fmt"

	"github.com/ecsworker/ecsworker/internal/jobtemplate"
)

// defaultTemplate is the base job template that ecsworker gives the ecs
// work pools it creates. It has every variable of the Python worker (same
// names, types and defaults, so existing deployments keep working) plus
// first-class variables for what users had to edit templates for.
//
//go:embed default_template.json
var defaultTemplate []byte

// DefaultTemplateJSON returns the default base job template as JSON.
func DefaultTemplateJSON() []byte {
	out := make([]byte, len(defaultTemplate))
	copy(out, defaultTemplate)
	return out
}

// DefaultTemplate returns the default base job template, parsed.
func DefaultTemplate() *jobtemplate.Template {
	t, err := jobtemplate.Parse(defaultTemplate)
	if err != nil {
		// The file is embedded and covered by tests; a failure here is a build defect.
		panic(fmt.Sprintf("embedded default template is invalid: %v", err))
	}
	return t
}
