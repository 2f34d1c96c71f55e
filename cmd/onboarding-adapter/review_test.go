package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/adapters/postgres"
	"github.com/bankkit/onboarding-adapter/adapters/postgres/pgtest"
	"github.com/bankkit/onboarding-adapter/cmd/onboarding-adapter/internal/config"
	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/domain/policy"
	"github.com/bankkit/onboarding-adapter/ports"
	reviewadmin "github.com/bankkit/onboarding-adapter/transport/admin"
)

var jpegFrame = []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J', 'F', 'I', 'F', 0, 9, 8, 7}

// reviewDB is a migrated database with review cases of every age and
// state, and the env the commands run with.
type reviewDB struct {
	e     env
	out   *bytes.Buffer
	pool  *pgxpool.Pool
	store *postgres.DecisionStore
}

func newReviewDB(t *testing.T) *reviewDB {
	t.Helper()
	dsn := pgtest.NewDatabase(t)
	pool := pgtest.Pool(t, dsn)
	out := &bytes.Buffer{}
	return &reviewDB{
		e:     env{cfg: config.Config{DatabaseURL: config.Secret(dsn)}, pol: policy.Default(), logger: slog.New(slog.DiscardHandler), stdout: out},
		out:   out,
		pool:  pool,
		store: postgres.New(pool, memory.SystemClock{}, memory.NewRandomIDs()).Decisions,
	}
}

// open stores a WAIT decision of kind with a case created at created, its
// evidence and frame kept.
func (db *reviewDB) open(t *testing.T, id string, kind domain.DecisionKind, answered domain.Result, created time.Time) {
	t.Helper()
	d := domain.Decision{Kind: kind, ProcessID: "p-" + id, IdentityVerificationID: "iv-" + id, UserID: "u-1000001",
		Result: answered, ReasonCode: domain.ReasonNameSimilar, DecidedAt: created,
		Rules: []domain.RuleResult{{Rule: "registry.name", Outcome: domain.ResultWAIT, Code: domain.ReasonNameSimilar, Detail: "differs by 1 character"}}}
	rc := &domain.ReviewCase{ID: id, ReasonCodes: []string{domain.ReasonNameSimilar}, Answered: answered, CreatedAt: created,
		Evidence: domain.ReviewEvidence{
			Documents: []domain.DocumentData{{Type: "ID_CARD", Status: "SUCCESS", GivenNames: "JANA", Surname: "NOVAKOVAA", DateOfBirth: domain.MustDate("1985-04-12")}},
			Registry:  &domain.Client{UserID: "u-1000001", GivenNames: "Jana", Surname: "Nováková", BirthDate: domain.MustDate("1985-04-12"), Status: domain.StatusActive},
			Frame:     jpegFrame,
		}}
	if _, _, err := db.store.SaveDecision(context.Background(), d, rc); err != nil {
		t.Fatal(err)
	}
}

func (db *reviewDB) resolve(t *testing.T, id string, at time.Time) {
	t.Helper()
	if _, err := db.store.ResolveReviewCase(context.Background(), ports.ReviewResolution{CaseID: id, Result: domain.ResultNOK,
		Reason: "seeded", Reviewer: "seed", At: at}); err != nil {
		t.Fatal(err)
	}
}

func (db *reviewDB) run(t *testing.T, p policy.Review, args ...string) (string, error) {
	t.Helper()
	db.out.Reset()
	var err error
	if args[0] == "purge" {
		err = runPurge(context.Background(), db.e, args[1:], p)
	} else {
		err = runReview(context.Background(), db.e, args, p)
	}
	return db.out.String(), err
}

func (db *reviewDB) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestReviewCommands(t *testing.T) {
	db := newReviewDB(t)
	now := time.Now()
	db.open(t, "case-a", domain.KindEvaluation, domain.ResultWAIT, now.Add(-3*time.Hour))
	db.open(t, "case-b", domain.KindApproval, domain.ResultNOK, now.Add(-2*time.Hour))
	db.open(t, "case-c", domain.KindEvaluation, domain.ResultWAIT, now.Add(-time.Hour))
	strict := policy.Review{Retention: time.Hour, RequireClaim: true, FourEyes: true}

	steps := []struct {
		name    string
		args    []string
		want    []string // in the output
		wantErr string   // in the error
	}{
		{"list", []string{"list"}, []string{"case-a", "case-b", "case-c", "NAME_SIMILAR", "3h0m"}, ""},
		{"list by kind", []string{"list", "--kind", "approval"}, []string{"case-b"}, ""},
		{"list a page", []string{"list", "--limit", "2"}, []string{"case-a", "case-b", "more: --after case-b"}, ""},
		{"list the next page", []string{"list", "--limit", "2", "--after", "case-b"}, []string{"case-c"}, ""},
		{"list older than", []string{"list", "--older-than", "150m"}, []string{"case-a"}, ""},
		{"list a bad status", []string{"list", "--status", "DONE"}, nil, "status"},
		{"list a bad age", []string{"list", "--older-than", "soon"}, nil, "--older-than"},
		{"show", []string{"show", "case-a"}, []string{"case case-a", "NOVAKOVAA  <- DIFFERS", "registry.name", "frame: kept (jpeg, 14 bytes)", "(nothing yet)"}, ""},
		{"show an unknown case", []string{"show", "case-x"}, nil, "not found"},
		{"resolve without a claim", []string{"resolve", "case-a", "--result", "OK", "--reason", "fine", "--reviewer", "alice"}, nil, "claimed"},
		{"resolve without a reviewer", []string{"resolve", "case-a", "--result", "OK", "--reason", "fine"}, nil, "usage"},
		{"claim", []string{"claim", "case-a", "--reviewer", "alice"}, []string{"case case-a claimed by alice"}, ""},
		{"claim taken", []string{"claim", "--case", "case-a", "--reviewer", "bob"}, nil, "another reviewer"},
		{"resolve without a reason", []string{"resolve", "case-a", "--result", "OK", "--reviewer", "alice"}, nil, "reason"},
		{"resolve", []string{"resolve", "case-a", "--result", "ok", "--reason", "OCR typo", "--reviewer", "alice"}, []string{"case case-a resolved OK by alice; the next call for process p-case-a gets it"}, ""},
		{"resolve twice", []string{"resolve", "case-a", "--result", "NOK", "--reason", "again", "--reviewer", "alice"}, nil, "already resolved"},
		{"four eyes: claim", []string{"claim", "case-b", "--reviewer", "alice"}, nil, ""},
		// A typed name proves nobody: an override under four eyes is for
		// signed-in reviewers; a NOK is not an override.
		{"four eyes: no override from the CLI", []string{"resolve", "case-b", "--result", "OK", "--reason", "selfie matches", "--reviewer", "alice"}, nil, "signed-in reviewers"},
		{"four eyes: NOK from the CLI", []string{"resolve", "case-b", "--result", "NOK", "--reason", "another person", "--reviewer", "alice"},
			[]string{"case case-b resolved NOK by alice"}, ""},
		{"show the trail", []string{"show", "case-b"}, []string{"CLAIM by alice (cli)", "RESOLVE by alice (cli) -> NOK: another person"}, ""},
		{"unknown subcommand", []string{"approve"}, nil, "usage"},
	}
	for _, s := range steps {
		out, err := db.run(t, strict, s.args...)
		if s.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), s.wantErr) {
				t.Fatalf("%s: err %v, want one with %q (output %q)", s.name, err, s.wantErr, out)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		for _, w := range s.want {
			if !strings.Contains(out, w) {
				t.Fatalf("%s: output lacks %q:\n%s", s.name, w, out)
			}
		}
	}
	d, err := db.store.Decision(context.Background(), domain.KindApproval, "p-case-b", "iv-case-b")
	if err != nil || d.Result != domain.ResultNOK {
		t.Fatalf("the four-eyes decision: %+v %v, want the CLI's NOK", d, err)
	}

	t.Run("json and the frame", func(t *testing.T) {
		out, err := db.run(t, strict, "list", "--json", "--status", "OPEN")
		if err != nil {
			t.Fatal(err)
		}
		var list struct{ Cases []map[string]any }
		if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Cases) != 1 || list.Cases[0]["id"] != "case-c" {
			t.Fatalf("list --json: %v %s", err, out)
		}
		file := filepath.Join(t.TempDir(), "frame.jpg")
		out, err = db.run(t, strict, "show", "case-c", "--json", "--frame-out", file)
		if err != nil {
			t.Fatal(err)
		}
		var detail map[string]any
		if err := json.Unmarshal([]byte(out), &detail); err != nil || detail["case"].(map[string]any)["hasFrame"] != true {
			t.Fatalf("show --json: %v %s", err, out)
		}
		b, err := os.ReadFile(file)
		if err != nil || !bytes.Equal(b, jpegFrame) {
			t.Fatalf("frame file: %v", err)
		}
		if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
			t.Errorf("frame file mode %v, want 0600", fi.Mode().Perm())
		}
		// An existing file, readable by others, or a link to one, is never
		// written: the face would keep their mode or land where the link points.
		shared := filepath.Join(t.TempDir(), "shared.jpg")
		if err := os.WriteFile(shared, []byte("other"), 0o644); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(t.TempDir(), "link.jpg")
		if err := os.Symlink(shared, link); err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{shared, link} {
			if _, err := db.run(t, strict, "show", "case-c", "--frame-out", path); err == nil || !strings.Contains(err.Error(), "exists") {
				t.Errorf("--frame-out %s: %v, want refused as existing", filepath.Base(path), err)
			}
		}
		if b, _ := os.ReadFile(shared); string(b) != "other" {
			t.Error("the existing file was written over")
		}
	})
}

// TestPurge: the purge removes the kept images and extracted data of old
// resolved cases and nothing else: not unresolved cases however old, not
// recently resolved ones, not decisions, not the audit trail.
func TestPurge(t *testing.T) {
	db := newReviewDB(t)
	now := time.Now()
	day := 24 * time.Hour
	db.open(t, "old-resolved", domain.KindEvaluation, domain.ResultWAIT, now.Add(-60*day))
	db.open(t, "old-resolved-2", domain.KindApproval, domain.ResultWAIT, now.Add(-59*day))
	db.open(t, "recent-resolved", domain.KindEvaluation, domain.ResultWAIT, now.Add(-60*day))
	db.open(t, "old-open", domain.KindEvaluation, domain.ResultWAIT, now.Add(-90*day))
	db.open(t, "old-claimed", domain.KindApproval, domain.ResultWAIT, now.Add(-90*day))
	db.resolve(t, "old-resolved", now.Add(-31*day))
	db.resolve(t, "old-resolved-2", now.Add(-45*day))
	db.resolve(t, "recent-resolved", now.Add(-29*day))
	if _, err := db.store.ClaimReviewCase(context.Background(), "old-claimed", "alice", "", now.Add(-89*day)); err != nil {
		t.Fatal(err)
	}
	decisionsBefore := snapshot(t, db.pool, `SELECT string_agg(d::text, '|' ORDER BY id) FROM decisions d`)
	auditBefore := snapshot(t, db.pool, `SELECT string_agg(a::text, '|' ORDER BY id) FROM review_audit a`)
	auditRows := db.count(t, `SELECT count(*) FROM review_audit`)

	if _, err := db.run(t, policy.Review{Retention: 30 * time.Minute}, "purge"); err == nil || !strings.Contains(err.Error(), "at least 1h") {
		t.Fatalf("a retention under 1h: %v", err)
	}
	out, err := db.run(t, policy.Default().Review, "purge") // 30 days, the default
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "purged the evidence of 2 review case(s) resolved more than 720h0m0s ago") {
		t.Fatalf("output %q", out)
	}
	for id, purged := range map[string]bool{"old-resolved": true, "old-resolved-2": true, "recent-resolved": false, "old-open": false, "old-claimed": false} {
		c, err := db.store.ReviewCase(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		kept := len(c.Evidence.Documents) > 0 && c.Evidence.Registry != nil && len(c.Evidence.Frame) > 0
		if c.EvidencePurged != purged || kept == purged {
			t.Errorf("%s: purged %v, evidence kept %v; want purged %v", id, c.EvidencePurged, kept, purged)
		}
		if len(c.Rules) == 0 || len(c.ReasonCodes) == 0 {
			t.Errorf("%s: the purge took the rule results or reason codes", id)
		}
	}
	if n := db.count(t, `SELECT count(*) FROM review_cases WHERE evidence IS NULL AND evidence_frame IS NULL`); n != 2 {
		t.Errorf("%d cases without evidence in the table, want 2", n)
	}
	if got := snapshot(t, db.pool, `SELECT string_agg(d::text, '|' ORDER BY id) FROM decisions d`); got != decisionsBefore {
		t.Error("the purge changed the decisions")
	}
	if got := snapshot(t, db.pool, `SELECT string_agg(a::text, '|' ORDER BY id) FROM review_audit a WHERE id <= (SELECT max(id) FROM review_audit) - 2`); got != auditBefore {
		t.Error("the purge changed earlier audit rows")
	}
	if n := db.count(t, `SELECT count(*) FROM review_audit`); n != auditRows+2 {
		t.Errorf("%d audit rows after the purge, want %d plus one per purged case", n, auditRows)
	}
	host, _ := os.Hostname()
	if n := db.count(t, `SELECT count(*) FROM review_audit WHERE action = 'PURGE_EVIDENCE' AND actor = 'retention'
		AND reason LIKE 'retention 720h0m0s: cases resolved before %Z; purge command on ' || $1 AND case_id IN ('old-resolved', 'old-resolved-2')`, host); n != 2 {
		t.Errorf("%d purge audit rows saying the retention and the host, want 2", n)
	}
	// Again: nothing left to purge; a shorter retention by flag reaches the recent case.
	if out, err := db.run(t, policy.Default().Review, "purge"); err != nil || !strings.Contains(out, "evidence of 0 ") {
		t.Fatalf("second purge: %q %v", out, err)
	}
	if out, err := db.run(t, policy.Default().Review, "purge", "--retention", "600h"); err != nil || !strings.Contains(out, "evidence of 1 ") {
		t.Fatalf("purge --retention 600h: %q %v", out, err)
	}
	if n := db.count(t, `SELECT count(*) FROM review_audit WHERE action = 'PURGE_EVIDENCE' AND case_id = 'recent-resolved'
		AND reason LIKE 'retention 600h0m0s: %, --retention overriding the configured 720h0m0s'`); n != 1 {
		t.Errorf("the override's audit row does not say it overrode the configured retention (%d rows)", n)
	}
	if _, err := db.run(t, policy.Default().Review, "purge", "now"); err == nil {
		t.Error("purge took a stray argument")
	}
}

// --timeout bounds migrate and purge (the chart sets it from its Jobs'
// deadlines); 0 lifts the bound, a negative one is a usage error.
func TestOperatorTimeouts(t *testing.T) {
	db := newReviewDB(t)
	ctx := context.Background()
	p := policy.Default().Review
	var ue usageError
	for _, args := range [][]string{{"--timeout", "-1s"}, {"--timeout", "soon"}} {
		if err := runPurge(ctx, db.e, args, p); !errors.As(err, &ue) {
			t.Errorf("purge %v: %v, want a usage error", args, err)
		}
		if err := runMigrate(ctx, db.e, append(args, "up")); !errors.As(err, &ue) {
			t.Errorf("migrate %v up: %v, want a usage error", args, err)
		}
	}
	if err := runPurge(ctx, db.e, []string{"--timeout", "1ns"}, p); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("purge --timeout 1ns: %v, want the deadline", err)
	}
	if err := runMigrate(ctx, db.e, []string{"--timeout", "1ns", "status"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("migrate --timeout 1ns status: %v, want the deadline", err)
	}
	if out, err := db.run(t, p, "purge", "--timeout", "0"); err != nil || !strings.Contains(out, "evidence of 0 ") {
		t.Errorf("purge --timeout 0: %q %v", out, err)
	}
	db.out.Reset()
	if err := runMigrate(ctx, db.e, []string{"--timeout", "10m", "up"}); err != nil {
		t.Errorf("migrate --timeout 10m up: %v", err)
	}
}

func snapshot(t *testing.T, pool *pgxpool.Pool, query string) string {
	t.Helper()
	var s *string
	if err := pool.QueryRow(context.Background(), query).Scan(&s); err != nil {
		t.Fatal(err)
	}
	if s == nil {
		return ""
	}
	return *s
}

func TestReviewNeedsTheDatabase(t *testing.T) {
	e := env{pol: policy.Default(), logger: slog.New(slog.DiscardHandler), stdout: &bytes.Buffer{}}
	for _, err := range []error{
		runReview(context.Background(), e, []string{"list"}, policy.Default().Review),
		runPurge(context.Background(), e, nil, policy.Default().Review),
	} {
		if err == nil || !strings.Contains(err.Error(), "ONBOARDING_DATABASE_URL") {
			t.Errorf("err %v, want one naming ONBOARDING_DATABASE_URL", err)
		}
	}
	var ue usageError
	if err := runReview(context.Background(), e, nil, policy.Default().Review); !errors.As(err, &ue) {
		t.Errorf("no subcommand: %v", err)
	}
}

func TestReviewPolicyAndUsers(t *testing.T) {
	yes, no := true, false
	base := policy.Review{Retention: 720 * time.Hour, RequireClaim: false, FourEyes: true}
	for _, tc := range []struct {
		name      string
		retention time.Duration
		claim, fe *bool
		want      policy.Review
	}{
		{"no overrides", 0, nil, nil, base},
		{"all overridden", 48 * time.Hour, &yes, &no, policy.Review{Retention: 48 * time.Hour, RequireClaim: true, FourEyes: false}},
	} {
		if got := reviewPolicy(base, tc.retention, tc.claim, tc.fe); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
	users, err := reviewUsers("admin", "admin-password-1", "alice:alice-password-123\n")
	if err != nil || len(users) != 2 || users[0].Name != "admin" || users[1].Name != "alice" {
		t.Fatalf("users %+v %v", users, err)
	}
	if _, err := reviewUsers("admin", "", ""); err == nil {
		t.Error("a username without a password was accepted")
	}
	api := []reviewadmin.User{{Name: "onboarding", Password: "api-password-123"}, {Name: "onboarding-next", Password: "api-password-456"}}
	for _, line := range []string{"onboarding-next:some-password-1", "carol:api-password-123"} {
		_, err := reviewUsers("", "", "alice:alice-password-123\n"+line+"\n", api...)
		if err == nil || !strings.Contains(err.Error(), "reviewer 2 uses the API's") || strings.Contains(err.Error(), "password-") {
			t.Errorf("a reviewer line with an API credential: %v, want it refused by its number, without the secret", err)
		}
	}
	if _, err := reviewUsers("", "", "alice:alice-password-123\n", api...); err != nil {
		t.Errorf("a reviewer with credentials of their own: %v", err)
	}
	if _, err := reviewUsers("", "", "# nobody yet\n\n"); err == nil || !strings.Contains(err.Error(), "ONBOARDING_ADMIN_USERS") {
		t.Errorf("a users list with only comments: %v", err)
	}
	if users, err := reviewUsers("", "", ""); err != nil || len(users) != 0 {
		t.Errorf("no reviewers at all must be accepted (review UI off): %v %v", users, err)
	}
	if routes, err := reviewRoutes(nil, base, reviewadmin.Config{}, slog.New(slog.DiscardHandler)); routes != nil || err != nil {
		t.Errorf("without users the review UI must be off: %v %v", routes, err)
	}
	routes, err := reviewRoutes(noReviews{}, base, reviewadmin.Config{Users: users}, slog.New(slog.DiscardHandler))
	if err != nil || routes["/review/"] == nil || routes["/admin/api/review/"] == nil {
		t.Errorf("routes %v %v", routes, err)
	}
	if _, err := reviewRoutes(noReviews{}, base, reviewadmin.Config{Users: []reviewadmin.User{{Name: "x", Password: "short"}}}, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("a short password was accepted")
	}
}

// noReviews is a review service that is never called.
type noReviews struct{ ports.ReviewService }

// Case data printed for a terminal cannot carry escape sequences or
// bidirectional overrides: a surname sent as "\x1b]8;;http://x\x07Novak"
// must not make a link, colour or reorder the operator's screen.
func TestForTerminal(t *testing.T) {
	hostile := "\x1b]8;;http://x\x07Novák\x1b[2J \u202eevil\u2066 \u009b1m"
	var out bytes.Buffer
	err := forTerminal(&out, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "surname\t%s\nnext line\n", hostile)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, bad := range []string{"\x1b", "\x07", "\u202e", "\u2066", "\u009b"} {
		if strings.Contains(got, bad) {
			t.Errorf("output %q keeps %q", got, bad)
		}
	}
	if !strings.Contains(got, "Novák") || !strings.Contains(got, "surname\t") || !strings.HasSuffix(got, "next line\n") {
		t.Errorf("output %q lost the printable text, a tab or a newline", got)
	}
	if !strings.Contains(got, "\uFFFD") {
		t.Errorf("output %q does not mark what it replaced", got)
	}
}

// A line break or tab in case data cannot fake a table row or an audit
// line of `review show`, and `--json` escapes what encoding/json leaves raw.
func TestCaseDataCannotFakeRows(t *testing.T) {
	c := domain.ReviewCase{ID: "case-x", Kind: domain.KindEvaluation, Status: domain.ReviewResolved, Resolution: domain.ResultNOK,
		ResolvedBy: "alice", ResolutionReason: "checked\nresolved OK by bob",
		Evidence: domain.ReviewEvidence{
			Documents: []domain.DocumentData{{Type: "ID_CARD", Status: "SUCCESS", GivenNames: "Jana", Surname: "x\nSURNAME\tNovák\tNovák"}},
			Registry:  &domain.Client{UserID: "u-1", GivenNames: "Jana", Surname: "Nováková"},
		}}
	trail := []domain.ReviewAuditEntry{{CaseID: "case-x", Action: domain.ReviewActionResolve, Actor: "alice", Result: domain.ResultNOK, Reason: "fine\n  2026-01-01T00:00:00Z  RESOLVE by bob -> OK"}}
	var out bytes.Buffer
	if err := forTerminal(&out, func(w io.Writer) error { return printCase(w, c, trail) }); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "SURNAME") || strings.HasPrefix(line, "resolved OK by bob") ||
			strings.Contains(line, "RESOLVE by bob") && !strings.Contains(line, `\n`) {
			t.Errorf("case data made a line of its own: %q", line)
		}
	}
	if !strings.Contains(out.String(), `x\nSURNAME\tNovák\tNovák`) {
		t.Errorf("the surname is not shown escaped on one line:\n%s", out.String())
	}
	var js bytes.Buffer
	if err := printJSON(&js, map[string]string{"surname": "Nov\u202eák\u009b"}); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(js.String(), "\u202e\u009b") || !strings.Contains(js.String(), `\u202e`) {
		t.Errorf("JSON %q keeps a bidi or C1 character raw", js.String())
	}
	var back map[string]string
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back["surname"] != "Nov\u202eák\u009b" {
		t.Errorf("escaped JSON reads back %q (%v), want the value unchanged", back["surname"], err)
	}
}

// migrate --grant-to goes with up only, and names a role that must exist.
func TestMigrateGrantTo(t *testing.T) {
	db := newReviewDB(t)
	ctx := context.Background()
	var ue usageError
	if err := runMigrate(ctx, db.e, []string{"--grant-to", "someone", "status"}); !errors.As(err, &ue) {
		t.Errorf("--grant-to with status: %v, want a usage error", err)
	}
	err := runMigrate(ctx, db.e, []string{"--grant-to", "no_such_role_for_onboarding", "up"})
	if err == nil || !strings.Contains(err.Error(), "no_such_role_for_onboarding") {
		t.Errorf("--grant-to a missing role: %v, want an error naming it", err)
	}
}

// TestPrintCaseChannels: `review show` puts each audit entry's channel
// beside the reviewer whose request wrote it: for a confirmed four-eyes
// override, the second reviewer.
func TestPrintCaseChannels(t *testing.T) {
	c := domain.ReviewCase{ID: "case-x", Kind: domain.KindApproval, Status: domain.ReviewResolved}
	trail := []domain.ReviewAuditEntry{
		{CaseID: "case-x", Action: domain.ReviewActionPropose, Actor: "alice", Result: domain.ResultOK, Channel: domain.ReviewChannelUI},
		{CaseID: "case-x", Action: domain.ReviewActionResolve, Actor: "alice", Result: domain.ResultOK, SecondActor: "bob", Channel: domain.ReviewChannelAPI},
		{CaseID: "case-x", Action: domain.ReviewActionPurge, Actor: "retention"},
	}
	var out bytes.Buffer
	if err := printCase(&out, c, trail); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PROPOSE by alice (ui) -> OK", "RESOLVE by alice -> OK; confirmed by bob (api)", "PURGE_EVIDENCE by retention\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("missing %q in:\n%s", want, out.String())
		}
	}
}
