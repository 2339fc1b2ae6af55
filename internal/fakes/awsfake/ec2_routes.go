package awsfake

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Route tables tell public subnets (a default route to an internet
// gateway) from private ones (none, or through a NAT gateway). Every VPC
// has a main route table; the default VPC's routes to its internet
// gateway, as in every account, so its subnets are public. Other VPCs'
// subnets are private until SetSubnetRoute gives them a route.
//
// Their IDs derive from the VPC's or subnet's, not from the seeded
// generator, so that adding them left every other ID as it was.

type routeTable struct {
	id, vpcID string
	main      bool
	assocs    []rtAssoc
	routes    []ec2Route // beyond the VPC's local route
	tags      map[string]string
}

type rtAssoc struct {
	id, subnetID string // subnetID is "" for the main association
}

type ec2Route struct {
	dest, target string // target: igw-... or nat-...
}

func derivedID(prefix, from string) string {
	h := sha256.Sum256([]byte(prefix + from))
	return prefix + hex.EncodeToString(h[:])[:17]
}

func (s *Server) addMainRouteTableLocked(v *vpc) {
	rt := &routeTable{id: derivedID("rtb-", v.id), vpcID: v.id, main: true, tags: map[string]string{}}
	rt.assocs = []rtAssoc{{id: derivedID("rtbassoc-", rt.id)}}
	if v.isDefault {
		rt.routes = []ec2Route{{dest: "0.0.0.0/0", target: derivedID("igw-", v.id)}}
	}
	s.ec2.routeTables = append(s.ec2.routeTables, rt)
}

func (e *ec2State) routeTable(id string) *routeTable {
	for _, rt := range e.routeTables {
		if rt.id == id {
			return rt
		}
	}
	return nil
}

// SetSubnetRoute gives a subnet its own route table (associating one the
// first time) whose default route (0.0.0.0/0) goes to target: an internet
// gateway ("igw-...") makes the subnet public, a NAT gateway ("nat-...")
// private with egress, "" private without.
func (s *Server) SetSubnetRoute(subnetID, target string) error {
	if target != "" && !strings.HasPrefix(target, "igw-") && !strings.HasPrefix(target, "nat-") {
		return fmt.Errorf("awsfake: SetSubnetRoute: target %q is neither an internet gateway (igw-) nor a NAT gateway (nat-)", target)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sn := s.ec2.subnet(subnetID)
	if sn == nil {
		return fmt.Errorf("awsfake: SetSubnetRoute: the subnet ID '%s' does not exist", subnetID)
	}
	rt := s.subnetTableLocked(sn)
	if rt.main {
		rt = &routeTable{id: derivedID("rtb-", sn.id), vpcID: sn.vpcID, tags: map[string]string{}}
		rt.assocs = []rtAssoc{{id: derivedID("rtbassoc-", sn.id), subnetID: sn.id}}
		s.ec2.routeTables = append(s.ec2.routeTables, rt)
	}
	rt.routes = slices.DeleteFunc(rt.routes, func(r ec2Route) bool { return r.dest == "0.0.0.0/0" })
	if target != "" {
		rt.routes = append(rt.routes, ec2Route{dest: "0.0.0.0/0", target: target})
	}
	return nil
}

// subnetTableLocked is the table a subnet uses: its own, else its VPC's
// main one.
func (s *Server) subnetTableLocked(sn *subnet) *routeTable {
	var main *routeTable
	for _, rt := range s.ec2.routeTables {
		if rt.vpcID != sn.vpcID {
			continue
		}
		if slices.ContainsFunc(rt.assocs, func(a rtAssoc) bool { return a.subnetID == sn.id }) {
			return rt
		}
		if rt.main {
			main = rt
		}
	}
	return main
}

type ec2RouteXML struct {
	DestinationCidrBlock string `xml:"destinationCidrBlock"`
	GatewayID            string `xml:"gatewayId,omitempty"`
	NatGatewayID         string `xml:"natGatewayId,omitempty"`
	State                string `xml:"state"`
	Origin               string `xml:"origin"`
}

type ec2RouteAssocXML struct {
	ID           string `xml:"routeTableAssociationId"`
	RouteTableID string `xml:"routeTableId"`
	SubnetID     string `xml:"subnetId,omitempty"`
	Main         bool   `xml:"main"`
	State        string `xml:"associationState>state"`
}

type ec2RouteTableXML struct {
	RouteTableID string             `xml:"routeTableId"`
	VpcID        string             `xml:"vpcId"`
	OwnerID      string             `xml:"ownerId"`
	Routes       []ec2RouteXML      `xml:"routeSet>item"`
	Assocs       []ec2RouteAssocXML `xml:"associationSet>item"`
	Tags         []ec2Tag           `xml:"tagSet>item"`
}

type ec2DescribeRouteTablesResponse struct {
	XMLName   xml.Name           `xml:"DescribeRouteTablesResponse"`
	Xmlns     string             `xml:"xmlns,attr"`
	RequestID string             `xml:"requestId"`
	Tables    []ec2RouteTableXML `xml:"routeTableSet>item"`
	NextToken string             `xml:"nextToken,omitempty"`
}

func (s *Server) ec2DescribeRouteTables(r *request) (any, *apiError) {
	if e := dryRun(r.form); e != nil {
		return nil, e
	}
	ids := ec2List(r.form, "RouteTableId")
	max, e := ec2PagingMax(r.form, ids, "routeTableIds", 100)
	if e != nil {
		return nil, e
	}
	for _, id := range ids {
		if !strings.HasPrefix(id, "rtb-") {
			return nil, newErr(400, "InvalidRouteTableId.Malformed", "Invalid id: \"%s\"", id)
		}
		if s.ec2.routeTable(id) == nil {
			return nil, newErr(400, "InvalidRouteTableID.NotFound", "The routeTable ID '%s' does not exist", id)
		}
	}
	var out []ec2RouteTableXML
	for _, rt := range s.ec2.routeTables {
		if len(ids) > 0 && !slices.Contains(ids, rt.id) {
			continue
		}
		x := s.routeTableXMLLocked(rt)
		fields := map[string][]string{
			"route-table-id": {rt.id}, "vpc-id": {rt.vpcID}, "owner-id": {s.opts.AccountID},
		}
		for _, a := range x.Assocs {
			fields["association.route-table-association-id"] = append(fields["association.route-table-association-id"], a.ID)
			fields["association.route-table-id"] = append(fields["association.route-table-id"], rt.id)
			fields["association.main"] = append(fields["association.main"], strconv.FormatBool(a.Main))
			fields["association.association-state"] = append(fields["association.association-state"], a.State)
			if a.SubnetID != "" {
				fields["association.subnet-id"] = append(fields["association.subnet-id"], a.SubnetID)
			}
		}
		for _, rx := range x.Routes {
			fields["route.destination-cidr-block"] = append(fields["route.destination-cidr-block"], rx.DestinationCidrBlock)
			fields["route.state"] = append(fields["route.state"], rx.State)
			fields["route.origin"] = append(fields["route.origin"], rx.Origin)
			if rx.GatewayID != "" {
				fields["route.gateway-id"] = append(fields["route.gateway-id"], rx.GatewayID)
			}
			if rx.NatGatewayID != "" {
				fields["route.nat-gateway-id"] = append(fields["route.nat-gateway-id"], rx.NatGatewayID)
			}
		}
		// Filters on keys a table merely lacks values for (no NAT route)
		// are valid; only names EC2 does not know are refused.
		for _, k := range []string{"association.subnet-id", "route.gateway-id", "route.nat-gateway-id"} {
			if _, ok := fields[k]; !ok {
				fields[k] = nil
			}
		}
		ok, e := matchFilterSets(ec2Filters(r.form), fields, rt.tags)
		if e != nil {
			return nil, e
		}
		if ok {
			out = append(out, x)
		}
	}
	items, next, ok := page(out, r.form.Get("NextToken"), max, 100, 100)
	if !ok {
		return nil, newErr(400, "InvalidParameterValue", "The token '%s' is invalid.", r.form.Get("NextToken"))
	}
	return ec2DescribeRouteTablesResponse{Xmlns: ec2XMLNS, RequestID: r.id, Tables: items, NextToken: next}, nil
}

func (s *Server) routeTableXMLLocked(rt *routeTable) ec2RouteTableXML {
	x := ec2RouteTableXML{RouteTableID: rt.id, VpcID: rt.vpcID, OwnerID: s.opts.AccountID, Tags: ec2Tags(rt.tags)}
	if v := s.ec2.vpc(rt.vpcID); v != nil {
		x.Routes = append(x.Routes, ec2RouteXML{DestinationCidrBlock: v.cidr, GatewayID: "local", State: "active", Origin: "CreateRouteTable"})
	}
	for _, r := range rt.routes {
		rx := ec2RouteXML{DestinationCidrBlock: r.dest, State: "active", Origin: "CreateRoute"}
		if strings.HasPrefix(r.target, "nat-") {
			rx.NatGatewayID = r.target
		} else {
			rx.GatewayID = r.target
		}
		x.Routes = append(x.Routes, rx)
	}
	for _, a := range rt.assocs {
		x.Assocs = append(x.Assocs, ec2RouteAssocXML{ID: a.id, RouteTableID: rt.id, SubnetID: a.subnetID, Main: a.subnetID == "", State: "associated"})
	}
	return x
}
