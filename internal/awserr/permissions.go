package awserr

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ecsworker/ecsworker/internal/iampolicy"
)

// Permissions remembers, for one AWS identity, the actions it was refused
// (or that its endpoint does not implement), so that a missing permission
// costs one refused call per process and per RecheckAfter instead of one
// per run, and is reported once, with what the worker loses without it.
// A nil *Permissions remembers nothing: every action is tried.
type Permissions struct {
	recheck time.Duration
	now     func() time.Time
	log     *slog.Logger

	mu      sync.Mutex
	refused map[string]refusal // by qualified action, "ecs:ListTaskDefinitions"
}

type refusal struct {
	at  time.Time
	err error
}

// PermissionOptions configure Permissions.
type PermissionOptions struct {
	// RecheckAfter is how long a refused action is not asked for again;
	// default one hour. IAM changes take effect without a restart, at most
	// this much later.
	RecheckAfter time.Duration
	// Logger gets one warning per refusal (nil: slog.Default()).
	Logger *slog.Logger
	// Now tells the time (nil: time.Now).
	Now func() time.Time
}

// DefaultPermissionRecheck is how long a refused action is not asked for.
const DefaultPermissionRecheck = time.Hour

// NewPermissions returns an empty memory of refusals.
func NewPermissions(o PermissionOptions) *Permissions {
	if o.RecheckAfter <= 0 {
		o.RecheckAfter = DefaultPermissionRecheck
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Permissions{recheck: o.RecheckAfter, now: o.Now, log: o.Logger, refused: map[string]refusal{}}
}

// Refusal returns the error an action was refused with, while that refusal
// is recent enough to be trusted; nil means: try it. scope narrows the
// action to a resource when AWS grants it per resource (a log group): ""
// is the action on anything.
func (p *Permissions) Refusal(action, scope string) error {
	if p == nil {
		return nil
	}
	key := refusalKey(QualifiedAction(action), scope)
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.refused[key]
	if !ok {
		return nil
	}
	if p.now().Sub(r.at) >= p.recheck {
		delete(p.refused, key)
		return nil
	}
	return r.err
}

// Usable reports whether the action is worth calling: it was not refused
// within RecheckAfter.
func (p *Permissions) Usable(action, scope string) bool { return p.Refusal(action, scope) == nil }

// Note records the outcome of a call of action: an unavailable action
// (denied, or unknown to the endpoint) is remembered and reported with its
// cost; any other outcome is ignored. It returns true when err made the
// action unavailable, so that the caller falls back. When the denial
// names another action than the one called (RunTask refused for
// ecs:TagResource), that action is the one remembered.
func (p *Permissions) Note(action, scope string, err error) bool {
	if err == nil || !IsUnavailable(err) {
		return false
	}
	if denied := DeniedAction(err); denied != "" && denied != "?" {
		action = denied
	}
	p.refuse(QualifiedAction(action), scope, err)
	return true
}

// refusalKey is how a refusal is remembered: IAM actions are
// case-insensitive (SQS names them in lower case in its denials).
func refusalKey(action, scope string) string {
	action = strings.ToLower(action)
	if scope == "" {
		return action
	}
	return action + " " + scope
}

func (p *Permissions) refuse(action, scope string, err error) {
	if p == nil {
		return
	}
	key := refusalKey(action, scope)
	p.mu.Lock()
	_, known := p.refused[key]
	p.refused[key] = refusal{at: p.now(), err: err}
	p.mu.Unlock()
	if known {
		return
	}
	cost := "the features that need it are skipped"
	if a, ok := iampolicy.Lookup(action); ok {
		action, cost = a.Name, a.Without
	}
	what := "AWS denied " + action + " to the worker's identity"
	if isUnknownOperation(err) {
		what = "The AWS endpoint does not implement " + action
	}
	if scope != "" {
		what += " on " + scope
	}
	p.log.LogAttrs(context.Background(), slog.LevelWarn, what+"; until it is granted, "+cost+". Asked again in "+p.recheck.String()+" ('ecsworker aws-policy --pool NAME' prints the policy the pool needs)",
		slog.String("action", action), slog.String("err", err.Error()))
}
