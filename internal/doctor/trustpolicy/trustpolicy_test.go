package trustpolicy_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/doctor/trustpolicy"
)

func TestTrusts(t *testing.T) {
	tests := map[string]struct {
		doc    string
		ok     bool
		detail string
	}{
		"the usual trust policy": {
			doc: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`,
			ok:  true,
		},
		"one statement, lists, a wildcard action": {
			doc: `{"Statement":{"Effect":"Allow","Principal":{"Service":["lambda.amazonaws.com","ecs-tasks.amazonaws.com"]},"Action":["sts:Assume*","sts:TagSession"]}}`,
			ok:  true,
		},
		"under conditions": {
			doc:    `{"Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:SourceAccount":"123456789012"},"ArnLike":{"aws:SourceArn":"arn:aws:ecs:*"}}}]}`,
			ok:     true,
			detail: "under conditions on aws:SourceAccount, aws:SourceArn",
		},
		"anyone": {
			doc: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}]}`,
			ok:  true,
		},
		"another service": {
			doc:    `{"Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`,
			detail: "no statement allows",
		},
		"another action": {
			doc:    `{"Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:TagSession"}]}`,
			detail: "no statement allows",
		},
		"an explicit deny": {
			doc: `{"Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"},
				{"Effect":"Deny","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:*"}]}`,
			detail: "denies",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			// As GetRole returns it: URL-encoded, spaces as %20.
			encoded := strings.ReplaceAll(url.QueryEscape(tc.doc), "+", "%20")
			ok, detail, err := trustpolicy.Trusts(encoded, "ecs-tasks.amazonaws.com")
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.ok || !strings.Contains(detail, tc.detail) {
				t.Errorf("trusts = %v, %q; want %v, %q", ok, detail, tc.ok, tc.detail)
			}
		})
	}
	if _, _, err := trustpolicy.Trusts("%7Bnot json", "ecs-tasks.amazonaws.com"); err == nil {
		t.Errorf("a broken document should be an error")
	}
}
