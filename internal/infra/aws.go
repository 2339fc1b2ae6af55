package infra

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/ecsworker/ecsworker/internal/awsecs"
)

// CloudFormationAPI lists the CloudFormation calls the infra commands make.
type CloudFormationAPI interface {
	DescribeStacks(context.Context, *cloudformation.DescribeStacksInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
	DescribeStackEvents(context.Context, *cloudformation.DescribeStackEventsInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStackEventsOutput, error)
	CreateChangeSet(context.Context, *cloudformation.CreateChangeSetInput, ...func(*cloudformation.Options)) (*cloudformation.CreateChangeSetOutput, error)
	DescribeChangeSet(context.Context, *cloudformation.DescribeChangeSetInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeChangeSetOutput, error)
	ExecuteChangeSet(context.Context, *cloudformation.ExecuteChangeSetInput, ...func(*cloudformation.Options)) (*cloudformation.ExecuteChangeSetOutput, error)
	DeleteChangeSet(context.Context, *cloudformation.DeleteChangeSetInput, ...func(*cloudformation.Options)) (*cloudformation.DeleteChangeSetOutput, error)
	DeleteStack(context.Context, *cloudformation.DeleteStackInput, ...func(*cloudformation.Options)) (*cloudformation.DeleteStackOutput, error)
}

// ECSAPI lists the ECS call of the pre-deploy check.
type ECSAPI interface {
	DescribeClusters(context.Context, *ecs.DescribeClustersInput, ...func(*ecs.Options)) (*ecs.DescribeClustersOutput, error)
}

// EC2API lists the EC2 calls of the pre-deploy check.
type EC2API interface {
	DescribeVpcs(context.Context, *ec2.DescribeVpcsInput, ...func(*ec2.Options)) (*ec2.DescribeVpcsOutput, error)
	DescribeSubnets(context.Context, *ec2.DescribeSubnetsInput, ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error)
}

// STSAPI is the credential check.
type STSAPI interface {
	GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

var (
	_ CloudFormationAPI = (*cloudformation.Client)(nil)
	_ ECSAPI            = (*ecs.Client)(nil)
	_ EC2API            = (*ec2.Client)(nil)
	_ STSAPI            = (*sts.Client)(nil)
)

// Clients are the AWS clients of one region and profile.
type Clients struct {
	CFN    CloudFormationAPI
	ECS    ECSAPI
	EC2    EC2API
	STS    STSAPI
	Region string
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
	Factory *awsecs.ClientFactory
}

// NewClients loads the AWS configuration. It makes no call: credentials
// are resolved, and reported missing, by CheckCredentials.
func NewClients(ctx context.Context, o ClientOptions) (*Clients, error) {
	f := o.Factory
	if f == nil {
		f = awsecs.NewClientFactory(awsecs.FactoryOptions{
			Version: o.UserAgent, HTTPClient: o.HTTPClient,
			// The SDK's defaults: a deploy is interactive, it reports
			// failures rather than retrying them for long.
			RetryMode: "standard", MaxAttempts: 3,
		})
	}
	c, err := f.For(ctx, awsecs.Credentials{Region: o.Region, Profile: o.Profile})
	if err != nil {
		var missing config.SharedConfigProfileNotExistError
		switch {
		case errors.As(err, &missing):
			return nil, fmt.Errorf("--aws-profile %q: no such profile in ~/.aws/config or ~/.aws/credentials (or AWS_CONFIG_FILE); add it, or use another profile", missing.Profile)
		case errors.Is(err, awsecs.ErrNoRegion):
			return nil, errors.New("no AWS region: pass --region, set AWS_REGION, or set a region in your AWS profile")
		}
		return nil, err
	}
	// An endpoint the factory was told to use wins over the environment's,
	// as for the worker's clients.
	cfg := c.Config.Copy()
	if c.Endpoint != "" {
		cfg.BaseEndpoint = aws.String(c.Endpoint)
	}
	return &Clients{
		CFN: cloudformation.NewFromConfig(cfg), ECS: ecs.NewFromConfig(cfg),
		EC2: ec2.NewFromConfig(cfg), STS: sts.NewFromConfig(cfg),
		Region: c.Region,
	}, nil
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
func CheckCredentials(ctx context.Context, api STSAPI) (*Identity, error) {
	out, err := api.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		var se *v4.SigningError
		if errors.As(err, &se) {
			return nil, &CredentialsError{Missing: true, Err: se.Err}
		}
		// The SDK resolves credentials before signing and wraps a failure
		// in plain errors ("get identity: get credentials: ..."): no AWS
		// answer at all, as opposed to AWS refusing the ones it got.
		var ae smithy.APIError
		if !errors.As(err, &ae) && strings.Contains(err.Error(), "get identity") {
			return nil, &CredentialsError{Missing: true, Err: err}
		}
		if ae == nil {
			return nil, fmt.Errorf("checking the AWS credentials with STS: %w", err)
		}
		return nil, &CredentialsError{Err: err}
	}
	return &Identity{Account: aws.ToString(out.Account), Arn: aws.ToString(out.Arn)}, nil
}

// apiErrorCode is the AWS error code of err, "" for other errors.
func apiErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// apiErrorMessage is the message AWS gave, without the SDK's operation
// and request ID wrapping, for errors shown to people.
func apiErrorMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return err.Error()
}

func isStackMissing(err error) bool {
	return apiErrorCode(err) == "ValidationError" && strings.Contains(apiErrorMessage(err), "does not exist")
}
