// Package cli holds the ecsworker command line: one file per command
// group, each a thin layer that reads flags and files and calls the
// packages that do the work.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ecsworker/ecsworker/internal/buildinfo"
)

// IO is where a command reads and writes: data on Out, messages on Err.
type IO struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// Exit codes.
const (
	exitOK      = 0
	exitError   = 1 // the command failed
	exitInvalid = 2 // bad flags, bad input files, or an invalid job configuration
)

// codedError carries the exit code for an error; its message has already
// been printed when printed is set.
type codedError struct {
	code    int
	err     error
	printed bool
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

func invalid(format string, args ...any) error {
	return &codedError{code: exitInvalid, err: fmt.Errorf(format, args...)}
}

// Main runs the command line and returns the process exit code.
func Main(ctx context.Context, args []string, stdio IO) int {
	root := newRoot(stdio)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ce *codedError
	if errors.As(err, &ce) {
		if !ce.printed {
			fmt.Fprintln(stdio.Err, "Error: "+ce.Error())
		}
		return ce.code
	}
	fmt.Fprintln(stdio.Err, "Error: "+err.Error())
	if isUsageError(err) {
		fmt.Fprintln(stdio.Err, "Run 'ecsworker --help' for usage.")
		return exitInvalid
	}
	return exitError
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
	api := &apiFlags{}
	render, worker := newRenderCmd(stdio, api), newWorkerCmd(stdio, api)
	awsPolicy, doctor := newAWSPolicyCmd(stdio, api), newDoctorCmd(stdio, api)
	for _, c := range []*cobra.Command{render, worker, awsPolicy, doctor} {
		api.register(c)
	}
	root.AddCommand(
		newVersionCmd(stdio),
		render,
		newWorkPoolCmd(stdio, api),
		newDevCmd(stdio),
		worker,
		newTaskDefinitionsCmd(stdio),
		newSandboxCmd(stdio),
		newInfraCmd(stdio, api),
		awsPolicy,
		doctor,
		newDeploymentCmd(stdio, api),
	)
	return root
}

func newVersionCmd(stdio IO) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the ecsworker version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(stdio.Out, "ecsworker %s (%s)\n", buildinfo.String(), buildinfo.Runtime())
			return nil
		},
	}
}
