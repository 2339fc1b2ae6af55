package awscmd

import (
	"errors"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awscreds"
	"github.com/ecsworker/ecsworker/internal/buildinfo"
	"github.com/ecsworker/ecsworker/internal/cli/clikit"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/taskdef"
)

// NewTaskDefinitions is `ecsworker task-definitions`: the revisions
// ecsworker registered, and their pruning.
func NewTaskDefinitions(stdio clikit.IO) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "task-definitions",
		Aliases: []string{"task-definition", "td"},
		Short:   "Manage the task definition revisions ecsworker registers",
	}
	cmd.AddCommand(newPruneCmd(stdio))
	return cmd
}

func newPruneCmd(stdio clikit.IO) *cobra.Command {
	var family string
	var o clikit.AWSFlags
	var keep int
	var dryRun, asJSON bool
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Deregister old revisions ecsworker registered in a family",
		Long: `Deregister the ACTIVE revisions of a task definition family that ecsworker
registered (they carry the ecsworker.io/task-definition-hash tag), keeping the
newest --keep. Revisions registered by anything else are never touched.
AWS credentials and region come from the standard AWS chain (AWS_PROFILE,
AWS_REGION, ...) or --aws-profile and --region.`,
		Example: `  ecsworker task-definitions prune --family prefect_my-pool_3f2a... --keep 3 --dry-run
  ecsworker task-definitions prune --family prefect_my-pool_3f2a... --aws-profile prod --region eu-west-1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if family == "" {
				return clikit.Invalid("--family is required: the task definition family to prune")
			}
			if keep < 1 {
				return clikit.Invalid("--keep %d: keep at least 1 revision (the one new runs use)", keep)
			}
			if err := o.Check(); err != nil {
				return err
			}
			factory := awsclient.NewFactory(awsclient.FactoryOptions{Version: buildinfo.String()})
			clients, err := factory.For(cmd.Context(), awscreds.Credentials{Region: o.Region, Profile: o.Profile})
			if err != nil {
				return awsSetupError(err)
			}
			rep, err := taskdef.Prune(cmd.Context(), clients.ECS, family, keep, dryRun)
			if err != nil {
				return &clikit.CodedError{Code: clikit.ExitError, Err: err}
			}
			if asJSON {
				failed := map[string]any{}
				for k, v := range rep.Failed {
					failed[k] = v
				}
				return clikit.WriteJSON(stdio.Out, jsonv.ObjectOf("family", rep.Family, "dryRun", rep.DryRun,
					"kept", jsonv.Normalize(rep.Kept), "deregistered", jsonv.Normalize(rep.Deregistered),
					"notOurs", rep.NotOurs, "failed", jsonv.Normalize(failed)))
			}
			verb := "Deregistered"
			if dryRun {
				verb = "Would deregister"
			}
			for _, arn := range rep.Deregistered {
				fmt.Fprintf(stdio.Out, "%s %s\n", verb, arn)
			}
			fmt.Fprintf(stdio.Err, "%s %d revision(s) of %s; kept %d of ecsworker's; %d revision(s) not made by ecsworker left alone.\n",
				verb, len(rep.Deregistered), family, len(rep.Kept), rep.NotOurs)
			if len(rep.Failed) > 0 {
				arns := make([]string, 0, len(rep.Failed))
				for a := range rep.Failed {
					arns = append(arns, a)
				}
				sort.Strings(arns)
				for _, a := range arns {
					fmt.Fprintf(stdio.Err, "could not deregister %s: %s\n", a, rep.Failed[a])
				}
				return &clikit.CodedError{Code: clikit.ExitError, Err: fmt.Errorf("%d revision(s) could not be deregistered", len(rep.Failed)), Printed: true}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&family, "family", "", "task definition family (required)")
	f.IntVar(&keep, "keep", taskdef.DefaultPruneKeep, "newest revisions of ecsworker's to keep")
	f.BoolVar(&dryRun, "dry-run", false, "only list what would be deregistered")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	o.Register(f)
	o.AWSOnly(f)
	return cmd
}

// awsSetupError names the flags that fix a failed AWS client setup, as
// the infra commands do: the client factory's own messages are written
// for the worker and speak of its aws_credentials block.
func awsSetupError(err error) error {
	var missing config.SharedConfigProfileNotExistError
	switch {
	case errors.As(err, &missing):
		return clikit.Invalid("--aws-profile %q: no such profile in ~/.aws/config or ~/.aws/credentials (or AWS_CONFIG_FILE); add it, or use another profile", missing.Profile)
	case errors.Is(err, awsclient.ErrNoRegion):
		return clikit.Invalid("no AWS region: pass --region, set AWS_REGION, or set a region in your AWS profile (--aws-profile)")
	}
	return &clikit.CodedError{Code: clikit.ExitError, Err: fmt.Errorf("AWS clients: %w", err)}
}
