package taskdef

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"sort"
	"strconv"
	"strings"

	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/lazyregexp"
)

// HashTag tags every revision the worker registers with the
// hash of the task definition it was made from, so that any worker (after a
// restart, or another replica) can find and reuse it.
const HashTag = "ecsworker.io/task-definition-hash"

// canonicalVersion is part of every hash: changing how task definitions are
// canonicalised changes it, so revisions hashed the old way are not reused
// by mistake.
const canonicalVersion = "ecsworker/task-definition/v1"

// postRegistrationFields are what DescribeTaskDefinition returns that a
// registration request does not contain.
var postRegistrationFields = []string{
	"taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities",
	"registeredAt", "registeredBy", "deregisteredAt", "deleteRequestedAt",
}

// Canonical returns td (a RegisterTaskDefinition request, or
// the taskDefinition of a DescribeTaskDefinition response with its tags
// added as "tags") in a canonical form: two task definitions that ECS would
// store the same way have equal canonical forms.
//
//   - The fields ECS adds on registration are removed (ARN, revision,
//     status, requiresAttributes, compatibilities, timestamps, registeredBy),
//     and so are the worker's hash tag and AWS's own aws:* tags.
//   - The defaults ECS fills in are filled in: networkMode "bridge",
//     enableFaultInjection false; per container essential true, cpu 0,
//     versionConsistency "enabled", port mapping protocol "tcp" and hostPort
//     (containerPort in awsvpc and host network modes, 0 otherwise). Task
//     cpu and memory written as "1 vCPU" or "2 GB" become "1024" and "2048".
//   - Lists whose order ECS does not keep or use are sorted: environment
//     and secrets by name, environmentFiles by value, requiresCompatibilities,
//     tags by key.
//   - Empty values (null, "", [], {}) are dropped at every level; 0 and
//     false are kept (the Python worker dropped those too, which made
//     different task definitions compare equal).
//   - Object keys are sorted and numbers written in one form.
//
// td is not modified.
func Canonical(td *jsonv.Object) *jsonv.Object {
	c := jsonv.CloneObject(td)
	if c == nil {
		c = jsonv.NewObject()
	}
	for _, f := range postRegistrationFields {
		c.Delete(f)
	}
	mode := c.GetString("networkMode")
	if v, ok := c.Get("networkMode"); !ok || v == nil || v == "" {
		mode = "bridge"
		c.Set("networkMode", mode)
	}
	if v, ok := c.Get("enableFaultInjection"); !ok || v == nil {
		c.Set("enableFaultInjection", false)
	}
	for _, k := range []string{"cpu", "memory"} {
		if s, ok := c.Get(k); ok {
			if str, isStr := s.(string); isStr {
				c.Set(k, normalizeUnits(str))
			}
		}
	}
	if rc := c.GetArray("requiresCompatibilities"); rc != nil {
		sortBy(rc, func(v any) string { s, _ := v.(string); return s })
	}
	if tags := c.GetArray("tags"); tags != nil {
		kept := make([]any, 0, len(tags))
		for _, t := range tags {
			key := objString(t, "key")
			if key == HashTag || strings.HasPrefix(key, "aws:") {
				continue
			}
			kept = append(kept, t)
		}
		sortBy(kept, func(v any) string { return objString(v, "key") })
		c.Set("tags", kept)
	}
	for _, cd := range c.GetArray("containerDefinitions") {
		if obj, ok := cd.(*jsonv.Object); ok {
			canonicalContainer(obj, mode)
		}
	}
	out, _ := canonicalValue(c)
	o, _ := out.(*jsonv.Object)
	if o == nil {
		o = jsonv.NewObject()
	}
	return o
}

func canonicalContainer(c *jsonv.Object, networkMode string) {
	setDefault(c, "essential", true)
	setDefault(c, "cpu", json.Number("0"))
	setDefault(c, "versionConsistency", "enabled")
	for _, pm := range c.GetArray("portMappings") {
		p, ok := pm.(*jsonv.Object)
		if !ok {
			continue
		}
		setDefault(p, "protocol", "tcp")
		if cp, ok := p.Get("containerPort"); ok {
			if networkMode == "awsvpc" || networkMode == "host" {
				setDefault(p, "hostPort", cp)
			} else {
				setDefault(p, "hostPort", json.Number("0")) // dynamic host port
			}
		}
	}
	byName := func(v any) string { return objString(v, "name") }
	if env := c.GetArray("environment"); env != nil {
		sortBy(env, byName)
	}
	if sec := c.GetArray("secrets"); sec != nil {
		sortBy(sec, byName)
	}
	if files := c.GetArray("environmentFiles"); files != nil {
		sortBy(files, func(v any) string { return objString(v, "value") + "\x00" + objString(v, "type") })
	}
}

// setDefault sets k to v when k is absent or null.
func setDefault(o *jsonv.Object, k string, v any) {
	if cur, ok := o.Get(k); !ok || cur == nil {
		o.Set(k, v)
	}
}

func objString(v any, k string) string {
	o, _ := v.(*jsonv.Object)
	return o.GetString(k)
}

func sortBy(a []any, key func(any) string) {
	sort.SliceStable(a, func(i, j int) bool { return key(a[i]) < key(a[j]) })
}

var unitsRE = lazyregexp.New(`(?i)^\s*([0-9]*\.?[0-9]+)\s*(vcpu|gb)\s*$`)

// normalizeUnits turns the "1 vCPU" and "2 GB" forms ECS accepts for task
// cpu and memory into the units it stores ("1024", "2048").
func normalizeUnits(s string) string {
	m := unitsRE().FindStringSubmatch(s)
	if m == nil {
		return strings.TrimSpace(s)
	}
	f, ok := new(big.Float).SetString(m[1])
	if !ok {
		return s
	}
	n, _ := new(big.Float).Mul(f, big.NewFloat(1024)).Int64()
	return strconv.FormatInt(n, 10)
}

// canonicalValue drops empty values, sorts object keys and normalises
// numbers; keep is false for a value that is empty and must be dropped.
func canonicalValue(v any) (out any, keep bool) {
	switch t := v.(type) {
	case nil:
		return nil, false
	case string:
		return t, t != ""
	case json.Number:
		return canonicalNumber(t), true
	case []any:
		if len(t) == 0 {
			return t, false
		}
		items := make([]any, len(t))
		for i, e := range t {
			// List items are never removed: positions matter (containers)
			// and an empty item is still an item.
			ce, keepItem := canonicalValue(e)
			if !keepItem {
				if _, isObj := e.(*jsonv.Object); isObj {
					ce = jsonv.NewObject()
				} else {
					ce = e
				}
			}
			items[i] = ce
		}
		return items, true
	case *jsonv.Object:
		keys := append([]string(nil), t.Keys()...)
		sort.Strings(keys)
		o := jsonv.NewObject()
		for _, k := range keys {
			val, _ := t.Get(k)
			if cv, keepVal := canonicalValue(val); keepVal {
				o.Set(k, cv)
			}
		}
		return o, o.Len() > 0
	}
	return v, true
}

func canonicalNumber(n json.Number) json.Number {
	if i, ok := jsonv.Int(n); ok {
		return json.Number(strconv.FormatInt(i, 10))
	}
	f, ok := new(big.Float).SetString(string(n))
	if !ok {
		return n
	}
	if f.IsInt() {
		return json.Number(f.Text('f', 0))
	}
	return json.Number(f.Text('g', -1))
}

// hashOf is the hash of td's canonical form: 32 hex digits of its
// SHA-256. It is the value of the HashTag tag.
func hashOf(td *jsonv.Object) string {
	return hashCanonical(Canonical(td))
}

func hashCanonical(canon *jsonv.Object) string {
	b, _ := jsonv.Marshal(canon)
	h := sha256.New()
	h.Write([]byte(canonicalVersion))
	h.Write([]byte{'\n'})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))[:32]
}
