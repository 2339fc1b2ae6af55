package doctor

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/ecsworker/ecsworker/internal/awserr"
	"github.com/ecsworker/ecsworker/internal/doctor/trustpolicy"
	"github.com/ecsworker/ecsworker/internal/lazyregexp"
)

// ecsTasks is the service principal that assumes a task's roles.
const ecsTasks = "ecs-tasks.amazonaws.com"

// trustECSTasks is the trust policy a task role needs.
const trustECSTasks = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

// roleState is what the role check collects over jobs.
type roleState struct {
	kinds []string // "execution", "task"
}

var roleARNRE = lazyregexp.New(`^arn:(aws[a-z-]*):iam::(\d{12}):role/((?:[^/]+/)*)([\w+=,.@-]{1,64})$`)

// roleRef splits a role given by ARN or by name.
type roleRef struct {
	given, account, name string
	arn                  bool
}

func parseRole(s string) roleRef {
	if m := roleARNRE().FindStringSubmatch(s); m != nil {
		return roleRef{given: s, account: m[2], name: m[4], arn: true}
	}
	if i := strings.LastIndex(s, "/"); i >= 0 { // a name with a path
		return roleRef{given: s, name: s[i+1:]}
	}
	return roleRef{given: s, name: s}
}

// role registers the check of a role the job hands to ECS.
func (r *runner) role(scope string, j Job, kind, role string) {
	if role == "" {
		return
	}
	ref := parseRole(role)
	key := "role|" + scope + "|" + ref.given
	s, isNew := r.add(catRoles, key, "", j.Deployment)
	if isNew {
		st := &roleState{}
		s.state = st
		c := j.Clients
		s.run = func() Check { return r.checkRole(c, scope, ref, st.kinds) }
	}
	st := s.state.(*roleState)
	st.kinds = addUnique(st.kinds, kind)
	slices.Sort(st.kinds) // "execution" before "task"
	switch len(st.kinds) {
	case 1:
		s.name = strings.ToUpper(st.kinds[0][:1]) + st.kinds[0][1:] + " role " + ref.name
	default:
		s.name = "Execution and task role " + ref.name
	}
}

// getRole is iam:GetRole of one role name, once.
func (r *runner) getRole(c *Clients, scope, name string) (*iamtypes.Role, error) {
	v, err := r.memo.Once("GetRole|"+scope+"|"+name, func() (any, error) {
		out, err := c.IAM.GetRole(r.ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
		if err != nil {
			return nil, err
		}
		return out.Role, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*iamtypes.Role), nil
}

func isNoSuchEntity(err error) bool {
	var nse *iamtypes.NoSuchEntityException
	return errors.As(err, &nse) || awserr.IsNotFound(err)
}

func (r *runner) checkRole(c *Clients, scope string, ref roleRef, kinds []string) Check {
	if ref.arn && ref.account != scope {
		return Check{Status: Skipped, Detail: fmt.Sprintf("not checked: the role is in account %s, and these credentials read roles of their own account only", ref.account)}
	}
	role, err := r.getRole(c, scope, ref.name)
	variable := "execution_role_arn"
	if !slices.Contains(kinds, "execution") {
		variable = "task_role_arn"
	}
	if isNoSuchEntity(err) {
		fix := fmt.Sprintf("Create it (aws iam create-role --role-name %s --assume-role-policy-document '%s'", ref.name, trustECSTasks)
		if slices.Contains(kinds, "execution") {
			fix += fmt.Sprintf(" && aws iam attach-role-policy --role-name %s --policy-arn arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy", ref.name)
		}
		fix += ") or set " + variable + " to an existing role"
		return Check{Status: Fail, Detail: fmt.Sprintf("IAM has no role %s in this account: ECS refuses the task", ref.name), Fix: fix}
	}
	if err != nil {
		return r.callFailed("iam:GetRole", err)
	}
	if ref.arn && aws.ToString(role.Arn) != ref.given {
		return Check{Status: Fail,
			Detail: fmt.Sprintf("the role named %s is %s, not %s (another path)", ref.name, aws.ToString(role.Arn), ref.given),
			Fix:    fmt.Sprintf("Set %s to %s", variable, aws.ToString(role.Arn))}
	}
	ok, detail, err := trustpolicy.Trusts(aws.ToString(role.AssumeRolePolicyDocument), ecsTasks)
	if err != nil {
		return Check{Status: Fail, Detail: "its trust policy cannot be read: " + err.Error(),
			Fix: fmt.Sprintf("aws iam update-assume-role-policy --role-name %s --policy-document '%s'", ref.name, trustECSTasks)}
	}
	if !ok {
		return Check{Status: Fail,
			Detail: fmt.Sprintf("its trust policy does not let %s assume it (%s): ECS cannot give it to the task", ecsTasks, detail),
			Fix:    fmt.Sprintf("aws iam update-assume-role-policy --role-name %s --policy-document '%s' (this replaces the trust policy: keep the statements it still needs), or set %s to a role that trusts %s", ref.name, trustECSTasks, variable, ecsTasks)}
	}
	return Check{Status: Pass, Detail: fmt.Sprintf("%s, assumable by %s%s", aws.ToString(role.Arn), ecsTasks, detail)}
}
