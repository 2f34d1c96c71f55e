package chartest

import (
	"maps"
	"slices"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// With database.runtimeRole the tables' owner URL reaches the migrate Job
// only (through its hook Secret), and the server and the purge connect as
// the runtime role: a pod never holds the credentials that could switch
// the append-only triggers off.
func TestRuntimeRoleKeepsTheOwnerURLInTheMigration(t *testing.T) {
	r := render(t, renderOpts{files: []string{"ci/production-values.yaml"}})
	secrets := map[string]*corev1.Secret{}
	for _, o := range r.ofKind("Secret") {
		secrets[o.name] = o.typed.(*corev1.Secret)
	}
	main, hook := secrets[releaseName+"-onboarding-adapter"], secrets[releaseName+"-onboarding-adapter-migrate"]
	if main == nil || hook == nil {
		t.Fatalf("Secrets rendered: %v", slices.Sorted(maps.Keys(secrets)))
	}
	if _, ok := main.Data["migration-database-url"]; ok {
		t.Error("the pods' Secret holds the owner's database URL")
	}
	if len(hook.Data) != 1 || string(hook.Data["migration-database-url"]) == "" {
		t.Errorf("the migrate hook's Secret holds %d keys, want only migration-database-url", len(hook.Data))
	}
	mounted := func(spec corev1.PodSpec) []string {
		var keys []string
		for _, v := range spec.Volumes {
			if v.Secret != nil {
				for _, it := range v.Secret.Items {
					keys = append(keys, it.Key)
				}
			}
		}
		return keys
	}
	d, _ := serverContainer(t, r)
	if keys := mounted(d.Spec.Template.Spec); !slices.Contains(keys, "database-url") || slices.Contains(keys, "migration-database-url") {
		t.Errorf("the server mounts %v, want database-url and not the owner's", keys)
	}
	cj := one[*batchv1.CronJob](t, r, "CronJob", "-purge")
	if keys := mounted(cj.Spec.JobTemplate.Spec.Template.Spec); !slices.Equal(keys, []string{"database-url"}) {
		t.Errorf("the purge mounts %v, want [database-url]", keys)
	}
	job := one[*batchv1.Job](t, r, "Job", "-migrate")
	if keys := mounted(job.Spec.Template.Spec); !slices.Equal(keys, []string{"migration-database-url"}) {
		t.Errorf("the migration mounts %v, want [migration-database-url]", keys)
	}
	migratesAsTheOwner(t, job)
}

// With existing Secrets, secrets.existingMigrationSecret keeps the owner's
// URL in a Secret of its own: only the migrate Job reads it, and the pods'
// Secret is not asked for the key at all.
func TestExistingMigrationSecretHoldsTheOwnerURLApart(t *testing.T) {
	r := render(t, renderOpts{files: []string{"ci/existing-secret-values.yaml"}, set: []string{
		"database.runtimeRole=onboarding_app",
		"secrets.existingMigrationSecret=onboarding-owner",
		"secrets.secretKeys.migrationDatabaseUrl=owner-dsn",
		"purge.enabled=true",
	}})
	if secrets := r.ofKind("Secret"); len(secrets) != 0 {
		t.Errorf("the chart rendered %d Secrets with existing ones named", len(secrets))
	}
	volumes := func(spec corev1.PodSpec) map[string][]string { // Secret name -> keys mounted
		out := map[string][]string{}
		for _, v := range spec.Volumes {
			if v.Secret != nil {
				for _, it := range v.Secret.Items {
					out[v.Secret.SecretName] = append(out[v.Secret.SecretName], it.Key)
				}
			}
		}
		return out
	}
	job := one[*batchv1.Job](t, r, "Job", "-migrate")
	if got := volumes(job.Spec.Template.Spec); len(got) != 1 || !slices.Equal(got["onboarding-owner"], []string{"owner-dsn"}) {
		t.Errorf("the migration mounts %v, want only owner-dsn from onboarding-owner", got)
	}
	migratesAsTheOwner(t, job)
	cj := one[*batchv1.CronJob](t, r, "CronJob", "-purge")
	if got := volumes(cj.Spec.JobTemplate.Spec.Template.Spec); len(got) != 1 || !slices.Equal(got["onboarding-adapter-credentials"], []string{"pg-dsn"}) {
		t.Errorf("the purge mounts %v, want only pg-dsn from the pods' Secret", got)
	}
	d, _ := serverContainer(t, r)
	got := volumes(d.Spec.Template.Spec)
	if _, ok := got["onboarding-owner"]; ok || !slices.Contains(got["onboarding-adapter-credentials"], "pg-dsn") ||
		slices.Contains(got["onboarding-adapter-credentials"], "owner-dsn") {
		t.Errorf("the server mounts %v, want pg-dsn from the pods' Secret and nothing of the owner's", got)
	}
	if want := `owner-dsn  ->  ONBOARDING_DATABASE_URL_FILE (the migrate Job only, from Secret "onboarding-owner")`; !strings.Contains(r.notes, want) {
		t.Errorf("NOTES.txt lacks %q:\n%s", want, r.notes)
	}
}

// migratesAsTheOwner checks that the migrate Job connects with the owner's
// URL and grants the runtime role (onboarding_app) its privileges.
func migratesAsTheOwner(t *testing.T, job *batchv1.Job) {
	t.Helper()
	env, _ := envOf(job.Spec.Template.Spec.Containers[0])
	if got := env["ONBOARDING_DATABASE_URL_FILE"]; got != "/etc/onboarding-adapter/secrets/migrationDatabaseUrl" {
		t.Errorf("the migration's ONBOARDING_DATABASE_URL_FILE = %q, want the owner's URL", got)
	}
	if args := job.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--grant-to") || !slices.Contains(args, "onboarding_app") {
		t.Errorf("migrate args %v, want --grant-to onboarding_app", args)
	}
}
