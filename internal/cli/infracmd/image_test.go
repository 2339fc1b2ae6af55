package infracmd_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/buildinfo"
	"github.com/ecsworker/ecsworker/internal/cli/clitest"
	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
)

// setVersion makes the CLI the build of version v until the test ends.
func setVersion(t *testing.T, v string) {
	t.Helper()
	prev := buildinfo.Version
	buildinfo.Version = v
	t.Cleanup(func() { buildinfo.Version = prev })
}

// The worker's image: a release deploys its own published image, a
// development build must be given one, and an ECR image must exist before
// a service is deployed to pull it.
func TestInfraServiceImage(t *testing.T) {
	e := newInfraEnv(t, prefectfake.Options{APIKey: infraTestKey})
	pushed := e.aws.PutImage("ecsworker", "v9", 41_900_000)
	repo := strings.TrimSuffix(pushed, ":v9")
	const denyDescribeImages = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},
		{"Effect":"Deny","Action":"ecr:DescribeImages","Resource":"*"}]}`
	devBuildFix := []string{"--image is required: this ecsworker is a development build (version ", "only releases have a published image",
		"REGION=us-east-1", "aws ecr create-repository --repository-name ecsworker --region $REGION",
		"docker build --build-arg VERSION=dev -t $IMAGE . && docker push $IMAGE",
		"ecsworker infra deploy-service --work-pool p ... --image $IMAGE", "Or install a release"}
	tests := map[string]struct {
		version string
		env     map[string]string
		policy  string
		extra   []string
		deploy  bool // a real deploy; else --dry-run --json
		code    int
		image   string   // the stack's Image parameter
		found   bool     // ECR confirmed the image
		stderr  []string // in order
		noCFN   bool     // refused before any CloudFormation call
	}{
		"release build runs its own image": {version: "v1.4.2", code: 0, image: "ghcr.io/ecsworker/ecsworker:1.4.2",
			stderr: []string{"Image ghcr.io/ecsworker/ecsworker:1.4.2: not checked: only images in a private ECR registry are looked up",
				"warning: the image ghcr.io/ecsworker/ecsworker:1.4.2 is outside ECR and was not checked"}},
		"release stamped without v":              {version: "1.4.2", code: 0, image: "ghcr.io/ecsworker/ecsworker:1.4.2"},
		"pre-release":                            {version: "v1.5.0-rc.1", code: 0, image: "ghcr.io/ecsworker/ecsworker:1.5.0-rc.1"},
		"development build":                      {version: "dev", code: 2, stderr: devBuildFix, noCFN: true},
		"pseudo-version":                         {version: "v0.0.0-20261207105432-abcdef123456", code: 2, stderr: devBuildFix, noCFN: true},
		"dirty checkout":                         {version: "v1.4.2+dirty", code: 2, stderr: devBuildFix, noCFN: true},
		"development build, real deploy":         {version: "dev", deploy: true, code: 2, stderr: devBuildFix, noCFN: true},
		"development build with ECSWORKER_IMAGE": {version: "dev", env: map[string]string{"ECSWORKER_IMAGE": pushed}, code: 0, image: pushed, found: true},
		"ECR image that exists": {version: "dev", extra: []string{"--image", pushed}, code: 0, image: pushed, found: true,
			stderr: []string{"Image " + pushed + ": found in ECR (41.9 MB, pushed 2026-08-01)"}},
		"ECR image that exists, deployed": {version: "dev", deploy: true, extra: []string{"--image", pushed}, code: 0, image: pushed, found: true,
			stderr: []string{"Image " + pushed + ": found in ECR", "Stack ecsworker-p: create complete"}},
		"missing ECR tag": {version: "v1.4.2", deploy: true, extra: []string{"--image", repo + ":v10"}, code: 1, noCFN: true,
			stderr: []string{"--image " + repo + ":v10: repository ecsworker in registry 123456789012 (region us-east-1) has no image with tag v10",
				"push it first (docker push " + repo + ":v10), or pass another --image"}},
		"missing ECR digest": {version: "v1.4.2", extra: []string{"--image", repo + "@sha256:" + strings.Repeat("0", 64)}, code: 1, noCFN: true,
			stderr: []string{"has no image with digest sha256:000"}},
		"missing ECR repository": {version: "v1.4.2", extra: []string{"--image", strings.Replace(pushed, "/ecsworker:", "/nope:", 1)}, code: 1, noCFN: true,
			stderr: []string{"ECR has no repository nope in registry 123456789012 (region us-east-1)", "aws ecr create-repository --repository-name nope --region us-east-1"}},
		// The image's registry is looked up in its own region, not the stack's.
		"ECR image of another region": {version: "v1.4.2", extra: []string{"--image", strings.Replace(pushed, "us-east-1", "eu-west-1", 1)}, code: 1, noCFN: true,
			stderr: []string{"ECR has no repository ecsworker in registry 123456789012 (region eu-west-1)"}},
		"DescribeImages refused": {version: "dev", deploy: true, policy: denyDescribeImages, extra: []string{"--image", pushed}, code: 0, image: pushed,
			stderr: []string{"Image " + pushed + ": not checked: AWS refused ecr:DescribeImages to this identity",
				"warning: could not check that the image " + pushed + " exists", "the deploy goes on", "Stack ecsworker-p: create complete"}},
		"DescribeImages refused, dry run": {version: "dev", policy: denyDescribeImages, extra: []string{"--image", pushed}, code: 0, image: pushed,
			stderr: []string{"warning: could not check that the image " + pushed + " exists"}},
		"image outside ECR": {version: "dev", extra: []string{"--image", "docker.io/acme/ecsworker:1.4.2"}, code: 0, image: "docker.io/acme/ecsworker:1.4.2",
			stderr: []string{"warning: the image docker.io/acme/ecsworker:1.4.2 is outside ECR and was not checked"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			setVersion(t, tc.version)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			if tc.policy != "" {
				if err := e.aws.SetIdentityPolicy("", tc.policy); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(e.aws.ClearIdentityPolicies)
			}
			before := e.aws.Calls()
			args := e.serviceArgs("p", tc.extra...)
			if !tc.deploy {
				args = append(args, "--dry-run", "--json")
			}
			r := runInfra(t, "", args...)
			if r.Code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", r.Code, tc.code, r.Stderr)
			}
			clitest.MustContain(t, "stderr", r.Stderr, tc.stderr...)
			after := e.aws.Calls()
			for _, action := range []string{"cloudformation:DescribeStacks", "cloudformation:CreateChangeSet"} {
				if tc.noCFN && after[action] != before[action] {
					t.Errorf("%s was called", action)
				}
			}
			if tc.code != 0 {
				return
			}
			if tc.deploy {
				v, _ := e.aws.Stack("ecsworker-p")
				if v.Parameters["Image"] != tc.image {
					t.Errorf("stack image %q, want %q", v.Parameters["Image"], tc.image)
				}
				if r := runInfra(t, "", "infra", "delete", "ecsworker-p", "--yes"); r.Code != 0 {
					t.Fatalf("delete: %s", r.Stderr)
				}
				return
			}
			var dry struct {
				Parameters map[string]string `json:"parameters"`
				Warnings   []string          `json:"warnings"`
				ImageCheck struct {
					Image   string `json:"image"`
					Found   bool   `json:"found"`
					Detail  string `json:"detail"`
					Warning string `json:"warning"`
				} `json:"imageCheck"`
			}
			if err := json.Unmarshal([]byte(r.Stdout), &dry); err != nil {
				t.Fatalf("--json: %v\n%s", err, r.Stdout)
			}
			ic := dry.ImageCheck
			if dry.Parameters["Image"] != tc.image || ic.Image != tc.image || ic.Found != tc.found || ic.Detail == "" || (ic.Warning == "") != tc.found {
				t.Errorf("dry run: image %q, check %+v; want %q, found %v", dry.Parameters["Image"], ic, tc.image, tc.found)
			}
			if ic.Warning != "" && !strings.Contains(strings.Join(dry.Warnings, "\n"), ic.Warning) {
				t.Errorf("the image warning is not among the dry run's warnings: %v", dry.Warnings)
			}
		})
	}
}

// The dry run's text shows the image check as a line of its own.
func TestInfraServiceImageDryRunText(t *testing.T) {
	e := newInfraEnv(t, prefectfake.Options{APIKey: infraTestKey})
	setVersion(t, "dev")
	pushed := e.aws.PutImage("ecsworker", "dev", 41_900_000)
	r := runInfra(t, "", e.serviceArgs("p", "--image", pushed, "--dry-run")...)
	if r.Code != 0 {
		t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
	}
	clitest.MustContain(t, "stdout", r.Stdout, "Image check: found in ECR (41.9 MB, pushed 2026-08-01)", "Template: ")
}

func TestInfraExportTemplateImage(t *testing.T) {
	newInfraEnv(t, prefectfake.Options{})
	tests := map[string]struct {
		version string
		args    []string
		code    int
		image   string
		stderr  []string
	}{
		"release build":                {version: "v1.4.2", code: 0, image: "ghcr.io/ecsworker/ecsworker:1.4.2"},
		"development build":            {version: "dev", code: 2, stderr: []string{"--image is required: this ecsworker is a development build (version dev)", "ecsworker infra export-template --type service --image $IMAGE"}},
		"development build with image": {version: "dev", args: []string{"--image", "img:1"}, code: 0, image: "img:1"},
		// The events template runs no image.
		"development build, events": {version: "dev", args: []string{"--type", "events"}, code: 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			setVersion(t, tc.version)
			r := runInfra(t, "", append([]string{"infra", "export-template"}, tc.args...)...)
			if r.Code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", r.Code, tc.code, r.Stderr)
			}
			clitest.MustContain(t, "stderr", r.Stderr, tc.stderr...)
			if tc.code != 0 {
				return
			}
			var tmpl struct {
				Parameters map[string]struct {
					Default any `json:"Default"`
				} `json:"Parameters"`
			}
			if err := json.Unmarshal([]byte(r.Stdout), &tmpl); err != nil {
				t.Fatal(err)
			}
			if got, _ := tmpl.Parameters["Image"].Default.(string); got != tc.image {
				t.Errorf("Image default %q, want %q", got, tc.image)
			}
		})
	}
}
