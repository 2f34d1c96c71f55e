package chartest

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

var (
	rulesSource     = filepath.Join(chartDir, "files", "prometheus-rules.yaml")
	rulesCopy       = filepath.Join("..", "prometheus", "alerts.yaml")
	dashboardSource = filepath.Join(chartDir, "files", "dashboard.json")
	dashboardCopy   = filepath.Join("..", "grafana", "onboarding-adapter.json")
)

// The standalone files for plain Prometheus and Grafana are byte-for-byte
// copies of the chart's, so there is one source of truth.
func TestStandaloneCopiesEqualChartFiles(t *testing.T) {
	for _, p := range []struct{ src, dst string }{{rulesSource, rulesCopy}, {dashboardSource, dashboardCopy}} {
		if !bytes.Equal(readFile(t, p.src), readFile(t, p.dst)) {
			t.Errorf("%s differs from %s: the chart file is the source, run\n  cp %s %s", p.dst, p.src,
				strings.TrimPrefix(p.src, "../"), strings.TrimPrefix(p.dst, "../"))
		}
	}
}

// loadRules strictly decodes the rules file as a PrometheusRule spec.
func loadRules(t *testing.T) monitoringv1.PrometheusRuleSpec {
	t.Helper()
	var spec monitoringv1.PrometheusRuleSpec
	if err := yaml.UnmarshalStrict(readFile(t, rulesSource), &spec); err != nil {
		t.Fatalf("rules: %v", err)
	}
	return spec
}

// recordedName matches the recorded series the alerts and the dashboard use.
var recordedName = regexp.MustCompile(`onboarding:[a-z0-9_:]+`)

// rawMetrics are the service's metric names; only recording rules may name
// them, so a rename is fixed in one place. (Not preceded by ":" or a word
// character, so onboarding:pgxpool_... is a recorded name, not a raw one.)
var rawMetrics = regexp.MustCompile(`(?:^|[^:\w])(http_server_request_duration_seconds\w*|onboarding_\w+|pgxpool_\w+|db_client_connections_\w+)\b`)

// rawMetric returns the first raw metric name expr uses, or "".
func rawMetric(expr string) string {
	if m := rawMetrics.FindStringSubmatch(expr); m != nil {
		return m[1]
	}
	return ""
}

// The alerts the issue asks for exist, read only recorded series that the
// recording rules define, and carry severity, summary and description.
func TestRulesAreWellFormed(t *testing.T) {
	spec := loadRules(t)
	recorded := map[string]bool{}
	var alerts []string
	for _, g := range spec.Groups {
		for _, r := range g.Rules {
			expr := r.Expr.String()
			switch {
			case r.Record != "":
				if recorded[r.Record] {
					t.Errorf("%s recorded twice", r.Record)
				}
				for _, used := range recordedName.FindAllString(expr, -1) {
					if !recorded[used] {
						t.Errorf("record %s uses %s before it is recorded", r.Record, used)
					}
				}
				recorded[r.Record] = true
			case r.Alert != "":
				alerts = append(alerts, r.Alert)
				if m := rawMetric(expr); m != "" {
					t.Errorf("alert %s names the raw metric %s; use a recorded series", r.Alert, m)
				}
				if r.Labels["severity"] != "warning" && r.Labels["severity"] != "critical" {
					t.Errorf("alert %s severity %q", r.Alert, r.Labels["severity"])
				}
				if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
					t.Errorf("alert %s lacks summary or description", r.Alert)
				}
				if r.For == nil || *r.For == "" {
					t.Errorf("alert %s fires on one evaluation (no for:)", r.Alert)
				}
			default:
				t.Errorf("rule neither records nor alerts: %+v", r)
			}
		}
	}
	for _, g := range spec.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			for _, used := range recordedName.FindAllString(r.Expr.String(), -1) {
				if !recorded[used] {
					t.Errorf("alert %s uses %s, which no rule records", r.Alert, used)
				}
			}
		}
	}
	for _, want := range []string{"OnboardingAdapterHighErrorRatio", "OnboardingAdapterHighLatency", "OnboardingAdapterOTPFailures",
		"OnboardingAdapterNoReadyPod", "OnboardingAdapterDatabasePoolSaturated"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("alert %s missing", want)
		}
	}
}

// dashboard is the part of the Grafana model the checks read.
type dashboard struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	Targets []struct {
		Expr       string `json:"expr"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
}

// The dashboard covers what the issue lists and queries only recorded series.
func TestDashboardReadsRecordedSeries(t *testing.T) {
	var d dashboard
	if err := json.Unmarshal(readFile(t, dashboardSource), &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if d.UID == "" || d.Title == "" {
		t.Error("dashboard without uid or title")
	}
	recorded := map[string]bool{}
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded[r.Record] = true
			}
		}
	}
	ids := map[int]bool{}
	used := map[string]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: datasource %q, want the ${datasource} variable", p.Title, tg.Datasource.UID)
			}
			if m := rawMetric(tg.Expr); m != "" {
				t.Errorf("panel %q names the raw metric %s; use a recorded series", p.Title, m)
			}
			names := recordedName.FindAllString(tg.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q reads no recorded series: %s", p.Title, tg.Expr)
			}
			for _, n := range names {
				if !recorded[n] {
					t.Errorf("panel %q reads %s, which no rule records", p.Title, n)
				}
				used[n] = true
			}
		}
	}
	for _, want := range []string{"onboarding:http_requests:rate5m", "onboarding:decisions:rate5m", "onboarding:otp_sends:rate5m",
		"onboarding:consent_text_cache_hits:ratio_rate5m", "onboarding:pgxpool:saturation", "onboarding:circuit_breaker_state:max"} {
		if !used[want] {
			t.Errorf("no panel shows %s", want)
		}
	}
}

// ServiceMonitor and PrometheusRule appear only where the cluster serves
// their API, or when forced; the rendered rules equal the file.
func TestMonitoringObjectsAreCapabilityGated(t *testing.T) {
	kinds := func(r rendered) []string {
		var out []string
		for _, k := range []string{"ServiceMonitor", "PrometheusRule"} {
			if len(r.ofKind(k)) > 0 {
				out = append(out, k)
			}
		}
		return out
	}
	both := []string{"ServiceMonitor", "PrometheusRule"}
	without := render(t, renderOpts{files: []string{"ci/production-values.yaml"}})
	if got := kinds(without); len(got) != 0 {
		t.Errorf("rendered %v without the monitoring API", got)
	}
	if !strings.Contains(without.notes, "no monitoring.coreos.com/v1 ServiceMonitor API") {
		t.Error("NOTES do not say the ServiceMonitor was skipped")
	}
	with := render(t, renderOpts{files: []string{"ci/production-values.yaml"}, apis: monitoringAPIs})
	if got := kinds(with); !slices.Equal(got, both) {
		t.Errorf("with the API rendered %v", got)
	}
	forced := render(t, renderOpts{files: []string{"ci/everything-on-values.yaml"}})
	if got := kinds(forced); !slices.Equal(got, both) {
		t.Errorf("forced rendered %v", got)
	}

	sm := one[*monitoringv1.ServiceMonitor](t, with, "ServiceMonitor", "")
	if sm.Spec.JobLabel != "app.kubernetes.io/name" || len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "admin" || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("service monitor spec %+v", sm.Spec)
	}
	pr := one[*monitoringv1.PrometheusRule](t, with, "PrometheusRule", "")
	got, _ := yaml.Marshal(pr.Spec)
	want, _ := yaml.Marshal(loadRules(t))
	if !bytes.Equal(got, want) {
		t.Error("the PrometheusRule's spec differs from files/prometheus-rules.yaml")
	}

	cm := one[*corev1.ConfigMap](t, forced, "ConfigMap", "-dashboard")
	if cm.Labels["grafana_dashboard"] != "1" || cm.Namespace != "monitoring" {
		t.Errorf("dashboard ConfigMap labels %v namespace %q", cm.Labels, cm.Namespace)
	}
	if strings.TrimSpace(cm.Data["onboarding-adapter.json"]) != strings.TrimSpace(string(readFile(t, dashboardSource))) {
		t.Error("the dashboard ConfigMap differs from files/dashboard.json")
	}
}
