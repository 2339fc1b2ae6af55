// Package devcmd holds the commands that try ecsworker on one machine:
// dev (the Prefect and AWS test servers) and sandbox (the worker end to
// end against them).
package devcmd

import (
	"fmt"
	"net"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/ecsworker/ecsworker/internal/cli/clikit"
	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
)

// NewDev is `ecsworker dev`: the test servers of Prefect and AWS, run
// on their own.
func NewDev(stdio clikit.IO) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run local test servers that stand in for Prefect and AWS",
		Long: `Run the test servers ecsworker's own tests use, on loopback, so that ecsworker
(or any Prefect client) can be tried without a Prefect server or an AWS account.
They are simulations: nothing they do reaches Prefect or AWS.`,
	}
	cmd.AddCommand(newDevPrefectAPICmd(stdio), newDevAWSCmd(stdio))
	return cmd
}

func newDevAWSCmd(stdio clikit.IO) *cobra.Command {
	var port int
	var region string
	cmd := &cobra.Command{
		Use:   "aws",
		Short: "Serve simulated ECS, EC2, CloudWatch Logs, SQS and STS APIs",
		Long: `Serve the AWS test server on loopback: ECS (with its documented validation
rules, task lifecycles and throttling), EC2 (a default VPC with three subnets),
CloudWatch Logs, SQS and STS, speaking the real wire protocols. Point any AWS SDK
or the AWS CLI at it with AWS_ENDPOINT_URL. Nothing reaches AWS.`,
		Example: `  ecsworker dev aws --port 4566 &
  export AWS_ENDPOINT_URL=http://127.0.0.1:4566 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  aws ecs create-cluster --cluster-name flows`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			srv := awsfake.New(awsfake.Options{Region: region})
			defer srv.Close()
			url, err := srv.Listen(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err != nil {
				return &clikit.CodedError{Code: clikit.ExitError, Err: fmt.Errorf("listen on 127.0.0.1:%d: %w (choose another --port)", port, err)}
			}
			fmt.Fprintf(stdio.Out, "AWS_ENDPOINT_URL=%s\n", url)
			fmt.Fprintf(stdio.Err, "Simulated AWS at %s, region %s (Ctrl-C stops it)\n", url, srv.Region())
			<-cmd.Context().Done()
			return nil
		},
	}
	cmd.Flags().IntVar(&port, "port", 4566, "port on 127.0.0.1 (0 picks a free one)")
	cmd.Flags().StringVar(&region, "region", "us-east-1", "region in ARNs and queue URLs")
	return cmd
}

func newDevPrefectAPICmd(stdio clikit.IO) *cobra.Command {
	var opts prefectfake.Options
	var port int
	cmd := &cobra.Command{
		Use:   "prefect-api",
		Short: "Serve a simulated Prefect API that checks every request against Prefect's OpenAPI schema",
		Example: `  ecsworker dev prefect-api --port 4200 &
  export PREFECT_API_URL=http://127.0.0.1:4200/api
  ecsworker work-pool create my-pool`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.OnViolation = func(v string) { fmt.Fprintf(stdio.Err, "contract violation: %s\n", v) }
			srv := prefectfake.New(opts)
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err != nil {
				return &clikit.CodedError{Code: clikit.ExitError, Err: fmt.Errorf("listen on 127.0.0.1:%d: %w (choose another --port)", port, err)}
			}
			url := "http://" + ln.Addr().String() + srv.APIPath()
			fmt.Fprintf(stdio.Out, "PREFECT_API_URL=%s\n", url)
			fmt.Fprintf(stdio.Err, "Simulated Prefect API at %s (Ctrl-C stops it)\n", url)
			return clikit.ServeUntilDone(cmd.Context(), ln, srv.Handler())
		},
	}
	f := cmd.Flags()
	f.IntVar(&port, "port", 4200, "port on 127.0.0.1 (0 picks a free one)")
	f.StringVar(&opts.APIKey, "api-key", "", "require this bearer API key")
	f.StringVar(&opts.AuthString, "auth-string", "", "require this basic auth string (user:password)")
	f.BoolVar(&opts.CSRF, "csrf", false, "require CSRF tokens like a self-hosted server")
	f.BoolVar(&opts.Cloud, "cloud", false, "serve under /api/accounts/<id>/workspaces/<id> like Prefect Cloud")
	return cmd
}
