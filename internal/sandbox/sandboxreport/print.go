package sandboxreport

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// ScenarioWidth is the width of the scenario column, here and in the
// sandbox's live view: the longest scenario name, cancel-before-start.
const ScenarioWidth = 22

// Print writes the report of a finished demo: the ECS requests of one run,
// a table of the runs, what the worker told Prefect about those that
// crashed, the calls it made, its warnings and the verdict.
func Print(w io.Writer, sum Summary) {
	if req := sum.ECSRequests; req != nil {
		fmt.Fprintf(w, "ECS requests the worker sent for %s (%s), as the simulated AWS received them; secrets masked:\n\n", req.FlowRun, req.Scenario)
		if req.RegisterTaskDefinition != nil {
			fmt.Fprintf(w, "RegisterTaskDefinition\n%s\n\n", req.RegisterTaskDefinition)
		} else {
			fmt.Fprintf(w, "RegisterTaskDefinition: none; the run reused a task definition registered for an earlier one\n\n")
		}
		if req.RunTask != nil {
			fmt.Fprintf(w, "RunTask\n%s\n\n", req.RunTask)
		}
	}

	fmt.Fprintln(w, "Summary (✓ ended as its scenario expects)")
	nameW := len("RUN")
	for _, r := range sum.Runs {
		nameW = max(nameW, len(r.Name))
	}
	row := func(mark, name, scenario, state, task, toRun, diag string) {
		line := fmt.Sprintf("  %-1s  %-*s  %-*s  %-11s  %-8s  %-10s  %s", mark, nameW, name, ScenarioWidth, scenario, state, task, toRun, diag)
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
	row(" ", "RUN", "SCENARIO", "FINAL STATE", "TASK", "TO RUNTASK", "DIAGNOSIS")
	for _, r := range sum.Runs {
		mark := "✓"
		if !r.OK {
			mark = "✗"
		}
		state := r.StateName
		if r.FinalState == "" {
			state += "?"
		}
		task := "-"
		if r.TaskARN != "" {
			task = r.TaskARN[strings.LastIndex(r.TaskARN, "/")+1:]
			task = task[:min(8, len(task))]
		}
		toRun := "-"
		if r.SecondsToRunTask != nil {
			toRun = fmt.Sprintf("%.2fs", *r.SecondsToRunTask)
		}
		row(mark, r.Name, r.Scenario, state, task, toRun, r.Diagnosis)
	}
	fmt.Fprintln(w)

	printStarts(w, sum.Runs)

	told := false
	for _, r := range sum.Runs {
		if r.FinalState == "CRASHED" || r.FinalState == "FAILED" {
			if !told {
				fmt.Fprintln(w, "What the worker told Prefect about the runs that crashed:")
				told = true
			}
			fmt.Fprintf(w, "  %s (%s):\n%s\n", r.Name, r.Scenario, wrap(r.Message, "    ", 100))
		}
	}
	if told {
		fmt.Fprintln(w)
	}

	fmt.Fprintf(w, "Calls the worker made\n")
	printCalls(w, "Simulated AWS", sum.AWSCalls, 0)
	printCalls(w, "Local Prefect API", sum.PrefectCalls, 8)
	fmt.Fprintln(w)

	if len(sum.WorkerWarnings) > 0 {
		fmt.Fprintf(w, "Worker warnings (%d):\n", len(sum.WorkerWarnings))
		for _, l := range sum.WorkerWarnings[:min(10, len(sum.WorkerWarnings))] {
			fmt.Fprintf(w, "  %s\n", l)
		}
		fmt.Fprintln(w)
	}
	switch {
	case sum.Interrupted:
		fmt.Fprintf(w, "Interrupted after %.1fs:\n", sum.ElapsedSeconds)
		for _, m := range sum.Mismatches {
			fmt.Fprintf(w, "  %s\n", m)
		}
	case sum.OK:
		what := fmt.Sprintf("All %d runs ended as their scenarios expect", len(sum.Runs))
		if len(sum.Runs) == 1 {
			what = "The run ended as its scenario expects"
		}
		fmt.Fprintf(w, "%s, in %.1fs.\n", what, sum.ElapsedSeconds)
	default:
		fmt.Fprintf(w, "%d problem(s), in %.1fs:\n", len(sum.Mismatches), sum.ElapsedSeconds)
		for _, m := range sum.Mismatches {
			fmt.Fprintf(w, "  ✗ %s\n", m)
		}
	}
	fmt.Fprintf(w, "That was %s: nothing was sent to AWS or to a real Prefect server.\n", Banner)
}

// wrap breaks text into lines of at most width columns, each indented.
func wrap(text, indent string, width int) string {
	var b strings.Builder
	line := indent
	for _, word := range strings.Fields(text) {
		if len(line) > len(indent) && len(line)+1+len(word) > width {
			b.WriteString(line + "\n")
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += word
	}
	b.WriteString(line)
	return b.String()
}

// printCalls lists call counts, most frequent first; limit > 0 folds the
// tail into one line.
func printCalls(w io.Writer, what string, calls map[string]int, limit int) {
	total := 0
	for _, n := range calls {
		total += n
	}
	keys := slices.SortedFunc(maps.Keys(calls), func(a, b string) int {
		return cmp.Or(cmp.Compare(calls[b], calls[a]), cmp.Compare(a, b))
	})
	fmt.Fprintf(w, "  %s: %d calls\n", what, total)
	width := 0
	for _, k := range keys {
		width = max(width, len(k))
	}
	for i, k := range keys {
		if limit > 0 && i == limit {
			rest := 0
			for _, k := range keys[i:] {
				rest += calls[k]
			}
			fmt.Fprintf(w, "    %-*s  %5d\n", width, fmt.Sprintf("(%d other kinds)", len(keys)-i), rest)
			break
		}
		fmt.Fprintf(w, "    %-*s  %5d\n", width, k, calls[k])
	}
}

// printStarts shows where each run's start went: the line the worker wrote
// to the run's logs, and the flow start, which comes later.
func printStarts(w io.Writer, runs []RunSummary) {
	told := false
	for _, r := range runs {
		if r.Start == nil || r.Start.LogLine == "" {
			continue
		}
		if !told {
			fmt.Fprintln(w, "Where each run's start went (the worker's line in the run's logs; the figures are also labels on the flow run):")
			told = true
		}
		line := r.Start.LogLine
		if s, ok := r.Start.Seconds["flow_start"]; ok {
			line += fmt.Sprintf("; the flow started %.1f s later", s)
		}
		fmt.Fprintf(w, "  %s (%s):\n%s\n", r.Name, r.Scenario, wrap(line, "    ", 100))
	}
	if told {
		fmt.Fprintln(w)
	}
}
