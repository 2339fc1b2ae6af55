package poolcmd

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/jsonv"
)

func TestKeyValues(t *testing.T) {
	o, err := keyValues("param", []string{"s=Marvin", `q="quoted"`, "n=3", "f=1.50", "b=true", "z=null", `l=["a", 1]`, `o={"k": {"x": 1}}`, "e=", "w=two words", "eq=a=b"})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := jsonv.Marshal(o)
	want := `{"s":"Marvin","q":"quoted","n":3,"f":1.50,"b":true,"z":null,"l":["a",1],"o":{"k":{"x":1}},"e":"","w":"two words","eq":"a=b"}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	for _, bad := range []string{"noequals", "=1", `s="unclosed`, `o={"k":`, "l=[1,"} {
		if _, err := keyValues("param", []string{bad}); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestStartTimes(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"90s": 90 * time.Second, "1h30m": 90 * time.Minute, "0s": 0, "5 minutes": 5 * time.Minute, "in 1 hour": time.Hour,
		"2 days": 48 * time.Hour, "1 hour and 30 minutes": 90 * time.Minute, "2days, 3h": 51 * time.Hour, "1.5 hours": 90 * time.Minute, "1 week": 7 * 24 * time.Hour,
	} {
		if got, err := parseStartIn(in); err != nil || got != want {
			t.Errorf("parseStartIn(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "soon", "-5m", "5 fortnights", "minutes"} {
		if _, err := parseStartIn(bad); err == nil {
			t.Errorf("parseStartIn(%q): no error", bad)
		}
	}

	loc := time.FixedZone("X", 2*3600)
	now := time.Date(2026, 5, 1, 18, 0, 0, 0, loc)
	for in, want := range map[string]time.Time{
		"2026-08-01T17:30:00Z":   time.Date(2026, 8, 1, 17, 30, 0, 0, time.UTC),
		"2026-08-01 17:30":       time.Date(2026, 8, 1, 17, 30, 0, 0, loc),
		"at 2026-08-01 17:30:15": time.Date(2026, 8, 1, 17, 30, 15, 0, loc),
		"2026-08-01":             time.Date(2026, 8, 1, 0, 0, 0, 0, loc),
		"19:15":                  time.Date(2026, 5, 1, 19, 15, 0, 0, loc),
		"5:30pm":                 time.Date(2026, 5, 2, 17, 30, 0, 0, loc), // past today: tomorrow
		"9pm":                    time.Date(2026, 5, 1, 21, 0, 0, 0, loc),
	} {
		if got, err := parseStartAt(in, now); err != nil || !got.Equal(want) {
			t.Errorf("parseStartAt(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestFormatRunName(t *testing.T) {
	params := jsonv.ObjectOf("name", "Marvin", "n", json.Number("3"), "ok", true, "l", []any{"a"})
	for tmpl, want := range map[string]string{
		"plain": "plain", "hi-{name}": "hi-Marvin", "{n}x{ok}": "3xTrue", "{l}": "['a']", "{{literal}}": "{literal}",
	} {
		if got, err := formatRunName(tmpl, params); err != nil || got != want {
			t.Errorf("formatRunName(%q) = %q, %v; want %q", tmpl, got, err, want)
		}
	}
	for _, bad := range []string{"{missing}", "{name", "name}"} {
		if _, err := formatRunName(bad, params); err == nil {
			t.Errorf("formatRunName(%q): no error", bad)
		}
	}
}
