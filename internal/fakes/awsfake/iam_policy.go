package awsfake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The IAM policy language as the fake evaluates it: identity-based
// policies, session policies and role trust policies share one grammar and
// one engine, so that what SetIdentityPolicy enforces, what
// SimulatePrincipalPolicy answers and what AssumeRole lets through agree.

// policyKind says which elements a document may carry: a trust policy
// must name principals, the others must not.
type policyKind int

const (
	identityPolicy policyKind = iota
	trustPolicy
)

type policy struct {
	id         string
	statements []statement
}

type statement struct {
	sid   string
	deny  bool
	notA  bool
	acts  []string // lower-cased patterns
	notR  bool
	hasR  bool
	res   []string
	notP  bool
	hasP  bool
	princ map[string][]string // "AWS", "Service", ... -> values; "*" under "*"
	conds []condition
	// vars enables ${...} policy variables, which only the 2012-10-17
	// grammar has.
	vars bool
}

type condition struct {
	op       string // base operator, lower case: "stringequals"
	set      string // "", "foranyvalue" or "forallvalues"
	ifExists bool
	key      string // lower case, as context keys are matched
	name     string // as the policy wrote it, for reports
	values   []string
}

// malformed is IAM's refusal of a policy document.
type malformedPolicy struct{ msg string }

func (e *malformedPolicy) Error() string { return e.msg }

func malformed(format string, args ...any) error {
	return &malformedPolicy{fmt.Sprintf(format, args...)}
}

// parsePolicy reads a policy document with IAM's grammar. Element names
// are case-sensitive and unknown ones are refused, as IAM refuses them.
func parsePolicy(doc string, kind policyKind) (*policy, error) {
	var top map[string]json.RawMessage
	if err := strictJSON([]byte(doc), &top); err != nil || top == nil {
		return nil, malformed("Syntax errors in policy.")
	}
	p := &policy{}
	version := "2008-10-17"
	for k, v := range top {
		switch k {
		case "Version":
			if err := json.Unmarshal(v, &version); err != nil || (version != "2012-10-17" && version != "2008-10-17") {
				return nil, malformed("The policy failed legacy parsing")
			}
		case "Id":
			if err := json.Unmarshal(v, &p.id); err != nil {
				return nil, malformed("Syntax errors in policy.")
			}
		case "Statement":
		default:
			return nil, malformed("Syntax errors in policy.")
		}
	}
	raw, ok := top["Statement"]
	if !ok {
		return nil, malformed("Syntax errors in policy.")
	}
	var list []json.RawMessage
	if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("[")) {
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, malformed("Syntax errors in policy.")
		}
	} else {
		list = []json.RawMessage{raw}
	}
	if len(list) == 0 {
		return nil, malformed("Syntax errors in policy.")
	}
	for _, r := range list {
		st, err := parseStatement(r, kind, version == "2012-10-17")
		if err != nil {
			return nil, err
		}
		p.statements = append(p.statements, st)
	}
	return p, nil
}

// strictJSON decodes one JSON value and nothing after it.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

func parseStatement(raw json.RawMessage, kind policyKind, vars bool) (statement, error) {
	var m map[string]json.RawMessage
	st := statement{vars: vars}
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return st, malformed("Syntax errors in policy.")
	}
	var err error
	for k, v := range m {
		switch k {
		case "Sid":
			if json.Unmarshal(v, &st.sid) != nil {
				return st, malformed("Syntax errors in policy.")
			}
		case "Effect":
			var eff string
			if json.Unmarshal(v, &eff) != nil || (eff != "Allow" && eff != "Deny") {
				return st, malformed("Invalid effect: %s", strings.Trim(string(v), `"`))
			}
			st.deny = eff == "Deny"
		case "Action", "NotAction":
			if st.acts != nil {
				return st, malformed("Syntax errors in policy.")
			}
			st.notA = k == "NotAction"
			if st.acts, err = stringOrList(v); err != nil {
				return st, err
			}
			for i, a := range st.acts {
				if a != "*" && !strings.Contains(a, ":") {
					return st, malformed("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.")
				}
				st.acts[i] = strings.ToLower(a)
			}
		case "Resource", "NotResource":
			if st.hasR {
				return st, malformed("Syntax errors in policy.")
			}
			st.hasR, st.notR = true, k == "NotResource"
			if st.res, err = stringOrList(v); err != nil {
				return st, err
			}
		case "Principal", "NotPrincipal":
			if st.hasP {
				return st, malformed("Syntax errors in policy.")
			}
			st.hasP, st.notP = true, k == "NotPrincipal"
			if st.princ, err = parsePrincipal(v); err != nil {
				return st, err
			}
		case "Condition":
			if st.conds, err = parseConditions(v); err != nil {
				return st, err
			}
		default:
			return st, malformed("Syntax errors in policy.")
		}
	}
	if _, ok := m["Effect"]; !ok {
		return st, malformed("Syntax errors in policy.")
	}
	if st.acts == nil {
		return st, malformed("Policy statement must contain actions.")
	}
	switch kind {
	case identityPolicy:
		if st.hasP {
			return st, malformed("Policy document should not specify a principal.")
		}
		if !st.hasR {
			return st, malformed("Policy statement must contain resources.")
		}
	case trustPolicy:
		if !st.hasP {
			return st, malformed("Missing required field Principal")
		}
		if st.hasR {
			return st, malformed("Has prohibited field Resource")
		}
	}
	return st, nil
}

func stringOrList(v json.RawMessage) ([]string, error) {
	var one string
	if json.Unmarshal(v, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if json.Unmarshal(v, &many) != nil || len(many) == 0 {
		return nil, malformed("Syntax errors in policy.")
	}
	return many, nil
}

func parsePrincipal(v json.RawMessage) (map[string][]string, error) {
	var star string
	if json.Unmarshal(v, &star) == nil {
		if star != "*" {
			return nil, malformed("Invalid principal in policy: %q", star)
		}
		return map[string][]string{"*": {"*"}}, nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(v, &m) != nil || len(m) == 0 {
		return nil, malformed("Syntax errors in policy.")
	}
	out := map[string][]string{}
	for k, raw := range m {
		switch k {
		case "AWS", "Service", "Federated", "CanonicalUser":
		default:
			return nil, malformed("Invalid principal in policy: %q", k)
		}
		vals, err := stringOrList(raw)
		if err != nil {
			return nil, err
		}
		for _, p := range vals {
			// IAM allows a wildcard only as the whole principal.
			if p != "*" && strings.ContainsAny(p, "*?") {
				return nil, malformed("Invalid principal in policy: \"%s\":\"%s\"", k, p)
			}
		}
		out[k] = vals
	}
	return out, nil
}

// conditionOps are the operators the engine knows, by lower-case name;
// true marks the negated ones, which hold when the key is absent.
var conditionOps = map[string]bool{
	"stringequals": false, "stringnotequals": true, "stringequalsignorecase": false, "stringnotequalsignorecase": true,
	"stringlike": false, "stringnotlike": true,
	"arnequals": false, "arnlike": false, "arnnotequals": true, "arnnotlike": true,
	"numericequals": false, "numericnotequals": true, "numericlessthan": false, "numericlessthanequals": false,
	"numericgreaterthan": false, "numericgreaterthanequals": false,
	"dateequals": false, "datenotequals": true, "datelessthan": false, "datelessthanequals": false,
	"dategreaterthan": false, "dategreaterthanequals": false,
	"bool": false, "ipaddress": false, "notipaddress": true, "null": false,
}

func parseConditions(v json.RawMessage) ([]condition, error) {
	var ops map[string]json.RawMessage
	if json.Unmarshal(v, &ops) != nil {
		return nil, malformed("Syntax errors in policy.")
	}
	var out []condition
	for name, raw := range ops {
		c := condition{}
		base := strings.ToLower(name)
		if p, rest, ok := strings.Cut(base, ":"); ok {
			if p != "foranyvalue" && p != "forallvalues" {
				return nil, malformed("Invalid Condition type : %s", name)
			}
			c.set, base = p, rest
		}
		if b, ok := strings.CutSuffix(base, "ifexists"); ok && b != "null" {
			c.ifExists, base = true, b
		}
		if _, ok := conditionOps[base]; !ok {
			return nil, malformed("Invalid Condition type : %s", name)
		}
		c.op = base
		var keys map[string]json.RawMessage
		if json.Unmarshal(raw, &keys) != nil {
			return nil, malformed("Syntax errors in policy.")
		}
		for key, vals := range keys {
			values, err := conditionValues(vals)
			if err != nil {
				return nil, err
			}
			cc := c
			cc.key, cc.name, cc.values = strings.ToLower(key), key, values
			out = append(out, cc)
		}
	}
	return out, nil
}

// conditionValues accepts strings, numbers and booleans, alone or in a
// list, as IAM does, and compares them as strings.
func conditionValues(v json.RawMessage) ([]string, error) {
	var list []json.RawMessage
	if json.Unmarshal(v, &list) != nil {
		list = []json.RawMessage{v}
	}
	var out []string
	for _, item := range list {
		var s string
		if json.Unmarshal(item, &s) == nil {
			out = append(out, s)
			continue
		}
		t := strings.TrimSpace(string(item))
		if t == "true" || t == "false" {
			out = append(out, t)
			continue
		}
		if _, err := strconv.ParseFloat(t, 64); err == nil {
			out = append(out, t)
			continue
		}
		return nil, malformed("Syntax errors in policy.")
	}
	return out, nil
}

// decision is an evaluation result, in IAM's order of precedence.
type decision int

const (
	allowed decision = iota
	implicitDeny
	explicitDeny
)

func (d decision) String() string {
	return [...]string{"allowed", "implicitDeny", "explicitDeny"}[d]
}

// evalContext is one request as policies see it.
type evalContext struct {
	action   string // "ecs:RunTask"
	resource string
	keys     map[string][]string // lower-case condition keys
	// principal is who is asking, for trust policies.
	principal *principalInfo
	// missing collects condition keys a statement needed but the request
	// lacked, for SimulatePrincipalPolicy's MissingContextValues.
	missing map[string]bool
}

type principalInfo struct {
	account string
	arn     string // user ARN or assumed-role session ARN
	roleArn string // for sessions: the role's ARN
}

// evaluate applies IAM's rule within one policy: an explicit deny wins,
// else an allow is needed.
func (p *policy) evaluate(c *evalContext) decision {
	if p == nil {
		return implicitDeny
	}
	d := implicitDeny
	for i := range p.statements {
		st := &p.statements[i]
		if !st.applies(c) {
			continue
		}
		if st.deny {
			return explicitDeny
		}
		d = allowed
	}
	return d
}

func (st *statement) applies(c *evalContext) bool {
	if slices.ContainsFunc(st.acts, func(a string) bool { return actionMatch(a, c.action) }) == st.notA {
		return false
	}
	if st.hasR {
		hit := slices.ContainsFunc(st.res, func(pat string) bool {
			pat, ok := st.substitute(pat, c)
			return ok && arnMatch(pat, c.resource)
		})
		if hit == st.notR {
			return false
		}
	}
	if st.hasP && st.principalMatches(c.principal) == st.notP {
		return false
	}
	for _, cond := range st.conds {
		if !cond.holds(st, c) {
			return false
		}
	}
	return true
}

func actionMatch(pattern, action string) bool {
	return wildcard(pattern, strings.ToLower(action))
}

// wildcard matches IAM's * (any run, colons and slashes included) and ?
// (one character).
func wildcard(pattern, s string) bool {
	// Iterative with one backtrack point: linear for the patterns policies
	// contain, unlike the naive recursion.
	p, i, star, mark := 0, 0, -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// arnMatch compares an ARN pattern with an ARN the way IAM matches
// Resource and ArnLike: each of the first five colon-separated parts on
// its own, the resource part (which may hold colons) as a whole.
func arnMatch(pattern, arn string) bool {
	if pattern == "*" {
		return true
	}
	pp := strings.SplitN(pattern, ":", 6)
	ap := strings.SplitN(arn, ":", 6)
	if len(pp) != 6 || len(ap) != 6 {
		return wildcard(pattern, arn)
	}
	for i := range pp {
		if !wildcard(pp[i], ap[i]) {
			return false
		}
	}
	return true
}

// substitute replaces ${key} policy variables from the request context;
// ok is false when one is missing, which makes the element not match.
func (st *statement) substitute(s string, c *evalContext) (string, bool) {
	if !st.vars || !strings.Contains(s, "${") {
		return s, true
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), true
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String(), true
		}
		b.WriteString(s[:i])
		name := s[i+2 : i+j]
		switch name {
		case "*", "?", "$":
			// Escapes for the literal characters. The matcher still reads
			// * and ? as wildcards, so such a pattern matches a little
			// more than on AWS; none of the fake's resources has them.
			b.WriteString(name)
		default:
			v := c.keys[strings.ToLower(name)]
			if len(v) != 1 {
				return "", false
			}
			b.WriteString(v[0])
		}
		s = s[i+j+1:]
	}
}

func (st *statement) principalMatches(p *principalInfo) bool {
	if p == nil {
		return false
	}
	for typ, vals := range st.princ {
		if typ != "*" && typ != "AWS" {
			continue // services and federated users never call the fake
		}
		for _, v := range vals {
			switch {
			case v == "*":
				return true
			case v == p.account, v == "arn:aws:iam::"+p.account+":root":
				return true
			case v == p.arn:
				return true
			case p.roleArn != "" && v == p.roleArn:
				return true
			}
		}
	}
	return false
}

// holds evaluates one condition key against the request.
func (cond *condition) holds(st *statement, c *evalContext) bool {
	have, present := c.keys[cond.key]
	if cond.op == "null" {
		want := len(cond.values) > 0 && strings.EqualFold(cond.values[0], "true")
		return want != present
	}
	negated := conditionOps[cond.op]
	if !present {
		if c.missing != nil && !cond.ifExists {
			c.missing[cond.name] = true
		}
		switch {
		case cond.ifExists, cond.set == "forallvalues":
			return true
		case cond.set == "foranyvalue":
			return false
		}
		return negated
	}
	// pos says whether one request value matches one of the policy's
	// values under the operator's positive form.
	pos := func(h string) bool {
		for _, v := range cond.values {
			v, ok := st.substitute(v, c)
			if ok && matchValue(cond.op, v, h) {
				return true
			}
		}
		return false
	}
	ok := func(h string) bool { return pos(h) != negated }
	switch cond.set {
	case "foranyvalue":
		return slices.ContainsFunc(have, ok)
	case "forallvalues":
		return !slices.ContainsFunc(have, func(h string) bool { return !ok(h) })
	}
	if negated {
		return !slices.ContainsFunc(have, pos)
	}
	return slices.ContainsFunc(have, pos)
}

// matchValue compares a policy value with a request value under the
// positive form of op ("stringnotequals" compares as "stringequals").
func matchValue(op, want, have string) bool {
	switch op {
	case "stringequals", "stringnotequals":
		return want == have
	case "stringequalsignorecase", "stringnotequalsignorecase":
		return strings.EqualFold(want, have)
	case "stringlike", "stringnotlike":
		return wildcard(want, have)
	case "arnequals", "arnlike", "arnnotequals", "arnnotlike":
		return arnMatch(want, have)
	case "bool":
		return strings.EqualFold(want, have)
	case "ipaddress", "notipaddress":
		pfx, err := netip.ParsePrefix(want)
		if err != nil {
			a, err2 := netip.ParseAddr(want)
			if err2 != nil {
				return false
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		a, err := netip.ParseAddr(have)
		return err == nil && pfx.Contains(a)
	}
	if rest, ok := strings.CutPrefix(op, "numeric"); ok {
		w, err1 := strconv.ParseFloat(want, 64)
		h, err2 := strconv.ParseFloat(have, 64)
		return err1 == nil && err2 == nil && compare(rest, h, w)
	}
	if rest, ok := strings.CutPrefix(op, "date"); ok {
		w, ok1 := parsePolicyDate(want)
		h, ok2 := parsePolicyDate(have)
		return ok1 && ok2 && compare(rest, float64(h.UnixMilli()), float64(w.UnixMilli()))
	}
	return false
}

func compare(rel string, have, want float64) bool {
	switch rel {
	case "equals", "notequals":
		return have == want
	case "lessthan":
		return have < want
	case "lessthanequals":
		return have <= want
	case "greaterthan":
		return have > want
	case "greaterthanequals":
		return have >= want
	}
	return false
}

// parsePolicyDate reads the ISO 8601 forms and epoch seconds IAM accepts.
func parsePolicyDate(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), true
	}
	return time.Time{}, false
}

// AllowActions returns an identity-based policy document that allows the
// given actions ("ecs:RunTask", "logs:*") on every resource.
func AllowActions(actions ...string) string {
	doc := map[string]any{
		"Version":   "2012-10-17",
		"Statement": []any{map[string]any{"Effect": "Allow", "Action": actions, "Resource": "*"}},
	}
	b, _ := json.Marshal(doc)
	return string(b)
}
