package awsfake_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
)

func TestECRDescribeImages(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newBubbleEnv(t, awsfake.Options{})
		uri := e.s.PutImage("prefect/flows", "v1", 123456)
		if uri != "123456789012.dkr.ecr.us-east-1.amazonaws.com/prefect/flows:v1" {
			t.Errorf("PutImage = %s", uri)
		}
		pushed := time.Now()
		time.Sleep(time.Minute)
		e.s.PutImage("prefect/flows", "v2", 200)
		e.s.PutImage("prefect/flows", "v1", 300) // moves v1 to a new image

		out, err := e.ecr.DescribeImages(e.ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("prefect/flows"),
			ImageIds: []ecrtypes.ImageIdentifier{{ImageTag: aws.String("v2")}}})
		if err != nil || len(out.ImageDetails) != 1 {
			t.Fatalf("by tag: %+v, %v", out, err)
		}
		d := out.ImageDetails[0]
		if aws.ToString(d.RegistryId) != "123456789012" || aws.ToString(d.RepositoryName) != "prefect/flows" || !slices.Equal(d.ImageTags, []string{"v2"}) ||
			aws.ToInt64(d.ImageSizeInBytes) != 200 || !strings.HasPrefix(aws.ToString(d.ImageDigest), "sha256:") || len(aws.ToString(d.ImageDigest)) != 71 ||
			aws.ToString(d.ImageManifestMediaType) != "application/vnd.docker.distribution.manifest.v2+json" || !d.ImagePushedAt.Equal(pushed.Add(time.Minute)) {
			t.Errorf("image = %+v", d)
		}
		byDigest, err := e.ecr.DescribeImages(e.ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("prefect/flows"), RegistryId: aws.String("123456789012"),
			ImageIds: []ecrtypes.ImageIdentifier{{ImageDigest: d.ImageDigest}}})
		if err != nil || aws.ToString(byDigest.ImageDetails[0].ImageDigest) != aws.ToString(d.ImageDigest) {
			t.Errorf("by digest: %+v, %v", byDigest, err)
		}

		all, err := e.ecr.DescribeImages(e.ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("prefect/flows")})
		if err != nil || len(all.ImageDetails) != 3 {
			t.Fatalf("all: %+v, %v", all, err)
		}
		if len(all.ImageDetails[0].ImageTags) != 0 || !all.ImageDetails[0].ImagePushedAt.Equal(pushed) {
			t.Errorf("the first image should have lost its tag: %+v", all.ImageDetails[0])
		}
		untagged, err := e.ecr.DescribeImages(e.ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("prefect/flows"),
			Filter: &ecrtypes.DescribeImagesFilter{TagStatus: ecrtypes.TagStatusUntagged}})
		if err != nil || len(untagged.ImageDetails) != 1 {
			t.Errorf("untagged: %+v, %v", untagged, err)
		}

		_, err = e.ecr.DescribeImages(e.ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("prefect/flows"),
			ImageIds: []ecrtypes.ImageIdentifier{{ImageTag: aws.String("latest")}}})
		var noImage *ecrtypes.ImageNotFoundException
		if !errors.As(err, &noImage) || apiMessage(err) != "The image with imageId {imageDigest:'null', imageTag:'latest'} does not exist within the repository with name 'prefect/flows' in the registry with id '123456789012'" {
			t.Errorf("missing tag = %v", err)
		}
		_, err = e.ecr.DescribeImages(e.ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("nope")})
		var noRepo *ecrtypes.RepositoryNotFoundException
		if !errors.As(err, &noRepo) || httpStatus(err) != 400 || apiMessage(err) != "The repository with name 'nope' does not exist in the registry with id '123456789012'" {
			t.Errorf("missing repository = %v", err)
		}
		_, err = e.ecr.DescribeImages(e.ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("prefect/flows"), RegistryId: aws.String("210987654321")})
		if !errors.As(err, &noRepo) || !strings.HasSuffix(apiMessage(err), "in the registry with id '210987654321'") {
			t.Errorf("another registry = %v", err)
		}

		// ECR is regional: the registry of another region has none of the
		// repositories pushed here.
		_, err = e.ecr.DescribeImages(e.ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("prefect/flows"),
			ImageIds: []ecrtypes.ImageIdentifier{{ImageTag: aws.String("v2")}}}, func(o *ecr.Options) { o.Region = "eu-west-1" })
		if !errors.As(err, &noRepo) || apiMessage(err) != "The repository with name 'prefect/flows' does not exist in the registry with id '123456789012'" {
			t.Errorf("another region = %v", err)
		}

		// Paging.
		var pages, n int
		p := ecr.NewDescribeImagesPaginator(e.ecr, &ecr.DescribeImagesInput{RepositoryName: aws.String("prefect/flows"), MaxResults: aws.Int32(2)})
		for p.HasMorePages() {
			pg, err := p.NextPage(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			n += len(pg.ImageDetails)
		}
		if pages != 2 || n != 3 {
			t.Errorf("%d pages, %d images", pages, n)
		}
	})
}
