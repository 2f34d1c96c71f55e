package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

var (
	_ ports.ClientRegistry       = (*ClientRegistry)(nil)
	_ ports.ClientConsentsFinder = (*ClientRegistry)(nil)
)

// ClientRegistry is the bank's client registry in the clients table, with
// the prospects the service registered itself.
//
// FindClient searches registry clients only (status other than PROSPECT),
// through the partial indexes on client_number (unique), personal_number
// and phone: every scheme that contains one of those keys is an index scan.
// A scheme of birthDate alone scans the table, and cannot name one client
// in a real registry anyway.
type ClientRegistry struct {
	db       *db
	ids      ports.IDGenerator
	searches *searches                   // nil: every search its own statement
	byUser   *group[string, clientFound] // nil: every read by user id its own statement
}

// clientFound is the answer of one read by user id: the client, if any.
type clientFound struct {
	client domain.Client
	ok     bool
}

// NewClientRegistry returns the registry on pool, batching concurrent
// searches as New does; ids names prospects.
func NewClientRegistry(pool *pgxpool.Pool, ids ports.IDGenerator) *ClientRegistry {
	return newClientRegistry(newDB(pool), ids, DefaultBatchConfig())
}

// newClientRegistry batches searches and reads by user id when bc turns
// batching on.
func newClientRegistry(d *db, ids ports.IDGenerator, bc BatchConfig) *ClientRegistry {
	r := &ClientRegistry{db: d, ids: ids}
	if bc.enabled() {
		r.searches = newSearches(d, bc)
		r.byUser = newGroup(readBatch(bc), r.flushByUser, r.clientByUserIDAlone)
	}
	return r
}

// clientColumns is the select list that scanClient reads.
const clientColumns = `user_id, client_number, birth_date, given_names, surname, personal_number, phone, nationality, status`

// clientRow is one row of clients as pgx scans it: NULL-able columns are
// pointers.
type clientRow struct {
	UserID         string
	ClientNumber   *string
	BirthDate      *time.Time
	GivenNames     string
	Surname        string
	PersonalNumber *string
	Phone          *string
	Nationality    string
	Status         string
}

func (r *clientRow) dest() []any {
	return []any{&r.UserID, &r.ClientNumber, &r.BirthDate, &r.GivenNames, &r.Surname,
		&r.PersonalNumber, &r.Phone, &r.Nationality, &r.Status}
}

func (r *clientRow) toDomain() domain.Client {
	c := domain.Client{
		UserID:         r.UserID,
		ClientNumber:   text(r.ClientNumber),
		GivenNames:     r.GivenNames,
		Surname:        r.Surname,
		PersonalNumber: text(r.PersonalNumber),
		Phone:          text(r.Phone),
		Nationality:    r.Nationality,
		Status:         domain.ClientStatus(r.Status),
	}
	if r.BirthDate != nil {
		// pgx reads a date as midnight UTC of that day.
		c.BirthDate = domain.DateOf(r.BirthDate.UTC())
	}
	return c
}

// clientValues is the insert list of a client, in the order of
// clientColumns, with "" and the zero date as NULL.
func clientValues(c domain.Client) []any {
	return []any{c.UserID, textPtr(c.ClientNumber), dateOrNil(c.BirthDate), c.GivenNames, c.Surname,
		textPtr(c.PersonalNumber), textPtr(c.Phone), c.Nationality, string(c.Status)}
}

// dateOrNil is the value of a nullable date column.
func dateOrNil(d domain.Date) any {
	if d.IsZero() {
		return nil
	}
	return d.Time()
}

// searchColumn returns the column FindClient compares with key k, or ""
// for a key the registry cannot search by.
func searchColumn(k domain.IdentificationKey) string {
	switch k {
	case domain.KeyClientNumber:
		return "client_number"
	case domain.KeyBirthDate:
		return "birth_date"
	case domain.KeyPersonalNumber:
		return "personal_number"
	case domain.KeyPhoneNumber:
		return "phone"
	}
	return ""
}

func errClientNotFound() error { return domain.NotFound("identification", "client not found") }

// FindClient returns the one registry client whose fields equal every value
// of the identification. No match, an empty identification, an empty value,
// a key the registry cannot search by, and an identification that fits more
// than one client are all CodeNotFound, as in the memory registry: guessing
// between two people would hand one person's account to another.
func (r *ClientRegistry) FindClient(ctx context.Context, id domain.Identification) (domain.Client, error) {
	f, err := r.search(ctx, id, search{})
	if err != nil {
		return domain.Client{}, err
	}
	return f.client, nil
}

// FindClientWithConsents implements ports.ClientConsentsFinder: the
// statement of FindClient and, for the client it finds, a descent of
// consent_ledger_user_latest_idx per type (as LatestConsents), in one
// statement.
func (r *ClientRegistry) FindClientWithConsents(ctx context.Context, id domain.Identification, consentTypes []string) (domain.Client, map[string]domain.ConsentRecord, error) {
	f, err := r.search(ctx, id, search{consents: true, types: consentTypes})
	if err != nil {
		return domain.Client{}, nil, err
	}
	return f.client, f.consents, nil
}

// search is one FindClient (consents false) or FindClientWithConsents
// call: the values of its keys, in the order of searchKeys.
type search struct {
	keys     keySet
	args     []any
	consents bool
	types    []string
}

// found is what a search read: the client when exactly one matched (n),
// and its latest consent records when the search asked for them.
type found struct {
	client   domain.Client
	n        int
	consents map[string]domain.ConsentRecord
}

// search reads the registry for id, in a batch with concurrent searches of
// the same shape when batching is on.
func (r *ClientRegistry) search(ctx context.Context, id domain.Identification, s search) (found, error) {
	var ok bool
	if s.keys, s.args, ok = searchKeys(id); !ok {
		return found{}, errClientNotFound()
	}
	var g *group[search, found]
	if r.searches != nil {
		g = r.searches.group(s)
	}
	f, err := doOrAlone(ctx, g, s, func(ctx context.Context, s search) (found, error) { return searchAlone(ctx, r.db, s) })
	if err != nil {
		return found{}, err
	}
	if f.n != 1 {
		return found{}, errClientNotFound()
	}
	return f, nil
}

// searchAlone runs s in a statement of its own.
func searchAlone(ctx context.Context, d *db, s search) (found, error) {
	query, args := searchSQL(s), s.args
	for _, t := range s.types {
		args = append(args[:len(args):len(args)], t)
	}
	var f found
	err := d.run(ctx, "client", func(ctx context.Context) error {
		f = found{}
		if s.consents {
			f.consents = make(map[string]domain.ConsentRecord, len(s.types))
		}
		rows, err := d.pool.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		var sc searchScan
		_, err = pgx.ForEachRow(rows, sc.dest(s.consents, false), func() error {
			sc.add(&f)
			return nil
		})
		return err
	})
	return f, err
}

// searchScan is one row of a search statement: the client, and with
// consents one of its latest records (hasRec false: none).
type searchScan struct {
	i      int64 // the search's ordinal in a batch statement
	row    clientRow
	hasRec bool
	rec    ledgerRow
}

func (sc *searchScan) dest(consents, batch bool) []any {
	var d []any
	if batch {
		d = append(d, &sc.i)
	}
	d = append(d, sc.row.dest()...)
	if consents {
		d = append(append(d, &sc.hasRec), sc.rec.dest()...)
	}
	return d
}

// add counts the row's client into f (each client once: with consents it
// comes once per record) and keeps its record.
func (sc *searchScan) add(f *found) {
	if f.n == 0 || sc.row.UserID != f.client.UserID {
		f.client = sc.row.toDomain()
		f.n++
	}
	if sc.hasRec {
		f.consents[sc.rec.ConsentType] = sc.rec.toDomain()
	}
}

// coalescedLedgerColumns are ledgerColumns of the LEFT JOINed l, with the
// zero value for a client without records (scanned, then ignored).
const coalescedLedgerColumns = `COALESCE(l.id, 0), COALESCE(l.process_id, ''), COALESCE(l.user_id, ''),
    COALESCE(l.consent_type, ''), COALESCE(l.seq, 0), COALESCE(l.approved, false), COALESCE(l.language, ''),
    COALESCE(l.text_version, 0), COALESCE(l.text_sha256, ''), COALESCE(l.request_id, ''),
    COALESCE(l.correlation_id, ''), COALESCE(l.recorded_at, 'epoch'), l.text_served`

// keySet is a set of identification keys, bit i standing for
// domain.KnownIdentificationKeys()[i]: the shape of a search.
type keySet uint8

// searchKeys returns the keys of id and their values (a birth date as a
// time.Time), in domain.KnownIdentificationKeys order, so each scheme is
// always the same statement text: one prepared statement per scheme. It
// returns false when id cannot match anyone: no values, an empty value, a
// key the registry cannot search by, a birth date that is not a date.
func searchKeys(id domain.Identification) (keySet, []any, bool) {
	if len(id.Values) == 0 {
		return 0, nil, false
	}
	var (
		keys keySet
		args = make([]any, 0, len(id.Values))
	)
	for i, k := range domain.KnownIdentificationKeys() {
		v, ok := id.Values[k]
		if !ok {
			continue
		}
		if v == "" {
			return 0, nil, false
		}
		var arg any = v
		if k == domain.KeyBirthDate {
			d, err := domain.ParseDate(v)
			if err != nil {
				return 0, nil, false
			}
			arg = d.Time()
		}
		keys |= 1 << i
		args = append(args, arg)
	}
	if len(args) != len(id.Values) {
		return 0, nil, false // a key the registry cannot search by
	}
	return keys, args, true
}

// each calls fn with the keys of ks in order, numbered from 1.
func (ks keySet) each(fn func(n int, k domain.IdentificationKey)) {
	n := 0
	for i, k := range domain.KnownIdentificationKeys() {
		if ks&(1<<i) != 0 {
			n++
			fn(n, k)
		}
	}
}

// clientSearchSQL is the registry search of ks, its values $1…$n or, in a
// batch, the columns k.v1…k.vn. Two rows are enough to tell "exactly one"
// from "ambiguous".
func clientSearchSQL(ks keySet, batch bool) string {
	var q strings.Builder
	q.WriteString("SELECT " + clientColumns + " FROM clients WHERE status <> 'PROSPECT'")
	ks.each(func(n int, k domain.IdentificationKey) {
		v := "$" + strconv.Itoa(n)
		if batch {
			v = "k.v" + strconv.Itoa(n)
		}
		q.WriteString(" AND " + searchColumn(k) + " = " + v)
	})
	q.WriteString(" LIMIT 2")
	return q.String()
}

// withConsentsSQL joins to the clients that search selects (aliased c)
// the latest record of each consent type $first…: a descent of
// consent_ledger_user_latest_idx per type (as LatestConsents).
func withConsentsSQL(first, types int) string {
	return `
LEFT JOIN LATERAL (
    SELECT l.* FROM unnest(` + textArray(first, types) + `) AS t(consent_type)
    CROSS JOIN LATERAL (` + strings.Replace(latestConsentSQL, "$1", "c.user_id", 1) + `) l
) l ON true`
}

// searchSQL is the statement of s alone.
func searchSQL(s search) string {
	q := clientSearchSQL(s.keys, false)
	if !s.consents {
		return q
	}
	return `WITH c AS (` + q + `)
SELECT c.*, l.id IS NOT NULL, ` + coalescedLedgerColumns + `
FROM c` + withConsentsSQL(len(s.args)+1, len(s.types))
}

// findClientQuery returns the statement and arguments of FindClient, or
// false when id cannot match anyone (see searchKeys).
func findClientQuery(id domain.Identification) (string, []any, bool) {
	keys, args, ok := searchKeys(id)
	if !ok {
		return "", nil, false
	}
	return clientSearchSQL(keys, false), args, true
}

// ClientByUserID returns the registry client or registered prospect with
// that user id.
func (r *ClientRegistry) ClientByUserID(ctx context.Context, userID string) (domain.Client, error) {
	f, err := doOrAlone(ctx, r.byUser, userID, r.clientByUserIDAlone)
	if err != nil {
		return domain.Client{}, err
	}
	if !f.ok {
		return domain.Client{}, domain.NotFound("userId", "user not found")
	}
	return f.client, nil
}

// clientByUserIDAlone reads the client of userID in a statement of its own.
func (r *ClientRegistry) clientByUserIDAlone(ctx context.Context, userID string) (clientFound, error) {
	var row clientRow
	err := r.db.run(ctx, "user", func(ctx context.Context) error {
		return r.db.pool.QueryRow(ctx, "SELECT "+clientColumns+" FROM clients WHERE user_id = $1", userID).Scan(row.dest()...)
	})
	if domain.IsNotFound(err) {
		return clientFound{}, nil
	}
	if err != nil {
		return clientFound{}, err
	}
	return clientFound{client: row.toDomain(), ok: true}, nil
}

// clientsByUserIDSQL reads the clients of a batch of user ids, each row
// with the ordinal of its id: one primary-key descent per id (LATERAL, so
// the generic plan it runs with cannot hash the registry instead).
const clientsByUserIDSQL = `SELECT k.i, ` + clientColumns + `
FROM unnest($1::text[]) WITH ORDINALITY AS k(id, i)
CROSS JOIN LATERAL (SELECT ` + clientColumns + ` FROM clients WHERE user_id = k.id) c`

// flushByUser reads a batch of clients by user id (the OTP sends' phone
// numbers) in one statement (a read alone has its own: clientByUserIDAlone).
func (r *ClientRegistry) flushByUser(ctx context.Context, calls []*call[string, clientFound]) {
	ids := make([]string, len(calls))
	for i, c := range calls {
		ids[i] = c.in
	}
	var (
		ord int64
		row clientRow
	)
	readBatched(ctx, r.db, "user", clientsByUserIDSQL, []any{ids}, calls, func() clientFound { return clientFound{} },
		append([]any{&ord}, row.dest()...), &ord, func(f *clientFound) error {
			f.client, f.ok = row.toDomain(), true
			return nil
		})
}

// registerProspectSQL inserts the prospect unless its fingerprint is taken,
// and returns the inserted row or the one that holds the fingerprint. When
// a concurrent registration commits between this statement's snapshot and
// its insert, the insert waits for it and does nothing, and the snapshot
// cannot see the winner: the statement returns no row and is run again.
const registerProspectSQL = `
WITH ins AS (
    INSERT INTO clients (user_id, client_number, birth_date, personal_number, phone, status, identification_fingerprint)
    VALUES ($1, $2, $3, $4, $5, 'PROSPECT', $6)
    ON CONFLICT (identification_fingerprint) WHERE identification_fingerprint IS NOT NULL DO NOTHING
    RETURNING ` + clientColumns + `
)
SELECT ` + clientColumns + ` FROM ins
UNION ALL
SELECT ` + clientColumns + ` FROM clients WHERE identification_fingerprint = $6
LIMIT 1`

// maxAttempts bounds the insert-or-read loops. Each lost round means
// another caller's row was committed, so a loop needs as many rounds as
// there are concurrent changes to the same key, which in practice is two.
const maxAttempts = 10

// RegisterProspect returns the prospect of the identification's
// fingerprint, creating it with status PROSPECT and the identification's
// values on first use. Only the SHA-256 of the fingerprint is stored. The
// unique index on it makes concurrent calls, in this replica or another,
// return the same user.
func (r *ClientRegistry) RegisterProspect(ctx context.Context, id domain.Identification) (domain.Client, error) {
	if len(id.Values) == 0 {
		return domain.Client{}, domain.Invalid("identification", "must contain at least one key")
	}
	sum := sha256.Sum256([]byte(id.Fingerprint()))
	fingerprint := hex.EncodeToString(sum[:])
	var birth any
	if v := id.Value(domain.KeyBirthDate); v != "" {
		// Values are normalised to YYYY-MM-DD by the lookup; a caller that
		// skipped normalisation gets a prospect without a birth date, as
		// in the memory registry.
		if d, err := domain.ParseDate(v); err == nil {
			birth = d.Time()
		}
	}
	for range maxAttempts {
		var (
			row   clientRow
			found bool
		)
		err := r.db.run(ctx, "prospect", func(ctx context.Context) error {
			err := r.db.pool.QueryRow(ctx, registerProspectSQL, r.ids.NewID(),
				textPtr(id.Value(domain.KeyClientNumber)), birth,
				textPtr(id.Value(domain.KeyPersonalNumber)), textPtr(id.Value(domain.KeyPhoneNumber)),
				fingerprint).Scan(row.dest()...)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil // lost a race: run again with a fresh snapshot
			}
			found = err == nil
			return err
		})
		if err != nil {
			return domain.Client{}, err
		}
		if found {
			return row.toDomain(), nil
		}
	}
	return domain.Client{}, domain.Unavailable(nil, "prospect registration is contended; retry")
}

// AddClients stores registry clients, replacing the stored client of the
// same user id (a registry sync, and the test fixtures of the port suite).
// Values are stored as given, so PersonalNumber must already be normalised
// and Phone be E.164. A client number already held by another client is
// CodeConflict.
func (r *ClientRegistry) AddClients(ctx context.Context, clients ...domain.Client) error {
	if len(clients) == 0 {
		return nil
	}
	for i, c := range clients {
		if c.UserID == "" {
			return domain.Invalid("clients["+strconv.Itoa(i)+"].userId", "must not be empty")
		}
	}
	return r.db.run(ctx, "client", func(ctx context.Context) error {
		b := &pgx.Batch{}
		for _, c := range clients {
			b.Queue(`INSERT INTO clients (`+clientColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (user_id) DO UPDATE SET
    client_number = EXCLUDED.client_number, birth_date = EXCLUDED.birth_date,
    given_names = EXCLUDED.given_names, surname = EXCLUDED.surname,
    personal_number = EXCLUDED.personal_number, phone = EXCLUDED.phone,
    nationality = EXCLUDED.nationality, status = EXCLUDED.status, updated_at = now()`, clientValues(c)...)
		}
		// One transaction: a sync either lands whole or not at all.
		return pgx.BeginFunc(ctx, r.db.pool, func(tx pgx.Tx) error {
			return tx.SendBatch(ctx, b).Close()
		})
	})
}
