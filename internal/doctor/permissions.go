package doctor

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/ecsworker/ecsworker/internal/doctor/netcheck"
	"github.com/ecsworker/ecsworker/internal/iampolicy"
)

// permissions registers the check that the principal is allowed what the
// aws-policy output allows.
func (r *runner) permissions(p *Principal, id Identity) {
	n := p.Needs
	if len(n.Jobs) == 0 && n.EventsQueue == "" && len(n.AssumeRoles) == 0 {
		return
	}
	// Named after the principal IAM simulates: a role session's role.
	who := id.ARN
	if src := sourceOf(id.ARN); src.skip == "" {
		who = src.arn
	}
	s, _ := r.add(catPermissions, "permissions|"+p.Credentials, "Permissions of "+who, "")
	s.deployments = append([]string{}, p.Deployments...)
	s.run = func() Check { return r.checkPermissions(p, id) }
}

// source is the IAM principal that policies are attached to, for a
// caller ARN.
type source struct {
	arn, kind, name string // kind: "user" or "role"
	// pathLost: a role session's ARN does not say the role's path.
	pathLost bool
	// skip says why the caller cannot be simulated.
	skip string
}

// sourceOf turns a caller ARN (GetCallerIdentity's) into the principal to
// simulate: an IAM user as it is; an assumed-role session
// arn:aws:sts::A:assumed-role/ROLE/SESSION into its role
// arn:aws:iam::A:role/ROLE, whose path the session ARN does not keep.
func sourceOf(caller string) source {
	parts := strings.SplitN(caller, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return source{skip: "the caller " + caller + " is not an ARN"}
	}
	partition, service, account, res := parts[1], parts[2], parts[4], parts[5]
	switch {
	case service == "iam" && strings.HasPrefix(res, "user/"):
		return source{arn: caller, kind: "user", name: res[strings.LastIndex(res, "/")+1:]}
	case service == "sts" && strings.HasPrefix(res, "assumed-role/"):
		role, _, _ := strings.Cut(strings.TrimPrefix(res, "assumed-role/"), "/")
		return source{arn: "arn:" + partition + ":iam::" + account + ":role/" + role, kind: "role", name: role, pathLost: true}
	case service == "iam" && res == "root":
		return source{skip: "the credentials are the account's root user, which IAM does not simulate and which may do everything; run the worker as an IAM role or user instead"}
	}
	return source{skip: "IAM cannot simulate the policies of " + caller + " (only IAM users and roles)"}
}

// pair is an action on a resource.
type pair struct{ action, resource string }

func (r *runner) checkPermissions(p *Principal, id Identity) Check {
	policy, err := iampolicy.Generate(p.Needs, iampolicy.Literal{Region: p.Region, Account: cmp.Or(p.Account, id.Account)})
	if err != nil {
		return Check{Status: Fail, Detail: "the aws-policy output cannot be written: " + err.Error(), Fix: "Run " + p.policyCommand() + " for the details"}
	}
	src := sourceOf(id.ARN)
	if src.skip != "" {
		return Check{Status: Skipped, Detail: "not checked: " + src.skip}
	}
	name := "" // the check's name, when the role's path changes it
	getRoleRefused := false
	if src.pathLost {
		// The session ARN lost the role's path: IAM knows it.
		role, err := r.getRole(p.Clients, id.Account, src.name)
		switch {
		case err == nil:
			src.arn, src.pathLost = aws.ToString(role.Arn), false
			name = "Permissions of " + src.arn
		case refused(err):
			getRoleRefused = true
		}
	}

	verdict := map[pair]bool{}
	var order []pair
	for _, st := range policy.Statements {
		var resources []string
		for _, res := range st.Resources {
			if s, ok := res.(string); ok && s != "*" {
				resources = append(resources, s)
			}
		}
		for _, entries := range contextCombos(st.Conditions) {
			pg := iam.NewSimulatePrincipalPolicyPaginator(p.Clients.IAM, &iam.SimulatePrincipalPolicyInput{
				PolicySourceArn: aws.String(src.arn), ActionNames: st.Actions, ResourceArns: resources, ContextEntries: entries,
			})
			for pg.HasMorePages() {
				page, err := pg.NextPage(r.ctx)
				if err != nil {
					if isNoSuchEntity(err) && src.pathLost {
						c := Check{Status: Skipped, Detail: fmt.Sprintf("not checked: the session ARN %s does not say the path of role %s, and %s is not it", id.ARN, src.name, src.arn)}
						if getRoleRefused {
							c.Detail += "; iam:GetRole, which would find it, was refused"
							c.Action = "iam:GetRole"
						}
						return c
					}
					return r.callFailed("iam:SimulatePrincipalPolicy", err)
				}
				for _, ev := range page.EvaluationResults {
					action := aws.ToString(ev.EvalActionName)
					mark := func(res string, d iamtypes.PolicyEvaluationDecisionType) {
						k := pair{action, cmp.Or(res, "*")}
						if _, seen := verdict[k]; !seen {
							order = append(order, k)
						}
						verdict[k] = verdict[k] || d == iamtypes.PolicyEvaluationDecisionTypeAllowed
					}
					if len(ev.ResourceSpecificResults) == 0 {
						mark(aws.ToString(ev.EvalResourceName), ev.EvalDecision)
						continue
					}
					for _, rr := range ev.ResourceSpecificResults {
						mark(aws.ToString(rr.EvalResourceName), rr.EvalResourceDecision)
					}
				}
			}
		}
	}

	var denied []string
	var deniedActions []string
	for _, k := range order {
		if !verdict[k] {
			deniedActions = addUnique(deniedActions, k.action)
			if k.resource == "*" {
				denied = append(denied, k.action)
			} else {
				denied = append(denied, k.action+" on "+k.resource)
			}
		}
	}
	actions := policy.Actions()
	if len(denied) == 0 {
		return Check{Name: name, Status: Pass, Detail: fmt.Sprintf("allowed the %d %s of the aws-policy output on their resources (iam:SimulatePrincipalPolicy)", len(actions), netcheck.Plural(len(actions), "action", "actions"))}
	}
	return Check{Name: name, Status: Fail,
		Detail: fmt.Sprintf("%d of the %d actions of the aws-policy output %s denied: %s", len(deniedActions), len(actions), netcheck.Plural(len(deniedActions), "is", "are"), strings.Join(denied, "; ")),
		Fix:    p.permissionsFix(src, id.Account)}
}

func (p *Principal) policyCommand() string {
	return cmp.Or(p.PolicyCommand, "ecsworker aws-policy --pool NAME")
}

// permissionsFix says how to give the identity the aws-policy output
// (for the account doctor checked, when the jobs do not say theirs).
func (p *Principal) permissionsFix(src source, account string) string {
	cmd := p.policyCommand()
	if p.Account == "" && account != "" && !strings.Contains(cmd, "--account") {
		cmd += " --account " + account
	}
	put := fmt.Sprintf("aws iam put-%s-policy --%s-name %s --policy-name ecsworker --policy-document file://policy.json", src.kind, src.kind, src.name)
	if len(p.Deployments) == 0 {
		return fmt.Sprintf("Put the policy of %s that '%s --json' prints in policy.json, then %s", p.Credentials, cmd, put)
	}
	return cmd + " > policy.json && " + put
}

// contextCombos are the context entries to simulate a statement with: its
// condition keys with the values it expects, one value of each key per
// simulation (a request carries one cluster, one create action).
func contextCombos(conds []iampolicy.Condition) [][]iamtypes.ContextEntry {
	combos := [][]iamtypes.ContextEntry{nil}
	for _, c := range conds {
		var next [][]iamtypes.ContextEntry
		for _, v := range c.Values {
			s, ok := v.(string)
			if !ok {
				continue
			}
			for _, prev := range combos {
				e := iamtypes.ContextEntry{ContextKeyName: aws.String(c.Key), ContextKeyType: iamtypes.ContextKeyTypeEnumString, ContextKeyValues: []string{s}}
				next = append(next, append(slices.Clone(prev), e))
			}
		}
		if len(next) > 0 {
			combos = next
		}
	}
	return combos
}
