package infra

import (
	"embed"
	"fmt"

	"github.com/ecsworker/ecsworker/internal/jsonv"
)

//go:embed templates/*.json
var templateFS embed.FS

// Kind is a stack ecsworker deploys.
type Kind string

const (
	// KindService is the worker as an ECS service, with its events queue.
	KindService Kind = "service"
	// KindEvents is only the ECS task state change queue, for a worker
	// that runs elsewhere.
	KindEvents Kind = "events"
)

// Kinds lists every kind, in the order help texts show them.
var Kinds = []Kind{KindService, KindEvents}

// ParseKind accepts the names the CLI shows, and upstream's "events-only".
func ParseKind(s string) (Kind, error) {
	switch s {
	case "service":
		return KindService, nil
	case "events", "events-only":
		return KindEvents, nil
	}
	return "", fmt.Errorf("unknown template %q: use service or events", s)
}

// MaxTemplateBody is CloudFormation's limit for a template sent inline
// (TemplateBody); larger ones would have to go through S3.
const MaxTemplateBody = 51200

// Render returns the template of a kind with defaultImage as the default
// of its Image parameter (the service template's only default that
// depends on the build). The service template is the events template with
// the worker's parameters, conditions, resources and outputs added, so
// that the queue, its policy and the rule exist once, in one file. The
// worker role's policy comes from WorkerPolicy (package iampolicy).
func Render(kind Kind, defaultImage string) (*jsonv.Object, error) {
	events, err := load("events.json")
	if err != nil {
		return nil, err
	}
	switch kind {
	case KindEvents:
		return events, nil
	case KindService:
	default:
		return nil, fmt.Errorf("unknown template %q", kind)
	}
	worker, err := load("worker.json")
	if err != nil {
		return nil, err
	}
	out := jsonv.NewObject()
	for _, k := range []string{"AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Conditions", "Resources", "Outputs"} {
		switch k {
		case "AWSTemplateFormatVersion":
			v, _ := events.Get(k)
			out.Set(k, v)
		case "Description", "Metadata":
			v, _ := worker.Get(k)
			out.Set(k, v)
		default:
			merged := jsonv.NewObject()
			for _, part := range []*jsonv.Object{events.GetObject(k), worker.GetObject(k)} {
				if part == nil {
					continue
				}
				for _, name := range part.Keys() {
					if merged.Has(name) {
						return nil, fmt.Errorf("templates: %s %q is defined by both the events and the worker template", k, name)
					}
					v, _ := part.Get(name)
					merged.Set(name, jsonv.Clone(v))
				}
			}
			out.Set(k, merged)
		}
	}
	if img := out.GetObject("Parameters").GetObject("Image"); img != nil {
		img.Set("Default", defaultImage)
	}
	if err := fillWorkerPolicy(out); err != nil {
		return nil, err
	}
	return out, nil
}

// Body is the template as sent to CloudFormation: compact, to stay well
// under MaxTemplateBody.
func Body(kind Kind, defaultImage string) (string, error) {
	t, err := Render(kind, defaultImage)
	if err != nil {
		return "", err
	}
	b, err := jsonv.Marshal(t)
	if err != nil {
		return "", err
	}
	if len(b) > MaxTemplateBody {
		return "", fmt.Errorf("the %s template is %d bytes, over CloudFormation's inline limit of %d", kind, len(b), MaxTemplateBody)
	}
	return string(b), nil
}

// Pretty is the template as export-template writes it.
func Pretty(kind Kind, defaultImage string) ([]byte, error) {
	t, err := Render(kind, defaultImage)
	if err != nil {
		return nil, err
	}
	return jsonv.MarshalIndent(t)
}

func load(name string) (*jsonv.Object, error) {
	b, err := templateFS.ReadFile("templates/" + name)
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	o, err := jsonv.DecodeObject(b)
	if err != nil {
		return nil, fmt.Errorf("templates/%s: %w", name, err)
	}
	return o, nil
}
