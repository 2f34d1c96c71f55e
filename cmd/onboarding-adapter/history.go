package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/adapters/postgres"
)

// defaultHistoryLimit is how many records `consent history` prints unless
// told otherwise: far more than one user gives, few enough for a terminal.
const defaultHistoryLimit = 1000

// runConsentHistory is `consent history --user U [--type T] [--limit N]
// [--json]`: a user's consent records as the ledger holds them, oldest
// first, for a compliance officer answering "what did this user agree to,
// when, through which request, and on which text". Whether that text was
// the one served to the process or the current one inferred for want of a
// serving (text_served) is part of the answer. It reads only.
func runConsentHistory(ctx context.Context, e env, args []string) error {
	fs := flag.NewFlagSet("consent history", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	user := fs.String("user", "", "the userId the records belong to")
	typ := fs.String("type", "", "only this consent type, e.g. GDPR")
	limit := fs.Int("limit", defaultHistoryLimit, "at most this many records")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *user == "" {
		return usageError{consentUsage}
	}
	if *limit < 1 || *limit > postgres.MaxConsentHistory {
		return fmt.Errorf("--limit %d: must be 1 to %d", *limit, postgres.MaxConsentHistory)
	}
	ctx, cancel := context.WithTimeout(ctx, operatorTimeout)
	defer cancel()
	pool, err := e.database(ctx, "consent history")
	if err != nil {
		return err
	}
	defer pool.Close()
	// One more than asked, to tell a complete list from a cut one.
	entries, err := postgres.NewConsentLedger(pool, memory.SystemClock{}, nil).ConsentHistory(ctx, *user, *typ,
		min(*limit+1, postgres.MaxConsentHistory))
	if err != nil {
		return err
	}
	truncated := len(entries) > *limit || len(entries) == postgres.MaxConsentHistory
	entries = entries[:min(len(entries), *limit)]
	if *asJSON {
		return printJSON(e.stdout, map[string]any{"records": historyViews(entries), "truncated": truncated})
	}
	return forTerminal(e.stdout, func(w io.Writer) error { return printHistory(w, entries, truncated) })
}

// historyView is one record in `consent history --json`.
type historyView struct {
	ID            int64  `json:"id"`
	RecordedAt    string `json:"recordedAt"`
	ProcessID     string `json:"processId"`
	UserID        string `json:"userId"`
	ConsentType   string `json:"consentType"`
	Seq           int    `json:"seq"`
	Approved      bool   `json:"approved"`
	Language      string `json:"language"`
	TextVersion   int    `json:"textVersion"`
	TextSHA256    string `json:"textSha256"`
	TextServed    *bool  `json:"textServed"` // null: recorded before the ledger kept it
	RequestID     string `json:"requestId"`
	CorrelationID string `json:"correlationId"`
}

func historyViews(entries []postgres.ConsentHistoryEntry) []historyView {
	out := make([]historyView, 0, len(entries))
	for _, en := range entries {
		r := en.Record
		v := historyView{ID: r.ID, RecordedAt: r.RecordedAt.UTC().Format(time.RFC3339Nano), ProcessID: r.ProcessID,
			UserID: r.UserID, ConsentType: r.ConsentType, Seq: r.Seq, Approved: r.Approved, Language: r.Language,
			TextVersion: r.TextVersion, TextSHA256: r.TextSHA256, RequestID: r.RequestID, CorrelationID: r.CorrelationID}
		if en.ServedKnown {
			served := r.TextServed
			v.TextServed = &served
		}
		out = append(out, v)
	}
	return out
}

// printHistory prints the records as a table. DECISION is "approved",
// "revoked" (not approved right after an approval of the same type: it
// ends a standing consent, since lookup reads the user's latest record of a
// type, whatever its process) or "declined" (not approved while no consent
// of the type stood: a first refusal, or one repeated, for a newer text or
// after a revocation);
// TEXT is the language and version the record names; SHOWN says how it was
// chosen: "served" (the text served to the process), "current" (none was
// found: the current default-language text), "unknown" (recorded before
// the ledger kept it). A cut list (truncated) ends with a line saying so:
// the records left out are the newest.
func printHistory(w io.Writer, entries []postgres.ConsentHistoryEntry, truncated bool) error {
	if len(entries) == 0 {
		_, err := fmt.Fprintln(w, "no consent records")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RECORDED (UTC)\tPROCESS\tTYPE\tSEQ\tDECISION\tTEXT\tSHOWN\tTEXT SHA-256\tREQUEST")
	// The list starts at the user's first record (a cut drops the newest),
	// so approved holds every type's standing before each record.
	approved := make(map[string]bool)
	for _, en := range entries {
		r := en.Record
		decision := "approved"
		switch {
		case !r.Approved && approved[r.ConsentType]:
			decision = "revoked"
		case !r.Approved:
			decision = "declined"
		}
		approved[r.ConsentType] = r.Approved
		shown := "unknown"
		if en.ServedKnown {
			shown = "current"
			if r.TextServed {
				shown = "served"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", r.RecordedAt.UTC().Format("2006-01-02 15:04:05"),
			tv(r.ProcessID), tv(r.ConsentType), r.Seq, decision, tv(r.Language)+" v"+strconv.Itoa(r.TextVersion), shown,
			tv(r.TextSHA256), tv(r.RequestID))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if truncated {
		_, err := fmt.Fprintf(w, "more records exist, newer than these: raise --limit (at most %d)\n", postgres.MaxConsentHistory)
		return err
	}
	return nil
}
