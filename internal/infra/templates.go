// Package infra is what the infra commands deploy the ecsworker worker
// on AWS with: the embedded CloudFormation templates (the worker as an
// ECS service, or only its ECS task state change queue) and the worker
// role's policy in them, the stack parameters and their validation, the
// pre-deploy checks (credentials, cluster, network), and the work pool
// defaults taken from a stack's outputs. Deploying, following and
// deleting the stacks is internal/cfnstack's.
//
// AWS is reached only through the narrow interfaces of aws.go, which the
// aws-sdk-go-v2 clients satisfy and tests point at internal/fakes/awsfake.
package infra

import (
	"embed"
	"fmt"

	"github.com/ecsworker/ecsworker/internal/cfnstack"
	"github.com/ecsworker/ecsworker/internal/jsonv"
)

//go:embed templates/*.json
var templateFS embed.FS

// MaxTemplateBody is CloudFormation's limit for a template sent inline
// (TemplateBody); larger ones would have to go through S3.
const MaxTemplateBody = 51200

// Render returns the template of a kind with defaultImage as the default
// of its Image parameter (the service template's only default that
// depends on the build). The service template is the events template with
// the worker's parameters, conditions, resources and outputs added, so
// that the queue, its policy and the rule exist once, in one file. The
// worker role's policy comes from WorkerPolicy (package iampolicy).
func Render(kind cfnstack.Kind, defaultImage string) (*jsonv.Object, error) {
	if kind == cfnstack.KindCapacity {
		return RenderCapacity(nil)
	}
	events, err := load("events.json")
	if err != nil {
		return nil, err
	}
	switch kind {
	case cfnstack.KindEvents:
		return events, nil
	case cfnstack.KindService:
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
	if err := fillDashboard(out); err != nil {
		return nil, err
	}
	return out, nil
}

// dashboardPlaceholder is the DashboardBody of WorkerDashboard in
// worker.json; Render replaces it with templates/dashboard.json, compact,
// as the Fn::Sub string CloudFormation expects (a readable file rather
// than JSON escaped inside a string).
const dashboardPlaceholder = "ecsworker:generated:dashboard"

func fillDashboard(tmpl *jsonv.Object) error {
	props := tmpl.GetObject("Resources").GetObject("WorkerDashboard").GetObject("Properties")
	if props.GetString("DashboardBody") != dashboardPlaceholder {
		return fmt.Errorf("templates: WorkerDashboard's DashboardBody must be %q, which Render replaces with templates/dashboard.json", dashboardPlaceholder)
	}
	body, err := load("dashboard.json")
	if err != nil {
		return err
	}
	b, err := jsonv.Marshal(body)
	if err != nil {
		return fmt.Errorf("templates/dashboard.json: %w", err)
	}
	clusterName := jsonv.ObjectOf("Fn::Select", []any{1, jsonv.ObjectOf("Fn::Split", []any{"/", jsonv.ObjectOf("Ref", "ClusterArn")})})
	props.Set("DashboardBody", jsonv.ObjectOf("Fn::Sub", []any{string(b), jsonv.ObjectOf("ClusterName", clusterName)}))
	return nil
}

// Body is the template as sent to CloudFormation: compact, to stay well
// under MaxTemplateBody.
func Body(kind cfnstack.Kind, defaultImage string) (string, error) {
	t, err := Render(kind, defaultImage)
	if err != nil {
		return "", err
	}
	return compact(kind, t)
}

func compact(kind cfnstack.Kind, t *jsonv.Object) (string, error) {
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
func Pretty(kind cfnstack.Kind, defaultImage string) ([]byte, error) {
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
