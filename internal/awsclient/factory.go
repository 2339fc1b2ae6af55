package awsclient

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/ecsworker/ecsworker/internal/awscreds"
	"github.com/ecsworker/ecsworker/internal/awserr"
	"github.com/ecsworker/ecsworker/internal/buildinfo"
)

// Clients are the AWS clients for one set of credentials in one region.
// ECS, EC2 and Logs calls wait for the factory's Budget.
type Clients struct {
	ECS    ECSAPI
	EC2    EC2API
	Logs   LogsAPI
	SQS    SQSAPI
	Region string

	// Permissions remembers what these credentials' identity was refused.
	Permissions *awserr.Permissions

	// Config is the configuration the clients were made from: the
	// identity (an assumed role's session included), region, retryer,
	// HTTP client and call timeouts. Clients of other services (IAM, ECR,
	// CloudFormation, STS) made from it with EndpointOptions act as the
	// same identity under the same deadlines.
	Config aws.Config
	// Endpoint is the endpoint every client is sent to ("": AWS's own).
	Endpoint string
}

// FactoryOptions configure a Factory.
type FactoryOptions struct {
	// MaxAttempts is how many times the SDK tries a call (first attempt
	// included) when the credentials block does not say; default 10.
	MaxAttempts int
	// RetryMode is "adaptive" (default: the SDK also slows down its own
	// sending after throttles) or "standard".
	RetryMode string
	// HTTPClient replaces the SDK's HTTP client.
	HTTPClient aws.HTTPClient
	// BaseEndpoint sends every call of every client to this URL, above
	// anything the credentials or environment say. Meant for tests against
	// the AWS test server.
	BaseEndpoint string
	// Budget is shared by every client the factory makes; nil means
	// NewBudget(DefaultBudget()).
	Budget *Budget
	// Backoff replaces the SDK's delay between retries (tests use a zero
	// delay); nil keeps the SDK's exponential backoff with jitter.
	Backoff retry.BackoffDelayer
	// LoadOptions are passed to config.LoadDefaultConfig after the
	// factory's own (for example config.WithSharedConfigFiles in tests).
	LoadOptions []func(*config.LoadOptions) error
	// Version goes in the user agent as ecsworker/<version>; default the
	// build's version.
	Version string
	// Timeouts bound every call of every client (zero values: the
	// defaults of CallTimeouts).
	Timeouts CallTimeouts
	// Monitor watches every call for the worker's health; nil makes one.
	Monitor *CallMonitor
	// Permissions configure the memory of refused actions each set of
	// clients keeps (its Logger gets the warnings).
	Permissions awserr.PermissionOptions
}

// Factory makes Clients from awscreds.Credentials and keeps the eight most
// recently used sets, keyed by the credentials (and so by region), so that
// the SDK's connection pools, credential caches and adaptive retry state
// are shared by the flow runs that use the same block.
type Factory struct {
	opts   FactoryOptions
	cache  *LRU[string, *Clients]
	flight FlightGroup[string, *Clients]
}

// clientCacheSize is how many sets of clients a factory keeps.
const clientCacheSize = 8

// NewFactory returns a factory with opts' defaults filled in.
func NewFactory(opts FactoryOptions) *Factory {
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 10
	}
	if opts.RetryMode == "" {
		opts.RetryMode = "adaptive"
	}
	if opts.Budget == nil {
		opts.Budget = NewBudget(DefaultBudget())
	}
	if opts.Version == "" {
		opts.Version = buildinfo.String()
	}
	if opts.Monitor == nil {
		opts.Monitor = NewCallMonitor()
	}
	return &Factory{opts: opts, cache: NewLRU[string, *Clients](clientCacheSize)}
}

// Budget is the budget every client of the factory waits for.
func (f *Factory) Budget() *Budget { return f.opts.Budget }

// Monitor watches every call of the factory's clients.
func (f *Factory) Monitor() *CallMonitor { return f.opts.Monitor }

// For returns the clients for creds, made on first use. It makes no AWS
// call: credentials are resolved, and an assumed role is assumed, on the
// first request.
func (f *Factory) For(ctx context.Context, creds awscreds.Credentials) (*Clients, error) {
	key := creds.Fingerprint()
	if c, ok := f.cache.Get(key); ok {
		return c, nil
	}
	c, _, err := f.flight.Do(ctx, key, func() (*Clients, error) {
		if c, ok := f.cache.Get(key); ok {
			return c, nil
		}
		c, err := f.build(ctx, creds)
		if err != nil {
			return nil, err
		}
		f.cache.Put(key, c)
		return c, nil
	})
	return c, err
}

func (f *Factory) build(ctx context.Context, creds awscreds.Credentials) (*Clients, error) {
	mode := f.opts.RetryMode
	if creds.RetryMode != "" {
		mode = creds.RetryMode
	}
	if mode != "adaptive" && mode != "standard" {
		return nil, fmt.Errorf("retry mode %q is not supported; use \"adaptive\" or \"standard\"", mode)
	}
	attempts := f.opts.MaxAttempts
	if creds.MaxAttempts > 0 {
		attempts = creds.MaxAttempts
	}

	load := []func(*config.LoadOptions) error{
		config.WithRetryer(f.retryer(attempts, mode)),
		config.WithAPIOptions([]func(*middleware.Stack) error{
			awsmiddleware.AddUserAgentKeyValue("ecsworker", f.opts.Version),
			deadlineOption(f.opts.Timeouts, f.opts.Monitor),
		}),
	}
	if creds.Region != "" {
		load = append(load, config.WithRegion(creds.Region))
	}
	if creds.Profile != "" {
		load = append(load, config.WithSharedConfigProfile(creds.Profile))
	}
	if creds.AccessKeyID != "" {
		load = append(load, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)))
	}
	hc, err := f.httpClient(creds)
	if err != nil {
		return nil, err
	}
	// The SDK can only apply a CA bundle (AWS_CA_BUNDLE, ca_bundle in the
	// profile) to its own buildable client; any other client is set after
	// loading, and is then responsible for its own TLS settings.
	_, buildable := hc.(*awshttp.BuildableClient)
	if hc != nil && buildable {
		load = append(load, config.WithHTTPClient(hc))
	}
	load = append(load, f.opts.LoadOptions...)

	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if hc != nil && !buildable {
		cfg.HTTPClient = hc
	}
	// Wrapped once loaded, so that a CA bundle still applied to the SDK's
	// own client.
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = awshttp.NewBuildableClient()
	}
	cfg.HTTPClient = plainBodyClient{cfg.HTTPClient}
	if err != nil {
		var missing config.SharedConfigProfileNotExistError
		if errors.As(err, &missing) {
			return nil, fmt.Errorf("aws_credentials.profile_name: the profile %q is not in the shared AWS config files (~/.aws/config, ~/.aws/credentials, or AWS_CONFIG_FILE); add it or remove profile_name: %w", missing.Profile, err)
		}
		return nil, fmt.Errorf("loading the AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, ErrNoRegion
	}

	endpoint := creds.EndpointURL
	if f.opts.BaseEndpoint != "" {
		endpoint = f.opts.BaseEndpoint
	}
	if creds.AssumeRoleARN != "" {
		stsClient := sts.NewFromConfig(cfg, func(o *sts.Options) {
			o.BaseEndpoint, o.EndpointOptions.DisableHTTPS = BaseEndpoint(endpoint, o.BaseEndpoint), creds.DisableSSL
		})
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsClient, creds.AssumeRoleARN, assumeRoleOptions(creds.AssumeRole)))
	}

	b := f.opts.Budget
	c := &Clients{Region: cfg.Region, Permissions: awserr.NewPermissions(f.opts.Permissions), Config: cfg, Endpoint: endpoint}
	c.ECS = ecs.NewFromConfig(cfg, func(o *ecs.Options) {
		o.BaseEndpoint, o.EndpointOptions.DisableHTTPS = BaseEndpoint(endpoint, o.BaseEndpoint), creds.DisableSSL
		o.APIOptions = append(o.APIOptions, b.APIOption("ecs"))
	})
	c.EC2 = ec2.NewFromConfig(cfg, func(o *ec2.Options) {
		o.BaseEndpoint, o.EndpointOptions.DisableHTTPS = BaseEndpoint(endpoint, o.BaseEndpoint), creds.DisableSSL
		o.APIOptions = append(o.APIOptions, b.APIOption("ec2"))
	})
	c.Logs = cloudwatchlogs.NewFromConfig(cfg, func(o *cloudwatchlogs.Options) {
		o.BaseEndpoint, o.EndpointOptions.DisableHTTPS = BaseEndpoint(endpoint, o.BaseEndpoint), creds.DisableSSL
		o.APIOptions = append(o.APIOptions, b.APIOption("logs"))
	})
	c.SQS = sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		o.BaseEndpoint, o.EndpointOptions.DisableHTTPS = BaseEndpoint(endpoint, o.BaseEndpoint), creds.DisableSSL
	})
	return c, nil
}

// BaseEndpoint is the endpoint a client of any service is sent to:
// endpoint when one is set (an endpoint_url, the AWS test server), else
// resolved, the one the SDK found in the configuration (AWS_ENDPOINT_URL
// and the like).
func BaseEndpoint(endpoint string, resolved *string) *string {
	if endpoint != "" {
		return aws.String(endpoint)
	}
	return resolved
}

// plainBodyClient hides io.WriterTo from request bodies. smithy-go closes
// the request body as soon as the response headers arrive; its body's
// WriteTo then returns io.EOF, and net/http, which may still be draining
// the body after sending it, takes that for a failed write and closes the
// connection while the response body is being read ("use of closed
// network connection", about one call in a thousand on a reused
// connection, more on large answers such as DescribeStackEvents). Through
// Read, the same late read is a plain end of body.
type plainBodyClient struct{ c aws.HTTPClient }

func (p plainBodyClient) Do(r *http.Request) (*http.Response, error) {
	if _, ok := r.Body.(io.WriterTo); ok {
		r2 := r.Clone(r.Context())
		r2.Body = struct{ io.ReadCloser }{r.Body}
		r = r2
	}
	return p.c.Do(r)
}

// retryer makes one retryer per client: the SDK's standard or adaptive
// mode, with ECS's throttles in disguise counted as throttles.
func (f *Factory) retryer(attempts int, mode string) func() aws.Retryer {
	return func() aws.Retryer {
		std := func(o *retry.StandardOptions) {
			o.MaxAttempts = attempts
			o.Retryables = append(o.Retryables, awserr.SDKRetryable)
			o.Throttles = append(o.Throttles, awserr.SDKThrottle)
			if f.opts.Backoff != nil {
				o.Backoff = f.opts.Backoff
			}
		}
		if mode == "standard" {
			return retry.NewStandard(std)
		}
		return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
			o.StandardOptions = append(o.StandardOptions, std)
			o.Throttles = append(o.Throttles, awserr.SDKThrottle)
		})
	}
}

// httpClient applies the block's TLS settings to the HTTP client.
func (f *Factory) httpClient(creds awscreds.Credentials) (aws.HTTPClient, error) {
	hc := f.opts.HTTPClient
	if !creds.InsecureSkipVerify && creds.CABundle == "" {
		return hc, nil
	}
	var pool *x509.CertPool
	if creds.CABundle != "" {
		pem, err := os.ReadFile(creds.CABundle)
		if err != nil {
			return nil, fmt.Errorf("aws_credentials.aws_client_parameters.verify_cert_path: cannot read the CA bundle: %w; point it (or verify) at a readable PEM file", err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("aws_credentials.aws_client_parameters.verify_cert_path: %s holds no PEM certificate; point it at a PEM bundle of certificate authorities", creds.CABundle)
		}
	}
	bc, ok := hc.(*awshttp.BuildableClient)
	switch {
	case hc == nil:
		bc = awshttp.NewBuildableClient()
	case !ok:
		return nil, errors.New("aws_credentials.aws_client_parameters.verify cannot be applied to the custom HTTP client given to the client factory")
	}
	return bc.WithTransportOptions(func(tr *http.Transport) {
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		if creds.InsecureSkipVerify {
			tr.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // the block asks for it (verify: false)
		}
		if pool != nil {
			tr.TLSClientConfig.RootCAs = pool
		}
	}), nil
}

func assumeRoleOptions(o awscreds.AssumeRoleOptions) func(*stscreds.AssumeRoleOptions) {
	return func(ar *stscreds.AssumeRoleOptions) {
		ar.RoleSessionName = o.SessionName
		if ar.RoleSessionName == "" {
			ar.RoleSessionName = "ecsworker-" + randomHex(4)
		}
		ar.Duration = o.Duration
		if o.ExternalID != "" {
			ar.ExternalID = aws.String(o.ExternalID)
		}
		if o.Policy != "" {
			ar.Policy = aws.String(o.Policy)
		}
		for _, arn := range o.PolicyARNs {
			ar.PolicyARNs = append(ar.PolicyARNs, ststypes.PolicyDescriptorType{Arn: aws.String(arn)})
		}
		for _, t := range o.Tags {
			ar.Tags = append(ar.Tags, ststypes.Tag{Key: aws.String(t.Key), Value: aws.String(t.Value)})
		}
		ar.TransitiveTagKeys = o.TransitiveTagKeys
		if o.SerialNumber != "" {
			ar.SerialNumber = aws.String(o.SerialNumber)
			code := o.TokenCode
			ar.TokenProvider = func() (string, error) {
				if code == "" {
					return "", errors.New("aws_credentials.assume_role_kwargs.TokenCode is empty but SerialNumber asks for an MFA code; set TokenCode")
				}
				return code, nil
			}
		}
		if o.SourceIdentity != "" {
			ar.SourceIdentity = aws.String(o.SourceIdentity)
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ErrNoRegion is returned when neither the credentials nor the AWS
// configuration name a region.
var ErrNoRegion = errors.New("no AWS region: set region_name in the aws_credentials block, or AWS_REGION in the worker's environment, or region in its AWS profile")
