// Package doctor checks a work pool's jobs against a real AWS account
// before the worker runs them: whose the credentials are, whether the
// clusters, capacity providers, subnets, security groups, routes, roles,
// images and log groups the jobs name exist and fit together, and whether
// the worker's identity is allowed what the worker will do. It only reads:
// nothing is launched, created or changed.
//
// The checks are pure logic over the narrow AWS interfaces of api.go. The
// caller renders the jobs (ecsrequest.Plan), says which AWS identity runs
// which of them, and gives each identity's clients and iampolicy.Needs.
package doctor

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sort"

	"github.com/ecsworker/ecsworker/internal/doctor/netcheck"
	"github.com/ecsworker/ecsworker/internal/ecsrequest"
	"github.com/ecsworker/ecsworker/internal/iampolicy"
)

// Status is a check's outcome.
type Status string

const (
	// Pass means what the check looks at is as the jobs need it.
	Pass Status = "pass"
	// Fail means a job will fail, or cannot work as configured; Fix says
	// what to change.
	Fail Status = "fail"
	// Skipped means the check could not run (its own AWS call was refused:
	// Action says what to grant) or does not apply.
	Skipped Status = "skipped"
)

// Check is one line of the checklist.
type Check struct {
	// Name is a one-line title naming the subject ("Cluster prod").
	Name   string `json:"name"`
	Status Status `json:"status"`
	// Deployments are the deployments the subject concerns, as
	// FLOW/DEPLOYMENT.
	Deployments []string `json:"deployments"`
	// Detail says what was found.
	Detail string `json:"detail"`
	// Fix says what to change, for failures: a command or the job
	// variable to change.
	Fix string `json:"fix"`
	// Action is the IAM action to grant the identity so that a skipped
	// check can run.
	Action string `json:"action"`
}

// Identity is an AWS identity the worker uses, as AWS resolved it.
type Identity struct {
	// Credentials describe how the identity is configured, without
	// secrets.
	Credentials string `json:"credentials"`
	Account     string `json:"account"`
	ARN         string `json:"arn"`
	// Deployments are the deployments it runs; Purpose says why an
	// identity that runs none is used.
	Deployments []string `json:"deployments"`
	Purpose     string   `json:"purpose,omitempty"`
	// Error is why the credentials did not resolve.
	Error string `json:"error,omitempty"`
}

// Summary counts the checks by status.
type Summary struct {
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
}

// Report is the result of Run.
type Report struct {
	Identities []Identity `json:"identities"`
	Checks     []Check    `json:"checks"`
}

// Summary counts the report's checks.
func (r *Report) Summary() Summary {
	var s Summary
	for _, c := range r.Checks {
		switch c.Status {
		case Pass:
			s.Passed++
		case Fail:
			s.Failed++
		default:
			s.Skipped++
		}
	}
	return s
}

// Failed reports whether any check failed.
func (r *Report) Failed() bool { return r.Summary().Failed > 0 }

// Principal is one AWS identity the worker uses and what it does: the
// jobs it runs (its deployments), and what else it is used for (assuming
// the jobs' roles, reading the events queue).
type Principal struct {
	// Credentials describe how the identity is configured, without
	// secrets ("the worker's own AWS credentials (default chain)").
	Credentials string
	Deployments []string
	// Purposes say why an identity that runs no deployment is used.
	Purposes []string
	// Clients are the identity's clients in its region. ClientsError,
	// when set, is why they could not be made (a missing profile, no
	// region): the credentials check fails with it.
	Clients      *Clients
	ClientsError error
	// Jobs are the jobs it runs, each with its clients (nil: Clients).
	Jobs []Job
	// Needs is what the worker does as this identity, the input of the
	// aws-policy output; an empty Needs skips the permission check.
	Needs iampolicy.Needs
	// Account is the account of the resources the jobs name without an
	// ARN; empty means the identity's own account. Region is used where
	// the jobs give none.
	Account string
	Region  string
	// PolicyCommand is the ecsworker aws-policy command line that prints
	// this identity's policy, for the fix of a permission failure.
	PolicyCommand string
}

// Job is one deployment's rendered job.
type Job struct {
	// Deployment names it (FLOW/DEPLOYMENT).
	Deployment string
	Plan       *ecsrequest.Plan
	// Clients are the clients of the job's credentials in the job's
	// region; nil means its Principal's.
	Clients *Clients
}

// Run checks every principal's identity, the resources its jobs name and
// its permissions. Checks of the same subject (a cluster, a subnet set, a
// role, ...) in the same account and region run once and name every
// deployment they concern. Every call has the deadlines of the clients;
// ctx ends the run early, the checks not run are then skipped.
func Run(ctx context.Context, principals []Principal) *Report {
	r := &runner{ctx: ctx, byKey: map[string]*subject{}}
	rep := &Report{Identities: []Identity{}, Checks: []Check{}}
	for i := range principals {
		p := &principals[i]
		id, ok := r.identity(p)
		rep.Identities = append(rep.Identities, id)
		if !ok {
			continue
		}
		scope := id.Account
		if scope == "" {
			scope = "#" + p.Credentials
		}
		for _, j := range p.Jobs {
			if j.Clients == nil {
				j.Clients = p.Clients
			}
			r.job(scope, j)
		}
		r.permissions(p, id)
	}
	for _, s := range r.ordered() {
		c := s.run()
		c.Name = cmp.Or(c.Name, s.name)
		c.Deployments = s.deployments
		if c.Deployments == nil {
			c.Deployments = []string{}
		}
		rep.Checks = append(rep.Checks, c)
	}
	return rep
}

// category orders the checklist.
type category int

const (
	catIdentity category = iota
	catCluster
	catCapacity
	catSubnets
	catSecurityGroups
	catRoutes
	catTaskDefinition
	catRoles
	catImages
	catLogs
	catPermissions
)

// subject is one check to run, and the deployments it concerns.
type subject struct {
	cat         category
	seq         int
	name        string
	deployments []string
	run         func() Check
	state       any
}

type runner struct {
	ctx      context.Context
	subjects []*subject
	byKey    map[string]*subject
	memo     netcheck.Memo
	net      netcheck.Lookups
}

// add registers the check of key for deployment, and reports whether it
// is new: the caller then sets its run function (and state).
func (r *runner) add(cat category, key, name, deployment string) (*subject, bool) {
	if s, ok := r.byKey[key]; ok {
		s.addDeployment(deployment)
		return s, false
	}
	s := &subject{cat: cat, seq: len(r.subjects), name: name}
	s.addDeployment(deployment)
	r.byKey[key] = s
	r.subjects = append(r.subjects, s)
	return s, true
}

func (s *subject) addDeployment(d string) {
	if d != "" && !slices.Contains(s.deployments, d) {
		s.deployments = append(s.deployments, d)
	}
}

// ordered is the checklist order: by category, then as registered.
func (r *runner) ordered() []*subject {
	out := slices.Clone(r.subjects)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].cat != out[j].cat {
			return out[i].cat < out[j].cat
		}
		return out[i].seq < out[j].seq
	})
	return out
}

// job registers the checks of one job's plan.
func (r *runner) job(scope string, j Job) {
	if j.Plan == nil || j.Plan.RunTask == nil {
		return
	}
	r.cluster(scope, j)
	r.network(scope, j)
	r.taskDefinition(scope, j)
}

var errNoRegionClients = errors.New("no clients for that region")
