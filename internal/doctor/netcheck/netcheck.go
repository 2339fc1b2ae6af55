// Package netcheck is doctor's judgement of a job's awsvpc network
// against what EC2 says: that its subnets exist and are in one VPC (or,
// when the worker infers them, that the VPC has some and not too many),
// that its security groups are in that VPC, and that the subnets' routes
// give a Fargate task a way out that suits its assignPublicIp. It only
// reads; internal/doctor registers these checks and words their failed
// calls.
package netcheck

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ecsworker/ecsworker/internal/ecsrequest"
)

// EC2API reads the tasks' network.
type EC2API interface {
	DescribeVpcs(context.Context, *ec2.DescribeVpcsInput, ...func(*ec2.Options)) (*ec2.DescribeVpcsOutput, error)
	DescribeSubnets(context.Context, *ec2.DescribeSubnetsInput, ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error)
	DescribeSecurityGroups(context.Context, *ec2.DescribeSecurityGroupsInput, ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error)
	DescribeRouteTables(context.Context, *ec2.DescribeRouteTablesInput, ...func(*ec2.Options)) (*ec2.DescribeRouteTablesOutput, error)
}

var _ EC2API = (*ec2.Client)(nil)

// Verdict is a check's outcome.
type Verdict int

const (
	// OK means the network is as the job needs it.
	OK Verdict = iota
	// Problem means the task will fail, or cannot work as configured.
	Problem
	// NotChecked means there was nothing to check.
	NotChecked
)

// Result is what a check found: its verdict, what was found, and for a
// problem what to change.
type Result struct {
	Verdict Verdict
	Detail  string
	Fix     string
}

// CallError is a lookup that AWS did not answer as asked; Action is the
// IAM action of the call that failed, for doctor to say what to grant.
type CallError struct {
	Action string
	Err    error
}

func (e *CallError) Error() string { return e.Err.Error() }
func (e *CallError) Unwrap() error { return e.Err }

// maxTaskSubnets is how many subnets ECS accepts in a task's awsvpc
// configuration (and so how many inferred subnets the worker can use).
const maxTaskSubnets = 16

// Spec is a job's awsvpc network as the plan gives it.
type Spec struct {
	Infer          bool
	VPCID          string   // vpc_id: where subnets are inferred from, or must be
	Subnets        []string // given subnets, sorted; nil when inferred
	SecurityGroups []string // sorted
	AssignPublicIP string   // ENABLED or DISABLED
}

// Of reads the job's awsvpc configuration; false for tasks without one
// (bridge or host network mode).
func Of(plan *ecsrequest.Plan) (Spec, bool) {
	awsvpc := plan.RunTask.GetObject("networkConfiguration").GetObject("awsvpcConfiguration")
	if awsvpc == nil {
		return Spec{}, false
	}
	n := Spec{AssignPublicIP: awsvpc.GetString("assignPublicIp")}
	if n.AssignPublicIP == "" {
		n.AssignPublicIP = "DISABLED" // ECS's default
	}
	if plan.Network != nil {
		n.Infer, n.VPCID = plan.Network.Infer, plan.Network.VPCID
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
	n.SecurityGroups = strs("securityGroups")
	if !n.Infer {
		n.Subnets = strs("subnets")
		if len(n.Subnets) == 0 {
			return Spec{}, false
		}
	}
	return n, true
}

// Key identifies the subnet set.
func (n Spec) Key() string {
	if n.Infer {
		return "infer:" + n.VPCID
	}
	return "subnets:" + strings.Join(n.Subnets, ",") + "|vpc:" + n.VPCID
}

// Subject names the subnet set for people.
func (n Spec) Subject() string {
	switch {
	case n.Infer && n.VPCID == "":
		return "the default VPC's subnets"
	case n.Infer:
		return "the subnets of VPC " + n.VPCID
	}
	return Plural(len(n.Subnets), "subnet ", "subnets ") + List(n.Subnets)
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

// Lookups remember EC2's answers for one doctor run, so that the checks
// of the same subnets (or of the same VPC's routes) ask once. They are
// keyed by region: every identity sees the same network there.
type Lookups struct {
	memo Memo
}

// Memo runs each AWS lookup once per key and remembers its answer, error
// included, for one doctor run; the doctor's other checks share lookups
// through one too. The zero Memo is ready to use.
type Memo struct {
	m map[string]lookup
}

type lookup struct {
	v   any
	err error
}

// Once runs a lookup once per key.
func (m *Memo) Once(key string, f func() (any, error)) (any, error) {
	if e, ok := m.m[key]; ok {
		return e.v, e.err
	}
	v, err := f()
	if m.m == nil {
		m.m = map[string]lookup{}
	}
	m.m[key] = lookup{v, err}
	return v, err
}

// findNetwork looks the subnet set up once.
func (l *Lookups) findNetwork(ctx context.Context, api EC2API, region string, n Spec) (*netFound, error) {
	v, err := l.memo.Once("network|"+region+"|"+n.Key(), func() (any, error) {
		if n.Infer {
			return inferNetwork(ctx, api, region, n.VPCID)
		}
		return givenNetwork(ctx, api, n.Subnets)
	})
	if err != nil {
		return nil, err
	}
	return v.(*netFound), nil
}

// VPC is the one VPC of the subnet set, when the lookup found it without
// a problem; "" otherwise.
func (l *Lookups) VPC(ctx context.Context, api EC2API, region string, n Spec) string {
	if f, err := l.findNetwork(ctx, api, region, n); err == nil && f.problem == "" && len(f.vpcs) == 1 {
		return f.vpcs[0]
	}
	return ""
}

func describeSubnets(ctx context.Context, api EC2API, filter string, values []string) ([]ec2types.Subnet, error) {
	var out []ec2types.Subnet
	p := ec2.NewDescribeSubnetsPaginator(api, &ec2.DescribeSubnetsInput{
		Filters: []ec2types.Filter{{Name: aws.String(filter), Values: values}},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Subnets...)
	}
	return out, nil
}

// givenNetwork finds given subnets. A filter, unlike SubnetIds, answers
// for the subnets that exist when some do not.
func givenNetwork(ctx context.Context, api EC2API, subnets []string) (*netFound, error) {
	found, err := describeSubnets(ctx, api, "subnet-id", subnets)
	if err != nil {
		return nil, &CallError{"ec2:DescribeSubnets", err}
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
func inferNetwork(ctx context.Context, api EC2API, region, vpcID string) (*netFound, error) {
	in := &ec2.DescribeVpcsInput{Filters: []ec2types.Filter{{Name: aws.String("isDefault"), Values: []string{"true"}}}}
	where := "the default VPC"
	if vpcID != "" {
		in.Filters = []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpcID}}}
		where = "VPC " + vpcID
	}
	out, err := api.DescribeVpcs(ctx, in)
	if err != nil {
		return nil, &CallError{"ec2:DescribeVpcs", err}
	}
	f := &netFound{vpcOf: map[string]string{}}
	if len(out.Vpcs) == 0 {
		if vpcID == "" {
			f.problem = fmt.Sprintf("region %s has no default VPC, so the worker cannot find the tasks' subnets", region)
			f.fix = "Set the subnets job variable (and security_groups), or vpc_id to the VPC whose subnets to use"
		} else {
			f.problem = fmt.Sprintf("VPC %s does not exist in region %s, so the worker cannot find the tasks' subnets", vpcID, region)
			f.fix = "Correct the vpc_id job variable, or set the subnets job variable"
		}
		return f, nil
	}
	vpc := aws.ToString(out.Vpcs[0].VpcId)
	f.vpcs = []string{vpc}
	found, err := describeSubnets(ctx, api, "vpc-id", []string{vpc})
	if err != nil {
		return nil, &CallError{"ec2:DescribeSubnets", err}
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

// Subnets checks that the subnets exist and are in one VPC (vpc_id, when
// it is set), or that the subnets the worker infers can be used.
func (l *Lookups) Subnets(ctx context.Context, api EC2API, region string, n Spec) (Result, error) {
	f, err := l.findNetwork(ctx, api, region, n)
	if err != nil {
		return Result{}, err
	}
	if n.Infer {
		if f.problem != "" {
			return Result{Verdict: Problem, Detail: f.problem, Fix: f.fix}, nil
		}
		where := "the default VPC " + f.vpcs[0]
		if n.VPCID != "" {
			where = "VPC " + n.VPCID
		}
		return Result{Verdict: OK, Detail: fmt.Sprintf("%s has %d %s, which the worker gives the tasks: %s", where, len(f.subnets), Plural(len(f.subnets), "subnet", "subnets"), List(f.subnets))}, nil
	}
	switch {
	case len(f.missing) > 0:
		return Result{Verdict: Problem,
			Detail: fmt.Sprintf("%s %s not exist in region %s", List(f.missing), Plural(len(f.missing), "does", "do"), region),
			Fix:    fmt.Sprintf("Set the subnets job variable to subnets of region %s (aws ec2 describe-subnets --region %s)", region, region)}, nil
	case len(f.vpcs) > 1:
		var where []string
		for _, vpc := range f.vpcs {
			var in []string
			for _, s := range n.Subnets {
				if f.vpcOf[s] == vpc {
					in = append(in, s)
				}
			}
			where = append(where, List(in)+" in "+vpc)
		}
		return Result{Verdict: Problem,
			Detail: "the subnets are in " + fmt.Sprint(len(f.vpcs)) + " VPCs (" + strings.Join(where, "; ") + "): ECS refuses a task whose subnets are not all in one VPC",
			Fix:    "Set the subnets job variable to subnets of one VPC"}, nil
	case n.VPCID != "" && f.vpcs[0] != n.VPCID:
		return Result{Verdict: Problem,
			Detail: fmt.Sprintf("the subnets are in VPC %s, not in vpc_id %s: the worker refuses them", f.vpcs[0], n.VPCID),
			Fix:    fmt.Sprintf("Set vpc_id to %s, or the subnets job variable to subnets of %s", f.vpcs[0], n.VPCID)}, nil
	}
	return Result{Verdict: OK, Detail: "in VPC " + f.vpcs[0]}, nil
}

// SecurityGroups checks that the security groups exist in the subnets'
// VPC.
func (l *Lookups) SecurityGroups(ctx context.Context, api EC2API, region string, n Spec) (Result, error) {
	vpc := l.VPC(ctx, api, region, n)
	var groups []ec2types.SecurityGroup
	p := ec2.NewDescribeSecurityGroupsPaginator(api, &ec2.DescribeSecurityGroupsInput{
		Filters: []ec2types.Filter{{Name: aws.String("group-id"), Values: n.SecurityGroups}},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return Result{}, &CallError{"ec2:DescribeSecurityGroups", err}
		}
		groups = append(groups, page.SecurityGroups...)
	}
	vpcOf := map[string]string{}
	for _, g := range groups {
		vpcOf[aws.ToString(g.GroupId)] = aws.ToString(g.VpcId)
	}
	var missing, elsewhere []string
	for _, g := range n.SecurityGroups {
		switch v, ok := vpcOf[g]; {
		case !ok:
			missing = append(missing, g)
		case vpc != "" && v != vpc:
			elsewhere = append(elsewhere, g+" is in "+v)
		}
	}
	fix := "Set the security_groups job variable to groups of the subnets' VPC"
	if vpc != "" {
		fix = fmt.Sprintf("Set the security_groups job variable to groups of VPC %s (aws ec2 describe-security-groups --region %s --filters Name=vpc-id,Values=%s)", vpc, region, vpc)
	}
	switch {
	case len(missing) > 0:
		return Result{Verdict: Problem, Detail: fmt.Sprintf("%s %s not exist in region %s", List(missing), Plural(len(missing), "does", "do"), region), Fix: fix}, nil
	case len(elsewhere) > 0:
		return Result{Verdict: Problem, Detail: fmt.Sprintf("%s, not in the subnets' VPC %s: ECS refuses security groups of another VPC", strings.Join(elsewhere, ", "), vpc), Fix: fix}, nil
	case vpc == "":
		return Result{Verdict: OK, Detail: "they exist; whether they are in the subnets' VPC could not be told, since the subnets are not in one VPC"}, nil
	}
	return Result{Verdict: OK, Detail: "in VPC " + vpc + ", with the subnets"}, nil
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
func (l *Lookups) routeTables(ctx context.Context, api EC2API, region, vpc string) ([]ec2types.RouteTable, error) {
	v, err := l.memo.Once("DescribeRouteTables|"+region+"|"+vpc, func() (any, error) {
		var out []ec2types.RouteTable
		p := ec2.NewDescribeRouteTablesPaginator(api, &ec2.DescribeRouteTablesInput{
			Filters: []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpc}}},
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
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

// Routes checks that the subnets' default routes give a task a way to the
// internet that suits its assignPublicIp.
func (l *Lookups) Routes(ctx context.Context, api EC2API, region string, n Spec) (Result, error) {
	f, err := l.findNetwork(ctx, api, region, n)
	if err != nil {
		return Result{}, err
	}
	if len(f.subnets) == 0 {
		return Result{Verdict: NotChecked, Detail: "not checked: no subnet was found"}, nil
	}
	byKind := map[string][]string{} // kind -> "subnet (where)"
	for _, s := range f.subnets {
		tables, err := l.routeTables(ctx, api, region, f.vpcOf[s])
		if err != nil {
			return Result{}, &CallError{"ec2:DescribeRouteTables", err}
		}
		e := egressOf(tables, s)
		byKind[e.kind] = append(byKind[e.kind], s+" ("+e.String()+")")
	}
	public, nat, other, none := byKind["igw"], byKind["nat"], byKind["other"], byKind[""]
	if n.AssignPublicIP == "ENABLED" {
		if bad := append(append(slices.Clone(nat), other...), none...); len(bad) > 0 {
			why := "the public IP is never used"
			if len(none) > 0 {
				why += ", and without a way out the task cannot pull its image"
			}
			return Result{Verdict: Problem,
				Detail: fmt.Sprintf("assignPublicIp is ENABLED but %s %s no 0.0.0.0/0 route to an internet gateway: %s", List(bad), Plural(len(bad), "has", "have"), why),
				Fix:    "Set the subnets job variable to public subnets (0.0.0.0/0 to an internet gateway), or assign_public_ip to false for private subnets with a NAT gateway (or VPC endpoints for ECR, S3, CloudWatch Logs and a way to the Prefect API)"}, nil
		}
		return Result{Verdict: OK, Detail: "public IP through " + List(public)}, nil
	}
	if len(public) > 0 {
		return Result{Verdict: Problem,
			Detail: fmt.Sprintf("assignPublicIp is DISABLED but the only way out of %s is an internet gateway, which a task reaches only with a public IP: no NAT, so the task cannot pull its image or reach the Prefect API", List(public)),
			Fix:    "Set assign_public_ip to true, or the subnets job variable to private subnets whose 0.0.0.0/0 route goes to a NAT gateway"}, nil
	}
	var parts []string
	if len(nat) > 0 {
		parts = append(parts, "through "+List(nat))
	}
	if len(other) > 0 {
		parts = append(parts, "through "+List(other)+", which must lead to the internet or to VPC endpoints")
	}
	if len(none) > 0 {
		parts = append(parts, "none from "+List(none)+": "+endpointsNote)
	}
	return Result{Verdict: OK, Detail: "no public IP; " + strings.Join(parts, "; ")}, nil
}

// List writes a short list of names, as every doctor detail does.
func List(items []string) string {
	return strings.Join(items, ", ")
}

// Plural picks a noun's (or verb's) form for n.
func Plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
