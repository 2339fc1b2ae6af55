package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/ecsworker/ecsworker/internal/buildinfo"
	"github.com/ecsworker/ecsworker/internal/prefect"
)

// apiFlags are the global flags that say which Prefect API to talk to.
// Secrets have no flags: they would end up in shell history and process
// listings; PREFECT_API_KEY, PREFECT_API_AUTH_STRING or a profile set them.
type apiFlags struct {
	apiURL  string
	profile string
}

func (f *apiFlags) register(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&f.apiURL, "api-url", "", "Prefect API `URL` (default: PREFECT_API_URL, else the active profile's)")
	cmd.PersistentFlags().StringVar(&f.profile, "profile", "", "Prefect profile to read from profiles.toml (default: PREFECT_PROFILE, else the active one)")
}

// client builds a Prefect API client from the flags, the environment and
// the active Prefect profile, in that order of precedence.
func (f *apiFlags) client() (*prefect.Client, error) {
	cfg, err := prefect.LoadConfig(os.LookupEnv, prefect.Config{APIURL: f.apiURL, Profile: f.profile})
	if err != nil {
		return nil, &codedError{code: exitInvalid, err: err}
	}
	if cfg.APIURL == "" {
		return nil, &codedError{code: exitInvalid, err: errors.New("no Prefect API is configured: set PREFECT_API_URL (for Prefect Cloud, https://api.prefect.cloud/api/accounts/<account id>/workspaces/<workspace id>, with PREFECT_API_KEY), use a Prefect profile that sets it, or pass --api-url")}
	}
	c, err := prefect.New(cfg, prefect.WithUserAgent(prefect.UserAgent(buildinfo.String())))
	if err != nil {
		return nil, &codedError{code: exitInvalid, err: fmt.Errorf("Prefect API client: %w", err)}
	}
	return c, nil
}
