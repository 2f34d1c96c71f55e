package chartest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"
)

// ingressByPort groups a NetworkPolicy's ingress rules by their port; every
// rule must name exactly one port and at least one peer (a rule without
// peers would admit everyone).
func ingressByPort(t *testing.T, np *networkingv1.NetworkPolicy) map[string][][]networkingv1.NetworkPolicyPeer {
	t.Helper()
	out := map[string][][]networkingv1.NetworkPolicyPeer{}
	for _, rule := range np.Spec.Ingress {
		if len(rule.Ports) != 1 || len(rule.From) == 0 {
			t.Fatalf("ingress rule %+v: want one port and named peers", rule)
		}
		port := rule.Ports[0].Port.String()
		out[port] = append(out[port], rule.From)
	}
	return out
}

// valuesFile writes values to a temporary YAML file, for values that --set
// cannot express (multi-line strings, nulls).
func valuesFile(t *testing.T, values map[string]any) string {
	t.Helper()
	b, err := yaml.Marshal(values)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// adminUsersOf returns secrets.adminUsers of a CI values file.
func adminUsersOf(t *testing.T, file string) string {
	t.Helper()
	var v struct {
		Secrets struct {
			AdminUsers string `json:"adminUsers"`
		} `json:"secrets"`
	}
	if err := yaml.Unmarshal(readFile(t, filepath.Join(chartDir, file)), &v); err != nil {
		t.Fatal(err)
	}
	return v.Secrets.AdminUsers
}

// The reviewer accounts (secrets.adminUsers) live only in the Secret: no
// ConfigMap, env value, other object or NOTES.txt holds the list, a line
// of it or a password from it. The server mounts the key as a file and gets
// ONBOARDING_ADMIN_USERS_FILE, never the plain variable; the Jobs get none.
func TestReviewerAccountsOnlyInTheSecret(t *testing.T) {
	for _, f := range []string{"ci/production-values.yaml", "ci/everything-on-values.yaml"} {
		t.Run(f, func(t *testing.T) {
			accounts := adminUsersOf(t, f)
			var needles []string
			for _, line := range strings.Split(accounts, "\n") {
				line = strings.TrimSpace(line)
				if line == "" || strings.HasPrefix(line, "#") {
					continue
				}
				_, pw, _ := strings.Cut(line, ":")
				needles = append(needles, line, pw)
			}
			if len(needles) < 4 {
				t.Fatalf("%s lists %d reviewer lines, want at least two accounts", f, len(needles)/2)
			}
			needles = append(needles, strings.TrimSpace(accounts))
			r := render(t, renderOpts{files: []string{f}, apis: monitoringAPIs})

			cms := r.ofKind("ConfigMap")
			if len(cms) == 0 {
				t.Fatal("no ConfigMap rendered")
			}
			for _, o := range cms {
				cm := o.typed.(*corev1.ConfigMap)
				for k, v := range cm.Data {
					if strings.Contains(strings.ToLower(k), "admin") {
						t.Errorf("ConfigMap %s has a key %q", cm.Name, k)
					}
					if hit := containsAny(v, needles); len(hit) > 0 {
						t.Errorf("ConfigMap %s key %s holds %d reviewer credential(s)", cm.Name, k, len(hit))
					}
				}
			}
			var secret *corev1.Secret
			for _, o := range r.objects {
				if o.kind == "Secret" {
					if s := o.typed.(*corev1.Secret); !o.hook {
						secret = s
					} else if _, ok := s.Data["admin-users"]; ok {
						t.Errorf("hook Secret %s carries the reviewer accounts", s.Name)
					}
					continue
				}
				if hit := containsAny(o.raw, needles); len(hit) > 0 {
					t.Errorf("%s %s holds %d reviewer credential(s)", o.kind, o.name, len(hit))
				}
			}
			if hit := containsAny(r.notes, needles); len(hit) > 0 {
				t.Errorf("NOTES.txt holds %d reviewer credential(s)", len(hit))
			}
			if secret == nil || string(secret.Data["admin-users"]) != accounts {
				t.Fatalf("the chart-made Secret's admin-users is not secrets.adminUsers verbatim")
			}

			d, c := serverContainer(t, r)
			env, _ := envOf(c)
			if _, plain := env["ONBOARDING_ADMIN_USERS"]; plain {
				t.Error("ONBOARDING_ADMIN_USERS set as a plain value")
			}
			if got := env["ONBOARDING_ADMIN_USERS_FILE"]; got != "/etc/onboarding-adapter/secrets/adminUsers" {
				t.Errorf("ONBOARDING_ADMIN_USERS_FILE = %q", got)
			}
			mounted := false
			for _, v := range d.Spec.Template.Spec.Volumes {
				if v.Secret == nil {
					continue
				}
				for _, it := range v.Secret.Items {
					mounted = mounted || (it.Key == "admin-users" && it.Path == "adminUsers")
				}
			}
			if !mounted {
				t.Error("the admin-users key is not mounted as adminUsers")
			}
			for name, spec := range r.podSpecs() {
				if strings.HasPrefix(name, "Deployment/") {
					continue
				}
				for _, v := range spec.Volumes {
					if v.Secret == nil {
						continue
					}
					for _, it := range v.Secret.Items {
						if it.Key == "admin-users" {
							t.Errorf("%s mounts the reviewer accounts; only the server needs them", name)
						}
					}
				}
			}
		})
	}
}

// review.* reaches the server and the purge CronJob as the same
// ONBOARDING_REVIEW_* values; an explicit false is passed (it overrides a
// policy's true), and unset keeps the variable out so the policy decides.
func TestReviewOverridesReachServerAndPurge(t *testing.T) {
	names := []string{"ONBOARDING_REVIEW_RETENTION", "ONBOARDING_REVIEW_REQUIRE_CLAIM", "ONBOARDING_REVIEW_FOUR_EYES"}
	cases := []struct {
		name   string
		review map[string]any
		want   map[string]string // "" = absent
	}{
		{"unset keeps the policy", map[string]any{"retention": "", "requireClaim": nil, "fourEyes": nil},
			map[string]string{}},
		{"all set", map[string]any{"retention": "1h30m", "requireClaim": true, "fourEyes": true},
			map[string]string{"ONBOARDING_REVIEW_RETENTION": "1h30m", "ONBOARDING_REVIEW_REQUIRE_CLAIM": "true", "ONBOARDING_REVIEW_FOUR_EYES": "true"}},
		{"explicit false overrides", map[string]any{"retention": "", "requireClaim": false, "fourEyes": false},
			map[string]string{"ONBOARDING_REVIEW_REQUIRE_CLAIM": "false", "ONBOARDING_REVIEW_FOUR_EYES": "false"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := valuesFile(t, map[string]any{"review": tc.review})
			r := render(t, renderOpts{files: []string{"ci/production-values.yaml", f}})
			_, server := serverContainer(t, r)
			cj := one[*batchv1.CronJob](t, r, "CronJob", "-purge")
			purge := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
			migrate := one[*batchv1.Job](t, r, "Job", "-migrate").Spec.Template.Spec.Containers[0]
			serverEnv, _ := envOf(server)
			purgeEnv, _ := envOf(purge)
			migrateEnv, _ := envOf(migrate)
			for _, n := range names {
				got, ok := serverEnv[n]
				if want := tc.want[n]; got != want || ok != (want != "") {
					t.Errorf("server %s = %q (set %v), want %q", n, got, ok, want)
				}
				if p, ok := purgeEnv[n]; p != got || ok != (got != "") {
					t.Errorf("purge %s = %q, server %q: one source of truth", n, p, got)
				}
				if _, ok := migrateEnv[n]; ok {
					t.Errorf("the migration gets %s", n)
				}
			}
		})
	}
}

// The reviewer accounts the chart-made Secret holds are checked as the
// service would at start (name:password lines, 12+ characters unless
// bcrypt, unique names, never the API's), and four eyes needs two of them;
// review.fourEyes overrides the policy. Refusals never echo a line.
func TestReviewerAccountChecks(t *testing.T) {
	const bcrypt = "$2y$10$Pv7N8wz4b3lbwQWijovEg.k7unQi9Mlr6K9F.6GGfz9qc1MjJIjxK"
	cases := []struct {
		name    string
		values  map[string]any
		wantErr string // "" = renders
	}{
		{"two users, comments and blanks skipped",
			map[string]any{"adminAuth": map[string]any{"usernamePassword": false, "users": true},
				"secrets": map[string]any{"adminUsers": "# reviewers\n\n  alice:ci-fake-alice-password\nbob:" + bcrypt + "\n"},
				"review":  map[string]any{"fourEyes": true}}, ""},
		{"username plus one user make two",
			map[string]any{"adminAuth": map[string]any{"users": true},
				"secrets": map[string]any{"adminUsername": "reviewer", "adminPassword": "ci-fake-admin-password", "adminUsers": "carol:" + bcrypt},
				"policy":  map[string]any{"review": map[string]any{"fourEyes": true}}}, ""},
		{"review.fourEyes false overrides the policy",
			map[string]any{"secrets": map[string]any{"adminUsername": "reviewer", "adminPassword": "ci-fake-admin-password"},
				"policy": map[string]any{"review": map[string]any{"fourEyes": true}}, "review": map[string]any{"fourEyes": false}}, ""},
		{"four eyes from the policy with one account",
			map[string]any{"secrets": map[string]any{"adminUsername": "reviewer", "adminPassword": "ci-fake-admin-password"},
				"policy": map[string]any{"review": map[string]any{"fourEyes": true}}}, "needs at least two reviewer accounts, found 1"},
		{"the same reviewer twice, in another case",
			map[string]any{"adminAuth": map[string]any{"usernamePassword": false, "users": true},
				"secrets": map[string]any{"adminUsers": "alice:ci-fake-alice-password\nAlice:ci-fake-alice-password2"}}, "line 2: the reviewer name is used twice"},
		{"the API's username as a reviewer",
			map[string]any{"adminAuth": map[string]any{"usernamePassword": false, "users": true},
				"secrets": map[string]any{"adminUsers": "onboarding-server:ci-fake-api-as-reviewer"}}, "line 1: the name is the API's"},
		{"a line without a password",
			map[string]any{"adminAuth": map[string]any{"usernamePassword": false, "users": true},
				"secrets": map[string]any{"adminUsers": "alice:ci-fake-alice-password\nbob"}}, "line 2: want name:password"},
		{"only comments",
			map[string]any{"adminAuth": map[string]any{"usernamePassword": false, "users": true},
				"secrets": map[string]any{"adminUsers": "# nobody yet\n"}}, "secrets.adminUsers lists no reviewer"},
		{"users on but empty",
			map[string]any{"adminAuth": map[string]any{"usernamePassword": false, "users": true}}, "secrets.adminUsers is required"},
		{"existingSecret under four eyes without the users key",
			map[string]any{"secrets": map[string]any{"existingSecret": "creds"}, "review": map[string]any{"fourEyes": true}}, "set adminAuth.users"},
		{"existingSecret under four eyes with the users key",
			map[string]any{"secrets": map[string]any{"existingSecret": "creds"}, "adminAuth": map[string]any{"usernamePassword": false, "users": true},
				"review": map[string]any{"fourEyes": true}}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vals := tc.values
			aa, _ := vals["adminAuth"].(map[string]any)
			if aa == nil {
				aa = map[string]any{}
			}
			aa["enabled"] = true
			vals["adminAuth"] = aa
			f := valuesFile(t, vals)
			_, err := tryRender(t, renderOpts{files: []string{"ci/minimal-values.yaml", f}})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("accepted, want %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("refused with %v, want %q", err, tc.wantErr)
			}
			if err != nil {
				for _, s := range []string{"ci-fake", bcrypt} {
					if strings.Contains(err.Error(), s) {
						t.Errorf("the error echoes a credential: %v", err)
					}
				}
			}
		})
	}
}

// review.retention is a Go duration between 1h and 87600h, as the service
// wants ONBOARDING_REVIEW_RETENTION: the chart sums the units itself.
func TestReviewRetentionRange(t *testing.T) {
	cases := []struct {
		retention string
		ok        bool
	}{
		{"1h", true}, {"3600s", true}, {"90m", true}, {"1h30m", true}, {"2160h", true}, {"87600h", true},
		{"59m59s", false}, {"1800s", false}, {"87600h1s", false}, {"100000h", false}, {"0s", false},
	}
	for _, tc := range cases {
		t.Run(tc.retention, func(t *testing.T) {
			_, err := tryRender(t, renderOpts{files: []string{"ci/minimal-values.yaml"}, set: []string{"review.retention=" + tc.retention}})
			if tc.ok && err != nil {
				t.Errorf("refused: %v", err)
			}
			if !tc.ok && (err == nil || !strings.Contains(err.Error(), "must be between 1h and 87600h")) {
				t.Errorf("err = %v, want the range named", err)
			}
		})
	}
}

// The reviewers' ingress to the admin port renders only when enabled (and
// the NetworkPolicy is on), as its own rule on the admin port with exactly
// the configured peers; it never widens the API port's rule.
func TestReviewerIngressOnlyWhenEnabled(t *testing.T) {
	cases := []struct {
		name          string
		file          string
		set           []string
		wantNP        bool
		wantReviewers bool
	}{
		{"off by default", "ci/production-values.yaml", nil, true, false},
		{"enabled", "ci/everything-on-values.yaml", nil, true, true},
		{"disabled again", "ci/everything-on-values.yaml", []string{"networkPolicy.ingress.reviewers.enabled=false"}, true, false},
		{"no NetworkPolicy at all", "ci/everything-on-values.yaml", []string{"networkPolicy.enabled=false"}, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := render(t, renderOpts{files: []string{tc.file}, set: tc.set})
			nps := r.ofKind("NetworkPolicy")
			if !tc.wantNP {
				if len(nps) != 0 {
					t.Fatalf("%d NetworkPolicies with networkPolicy.enabled=false", len(nps))
				}
				return
			}
			var np *networkingv1.NetworkPolicy
			for _, o := range nps {
				if p := o.typed.(*networkingv1.NetworkPolicy); p.Spec.PodSelector.MatchLabels["app.kubernetes.io/component"] == "server" {
					np = p
				}
			}
			if np == nil {
				t.Fatal("no NetworkPolicy for the server pods")
			}
			byPort := ingressByPort(t, np)
			admin := byPort["admin"]
			if len(admin) == 0 || !hasTestPod(admin[0]) {
				t.Fatalf("the first admin rule is not monitoring + the test pod: %+v", admin)
			}
			for _, api := range byPort["api"] {
				for _, p := range api {
					if isReviewerPeer(p) {
						t.Errorf("the API port admits the reviewers' peer %+v", p)
					}
				}
			}
			if !tc.wantReviewers {
				if len(admin) != 1 {
					t.Errorf("%d admin rules, want only monitoring + test pod", len(admin))
				}
				for _, p := range admin[0] {
					if isReviewerPeer(p) {
						t.Errorf("reviewers' peer %+v admitted while off", p)
					}
				}
				return
			}
			if len(admin) != 2 {
				t.Fatalf("%d admin rules, want monitoring + test pod, then reviewers", len(admin))
			}
			rv := admin[1]
			if len(rv) != 2 || !isReviewerPeer(rv[0]) || rv[0].PodSelector == nil ||
				rv[0].PodSelector.MatchLabels["app.kubernetes.io/name"] != "ingress-nginx" ||
				rv[1].IPBlock == nil || rv[1].IPBlock.CIDR != "10.50.0.0/16" {
				t.Errorf("reviewers rule from %+v, want the ingress controller and the VPN range", rv)
			}
			if hasTestPod(rv) {
				t.Error("the reviewers rule also carries the test pod")
			}
		})
	}
}

// hasTestPod reports whether the peers admit the chart's helm-test pod.
func hasTestPod(peers []networkingv1.NetworkPolicyPeer) bool {
	return slices.ContainsFunc(peers, func(p networkingv1.NetworkPolicyPeer) bool {
		return p.PodSelector != nil && p.PodSelector.MatchLabels["app.kubernetes.io/component"] == "test"
	})
}

// isReviewerPeer reports whether a peer is everything-on's reviewer ingress
// controller namespace.
func isReviewerPeer(p networkingv1.NetworkPolicyPeer) bool {
	return p.NamespaceSelector != nil && p.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] == "ingress-internal"
}

// NOTES.txt tells how reviewers reach the UI (port-forward, and the
// reviewers' ingress when on), the review rules in force, and, with an
// existing Secret under four eyes, that its key needs two reviewers.
func TestNotesReviewUI(t *testing.T) {
	portForward := "kubectl -n " + namespace + " port-forward svc/" + releaseName + "-onboarding-adapter 9090:9090"
	cases := []struct {
		file    string
		want    []string
		notWant []string
	}{
		{"ci/minimal-values.yaml", []string{"Review UI: off", portForward}, []string{"/review/", "/admin/api/review"}},
		{"ci/production-values.yaml",
			[]string{portForward, "with the port-forward above, open http://localhost:9090/review/", "/admin/api/review/cases", "four eyes on, claim before resolving required",
				"port-forward is the reviewers' way in", "networkPolicy.ingress.reviewers"},
			[]string{"Review UI: off", "Also admitted to the admin port"}},
		{"ci/everything-on-values.yaml",
			[]string{"port-forward svc/onboarding 9090:9090", "Also admitted to the admin port: networkPolicy.ingress.reviewers", "never for the internet"},
			[]string{"port-forward is the reviewers' way in"}},
		{"ci/existing-secret-values.yaml",
			[]string{portForward, `the key "reviewers-htpasswd" of Secret "onboarding-adapter-credentials" must list at least two reviewers`,
				"four eyes on, claim before resolving not required"},
			nil},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			notes := render(t, renderOpts{files: []string{tc.file}}).notes
			for _, w := range tc.want {
				if !strings.Contains(notes, w) {
					t.Errorf("NOTES lack %q:\n%s", w, notes)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(notes, w) {
					t.Errorf("NOTES contain %q:\n%s", w, notes)
				}
			}
		})
	}
}
