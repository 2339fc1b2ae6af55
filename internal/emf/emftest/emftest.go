// Package emftest reads CloudWatch Embedded Metric Format output back and
// checks it as CloudWatch Logs would before extracting metrics: a record
// CloudWatch would ignore is an error here. Only tests import it.
package emftest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Value is a metric's value in a record: a number, or a distribution.
type Value struct {
	Number float64
	IsDist bool
	Values []float64
	Counts []float64
}

// Total is the number (a counter's increase, a gauge) or the sum of the
// counts (a distribution's observations).
func (v Value) Total() float64 {
	if !v.IsDist {
		return v.Number
	}
	var n float64
	for _, c := range v.Counts {
		n += c
	}
	return n
}

// Record is one EMF record.
type Record struct {
	Timestamp     time.Time
	Namespace     string
	DimensionSets [][]string
	Dimensions    map[string]string
	Metrics       map[string]Value
	Units         map[string]string
	Bytes         int
}

// units CloudWatch accepts.
var units = []string{"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
	"Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second", "Kilobytes/Second",
	"Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
	"Gigabits/Second", "Terabits/Second", "Count/Second", "None"}

// Parse reads records, one JSON object a line, and checks each against
// the EMF specification and CloudWatch's limits.
func Parse(r io.Reader) ([]Record, error) {
	var out []Record
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		rec, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w\n%s", n, err, line)
		}
		out = append(out, rec)
	}
	return out, sc.Err()
}

func parseLine(line []byte) (Record, error) {
	var root map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&root); err != nil {
		return Record{}, fmt.Errorf("not one JSON object: %w", err)
	}
	if dec.More() {
		return Record{}, fmt.Errorf("more than one JSON value on the line")
	}
	var meta struct {
		Timestamp         *json.Number
		CloudWatchMetrics []struct {
			Namespace  string
			Dimensions [][]string
			Metrics    []struct{ Name, Unit string }
		}
	}
	raw, ok := root["_aws"]
	if !ok {
		return Record{}, fmt.Errorf("no _aws member")
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		return Record{}, fmt.Errorf("_aws: %w", err)
	}
	if meta.Timestamp == nil {
		return Record{}, fmt.Errorf("_aws.Timestamp is missing")
	}
	ms, err := meta.Timestamp.Int64()
	if err != nil || ms < 1e11 || ms >= 1e14 { // 1973 to 5138: seconds or nanoseconds fall outside
		return Record{}, fmt.Errorf("_aws.Timestamp %s is not milliseconds since the epoch", meta.Timestamp)
	}
	if len(meta.CloudWatchMetrics) == 0 {
		return Record{}, fmt.Errorf("_aws.CloudWatchMetrics is empty")
	}
	rec := Record{Timestamp: time.UnixMilli(ms), Dimensions: map[string]string{}, Metrics: map[string]Value{}, Units: map[string]string{}, Bytes: len(line) + 1}
	for _, d := range meta.CloudWatchMetrics {
		if d.Namespace == "" || len(d.Namespace) > 255 || strings.Contains(d.Namespace, ":") || strings.HasPrefix(d.Namespace, "AWS/") {
			return Record{}, fmt.Errorf("namespace %q is not one CloudWatch takes", d.Namespace)
		}
		rec.Namespace = d.Namespace
		if len(d.Dimensions) == 0 {
			return Record{}, fmt.Errorf("a directive without dimension sets")
		}
		for _, set := range d.Dimensions {
			if len(set) == 0 || len(set) > 30 {
				return Record{}, fmt.Errorf("dimension set %v: 1 to 30 dimensions", set)
			}
			for _, k := range set {
				var v string
				if err := json.Unmarshal(root[k], &v); err != nil || v == "" || len(v) > 1024 {
					return Record{}, fmt.Errorf("dimension %q has no string member of 1 to 1024 characters", k)
				}
				if len(k) > 255 {
					return Record{}, fmt.Errorf("dimension name %q is over 255 characters", k)
				}
				rec.Dimensions[k] = v
			}
			rec.DimensionSets = append(rec.DimensionSets, set)
		}
		if len(d.Metrics) == 0 || len(d.Metrics) > 100 {
			return Record{}, fmt.Errorf("%d metrics in a directive: 1 to 100", len(d.Metrics))
		}
		for _, m := range d.Metrics {
			if m.Name == "" || len(m.Name) > 255 {
				return Record{}, fmt.Errorf("metric name %q: 1 to 255 characters", m.Name)
			}
			if m.Unit != "" && !slices.Contains(units, m.Unit) {
				return Record{}, fmt.Errorf("metric %s: unit %q is not a CloudWatch unit", m.Name, m.Unit)
			}
			v, err := value(root[m.Name])
			if err != nil {
				return Record{}, fmt.Errorf("metric %s: %w", m.Name, err)
			}
			if _, dup := rec.Metrics[m.Name]; dup {
				return Record{}, fmt.Errorf("metric %s listed twice", m.Name)
			}
			rec.Metrics[m.Name] = v
			rec.Units[m.Name] = m.Unit
		}
	}
	return rec, nil
}

func value(raw json.RawMessage) (Value, error) {
	if raw == nil {
		return Value{}, fmt.Errorf("no value member")
	}
	var n float64
	if err := json.Unmarshal(raw, &n); err == nil {
		return Value{Number: n}, nil
	}
	var d struct{ Values, Counts []float64 }
	if err := json.Unmarshal(raw, &d); err != nil || d.Values == nil {
		return Value{}, fmt.Errorf("value %s is neither a number nor {Values, Counts}", raw)
	}
	if len(d.Values) == 0 || len(d.Values) > 100 || len(d.Counts) != len(d.Values) {
		return Value{}, fmt.Errorf("distribution %s: 1 to 100 values, as many counts", raw)
	}
	for _, c := range d.Counts {
		if c <= 0 {
			return Value{}, fmt.Errorf("distribution %s: counts must be positive", raw)
		}
	}
	return Value{IsDist: true, Values: d.Values, Counts: d.Counts}, nil
}

// Names are the metric names of records, sorted.
func Names(recs []Record) []string {
	var out []string
	for _, r := range recs {
		for n := range r.Metrics {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	slices.Sort(out)
	return out
}
