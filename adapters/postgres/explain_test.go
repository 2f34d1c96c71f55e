package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bankkit/onboarding-adapter/adapters/postgres"
	"github.com/bankkit/onboarding-adapter/adapters/postgres/pgtest"
	"github.com/bankkit/onboarding-adapter/domain"
)

// The two lookup schemes of the default policy are index scans on a
// registry large enough for the planner to care, in both the custom plans
// of the first executions and the generic plan a cached statement settles
// on; so is the decisions' read of the user (the primary key) with the
// stored decisions (their unique key).
func TestLookupsAreIndexScans(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pool := pgtest.NewPool(t)
	const n = 20_000
	if added, err := postgres.SeedSyntheticClients(ctx, pool, n, 7); err != nil || added != n {
		t.Fatalf("seeding: added %d, err %v", added, err)
	}
	if _, err := pool.Exec(ctx, "ANALYZE clients"); err != nil {
		t.Fatal(err)
	}
	c := postgres.SyntheticClients(n, 7)[n/2]
	for _, tc := range []struct {
		name  string
		id    domain.Identification
		index string
	}{
		{"client number and birth date", identification(domain.KeyClientNumber, c.ClientNumber, domain.KeyBirthDate, c.BirthDate.String()),
			"clients_client_number_key"},
		{"personal number", identification(domain.KeyPersonalNumber, c.PersonalNumber), "clients_personal_number_idx"},
		{"phone number", identification(domain.KeyPhoneNumber, c.Phone), "clients_phone_idx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			query, args, ok := postgres.FindClientQuery(tc.id)
			if !ok {
				t.Fatal("no query for the identification")
			}
			for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
				plan := explain(ctx, t, pool, mode, query, args)
				t.Logf("%s:\n%s", mode, plan)
				if !strings.Contains(plan, "Index Scan using "+tc.index) || strings.Contains(plan, "Seq Scan") {
					t.Fatalf("%s plan of %s:\n%s\nwant an Index Scan using %s", mode, tc.name, plan, tc.index)
				}
			}
		})
	}
	// The batched forms: an index descent per array element, on the
	// generic plan they always run with, even while decisions, review
	// cases and the consent ledger are empty (flattened, the decisions'
	// joins hashed the whole table on every run).
	t.Run("batched searches with consents", func(t *testing.T) {
		id := identification(domain.KeyClientNumber, c.ClientNumber, domain.KeyBirthDate, c.BirthDate.String())
		_, args, _ := postgres.FindClientQuery(id)
		arrays := []any{[]string{args[0].(string), "X1"}, []time.Time{args[1].(time.Time), args[1].(time.Time)}, "GDPR", "TERMS"}
		plan := explain(ctx, t, pool, "force_generic_plan", postgres.BatchSearchSQL(id, 2), arrays)
		t.Logf("%s", plan)
		if !strings.Contains(plan, "Index Scan using clients_client_number_key") ||
			!strings.Contains(plan, "consent_ledger_user_latest_idx") || strings.Contains(plan, "Seq Scan") {
			t.Fatalf("plan:\n%s\nwant index scans using clients_client_number_key and consent_ledger_user_latest_idx", plan)
		}
	})
	t.Run("batched decisions with the user", func(t *testing.T) {
		arrays := []any{[]string{"p-1", "p-2"}, []string{"iv-1", "iv-2"}, []string{c.UserID, "u-2"}}
		plan := explain(ctx, t, pool, "force_generic_plan", postgres.BatchDecisionsWithClientSQL, arrays)
		t.Logf("%s", plan)
		if !strings.Contains(plan, "Index Scan using clients_pkey") || !strings.Contains(plan, "decisions_key") ||
			strings.Contains(plan, "Seq Scan") || strings.Contains(plan, "Hash") {
			t.Fatalf("plan:\n%s\nwant index scans using clients_pkey and decisions_key, no scan or hash of a table", plan)
		}
	})
	t.Run("batched clients by user id", func(t *testing.T) {
		plan := explain(ctx, t, pool, "force_generic_plan", postgres.ClientsByUserIDSQL, []any{[]string{c.UserID, "u-2"}})
		t.Logf("%s", plan)
		if !strings.Contains(plan, "Index Scan using clients_pkey") || strings.Contains(plan, "Seq Scan") ||
			strings.Contains(plan, "Hash") {
			t.Fatalf("plan:\n%s\nwant an index scan using clients_pkey, no scan or hash of the table", plan)
		}
	})
	t.Run("decisions with the user", func(t *testing.T) {
		for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
			plan := explain(ctx, t, pool, mode, postgres.DecisionsWithClientSQL, []any{"p-1", "iv-1", c.UserID})
			t.Logf("%s:\n%s", mode, plan)
			if !strings.Contains(plan, "Index Scan using clients_pkey") || !strings.Contains(plan, "decisions_key") ||
				strings.Contains(plan, "Seq Scan on clients") {
				t.Fatalf("%s plan:\n%s\nwant index scans using clients_pkey and decisions_key", mode, plan)
			}
		}
	})
}

// explain returns the plan of query under plan_cache_mode mode, through a
// prepared statement as the driver's statement cache runs it.
func explain(ctx context.Context, t *testing.T, pool *pgxpool.Pool, mode, query string, args []any) string {
	t.Helper()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SET LOCAL plan_cache_mode = "+mode); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Conn().Prepare(ctx, "lookup_"+mode, query); err != nil {
		t.Fatal(err)
	}
	defer tx.Conn().Deallocate(ctx, "lookup_"+mode)
	// EXPLAIN EXECUTE shows the plan the prepared statement really uses.
	rows, err := tx.Query(ctx, "EXPLAIN EXECUTE lookup_"+mode+"("+strings.Join(literals(args), ", ")+")",
		pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// literals renders the lookup arguments (texts and dates, and arrays of
// them) as SQL literals.
func literals(args []any) []string {
	out := make([]string, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case time.Time:
			out[i] = "'" + v.Format("2006-01-02") + "'::date"
		case string:
			out[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
		case []string:
			quoted := make([]string, len(v))
			for j, x := range v {
				quoted[j] = "'" + strings.ReplaceAll(x, "'", "''") + "'"
			}
			out[i] = "ARRAY[" + strings.Join(quoted, ", ") + "]::text[]"
		case []time.Time:
			dates := make([]any, len(v))
			for j, x := range v {
				dates[j] = x
			}
			out[i] = "ARRAY[" + strings.Join(literals(dates), ", ") + "]::date[]"
		}
	}
	return out
}

func identification(kv ...any) domain.Identification {
	id := domain.Identification{Values: map[domain.IdentificationKey]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i].(domain.IdentificationKey)
		id.Scheme = append(id.Scheme, k)
		id.Values[k] = kv[i+1].(string)
	}
	return id
}
