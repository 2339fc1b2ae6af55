package ecsrequest

import (
	"encoding/json"
	"strconv"
	"strings"
)

// ParseCPU reads a task-level CPU value as ECS does: units as a number or a
// string ("1024"), or vCPUs ("1 vCPU", "0.5 vcpu").
func ParseCPU(v any) (int, bool) {
	return parseSize(v, "vcpu", 1024)
}

// ParseMemory reads a task-level memory value: MiB as a number or string
// ("2048"), or GB ("2 GB", "2GB").
func ParseMemory(v any) (int, bool) {
	return parseSize(v, "gb", 1024)
}

func parseSize(v any, unit string, perUnit float64) (int, bool) {
	var s string
	switch t := v.(type) {
	case json.Number:
		s = string(t)
	case string:
		s = strings.TrimSpace(strings.ToLower(t))
	default:
		return 0, false
	}
	scale := 1.0
	if strings.HasSuffix(s, unit) {
		s = strings.TrimSpace(strings.TrimSuffix(s, unit))
		scale = perUnit
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		return 0, false
	}
	n := f * scale
	if n != float64(int(n)) {
		return 0, false
	}
	return int(n), true
}
