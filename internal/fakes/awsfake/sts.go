package awsfake

import (
	"encoding/xml"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ecsworker/ecsworker/internal/lazyregexp"
)

const stsXMLNS = "https://sts.amazonaws.com/doc/2011-06-15/"

func stsService() *service {
	return &service{name: "sts", wire: wireQuery, version: "2011-06-15", ops: map[string]op{
		"GetCallerIdentity": {run: (*Server).stsGetCallerIdentity},
		"AssumeRole":        {run: (*Server).stsAssumeRole},
	}}
}

// identity is who signed a request.
type identity struct {
	arn, userID string
	// For assumed-role sessions: the role's ARN (as AssumeRole was given
	// it), the session policy passed to AssumeRole, and the source
	// identity set then.
	roleArn        string
	session        *policy
	sourceIdentity string
}

// principalArn is the ARN policies are attached to: a session's role, or
// the user itself.
func (id identity) principalArn() string {
	if id.roleArn != "" {
		return id.roleArn
	}
	return id.arn
}

type stsState struct {
	// keys maps access keys issued by AssumeRole to the role session they
	// stand for; any other key is the account's IAM user "awsfake".
	keys  map[string]identity
	calls []AssumeRoleCall
}

func (st *stsState) init() { st.keys = map[string]identity{} }

func (s *Server) identityLocked(akid string) identity {
	if id, ok := s.sts.keys[akid]; ok {
		return id
	}
	return identity{arn: s.userArn(), userID: "AIDAAWSFAKEUSER000001"}
}

func (s *Server) userArn() string { return "arn:aws:iam::" + s.opts.AccountID + ":user/awsfake" }

func (s *Server) callerArnLocked(akid string) string { return s.identityLocked(akid).arn }

type stsMetadata struct {
	RequestID string `xml:"RequestId"`
}

type stsGetCallerIdentityResponse struct {
	XMLName  xml.Name    `xml:"GetCallerIdentityResponse"`
	Xmlns    string      `xml:"xmlns,attr"`
	Arn      string      `xml:"GetCallerIdentityResult>Arn"`
	UserID   string      `xml:"GetCallerIdentityResult>UserId"`
	Account  string      `xml:"GetCallerIdentityResult>Account"`
	Metadata stsMetadata `xml:"ResponseMetadata"`
}

func (s *Server) stsGetCallerIdentity(r *request) (any, *apiError) {
	id := s.identityLocked(r.akid)
	return stsGetCallerIdentityResponse{Xmlns: stsXMLNS, Arn: id.arn, UserID: id.userID, Account: s.opts.AccountID,
		Metadata: stsMetadata{r.id}}, nil
}

type stsCredentials struct {
	AccessKeyID     string `xml:"AccessKeyId"`
	SecretAccessKey string `xml:"SecretAccessKey"`
	SessionToken    string `xml:"SessionToken"`
	Expiration      string `xml:"Expiration"`
}

type stsAssumeRoleResponse struct {
	XMLName       xml.Name       `xml:"AssumeRoleResponse"`
	Xmlns         string         `xml:"xmlns,attr"`
	Credentials   stsCredentials `xml:"AssumeRoleResult>Credentials"`
	AssumedRoleID string         `xml:"AssumeRoleResult>AssumedRoleUser>AssumedRoleId"`
	AssumedArn    string         `xml:"AssumeRoleResult>AssumedRoleUser>Arn"`
	Metadata      stsMetadata    `xml:"ResponseMetadata"`
}

var (
	roleArnRE     = lazyregexp.New(`^arn:aws[a-z-]*:iam::(\d{12}):role/(?:[\w+=,.@/-]*/)?([\w+=,.@-]{1,64})$`)
	sessionNameRE = lazyregexp.New(`^[\w+=,.@-]{2,64}$`)
)

// assumeRoleParams are AssumeRole's optional string parameters with
// STS's length and pattern constraints.
var assumeRoleParams = []struct {
	name, member, pattern string
	min, max              int
	re                    func() *regexp.Regexp
}{
	{"ExternalId", "externalId", `[\w+=,.@:\/-]*`, 2, 1224, lazyregexp.New(`^[\w+=,.@:/-]*$`)},
	{"SourceIdentity", "sourceIdentity", `[\w+=,.@-]*`, 2, 64, lazyregexp.New(`^[\w+=,.@-]*$`)},
	{"SerialNumber", "serialNumber", `[\w+=/:,.@-]*`, 9, 256, lazyregexp.New(`^[\w+=/:,.@-]*$`)},
	{"TokenCode", "tokenCode", `[\d]*`, 6, 6, lazyregexp.New(`^\d*$`)},
	{"Policy", "policy", `[\u0009\u000A\u000D\u0020-\u00FF]+`, 1, 2048, lazyregexp.New(`^[\t\n\r\x20-\x{FF}]+$`)},
}

func stsValidation(format string, args ...any) *apiError {
	return newErr(400, "ValidationError", format, args...)
}

// AssumeRoleCall is one AssumeRole request as the fake received it.
// DurationSeconds is 0 when the request did not set it. TokenCode is never
// kept.
type AssumeRoleCall struct {
	RoleARN, SessionName, ExternalID, Policy, SourceIdentity, SerialNumber string
	DurationSeconds                                                        int
	// AccessKeyID is the key the call issued; "" if it was refused.
	AccessKeyID string
}

// AssumeRoleCalls lists every AssumeRole call, in order.
func (s *Server) AssumeRoleCalls() []AssumeRoleCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sts.calls)
}

func (s *Server) stsAssumeRole(r *request) (any, *apiError) {
	f := r.form
	call := AssumeRoleCall{RoleARN: f.Get("RoleArn"), SessionName: f.Get("RoleSessionName"), ExternalID: f.Get("ExternalId"),
		Policy: f.Get("Policy"), SourceIdentity: f.Get("SourceIdentity"), SerialNumber: f.Get("SerialNumber")}
	if v := f.Get("DurationSeconds"); v != "" {
		call.DurationSeconds, _ = strconv.Atoi(v)
	}
	out, e := s.assumeRoleLocked(r, &call)
	s.sts.calls = append(s.sts.calls, call)
	return out, e
}

func (s *Server) assumeRoleLocked(r *request, call *AssumeRoleCall) (any, *apiError) {
	roleArn, session := call.RoleARN, call.SessionName
	m := roleArnRE().FindStringSubmatch(roleArn)
	if m == nil {
		return nil, stsValidation("1 validation error detected: Value '%s' at 'roleArn' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u007E\\u0085\\u00A0-\\uD7FF\\uE000-\\uFFFD\\u10000-\\u10FFFF]+", roleArn)
	}
	if !sessionNameRE().MatchString(session) {
		return nil, stsValidation("1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", session)
	}
	dur := 3600
	if v := r.form.Get("DurationSeconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 900 {
			return nil, stsValidation("1 validation error detected: Value '%s' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900", v)
		}
		dur = n
	}
	if e := checkAssumeRoleParams(r.form); e != nil {
		return nil, e
	}
	var sessionPolicy *policy
	if call.Policy != "" {
		p, err := parsePolicy(call.Policy, identityPolicy)
		if err != nil {
			return nil, newErr(400, "MalformedPolicyDocument", "%s", err.Error())
		}
		sessionPolicy = p
	}

	caller := s.identityLocked(r.akid)
	if e := s.authorizeAssumeRoleLocked(caller, call, m[1], m[2]); e != nil {
		return nil, e
	}
	// Roles allow one hour unless their MaxSessionDuration was raised,
	// which this fake does not model.
	if dur > 3600 {
		return nil, stsValidation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}

	akid := "ASIA" + strings.ToUpper(s.newIDLocked(16))
	roleID := "AROA" + strings.ToUpper(s.newIDLocked(17))
	if role := s.knownRoleLocked(m[1], m[2]); role != nil {
		roleID = role.id
	}
	arn := "arn:aws:sts::" + m[1] + ":assumed-role/" + m[2] + "/" + session
	src := call.SourceIdentity
	if src == "" {
		// A source identity, once set, stays with the chain of sessions.
		src = caller.sourceIdentity
	}
	s.sts.keys[akid] = identity{arn: arn, userID: roleID + ":" + session, roleArn: roleArn, session: sessionPolicy, sourceIdentity: src}
	call.AccessKeyID = akid
	return stsAssumeRoleResponse{
		Xmlns: stsXMLNS,
		Credentials: stsCredentials{
			AccessKeyID:     akid,
			SecretAccessKey: s.newIDLocked(40),
			SessionToken:    "FwoGZXIvYXdzE" + s.newIDLocked(64),
			Expiration:      s.now().Add(time.Duration(dur) * time.Second).UTC().Format("2006-01-02T15:04:05Z"),
		},
		AssumedRoleID: roleID + ":" + session,
		AssumedArn:    arn,
		Metadata:      stsMetadata{r.id},
	}, nil
}

// checkAssumeRoleParams applies STS's constraints on the optional
// parameters. Secrets (the MFA code) are not echoed in the messages.
func checkAssumeRoleParams(f url.Values) *apiError {
	for _, p := range assumeRoleParams {
		v, ok := f[p.name]
		if !ok {
			continue
		}
		shown := "'" + v[0] + "' "
		if p.name == "TokenCode" || p.name == "Policy" {
			shown = ""
		}
		if n := utf8.RuneCountInString(v[0]); n < p.min || n > p.max {
			return stsValidation("1 validation error detected: Value %sat '%s' failed to satisfy constraint: Member must have length between %d and %d", shown, p.member, p.min, p.max)
		}
		if !p.re().MatchString(v[0]) {
			return stsValidation("1 validation error detected: Value %sat '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", shown, p.member, p.pattern)
		}
	}
	if (f.Get("SerialNumber") == "") != (f.Get("TokenCode") == "") {
		return newErr(403, "AccessDenied", "MultiFactorAuthentication failed with invalid MFA one time pass code. ")
	}
	return nil
}

// authorizeAssumeRoleLocked applies the caller's identity policy (when
// policies are in force) and, for a role the fake knows, the role's trust
// policy, to sts:AssumeRole and, with a source identity, to
// sts:SetSourceIdentity.
func (s *Server) authorizeAssumeRoleLocked(caller identity, call *AssumeRoleCall, account, name string) *apiError {
	keys := s.baseKeysLocked(caller, true)
	keys["sts:rolesessionname"] = []string{call.SessionName}
	if call.ExternalID != "" {
		keys["sts:externalid"] = []string{call.ExternalID}
	}
	if call.SourceIdentity != "" {
		keys["sts:sourceidentity"] = []string{call.SourceIdentity}
	}
	if call.SerialNumber != "" {
		keys["aws:multifactorauthpresent"] = []string{"true"}
	}
	actions := []string{"sts:AssumeRole"}
	if call.SourceIdentity != "" {
		actions = append(actions, "sts:SetSourceIdentity")
	}
	deny := func(action string) *apiError {
		s.countDeniedLocked("sts:AssumeRole")
		return newErr(403, "AccessDenied", "User: %s is not authorized to perform: %s on resource: %s", caller.arn, action, call.RoleARN)
	}
	for _, a := range actions {
		if d, _ := s.decideLocked(caller, authCheck{action: a, resource: call.RoleARN, keys: keys}); d != allowed {
			return deny(a)
		}
	}
	role := s.knownRoleLocked(account, name)
	if role == nil {
		return nil
	}
	if role.arn != call.RoleARN {
		// Same name, other path: not this role, and STS does not say more.
		return deny("sts:AssumeRole")
	}
	who := &principalInfo{account: s.opts.AccountID, arn: caller.arn, roleArn: caller.roleArn}
	for _, a := range actions {
		if role.trust.evaluate(&evalContext{action: a, resource: role.arn, keys: keys, principal: who}) != allowed {
			return deny(a)
		}
	}
	return nil
}
