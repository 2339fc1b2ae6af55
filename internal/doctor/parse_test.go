package doctor

import (
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/ecrimage"
)

func TestSourceOf(t *testing.T) {
	tests := []struct {
		caller, arn, kind, name, skip string
		pathLost                      bool
	}{
		{caller: "arn:aws:iam::123456789012:user/ci/deployer", arn: "arn:aws:iam::123456789012:user/ci/deployer", kind: "user", name: "deployer"},
		{caller: "arn:aws:sts::123456789012:assumed-role/prefect-worker/ecsworker-1a2b", arn: "arn:aws:iam::123456789012:role/prefect-worker", kind: "role", name: "prefect-worker", pathLost: true},
		{caller: "arn:aws-cn:sts::123456789012:assumed-role/w/s", arn: "arn:aws-cn:iam::123456789012:role/w", kind: "role", name: "w", pathLost: true},
		{caller: "arn:aws:iam::123456789012:root", skip: "root user"},
		{caller: "arn:aws:sts::123456789012:federated-user/bob", skip: "only IAM users and roles"},
		{caller: "nonsense", skip: "not an ARN"},
	}
	for _, tc := range tests {
		s := sourceOf(tc.caller)
		if s.arn != tc.arn || s.kind != tc.kind || s.name != tc.name || s.pathLost != tc.pathLost || !strings.Contains(s.skip, tc.skip) || (tc.skip == "") != (s.skip == "") {
			t.Errorf("sourceOf(%s) = %+v", tc.caller, s)
		}
	}
}

func TestParseECRImage(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		image                             string
		ok                                bool
		registry, region, repo, tag, dgst string
	}{
		{image: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/flows:2024.06", ok: true, registry: "123456789012", region: "eu-west-1", repo: "team/flows", tag: "2024.06"},
		{image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/flows", ok: true, registry: "123456789012", region: "us-east-1", repo: "flows", tag: "latest"},
		{image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/flows@" + digest, ok: true, registry: "123456789012", region: "us-east-1", repo: "flows", dgst: digest},
		{image: "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/flows:v1", ok: true, registry: "123456789012", region: "us-gov-west-1", repo: "flows", tag: "v1"},
		{image: "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/flows:v1", ok: true, registry: "123456789012", region: "cn-north-1", repo: "flows", tag: "v1"},
		{image: "prefecthq/prefect:3-latest"},
		{image: "public.ecr.aws/prefecthq/prefect:3-latest"},
		{image: "ghcr.io/acme/flows:v1"},
	}
	for _, tc := range tests {
		im, ok := ecrimage.Parse(tc.image)
		if ok != tc.ok || im.Registry != tc.registry || im.Region != tc.region || im.Repository != tc.repo || im.Tag != tc.tag || im.Digest != tc.dgst {
			t.Errorf("ecrimage.Parse(%s) = %+v, %v", tc.image, im, ok)
		}
	}
}

func TestMegabytes(t *testing.T) {
	for n, want := range map[int64]string{734_003_200: "734 MB", 5_300_000: "5.3 MB", 0: "0.0 MB"} {
		if got := megabytes(n); got != want {
			t.Errorf("megabytes(%d) = %s, want %s", n, got, want)
		}
	}
}
