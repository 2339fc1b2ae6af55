package awscreds_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/awsclient/awsclienttest"
	"github.com/ecsworker/ecsworker/internal/awscreds"
	"github.com/ecsworker/ecsworker/internal/jsonv"
)

func TestCredentialsFromBlock(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		block string
		want  awscreds.Credentials
	}{
		"nil block means the default chain": {block: ``, want: awscreds.Credentials{}},
		"as Prefect stores an empty block": {
			block: `{"aws_access_key_id": null, "aws_secret_access_key": null, "aws_session_token": null,
				"profile_name": null, "region_name": null,
				"aws_client_parameters": {"api_version": null, "use_ssl": true, "verify": true,
					"verify_cert_path": null, "endpoint_url": null, "config": null}}`,
			want: awscreds.Credentials{},
		},
		"keys, region and profile": {
			block: `{"aws_access_key_id": "AKIAEXAMPLE", "aws_secret_access_key": "s3cr3t", "aws_session_token": "tok",
				"profile_name": "dev", "region_name": "eu-west-1"}`,
			want: awscreds.Credentials{AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "s3cr3t", SessionToken: "tok", Profile: "dev", Region: "eu-west-1"},
		},
		"client parameters": {
			block: `{"aws_client_parameters": {"use_ssl": false, "verify": "/etc/ca.pem", "endpoint_url": "http://localhost:4566",
				"config": {"retries": {"max_attempts": 9, "mode": "adaptive"}, "region_name": "us-west-2"}}}`,
			want: awscreds.Credentials{DisableSSL: true, CABundle: "/etc/ca.pem", EndpointURL: "http://localhost:4566", MaxAttempts: 10, RetryMode: "adaptive", Region: "us-west-2"},
		},
		"verify false wins over verify_cert_path": {
			block: `{"aws_client_parameters": {"verify": false, "verify_cert_path": "/etc/ca.pem"}}`,
			want:  awscreds.Credentials{InsecureSkipVerify: true},
		},
		"verify_cert_path": {
			block: `{"aws_client_parameters": {"verify": true, "verify_cert_path": "/etc/ca.pem"}}`,
			want:  awscreds.Credentials{CABundle: "/etc/ca.pem"},
		},
		"total_max_attempts and legacy mode": {
			block: `{"aws_client_parameters": {"config": {"retries": {"total_max_attempts": 4, "max_attempts": 9, "mode": "legacy"}}}}`,
			want:  awscreds.Credentials{MaxAttempts: 4, RetryMode: "standard"},
		},
		"region_name wins over config.region_name": {
			block: `{"region_name": "us-east-1", "aws_client_parameters": {"config": {"region_name": "us-west-2"}}}`,
			want:  awscreds.Credentials{Region: "us-east-1"},
		},
		"assume role": {
			block: `{"assume_role_arn": "arn:aws:iam::123456789012:role/worker", "assume_role_kwargs": {
				"RoleSessionName": "mine", "ExternalId": "ext", "DurationSeconds": 1800, "Policy": "{}",
				"PolicyArns": [{"arn": "arn:aws:iam::aws:policy/ReadOnly"}], "Tags": [{"Key": "team", "Value": "data"}],
				"TransitiveTagKeys": ["team"], "SerialNumber": "arn:aws:iam::123456789012:mfa/me", "TokenCode": "123456",
				"SourceIdentity": "me"}}`,
			want: awscreds.Credentials{AssumeRoleARN: "arn:aws:iam::123456789012:role/worker", AssumeRole: awscreds.AssumeRoleOptions{
				SessionName: "mine", ExternalID: "ext", Duration: 30 * time.Minute, Policy: "{}",
				PolicyARNs: []string{"arn:aws:iam::aws:policy/ReadOnly"}, Tags: []awscreds.RoleTag{{Key: "team", Value: "data"}},
				TransitiveTagKeys: []string{"team"}, SerialNumber: "arn:aws:iam::123456789012:mfa/me", TokenCode: "123456", SourceIdentity: "me",
			}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var block *jsonv.Object
			if tc.block != "" {
				block = awsclienttest.MustObject(t, tc.block)
			}
			got, err := awscreds.CredentialsFromBlock(block)
			if err != nil {
				t.Fatalf("CredentialsFromBlock: %v", err)
			}
			if got.Fingerprint() != tc.want.Fingerprint() {
				t.Errorf("got  %s\nwant %s\n(and the secrets may differ)", got, tc.want)
			}
		})
	}
}

func TestCredentialsFromBlockErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		block string
		want  []string // each must appear in the error
	}{
		"key without secret": {
			block: `{"aws_access_key_id": "AKIA"}`,
			want:  []string{"aws_secret_access_key", "set both"},
		},
		"secret without key": {
			block: `{"aws_secret_access_key": "x"}`,
			want:  []string{"aws_access_key_id", "set both"},
		},
		"masked secret": {
			block: `{"aws_access_key_id": "AKIA", "aws_secret_access_key": "********"}`,
			want:  []string{"aws_secret_access_key", "include_secrets"},
		},
		"unresolved block reference": {
			block: `{"$ref": {"block_document_id": "b"}}`,
			want:  []string{"$ref", "block"},
		},
		"wrong types": {
			block: `{"region_name": 1, "aws_client_parameters": {"use_ssl": "yes", "verify": 3, "config": {"retries": {"max_attempts": "5"}}}}`,
			want:  []string{"4 problems", "region_name must be a string", "use_ssl must be true or false", "verify must be true, false or the path", `max_attempts must be a number, got the string "5"; remove the quotes`},
		},
		"bad endpoint": {
			block: `{"aws_client_parameters": {"endpoint_url": "localhost:4566"}}`,
			want:  []string{"endpoint_url", "http://localhost:4566"},
		},
		"bad retry mode": {
			block: `{"aws_client_parameters": {"config": {"retries": {"mode": "fast"}}}}`,
			want:  []string{"retries.mode", `"standard" or "adaptive"`},
		},
		"kwargs without role": {
			block: `{"assume_role_kwargs": {"RoleSessionName": "x1"}}`,
			want:  []string{"assume_role_kwargs is set but assume_role_arn is empty"},
		},
		"not an ARN": {
			block: `{"assume_role_arn": "worker-role"}`,
			want:  []string{"assume_role_arn", "arn:aws:iam::123456789012:role/my-role"},
		},
		"unknown and unsupported kwargs": {
			block: `{"assume_role_arn": "arn:aws:iam::1:role/r", "assume_role_kwargs": {"RoleSesionName": "x", "ProvidedContexts": [], "DurationSeconds": 60}}`,
			want:  []string{"RoleSesionName is not an AssumeRole parameter; use one of", "ProvidedContexts is not supported", "DurationSeconds 60 is out of range"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := awscreds.CredentialsFromBlock(awsclienttest.MustObject(t, tc.block))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestCredentialsNeverPrintSecrets(t *testing.T) {
	t.Parallel()
	c := awscreds.Credentials{
		AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		SessionToken: "FwoGZXIvYXdzEXAMPLETOKEN", Region: "us-east-1",
		AssumeRoleARN: "arn:aws:iam::1:role/r", AssumeRole: awscreds.AssumeRoleOptions{TokenCode: "987654", ExternalID: "extsecret"},
	}
	js, _ := json.Marshal(c)
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("creds", "c", c)
	outputs := map[string]string{
		"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c), "%#v": fmt.Sprintf("%#v", c), "%s": fmt.Sprintf("%s", c),
		"pointer %v": fmt.Sprintf("%v", &c), "nested %+v": fmt.Sprintf("%+v", struct{ C awscreds.Credentials }{c}),
		"json": string(js), "slog": logged.String(), "role %#v": fmt.Sprintf("%#v", c.AssumeRole),
	}
	for how, out := range outputs {
		for _, secret := range []string{"IOSFODNN7EXAMPLE", "wJalrXUtnFEMI", "FwoGZXIvYXdz", "987654", "extsecret"} {
			if strings.Contains(out, secret) {
				t.Errorf("%s shows a secret: %s", how, out)
			}
		}
	}
	if !strings.Contains(outputs["%v"], "us-east-1") || !strings.Contains(outputs["%v"], "AKIA********") {
		t.Errorf("String should still show the non-secret fields: %s", outputs["%v"])
	}
}
