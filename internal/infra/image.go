package infra

import (
	"context"
	"errors"
	"fmt"
	"strings"

	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awserr"
	"github.com/ecsworker/ecsworker/internal/ecrimage"
	"github.com/ecsworker/ecsworker/internal/lazyregexp"
)

// ImageRepository is where ecsworker's releases publish the worker image,
// tagged with the release's version without its v (1.2.3), as goreleaser
// and docker/metadata-action tag it.
const ImageRepository = "ghcr.io/ecsworker/ecsworker"

// releaseRE is a release tag: semver, with or without the v, with an
// optional pre-release (v1.3.0-rc.1, which is published too) and no build
// metadata (+dirty, +incompatible: never a release).
var releaseRE = lazyregexp.New(`^v?((?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?)$`)

// pseudoRE is the tail of a Go pseudo-version (v0.0.0-20260101120000-abcdef123456,
// v1.2.4-0.20260101120000-abcdef123456): what go build stamps for an
// untagged commit. It looks like a pre-release but nothing is published
// under it.
var pseudoRE = lazyregexp.New(`(?:^|[-.])\d{14}-[0-9a-f]{12}$`)

// ReleaseImage returns the published worker image of an ecsworker version
// (buildinfo.String): ImageRepository:1.2.3 for v1.2.3. ok is false for a
// development build ("dev", a pseudo-version, +dirty), which has none.
func ReleaseImage(version string) (image string, ok bool) {
	m := releaseRE().FindStringSubmatch(version)
	if m == nil || pseudoRE().MatchString(version) {
		return "", false
	}
	return ImageRepository + ":" + m[1], true
}

// NoReleaseImageError is the missing --image of a development build: it
// says how to build and push an image of one's own.
type NoReleaseImageError struct {
	// Version is the build's version ("dev", a pseudo-version).
	Version string
	// Region is where the commands push the image ("" : a placeholder).
	Region string
	// Command is the command line to run once the image is pushed.
	Command string
}

func (e *NoReleaseImageError) Error() string {
	region := e.Region
	if region == "" {
		region = "us-east-1"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "--image is required: this ecsworker is a development build (version %s), and only releases have a published image (%s:X.Y.Z). ", e.Version, ImageRepository)
	b.WriteString("Build one from this checkout, push it to ECR, and pass it with --image (or ECSWORKER_IMAGE):\n")
	for _, line := range []string{
		"ACCOUNT=$(aws sts get-caller-identity --query Account --output text) REGION=" + region,
		"IMAGE=$ACCOUNT.dkr.ecr.$REGION.amazonaws.com/ecsworker:dev",
		"aws ecr create-repository --repository-name ecsworker --region $REGION   # once",
		"aws ecr get-login-password --region $REGION | docker login --username AWS --password-stdin $ACCOUNT.dkr.ecr.$REGION.amazonaws.com",
		"docker build --build-arg VERSION=dev -t $IMAGE . && docker push $IMAGE",
		e.Command + " --image $IMAGE",
	} {
		b.WriteString("  " + line + "\n")
	}
	b.WriteString("Or install a release (https://github.com/ecsworker/ecsworker/releases), whose image is published.")
	return b.String()
}

// ImageCheck is what the pre-deploy check of the worker's image found.
type ImageCheck struct {
	Image string `json:"image"`
	// Found is true when ECR confirmed the image exists.
	Found bool `json:"found"`
	// Detail says what was checked and found, or why it was not checked.
	Detail string `json:"detail"`
	// Warning is set when the image could not be checked: the deploy goes
	// on, but the tasks may fail to pull it.
	Warning string `json:"warning,omitempty"`
}

// describeImages is the action the check needs, as the catalog names it.
const describeImages = "ecr:DescribeImages"

// CheckImage checks that the worker's image exists before a service is
// deployed to pull it: a service whose image is missing starts tasks that
// fail to pull, until the deployment circuit breaker rolls it back. An
// image in a private ECR registry is looked up in its own region with
// ecr:DescribeImages; a missing one is an error that says how to push it.
// When the lookup is refused or fails, and for images outside ECR, the
// check says so in a warning and the deploy goes on.
func CheckImage(ctx context.Context, ecrIn func(context.Context, string) (awsclient.ECRAPI, error), image string) (*ImageCheck, error) {
	ref, ok := ecrimage.Parse(image)
	if !ok {
		detail := "not checked: only images in a private ECR registry are looked up"
		return &ImageCheck{Image: image, Detail: detail,
			Warning: fmt.Sprintf("the image %s is outside ECR and was not checked: make sure it exists and that the worker's subnets can pull it without credentials", image)}, nil
	}
	api, err := ecrIn(ctx, ref.Region)
	if err != nil {
		return notChecked(image, fmt.Sprintf("no AWS clients for region %s: %v", ref.Region, err)), nil
	}
	out, err := api.DescribeImages(ctx, ref.DescribeImagesInput())
	where := fmt.Sprintf("registry %s (region %s)", ref.Registry, ref.Region)
	var noRepo *ecrtypes.RepositoryNotFoundException
	var noImage *ecrtypes.ImageNotFoundException
	switch {
	case errors.As(err, &noRepo):
		return nil, fmt.Errorf("--image %s: ECR has no repository %s in %s, so the worker's tasks could not pull the image; create it and push the image first (aws ecr create-repository --repository-name %s --region %s, then docker push %s), or pass another --image",
			image, ref.Repository, where, ref.Repository, ref.Region, image)
	case errors.As(err, &noImage), err == nil && len(out.ImageDetails) == 0:
		return nil, fmt.Errorf("--image %s: repository %s in %s has no image with %s, so the worker's tasks could not pull it; push it first (docker push %s), or pass another --image",
			image, ref.Repository, where, ref.What(), image)
	case err != nil && awserr.IsUnavailable(err):
		// Denied (or not offered by the endpoint): the check is optional,
		// as for the worker's optional actions.
		return notChecked(image, fmt.Sprintf("AWS refused %s to this identity, grant it to have the image checked: %s", describeImages, awserr.ErrorMessage(err))), nil
	case err != nil:
		return notChecked(image, fmt.Sprintf("%s failed: %s", describeImages, awserr.ErrorMessage(err))), nil
	}
	d := out.ImageDetails[0]
	if d.ImageStatus == ecrtypes.ImageStatusArchived {
		return nil, fmt.Errorf("--image %s: the image is archived, and ECR does not serve it until it is restored; restore it (aws ecr update-image-storage-class --repository-name %s --image-id %s --target-storage-class STANDARD --region %s) or push it again",
			image, ref.Repository, imageIDArg(ref), ref.Region)
	}
	detail := "found in ECR"
	var facts []string
	if d.ImageSizeInBytes != nil {
		facts = append(facts, fmt.Sprintf("%.1f MB", float64(*d.ImageSizeInBytes)/1e6))
	}
	if d.ImagePushedAt != nil {
		facts = append(facts, "pushed "+d.ImagePushedAt.UTC().Format("2006-01-02"))
	}
	if len(facts) > 0 {
		detail += " (" + strings.Join(facts, ", ") + ")"
	}
	return &ImageCheck{Image: image, Found: true, Detail: detail}, nil
}

func notChecked(image, why string) *ImageCheck {
	return &ImageCheck{Image: image, Detail: "not checked: " + why,
		Warning: fmt.Sprintf("could not check that the image %s exists (%s); the deploy goes on, and its tasks fail to pull if the image is missing", image, why)}
}

func imageIDArg(r ecrimage.Ref) string {
	if r.Digest != "" {
		return "imageDigest=" + r.Digest
	}
	return "imageTag=" + r.Tag
}
