package prefectapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Time is a timestamp of the Prefect API. It reads what Prefect servers,
// Prefect Cloud and Python's str(datetime) write, and JSON null as the zero
// time; it writes RFC 3339 with an explicit offset, or null when zero.
type Time struct{ time.Time }

// UnmarshalJSON reads a timestamp leniently (see ParseTime).
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("timestamp: expected a string, got %s", b)
	}
	if s == "" {
		t.Time = time.Time{}
		return nil
	}
	v, err := ParseTime(s)
	if err != nil {
		return err
	}
	t.Time = v
	return nil
}

// MarshalJSON writes the time as FormatTime does, or null when zero.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(FormatTime(t.Time))
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999Z07",
}

// naiveLayout is a timestamp without an offset; Prefect reads those as UTC.
const naiveLayout = "2006-01-02T15:04:05.999999999"

// ParseTime reads an ISO 8601 timestamp: with Z or an offset (+00:00,
// +0000 or +00), an optional fraction of a second, and a space instead of
// the T as Python's str(datetime) writes. A timestamp without an offset is
// UTC, as on the server.
func ParseTime(s string) (time.Time, error) {
	in := strings.TrimSpace(s)
	if len(in) > 10 && in[10] == ' ' {
		in = in[:10] + "T" + in[11:]
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, in); err == nil {
			return t, nil
		}
	}
	if t, err := time.ParseInLocation(naiveLayout, in, time.UTC); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("timestamp %q is not an ISO 8601 date and time", s)
}

// FormatTime writes t in UTC with microseconds and an explicit +00:00
// offset: Python's precision, and never a naive time that a server could
// read in another zone.
func FormatTime(t time.Time) string {
	return t.UTC().Truncate(time.Microsecond).Format("2006-01-02T15:04:05.000000-07:00")
}

// TimePtr is t as an optional field of a request: nil when zero.
func TimePtr(t time.Time) *Time {
	if t.IsZero() {
		return nil
	}
	return &Time{t}
}
