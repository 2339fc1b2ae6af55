package prefect

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/ecsworker/ecsworker/internal/prefectapi"
)

// Log levels as Prefect (Python's logging) numbers them.
const (
	LevelDebug    = 10
	LevelInfo     = 20
	LevelWarning  = 30
	LevelError    = 40
	LevelCritical = 50
)

// LogCreate is one log record for POST /logs/.
type LogCreate struct {
	Name      string // logger name, e.g. prefect.flow_runs.worker
	Level     int
	Message   string
	Timestamp time.Time
	FlowRunID string
	TaskRunID string
	// WorkerID is sent to Prefect Cloud only: a self-hosted server refuses
	// the whole batch with 422 when a record has it.
	WorkerID string
}

type logBody struct {
	Name      string `json:"name"`
	Level     int    `json:"level"`
	Message   string `json:"message"`
	Timestamp string `json:"timestamp"`
	FlowRunID string `json:"flow_run_id,omitempty"`
	TaskRunID string `json:"task_run_id,omitempty"`
	WorkerID  string `json:"worker_id,omitempty"`
}

// CreateLogs sends a batch of log records. Batching (Prefect sends at most
// 4 MB per request, 1 MB per record) is the caller's business.
func (c *Client) CreateLogs(ctx context.Context, logs []LogCreate) error {
	if len(logs) == 0 {
		return nil
	}
	body := make([]logBody, len(logs))
	for i, l := range logs {
		ts := l.Timestamp
		if ts.IsZero() {
			ts = c.t.Now()
		}
		body[i] = logBody{Name: l.Name, Level: l.Level, Message: l.Message, Timestamp: prefectapi.FormatTime(ts),
			FlowRunID: l.FlowRunID, TaskRunID: l.TaskRunID}
		if c.t.IsCloud() {
			body[i].WorkerID = l.WorkerID
		}
	}
	_, err := c.t.Do(ctx, prefectapi.Call{Op: fmt.Sprintf("send %d log records", len(logs)), Method: http.MethodPost, Path: "/logs/", Body: body})
	return err
}
