package prefect

// SetSizeLimits lowers the byte budget, per-run limit and skip limit of
// PollScheduledFlowRuns, so that tests can reach them with answers of a
// few megabytes (prefectapi.WithMaxResponse lowers the other limit).
func SetSizeLimits(c *Client, budget, perRun, skip int64) {
	c.runLimits = runLimits{budget: budget, perRun: perRun, skip: skip}
}

// SharesSubjects reports whether two runs' subjects are one interned copy.
func SharesSubjects(a, b RunSubjects) bool { return a.shared == b.shared }
