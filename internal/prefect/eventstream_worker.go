package prefect

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unique"

	"golang.org/x/text/unicode/norm"

	"github.com/ecsworker/ecsworker/internal/prefectapi"
	"github.com/ecsworker/ecsworker/internal/prefectdeploy"
	"github.com/ecsworker/ecsworker/internal/prefectevents"
	"github.com/ecsworker/ecsworker/internal/prefectpool"
)

// WorkerEventSource describes the worker in its events, as Prefect's
// BaseWorker does.
type WorkerEventSource struct {
	Name string // the worker's name
	Type string // the work pool type, "ecs"
	// Version is reported as prefect.version (the Python worker reports
	// the Prefect version it runs).
	Version string
	// Pool is the work pool, once read; nil leaves it out of the events.
	Pool *prefectpool.WorkPool
}

// Resource is the worker as the primary resource of its events:
// prefect.worker.<type>.<slug of the name>.
func (w WorkerEventSource) Resource() map[string]string {
	return map[string]string{
		prefectevents.LabelResourceID:   "prefect.worker." + w.Type + "." + slugifyName(w.Name),
		prefectevents.LabelResourceName: w.Name,
		"prefect.version":               w.Version,
		"prefect.worker-type":           w.Type,
	}
}

// WorkerStartedEvent is prefect.worker.started, related to the work pool.
// It has a fresh id, for WorkerStoppedEvent to follow.
func WorkerStartedEvent(w WorkerEventSource) prefectevents.Event {
	return prefectevents.Event{ID: prefectapi.NewUUID(), Event: prefectevents.EventWorkerStarted, Resource: w.Resource(), Related: w.poolRelated(nil)}
}

// WorkerStoppedEvent is prefect.worker.stopped, following the started
// event startedID ("" for none).
func WorkerStoppedEvent(w WorkerEventSource, startedID string) prefectevents.Event {
	return prefectevents.Event{ID: prefectapi.NewUUID(), Event: prefectevents.EventWorkerStopped, Resource: w.Resource(), Related: w.poolRelated(nil),
		Follows: startedID}
}

// SubmittedFlowRunEvent is prefect.worker.submitted-flow-run, sent once
// the run's infrastructure was submitted. Its related resources are the
// deployment, flow and flow run (each nil to leave out), their tags, and
// the work pool, in the Python worker's order. It has a fresh id, for
// ExecutedFlowRunEvent to follow.
func SubmittedFlowRunEvent(w WorkerEventSource, run *FlowRun, deployment *prefectdeploy.Deployment, flow *prefectdeploy.Flow) prefectevents.Event {
	return prefectevents.Event{ID: prefectapi.NewUUID(), Event: prefectevents.EventWorkerSubmittedFlowRun, Resource: w.Resource(),
		Related: w.poolRelated(flowRunRelated(run, deployment, flow))}
}

// RunSubjects is what the executed-flow-run event names of a run, kept
// for as long as its task runs: the run's id and name, and the deployment,
// flow and tags, which the runs of one deployment share. A worker follows
// thousands of runs; their API objects (job variables, parameters,
// schemas) would cost tens of kilobytes each, and even trimmed copies of
// them about two.
type RunSubjects struct {
	RunID, RunName string
	// shared is the JSON of sharedSubjects, interned: runs with the same
	// deployment, flow and tags hold one copy.
	shared unique.Handle[string]
}

// sharedSubjects are the related resources a run shares with the other
// runs of its deployment: deployment, flow, and the union of the tags.
type sharedSubjects struct {
	Related []map[string]string `json:"related"`
	Tags    []string            `json:"tags"`
}

// NewRunSubjects keeps what ExecutedFlowRunEvent will need of a run, its
// deployment and its flow (each nil to leave out).
func NewRunSubjects(run *FlowRun, deployment *prefectdeploy.Deployment, flow *prefectdeploy.Flow) RunSubjects {
	var sh sharedSubjects
	var tags []string
	if deployment != nil {
		sh.Related = append(sh.Related, deploymentRelated(deployment))
		tags = append(tags, deployment.Tags...)
	}
	if flow != nil {
		sh.Related = append(sh.Related, flowRelated(flow))
		tags = append(tags, flow.Tags...)
	}
	var s RunSubjects
	if run != nil {
		s.RunID, s.RunName = run.ID, run.Name
		tags = append(tags, run.Tags...)
	}
	slices.Sort(tags)
	sh.Tags = slices.Compact(tags)
	b, _ := json.Marshal(sh) // maps and slices of strings always marshal
	s.shared = unique.Make(string(b))
	return s
}

// ExecutedFlowRunEvent is prefect.worker.executed-flow-run, sent when the
// run's infrastructure has exited. The flow-run resource also carries the
// infrastructure identifier (for ECS "<cluster>::<task ARN>") and its
// status code; the event follows the submitted event submittedID ("" for
// none). Its related resources are those of the submitted event.
func ExecutedFlowRunEvent(w WorkerEventSource, s RunSubjects, identifier string, statusCode int, submittedID string) prefectevents.Event {
	var sh sharedSubjects
	if s.shared != (unique.Handle[string]{}) {
		// Written by NewRunSubjects, from maps and strings: it decodes.
		_ = json.Unmarshal([]byte(s.shared.Value()), &sh)
	}
	related := sh.Related
	if s.RunID != "" {
		related = append(related, map[string]string{
			prefectevents.LabelResourceID: prefectevents.FlowRunResourceID(s.RunID), prefectevents.LabelResourceRole: "flow-run", prefectevents.LabelResourceName: s.RunName,
			"prefect.infrastructure.identifier":  identifier,
			"prefect.infrastructure.status-code": strconv.Itoa(statusCode),
		})
	}
	for _, t := range sh.Tags {
		related = append(related, map[string]string{prefectevents.LabelResourceID: "prefect.tag." + t, prefectevents.LabelResourceRole: "tag"})
	}
	return prefectevents.Event{ID: prefectapi.NewUUID(), Event: prefectevents.EventWorkerExecutedFlowRun, Resource: w.Resource(), Related: w.poolRelated(related),
		Follows: submittedID}
}

func (w WorkerEventSource) poolRelated(related []map[string]string) []map[string]string {
	if related == nil {
		related = []map[string]string{}
	}
	if w.Pool != nil {
		related = append(related, map[string]string{
			prefectevents.LabelResourceID:   prefectevents.WorkPoolResourceID(w.Pool.ID),
			prefectevents.LabelResourceRole: "work-pool",
			prefectevents.LabelResourceName: w.Pool.Name,
		})
	}
	return related
}

// flowRunRelated are the related resources of a job configuration in
// Prefect: deployment, flow, flow run, then the union of their tags,
// sorted.
func flowRunRelated(run *FlowRun, deployment *prefectdeploy.Deployment, flow *prefectdeploy.Flow) []map[string]string {
	var related []map[string]string
	var tags []string
	if deployment != nil {
		related = append(related, deploymentRelated(deployment))
		tags = append(tags, deployment.Tags...)
	}
	if flow != nil {
		related = append(related, flowRelated(flow))
		tags = append(tags, flow.Tags...)
	}
	if run != nil {
		related = append(related, map[string]string{
			prefectevents.LabelResourceID: prefectevents.FlowRunResourceID(run.ID), prefectevents.LabelResourceRole: "flow-run", prefectevents.LabelResourceName: run.Name})
		tags = append(tags, run.Tags...)
	}
	slices.Sort(tags)
	for _, t := range slices.Compact(tags) {
		related = append(related, map[string]string{prefectevents.LabelResourceID: "prefect.tag." + t, prefectevents.LabelResourceRole: "tag"})
	}
	return related
}

func flowRelated(flow *prefectdeploy.Flow) map[string]string {
	return map[string]string{prefectevents.LabelResourceID: "prefect.flow." + flow.ID, prefectevents.LabelResourceRole: "flow", prefectevents.LabelResourceName: flow.Name}
}

// deploymentRelated is Prefect's DeploymentResponse.as_related_resource:
// the branch and version labels come from the response as the server
// wrote it.
func deploymentRelated(d *prefectdeploy.Deployment) map[string]string {
	r := map[string]string{
		prefectevents.LabelResourceID: "prefect.deployment." + d.ID, prefectevents.LabelResourceRole: "deployment", prefectevents.LabelResourceName: d.Name}
	if d.Raw == nil {
		return r
	}
	if v := d.Raw.GetString("branch"); v != "" {
		r["prefect.deployment.branch"] = v
	}
	if v := d.Raw.GetString("base"); v != "" {
		r["prefect.deployment.base"] = "prefect.deployment." + v
	}
	if v := d.Raw.GetString("root"); v != "" {
		r["prefect.deployment.root"] = "prefect.deployment." + v
	}
	if id, info := d.Raw.GetString("version_id"), d.Raw.GetObject("version_info"); id != "" && info != nil {
		r["prefect.deployment.version-id"] = id
		r["prefect.deployment.version-type"] = info.GetString("type")
		r["prefect.deployment.version"] = info.GetString("version")
	}
	return r
}

// slugifyName is python-slugify's slugify(name) with its defaults, as
// Prefect's BaseWorker.get_name_slug: lower case, every run of characters
// other than a-z, 0-9 and '-' becomes one '-', no '-' at either end.
// Accented letters lose their accents; python-slugify also transliterates
// other letters (unidecode: "ß" -> "ss") and decodes HTML entities, which
// this does not: such names give a different slug.
func slugifyName(s string) string {
	s = strings.ReplaceAll(s, "'", "-")
	s = norm.NFKD.String(s)
	s = strings.ToLower(s)
	var b strings.Builder
	runes := []rune(s)
	for i, r := range runes {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue // the accent of a decomposed letter
		case r == ',' && i > 0 && i+1 < len(runes) && isASCIIDigit(runes[i-1]) && isASCIIDigit(runes[i+1]):
			continue // 1,000 -> 1000
		case r >= 'a' && r <= 'z' || isASCIIDigit(r):
			b.WriteRune(r)
			continue
		}
		if str := b.String(); str != "" && !strings.HasSuffix(str, "-") {
			b.WriteByte('-')
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

func isASCIIDigit(r rune) bool { return r >= '0' && r <= '9' }
