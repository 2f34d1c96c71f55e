package chartest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"
	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// Paths relative to this package's directory (go test runs there).
const (
	chartDir     = "../helm/onboarding-adapter"
	badValuesDir = "../helm/test-bad-values"
	releaseName  = "onb"
	namespace    = "bank"
)

// monitoringAPIs are the capabilities of a cluster running the Prometheus
// Operator; renders without them check the capability gate.
var monitoringAPIs = []string{"monitoring.coreos.com/v1/ServiceMonitor", "monitoring.coreos.com/v1/PrometheusRule"}

// renderOpts selects the values and capabilities of one render.
type renderOpts struct {
	files []string // value files, relative to chartDir unless absolute
	set   []string // --set style overrides
	apis  []string // extra API versions the "cluster" serves
}

// object is one rendered manifest, strictly decoded into its typed form.
type object struct {
	source string // template path
	kind   string
	name   string
	hook   bool
	raw    string
	typed  any
}

// rendered is a whole release as `helm install --dry-run` would create it.
type rendered struct {
	objects []object
	notes   string
}

// loadChart loads the chart once per call; it is cheap (a few ms).
func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("loading the chart: %v", err)
	}
	return ch
}

// tryRender renders the chart through the Helm SDK the way `helm template`
// does (client-only dry-run install), including hooks, and decodes every
// manifest strictly. It returns the error of schema validation, a template
// `fail`, or strict decoding.
func tryRender(t *testing.T, o renderOpts) (rendered, error) {
	t.Helper()
	files := make([]string, 0, len(o.files))
	for _, f := range o.files {
		if !filepath.IsAbs(f) {
			f = filepath.Join(chartDir, f)
		}
		files = append(files, f)
	}
	vals, err := (&values.Options{ValueFiles: files, Values: o.set}).MergeValues(getter.Providers{})
	if err != nil {
		return rendered{}, fmt.Errorf("reading values: %w", err)
	}
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.ClientOnly = true
	install.DryRun = true
	install.Replace = true
	install.ReleaseName = releaseName
	install.Namespace = namespace
	install.KubeVersion = &chartutil.KubeVersion{Version: "v1.31.0", Major: "1", Minor: "31"}
	install.APIVersions = chartutil.VersionSet(o.apis)
	rel, err := install.Run(loadChart(t), vals)
	if err != nil {
		return rendered{}, err
	}
	var out rendered
	out.notes = rel.Info.Notes
	add := func(source, manifest string, hook bool) error {
		obj, err := decodeStrict(manifest)
		if err != nil {
			return fmt.Errorf("%s: %w", source, err)
		}
		obj.source, obj.hook = source, hook
		out.objects = append(out.objects, obj)
		return nil
	}
	split := releaseutil.SplitManifests(rel.Manifest)
	keys := make([]string, 0, len(split))
	for k := range split {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		m := split[k]
		src := k
		if i := strings.Index(m, "# Source: "); i >= 0 {
			src = strings.TrimSpace(strings.SplitN(m[i+len("# Source: "):], "\n", 2)[0])
		}
		if err := add(src, m, false); err != nil {
			return rendered{}, err
		}
	}
	for _, h := range rel.Hooks {
		if err := add(h.Path, h.Manifest, true); err != nil {
			return rendered{}, err
		}
	}
	return out, nil
}

// render is tryRender for values that must render.
func render(t *testing.T, o renderOpts) rendered {
	t.Helper()
	r, err := tryRender(t, o)
	if err != nil {
		t.Fatalf("rendering %v %v: %v", o.files, o.set, err)
	}
	return r
}

// decodeStrict decodes one manifest into its k8s.io/api (or Prometheus
// Operator) type; an unknown field, a duplicate key, a wrong type or an
// unexpected kind is an error.
func decodeStrict(manifest string) (object, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal([]byte(manifest), &tm); err != nil {
		return object{}, fmt.Errorf("not YAML: %w", err)
	}
	var typed any
	switch tm.APIVersion + " " + tm.Kind {
	case "v1 ConfigMap":
		typed = &corev1.ConfigMap{}
	case "v1 Secret":
		typed = &corev1.Secret{}
	case "v1 Service":
		typed = &corev1.Service{}
	case "v1 ServiceAccount":
		typed = &corev1.ServiceAccount{}
	case "v1 Pod":
		typed = &corev1.Pod{}
	case "apps/v1 Deployment":
		typed = &appsv1.Deployment{}
	case "batch/v1 Job":
		typed = &batchv1.Job{}
	case "batch/v1 CronJob":
		typed = &batchv1.CronJob{}
	case "policy/v1 PodDisruptionBudget":
		typed = &policyv1.PodDisruptionBudget{}
	case "autoscaling/v2 HorizontalPodAutoscaler":
		typed = &autoscalingv2.HorizontalPodAutoscaler{}
	case "networking.k8s.io/v1 NetworkPolicy":
		typed = &networkingv1.NetworkPolicy{}
	case "monitoring.coreos.com/v1 ServiceMonitor":
		typed = &monitoringv1.ServiceMonitor{}
	case "monitoring.coreos.com/v1 PrometheusRule":
		typed = &monitoringv1.PrometheusRule{}
	default:
		return object{}, fmt.Errorf("unexpected kind %q %q", tm.APIVersion, tm.Kind)
	}
	if err := yaml.UnmarshalStrict([]byte(manifest), typed); err != nil {
		return object{}, fmt.Errorf("%s: strict decoding: %w", tm.Kind, err)
	}
	name := ""
	if m, ok := typed.(metav1.Object); ok {
		name = m.GetName()
	}
	if name == "" {
		return object{}, fmt.Errorf("%s without a name", tm.Kind)
	}
	return object{kind: tm.Kind, name: name, raw: manifest, typed: typed}, nil
}

// ofKind returns the objects of one kind.
func (r rendered) ofKind(kind string) []object {
	var out []object
	for _, o := range r.objects {
		if o.kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// one returns the single object of a kind whose name has the suffix.
func one[T any](t *testing.T, r rendered, kind, nameSuffix string) T {
	t.Helper()
	var found []object
	for _, o := range r.ofKind(kind) {
		if strings.HasSuffix(o.name, nameSuffix) {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %s named *%s, got %d", kind, nameSuffix, len(found))
	}
	v, ok := found[0].typed.(T)
	if !ok {
		t.Fatalf("%s %s decoded as %T", kind, found[0].name, found[0].typed)
	}
	return v
}

// podSpecs returns every pod template the release would run, by a label.
func (r rendered) podSpecs() map[string]corev1.PodSpec {
	out := map[string]corev1.PodSpec{}
	for _, o := range r.objects {
		switch v := o.typed.(type) {
		case *appsv1.Deployment:
			out["Deployment/"+o.name] = v.Spec.Template.Spec
		case *batchv1.Job:
			out["Job/"+o.name] = v.Spec.Template.Spec
		case *batchv1.CronJob:
			out["CronJob/"+o.name] = v.Spec.JobTemplate.Spec.Template.Spec
		case *corev1.Pod:
			out["Pod/"+o.name] = v.Spec
		}
	}
	return out
}

// ciValueFiles lists ci/*-values.yaml, the environments CI renders.
func ciValueFiles(t *testing.T) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	if err != nil || len(m) < 4 {
		t.Fatalf("want at least 4 ci values files, got %v (%v)", m, err)
	}
	out := make([]string, len(m))
	for i, f := range m {
		out[i] = filepath.Join("ci", filepath.Base(f))
	}
	return out
}

// envOf returns a container's plain env values and valueFrom sources.
func envOf(c corev1.Container) (map[string]string, map[string]*corev1.EnvVarSource) {
	plain, from := map[string]string{}, map[string]*corev1.EnvVarSource{}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			from[e.Name] = e.ValueFrom
			continue
		}
		plain[e.Name] = e.Value
	}
	return plain, from
}

// secretValues returns the string leaves under `secrets:` in a values file
// (the credentials), without the Secret's name and key names. A multi-line
// value (secrets.adminUsers) also yields each line and each line's password,
// so a single reviewer's credential leaking is caught too.
func secretValues(t *testing.T, file string) []string {
	t.Helper()
	if !filepath.IsAbs(file) {
		file = filepath.Join(chartDir, file)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Secrets map[string]any `json:"secrets"`
	}
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var out []string
	for k, val := range v.Secrets {
		s, ok := val.(string)
		if !ok || s == "" || k == "existingSecret" {
			continue
		}
		out = append(out, s)
		if !strings.Contains(strings.TrimSpace(s), "\n") {
			continue
		}
		for _, line := range strings.Split(s, "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			out = append(out, line)
			if _, pw, ok := strings.Cut(line, ":"); ok && len(pw) >= 8 {
				out = append(out, pw)
			}
		}
	}
	sort.Strings(out)
	return out
}

// readFile reads a file relative to this package.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// containsAny reports which needles occur in s, also base64-encoded.
func containsAny(s string, needles []string) []string {
	var hit []string
	for _, n := range needles {
		if strings.Contains(s, n) || strings.Contains(s, base64.StdEncoding.EncodeToString([]byte(n))) {
			hit = append(hit, n)
		}
	}
	return hit
}

// equalYAML compares two YAML documents by value.
func equalYAML(a, b []byte) (bool, error) {
	var x, y any
	if err := yaml.Unmarshal(a, &x); err != nil {
		return false, err
	}
	if err := yaml.Unmarshal(b, &y); err != nil {
		return false, err
	}
	xj, _ := yaml.Marshal(x)
	yj, _ := yaml.Marshal(y)
	return bytes.Equal(xj, yj), nil
}
