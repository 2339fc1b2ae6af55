package doctor

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ecsworker/ecsworker/internal/doctor/netcheck"
	"github.com/ecsworker/ecsworker/internal/ecsrequest"
)

// network registers the network checks of the job.
func (r *runner) network(scope string, j Job) {
	n, ok := netcheck.Of(j.Plan)
	if !ok {
		return
	}
	c := j.Clients
	key := scope + "|" + c.Region + "|" + n.Key()
	name := netcheck.Plural(len(n.Subnets), "Subnet ", "Subnets ") + netcheck.List(n.Subnets)
	if n.Infer {
		name = "Subnets of the default VPC"
		if n.VPCID != "" {
			name = "Subnets of VPC " + n.VPCID
		}
	}
	if s, isNew := r.add(catSubnets, "subnets|"+key, name, j.Deployment); isNew {
		s.run = func() Check { return r.netCheck(r.net.Subnets(r.ctx, c.EC2, c.Region, n)) }
	}
	if len(n.SecurityGroups) > 0 {
		// The groups are checked against their VPC: once per VPC when the
		// subnets tell it (the lookup is shared with the subnet check).
		where := key
		if vpc := r.net.VPC(r.ctx, c.EC2, c.Region, n); vpc != "" {
			where = scope + "|" + c.Region + "|vpc:" + vpc
		}
		name := netcheck.Plural(len(n.SecurityGroups), "Security group ", "Security groups ") + netcheck.List(n.SecurityGroups)
		if s, isNew := r.add(catSecurityGroups, "sg|"+where+"|"+strings.Join(n.SecurityGroups, ","), name, j.Deployment); isNew {
			s.run = func() Check { return r.netCheck(r.net.SecurityGroups(r.ctx, c.EC2, c.Region, n)) }
		}
	}
	// Only Fargate tasks pull their image through the task's own network
	// interface; on EC2 the instance pulls it.
	if j.Plan.Launch == ecsrequest.LaunchFargate {
		name := fmt.Sprintf("Internet access from %s (assignPublicIp %s)", n.Subject(), n.AssignPublicIP)
		if s, isNew := r.add(catRoutes, "route|"+key+"|"+n.AssignPublicIP, name, j.Deployment); isNew {
			s.run = func() Check { return r.netCheck(r.net.Routes(r.ctx, c.EC2, c.Region, n)) }
		}
	}
}

// netCheck is the checklist line of a network check: its result, or,
// when its own AWS call failed, what callFailed says about that call.
func (r *runner) netCheck(res netcheck.Result, err error) Check {
	if err != nil {
		var ce *netcheck.CallError
		if errors.As(err, &ce) {
			return r.callFailed(ce.Action, ce.Err)
		}
		return r.callFailed("ec2:DescribeSubnets", err)
	}
	status := Pass
	switch res.Verdict {
	case netcheck.Problem:
		status = Fail
	case netcheck.NotChecked:
		status = Skipped
	}
	return Check{Status: status, Detail: res.Detail, Fix: res.Fix}
}
