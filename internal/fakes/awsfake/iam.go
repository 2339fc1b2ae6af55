package awsfake

import (
	"encoding/xml"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ecsworker/ecsworker/internal/lazyregexp"
)

// IAM speaks the AWS query protocol like STS. It is a global service: the
// SDK signs for us-east-1 and reaches it through the same BaseEndpoint.

const iamXMLNS = "https://iam.amazonaws.com/doc/2010-05-08/"

func iamService() *service {
	return &service{name: "iam", wire: wireQuery, version: "2010-05-08", xmlns: iamXMLNS, ops: map[string]op{
		"GetRole":                 {run: (*Server).iamGetRole},
		"SimulatePrincipalPolicy": {run: (*Server).iamSimulatePrincipalPolicy},
	}}
}

type iamState struct {
	roles map[string]*iamRole // by name
}

type iamRole struct {
	name, path, arn, id string
	created             time.Time
	trustDoc            string
	trust               *policy
}

var roleNameRE = lazyregexp.New(`^[\w+=,.@-]{1,64}$`)

// CreateRole creates an IAM role whose trust policy AssumeRole enforces,
// and returns its ARN. name may carry a path ("service-role/worker").
// Creating a role that exists replaces its trust policy. A name or trust
// policy IAM would refuse panics with IAM's message: it is a test's
// set-up mistake.
func (s *Server) CreateRole(name, trustPolicyJSON string) string {
	path := "/"
	if i := strings.LastIndex(name, "/"); i >= 0 {
		path, name = "/"+name[:i+1], name[i+1:]
	}
	if !roleNameRE().MatchString(name) {
		panic(fmt.Sprintf("awsfake: CreateRole: ValidationError: The specified value for roleName is invalid: %q", name))
	}
	trust, err := parsePolicy(trustPolicyJSON, trustPolicy)
	if err != nil {
		panic("awsfake: CreateRole: MalformedPolicyDocument: " + err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.iam.roles == nil {
		s.iam.roles = map[string]*iamRole{}
	}
	if r := s.iam.roles[name]; r != nil && r.path == path {
		r.trustDoc, r.trust = trustPolicyJSON, trust
		return r.arn
	}
	r := &iamRole{name: name, path: path, arn: "arn:aws:iam::" + s.opts.AccountID + ":role" + path + name,
		id: "AROA" + strings.ToUpper(s.newIDLocked(17)), created: s.now().UTC(), trustDoc: trustPolicyJSON, trust: trust}
	s.iam.roles[name] = r
	return r.arn
}

// knownRoleLocked is the role CreateRole made with that name in that
// account, or nil: roles the fake was never told about keep the old
// behaviour of anything goes.
func (s *Server) knownRoleLocked(account, name string) *iamRole {
	if account != s.opts.AccountID {
		return nil
	}
	return s.iam.roles[name]
}

// iamEntity splits an IAM user or role ARN into its kind and name.
func iamEntity(arn string) (kind, name string, ok bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || parts[3] != "" || len(parts[4]) != 12 {
		return "", "", false
	}
	kind, rest, ok := strings.Cut(parts[5], "/")
	if !ok || (kind != "user" && kind != "role") || rest == "" {
		return "", "", false
	}
	return kind, rest[strings.LastIndex(rest, "/")+1:], true
}

func noSuchRole(name string) *apiError {
	return newErr(404, "NoSuchEntity", "The role with name %s cannot be found.", name)
}

type iamRoleXML struct {
	Path                     string   `xml:"Path"`
	RoleName                 string   `xml:"RoleName"`
	RoleID                   string   `xml:"RoleId"`
	Arn                      string   `xml:"Arn"`
	CreateDate               string   `xml:"CreateDate"`
	AssumeRolePolicyDocument string   `xml:"AssumeRolePolicyDocument"`
	MaxSessionDuration       int      `xml:"MaxSessionDuration"`
	RoleLastUsed             struct{} `xml:"RoleLastUsed"`
}

type iamGetRoleResponse struct {
	XMLName  xml.Name    `xml:"GetRoleResponse"`
	Xmlns    string      `xml:"xmlns,attr"`
	Role     iamRoleXML  `xml:"GetRoleResult>Role"`
	Metadata stsMetadata `xml:"ResponseMetadata"`
}

// policyURLEncode encodes a policy document as IAM returns it: RFC 3986
// percent-encoding, spaces as %20.
func policyURLEncode(doc string) string {
	return strings.ReplaceAll(url.QueryEscape(doc), "+", "%20")
}

func (s *Server) iamGetRole(r *request) (any, *apiError) {
	name, ok := r.form["RoleName"]
	if !ok {
		return nil, newErr(400, "ValidationError", "1 validation error detected: Value null at 'roleName' failed to satisfy constraint: Member must not be null")
	}
	if !roleNameRE().MatchString(name[0]) {
		return nil, newErr(400, "ValidationError", "1 validation error detected: Value '%s' at 'roleName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+", name[0])
	}
	role := s.iam.roles[name[0]]
	if role == nil {
		return nil, noSuchRole(name[0])
	}
	return iamGetRoleResponse{Xmlns: iamXMLNS, Metadata: stsMetadata{r.id}, Role: iamRoleXML{
		Path: role.path, RoleName: role.name, RoleID: role.id, Arn: role.arn,
		CreateDate:               role.created.Format("2006-01-02T15:04:05Z"),
		AssumeRolePolicyDocument: policyURLEncode(role.trustDoc),
		MaxSessionDuration:       3600,
	}}, nil
}

type iamSimulateResponse struct {
	XMLName     xml.Name           `xml:"SimulatePrincipalPolicyResponse"`
	Xmlns       string             `xml:"xmlns,attr"`
	Results     []iamEvalResultXML `xml:"SimulatePrincipalPolicyResult>EvaluationResults>member"`
	IsTruncated bool               `xml:"SimulatePrincipalPolicyResult>IsTruncated"`
	Metadata    stsMetadata        `xml:"ResponseMetadata"`
}

type iamEvalResultXML struct {
	EvalActionName       string                 `xml:"EvalActionName"`
	EvalResourceName     string                 `xml:"EvalResourceName"`
	EvalDecision         string                 `xml:"EvalDecision"`
	MissingContextValues []string               `xml:"MissingContextValues>member"`
	ResourceSpecific     []iamResourceResultXML `xml:"ResourceSpecificResults>member,omitempty"`
}

type iamResourceResultXML struct {
	EvalResourceName     string   `xml:"EvalResourceName"`
	EvalResourceDecision string   `xml:"EvalResourceDecision"`
	MissingContextValues []string `xml:"MissingContextValues>member"`
}

// queryList reads a query-protocol list: Name.member.1, Name.member.2...
func queryList(form url.Values, name string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := form[name+".member."+strconv.Itoa(i)]
		if !ok {
			return out
		}
		out = append(out, v[0])
	}
}

func (s *Server) iamSimulatePrincipalPolicy(r *request) (any, *apiError) {
	src := r.form.Get("PolicySourceArn")
	if src == "" {
		return nil, newErr(400, "ValidationError", "1 validation error detected: Value null at 'policySourceArn' failed to satisfy constraint: Member must not be null")
	}
	actions := queryList(r.form, "ActionNames")
	if len(actions) == 0 {
		return nil, newErr(400, "ValidationError", "1 validation error detected: Value null at 'actionNames' failed to satisfy constraint: Member must not be null")
	}
	kind, name, ok := iamEntity(src)
	if !ok {
		return nil, newErr(400, "InvalidInput", "ARN %s is not valid.", src)
	}
	id := identity{arn: src, userID: "AIDAAWSFAKEUSER000001"}
	switch kind {
	case "user":
		if src != s.userArn() && s.authz.policies[src] == nil {
			return nil, newErr(404, "NoSuchEntity", "The user with name %s cannot be found.", name)
		}
	case "role":
		if s.knownRoleLocked(strings.Split(src, ":")[4], name) == nil && s.authz.policies[src] == nil {
			return nil, noSuchRole(name)
		}
		id = identity{arn: src, userID: "AROA:" + name, roleArn: src}
	}
	var extra []*policy
	for _, doc := range queryList(r.form, "PolicyInputList") {
		p, err := parsePolicy(doc, identityPolicy)
		if err != nil {
			return nil, newErr(400, "MalformedPolicyDocument", "%s", err.Error())
		}
		extra = append(extra, p)
	}
	keys := s.baseKeysLocked(id, true)
	for i := 1; ; i++ {
		p := "ContextEntries.member." + strconv.Itoa(i)
		k := r.form.Get(p + ".ContextKeyName")
		if k == "" {
			break
		}
		keys[strings.ToLower(k)] = queryList(r.form, p+".ContextKeyValues")
	}
	resources := queryList(r.form, "ResourceArns")
	perResource := len(resources) > 0
	if !perResource {
		resources = []string{"*"}
	}
	out := iamSimulateResponse{Xmlns: iamXMLNS, Metadata: stsMetadata{r.id}}
	for _, a := range actions {
		// One result per action, its decision the most restrictive over
		// the resources, each resource's own in ResourceSpecificResults,
		// as the simulator answers today.
		res := iamEvalResultXML{EvalActionName: a, EvalResourceName: resources[0], MissingContextValues: []string{}}
		worst := allowed
		all := map[string]bool{}
		for _, arn := range resources {
			missing := map[string]bool{}
			d := s.simulateLocked(id, extra, &evalContext{action: a, resource: arn, keys: keys, missing: missing})
			worst = max(worst, d)
			for k := range missing {
				all[k] = true
			}
			if perResource {
				res.ResourceSpecific = append(res.ResourceSpecific, iamResourceResultXML{EvalResourceName: arn,
					EvalResourceDecision: d.String(), MissingContextValues: sortedSet(missing)})
			}
		}
		res.EvalDecision = worst.String()
		res.MissingContextValues = sortedSet(all)
		out.Results = append(out.Results, res)
	}
	return out, nil
}

// simulateLocked evaluates the principal's identity policy and the
// simulation's extra policies together, as one set of identity-based
// policies. With no policy in force the principal may do anything, as
// every caller of the fake may.
func (s *Server) simulateLocked(id identity, extra []*policy, ctx *evalContext) decision {
	d := implicitDeny
	pols := extra
	if s.evalOnLocked() {
		if p := s.principalPolicyLocked(id.principalArn()); p != nil {
			pols = append([]*policy{p}, extra...)
		}
	} else {
		d = allowed
	}
	for _, p := range pols {
		switch p.evaluate(ctx) {
		case explicitDeny:
			return explicitDeny
		case allowed:
			d = allowed
		}
	}
	return d
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
