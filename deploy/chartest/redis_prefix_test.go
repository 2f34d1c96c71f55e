package chartest

import (
	"encoding/json"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
)

// redis.keyPrefix reaches the server as ONBOARDING_REDIS_KEY_PREFIX when
// Redis is enabled, the chart's default being the service's; the Jobs,
// which never open Redis, do not get it, nor does a release without Redis.
func TestRedisKeyPrefixReachesTheServer(t *testing.T) {
	cases := []struct {
		name  string
		files []string
		set   []string
		want  string // "" = absent
	}{
		{"default", []string{"ci/production-values.yaml"}, nil, "onboarding:"},
		{"set", []string{"ci/production-values.yaml"}, []string{"redis.keyPrefix=staging:"}, "staging:"},
		{"everything on", []string{"ci/everything-on-values.yaml"}, nil, "bank-a.prod:onboarding:"},
		{"without Redis", []string{"ci/minimal-values.yaml"}, []string{"redis.keyPrefix=staging:"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := render(t, renderOpts{files: tc.files, set: tc.set})
			_, server := serverContainer(t, r)
			env, _ := envOf(server)
			if got, ok := env["ONBOARDING_REDIS_KEY_PREFIX"]; got != tc.want || ok != (tc.want != "") {
				t.Errorf("server ONBOARDING_REDIS_KEY_PREFIX = %q (set %v), want %q", got, ok, tc.want)
			}
			jobs := 0
			for _, o := range r.ofKind("Job") {
				jobs++
				for _, c := range o.typed.(*batchv1.Job).Spec.Template.Spec.Containers {
					if e, _ := envOf(c); e["ONBOARDING_REDIS_KEY_PREFIX"] != "" {
						t.Errorf("Job %s gets the Redis key prefix", o.name)
					}
				}
			}
			for _, o := range r.ofKind("CronJob") {
				jobs++
				for _, c := range o.typed.(*batchv1.CronJob).Spec.JobTemplate.Spec.Template.Spec.Containers {
					if e, _ := envOf(c); e["ONBOARDING_REDIS_KEY_PREFIX"] != "" {
						t.Errorf("CronJob %s gets the Redis key prefix", o.name)
					}
				}
			}
			if tc.want != "" && jobs < 2 {
				t.Errorf("%d Jobs and CronJobs rendered, want the migration and the purge to check", jobs)
			}
		})
	}
}

// prefixCases are the service's own test cases of the variable.
const prefixCases = "../../cmd/onboarding-adapter/internal/config/testdata/redis-key-prefixes.json"

// The schema accepts exactly the prefixes the service does: these are the
// cases of the service's TestRedisKeyPrefix
// (cmd/onboarding-adapter/internal/config), so a release the chart renders
// never stops at start on its prefix, and a bad one is refused before any
// pod starts. One difference: the service takes an empty variable as
// unset (its default), the chart refuses an empty value rather than
// render a variable that says nothing.
func TestRedisKeyPrefixSchema(t *testing.T) {
	var f struct {
		Cases []struct {
			Prefix string `json:"prefix"`
			OK     bool   `json:"ok"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(readFile(t, prefixCases), &f); err != nil || len(f.Cases) < 10 {
		t.Fatalf("%s: %d cases, %v", prefixCases, len(f.Cases), err)
	}
	cases := append(f.Cases, struct {
		Prefix string `json:"prefix"`
		OK     bool   `json:"ok"`
	}{"", false})
	for _, tc := range cases {
		t.Run(tc.Prefix, func(t *testing.T) {
			// A values file, not --set: --set would read commas, dots
			// and backslashes of the prefix as its own syntax.
			f := valuesFile(t, map[string]any{"redis": map[string]any{"keyPrefix": tc.Prefix}})
			_, err := tryRender(t, renderOpts{files: []string{"ci/production-values.yaml", f}})
			if tc.OK && err != nil {
				t.Errorf("refused: %v", err)
			}
			if !tc.OK && (err == nil || !strings.Contains(err.Error(), "keyPrefix")) {
				t.Errorf("err = %v, want the schema to name redis.keyPrefix", err)
			}
		})
	}
}
