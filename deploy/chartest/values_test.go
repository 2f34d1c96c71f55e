package chartest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// expectLine is the "# expect: ..." header of a bad values file: the text
// the refusal must contain.
var expectLine = regexp.MustCompile(`(?m)^# expect: (.+)$`)

// Every file in test-bad-values, layered over the minimal values, is
// refused with the expected message, and the message never echoes a secret.
func TestBadValuesAreRejected(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(badValuesDir, "*.yaml"))
	if err != nil || len(files) < 10 {
		t.Fatalf("want at least 10 bad values files, got %d (%v)", len(files), err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			abs, err := filepath.Abs(f)
			if err != nil {
				t.Fatal(err)
			}
			m := expectLine.FindSubmatch(readFile(t, f))
			if m == nil {
				t.Fatal("no '# expect: ...' line")
			}
			_, err = tryRender(t, renderOpts{files: []string{"ci/minimal-values.yaml", abs}})
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), string(m[1])) {
				t.Errorf("refused, but not with %q:\n%v", m[1], err)
			}
			for _, s := range secretValues(t, abs) {
				if strings.Contains(err.Error(), s) {
					t.Errorf("the error echoes the secret value %q", s)
				}
			}
		})
	}
}

// Each CI values file is valid under the schema on its own (the bad ones
// above fail for the reason they name, not because the base is broken).
func TestCIValuesPassTheSchema(t *testing.T) {
	ch := loadChart(t)
	for _, f := range ciValueFiles(t) {
		vals, err := (&values.Options{ValueFiles: []string{filepath.Join(chartDir, f)}}).MergeValues(getter.Providers{})
		if err != nil {
			t.Fatal(err)
		}
		merged, err := chartutil.CoalesceValues(ch, vals)
		if err != nil {
			t.Fatal(err)
		}
		if err := chartutil.ValidateAgainstSchema(ch, merged); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// The schema knows every policy key the service has: the service's own
// defaults (`onboarding-adapter policy`) pass it, and render unchanged into
// the ConfigMap's policy.yaml. A new policy key fails here until the schema
// learns it.
func TestPolicySchemaCoversServiceDefaults(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatal("go not on PATH: needed to print the service's default policy")
	}
	cmd := exec.Command("go", "run", "./cmd/onboarding-adapter", "policy")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("onboarding-adapter policy: %v", err)
	}
	var pol map[string]any
	if err := yaml.Unmarshal(out, &pol); err != nil || len(pol) == 0 {
		t.Fatalf("policy output is not a YAML map: %v", err)
	}
	wrapped, err := yaml.Marshal(map[string]any{"policy": pol})
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "policy-values.yaml")
	if err := os.WriteFile(f, wrapped, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := tryRender(t, renderOpts{files: []string{"ci/minimal-values.yaml", f}})
	if err != nil {
		t.Fatalf("the service's default policy does not pass the chart: %v", err)
	}
	cm := one[*corev1.ConfigMap](t, r, "ConfigMap", "-onboarding-adapter")
	same, err := equalYAML([]byte(cm.Data["policy.yaml"]), out)
	if err != nil || !same {
		t.Errorf("policy.yaml differs from the values' policy (err %v):\n%s", err, cm.Data["policy.yaml"])
	}
}
