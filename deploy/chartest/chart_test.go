package chartest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// Every CI environment renders, and every manifest (hooks included) decodes
// strictly into its Kubernetes type: a misspelt or misplaced field fails.
func TestCIValuesRenderAndDecodeStrictly(t *testing.T) {
	for _, f := range ciValueFiles(t) {
		t.Run(f, func(t *testing.T) {
			r := render(t, renderOpts{files: []string{f}, apis: monitoringAPIs})
			kinds := map[string]int{}
			for _, o := range r.objects {
				kinds[o.kind]++
			}
			for _, k := range []string{"Deployment", "Service", "ConfigMap", "ServiceAccount", "PodDisruptionBudget", "NetworkPolicy", "Pod"} {
				if kinds[k] == 0 {
					t.Errorf("no %s rendered (got %v)", k, kinds)
				}
			}
			if r.notes == "" {
				t.Error("NOTES.txt rendered empty")
			}
		})
	}
}

// The hardening holds for every pod the release runs: the server, the
// migrate and purge Jobs and the test pod.
func TestEveryPodIsHardened(t *testing.T) {
	for _, f := range ciValueFiles(t) {
		r := render(t, renderOpts{files: []string{f}, apis: monitoringAPIs})
		for name, spec := range r.podSpecs() {
			t.Run(f+"/"+name, func(t *testing.T) {
				if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
					t.Error("automountServiceAccountToken is not false")
				}
				if spec.HostNetwork || spec.HostPID || spec.HostIPC {
					t.Error("uses a host namespace")
				}
				psc := spec.SecurityContext
				if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
					t.Error("pod securityContext.runAsNonRoot is not true")
				}
				if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
					t.Error("pod seccompProfile is not RuntimeDefault")
				}
				if len(spec.Containers) == 0 {
					t.Fatal("no containers")
				}
				for _, c := range spec.Containers {
					sc := c.SecurityContext
					switch {
					case sc == nil:
						t.Fatalf("%s: no securityContext", c.Name)
					case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
						t.Errorf("%s: runAsNonRoot is not true", c.Name)
					case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
						t.Errorf("%s: readOnlyRootFilesystem is not true", c.Name)
					case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
						t.Errorf("%s: allowPrivilegeEscalation is not false", c.Name)
					case sc.Privileged != nil && *sc.Privileged:
						t.Errorf("%s: privileged", c.Name)
					case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0:
						t.Errorf("%s: capabilities are not drop [ALL] with nothing added", c.Name)
					}
					if c.Resources.Limits.Memory().IsZero() {
						t.Errorf("%s: no memory limit", c.Name)
					}
					if !strings.Contains(c.Image, "onboarding-adapter") {
						t.Errorf("%s: image %q is not the chart's own", c.Name, c.Image)
					}
				}
				if name[:4] != "Pod/" { // the test pod writes nothing
					assertTmpIsEmptyDir(t, spec)
				}
			})
		}
	}
}

// assertTmpIsEmptyDir checks that /tmp is the only writable path and is an emptyDir.
func assertTmpIsEmptyDir(t *testing.T, spec corev1.PodSpec) {
	t.Helper()
	vols := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		vols[v.Name] = v
	}
	for _, c := range spec.Containers {
		found := false
		for _, m := range c.VolumeMounts {
			v := vols[m.Name]
			if m.MountPath == "/tmp" {
				found = v.EmptyDir != nil
				continue
			}
			if !m.ReadOnly {
				t.Errorf("%s: %s is mounted writable", c.Name, m.MountPath)
			}
		}
		if !found {
			t.Errorf("%s: /tmp is not an emptyDir", c.Name)
		}
	}
}

// serverContainer returns the Deployment and its one container.
func serverContainer(t *testing.T, r rendered) (*appsv1.Deployment, corev1.Container) {
	t.Helper()
	d := one[*appsv1.Deployment](t, r, "Deployment", "")
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("want 1 container, got %d", n)
	}
	return d, d.Spec.Template.Spec.Containers[0]
}

// With migrateAtStart the pod migrates before it serves /livez, so the
// startup probe waits at least 180 s (the lock retries take about a
// minute); without it the values' window stands.
func TestStartupWindowCoversMigrateAtStart(t *testing.T) {
	window := func(set ...string) int32 {
		r := render(t, renderOpts{files: []string{"ci/existing-secret-values.yaml"}, set: set})
		_, c := serverContainer(t, r)
		return c.StartupProbe.PeriodSeconds * c.StartupProbe.FailureThreshold
	}
	if got := window(); got != 60 {
		t.Errorf("startup window %d s without migrateAtStart, want the values' 60", got)
	}
	if got := window("database.migrateAtStart=true"); got < 180 {
		t.Errorf("startup window %d s with migrateAtStart, want at least 180", got)
	}
	if got := window("database.migrateAtStart=true", "probes.startup.periodSeconds=7"); got < 180 {
		t.Errorf("startup window %d s with migrateAtStart every 7 s, want at least 180", got)
	}
	if got := window("database.migrateAtStart=true", "probes.startup.failureThreshold=100"); got != 200 {
		t.Errorf("startup window %d s with migrateAtStart and a longer one set, want the values' 200", got)
	}
	// Liveness starts after the startup probe passed: its window stays, so
	// a hung process is restarted as quickly as without migrateAtStart.
	liveness := func(set ...string) int32 {
		r := render(t, renderOpts{files: []string{"ci/existing-secret-values.yaml"}, set: set})
		_, c := serverContainer(t, r)
		return c.LivenessProbe.PeriodSeconds * c.LivenessProbe.FailureThreshold
	}
	if plain, migrating := liveness(), liveness("database.migrateAtStart=true"); migrating != plain {
		t.Errorf("liveness window %d s with migrateAtStart, want the values' %d", migrating, plain)
	}
	// Without a startup probe, liveness watches the migration instead.
	if got := liveness("database.migrateAtStart=true", "probes.startup.enabled=false"); got < 180 {
		t.Errorf("liveness window %d s with migrateAtStart and no startup probe, want at least 180", got)
	}
}

// The kubelet asks the admin listener: startup and liveness /livez
// (process only), readiness /readyz (dependencies); the named ports match
// the Service's targets and the listen addresses.
func TestProbesAndPorts(t *testing.T) {
	for _, f := range ciValueFiles(t) {
		t.Run(f, func(t *testing.T) {
			r := render(t, renderOpts{files: []string{f}})
			_, c := serverContainer(t, r)
			probes := []struct {
				name string
				p    *corev1.Probe
				path string
			}{{"startup", c.StartupProbe, "/livez"}, {"liveness", c.LivenessProbe, "/livez"}, {"readiness", c.ReadinessProbe, "/readyz"}}
			for _, p := range probes {
				if p.p == nil || p.p.HTTPGet == nil {
					t.Errorf("%s probe: missing or not httpGet", p.name)
					continue
				}
				if p.p.HTTPGet.Path != p.path || p.p.HTTPGet.Port.String() != "admin" {
					t.Errorf("%s probe: %s on %s, want %s on admin", p.name, p.p.HTTPGet.Path, p.p.HTTPGet.Port.String(), p.path)
				}
			}
			ports := map[string]int32{}
			for _, p := range c.Ports {
				ports[p.Name] = p.ContainerPort
			}
			env, _ := envOf(c)
			if env["ONBOARDING_HTTP_ADDR"] != ":"+strconv.Itoa(int(ports["api"])) || env["ONBOARDING_ADMIN_ADDR"] != ":"+strconv.Itoa(int(ports["admin"])) {
				t.Errorf("listen addresses %q/%q do not match the ports %v", env["ONBOARDING_HTTP_ADDR"], env["ONBOARDING_ADMIN_ADDR"], ports)
			}
			svc := one[*corev1.Service](t, r, "Service", "")
			targets := map[string]string{}
			for _, p := range svc.Spec.Ports {
				targets[p.Name] = p.TargetPort.String()
			}
			if targets["api"] != "api" || targets["admin"] != "admin" {
				t.Errorf("service targets %v, want api->api and admin->admin", targets)
			}
		})
	}
}

// The admin port (review UI, metrics, pprof) never rides a Service that is
// reachable from outside the cluster; the test pod and NOTES follow it.
func TestAdminPortStaysInsideTheCluster(t *testing.T) {
	for _, typ := range []string{"ClusterIP", "NodePort", "LoadBalancer"} {
		t.Run(typ, func(t *testing.T) {
			r := render(t, renderOpts{files: []string{"ci/production-values.yaml"}, set: []string{"service.type=" + typ}})
			adminService := ""
			for _, o := range r.ofKind("Service") {
				svc := o.typed.(*corev1.Service)
				for _, p := range svc.Spec.Ports {
					if p.Name != "admin" {
						continue
					}
					if svc.Spec.Type != corev1.ServiceTypeClusterIP {
						t.Errorf("Service %s (%s) carries the admin port", svc.Name, svc.Spec.Type)
					}
					adminService = svc.Name
				}
				if svc.Spec.Type == corev1.ServiceType(typ) && !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == "api" }) {
					t.Errorf("Service %s (%s) lacks the api port", svc.Name, typ)
				}
			}
			if adminService == "" {
				t.Fatal("no Service carries the admin port")
			}
			if typ != "ClusterIP" && !strings.HasSuffix(adminService, "-admin") {
				t.Errorf("admin Service %q, want the -admin one", adminService)
			}
			if typ != "ClusterIP" {
				// A release name of the longest kind still gets two Services.
				long := strings.Repeat("x", 63)
				r := render(t, renderOpts{files: []string{"ci/production-values.yaml"}, set: []string{"service.type=" + typ, "fullnameOverride=" + long}})
				names := map[string]bool{}
				for _, o := range r.ofKind("Service") {
					names[o.name] = true
					if len(o.name) > 63 {
						t.Errorf("Service name %q is longer than 63", o.name)
					}
				}
				if len(names) != 2 {
					t.Errorf("Services %v, want two distinct names", names)
				}
			}
			if !strings.Contains(r.notes, "svc/"+adminService+" ") {
				t.Errorf("NOTES port-forward does not name %s", adminService)
			}
			pod := one[*corev1.Pod](t, r, "Pod", "-test-readyz")
			if !strings.Contains(strings.Join(pod.Spec.Containers[0].Args, " "), "//"+adminService+".") {
				t.Errorf("test pod args %v do not reach %s", pod.Spec.Containers[0].Args, adminService)
			}
		})
	}
}

// SIGTERM handling: the pod sleeps in preStop while endpoints drop it, then
// drains within ONBOARDING_SHUTDOWN_TIMEOUT; the grace period covers both.
// GOMAXPROCS/GOMEMLIMIT follow the limits that are set.
func TestShutdownBudgetAndGoRuntimeLimits(t *testing.T) {
	cases := []struct {
		file               string
		wantCPU, wantMem   bool
		wantGraceAtLeast   int64
		wantGraceExactly   int64
		wantShutdownSecond int
	}{
		{file: "ci/minimal-values.yaml", wantMem: true, wantGraceExactly: 40, wantShutdownSecond: 20},
		{file: "ci/production-values.yaml", wantCPU: true, wantMem: true, wantGraceExactly: 45, wantShutdownSecond: 25},
		{file: "ci/everything-on-values.yaml", wantCPU: true, wantMem: true, wantGraceExactly: 60, wantShutdownSecond: 20},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			d, c := serverContainer(t, render(t, renderOpts{files: []string{tc.file}}))
			if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
				t.Fatal("no preStop sleep")
			}
			if c.Lifecycle.PreStop.Exec != nil {
				t.Error("preStop exec needs a shell; the image has none")
			}
			env, from := envOf(c)
			shutdown, err := time.ParseDuration(env["ONBOARDING_SHUTDOWN_TIMEOUT"])
			if err != nil || int(shutdown.Seconds()) != tc.wantShutdownSecond {
				t.Fatalf("ONBOARDING_SHUTDOWN_TIMEOUT %q, want %ds", env["ONBOARDING_SHUTDOWN_TIMEOUT"], tc.wantShutdownSecond)
			}
			grace := d.Spec.Template.Spec.TerminationGracePeriodSeconds
			if grace == nil || *grace != tc.wantGraceExactly {
				t.Fatalf("terminationGracePeriodSeconds %v, want %d", grace, tc.wantGraceExactly)
			}
			if budget := c.Lifecycle.PreStop.Sleep.Seconds + int64(shutdown.Seconds()) + 10; *grace < budget {
				t.Errorf("grace %ds is below preStop + shutdown + the 5s adapter close + the 5s telemetry flush (%ds)", *grace, budget)
			}
			src := from["GOMAXPROCS"]
			switch {
			case !tc.wantCPU && src != nil:
				t.Error("GOMAXPROCS set without a CPU limit to follow")
			case tc.wantCPU && (src == nil || src.ResourceFieldRef == nil || src.ResourceFieldRef.Resource != "limits.cpu"):
				t.Error("GOMAXPROCS is not from resourceFieldRef limits.cpu")
			}
			// GOMEMLIMIT is 90% of the memory limit: the runtime's limit
			// leaves room for what it does not manage.
			memLimit, hasLimit := env["GOMEMLIMIT"]
			switch limit := c.Resources.Limits.Memory(); {
			case !tc.wantMem:
				if hasLimit {
					t.Error("GOMEMLIMIT set without a memory limit to follow")
				}
			case limit.IsZero():
				t.Fatal("the case wants a memory limit and the container has none")
			case memLimit != strconv.FormatInt(limit.Value()*9/10, 10):
				t.Errorf("GOMEMLIMIT %q, want 90%% of the %s limit (%d)", memLimit, limit, limit.Value()*9/10)
			}
		})
	}
}

// Jobs whose deadline was removed run their command without --timeout
// (its two minutes), not with a negative one.
func TestJobsWithoutDeadline(t *testing.T) {
	r := render(t, renderOpts{files: []string{"ci/production-values.yaml"},
		set: []string{"migrations.activeDeadlineSeconds=null", "purge.activeDeadlineSeconds=null"}})
	job := one[*batchv1.Job](t, r, "Job", "-migrate")
	if got := job.Spec.Template.Spec.Containers[0].Args; !slices.Equal(got, []string{"migrate", "--grant-to", "onboarding_app", "up"}) {
		t.Errorf("migrate args %v, want [migrate --grant-to onboarding_app up]", got)
	}
	cj := one[*batchv1.CronJob](t, r, "CronJob", "-purge")
	if got := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args; !slices.Equal(got, []string{"purge"}) {
		t.Errorf("purge args %v, want [purge]", got)
	}
}

// goMemLimit overrides the derived GOMEMLIMIT; other memory-limit spellings
// derive it too.
func TestGoMemLimit(t *testing.T) {
	for _, tc := range []struct {
		set  []string
		want string
	}{
		{[]string{"goMemLimit=200MiB"}, "200MiB"},
		{[]string{"resources.limits.memory=1Gi"}, "966367641"},
		{[]string{"resources.limits.memory=500M"}, "450000000"},
		{[]string{"resources.limits.memory=268435456"}, "241591910"},
		{[]string{"resources.limits.memory=1.5Gi"}, "1449551462"},
	} {
		_, c := serverContainer(t, render(t, renderOpts{files: []string{"ci/minimal-values.yaml"}, set: tc.set}))
		if env, _ := envOf(c); env["GOMEMLIMIT"] != tc.want {
			t.Errorf("%v: GOMEMLIMIT %q, want %q", tc.set, env["GOMEMLIMIT"], tc.want)
		}
	}
	// A number in a values file arrives as a float64, not as --set's int.
	file := filepath.Join(t.TempDir(), "memory.yaml")
	if err := os.WriteFile(file, []byte("resources:\n  limits:\n    memory: 268435456\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, c := serverContainer(t, render(t, renderOpts{files: []string{"ci/minimal-values.yaml", file}}))
	if env, _ := envOf(c); env["GOMEMLIMIT"] != "241591910" {
		t.Errorf("memory limit from a values file: GOMEMLIMIT %q, want 241591910", env["GOMEMLIMIT"])
	}
}

// A pool of one connection also keeps at most one idle: the service's
// default minimum (2) above its maximum would refuse to start.
func TestMaxConnsBelowTheDefaultMinimum(t *testing.T) {
	for _, tc := range []struct {
		maxConns, wantMin string
	}{{"1", "1"}, {"2", ""}, {"20", ""}} {
		_, c := serverContainer(t, render(t, renderOpts{files: []string{"ci/production-values.yaml"}, set: []string{"database.maxConns=" + tc.maxConns}}))
		env, _ := envOf(c)
		if env["ONBOARDING_DB_MAX_CONNS"] != tc.maxConns || env["ONBOARDING_DB_MIN_CONNS"] != tc.wantMin {
			t.Errorf("maxConns %s: max %q, min %q; want max %s, min %q", tc.maxConns,
				env["ONBOARDING_DB_MAX_CONNS"], env["ONBOARDING_DB_MIN_CONNS"], tc.maxConns, tc.wantMin)
		}
	}
}

// The migration runs as a pre-install,pre-upgrade hook Job; at pre-install
// the chart-made Secret and ServiceAccount do not exist yet, so the hook
// brings its own (lower weight) or uses the existing Secret.
func TestMigrationHook(t *testing.T) {
	cases := []struct {
		file         string
		wantSecret   string // the Secret the Job mounts
		wantKey      string
		wantOwnHooks []string // kinds rendered as earlier hooks
		grantTo      []string // the runtime role's flag, if any
	}{
		// Least privilege: the Job migrates as the owner and grants the
		// pods' role its privileges.
		{"ci/production-values.yaml", releaseName + "-onboarding-adapter-migrate", "migration-database-url",
			[]string{"Secret", "ServiceAccount"}, []string{"--grant-to", "onboarding_app"}},
		{"ci/existing-secret-values.yaml", "onboarding-adapter-credentials", "pg-dsn", []string{"ServiceAccount"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			r := render(t, renderOpts{files: []string{tc.file}})
			job := one[*batchv1.Job](t, r, "Job", "-migrate")
			a := job.Annotations
			if a["helm.sh/hook"] != "pre-install,pre-upgrade" {
				t.Errorf("hook %q", a["helm.sh/hook"])
			}
			if !strings.Contains(a["helm.sh/hook-delete-policy"], "before-hook-creation") {
				t.Errorf("delete policy %q lacks before-hook-creation", a["helm.sh/hook-delete-policy"])
			}
			jobWeight, _ := strconv.Atoi(a["helm.sh/hook-weight"])
			spec := job.Spec.Template.Spec
			// The command gives up 10s before the Job's deadline (none
			// without one: TestJobsWithoutDeadline).
			wantArgs := append(append([]string{"migrate", "--timeout", fmt.Sprintf("%ds", *job.Spec.ActiveDeadlineSeconds-10)},
				tc.grantTo...), "up")
			if got := spec.Containers[0].Args; !slices.Equal(got, wantArgs) {
				t.Errorf("args %v, want %v", got, wantArgs)
			}
			if spec.RestartPolicy != corev1.RestartPolicyNever {
				t.Errorf("restartPolicy %s", spec.RestartPolicy)
			}
			var hooks []string
			for _, o := range r.objects {
				if !o.hook || o.kind == "Job" || o.kind == "Pod" {
					continue
				}
				hooks = append(hooks, o.kind)
				meta := o.typed.(interface{ GetAnnotations() map[string]string }).GetAnnotations()
				w, _ := strconv.Atoi(meta["helm.sh/hook-weight"])
				if meta["helm.sh/hook"] != "pre-install,pre-upgrade" || w >= jobWeight {
					t.Errorf("%s %s: hook %q weight %d, want pre-install,pre-upgrade before the Job's %d", o.kind, o.name, meta["helm.sh/hook"], w, jobWeight)
				}
				if !strings.Contains(meta["helm.sh/hook-delete-policy"], "hook-succeeded") {
					t.Errorf("%s %s outlives the hook (delete policy %q)", o.kind, o.name, meta["helm.sh/hook-delete-policy"])
				}
			}
			slices.Sort(hooks)
			if !slices.Equal(hooks, tc.wantOwnHooks) {
				t.Errorf("earlier hooks %v, want %v", hooks, tc.wantOwnHooks)
			}
			var vol *corev1.SecretVolumeSource
			for _, v := range spec.Volumes {
				if v.Secret != nil {
					vol = v.Secret
				}
			}
			if vol == nil || vol.SecretName != tc.wantSecret || len(vol.Items) != 1 || vol.Items[0].Key != tc.wantKey {
				t.Fatalf("job secret volume %+v, want only %s/%s", vol, tc.wantSecret, tc.wantKey)
			}
			env, _ := envOf(spec.Containers[0])
			if env["ONBOARDING_DATABASE_URL_FILE"] == "" {
				t.Error("ONBOARDING_DATABASE_URL_FILE not set")
			}
			for k := range env {
				if strings.HasSuffix(k, "_FILE") && k != "ONBOARDING_DATABASE_URL_FILE" {
					t.Errorf("the migration gets %s; it needs only the database", k)
				}
			}
		})
	}
	t.Run("in-memory has no migration", func(t *testing.T) {
		r := render(t, renderOpts{files: []string{"ci/minimal-values.yaml"}})
		if n := len(r.ofKind("Job")) + len(r.ofKind("CronJob")); n != 0 {
			t.Errorf("%d jobs rendered without a database", n)
		}
	})
}

// With a database the purge CronJob runs unless purge.enabled is false:
// kept evidence must not outlive its retention because a value was
// forgotten. Without a database there is none, and true is refused.
func TestPurgeRunsByDefaultWithADatabase(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []string
		set   []string
		want  int
	}{
		{"a database, purge not set", []string{"ci/existing-secret-values.yaml"}, nil, 1},
		{"a database, purge null", []string{"ci/existing-secret-values.yaml"}, []string{"purge.enabled=null"}, 1},
		{"a database, purge off", []string{"ci/existing-secret-values.yaml"}, []string{"purge.enabled=false"}, 0},
		{"in memory", []string{"ci/minimal-values.yaml"}, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := render(t, renderOpts{files: tc.files, set: tc.set})
			if n := len(r.ofKind("CronJob")); n != tc.want {
				t.Fatalf("%d purge CronJobs, want %d", n, tc.want)
			}
			if tc.want == 1 {
				cj := one[*batchv1.CronJob](t, r, "CronJob", "-purge")
				if args := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args; len(args) == 0 || args[0] != "purge" {
					t.Errorf("CronJob args %v", args)
				}
			}
		})
	}
	if _, err := tryRender(t, renderOpts{files: []string{"ci/minimal-values.yaml"}, set: []string{"purge.enabled=true"}}); err == nil ||
		!strings.Contains(err.Error(), "purge.enabled needs database.enabled") {
		t.Errorf("purge.enabled=true in memory: %v, want refused", err)
	}
}

// The purge CronJob runs `purge` once at a time with the database URL and
// the policy, nothing else; its retention is the server's
// (ONBOARDING_REVIEW_RETENTION from review.retention), not a flag of its own.
func TestPurgeCronJob(t *testing.T) {
	r := render(t, renderOpts{files: []string{"ci/production-values.yaml"}})
	cj := one[*batchv1.CronJob](t, r, "CronJob", "-purge")
	if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("concurrencyPolicy %s, want Forbid", cj.Spec.ConcurrencyPolicy)
	}
	if cj.Spec.TimeZone == nil || *cj.Spec.TimeZone != "Europe/Prague" || cj.Spec.Schedule != "17 3 * * *" {
		t.Errorf("schedule %q time zone %v", cj.Spec.Schedule, cj.Spec.TimeZone)
	}
	spec := cj.Spec.JobTemplate.Spec.Template.Spec
	// The retention comes from the environment; the command gives up 10s
	// before the Job's deadline.
	wantArgs := []string{"purge", "--timeout", fmt.Sprintf("%ds", *cj.Spec.JobTemplate.Spec.ActiveDeadlineSeconds-10)}
	if got := spec.Containers[0].Args; !slices.Equal(got, wantArgs) {
		t.Errorf("args %v, want %v", got, wantArgs)
	}
	env, _ := envOf(spec.Containers[0])
	if env["ONBOARDING_POLICY_FILE"] == "" || env["ONBOARDING_DATABASE_URL_FILE"] == "" {
		t.Errorf("purge lacks the policy or the database: %v", env)
	}
	_, server := serverContainer(t, r)
	serverEnv, _ := envOf(server)
	if env["ONBOARDING_REVIEW_RETENTION"] != "2160h" || serverEnv["ONBOARDING_REVIEW_RETENTION"] != env["ONBOARDING_REVIEW_RETENTION"] {
		t.Errorf("retention: purge %q, server %q; want both 2160h", env["ONBOARDING_REVIEW_RETENTION"], serverEnv["ONBOARDING_REVIEW_RETENTION"])
	}
	if policyFile := serverEnv["ONBOARDING_POLICY_FILE"]; env["ONBOARDING_POLICY_FILE"] != policyFile {
		t.Errorf("purge reads policy %q, the server %q", env["ONBOARDING_POLICY_FILE"], policyFile)
	}
	for _, v := range spec.Volumes {
		if v.Secret != nil && (len(v.Secret.Items) != 1 || v.Secret.Items[0].Key != "database-url") {
			t.Errorf("purge mounts secret keys %+v; it needs only the database URL", v.Secret.Items)
		}
	}
	if _, err := tryRender(t, renderOpts{files: []string{"ci/production-values.yaml"}, set: []string{"purge.schedule=every night"}}); err == nil {
		t.Error("a schedule that is not cron was accepted")
	}
}

// helm test runs the chart's own image against /readyz on the admin port.
func TestHelmTestPod(t *testing.T) {
	r := render(t, renderOpts{files: []string{"ci/production-values.yaml"}})
	pod := one[*corev1.Pod](t, r, "Pod", "-test-readyz")
	if pod.Annotations["helm.sh/hook"] != "test" {
		t.Errorf("hook %q, want test", pod.Annotations["helm.sh/hook"])
	}
	_, server := serverContainer(t, r)
	c := pod.Spec.Containers[0]
	if c.Image != server.Image {
		t.Errorf("test image %s, want the chart's %s", c.Image, server.Image)
	}
	want := []string{"healthcheck", "--url", "http://" + releaseName + "-onboarding-adapter." + namespace + ".svc:9090/readyz"}
	if !slices.Equal(c.Args, want) {
		t.Errorf("args %v, want %v", c.Args, want)
	}
	if pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy %s", pod.Spec.RestartPolicy)
	}
}

// No credential from the values reaches anything but a Secret: not a
// ConfigMap, an env value, an annotation or NOTES.txt.
func TestSecretValuesOnlyInSecrets(t *testing.T) {
	for _, f := range ciValueFiles(t) {
		t.Run(f, func(t *testing.T) {
			secrets := secretValues(t, f)
			r := render(t, renderOpts{files: []string{f}, apis: monitoringAPIs})
			for _, o := range r.objects {
				if o.kind == "Secret" {
					continue
				}
				if hit := containsAny(o.raw, secrets); len(hit) > 0 {
					t.Errorf("%s %s (%s) contains %d secret value(s)", o.kind, o.name, o.source, len(hit))
				}
			}
			if hit := containsAny(r.notes, secrets); len(hit) > 0 {
				t.Errorf("NOTES.txt contains %d secret value(s)", len(hit))
			}
			cms := r.ofKind("ConfigMap")
			if len(cms) == 0 {
				t.Fatal("no ConfigMap rendered")
			}
			for _, o := range cms {
				cm := o.typed.(*corev1.ConfigMap)
				for k, v := range cm.Data {
					if hit := containsAny(v, secrets); len(hit) > 0 {
						t.Errorf("ConfigMap %s key %s holds a secret", cm.Name, k)
					}
				}
			}
		})
	}
	// The values file really has secrets, or the test above proves nothing.
	if n := len(secretValues(t, "ci/production-values.yaml")); n < 8 {
		t.Fatalf("production values list %d secrets, want at least 8", n)
	}
}

// The chart-made Secret holds exactly the keys the enabled features need,
// each mounted as a file and passed as *_FILE.
func TestChartMadeSecretMatchesMounts(t *testing.T) {
	r := render(t, renderOpts{files: []string{"ci/production-values.yaml"}})
	var sec *corev1.Secret
	for _, o := range r.ofKind("Secret") {
		if !o.hook {
			sec = o.typed.(*corev1.Secret)
		}
	}
	if sec == nil {
		t.Fatal("no chart-made Secret")
	}
	keys := make([]string, 0, len(sec.Data))
	for k := range sec.Data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"admin-users", "basic-auth-next-password", "basic-auth-next-username",
		"basic-auth-password", "basic-auth-username", "database-url", "otp-hash-key", "redis-url", "sms-http-password"}
	if !slices.Equal(keys, want) {
		t.Errorf("secret keys %v, want %v", keys, want)
	}
	if got := string(sec.Data["database-url"]); !strings.HasPrefix(got, "postgres://") {
		t.Errorf("database-url is not the value (base64 twice?): %q", got[:min(len(got), 11)])
	}
	d, c := serverContainer(t, r)
	var items []string
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Secret != nil {
			if v.Secret.SecretName != sec.Name {
				t.Errorf("mounts Secret %s, want %s", v.Secret.SecretName, sec.Name)
			}
			for _, it := range v.Secret.Items {
				items = append(items, it.Key)
			}
		}
	}
	slices.Sort(items)
	if !slices.Equal(items, want) {
		t.Errorf("mounted keys %v, want %v", items, want)
	}
	env, _ := envOf(c)
	for _, v := range []string{"ONBOARDING_ADMIN_USERNAME_FILE", "ONBOARDING_ADMIN_PASSWORD_FILE"} {
		if _, ok := env[v]; ok {
			t.Errorf("%s set with adminAuth.usernamePassword false", v)
		}
	}
	for _, v := range []string{"ONBOARDING_DATABASE_URL_FILE", "ONBOARDING_REDIS_URL_FILE", "ONBOARDING_BASIC_AUTH_PASSWORD_FILE",
		"ONBOARDING_OTP_HASH_KEY_FILE", "ONBOARDING_SMS_HTTP_PASSWORD_FILE", "ONBOARDING_ADMIN_USERS_FILE"} {
		if !strings.HasPrefix(env[v], "/etc/onboarding-adapter/secrets/") {
			t.Errorf("%s = %q, want a file under the secrets mount", v, env[v])
		}
		if _, plain := env[strings.TrimSuffix(v, "_FILE")]; plain {
			t.Errorf("%s is set as well as %s: the service refuses both", strings.TrimSuffix(v, "_FILE"), v)
		}
	}
}

// With existingSecret the chart renders no Secret (no hook Secret either)
// and mounts the named one under the renamed keys, the reviewer accounts
// among them.
func TestExistingSecretRendersNoSecret(t *testing.T) {
	r := render(t, renderOpts{files: []string{"ci/existing-secret-values.yaml"}})
	if n := len(r.ofKind("Secret")); n != 0 {
		t.Fatalf("%d Secret(s) rendered with existingSecret", n)
	}
	d, c := serverContainer(t, r)
	if _, ok := d.Spec.Template.Annotations["checksum/secret"]; ok {
		t.Error("checksum/secret of a Secret the chart does not render")
	}
	var items []string
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Secret != nil {
			if v.Secret.SecretName != "onboarding-adapter-credentials" {
				t.Errorf("mounts %s", v.Secret.SecretName)
			}
			for _, it := range v.Secret.Items {
				items = append(items, it.Key+"->"+it.Path)
			}
		}
	}
	slices.Sort(items)
	want := []string{"api-password->basicAuthPassword", "api-user->basicAuthUsername", "otp-key->otpHashKey",
		"pg-dsn->databaseUrl", "redis-dsn->redisUrl", "reviewers-htpasswd->adminUsers", "twilio-token->twilioAuthToken"}
	if !slices.Equal(items, want) {
		t.Errorf("items %v, want %v", items, want)
	}
	env, _ := envOf(c)
	if got := env["ONBOARDING_ADMIN_USERS_FILE"]; got != "/etc/onboarding-adapter/secrets/adminUsers" {
		t.Errorf("ONBOARDING_ADMIN_USERS_FILE = %q, want the mounted adminUsers file", got)
	}
	for _, key := range []string{"api-user", "pg-dsn", "twilio-token", "reviewers-htpasswd"} {
		if !strings.Contains(r.notes, key) {
			t.Errorf("NOTES.txt does not list the required key %s", key)
		}
	}
}

// A policy change rolls the pods through checksum/config, a credential
// change through checksum/secret; unrelated changes touch neither.
func TestChecksumAnnotations(t *testing.T) {
	base := []string{"ci/production-values.yaml"}
	sums := func(set ...string) (string, string) {
		d, _ := serverContainer(t, render(t, renderOpts{files: base, set: set}))
		a := d.Spec.Template.Annotations
		if a["checksum/config"] == "" || a["checksum/secret"] == "" {
			t.Fatalf("missing checksum annotations: %v", a)
		}
		return a["checksum/config"], a["checksum/secret"]
	}
	cfg0, sec0 := sums()
	cases := []struct {
		name            string
		set             []string
		config, secret_ bool // whether each checksum must change
	}{
		{"policy", []string{"policy.decision.rejectBelow=3"}, true, false},
		{"otp template", []string{"policy.otp.templates.ACTIVATION.en=Code {code}"}, true, false},
		{"password", []string{"secrets.basicAuthPassword=another-long-password"}, false, true},
		{"database url", []string{"secrets.databaseUrl=postgres://onboarding_app:p@other/onboarding"}, false, true},
		{"reviewer accounts", []string{"secrets.adminUsers=erin:ci-fake-erin-password\nfrank:ci-fake-frank-password"}, false, true},
		{"replicas", []string{"replicaCount=5"}, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, sec := sums(tc.set...)
			if (cfg != cfg0) != tc.config {
				t.Errorf("checksum/config changed=%v, want %v", cfg != cfg0, tc.config)
			}
			if (sec != sec0) != tc.secret_ {
				t.Errorf("checksum/secret changed=%v, want %v", sec != sec0, tc.secret_)
			}
		})
	}
}

// Replicas belong to the HPA when it is on; the Deployment must not fight it.
func TestReplicasOmittedUnderHPA(t *testing.T) {
	d, _ := serverContainer(t, render(t, renderOpts{files: []string{"ci/existing-secret-values.yaml"}}))
	if d.Spec.Replicas != nil {
		t.Errorf("replicas %d with autoscaling on", *d.Spec.Replicas)
	}
	r := render(t, renderOpts{files: []string{"ci/production-values.yaml"}})
	if n := len(r.ofKind("HorizontalPodAutoscaler")); n != 0 {
		t.Errorf("%d HPA with autoscaling off", n)
	}
	d, _ = serverContainer(t, r)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("replicas %v, want 3", d.Spec.Replicas)
	}
}

// The NetworkPolicy admits the API port only from the configured peers and
// the admin port only from monitoring and the test pod (reviewers' ingress
// is off by default); every egress rule names its destinations (an empty
// `to` would allow the world).
func TestNetworkPolicy(t *testing.T) {
	r := render(t, renderOpts{files: []string{"ci/production-values.yaml"}})
	np := one[*networkingv1.NetworkPolicy](t, r, "NetworkPolicy", "-onboarding-adapter")
	if np.Spec.PodSelector.MatchLabels["app.kubernetes.io/component"] != "server" {
		t.Errorf("selects %v", np.Spec.PodSelector.MatchLabels)
	}
	byPort := ingressByPort(t, np)
	if len(byPort["api"]) != 1 || len(byPort["admin"]) != 1 {
		t.Fatalf("ingress rules per port: %d api, %d admin; want one each", len(byPort["api"]), len(byPort["admin"]))
	}
	if api := byPort["api"][0]; len(api) != 1 || api[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "onboarding" ||
		api[0].PodSelector.MatchLabels["app.kubernetes.io/name"] != "enrollment-server" {
		t.Errorf("api ingress from %+v", api)
	}
	admin := byPort["admin"][0]
	if len(admin) != 2 || admin[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "monitoring" ||
		admin[1].PodSelector.MatchLabels["app.kubernetes.io/component"] != "test" {
		t.Errorf("admin ingress from %+v", admin)
	}
	var egress []string
	for _, rule := range np.Spec.Egress {
		if len(rule.To) == 0 {
			t.Errorf("egress rule without destinations: %+v", rule)
		}
		for _, p := range rule.Ports {
			egress = append(egress, p.Port.String())
		}
	}
	if want := []string{"53", "53", "5432", "6380", "443", "4318"}; !slices.Equal(egress, want) {
		t.Errorf("egress ports %v, want %v", egress, want)
	}
	jobs := one[*networkingv1.NetworkPolicy](t, r, "NetworkPolicy", "-jobs")
	if len(jobs.Spec.Ingress) != 0 || len(jobs.Spec.Egress) != 3 {
		t.Errorf("jobs policy: %d ingress, %d egress rules; want 0 and DNS, PostgreSQL, OTLP", len(jobs.Spec.Ingress), len(jobs.Spec.Egress))
	}
}

// Each adapter is chosen by values alone.
func TestAdaptersSwapByValues(t *testing.T) {
	cases := []struct {
		file string
		want map[string]string // env var -> value ("" = must be absent, "*" = any)
	}{
		{"ci/minimal-values.yaml", map[string]string{"ONBOARDING_SMS_PROVIDER": "log", "ONBOARDING_DATABASE_URL_FILE": "", "ONBOARDING_REDIS_URL_FILE": "", "ONBOARDING_DEMO_DATA": "false", "OTEL_TRACES_EXPORTER": "none",
			"ONBOARDING_ADMIN_USERNAME_FILE": "", "ONBOARDING_ADMIN_USERS_FILE": "", "ONBOARDING_REVIEW_RETENTION": "", "ONBOARDING_REVIEW_FOUR_EYES": "", "ONBOARDING_PPROF_ENABLED": ""}},
		{"ci/production-values.yaml", map[string]string{"ONBOARDING_SMS_PROVIDER": "http", "ONBOARDING_SMS_HTTP_AUTH": "basic", "ONBOARDING_DATABASE_URL_FILE": "*", "ONBOARDING_REDIS_URL_FILE": "*", "ONBOARDING_DB_MAX_CONNS": "20", "ONBOARDING_BASE_PATH": "/onboarding", "OTEL_TRACES_EXPORTER": "otlp"}},
		{"ci/existing-secret-values.yaml", map[string]string{"ONBOARDING_SMS_PROVIDER": "twilio", "ONBOARDING_TWILIO_ACCOUNT_SID": "*", "ONBOARDING_TWILIO_AUTH_TOKEN_FILE": "*", "ONBOARDING_SMS_HTTP_URL": ""}},
		{"ci/everything-on-values.yaml", map[string]string{"ONBOARDING_SMS_HTTP_TOKEN_FILE": "*", "ONBOARDING_SMS_HTTP_HEADERS_FILE": "*", "ONBOARDING_MIGRATE_AT_START": "true", "ONBOARDING_MAX_IN_FLIGHT": "512", "OTEL_SERVICE_NAME": "onboarding-adapter",
			"ONBOARDING_REVIEW_RETENTION": "720h", "ONBOARDING_REVIEW_REQUIRE_CLAIM": "true", "ONBOARDING_REVIEW_FOUR_EYES": "true",
			"ONBOARDING_ADMIN_USERNAME_FILE": "*", "ONBOARDING_ADMIN_USERS_FILE": "*", "ONBOARDING_ADMIN_USERS": "", "ONBOARDING_PPROF_ENABLED": "true"}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			_, c := serverContainer(t, render(t, renderOpts{files: []string{tc.file}}))
			env, _ := envOf(c)
			for k, want := range tc.want {
				got, ok := env[k]
				switch {
				case want == "" && ok:
					t.Errorf("%s=%q, want unset", k, got)
				case want == "*" && (!ok || got == ""):
					t.Errorf("%s unset", k)
				case want != "" && want != "*" && got != want:
					t.Errorf("%s=%q, want %q", k, got, want)
				}
			}
			seen := map[string]bool{}
			for _, e := range c.Env {
				if seen[e.Name] {
					t.Errorf("%s set twice", e.Name)
				}
				seen[e.Name] = true
			}
		})
	}
}

// NOTES.txt warns where the values are unsafe and stays quiet otherwise.
func TestNotesWarnings(t *testing.T) {
	minimal := render(t, renderOpts{files: []string{"ci/minimal-values.yaml"}}).notes
	for _, w := range []string{"tls.terminatedBy is empty", "database.enabled is false", `sms.provider is "log"`} {
		if !strings.Contains(minimal, w) {
			t.Errorf("minimal NOTES lack the warning %q", w)
		}
	}
	noAuth := render(t, renderOpts{files: []string{"ci/minimal-values.yaml"}, set: []string{"auth.enabled=false"}}).notes
	if !strings.Contains(noAuth, "auth.enabled is false") {
		t.Error("no warning with auth off")
	}
	prod := render(t, renderOpts{files: []string{"ci/production-values.yaml"}}).notes
	if strings.Contains(prod, "WARNING") {
		t.Errorf("production NOTES warn:\n%s", prod)
	}
	if !strings.Contains(prod, "http://"+releaseName+"-onboarding-adapter."+namespace+".svc:8080/onboarding") {
		t.Errorf("production NOTES lack the API URL:\n%s", prod)
	}
}

// Profiles are served only behind reviewer credentials: config.pprof
// without adminAuth fails the install, as the service would at start.
func TestPprofNeedsAdminAuth(t *testing.T) {
	_, err := tryRender(t, renderOpts{files: []string{"ci/minimal-values.yaml"}, set: []string{"config.pprof=true"}})
	if err == nil || !strings.Contains(err.Error(), "config.pprof needs adminAuth.enabled") {
		t.Fatalf("err = %v, want config.pprof refused without adminAuth", err)
	}
}

// The default values are secure and therefore incomplete: without
// credentials the chart refuses, naming the value to set.
func TestDefaultValuesRefuseWithoutCredentials(t *testing.T) {
	_, err := tryRender(t, renderOpts{})
	if err == nil || !strings.Contains(err.Error(), "secrets.basicAuthUsername is required") {
		t.Fatalf("err = %v, want the Basic Auth credentials asked for", err)
	}
}

// The SMS gateway's port must be open in egress.sms.ports, or, when Go's
// ProxyFromEnvironment sends it through a proxy (HTTPS_PROXY for an https
// gateway, HTTP_PROXY for an http one, unless NO_PROXY names the host), the
// proxy's port.
func TestSMSGatewayPortBehindAProxy(t *testing.T) {
	gateway := func(url string) []string {
		return []string{"sms.provider=http", "sms.http.url=" + url, "networkPolicy.egress.sms.to[0].ipBlock.cidr=10.20.0.0/24"}
	}
	env := func(pairs ...string) []string {
		var out []string
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, fmt.Sprintf("extraEnv[%d].name=%s", i/2, pairs[i]), fmt.Sprintf("extraEnv[%d].value=%s", i/2, pairs[i+1]))
		}
		return out
	}
	proxyPort := []string{"networkPolicy.egress.sms.ports[0].port=3128"}
	for _, tc := range []struct {
		name    string
		set     [][]string
		refused string // "" accepted
	}{
		{"https gateway on 443", [][]string{gateway("https://sms.bank.example/api")}, ""},
		{"http gateway on 8080, egress 443", [][]string{gateway("http://sms.bank.example:8080/api")}, "the SMS gateway (sms.http) is on port 8080"},
		{"https gateway through HTTPS_PROXY on 3128, open", [][]string{gateway("https://sms.bank.example:8443/api"),
			env("HTTPS_PROXY", "http://proxy.bank.example:3128"), proxyPort}, ""},
		{"https gateway through a proxy given without a scheme", [][]string{gateway("https://sms.bank.example:8443/api"),
			env("https_proxy", "proxy.bank.example:3128"), proxyPort}, ""},
		{"https gateway through HTTPS_PROXY on 3128, egress 443", [][]string{gateway("https://sms.bank.example/api"),
			env("HTTPS_PROXY", "http://proxy.bank.example:3128")}, "the proxy of the SMS gateway (HTTPS_PROXY) is on port 3128"},
		{"http gateway with only HTTPS_PROXY: direct", [][]string{gateway("http://sms.bank.example:8080/api"),
			env("HTTPS_PROXY", "http://proxy.bank.example:3128"), proxyPort}, "the SMS gateway (sms.http) is on port 8080"},
		{"NO_PROXY names the gateway: direct", [][]string{gateway("https://sms.bank.example:8443/api"),
			env("HTTPS_PROXY", "http://proxy.bank.example:3128", "NO_PROXY", `localhost\, .bank.example`), proxyPort}, "the SMS gateway (sms.http) is on port 8443"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var set []string
			for _, s := range tc.set {
				set = append(set, s...)
			}
			_, err := tryRender(t, renderOpts{files: []string{"ci/minimal-values.yaml"}, set: set})
			switch {
			case tc.refused == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused)):
				t.Fatalf("%v, want refused with %q", err, tc.refused)
			}
		})
	}
}
