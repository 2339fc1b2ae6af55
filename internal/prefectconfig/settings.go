package prefectconfig

import "strings"

// SettingLookup returns a lookup for any Prefect setting (such as
// PREFECT_WORKER_QUERY_SECONDS) that checks the environment first and then
// the active profile, the precedence Prefect itself applies. Settings that
// the client reads go through LoadConfig; this is for the rest.
func SettingLookup(lookupEnv func(string) (string, bool), profileName string) (func(string) (string, bool), error) {
	prof, err := loadProfile(lookupEnv, profileName)
	if err != nil {
		return nil, err
	}
	return func(name string) (string, bool) {
		if v, ok := lookupEnv(name); ok && v != "" {
			return v, true
		}
		for k, v := range prof.settings {
			if strings.EqualFold(k, name) {
				return v, v != ""
			}
		}
		return "", false
	}, nil
}
