package redact_test

import (
	"testing"

	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/redact"
)

func TestValue(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in, want string
	}{
		"env map": {
			in:   `{"env":{"PREFECT_API_KEY":"pnu_abcdef123","PREFECT_API_URL":"https://x","DB_PASSWORD":"hunter22"}}`,
			want: `{"env":{"PREFECT_API_KEY":"********","PREFECT_API_URL":"https://x","DB_PASSWORD":"********"}}`,
		},
		"ecs environment list": {
			in:   `{"environment":[{"name":"PREFECT_API_AUTH_STRING","value":"admin:pass"},{"name":"A","value":"1"}]}`,
			want: `{"environment":[{"name":"PREFECT_API_AUTH_STRING","value":"********"},{"name":"A","value":"1"}]}`,
		},
		"aws credentials block": {
			in:   `{"aws_credentials":{"aws_access_key_id":"AKIA1234","aws_secret_access_key":"abc/def","region_name":"us-east-1"}}`,
			want: `{"aws_credentials":{"aws_access_key_id":"********","aws_secret_access_key":"********","region_name":"us-east-1"}}`,
		},
		"secret references stay visible": {
			in:   `{"prefect_api_key_secret_arn":"arn:aws:secretsmanager:us-east-1:1:secret:k","secrets":[{"name":"TOKEN","valueFrom":"arn:x"}]}`,
			want: `{"prefect_api_key_secret_arn":"arn:aws:secretsmanager:us-east-1:1:secret:k","secrets":[{"name":"TOKEN","valueFrom":"arn:x"}]}`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in, err := jsonv.Decode([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			before, _ := jsonv.Marshal(in)
			got, _ := jsonv.Marshal(redact.Value(in))
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			after, _ := jsonv.Marshal(in)
			if string(before) != string(after) {
				t.Errorf("input was modified: %s", after)
			}
		})
	}
}

func TestString(t *testing.T) {
	t.Parallel()
	got := redact.String("key pnu_secret123 and abc", "pnu_secret123", "abc")
	if want := "key ******** and abc"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
