package startscmd

import (
	"testing"

	"github.com/ecsworker/ecsworker/internal/ecsjob"
	"github.com/ecsworker/ecsworker/internal/jobtemplate"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/prefectdeploy"
	"github.com/ecsworker/ecsworker/internal/startstats"
)

func TestHintsOf(t *testing.T) {
	obj := func(s string) *jsonv.Object {
		o, err := jsonv.DecodeObject([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	withImage := obj(`{"job_configuration": {}, "variables": {"properties": {"image": {"type": "string", "default": "pool/default:1"}, "env": {"type": "object", "default": {"EXTRA_PIP_PACKAGES": "s3fs"}}}}}`)
	poolTmpl, err := jobtemplate.FromObject(withImage)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		d    *prefectdeploy.Deployment
		tmpl *jobtemplate.Template
		want startstats.Hints
	}{
		{"no deployment", nil, ecsjob.DefaultTemplate(), startstats.Hints{}},
		{"the deployment's image and env", &prefectdeploy.Deployment{JobVariables: obj(`{"image": "acme/etl:2", "env": {"EXTRA_PIP_PACKAGES": "pandas"}}`)},
			ecsjob.DefaultTemplate(), startstats.Hints{Image: "acme/etl:2", ExtraPipPackages: true}},
		{"the pool template's defaults", &prefectdeploy.Deployment{}, poolTmpl, startstats.Hints{Image: "pool/default:1", ExtraPipPackages: true}},
		{"the deployment's env replaces the pool's", &prefectdeploy.Deployment{JobVariables: obj(`{"env": {"A": "1"}}`)}, poolTmpl, startstats.Hints{Image: "pool/default:1"}},
		{"the worker's default image", &prefectdeploy.Deployment{}, ecsjob.DefaultTemplate(), startstats.Hints{Image: "worker/default:3"}},
		{"pull steps that install and clone", &prefectdeploy.Deployment{PullSteps: obj(`{"s": [
			{"prefect.deployments.steps.git_clone": {"repository": "https://github.com/acme/big"}},
			{"prefect.deployments.steps.pip_install_requirements": {"requirements_file": "requirements.txt"}}]}`).GetArray("s")},
			ecsjob.DefaultTemplate(), startstats.Hints{Image: "worker/default:3", GitClone: true, PipInPullSteps: true}},
		{"a shell step with pip install", &prefectdeploy.Deployment{PullSteps: obj(`{"s": [
			{"prefect.deployments.steps.run_shell_script": {"script": "pip install -r requirements.txt"}}]}`).GetArray("s")},
			ecsjob.DefaultTemplate(), startstats.Hints{Image: "worker/default:3", PipInPullSteps: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hintsOf(tt.d, tt.tmpl, "worker/default:3"); got != tt.want {
				t.Errorf("hints %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNearNames(t *testing.T) {
	names := []string{"etl/nightly", "etl/hourly", "reports/weekly", "ml/train"}
	tests := map[string][]string{
		"etl/nighty":   {"etl/nightly", "etl/hourly"},
		"ETL/Nightly":  {"etl/nightly", "etl/hourly"},
		"reports/week": {"reports/weekly"},
		"zzz/qqqqqqqq": nil,
	}
	for v, want := range tests {
		got := nearNames(v, names, 5)
		if len(got) != len(want) || len(got) > 0 && got[0] != want[0] {
			t.Errorf("nearNames(%q) = %v, want %v", v, got, want)
		}
	}
}
