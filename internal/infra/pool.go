package infra

import (
	"strings"

	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// PoolDefault is a work pool variable whose default a deploy can fill
// from a stack output.
type PoolDefault struct {
	Variable string `json:"variable"`
	Output   string `json:"output"`
	// Value is a string, a list of strings or a bool, as the variable's
	// type wants.
	Value any `json:"value"`
}

// poolDefaults maps the stack outputs to the ECS base job template
// variables they answer. The events queue has no variable: the worker
// reads it from its own environment, which the service stack sets.
var poolDefaults = []struct {
	variable, output string
	kind             string // "string", "list" or "enabled"
}{
	{"cluster", "ClusterArn", "string"},
	{"vpc_id", "VpcId", "string"},
	{"subnets", "SubnetIds", "list"},
	{"security_groups", "SecurityGroupId", "list"},
	{"assign_public_ip", "AssignPublicIp", "enabled"},
	{"execution_role_arn", "FlowRunExecutionRoleArn", "string"},
	{"prefect_api_key_secret_arn", "PrefectApiKeySecretArn", "string"},
	{"prefect_api_auth_string_secret_arn", "PrefectApiAuthStringSecretArn", "string"},
}

// PoolDefaults are the defaults a stack's outputs offer a pool.
func PoolDefaults(outputs map[string]string) []PoolDefault {
	var out []PoolDefault
	for _, d := range poolDefaults {
		v, ok := outputs[d.output]
		if !ok || v == "" {
			continue
		}
		switch d.kind {
		case "list":
			var items []any
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					items = append(items, s)
				}
			}
			out = append(out, PoolDefault{Variable: d.variable, Output: d.output, Value: items})
		case "enabled":
			// Only a public IP is worth saying: with subnets listed the
			// worker already gives flow runs none.
			if v == "ENABLED" {
				out = append(out, PoolDefault{Variable: d.variable, Output: d.output, Value: true})
			}
		default:
			out = append(out, PoolDefault{Variable: d.variable, Output: d.output, Value: v})
		}
	}
	return out
}

// FillResult says what FillPoolDefaults did with each default.
type FillResult struct {
	Filled []PoolDefault `json:"filled"`
	// Kept are defaults the pool already sets; a user's choice wins.
	Kept []PoolDefault `json:"kept"`
	// Missing are variables the pool's template does not have.
	Missing []PoolDefault `json:"missing"`
}

// FillPoolDefaults sets, in a base job template, the defaults of the
// variables that have none (absent, null, "" or []), and changes nothing
// else.
func FillPoolDefaults(baseJobTemplate *jsonv.Object, defaults []PoolDefault) FillResult {
	res := FillResult{Filled: []PoolDefault{}, Kept: []PoolDefault{}, Missing: []PoolDefault{}}
	props := baseJobTemplate.GetObject("variables").GetObject("properties")
	for _, d := range defaults {
		prop := props.GetObject(d.Variable)
		if prop == nil {
			res.Missing = append(res.Missing, d)
			continue
		}
		cur, has := prop.Get("default")
		if has && !emptyDefault(cur) {
			res.Kept = append(res.Kept, d)
			continue
		}
		prop.Set("default", d.Value)
		res.Filled = append(res.Filled, d)
	}
	return res
}

func emptyDefault(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case string:
		return t == ""
	case []any:
		return len(t) == 0
	}
	return false
}
