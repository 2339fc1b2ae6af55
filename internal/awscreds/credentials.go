// Package awscreds holds the credentials of a Prefect AwsCredentials
// block: reading the block (with a message per problem), printing it
// without its secrets, and the fingerprint that keys the AWS clients made
// for it (internal/awsclient).
package awscreds

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// Credentials are the AWS settings of one Prefect AwsCredentials block: who
// the worker is, in which region, and how its clients talk to AWS. Empty
// fields fall back to the SDK's default chain (environment, shared config
// and SSO, ECS task role, EC2 instance metadata).
//
// Printing Credentials (fmt, %#v, JSON, slog) never shows a secret.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Profile         string
	Region          string

	// EndpointURL replaces the AWS endpoint of every client (LocalStack,
	// a proxy); it wins over AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>.
	EndpointURL string
	// InsecureSkipVerify turns TLS certificate checks off (verify: false).
	InsecureSkipVerify bool
	// CABundle is a PEM file of the certificate authorities to trust
	// (verify: "<path>" or verify_cert_path).
	CABundle string
	// DisableSSL sends requests over plain HTTP (use_ssl: false).
	DisableSSL bool

	// MaxAttempts and RetryMode come from aws_client_parameters.config
	// .retries; zero values leave the client factory's defaults.
	MaxAttempts int
	RetryMode   string

	// AssumeRoleARN, when set, makes every call as this role (STS
	// AssumeRole on top of the credentials above).
	AssumeRoleARN string
	AssumeRole    AssumeRoleOptions
}

// AssumeRoleOptions are the assume_role_kwargs of the block.
type AssumeRoleOptions struct {
	// SessionName defaults to "ecsworker-<8 hex>", chosen when the clients
	// are built.
	SessionName       string
	ExternalID        string
	Duration          time.Duration
	Policy            string
	PolicyARNs        []string
	Tags              []RoleTag
	TransitiveTagKeys []string
	SerialNumber      string
	// TokenCode is an MFA code; it is masked when printed.
	TokenCode      string
	SourceIdentity string
}

// RoleTag is a session tag for AssumeRole.
type RoleTag struct{ Key, Value string }

const masked = "********"

func mask(s string) string {
	if s == "" {
		return ""
	}
	return masked
}

// maskKeyID keeps the first four characters of an access key id, which tell
// long-term (AKIA) from temporary (ASIA) keys, and hides the rest.
func maskKeyID(s string) string {
	if len(s) <= 4 {
		return mask(s)
	}
	return s[:4] + masked
}

// String describes the credentials without their secrets.
func (c Credentials) String() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("access_key_id", maskKeyID(c.AccessKeyID))
	add("secret_access_key", mask(c.SecretAccessKey))
	add("session_token", mask(c.SessionToken))
	add("profile", c.Profile)
	add("region", c.Region)
	add("endpoint_url", c.EndpointURL)
	if c.InsecureSkipVerify {
		add("verify", "false")
	}
	add("ca_bundle", c.CABundle)
	if c.DisableSSL {
		add("use_ssl", "false")
	}
	if c.MaxAttempts > 0 {
		add("max_attempts", strconv.Itoa(c.MaxAttempts))
	}
	add("retry_mode", c.RetryMode)
	add("assume_role_arn", c.AssumeRoleARN)
	if c.AssumeRoleARN != "" {
		add("assume_role", c.AssumeRole.String())
	}
	if len(parts) == 0 {
		return "AWS credentials (default chain)"
	}
	return "AWS credentials{" + strings.Join(parts, " ") + "}"
}

// GoString keeps %#v from printing secrets.
func (c Credentials) GoString() string { return c.String() }

// Format handles every fmt verb, so that neither %v nor %+v nor %#v shows a
// secret.
func (c Credentials) Format(f fmt.State, verb rune) {
	_, _ = fmt.Fprint(f, c.String()) // fmt.State has nowhere to report a failed write
}

// MarshalJSON writes the credentials with their secrets masked.
func (c Credentials) MarshalJSON() ([]byte, error) {
	type view struct {
		AccessKeyID     string `json:"aws_access_key_id,omitempty"`
		SecretAccessKey string `json:"aws_secret_access_key,omitempty"`
		SessionToken    string `json:"aws_session_token,omitempty"`
		Profile         string `json:"profile_name,omitempty"`
		Region          string `json:"region_name,omitempty"`
		EndpointURL     string `json:"endpoint_url,omitempty"`
		AssumeRoleARN   string `json:"assume_role_arn,omitempty"`
	}
	return json.Marshal(view{maskKeyID(c.AccessKeyID), mask(c.SecretAccessKey), mask(c.SessionToken), c.Profile, c.Region, c.EndpointURL, c.AssumeRoleARN})
}

// LogValue keeps slog from printing secrets.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// String describes the options with the MFA code masked.
func (o AssumeRoleOptions) String() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("session_name", o.SessionName)
	add("external_id", mask(o.ExternalID))
	if o.Duration > 0 {
		add("duration", o.Duration.String())
	}
	if o.Policy != "" {
		add("policy", "(set)")
	}
	if len(o.PolicyARNs) > 0 {
		add("policy_arns", strings.Join(o.PolicyARNs, ","))
	}
	for _, t := range o.Tags {
		add("tag", t.Key+"="+t.Value)
	}
	if len(o.TransitiveTagKeys) > 0 {
		add("transitive_tag_keys", strings.Join(o.TransitiveTagKeys, ","))
	}
	add("serial_number", o.SerialNumber)
	add("token_code", mask(o.TokenCode))
	add("source_identity", o.SourceIdentity)
	return "{" + strings.Join(parts, " ") + "}"
}

// GoString keeps %#v from printing the MFA code.
func (o AssumeRoleOptions) GoString() string { return o.String() }

// Format handles every fmt verb.
func (o AssumeRoleOptions) Format(f fmt.State, verb rune) {
	_, _ = fmt.Fprint(f, o.String()) // fmt.State has nowhere to report a failed write
}

// Fingerprint identifies the credentials wherever AWS clients are kept for
// them (the client factory, the worker's backends): two blocks that differ
// in any field, an ExternalId, a session policy or an MFA code included,
// never share clients, and so never share an assumed-role session. It is a
// hash of every field, secrets included; it reveals none of them, but it is
// a key, not something to show.
func (c Credentials) Fingerprint() string {
	h := sha256.New()
	w := func(s string) {
		h.Write([]byte(strconv.Itoa(len(s))))
		h.Write([]byte{':'})
		h.Write([]byte(s))
	}
	w(c.AccessKeyID)
	w(c.SecretAccessKey)
	w(c.SessionToken)
	w(c.Profile)
	w(c.Region)
	w(c.EndpointURL)
	w(strconv.FormatBool(c.InsecureSkipVerify))
	w(c.CABundle)
	w(strconv.FormatBool(c.DisableSSL))
	w(strconv.Itoa(c.MaxAttempts))
	w(c.RetryMode)
	w(c.AssumeRoleARN)
	o := c.AssumeRole
	w(o.SessionName)
	w(o.ExternalID)
	w(o.Duration.String())
	w(o.Policy)
	w(strings.Join(o.PolicyARNs, "\x00"))
	for _, t := range o.Tags {
		w(t.Key)
		w(t.Value)
	}
	w(strings.Join(o.TransitiveTagKeys, "\x00"))
	w(o.SerialNumber)
	w(o.TokenCode)
	w(o.SourceIdentity)
	return hex.EncodeToString(h.Sum(nil))
}

// CredentialsError lists what is wrong in an AwsCredentials block; each
// problem names the field and how to fix it.
type CredentialsError struct {
	Problems []string
}

func (e *CredentialsError) Error() string {
	if len(e.Problems) == 1 {
		return "aws_credentials: " + e.Problems[0]
	}
	return "aws_credentials has " + strconv.Itoa(len(e.Problems)) + " problems:\n- " + strings.Join(e.Problems, "\n- ")
}

// CredentialsFromBlock reads an AwsCredentials block as Prefect stores it
// (the block document's data). A nil or empty block means the default
// credential chain.
func CredentialsFromBlock(block *jsonv.Object) (Credentials, error) {
	var c Credentials
	r := &blockReader{}
	if block == nil {
		return c, nil
	}
	if block.Has("$ref") {
		r.fail("$ref", "the block reference was not resolved; the worker needs the block's data (read the block document with its secrets) in place of {\"$ref\": ...}")
		return c, r.err()
	}
	c.AccessKeyID = r.str(block, "aws_access_key_id", "")
	c.SecretAccessKey = r.secret(block, "aws_secret_access_key", "")
	c.SessionToken = r.secret(block, "aws_session_token", "")
	c.Profile = r.str(block, "profile_name", "")
	c.Region = r.str(block, "region_name", "")
	switch {
	case c.AccessKeyID != "" && c.SecretAccessKey == "":
		r.fail("aws_secret_access_key", "is empty while aws_access_key_id is set; set both, or neither to use the default credential chain")
	case c.AccessKeyID == "" && c.SecretAccessKey != "":
		r.fail("aws_access_key_id", "is empty while aws_secret_access_key is set; set both, or neither to use the default credential chain")
	case c.AccessKeyID == "" && c.SessionToken != "":
		r.fail("aws_session_token", "is set without aws_access_key_id and aws_secret_access_key; a session token only goes with them")
	}

	if params := r.object(block, "aws_client_parameters", ""); params != nil {
		const p = "aws_client_parameters"
		if u := r.str(params, "endpoint_url", p); u != "" {
			if parsed, err := url.Parse(u); err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
				r.fail(p+".endpoint_url", fmt.Sprintf("%q is not an http(s) URL; write it like https://ecs.us-east-1.amazonaws.com or http://localhost:4566", u))
			} else {
				c.EndpointURL = u
			}
		}
		if v, ok := params.Get("use_ssl"); ok && v != nil {
			if b, isBool := v.(bool); isBool {
				c.DisableSSL = !b
			} else {
				r.fail(p+".use_ssl", "must be true or false, got "+jsonv.TypeName(v))
			}
		}
		certPath := r.str(params, "verify_cert_path", p)
		if v, ok := params.Get("verify"); ok && v != nil {
			switch t := v.(type) {
			case bool:
				c.InsecureSkipVerify = !t
			case string:
				if t != "" {
					certPath = t
				}
			default:
				r.fail(p+".verify", "must be true, false or the path of a CA bundle, got "+jsonv.TypeName(v))
			}
		}
		if !c.InsecureSkipVerify {
			c.CABundle = certPath
		}
		if cfg := r.object(params, "config", p); cfg != nil {
			if retries := r.object(cfg, "retries", p+".config"); retries != nil {
				rp := p + ".config.retries"
				mode := r.str(retries, "mode", rp)
				switch mode {
				case "", "standard", "adaptive":
					c.RetryMode = mode
				case "legacy":
					c.RetryMode = "standard"
				default:
					r.fail(rp+".mode", fmt.Sprintf("%q is not a retry mode; use \"standard\" or \"adaptive\"", mode))
				}
				// botocore: max_attempts counts retries after the first
				// attempt, total_max_attempts counts every attempt.
				if n, ok := r.integer(retries, "total_max_attempts", rp); ok {
					if n < 1 || n > 100 {
						r.fail(rp+".total_max_attempts", fmt.Sprintf("%d is out of range; use a number of attempts from 1 to 100", n))
					} else {
						c.MaxAttempts = n
					}
				} else if n, ok := r.integer(retries, "max_attempts", rp); ok {
					if n < 0 || n > 99 {
						r.fail(rp+".max_attempts", fmt.Sprintf("%d is out of range; use a number of retries from 0 to 99", n))
					} else {
						c.MaxAttempts = n + 1
					}
				}
			}
			if c.Region == "" {
				c.Region = r.str(cfg, "region_name", p+".config")
			}
		}
	}

	c.AssumeRoleARN = r.str(block, "assume_role_arn", "")
	if c.AssumeRoleARN != "" && !strings.HasPrefix(c.AssumeRoleARN, "arn:") {
		r.fail("assume_role_arn", fmt.Sprintf("%q is not a role ARN; write it like arn:aws:iam::123456789012:role/my-role", c.AssumeRoleARN))
	}
	if kw := r.object(block, "assume_role_kwargs", ""); kw != nil && kw.Len() > 0 {
		if c.AssumeRoleARN == "" {
			r.fail("assume_role_kwargs", "is set but assume_role_arn is empty; set assume_role_arn to the role to assume, or remove assume_role_kwargs")
		}
		c.AssumeRole = r.assumeRoleKwargs(kw)
	}
	return c, r.err()
}

var assumeRoleKeys = []string{"DurationSeconds", "ExternalId", "Policy", "PolicyArns", "RoleSessionName", "SerialNumber", "SourceIdentity", "Tags", "TokenCode", "TransitiveTagKeys"}

func (r *blockReader) assumeRoleKwargs(kw *jsonv.Object) AssumeRoleOptions {
	const p = "assume_role_kwargs"
	var o AssumeRoleOptions
	for _, k := range kw.Keys() {
		switch k {
		case "RoleSessionName":
			o.SessionName = r.str(kw, k, p)
			if n := len(o.SessionName); n > 0 && (n < 2 || n > 64) {
				r.fail(p+"."+k, "must be 2 to 64 characters long")
			}
		case "ExternalId":
			o.ExternalID = r.str(kw, k, p)
		case "Policy":
			o.Policy = r.str(kw, k, p)
		case "SerialNumber":
			o.SerialNumber = r.str(kw, k, p)
		case "TokenCode":
			o.TokenCode = r.secret(kw, k, p)
		case "SourceIdentity":
			o.SourceIdentity = r.str(kw, k, p)
		case "DurationSeconds":
			if n, ok := r.integer(kw, k, p); ok {
				if n < 900 || n > 43200 {
					r.fail(p+"."+k, fmt.Sprintf("%d is out of range; AWS accepts 900 to 43200 seconds", n))
				} else {
					o.Duration = time.Duration(n) * time.Second
				}
			}
		case "PolicyArns":
			for i, item := range r.list(kw, k, p) {
				obj, ok := item.(*jsonv.Object)
				arn := obj.GetString("arn")
				if !ok || arn == "" {
					r.fail(fmt.Sprintf("%s.%s[%d]", p, k, i), `must be {"arn": "arn:aws:iam::...:policy/..."}`)
					continue
				}
				o.PolicyARNs = append(o.PolicyARNs, arn)
			}
		case "Tags":
			for i, item := range r.list(kw, k, p) {
				obj, ok := item.(*jsonv.Object)
				key, val := obj.GetString("Key"), obj.GetString("Value")
				if !ok || key == "" {
					r.fail(fmt.Sprintf("%s.%s[%d]", p, k, i), `must be {"Key": "...", "Value": "..."}`)
					continue
				}
				o.Tags = append(o.Tags, RoleTag{key, val})
			}
		case "TransitiveTagKeys":
			for i, item := range r.list(kw, k, p) {
				s, ok := item.(string)
				if !ok || s == "" {
					r.fail(fmt.Sprintf("%s.%s[%d]", p, k, i), "must be a tag key (a non-empty string)")
					continue
				}
				o.TransitiveTagKeys = append(o.TransitiveTagKeys, s)
			}
		case "ProvidedContexts":
			r.fail(p+"."+k, "is not supported by ecsworker; remove it (trusted identity propagation needs the Python worker)")
		default:
			r.fail(p+"."+k, fmt.Sprintf("is not an AssumeRole parameter; use one of %s", strings.Join(assumeRoleKeys, ", ")))
		}
	}
	return o
}

// blockReader reads typed fields and collects every problem.
type blockReader struct {
	problems []string
}

func (r *blockReader) fail(path, msg string) {
	r.problems = append(r.problems, path+" "+msg)
}

func (r *blockReader) err() error {
	if len(r.problems) == 0 {
		return nil
	}
	return &CredentialsError{Problems: r.problems}
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// str reads an optional string; null and absent are "".
func (r *blockReader) str(o *jsonv.Object, key, prefix string) string {
	v, ok := o.Get(key)
	if !ok || v == nil {
		return ""
	}
	s, isStr := v.(string)
	if !isStr {
		r.fail(join(prefix, key), "must be a string, got "+jsonv.TypeName(v))
		return ""
	}
	return strings.TrimSpace(s)
}

// secret reads a secret string and refuses the mask Prefect puts in place of
// secrets when a block is read without them.
func (r *blockReader) secret(o *jsonv.Object, key, prefix string) string {
	s := r.str(o, key, prefix)
	if len(s) >= 3 && strings.Trim(s, "*") == "" {
		r.fail(join(prefix, key), "holds Prefect's mask (********) instead of the secret; read the block document with include_secrets=true, or store the real value in the block")
		return ""
	}
	return s
}

func (r *blockReader) object(o *jsonv.Object, key, prefix string) *jsonv.Object {
	v, ok := o.Get(key)
	if !ok || v == nil {
		return nil
	}
	obj, isObj := v.(*jsonv.Object)
	if !isObj {
		r.fail(join(prefix, key), "must be an object, got "+jsonv.TypeName(v))
		return nil
	}
	return obj
}

func (r *blockReader) list(o *jsonv.Object, key, prefix string) []any {
	v, ok := o.Get(key)
	if !ok || v == nil {
		return nil
	}
	a, isList := v.([]any)
	if !isList {
		r.fail(join(prefix, key), "must be a list, got "+jsonv.TypeName(v))
		return nil
	}
	return a
}

func (r *blockReader) integer(o *jsonv.Object, key, prefix string) (int, bool) {
	v, ok := o.Get(key)
	if !ok || v == nil {
		return 0, false
	}
	n, isNum := v.(json.Number)
	if !isNum {
		if s, isStr := v.(string); isStr {
			if _, err := strconv.Atoi(s); err == nil {
				r.fail(join(prefix, key), fmt.Sprintf("must be a number, got the string %q; remove the quotes", s))
				return 0, false
			}
		}
		r.fail(join(prefix, key), "must be a whole number, got "+jsonv.TypeName(v))
		return 0, false
	}
	i, ok := jsonv.Int(n)
	if !ok {
		r.fail(join(prefix, key), fmt.Sprintf("must be a whole number, got %s", n))
		return 0, false
	}
	return int(i), true
}
