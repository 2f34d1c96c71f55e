package chartest

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// serviceDir is the service's module, two levels up from this one.
const serviceDir = "../.."

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
	buildOut  []byte
)

// serviceBinary builds the service once per test binary, into a directory
// TestMain removes after the last test.
func serviceBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "chartest-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "onboarding-adapter")
		cmd := exec.Command("go", "build", "-o", builtBin, "./cmd/onboarding-adapter")
		cmd.Dir = serviceDir
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("building the service: %v\n%s", buildErr, buildOut)
	}
	return builtBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		_ = os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

// existingSecretFakes stands in for a Secret the chart does not render
// (secrets.existingSecret), by the file name the chart mounts each key as:
// values of the right shape, so the service's checks have something real
// to refuse or accept.
var existingSecretFakes = map[string]string{
	"basicAuthUsername":    "onboarding-server",
	"basicAuthPassword":    "ci-fake-basic-password-1",
	"databaseUrl":          "postgres://onboarding:ci-fake-db-password@postgres.bank.svc:5432/onboarding",
	"migrationDatabaseUrl": "postgres://onboarding_owner:ci-fake-owner-password@postgres.bank.svc:5432/onboarding",
	"redisUrl":             "redis://redis.bank.svc:6379/0",
	"otpHashKey":           "ci-fake-otp-hash-key-0123456789abcdef",
	"twilioAuthToken":      "0123456789abcdef0123456789abcdef",
	"adminUsers":           "reviewer-one:ci-fake-reviewer-password-1\nreviewer-two:ci-fake-reviewer-password-2\n",
}

// externalSecretKeyFakes stand in for keys of Secrets a values file names
// through extraEnv's secretKeyRef, by variable.
var externalSecretKeyFakes = map[string]string{
	"OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer ci-fake-collector-token",
}

// podEnv is a container's environment as the kubelet would give it, with
// every volume the container mounts written under root (Secrets from the
// rendered Secret or the fakes above, ConfigMaps from the rendered
// ConfigMap) and the env values that name a file under a mount pointed at
// the written copy.
func podEnv(t *testing.T, r rendered, spec corev1.PodSpec, c corev1.Container, root string) []string {
	t.Helper()
	secrets := map[string]map[string][]byte{}
	for _, o := range r.ofKind("Secret") {
		s := o.typed.(*corev1.Secret)
		secrets[s.Name] = s.Data
		for k, v := range s.StringData {
			s.Data[k] = []byte(v)
		}
	}
	configMaps := map[string]map[string]string{}
	for _, o := range r.ofKind("ConfigMap") {
		cm := o.typed.(*corev1.ConfigMap)
		configMaps[cm.Name] = cm.Data
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	write := func(dir, name string, b []byte) {
		p := filepath.Join(root, dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var mounts []string
	for _, m := range c.VolumeMounts {
		v, ok := volumes[m.Name]
		if !ok {
			t.Fatalf("container %s mounts volume %s, which the pod does not have", c.Name, m.Name)
		}
		mounts = append(mounts, m.MountPath)
		switch {
		case v.Secret != nil:
			data, rendered := secrets[v.Secret.SecretName]
			for _, it := range v.Secret.Items {
				b, ok := data[it.Key]
				if !rendered {
					fake, known := existingSecretFakes[it.Path]
					if !known {
						t.Fatalf("no stand-in for %s of the existing Secret %s", it.Path, v.Secret.SecretName)
					}
					b, ok = []byte(fake), true
				}
				if !ok {
					t.Fatalf("Secret %s has no key %s that the pod mounts", v.Secret.SecretName, it.Key)
				}
				write(m.MountPath, it.Path, b)
			}
		case v.ConfigMap != nil:
			data, ok := configMaps[v.ConfigMap.Name]
			if !ok {
				t.Fatalf("ConfigMap %s is mounted but not rendered", v.ConfigMap.Name)
			}
			for _, it := range v.ConfigMap.Items {
				write(m.MountPath, it.Path, []byte(data[it.Key]))
			}
		default: // emptyDir
			if err := os.MkdirAll(filepath.Join(root, m.MountPath), 0o700); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The longest mount first, so /a/b wins over /a.
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	var env []string
	for _, e := range c.Env {
		val := e.Value
		switch src := e.ValueFrom; {
		case src == nil:
			for _, m := range mounts {
				if val == m || strings.HasPrefix(val, m+"/") {
					val = filepath.Join(root, val)
					break
				}
			}
		case src.FieldRef != nil:
			val = "onb-0123456789-abcde"
		case src.ResourceFieldRef != nil:
			val = "1"
		case src.SecretKeyRef != nil:
			data, ok := secrets[src.SecretKeyRef.Name]
			switch fake, known := externalSecretKeyFakes[e.Name]; {
			case ok:
				val = string(data[src.SecretKeyRef.Key])
			case known:
				val = fake
			default:
				t.Fatalf("%s: Secret %s is not rendered and has no stand-in", e.Name, src.SecretKeyRef.Name)
			}
		case src.ConfigMapKeyRef != nil:
			val = configMaps[src.ConfigMapKeyRef.Name][src.ConfigMapKeyRef.Key]
		default:
			t.Fatalf("%s: unknown env source %+v", e.Name, src)
		}
		env = append(env, e.Name+"="+val)
	}
	return env
}

// checkPods runs `onboarding-adapter check` with the environment and files
// of every container of the release that runs the service (the server,
// the migration and purge Jobs), and returns the failures by pod.
func checkPods(t *testing.T, r rendered) map[string]string {
	t.Helper()
	bin := serviceBinary(t)
	failures := map[string]string{}
	checked := 0
	for name, spec := range r.podSpecs() {
		for _, c := range spec.Containers {
			if !strings.Contains(c.Image, "onboarding-adapter") || len(c.Command) > 0 && !strings.HasSuffix(c.Command[0], "onboarding-adapter") {
				continue
			}
			if len(c.Args) > 0 && c.Args[0] == "healthcheck" {
				continue // the test pod: no configuration of its own
			}
			checked++
			cmd := exec.Command(bin, "check")
			cmd.Env = podEnv(t, r, spec, c, t.TempDir())
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "configuration valid") {
				failures[name+"/"+c.Name] = strings.TrimSpace(string(out))
			}
		}
	}
	if checked == 0 {
		t.Fatal("no container runs the service")
	}
	return failures
}

// Every CI values file must give pods that start: the chart's schema
// checks values one by one, the service checks what they mean (a body
// template's syntax, a policy, reviewer accounts, URLs). A values file
// that renders but crash-loops every pod was found this way.
func TestRenderedPodsPassTheServiceCheck(t *testing.T) {
	for _, f := range ciValueFiles(t) {
		t.Run(f, func(t *testing.T) {
			r := render(t, renderOpts{files: []string{f}})
			for pod, out := range checkPods(t, r) {
				t.Errorf("%s: the service refuses its configuration:\n%s", pod, out)
			}
		})
	}
}

// The same check refuses a body template in another syntax, which the
// schema lets through: the test above can fail.
func TestServiceCheckRefusesABadBodyTemplate(t *testing.T) {
	bad := valuesFile(t, map[string]any{"sms": map[string]any{"http": map[string]any{
		"bodyTemplate": `{"to":"{to}","text":"{text}"}`}}})
	r := render(t, renderOpts{files: []string{"ci/production-values.yaml", bad}})
	failures := checkPods(t, r)
	if len(failures) == 0 {
		t.Fatal("the service check accepted a body template without {{json .To}}")
	}
	for pod, out := range failures {
		if !strings.Contains(out, "ONBOARDING_SMS_HTTP_BODY_TEMPLATE") {
			t.Errorf("%s: %s, want an error naming ONBOARDING_SMS_HTTP_BODY_TEMPLATE", pod, out)
		}
	}
}
