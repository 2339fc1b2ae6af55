package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/ecsworker/ecsworker/internal/buildinfo"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectapi"
	"github.com/ecsworker/ecsworker/internal/prefectconfig"
)

// apiFlags are the global flags that say which Prefect API to talk to.
// Secrets have no flags: they would end up in shell history and process
// listings; PREFECT_API_KEY, PREFECT_API_AUTH_STRING or a profile set them.
type apiFlags struct {
	apiURL  string
	profile string
	// stderr is where commands without a logger of their own get the
	// client's warnings (the API keeps failing, a custom header ignored).
	stderr func() io.Writer
}

func (f *apiFlags) register(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&f.apiURL, "api-url", "", "Prefect API `URL` (default: PREFECT_API_URL, else the active profile's)")
	cmd.PersistentFlags().StringVar(&f.profile, "profile", "", "Prefect profile to read from profiles.toml (default: PREFECT_PROFILE, else the active one)")
	f.stderr = cmd.ErrOrStderr
}

// client builds a Prefect API client from the flags, the environment and
// the active Prefect profile, in that order of precedence. Without a
// prefectapi.WithLogger among opts, the client's warnings go to the command's
// stderr; a command with a --log-level passes its logger, so that debug
// shows every request and retry.
func (f *apiFlags) client(opts ...prefectapi.Option) (*prefect.Client, error) {
	cfg, err := prefectconfig.LoadConfig(os.LookupEnv, prefectconfig.Config{APIURL: f.apiURL, APIURLSource: "--api-url", Profile: f.profile})
	if err != nil {
		return nil, &codedError{code: exitInvalid, err: err}
	}
	if cfg.APIURL == "" {
		return nil, &codedError{code: exitInvalid, err: errors.New("no Prefect API is configured: set PREFECT_API_URL (for Prefect Cloud, https://api.prefect.cloud/api/accounts/<account id>/workspaces/<workspace id>, with PREFECT_API_KEY), use a Prefect profile that sets it, or pass --api-url")}
	}
	all := []prefectapi.Option{prefectapi.WithUserAgent(prefectapi.UserAgent(buildinfo.String()))}
	if f.stderr != nil {
		// Options apply in order: a logger in opts replaces this one.
		all = append(all, prefectapi.WithLogger(warningLogger(f.stderr())))
	}
	c, err := prefect.New(cfg, append(all, opts...)...)
	if err != nil {
		return nil, &codedError{code: exitInvalid, err: fmt.Errorf("Prefect API client: %w", err)} //nolint:staticcheck // ST1005: Prefect is a name, capitalised in every message
	}
	return c, nil
}

// connect is client followed by Check: the API is reachable at the URL
// and takes the credentials, or the error says which of them to fix.
func (f *apiFlags) connect(ctx context.Context, opts ...prefectapi.Option) (*prefect.Client, error) {
	c, err := f.client(opts...)
	if err != nil {
		return nil, err
	}
	if err := c.Check(ctx); err != nil {
		return nil, &codedError{code: exitError, err: err}
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
