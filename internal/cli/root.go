// Package cli holds the ecsworker command line: Main, which assembles the
// command tree from the command groups of its subpackages and turns errors
// into exit codes.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ecsworker/ecsworker/internal/buildinfo"
	"github.com/ecsworker/ecsworker/internal/cli/awscmd"
	"github.com/ecsworker/ecsworker/internal/cli/clikit"
	"github.com/ecsworker/ecsworker/internal/cli/devcmd"
	"github.com/ecsworker/ecsworker/internal/cli/infracmd"
	"github.com/ecsworker/ecsworker/internal/cli/poolcmd"
	"github.com/ecsworker/ecsworker/internal/cli/rendercmd"
	"github.com/ecsworker/ecsworker/internal/cli/startscmd"
	"github.com/ecsworker/ecsworker/internal/cli/workercmd"
)

// IO is where a command reads and writes: data on Out, messages on Err.
type IO = clikit.IO

// Main runs the command line and returns the process exit code.
func Main(ctx context.Context, args []string, stdio IO) int {
	root := newRoot(stdio)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return clikit.ExitOK
	}
	var ce *clikit.CodedError
	if errors.As(err, &ce) {
		if !ce.Printed {
			fmt.Fprintln(stdio.Err, "Error: "+ce.Error())
		}
		return ce.Code
	}
	fmt.Fprintln(stdio.Err, "Error: "+err.Error())
	if isUsageError(err) {
		fmt.Fprintln(stdio.Err, "Run 'ecsworker --help' for usage.")
		return clikit.ExitInvalid
	}
	return clikit.ExitError
}

// isUsageError recognises cobra's and pflag's errors about the command line itself.
func isUsageError(err error) bool {
	msg := err.Error()
	for _, s := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument", "invalid argument", "accepts ", "requires at least", "required flag"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func newRoot(stdio IO) *cobra.Command {
	root := &cobra.Command{
		Use:   "ecsworker",
		Short: "Run Prefect flow runs as AWS ECS tasks",
		Long: `ecsworker serves Prefect work pools of type "ecs": it claims scheduled flow runs
and runs each one as an ECS task. It is a drop-in for the prefect-aws ECS worker
(same pool type, job variables, labels and cluster::taskArn identifiers).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdio.In)
	root.SetOut(stdio.Out)
	root.SetErr(stdio.Err)
	root.CompletionOptions.HiddenDefaultCmd = true
	// --api-url and --profile go only on the commands that talk to
	// Prefect (work-pool, infra and deployment pick their subcommands
	// themselves):
	// on version, sandbox or dev they would be accepted and do nothing.
	api := &clikit.APIFlags{}
	render, worker := rendercmd.New(stdio, api), workercmd.New(stdio, api)
	awsPolicy, doctor := awscmd.NewAWSPolicy(stdio, api), awscmd.NewDoctor(stdio, api)
	starts := startscmd.New(stdio, api)
	for _, c := range []*cobra.Command{render, worker, awsPolicy, doctor, starts} {
		api.Register(c)
	}
	root.AddCommand(
		newVersionCmd(stdio),
		render,
		poolcmd.NewWorkPool(stdio, api),
		devcmd.NewDev(stdio),
		worker,
		awscmd.NewTaskDefinitions(stdio),
		devcmd.NewSandbox(stdio),
		infracmd.New(stdio, api),
		awsPolicy,
		doctor,
		poolcmd.NewDeployment(stdio, api),
		starts,
	)
	return root
}

func newVersionCmd(stdio IO) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the ecsworker version, commit, build date, Go version and platform",
		Long: `Print the ecsworker version, the commit and date it was built from, and
the Go version and platform. Release binaries and images have all three
stamped; a build from source falls back to what Go recorded ("dev" and
"unknown" where it recorded nothing).`,
		Example: `  ecsworker version
  ecsworker version --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return writeVersion(stdio.Out, buildinfo.Get(), asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object: version, commit, date, go, platform")
	return cmd
}

// writeVersion prints info as `ecsworker version` does: the version first
// on its own line, so that `ecsworker version | head -1` stays a version.
func writeVersion(w io.Writer, info buildinfo.Info, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(info)
	}
	_, err := fmt.Fprintf(w, "ecsworker %s\n  commit:   %s\n  date:     %s\n  go:       %s\n  platform: %s\n",
		info.Version, info.Commit, info.Date, info.Go, info.Platform)
	return err
}
