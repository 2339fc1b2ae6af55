package startscmd

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ecsworker/ecsworker/internal/startphase"
	"github.com/ecsworker/ecsworker/internal/startstats"
)

// report is what the command prints.
type report struct {
	pool, since string
	from        time.Time
	runs        int
	deployments []startstats.Deployment
	entries     []entry
	// imagesSkipped says why no image size was looked up ("" when some were).
	imagesSkipped string
}

// entry is a deployment's summary with its image and advice.
type entry struct {
	startstats.Deployment
	image  *image
	advice string
}

// noRecordNote explains runs without a start record.
const noRecordNote = "runs without a start record were started by a worker that does not record starts (an older ecsworker, or prefect-aws), or have not started yet"

func (r report) notes() []string {
	var notes []string
	for _, e := range r.entries {
		if e.NotStarted+e.Unrecorded > 0 {
			notes = append(notes, noRecordNote)
			break
		}
	}
	if r.imagesSkipped != "" {
		notes = append(notes, "ECR image sizes were skipped: "+r.imagesSkipped)
	}
	return notes
}

func writeText(w io.Writer, r report) error {
	var b strings.Builder
	from := r.from.UTC().Format("2006-01-02 15:04 UTC")
	if r.runs == 0 {
		fmt.Fprintf(&b, "Work pool %q: no flow runs expected to start since %s (--since %s).\n", r.pool, from, r.since)
	} else {
		fmt.Fprintf(&b, "Work pool %q: %d flow runs expected to start since %s (--since %s).\n", r.pool, r.runs, from, r.since)
	}
	for _, e := range r.entries {
		b.WriteString("\n")
		fmt.Fprintf(&b, "%s: %s, %d with a start record", e.Name, plural(e.Runs, "run"), e.Recorded)
		if len(e.Capacity) > 0 {
			var caps []string
			for _, c := range e.Capacity {
				caps = append(caps, fmt.Sprintf("%s %d", c.Name, c.Runs))
			}
			fmt.Fprintf(&b, " (capacity: %s)", strings.Join(caps, ", "))
		}
		b.WriteString("\n")
		if e.Recorded > 0 {
			tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "  PHASE\tRUNS\tP50\tP95")
			for _, p := range e.Phases {
				p50, p95 := "-", "-"
				if p.Count > 0 {
					p50, p95 = startphase.Seconds(p.P50), startphase.Seconds(p.P95)
				}
				fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\n", phaseName(p.Phase), p.Count, p50, p95)
			}
			_ = tw.Flush() // a strings.Builder does not fail
		}
		if e.NotStarted+e.Unrecorded > 0 {
			var parts []string
			if e.NotStarted > 0 {
				parts = append(parts, fmt.Sprintf("%d not started", e.NotStarted))
			}
			if e.Unrecorded > 0 {
				parts = append(parts, fmt.Sprintf("%d started without one", e.Unrecorded))
			}
			fmt.Fprintf(&b, "  without a record: %s\n", strings.Join(parts, ", "))
		}
		for _, m := range e.Malformed {
			fmt.Fprintf(&b, "  unreadable record: run %s (%s): %s\n", m.Name, m.ID, m.Problem)
		}
		if e.image != nil {
			fmt.Fprintf(&b, "  image: %s: %s\n", e.image.Image, e.image.Detail)
		}
		if e.advice != "" {
			fmt.Fprintf(&b, "  advice: %s\n", e.advice)
		}
	}
	if notes := r.notes(); len(notes) > 0 {
		b.WriteString("\n")
		for _, n := range notes {
			fmt.Fprintf(&b, "note: %s\n", n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// phaseName is a phase as people read it: "image pull".
func phaseName(p startphase.Phase) string { return strings.ReplaceAll(p.String(), "_", " ") }

type jsonReport struct {
	Pool        string           `json:"pool"`
	Since       string           `json:"since"`
	From        string           `json:"from"`
	Runs        int              `json:"runs"`
	Deployments []jsonDeployment `json:"deployments"`
	Notes       []string         `json:"notes"`
}

type jsonDeployment struct {
	Deployment   string          `json:"deployment"`
	DeploymentID string          `json:"deployment_id"`
	Runs         int             `json:"runs"`
	WithRecord   int             `json:"with_record"`
	NotStarted   int             `json:"not_started"`
	NoRecord     int             `json:"started_without_record"`
	Phases       []jsonPhase     `json:"phases"`
	Capacity     []jsonCapacity  `json:"capacity"`
	Unreadable   []jsonMalformed `json:"unreadable_records"`
	Image        *image          `json:"image"`
	Dominant     *jsonDominant   `json:"dominant"`
	Advice       string          `json:"advice"`
}

type jsonPhase struct {
	Phase string   `json:"phase"`
	Runs  int      `json:"runs"`
	P50   *float64 `json:"p50_s"`
	P95   *float64 `json:"p95_s"`
}

type jsonCapacity struct {
	Capacity string `json:"capacity"`
	Runs     int    `json:"runs"`
}

type jsonMalformed struct {
	FlowRunID string `json:"flow_run_id"`
	FlowRun   string `json:"flow_run"`
	Problem   string `json:"problem"`
}

type jsonDominant struct {
	Phase string  `json:"phase"`
	Share float64 `json:"share"`
	P50   float64 `json:"p50_s"`
	Total float64 `json:"total_p50_s"`
}

// seconds rounds to the millisecond, the labels' precision.
func seconds(d time.Duration) float64 { return math.Round(d.Seconds()*1000) / 1000 }

func writeJSON(w io.Writer, r report) error {
	out := jsonReport{Pool: r.pool, Since: r.since, From: r.from.UTC().Format(time.RFC3339), Runs: r.runs,
		Deployments: []jsonDeployment{}, Notes: r.notes()}
	if out.Notes == nil {
		out.Notes = []string{}
	}
	for _, e := range r.entries {
		d := jsonDeployment{Deployment: e.Name, DeploymentID: e.Key, Runs: e.Runs, WithRecord: e.Recorded, NotStarted: e.NotStarted,
			NoRecord: e.Unrecorded, Phases: []jsonPhase{}, Capacity: []jsonCapacity{}, Unreadable: []jsonMalformed{}, Image: e.image, Advice: e.advice}
		for _, p := range e.Phases {
			jp := jsonPhase{Phase: p.Phase.String(), Runs: p.Count}
			if p.Count > 0 {
				p50, p95 := seconds(p.P50), seconds(p.P95)
				jp.P50, jp.P95 = &p50, &p95
			}
			d.Phases = append(d.Phases, jp)
		}
		for _, c := range e.Capacity {
			d.Capacity = append(d.Capacity, jsonCapacity{c.Name, c.Runs})
		}
		for _, m := range e.Malformed {
			d.Unreadable = append(d.Unreadable, jsonMalformed{m.ID, m.Name, m.Problem})
		}
		if dom := e.Dominant; dom != nil {
			d.Dominant = &jsonDominant{Phase: dom.Phase.String(), Share: math.Round(dom.Share*1000) / 1000, P50: seconds(dom.P50), Total: seconds(dom.Total)}
		}
		out.Deployments = append(out.Deployments, d)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}
