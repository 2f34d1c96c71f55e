package postgres_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/adapters/postgres"
	"github.com/bankkit/onboarding-adapter/adapters/postgres/pgtest"
	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
	"github.com/bankkit/onboarding-adapter/ports/porttest"
)

// The shared suites once more with group commit off: every write its own
// statement and commit (ONBOARDING_DB_BATCH_WINDOW=0).

func newUnbatchedStores(t *testing.T) *postgres.Stores {
	t.Helper()
	return postgres.New(pgtest.NewPool(t), memory.SystemClock{}, memory.NewRandomIDs(),
		postgres.WithBatching(postgres.BatchConfig{}))
}

func TestConsentLedgerUnbatched(t *testing.T) {
	t.Parallel()
	s := newUnbatchedStores(t)
	porttest.ConsentLedger(t, func(*testing.T) ports.ConsentLedger { return s.Ledger })
}

func TestConsentServingsUnbatched(t *testing.T) {
	t.Parallel()
	s := newUnbatchedStores(t)
	porttest.ConsentServings(t, func(*testing.T) ports.ConsentServings { return s.Servings })
}

func TestDecisionStoreUnbatched(t *testing.T) {
	t.Parallel()
	s := newUnbatchedStores(t)
	porttest.DecisionStore(t, func(*testing.T) (ports.DecisionStore, ports.ReviewCases) { return s.Decisions, s.Decisions })
}

// batchWindow is long enough that every call a test starts together lands
// in one batch, even under -race on a loaded 2-core machine: the calls
// released by one barrier, or sent one after the other by inArrivalOrder,
// must all join before it passes. (300 ms was once thought enough; a
// goroutine descheduled that long by a busy machine would split the batch
// and fail a "one transaction" check.) Each batched call of a test waits
// it out in full, so it is not longer still.
const batchWindow = 1500 * time.Millisecond

// newBatchedStores returns stores whose batches always wait out
// batchWindow, so the calls a test makes together share one batch.
func newBatchedStores(t *testing.T) (*postgres.Stores, *pgxpool.Pool) {
	t.Helper()
	pool := pgtest.NewPool(t)
	s := postgres.New(pool, memory.SystemClock{}, memory.NewRandomIDs(),
		postgres.WithBatching(postgres.FixedWindow(postgres.BatchConfig{Window: batchWindow, MaxItems: 1000})))
	t.Cleanup(s.Close)
	return s, pool
}

// together runs the calls at once (released by one barrier) and waits.
func together(calls ...func()) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Go(func() {
			<-start
			c()
		})
	}
	close(start)
	wg.Wait()
}

const digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func consentRecord(history string, approved bool) domain.ConsentRecord {
	return domain.ConsentRecord{ProcessID: "p-" + history, UserID: "u-" + history, ConsentType: "GDPR", Approved: approved,
		Language: "en", TextVersion: 2, TextSHA256: digest, RequestID: "req-" + history, CorrelationID: "corr-" + history}
}

// ledgerRow is what the table holds of one record.
type ledgerRow struct {
	seq      int
	approved bool
	xmin     string // the inserting transaction
}

func historyRows(t *testing.T, pool *pgxpool.Pool, history string) []ledgerRow {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT seq, approved, xmin::text FROM consent_ledger
WHERE process_id = $1 AND user_id = $2 AND consent_type = 'GDPR' ORDER BY seq`, "p-"+history, "u-"+history)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ledgerRow, error) {
		var x ledgerRow
		return x, r.Scan(&x.seq, &x.approved, &x.xmin)
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLedgerGroupCommit sends, in one batch: 20 first records of fresh
// histories, 10 identical records of one history, 4 repeats of a history
// whose latest record already says the same, 5 approvals racing 5
// revocations of one history, and 4 approvals of a newer text version of a
// history approved on the older one. Every caller must get its answer as if the
// calls had run one after the other, with exactly the rows that implies,
// all written by one transaction.
func TestLedgerGroupCommit(t *testing.T) {
	t.Parallel()
	s, pool := newBatchedStores(t)
	ctx := context.Background()
	run := fmt.Sprintf("%d", time.Now().UnixNano())
	existing := "existing-" + run
	before, added, err := s.Ledger.AppendConsent(ctx, consentRecord(existing, true)) // alone in its batch
	if err != nil || !added {
		t.Fatalf("seeding: added %v, %v", added, err)
	}
	// The same decision on a newer text version is a new consent.
	newer := "newer-" + run
	if _, added, err := s.Ledger.AppendConsent(ctx, consentRecord(newer, true)); err != nil || !added {
		t.Fatalf("seeding: added %v, %v", added, err)
	}
	const newerDigest = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"

	type result struct {
		rec   domain.ConsentRecord
		added bool
		err   error
	}
	var (
		mu      sync.Mutex
		results = map[string][]result{}
		calls   []func()
	)
	add := func(history string, approved bool) {
		calls = append(calls, func() {
			rec, added, err := s.Ledger.AppendConsent(ctx, consentRecord(history, approved))
			mu.Lock()
			defer mu.Unlock()
			results[history] = append(results[history], result{rec, added, err})
		})
	}
	fresh := make([]string, 20)
	for i := range fresh {
		fresh[i] = fmt.Sprintf("fresh-%s-%d", run, i)
		add(fresh[i], true)
	}
	identical := "identical-" + run
	for range 10 {
		add(identical, true)
	}
	for range 4 {
		add(existing, true)
	}
	flip := "flip-" + run
	for i := range 10 {
		add(flip, i%2 == 0)
	}
	for range 4 {
		calls = append(calls, func() {
			rec := consentRecord(newer, true)
			rec.TextVersion, rec.TextSHA256 = 3, newerDigest
			got, added, err := s.Ledger.AppendConsent(ctx, rec)
			mu.Lock()
			defer mu.Unlock()
			results[newer] = append(results[newer], result{got, added, err})
		})
	}
	together(calls...)

	var xmins []string
	for _, h := range fresh {
		r := results[h][0]
		if r.err != nil || !r.added || r.rec.Seq != 1 {
			t.Fatalf("fresh history %s: %+v", h, r)
		}
		rows := historyRows(t, pool, h)
		if len(rows) != 1 {
			t.Fatalf("fresh history %s has %d rows, want 1", h, len(rows))
		}
		xmins = append(xmins, rows[0].xmin)
	}

	winners := 0
	for _, r := range results[identical] {
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.added {
			winners++
		}
		if r.rec.ID != results[identical][0].rec.ID || r.rec.Seq != 1 {
			t.Fatalf("identical calls got records %d and %d", r.rec.ID, results[identical][0].rec.ID)
		}
	}
	if rows := historyRows(t, pool, identical); winners != 1 || len(rows) != 1 {
		t.Fatalf("10 identical calls: %d added, %d rows; want 1 and 1", winners, len(rows))
	} else {
		xmins = append(xmins, rows[0].xmin)
	}

	for _, r := range results[existing] {
		if r.err != nil || r.added || r.rec.ID != before.ID {
			t.Fatalf("repeat of the latest record: %+v, want record %d not added", r, before.ID)
		}
	}
	if rows := historyRows(t, pool, existing); len(rows) != 1 {
		t.Fatalf("the repeated history has %d rows, want 1", len(rows))
	}

	newerAdded := 0
	for _, r := range results[newer] {
		if r.err != nil || r.rec.Seq != 2 || r.rec.TextVersion != 3 || r.rec.TextSHA256 != newerDigest {
			t.Fatalf("approval of a newer text: %+v, want the history's second record, on version 3", r)
		}
		if r.added {
			newerAdded++
		}
	}
	if rows := historyRows(t, pool, newer); newerAdded != 1 || len(rows) != 2 {
		t.Fatalf("4 approvals of a newer text: %d added, %d rows; want 1 and 2", newerAdded, len(rows))
	}

	// The flips arrive in some order; whatever it is, the history must be
	// what applying them one by one in that order gives: each row changes
	// the decision, seq counts up from 1, and every caller got a row with
	// its decision.
	rows := historyRows(t, pool, flip)
	if len(rows) == 0 || len(rows) > 10 {
		t.Fatalf("flip history has %d rows", len(rows))
	}
	for i, r := range rows {
		if r.seq != i+1 || (i > 0 && r.approved == rows[i-1].approved) {
			t.Fatalf("flip history is not a sequence of changes: %+v", rows)
		}
		xmins = append(xmins, r.xmin)
	}
	for _, r := range results[flip] {
		if r.err != nil || r.rec.Seq < 1 || r.rec.Seq > len(rows) || rows[r.rec.Seq-1].approved != r.rec.Approved {
			t.Fatalf("flip call got %+v, not a row of the history %+v", r, rows)
		}
	}

	for _, x := range xmins {
		if x != xmins[0] {
			t.Fatalf("the batch's rows were written by several transactions: %v", xmins)
		}
	}
}

// TestLedgerGroupCommitNewerVersions: approvals of versions 3 and 4 of one
// history approved on version 2, in that order within one batch, are two
// new consents, not one run of repeats (the batch once merged consecutive
// appends by decision alone); an approval of version 3 after them repeats
// version 4's record.
func TestLedgerGroupCommitNewerVersions(t *testing.T) {
	t.Parallel()
	s, pool := newBatchedStores(t)
	ctx := context.Background()
	history := fmt.Sprintf("versions-%d", time.Now().UnixNano())
	if _, added, err := s.Ledger.AppendConsent(ctx, consentRecord(history, true)); err != nil || !added {
		t.Fatalf("seeding: added %v, %v", added, err)
	}
	version := func(v int) domain.ConsentRecord {
		rec := consentRecord(history, true)
		rec.TextVersion, rec.RequestID = v, fmt.Sprintf("req-v%d", v)
		return rec
	}
	type result struct {
		rec   domain.ConsentRecord
		added bool
		err   error
	}
	var got [3]result
	var wg sync.WaitGroup
	for i, v := range []int{3, 4, 3} { // arrival order within the 1.5 s window
		wg.Go(func() {
			rec, added, err := s.Ledger.AppendConsent(ctx, version(v))
			got[i] = result{rec, added, err}
		})
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	for i, want := range []struct {
		seq, version int
		added        bool
	}{{2, 3, true}, {3, 4, true}, {3, 4, false}} {
		r := got[i]
		if r.err != nil || r.rec.Seq != want.seq || r.rec.TextVersion != want.version || r.added != want.added {
			t.Errorf("append %d = %+v added %v (%v), want seq %d on version %d, added %v", i+1, r.rec, r.added, r.err,
				want.seq, want.version, want.added)
		}
	}
	rows := historyRows(t, pool, history)
	if len(rows) != 3 || rows[1].xmin != rows[2].xmin {
		t.Fatalf("history %+v, want three rows, the last two written by one transaction", rows)
	}
}

// TestLedgerGroupCommitFailingRecord puts a record the database refuses
// (its text digest breaks a CHECK constraint) among 15 good ones: only its
// caller fails, with CodeInvalid; the others are stored.
func TestLedgerGroupCommitFailingRecord(t *testing.T) {
	t.Parallel()
	s, pool := newBatchedStores(t)
	ctx := context.Background()
	run := fmt.Sprintf("%d", time.Now().UnixNano())
	var (
		badErr error
		calls  []func()
		errs   = make([]error, 15)
	)
	for i := range errs {
		calls = append(calls, func() {
			_, _, errs[i] = s.Ledger.AppendConsent(ctx, consentRecord(fmt.Sprintf("good-%s-%d", run, i), true))
		})
	}
	calls = append(calls, func() {
		bad := consentRecord("bad-"+run, true)
		bad.TextSHA256 = "not-a-digest"
		_, _, badErr = s.Ledger.AppendConsent(ctx, bad)
	})
	together(calls...)
	if domain.CodeOf(badErr) != domain.CodeInvalid {
		t.Fatalf("the refused record: %v, want CodeInvalid", badErr)
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("good record %d failed with the bad one: %v", i, err)
		}
		if rows := historyRows(t, pool, fmt.Sprintf("good-%s-%d", run, i)); len(rows) != 1 {
			t.Fatalf("good record %d: %d rows", i, len(rows))
		}
	}
	if rows := historyRows(t, pool, "bad-"+run); len(rows) != 0 {
		t.Fatalf("the refused record has %d rows", len(rows))
	}
}

// TestLedgerGroupCommitCancellation: a caller whose context ends before its
// batch is flushed gets CodeUnavailable at once and its record is not
// written; one whose context ends while the batch commits gets
// CodeUnavailable too, its record commits with the batch, and a retry
// answers with that very record.
func TestLedgerGroupCommitCancellation(t *testing.T) {
	t.Parallel()
	s, pool := newBatchedStores(t)
	run := fmt.Sprintf("%d", time.Now().UnixNano())

	t.Run("before the flush", func(t *testing.T) {
		// A window far longer than the caller's 30 ms, and batches of two:
		// the batch goes when a second append joins it, not before.
		const window = 5 * time.Second
		s := postgres.New(pool, memory.SystemClock{}, memory.NewRandomIDs(),
			postgres.WithBatching(postgres.FixedWindow(postgres.BatchConfig{Window: window, MaxItems: 2})))
		t.Cleanup(s.Close)
		rec := consentRecord("early-"+run, true)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		started := time.Now()
		_, _, err := s.Ledger.AppendConsent(ctx, rec)
		if domain.CodeOf(err) != domain.CodeUnavailable || time.Since(started) > window/2 {
			t.Fatalf("after %v: %v, want CodeUnavailable as soon as the context ended, not with the batch", time.Since(started), err)
		}
		// Another append fills the batch: once it is answered the batch
		// has been written, without the record whose caller gave up.
		if _, added, err := s.Ledger.AppendConsent(context.Background(), consentRecord("filler-"+run, true)); err != nil || !added {
			t.Fatalf("the append filling the batch: added %v, %v", added, err)
		}
		if rows := historyRows(t, pool, "early-"+run); len(rows) != 0 {
			t.Fatalf("a record whose caller gave up before the flush was written: %+v", rows)
		}
		var got domain.ConsentRecord
		var added bool
		together(func() { got, added, err = s.Ledger.AppendConsent(context.Background(), rec) },
			func() { _, _, _ = s.Ledger.AppendConsent(context.Background(), consentRecord("filler-2-"+run, true)) })
		if err != nil || !added || got.Seq != 1 {
			t.Fatalf("retry: %+v added %v, %v", got, added, err)
		}
	})

	t.Run("during the flush", func(t *testing.T) {
		// Hold the table so the batch's INSERT waits, while one caller's
		// context ends: once the INSERT waits for the lock, not after a
		// time a loaded machine may not have started the flush within.
		ctx := context.Background()
		lock, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = lock.Rollback(ctx) }()
		var lockPID int32
		if err := lock.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&lockPID); err != nil {
			t.Fatal(err)
		}
		if _, err := lock.Exec(ctx, "LOCK TABLE consent_ledger IN SHARE MODE"); err != nil {
			t.Fatal(err)
		}
		short, long := consentRecord("short-"+run, true), consentRecord("long-"+run, true)
		var shortErr, longErr error
		var longRec domain.ConsentRecord
		blocked := make(chan error, 1)
		together(func() {
			cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			go func() {
				blocked <- waitBlockedBy(cctx, pool, lockPID)
				cancel()
			}()
			_, _, shortErr = s.Ledger.AppendConsent(cctx, short)
			if err := lock.Commit(ctx); err != nil { // release the table once the short caller gave up
				t.Error(err)
			}
		}, func() {
			cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			longRec, _, longErr = s.Ledger.AppendConsent(cctx, long)
		})
		if err := <-blocked; err != nil {
			t.Fatal(err)
		}
		if domain.CodeOf(shortErr) != domain.CodeUnavailable {
			t.Fatalf("the caller whose context ended during the flush: %v, want CodeUnavailable", shortErr)
		}
		if longErr != nil || longRec.Seq != 1 {
			t.Fatalf("the other caller: %+v, %v", longRec, longErr)
		}
		shortRows, longRows := historyRows(t, pool, "short-"+run), historyRows(t, pool, "long-"+run)
		if len(shortRows) != 1 || len(longRows) != 1 || shortRows[0].xmin != longRows[0].xmin {
			t.Fatalf("rows %+v and %+v, want one each from the same batch", shortRows, longRows)
		}
		retry, added, err := s.Ledger.AppendConsent(ctx, short)
		if err != nil || added || retry.Seq != 1 {
			t.Fatalf("retry after the committed batch: %+v added %v, %v; want the committed record", retry, added, err)
		}
	})
}

// waitBlockedBy returns once a statement waits for a lock the backend pid
// holds, or with an error when ctx ends first.
func waitBlockedBy(ctx context.Context, pool *pgxpool.Pool, pid int32) error {
	for {
		var waiting int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE $1::integer = ANY (pg_blocking_pids(pid))`, pid).Scan(&waiting); err != nil {
			return fmt.Errorf("no statement waited for the lock: %w", err)
		}
		if waiting > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no statement waited for the lock: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// inArrivalOrder sends recs to AppendConsent one after the other, each
// once the one before has joined the ledger's open batch, so they arrive in
// this order within one batch window, and waits for every answer. err says
// when an append did not join the batch (its window had passed).
func inArrivalOrder(s *postgres.Stores, recs ...domain.ConsentRecord) (errs []error, err error) {
	errs = make([]error, len(recs))
	var wg sync.WaitGroup
	defer wg.Wait()
	for i, rec := range recs {
		wg.Go(func() { _, _, errs[i] = s.Ledger.AppendConsent(context.Background(), rec) })
		for deadline := time.Now().Add(5 * time.Second); s.LedgerQueued() != i+1; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("append %d of %d did not join the open batch (%d queued): its %v window passed first", i+1, len(recs), s.LedgerQueued(), batchWindow)
			}
		}
	}
	wg.Wait()
	return errs, nil
}

// TestLedgerFailedBatchKeepsOrder: an approval then a revocation of one
// history share a batch with a record the database refuses. The batch is
// written again alone; the history must still end revoked, as the calls
// arrived (written alone by their callers in parallel they came out in
// either order, a review found). Five times, as the old order was a coin
// toss.
func TestLedgerFailedBatchKeepsOrder(t *testing.T) {
	t.Parallel()
	s, pool := newBatchedStores(t)
	for i := range 5 {
		h := fmt.Sprintf("order-%d-%d", time.Now().UnixNano(), i)
		bad := consentRecord("bad-"+h, true)
		bad.TextSHA256 = "not-a-digest"
		errs, err := inArrivalOrder(s, consentRecord(h, true), consentRecord(h, false), bad)
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		if errs[0] != nil || errs[1] != nil || domain.CodeOf(errs[2]) != domain.CodeInvalid {
			t.Fatalf("round %d: errors %v, want nil, nil, CodeInvalid", i, errs)
		}
		rows := historyRows(t, pool, h)
		if len(rows) != 2 || !rows[0].approved || rows[1].approved {
			t.Fatalf("round %d: history %+v, want approved then revoked", i, rows)
		}
		latest, err := s.Ledger.LatestConsent(context.Background(), "u-"+h, "GDPR")
		if err != nil || latest.Approved {
			t.Fatalf("round %d: latest %+v, %v; want the revocation", i, latest, err)
		}
	}
}

// TestLedgerLostRaceKeepsOrder: an approval then a revocation of one
// history share a batch, while another writer (another replica) holds an
// uncommitted approval at the seq the batch's approval takes. The batch's
// approval loses that race; its revocation, in the batch's second round,
// must not be written before it: the history must end approved (the other
// writer's), then revoked. Before the fix the revocation went in, and the
// losing approval was appended after it, leaving the user approved.
func TestLedgerLostRaceKeepsOrder(t *testing.T) {
	t.Parallel()
	s, pool := newBatchedStores(t)
	ctx := context.Background()
	h := fmt.Sprintf("race-%d", time.Now().UnixNano())
	other, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = other.Rollback(ctx) }()
	var otherPID int32
	if err := other.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&otherPID); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Exec(ctx, `INSERT INTO consent_ledger (process_id, user_id, consent_type, seq, approved, language,
    text_version, text_sha256, request_id, correlation_id, recorded_at)
VALUES ($1, $2, 'GDPR', 1, true, 'en', 2, $3, 'req-other', 'corr-other', now())`, "p-"+h, "u-"+h, digest); err != nil {
		t.Fatal(err)
	}
	var (
		errs     []error
		orderErr error
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		errs, orderErr = inArrivalOrder(s, consentRecord(h, true), consentRecord(h, false))
	}()
	// Commit the other writer once the batch's INSERT waits for its row.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE $1::integer = ANY (pg_blocking_pids(pid))`, otherPID).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the batch never waited for the other writer's row")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := other.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	<-done
	if orderErr != nil {
		t.Fatal(orderErr)
	}
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("errors %v", errs)
	}
	rows := historyRows(t, pool, h)
	if len(rows) != 2 || !rows[0].approved || rows[1].approved {
		t.Fatalf("history %+v, want the other writer's approval, then the revocation", rows)
	}
	latest, err := s.Ledger.LatestConsent(ctx, "u-"+h, "GDPR")
	if err != nil || latest.Approved {
		t.Fatalf("latest %+v, %v; want the revocation", latest, err)
	}
}

// saveResult is what one SaveDecision call of a test returned.
type saveResult struct {
	d      domain.Decision
	stored bool
	err    error
}

// storedOnce requires each save to have succeeded and stored its decision
// in one row, and returns the transactions that inserted them.
func storedOnce(t *testing.T, pool *pgxpool.Pool, what string, saves []saveResult) (xmins []string) {
	t.Helper()
	for i, r := range saves {
		if r.err != nil || !r.stored {
			t.Fatalf("%s %d: %+v", what, i, r)
		}
		x, n := decisionXmin(t, pool, r.d)
		if n != 1 {
			t.Fatalf("%s %d has %d rows", what, i, n)
		}
		xmins = append(xmins, x)
	}
	return xmins
}

func newBatchDecision(process string, result domain.Result) domain.Decision {
	score := 7.5
	d := domain.Decision{Kind: domain.KindEvaluation, ProcessID: "p-" + process, IdentityVerificationID: "iv-1",
		UserID: "u-1", Result: result, Score: &score,
		Rules:     []domain.RuleResult{{Rule: "score", Outcome: result}},
		RequestID: "req-" + process, CorrelationID: "corr-" + process, DecidedAt: time.Now()}
	if result == domain.ResultNOK {
		d.ReasonCode, d.ReasonText = domain.ReasonScoreTooLow, "score too low"
	}
	return d
}

func decisionXmin(t *testing.T, pool *pgxpool.Pool, d domain.Decision) (string, int) {
	t.Helper()
	var (
		xmin string
		n    int
	)
	err := pool.QueryRow(context.Background(), `SELECT coalesce(min(xmin::text), ''), count(*) FROM decisions
WHERE kind = $1 AND process_id = $2 AND identity_verification_id = $3`,
		string(d.Kind), d.ProcessID, d.IdentityVerificationID).Scan(&xmin, &n)
	if err != nil {
		t.Fatal(err)
	}
	return xmin, n
}

// TestDecisionGroupCommit sends, in one batch: 20 new decisions, 10 saves
// of one key with different request ids, 3 saves of a key stored before,
// and a WAIT with its review case. The new ones, the WAIT's too, share one
// transaction, each key has one row, and every caller of a key gets the
// same decision. (A decision the database refuses has its own test:
// TestDecisionGroupCommitFailingDecision.)
func TestDecisionGroupCommit(t *testing.T) {
	t.Parallel()
	s, pool := newBatchedStores(t)
	ctx := context.Background()
	run := fmt.Sprintf("%d", time.Now().UnixNano())
	old := newBatchDecision("old-"+run, domain.ResultOK)
	if _, stored, err := s.Decisions.SaveDecision(ctx, old, nil); err != nil || !stored {
		t.Fatalf("seeding: %v %v", stored, err)
	}

	var (
		calls    []func()
		fresh    = make([]saveResult, 20)
		same     = make([]saveResult, 10)
		repeats  = make([]saveResult, 3)
		wait     saveResult
		sameBase = newBatchDecision("same-"+run, domain.ResultNOK)
		waitD    = newBatchDecision("wait-"+run, domain.ResultWAIT)
	)
	for i := range fresh {
		calls = append(calls, func() {
			d := newBatchDecision(fmt.Sprintf("fresh-%s-%d", run, i), domain.ResultOK)
			fresh[i].d, fresh[i].stored, fresh[i].err = s.Decisions.SaveDecision(ctx, d, nil)
		})
	}
	for i := range same {
		calls = append(calls, func() {
			d := sameBase
			d.RequestID = fmt.Sprintf("req-same-%d", i)
			same[i].d, same[i].stored, same[i].err = s.Decisions.SaveDecision(ctx, d, nil)
		})
	}
	for i := range repeats {
		calls = append(calls, func() {
			d := old
			d.Result, d.RequestID = domain.ResultNOK, "req-late"
			repeats[i].d, repeats[i].stored, repeats[i].err = s.Decisions.SaveDecision(ctx, d, nil)
		})
	}
	calls = append(calls, func() {
		rc := &domain.ReviewCase{ID: "case-" + run, ReasonCodes: []string{domain.ReasonScoreBorderline}, Answered: domain.ResultWAIT}
		wait.d, wait.stored, wait.err = s.Decisions.SaveDecision(ctx, waitD, rc)
	})
	together(calls...)

	xmins := storedOnce(t, pool, "fresh decision", fresh)
	winners := 0
	for _, r := range same {
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.stored {
			winners++
		}
		if r.d.RequestID != same[0].d.RequestID || r.d.Result != domain.ResultNOK {
			t.Fatalf("saves of one key got %s and %s", r.d.RequestID, same[0].d.RequestID)
		}
	}
	x, n := decisionXmin(t, pool, sameBase)
	if winners != 1 || n != 1 {
		t.Fatalf("10 saves of one key: %d stored, %d rows; want 1 and 1", winners, n)
	}
	xmins = append(xmins, x)
	stored, err := s.Decisions.Decision(ctx, sameBase.Kind, sameBase.ProcessID, sameBase.IdentityVerificationID)
	if err != nil || stored.RequestID != same[0].d.RequestID {
		t.Fatalf("stored decision %+v, %v; want the one every caller got", stored, err)
	}
	for _, r := range repeats {
		if r.err != nil || r.stored || r.d.RequestID != old.RequestID || r.d.Result != domain.ResultOK {
			t.Fatalf("save of a stored key: %+v, want the stored decision", r)
		}
	}
	if wait.err != nil || !wait.stored || wait.d.ReviewCaseID != "case-"+run {
		t.Fatalf("WAIT with its case: %+v", wait)
	}
	if _, err := s.Decisions.ReviewCase(ctx, "case-"+run); err != nil {
		t.Fatalf("the WAIT's review case: %v", err)
	}
	x, _ = decisionXmin(t, pool, waitD)
	xmins = append(xmins, x)
	for _, x := range xmins {
		if x != xmins[0] {
			t.Fatalf("the batch's decisions were written by several transactions: %v", xmins)
		}
	}
}

// Shapes of fullCase: every column the insert takes is set by one of them.
const (
	caseOpen       = iota // OPEN, with documents, the registry record and a frame
	caseClaimed           // CLAIMED: a reviewer and a time
	caseResolved          // RESOLVED with a second reviewer, its evidence purged
	caseNoEvidence        // OPEN without evidence: NULL evidence and frame
)

// fullCase is a review case of the given shape, with three reason codes in
// an order that is not sorted.
func fullCase(id string, shape int) *domain.ReviewCase {
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	c := &domain.ReviewCase{ID: id, Answered: domain.ResultWAIT,
		ReasonCodes: []string{domain.ReasonScoreBorderline, "NAME_SIMILAR", "A_LAST_ONE"},
		Evidence: domain.ReviewEvidence{
			Documents: []domain.DocumentData{
				{Type: "ID_CARD", Status: "SUCCESS", GivenNames: "Jana", Surname: "Nováková",
					DateOfBirth: domain.MustDate("1985-04-12"), Nationality: "CZE", PersonalNumber: "8554121234",
					DocumentNumber: "123456789", DateOfIssue: domain.MustDate("2020-01-15"),
					DateOfExpiry: domain.MustDate("2030-01-15")},
				{Type: "PASSPORT", Status: "SUCCESS", GivenNames: "Jana", Surname: "Novakova",
					DateOfBirth: domain.MustDate("1985-04-12"), DocumentNumber: "P987"},
			},
			Registry: &domain.Client{UserID: "u-1", ClientNumber: "1000001", BirthDate: domain.MustDate("1985-04-12"),
				GivenNames: "Jana", Surname: "Nováková", Status: domain.StatusActive},
			Frame: []byte{0xff, 0xd8, 0xff, 0xe0, 0, 1, 2, 3},
		}}
	switch shape {
	case caseClaimed:
		c.Status, c.ClaimedBy, c.ClaimedAt = domain.ReviewClaimed, "reviewer-1", at
	case caseResolved:
		c.Status, c.ClaimedBy, c.ClaimedAt = domain.ReviewResolved, "reviewer-1", at
		c.Resolution, c.ResolutionReason, c.ResolvedBy = domain.ResultOK, "documents checked by hand", "reviewer-1"
		c.SecondReviewer, c.ResolvedAt = "reviewer-2", at.Add(time.Minute)
		c.Evidence, c.EvidencePurged = domain.ReviewEvidence{}, true
	case caseNoEvidence:
		c.Evidence = domain.ReviewEvidence{}
	}
	return c
}

// comparableCase is c without what differs between two saves of the same
// shape: the id, the process and the creation time (the decision's).
func comparableCase(c domain.ReviewCase) domain.ReviewCase {
	c.ID, c.ProcessID, c.CreatedAt = "", "", time.Time{}
	return c
}

// TestDecisionGroupCommitWithCases: WAIT decisions with their review cases
// share the batch's statement and commit with the other decisions, and a
// case reads back exactly as one saved by the single-row statement (every
// column, the reason codes in their order). A repeat of a WAIT's key in the
// batch, or of a key stored before, gets the first decision and stores no
// case of its own; a case id already used fails only its own caller, with
// CodeConflict.
func TestDecisionGroupCommitWithCases(t *testing.T) {
	t.Parallel()
	s, pool := newBatchedStores(t)
	unbatched := postgres.New(pool, memory.SystemClock{}, memory.NewRandomIDs(),
		postgres.WithBatching(postgres.BatchConfig{}))
	ctx := context.Background()
	run := fmt.Sprintf("%d", time.Now().UnixNano())
	waitOf := func(i int) domain.Decision {
		return newBatchDecision(fmt.Sprintf("wait-%s-%d", run, i), domain.ResultWAIT)
	}
	caseID := func(i int) string { return fmt.Sprintf("case-%s-%d", run, i) }
	earlier, _, err := unbatched.Decisions.SaveDecision(ctx, waitOf(9), fullCase(caseID(9), caseOpen))
	if err != nil {
		t.Fatal(err)
	}

	var (
		calls         []func()
		oks           = make([]saveResult, 5)
		waits         = make([]saveResult, 4)
		repeat, late  saveResult
		named         saveResult
		namedCase     = "case-named-" + run
		namedDecision = newBatchDecision("named-"+run, domain.ResultOK)
	)
	for i := range oks {
		calls = append(calls, func() {
			oks[i].d, oks[i].stored, oks[i].err = s.Decisions.SaveDecision(ctx,
				newBatchDecision(fmt.Sprintf("ok-%s-%d", run, i), domain.ResultOK), nil)
		})
	}
	for i := range waits {
		calls = append(calls, func() {
			waits[i].d, waits[i].stored, waits[i].err = s.Decisions.SaveDecision(ctx, waitOf(i), fullCase(caseID(i), i))
		})
	}
	calls = append(calls, func() {
		d := waitOf(0)
		d.RequestID = "req-repeat"
		repeat.d, repeat.stored, repeat.err = s.Decisions.SaveDecision(ctx, d, fullCase("case-repeat-"+run, caseOpen))
	}, func() {
		late.d, late.stored, late.err = s.Decisions.SaveDecision(ctx, waitOf(9), fullCase("case-late-"+run, caseOpen))
	}, func() {
		// A decision naming a case it does not carry keeps the name, as saved alone.
		d := namedDecision
		d.ReviewCaseID = namedCase
		named.d, named.stored, named.err = s.Decisions.SaveDecision(ctx, d, nil)
	})
	together(calls...)

	// waits[0] and repeat share a key: whichever reached the batch first
	// leads and is stored with its case; the other gets its decision.
	leader, follower, followerCase := waits[0], repeat, "case-repeat-"+run
	if repeat.stored {
		leader, follower, followerCase = repeat, waits[0], caseID(0)
	}
	xmins := storedOnce(t, pool, "save", append(append(append([]saveResult{}, oks...), waits[1:]...), leader, named))
	for _, x := range xmins {
		if x != xmins[0] {
			t.Fatalf("the batch's decisions, with and without cases, were written by several transactions: %v", xmins)
		}
	}
	for _, c := range []struct {
		name       string
		got, first saveResult
		unusedCase string
	}{
		{"the second save of a WAIT's key in the batch", follower, leader, followerCase},
		{"a save of a WAIT's key stored before the batch", late, saveResult{d: earlier}, "case-late-" + run},
	} {
		if c.got.err != nil || c.got.stored {
			t.Fatalf("%s: %+v, want the first decision, not stored", c.name, c.got)
		}
		if c.got.d.ReviewCaseID != c.first.d.ReviewCaseID || c.got.d.RequestID != c.first.d.RequestID {
			t.Fatalf("%s got case %q and request %q; want the first one's %q, %q", c.name,
				c.got.d.ReviewCaseID, c.got.d.RequestID, c.first.d.ReviewCaseID, c.first.d.RequestID)
		}
		if _, err := s.Decisions.ReviewCase(ctx, c.unusedCase); domain.CodeOf(err) != domain.CodeNotFound {
			t.Fatalf("%s: its own case %v, want none stored", c.name, err)
		}
	}
	if d, err := s.Decisions.Decision(ctx, namedDecision.Kind, namedDecision.ProcessID,
		namedDecision.IdentityVerificationID); err != nil || d.ReviewCaseID != namedCase {
		t.Fatalf("a decision naming case %q without carrying it was stored as %+v, %v", namedCase, d, err)
	}

	for i, r := range waits {
		wantID := caseID(i)
		if i == 0 {
			wantID = leader.d.ReviewCaseID // the same shape either way
		}
		if r.d.ReviewCaseID != wantID {
			t.Fatalf("WAIT %d names case %q, want %q", i, r.d.ReviewCaseID, wantID)
		}
		stored, err := s.Decisions.Decision(ctx, r.d.Kind, r.d.ProcessID, r.d.IdentityVerificationID)
		wantResult := domain.ResultWAIT
		if i == caseResolved {
			wantResult = domain.ResultOK // a decision is read with its case's resolution applied
		}
		if err != nil || stored.ReviewCaseID != wantID || stored.Result != wantResult {
			t.Fatalf("WAIT %d as stored: %+v, %v", i, stored, err)
		}
		got, err := s.Decisions.ReviewCase(ctx, wantID)
		if err != nil {
			t.Fatalf("WAIT %d's case: %v", i, err)
		}
		// The same case saved by the single-row statement reads the same.
		rc := fullCase(fmt.Sprintf("case-alone-%s-%d", run, i), i)
		alone := waitOf(i)
		alone.ProcessID = "alone-" + alone.ProcessID
		if _, stored, err := unbatched.Decisions.SaveDecision(ctx, alone, rc); err != nil || !stored {
			t.Fatalf("WAIT %d saved alone: %v %v", i, stored, err)
		}
		want, err := unbatched.Decisions.ReviewCase(ctx, rc.ID)
		if err != nil {
			t.Fatal(err)
		}
		if g, w := comparableCase(got), comparableCase(want); !reflect.DeepEqual(g, w) {
			t.Fatalf("WAIT %d's case from the batch:\n%+v\nsaved alone:\n%+v", i, g, w)
		}
	}

	// A case id already used fails its own caller only.
	var (
		conflictErr error
		others      = make([]saveResult, 3)
	)
	calls = calls[:0]
	calls = append(calls, func() {
		_, _, conflictErr = s.Decisions.SaveDecision(ctx, waitOf(10), fullCase(caseID(1), caseOpen))
	})
	for i := range others {
		calls = append(calls, func() {
			others[i].d, others[i].stored, others[i].err = s.Decisions.SaveDecision(ctx, waitOf(20+i),
				fullCase(caseID(20+i), caseOpen))
		})
	}
	together(calls...)
	if domain.CodeOf(conflictErr) != domain.CodeConflict {
		t.Fatalf("a used case id: %v, want CodeConflict", conflictErr)
	}
	if _, n := decisionXmin(t, pool, waitOf(10)); n != 0 {
		t.Fatal("the decision with a used case id was stored")
	}
	for i, r := range others {
		if r.err != nil || !r.stored {
			t.Fatalf("WAIT %d, in the batch of the used case id: %+v", 20+i, r)
		}
		if _, err := s.Decisions.ReviewCase(ctx, caseID(20+i)); err != nil {
			t.Fatalf("WAIT %d's case, in the batch of the used case id: %v", 20+i, err)
		}
	}
}

// TestDecisionAloneHoldsTheNextBatch: a batch of one decision is saved
// by its single-row statement in the batch's flush, and while that runs
// the store is busy, so the saves arriving meanwhile gather into one batch.
// Sent back to its caller instead, the lone save left the store looking
// idle, and saves arriving a little apart each went alone (under the load
// harness half the decisions).
func TestDecisionAloneHoldsTheNextBatch(t *testing.T) {
	t.Parallel()
	s, pool := newAdaptiveStores(t)
	ctx := context.Background()
	run := fmt.Sprintf("%d", time.Now().UnixNano())
	lone := newBatchDecision("lone-"+run, domain.ResultOK)
	held := func(i int) domain.Decision {
		return newBatchDecision(fmt.Sprintf("held-%s-%d", run, i), domain.ResultOK)
	}
	loneHoldsTheNextBatch(t, pool, heldWrites{
		lock: func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO decisions (kind, process_id, identity_verification_id, result, decided_at)
VALUES ($1, $2, $3, 'OK', now())`, string(lone.Kind), lone.ProcessID, lone.IdentityVerificationID)
			return err
		},
		lone: func() error {
			if _, stored, err := s.Decisions.SaveDecision(ctx, lone, nil); err != nil || !stored {
				return fmt.Errorf("stored %v, %w", stored, err)
			}
			return nil
		},
		write: func(i int) error {
			if _, stored, err := s.Decisions.SaveDecision(ctx, held(i), nil); err != nil || !stored {
				return fmt.Errorf("stored %v, %w", stored, err)
			}
			return nil
		},
		xmin: func(i int) string {
			x, n := decisionXmin(t, pool, held(i))
			if n != 1 {
				t.Fatalf("decision %d has %d rows", i, n)
			}
			return x
		},
	})
}

// TestLedgerAloneHoldsTheNextBatch is TestDecisionAloneHoldsTheNextBatch
// for consent records.
func TestLedgerAloneHoldsTheNextBatch(t *testing.T) {
	t.Parallel()
	s, pool := newAdaptiveStores(t)
	ctx := context.Background()
	run := fmt.Sprintf("%d", time.Now().UnixNano())
	lone := consentRecord("lone-"+run, true)
	held := func(i int) string { return fmt.Sprintf("held-%s-%d", run, i) }
	loneHoldsTheNextBatch(t, pool, heldWrites{
		lock: func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO consent_ledger (process_id, user_id, consent_type, seq, approved, text_version, recorded_at)
VALUES ($1, $2, $3, 1, true, 2, now())`, lone.ProcessID, lone.UserID, lone.ConsentType)
			return err
		},
		lone: func() error {
			if _, added, err := s.Ledger.AppendConsent(ctx, lone); err != nil || !added {
				return fmt.Errorf("added %v, %w", added, err)
			}
			return nil
		},
		write: func(i int) error {
			if _, added, err := s.Ledger.AppendConsent(ctx, consentRecord(held(i), true)); err != nil || !added {
				return fmt.Errorf("added %v, %w", added, err)
			}
			return nil
		},
		xmin: func(i int) string {
			rows := historyRows(t, pool, held(i))
			if len(rows) != 1 {
				t.Fatalf("history %d has %d rows", i, len(rows))
			}
			return rows[0].xmin
		},
	})
}

// TestDecisionAloneOutlivesItsCaller: a lone save is written by its
// batch's flusher, so, as for any batch, a caller who gives up while it
// waits gets CodeUnavailable at once, the decision commits once the row
// it waited for is free, and a retry answers with it. (A statement
// cancelled with its caller ended the same way here: PostgreSQL does not
// notice a closed connection while it waits for a lock, so the insert
// went on; the test holds the contract, not the mechanism.)
func TestDecisionAloneOutlivesItsCaller(t *testing.T) {
	t.Parallel()
	for _, lanes := range []int{0, 1} {
		t.Run(fmt.Sprintf("lanes=%d", lanes), func(t *testing.T) {
			t.Parallel()
			decisionAloneOutlivesItsCaller(t, lanes)
		})
	}
}

func decisionAloneOutlivesItsCaller(t *testing.T, lanes int) {
	s, pool := newLaneStores(t, lanes)
	ctx := context.Background()
	lone := newBatchDecision(fmt.Sprintf("outlives-%d", time.Now().UnixNano()), domain.ResultOK)
	tx, xid := holdRow(t, pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO decisions (kind, process_id, identity_verification_id, result, decided_at)
VALUES ($1, $2, $3, 'OK', now())`, string(lone.Kind), lone.ProcessID, lone.IdentityVerificationID)
		return err
	})
	callerCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	errc := make(chan error, 1)
	go func() {
		_, _, err := s.Decisions.SaveDecision(callerCtx, lone, nil)
		errc <- err
	}()
	waitForLockOn(t, pool, xid)
	cancel()
	select {
	case err := <-errc:
		if domain.CodeOf(err) != domain.CodeUnavailable {
			t.Fatalf("the caller who gave up got %v, want CodeUnavailable", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the caller who gave up was not answered")
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, n := decisionXmin(t, pool, lone); n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lone decision was not committed after its caller gave up")
		}
	}
	got, stored, err := s.Decisions.SaveDecision(ctx, lone, nil)
	if err != nil || stored || got.RequestID != lone.RequestID {
		t.Fatalf("the retry: stored %v, %v, request %q; want the committed decision", stored, err, got.RequestID)
	}
}

// TestBatchLaneSendsAtOnce: with one lane (the default), the writes that
// arrive while a batch is written go together as soon as it commits, and a
// write arriving when no batch is being written goes at once, however
// long the window and however large the batch before it was. Without
// lanes the first part holds too (the batch before was a lone write), but
// the last write would wait out the whole window.
func TestBatchLaneSendsAtOnce(t *testing.T) {
	t.Parallel()
	const window = 10 * time.Second
	pool := pgtest.NewPool(t)
	s := postgres.New(pool, memory.SystemClock{}, memory.NewRandomIDs(),
		postgres.WithBatching(postgres.BatchConfig{Window: window, MaxItems: 1000, Lanes: 1}))
	t.Cleanup(s.Close)
	ctx := context.Background()
	run := fmt.Sprintf("%d", time.Now().UnixNano())

	lone := consentRecord("lane-lone-"+run, true)
	tx, xid := holdRow(t, pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO consent_ledger (process_id, user_id, consent_type, seq, approved, text_version, recorded_at)
VALUES ($1, $2, $3, 1, true, 2, now())`, lone.ProcessID, lone.UserID, lone.ConsentType)
		return err
	})
	loneErr := make(chan error, 1)
	go func() { _, _, err := s.Ledger.AppendConsent(ctx, lone); loneErr <- err }()
	waitForLockOn(t, pool, xid) // the one lane is busy

	held := func(i int) string { return fmt.Sprintf("lane-held-%s-%d", run, i) }
	errs := make([]error, 10)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { _, _, errs[i] = s.Ledger.AppendConsent(ctx, consentRecord(held(i), true)) })
	}
	// The ten gather while the lane is busy.
	for deadline := time.Now().Add(5 * time.Second); s.LedgerQueued() != len(errs); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d appends queued behind the busy lane", s.LedgerQueued(), len(errs))
		}
	}
	released := time.Now()
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if took := time.Since(released); took > window/4 {
		t.Fatalf("the writes gathered behind a busy lane took %s after it freed, want them sent at once", took)
	}
	if err := <-loneErr; err != nil {
		t.Fatalf("the lone write: %v", err)
	}
	xmins := map[string]bool{}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		rows := historyRows(t, pool, held(i))
		if len(rows) != 1 {
			t.Fatalf("history %d has %d rows", i, len(rows))
		}
		xmins[rows[0].xmin] = true
	}
	if len(xmins) != 1 {
		t.Errorf("ten writes gathered behind a busy lane took %d transactions, want 1", len(xmins))
	}

	start := time.Now()
	if _, _, err := s.Ledger.AppendConsent(ctx, consentRecord("lane-next-"+run, true)); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > window/4 {
		t.Fatalf("a write to a store with its lane free took %s, want it sent at once", took)
	}
}

// TestBatchGroupsKeepWritesPastTheirCallers: with the service's defaults,
// a write batch commits whatever its callers do (a caller who gave up is
// answered at once, and a retry finds its write), while a read batch is
// cancelled once all of its callers have gone; durable writes and reads
// take a lane each, the servings none (they wait out their window).
func TestBatchGroupsKeepWritesPastTheirCallers(t *testing.T) {
	t.Parallel()
	s, _ := newStores(t)
	type g = struct {
		Abandon bool
		Lanes   int
	}
	want := map[string]g{
		"ledger": {false, 1}, "decisions": {false, 1}, "events": {false, 1}, "servings": {false, 0},
		"decision reads": {true, 1}, "clients by user": {true, 1}, "searches": {true, 1},
	}
	if got := s.BatchGroups(); !reflect.DeepEqual(got, want) {
		t.Fatalf("groups %+v, want %+v", got, want)
	}
}

// heldWindow is the window of newAdaptiveStores: long next to the 100 ms
// the ten held writes take to arrive, on a loaded machine under -race too.
const heldWindow = 1500 * time.Millisecond

// newAdaptiveStores is newBatchedStores with the window as the service
// sets it: a batch waits only while the store is busy.
func newAdaptiveStores(t *testing.T) (*postgres.Stores, *pgxpool.Pool) {
	t.Helper()
	return newLaneStores(t, 0)
}

// newLaneStores is newAdaptiveStores with lanes write lanes.
func newLaneStores(t *testing.T, lanes int) (*postgres.Stores, *pgxpool.Pool) {
	t.Helper()
	pool := pgtest.NewPool(t)
	s := postgres.New(pool, memory.SystemClock{}, memory.NewRandomIDs(),
		postgres.WithBatching(postgres.BatchConfig{Window: heldWindow, MaxItems: 1000, Lanes: lanes}))
	t.Cleanup(s.Close)
	return s, pool
}

// heldWrites are the steps of loneHoldsTheNextBatch.
type heldWrites struct {
	lock  func(pgx.Tx) error // takes, in the test's transaction, the row the lone write conflicts with
	lone  func() error       // the lone write
	write func(i int) error  // the i-th of the writes arriving while the lone one waits
	xmin  func(i int) string // the transaction that stored the i-th write
}

// loneHoldsTheNextBatch has the lone write wait, in its batch's flush, for
// a row the test's transaction holds; then ten writes arrive 10 ms apart
// (well within heldWindow) and must share one transaction. The lock is
// released and the lone write must then succeed.
func loneHoldsTheNextBatch(t *testing.T, pool *pgxpool.Pool, w heldWrites) {
	t.Helper()
	ctx := context.Background()
	tx, xid := holdRow(t, pool, w.lock)
	loneErr := make(chan error, 1)
	go func() { loneErr <- w.lone() }()
	waitForLockOn(t, pool, xid)

	errs := make([]error, 10)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { errs[i] = w.write(i) })
		time.Sleep(10 * time.Millisecond)
	}
	wg.Wait()
	xmins := map[string]bool{}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		xmins[w.xmin(i)] = true
	}
	if len(xmins) != 1 {
		t.Errorf("ten writes arriving while a lone write waited took %d transactions, want 1", len(xmins))
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-loneErr; err != nil {
		t.Fatalf("the lone write after the lock was released: %v", err)
	}
}

// holdRow runs lock in a transaction of the test's, left open (rolled back
// at the end of the test unless the test ends it first), and returns it
// with its transaction id.
func holdRow(t *testing.T, pool *pgxpool.Pool, lock func(pgx.Tx) error) (pgx.Tx, string) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(ctx) })
	if err := lock(tx); err != nil {
		t.Fatal(err)
	}
	var xid string
	if err := tx.QueryRow(ctx, `SELECT pg_current_xact_id()::xid::text`).Scan(&xid); err != nil {
		t.Fatal(err)
	}
	return tx, xid
}

// waitForLockOn waits until a session waits for transaction xid to end.
func waitForLockOn(t *testing.T, pool *pgxpool.Pool, xid string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		var n int
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_locks
WHERE locktype = 'transactionid' AND transactionid::text = $1 AND NOT granted`, xid).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
	}
	t.Fatal("no session waited for the test's transaction within 10 s")
}

// TestDecisionGroupCommitFailingDecision puts a decision the database
// refuses (a malformed reason code) among 10 good ones: only its caller
// fails, with CodeInvalid; the others are stored.
func TestDecisionGroupCommitFailingDecision(t *testing.T) {
	t.Parallel()
	s, pool := newBatchedStores(t)
	ctx := context.Background()
	run := fmt.Sprintf("%d", time.Now().UnixNano())
	good := make([]domain.Decision, 10)
	errs := make([]error, len(good))
	var (
		calls  []func()
		badErr error
	)
	for i := range good {
		good[i] = newBatchDecision(fmt.Sprintf("good-%s-%d", run, i), domain.ResultOK)
		calls = append(calls, func() { _, _, errs[i] = s.Decisions.SaveDecision(ctx, good[i], nil) })
	}
	bad := newBatchDecision("bad-"+run, domain.ResultNOK)
	bad.ReasonCode = "not a code!"
	calls = append(calls, func() { _, _, badErr = s.Decisions.SaveDecision(ctx, bad, nil) })
	together(calls...)
	if domain.CodeOf(badErr) != domain.CodeInvalid {
		t.Fatalf("the refused decision: %v, want CodeInvalid", badErr)
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("good decision %d failed with the bad one: %v", i, err)
		}
		if _, n := decisionXmin(t, pool, good[i]); n != 1 {
			t.Fatalf("good decision %d: %d rows", i, n)
		}
	}
	if _, n := decisionXmin(t, pool, bad); n != 0 {
		t.Fatal("the refused decision was stored")
	}
}

// TestDecisionGroupCommitCancellation: a save whose caller gave up before
// the flush is not stored, and a retry stores it.
func TestDecisionGroupCommitCancellation(t *testing.T) {
	t.Parallel()
	s, pool := newBatchedStores(t)
	d := newBatchDecision(fmt.Sprintf("early-%d", time.Now().UnixNano()), domain.ResultOK)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, _, err := s.Decisions.SaveDecision(ctx, d, nil); domain.CodeOf(err) != domain.CodeUnavailable {
		t.Fatalf("save with an ended context: %v, want CodeUnavailable", err)
	}
	s.WaitBatches() // the batch it was in has been settled
	if _, n := decisionXmin(t, pool, d); n != 0 {
		t.Fatal("a decision whose caller gave up before the flush was stored")
	}
	got, stored, err := s.Decisions.SaveDecision(context.Background(), d, nil)
	if err != nil || !stored || got.RequestID != d.RequestID {
		t.Fatalf("retry: %+v stored %v, %v", got, stored, err)
	}
}

// TestServingsInBackground: with batching on a serving is queued and
// RecordServing returns before it is written; this replica answers it at
// once, and Close writes it. With batching off it is written before
// RecordServing returns. Either way the write's synchronous_commit = off
// does not outlive its transaction: a durable write on the same
// connection afterwards still waits for the WAL flush.
func TestServingsInBackground(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	served := func(pool *pgxpool.Pool, pid string) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM consent_servings WHERE process_id = $1`, pid).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	serving := func(pid string) domain.ConsentServing {
		return domain.ConsentServing{ProcessID: pid, ConsentType: "GDPR", Language: "cs", Version: 3, SHA256: digest}
	}

	t.Run("batched", func(t *testing.T) {
		pool := pgtest.Pool(t, dsn)
		// The checks below must run within the serving's window: the pool
		// has its connection before the window starts, and the window is
		// long enough for a loaded machine's queries.
		if err := pool.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		s := postgres.New(pool, memory.SystemClock{}, memory.NewRandomIDs(),
			postgres.WithBatching(postgres.FixedWindow(postgres.BatchConfig{Window: 3 * time.Second})))
		other := postgres.New(pool, memory.SystemClock{}, memory.NewRandomIDs()) // another replica
		pid := fmt.Sprintf("p-bg-%d", time.Now().UnixNano())
		if err := s.Servings.RecordServing(ctx, serving(pid)); err != nil {
			t.Fatal(err)
		}
		if n := served(pool, pid); n != 0 {
			t.Fatalf("the serving was written before RecordServing returned (%d rows)", n)
		}
		got, err := s.Servings.LastServing(ctx, pid, "GDPR")
		if err != nil || got.Version != 3 || got.Language != "cs" {
			t.Fatalf("this replica's LastServing while queued: %+v, %v", got, err)
		}
		if _, err := other.Servings.LastServing(ctx, pid, "GDPR"); !domain.IsNotFound(err) {
			t.Fatalf("another replica found the queued serving: %v", err)
		}
		s.Close()
		if n := served(pool, pid); n != 1 {
			t.Fatalf("after Close: %d rows, want 1", n)
		}
		got, err = other.Servings.LastServing(ctx, pid, "GDPR")
		if err != nil || got.Version != 3 {
			t.Fatalf("another replica after Close: %+v, %v", got, err)
		}
	})

	// While every writer is busy (batches written during a database stall),
	// a new batch waits for one rather than taking another pool
	// connection, and this replica answers from its queue meanwhile.
	t.Run("batches wait for a free writer", func(t *testing.T) {
		pool := pgtest.Pool(t, dsn)
		s := postgres.New(pool, memory.SystemClock{}, memory.NewRandomIDs(),
			postgres.WithBatching(postgres.BatchConfig{Window: time.Millisecond}))
		release := s.Servings.HoldServingWriters()
		pid := fmt.Sprintf("p-writers-%d", time.Now().UnixNano())
		if err := s.Servings.RecordServing(ctx, serving(pid)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond) // ten servings windows
		if n := served(pool, pid); n != 0 {
			t.Fatalf("a batch was written while every writer was busy (%d rows)", n)
		}
		if got, err := s.Servings.LastServing(ctx, pid, "GDPR"); err != nil || got.Version != 3 {
			t.Fatalf("LastServing while the batch waits: %+v, %v", got, err)
		}
		release()
		s.Close()
		if n := served(pool, pid); n != 1 {
			t.Fatalf("after a writer was free: %d rows, want 1", n)
		}
	})

	t.Run("unbatched, one connection", func(t *testing.T) {
		pool, err := postgres.NewPool(ctx, dsn, postgres.PoolConfig{MaxConns: 1, ConnectTimeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		s := postgres.New(pool, memory.SystemClock{}, memory.NewRandomIDs(), postgres.WithBatching(postgres.BatchConfig{}))
		pid := fmt.Sprintf("p-sync-%d", time.Now().UnixNano())
		if err := s.Servings.RecordServing(ctx, serving(pid)); err != nil {
			t.Fatal(err)
		}
		if n := served(pool, pid); n != 1 {
			t.Fatalf("unbatched serving: %d rows right after RecordServing, want 1", n)
		}
		var setting string
		if err := pool.QueryRow(ctx, "SHOW synchronous_commit").Scan(&setting); err != nil {
			t.Fatal(err)
		}
		if setting != "on" {
			t.Fatalf("synchronous_commit on the serving's connection is %q after it, want on", setting)
		}
	})
}

// TestAppendServedConsent: a consent names the serving queued in this
// replica, else the one stored, else the text it came with (the current
// one), with and without group commit and for appends batched together; a
// repeat is answered with the first record.
func TestAppendServedConsent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	current := domain.ConsentRecord{UserID: "u-1", ConsentType: "GDPR", Approved: true,
		Language: "en", TextVersion: 7, TextSHA256: digest}
	servedDigest := strings.Repeat("ab", 32)
	serving := func(pid string, version int) domain.ConsentServing {
		return domain.ConsentServing{ProcessID: pid, ConsentType: "GDPR", Language: "cs", Version: version, SHA256: servedDigest}
	}
	want := func(t *testing.T, got domain.ConsentRecord, lang string, version int, served bool) {
		t.Helper()
		if got.Language != lang || got.TextVersion != version || got.ID == 0 || got.TextServed != served {
			t.Fatalf("record %+v names %s v%d, served %v; want %s v%d, served %v", got, got.Language, got.TextVersion,
				got.TextServed, lang, version, served)
		}
	}

	for _, tc := range []struct {
		name  string
		batch postgres.BatchConfig
	}{
		{"unbatched", postgres.BatchConfig{}},
		{"batched", postgres.FixedWindow(postgres.BatchConfig{Window: batchWindow, MaxItems: 1000})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool := pgtest.Pool(t, dsn)
			s := postgres.New(pool, memory.SystemClock{}, memory.NewRandomIDs(), postgres.WithBatching(tc.batch))
			t.Cleanup(s.Close)
			writer := postgres.New(pool, memory.SystemClock{}, memory.NewRandomIDs(), postgres.WithBatching(postgres.BatchConfig{}))
			prefix := fmt.Sprintf("p-served-%s-%d-", tc.name, time.Now().UnixNano())
			rec := func(pid string) domain.ConsentRecord { r := current; r.ProcessID = prefix + pid; return r }

			// Stored by another replica (written at once: unbatched).
			if err := writer.Servings.RecordServing(ctx, serving(prefix+"stored", 3)); err != nil {
				t.Fatal(err)
			}
			// Queued in this replica when batched, stored when not.
			if err := s.Servings.RecordServing(ctx, serving(prefix+"queued", 4)); err != nil {
				t.Fatal(err)
			}
			var stored, queued, none domain.ConsentRecord
			var errs [3]error
			together(
				func() { stored, _, errs[0] = s.Ledger.AppendServedConsent(ctx, rec("stored")) },
				func() { queued, _, errs[1] = s.Ledger.AppendServedConsent(ctx, rec("queued")) },
				func() { none, _, errs[2] = s.Ledger.AppendServedConsent(ctx, rec("none")) },
			)
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			want(t, stored, "cs", 3, true)
			want(t, queued, "cs", 4, true)
			want(t, none, "en", 7, false)
			if stored.TextSHA256 != servedDigest || none.TextSHA256 != digest {
				t.Fatalf("digests %q and %q, want the serving's and the record's", stored.TextSHA256, none.TextSHA256)
			}

			again, added, err := s.Ledger.AppendServedConsent(ctx, rec("stored"))
			if err != nil || added || again.ID != stored.ID || again.TextVersion != 3 || !again.TextServed {
				t.Fatalf("repeat: %+v added %v, %v; want the first record, not added", again, added, err)
			}
			// AppendConsent names what it is given, serving or not, and
			// stores its TextServed as given.
			plain, _, err := s.Ledger.AppendConsent(ctx, func() domain.ConsentRecord { r := rec("stored"); r.UserID = "u-2"; return r }())
			if err != nil {
				t.Fatal(err)
			}
			want(t, plain, "en", 7, false)
			given, _, err := s.Ledger.AppendConsent(ctx, func() domain.ConsentRecord {
				r := rec("stored")
				r.UserID, r.TextServed = "u-3", true
				return r
			}())
			if err != nil {
				t.Fatal(err)
			}
			want(t, given, "en", 7, true)
			// Read back: u-3's records (one per subtest) are all served,
			// u-2's all not.
			for user, want := range map[string]bool{"u-3": true, "u-2": false} {
				latest, err := s.Ledger.LatestConsents(ctx, user, []string{"GDPR"})
				if err != nil || latest["GDPR"].ID == 0 || latest["GDPR"].TextServed != want {
					t.Fatalf("LatestConsents of %s: %+v, %v; want text_served %v", user, latest, err, want)
				}
			}
			var column *bool
			if err := pool.QueryRow(ctx, `SELECT text_served FROM consent_ledger WHERE id = $1`, none.ID).Scan(&column); err != nil ||
				column == nil || *column {
				t.Fatalf("consent_ledger.text_served of the record naming the current text: %v, %v; want false", column, err)
			}
		})
	}
}

// TestFullServingQueueKeepsTheNewestServing: with the serving queue full
// (the database not keeping up), a serving is written before RecordServing
// returns; an older serving of its process and type still queued must not
// answer LastServing after it, or a consent stored then would name a text
// the user saw before the one they decided on.
func TestFullServingQueueKeepsTheNewestServing(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn := pgtest.NewDatabase(t)
	pool := pgtest.Pool(t, dsn)
	at := time.Now().UTC().Truncate(time.Millisecond)
	serving := func(pid, lang string, version int, served time.Time) domain.ConsentServing {
		return domain.ConsentServing{ProcessID: pid, ConsentType: "GDPR", Language: lang, Version: version, SHA256: digest, ServedAt: served}
	}
	// Two stored rows, locked below, hold both of the store's serving
	// writers; p-b sorts after them, so the batches never touch its row.
	plain := postgres.New(pool, memory.SystemClock{}, memory.NewRandomIDs(), postgres.WithBatching(postgres.BatchConfig{}))
	for _, pid := range []string{"p-a1", "p-a2"} {
		if err := plain.Servings.RecordServing(ctx, serving(pid, "en", 1, at)); err != nil {
			t.Fatal(err)
		}
	}
	locker, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Rollback(context.Background())
	if _, err := locker.Exec(ctx, `SELECT 1 FROM consent_servings WHERE process_id IN ('p-a1', 'p-a2') FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	s := postgres.New(pool, memory.SystemClock{}, memory.NewRandomIDs())
	postgres.SetMaxPendingServings(s, 3)
	waiting := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			var got int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d serving batches wait for the locked rows, want %d", got, n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for i, pid := range []string{"p-a1", "p-a2"} {
		if err := s.Servings.RecordServing(ctx, serving(pid, "en", 2, at.Add(time.Second))); err != nil {
			t.Fatal(err)
		}
		waiting(i + 1)
	}
	// Queued behind them: no writer is free.
	if err := s.Servings.RecordServing(ctx, serving("p-b", "cs", 1, at.Add(2*time.Second))); err != nil {
		t.Fatal(err)
	}
	// The queue is full: this one is written at once.
	newest := serving("p-b", "en", 2, at.Add(3*time.Second))
	if err := s.Servings.RecordServing(ctx, newest); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		got, err := s.Servings.LastServing(ctx, "p-b", "GDPR")
		if err != nil || got.Language != "en" || got.Version != 2 {
			t.Fatalf("%s: last serving %+v, %v; want en v2, the one served last", when, got, err)
		}
	}
	check("with the older serving still queued")
	if err := locker.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	postgres.WaitServings(s)
	check("once the older serving's batch was written")
}
