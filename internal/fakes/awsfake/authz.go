package awsfake

import (
	"fmt"
	"maps"
	"strings"
)

// Identity-based authorization. Until a test sets a policy, every caller
// may do everything, as the fake always allowed; from then on each request
// is evaluated like IAM does: an explicit deny wins, else an allow is
// needed, else it is implicitly denied.

type authzState struct {
	// policies by principal ARN: an IAM user, or a role (for all of its
	// sessions); "" applies to callers without one of their own.
	policies map[string]*policy
	denied   map[string]int
}

// SetIdentityPolicy attaches an identity-based policy document to a
// principal, replacing any it had: an IAM user ARN, or a role ARN, whose
// policy then governs every session AssumeRole issues for it. "" stands
// for every caller without a policy of its own. The first policy set turns
// evaluation on. The error is IAM's MalformedPolicyDocument message.
func (s *Server) SetIdentityPolicy(principalARN, policyJSON string) error {
	p, err := parsePolicy(policyJSON, identityPolicy)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.authz.policies == nil {
		s.authz.policies = map[string]*policy{}
	}
	s.authz.policies[principalARN] = p
	return nil
}

// ClearIdentityPolicies removes every identity policy, so that everything
// is allowed again.
func (s *Server) ClearIdentityPolicies() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authz.policies = nil
}

// Denied counts requests refused by authorization, per "service:Action"
// of the call refused (a RunTask refused for iam:PassRole counts as
// "ecs:RunTask").
func (s *Server) Denied() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.authz.denied)
}

func (s *Server) countDeniedLocked(key string) {
	if s.authz.denied == nil {
		s.authz.denied = map[string]int{}
	}
	s.authz.denied[key]++
}

// authCheck is one permission a request needs.
type authCheck struct {
	action   string // "ecs:RunTask"
	resource string // an ARN or "*"
	// display is how the service names the resource in a denial when it
	// is not the ARN (IAM says "role NAME").
	display string
	keys    map[string][]string
}

func (c authCheck) named() string {
	if c.display != "" {
		return c.display
	}
	return c.resource
}

// denial says why a check failed: the decision and the kind of policy that
// made it, as AWS words it in the message.
type denial struct {
	check  authCheck
	caller string
	d      decision
	source string // "identity-based" or "session"
}

// baseKeysLocked are the global condition keys of every request by id.
func (s *Server) baseKeysLocked(id identity, regional bool) map[string][]string {
	k := map[string][]string{
		"aws:principalarn":     {id.principalArn()},
		"aws:principalaccount": {s.opts.AccountID},
		"aws:userid":           {id.userID},
		"aws:currenttime":      {s.now().UTC().Format("2006-01-02T15:04:05Z")},
		"aws:epochtime":        {fmt.Sprint(s.now().Unix())},
		// The fake is reached over plain HTTP, but it stands in for the
		// HTTPS endpoints: a policy denying insecure transport must not
		// refuse every call.
		"aws:securetransport": {"true"},
		"aws:sourceip":        {"127.0.0.1"},
	}
	if id.roleArn == "" {
		k["aws:principaltype"] = []string{"User"}
		k["aws:username"] = []string{id.arn[strings.LastIndex(id.arn, "/")+1:]}
	} else {
		k["aws:principaltype"] = []string{"AssumedRole"}
		if id.sourceIdentity != "" {
			k["aws:sourceidentity"] = []string{id.sourceIdentity}
		}
	}
	if regional {
		k["aws:requestedregion"] = []string{s.opts.Region}
	}
	return k
}

// evalOnLocked reports whether identity policies are in force.
func (s *Server) evalOnLocked() bool { return len(s.authz.policies) > 0 }

// principalPolicyLocked is the identity policy governing arn (a user or
// role ARN): its own, else the default one.
func (s *Server) principalPolicyLocked(arn string) *policy {
	if p, ok := s.authz.policies[arn]; ok {
		return p
	}
	return s.authz.policies[""]
}

// decideLocked evaluates one check for a caller: its principal's identity
// policy, intersected with its session policy if it has one.
func (s *Server) decideLocked(id identity, c authCheck) (decision, string) {
	if !s.evalOnLocked() {
		return allowed, ""
	}
	ctx := &evalContext{action: c.action, resource: c.resource, keys: c.keys}
	d := s.principalPolicyLocked(id.principalArn()).evaluate(ctx)
	if d == explicitDeny {
		return d, "identity-based"
	}
	if id.session != nil {
		sd := id.session.evaluate(ctx)
		if sd == explicitDeny {
			return sd, "session"
		}
		if d == allowed && sd != allowed {
			return sd, "session"
		}
	}
	if d != allowed {
		return d, "identity-based"
	}
	return allowed, ""
}

// checkLocked runs checks in order and returns the first that fails.
func (s *Server) checkLocked(id identity, checks []authCheck) *denial {
	for _, c := range checks {
		if d, src := s.decideLocked(id, c); d != allowed {
			return &denial{check: c, caller: id.arn, d: d, source: src}
		}
	}
	return nil
}

// reason is the end of AWS's denial messages, naming the action as the
// service spells it.
func (dn *denial) reason(action string) string {
	if dn.d == explicitDeny {
		if dn.source == "identity-based" {
			return "with an explicit deny in an identity-based policy"
		}
		return "with an explicit deny in a " + dn.source + " policy"
	}
	return "because no " + dn.source + " policy allows the " + action + " action"
}

// denialError renders a denial the way the request's service does.
func (s *Server) denialError(r *request, dn *denial) *apiError {
	c := dn.check
	switch r.svc.wire {
	case wireEC2:
		msg := fmt.Sprintf("You are not authorized to perform this operation. User: %s is not authorized to perform: %s", dn.caller, c.action)
		if c.resource != "*" {
			msg += " on resource: " + c.named()
		}
		return newErr(403, "UnauthorizedOperation", "%s %s", msg, dn.reason(c.action))
	case wireQuery:
		return newErr(403, "AccessDenied", "User: %s is not authorized to perform: %s on resource: %s %s", dn.caller, c.action, c.named(), dn.reason(c.action))
	case wireJSON10:
		// SQS names the action in lower case, answers 403, and carries
		// the query code AccessDenied that the SDK reports.
		action := strings.ToLower(c.action)
		e := newErr(403, "com.amazon.coral.service#AccessDeniedException", "User: %s is not authorized to perform: %s on resource: %s %s", dn.caller, action, c.named(), dn.reason(action))
		e.queryCode = "AccessDenied"
		return e
	}
	return newErr(400, "AccessDeniedException", "User: %s is not authorized to perform: %s on resource: %s %s", dn.caller, c.action, c.named(), dn.reason(c.action))
}

// authorizeLocked decides whether the caller may make the request. It
// runs before the handler, within the same hold of the lock for locked
// operations, so that the resources it names are those the handler sees.
func (s *Server) authorizeLocked(r *request) *apiError {
	if !s.evalOnLocked() {
		return nil
	}
	key := r.svc.name + ":" + r.action
	if key == "sts:GetCallerIdentity" || key == "sts:AssumeRole" {
		// GetCallerIdentity needs no permission; AssumeRole is decided in
		// its handler, which also weighs the role's trust policy.
		return nil
	}
	id := s.identityLocked(r.akid)
	var checks []authCheck
	if fn := authorizers[key]; fn != nil {
		checks = fn(s, r)
	} else {
		checks = []authCheck{{action: key, resource: "*"}}
	}
	regional := r.svc.name != "iam"
	base := s.baseKeysLocked(id, regional)
	for i := range checks {
		k := maps.Clone(base)
		maps.Copy(k, checks[i].keys)
		checks[i].keys = k
	}
	if dn := s.checkLocked(id, checks); dn != nil {
		s.countDeniedLocked(key)
		return s.denialError(r, dn)
	}
	return nil
}
