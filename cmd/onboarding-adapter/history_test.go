package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/adapters/postgres"
	"github.com/bankkit/onboarding-adapter/adapters/postgres/pgtest"
	"github.com/bankkit/onboarding-adapter/cmd/onboarding-adapter/internal/config"
	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/domain/policy"
)

// TestConsentHistory: `consent history` prints a user's records oldest
// first, says how each text was chosen (served, current, unknown for a
// record from before migration 009), filters by type, warns at the limit,
// keeps a value from driving the terminal, and refuses bad flags before
// connecting.
func TestConsentHistory(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	pool := pgtest.Pool(t, dsn)
	ledger := postgres.NewConsentLedger(pool, memory.SystemClock{}, nil)
	at := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	digest := strings.Repeat("ab", 32)
	for i, r := range []domain.ConsentRecord{
		{ProcessID: "p-1", ConsentType: "GDPR", Approved: true, TextServed: true, RequestID: "req-1"},
		{ProcessID: "p-1", ConsentType: "GDPR", Approved: false, TextServed: false, RequestID: "req-2\x1b[31m"},
		{ProcessID: "p-2", ConsentType: "TERMS", Approved: true, TextServed: true, RequestID: "req-3"},
	} {
		r.UserID, r.Language, r.TextVersion, r.TextSHA256 = "u-hist", "en", i+1, digest
		r.RecordedAt = at.Add(time.Duration(i) * time.Hour)
		if _, _, err := ledger.AppendConsent(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// A record from before migration 009: text_served NULL.
	if _, err := pool.Exec(ctx, `INSERT INTO consent_ledger (process_id, user_id, consent_type, seq, approved, language,
    text_version, recorded_at) VALUES ('p-0', 'u-hist', 'GDPR', 1, true, 'en', 1, $1)`, at.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		out := &bytes.Buffer{}
		e := env{cfg: config.Config{DatabaseURL: config.Secret(dsn)}, pol: policy.Default(),
			logger: slog.New(slog.DiscardHandler), stdout: out}
		err := runConsent(ctx, e, append([]string{"history"}, args...))
		return out.String(), err
	}

	out, err := run("--user", "u-hist")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 {
		t.Fatalf("got %d lines, want a header and 4 records:\n%s", len(lines), out)
	}
	for i, want := range []string{"p-0 ", "p-1 ", "p-1 ", "p-2 "} {
		if !strings.Contains(lines[i+1], want) {
			t.Fatalf("record %d is not %q, oldest first:\n%s", i+1, want, out)
		}
	}
	for i, want := range []string{"unknown", "served", "current", "served"} {
		if !strings.Contains(lines[i+1], " "+want+" ") {
			t.Fatalf("record %d does not say %q:\n%s", i+1, want, out)
		}
	}
	if !strings.Contains(lines[3], "revoked") || !strings.Contains(lines[2], "approved") || !strings.Contains(lines[1], "2026-11-01 08:00:00") {
		t.Fatalf("decision or time missing:\n%s", out)
	}
	if strings.Contains(out, "\x1b") {
		t.Fatalf("a control character reached the terminal:\n%q", out)
	}

	out, err = run("--user", "u-hist", "--type", "TERMS", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Records []struct {
			ProcessID  string `json:"processId"`
			TextServed *bool  `json:"textServed"`
		} `json:"records"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.Records) != 1 || got.Records[0].ProcessID != "p-2" ||
		got.Records[0].TextServed == nil || !*got.Records[0].TextServed {
		t.Fatalf("--type TERMS --json: %+v, %v\n%s", got, err, out)
	}
	out, _ = run("--user", "u-hist", "--json")
	if !strings.Contains(out, `"textServed": null`) {
		t.Fatalf("the record from before migration 009 is not null in JSON:\n%s", out)
	}

	out, err = run("--user", "u-hist", "--limit", "2")
	if err != nil || strings.Count(out, "\n") != 4 || !strings.Contains(out, "more records exist, newer than these") {
		t.Fatalf("--limit 2: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		limit string
		cut   bool
	}{{"3", true}, {"4", false}} {
		out, err = run("--user", "u-hist", "--limit", tc.limit, "--json")
		var page struct {
			Records   []json.RawMessage `json:"records"`
			Truncated bool              `json:"truncated"`
		}
		if err != nil || json.Unmarshal([]byte(out), &page) != nil || page.Truncated != tc.cut {
			t.Fatalf("--limit %s --json of 4 records: truncated %v (%v), want %v\n%s", tc.limit, page.Truncated, err, tc.cut, out)
		}
	}
	if out, _ := run("--user", "u-hist", "--limit", "4"); strings.Contains(out, "more records exist") {
		t.Fatalf("a complete list says more exist:\n%s", out)
	}
	out, err = run("--user", "u-nobody")
	if err != nil || strings.TrimSpace(out) != "no consent records" {
		t.Fatalf("a user without records: %v\n%s", err, out)
	}

	for _, args := range [][]string{{}, {"--user"}, {"--user", "u-1", "extra"}, {"--type", "GDPR"}} {
		var usage usageError
		if err := runConsent(ctx, env{stdout: &bytes.Buffer{}}, append([]string{"history"}, args...)); !errors.As(err, &usage) {
			t.Errorf("consent history %q: %v, want the usage", args, err)
		}
	}
	if err := runConsent(ctx, env{stdout: &bytes.Buffer{}}, []string{"history", "--user", "u-1", "--limit", "0"}); err == nil ||
		!strings.Contains(err.Error(), "--limit 0") {
		t.Errorf("--limit 0: %v, want refused", err)
	}
}

// A refusal while no consent of its type stood is "declined"; one right after
// an approval of the type, in any process, "revoked".
func TestPrintHistoryDecisions(t *testing.T) {
	var buf bytes.Buffer
	// Seq counts a process's records of a type, a refusal of a newer text
	// included; the standing lookup reads is the user's latest record of
	// the type across processes.
	rec := func(process, typ string, seq int, approved bool) postgres.ConsentHistoryEntry {
		return postgres.ConsentHistoryEntry{Record: domain.ConsentRecord{ProcessID: process, ConsentType: typ, Seq: seq, Approved: approved}, ServedKnown: true}
	}
	entries := []postgres.ConsentHistoryEntry{
		rec("p-a", "GDPR", 1, false),     // a first refusal
		rec("p-a", "GDPR", 2, false),     // refused again, for a newer text
		rec("p-b", "MARKETING", 1, true), // another type's approval binds nothing here
		rec("p-b", "GDPR", 1, false),     // still never approved
		rec("p-c", "GDPR", 1, true),
		rec("p-d", "GDPR", 1, false), // a first record of its process, after an approval
		rec("p-d", "MARKETING", 2, false),
		rec("p-d", "GDPR", 2, false), // refused again after the revocation: no consent stood
	}
	if err := printHistory(&buf, entries, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	for i, want := range []string{"declined", "declined", "approved", "declined", "approved", "revoked", "revoked", "declined"} {
		if len(lines) != len(entries)+1 || !strings.Contains(lines[i+1], " "+want+" ") {
			t.Fatalf("record %d does not say %q:\n%s", i+1, want, buf.String())
		}
	}
}
