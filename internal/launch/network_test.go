package launch_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/awsclient/awsclienttest"
	"github.com/ecsworker/ecsworker/internal/ecsrequest"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/launch"
)

func TestResolveNetwork(t *testing.T) {
	t.Parallel()
	w := awsclienttest.NewWorld(t, awsclienttest.Options{})
	defaultVPC, defaultSubnets, _ := w.Srv.DefaultNetwork()
	vpc := w.Srv.AddVPC("10.1.0.0/16")
	var own []string
	for i := range 4 {
		own = append(own, w.Srv.AddSubnet(vpc, fmt.Sprintf("10.1.%d.0/24", i), ""))
	}
	empty := w.Srv.AddVPC("10.2.0.0/16")
	big := w.Srv.AddVPC("10.3.0.0/16")
	for i := range 250 {
		w.Srv.AddSubnet(big, fmt.Sprintf("10.3.%d.0/24", i), "")
	}
	tests := map[string]struct {
		plan    *ecsrequest.NetworkPlan
		want    []string
		wantErr []string
	}{
		"nothing to do":       {plan: nil},
		"default VPC":         {plan: &ecsrequest.NetworkPlan{Infer: true}, want: defaultSubnets},
		"named VPC":           {plan: &ecsrequest.NetworkPlan{Infer: true, VPCID: vpc}, want: own},
		"VPC without subnets": {plan: &ecsrequest.NetworkPlan{Infer: true, VPCID: empty}, wantErr: []string{"VPC " + empty + " has no subnets", "Set the subnets job variable, or vpc_id"}},
		"unknown VPC":         {plan: &ecsrequest.NetworkPlan{Infer: true, VPCID: "vpc-0000000000000000f"}, wantErr: []string{"VPC vpc-0000000000000000f does not exist", "vpc_id"}},
		// 250 subnets take three pages of DescribeSubnets.
		"too many subnets":        {plan: &ecsrequest.NetworkPlan{Infer: true, VPCID: big}, wantErr: []string{"has 250 subnets", "at most 16", "Set the subnets job variable"}},
		"subnets in their VPC":    {plan: &ecsrequest.NetworkPlan{VPCID: vpc, CheckSubnets: own[:2]}, want: own[:2]},
		"subnet of another VPC":   {plan: &ecsrequest.NetworkPlan{VPCID: vpc, CheckSubnets: []string{own[0], defaultSubnets[1]}}, wantErr: []string{"Subnet " + defaultSubnets[1] + " is not in VPC " + vpc, "set vpc_id"}},
		"unknown subnets":         {plan: &ecsrequest.NetworkPlan{VPCID: defaultVPC, CheckSubnets: []string{"subnet-1", "subnet-2"}}, wantErr: []string{"Subnets subnet-1, subnet-2 are not in VPC " + defaultVPC}},
		"no VPC to check against": {plan: &ecsrequest.NetworkPlan{CheckSubnets: []string{"subnet-x"}}, want: []string{"subnet-x"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := launch.ResolveNetwork(context.Background(), w.Clients.EC2, tc.plan)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("got %v, want an error", got)
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("%q lacks %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestResolveNetworkPaginates(t *testing.T) {
	t.Parallel()
	w := awsclienttest.NewWorld(t, awsclienttest.Options{})
	vpc := w.Srv.AddVPC("10.3.0.0/16")
	for i := range 250 {
		w.Srv.AddSubnet(vpc, fmt.Sprintf("10.3.%d.0/24", i), "")
	}
	_, err := launch.ResolveNetwork(context.Background(), w.Clients.EC2, &ecsrequest.NetworkPlan{Infer: true, VPCID: vpc})
	if err == nil || !strings.Contains(err.Error(), "has 250 subnets") {
		t.Fatalf("got %v", err)
	}
	if n := w.Calls("ec2:DescribeSubnets"); n != 3 {
		t.Errorf("%d DescribeSubnets calls, want 3 pages", n)
	}
}

func TestResolveNetworkWithoutDefaultVPC(t *testing.T) {
	t.Parallel()
	w := awsclienttest.NewWorld(t, awsclienttest.Options{})
	// The test server always has a default VPC; a wrapper stands in for a
	// region without one.
	_, err := launch.ResolveNetwork(context.Background(), noVPCs{w.Clients.EC2}, &ecsrequest.NetworkPlan{Infer: true})
	if err == nil || !strings.Contains(err.Error(), "no default VPC") || !strings.Contains(err.Error(), "Set the subnets job variable, or vpc_id") {
		t.Errorf("got %v", err)
	}
}

func TestApplySubnets(t *testing.T) {
	t.Parallel()
	rt := awsclienttest.MustObject(t, `{"networkConfiguration": {"awsvpcConfiguration": {"subnets": ["`+ecsrequest.MarkSubnets+`"], "assignPublicIp": "ENABLED"}}}`)
	found, err := launch.ApplySubnets(rt, []string{"subnet-a", "subnet-b"})
	if err != nil || !found {
		t.Fatal(found, err)
	}
	want := `{"networkConfiguration":{"awsvpcConfiguration":{"subnets":["subnet-a","subnet-b"],"assignPublicIp":"ENABLED"}}}`
	if rt.String() != want {
		t.Errorf("got %s", rt)
	}
	if found, err := launch.ApplySubnets(jsonv.ObjectOf("launchType", "EC2"), nil); found || err != nil {
		t.Errorf("no marker: %v %v", found, err)
	}
	marked := awsclienttest.MustObject(t, `{"subnets": ["`+ecsrequest.MarkSubnets+`"]}`)
	if _, err := launch.ApplySubnets(marked, nil); err == nil {
		t.Error("a marker without subnets must fail")
	}
}
