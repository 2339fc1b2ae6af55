// Package jobconfig reads a rendered ECS job configuration into typed
// fields (Config) and holds what is reported about a job: its problems,
// collected all at once into one ValidationError, and its warnings.
package jobconfig

import (
	"encoding/json"
	"strings"

	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// Config is a rendered ECS job configuration: the work pool's
// job_configuration after placeholders were filled and the flow run's
// context (env, labels, command) was added.
//
// TaskDefinition and TaskRunRequest stay JSON objects on purpose: a pool
// template may put any RegisterTaskDefinition or RunTask field in them, and
// those must reach AWS untouched.
type Config struct {
	Command string
	Env     *jsonv.Object // name -> string or null
	Labels  *jsonv.Object // name -> string
	Name    string

	AWSCredentials *jsonv.Object
	TaskDefinition *jsonv.Object
	TaskRunRequest *jsonv.Object

	ConfigureCloudWatchLogs bool
	CloudWatchLogsOptions   *jsonv.Object // name -> string
	CloudWatchLogsPrefix    string
	NetworkConfiguration    *jsonv.Object
	Subnets                 []string
	SecurityGroups          []string
	AssignPublicIP          *bool
	Secrets                 *jsonv.Object // env name -> secret ARN or SSM parameter

	AutoDeregisterTaskDefinition bool
	MatchLatestRevisionInFamily  bool
	VPCID                        string
	ContainerName                string
	Cluster                      string
	PrefectAPIKeySecretARN       string
	PrefectAPIAuthStringARN      string
	ExecutionRoleARN             string

	// CapacityFallback lists the launch choices tried after the task's own
	// when ECS has no capacity, as the job configuration gives them;
	// ecsjob checks each entry. RelaunchOnSpotInterruption relaunches on
	// the next of them a task Spot took back before its flow started.
	CapacityFallback           []any
	RelaunchOnSpotInterruption bool
}

// ParseConfig reads a rendered job configuration. Unknown keys are ignored,
// as the Python worker ignores them (pools made by Prefect carry deprecated
// ones such as stream_output). Every key of the wrong type is reported.
func ParseConfig(cfg *jsonv.Object) (*Config, error) {
	var c Collector
	p := parser{obj: cfg, c: &c}
	out := &Config{
		Command:                      p.str("command"),
		Env:                          p.object("env", objectOfStringsOrNull),
		Labels:                       p.object("labels", objectOfStrings),
		Name:                         p.str("name"),
		AWSCredentials:               p.object("aws_credentials", anyObject),
		TaskDefinition:               p.object("task_definition", anyObject),
		TaskRunRequest:               p.object("task_run_request", anyObject),
		ConfigureCloudWatchLogs:      p.boolean("configure_cloudwatch_logs"),
		CloudWatchLogsOptions:        p.object("cloudwatch_logs_options", objectOfStrings),
		CloudWatchLogsPrefix:         p.str("cloudwatch_logs_prefix"),
		NetworkConfiguration:         p.object("network_configuration", anyObject),
		Subnets:                      p.strings("subnets"),
		SecurityGroups:               p.strings("security_groups"),
		AssignPublicIP:               p.optBool("assign_public_ip"),
		Secrets:                      p.object("secrets", objectOfStrings),
		AutoDeregisterTaskDefinition: p.boolean("auto_deregister_task_definition"),
		MatchLatestRevisionInFamily:  p.boolean("match_latest_revision_in_family"),
		VPCID:                        p.str("vpc_id"),
		ContainerName:                p.str("container_name"),
		Cluster:                      p.str("cluster"),
		PrefectAPIKeySecretARN:       p.str("prefect_api_key_secret_arn"),
		PrefectAPIAuthStringARN:      p.str("prefect_api_auth_string_secret_arn"),
		ExecutionRoleARN:             p.str("execution_role_arn"),
		CapacityFallback:             p.list("capacity_fallback"),
		RelaunchOnSpotInterruption:   p.boolean("relaunch_on_spot_interruption"),
	}
	if err := c.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

type objectKind int

const (
	anyObject objectKind = iota
	objectOfStrings
	objectOfStringsOrNull
)

type parser struct {
	obj *jsonv.Object
	c   *Collector
}

func (p parser) str(key string) string {
	v, ok := p.obj.Get(key)
	if !ok || v == nil {
		return ""
	}
	s, isStr := v.(string)
	if !isStr {
		p.c.Fail(key, v, "expected a string, got "+jsonv.TypeName(v)+".", "Give "+key+" as a JSON string, or leave it unset.")
		return ""
	}
	return s
}

// boolean accepts what pydantic's lax mode accepts for a bool, because pools
// made through Prefect's UI or API have passed such values to the Python worker.
func (p parser) boolean(key string) bool {
	b := p.optBool(key)
	return b != nil && *b
}

func (p parser) optBool(key string) *bool {
	v, ok := p.obj.Get(key)
	if !ok || v == nil {
		return nil
	}
	if b, ok := laxBool(v); ok {
		return &b
	}
	p.c.Fail(key, v, "expected true or false, got "+jsonv.TypeName(v)+".", "Set "+key+" to true or false.")
	return nil
}

func laxBool(v any) (bool, bool) {
	switch t := v.(type) {
	case bool:
		return t, true
	case json.Number:
		switch string(t) {
		case "0":
			return false, true
		case "1":
			return true, true
		}
	case string:
		switch strings.ToLower(strings.TrimSpace(t)) {
		case "true", "t", "yes", "y", "on", "1":
			return true, true
		case "false", "f", "no", "n", "off", "0":
			return false, true
		}
	}
	return false, false
}

func (p parser) strings(key string) []string {
	v, ok := p.obj.Get(key)
	if !ok || v == nil {
		return nil
	}
	arr, isArr := v.([]any)
	if !isArr {
		if s, isStr := v.(string); isStr && s != "" {
			// A single ID where a list was expected is a common slip; accept it.
			return []string{s}
		}
		p.c.Fail(key, v, "expected a list of strings, got "+jsonv.TypeName(v)+".", `Give `+key+` as a JSON list, e.g. ["id-1", "id-2"].`)
		return nil
	}
	out := make([]string, 0, len(arr))
	for _, e := range arr {
		s, isStr := e.(string)
		if !isStr || s == "" {
			p.c.Fail(key, v, "every item must be a non-empty string.", `Give `+key+` as a JSON list of IDs, e.g. ["id-1", "id-2"].`)
			return nil
		}
		out = append(out, s)
	}
	return out
}

// list reads a JSON list whose entries the caller checks.
func (p parser) list(key string) []any {
	v, ok := p.obj.Get(key)
	if !ok || v == nil {
		return nil
	}
	arr, isArr := v.([]any)
	if !isArr {
		p.c.Fail(key, v, "expected a list, got "+jsonv.TypeName(v)+".", `Give `+key+` as a JSON list, e.g. [{"launch_type": "FARGATE"}].`)
		return nil
	}
	return arr
}

func (p parser) object(key string, kind objectKind) *jsonv.Object {
	v, ok := p.obj.Get(key)
	if !ok || v == nil {
		return jsonv.NewObject()
	}
	o, isObj := v.(*jsonv.Object)
	if !isObj {
		p.c.Fail(key, v, "expected an object, got "+jsonv.TypeName(v)+".", "Give "+key+" as a JSON object.")
		return jsonv.NewObject()
	}
	for _, k := range o.Keys() {
		e, _ := o.Get(k)
		switch kind {
		case objectOfStrings:
			if _, isStr := e.(string); !isStr {
				p.c.Fail(key+"."+k, e, "expected a string, got "+jsonv.TypeName(e)+".", "Quote the value.")
			}
		case objectOfStringsOrNull:
			if _, isStr := e.(string); !isStr && e != nil {
				p.c.Fail(key+"."+k, e, "expected a string or null, got "+jsonv.TypeName(e)+".", "Quote the value, or use null to remove the variable.")
			}
		}
	}
	return o
}
