package clikit

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
	"github.com/ecsworker/ecsworker/internal/prefectcheck"
)

func TestPrefectAPIConnect(t *testing.T) {
	srv := prefectfake.NewTestServer(t, prefectfake.Options{APIKey: "pnu_k"})
	t.Setenv("PREFECT_HOME", t.TempDir())
	t.Setenv("PREFECT_API_KEY", "pnu_k")
	t.Setenv("PREFECT_API_URL", "")
	var stderr bytes.Buffer
	cmd := &cobra.Command{}
	cmd.SetErr(&stderr)
	api := &APIFlags{}
	api.Register(cmd)

	api.APIURL = srv.URL()
	if _, err := api.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	api.APIURL = strings.TrimSuffix(srv.URL(), "/api")
	_, err := api.Connect(context.Background())
	var ce *prefectcheck.ConnectionError
	var coded *CodedError
	if !errors.As(err, &ce) || !errors.As(err, &coded) || coded.Code != ExitError ||
		!strings.Contains(err.Error(), "--api-url is "+api.APIURL+", without the /api under which Prefect serves its API: set it to "+srv.URL()) {
		t.Errorf("error %v", err)
	}
}
