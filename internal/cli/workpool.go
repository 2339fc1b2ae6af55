package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/ecsworker/ecsworker/internal/ecsjob"
)

func newWorkPoolCmd(stdio IO) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "work-pool",
		Aliases: []string{"work-pools", "pool"},
		Short:   "Manage ecs work pools",
	}
	cmd.AddCommand(newDefaultTemplateCmd(stdio))
	return cmd
}

func newDefaultTemplateCmd(stdio IO) *cobra.Command {
	var poolType, file string
	cmd := &cobra.Command{
		Use:   "get-default-base-job-template",
		Short: "Print the default base job template of ecs work pools",
		Long: `Print the base job template ecsworker gives the ecs work pools it creates: the
job_configuration and the variables (a JSON schema) with every variable of the
prefect-aws ECS worker plus placement, platform, storage, GPU, secrets and
network shortcuts. Edit it and pass it to 'prefect work-pool create
--base-job-template' or 'ecsworker render --base-job-template'.`,
		Example: `  ecsworker work-pool get-default-base-job-template --type ecs > template.json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if poolType != "ecs" {
				return invalid("--type %q: ecsworker serves work pools of type \"ecs\" only", poolType)
			}
			data := ecsjob.DefaultTemplateJSON()
			if file == "" {
				_, err := stdio.Out.Write(data)
				return err
			}
			if err := os.WriteFile(file, data, 0o644); err != nil {
				return fmt.Errorf("write the template to %s: %w", file, err)
			}
			fmt.Fprintf(stdio.Err, "Wrote the default base job template to %s\n", file)
			return nil
		},
	}
	cmd.Flags().StringVarP(&poolType, "type", "t", "ecs", "work pool type (only ecs)")
	cmd.Flags().StringVarP(&file, "file", "f", "", "write to `FILE` instead of standard output")
	return cmd
}
