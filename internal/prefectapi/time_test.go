package prefectapi_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/prefectapi"
)

func TestParseTime(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 8, 21, 16, 0, 10, 0, time.UTC)
	tests := map[string]struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		"Z":                      {in: "2026-08-21T16:00:10Z", want: base},
		"offset":                 {in: "2026-08-21T16:00:10+00:00", want: base},
		"fraction":               {in: "2026-08-21T16:00:10.123456Z", want: base.Add(123456 * time.Microsecond)},
		"python str(datetime)":   {in: "2026-08-21 16:00:10.123456+00:00", want: base.Add(123456 * time.Microsecond)},
		"other zone":             {in: "2026-08-21T18:00:10+02:00", want: base},
		"offset without colon":   {in: "2026-08-21T16:00:10+0000", want: base},
		"naive is UTC":           {in: "2026-08-21T16:00:10", want: base},
		"naive with space":       {in: "2026-08-21 16:00:10.5", want: base.Add(500 * time.Millisecond)},
		"surrounding whitespace": {in: " 2026-08-21T16:00:10Z ", want: base},
		"date only":              {in: "2026-08-21", wantErr: true},
		"garbage":                {in: "yesterday", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := prefectapi.ParseTime(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v", err)
			}
			if !tc.wantErr && !got.Equal(tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTimeJSON(t *testing.T) {
	t.Parallel()
	var v struct {
		A, B, C prefectapi.Time
	}
	if err := json.Unmarshal([]byte(`{"A":"2026-08-21 16:00:10+00:00","B":null,"C":""}`), &v); err != nil {
		t.Fatal(err)
	}
	if !v.A.Equal(time.Date(2026, 8, 21, 16, 0, 10, 0, time.UTC)) || !v.B.IsZero() || !v.C.IsZero() {
		t.Errorf("%+v", v)
	}
	b, _ := json.Marshal(v)
	if string(b) != `{"A":"2026-08-21T16:00:10.000000+00:00","B":null,"C":null}` {
		t.Errorf("%s", b)
	}
	local := time.Date(2026, 8, 21, 18, 0, 10, 123456789, time.FixedZone("CEST", 2*3600))
	if got := prefectapi.FormatTime(local); got != "2026-08-21T16:00:10.123456+00:00" {
		t.Errorf("FormatTime = %s", got)
	}
	if err := json.Unmarshal([]byte(`{"A":"soon"}`), &v); err == nil {
		t.Error("accepted a bad timestamp")
	}
}
