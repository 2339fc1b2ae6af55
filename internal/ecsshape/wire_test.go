package ecsshape_test

import (
	"context"
	"errors"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/ecsworker/ecsworker/internal/ecsshape"
	"github.com/ecsworker/ecsworker/internal/jsonv"
)

func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToLower(r)) + s[n:]
}

// fill sets every exported field reachable from v to a value the SDK will
// serialize: non-zero scalars (zero non-pointer scalars are omitted on the
// wire), the first known value of each enum, one element per list, one key
// per map and the first member of each union.
func fill(t *testing.T, v reflect.Value, path string, depth int) {
	t.Helper()
	if depth > 12 {
		t.Fatalf("%s: types nest deeper than expected; raise the bound", path)
	}
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem(), path, depth+1)
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() {
				fill(t, v.Field(i), path+"."+f.Name, depth+1)
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(t, v.Index(0), path+"[0]", depth+1)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		e := reflect.New(v.Type().Elem()).Elem()
		fill(t, e, path+"[k]", depth+1)
		m.SetMapIndex(reflect.ValueOf("k").Convert(v.Type().Key()), e)
		v.Set(m)
	case reflect.Interface:
		members := ecsshape.UnionMembers(v.Type())
		if len(members) == 0 {
			t.Fatalf("%s: union %s is missing from ecsshape's unionMembers table", path, v.Type())
		}
		m := reflect.New(members[0])
		fill(t, m.Elem().Field(0), path+"."+members[0].Name(), depth+1)
		v.Set(m)
	case reflect.String:
		if values := v.MethodByName("Values"); values.IsValid() {
			v.Set(values.Call(nil)[0].Index(0))
			return
		}
		v.SetString("v")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int32, reflect.Int64, reflect.Int:
		v.SetInt(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.5)
	default:
		t.Fatalf("%s: fill does not handle %s", path, v.Type())
	}
}

// compareKeys walks the serialized JSON and the Go value together and
// records, for every struct field, the key the serializer used.
func compareKeys(t *testing.T, jv any, v reflect.Value, path string, exceptions map[string]string) {
	t.Helper()
	switch v.Kind() {
	case reflect.Pointer:
		compareKeys(t, jv, v.Elem(), path, exceptions)
	case reflect.Struct:
		obj, ok := jv.(*jsonv.Object)
		if !ok {
			t.Errorf("%s: serialized as %s, want an object", path, jsonv.TypeName(jv))
			return
		}
		seen := map[string]bool{}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			key := lowerFirst(f.Name)
			if !obj.Has(key) {
				key = ecsshape.WireNameExceptions[f.Name]
				if !obj.Has(key) {
					t.Errorf("%s.%s: not serialized as %q; keys are %v", path, f.Name, lowerFirst(f.Name), obj.Keys())
					continue
				}
				exceptions[f.Name] = key
			}
			seen[key] = true
			val, _ := obj.Get(key)
			compareKeys(t, val, v.Field(i), path+"."+key, exceptions)
		}
		for _, k := range obj.Keys() {
			if !seen[k] {
				t.Errorf("%s: serialized key %q matches no Go field of %s", path, k, v.Type())
			}
		}
	case reflect.Slice:
		arr, ok := jv.([]any)
		if !ok || len(arr) != v.Len() {
			t.Errorf("%s: serialized as %s, want a list of %d", path, jsonv.TypeName(jv), v.Len())
			return
		}
		for i := range arr {
			compareKeys(t, arr[i], v.Index(i), path+"[0]", exceptions)
		}
	case reflect.Map:
		obj, ok := jv.(*jsonv.Object)
		if !ok || obj.Len() != v.Len() {
			t.Errorf("%s: serialized as %v, want an object of %d keys", path, jv, v.Len())
			return
		}
		for _, k := range v.MapKeys() {
			val, _ := obj.Get(k.String())
			compareKeys(t, val, v.MapIndex(k), path+"."+k.String(), exceptions)
		}
	case reflect.Interface:
		member := v.Elem().Elem()
		want := ecsshape.UnionMemberName(v.Type(), member.Type())
		obj, ok := jv.(*jsonv.Object)
		if !ok || obj.Len() != 1 || !obj.Has(want) {
			t.Errorf("%s: union serialized as %v, want a single key %q", path, jv, want)
			return
		}
		val, _ := obj.Get(want)
		compareKeys(t, val, member.Field(0), path+"."+want, exceptions)
	}
}

var allInputs = map[string]struct {
	newInput func() any
}{
	"RunTask":                {func() any { return &ecs.RunTaskInput{} }},
	"RegisterTaskDefinition": {func() any { return &ecs.RegisterTaskDefinitionInput{} }},
	"DescribeTasks":          {func() any { return &ecs.DescribeTasksInput{} }},
	"StopTask":               {func() any { return &ecs.StopTaskInput{} }},
	"DescribeTaskDefinition": {func() any { return &ecs.DescribeTaskDefinitionInput{} }},
}

// TestWireNames proves that Decode's field names are the serializer's: it
// serializes inputs with every field set and checks each JSON key against
// lowerFirst(GoFieldName), collecting the exceptions, which must be exactly
// the package's exception table. Decoding the body back must then give the
// same input.
func TestWireNames(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	found := map[string]string{}
	t.Run("ops", func(t *testing.T) {
		for op, tc := range allInputs {
			t.Run(op, func(t *testing.T) {
				t.Parallel()
				in := tc.newInput()
				fill(t, reflect.ValueOf(in).Elem(), op, 0)
				body, err := ecsshape.WireBody(context.Background(), op, in)
				if err != nil {
					t.Fatal(err)
				}
				jv, err := jsonv.DecodeObject(body)
				if err != nil {
					t.Fatalf("SDK body is not a JSON object: %v\n%s", err, body)
				}
				exceptions := map[string]string{}
				compareKeys(t, jv, reflect.ValueOf(in), op, exceptions)
				mu.Lock()
				for k, v := range exceptions {
					found[k] = v
				}
				mu.Unlock()

				back := tc.newInput()
				if probs := ecsshape.Decode(jv, back); len(probs) > 0 {
					t.Fatalf("Decode of the SDK's own body: %v", probs)
				}
				if !reflect.DeepEqual(in, back) {
					t.Errorf("Decode(WireBody(x)) != x\nbody: %s", body)
				}
			})
		}
	})
	if t.Failed() {
		return
	}
	var names []string
	for k, v := range found {
		names = append(names, k+"="+v)
	}
	sort.Strings(names)
	if len(names) == 0 {
		names = []string{"none"}
	}
	t.Logf("wire names that are not lowerFirst(GoFieldName): %s", strings.Join(names, ", "))
	if !reflect.DeepEqual(found, ecsshape.WireNameExceptions) {
		t.Errorf("exception table is out of date:\n got %v\nwant %v", ecsshape.WireNameExceptions, found)
	}
}

// TestRoundTrip checks Decode against the real serializer: a request that
// Decode accepts must reach the wire exactly as written.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		op   string
		json string
	}{
		"RunTask":                {"RunTask", runTaskJSON},
		"RegisterTaskDefinition": {"RegisterTaskDefinition", registerTaskDefinitionJSON},
		"RunTask with launchType and EC2 placement": {"RunTask", `{
		  "cluster": "ec2-cluster",
		  "taskDefinition": "prefect:7",
		  "launchType": "EC2",
		  "placementConstraints": [{"type": "distinctInstance"}],
		  "placementStrategy": [{"type": "random"}],
		  "overrides": {"containerOverrides": [{"name": "prefect", "environmentFiles": [{"type": "s3", "value": "arn:aws:s3:::bucket/env"}]}]},
		  "enableECSManagedTags": true,
		  "referenceId": "0c9e7ca2"
		}`},
		"RegisterTaskDefinition for EC2 with volumes": {"RegisterTaskDefinition", `{
		  "family": "prefect-ec2",
		  "networkMode": "bridge",
		  "requiresCompatibilities": ["EC2"],
		  "containerDefinitions": [{
		    "name": "prefect",
		    "image": "prefecthq/prefect:3-latest",
		    "memory": 512,
		    "cpu": 256,
		    "mountPoints": [{"sourceVolume": "efs", "containerPath": "/data", "readOnly": false}],
		    "ulimits": [{"name": "nofile", "softLimit": 65536, "hardLimit": 65536}],
		    "dockerLabels": {"prefect.io/worker": "ecs"},
		    "linuxParameters": {"initProcessEnabled": true, "capabilities": {"add": ["SYS_PTRACE"]}}
		  }],
		  "volumes": [{"name": "efs", "efsVolumeConfiguration": {"fileSystemId": "fs-0123", "transitEncryption": "ENABLED", "authorizationConfig": {"iam": "ENABLED"}}}],
		  "placementConstraints": [{"type": "memberOf", "expression": "attribute:ecs.os-type == linux"}]
		}`},
		"StopTask":      {"StopTask", `{"cluster": "prefect-cluster", "task": "arn:aws:ecs:us-east-1:123456789012:task/prefect-cluster/abc", "reason": "Cancelled by Prefect"}`},
		"DescribeTasks": {"DescribeTasks", `{"cluster": "prefect-cluster", "tasks": ["abc", "def"], "include": ["TAGS"]}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			want := mustObject(t, tc.json)
			in := newInput(t, tc.op)
			if p := ecsshape.Decode(want, in); len(p) > 0 {
				t.Fatalf("Decode: %q", p)
			}
			body, err := ecsshape.WireBody(context.Background(), tc.op, in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := jsonv.Decode(body)
			if err != nil {
				t.Fatalf("SDK body is not JSON: %v\n%s", err, body)
			}
			if !jsonv.Equal(got, want) {
				g, _ := jsonv.MarshalIndent(got)
				w, _ := jsonv.MarshalIndent(want)
				t.Errorf("wire body differs from the request\n got %s\nwant %s", g, w)
			}
		})
	}
}

// TestRoundTripDropsZeroValues pins down the one place the SDK is lossy:
// members that are plain Go values rather than pointers are left out when
// zero. ECS treats each of them as unset, so nothing changes in behaviour,
// but a byte-for-byte comparison with our JSON must allow for it.
func TestRoundTripDropsZeroValues(t *testing.T) {
	t.Parallel()
	in := &ecs.RunTaskInput{}
	req := mustObject(t, `{"taskDefinition": "prefect", "enableExecuteCommand": false, "capacityProviderStrategy": [{"capacityProvider": "FARGATE", "base": 0, "weight": 0}]}`)
	if p := ecsshape.Decode(req, in); len(p) > 0 {
		t.Fatalf("Decode: %q", p)
	}
	body, err := ecsshape.WireBody(context.Background(), "RunTask", in)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"capacityProviderStrategy":[{"capacityProvider":"FARGATE"}],"taskDefinition":"prefect"}`
	if string(body) != want {
		t.Errorf("body = %s, want %s", body, want)
	}
}

func TestWireBodyErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		op       string
		input    any
		want     string
		problems []ecsshape.Problem
	}{
		"RunTask without taskDefinition": {
			op:       "RunTask",
			input:    &ecs.RunTaskInput{Cluster: aws.String("c")},
			want:     "ecsshape: the SDK rejects this RunTask request: taskDefinition: missing required field",
			problems: []ecsshape.Problem{{Path: "taskDefinition", Message: "missing required field"}},
		},
		"nested required members": {
			op: "RegisterTaskDefinition",
			input: &ecs.RegisterTaskDefinitionInput{
				ContainerDefinitions: []types.ContainerDefinition{{
					Name:    aws.String("prefect"),
					Secrets: []types.Secret{{Name: aws.String("PREFECT_API_KEY")}},
					ResourceRequirements: []types.ResourceRequirement{{
						Type:            types.ResourceTypeGpu,
						SharingStrategy: &types.SharingStrategyMemberNvidiaMps{},
					}},
				}},
			},
			want: "ecsshape: the SDK rejects this RegisterTaskDefinition request:\n" +
				"- family: missing required field\n" +
				"- containerDefinitions[0].secrets[0].valueFrom: missing required field\n" +
				"- containerDefinitions[0].resourceRequirements[0].sharingStrategy.nvidiaMps.memory: missing required field",
			problems: []ecsshape.Problem{
				{Path: "family", Message: "missing required field"},
				{Path: "containerDefinitions[0].secrets[0].valueFrom", Message: "missing required field"},
				{Path: "containerDefinitions[0].resourceRequirements[0].sharingStrategy.nvidiaMps.memory", Message: "missing required field"},
			},
		},
		"input of another operation": {
			op:    "RunTask",
			input: &ecs.StopTaskInput{},
			want:  "ecsshape: RunTask needs a non-nil *ecs.RunTaskInput, got *ecs.StopTaskInput",
		},
		"nil input": {
			op:    "StopTask",
			input: (*ecs.StopTaskInput)(nil),
			want:  "ecsshape: StopTask needs a non-nil *ecs.StopTaskInput, got *ecs.StopTaskInput",
		},
		"unknown operation": {
			op:    "CreateService",
			input: &ecs.CreateServiceInput{},
			want:  `ecsshape: unknown operation "CreateService"; use one of: DescribeTaskDefinition, DescribeTasks, RegisterTaskDefinition, RunTask, StopTask`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body, err := ecsshape.WireBody(context.Background(), tc.op, tc.input)
			if err == nil {
				t.Fatalf("no error; body %s", body)
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n got %q\nwant %q", err, tc.want)
			}
			var ve *ecsshape.ValidationError
			if errors.As(err, &ve) != (tc.problems != nil) {
				t.Fatalf("errors.As(*ValidationError) = %v, want %v", ve != nil, tc.problems != nil)
			}
			if ve == nil {
				return
			}
			if !reflect.DeepEqual(ve.Problems, tc.problems) {
				t.Errorf("problems:\n got %q\nwant %q", ve.Problems, tc.problems)
			}
			var sdkErr smithy.InvalidParamsError
			if !errors.As(err, &sdkErr) {
				t.Errorf("the SDK's InvalidParamsError is not wrapped: %#v", err)
			}
		})
	}
}

// The SDK would put a random clientToken into the caller's RunTaskInput;
// WireBody must neither send one nor modify the input.
func TestWireBodyLeavesClientTokenAlone(t *testing.T) {
	t.Parallel()
	in := &ecs.RunTaskInput{TaskDefinition: aws.String("prefect")}
	for range 2 {
		body, err := ecsshape.WireBody(context.Background(), "RunTask", in)
		if err != nil {
			t.Fatal(err)
		}
		if string(body) != `{"taskDefinition":"prefect"}` {
			t.Errorf("body = %s", body)
		}
	}
	if in.ClientToken != nil {
		t.Errorf("input was modified: clientToken = %q", *in.ClientToken)
	}
}
