// Package poolcmd holds the commands about Prefect objects: work-pool
// (create, update, inspect, ls, delete, the default base job template) and
// deployment run.
package poolcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ecsworker/ecsworker/internal/cli/clikit"
	"github.com/ecsworker/ecsworker/internal/ecsjob"
	"github.com/ecsworker/ecsworker/internal/ecsrequest"
	"github.com/ecsworker/ecsworker/internal/jobconfig"
	"github.com/ecsworker/ecsworker/internal/jobtemplate"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectpool"
)

// NewWorkPool is `ecsworker work-pool`: the ecs work pools and their
// default base job template.
func NewWorkPool(stdio clikit.IO, api *clikit.APIFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "work-pool",
		Aliases: []string{"work-pools", "pool"},
		Short:   "Manage ecs work pools",
		Long: `Create, inspect, update, list and delete Prefect work pools of type "ecs", the
way 'prefect work-pool' does, with ecsworker's default base job template.`,
	}
	// Every subcommand but get-default-base-job-template, which works
	// offline, talks to Prefect and takes --api-url and --profile.
	for _, sub := range []*cobra.Command{
		newPoolCreateCmd(stdio, api),
		newPoolUpdateCmd(stdio, api),
		newPoolInspectCmd(stdio, api),
		newPoolListCmd(stdio, api),
		newPoolDeleteCmd(stdio, api),
	} {
		api.Register(sub)
		cmd.AddCommand(sub)
	}
	cmd.AddCommand(newDefaultTemplateCmd(stdio))
	return cmd
}

func newPoolCreateCmd(stdio clikit.IO, api *clikit.APIFlags) *cobra.Command {
	var templateFile, description string
	var paused, overwrite, asJSON bool
	var limit int
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an ecs work pool",
		Long: `Create a work pool of type "ecs" with ecsworker's default base job template, or
the template in --base-job-template. With --overwrite an existing ecs pool gets the
template (and --paused, --description, --concurrency-limit) instead of an error.`,
		Example: `  ecsworker work-pool create my-pool
  ecsworker work-pool create my-pool --base-job-template template.json --overwrite`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := prefectpool.ValidateWorkPoolName(name); err != nil {
				return clikit.Invalid("%v", err)
			}
			tmpl, err := readTemplateFlag(stdio, templateFile)
			if err != nil {
				return err
			}
			warnTemplate(stdio, tmpl)
			c, err := api.Client()
			if err != nil {
				return err
			}
			create := prefectpool.WorkPoolCreate{Name: name, Type: clikit.PoolType, BaseJobTemplate: tmpl.Object(), IsPaused: paused}
			if description != "" {
				create.Description = &description
			}
			if cmd.Flags().Changed("concurrency-limit") {
				create.ConcurrencyLimit = &limit
			}
			pool, err := c.CreateWorkPool(cmd.Context(), create)
			switch {
			case errors.Is(err, prefect.ErrConflict) && overwrite:
				existing, rerr := clikit.ReadECSPool(cmd.Context(), c, name)
				if rerr != nil {
					return rerr
				}
				u := prefectpool.WorkPoolUpdate{BaseJobTemplate: tmpl.Object(), Description: create.Description, ConcurrencyLimit: create.ConcurrencyLimit}
				if cmd.Flags().Changed("paused") {
					u.IsPaused = &paused
				}
				if err := c.UpdateWorkPool(cmd.Context(), existing.Name, u); err != nil {
					return err
				}
				if pool, err = c.ReadWorkPool(cmd.Context(), name); err != nil {
					return err
				}
				return printPool(stdio, pool, asJSON, fmt.Sprintf("Updated work pool %q.", name))
			case errors.Is(err, prefect.ErrConflict):
				return &clikit.CodedError{Code: clikit.ExitError, Err: fmt.Errorf("work pool %q already exists; use --overwrite to replace its base job template, or 'ecsworker work-pool update'", name)}
			case errors.Is(err, prefect.ErrForbidden) && strings.HasPrefix(strings.ToLower(name), "prefect"):
				return &clikit.CodedError{Code: clikit.ExitInvalid, Err: fmt.Errorf("work pool names starting with \"prefect\" are reserved by Prefect; choose another name (%w)", err)}
			case err != nil:
				return err
			}
			return printPool(stdio, pool, asJSON, fmt.Sprintf("Created work pool %q.", name))
		},
	}
	f := cmd.Flags()
	f.StringVar(&templateFile, "base-job-template", "", "`FILE` with the base job template (default: ecsworker's default template); - reads stdin")
	f.BoolVar(&paused, "paused", false, "create the pool paused")
	f.BoolVar(&overwrite, "overwrite", false, "update the pool if it already exists")
	f.StringVar(&description, "description", "", "pool description")
	f.IntVar(&limit, "concurrency-limit", 0, "most flow runs of this pool in PENDING or RUNNING at once")
	f.BoolVar(&asJSON, "json", false, "print the pool as JSON")
	return cmd
}

func newPoolUpdateCmd(stdio clikit.IO, api *clikit.APIFlags) *cobra.Command {
	var templateFile, description string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "update NAME",
		Short: "Change an ecs work pool's base job template, description or concurrency limit",
		Example: `  ecsworker work-pool update my-pool --base-job-template template.json
  ecsworker work-pool update my-pool --concurrency-limit 20`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := prefectpool.ValidateWorkPoolName(name); err != nil {
				return clikit.Invalid("%v", err)
			}
			var u prefectpool.WorkPoolUpdate
			if templateFile != "" {
				tmpl, err := readTemplateFlag(stdio, templateFile)
				if err != nil {
					return err
				}
				warnTemplate(stdio, tmpl)
				u.BaseJobTemplate = tmpl.Object()
			}
			if cmd.Flags().Changed("description") {
				u.Description = &description
			}
			if cmd.Flags().Changed("concurrency-limit") {
				if limit < 0 {
					u.ClearConcurrencyLimit = true
				} else {
					u.ConcurrencyLimit = &limit
				}
			}
			if u.BaseJobTemplate == nil && u.Description == nil && u.ConcurrencyLimit == nil && !u.ClearConcurrencyLimit {
				return clikit.Invalid("nothing to update: give --base-job-template, --description or --concurrency-limit")
			}
			c, err := api.Client()
			if err != nil {
				return err
			}
			if _, err := clikit.ReadECSPool(cmd.Context(), c, name); err != nil {
				return err
			}
			if err := c.UpdateWorkPool(cmd.Context(), name, u); err != nil {
				return err
			}
			pool, err := c.ReadWorkPool(cmd.Context(), name)
			if err != nil {
				return err
			}
			return printPool(stdio, pool, asJSON, fmt.Sprintf("Updated work pool %q.", name))
		},
	}
	f := cmd.Flags()
	f.StringVar(&templateFile, "base-job-template", "", "`FILE` with the new base job template; - reads stdin")
	f.StringVar(&description, "description", "", "new description")
	f.IntVar(&limit, "concurrency-limit", 0, "new concurrency limit; -1 removes it")
	f.BoolVar(&asJSON, "json", false, "print the pool as JSON")
	return cmd
}

func newPoolInspectCmd(stdio clikit.IO, api *clikit.APIFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "inspect NAME",
		Short: "Show an ecs work pool",
		Example: `  ecsworker work-pool inspect my-pool
  ecsworker work-pool inspect my-pool --json > pool.json   # as the API returns it, e.g. for render --work-pool pool.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := api.Client()
			if err != nil {
				return err
			}
			if err := prefectpool.ValidateWorkPoolName(args[0]); err != nil {
				return clikit.Invalid("%v", err)
			}
			pool, err := clikit.ReadECSPool(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			return printPool(stdio, pool, asJSON, "")
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the pool as the API returns it")
	return cmd
}

func newPoolListCmd(stdio clikit.IO, api *clikit.APIFlags) *cobra.Command {
	var asJSON, all bool
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List ecs work pools",
		Example: `  ecsworker work-pool ls
  ecsworker work-pool ls --all --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := api.Client()
			if err != nil {
				return err
			}
			f := prefectpool.WorkPoolFilter{Types: []string{clikit.PoolType}}
			if all {
				f.Types = nil
			}
			pools, err := c.ListWorkPools(cmd.Context(), f)
			if err != nil {
				return err
			}
			sort.Slice(pools, func(i, j int) bool { return pools[i].Name < pools[j].Name })
			if asJSON {
				list := make([]any, len(pools))
				for i, p := range pools {
					list[i] = p.Raw
				}
				return clikit.WriteJSON(stdio.Out, list)
			}
			if len(pools) == 0 {
				what := "ecs work pools"
				if all {
					what = "work pools"
				}
				fmt.Fprintf(stdio.Err, "No %s. Create one with 'ecsworker work-pool create NAME'.\n", what)
				return nil
			}
			tw := tabwriter.NewWriter(stdio.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tTYPE\tSTATUS\tPAUSED\tCONCURRENCY LIMIT\tID")
			for _, p := range pools {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\n", p.Name, p.Type, p.Status, p.IsPaused, limitText(p.ConcurrencyLimit), p.ID)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the pools as JSON")
	cmd.Flags().BoolVar(&all, "all", false, "list pools of every type, not only ecs")
	return cmd
}

func newPoolDeleteCmd(stdio clikit.IO, api *clikit.APIFlags) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete an ecs work pool",
		Long: `Delete an ecs work pool with its work queues. Flow runs and deployments stay.
Asks for confirmation on a terminal; elsewhere (scripts, cron jobs, CI) --yes is
required.`,
		Example: `  ecsworker work-pool delete my-pool
  ecsworker work-pool delete my-pool --yes`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := prefectpool.ValidateWorkPoolName(name); err != nil {
				return clikit.Invalid("%v", err)
			}
			c, err := api.Client()
			if err != nil {
				return err
			}
			if _, err := clikit.ReadECSPool(cmd.Context(), c, name); err != nil {
				return err
			}
			if !yes {
				if err := clikit.Confirm(stdio, fmt.Sprintf("deleting work pool %q", name), fmt.Sprintf("Delete work pool %q?", name)); err != nil {
					return err
				}
			}
			if err := c.DeleteWorkPool(cmd.Context(), name); err != nil {
				return err
			}
			fmt.Fprintf(stdio.Err, "Deleted work pool %q.\n", name)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation (required when standard input is not a terminal)")
	return cmd
}

func newDefaultTemplateCmd(stdio clikit.IO) *cobra.Command {
	var typ, file string
	cmd := &cobra.Command{
		Use:   "get-default-base-job-template",
		Short: "Print the default base job template of ecs work pools",
		Long: `Print the base job template ecsworker gives the ecs work pools it creates: the
job_configuration and the variables (a JSON schema) with every variable of the
prefect-aws ECS worker plus placement, platform, storage, GPU, secrets and
network shortcuts. Edit it and pass it to 'ecsworker work-pool create
--base-job-template' or 'ecsworker render --base-job-template'.`,
		Example: `  ecsworker work-pool get-default-base-job-template --type ecs > template.json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if typ != clikit.PoolType {
				return clikit.Invalid("--type %q: ecsworker serves work pools of type \"ecs\" only", typ)
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
	cmd.Flags().StringVarP(&typ, "type", "t", clikit.PoolType, "work pool type (only ecs)")
	cmd.Flags().StringVarP(&file, "file", "f", "", "write to `FILE` instead of standard output")
	return cmd
}

func readTemplateFlag(stdio clikit.IO, path string) (*jobtemplate.Template, error) {
	if path == "" {
		return ecsjob.DefaultTemplate(), nil
	}
	in := &clikit.Inputs{Stdin: stdio.In}
	b, err := in.Read("base-job-template", path)
	if err != nil {
		return nil, err
	}
	t, err := jobtemplate.Parse(b)
	if err != nil {
		return nil, clikit.Invalid("--base-job-template %s: %v", path, err)
	}
	return t, nil
}

// warnTemplate renders the template with its defaults alone, so that a
// template that can never produce valid ECS requests is pointed out when
// it is installed instead of when the first flow run crashes.
func warnTemplate(stdio clikit.IO, t *jobtemplate.Template) {
	_, err := ecsjob.Prepare(context.Background(), ecsjob.Job{
		Template: t,
		Context:  ecsrequest.RunContext{WorkPoolName: "check", DeploymentID: "check", DefaultImage: clikit.DefaultImage, Region: "us-east-1"},
		Render:   jobtemplate.RenderOptions{LookupEnv: func(string) (string, bool) { return "", false }},
	})
	var verr *jobconfig.ValidationError
	if errors.As(err, &verr) {
		fmt.Fprintf(stdio.Err, "warning: with its defaults alone this template does not make valid ECS requests (deployments must set what is missing):\n")
		for _, p := range verr.Problems {
			fmt.Fprintf(stdio.Err, "  - %s\n", p.String())
		}
	} else if err != nil {
		fmt.Fprintf(stdio.Err, "warning: the template does not render: %v\n", err)
	}
}

func printPool(stdio clikit.IO, p *prefectpool.WorkPool, asJSON bool, message string) error {
	if message != "" {
		fmt.Fprintln(stdio.Err, message)
	}
	if asJSON {
		return clikit.WriteJSON(stdio.Out, p.Raw)
	}
	tw := tabwriter.NewWriter(stdio.Out, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("Name", p.Name)
	row("ID", p.ID)
	row("Type", p.Type)
	row("Status", p.Status)
	row("Paused", fmt.Sprint(p.IsPaused))
	row("Concurrency limit", limitText(p.ConcurrencyLimit))
	if p.Description != "" {
		row("Description", p.Description)
	}
	row("Created", p.Created.String())
	row("Updated", p.Updated.String())
	if err := tw.Flush(); err != nil {
		return err
	}
	printTemplateSummary(stdio.Out, p.BaseJobTemplate)
	return nil
}

// printTemplateSummary lists the template's variables and the defaults the
// pool sets, which is what people look for when they inspect a pool.
func printTemplateSummary(w io.Writer, bjt *jsonv.Object) {
	if bjt.Len() == 0 {
		fmt.Fprintln(w, "Base job template: empty (a worker fills in its default on start)")
		return
	}
	props := bjt.GetObject("variables").GetObject("properties")
	fmt.Fprintf(w, "Base job template: %d variables\n", props.Len())
	var defaults []string
	for _, k := range props.Keys() {
		if d, ok := props.GetObject(k).Get("default"); ok && d != nil {
			b, _ := jsonv.Marshal(d)
			defaults = append(defaults, fmt.Sprintf("  %s = %s", k, b))
		}
	}
	if len(defaults) > 0 {
		fmt.Fprintln(w, "Defaults:")
		fmt.Fprintln(w, strings.Join(defaults, "\n"))
	}
}

func limitText(l *int) string {
	if l == nil {
		return "none"
	}
	return fmt.Sprint(*l)
}
