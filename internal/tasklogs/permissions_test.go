package tasklogs_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/ecsworker/ecsworker/internal/awsclient/awsclienttest"
	"github.com/ecsworker/ecsworker/internal/awserr"
	"github.com/ecsworker/ecsworker/internal/tasklogs"
)

// A log group the identity may not read is asked once: later reads of the
// same group say so without calling, other groups are still read.
func TestLogReaderRemembersARefusedGroup(t *testing.T) {
	t.Parallel()
	w := awsclienttest.NewWorld(t, awsclienttest.Options{})
	if err := w.Srv.SetIdentityPolicy("", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"logs:GetLogEvents","Resource":"arn:aws:logs:*:*:log-group:open:*"}]}`); err != nil {
		t.Fatal(err)
	}
	r := tasklogs.NewReader(w.Clients.Logs, awserr.NewPermissions(awserr.PermissionOptions{Logger: slog.New(slog.DiscardHandler)}))
	for range 3 {
		_, err := r.Tail(context.Background(), tasklogs.Source{Group: "secret", Stream: "s"}, 10)
		if !errors.Is(err, tasklogs.ErrUnreadable) {
			t.Errorf("refused group: %v, want ErrLogsUnreadable", err)
		}
	}
	if n := w.Srv.Denied()["logs:GetLogEvents"]; n != 1 {
		t.Errorf("GetLogEvents refused %d times, want once", n)
	}
	if _, err := r.Tail(context.Background(), tasklogs.Source{Group: "open", Stream: "s"}, 10); err != nil {
		t.Errorf("a readable group: %v", err)
	}
}
