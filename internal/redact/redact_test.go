package redact_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/redact"
)

func TestSensitiveName(t *testing.T) {
	t.Parallel()
	secret := []string{
		"PREFECT_API_KEY", "PREFECT_API_AUTH_STRING", "PREFECT_SERVER_API_AUTH_STRING",
		"DB_PASS", "DB_PASSWORD", "PGPASSWORD", "MYSQL_PWD", "DB_PW", "SMTP_PASSWD", "GPG_PASSPHRASE",
		"GITHUB_TOKEN", "AWS_SESSION_TOKEN", "accessToken", "SLACK_BOT_TOKEN", "token",
		"CLIENT_SECRET", "aws_secret_access_key", "awsSecretAccessKey", "secret",
		"OPENAI_API_KEY", "apiKey", "APIKEY", "STRIPE_PRIVATE_KEY", "S3_KEY", "API_KEYS",
		"AWS_ACCESS_KEY_ID", "aws_access_key_id", "accessKeyId",
		"BASIC_AUTH", "authorization", "DB_CREDENTIALS", "creds", "AZURE_STORAGE_CONNECTION_STRING",
		"password", "db-password", "x.api.key",
	}
	ordinary := []string{
		"", "PWD", "OLDPWD", "KEY", "key", "value", "name", "image", "command", "cluster",
		"PREFECT_API_URL", "DATABASE_URL", "PREFECT_API_KEY_SECRET_ARN", "prefect_api_key_secret_arn",
		"DB_PASSWORD_FILE", "PASSWORD_LENGTH", "TOKEN_TYPE", "SECRET_NAME", "KMS_KEY_ID", "kmsKeyId",
		"private_key_id", "SSH_KEY_PATH", "TOKENIZERS_PARALLELISM", "KEYCLOAK_REALM", "BYPASS_CACHE",
		"PASSENGER_COUNT", "SSH_AUTH_SOCK", "PREFECT_SERVER_CSRF_TOKEN_EXPIRATION", "credentialsParameter",
		"valueFrom", "secrets_arn", "prefect.io/flow-run-id", "awslogs-stream-prefix", "region_name",
		"executionRoleArn", "PREFECT__FLOW_RUN_ID", "clusterKeyName",
	}
	for _, n := range secret {
		if !redact.SensitiveName(n) {
			t.Errorf("SensitiveName(%q) = false, want true", n)
		}
	}
	for _, n := range ordinary {
		if redact.SensitiveName(n) {
			t.Errorf("SensitiveName(%q) = true, want false", n)
		}
	}
}

func TestString(t *testing.T) {
	t.Parallel()
	const key = "pnu_TopSecretKey123"
	const aws = `wJalr/XUtnFEMI"K7MDENG<bPxRfiCY`
	tests := map[string]struct {
		in      string
		secrets []string
		want    string
	}{
		"plain": {
			in: "key pnu_TopSecretKey123 and abc", secrets: []string{key, "abc"},
			want: "key ******** and abc",
		},
		"in a command line": {
			in: "prefect flow-run execute --api-key=pnu_TopSecretKey123", secrets: []string{key},
			want: "prefect flow-run execute --api-key=********",
		},
		"every occurrence": {
			in: "pnu_TopSecretKey123pnu_TopSecretKey123", secrets: []string{key},
			want: "****************",
		},
		"JSON-escaped": {
			in: `{"K":"wJalr/XUtnFEMI\"K7MDENG\u003cbPxRfiCY"}`, secrets: []string{aws},
			want: `{"K":"********"}`,
		},
		"JSON-escaped without HTML escapes, as jsonv writes": {
			in: `"wJalr/XUtnFEMI\"K7MDENG<bPxRfiCY"`, secrets: []string{aws},
			want: `"********"`,
		},
		"Go-quoted in an error": {
			in: `bad value "wJalr/XUtnFEMI\"K7MDENG<bPxRfiCY"`, secrets: []string{aws},
			want: `bad value "********"`,
		},
		"percent-encoded": {
			in: "https://h/x?k=wJalr%2FXUtnFEMI%22K7MDENG%3CbPxRfiCY", secrets: []string{aws},
			want: "https://h/x?k=********",
		},
		"longest first": {
			in: "admin:hunter2-long", secrets: []string{"hunter2-long", "admin:hunter2-long"},
			want: "********",
		},
		"short secrets are not masked by value": {
			in: "image prefecthq/prefect:3-latest tag 1234 admin", secrets: []string{"1234", "admin", "test", "3-lat", ""},
			want: "image prefecthq/prefect:3-latest tag 1234 admin",
		},
		"six characters are": {
			in: "password hunter", secrets: []string{"hunter"},
			want: "password ********",
		},
		"URL password without known secrets": {
			in:   "connect postgres://u:pw@db.internal:5432/app failed",
			want: "connect postgres://u:********@db.internal:5432/app failed",
		},
		"URL password with an @ in it": {
			in:   "postgresql+asyncpg://user:p@ss@db/app",
			want: "postgresql+asyncpg://user:********@db/app",
		},
		"URL with empty user": {
			in:   "redis://:s3cret@cache:6379/0",
			want: "redis://:********@cache:6379/0",
		},
		"URL secret query parameters": {
			in:   "https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abc&X-Amz-Date=2026&sig=zz&page=2",
			want: "https://b.s3.amazonaws.com/k?X-Amz-Credential=********&X-Amz-Signature=********&X-Amz-Date=2026&sig=********&page=2",
		},
		"URL in JSON text": {
			in:   `{"PREFECT_API_URL":"http://admin:pw@prefect:4200/api","x":1}`,
			want: `{"PREFECT_API_URL":"http://admin:********@prefect:4200/api","x":1}`,
		},
		"URLs without passwords stay": {
			in:   "http://127.0.0.1:4200/api https://user@host/p http://host:8080/path/@x https://medium.com/@name?q=1",
			want: "http://127.0.0.1:4200/api https://user@host/p http://host:8080/path/@x https://medium.com/@name?q=1",
		},
		"ordinary values stay": {
			in:      "arn:aws:ecs:us-east-1:123456789012:task-definition/prefect_pool_x:3 123456789012.dkr.ecr.us-east-1.amazonaws.com/flows:2026-01-01 subnet-0abc",
			secrets: []string{"pnu_TopSecretKey123"},
			want:    "arn:aws:ecs:us-east-1:123456789012:task-definition/prefect_pool_x:3 123456789012.dkr.ecr.us-east-1.amazonaws.com/flows:2026-01-01 subnet-0abc",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := redact.String(tc.in, tc.secrets...); got != tc.want {
				t.Errorf("String\n got  %s\n want %s", got, tc.want)
			}
			if got := redact.New(tc.secrets...).String(tc.in); got != tc.want {
				t.Errorf("Redactor.String\n got  %s\n want %s", got, tc.want)
			}
		})
	}
}

func TestValue(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in, want string
		secrets  []string
		where    []string
	}{
		"env map by name": {
			in:    `{"env":{"PREFECT_API_KEY":"pnu_abcdef123","PREFECT_API_URL":"https://x","DB_PASSWORD":"hunter22","DB_PASS":"pw"}}`,
			want:  `{"env":{"PREFECT_API_KEY":"********","PREFECT_API_URL":"https://x","DB_PASSWORD":"********","DB_PASS":"********"}}`,
			where: []string{"DB_PASS", "DB_PASSWORD", "PREFECT_API_KEY"},
		},
		"ecs environment list": {
			in:    `{"environment":[{"name":"PREFECT_API_AUTH_STRING","value":"admin:pass"},{"name":"A","value":"1"}]}`,
			want:  `{"environment":[{"name":"PREFECT_API_AUTH_STRING","value":"********"},{"name":"A","value":"1"}]}`,
			where: []string{"PREFECT_API_AUTH_STRING"},
		},
		"aws credentials block": {
			in:    `{"aws_credentials":{"aws_access_key_id":"AKIA1234","aws_secret_access_key":"abc/def","region_name":"us-east-1"}}`,
			want:  `{"aws_credentials":{"aws_access_key_id":"********","aws_secret_access_key":"********","region_name":"us-east-1"}}`,
			where: []string{"aws_access_key_id", "aws_secret_access_key"},
		},
		"URLs keep their host": {
			in:    `{"environment":[{"name":"DATABASE_URL","value":"postgres://u:pw@db:5432/app"},{"name":"PREFECT_API_URL","value":"http://admin:pw@prefect:4200/api"}]}`,
			want:  `{"environment":[{"name":"DATABASE_URL","value":"postgres://u:********@db:5432/app"},{"name":"PREFECT_API_URL","value":"http://admin:********@prefect:4200/api"}]}`,
			where: []string{"DATABASE_URL", "PREFECT_API_URL"},
		},
		"known secret under an ordinary name and in the command": {
			in:      `{"env":{"MY_SETTING":"pnu_TopSecretKey123"},"command":["prefect","--key","pnu_TopSecretKey123"],"name":"run"}`,
			secrets: []string{"pnu_TopSecretKey123"},
			want:    `{"env":{"MY_SETTING":"********"},"command":["prefect","--key","********"],"name":"run"}`,
			where:   []string{"MY_SETTING", "command"},
		},
		"a value under a secret name is masked elsewhere too": {
			in:    `{"env":{"DB_PASS":"s3cr3t-Pa55"},"command":"app --db-pass s3cr3t-Pa55"}`,
			want:  `{"env":{"DB_PASS":"********"},"command":"app --db-pass ********"}`,
			where: []string{"DB_PASS", "command"},
		},
		"a URL password is masked elsewhere too": {
			in:    `{"env":{"DATABASE_URL":"postgres://u:Xyz%40123456@db/app"},"command":"psql -W Xyz@123456"}`,
			want:  `{"env":{"DATABASE_URL":"postgres://u:********@db/app"},"command":"psql -W ********"}`,
			where: []string{"DATABASE_URL", "command"},
		},
		"JSON inside a string": {
			in:      `{"env":{"PREFECT_CLIENT_CUSTOM_HEADERS":"{\"CF-Access-Client-Secret\": \"cf-secret-value\"}"}}`,
			secrets: []string{"cf-secret-value"},
			want:    `{"env":{"PREFECT_CLIENT_CUSTOM_HEADERS":"{\"CF-Access-Client-Secret\": \"********\"}"}}`,
			where:   []string{"PREFECT_CLIENT_CUSTOM_HEADERS"},
		},
		"references stay visible": {
			in:   `{"prefect_api_key_secret_arn":"arn:aws:secretsmanager:us-east-1:1:secret:k","secrets":{"DB_PASSWORD":"arn:aws:ssm:us-east-1:1:parameter/db"},"list":[{"name":"TOKEN","valueFrom":"arn:x"}],"env":{"API_TOKEN":"{{ prefect.blocks.secret.api-token }}"},"repositoryCredentials":{"credentialsParameter":"arn:aws:secretsmanager:us-east-1:1:secret:r"}}`,
			want: `{"prefect_api_key_secret_arn":"arn:aws:secretsmanager:us-east-1:1:secret:k","secrets":{"DB_PASSWORD":"arn:aws:ssm:us-east-1:1:parameter/db"},"list":[{"name":"TOKEN","valueFrom":"arn:x"}],"env":{"API_TOKEN":"{{ prefect.blocks.secret.api-token }}"},"repositoryCredentials":{"credentialsParameter":"arn:aws:secretsmanager:us-east-1:1:secret:r"}}`,
		},
		"ordinary values stay": {
			in:      `{"image":"prefecthq/prefect:3-latest","family":"prefect_ecs-pool_d1e2","cluster":"arn:aws:ecs:us-east-1:123456789012:cluster/prod","tags":[{"key":"prefect.io/flow-run-id","value":"9a3b"}],"cpu":"512","env":{"SECRET_NAME":"db","TOKENIZERS_PARALLELISM":"false","KEYCLOAK_REALM":"main"},"enable":true,"n":3}`,
			secrets: []string{"pnu_TopSecretKey123", "true", "512"},
			want:    `{"image":"prefecthq/prefect:3-latest","family":"prefect_ecs-pool_d1e2","cluster":"arn:aws:ecs:us-east-1:123456789012:cluster/prod","tags":[{"key":"prefect.io/flow-run-id","value":"9a3b"}],"cpu":"512","env":{"SECRET_NAME":"db","TOKENIZERS_PARALLELISM":"false","KEYCLOAK_REALM":"main"},"enable":true,"n":3}`,
		},
		"only strings change": {
			in:    `{"password":{"nested":"x"},"token":["a"],"api_key":42,"secret":true,"passwd":null,"DB_PASS":""}`,
			want:  `{"password":{"nested":"x"},"token":["a"],"api_key":42,"secret":true,"passwd":null,"DB_PASS":""}`,
			where: []string{},
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
			masked, where := redact.New(tc.secrets...).Value(in)
			got, _ := jsonv.Marshal(masked)
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if tc.where == nil {
				tc.where = []string{}
			}
			if !slices.Equal(where, tc.where) {
				t.Errorf("where = %q, want %q", where, tc.where)
			}
			after, _ := jsonv.Marshal(in)
			if string(before) != string(after) {
				t.Errorf("input was modified: %s", after)
			}
			if !sameShape(t, tc.in, string(got)) {
				t.Errorf("masking changed the structure:\n%s\n%s", tc.in, got)
			}
			if len(tc.secrets) == 0 {
				if pkg, _ := jsonv.Marshal(redact.Value(in)); string(pkg) != tc.want {
					t.Errorf("redact.Value: got %s", pkg)
				}
			}
		})
	}
}

// sameShape reports whether two JSON documents have the same keys, array
// lengths and value types.
func sameShape(t *testing.T, a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		t.Fatal("not JSON")
	}
	var shape func(v any) string
	shape = func(v any) string {
		switch t := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(t))
			for k, e := range t {
				keys = append(keys, k+":"+shape(e))
			}
			slices.Sort(keys)
			return "{" + strings.Join(keys, ",") + "}"
		case []any:
			parts := make([]string, len(t))
			for i, e := range t {
				parts[i] = shape(e)
			}
			return "[" + strings.Join(parts, ",") + "]"
		case string:
			return "s"
		case float64:
			return "n"
		case bool:
			return "b"
		}
		return "null"
	}
	return shape(x) == shape(y)
}

// TestRedactorWith shows how a caller learns the secrets of a value before
// masking messages about it.
func TestRedactorWith(t *testing.T) {
	t.Parallel()
	v, _ := jsonv.Decode([]byte(`{"env":{"DB_PASS":"hunter22","DATABASE_URL":"postgres://u:pg-password@db/app","X":"1"}}`))
	r := redact.New().With(v)
	got := r.String(`env.X: "hunter22 and pg-password" is not a number`)
	if want := `env.X: "******** and ********" is not a number`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
