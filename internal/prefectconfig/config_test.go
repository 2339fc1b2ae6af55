package prefectconfig_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectconfig"
)

// envMap is a fake environment; HOME points at a temporary directory so
// that the tests never read the real ~/.prefect.
func envMap(t *testing.T, kv map[string]string) func(string) (string, bool) {
	t.Helper()
	m := map[string]string{"HOME": t.TempDir()}
	for k, v := range kv {
		m[k] = v
	}
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func writeProfiles(t *testing.T, content string) string {
	t.Helper()
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, "profiles.toml"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return home
}

func TestLoadConfigDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := prefectconfig.LoadConfig(envMap(t, nil), prefectconfig.Config{})
	if err != nil {
		t.Fatal(err)
	}
	want := prefectconfig.DefaultConfig()
	want.Profile = "ephemeral"
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %v\nwant %v", cfg, want)
	}
	if cfg.Timeout != 60*time.Second || cfg.MaxRetries != 5 || cfg.RetryJitter != 0.2 || !cfg.CSRFEnabled {
		t.Errorf("defaults differ from Prefect's: %v", cfg)
	}
}

const sampleProfiles = `
active = "work"

[profiles.work]
PREFECT_API_URL = "http://profile:4200/api/"
PREFECT_API_KEY = "pnu_profilekey"
PREFECT_CLIENT_MAX_RETRIES = 2
PREFECT_API_REQUEST_TIMEOUT = 12.5
PREFECT_CLIENT_CSRF_SUPPORT_ENABLED = false
PREFECT_CLIENT_RETRY_EXTRA_CODES = [500, 520]
PREFECT_CLIENT_CUSTOM_HEADERS = '{"X-Team": "data"}'

[profiles.other]
prefect_api_url = "http://other:4200/api"
PREFECT_API_TLS_INSECURE_SKIP_VERIFY = "yes"

[profiles.local]
PREFECT_API_KEY = "pnu_localkey"
`

func TestLoadConfigPrecedence(t *testing.T) {
	t.Parallel()
	home := writeProfiles(t, sampleProfiles)
	tests := map[string]struct {
		env       map[string]string
		overrides prefectconfig.Config
		check     func(t *testing.T, c prefectconfig.Config)
	}{
		"profile from the file's active key": {
			env: map[string]string{"PREFECT_HOME": home},
			check: func(t *testing.T, c prefectconfig.Config) {
				if c.Profile != "work" || c.APIURL != "http://profile:4200/api" || c.APIKey != "pnu_profilekey" {
					t.Errorf("profile not applied: %v", c)
				}
				if c.MaxRetries != 2 || c.Timeout != 12500*time.Millisecond || c.CSRFEnabled {
					t.Errorf("typed profile values not applied: %v", c)
				}
				if !reflect.DeepEqual(c.ExtraRetryCodes, []int{500, 520}) || c.CustomHeaders["X-Team"] != "data" {
					t.Errorf("list/JSON profile values not applied: %v %v", c.ExtraRetryCodes, c.CustomHeaders)
				}
				if c.ProfilesPath != filepath.Join(home, "profiles.toml") {
					t.Errorf("ProfilesPath = %q", c.ProfilesPath)
				}
			},
		},
		"env beats profile": {
			env: map[string]string{"PREFECT_HOME": home, "PREFECT_API_URL": "https://env:4200/api",
				"PREFECT_CLIENT_MAX_RETRIES": "0", "PREFECT_CLIENT_CSRF_SUPPORT_ENABLED": "TRUE"},
			check: func(t *testing.T, c prefectconfig.Config) {
				if c.APIURL != "https://env:4200/api" || c.MaxRetries != 0 || !c.CSRFEnabled {
					t.Errorf("env did not win: %v", c)
				}
				if c.APIKey != "pnu_profilekey" {
					t.Errorf("unset env var hid the profile's key")
				}
			},
		},
		"empty env var counts as unset": {
			env: map[string]string{"PREFECT_HOME": home, "PREFECT_API_KEY": ""},
			check: func(t *testing.T, c prefectconfig.Config) {
				if c.APIKey != "pnu_profilekey" {
					t.Errorf("APIKey = %q", c.APIKey)
				}
			},
		},
		"flags beat env": {
			env: map[string]string{"PREFECT_HOME": home, "PREFECT_API_URL": "https://env:4200/api", "PREFECT_API_KEY": "pnu_envkey"},
			overrides: prefectconfig.Config{APIURL: "https://flag:4200/api/", APIKey: "pnu_flagkey", MaxRetries: 9,
				Timeout: time.Second, TLSInsecureSkipVerify: true},
			check: func(t *testing.T, c prefectconfig.Config) {
				if c.APIURL != "https://flag:4200/api" || c.APIKey != "pnu_flagkey" || c.MaxRetries != 9 ||
					c.Timeout != time.Second || !c.TLSInsecureSkipVerify {
					t.Errorf("flags did not win: %v", c)
				}
			},
		},
		"every override field": {
			env: map[string]string{"PREFECT_HOME": home},
			overrides: prefectconfig.Config{AuthString: "u:p", CSRFEnabled: true, CACertFile: "/ca.pem", RetryJitter: 0.5,
				ExtraRetryCodes: []int{520}, CustomHeaders: map[string]string{"X": "y"}, CloudAPIURL: "https://c/api/", UIBaseURL: "https://ui/"},
			check: func(t *testing.T, c prefectconfig.Config) {
				want := prefectconfig.Config{AuthString: "u:p", CSRFEnabled: true, CACertFile: "/ca.pem", RetryJitter: 0.5,
					ExtraRetryCodes: []int{520}, CustomHeaders: map[string]string{"X": "y"}, CloudAPIURL: "https://c/api", UIBaseURL: "https://ui"}
				got := prefectconfig.Config{AuthString: c.AuthString, CSRFEnabled: c.CSRFEnabled, CACertFile: c.CACertFile, RetryJitter: c.RetryJitter,
					ExtraRetryCodes: c.ExtraRetryCodes, CustomHeaders: c.CustomHeaders, CloudAPIURL: c.CloudAPIURL, UIBaseURL: c.UIBaseURL}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("got %#v\nwant %#v", got, want)
				}
			},
		},
		"PREFECT_HOME with ~": {
			env: map[string]string{"PREFECT_HOME": "~/prefect-home-that-does-not-exist"},
			check: func(t *testing.T, c prefectconfig.Config) {
				if c.Profile != "ephemeral" {
					t.Errorf("Profile = %q", c.Profile)
				}
			},
		},
		"PREFECT_PROFILE picks another profile, keys are case-insensitive": {
			env: map[string]string{"PREFECT_HOME": home, "PREFECT_PROFILE": "other"},
			check: func(t *testing.T, c prefectconfig.Config) {
				if c.Profile != "other" || c.APIURL != "http://other:4200/api" || !c.TLSInsecureSkipVerify || c.APIKey != "" {
					t.Errorf("got %v", c)
				}
			},
		},
		"profile flag beats PREFECT_PROFILE": {
			env:       map[string]string{"PREFECT_HOME": home, "PREFECT_PROFILE": "other"},
			overrides: prefectconfig.Config{Profile: "work"},
			check: func(t *testing.T, c prefectconfig.Config) {
				if c.Profile != "work" {
					t.Errorf("Profile = %q", c.Profile)
				}
			},
		},
		"built-in local profile merged with the file": {
			env: map[string]string{"PREFECT_HOME": home, "PREFECT_PROFILE": "local"},
			check: func(t *testing.T, c prefectconfig.Config) {
				if c.APIURL != "http://127.0.0.1:4200/api" || c.APIKey != "pnu_localkey" {
					t.Errorf("got %v", c)
				}
			},
		},
		"PREFECT_PROFILES_PATH wins over PREFECT_HOME": {
			env: map[string]string{"PREFECT_HOME": t.TempDir(), "PREFECT_PROFILES_PATH": filepath.Join(home, "profiles.toml")},
			check: func(t *testing.T, c prefectconfig.Config) {
				if c.Profile != "work" {
					t.Errorf("Profile = %q", c.Profile)
				}
			},
		},
		"SSL_CERT_FILE is the default CA file": {
			env: map[string]string{"SSL_CERT_FILE": "/etc/ssl/ca.pem"},
			check: func(t *testing.T, c prefectconfig.Config) {
				if c.CACertFile != "/etc/ssl/ca.pem" {
					t.Errorf("CACertFile = %q", c.CACertFile)
				}
			},
		},
		"PREFECT_API_SSL_CERT_FILE beats SSL_CERT_FILE": {
			env: map[string]string{"SSL_CERT_FILE": "/etc/ssl/ca.pem", "PREFECT_API_SSL_CERT_FILE": "/p/ca.pem"},
			check: func(t *testing.T, c prefectconfig.Config) {
				if c.CACertFile != "/p/ca.pem" {
					t.Errorf("CACertFile = %q", c.CACertFile)
				}
			},
		},
		"extra codes and headers from env": {
			env: map[string]string{"PREFECT_CLIENT_RETRY_EXTRA_CODES": "500, 520,500", "PREFECT_CLIENT_CUSTOM_HEADERS": `{"CF-Access-Client-Id": "abc"}`,
				"PREFECT_CLIENT_RETRY_JITTER_FACTOR": "0", "PREFECT_CLOUD_API_URL": "https://cloud.example/api/", "PREFECT_UI_URL": "https://ui.example/"},
			check: func(t *testing.T, c prefectconfig.Config) {
				if !reflect.DeepEqual(c.ExtraRetryCodes, []int{500, 520}) || c.CustomHeaders["CF-Access-Client-Id"] != "abc" ||
					c.RetryJitter != 0 || c.CloudAPIURL != "https://cloud.example/api" || c.UIBaseURL != "https://ui.example" {
					t.Errorf("got %v", c)
				}
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg, err := prefectconfig.LoadConfig(envMap(t, tc.env), tc.overrides)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, cfg)
		})
	}
}

func TestLoadConfigProfileFallback(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		file        string
		wantProfile string
		wantURL     string
	}{
		"no file: built-in ephemeral": {wantProfile: "ephemeral"},
		"no active key: ephemeral from the file": {
			file:        "[profiles.ephemeral]\nPREFECT_API_URL = \"http://e/api\"\n[profiles.default]\nPREFECT_API_URL = \"http://d/api\"\n",
			wantProfile: "ephemeral", wantURL: "http://e/api",
		},
		"no active key: Prefect 2's default": {
			file:        "[profiles.default]\nPREFECT_API_URL = \"http://d/api\"\n",
			wantProfile: "default", wantURL: "http://d/api",
		},
		"active names a built-in profile": {
			file:        "active = \"local\"\n",
			wantProfile: "local", wantURL: "http://127.0.0.1:4200/api",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"PREFECT_HOME": t.TempDir()}
			if tc.file != "" {
				env["PREFECT_HOME"] = writeProfiles(t, tc.file)
			}
			cfg, err := prefectconfig.LoadConfig(envMap(t, env), prefectconfig.Config{})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Profile != tc.wantProfile || cfg.APIURL != tc.wantURL {
				t.Errorf("got profile %q url %q, want %q %q", cfg.Profile, cfg.APIURL, tc.wantProfile, tc.wantURL)
			}
		})
	}
}

func TestLoadConfigErrors(t *testing.T) {
	t.Parallel()
	const secret = "pnu_supersecret123"
	tests := map[string]struct {
		file string // profiles.toml content, "" for none
		env  map[string]string
		want []string // substrings of the error
	}{
		"bad boolean from env": {
			env:  map[string]string{"PREFECT_API_TLS_INSECURE_SKIP_VERIFY": "maybe"},
			want: []string{"PREFECT_API_TLS_INSECURE_SKIP_VERIFY", `"maybe"`, "environment variable", "true or false"},
		},
		"bad number from profile names the file": {
			file: "active = \"x\"\n[profiles.x]\nPREFECT_CLIENT_MAX_RETRIES = \"five\"\n",
			want: []string{"PREFECT_CLIENT_MAX_RETRIES", `"five"`, `profile "x" in `, "profiles.toml", "e.g. 5"},
		},
		"bad timeout": {
			env:  map[string]string{"PREFECT_API_REQUEST_TIMEOUT": "-3"},
			want: []string{"PREFECT_API_REQUEST_TIMEOUT", "positive number of seconds"},
		},
		"bad URL scheme": {
			env:  map[string]string{"PREFECT_API_URL": "localhost:4200/api"},
			want: []string{"PREFECT_API_URL", "http://", "http://127.0.0.1:4200/api"},
		},
		"URL password is masked": {
			env:  map[string]string{"PREFECT_API_URL": "ftp://user:" + secret + "@host/api"},
			want: []string{"PREFECT_API_URL", "xxxxx"},
		},
		"bad extra codes": {
			env:  map[string]string{"PREFECT_CLIENT_RETRY_EXTRA_CODES": "500,abc"},
			want: []string{"PREFECT_CLIENT_RETRY_EXTRA_CODES", `"abc" is not an HTTP status code`, "500,520"},
		},
		"custom headers are never echoed": {
			env:  map[string]string{"PREFECT_CLIENT_CUSTOM_HEADERS": `{"Authorization": "` + secret + `", "X": 1}`},
			want: []string{"PREFECT_CLIENT_CUSTOM_HEADERS", "not a string", "JSON object"},
		},
		"unknown profile": {
			file: "[profiles.a]\n",
			env:  map[string]string{"PREFECT_PROFILE": "nope"},
			want: []string{`profile "nope" does not exist`, "PREFECT_PROFILE", "a, cloud, ephemeral, local, test"},
		},
		"unknown active profile": {
			file: "active = \"gone\"\n",
			want: []string{`profile "gone" does not exist`, `"active" key of`},
		},
		"invalid TOML": {
			file: "active = \n[profiles.x\n",
			want: []string{"profiles.toml", "is not valid TOML (line 1"},
		},
		"several problems at once": {
			env:  map[string]string{"PREFECT_CLIENT_MAX_RETRIES": "-1", "PREFECT_CLIENT_CSRF_SUPPORT_ENABLED": "2"},
			want: []string{"PREFECT_CLIENT_MAX_RETRIES", "PREFECT_CLIENT_CSRF_SUPPORT_ENABLED"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"PREFECT_HOME": t.TempDir(), "PREFECT_API_KEY": secret}
			if tc.file != "" {
				env["PREFECT_HOME"] = writeProfiles(t, tc.file)
			}
			for k, v := range tc.env {
				env[k] = v
			}
			_, err := prefectconfig.LoadConfig(envMap(t, env), prefectconfig.Config{})
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			if strings.Contains(msg, secret) {
				t.Errorf("error leaks a secret: %q", msg)
			}
			var ce *prefectconfig.ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("error is not a *ConfigError: %T", err)
			}
		})
	}
}

func TestParseBool(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in      string
		want    bool
		wantErr bool
	}{
		"true": {in: "true", want: true}, "TRUE": {in: "TRUE", want: true}, "1": {in: "1", want: true},
		"yes": {in: "Yes", want: true}, "on": {in: "on", want: true}, "t": {in: "t", want: true},
		"false": {in: "False"}, "0": {in: "0"}, "no": {in: "NO"}, "off": {in: "off"}, "spaces": {in: " false "},
		"empty": {in: "", wantErr: true}, "2": {in: "2", wantErr: true}, "maybe": {in: "maybe", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := prefectconfig.ParseBool(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("ParseBool(%q) = %v, %v", tc.in, got, err)
			}
		})
	}
}

func TestConfigStringMasksSecrets(t *testing.T) {
	t.Parallel()
	cfg := prefectconfig.Config{
		APIURL: "https://user:urlpassword@example.com/api", APIKey: "pnu_verysecretkey", AuthString: "admin:hunter22",
		CustomHeaders: map[string]string{"CF-Access-Client-Secret": "cfsecret123"},
	}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(format, cfg)
		for _, secret := range []string{"pnu_verysecretkey", "hunter22", "cfsecret123", "urlpassword"} {
			if strings.Contains(out, secret) {
				t.Errorf("%s leaks %q: %s", format, secret, out)
			}
		}
		if !strings.Contains(out, "CF-Access-Client-Secret") || !strings.Contains(out, "example.com") {
			t.Errorf("%s hides too much: %s", format, out)
		}
	}
	if out := fmt.Sprint(prefectconfig.Config{}); !strings.Contains(out, `APIKey: ""`) {
		t.Errorf("an unset key should show as empty: %s", out)
	}
}

func TestConfigCloudAndUI(t *testing.T) {
	t.Parallel()
	const ws = "/accounts/a1/workspaces/w1"
	tests := map[string]struct {
		cfg       prefectconfig.Config
		wantCloud bool
		wantUI    string
	}{
		"cloud": {
			cfg:       prefectconfig.Config{APIURL: "https://api.prefect.cloud/api" + ws},
			wantCloud: true, wantUI: "https://app.prefect.cloud/account/a1/workspace/w1",
		},
		"self-hosted": {
			cfg:    prefectconfig.Config{APIURL: "http://127.0.0.1:4200/api"},
			wantUI: "http://127.0.0.1:4200",
		},
		"self-hosted with a base path": {
			cfg:    prefectconfig.Config{APIURL: "https://prefect.example.com/prefect/api"},
			wantUI: "https://prefect.example.com/prefect",
		},
		"cloud API URL overridden": {
			cfg:       prefectconfig.Config{APIURL: "https://api.stg.prefect.dev/api" + ws, CloudAPIURL: "https://api.stg.prefect.dev/api"},
			wantCloud: true, wantUI: "https://app.stg.prefect.dev/account/a1/workspace/w1",
		},
		"PREFECT_UI_URL wins": {
			cfg:    prefectconfig.Config{APIURL: "http://10.0.0.1:4200/api", UIBaseURL: "https://prefect.example.com"},
			wantUI: "https://prefect.example.com",
		},
		"no URL":              {cfg: prefectconfig.Config{}},
		"lookalike not cloud": {cfg: prefectconfig.Config{APIURL: "https://api.prefect.cloud.evil.example/api"}, wantUI: "https://api.prefect.cloud.evil.example"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := tc.cfg.IsCloud(); got != tc.wantCloud {
				t.Errorf("IsCloud() = %v", got)
			}
			if got := tc.cfg.UIURL(); got != tc.wantUI {
				t.Errorf("UIURL() = %q, want %q", got, tc.wantUI)
			}
		})
	}
	cfg := prefectconfig.Config{APIURL: "http://127.0.0.1:4200/api"}
	if got, want := cfg.FlowRunURL("abc"), "http://127.0.0.1:4200/runs/flow-run/abc"; got != want {
		t.Errorf("FlowRunURL = %q, want %q", got, want)
	}
}

// TestLoadConfigNamesWhereTheURLCameFrom: a bad --api-url used to be
// reported as PREFECT_API_URL=..., sending the user to the wrong place.
func TestLoadConfigNamesWhereTheURLCameFrom(t *testing.T) {
	t.Parallel()
	flag := prefectconfig.Config{APIURL: "localhost:4200/api", APIURLSource: "--api-url"}
	_, err := prefectconfig.LoadConfig(envMap(t, map[string]string{"PREFECT_API_URL": "http://good:4200/api"}), flag)
	if err == nil || !strings.HasPrefix(err.Error(), `--api-url="localhost:4200/api": must start with http:// or https://; set it to the Prefect API`) {
		t.Errorf("bad flag: %v", err)
	}
	// The flag wins over a broken variable, which then does not matter.
	cfg, err := prefectconfig.LoadConfig(envMap(t, map[string]string{"PREFECT_API_URL": "localhost:4200"}),
		prefectconfig.Config{APIURL: "http://good:4200/api/", APIURLSource: "--api-url"})
	if err != nil || cfg.APIURL != "http://good:4200/api" || cfg.APIURLSource != "--api-url" {
		t.Errorf("flag over a bad variable: %+v, %v", cfg.APIURL, err)
	}
	cfg, err = prefectconfig.LoadConfig(envMap(t, map[string]string{"PREFECT_API_URL": "http://env:4200/api"}), prefectconfig.Config{})
	if err != nil || cfg.APIURLSource != "the environment variable PREFECT_API_URL" {
		t.Errorf("source %q, %v", cfg.APIURLSource, err)
	}
	if _, err := prefect.New(prefectconfig.Config{APIURL: "x://", APIURLSource: "--api-url"}); err == nil ||
		!strings.HasPrefix(err.Error(), `--api-url="x://": must start with http:// or https://`) {
		t.Errorf("New with a bad flag URL: %v", err)
	}

	// A profile's URL without /api: the client's errors point at the
	// profile, where the fix goes.
	srv := prefectfake.NewTestServer(t, prefectfake.Options{})
	root := strings.TrimSuffix(srv.URL(), "/api")
	home := writeProfiles(t, "active = \"w\"\n[profiles.w]\nPREFECT_API_URL = \""+root+"\"\n")
	profile := filepath.Join(home, "profiles.toml")
	cfg, err = prefectconfig.LoadConfig(envMap(t, map[string]string{"PREFECT_HOME": home}), prefectconfig.Config{})
	if err != nil || cfg.APIURLSource != `profile "w" in `+profile {
		t.Errorf("source %q, %v", cfg.APIURLSource, err)
	}
	c, err := prefect.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ReadWorkPool(context.Background(), "p")
	want := `read work pool "p": GET /work_pools/p: 404 Not Found: Not Found (PREFECT_API_URL (in profile "w" in ` + profile +
		`) is ` + root + `, without the /api under which Prefect serves its API: set it to ` + root + `/api)`
	if err == nil || err.Error() != want {
		t.Errorf("error %v\nwant %s", err, want)
	}
}
