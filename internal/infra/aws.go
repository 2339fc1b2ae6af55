package infra

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awscreds"
	"github.com/ecsworker/ecsworker/internal/awserr"
)

// Clients are the AWS clients of one region and profile.
type Clients struct {
	CFN awsclient.CloudFormationAPI
	ECS awsclient.ECSAPI
	EC2 awsclient.EC2API
	// SG checks the security groups deploy-capacity is given.
	SG     SecurityGroupsAPI
	STS    awsclient.STSAPI
	Region string
	// ECRIn returns the same identity's ECR client in region: an image's
	// registry may be in another region than the stack.
	ECRIn func(ctx context.Context, region string) (awsclient.ECRAPI, error)
}

// ClientOptions choose the AWS account and region; empty fields fall back
// to the SDK's chain (AWS_REGION, AWS_PROFILE, shared config, SSO, ...).
type ClientOptions struct {
	Region  string
	Profile string
	// UserAgent is added to every request as ecsworker/<UserAgent>.
	UserAgent string
	// HTTPClient replaces the SDK's (tests).
	HTTPClient aws.HTTPClient
	// Factory makes the clients (nil: a factory of its own). The worker's
	// client factory keys its clients on the fingerprint of every
	// credential field, in a bounded cache; so do the infra commands.
	Factory *awsclient.Factory
}

// NewClients loads the AWS configuration. It makes no call: credentials
// are resolved, and reported missing, by CheckCredentials.
func NewClients(ctx context.Context, o ClientOptions) (*Clients, error) {
	f := o.Factory
	if f == nil {
		f = awsclient.NewFactory(awsclient.FactoryOptions{
			Version: o.UserAgent, HTTPClient: o.HTTPClient,
			// The SDK's defaults: a deploy is interactive, it reports
			// failures rather than retrying them for long.
			RetryMode: "standard", MaxAttempts: 3,
		})
	}
	creds := awscreds.Credentials{Region: o.Region, Profile: o.Profile}
	c, err := f.For(ctx, creds)
	if err != nil {
		var missing config.SharedConfigProfileNotExistError
		switch {
		case errors.As(err, &missing):
			return nil, fmt.Errorf("--aws-profile %q: no such profile in ~/.aws/config or ~/.aws/credentials (or AWS_CONFIG_FILE); add it, or use another profile", missing.Profile)
		case errors.Is(err, awsclient.ErrNoRegion):
			return nil, errors.New("no AWS region: pass --region, set AWS_REGION, or set a region in your AWS profile")
		}
		return nil, err
	}
	cfg := configOf(c)
	ecrIn := func(ctx context.Context, region string) (awsclient.ECRAPI, error) {
		if region == c.Region {
			return ecr.NewFromConfig(cfg), nil
		}
		// The factory keys its clients on the credentials, region included:
		// another region gets clients of its own, of the same identity.
		in := creds
		in.Region = region
		rc, err := f.For(ctx, in)
		if err != nil {
			return nil, err
		}
		return ecr.NewFromConfig(configOf(rc)), nil
	}
	ec2c := ec2.NewFromConfig(cfg)
	return &Clients{
		CFN: cloudformation.NewFromConfig(cfg), ECS: ecs.NewFromConfig(cfg),
		EC2: ec2c, SG: ec2c, STS: sts.NewFromConfig(cfg),
		Region: c.Region, ECRIn: ecrIn,
	}, nil
}

// configOf is the SDK configuration of c's clients. An endpoint the
// factory was told to use wins over the environment's, as for the
// worker's clients.
func configOf(c *awsclient.Clients) aws.Config {
	cfg := c.Config.Copy()
	if c.Endpoint != "" {
		cfg.BaseEndpoint = aws.String(c.Endpoint)
	}
	return cfg
}

// CredentialsError means the AWS credentials are missing or refused.
type CredentialsError struct {
	Missing bool
	Err     error
}

func (e *CredentialsError) Error() string {
	if e.Missing {
		return "AWS credentials not found: configure them (aws configure, aws sso login, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or --aws-profile): " + e.Err.Error()
	}
	return "AWS refused the credentials (check that they are current and for the right account, or pick another --aws-profile): " + e.Err.Error()
}

func (e *CredentialsError) Unwrap() error { return e.Err }

// Identity is who the credentials belong to.
type Identity struct{ Account, Arn string }

// CheckCredentials asks STS who the caller is, so that a missing or
// expired credential is reported before anything else is attempted.
func CheckCredentials(ctx context.Context, api awsclient.STSAPI) (*Identity, error) {
	out, err := api.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		if cause, ok := awserr.CredentialsNotObtained(err); ok {
			return nil, &CredentialsError{Missing: true, Err: cause}
		}
		if !awserr.Answered(err) {
			// No answer at all (network, timeout): not the credentials'
			// fault, as far as anyone can tell.
			return nil, fmt.Errorf("checking the AWS credentials with STS: %w", err)
		}
		return nil, &CredentialsError{Err: err}
	}
	return &Identity{Account: aws.ToString(out.Account), Arn: aws.ToString(out.Arn)}, nil
}
