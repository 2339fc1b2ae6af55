package startscmd

import (
	"context"
	"errors"
	"fmt"

	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awserr"
	"github.com/ecsworker/ecsworker/internal/buildinfo"
	"github.com/ecsworker/ecsworker/internal/ecrimage"
	"github.com/ecsworker/ecsworker/internal/infra"
	"github.com/ecsworker/ecsworker/internal/startstats"
)

// image is what is known of a deployment's image.
type image struct {
	Image     string `json:"image"`
	SizeBytes int64  `json:"size_bytes,omitempty"`
	// Detail is the size, or why there is none.
	Detail string `json:"detail"`
	region string // the ECR registry's, "" outside ECR
}

// imageLookup asks ECR for image sizes, each image once, with the
// environment's AWS credentials (or --aws-profile) in the image's own
// region. AWS is optional here: once the credentials are found missing,
// the remaining lookups are skipped with the same reason.
type imageLookup struct {
	profile string
	clients map[string]awsclient.ECRAPI // by region
	seen    map[string]image
	// skipped says why sizes were not looked up at all ("" when they were).
	skipped string
}

func newImageLookup(profile string) *imageLookup {
	return &imageLookup{profile: profile, clients: map[string]awsclient.ECRAPI{}, seen: map[string]image{}}
}

// describeImages is the action the lookup needs, as the catalog names it.
const describeImages = "ecr:DescribeImages"

func (l *imageLookup) lookup(ctx context.Context, uri string) image {
	if img, ok := l.seen[uri]; ok {
		return img
	}
	img := l.describe(ctx, uri)
	l.seen[uri] = img
	return img
}

func (l *imageLookup) describe(ctx context.Context, uri string) image {
	ref, ok := ecrimage.Parse(uri)
	if !ok {
		return image{Image: uri, Detail: "not checked: not in a private ECR registry"}
	}
	img := image{Image: uri, region: ref.Region}
	if l.skipped != "" {
		img.Detail = "not checked: " + l.skipped
		return img
	}
	api, err := l.client(ctx, ref.Region)
	if err != nil {
		l.skipped = err.Error()
		img.Detail = "not checked: " + l.skipped
		return img
	}
	out, err := api.DescribeImages(ctx, ref.DescribeImagesInput())
	var noRepo *ecrtypes.RepositoryNotFoundException
	var noImage *ecrtypes.ImageNotFoundException
	if err != nil {
		if _, missing := awserr.CredentialsNotObtained(err); missing {
			l.skipped = "no AWS credentials (configure them, or pass --aws-profile, to see ECR image sizes)"
			img.Detail = "not checked: " + l.skipped
			return img
		}
	}
	switch {
	case errors.As(err, &noRepo):
		img.Detail = fmt.Sprintf("not in ECR: no repository %s in registry %s (region %s), so tasks cannot pull it", ref.Repository, ref.Registry, ref.Region)
	case errors.As(err, &noImage), err == nil && len(out.ImageDetails) == 0:
		img.Detail = fmt.Sprintf("not in ECR: repository %s has no image with %s, so tasks cannot pull it", ref.Repository, ref.What())
	case err != nil && awserr.IsUnavailable(err):
		img.Detail = "not checked (" + describeImages + " refused)"
	case err != nil:
		img.Detail = "not checked: " + describeImages + " failed: " + awserr.ErrorMessage(err)
	case out.ImageDetails[0].ImageSizeInBytes == nil:
		img.Detail = "in ECR, size not reported"
	default:
		img.SizeBytes = *out.ImageDetails[0].ImageSizeInBytes
		img.Detail = startstats.FormatBytes(img.SizeBytes) + " in ECR (compressed)"
	}
	return img
}

func (l *imageLookup) client(ctx context.Context, region string) (awsclient.ECRAPI, error) {
	if c, ok := l.clients[region]; ok {
		return c, nil
	}
	cs, err := infra.NewClients(ctx, infra.ClientOptions{Region: region, Profile: l.profile, UserAgent: buildinfo.String()})
	if err != nil {
		return nil, err
	}
	c, err := cs.ECRIn(ctx, region)
	if err != nil {
		return nil, err
	}
	l.clients[region] = c
	return c, nil
}
