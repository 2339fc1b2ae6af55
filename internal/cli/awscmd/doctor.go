package awscmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awscreds"
	"github.com/ecsworker/ecsworker/internal/awserr"
	"github.com/ecsworker/ecsworker/internal/buildinfo"
	"github.com/ecsworker/ecsworker/internal/cli/clikit"
	"github.com/ecsworker/ecsworker/internal/doctor"
	"github.com/ecsworker/ecsworker/internal/iampolicy"
	"github.com/ecsworker/ecsworker/internal/lazyregexp"
	"github.com/ecsworker/ecsworker/internal/redact"
)

type doctorOptions struct {
	poolJobs
	asJSON bool
}

// Deadlines of doctor's AWS calls: it is interactive, so it gives up on
// an endpoint sooner than the worker does.
const (
	doctorMaxAttempts    = 3
	doctorAttemptTimeout = 15 * time.Second
	doctorCallTimeout    = 45 * time.Second
)

// NewDoctor is `ecsworker doctor`: a pre-flight check of a pool's jobs
// against the AWS account they will run in.
func NewDoctor(stdio clikit.IO, api *clikit.APIFlags) *cobra.Command {
	o := doctorOptions{}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check a work pool's deployments against your AWS account before running them",
		Long: `Read a work pool and its deployments from the Prefect API, render each
deployment's job the way the worker does, and check it against the AWS account
it will run in, with the credentials the worker will use for it:

  - the credentials resolve, and whose they are;
  - each cluster exists, is ACTIVE and has the capacity providers the jobs name;
  - the subnets exist and are in one VPC (vpc_id), the security groups are in
    that VPC, and the subnets' routes fit assign_public_ip;
  - the execution and task roles exist and trust ecs-tasks.amazonaws.com;
  - the ECR images exist; the awslogs log groups exist or are created;
  - the worker's identity is allowed what 'ecsworker aws-policy' allows
    (iam:SimulatePrincipalPolicy).

It only reads: nothing is launched, created or changed. Each check is a line
with ✓ (pass), ✗ (fail, with the fix under it) or - (skipped: doctor's own call
was refused, and the action to grant is named). The exit code is 1 when a check
fails, 0 otherwise, and 2 for invalid flags or deployments. Messages go to
stderr, the checklist to stdout.`,
		Example: `  # Every deployment of a pool
  ecsworker doctor --pool my-pool

  # Two deployments, in eu-west-1, as JSON
  ecsworker doctor --pool my-pool --deployment etl/nightly --deployment etl/hourly \
    --region eu-west-1 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDoctor(cmd.Context(), stdio, api, o)
		},
	}
	f := cmd.Flags()
	o.register(f, ": its permissions are checked too")
	f.BoolVar(&o.asJSON, "json", false, "print the report as JSON")
	return cmd
}

func runDoctor(ctx context.Context, stdio clikit.IO, api *clikit.APIFlags, o doctorOptions) error {
	if o.pool == "" {
		return clikit.Invalid("--pool is required: give the name of the work pool whose deployments to check")
	}
	c, err := api.Client()
	if err != nil {
		return err
	}
	po := awsPolicyOptions{poolJobs: o.poolJobs}
	var notes []string
	note := func(format string, args ...any) { notes = append(notes, fmt.Sprintf(format, args...)) }
	jobs, err := renderPoolJobs(ctx, stdio, c, po, note)
	if err != nil {
		return err
	}
	for i := range jobs {
		if o.region != "" {
			jobs[i].creds.Region = o.region
		}
	}
	// The policy's own notes (an unknown account, its size) do not apply:
	// doctor checks in the account the credentials belong to.
	entries, err := policyEntries(jobs, po, func(string, ...any) {})
	if err != nil {
		var ie iampolicy.InputErrors
		if errors.As(err, &ie) {
			return &clikit.CodedError{Code: clikit.ExitInvalid, Err: err}
		}
		return err
	}
	note("flow runs can override job variables when they are created; doctor checks the deployments' own")
	for _, n := range notes {
		fmt.Fprintln(stdio.Err, "note: "+n)
	}

	factory := awsclient.NewFactory(awsclient.FactoryOptions{
		Version: buildinfo.String(), MaxAttempts: doctorMaxAttempts,
		Timeouts:    awsclient.CallTimeouts{Attempt: doctorAttemptTimeout, Total: doctorCallTimeout},
		Permissions: awserr.PermissionOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
	})

	running := 0
	for _, e := range entries {
		if len(e.deployments) > 0 {
			running++
		}
	}
	var principals []doctor.Principal
	var secrets []string
	for _, e := range entries {
		creds := principalCredentials(jobs, e.identity, o.region)
		secrets = append(secrets, credentialSecrets(creds)...)
		p := doctor.Principal{
			Credentials: e.identity.String(), Deployments: e.deployments, Purposes: e.purposes,
			Needs: e.needs, Account: e.account, Region: e.region,
			PolicyCommand: doctorPolicyCommand(o, e, running),
		}
		p.Clients, p.ClientsError = doctorClients(ctx, factory, creds)
		if errors.Is(p.ClientsError, awsclient.ErrNoRegion) {
			return clikit.Invalid("%s: %v; or give --region", e.identity, p.ClientsError)
		}
		for _, j := range jobs {
			if j.identity != e.identity {
				continue
			}
			secrets = append(secrets, credentialSecrets(j.creds)...)
			dj := doctor.Job{Deployment: j.label, Plan: j.plan}
			if jc, err := doctorClients(ctx, factory, j.creds); err == nil {
				dj.Clients = jc
			}
			p.Jobs = append(p.Jobs, dj)
		}
		principals = append(principals, p)
	}

	report := doctor.Run(ctx, principals)
	redactReport(report, append(secrets, clikit.SecretEnvValues()...))
	if o.asJSON {
		err = writeDoctorJSON(stdio.Out, report)
	} else {
		err = writeChecklist(stdio.Out, report)
	}
	if err != nil {
		return err
	}
	if s := report.Summary(); s.Failed > 0 {
		return &clikit.CodedError{Code: clikit.ExitError, Err: fmt.Errorf("%d of %d checks failed", s.Failed, len(report.Checks)), Printed: true}
	}
	return nil
}

// principalCredentials are the credentials of an identity: those of a job
// it runs; for the identity that assumes a job's role, that job's block
// without the role; for the worker's own, the default chain.
func principalCredentials(jobs []renderedJob, id identity, region string) awscreds.Credentials {
	for _, j := range jobs {
		if j.identity == id {
			return j.creds
		}
	}
	for _, j := range jobs {
		if j.identity.role != "" && j.identity.base() == id {
			c := j.creds
			c.AssumeRoleARN, c.AssumeRole = "", awscreds.AssumeRoleOptions{}
			return c
		}
	}
	return awscreds.Credentials{Region: region}
}

// credentialSecrets are the values of creds never to show.
func credentialSecrets(c awscreds.Credentials) []string {
	var out []string
	for _, s := range []string{c.AccessKeyID, c.SecretAccessKey, c.SessionToken, c.AssumeRole.ExternalID, c.AssumeRole.TokenCode} {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// doctorClients makes doctor's clients for creds from the client
// factory's configuration: the same identity, region, retries, deadlines
// and endpoint as the worker's own clients.
func doctorClients(ctx context.Context, f *awsclient.Factory, creds awscreds.Credentials) (*doctor.Clients, error) {
	c, err := f.For(ctx, creds)
	if err != nil {
		return nil, err
	}
	dc := doctor.NewClients(c.Config, c.Endpoint, creds.DisableSSL)
	dc.InRegion = func(ctx context.Context, region string) (*doctor.Clients, error) {
		other := creds
		other.Region = region
		return doctorClients(ctx, f, other)
	}
	return dc, nil
}

// doctorPolicyCommand is the aws-policy command that prints the policy of
// the entry's identity.
func doctorPolicyCommand(o doctorOptions, e *policyEntry, running int) string {
	parts := []string{"ecsworker", "aws-policy", "--pool", shellWord(o.pool)}
	if running > 1 || len(o.deployments) > 0 {
		for _, d := range e.deployments {
			if d != "(pool default)" {
				parts = append(parts, "--deployment", shellWord(d))
			}
		}
	}
	if o.eventsQueue != "" && e.identity.own() {
		parts = append(parts, "--events-queue", shellWord(o.eventsQueue))
	}
	if o.region != "" {
		parts = append(parts, "--region", shellWord(o.region))
	}
	return strings.Join(parts, " ")
}

var plainWord = lazyregexp.New(`^[A-Za-z0-9_./:=@%+,-]+$`)

// shellWord quotes s for a POSIX shell when it needs it.
func shellWord(s string) string {
	if plainWord().MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// redactReport masks secrets wherever AWS or a block might have echoed
// them.
func redactReport(r *doctor.Report, secrets []string) {
	mask := func(s *string) { *s = redact.String(*s, secrets...) }
	for i := range r.Identities {
		id := &r.Identities[i]
		mask(&id.Credentials)
		mask(&id.ARN)
		mask(&id.Purpose)
		mask(&id.Error)
	}
	for i := range r.Checks {
		c := &r.Checks[i]
		mask(&c.Name)
		mask(&c.Detail)
		mask(&c.Fix)
	}
}

// Marks of the checklist.
var statusMark = map[doctor.Status]string{doctor.Pass: "✓", doctor.Fail: "✗", doctor.Skipped: "-"}

// writeChecklist prints the report for people: one line per check, the
// fix (or the action to grant) under it, and a summary.
func writeChecklist(w io.Writer, r *doctor.Report) error {
	var b bytes.Buffer
	deployments := map[string]bool{}
	for _, c := range r.Checks {
		for _, d := range c.Deployments {
			deployments[d] = true
		}
	}
	for _, c := range r.Checks {
		line := statusMark[c.Status] + " " + c.Name
		if c.Detail != "" {
			line += " — " + c.Detail
		}
		if len(deployments) > 1 && len(c.Deployments) > 0 {
			line += " [" + strings.Join(c.Deployments, ", ") + "]"
		}
		b.WriteString(line + "\n")
		if c.Status == doctor.Fail && c.Fix != "" {
			b.WriteString("    fix: " + c.Fix + "\n")
		}
		if c.Action != "" {
			b.WriteString("    grant: " + c.Action + "\n")
		}
	}
	s := r.Summary()
	fmt.Fprintf(&b, "%d passed, %d failed, %d skipped\n", s.Passed, s.Failed, s.Skipped)
	_, err := w.Write(b.Bytes())
	return err
}

// writeDoctorJSON prints the report as one JSON object: the identity that
// runs the deployments (the first, when several do), every identity, the
// checks and the summary.
func writeDoctorJSON(w io.Writer, r *doctor.Report) error {
	var first *doctor.Identity
	for i := range r.Identities {
		if first == nil || len(first.Deployments) == 0 && len(r.Identities[i].Deployments) > 0 {
			first = &r.Identities[i]
		}
	}
	out := struct {
		Identity   *doctor.Identity  `json:"identity"`
		Identities []doctor.Identity `json:"identities"`
		Checks     []doctor.Check    `json:"checks"`
		Summary    doctor.Summary    `json:"summary"`
	}{first, r.Identities, r.Checks, r.Summary()}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
