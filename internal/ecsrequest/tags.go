package ecsrequest

import (
	"strings"
	"unicode/utf8"

	"github.com/ecsworker/ecsworker/internal/jobconfig"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/pycompat"
)

// AWS limits on resource tags (ECS tasks included).
const (
	maxTags        = 50
	maxTagKeyLen   = 128
	maxTagValueLen = 256
)

// buildTags turns the request's own tags and the job's labels into the ECS
// tag list. Labels win over request tags with the same key, keys and values
// are cleaned the way the Python worker cleans them (so existing tag-based
// tooling keeps matching), and AWS's limits are applied here instead of
// letting RunTask fail: too-long keys and values are cut, reserved aws:
// keys are dropped, and past 50 tags the last ones are dropped.
func buildTags(existing any, labels *jsonv.Object, c *jobconfig.Collector) []any {
	type tag struct{ key, value string }
	var tags []tag
	if arr, ok := existing.([]any); ok {
		for _, e := range arr {
			o, ok := e.(*jsonv.Object)
			if !ok {
				continue
			}
			k := o.GetString("key")
			if labels.Has(k) {
				continue
			}
			tags = append(tags, tag{k, o.GetString("value")})
		}
	}
	for _, k := range labels.Keys() {
		v, _ := labels.Get(k)
		if v == nil {
			continue
		}
		s, _ := v.(string)
		tags = append(tags, tag{k, s})
	}

	out := make([]any, 0, len(tags))
	var dropped []string
	for _, t := range tags {
		key, value := pycompat.SlugifyTag(t.key), pycompat.SlugifyTag(t.value)
		switch {
		case key == "":
			c.Warn("labels", "label %q is left with no characters ECS accepts in a tag key, so it is not sent as a tag.", t.key)
			continue
		case strings.HasPrefix(strings.ToLower(key), "aws:"):
			c.Warn("labels", "label %q starts with the prefix aws:, which AWS reserves, so it is not sent as a tag.", t.key)
			continue
		}
		if utf8.RuneCountInString(key) > maxTagKeyLen {
			c.Warn("labels", "tag key %q is longer than AWS's %d characters and was cut.", key, maxTagKeyLen)
			key = string([]rune(key)[:maxTagKeyLen])
		}
		if utf8.RuneCountInString(value) > maxTagValueLen {
			c.Warn("labels", "the value of tag %q is longer than AWS's %d characters and was cut.", key, maxTagValueLen)
			value = string([]rune(value)[:maxTagValueLen])
		}
		if len(out) == maxTags {
			dropped = append(dropped, key)
			continue
		}
		out = append(out, jsonv.ObjectOf("key", key, "value", value))
	}
	if len(dropped) > 0 {
		c.Warn("labels", "AWS allows %d tags on a task; these were not sent: %s. Remove some labels.", maxTags, strings.Join(dropped, ", "))
	}
	return out
}
