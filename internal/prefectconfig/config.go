// Package prefectconfig finds the settings of the Prefect API client the way
// Prefect does: command-line flags, then PREFECT_* environment variables,
// then the active profile of profiles.toml, then Prefect's defaults.
package prefectconfig

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	toml "github.com/pelletier/go-toml/v2"

	"github.com/ecsworker/ecsworker/internal/redact"
)

// Defaults of the settings, as in Prefect 3.
const (
	DefaultTimeout     = 60 * time.Second
	DefaultMaxRetries  = 5
	DefaultRetryJitter = 0.2
	// DefaultCloudAPIURL is the API of Prefect Cloud; an API URL under it
	// makes the client talk to Cloud (no CSRF, heartbeat ids, worker logs).
	DefaultCloudAPIURL = "https://api.prefect.cloud/api"
)

// Names of the settings read from the environment and from profiles.
const (
	EnvAPIURL            = "PREFECT_API_URL"
	EnvAPIKey            = "PREFECT_API_KEY"
	EnvAPIAuthString     = "PREFECT_API_AUTH_STRING"
	EnvTLSInsecure       = "PREFECT_API_TLS_INSECURE_SKIP_VERIFY"
	EnvSSLCertFile       = "PREFECT_API_SSL_CERT_FILE"
	EnvRequestTimeout    = "PREFECT_API_REQUEST_TIMEOUT"
	EnvMaxRetries        = "PREFECT_CLIENT_MAX_RETRIES"
	EnvRetryJitterFactor = "PREFECT_CLIENT_RETRY_JITTER_FACTOR"
	EnvRetryExtraCodes   = "PREFECT_CLIENT_RETRY_EXTRA_CODES"
	EnvCSRFSupport       = "PREFECT_CLIENT_CSRF_SUPPORT_ENABLED"
	EnvCustomHeaders     = "PREFECT_CLIENT_CUSTOM_HEADERS"
	EnvCloudAPIURL       = "PREFECT_CLOUD_API_URL"
	EnvUIURL             = "PREFECT_UI_URL"
	EnvHome              = "PREFECT_HOME"
	EnvProfile           = "PREFECT_PROFILE"
	EnvProfilesPath      = "PREFECT_PROFILES_PATH"
)

// Config holds the settings of a Prefect API client. LoadConfig fills it the
// way Prefect does; a Config written by hand gets no defaults except a zero
// Timeout meaning DefaultTimeout.
type Config struct {
	APIURL string
	// APIURLSource says where APIURL came from, so that errors about it
	// point at what the user has to change: a flag name such as
	// "--api-url" (a caller passing APIURL in the overrides of LoadConfig
	// sets it), "the environment variable PREFECT_API_URL", or a profile
	// description. Empty means the code that built the Config.
	APIURLSource string
	APIKey       string
	AuthString   string

	CSRFEnabled           bool
	TLSInsecureSkipVerify bool
	// CACertFile replaces the system's certificate authorities, as Prefect's
	// ssl.create_default_context(cafile=...) does.
	CACertFile string

	Timeout         time.Duration
	MaxRetries      int
	RetryJitter     float64
	ExtraRetryCodes []int
	CustomHeaders   map[string]string

	// CloudAPIURL is PREFECT_CLOUD_API_URL; empty means DefaultCloudAPIURL.
	CloudAPIURL string
	// UIBaseURL is PREFECT_UI_URL; empty means derived from APIURL.
	UIBaseURL string

	// Profile is the name of the profile whose settings were used, or ""
	// when no profile applied.
	Profile string
	// ProfilesPath is the profiles.toml that was read, if any.
	ProfilesPath string
}

// DefaultConfig returns Prefect's defaults with no API URL.
func DefaultConfig() Config {
	return Config{
		CSRFEnabled: true,
		Timeout:     DefaultTimeout,
		MaxRetries:  DefaultMaxRetries,
		RetryJitter: DefaultRetryJitter,
	}
}

// ConfigError explains a setting that cannot be used. Value is empty for
// secrets.
type ConfigError struct {
	Setting string
	Source  string
	Value   string
	Problem string
	Fix     string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString(e.Setting)
	if e.Value != "" {
		fmt.Fprintf(&b, "=%q", e.Value)
	}
	if e.Source != "" {
		b.WriteString(" (from " + e.Source + ")")
	}
	b.WriteString(": " + e.Problem)
	if e.Fix != "" {
		b.WriteString("; " + e.Fix)
	}
	return b.String()
}

// builtinProfiles are the profiles Prefect ships in its default
// profiles.toml. A user's file is merged over them, so "local" has an API
// URL even when the user's file does not mention it.
var builtinProfiles = map[string]map[string]string{
	"ephemeral": {},
	"local":     {EnvAPIURL: "http://127.0.0.1:4200/api"},
	"test":      {},
	"cloud":     {},
}

const builtinActiveProfile = "ephemeral"

// LoadConfig resolves the client settings: overrides (command-line flags)
// win over the environment, which wins over the active profile of
// profiles.toml, which wins over Prefect's defaults.
//
// A zero field of overrides is no override: booleans can only be switched
// on and MaxRetries only raised from flags; the environment can do the rest.
// Empty environment variables count as unset, so that `PREFECT_API_KEY=` in
// a compose file does not hide a profile's key.
func LoadConfig(lookupEnv func(string) (string, bool), overrides Config) (Config, error) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	env := func(k string) (string, bool) {
		v, ok := lookupEnv(k)
		if !ok || strings.TrimSpace(v) == "" {
			return "", false
		}
		return v, true
	}

	prof, err := loadProfile(env, overrides.Profile)
	if err != nil {
		return Config{}, err
	}
	get := func(name string) (string, string, bool) {
		if v, ok := env(name); ok {
			return v, "the environment variable " + name, true
		}
		if v, ok := prof.settings[name]; ok && v != "" {
			return v, prof.describe(), true
		}
		return "", "", false
	}

	cfg := DefaultConfig()
	cfg.Profile = prof.name
	cfg.ProfilesPath = prof.path
	var errs []error

	// Only the URL that wins is checked: a flag that replaces a broken
	// environment variable is the usual way around it.
	if overrides.APIURL != "" {
		src := overrides.APIURLSource
		if src == "" {
			src = "the command line"
		}
		u, err := CheckAPIURL(overrides.APIURL)
		if err != nil {
			errs = append(errs, APIURLError(src, overrides.APIURL, err))
		}
		cfg.APIURL, cfg.APIURLSource = u, src
	} else if v, src, ok := get(EnvAPIURL); ok {
		u, err := CheckAPIURL(v)
		if err != nil {
			errs = append(errs, APIURLError(src, v, err))
		}
		cfg.APIURL, cfg.APIURLSource = u, src
	}
	if v, _, ok := get(EnvAPIKey); ok {
		cfg.APIKey = strings.TrimSpace(v)
	}
	if v, _, ok := get(EnvAPIAuthString); ok {
		cfg.AuthString = v
	}
	if v, src, ok := get(EnvTLSInsecure); ok {
		b, err := ParseBool(v)
		if err != nil {
			errs = append(errs, boolError(EnvTLSInsecure, src, v))
		}
		cfg.TLSInsecureSkipVerify = b
	}
	if v, _, ok := get(EnvSSLCertFile); ok {
		cfg.CACertFile = v
	} else if v, ok := env("SSL_CERT_FILE"); ok {
		cfg.CACertFile = v
	}
	if v, src, ok := get(EnvRequestTimeout); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f <= 0 || f > 1e6 {
			errs = append(errs, &ConfigError{Setting: EnvRequestTimeout, Source: src, Value: v,
				Problem: "is not a positive number of seconds", Fix: "set it to the request timeout in seconds, e.g. 60"})
		} else {
			cfg.Timeout = time.Duration(f * float64(time.Second))
		}
	}
	if v, src, ok := get(EnvMaxRetries); ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			errs = append(errs, &ConfigError{Setting: EnvMaxRetries, Source: src, Value: v,
				Problem: "is not a whole number of retries (0 or more)", Fix: "set it to e.g. 5, or 0 to never retry"})
		} else {
			cfg.MaxRetries = n
		}
	}
	if v, src, ok := get(EnvRetryJitterFactor); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f < 0 {
			errs = append(errs, &ConfigError{Setting: EnvRetryJitterFactor, Source: src, Value: v,
				Problem: "is not a non-negative number", Fix: "set it to e.g. 0.2 (±20% on retry waits), or 0 for none"})
		} else {
			cfg.RetryJitter = f
		}
	}
	if v, src, ok := get(EnvRetryExtraCodes); ok {
		codes, err := parseStatusCodes(v)
		if err != nil {
			errs = append(errs, &ConfigError{Setting: EnvRetryExtraCodes, Source: src, Value: v, Problem: err.Error(),
				Fix: "set it to HTTP status codes separated by commas, e.g. 500,520"})
		}
		cfg.ExtraRetryCodes = codes
	}
	if v, src, ok := get(EnvCSRFSupport); ok {
		b, err := ParseBool(v)
		if err != nil {
			errs = append(errs, boolError(EnvCSRFSupport, src, v))
		} else {
			cfg.CSRFEnabled = b
		}
	}
	if v, src, ok := get(EnvCustomHeaders); ok {
		h, err := parseHeaders(v)
		if err != nil {
			// The value may hold credentials for a proxy: never echo it.
			errs = append(errs, &ConfigError{Setting: EnvCustomHeaders, Source: src, Problem: err.Error(),
				Fix: `set it to a JSON object of header names to string values, e.g. {"X-Proxy-Team": "data"}`})
		}
		cfg.CustomHeaders = h
	}
	if v, src, ok := get(EnvCloudAPIURL); ok {
		u, err := CheckAPIURL(v)
		if err != nil {
			errs = append(errs, &ConfigError{Setting: EnvCloudAPIURL, Source: src, Value: RedactURL(v), Problem: err.Error(),
				Fix: "unset it (the default is " + DefaultCloudAPIURL + ") or set it to the API of your Prefect Cloud"})
		}
		cfg.CloudAPIURL = u
	}
	if v, _, ok := get(EnvUIURL); ok {
		cfg.UIBaseURL = strings.TrimRight(strings.TrimSpace(v), "/")
	}

	applyOverrides(&cfg, overrides)
	if len(errs) > 0 {
		return cfg, errors.Join(errs...)
	}
	return cfg, nil
}

// applyOverrides applies the overrides other than the API URL, which
// LoadConfig has already taken (and checked).
func applyOverrides(cfg *Config, o Config) {
	if o.APIKey != "" {
		cfg.APIKey = o.APIKey
	}
	if o.AuthString != "" {
		cfg.AuthString = o.AuthString
	}
	if o.CSRFEnabled {
		cfg.CSRFEnabled = true
	}
	if o.TLSInsecureSkipVerify {
		cfg.TLSInsecureSkipVerify = true
	}
	if o.CACertFile != "" {
		cfg.CACertFile = o.CACertFile
	}
	if o.Timeout > 0 {
		cfg.Timeout = o.Timeout
	}
	if o.MaxRetries > 0 {
		cfg.MaxRetries = o.MaxRetries
	}
	if o.RetryJitter > 0 {
		cfg.RetryJitter = o.RetryJitter
	}
	if o.ExtraRetryCodes != nil {
		cfg.ExtraRetryCodes = slices.Clone(o.ExtraRetryCodes)
	}
	if o.CustomHeaders != nil {
		cfg.CustomHeaders = make(map[string]string, len(o.CustomHeaders))
		for k, v := range o.CustomHeaders {
			cfg.CustomHeaders[k] = v
		}
	}
	if o.CloudAPIURL != "" {
		cfg.CloudAPIURL = strings.TrimRight(o.CloudAPIURL, "/")
	}
	if o.UIBaseURL != "" {
		cfg.UIBaseURL = strings.TrimRight(o.UIBaseURL, "/")
	}
}

// APIURLError explains an unusable API URL, naming the flag or the
// variable and where it was set.
func APIURLError(src, value string, err error) *ConfigError {
	setting, source := apiURLSetting(src)
	return &ConfigError{Setting: setting, Source: source, Value: RedactURL(value), Problem: err.Error(),
		Fix: "set it to the Prefect API, e.g. http://127.0.0.1:4200/api for a self-hosted server or " +
			"https://api.prefect.cloud/api/accounts/<account id>/workspaces/<workspace id> for Prefect Cloud"}
}

// apiURLSetting splits an APIURLSource into the setting to name and the
// place it was set: a flag is its own name; anything else is
// PREFECT_API_URL from that place.
func apiURLSetting(src string) (setting, source string) {
	if strings.HasPrefix(src, "-") {
		return src, ""
	}
	return EnvAPIURL, src
}

// URLSetting names the API URL setting for fixes: "--api-url",
// "PREFECT_API_URL", or "PREFECT_API_URL in profile ...".
func (c Config) URLSetting() string {
	setting, source := apiURLSetting(c.APIURLSource)
	if strings.HasPrefix(source, "profile ") || strings.HasPrefix(source, "Prefect's built-in profile") {
		return setting + " (in " + source + ")"
	}
	return setting
}

func boolError(setting, src, v string) error {
	return &ConfigError{Setting: setting, Source: src, Value: v, Problem: "is not a boolean",
		Fix: "set it to true or false (1/0, yes/no and on/off work too)"}
}

// ParseBool reads a boolean the way Prefect's settings (pydantic) do.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "t", "yes", "y", "on":
		return true, nil
	case "0", "false", "f", "no", "n", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean", s)
}

// CheckAPIURL trims an API URL and says what makes it unusable, if
// anything: it must be http(s) with a host and no query or fragment.
func CheckAPIURL(raw string) (string, error) {
	s := strings.TrimRight(strings.TrimSpace(raw), "/")
	if !strings.Contains(s, "://") {
		// "127.0.0.1:4200/api" does not even parse; the missing scheme is
		// what to say.
		return s, errors.New("must start with http:// or https://")
	}
	u, err := url.Parse(s)
	if err != nil {
		return s, errors.New("is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return s, errors.New("must start with http:// or https://")
	}
	if u.Host == "" {
		return s, errors.New("has no host name")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return s, errors.New("must not have a query string or fragment")
	}
	return s, nil
}

// RedactURL hides the password of a URL with user information.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

// parseStatusCodes accepts what Prefect accepts for
// PREFECT_CLIENT_RETRY_EXTRA_CODES: "500,520", a single code, or a JSON-ish
// list "[500, 520]".
func parseStatusCodes(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	var codes []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		n, err := strconv.Atoi(part)
		if err != nil || n < 100 || n > 599 {
			return nil, fmt.Errorf("%q is not an HTTP status code", part)
		}
		if !slices.Contains(codes, n) {
			codes = append(codes, n)
		}
	}
	return codes, nil
}

func parseHeaders(s string) (map[string]string, error) {
	var raw map[string]any
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, errors.New("is not a JSON object")
	}
	h := make(map[string]string, len(raw))
	for k, v := range raw {
		str, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("the value of header %q is not a string", k)
		}
		if k == "" || strings.ContainsAny(k, " \t\r\n:") {
			return nil, fmt.Errorf("%q is not a valid header name", k)
		}
		if strings.ContainsAny(str, "\r\n") {
			return nil, fmt.Errorf("the value of header %q contains a line break", k)
		}
		h[k] = str
	}
	return h, nil
}

type profile struct {
	name     string
	path     string // file the settings came from; "" for a built-in profile
	settings map[string]string
}

func (p profile) describe() string {
	if p.path == "" {
		return fmt.Sprintf("Prefect's built-in profile %q", p.name)
	}
	return fmt.Sprintf("profile %q in %s", p.name, p.path)
}

// profilesPath follows Prefect: PREFECT_PROFILES_PATH, else
// $PREFECT_HOME/profiles.toml with PREFECT_HOME defaulting to ~/.prefect.
func profilesPath(env func(string) (string, bool)) string {
	if p, ok := env(EnvProfilesPath); ok {
		return expandHome(env, p)
	}
	home, ok := env(EnvHome)
	if !ok {
		home = "~/.prefect"
	}
	return filepath.Join(expandHome(env, home), "profiles.toml")
}

func expandHome(env func(string) (string, bool), p string) string {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p
	}
	home, ok := env("HOME")
	if !ok {
		h, err := os.UserHomeDir()
		if err != nil {
			return p
		}
		home = h
	}
	return filepath.Join(home, strings.TrimPrefix(p, "~"))
}

// loadProfile finds the active profile: the explicit name (a --profile
// flag), else PREFECT_PROFILE, else the file's top-level "active", else
// Prefect's default "ephemeral" (or "default", the name Prefect 2 used).
func loadProfile(env func(string) (string, bool), explicit string) (profile, error) {
	path := profilesPath(env)
	fileProfiles, active, err := readProfiles(path)
	if err != nil {
		return profile{}, err
	}
	exists := fileProfiles != nil

	name, from := explicit, "the --profile option"
	if name == "" {
		if v, ok := env(EnvProfile); ok {
			name, from = strings.TrimSpace(v), "the environment variable "+EnvProfile
		}
	}
	if name == "" && active != "" {
		name, from = active, "the \"active\" key of "+path
	}
	if name == "" {
		for _, candidate := range []string{builtinActiveProfile, "default"} {
			if _, ok := fileProfiles[candidate]; ok {
				return profile{name: candidate, path: path, settings: mergeProfile(candidate, fileProfiles)}, nil
			}
		}
		if _, ok := builtinProfiles[builtinActiveProfile]; ok {
			return profile{name: builtinActiveProfile, settings: mergeProfile(builtinActiveProfile, fileProfiles)}, nil
		}
		return profile{}, nil
	}

	_, inFile := fileProfiles[name]
	_, builtin := builtinProfiles[name]
	if !inFile && !builtin {
		fix := "create it with `prefect profile create " + name + "`, or choose one of: " + strings.Join(profileNames(fileProfiles), ", ")
		problem := fmt.Sprintf("profile %q does not exist in %s", name, path)
		if !exists {
			problem = fmt.Sprintf("profile %q was requested but %s does not exist", name, path)
		}
		return profile{}, &ConfigError{Setting: "profile", Source: from, Value: name, Problem: problem, Fix: fix}
	}
	p := profile{name: name, settings: mergeProfile(name, fileProfiles)}
	if inFile {
		p.path = path
	}
	return p, nil
}

func mergeProfile(name string, fileProfiles map[string]map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range builtinProfiles[name] {
		out[k] = v
	}
	for k, v := range fileProfiles[name] {
		out[k] = v
	}
	return out
}

func profileNames(fileProfiles map[string]map[string]string) []string {
	seen := map[string]bool{}
	for n := range builtinProfiles {
		seen[n] = true
	}
	for n := range fileProfiles {
		seen[n] = true
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// readProfiles returns nil profiles when the file does not exist, which is
// the normal state of a machine that never ran `prefect profile`.
func readProfiles(path string) (map[string]map[string]string, string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", &ConfigError{Setting: "profiles file", Source: path, Problem: "cannot be read: " + err.Error(),
			Fix: "fix its permissions, or point " + EnvProfilesPath + " or " + EnvHome + " elsewhere"}
	}
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		problem := "is not valid TOML: " + err.Error()
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			problem = fmt.Sprintf("is not valid TOML (line %d, column %d): %s", row, col, de.Error())
		}
		return nil, "", &ConfigError{Setting: "profiles file", Source: path, Problem: problem,
			Fix: "fix the file (or move it away); it should look like: active = \"local\" followed by [profiles.local] PREFECT_API_URL = \"http://127.0.0.1:4200/api\""}
	}
	active := ""
	if a, ok := doc["active"]; ok {
		s, isStr := a.(string)
		if !isStr {
			return nil, "", &ConfigError{Setting: "active", Source: path, Problem: "is not a string",
				Fix: "set it to the name of a profile, e.g. active = \"local\""}
		}
		active = s
	}
	out := map[string]map[string]string{}
	raw, _ := doc["profiles"].(map[string]any)
	for name, v := range raw {
		tbl, ok := v.(map[string]any)
		if !ok {
			return nil, "", &ConfigError{Setting: "profiles." + name, Source: path, Problem: "is not a table",
				Fix: "write it as a [profiles." + name + "] section of settings"}
		}
		settings := map[string]string{}
		for k, sv := range tbl {
			settings[strings.ToUpper(k)] = tomlString(sv)
		}
		out[name] = settings
	}
	return out, active, nil
}

// tomlString turns a TOML value into the text an environment variable
// would hold, so that one parser serves both sources.
func tomlString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case bool:
		return strconv.FormatBool(t)
	case int64:
		return strconv.FormatInt(t, 10)
	case float64:
		return strconv.FormatFloat(t, 'g', -1, 64)
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = tomlString(e)
		}
		return strings.Join(parts, ",")
	case map[string]any:
		b, _ := json.Marshal(t)
		return string(b)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// IsCloud reports whether the API URL is under the Prefect Cloud API, which
// is how Prefect decides to skip CSRF and to ask for worker ids.
func (c Config) IsCloud() bool {
	if c.APIURL == "" {
		return false
	}
	return strings.HasPrefix(c.APIURL, c.CloudAPI())
}

// CloudAPI is the Prefect Cloud API in effect: CloudAPIURL, else
// DefaultCloudAPIURL.
func (c Config) CloudAPI() string {
	if c.CloudAPIURL != "" {
		return strings.TrimRight(c.CloudAPIURL, "/")
	}
	return DefaultCloudAPIURL
}

// UIURL returns the base URL of the Prefect UI for this API: PREFECT_UI_URL
// when set; for Cloud https://app.prefect.cloud/account/<id>/workspace/<id>;
// for a self-hosted server the API URL without its /api suffix. It returns
// "" when the API URL is not known.
func (c Config) UIURL() string {
	if c.UIBaseURL != "" {
		return c.UIBaseURL
	}
	api := strings.TrimRight(c.APIURL, "/")
	if api == "" {
		return ""
	}
	if c.IsCloud() {
		cloud := c.CloudAPI()
		ui := strings.TrimSuffix(strings.Replace(cloud, "https://api.", "https://app.", 1), "/api")
		rest := strings.TrimPrefix(api, cloud)
		rest = strings.Replace(rest, "/accounts/", "/account/", 1)
		rest = strings.Replace(rest, "/workspaces/", "/workspace/", 1)
		return ui + rest
	}
	return strings.TrimSuffix(api, "/api")
}

// FlowRunURL is the UI page of a flow run, or "" when the UI is unknown.
func (c Config) FlowRunURL(flowRunID string) string {
	ui := c.UIURL()
	if ui == "" {
		return ""
	}
	return ui + "/runs/flow-run/" + url.PathEscape(flowRunID)
}

// String shows the configuration with secrets masked.
func (c Config) String() string {
	var b strings.Builder
	b.WriteString("prefect.Config{")
	field := func(name, v string) {
		if b.Len() > len("prefect.Config{") {
			b.WriteString(", ")
		}
		b.WriteString(name + ": " + v)
	}
	field("APIURL", strconv.Quote(RedactURL(c.APIURL)))
	field("APIKey", maskSecret(c.APIKey))
	field("AuthString", maskSecret(c.AuthString))
	field("CSRFEnabled", strconv.FormatBool(c.CSRFEnabled))
	field("TLSInsecureSkipVerify", strconv.FormatBool(c.TLSInsecureSkipVerify))
	field("CACertFile", strconv.Quote(c.CACertFile))
	field("Timeout", c.Timeout.String())
	field("MaxRetries", strconv.Itoa(c.MaxRetries))
	field("RetryJitter", strconv.FormatFloat(c.RetryJitter, 'g', -1, 64))
	field("ExtraRetryCodes", fmt.Sprint(c.ExtraRetryCodes))
	field("CustomHeaders", maskHeaders(c.CustomHeaders))
	if c.CloudAPIURL != "" {
		field("CloudAPIURL", strconv.Quote(c.CloudAPIURL))
	}
	if c.UIBaseURL != "" {
		field("UIBaseURL", strconv.Quote(c.UIBaseURL))
	}
	field("Profile", strconv.Quote(c.Profile))
	b.WriteString("}")
	return b.String()
}

// GoString keeps %#v from printing the secrets that String masks.
func (c Config) GoString() string { return c.String() }

func maskSecret(s string) string {
	if s == "" {
		return `""`
	}
	return strconv.Quote(redact.Mask)
}

// maskHeaders shows header names only: custom headers are how proxies
// such as Cloudflare Access get their credentials.
func maskHeaders(h map[string]string) string {
	if len(h) == 0 {
		return "{}"
	}
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = strconv.Quote(k) + ": " + strconv.Quote(redact.Mask)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
