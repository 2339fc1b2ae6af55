// Package trustpolicy reads an IAM role's trust policy, as doctor needs
// it: whether the policy lets a service (ECS tasks) assume the role, and
// under which condition keys.
package trustpolicy

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
)

// Trusts reports whether a role's trust policy (as GetRole returns it:
// URL-encoded JSON) lets service assume the role. An explicit deny wins;
// an allow under conditions counts, and detail names the condition keys.
func Trusts(encoded, service string) (ok bool, detail string, err error) {
	doc := encoded
	if d, err := url.QueryUnescape(encoded); err == nil {
		doc = d
	}
	var p struct {
		Statement json.RawMessage
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return false, "", err
	}
	var stmts []trustStatement
	if err := json.Unmarshal(p.Statement, &stmts); err != nil {
		var one trustStatement
		if err := json.Unmarshal(p.Statement, &one); err != nil {
			return false, "", err
		}
		stmts = []trustStatement{one}
	}
	var conds []string
	for _, s := range stmts {
		if !s.matches(service) {
			continue
		}
		if strings.EqualFold(s.Effect, "Deny") && len(s.Condition) == 0 {
			return false, "a statement denies it", nil
		}
		if strings.EqualFold(s.Effect, "Allow") {
			ok = true
			for _, keys := range s.Condition {
				for k := range keys {
					if !slices.Contains(conds, k) {
						conds = append(conds, k)
					}
				}
			}
		}
	}
	if !ok {
		return false, "no statement allows sts:AssumeRole to " + service, nil
	}
	if len(conds) > 0 {
		slices.Sort(conds)
		detail = " under conditions on " + strings.Join(conds, ", ")
	}
	return true, detail, nil
}

type trustStatement struct {
	Effect    string
	Principal json.RawMessage
	Action    json.RawMessage
	Condition map[string]map[string]json.RawMessage
}

// strOrList reads a policy field that is a string or a list of strings.
func strOrList(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(raw, &many)
	return many
}

func (s trustStatement) matches(service string) bool {
	action := false
	for _, a := range strOrList(s.Action) {
		if wildcardMatch(strings.ToLower(a), "sts:assumerole") {
			action = true
		}
	}
	if !action {
		return false
	}
	if slices.Contains(strOrList(s.Principal), "*") {
		return true
	}
	var p map[string]json.RawMessage
	if json.Unmarshal(s.Principal, &p) != nil {
		return false
	}
	for k, v := range p {
		vals := strOrList(v)
		switch {
		case strings.EqualFold(k, "Service") && slices.Contains(vals, service):
			return true
		case strings.EqualFold(k, "AWS") && slices.Contains(vals, "*"):
			return true
		}
	}
	return false
}

// wildcardMatch matches IAM's * and ? wildcards.
func wildcardMatch(pattern, s string) bool {
	if pattern == "" {
		return s == ""
	}
	switch pattern[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if wildcardMatch(pattern[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && wildcardMatch(pattern[1:], s[1:])
	}
	return s != "" && pattern[0] == s[0] && wildcardMatch(pattern[1:], s[1:])
}
