//go:build chaos

package chaos

import (
	"log/slog"
	"testing"
)

// The scenarios pass when the scanner finds nothing, which proves little
// unless it would find a leak: it must see secrets wherever a handler
// writes them, quoted or not.
func TestLeakScannerSeesSecrets(t *testing.T) {
	l := newLeakScanner(prefectAPIKey, awsSecretKey)
	log := slog.New(slog.NewTextHandler(l, nil))
	log.Info("no secret here", "flow_run", "0d4f")
	log.Warn("request failed", "err", "401: Authorization: Bearer "+prefectAPIKey)
	log.Info("credentials", "block", map[string]string{"aws_secret_access_key": awsSecretKey})
	l.check(`{"message": "task env PREFECT_API_KEY=` + prefectAPIKey + `"}`)
	if l.leaks != 3 || l.lines != 4 || len(l.samples) != 3 {
		t.Errorf("scanner saw %d leaks in %d lines (samples %q), want 3 in 4", l.leaks, l.lines, l.samples)
	}
}
