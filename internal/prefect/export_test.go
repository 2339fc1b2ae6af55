package prefect

// WithSizeLimits lowers the client's size limits, so that tests can reach
// them with answers of a few megabytes: the largest 2xx body read into
// memory, and the byte budget, per-run limit and skip limit of
// PollScheduledFlowRuns.
func WithSizeLimits(maxResponse, budget, perRun, skip int64) Option {
	return func(c *Client) {
		c.maxResponse = maxResponse
		c.runLimits = runLimits{budget: budget, perRun: perRun, skip: skip}
	}
}
