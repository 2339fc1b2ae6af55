package devcmd

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ecsworker/ecsworker/internal/cli/clikit"
	"github.com/ecsworker/ecsworker/internal/sandbox"
)

// NewSandbox is `ecsworker sandbox`: the worker end to end against the
// test servers, with demo flow runs.
func NewSandbox(stdio clikit.IO) *cobra.Command {
	var o sandbox.Options
	var names []string
	for _, sc := range sandbox.Scenarios() {
		names = append(names, sc.Name)
	}
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Watch the worker run demo flow runs against simulated AWS and a local test Prefect API",
		Long: `Run ecsworker end to end on this machine, without AWS or Prefect: a local test
Prefect API, a simulated AWS (ECS, EC2, CloudWatch Logs) and the real worker, all on
127.0.0.1. The sandbox creates the work pool ` + sandbox.PoolName + ` and the deployment
` + sandbox.FlowName + `/` + sandbox.DeploymentName + `, schedules demo flow runs with different outcomes
(` + strings.Join(names, ", ") + `),
plays the flow engine inside each simulated container, and shows every run move from
Scheduled to its final state, the ECS requests the worker sent for one of them, and a
summary. Nothing is sent to AWS or to a real Prefect server, and neither ~/.aws nor
~/.prefect is read.

The exit code is 0 when every run ended as its scenario expects, 1 otherwise.`,
		Example: `  ecsworker sandbox
  ecsworker sandbox --runs 12 --speed 2
  ecsworker sandbox --json > summary.json
  ecsworker sandbox --keep-running     # then, in another shell, use the printed PREFECT_API_URL`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Runs < 1 {
				return clikit.Invalid("--runs %d: give at least 1", o.Runs)
			}
			if !(o.Speed >= sandbox.MinSpeed && o.Speed <= sandbox.MaxSpeed) { // NaN too
				return clikit.Invalid("--speed %g: choose between %g and %g", o.Speed, float64(sandbox.MinSpeed), float64(sandbox.MaxSpeed))
			}
			o.Out, o.Err = stdio.Out, stdio.Err
			sum, err := sandbox.Run(cmd.Context(), o)
			if err != nil {
				return &clikit.CodedError{Code: clikit.ExitError, Err: err}
			}
			if !sum.OK {
				// The report has named each mismatch already.
				return &clikit.CodedError{Code: clikit.ExitError, Printed: true,
					Err: fmt.Errorf("%d sandbox run(s) did not end as expected", len(sum.Mismatches))}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Runs, "runs", len(names), "number of demo flow runs, cycling through the scenarios")
	f.BoolVar(&o.KeepRunning, "keep-running", false, "leave the servers and the worker up after the demo (Ctrl-C stops them)")
	f.BoolVar(&o.JSON, "json", false, "print the summary as JSON on stdout, and the progress on stderr")
	f.Float64Var(&o.Speed, "speed", 1, "time scale: 2 runs the scripted tasks twice as fast (ECS's fixed delays do not scale)")
	return cmd
}
