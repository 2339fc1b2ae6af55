// Package ecrimage reads container image references that point at a
// private ECR registry, so that the commands that check an image before
// using it (doctor, infra deploy-service) ask ECR the same question.
package ecrimage

import (
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecsworker/ecsworker/internal/lazyregexp"
)

// imageRE matches an image in a private ECR registry:
// ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO[:TAG][@DIGEST].
var imageRE = lazyregexp.New(`^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/([a-z0-9][a-z0-9._/-]*?)(?::([\w][\w.-]{0,127}))?(?:@(sha256:[a-f0-9]{64}))?$`)

// Ref is an image reference in a private ECR registry.
type Ref struct {
	// URI is the reference as given.
	URI string
	// Registry is the registry's account ID.
	Registry string
	// Region is the registry's region, which may differ from the region
	// the image is used in.
	Region     string
	Repository string
	// Tag is the tag ("latest" when neither a tag nor a digest is given,
	// as docker pulls); empty when only a digest is given.
	Tag string
	// Digest is "sha256:..." when the reference pins one.
	Digest string
}

// Parse reads image as an ECR reference; ok is false for an image
// anywhere else (Docker Hub, ghcr.io, public.ecr.aws, ...).
func Parse(image string) (r Ref, ok bool) {
	m := imageRE().FindStringSubmatch(image)
	if m == nil {
		return Ref{}, false
	}
	r = Ref{URI: image, Registry: m[1], Region: m[2], Repository: m[3], Tag: m[4], Digest: m[5]}
	if r.Tag == "" && r.Digest == "" {
		r.Tag = "latest"
	}
	return r, true
}

// What names the image within its repository, for messages: "digest
// sha256:..." when pinned, else "tag T". The digest wins, as it does when
// docker pulls REPO:TAG@DIGEST.
func (r Ref) What() string {
	if r.Digest != "" {
		return "digest " + r.Digest
	}
	return "tag " + r.Tag
}

// DescribeImagesInput asks ECR for this image: its registry and
// repository, and its digest when pinned, else its tag (as What names it).
func (r Ref) DescribeImagesInput() *ecr.DescribeImagesInput {
	id := ecrtypes.ImageIdentifier{}
	if r.Digest != "" {
		id.ImageDigest = aws.String(r.Digest)
	} else {
		id.ImageTag = aws.String(r.Tag)
	}
	return &ecr.DescribeImagesInput{
		RegistryId: aws.String(r.Registry), RepositoryName: aws.String(r.Repository), ImageIds: []ecrtypes.ImageIdentifier{id},
	}
}

// Host is the registry's host name, where docker logs in and pushes.
func (r Ref) Host() string {
	host, _, _ := strings.Cut(r.URI, "/")
	return host
}
