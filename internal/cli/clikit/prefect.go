package clikit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ecsworker/ecsworker/internal/buildinfo"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectapi"
	"github.com/ecsworker/ecsworker/internal/prefectconfig"
	"github.com/ecsworker/ecsworker/internal/prefectdeploy"
	"github.com/ecsworker/ecsworker/internal/prefectpool"
)

// APIFlags are the global flags that say which Prefect API to talk to.
// Secrets have no flags: they would end up in shell history and process
// listings; PREFECT_API_KEY, PREFECT_API_AUTH_STRING or a profile set them.
type APIFlags struct {
	APIURL  string
	Profile string
	// stderr is where commands without a logger of their own get the
	// client's warnings (the API keeps failing, a custom header ignored).
	stderr func() io.Writer
}

// Register puts --api-url and --profile on cmd and its subcommands.
func (f *APIFlags) Register(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&f.APIURL, "api-url", "", "Prefect API `URL` (default: PREFECT_API_URL, else the active profile's)")
	cmd.PersistentFlags().StringVar(&f.Profile, "profile", "", "Prefect profile to read from profiles.toml (default: PREFECT_PROFILE, else the active one)")
	f.stderr = cmd.ErrOrStderr
}

// Client builds a Prefect API client from the flags, the environment and
// the active Prefect profile, in that order of precedence. Without a
// prefectapi.WithLogger among opts, the client's warnings go to the command's
// stderr; a command with a --log-level passes its logger, so that debug
// shows every request and retry.
func (f *APIFlags) Client(opts ...prefectapi.Option) (*prefect.Client, error) {
	cfg, err := prefectconfig.LoadConfig(os.LookupEnv, prefectconfig.Config{APIURL: f.APIURL, APIURLSource: "--api-url", Profile: f.Profile})
	if err != nil {
		return nil, &CodedError{Code: ExitInvalid, Err: err}
	}
	if cfg.APIURL == "" {
		return nil, &CodedError{Code: ExitInvalid, Err: errors.New("no Prefect API is configured: set PREFECT_API_URL (for Prefect Cloud, https://api.prefect.cloud/api/accounts/<account id>/workspaces/<workspace id>, with PREFECT_API_KEY), use a Prefect profile that sets it, or pass --api-url")}
	}
	all := []prefectapi.Option{prefectapi.WithUserAgent(prefectapi.UserAgent(buildinfo.String()))}
	if f.stderr != nil {
		// Options apply in order: a logger in opts replaces this one.
		all = append(all, prefectapi.WithLogger(warningLogger(f.stderr())))
	}
	c, err := prefect.New(cfg, append(all, opts...)...)
	if err != nil {
		return nil, &CodedError{Code: ExitInvalid, Err: fmt.Errorf("Prefect API client: %w", err)} //nolint:staticcheck // ST1005: Prefect is a name, capitalised in every message
	}
	return c, nil
}

// Connect is Client followed by Check: the API is reachable at the URL
// and takes the credentials, or the error says which of them to fix.
func (f *APIFlags) Connect(ctx context.Context, opts ...prefectapi.Option) (*prefect.Client, error) {
	c, err := f.Client(opts...)
	if err != nil {
		return nil, err
	}
	if err := c.Check(ctx); err != nil {
		return nil, &CodedError{Code: ExitError, Err: err}
	}
	return c, nil
}

// warningLogger writes warnings and worse as key=value lines without a
// time: commands other than the worker have no --log-level, and their
// stderr is read by people, not log collectors.
func warningLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: slog.LevelWarn,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// PoolType is the only work pool type ecsworker serves.
const PoolType = "ecs"

// ReadECSPool reads a pool and refuses one of another type: ecsworker's
// templates and workers only make sense for ecs pools.
func ReadECSPool(ctx context.Context, c *prefect.Client, name string) (*prefectpool.WorkPool, error) {
	pool, err := c.ReadWorkPool(ctx, name)
	if errors.Is(err, prefect.ErrNotFound) {
		return nil, &CodedError{Code: ExitError, Err: fmt.Errorf("work pool %q not found; list pools with 'ecsworker work-pool ls' or create it with 'ecsworker work-pool create %s'", name, name)}
	}
	if err != nil {
		return nil, err
	}
	if pool.Type != PoolType {
		return nil, &CodedError{Code: ExitInvalid, Err: fmt.Errorf("work pool %q has type %q; ecsworker manages work pools of type %q only (use 'prefect work-pool' for this one)", name, pool.Type, PoolType)}
	}
	return pool, nil
}

// ReadDeployment reads the deployment v names, as FLOW_NAME/DEPLOYMENT_NAME
// or by id, the two ways 'prefect deployment ls' shows one. forms ends the
// message for a v that is neither ("give FLOW_NAME/DEPLOYMENT_NAME or ..."),
// since commands take different other forms.
func ReadDeployment(ctx context.Context, c *prefect.Client, v, forms string) (*prefectdeploy.Deployment, error) {
	var d *prefectdeploy.Deployment
	var err error
	switch flowName, depName, ok := strings.Cut(v, "/"); {
	case ok:
		d, err = c.ReadDeploymentByName(ctx, flowName, depName)
	case IsUUID(v):
		d, err = c.ReadDeployment(ctx, v)
	default:
		return nil, Invalid("--deployment %q: give %s", v, forms)
	}
	if errors.Is(err, prefect.ErrNotFound) {
		return nil, &CodedError{Code: ExitError, Err: fmt.Errorf("deployment %q not found (names are FLOW_NAME/DEPLOYMENT_NAME, as 'prefect deployment ls' shows them)", v)}
	}
	if err != nil {
		return nil, err
	}
	return d, nil
}
