package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/ecsworker/ecsworker/internal/fakes/prefectapi"
)

func newDevCmd(stdio IO) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run local test servers that stand in for Prefect and AWS",
		Long: `Run the test servers ecsworker's own tests use, on loopback, so that ecsworker
(or any Prefect client) can be tried without a Prefect server or an AWS account.
They are simulations: nothing they do reaches Prefect or AWS.`,
	}
	cmd.AddCommand(newDevPrefectAPICmd(stdio))
	return cmd
}

func newDevPrefectAPICmd(stdio IO) *cobra.Command {
	var opts prefectapi.Options
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
			srv := prefectapi.New(opts)
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err != nil {
				return &codedError{code: exitError, err: fmt.Errorf("listen on 127.0.0.1:%d: %w (choose another --port)", port, err)}
			}
			url := "http://" + ln.Addr().String() + srv.APIPath()
			fmt.Fprintf(stdio.Out, "PREFECT_API_URL=%s\n", url)
			fmt.Fprintf(stdio.Err, "Simulated Prefect API at %s (Ctrl-C stops it)\n", url)
			return serveUntilDone(cmd.Context(), ln, srv.Handler())
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

// serveUntilDone serves h on ln until ctx ends, then shuts down within a
// bounded time.
func serveUntilDone(ctx context.Context, ln net.Listener, h http.Handler) error {
	server := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- server.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := server.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
