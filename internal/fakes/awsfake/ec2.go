package awsfake

import (
	"encoding/xml"
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

const ec2XMLNS = "http://ec2.amazonaws.com/doc/2016-11-15/"

func ec2Service() *service {
	return &service{name: "ec2", wire: wireEC2, version: "2016-11-15", ops: map[string]op{
		"DescribeVpcs":           {run: (*Server).ec2DescribeVpcs},
		"DescribeSubnets":        {run: (*Server).ec2DescribeSubnets},
		"DescribeSecurityGroups": {run: (*Server).ec2DescribeSecurityGroups},
		"DescribeRouteTables":    {run: (*Server).ec2DescribeRouteTables},
	}}
}

type ec2State struct {
	vpcs        []*vpc
	subnets     []*subnet
	sgs         []*securityGroup
	routeTables []*routeTable
}

type vpc struct {
	id, cidr, dhcp, assoc string
	isDefault             bool
	tags                  map[string]string
}

type subnet struct {
	id, vpcID, cidr, az string
	defaultForAz        bool
	tags                map[string]string
	used                int
}

type securityGroup struct {
	id, name, desc, vpcID string
	tags                  map[string]string
}

func (e *ec2State) subnet(id string) *subnet {
	for _, sn := range e.subnets {
		if sn.id == id {
			return sn
		}
	}
	return nil
}

func (e *ec2State) securityGroup(id string) *securityGroup {
	for _, sg := range e.sgs {
		if sg.id == id {
			return sg
		}
	}
	return nil
}

func (e *ec2State) vpc(id string) *vpc {
	for _, v := range e.vpcs {
		if v.id == id {
			return v
		}
	}
	return nil
}

// nextIP hands out private addresses from the subnet, skipping the five
// AWS reserves.
func (sn *subnet) nextIP() string {
	p, err := netip.ParsePrefix(sn.cidr)
	if err != nil {
		return "10.0.0.10"
	}
	a := p.Addr()
	for range sn.used + 4 {
		a = a.Next()
	}
	sn.used++
	return a.String()
}

func (sn *subnet) available() int {
	p, err := netip.ParsePrefix(sn.cidr)
	if err != nil {
		return 0
	}
	return 1<<(32-p.Bits()) - 5 - sn.used
}

// init seeds the default VPC every account has: 172.31.0.0/16 with a
// default subnet in three Availability Zones and a default security group.
func (e *ec2State) init(s *Server) {
	v := s.addVPCLocked("172.31.0.0/16", true)
	for i, az := range []string{"a", "b", "c"} {
		s.addSubnetLocked(v.id, fmt.Sprintf("172.31.%d.0/20", i*16), s.opts.Region+az, true)
	}
}

func (s *Server) addVPCLocked(cidr string, isDefault bool) *vpc {
	v := &vpc{id: "vpc-" + s.newIDLocked(17), cidr: cidr, isDefault: isDefault,
		dhcp: "dopt-" + s.newIDLocked(17), assoc: "vpc-cidr-assoc-" + s.newIDLocked(17), tags: map[string]string{}}
	s.ec2.vpcs = append(s.ec2.vpcs, v)
	s.ec2.sgs = append(s.ec2.sgs, &securityGroup{id: "sg-" + s.newIDLocked(17), name: "default",
		desc: "default VPC security group", vpcID: v.id, tags: map[string]string{}})
	s.addMainRouteTableLocked(v)
	return v
}

func (s *Server) addSubnetLocked(vpcID, cidr, az string, def bool) *subnet {
	sn := &subnet{id: "subnet-" + s.newIDLocked(17), vpcID: vpcID, cidr: cidr, az: az, defaultForAz: def, tags: map[string]string{}}
	s.ec2.subnets = append(s.ec2.subnets, sn)
	return sn
}

// AddVPC adds a non-default VPC (with its default security group) and
// returns its ID.
func (s *Server) AddVPC(cidr string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addVPCLocked(cidr, false).id
}

// AddSubnet adds a subnet to a VPC in an Availability Zone ("" for the
// region's first) and returns its ID, or "" if the VPC does not exist.
func (s *Server) AddSubnet(vpcID, cidr, az string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ec2.vpc(vpcID) == nil {
		return ""
	}
	if az == "" {
		az = s.opts.Region + "a"
	}
	return s.addSubnetLocked(vpcID, cidr, az, false).id
}

// AddSecurityGroup adds a security group to a VPC and returns its ID, or
// "" if the VPC does not exist or already has a group of that name, as
// EC2 would refuse to create it.
func (s *Server) AddSecurityGroup(vpcID, name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ec2.vpc(vpcID) == nil || slices.ContainsFunc(s.ec2.sgs, func(sg *securityGroup) bool { return sg.vpcID == vpcID && sg.name == name }) {
		return ""
	}
	sg := &securityGroup{id: "sg-" + s.newIDLocked(17), name: name, desc: name, vpcID: vpcID, tags: map[string]string{}}
	s.ec2.sgs = append(s.ec2.sgs, sg)
	return sg.id
}

// TagEC2 sets a tag on a VPC, subnet, security group or route table.
func (s *Server) TagEC2(id, key, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.ec2.vpc(id); v != nil {
		v.tags[key] = value
	}
	if sn := s.ec2.subnet(id); sn != nil {
		sn.tags[key] = value
	}
	if sg := s.ec2.securityGroup(id); sg != nil {
		sg.tags[key] = value
	}
	if rt := s.ec2.routeTable(id); rt != nil {
		rt.tags[key] = value
	}
}

// DefaultNetwork returns the default VPC, its subnets and its default
// security group.
func (s *Server) DefaultNetwork() (vpcID string, subnetIDs []string, securityGroupID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.ec2.vpcs {
		if v.isDefault {
			vpcID = v.id
		}
	}
	for _, sn := range s.ec2.subnets {
		if sn.vpcID == vpcID {
			subnetIDs = append(subnetIDs, sn.id)
		}
	}
	for _, sg := range s.ec2.sgs {
		if sg.vpcID == vpcID && sg.name == "default" {
			securityGroupID = sg.id
		}
	}
	return
}

// ec2List reads a flattened query list: Name.1, Name.2, ...
func ec2List(form url.Values, name string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := form[name+"."+strconv.Itoa(i)]
		if !ok {
			return out
		}
		out = append(out, v...)
	}
}

type ec2Filter struct {
	name   string
	values []string
}

func ec2Filters(form url.Values) []ec2Filter {
	var out []ec2Filter
	for i := 1; ; i++ {
		p := "Filter." + strconv.Itoa(i)
		name := form.Get(p + ".Name")
		if name == "" {
			return out
		}
		out = append(out, ec2Filter{name: name, values: ec2List(form, p+".Value")})
	}
}

// glob matches EC2 filter values, where * and ? are wildcards.
func glob(pattern, s string) bool {
	if pattern == "" {
		return s == ""
	}
	switch pattern[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if glob(pattern[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && glob(pattern[1:], s[1:])
	}
	return s != "" && s[0] == pattern[0] && glob(pattern[1:], s[1:])
}

// matchFilters applies filters (ANDed; a filter's values ORed) using the
// resource's fields, keyed by filter name.
func matchFilters(fs []ec2Filter, fields map[string]string, tags map[string]string) (bool, *apiError) {
	sets := make(map[string][]string, len(fields))
	for k, v := range fields {
		sets[k] = []string{v}
	}
	return matchFilterSets(fs, sets, tags)
}

// matchFilterSets is matchFilters for resources whose fields may hold
// several values (a route table's associations): a filter matches if any
// value does. A field present with no values is known but never matches.
func matchFilterSets(fs []ec2Filter, fields map[string][]string, tags map[string]string) (bool, *apiError) {
	for _, f := range fs {
		var have []string
		switch {
		case strings.HasPrefix(f.name, "tag:"):
			if v, ok := tags[f.name[4:]]; ok {
				have = []string{v}
			}
		case f.name == "tag-key":
			for k := range tags {
				have = append(have, k)
			}
		default:
			v, ok := fields[f.name]
			if !ok {
				return false, newErr(400, "InvalidParameterValue", "The filter '%s' is invalid", f.name)
			}
			have = v
		}
		if !slices.ContainsFunc(f.values, func(p string) bool {
			return slices.ContainsFunc(have, func(h string) bool { return glob(p, h) })
		}) {
			return false, nil
		}
	}
	return true, nil
}

// ec2Paging validates MaxResults (5 to 1000, not with explicit IDs).
func ec2Paging(form url.Values, ids []string, idParam string) (int, *apiError) {
	return ec2PagingMax(form, ids, idParam, 1000)
}

// ec2PagingMax is ec2Paging for actions whose pages are at most limit.
func ec2PagingMax(form url.Values, ids []string, idParam string, limit int) (int, *apiError) {
	mr := form.Get("MaxResults")
	if mr == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(mr)
	if err != nil || n < 5 || n > limit {
		return 0, newErr(400, "InvalidParameterValue", "Value ( %s ) for parameter maxResults is invalid. Parameter must be between 5 and %d.", mr, limit)
	}
	if len(ids) > 0 {
		return 0, newErr(400, "InvalidParameterCombination", "The parameter %s cannot be used with the parameter maxResults", idParam)
	}
	return n, nil
}

func dryRun(form url.Values) *apiError {
	if form.Get("DryRun") == "true" {
		return newErr(412, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
	}
	return nil
}

type ec2Tag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

func ec2Tags(m map[string]string) []ec2Tag {
	var out []ec2Tag
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, ec2Tag{k, m[k]})
	}
	return out
}

type ec2VpcXML struct {
	VpcID           string         `xml:"vpcId"`
	OwnerID         string         `xml:"ownerId"`
	State           string         `xml:"state"`
	CidrBlock       string         `xml:"cidrBlock"`
	CidrAssoc       []ec2CidrAssoc `xml:"cidrBlockAssociationSet>item"`
	DhcpOptionsID   string         `xml:"dhcpOptionsId"`
	InstanceTenancy string         `xml:"instanceTenancy"`
	IsDefault       bool           `xml:"isDefault"`
	Tags            []ec2Tag       `xml:"tagSet>item"`
}

type ec2CidrAssoc struct {
	AssociationID string `xml:"associationId"`
	CidrBlock     string `xml:"cidrBlock"`
	State         string `xml:"cidrBlockState>state"`
}

type ec2DescribeVpcsResponse struct {
	XMLName   xml.Name    `xml:"DescribeVpcsResponse"`
	Xmlns     string      `xml:"xmlns,attr"`
	RequestID string      `xml:"requestId"`
	Vpcs      []ec2VpcXML `xml:"vpcSet>item"`
	NextToken string      `xml:"nextToken,omitempty"`
}

func (s *Server) ec2DescribeVpcs(r *request) (any, *apiError) {
	if e := dryRun(r.form); e != nil {
		return nil, e
	}
	ids := ec2List(r.form, "VpcId")
	max, e := ec2Paging(r.form, ids, "vpcIds")
	if e != nil {
		return nil, e
	}
	for _, id := range ids {
		if !strings.HasPrefix(id, "vpc-") {
			return nil, newErr(400, "InvalidVpcID.Malformed", "Invalid id: \"%s\"", id)
		}
		if s.ec2.vpc(id) == nil {
			return nil, newErr(400, "InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", id)
		}
	}
	var vs []ec2VpcXML
	for _, v := range s.ec2.vpcs {
		if len(ids) > 0 && !slices.Contains(ids, v.id) {
			continue
		}
		ok, e := matchFilters(ec2Filters(r.form), map[string]string{
			"vpc-id": v.id, "isDefault": strconv.FormatBool(v.isDefault), "is-default": strconv.FormatBool(v.isDefault),
			"state": "available", "cidr": v.cidr, "cidr-block": v.cidr, "cidr-block-association.cidr-block": v.cidr,
			"dhcp-options-id": v.dhcp, "owner-id": s.opts.AccountID,
		}, v.tags)
		if e != nil {
			return nil, e
		}
		if ok {
			vs = append(vs, ec2VpcXML{VpcID: v.id, OwnerID: s.opts.AccountID, State: "available", CidrBlock: v.cidr,
				CidrAssoc:     []ec2CidrAssoc{{AssociationID: v.assoc, CidrBlock: v.cidr, State: "associated"}},
				DhcpOptionsID: v.dhcp, InstanceTenancy: "default", IsDefault: v.isDefault, Tags: ec2Tags(v.tags)})
		}
	}
	items, next, ok := page(vs, r.form.Get("NextToken"), max, 1000, 1000)
	if !ok {
		return nil, newErr(400, "InvalidParameterValue", "The token '%s' is invalid.", r.form.Get("NextToken"))
	}
	return ec2DescribeVpcsResponse{Xmlns: ec2XMLNS, RequestID: r.id, Vpcs: items, NextToken: next}, nil
}

type ec2SubnetXML struct {
	SubnetID                    string   `xml:"subnetId"`
	SubnetArn                   string   `xml:"subnetArn"`
	State                       string   `xml:"state"`
	VpcID                       string   `xml:"vpcId"`
	OwnerID                     string   `xml:"ownerId"`
	CidrBlock                   string   `xml:"cidrBlock"`
	AvailableIPAddressCount     int      `xml:"availableIpAddressCount"`
	AvailabilityZone            string   `xml:"availabilityZone"`
	AvailabilityZoneID          string   `xml:"availabilityZoneId"`
	DefaultForAz                bool     `xml:"defaultForAz"`
	MapPublicIPOnLaunch         bool     `xml:"mapPublicIpOnLaunch"`
	AssignIpv6AddressOnCreation bool     `xml:"assignIpv6AddressOnCreation"`
	Tags                        []ec2Tag `xml:"tagSet>item"`
}

type ec2DescribeSubnetsResponse struct {
	XMLName   xml.Name       `xml:"DescribeSubnetsResponse"`
	Xmlns     string         `xml:"xmlns,attr"`
	RequestID string         `xml:"requestId"`
	Subnets   []ec2SubnetXML `xml:"subnetSet>item"`
	NextToken string         `xml:"nextToken,omitempty"`
}

// azID is the zone ID EC2 pairs with a zone name: us-east-1a is use1-az1.
func azID(region, az string) string {
	p := strings.Split(region, "-")
	if len(p) != 3 || p[1] == "" || az == "" {
		return region + "-az1"
	}
	return p[0] + p[1][:1] + p[2] + "-az" + strconv.Itoa(int(az[len(az)-1]-'a')+1)
}

func (s *Server) ec2DescribeSubnets(r *request) (any, *apiError) {
	if e := dryRun(r.form); e != nil {
		return nil, e
	}
	ids := ec2List(r.form, "SubnetId")
	max, e := ec2Paging(r.form, ids, "subnetIds")
	if e != nil {
		return nil, e
	}
	for _, id := range ids {
		if !strings.HasPrefix(id, "subnet-") {
			return nil, newErr(400, "InvalidSubnetID.Malformed", "Invalid id: \"%s\"", id)
		}
		if s.ec2.subnet(id) == nil {
			return nil, newErr(400, "InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", id)
		}
	}
	var out []ec2SubnetXML
	for _, sn := range s.ec2.subnets {
		if len(ids) > 0 && !slices.Contains(ids, sn.id) {
			continue
		}
		def := strconv.FormatBool(sn.defaultForAz)
		ok, e := matchFilters(ec2Filters(r.form), map[string]string{
			"vpc-id": sn.vpcID, "vpcId": sn.vpcID, "subnet-id": sn.id, "subnetId": sn.id,
			"availability-zone": sn.az, "availabilityZone": sn.az, "availability-zone-id": azID(s.opts.Region, sn.az),
			"default-for-az": def, "defaultForAz": def, "state": "available",
			"cidr-block": sn.cidr, "cidrBlock": sn.cidr, "cidr": sn.cidr,
			"map-public-ip-on-launch": def, "owner-id": s.opts.AccountID,
		}, sn.tags)
		if e != nil {
			return nil, e
		}
		if ok {
			out = append(out, ec2SubnetXML{
				SubnetID: sn.id, SubnetArn: s.arn("ec2", "subnet/"+sn.id), State: "available", VpcID: sn.vpcID,
				OwnerID: s.opts.AccountID, CidrBlock: sn.cidr, AvailableIPAddressCount: sn.available(),
				AvailabilityZone: sn.az, AvailabilityZoneID: azID(s.opts.Region, sn.az),
				DefaultForAz: sn.defaultForAz, MapPublicIPOnLaunch: sn.defaultForAz, Tags: ec2Tags(sn.tags),
			})
		}
	}
	items, next, ok := page(out, r.form.Get("NextToken"), max, 1000, 1000)
	if !ok {
		return nil, newErr(400, "InvalidParameterValue", "The token '%s' is invalid.", r.form.Get("NextToken"))
	}
	return ec2DescribeSubnetsResponse{Xmlns: ec2XMLNS, RequestID: r.id, Subnets: items, NextToken: next}, nil
}

type ec2IPRange struct {
	CidrIP string `xml:"cidrIp"`
}

type ec2Permission struct {
	IPProtocol string       `xml:"ipProtocol"`
	IPRanges   []ec2IPRange `xml:"ipRanges>item"`
}

type ec2SecurityGroupXML struct {
	OwnerID          string          `xml:"ownerId"`
	GroupID          string          `xml:"groupId"`
	GroupName        string          `xml:"groupName"`
	GroupDescription string          `xml:"groupDescription"`
	VpcID            string          `xml:"vpcId"`
	SecurityGroupArn string          `xml:"securityGroupArn"`
	IPPermissions    []ec2Permission `xml:"ipPermissions>item"`
	IPPermissionsEg  []ec2Permission `xml:"ipPermissionsEgress>item"`
	Tags             []ec2Tag        `xml:"tagSet>item"`
}

type ec2DescribeSecurityGroupsResponse struct {
	XMLName   xml.Name              `xml:"DescribeSecurityGroupsResponse"`
	Xmlns     string                `xml:"xmlns,attr"`
	RequestID string                `xml:"requestId"`
	Groups    []ec2SecurityGroupXML `xml:"securityGroupInfo>item"`
	NextToken string                `xml:"nextToken,omitempty"`
}

func (s *Server) ec2DescribeSecurityGroups(r *request) (any, *apiError) {
	if e := dryRun(r.form); e != nil {
		return nil, e
	}
	ids := ec2List(r.form, "GroupId")
	names := ec2List(r.form, "GroupName")
	max, e := ec2Paging(r.form, append(slices.Clone(ids), names...), "groupIds")
	if e != nil {
		return nil, e
	}
	for _, id := range ids {
		if s.ec2.securityGroup(id) == nil {
			return nil, newErr(400, "InvalidGroup.NotFound", "The security group '%s' does not exist", id)
		}
	}
	defVPC := ""
	for _, v := range s.ec2.vpcs {
		if v.isDefault {
			defVPC = v.id
		}
	}
	for _, n := range names {
		if !slices.ContainsFunc(s.ec2.sgs, func(sg *securityGroup) bool { return sg.name == n && sg.vpcID == defVPC }) {
			return nil, newErr(400, "InvalidGroup.NotFound", "The security group '%s' does not exist in default VPC '%s'", n, defVPC)
		}
	}
	var out []ec2SecurityGroupXML
	for _, sg := range s.ec2.sgs {
		if len(ids) > 0 && !slices.Contains(ids, sg.id) || len(names) > 0 && (!slices.Contains(names, sg.name) || sg.vpcID != defVPC) {
			continue
		}
		ok, e := matchFilters(ec2Filters(r.form), map[string]string{
			"vpc-id": sg.vpcID, "group-id": sg.id, "group-name": sg.name, "description": sg.desc, "owner-id": s.opts.AccountID,
		}, sg.tags)
		if e != nil {
			return nil, e
		}
		if ok {
			out = append(out, ec2SecurityGroupXML{
				OwnerID: s.opts.AccountID, GroupID: sg.id, GroupName: sg.name, GroupDescription: sg.desc, VpcID: sg.vpcID,
				SecurityGroupArn: s.arn("ec2", "security-group/"+sg.id),
				IPPermissionsEg:  []ec2Permission{{IPProtocol: "-1", IPRanges: []ec2IPRange{{CidrIP: "0.0.0.0/0"}}}},
				Tags:             ec2Tags(sg.tags),
			})
		}
	}
	items, next, ok := page(out, r.form.Get("NextToken"), max, 1000, 1000)
	if !ok {
		return nil, newErr(400, "InvalidParameterValue", "The token '%s' is invalid.", r.form.Get("NextToken"))
	}
	return ec2DescribeSecurityGroupsResponse{Xmlns: ec2XMLNS, RequestID: r.id, Groups: items, NextToken: next}, nil
}
