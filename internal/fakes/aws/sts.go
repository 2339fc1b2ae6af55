package awsfake

import (
	"encoding/xml"
	"regexp"
	"strconv"
	"strings"
	"time"
)

const stsXMLNS = "https://sts.amazonaws.com/doc/2011-06-15/"

func stsService() *service {
	return &service{name: "sts", wire: wireQuery, version: "2011-06-15", ops: map[string]op{
		"GetCallerIdentity": {run: (*Server).stsGetCallerIdentity},
		"AssumeRole":        {run: (*Server).stsAssumeRole},
	}}
}

type identity struct{ arn, userID string }

type stsState struct {
	// keys maps access keys issued by AssumeRole to the role session they
	// stand for; any other key is the account's IAM user "awsfake".
	keys map[string]identity
}

func (st *stsState) init() { st.keys = map[string]identity{} }

func (s *Server) identityLocked(akid string) identity {
	if id, ok := s.sts.keys[akid]; ok {
		return id
	}
	return identity{arn: "arn:aws:iam::" + s.opts.AccountID + ":user/awsfake", userID: "AIDAAWSFAKEUSER000001"}
}

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
	roleArnRE     = regexp.MustCompile(`^arn:aws[a-z-]*:iam::(\d{12}):role/(?:[\w+=,.@/-]*/)?([\w+=,.@-]{1,64})$`)
	sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
)

func stsValidation(format string, args ...any) *apiError {
	return newErr(400, "ValidationError", format, args...)
}

func (s *Server) stsAssumeRole(r *request) (any, *apiError) {
	roleArn, session := r.form.Get("RoleArn"), r.form.Get("RoleSessionName")
	m := roleArnRE.FindStringSubmatch(roleArn)
	if m == nil {
		return nil, stsValidation("1 validation error detected: Value '%s' at 'roleArn' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u007E\\u0085\\u00A0-\\uD7FF\\uE000-\\uFFFD\\u10000-\\u10FFFF]+", roleArn)
	}
	if !sessionNameRE.MatchString(session) {
		return nil, stsValidation("1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", session)
	}
	dur := 3600
	if v := r.form.Get("DurationSeconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 900 {
			return nil, stsValidation("1 validation error detected: Value '%s' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900", v)
		}
		// Roles allow one hour unless their MaxSessionDuration was raised,
		// which this fake does not model.
		if n > 3600 {
			return nil, stsValidation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
		}
		dur = n
	}
	akid := "ASIA" + strings.ToUpper(s.newIDLocked(16))
	roleID := "AROA" + strings.ToUpper(s.newIDLocked(17))
	arn := "arn:aws:sts::" + m[1] + ":assumed-role/" + m[2] + "/" + session
	s.sts.keys[akid] = identity{arn: arn, userID: roleID + ":" + session}
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
