package ecrimage_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/ecsworker/ecsworker/internal/ecrimage"
)

func TestParse(t *testing.T) {
	t.Parallel()
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := map[string]struct {
		image string
		ok    bool
		want  ecrimage.Ref
		what  string
		host  string
	}{
		"tag": {image: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/flows:2024.06", ok: true,
			want: ecrimage.Ref{Registry: "123456789012", Region: "eu-west-1", Repository: "team/flows", Tag: "2024.06"},
			what: "tag 2024.06", host: "123456789012.dkr.ecr.eu-west-1.amazonaws.com"},
		"no tag is latest": {image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/flows", ok: true,
			want: ecrimage.Ref{Registry: "123456789012", Region: "us-east-1", Repository: "flows", Tag: "latest"}, what: "tag latest"},
		"digest": {image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/flows@" + digest, ok: true,
			want: ecrimage.Ref{Registry: "123456789012", Region: "us-east-1", Repository: "flows", Digest: digest}, what: "digest " + digest},
		"tag and digest": {image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/flows:v1@" + digest, ok: true,
			want: ecrimage.Ref{Registry: "123456789012", Region: "us-east-1", Repository: "flows", Tag: "v1", Digest: digest}, what: "digest " + digest},
		"fips": {image: "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com/flows:v1", ok: true,
			want: ecrimage.Ref{Registry: "123456789012", Region: "us-gov-west-1", Repository: "flows", Tag: "v1"}, what: "tag v1"},
		"china": {image: "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/flows:v1", ok: true,
			want: ecrimage.Ref{Registry: "123456789012", Region: "cn-north-1", Repository: "flows", Tag: "v1"}, what: "tag v1"},
		"docker hub":    {image: "prefecthq/prefect:3-latest"},
		"public ECR":    {image: "public.ecr.aws/prefecthq/prefect:3-latest"},
		"ghcr.io":       {image: "ghcr.io/ecsworker/ecsworker:1.2.3"},
		"short account": {image: "12345.dkr.ecr.us-east-1.amazonaws.com/flows:v1"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, ok := ecrimage.Parse(tc.image)
			if tc.ok {
				tc.want.URI = tc.image
			}
			if ok != tc.ok || got != tc.want {
				t.Fatalf("Parse(%s) = %+v, %v; want %+v, %v", tc.image, got, ok, tc.want, tc.ok)
			}
			if ok && got.What() != tc.what {
				t.Errorf("What() = %q, want %q", got.What(), tc.what)
			}
			if tc.host != "" && got.Host() != tc.host {
				t.Errorf("Host() = %q, want %q", got.Host(), tc.host)
			}
		})
	}
}

// TestDescribeImagesInput: ECR is asked for the registry and repository of
// the reference, by digest when it pins one (as docker pulls it), else by
// tag.
func TestDescribeImagesInput(t *testing.T) {
	t.Parallel()
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for image, want := range map[string][2]string{
		"123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/flows:v3":           {"v3", ""},
		"123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/flows":              {"latest", ""},
		"123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/flows:v3@" + digest: {"", digest},
	} {
		ref, ok := ecrimage.Parse(image)
		if !ok {
			t.Fatalf("%s is not read as an ECR image", image)
		}
		in := ref.DescribeImagesInput()
		if aws.ToString(in.RegistryId) != "123456789012" || aws.ToString(in.RepositoryName) != "team/flows" || len(in.ImageIds) != 1 {
			t.Fatalf("%s: asked %+v", image, in)
		}
		id := in.ImageIds[0]
		if got := [2]string{aws.ToString(id.ImageTag), aws.ToString(id.ImageDigest)}; got != want {
			t.Errorf("%s: tag and digest %q, want %q", image, got, want)
		}
	}
}
