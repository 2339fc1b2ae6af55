package doctor

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/ecsworker/ecsworker/internal/awserr"
	"github.com/ecsworker/ecsworker/internal/doctor/netcheck"
)

// identity resolves a principal's credentials with sts:GetCallerIdentity,
// which needs no permission: it fails only when the credentials do not
// resolve (no keys, expired keys, a role that may not be assumed).
func (r *runner) identity(p *Principal) (Identity, bool) {
	id := Identity{Credentials: p.Credentials, Deployments: append([]string{}, p.Deployments...), Purpose: strings.Join(p.Purposes, "; ")}
	name := "AWS credentials: " + p.Credentials
	s, _ := r.add(catIdentity, "identity|"+p.Credentials, name, "")
	s.deployments = id.Deployments

	var out *sts.GetCallerIdentityOutput
	err := p.ClientsError
	if err == nil && p.Clients == nil {
		err = errNoClients
	}
	if err == nil {
		out, err = p.Clients.STS.GetCallerIdentity(r.ctx, &sts.GetCallerIdentityInput{})
	}
	if err != nil {
		id.Error = awsMessage(err)
		c := Check{Status: Fail, Detail: "the credentials do not resolve: " + awsMessage(err), Fix: credentialsFix(p)}
		if r.ctx.Err() != nil {
			c = Check{Status: Skipped, Detail: "not checked: doctor was interrupted"}
		} else if k := awserr.KindOf(err); k == awserr.KindThrottled || k == awserr.KindTransient {
			c.Detail = "AWS did not confirm the credentials: " + awsMessage(err)
			c.Fix = "This looks temporary (no answer in time, or throttled); run ecsworker doctor again"
		}
		if len(p.Jobs) > 0 {
			c.Detail += "; nothing else was checked for " + netcheck.List(p.Deployments)
		}
		s.run = func() Check { return c }
		return id, false
	}
	id.Account, id.ARN = aws.ToString(out.Account), aws.ToString(out.Arn)
	s.run = func() Check {
		detail := fmt.Sprintf("account %s, %s", id.Account, id.ARN)
		if len(p.Purposes) > 0 {
			detail += "; used to " + strings.Join(p.Purposes, " and ")
		}
		return Check{Status: Pass, Detail: detail}
	}
	return id, true
}

var errNoClients = errors.New("no AWS clients were given for these credentials")

func credentialsFix(p *Principal) string {
	if len(p.Deployments) == 0 {
		return "Check the worker's own AWS credentials: AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or the role of the machine or ECS task the worker runs on"
	}
	return "Check the aws_credentials block of these deployments (its keys, profile_name, or assume_role_arn and that role's trust policy and ExternalId), or without one the worker's own AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID, the machine's role)"
}
