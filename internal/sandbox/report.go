package sandbox

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ecsworker/ecsworker/internal/startphase"

	"golang.org/x/term"

	"github.com/ecsworker/ecsworker/internal/emf"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/redact"
	"github.com/ecsworker/ecsworker/internal/sandbox/sandboxreport"
)

// Column widths of the live view: the longest scenario name, Prefect
// state name and ECS status.
const (
	scenarioWidth = sandboxreport.ScenarioWidth
	stateWidth    = 21 // InfrastructurePending
	statusWidth   = 14 // DEPROVISIONING
	diagWidth     = 50
)

func (s *sandbox) printHeader() {
	w := s.human
	fmt.Fprintf(w, "ecsworker sandbox: %s\n", sandboxreport.Banner)
	fmt.Fprintf(w, "  Everything runs in this process, on 127.0.0.1: nothing reaches AWS or a real Prefect server,\n")
	fmt.Fprintf(w, "  and none of your AWS or Prefect settings or credentials are read.\n")
	fmt.Fprintf(w, "  Prefect API (local test server):  %s\n", s.prefectURL)
	fmt.Fprintf(w, "  AWS endpoint (simulated):         %s\n", s.awsURL)
	fmt.Fprintf(w, "  Metrics: on ECS the worker writes them as CloudWatch EMF to its log group (namespace %s, dimension pool);\n", emf.DefaultNamespace)
	fmt.Fprintf(w, "    locally, ecsworker worker start --metrics-addr :9090 serves them on http://127.0.0.1:9090/metrics\n")
	fmt.Fprintf(w, "  Worker %s serves work pool %s: %d flow runs of deployment %s/%s, speed %gx\n\n",
		WorkerName, PoolName, len(s.runs), FlowName, DeploymentName, s.opts.Speed)
}

// runTaskCalls returns the RunTask requests the worker made for a run, and
// the reasons ECS gave for those that started nothing. A request belongs
// to the run when its client token is the task's; before the task exists,
// by the token's prefix (ecsworker's tokens start with the flow run id).
func runTaskCalls(calls []recordedCall, r *demoRun) (n int, failures []string) {
	for _, c := range calls {
		if c.Action != "RunTask" {
			continue
		}
		if (r.task != nil && c.ClientToken == r.task.ClientToken) || strings.HasPrefix(c.ClientToken, r.id+".") {
			n++
			failures = append(failures, c.Failures...)
		}
	}
	return n, failures
}

// diagnosis is the short explanation shown next to a run: the summary of
// the worker's crash report, or what is going on.
func diagnosis(r *demoRun, calls []recordedCall) string {
	_, failures := runTaskCalls(calls, r)
	reason := ""
	if len(failures) > 0 {
		reason = failures[len(failures)-1]
	}
	switch r.stateType {
	case "COMPLETED":
		if reason != "" {
			return fmt.Sprintf("completed; RunTask refused %d× (%s)", len(failures), reason)
		}
		return "flow completed, exit code 0"
	case "CRASHED", "FAILED", "CANCELLED":
		return shortDiagnosis(r.message, 0)
	}
	switch {
	case reason != "" && r.task == nil:
		return fmt.Sprintf("RunTask refused %d× (%s); retrying", len(failures), reason)
	case r.stateType == "CANCELLING":
		return "cancel requested in Prefect"
	case r.task != nil && r.task.DesiredStatus == "STOPPED" && r.task.StoppedReason != "":
		// ECS knows why the task is stopping; the worker reports it once
		// the task is STOPPED.
		return "ECS: " + shortDiagnosis(r.task.StoppedReason, 0)
	}
	return ""
}

// shortDiagnosis keeps the headline of a state message: the worker writes
// "Summary: detail Resolution: fix".
func shortDiagnosis(message string, width int) string {
	head, _, _ := strings.Cut(message, ": ")
	head = strings.TrimSuffix(strings.TrimSpace(head), ".")
	if width > 0 {
		head = truncate(head, width)
	}
	return head
}

// truncate cuts s to at most n characters, marking the cut.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// liveView shows the runs as they move: redrawn in place on a terminal,
// as a log of changes otherwise.
type liveView struct {
	s      *sandbox
	w      io.Writer
	tty    bool
	color  bool
	nameW  int
	drawn  int
	last   map[*demoRun]string
	notes  []string
	closed bool
}

func newLiveView(s *sandbox) *liveView {
	raw := s.opts.Out
	if s.opts.JSON {
		raw = s.opts.Err
	}
	v := &liveView{s: s, w: s.human, tty: isTerminal(raw), last: map[*demoRun]string{}, nameW: len("RUN")}
	v.color = v.tty && os.Getenv("NO_COLOR") == ""
	for _, r := range s.runs {
		v.nameW = max(v.nameW, len(r.name))
	}
	header := v.format("RUN", "SCENARIO", "PREFECT STATE", "ECS TASK", "DIAGNOSIS", false)
	if v.tty {
		// Lines longer than the terminal would wrap and break the
		// cursor arithmetic of the redraw: autowrap stays off until
		// finish.
		fmt.Fprint(v.w, "\x1b[?7l")
	} else {
		header = strings.Repeat(" ", 7) + header // above the elapsed times
	}
	fmt.Fprintln(v.w, header)
	return v
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	// /dev/null is a character device too: ask the terminal itself.
	return term.IsTerminal(int(f.Fd()))
}

func (v *liveView) format(name, scenario, state, status, diag string, colored bool) string {
	pad := func(s string, n int) string { return s + strings.Repeat(" ", max(0, n-len(s))) }
	st := pad(state, stateWidth)
	if colored {
		st = paint(state, st)
	}
	line := "  " + pad(name, v.nameW) + "  " + pad(scenario, scenarioWidth) + "  " + st + "  " + pad(status, statusWidth) + "  " + diag
	return strings.TrimRight(line, " ")
}

// paint colours a padded state name by how the run is doing.
func paint(state, padded string) string {
	code := ""
	switch state {
	case "Completed":
		code = "32"
	case "Crashed", "Failed":
		code = "31"
	case "Cancelled", "Cancelling":
		code = "33"
	case "Running":
		code = "36"
	default:
		return padded
	}
	return "\x1b[" + code + "m" + padded + "\x1b[0m"
}

func (v *liveView) row(r *demoRun, calls []recordedCall, colored bool) string {
	status := "-"
	if r.task != nil {
		status = r.task.LastStatus
	}
	diag := truncate(diagnosis(r, calls), diagWidth)
	return v.format(r.name, r.sc.Name, r.stateName, status, diag, colored)
}

func (v *liveView) note(s string) { v.notes = append(v.notes, s) }

func (v *liveView) update() {
	if v.closed {
		return
	}
	calls := v.s.rec.snapshot()
	if !v.tty {
		for _, n := range v.notes {
			fmt.Fprintln(v.w, n)
		}
		v.notes = nil
		for _, r := range v.s.runs {
			line := v.row(r, calls, false)
			if v.last[r] != line {
				v.last[r] = line
				fmt.Fprintf(v.w, "%7s%s\n", elapsed(v.s.began), line)
			}
		}
		return
	}
	var b strings.Builder
	if v.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA\r", v.drawn)
	}
	for _, n := range v.notes {
		b.WriteString("\x1b[2K" + n + "\n")
	}
	v.notes = nil
	settled := 0
	for _, r := range v.s.runs {
		b.WriteString("\x1b[2K" + v.row(r, calls, v.color) + "\n")
		if r.settled() {
			settled++
		}
	}
	fmt.Fprintf(&b, "\x1b[2K  %s elapsed · %d of %d runs finished · %d RunTask calls\n",
		elapsed(v.s.began), settled, len(v.s.runs), countAction(calls, "RunTask"))
	v.drawn = len(v.s.runs) + 1
	fmt.Fprint(v.w, b.String())
}

func (v *liveView) finish() {
	v.update()
	v.closed = true
	if v.tty {
		fmt.Fprint(v.w, "\x1b[?7h")
	}
	fmt.Fprintln(v.w)
}

func countAction(calls []recordedCall, action string) int {
	n := 0
	for _, c := range calls {
		if c.Action == action {
			n++
		}
	}
	return n
}

func elapsed(since time.Time) string {
	return fmt.Sprintf("%.1fs", time.Since(since).Seconds())
}

func (s *sandbox) summarize() sandboxreport.Summary {
	calls := s.rec.snapshot()
	sum := sandboxreport.Summary{
		Simulated:      true,
		Notice:         sandboxreport.Banner + ": nothing was sent to AWS or to a real Prefect server",
		PrefectAPIURL:  s.prefectURL,
		AWSEndpointURL: s.awsURL,
		WorkPool:       PoolName,
		Deployment:     FlowName + "/" + DeploymentName,
		Speed:          s.opts.Speed,
		Interrupted:    s.interrupted,
		ElapsedSeconds: roundMillis(time.Since(s.began).Seconds()),
		Mismatches:     []string{},
		AWSCalls:       map[string]int{},
		PrefectCalls:   s.prefect.Calls(),
	}
	for k, n := range s.aws.Calls() {
		if d := n - s.baseCalls[k]; d > 0 {
			sum.AWSCalls[k] = d
		}
	}
	for _, r := range s.runs {
		rs := sandboxreport.RunSummary{
			Name: r.name, FlowRunID: r.id, Scenario: r.sc.Name, ExpectedState: r.sc.Expect,
			StateName: r.stateName, Message: r.message, Diagnosis: diagnosis(r, calls), Tasks: r.tasks,
		}
		if r.final() {
			rs.FinalState = r.stateType
		}
		rs.RunTaskCalls, _ = runTaskCalls(calls, r)
		if r.task != nil {
			rs.TaskARN, rs.TaskStatus = r.task.Arn, r.task.LastStatus
			secs := roundMillis(r.task.CreatedAt.Sub(r.created).Seconds())
			rs.SecondsToRunTask = &secs
		}
		rs.Start = s.startOf(r)
		if d := fallbackDiagnosis(r, s.prefect.FlowRun(r.id), rs); d != "" {
			rs.Diagnosis = d
		}
		if ph := slowestTaskPhase(rs.Start); r.sc.SlowPhase != "" && ph != "" && r.stateType == "COMPLETED" {
			rs.Diagnosis = fmt.Sprintf("completed; slowest start phase: %s, %.1f s", ph, rs.Start.Seconds[ph])
		}
		rs.Problems = problems(r, rs)
		rs.OK = len(rs.Problems) == 0
		if !rs.OK {
			sum.Mismatches = append(sum.Mismatches, fmt.Sprintf("%s (%s): %s", r.name, r.sc.Name, strings.Join(rs.Problems, "; ")))
		}
		sum.Runs = append(sum.Runs, rs)
	}
	for _, v := range s.violations.every() {
		sum.Mismatches = append(sum.Mismatches, "Prefect API contract violation: "+v)
	}
	sum.OK = len(sum.Mismatches) == 0
	sum.ECSRequests = s.ecsRequests(calls)
	shown := map[string]bool{}
	for _, r := range s.runs {
		shown[r.message] = true
	}
	for _, w := range s.warnings.except(shown) {
		sum.WorkerWarnings = append(sum.WorkerWarnings, redact.String(w, s.secrets.list()...))
	}
	return sum
}

// problems lists how a run fell short of its scenario.
func problems(r *demoRun, rs sandboxreport.RunSummary) []string {
	if !r.final() {
		return []string{fmt.Sprintf("did not finish: still %s, want %s", cmp.Or(r.stateType, "unknown"), r.sc.Expect)}
	}
	var out []string
	if r.stateType != r.sc.Expect {
		out = append(out, fmt.Sprintf("ended %s, want %s", r.stateType, r.sc.Expect))
	}
	if d := r.sc.Diagnosis; d != "" && !strings.Contains(strings.ToLower(r.message), d) {
		out = append(out, fmt.Sprintf("the final state's message does not mention %q (it says %q)", d, shortDiagnosis(r.message, 80)))
	}
	if r.tasks != 1 {
		out = append(out, fmt.Sprintf("%d ECS tasks, want exactly 1", r.tasks))
	}
	if rs.RunTaskCalls < r.sc.MinRunTaskAttempts {
		out = append(out, fmt.Sprintf("%d RunTask calls, want at least %d (the retries)", rs.RunTaskCalls, r.sc.MinRunTaskAttempts))
	}
	if want := r.sc.Capacity; want != "" {
		got := ""
		if rs.Start != nil {
			got = rs.Start.Capacity
		}
		if got != want {
			out = append(out, fmt.Sprintf("ran on %q, want %q (the fallback)", cmp.Or(got, "nothing recorded"), want))
		}
	}
	if want := r.sc.SlowPhase; want != "" {
		if got := slowestTaskPhase(rs.Start); got != want {
			out = append(out, fmt.Sprintf("the worker's start breakdown shows %q as the slowest phase, want %q", cmp.Or(got, "nothing"), want))
		}
	}
	if r.task != nil && r.task.LastStatus != "STOPPED" {
		out = append(out, "its ECS task is still "+r.task.LastStatus)
	}
	return out
}

// ecsRequests picks the requests that launched one run: the first
// successful run, else the first run that got a task.
func (s *sandbox) ecsRequests(calls []recordedCall) *sandboxreport.ECSRequests {
	var pick *demoRun
	for _, r := range s.runs {
		if r.task != nil && (pick == nil || (r.sc.Name == "success" && pick.sc.Name != "success")) {
			pick = r
		}
	}
	if pick == nil {
		return nil
	}
	out := &sandboxreport.ECSRequests{FlowRun: pick.name, Scenario: pick.sc.Name}
	image, _ := json.Marshal(pick.sc.image())
	for _, c := range calls {
		switch {
		case c.Action == "RegisterTaskDefinition" && c.Family == pick.task.Family && bytes.Contains(c.Body, image):
			out.RegisterTaskDefinition = masked(c.Body)
		case c.Action == "RunTask" && c.ClientToken == pick.task.ClientToken && len(c.Failures) == 0:
			out.RunTask = masked(c.Body)
		}
	}
	return out
}

// masked re-indents a request with its secrets masked, keeping its key
// order.
func masked(body []byte) json.RawMessage {
	v, err := jsonv.Decode(body)
	if err != nil {
		return nil
	}
	clean := redact.Value(v)
	// A client token is an idempotency key, not a credential, and it
	// shows how the worker makes launches safe to retry.
	if obj, ok := v.(*jsonv.Object); ok && obj.Has("clientToken") {
		tok, _ := obj.Get("clientToken")
		clean.(*jsonv.Object).Set("clientToken", tok)
	}
	b, err := jsonv.MarshalIndent(clean)
	if err != nil {
		return nil
	}
	return b
}

func roundMillis(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

func (s *sandbox) printKeepRunning() {
	w := s.human
	fmt.Fprintf(w, "\nThe sandbox keeps running (Ctrl-C stops it). It is still %s. Point ecsworker or any Prefect client at it:\n\n", sandboxreport.Banner)
	fmt.Fprintf(w, "  export PREFECT_API_URL=%s\n", s.prefectURL)
	fmt.Fprintf(w, "  export AWS_ENDPOINT_URL=%s\n", s.awsURL)
	fmt.Fprintf(w, "  # the simulated AWS takes any credentials; the AWS CLI needs some, and v1 reads only AWS_DEFAULT_REGION:\n")
	fmt.Fprintf(w, "  # export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=%s AWS_DEFAULT_REGION=%s\n\n", Region, Region)
	fmt.Fprintf(w, "  ecsworker work-pool ls\n")
	fmt.Fprintf(w, "  ecsworker render --work-pool %s --deployment %s/%s\n\n", PoolName, FlowName, DeploymentName)
	fmt.Fprintf(w, "Schedule another flow run of %s/%s, and watch it here:\n\n", FlowName, DeploymentName)
	fmt.Fprintf(w, "  ecsworker deployment run %s/%s\n", FlowName, DeploymentName)
	fmt.Fprintf(w, "  ecsworker deployment run %s/%s --job-variable image=%s\n\n", FlowName, DeploymentName, scenarios[1].image())
	fmt.Fprintf(w, "The image tag picks the outcome (%s:%s, :%s, ...; any other tag succeeds).\n",
		imageRepo, scenarios[1].tag, scenarios[2].tag)
}

// startOf reads back what the worker recorded of the run's start: the
// labels it set on the flow run and the line it wrote to the run's logs.
func (s *sandbox) startOf(r *demoRun) *sandboxreport.StartSummary {
	fr := s.prefect.FlowRun(r.id)
	if fr == nil {
		return nil
	}
	labels, _ := fr["labels"].(map[string]any)
	rec, err := startphase.FromLabels(labels)
	if err != nil || !rec.Has() {
		return nil
	}
	st := &sandboxreport.StartSummary{Seconds: map[string]float64{}, Capacity: rec.Capacity}
	for _, p := range startphase.Phases {
		if d, ok := rec.Get(p); ok {
			st.Seconds[p.String()] = roundMillis(d.Seconds())
		}
	}
	for _, l := range s.prefect.Logs() {
		msg, _ := l["message"].(string)
		if l["flow_run_id"] == r.id && strings.HasPrefix(msg, "ECS task st") {
			st.LogLine = msg
		}
	}
	return st
}

// slowestTaskPhase is the longest of the ECS phases of a start breakdown.
func slowestTaskPhase(st *sandboxreport.StartSummary) string {
	if st == nil {
		return ""
	}
	slowest, longest := "", -1.0
	for _, p := range []startphase.Phase{startphase.Provisioning, startphase.ImagePull, startphase.ContainerStart} {
		if v, ok := st.Seconds[p.String()]; ok && v > longest {
			slowest, longest = p.String(), v
		}
	}
	return slowest
}

// fallbackDiagnosis says which capacity a completed run ended up on when
// the worker had to fall back (its ecsworker.capacity-step label is past
// the deployment's own choice).
func fallbackDiagnosis(r *demoRun, fr map[string]any, rs sandboxreport.RunSummary) string {
	labels, _ := fr["labels"].(map[string]any)
	step, _ := labels["ecsworker.capacity-step"].(float64)
	if step < 1 || r.stateType != "COMPLETED" || rs.Start == nil {
		return ""
	}
	return fmt.Sprintf("completed on %s, capacity_fallback step %d, after %d RunTask refusal(s) for no capacity", rs.Start.Capacity, int(step), rs.RunTaskCalls-1)
}
