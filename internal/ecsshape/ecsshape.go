// Package ecsshape checks ECS API requests written as JSON against the
// request shapes of aws-sdk-go-v2 and converts them to SDK input structs.
//
// Work-pool templates let users write parts of RegisterTaskDefinition and
// RunTask requests by hand. A mistake there (a misspelt key, "512" for 512,
// "SPREAD" for "spread") would otherwise surface as an opaque AWS error after
// a flow run has already been scheduled, or not at all when the SDK quietly
// drops a field. Checking against the SDK's own Go types keeps us in step
// with the real API without maintaining a schema of our own, and the tests'
// WireBody compares our JSON with what the SDK would actually send.
package ecsshape

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// Problem is one mismatch between a JSON request and the API's shape.
type Problem struct {
	// Path locates the value in the request, e.g.
	// containerDefinitions[0].portMappings[1].hostPort; map keys that are
	// not plain identifiers are written as options["awslogs-group"].
	Path string
	// Message names the bad value and how to fix it.
	Message string
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// operation ties an operation name to its SDK input type and client method,
// so Check and WireBody accept the same names and cannot drift apart.
type operation struct {
	inputType reflect.Type
	newInput  func() any
	call      func(ctx context.Context, c *ecs.Client, input any, optFns ...func(*ecs.Options)) error
}

func newOperation[In, Out any](method func(*ecs.Client, context.Context, *In, ...func(*ecs.Options)) (Out, error)) operation {
	return operation{
		inputType: reflect.TypeFor[*In](),
		newInput:  func() any { return new(In) },
		call: func(ctx context.Context, c *ecs.Client, input any, optFns ...func(*ecs.Options)) error {
			_, err := method(c, ctx, input.(*In), optFns...)
			return err
		},
	}
}

// operations are the ECS calls the worker makes.
var operations = map[string]operation{
	"RegisterTaskDefinition": newOperation((*ecs.Client).RegisterTaskDefinition),
	"RunTask":                newOperation((*ecs.Client).RunTask),
	"DescribeTasks":          newOperation((*ecs.Client).DescribeTasks),
	"StopTask":               newOperation((*ecs.Client).StopTask),
	"DescribeTaskDefinition": newOperation((*ecs.Client).DescribeTaskDefinition),
}

func lookupOperation(name string) (operation, error) {
	o, ok := operations[name]
	if !ok {
		names := make([]string, 0, len(operations))
		for n := range operations {
			names = append(names, n)
		}
		sort.Strings(names)
		return operation{}, fmt.Errorf("ecsshape: unknown operation %q; use one of: %s", name, strings.Join(names, ", "))
	}
	return o, nil
}

// Check decodes v as the request of operation op (RegisterTaskDefinition,
// RunTask, DescribeTasks, StopTask or DescribeTaskDefinition) and returns the
// problems found. It does not report missing required members, because
// templates are often completed later (RunTask's taskDefinition is filled in
// by the worker); the SDK's own validation does that on the final input,
// as the tests' WireBody shows.
func Check(v *jsonv.Object, op string) []Problem {
	o, err := lookupOperation(op)
	if err != nil {
		return []Problem{{Message: err.Error()}}
	}
	return Decode(v, o.newInput())
}
