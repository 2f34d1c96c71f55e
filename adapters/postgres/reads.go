package postgres

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
)

// Read batching: the registry searches that concurrent lookups make, the
// reads before concurrent decisions and the OTP sends' reads of the client
// by user id, while the database is busy with earlier ones go out as one
// statement. Under
// load most of what a single-row indexed SELECT costs PostgreSQL (and this
// process) is per statement: the protocol messages and system calls of
// its round trip, the executor's start and end, the snapshot. A statement
// searching for n clients pays them once. A search that finds a lane free
// goes out at once, so an idle service adds no latency.
const (
	// readLanes is how many batches of one shape run at once while the
	// database answers promptly. One: a read that finds its shape's batch
	// in flight waits for it (at most readWindow, or until readBurst reads
	// wait) and goes out with the others that came meanwhile. Measured
	// under the load harness on two cores (interleaved runs, two of each),
	// one lane against two, before readBurst: half the statements a
	// lookup (0.11-0.12 against 0.24-0.25), 51% of the same rounds'
	// pgbench SELECT against 47-48%, p99 16.3-16.4 ms against 16.6-18.8;
	// approvals the same within the noise. A read that finds no batch in
	// flight still goes out at once.
	readLanes = 1
	// readWindow bounds how long a read waits for a lane. Past it the
	// batch goes out anyway, as does a full one: during a stall a batch
	// starts every readWindow, and a slow statement does not hold the
	// others.
	readWindow = 2 * time.Millisecond
	// readMaxItems bounds a batch's arrays; the rest waits for the next.
	readMaxItems = 64
	// readBurst lets a second batch of a shape go while the lane is busy
	// once it holds this many reads: enough to be worth a statement of
	// their own, which the database's other backend answers meanwhile.
	// Measured (interleaved runs, two of each, on a 2-core Intel Xeon):
	// approvals 7,473 and 7,857 req/s against 7,261 and 7,380 without it;
	// lookups, OTP sends and evaluations within the noise. It costs
	// statements: in the full runs before and after it, batches per
	// request rose from 0.092 to 0.127 (lookup) and 0.145 to 0.208
	// (approve), for about the same CPU per request.
	readBurst = 8
)

// readBatch is the batching of reads; a test's fixed window (see
// BatchConfig.fixed) applies to them too.
func readBatch(bc BatchConfig) BatchConfig {
	c := BatchConfig{Window: readWindow, MaxItems: readMaxItems, Lanes: readLanes, burst: readBurst, abandon: true}
	if bc.fixed {
		c.Window, c.fixed = bc.Window, true
	}
	return c
}

// searches batches the registry searches of each shape (the keys compared,
// whether consents are read and for how many types): one statement text
// per shape, so the batch statement stays prepared.
type searches struct {
	db  *db
	cfg BatchConfig

	mu     sync.Mutex
	groups map[searchShape]*group[search, found]
}

type searchShape struct {
	keys     keySet
	consents bool
	types    int
}

func newSearches(d *db, bc BatchConfig) *searches {
	return &searches{db: d, cfg: readBatch(bc), groups: make(map[searchShape]*group[search, found])}
}

// group returns the batching group of s's shape.
func (ss *searches) group(s search) *group[search, found] {
	shape := searchShape{keys: s.keys, consents: s.consents, types: len(s.types)}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	g := ss.groups[shape]
	if g == nil {
		sql := batchSearchSQL(shape)
		g = newGroup(ss.cfg, func(ctx context.Context, calls []*call[search, found]) {
			ss.flush(ctx, sql, calls)
		}, ss.alone)
		ss.groups[shape] = g
	}
	return g
}

// batchSearchSQL searches for every element of the key arrays $1…$n (one
// per key of the shape, element i of each being search i's values), and
// with consents the latest record of each type $n+1… of every client found.
// Each row carries its search's ordinal.
func batchSearchSQL(shape searchShape) string {
	var arrays, names []string
	shape.keys.each(func(n int, k domain.IdentificationKey) {
		typ := "text"
		if k == domain.KeyBirthDate {
			typ = "date"
		}
		arrays = append(arrays, "$"+strconv.Itoa(n)+"::"+typ+"[]")
		names = append(names, "v"+strconv.Itoa(n))
	})
	cols := strings.Split(clientColumns, ", ")
	for i, c := range cols {
		cols[i] = "c." + c
	}
	q := `SELECT k.i, ` + strings.Join(cols, ", ")
	if shape.consents {
		q += `, l.id IS NOT NULL, ` + coalescedLedgerColumns
	}
	q += `
FROM unnest(` + strings.Join(arrays, ", ") + `) WITH ORDINALITY AS k(` + strings.Join(names, ", ") + `, i)
CROSS JOIN LATERAL (` + clientSearchSQL(shape.keys, true) + `) c`
	if shape.consents {
		q += withConsentsSQL(len(arrays)+1, shape.types)
	}
	return q
}

// alone runs a search in a statement of its own (no arrays to plan).
func (ss *searches) alone(ctx context.Context, s search) (found, error) {
	return searchAlone(ctx, ss.db, s)
}

// flush runs the batch's searches in one statement (a search alone has its
// own: alone); a search whose consent types differ from the first one's (a
// policy reloaded in between) is sent back to run alone.
func (ss *searches) flush(ctx context.Context, sql string, calls []*call[search, found]) {
	first := calls[0].in
	batch := calls[:0:0]
	for _, c := range calls {
		if slices.Equal(c.in.types, first.types) {
			batch = append(batch, c)
		} else {
			c.retrySolo()
		}
	}
	args := make([]any, 0, len(first.args)+len(first.types))
	for j := range first.args {
		switch first.args[j].(type) {
		case time.Time:
			a := make([]time.Time, len(batch))
			for i, c := range batch {
				a[i] = c.in.args[j].(time.Time)
			}
			args = append(args, a)
		default:
			a := make([]string, len(batch))
			for i, c := range batch {
				a[i] = c.in.args[j].(string)
			}
			args = append(args, a)
		}
	}
	for _, t := range first.types {
		args = append(args, t)
	}
	var sc searchScan
	readBatched(ctx, ss.db, "client", sql, args, batch, func() found {
		if !first.consents {
			return found{}
		}
		return found{consents: make(map[string]domain.ConsentRecord, len(first.types))}
	}, sc.dest(first.consents, true), &sc.i, func(f *found) error {
		sc.add(f)
		return nil
	})
}

// readBatched runs sql, a batch read whose rows each carry the ordinal
// (from 1) of their call in *ord, in one round trip with its generic plan.
// Each row is scanned into dest and handed to add with its call's result,
// which starts as fresh() (again on a retry). Every call is finished with
// its result, or, when the statement fails, settled (see settle).
func readBatched[In, Out any](ctx context.Context, d *db, what, sql string, args []any, calls []*call[In, Out],
	fresh func() Out, dest []any, ord *int64, add func(*Out) error) {
	out := make([]Out, len(calls))
	err := d.run(ctx, what, func(ctx context.Context) error {
		for i := range out {
			out[i] = fresh()
		}
		return sendAfter(ctx, d.pool, genericPlanSQL, sql, args, dest, func() error {
			if *ord < 1 || int(*ord) > len(out) {
				return domain.Internal(nil, "a batched read returned an unknown ordinal")
			}
			return add(&out[*ord-1])
		})
	})
	if err != nil {
		if domain.CodeOf(err) != domain.CodeUnavailable {
			d.noteFallback(what, len(calls), err)
		}
		settle(calls, err)
		return
	}
	for i, c := range calls {
		c.finish(out[i], nil)
	}
}
