package launch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awserr"
	"github.com/ecsworker/ecsworker/internal/ecsrequest"
	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// maxTaskSubnets is how many subnets ECS accepts in a task's awsvpc
// configuration.
const maxTaskSubnets = 16

// subnetPageSize is the DescribeSubnets page size.
var subnetPageSize int32 = 100

// NetworkError is a network plan that cannot be resolved, in the worker's
// words.
type NetworkError struct {
	Msg string
	Err error // the AWS error, if one caused it
}

func (e *NetworkError) Error() string { return e.Msg }
func (e *NetworkError) Unwrap() error { return e.Err }

// ErrorKind tells awserr.KindOf that a plan the VPC as it is cannot
// satisfy (no AWS error behind it) is permanent; with an AWS error, that
// error's kind is the plan's.
func (e *NetworkError) ErrorKind() awserr.ErrorKind {
	if e.Err == nil {
		return awserr.KindPermanent
	}
	return ""
}

var _ awserr.KindedError = (*NetworkError)(nil)

// ResolveNetwork does the EC2 part of a task's network configuration:
//
//   - plan.Infer: returns every subnet of plan.VPCID, or of the region's
//     default VPC when VPCID is empty (all pages of DescribeSubnets).
//   - plan.CheckSubnets: checks that each of them is in plan.VPCID and
//     returns them.
//
// A nil plan, or a plan with nothing to do, returns nil.
func ResolveNetwork(ctx context.Context, api awsclient.EC2API, plan *ecsrequest.NetworkPlan) ([]string, error) {
	if plan == nil {
		return nil, nil
	}
	if plan.Infer {
		return inferSubnets(ctx, api, plan.VPCID)
	}
	if len(plan.CheckSubnets) == 0 || plan.VPCID == "" {
		return plan.CheckSubnets, nil
	}
	return checkSubnets(ctx, api, plan.VPCID, plan.CheckSubnets)
}

func inferSubnets(ctx context.Context, api awsclient.EC2API, vpcID string) ([]string, error) {
	in := &ec2.DescribeVpcsInput{}
	if vpcID == "" {
		in.Filters = []ec2types.Filter{{Name: aws.String("isDefault"), Values: []string{"true"}}}
	} else {
		in.VpcIds = []string{vpcID}
	}
	out, err := api.DescribeVpcs(ctx, in)
	if err != nil {
		if awserr.IsContextError(err) {
			return nil, err
		}
		if vpcID != "" && awserr.IsNotFound(err) {
			return nil, &NetworkError{Err: err, Msg: fmt.Sprintf("VPC %s does not exist in this region, so the task's subnets cannot be found. Correct vpc_id, or set the subnets job variable", vpcID)}
		}
		return nil, &NetworkError{Err: err, Msg: "finding the task's subnets: " + awserr.Explain("DescribeVpcs", err, 1).Error()}
	}
	if len(out.Vpcs) == 0 || out.Vpcs[0].VpcId == nil {
		if vpcID == "" {
			return nil, &NetworkError{Msg: "this region has no default VPC, so the task's subnets cannot be inferred. Set the subnets job variable, or vpc_id to the VPC whose subnets to use"}
		}
		return nil, &NetworkError{Msg: fmt.Sprintf("VPC %s does not exist in this region, so the task's subnets cannot be found. Correct vpc_id, or set the subnets job variable", vpcID)}
	}
	id := *out.Vpcs[0].VpcId
	subnets, err := vpcSubnets(ctx, api, id, nil)
	if err != nil {
		return nil, err
	}
	where := "VPC " + id
	if vpcID == "" {
		where = "the default VPC (" + id + ")"
	}
	switch {
	case len(subnets) == 0:
		return nil, &NetworkError{Msg: fmt.Sprintf("%s has no subnets, so the task's network cannot be inferred. Set the subnets job variable, or vpc_id to a VPC with subnets", where)}
	case len(subnets) > maxTaskSubnets:
		return nil, &NetworkError{Msg: fmt.Sprintf("%s has %d subnets and ECS accepts at most %d for a task. Set the subnets job variable to the ones to use", where, len(subnets), maxTaskSubnets)}
	}
	return subnets, nil
}

// vpcSubnets lists the subnets of vpcID (restricted to ids when given),
// following every page.
func vpcSubnets(ctx context.Context, api awsclient.EC2API, vpcID string, ids []string) ([]string, error) {
	in := &ec2.DescribeSubnetsInput{
		Filters: []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpcID}}},
	}
	if len(ids) > 0 {
		in.Filters = append(in.Filters, ec2types.Filter{Name: aws.String("subnet-id"), Values: ids})
	} else {
		in.MaxResults = aws.Int32(subnetPageSize)
	}
	var subnets []string
	p := ec2.NewDescribeSubnetsPaginator(api, in)
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			if awserr.IsContextError(err) {
				return nil, err
			}
			return nil, &NetworkError{Err: err, Msg: fmt.Sprintf("listing the subnets of VPC %s: %s", vpcID, awserr.Explain("DescribeSubnets", err, 1).Error())}
		}
		for _, s := range out.Subnets {
			if s.SubnetId != nil {
				subnets = append(subnets, *s.SubnetId)
			}
		}
	}
	return subnets, nil
}

func checkSubnets(ctx context.Context, api awsclient.EC2API, vpcID string, want []string) ([]string, error) {
	found, err := vpcSubnets(ctx, api, vpcID, want)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, s := range want {
		if !slices.Contains(found, s) {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		noun := "Subnet " + missing[0] + " is"
		if len(missing) > 1 {
			noun = "Subnets " + strings.Join(missing, ", ") + " are"
		}
		return nil, &NetworkError{Msg: fmt.Sprintf("%s not in VPC %s (or do not exist in this region). Use subnets of VPC %s, or set vpc_id to the VPC they belong to", noun, vpcID, vpcID)}
	}
	return want, nil
}

// errNoSubnets is returned when a RunTask request waits for subnets that
// were not given.
var errNoSubnets = errors.New("the RunTask request waits for the VPC's subnets, but none were found")

// ApplySubnets puts subnets where ecsrequest.MarkSubnets stands in the RunTask
// request (in place) and reports whether it found the marker.
func ApplySubnets(runTask *jsonv.Object, subnets []string) (bool, error) {
	found := false
	var walk func(v any) any
	walk = func(v any) any {
		switch t := v.(type) {
		case *jsonv.Object:
			for _, k := range t.Keys() {
				val, _ := t.Get(k)
				t.Set(k, walk(val))
			}
		case []any:
			if !slices.Contains(t, any(ecsrequest.MarkSubnets)) {
				for i, e := range t {
					t[i] = walk(e)
				}
				return t
			}
			found = true
			out := make([]any, 0, len(t)+len(subnets))
			for _, e := range t {
				if e == any(ecsrequest.MarkSubnets) {
					for _, s := range subnets {
						out = append(out, s)
					}
					continue
				}
				out = append(out, e)
			}
			return out
		}
		return v
	}
	walk(runTask)
	if found && len(subnets) == 0 {
		return true, errNoSubnets
	}
	return found, nil
}
