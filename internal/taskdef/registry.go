// Package taskdef holds ecsworker's task definitions on the ECS side:
// registering one only when ECS holds no identical ACTIVE revision (found
// by the hash tag of its canonical form, in a cache or among the family's
// newest revisions), the canonical form and its hash, the JSON of a
// described revision, and pruning the revisions the worker registered.
package taskdef

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awserr"
	"github.com/ecsworker/ecsworker/internal/backoff"
	"github.com/ecsworker/ecsworker/internal/ecsshape"
	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// Options configure a Registry.
type Options struct {
	// CacheSize is how many hash -> ARN entries are kept; default 512.
	CacheSize int
	// CacheTTL is how long a cached ARN is used without looking at ECS
	// again; default 6h. (A stale ARN costs little: RunTask reports the
	// revision inactive and the Launcher invalidates it.)
	CacheTTL time.Duration
	// Clock is time.Now unless set.
	Clock func() time.Time
	// ScanLimit is how many of a family's newest ACTIVE revisions are
	// searched for a reusable one; default 20.
	ScanLimit int
	// RegisterAttempts is how many times a throttled registration is tried;
	// default 6.
	RegisterAttempts int
	// Backoff is the first retry delay of a throttled registration
	// (default 1s); it doubles up to MaxBackoff (default 20s), with jitter.
	Backoff, MaxBackoff time.Duration
	// Sleep waits between retries; tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error

	// The two knobs below reproduce the Python worker's task-definition
	// calls (prefect-aws §4.3) so that benchmarks can put its costs next to
	// ours; production code leaves them off.
	//
	// DescribeOnHit checks a cached ARN with DescribeTaskDefinition on every
	// Ensure the cache answers, and drops it unless the revision is still
	// ACTIVE: one task-definition read per run. Without it a stale entry
	// costs one RunTask, which reports the revision inactive.
	DescribeOnHit bool
	// SkipLookup registers on a cache miss without looking among the
	// family's revisions for one carrying the hash (unless the run asks for
	// MatchLatestRevision), so each new worker process registers again.
	SkipLookup bool

	// Permissions remembers actions the identity was refused (nil: none
	// remembered): without ecs:ListTaskDefinitions only the latest
	// revision is looked at, without ecs:TagResource revisions are
	// registered untagged and recognised by their contents.
	Permissions *awserr.Permissions
}

// EnsureOptions configure one Ensure call.
type EnsureOptions struct {
	// MatchLatestRevision (match_latest_revision_in_family) makes the
	// lookup compare the latest ACTIVE revision even when SkipLookup is
	// set. Without SkipLookup the latest revision is always compared, by
	// its hash tag or, untagged (registered by the Python worker, by hand,
	// or without ecs:TagResource), by its contents.
	MatchLatestRevision bool
}

// Registry registers task definitions without churn: a task definition
// identical to one ECS already holds (found by its hash tag, in a small
// cache or among the family's newest revisions) is reused, so repeated
// runs of a deployment register one revision, not one per run.
// Concurrent Ensure calls for the same task definition make one
// registration between them, and registrations in one family are made one
// at a time.
type Registry struct {
	api  awsclient.ECSAPI
	opts Options

	cache  *awsclient.LRU[string, tdCacheEntry]
	hashes *awsclient.LRU[[sha256.Size]byte, string] // exact JSON -> canonical hash
	flight awsclient.FlightGroup[string, ensureResult]
	// familyLocks serialise registrations per family (striped by hash of
	// the family name): ECS refuses overlapping ones with "Too many
	// concurrent attempts to create a new revision of the specified family".
	familyLocks [64]sync.Mutex
}

type tdCacheEntry struct {
	arn     string
	expires time.Time
}

type ensureResult struct {
	arn        string
	registered bool
}

// NewRegistry returns a Registry that calls ECS through api.
func NewRegistry(api awsclient.ECSAPI, opts Options) *Registry {
	if opts.CacheSize <= 0 {
		opts.CacheSize = 512
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = 6 * time.Hour
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.ScanLimit <= 0 {
		opts.ScanLimit = 20
	}
	if opts.RegisterAttempts <= 0 {
		opts.RegisterAttempts = 6
	}
	if opts.Backoff <= 0 {
		opts.Backoff = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 20 * time.Second
	}
	if opts.Sleep == nil {
		opts.Sleep = backoff.Sleep
	}
	return &Registry{api: api, opts: opts,
		cache:  awsclient.NewLRU[string, tdCacheEntry](opts.CacheSize),
		hashes: awsclient.NewLRU[[sha256.Size]byte, string](opts.CacheSize),
	}
}

// Ensure returns the ARN of an ACTIVE revision that is td, registering one
// only when none exists; registered is true when this call registered it.
// td is a prepared RegisterTaskDefinition request and must name its family.
func (t *Registry) Ensure(ctx context.Context, td *jsonv.Object, opts EnsureOptions) (arn string, registered bool, err error) {
	if td == nil {
		return "", false, errors.New("ensure task definition: no task definition given")
	}
	family := td.GetString("family")
	if family == "" || strings.Contains(family, "<unresolved") {
		return "", false, &awserr.LaunchError{Kind: awserr.KindPermanent, Op: "RegisterTaskDefinition", AWSMessage: fmt.Sprintf("the task definition has no family (%q)", family),
			Fix: "Set the family job variable, or give the worker the flow run's deployment so that it can name the family prefect_<work pool>_<deployment id>"}
	}
	// Canonicalising costs more than the rest of a cache hit: remember the
	// hash of task definitions seen before, by their exact JSON.
	raw, err := jsonv.Marshal(td)
	if err != nil {
		return "", false, fmt.Errorf("ensure task definition: %w", err)
	}
	rawKey := sha256.Sum256(raw)
	hash, ok := t.hashes.Get(rawKey)
	if !ok {
		hash = hashOf(td)
		t.hashes.Put(rawKey, hash)
	}
	if arn, ok := t.cached(hash); ok {
		if !t.opts.DescribeOnHit || t.stillActive(ctx, arn) {
			return arn, false, nil
		}
		t.Invalidate(arn)
	}
	for {
		res, shared, err := t.flight.Do(ctx, hash, func() (ensureResult, error) {
			return t.ensure(ctx, td, family, hash, opts)
		})
		if err != nil && shared && awserr.IsContextError(err) && ctx.Err() == nil {
			continue // the caller we waited for gave up; do it ourselves
		}
		if err != nil {
			return "", false, err
		}
		return res.arn, res.registered && !shared, nil
	}
}

func (t *Registry) cached(hash string) (string, bool) {
	e, ok := t.cache.Get(hash)
	if !ok || !t.opts.Clock().Before(e.expires) {
		return "", false
	}
	return e.arn, true
}

// stillActive reports whether ECS still holds arn as ACTIVE. Any failure
// counts as no, as in the Python worker: the caller then looks again.
func (t *Registry) stillActive(ctx context.Context, arn string) bool {
	out, err := t.api.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(arn)})
	return err == nil && out.TaskDefinition != nil && out.TaskDefinition.Status == ecstypes.TaskDefinitionStatusActive
}

func (t *Registry) remember(hash, arn string) {
	t.cache.Put(hash, tdCacheEntry{arn: arn, expires: t.opts.Clock().Add(t.opts.CacheTTL)})
}

func (t *Registry) familyLock(family string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(family))
	return &t.familyLocks[h.Sum32()%uint32(len(t.familyLocks))]
}

func (t *Registry) ensure(ctx context.Context, td *jsonv.Object, family, hash string, opts EnsureOptions) (ensureResult, error) {
	if arn, ok := t.cached(hash); ok {
		return ensureResult{arn: arn}, nil
	}
	lock := t.familyLock(family)
	lock.Lock()
	defer lock.Unlock()

	if !t.opts.SkipLookup || opts.MatchLatestRevision {
		arn, err := t.find(ctx, family, hash, !t.opts.SkipLookup)
		if err != nil {
			return ensureResult{}, err
		}
		if arn != "" {
			t.remember(hash, arn)
			return ensureResult{arn: arn}, nil
		}
	}

	input, err := t.registerInput(td, hash)
	if err != nil {
		return ensureResult{}, err
	}
	for attempt := 1; ; attempt++ {
		out, err := t.api.RegisterTaskDefinition(ctx, input)
		if err == nil {
			if out.TaskDefinition == nil || out.TaskDefinition.TaskDefinitionArn == nil {
				return ensureResult{}, &awserr.LaunchError{Kind: awserr.KindTransient, Op: "RegisterTaskDefinition", Attempts: attempt, AWSMessage: "ECS returned no task definition ARN"}
			}
			arn := strings.Clone(*out.TaskDefinition.TaskDefinitionArn) // cached: not a view of the answer's buffer
			t.remember(hash, arn)
			return ensureResult{arn: arn, registered: true}, nil
		}
		if awserr.IsContextError(err) {
			return ensureResult{}, err
		}
		if len(input.Tags) > 0 && awserr.DeniedAction(err) == "ecs:TagResource" {
			// Without ecs:TagResource nothing can be created with tags:
			// register untagged. The lookup recognises untagged revisions
			// by their contents, so reuse still works across restarts.
			t.opts.Permissions.Note("RegisterTaskDefinition", "", err)
			input.Tags = nil
			continue
		}
		if !awserr.IsThrottle(err) || attempt >= t.opts.RegisterAttempts {
			le := awserr.Explain("RegisterTaskDefinition", err, attempt)
			if le.Kind == awserr.KindPermanent && le.Fix == "" {
				le.Fix = "ECS refused the task definition; correct the work pool's task_definition template or the job variables that fill it"
			}
			return ensureResult{}, le
		}
		if err := t.opts.Sleep(ctx, backoff.Delay(attempt, t.opts.Backoff, t.opts.MaxBackoff)); err != nil {
			return ensureResult{}, err
		}
		// Another worker may have registered it meanwhile: ECS's "too many
		// concurrent attempts" usually means exactly that.
		if t.opts.SkipLookup {
			continue
		}
		if arn, err := t.find(ctx, family, hash, true); err == nil && arn != "" {
			t.remember(hash, arn)
			return ensureResult{arn: arn}, nil
		}
	}
}

// registerInput converts td to the SDK input, tagged with its hash.
func (t *Registry) registerInput(td *jsonv.Object, hash string) (*ecs.RegisterTaskDefinitionInput, error) {
	tagged := jsonv.CloneObject(td)
	if !t.opts.Permissions.Usable("ecs:TagResource", "") {
		tagged.Delete("tags")
	} else {
		var tags []any
		for _, tag := range tagged.GetArray("tags") {
			if objString(tag, "key") != HashTag {
				tags = append(tags, tag)
			}
		}
		if len(tags) < 50 { // ECS allows 50 tags per resource
			tags = append(tags, jsonv.ObjectOf("key", HashTag, "value", hash))
			tagged.Set("tags", tags)
		}
	}
	input := &ecs.RegisterTaskDefinitionInput{}
	if problems := ecsshape.Decode(tagged, input); len(problems) > 0 {
		msgs := make([]string, len(problems))
		for i, p := range problems {
			msgs[i] = p.String()
		}
		return nil, &awserr.LaunchError{Kind: awserr.KindPermanent, Op: "RegisterTaskDefinition",
			AWSMessage: "the task definition does not fit the ECS API: " + strings.Join(msgs, "; "),
			Fix:        "Correct the work pool's task_definition template or the job variables that fill it"}
	}
	return input, nil
}

// find returns an ACTIVE revision of family that is the task definition
// hashed as hash. It looks at the family's latest revision first, by
// DescribeTaskDefinition: one call, and all that an identity without
// ecs:ListTaskDefinitions (Prefect's documented policy) can see. With
// scan, it then looks among the family's newest revisions by their hash
// tags, when the identity may list them. A refused action is remembered
// and skipped: the caller then registers.
func (t *Registry) find(ctx context.Context, family, hash string, scan bool) (string, error) {
	latest := ""
	if t.opts.Permissions.Usable("ecs:DescribeTaskDefinition", "") {
		out, err := t.describeWithTags(ctx, family)
		switch {
		case err == nil:
			if d := out.TaskDefinition; d != nil && d.Status == ecstypes.TaskDefinitionStatusActive && d.TaskDefinitionArn != nil {
				latest = strings.Clone(*d.TaskDefinitionArn)
				if revisionHash(out) == hash {
					return latest, nil
				}
			}
		case awserr.IsContextError(err):
			return "", err
		case awserr.IsNotFound(err): // "Unable to describe task definition"
			return "", nil // no ACTIVE revision yet: nothing older either
		case t.opts.Permissions.Note("DescribeTaskDefinition", "", err):
			return "", nil
		default:
			return "", awserr.Explain("DescribeTaskDefinition", err, 1)
		}
	}
	if !scan || !t.opts.Permissions.Usable("ecs:ListTaskDefinitions", "") {
		return "", nil
	}
	arns, err := t.newestRevisions(ctx, family, t.opts.ScanLimit)
	if err != nil {
		if t.opts.Permissions.Note("ListTaskDefinitions", "", err) {
			return "", nil
		}
		return "", err
	}
	for _, arn := range arns {
		if arn == latest {
			continue
		}
		out, err := t.describeWithTags(ctx, arn)
		if err != nil {
			if awserr.IsContextError(err) {
				return "", err
			}
			if awserr.IsNotFound(err) {
				continue // deregistered since it was listed
			}
			return "", awserr.Explain("DescribeTaskDefinition", err, 1)
		}
		d := out.TaskDefinition
		if d == nil || d.Status != ecstypes.TaskDefinitionStatusActive || d.TaskDefinitionArn == nil {
			continue
		}
		if tagValue(out.Tags, HashTag) == hash {
			return strings.Clone(*d.TaskDefinitionArn), nil
		}
	}
	return "", nil
}

func (t *Registry) describeWithTags(ctx context.Context, td string) (*ecs.DescribeTaskDefinitionOutput, error) {
	return t.api.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{
		TaskDefinition: aws.String(td),
		Include:        []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags},
	})
}

// revisionHash is the hash of a described revision: its hash tag when it
// has one, else the hash of its contents, so that a revision registered
// untagged (without ecs:TagResource, by the Python worker, by hand) is
// recognised too.
func revisionHash(out *ecs.DescribeTaskDefinitionOutput) string {
	if h := tagValue(out.Tags, HashTag); h != "" {
		return h
	}
	return hashCanonical(Canonical(describedJSON(out)))
}

// newestRevisions lists up to limit ACTIVE revisions of family, newest first.
func (t *Registry) newestRevisions(ctx context.Context, family string, limit int) ([]string, error) {
	arns, err := activeRevisions(ctx, t.api, family, limit)
	if err != nil {
		if awserr.IsContextError(err) || awserr.IsUnavailable(err) {
			return nil, err
		}
		return nil, awserr.Explain("ListTaskDefinitions", err, 1)
	}
	return arns, nil
}

// parseTaskDefinitionARN splits arn:...:task-definition/<family>:<revision>.
func parseTaskDefinitionARN(arn string) (family, revision string, ok bool) {
	_, rest, found := strings.Cut(arn, ":task-definition/")
	if !found {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return rest, "", true
	}
	return rest[:i], rest[i+1:], true
}

// describedJSON is a described revision as JSON, with its tags (other
// than AWS's) in "tags" the way a registration request carries them.
func describedJSON(out *ecs.DescribeTaskDefinitionOutput) *jsonv.Object {
	o := sdkObject(out.TaskDefinition)
	if o == nil {
		o = jsonv.NewObject()
	}
	var tags []any
	for _, tg := range out.Tags {
		if tg.Key == nil {
			continue
		}
		tags = append(tags, jsonv.ObjectOf("key", *tg.Key, "value", aws.ToString(tg.Value)))
	}
	if len(tags) > 0 {
		o.Set("tags", tags)
	}
	return o
}

func tagValue(tags []ecstypes.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

// Invalidate forgets arn (call it when RunTask says the revision is
// inactive), so that the next Ensure looks again.
func (t *Registry) Invalidate(arn string) {
	t.cache.RemoveIf(func(_ string, e tdCacheEntry) bool { return e.arn == arn })
}

// Describe returns the task definition arn names (an ARN, family:revision,
// or a family for its latest ACTIVE revision) as the ECS API writes it, for
// checking a task definition the worker did not build
// (ecsrequest.RunContext.ExistingTaskDefinition).
func (t *Registry) Describe(ctx context.Context, arn string) (*jsonv.Object, error) {
	out, err := t.api.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(arn)})
	if err != nil {
		if awserr.IsContextError(err) {
			return nil, err
		}
		le := awserr.Explain("DescribeTaskDefinition", err, 1)
		if le.Kind == awserr.KindPermanent || le.Kind == awserr.KindNotFound {
			if awserr.ErrorCode(err) == "ClientException" {
				le.Kind = awserr.KindNotFound
			}
			if le.Kind == awserr.KindNotFound {
				le.Fix = fmt.Sprintf("The task definition %s does not exist in this region; correct task_definition_arn (an ARN, family:revision or family) or remove it so that the worker registers one", arn)
			}
		}
		return nil, le
	}
	if out.TaskDefinition == nil {
		return nil, &awserr.LaunchError{Kind: awserr.KindNotFound, Op: "DescribeTaskDefinition", AWSMessage: "ECS returned no task definition for " + arn}
	}
	return sdkObject(out.TaskDefinition), nil
}
