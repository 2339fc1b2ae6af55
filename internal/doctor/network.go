package doctor

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ecsworker/ecsworker/internal/ecsrequest"
)

// maxTaskSubnets is how many subnets ECS accepts in a task's awsvpc
// configuration (and so how many inferred subnets the worker can use).
const maxTaskSubnets = 16

// netSpec is a job's awsvpc network as the plan gives it.
type netSpec struct {
	infer   bool
	vpcID   string   // vpc_id: where subnets are inferred from, or must be
	subnets []string // given subnets, sorted; nil when inferred
	sgs     []string // sorted
	assign  string   // ENABLED or DISABLED
}

// networkOf reads the job's awsvpc configuration; false for tasks without
// one (bridge or host network mode).
func networkOf(plan *ecsrequest.Plan) (netSpec, bool) {
	awsvpc := plan.RunTask.GetObject("networkConfiguration").GetObject("awsvpcConfiguration")
	if awsvpc == nil {
		return netSpec{}, false
	}
	n := netSpec{assign: awsvpc.GetString("assignPublicIp")}
	if n.assign == "" {
		n.assign = "DISABLED" // ECS's default
	}
	if plan.Network != nil {
		n.infer, n.vpcID = plan.Network.Infer, plan.Network.VPCID
	}
	strs := func(key string) []string {
		var out []string
		for _, v := range awsvpc.GetArray(key) {
			if s, ok := v.(string); ok && s != "" && s != ecsrequest.MarkSubnets && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
		slices.Sort(out)
		return out
	}
	n.sgs = strs("securityGroups")
	if !n.infer {
		n.subnets = strs("subnets")
		if len(n.subnets) == 0 {
			return netSpec{}, false
		}
	}
	return n, true
}

// key identifies the subnet set.
func (n netSpec) key() string {
	if n.infer {
		return "infer:" + n.vpcID
	}
	return "subnets:" + strings.Join(n.subnets, ",") + "|vpc:" + n.vpcID
}

// subject names the subnet set for people.
func (n netSpec) subject() string {
	switch {
	case n.infer && n.vpcID == "":
		return "the default VPC's subnets"
	case n.infer:
		return "the subnets of VPC " + n.vpcID
	}
	return plural(len(n.subnets), "subnet ", "subnets ") + list(n.subnets)
}

// netFound is what EC2 says about a subnet set.
type netFound struct {
	vpcs    []string          // the VPCs of the subnets found, in order
	vpcOf   map[string]string // subnet -> VPC
	subnets []string          // found
	missing []string          // given but not found
	// problem says why inferred subnets cannot be used ("" when they can).
	problem, fix string
}

// network registers the network checks of the job.
func (r *runner) network(scope string, j Job) {
	n, ok := networkOf(j.Plan)
	if !ok {
		return
	}
	c := j.Clients
	key := scope + "|" + c.Region + "|" + n.key()
	name := plural(len(n.subnets), "Subnet ", "Subnets ") + list(n.subnets)
	if n.infer {
		name = "Subnets of the default VPC"
		if n.vpcID != "" {
			name = "Subnets of VPC " + n.vpcID
		}
	}
	if s, isNew := r.add(catSubnets, "subnets|"+key, name, j.Deployment); isNew {
		s.run = func() Check { return r.checkSubnets(c, n) }
	}
	if len(n.sgs) > 0 {
		// The groups are checked against their VPC: once per VPC when the
		// subnets tell it (the lookup is shared with the subnet check).
		where := key
		if f, err := r.findNetwork(c, n); err == nil && f.problem == "" && len(f.vpcs) == 1 {
			where = scope + "|" + c.Region + "|vpc:" + f.vpcs[0]
		}
		name := plural(len(n.sgs), "Security group ", "Security groups ") + list(n.sgs)
		if s, isNew := r.add(catSecurityGroups, "sg|"+where+"|"+strings.Join(n.sgs, ","), name, j.Deployment); isNew {
			s.run = func() Check { return r.checkSecurityGroups(c, n) }
		}
	}
	// Only Fargate tasks pull their image through the task's own network
	// interface; on EC2 the instance pulls it.
	if j.Plan.Launch == ecsrequest.LaunchFargate {
		name := fmt.Sprintf("Internet access from %s (assignPublicIp %s)", n.subject(), n.assign)
		if s, isNew := r.add(catRoutes, "route|"+key+"|"+n.assign, name, j.Deployment); isNew {
			s.run = func() Check { return r.checkRoutes(c, n) }
		}
	}
}

// findNetwork looks the subnet set up once.
func (r *runner) findNetwork(c *Clients, n netSpec) (*netFound, error) {
	v, err := r.once("network|"+c.Region+"|"+n.key(), func() (any, error) {
		if n.infer {
			return r.inferNetwork(c, n.vpcID)
		}
		return r.givenNetwork(c, n.subnets)
	})
	if err != nil {
		return nil, err
	}
	return v.(*netFound), nil
}

func (r *runner) describeSubnets(c *Clients, filter string, values []string) ([]ec2types.Subnet, error) {
	var out []ec2types.Subnet
	p := ec2.NewDescribeSubnetsPaginator(c.EC2, &ec2.DescribeSubnetsInput{
		Filters: []ec2types.Filter{{Name: aws.String(filter), Values: values}},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(r.ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Subnets...)
	}
	return out, nil
}

// givenNetwork finds given subnets. A filter, unlike SubnetIds, answers
// for the subnets that exist when some do not.
func (r *runner) givenNetwork(c *Clients, subnets []string) (*netFound, error) {
	found, err := r.describeSubnets(c, "subnet-id", subnets)
	if err != nil {
		return nil, err
	}
	f := &netFound{vpcOf: map[string]string{}}
	for _, s := range found {
		id, vpc := aws.ToString(s.SubnetId), aws.ToString(s.VpcId)
		f.vpcOf[id] = vpc
		f.subnets = append(f.subnets, id)
		if !slices.Contains(f.vpcs, vpc) {
			f.vpcs = append(f.vpcs, vpc)
		}
	}
	for _, s := range subnets {
		if _, ok := f.vpcOf[s]; !ok {
			f.missing = append(f.missing, s)
		}
	}
	return f, nil
}

// inferNetwork finds the subnets the worker infers: those of vpc_id, or of
// the default VPC.
func (r *runner) inferNetwork(c *Clients, vpcID string) (*netFound, error) {
	in := &ec2.DescribeVpcsInput{Filters: []ec2types.Filter{{Name: aws.String("isDefault"), Values: []string{"true"}}}}
	where := "the default VPC"
	if vpcID != "" {
		in.Filters = []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpcID}}}
		where = "VPC " + vpcID
	}
	out, err := c.EC2.DescribeVpcs(r.ctx, in)
	if err != nil {
		return nil, &callError{"ec2:DescribeVpcs", err}
	}
	f := &netFound{vpcOf: map[string]string{}}
	if len(out.Vpcs) == 0 {
		if vpcID == "" {
			f.problem = fmt.Sprintf("region %s has no default VPC, so the worker cannot find the tasks' subnets", c.Region)
			f.fix = "Set the subnets job variable (and security_groups), or vpc_id to the VPC whose subnets to use"
		} else {
			f.problem = fmt.Sprintf("VPC %s does not exist in region %s, so the worker cannot find the tasks' subnets", vpcID, c.Region)
			f.fix = "Correct the vpc_id job variable, or set the subnets job variable"
		}
		return f, nil
	}
	vpc := aws.ToString(out.Vpcs[0].VpcId)
	f.vpcs = []string{vpc}
	found, err := r.describeSubnets(c, "vpc-id", []string{vpc})
	if err != nil {
		return nil, &callError{"ec2:DescribeSubnets", err}
	}
	for _, s := range found {
		id := aws.ToString(s.SubnetId)
		f.vpcOf[id] = vpc
		f.subnets = append(f.subnets, id)
	}
	if vpcID == "" {
		where += " (" + vpc + ")"
	}
	switch {
	case len(f.subnets) == 0:
		f.problem = where + " has no subnets, so the worker has none to give the tasks"
		f.fix = "Set the subnets job variable, or vpc_id to a VPC with subnets"
	case len(f.subnets) > maxTaskSubnets:
		f.problem = fmt.Sprintf("%s has %d subnets and ECS accepts at most %d for a task", where, len(f.subnets), maxTaskSubnets)
		f.fix = "Set the subnets job variable to the ones the tasks should use"
	}
	return f, nil
}

// callError names the action of a failed lookup made of several calls.
type callError struct {
	action string
	err    error
}

func (e *callError) Error() string { return e.err.Error() }
func (e *callError) Unwrap() error { return e.err }

// lookupFailed is callFailed for a lookup: its action, else fallback.
func (r *runner) lookupFailed(fallback string, err error) Check {
	var ce *callError
	if errors.As(err, &ce) {
		return r.callFailed(ce.action, ce.err)
	}
	return r.callFailed(fallback, err)
}

func (r *runner) checkSubnets(c *Clients, n netSpec) Check {
	f, err := r.findNetwork(c, n)
	if err != nil {
		return r.lookupFailed("ec2:DescribeSubnets", err)
	}
	if n.infer {
		if f.problem != "" {
			return Check{Status: Fail, Detail: f.problem, Fix: f.fix}
		}
		where := "the default VPC " + f.vpcs[0]
		if n.vpcID != "" {
			where = "VPC " + n.vpcID
		}
		return Check{Status: Pass, Detail: fmt.Sprintf("%s has %d %s, which the worker gives the tasks: %s", where, len(f.subnets), plural(len(f.subnets), "subnet", "subnets"), list(f.subnets))}
	}
	switch {
	case len(f.missing) > 0:
		return Check{Status: Fail,
			Detail: fmt.Sprintf("%s %s not exist in region %s", list(f.missing), plural(len(f.missing), "does", "do"), c.Region),
			Fix:    fmt.Sprintf("Set the subnets job variable to subnets of region %s (aws ec2 describe-subnets --region %s)", c.Region, c.Region)}
	case len(f.vpcs) > 1:
		var where []string
		for _, vpc := range f.vpcs {
			var in []string
			for _, s := range n.subnets {
				if f.vpcOf[s] == vpc {
					in = append(in, s)
				}
			}
			where = append(where, list(in)+" in "+vpc)
		}
		return Check{Status: Fail,
			Detail: "the subnets are in " + fmt.Sprint(len(f.vpcs)) + " VPCs (" + strings.Join(where, "; ") + "): ECS refuses a task whose subnets are not all in one VPC",
			Fix:    "Set the subnets job variable to subnets of one VPC"}
	case n.vpcID != "" && f.vpcs[0] != n.vpcID:
		return Check{Status: Fail,
			Detail: fmt.Sprintf("the subnets are in VPC %s, not in vpc_id %s: the worker refuses them", f.vpcs[0], n.vpcID),
			Fix:    fmt.Sprintf("Set vpc_id to %s, or the subnets job variable to subnets of %s", f.vpcs[0], n.vpcID)}
	}
	return Check{Status: Pass, Detail: "in VPC " + f.vpcs[0]}
}

func (r *runner) checkSecurityGroups(c *Clients, n netSpec) Check {
	var vpc string
	f, err := r.findNetwork(c, n)
	if err == nil && f.problem == "" && len(f.vpcs) == 1 {
		vpc = f.vpcs[0]
	}
	var groups []ec2types.SecurityGroup
	p := ec2.NewDescribeSecurityGroupsPaginator(c.EC2, &ec2.DescribeSecurityGroupsInput{
		Filters: []ec2types.Filter{{Name: aws.String("group-id"), Values: n.sgs}},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(r.ctx)
		if err != nil {
			return r.callFailed("ec2:DescribeSecurityGroups", err)
		}
		groups = append(groups, page.SecurityGroups...)
	}
	vpcOf := map[string]string{}
	for _, g := range groups {
		vpcOf[aws.ToString(g.GroupId)] = aws.ToString(g.VpcId)
	}
	var missing, elsewhere []string
	for _, g := range n.sgs {
		switch v, ok := vpcOf[g]; {
		case !ok:
			missing = append(missing, g)
		case vpc != "" && v != vpc:
			elsewhere = append(elsewhere, g+" is in "+v)
		}
	}
	fix := "Set the security_groups job variable to groups of the subnets' VPC"
	if vpc != "" {
		fix = fmt.Sprintf("Set the security_groups job variable to groups of VPC %s (aws ec2 describe-security-groups --region %s --filters Name=vpc-id,Values=%s)", vpc, c.Region, vpc)
	}
	switch {
	case len(missing) > 0:
		return Check{Status: Fail, Detail: fmt.Sprintf("%s %s not exist in region %s", list(missing), plural(len(missing), "does", "do"), c.Region), Fix: fix}
	case len(elsewhere) > 0:
		return Check{Status: Fail, Detail: fmt.Sprintf("%s, not in the subnets' VPC %s: ECS refuses security groups of another VPC", strings.Join(elsewhere, ", "), vpc), Fix: fix}
	case vpc == "":
		return Check{Status: Pass, Detail: "they exist; whether they are in the subnets' VPC could not be told, since the subnets are not in one VPC"}
	}
	return Check{Status: Pass, Detail: "in VPC " + vpc + ", with the subnets"}
}

// egress is where a subnet's default route leads.
type egress struct {
	kind   string // "igw", "nat", "other" or "" (none)
	target string
}

func (e egress) String() string {
	switch e.kind {
	case "igw":
		return "internet gateway " + e.target
	case "nat":
		return "NAT gateway " + e.target
	case "other":
		return e.target
	}
	return "no default route"
}

// routeTables reads a VPC's route tables once.
func (r *runner) routeTables(c *Clients, vpc string) ([]ec2types.RouteTable, error) {
	v, err := r.once("DescribeRouteTables|"+c.Region+"|"+vpc, func() (any, error) {
		var out []ec2types.RouteTable
		p := ec2.NewDescribeRouteTablesPaginator(c.EC2, &ec2.DescribeRouteTablesInput{
			Filters: []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpc}}},
		})
		for p.HasMorePages() {
			page, err := p.NextPage(r.ctx)
			if err != nil {
				return nil, err
			}
			out = append(out, page.RouteTables...)
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]ec2types.RouteTable), nil
}

// egressOf finds the subnet's route table (its own association, else its
// VPC's main table) and where its 0.0.0.0/0 route leads.
func egressOf(tables []ec2types.RouteTable, subnet string) egress {
	var table *ec2types.RouteTable
	for i, t := range tables {
		if slices.ContainsFunc(t.Associations, func(a ec2types.RouteTableAssociation) bool { return aws.ToString(a.SubnetId) == subnet }) {
			table = &tables[i]
			break
		}
	}
	if table == nil {
		for i, t := range tables {
			if slices.ContainsFunc(t.Associations, func(a ec2types.RouteTableAssociation) bool { return aws.ToBool(a.Main) }) {
				table = &tables[i]
				break
			}
		}
	}
	if table == nil {
		return egress{}
	}
	for _, rt := range table.Routes {
		if aws.ToString(rt.DestinationCidrBlock) != "0.0.0.0/0" || rt.State == ec2types.RouteStateBlackhole {
			continue
		}
		switch gw := aws.ToString(rt.GatewayId); {
		case strings.HasPrefix(gw, "igw-"):
			return egress{"igw", gw}
		case rt.NatGatewayId != nil:
			return egress{"nat", aws.ToString(rt.NatGatewayId)}
		default:
			for _, t := range []*string{rt.TransitGatewayId, rt.NetworkInterfaceId, rt.InstanceId, rt.VpcPeeringConnectionId, rt.GatewayId, rt.CarrierGatewayId, rt.LocalGatewayId} {
				if aws.ToString(t) != "" {
					return egress{"other", aws.ToString(t)}
				}
			}
		}
	}
	return egress{}
}

// endpointsNote is what a task without a default route depends on.
const endpointsNote = "ECR (api and dkr), S3, CloudWatch Logs and the Prefect API must then be reachable through VPC endpoints (or a proxy)"

func (r *runner) checkRoutes(c *Clients, n netSpec) Check {
	f, err := r.findNetwork(c, n)
	if err != nil {
		return r.lookupFailed("ec2:DescribeSubnets", err)
	}
	if len(f.subnets) == 0 {
		return Check{Status: Skipped, Detail: "not checked: no subnet was found"}
	}
	byKind := map[string][]string{} // kind -> "subnet (where)"
	for _, s := range f.subnets {
		tables, err := r.routeTables(c, f.vpcOf[s])
		if err != nil {
			return r.callFailed("ec2:DescribeRouteTables", err)
		}
		e := egressOf(tables, s)
		byKind[e.kind] = append(byKind[e.kind], s+" ("+e.String()+")")
	}
	public, nat, other, none := byKind["igw"], byKind["nat"], byKind["other"], byKind[""]
	if n.assign == "ENABLED" {
		if bad := append(append(slices.Clone(nat), other...), none...); len(bad) > 0 {
			why := "the public IP is never used"
			if len(none) > 0 {
				why += ", and without a way out the task cannot pull its image"
			}
			return Check{Status: Fail,
				Detail: fmt.Sprintf("assignPublicIp is ENABLED but %s %s no 0.0.0.0/0 route to an internet gateway: %s", list(bad), plural(len(bad), "has", "have"), why),
				Fix:    "Set the subnets job variable to public subnets (0.0.0.0/0 to an internet gateway), or assign_public_ip to false for private subnets with a NAT gateway (or VPC endpoints for ECR, S3, CloudWatch Logs and a way to the Prefect API)"}
		}
		return Check{Status: Pass, Detail: "public IP through " + list(public)}
	}
	if len(public) > 0 {
		return Check{Status: Fail,
			Detail: fmt.Sprintf("assignPublicIp is DISABLED but the only way out of %s is an internet gateway, which a task reaches only with a public IP: no NAT, so the task cannot pull its image or reach the Prefect API", list(public)),
			Fix:    "Set assign_public_ip to true, or the subnets job variable to private subnets whose 0.0.0.0/0 route goes to a NAT gateway"}
	}
	var parts []string
	if len(nat) > 0 {
		parts = append(parts, "through "+list(nat))
	}
	if len(other) > 0 {
		parts = append(parts, "through "+list(other)+", which must lead to the internet or to VPC endpoints")
	}
	if len(none) > 0 {
		parts = append(parts, "none from "+list(none)+": "+endpointsNote)
	}
	return Check{Status: Pass, Detail: "no public IP; " + strings.Join(parts, "; ")}
}
