package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/adapters/postgres"
	"github.com/bankkit/onboarding-adapter/cmd/onboarding-adapter/internal/config"
	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/domain/policy"
	"github.com/bankkit/onboarding-adapter/domain/review"
	"github.com/bankkit/onboarding-adapter/ports"
	reviewadmin "github.com/bankkit/onboarding-adapter/transport/admin"
)

// The review commands work on the durable store only: the in-memory
// default lives inside a running service, whose reviewers use the pages.
const reviewUsage = `usage:
  onboarding-adapter review list [--status OPEN|CLAIMED|RESOLVED] [--kind approval|evaluation]
                                 [--older-than 2h|3d] [--after CASE] [--limit N] [--json]
  onboarding-adapter review show CASE [--json] [--frame-out FILE]
  onboarding-adapter review claim CASE --reviewer NAME
  onboarding-adapter review resolve CASE --result OK|NOK --reason TEXT --reviewer NAME

--reviewer is the name recorded in the audit trail: your own, as the bank
knows you. It is typed, not proven, so under four eyes an override of a NOK
to OK is refused here: two reviewers signed in to the review UI or the admin
API propose and confirm it. Every other resolution works as in the UI.`

// reviewPolicy applies the environment's overrides (a zero retention or a
// nil flag keeps the policy file's value) to the review policy, so the
// service, the pages and the CLI all enforce the same rules.
func reviewPolicy(p policy.Review, retention time.Duration, requireClaim, fourEyes *bool) policy.Review {
	if retention > 0 {
		p.Retention = retention
	}
	if requireClaim != nil {
		p.RequireClaim = *requireClaim
	}
	if fourEyes != nil {
		p.FourEyes = *fourEyes
	}
	return p
}

// reviewUsers lists the reviewer credentials: the ONBOARDING_ADMIN_USERNAME
// / ONBOARDING_ADMIN_PASSWORD pair and the name:password lines of
// ONBOARDING_ADMIN_USERS (each also as _FILE). A line that uses one of the
// API's credentials (api: the username and password pairs the API accepts),
// by name (in any case) or by clear-text password, is refused, as the pair
// is by the configuration: reviewers never use the API's credentials. A
// bcrypt-hashed line is not compared with the API's passwords: that would
// cost a bcrypt comparison per line and API password at every start.
func reviewUsers(username, password, users string, api ...reviewadmin.User) ([]reviewadmin.User, error) {
	var out []reviewadmin.User
	if username != "" || password != "" {
		if username == "" || password == "" {
			return nil, errors.New("ONBOARDING_ADMIN_USERNAME and ONBOARDING_ADMIN_PASSWORD must be set together")
		}
		out = append(out, reviewadmin.User{Name: username, Password: password})
	}
	more, err := reviewadmin.ParseUsers(users)
	if err != nil {
		return nil, fmt.Errorf("ONBOARDING_ADMIN_USERS: %w", err)
	}
	for i, u := range more {
		for _, a := range api {
			if a.Name != "" && (strings.EqualFold(u.Name, a.Name) || u.Password == a.Password) {
				return nil, fmt.Errorf("ONBOARDING_ADMIN_USERS: reviewer %d uses the API's username or password: reviewers never use the API's credentials", i+1)
			}
		}
	}
	if strings.TrimSpace(users) != "" && len(more) == 0 {
		// Set but empty (only comments): a mistake, not a wish to turn the
		// review UI (and profiling) off.
		return nil, errors.New("ONBOARDING_ADMIN_USERS: lists no reviewer (one name:password per line)")
	}
	return append(out, more...), nil
}

// configuredReviewers is reviewUsers over the configuration: the API's
// two credential pairs are the ones no reviewer may use.
func configuredReviewers(cfg config.Config) ([]reviewadmin.User, error) {
	return reviewUsers(cfg.AdminUsername, cfg.AdminPassword.Value(), cfg.AdminUsers.Value(),
		reviewadmin.User{Name: cfg.BasicAuthUsername, Password: cfg.BasicAuthPassword.Value()},
		reviewadmin.User{Name: cfg.BasicAuthNextUser, Password: cfg.BasicAuthNextPass.Value()})
}

// reviewRoutes builds the reviewer API and pages for the admin listener's
// Extra routes from c (its users, profiling, CSRF secret and sign-in
// throttle) and the review policy p. Without any reviewer credential it
// returns nil: the review UI is off (and says so in the log), since it
// must never run open.
func reviewRoutes(svc ports.ReviewService, p policy.Review, c reviewadmin.Config, logger *slog.Logger) (map[string]http.Handler, error) {
	if len(c.Users) == 0 {
		logger.Info("review pages and API are off: set ONBOARDING_ADMIN_USERNAME and ONBOARDING_ADMIN_PASSWORD (or ONBOARDING_ADMIN_USERS) to turn them on")
		return nil, nil
	}
	c.FourEyes, c.RequireClaim, c.Logger = p.FourEyes, p.RequireClaim, logger
	h, err := reviewadmin.NewHandler(svc, c)
	if err != nil {
		return nil, fmt.Errorf("ONBOARDING_ADMIN_*: %w", err)
	}
	return h.Routes(), nil
}

// csrfSecret derives the review forms' token secret from
// ONBOARDING_OTP_HASH_KEY, the secret every replica already shares (nil
// without it: each credential then keys its own tokens). An HMAC under a
// label of its own, so neither use reveals the other's key.
func csrfSecret(otpHashKey string) []byte {
	if otpHashKey == "" {
		return nil
	}
	m := hmac.New(sha256.New, []byte(otpHashKey))
	m.Write([]byte("onboarding-adapter/review/csrf-secret"))
	return m.Sum(nil)
}

// reviewService opens the pool and returns the review service on it, with
// the function that closes the pool.
func reviewService(ctx context.Context, e env, p policy.Review, command string) (ports.ReviewService, func(), error) {
	pool, err := e.database(ctx, command)
	if err != nil {
		return nil, nil, err
	}
	st := postgres.New(pool, memory.SystemClock{}, memory.NewRandomIDs())
	return review.New(st.Decisions, st.Decisions, memory.SystemClock{}, p), pool.Close, nil
}

// runReview is `review list|show|claim|resolve`.
func runReview(ctx context.Context, e env, args []string, p policy.Review) error {
	if len(args) == 0 {
		return usageError{reviewUsage}
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("review "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		status    = fs.String("status", "", "OPEN, CLAIMED or RESOLVED")
		kind      = fs.String("kind", "", "approval or evaluation")
		olderThan = fs.String("older-than", "", "only cases created longer ago, e.g. 2h or 3d")
		after     = fs.String("after", "", "continue after this case (the cursor the previous page printed)")
		limit     = fs.Int("limit", review.DefaultLimit, "page size")
		asJSON    = fs.Bool("json", false, "print JSON, the admin API's shape")
		frameOut  = fs.String("frame-out", "", "write the kept presence-check frame to this new file (mode 0600; an existing file is refused)")
		caseFlag  = fs.String("case", "", "the case id (or give it as the first argument)")
		reviewer  = fs.String("reviewer", "", "your name, as recorded in the audit trail")
		result    = fs.String("result", "", "OK or NOK")
		reason    = fs.String("reason", "", "why; kept in the audit trail")
	)
	id := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return usageError{reviewUsage}
	}
	if id == "" {
		id = *caseFlag
	}
	ctx, cancel := context.WithTimeout(ctx, operatorTimeout)
	defer cancel()
	switch sub {
	case "list":
		f := ports.ReviewFilter{Status: domain.ReviewStatus(strings.ToUpper(*status)), Kind: domain.DecisionKind(strings.ToLower(*kind)),
			AfterID: *after, Limit: *limit}
		if *olderThan != "" {
			d, err := parseAge(*olderThan)
			if err != nil {
				return fmt.Errorf("--older-than: %w", err)
			}
			f.CreatedBefore = time.Now().Add(-d)
		}
		svc, closeDB, err := reviewService(ctx, e, p, "review list")
		if err != nil {
			return err
		}
		defer closeDB()
		cases, err := svc.List(ctx, f)
		if err != nil {
			return err
		}
		if *asJSON {
			return printCases(e.stdout, cases, f.Limit, true)
		}
		return forTerminal(e.stdout, func(w io.Writer) error { return printCases(w, cases, f.Limit, false) })
	case "show":
		if id == "" {
			return usageError{reviewUsage}
		}
		svc, closeDB, err := reviewService(ctx, e, p, "review show")
		if err != nil {
			return err
		}
		defer closeDB()
		c, err := svc.Get(ctx, id)
		if err != nil {
			return err
		}
		trail, err := svc.Audit(ctx, id)
		if err != nil {
			return err
		}
		if *frameOut != "" {
			if len(c.Evidence.Frame) == 0 {
				return errors.New("--frame-out: this case keeps no frame")
			}
			if err := writeNewPrivateFile(*frameOut, c.Evidence.Frame); err != nil {
				return fmt.Errorf("--frame-out: %w", err)
			}
		}
		if *asJSON {
			return printJSON(e.stdout, reviewadmin.DetailView(c, trail, time.Now()))
		}
		return forTerminal(e.stdout, func(w io.Writer) error { return printCase(w, c, trail) })
	case "claim":
		if id == "" || *reviewer == "" {
			return usageError{reviewUsage}
		}
		svc, closeDB, err := reviewService(ctx, e, p, "review claim")
		if err != nil {
			return err
		}
		defer closeDB()
		c, err := svc.Claim(ctx, id, *reviewer, domain.ReviewChannelCLI)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(e.stdout, "case %s claimed by %s\n", c.ID, c.ClaimedBy)
		return err
	case "resolve":
		if id == "" || *reviewer == "" || *result == "" {
			return usageError{reviewUsage}
		}
		svc, closeDB, err := reviewService(ctx, e, p, "review resolve")
		if err != nil {
			return err
		}
		defer closeDB()
		c, err := svc.Resolve(ctx, ports.ReviewResolution{CaseID: id, Result: domain.Result(strings.ToUpper(*result)),
			Reason: *reason, Reviewer: *reviewer, Channel: domain.ReviewChannelCLI})
		if err != nil {
			return err
		}
		if c.AwaitsSecondReviewer() { // not from here (see reviewUsage); kept for a store that answers so
			_, err = fmt.Fprintf(e.stdout, "case %s: %s proposed %s; four eyes: a second, different reviewer confirms it in the review UI or the admin API\n",
				c.ID, c.Proposal.By, c.Proposal.Result)
			return err
		}
		confirmed := ""
		if c.SecondReviewer != "" {
			confirmed = ", confirmed by " + c.SecondReviewer
		}
		_, err = fmt.Fprintf(e.stdout, "case %s resolved %s by %s%s; the next call for process %s gets it\n",
			c.ID, c.Resolution, c.ResolvedBy, confirmed, c.ProcessID)
		return err
	}
	return usageError{reviewUsage}
}

// writeNewPrivateFile writes data to a file it creates with mode 0600. It
// refuses a path that exists, a symbolic link included (O_EXCL does not
// follow one, even a dangling one): os.WriteFile would
// keep an existing file's mode (a face left readable by every user of the
// host) or write through a link to wherever it points.
func writeNewPrivateFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists: name a new file (the frame is never written over another file)", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// runPurge is `purge [--retention D]`: it drops the document data, the
// registry record and the frame of review cases resolved longer ago than
// the retention (flag, else ONBOARDING_REVIEW_RETENTION, else the policy's
// review.retention, default 30 days). Open and claimed cases, decisions,
// rule results and the audit trail stay; each purge is audited. Meant for
// a Kubernetes CronJob; safe to run concurrently and repeatedly.
func runPurge(ctx context.Context, e env, args []string, p policy.Review) error {
	fs := flag.NewFlagSet("purge", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	retention := fs.Duration("retention", 0, "purge the evidence of cases resolved longer ago than this (default: the policy's)")
	timeout := timeoutFlag(fs)
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *timeout < 0 {
		return usageError{"usage: onboarding-adapter purge [--retention 720h] [--timeout 2m]"}
	}
	// The audit trail's reason tells this run apart: which host (a Job's
	// pod name) ran it, and whether --retention replaced the configured one.
	note := "purge command"
	if host, err := os.Hostname(); err == nil && host != "" {
		note += " on " + host
	}
	if *retention != 0 && *retention != p.Retention {
		note += ", --retention overriding the configured " + p.Retention.String()
	}
	if *retention != 0 {
		p.Retention = *retention
	}
	if p.Retention < time.Hour {
		return fmt.Errorf("retention must be at least 1h, not %s", p.Retention)
	}
	ctx, cancel := withTimeout(ctx, *timeout)
	defer cancel()
	svc, closeDB, err := reviewService(ctx, e, p, "purge")
	if err != nil {
		return err
	}
	defer closeDB()
	n, err := svc.Purge(ctx, note)
	if err != nil {
		return err
	}
	e.logger.Info("review evidence purged", "cases", n, "retention", p.Retention.String())
	_, err = fmt.Fprintf(e.stdout, "purged the evidence of %d review case(s) resolved more than %s ago\n", n, p.Retention)
	return err
}

// parseAge reads --older-than as the review API reads olderThan
// (reviewadmin.ParseAge), with an error that quotes what was typed.
func parseAge(s string) (time.Duration, error) {
	d, err := reviewadmin.ParseAge(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 90m, 36h or 3d (at most %d days)", s, reviewadmin.MaxAgeDays)
	}
	return d, nil
}

func printJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	// encoding/json leaves C1 controls and bidirectional formatting
	// characters as they are; escaped, the data is the same and a
	// terminal showing it is not driven by it.
	var out strings.Builder
	for _, r := range buf.String() {
		if unsafeForTerminal(r) && r != '\n' {
			fmt.Fprintf(&out, "\\u%04x", r)
			continue
		}
		out.WriteRune(r)
	}
	_, err := io.WriteString(w, out.String())
	return err
}

// tv shows a value from case data on one line of a table: its line breaks
// and tabs written as \n, \r and \t, so a document field cannot start a
// row of its own or shift the columns (forTerminal replaces the other
// control characters).
func tv(s string) string {
	if !strings.ContainsAny(s, "\n\r\t") {
		return s
	}
	return strings.NewReplacer("\n", `\n`, "\r", `\r`, "\t", `\t`).Replace(s)
}

// unsafeForTerminal reports a control or bidirectional formatting
// character.
func unsafeForTerminal(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)
}

// forTerminal writes what print writes to w with every control character
// but newline and tab, and every bidirectional formatting character,
// replaced by U+FFFD: case data comes from the caller's requests (names,
// document fields, reasons), and an escape sequence in a surname must not
// drive the operator's terminal (links, colours, a cleared screen) or
// reorder what it shows. Values are also passed through tv, so a line break
// in one cannot fake a row. JSON goes through printJSON instead, which
// escapes the same characters.
func forTerminal(w io.Writer, print func(io.Writer) error) error {
	var buf bytes.Buffer
	err := print(&buf)
	safe := strings.Map(func(r rune) rune {
		if unsafeForTerminal(r) && r != '\n' && r != '\t' {
			return unicode.ReplacementChar
		}
		return r
	}, buf.String())
	if _, werr := io.WriteString(w, safe); err == nil {
		err = werr
	}
	return err
}

// printCases prints the queue as a table, or as the API's JSON.
func printCases(w io.Writer, cases []domain.ReviewCase, limit int, asJSON bool) error {
	now := time.Now()
	if asJSON {
		out := make([]any, 0, len(cases))
		for _, c := range cases {
			out = append(out, reviewadmin.CaseView(c, now))
		}
		return printJSON(w, map[string]any{"cases": out})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CASE\tKIND\tSTATUS\tAGE\tREASON CODES\tANSWERED\tREVIEWER")
	for _, c := range cases {
		who := c.ClaimedBy
		if c.ResolvedBy != "" {
			who = c.ResolvedBy
		}
		st := string(c.Status)
		if c.Status == domain.ReviewResolved {
			st += " " + string(c.Resolution)
		} else if c.AwaitsSecondReviewer() {
			st += " (awaits 2nd reviewer)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", tv(c.ID), c.Kind, st, shortAge(now.Sub(c.CreatedAt)),
			tv(strings.Join(c.ReasonCodes, ",")), c.Answered, tv(who))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(cases) == limit && limit > 0 {
		_, err := fmt.Fprintf(w, "more: --after %s\n", cases[len(cases)-1].ID)
		return err
	}
	return nil
}

// shortAge renders an age with its two largest units.
func shortAge(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd%dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh%dm", d/time.Hour, d%time.Hour/time.Minute)
	}
	return d.String()
}

// printCase prints one case for a terminal: the facts, the rules, the
// document data beside the registry with differences marked, the frame's
// presence and the audit trail.
func printCase(w io.Writer, c domain.ReviewCase, trail []domain.ReviewAuditEntry) error {
	score := "-"
	if c.Score != nil {
		score = fmt.Sprint(*c.Score)
	}
	fmt.Fprintf(w, "case %s  %s  %s  created %s (%s ago)\n", tv(c.ID), c.Kind, c.Status, c.CreatedAt.UTC().Format(time.RFC3339), shortAge(time.Since(c.CreatedAt)))
	fmt.Fprintf(w, "process %s  identity verification %s  user %s\n", tv(c.ProcessID), tv(c.IdentityVerificationID), tv(c.UserID))
	fmt.Fprintf(w, "caller was told %s  reason codes %s  score %s\n", c.Answered, tv(strings.Join(c.ReasonCodes, ",")), score)
	if c.ClaimedBy != "" {
		fmt.Fprintf(w, "claimed by %s at %s\n", tv(c.ClaimedBy), c.ClaimedAt.UTC().Format(time.RFC3339))
	}
	if p := c.Proposal; p.Pending() {
		fmt.Fprintf(w, "proposal: %s proposed %s at %s: %s\n", tv(p.By), p.Result, p.At.UTC().Format(time.RFC3339), tv(p.Reason))
	}
	if c.Status == domain.ReviewResolved {
		fmt.Fprintf(w, "resolved %s by %s", c.Resolution, tv(c.ResolvedBy))
		if c.SecondReviewer != "" {
			fmt.Fprintf(w, ", confirmed by %s", tv(c.SecondReviewer))
		}
		fmt.Fprintf(w, " at %s: %s\n", c.ResolvedAt.UTC().Format(time.RFC3339), tv(c.ResolutionReason))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nRULE\tOUTCOME\tCODE\tDETAIL")
	for _, r := range c.Rules {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", tv(r.Rule), r.Outcome, tv(r.Code), tv(r.Detail))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	switch rows := reviewadmin.Compare(c.Evidence); {
	case c.EvidencePurged:
		fmt.Fprintln(w, "\nevidence: purged after the retention period")
	case len(rows) == 0:
		fmt.Fprintln(w, "\nevidence: none kept")
	default:
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		head := "\nFIELD\tREGISTRY"
		for i := range c.Evidence.Documents {
			head += fmt.Sprintf("\tDOCUMENT %d", i+1)
		}
		fmt.Fprintln(tw, head)
		for _, r := range rows {
			line := tv(r.Label) + "\t" + tv(r.Registry)
			for _, d := range r.Docs {
				mark := ""
				switch d.Match {
				case reviewadmin.MatchDiffers:
					mark = "  <- DIFFERS"
				case reviewadmin.MatchEquivalent:
					mark = "  (same up to case/diacritics/separators)"
				}
				line += "\t" + tv(d.Value) + mark
			}
			fmt.Fprintln(tw, line)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if f := domain.ImageFormat(c.Evidence.Frame); f != "" {
		fmt.Fprintf(w, "frame: kept (%s, %d bytes); save it with --frame-out FILE\n", f, len(c.Evidence.Frame))
	}
	fmt.Fprintln(w, "\naudit trail:")
	if len(trail) == 0 {
		fmt.Fprintln(w, "  (nothing yet)")
	}
	for _, a := range trail {
		line := fmt.Sprintf("  %s  %s by %s", a.At.UTC().Format(time.RFC3339), a.Action, tv(a.Actor))
		if a.Channel != "" && a.SecondActor == "" {
			line += " (" + a.Channel + ")"
		}
		if a.Result != "" {
			line += " -> " + string(a.Result)
		}
		if a.Reason != "" {
			line += ": " + tv(a.Reason)
		}
		if a.SecondActor != "" {
			line += "; confirmed by " + tv(a.SecondActor)
			if a.Channel != "" {
				line += " (" + a.Channel + ")" // the confirmation's: the request that wrote the row
			}
			if a.SecondReason != "" {
				line += ": " + tv(a.SecondReason)
			}
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	return nil
}
