package awsfake

import (
	"cmp"
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ecsworker/ecsworker/internal/lazyregexp"
)

// CloudFormation speaks the AWS query protocol (form in, XML out) like STS.
// Stacks live through their operations on the server's clock: each
// resource takes DefaultStackStep to be created, updated or deleted, and
// every change shows as the stack events CloudFormation would write, so
// that a client following a deploy sees what it would see on AWS.

const cfnXMLNS = "http://cloudformation.amazonaws.com/doc/2010-05-15/"

// DefaultStackStep is how long each resource of a stack operation takes
// on the server's clock, and how long a change set takes to be created.
const DefaultStackStep = 2 * time.Second

func cfnService() *service {
	return &service{name: "cloudformation", wire: wireQuery, version: "2010-05-15", ops: map[string]op{
		"CreateStack":         {run: (*Server).cfnCreateStack},
		"UpdateStack":         {run: (*Server).cfnUpdateStack},
		"DeleteStack":         {run: (*Server).cfnDeleteStack},
		"DescribeStacks":      {run: (*Server).cfnDescribeStacks},
		"DescribeStackEvents": {run: (*Server).cfnDescribeStackEvents},
		"ListStacks":          {run: (*Server).cfnListStacks},
		"CreateChangeSet":     {run: (*Server).cfnCreateChangeSet},
		"DescribeChangeSet":   {run: (*Server).cfnDescribeChangeSet},
		"ExecuteChangeSet":    {run: (*Server).cfnExecuteChangeSet},
		"DeleteChangeSet":     {run: (*Server).cfnDeleteChangeSet},
		"ValidateTemplate":    {run: (*Server).cfnValidateTemplate},
		"GetTemplate":         {run: (*Server).cfnGetTemplate},
	}}
}

// cfnStates holds each server's CloudFormation state beside it, keyed by
// server, so that the service plugs into the shared Server with its
// registration alone.
var cfnStates sync.Map // *Server -> *cfnState

type cfnState struct {
	stacks   []*cfnStack // deleted ones too, as CloudFormation keeps them 90 days
	step     time.Duration
	failNext []cfnFailure
}

type cfnFailure struct{ logicalID, reason string }

func (s *Server) cfnLocked() *cfnState {
	if v, ok := cfnStates.Load(s); ok {
		return v.(*cfnState)
	}
	v, _ := cfnStates.LoadOrStore(s, &cfnState{step: DefaultStackStep})
	return v.(*cfnState)
}

type cfnTag struct{ key, value string }

type cfnOutput struct{ key, value, description string }

type cfnEvent struct {
	id, logical, physical, typ, status, reason string
	at                                         time.Time
}

type cfnStack struct {
	name, id       string
	status, reason string
	description    string
	created        time.Time
	updated        time.Time
	deleted        time.Time
	tmpl           *cfnTemplate
	params         map[string]paramValue
	tags           []cfnTag
	capabilities   []string
	resources      []*cfnResolved
	outputs        []cfnOutput
	events         []*cfnEvent
	op             *cfnOp
	changeSets     []*cfnChangeSet
}

// cfnOp is an operation under way: its steps happen at set times and are
// applied when the clock passes them.
type cfnOp struct {
	steps []cfnStep
	next  int
}

type cfnStep struct {
	at          time.Time
	ev          *cfnEvent
	stackStatus string
	stackReason string
	apply       func()
}

// cfnPlan is the state a stack operation leads to.
type cfnPlan struct {
	tmpl         *cfnTemplate
	params       map[string]paramValue
	tags         []cfnTag
	capabilities []string
	resources    []*cfnResolved
	outputs      []cfnOutput
	changes      []cfnChange
}

type cfnChange struct{ action, logical, typ, physical, replacement string }

type cfnChangeSet struct {
	name, id, description, typ string
	stack                      *cfnStack
	created                    time.Time
	plan                       *cfnPlan
	failReason                 string
	execStatus                 string // set once executed
}

// FailNextStack makes the next stack create or update fail on the
// resource logicalID with reason, and roll back, with the events
// CloudFormation writes: CREATE_FAILED (or UPDATE_FAILED) on it, then the
// rollback of what was done. A logical ID the operation does not have
// fails its first resource.
func (s *Server) FailNextStack(logicalID, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.cfnLocked()
	st.failNext = append(st.failNext, cfnFailure{logicalID, reason})
}

// SetStackStep changes how long each resource of a stack operation takes
// on the server's clock (DefaultStackStep).
func (s *Server) SetStackStep(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfnLocked().step = max(d, time.Millisecond)
}

// StackView is a stack as tests inspect it.
type StackView struct {
	Name, ID, Status, StatusReason string
	// Parameters include NoEcho values, so that tests can check where a
	// secret went.
	Parameters   map[string]string
	Tags         map[string]string
	Outputs      map[string]string
	Capabilities []string
	Template     string
	Resources    []StackResourceView
}

// StackResourceView is a resource with its properties as CloudFormation
// resolved them (intrinsic functions applied, AWS::NoValue removed).
type StackResourceView struct {
	LogicalID, Type, PhysicalID string
	Properties                  any
}

// Stack returns a stack by name (not deleted) or ID, brought up to the
// clock.
func (s *Server) Stack(nameOrID string) (StackView, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceCFNLocked()
	st := s.findStackLocked(nameOrID)
	if st == nil {
		return StackView{}, false
	}
	v := StackView{Name: st.name, ID: st.id, Status: st.status, StatusReason: st.reason,
		Parameters: map[string]string{}, Tags: map[string]string{}, Outputs: map[string]string{},
		Capabilities: slices.Clone(st.capabilities)}
	for k, p := range st.params {
		v.Parameters[k] = p.value
	}
	for _, t := range st.tags {
		v.Tags[t.key] = t.value
	}
	for _, o := range st.outputs {
		v.Outputs[o.key] = o.value
	}
	if st.tmpl != nil {
		v.Template = st.tmpl.body
	}
	for _, r := range st.resources {
		v.Resources = append(v.Resources, StackResourceView{LogicalID: r.name, Type: r.typ, PhysicalID: r.physical, Properties: r.properties})
	}
	return v, true
}

// Resource returns a resource of the view by logical ID.
func (v StackView) Resource(logicalID string) (StackResourceView, bool) {
	for _, r := range v.Resources {
		if r.LogicalID == logicalID {
			return r, true
		}
	}
	return StackResourceView{}, false
}

// findStackLocked finds a stack by ID (deleted or not) or by name (live
// ones only), as CloudFormation resolves StackName.
func (s *Server) findStackLocked(nameOrID string) *cfnStack {
	st := s.cfnLocked()
	if strings.HasPrefix(nameOrID, "arn:") {
		for _, x := range st.stacks {
			if x.id == nameOrID {
				return x
			}
		}
		return nil
	}
	for _, x := range st.stacks {
		if x.name == nameOrID && x.deleted.IsZero() {
			return x
		}
	}
	return nil
}

// advanceCFNLocked applies every step whose time has come.
func (s *Server) advanceCFNLocked() {
	now := s.now()
	for _, st := range s.cfnLocked().stacks {
		for st.op != nil {
			op := st.op
			if op.next >= len(op.steps) {
				st.op = nil
				break
			}
			step := op.steps[op.next]
			if step.at.After(now) {
				break
			}
			op.next++
			if step.ev != nil {
				st.events = append(st.events, step.ev)
			}
			if step.stackStatus != "" {
				st.status, st.reason = step.stackStatus, step.stackReason
			}
			if step.apply != nil {
				step.apply()
			}
			if op.next >= len(op.steps) && st.op == op {
				st.op = nil
			}
		}
	}
}

// --- request parsing ---

type cfnParamInput struct {
	key, value  string
	usePrevious bool
}

// members reads a query list of structures: Name.member.N.Field.
func members(form url.Values, name string) []map[string]string {
	var out []map[string]string
	for i := 1; ; i++ {
		prefix := fmt.Sprintf("%s.member.%d.", name, i)
		m := map[string]string{}
		for k, v := range form {
			if f, ok := strings.CutPrefix(k, prefix); ok && len(v) > 0 {
				m[f] = v[0]
			}
		}
		if len(m) == 0 {
			return out
		}
		out = append(out, m)
	}
}

// memberList reads a query list of strings: Name.member.N.
func memberList(form url.Values, name string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := form[fmt.Sprintf("%s.member.%d", name, i)]
		if !ok || len(v) == 0 {
			return out
		}
		out = append(out, v[0])
	}
}

func cfnParams(form url.Values) []cfnParamInput {
	var out []cfnParamInput
	for _, m := range members(form, "Parameters") {
		out = append(out, cfnParamInput{key: m["ParameterKey"], value: m["ParameterValue"], usePrevious: m["UsePreviousValue"] == "true"})
	}
	return out
}

func cfnTags(form url.Values) ([]cfnTag, *apiError) {
	var out []cfnTag
	for _, m := range members(form, "Tags") {
		k := m["Key"]
		if k == "" || strings.HasPrefix(strings.ToLower(k), "aws:") {
			return nil, newErr(400, "ValidationError", "Invalid tag key %q: keys may not be empty or start with aws:", k)
		}
		out = append(out, cfnTag{k, m["Value"]})
	}
	if len(out) > 50 {
		return nil, newErr(400, "ValidationError", "1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50")
	}
	return out, nil
}

var (
	stackNameRE     = lazyregexp.New(`^[A-Za-z][A-Za-z0-9-]{0,127}$`)
	changeSetNameRE = lazyregexp.New(`^[A-Za-z][-A-Za-z0-9]{0,127}$`)
)

func stackNotFound(name string) *apiError {
	return newErr(400, "ValidationError", "Stack with id %s does not exist", name)
}

// --- planning ---

func (s *Server) pseudoLocked(st *cfnStack) map[string]string {
	return map[string]string{
		"AWS::AccountId": s.opts.AccountID, "AWS::Partition": "aws", "AWS::Region": s.opts.Region,
		"AWS::StackId": st.id, "AWS::StackName": st.name, "AWS::URLSuffix": "amazonaws.com", "AWS::NotificationARNs": "",
	}
}

// planLocked resolves a template for a stack: which resources exist,
// their properties and physical IDs (kept for resources that stay), the
// outputs, and the changes from the stack's current state.
func (s *Server) planLocked(st *cfnStack, t *cfnTemplate, params map[string]paramValue, tags []cfnTag, caps []string) (*cfnPlan, *apiError) {
	e := newCFNEval(t, params, s.pseudoLocked(st))
	order, err := e.order()
	if err != nil {
		return nil, err
	}
	old := map[string]*cfnResolved{}
	for _, r := range st.resources {
		old[r.name] = r
	}
	p := &cfnPlan{tmpl: t, params: params, tags: tags, capabilities: caps}
	tagsChanged := !slices.Equal(tags, st.tags)
	for _, def := range order {
		props, err := e.value(def.properties)
		if err != nil {
			return nil, err
		}
		if props == noValue {
			props = nil
		}
		if _, err := e.value(def.metadata); err != nil {
			return nil, err
		}
		var r *cfnResolved
		if o := old[def.name]; o != nil && o.typ == def.typ {
			r = &cfnResolved{name: def.name, typ: def.typ, physical: o.physical, attrs: o.attrs, properties: props, deletionPolicy: def.deletionPolicy}
			if tagsChanged || !reflect.DeepEqual(o.properties, props) {
				p.changes = append(p.changes, cfnChange{action: "Modify", logical: def.name, typ: def.typ, physical: o.physical, replacement: "False"})
			}
		} else {
			r = s.materializeLocked(st.name, def.name, def.typ, props)
			r.deletionPolicy = def.deletionPolicy
			p.changes = append(p.changes, cfnChange{action: "Add", logical: def.name, typ: def.typ})
		}
		e.resources[def.name] = r
		// What the service's handler refuses, found only when the
		// resource is created or updated (invalidChange).
		r.invalid = cmp.Or(s.checkCapacityResourceLocked(st.id, r, e.resources), dashboardProblem(def.typ, props))
		p.resources = append(p.resources, r)
	}
	for _, o := range st.resources {
		if _, kept := e.resources[o.name]; !kept {
			p.changes = append(p.changes, cfnChange{action: "Remove", logical: o.name, typ: o.typ, physical: o.physical})
		}
	}
	for _, od := range t.outputs {
		if od.condition != "" {
			ok, err := e.condition(od.condition)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
		}
		v, err := e.value(od.value)
		if err != nil {
			return nil, err
		}
		if _, isStr := v.(string); !isStr {
			return nil, templateError("The Value of output %s must be a string, not %T", od.name, v)
		}
		p.outputs = append(p.outputs, cfnOutput{key: od.name, value: v.(string), description: od.description})
	}
	return p, nil
}

// unchanged tells a plan that would change nothing at all.
func (st *cfnStack) unchanged(p *cfnPlan) bool {
	if len(p.changes) > 0 || st.tmpl == nil || !slices.Equal(p.tags, st.tags) || !maps.Equal(p.params, st.params) {
		return false
	}
	return st.tmpl.body == p.tmpl.body
}

// --- operations on the clock ---

type opBuilder struct {
	s     *Server
	at    time.Time
	half  time.Duration
	steps []cfnStep
	first bool
}

func (s *Server) newOpLocked() *opBuilder {
	return &opBuilder{s: s, at: s.now(), half: s.cfnLocked().step / 2, first: true}
}

func (b *opBuilder) tick() {
	if b.first {
		b.first = false
		return
	}
	b.at = b.at.Add(b.half)
}

func (b *opBuilder) stack(st *cfnStack, status, reason string) {
	b.tick()
	b.steps = append(b.steps, cfnStep{at: b.at, stackStatus: status, stackReason: reason,
		ev: &cfnEvent{id: b.s.newUUIDLocked(), logical: st.name, physical: st.id, typ: "AWS::CloudFormation::Stack", status: status, reason: reason, at: b.at}})
}

func (b *opBuilder) res(logical, typ, physical, status, reason string) {
	b.tick()
	b.steps = append(b.steps, cfnStep{at: b.at,
		ev: &cfnEvent{id: logical + "-" + status + "-" + b.at.UTC().Format("2006-01-02T15:04:05.000Z"), logical: logical, physical: physical, typ: typ, status: status, reason: reason, at: b.at}})
}

// then runs fn with the last step.
func (b *opBuilder) then(fn func()) {
	last := &b.steps[len(b.steps)-1]
	prev := last.apply
	last.apply = func() {
		if prev != nil {
			prev()
		}
		fn()
	}
}

func (b *opBuilder) start(st *cfnStack) {
	st.op = &cfnOp{steps: b.steps}
	b.s.advanceCFNLocked()
}

func (s *Server) takeFailureLocked() *cfnFailure {
	st := s.cfnLocked()
	if len(st.failNext) == 0 {
		return nil
	}
	f := st.failNext[0]
	st.failNext = st.failNext[1:]
	return &f
}

func (st *cfnStack) commit(p *cfnPlan) {
	st.tmpl, st.params, st.tags, st.capabilities = p.tmpl, p.params, p.tags, p.capabilities
	st.resources, st.outputs = p.resources, p.outputs
	st.description = p.tmpl.description
}

// invalidChange is the first added or modified resource its service
// would refuse, as a failure of the operation.
func invalidChange(p *cfnPlan) *cfnFailure {
	byName := map[string]*cfnResolved{}
	for _, r := range p.resources {
		byName[r.name] = r
	}
	for _, c := range p.changes {
		if r := byName[c.logical]; c.action != "Remove" && r != nil && r.invalid != "" {
			return &cfnFailure{logicalID: r.name, reason: r.invalid}
		}
	}
	return nil
}

// failTarget picks the change an injected failure hits.
func failTarget(changes []cfnChange, p *cfnPlan, f *cfnFailure) (int, []cfnChange) {
	for i, c := range changes {
		if c.logical == f.logicalID && c.action != "Remove" {
			return i, changes
		}
	}
	for _, r := range p.resources {
		if r.name == f.logicalID {
			changes = append(slices.Clone(changes), cfnChange{action: "Modify", logical: r.name, typ: r.typ, physical: r.physical})
			return len(changes) - 1, changes
		}
	}
	for i, c := range changes {
		if c.action != "Remove" {
			return i, changes
		}
	}
	if len(p.resources) > 0 {
		r := p.resources[0]
		changes = append(slices.Clone(changes), cfnChange{action: "Modify", logical: r.name, typ: r.typ, physical: r.physical})
		return len(changes) - 1, changes
	}
	return -1, changes
}

// scheduleCreateLocked plays a stack creation: each resource in order,
// then CREATE_COMPLETE; or, with an injected failure, the failure and
// the rollback to ROLLBACK_COMPLETE.
func (s *Server) scheduleCreateLocked(st *cfnStack, p *cfnPlan, done func(ok bool)) {
	b := s.newOpLocked()
	st.tmpl, st.params, st.tags, st.capabilities, st.description = p.tmpl, p.params, p.tags, p.capabilities, p.tmpl.description
	b.stack(st, "CREATE_IN_PROGRESS", "User Initiated")
	fail := s.takeFailureLocked()
	if fail == nil {
		fail = invalidChange(p)
	}
	failAt := -1
	changes := p.changes
	if fail != nil {
		failAt, changes = failTarget(changes, p, fail)
	}
	byName := map[string]*cfnResolved{}
	for _, r := range p.resources {
		byName[r.name] = r
	}
	var created []*cfnResolved
	for i, c := range changes {
		r := byName[c.logical]
		b.res(r.name, r.typ, "", "CREATE_IN_PROGRESS", "")
		if i == failAt {
			b.res(r.name, r.typ, "", "CREATE_FAILED", fail.reason)
			b.stack(st, "ROLLBACK_IN_PROGRESS", fmt.Sprintf("The following resource(s) failed to create: [%s]. Rollback requested by user.", r.name))
			for j := len(created) - 1; j >= 0; j-- {
				c := created[j]
				if c.deletionPolicy == "Retain" {
					b.res(c.name, c.typ, c.physical, "DELETE_SKIPPED", "")
					continue
				}
				b.res(c.name, c.typ, c.physical, "DELETE_IN_PROGRESS", "")
				b.res(c.name, c.typ, c.physical, "DELETE_COMPLETE", "")
				b.then(func() { s.unapplyCapacityResourceLocked(st.id, c) })
			}
			b.res(r.name, r.typ, "", "DELETE_COMPLETE", "")
			b.stack(st, "ROLLBACK_COMPLETE", "")
			b.then(func() { st.resources, st.outputs = nil, nil; done(false) })
			b.start(st)
			return
		}
		b.res(r.name, r.typ, r.physical, "CREATE_COMPLETE", "")
		b.then(func() { s.applyCapacityResourceLocked(st.id, r) })
		created = append(created, r)
	}
	b.stack(st, "CREATE_COMPLETE", "")
	b.then(func() { st.commit(p); done(true) })
	b.start(st)
}

// scheduleUpdateLocked plays an update: additions and modifications, the
// cleanup of removed resources, UPDATE_COMPLETE; or the failure and the
// rollback to UPDATE_ROLLBACK_COMPLETE, leaving the stack as it was.
func (s *Server) scheduleUpdateLocked(st *cfnStack, p *cfnPlan, done func(ok bool)) {
	b := s.newOpLocked()
	st.updated = b.at
	b.stack(st, "UPDATE_IN_PROGRESS", "User Initiated")
	fail := s.takeFailureLocked()
	if fail == nil {
		fail = invalidChange(p)
	}
	failAt := -1
	changes := p.changes
	if fail != nil {
		failAt, changes = failTarget(changes, p, fail)
	}
	byName := map[string]*cfnResolved{}
	for _, r := range p.resources {
		byName[r.name] = r
	}
	var doneChanges []cfnChange
	for i, c := range changes {
		if c.action == "Remove" {
			continue
		}
		r := byName[c.logical]
		verb := "UPDATE"
		if c.action == "Add" {
			verb = "CREATE"
		}
		b.res(r.name, r.typ, c.physical, verb+"_IN_PROGRESS", "")
		if i == failAt {
			b.res(r.name, r.typ, c.physical, verb+"_FAILED", fail.reason)
			b.stack(st, "UPDATE_ROLLBACK_IN_PROGRESS", fmt.Sprintf("The following resource(s) failed to %s: [%s]. ", strings.ToLower(verb), r.name))
			var added []cfnChange
			for j := len(doneChanges) - 1; j >= 0; j-- {
				d := doneChanges[j]
				if d.action == "Add" {
					added = append(added, d)
					continue
				}
				b.res(d.logical, d.typ, d.physical, "UPDATE_IN_PROGRESS", "")
				b.res(d.logical, d.typ, d.physical, "UPDATE_COMPLETE", "")
			}
			b.stack(st, "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", "")
			for _, a := range added {
				ar := byName[a.logical]
				b.res(ar.name, ar.typ, ar.physical, "DELETE_IN_PROGRESS", "")
				b.res(ar.name, ar.typ, ar.physical, "DELETE_COMPLETE", "")
				b.then(func() { s.unapplyCapacityResourceLocked(st.id, ar) })
			}
			b.stack(st, "UPDATE_ROLLBACK_COMPLETE", "")
			b.then(func() { done(false) })
			b.start(st)
			return
		}
		b.res(r.name, r.typ, r.physical, verb+"_COMPLETE", "")
		b.then(func() { s.applyCapacityResourceLocked(st.id, r) })
		doneChanges = append(doneChanges, cfnChange{action: c.action, logical: r.name, typ: r.typ, physical: r.physical})
	}
	b.stack(st, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "")
	for i := len(st.resources) - 1; i >= 0; i-- {
		o := st.resources[i]
		if _, kept := byName[o.name]; kept {
			continue
		}
		if o.deletionPolicy == "Retain" {
			b.res(o.name, o.typ, o.physical, "DELETE_SKIPPED", "")
			continue
		}
		b.res(o.name, o.typ, o.physical, "DELETE_IN_PROGRESS", "")
		b.res(o.name, o.typ, o.physical, "DELETE_COMPLETE", "")
		b.then(func() { s.unapplyCapacityResourceLocked(st.id, o) })
	}
	b.stack(st, "UPDATE_COMPLETE", "")
	b.then(func() { st.commit(p); done(true) })
	b.start(st)
}

// scheduleDeleteLocked plays a deletion, newest resource first; retained
// resources are skipped and stay in the account.
func (s *Server) scheduleDeleteLocked(st *cfnStack) {
	b := s.newOpLocked()
	b.stack(st, "DELETE_IN_PROGRESS", "User Initiated")
	for i := len(st.resources) - 1; i >= 0; i-- {
		r := st.resources[i]
		if r.deletionPolicy == "Retain" {
			b.res(r.name, r.typ, r.physical, "DELETE_SKIPPED", "")
			continue
		}
		b.res(r.name, r.typ, r.physical, "DELETE_IN_PROGRESS", "")
		b.res(r.name, r.typ, r.physical, "DELETE_COMPLETE", "")
		b.then(func() { s.unapplyCapacityResourceLocked(st.id, r) })
	}
	b.stack(st, "DELETE_COMPLETE", "")
	at := b.at
	b.then(func() {
		st.deleted = at
		st.resources, st.outputs, st.changeSets = nil, nil, nil
	})
	b.start(st)
}

// --- handlers ---

// prepareLocked validates a template, its capabilities and parameters.
func (s *Server) prepareLocked(form url.Values, st *cfnStack) (*cfnTemplate, map[string]paramValue, []cfnTag, []string, *apiError) {
	body := form.Get("TemplateBody")
	if form.Get("UsePreviousTemplate") == "true" {
		if st == nil || st.tmpl == nil {
			return nil, nil, nil, nil, newErr(400, "ValidationError", "UsePreviousTemplate is true but the stack has no previous template")
		}
		body = st.tmpl.body
	}
	if body == "" {
		if form.Get("TemplateURL") != "" {
			return nil, nil, nil, nil, newErr(400, "ValidationError", "TemplateURL is not supported by this fake; send TemplateBody")
		}
		return nil, nil, nil, nil, newErr(400, "ValidationError", "Either Template URL or Template Body must be specified.")
	}
	t, e := parseCFNTemplate(body)
	if e != nil {
		return nil, nil, nil, nil, e
	}
	caps := memberList(form, "Capabilities")
	if need := t.requiredCapability(); need != "" && !slices.Contains(caps, need) && !(need == "CAPABILITY_IAM" && slices.Contains(caps, "CAPABILITY_NAMED_IAM")) { //nolint:staticcheck // QF1001: the exception reads as one
		return nil, nil, nil, nil, newErr(400, "InsufficientCapabilitiesException", "Requires capabilities : [%s]", need)
	}
	var prev map[string]paramValue
	if st != nil {
		prev = st.params
	}
	params, e := s.resolveParamsLocked(t, cfnParams(form), prev)
	if e != nil {
		return nil, nil, nil, nil, e
	}
	tags, e := cfnTags(form)
	if e != nil {
		return nil, nil, nil, nil, e
	}
	if _, ok := form["Tags"]; !ok && st != nil && len(members(form, "Tags")) == 0 {
		// UpdateStack without Tags keeps the stack's tags.
		tags = st.tags
	}
	return t, params, tags, caps, nil
}

func (s *Server) newStackLocked(name string) *cfnStack {
	st := &cfnStack{name: name, created: s.now(),
		id: fmt.Sprintf("arn:aws:cloudformation:%s:%s:stack/%s/%s", s.opts.Region, s.opts.AccountID, name, s.newUUIDLocked())}
	s.cfnLocked().stacks = append(s.cfnLocked().stacks, st)
	return st
}

func (s *Server) cfnCreateStack(r *request) (any, *apiError) {
	s.advanceCFNLocked()
	name := r.form.Get("StackName")
	if !stackNameRE().MatchString(name) {
		return nil, newErr(400, "ValidationError", "1 validation error detected: Value '%s' at 'stackName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*", name)
	}
	if s.findStackLocked(name) != nil {
		return nil, newErr(400, "AlreadyExistsException", "Stack [%s] already exists", name)
	}
	t, params, tags, caps, e := s.prepareLocked(r.form, nil)
	if e != nil {
		return nil, e
	}
	st := s.newStackLocked(name)
	p, e := s.planLocked(st, t, params, tags, caps)
	if e != nil {
		s.dropStackLocked(st)
		return nil, e
	}
	s.scheduleCreateLocked(st, p, func(bool) {})
	return cfnStackIDResponse{XMLName: xmlName("CreateStackResponse"), Xmlns: cfnXMLNS, Result: cfnStackIDResult{XMLName: xmlName("CreateStackResult"), StackID: st.id}, Meta: cfnMeta{r.id}}, nil
}

func (s *Server) dropStackLocked(st *cfnStack) {
	cs := s.cfnLocked()
	cs.stacks = slices.DeleteFunc(cs.stacks, func(x *cfnStack) bool { return x == st })
}

func notUpdatable(st *cfnStack) *apiError {
	return newErr(400, "ValidationError", "Stack:%s is in %s state and can not be updated.", st.id, st.status)
}

func updatable(st *cfnStack) bool {
	switch st.status {
	case "CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE":
		return true
	}
	return false
}

func (s *Server) cfnUpdateStack(r *request) (any, *apiError) {
	s.advanceCFNLocked()
	name := r.form.Get("StackName")
	st := s.findStackLocked(name)
	if st == nil || !st.deleted.IsZero() {
		return nil, stackNotFound(name)
	}
	if !updatable(st) {
		return nil, notUpdatable(st)
	}
	t, params, tags, caps, e := s.prepareLocked(r.form, st)
	if e != nil {
		return nil, e
	}
	p, e := s.planLocked(st, t, params, tags, caps)
	if e != nil {
		return nil, e
	}
	if st.unchanged(p) {
		return nil, newErr(400, "ValidationError", "No updates are to be performed.")
	}
	s.scheduleUpdateLocked(st, p, func(bool) {})
	return cfnStackIDResponse{XMLName: xmlName("UpdateStackResponse"), Xmlns: cfnXMLNS, Result: cfnStackIDResult{XMLName: xmlName("UpdateStackResult"), StackID: st.id}, Meta: cfnMeta{r.id}}, nil
}

func (s *Server) cfnDeleteStack(r *request) (any, *apiError) {
	s.advanceCFNLocked()
	name := r.form.Get("StackName")
	st := s.findStackLocked(name)
	// Deleting a stack that does not exist succeeds, as on AWS.
	if st != nil && st.deleted.IsZero() && st.status != "DELETE_IN_PROGRESS" {
		if strings.HasSuffix(st.status, "_IN_PROGRESS") && st.status != "REVIEW_IN_PROGRESS" {
			return nil, newErr(400, "ValidationError", "Stack [%s] cannot be deleted while in status %s", st.name, st.status)
		}
		s.scheduleDeleteLocked(st)
	}
	return cfnEmptyResponse{XMLName: xmlName("DeleteStackResponse"), Xmlns: cfnXMLNS, Meta: cfnMeta{r.id}}, nil
}

func (s *Server) cfnDescribeStacks(r *request) (any, *apiError) {
	s.advanceCFNLocked()
	var list []*cfnStack
	if name := r.form.Get("StackName"); name != "" {
		st := s.findStackLocked(name)
		if st == nil {
			return nil, stackNotFound(name)
		}
		list = []*cfnStack{st}
	} else {
		for _, st := range s.cfnLocked().stacks {
			if st.deleted.IsZero() {
				list = append(list, st)
			}
		}
	}
	items, next, perr := cfnPage(list, r)
	if perr != nil {
		return nil, perr
	}
	out := cfnDescribeStacksResponse{Xmlns: cfnXMLNS, Meta: cfnMeta{r.id}}
	out.Result.NextToken = next
	for _, st := range items {
		out.Result.Stacks = append(out.Result.Stacks, stackXML(st))
	}
	return out, nil
}

// cfnPage is one page of a CloudFormation list (100 items, as
// DescribeStacks, DescribeStackEvents and ListStacks give them).
func cfnPage[T any](items []T, r *request) ([]T, string, *apiError) {
	out, next, ok := page(items, r.form.Get("NextToken"), 0, 100, 100)
	if !ok {
		return nil, "", newErr(400, "ValidationError", "Invalid NextToken")
	}
	return out, next, nil
}

func cfnTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

func stackXML(st *cfnStack) cfnStackXML {
	x := cfnStackXML{StackID: st.id, StackName: st.name, Description: st.description, StackStatus: st.status,
		StackStatusReason: st.reason, CreationTime: cfnTime(st.created), LastUpdatedTime: cfnTime(st.updated),
		DeletionTime: cfnTime(st.deleted), Capabilities: st.capabilities, DisableRollback: false}
	if st.tmpl != nil {
		for _, p := range st.tmpl.params {
			pv, ok := st.params[p.name]
			if !ok {
				continue
			}
			v := pv.value
			if pv.noEcho {
				v = "****"
			}
			x.Parameters = append(x.Parameters, cfnParamXML{Key: p.name, Value: v})
		}
	}
	for _, o := range st.outputs {
		x.Outputs = append(x.Outputs, cfnOutputXML{Key: o.key, Value: o.value, Description: o.description})
	}
	for _, t := range st.tags {
		x.Tags = append(x.Tags, cfnTagXML{Key: t.key, Value: t.value})
	}
	return x
}

func (s *Server) cfnDescribeStackEvents(r *request) (any, *apiError) {
	s.advanceCFNLocked()
	name := r.form.Get("StackName")
	st := s.findStackLocked(name)
	if st == nil {
		return nil, stackNotFound(name)
	}
	newest := slices.Clone(st.events)
	slices.Reverse(newest)
	items, next, perr := cfnPage(newest, r)
	if perr != nil {
		return nil, perr
	}
	out := cfnDescribeStackEventsResponse{Xmlns: cfnXMLNS, Meta: cfnMeta{r.id}}
	out.Result.NextToken = next
	for _, e := range items {
		out.Result.Events = append(out.Result.Events, cfnEventXML{StackID: st.id, StackName: st.name, EventID: e.id,
			LogicalResourceID: e.logical, PhysicalResourceID: e.physical, ResourceType: e.typ, Timestamp: cfnTime(e.at),
			ResourceStatus: e.status, ResourceStatusReason: e.reason})
	}
	return out, nil
}

func (s *Server) cfnListStacks(r *request) (any, *apiError) {
	s.advanceCFNLocked()
	filter := memberList(r.form, "StackStatusFilter")
	var list []*cfnStack
	for _, st := range s.cfnLocked().stacks {
		if len(filter) == 0 || slices.Contains(filter, st.status) {
			list = append(list, st)
		}
	}
	items, next, perr := cfnPage(list, r)
	if perr != nil {
		return nil, perr
	}
	out := cfnListStacksResponse{Xmlns: cfnXMLNS, Meta: cfnMeta{r.id}}
	out.Result.NextToken = next
	for _, st := range items {
		out.Result.Summaries = append(out.Result.Summaries, cfnStackSummaryXML{StackID: st.id, StackName: st.name,
			TemplateDescription: st.description, CreationTime: cfnTime(st.created), LastUpdatedTime: cfnTime(st.updated),
			DeletionTime: cfnTime(st.deleted), StackStatus: st.status, StackStatusReason: st.reason})
	}
	return out, nil
}

// findChangeSetLocked resolves ChangeSetName (an ARN, or a name with
// StackName) as CloudFormation does.
func (s *Server) findChangeSetLocked(form url.Values) (*cfnChangeSet, *apiError) {
	name := form.Get("ChangeSetName")
	if strings.HasPrefix(name, "arn:") {
		for _, st := range s.cfnLocked().stacks {
			for _, cs := range st.changeSets {
				if cs.id == name {
					return cs, nil
				}
			}
		}
		return nil, newErr(404, "ChangeSetNotFound", "ChangeSet [%s] does not exist", name)
	}
	stackName := form.Get("StackName")
	if stackName == "" {
		return nil, newErr(400, "ValidationError", "StackName must be specified if ChangeSetName is not specified as an ARN.")
	}
	st := s.findStackLocked(stackName)
	if st == nil {
		return nil, newErr(404, "ChangeSetNotFound", "ChangeSet [%s] does not exist", name)
	}
	for _, cs := range st.changeSets {
		if cs.name == name {
			return cs, nil
		}
	}
	return nil, newErr(404, "ChangeSetNotFound", "ChangeSet [%s] does not exist", name)
}

// status is the change set's status on the clock: creating for one step,
// then complete or failed.
func (s *Server) changeSetStatusLocked(cs *cfnChangeSet) (status, exec, reason string) {
	if cs.execStatus != "" {
		return "CREATE_COMPLETE", cs.execStatus, ""
	}
	if s.now().Before(cs.created.Add(s.cfnLocked().step)) {
		return "CREATE_IN_PROGRESS", "UNAVAILABLE", ""
	}
	if cs.plan == nil {
		return "FAILED", "UNAVAILABLE", cs.failReason
	}
	return "CREATE_COMPLETE", "AVAILABLE", ""
}

func (s *Server) cfnCreateChangeSet(r *request) (any, *apiError) {
	s.advanceCFNLocked()
	name, csName := r.form.Get("StackName"), r.form.Get("ChangeSetName")
	if !stackNameRE().MatchString(name) {
		return nil, newErr(400, "ValidationError", "1 validation error detected: Value '%s' at 'stackName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*", name)
	}
	if !changeSetNameRE().MatchString(csName) {
		return nil, newErr(400, "ValidationError", "1 validation error detected: Value '%s' at 'changeSetName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*", csName)
	}
	typ := r.form.Get("ChangeSetType")
	if typ == "" {
		typ = "UPDATE"
	}
	st := s.findStackLocked(name)
	switch typ {
	case "CREATE":
		if st != nil && st.status != "REVIEW_IN_PROGRESS" {
			return nil, newErr(400, "AlreadyExistsException", "Stack [%s] already exists and cannot be created again with the changeSet [%s].", name, csName)
		}
	case "UPDATE":
		if st == nil {
			return nil, newErr(400, "ValidationError", "Stack [%s] does not exist", name)
		}
		if !updatable(st) {
			return nil, notUpdatable(st)
		}
	default:
		return nil, newErr(400, "ValidationError", "ChangeSetType %s is not supported by this fake; use CREATE or UPDATE", typ)
	}
	if st != nil {
		for _, cs := range st.changeSets {
			if cs.name == csName {
				return nil, newErr(400, "AlreadyExistsException", "ChangeSet [%s] already exists", csName)
			}
		}
	}
	t, params, tags, caps, e := s.prepareLocked(r.form, st)
	if e != nil {
		return nil, e
	}
	if st == nil {
		st = s.newStackLocked(name)
		st.status = "REVIEW_IN_PROGRESS"
		st.reason = "User Initiated"
		st.events = append(st.events, &cfnEvent{id: s.newUUIDLocked(), logical: name, physical: st.id, typ: "AWS::CloudFormation::Stack",
			status: "REVIEW_IN_PROGRESS", reason: "User Initiated", at: s.now()})
	}
	cs := &cfnChangeSet{name: csName, typ: typ, stack: st, created: s.now(), description: r.form.Get("Description"),
		id: fmt.Sprintf("arn:aws:cloudformation:%s:%s:changeSet/%s/%s", s.opts.Region, s.opts.AccountID, csName, s.newUUIDLocked())}
	p, e := s.planLocked(st, t, params, tags, caps)
	switch {
	case e != nil:
		cs.failReason = e.message
	case typ == "UPDATE" && st.unchanged(p):
		cs.failReason = "The submitted information didn't contain changes. Submit different information to create a change set."
	default:
		cs.plan = p
	}
	st.changeSets = append(st.changeSets, cs)
	return cfnCreateChangeSetResponse{Xmlns: cfnXMLNS, ID: cs.id, StackID: st.id, Meta: cfnMeta{r.id}}, nil
}

func (s *Server) cfnDescribeChangeSet(r *request) (any, *apiError) {
	s.advanceCFNLocked()
	cs, e := s.findChangeSetLocked(r.form)
	if e != nil {
		return nil, e
	}
	status, exec, reason := s.changeSetStatusLocked(cs)
	out := cfnDescribeChangeSetResponse{Xmlns: cfnXMLNS, Meta: cfnMeta{r.id}}
	res := &out.Result
	res.ChangeSetName, res.ChangeSetID, res.StackID, res.StackName = cs.name, cs.id, cs.stack.id, cs.stack.name
	res.Description, res.CreationTime = cs.description, cfnTime(cs.created)
	res.Status, res.ExecutionStatus, res.StatusReason = status, exec, reason
	if cs.plan != nil && status == "CREATE_COMPLETE" {
		res.Capabilities = cs.plan.capabilities
		for _, p := range cs.plan.tmpl.params {
			pv := cs.plan.params[p.name]
			v := pv.value
			if pv.noEcho {
				v = "****"
			}
			res.Parameters = append(res.Parameters, cfnParamXML{Key: p.name, Value: v})
		}
		for _, t := range cs.plan.tags {
			res.Tags = append(res.Tags, cfnTagXML{Key: t.key, Value: t.value})
		}
		for _, c := range cs.plan.changes {
			x := cfnChangeXML{Type: "Resource"}
			x.ResourceChange.Action, x.ResourceChange.LogicalResourceID = c.action, c.logical
			x.ResourceChange.PhysicalResourceID, x.ResourceChange.ResourceType = c.physical, c.typ
			x.ResourceChange.Replacement = c.replacement
			res.Changes = append(res.Changes, x)
		}
	}
	return out, nil
}

func (s *Server) cfnExecuteChangeSet(r *request) (any, *apiError) {
	s.advanceCFNLocked()
	cs, e := s.findChangeSetLocked(r.form)
	if e != nil {
		return nil, e
	}
	status, exec, _ := s.changeSetStatusLocked(cs)
	if exec != "AVAILABLE" {
		return nil, newErr(400, "InvalidChangeSetStatus", "ChangeSet [%s] cannot be executed in its current status of [%s]", cs.id, map[bool]string{true: exec, false: status}[status == "CREATE_COMPLETE"])
	}
	st := cs.stack
	if strings.HasSuffix(st.status, "_IN_PROGRESS") && st.status != "REVIEW_IN_PROGRESS" {
		return nil, newErr(400, "InvalidChangeSetStatus", "ChangeSet [%s] cannot be executed while stack %s is in %s", cs.id, st.name, st.status)
	}
	// Executing a change set removes the stack's other change sets.
	st.changeSets = []*cfnChangeSet{cs}
	cs.execStatus = "EXECUTE_IN_PROGRESS"
	done := func(ok bool) {
		cs.execStatus = map[bool]string{true: "EXECUTE_COMPLETE", false: "EXECUTE_FAILED"}[ok]
	}
	if cs.typ == "CREATE" {
		s.scheduleCreateLocked(st, cs.plan, done)
	} else {
		s.scheduleUpdateLocked(st, cs.plan, done)
	}
	return cfnEmptyResponse{XMLName: xmlName("ExecuteChangeSetResponse"), Xmlns: cfnXMLNS, Result: &cfnEmptyResult{xmlName("ExecuteChangeSetResult")}, Meta: cfnMeta{r.id}}, nil
}

func (s *Server) cfnDeleteChangeSet(r *request) (any, *apiError) {
	s.advanceCFNLocked()
	cs, e := s.findChangeSetLocked(r.form)
	if e != nil {
		return nil, e
	}
	if cs.execStatus == "EXECUTE_IN_PROGRESS" {
		return nil, newErr(400, "InvalidChangeSetStatus", "ChangeSet [%s] cannot be deleted while it is executing", cs.id)
	}
	cs.stack.changeSets = slices.DeleteFunc(cs.stack.changeSets, func(x *cfnChangeSet) bool { return x == cs })
	return cfnEmptyResponse{XMLName: xmlName("DeleteChangeSetResponse"), Xmlns: cfnXMLNS, Result: &cfnEmptyResult{xmlName("DeleteChangeSetResult")}, Meta: cfnMeta{r.id}}, nil
}

func (s *Server) cfnValidateTemplate(r *request) (any, *apiError) {
	body := r.form.Get("TemplateBody")
	if body == "" {
		return nil, newErr(400, "ValidationError", "Either Template URL or Template Body must be specified.")
	}
	t, e := parseCFNTemplate(body)
	if e != nil {
		return nil, e
	}
	out := cfnValidateTemplateResponse{Xmlns: cfnXMLNS, Meta: cfnMeta{r.id}}
	out.Result.Description = t.description
	for _, p := range t.params {
		out.Result.Parameters = append(out.Result.Parameters, cfnTemplateParamXML{Key: p.name, DefaultValue: p.def, NoEcho: p.noEcho, Description: p.description})
	}
	if need := t.requiredCapability(); need != "" {
		out.Result.Capabilities = []string{need}
		var types []string
		for _, r := range t.resources {
			if _, ok := iamTypes[r.typ]; ok && !slices.Contains(types, r.typ) {
				types = append(types, r.typ)
			}
		}
		out.Result.CapabilitiesReason = "The following resource(s) require capabilities: [" + strings.Join(types, ", ") + "]"
	}
	return out, nil
}

func (s *Server) cfnGetTemplate(r *request) (any, *apiError) {
	s.advanceCFNLocked()
	var body string
	if r.form.Get("ChangeSetName") != "" {
		cs, e := s.findChangeSetLocked(r.form)
		if e != nil {
			return nil, e
		}
		if cs.plan == nil {
			return nil, newErr(400, "ValidationError", "ChangeSet [%s] has no template: it failed", cs.id)
		}
		body = cs.plan.tmpl.body
	} else {
		name := r.form.Get("StackName")
		st := s.findStackLocked(name)
		if st == nil || st.tmpl == nil {
			return nil, stackNotFound(name)
		}
		body = st.tmpl.body
	}
	out := cfnGetTemplateResponse{Xmlns: cfnXMLNS, Meta: cfnMeta{r.id}}
	out.Result.TemplateBody = body
	out.Result.Stages = []string{"Original", "Processed"}
	return out, nil
}
