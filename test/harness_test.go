package test

import (
	"testing"

	"github.com/bankkit/onboarding-adapter/test/testkit"
)

// binary is the service built once for every black-box test.
var binary string

func TestMain(m *testing.M) { testkit.RunMain(m, "..", &binary) }

// The package's short names for the shared harness in test/testkit.
type (
	service    = testkit.Service
	reply      = testkit.Reply
	metric     = testkit.Metric
	fakeTwilio = testkit.FakeTwilio
)

func freePort(t *testing.T) string { return testkit.FreePort(t) }

// startService runs the binary with env (on top of fresh ports and JSON
// logs) and waits until /readyz answers 200.
func startService(t *testing.T, env map[string]string) *service {
	t.Helper()
	return testkit.StartService(t, binary, env)
}

// call POSTs body as JSON with the given headers.
func call(t *testing.T, url string, body any, headers map[string]string) reply {
	t.Helper()
	return testkit.Call(t, url, body, headers)
}

// redisURL is the Redis the black-box tests use (see testkit.RedisURL).
func redisURL(t *testing.T) string {
	t.Helper()
	return testkit.RedisURL(t)
}

// runCommand runs an operator subcommand of the binary and returns its
// output.
func runCommand(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	return testkit.RunCommand(t, binary, env, args...)
}

func basic(user, pass string) string { return testkit.Basic(user, pass) }

func scrapeMetrics(t *testing.T, svc *service) []metric {
	t.Helper()
	return testkit.ScrapeMetrics(t, svc)
}

func findMetric(ms []metric, name string, labels map[string]string) (float64, bool) {
	return testkit.FindMetric(ms, name, labels)
}

// wantMetric is testkit.WantMetric for unkeyed table literals.
type wantMetric struct {
	name   string
	labels map[string]string
	min    float64 // the value must be at least this
}

// checkMetrics wants each sample at least its min.
func checkMetrics(t *testing.T, ms []metric, wants []wantMetric) {
	t.Helper()
	testkit.CheckMetrics(t, ms, toWant(wants, false))
}

// checkExactMetrics wants each sample at exactly its min.
func checkExactMetrics(t *testing.T, ms []metric, wants []wantMetric) {
	t.Helper()
	testkit.CheckMetrics(t, ms, toWant(wants, true))
}

func toWant(wants []wantMetric, exact bool) []testkit.WantMetric {
	ws := make([]testkit.WantMetric, len(wants))
	for i, w := range wants {
		ws[i] = testkit.WantMetric{Name: w.name, Labels: w.labels, Min: w.min, Exact: exact}
	}
	return ws
}
