package postgres_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/adapters/postgres"
	"github.com/bankkit/onboarding-adapter/adapters/postgres/pgtest"
	"github.com/bankkit/onboarding-adapter/domain"
)

// Benchmarks run by hand and recorded in docs/performance.md:
//
//	go test -run '^$' -bench . -benchtime 20000x ./adapters/postgres/
//	go test -run '^$' -bench 'AppendConsent|SaveDecision' -benchtime 3s ./adapters/postgres/
//	ONBOARDING_BENCH_1M=1 go test -run '^$' -bench 'FindClient$' -benchtime 20000x ./adapters/postgres/
//	ONBOARDING_BENCH_1M=1 go test -run '^$' -bench FindClientGrowth -benchtime 20000x ./adapters/postgres/
//
// The 1M registry takes about half a minute to seed, hence the switch.

// BenchmarkFindClient looks clients up by the two schemes of the default
// policy in a registry of 1,000 clients and, with ONBOARDING_BENCH_1M=1, of
// 1,000,000: index scans make the two latencies nearly equal. It reports
// the median and 99th percentile of the serial runs besides the mean, after
// a pass over the sample (see warm).
func BenchmarkFindClient(b *testing.B) {
	sizes := []int{1_000}
	if os.Getenv("ONBOARDING_BENCH_1M") == "1" {
		sizes = append(sizes, 1_000_000)
	}
	ctx := context.Background()
	for _, n := range sizes {
		reg, sample := seededRegistry(b, n)
		for _, scheme := range lookupSchemes {
			ids := scheme.ids(sample)
			warm(b, reg, ids, fmt.Sprintf("clients=%d/%s", n, scheme.name))
			b.Run(fmt.Sprintf("clients=%d/%s", n, scheme.name), func(b *testing.B) {
				b.ResetTimer()
				lat := timeLookups(b, reg, ids, b.N)
				b.StopTimer()
				reportPercentiles(b, lat)
			})
			b.Run(fmt.Sprintf("clients=%d/%s/parallel", n, scheme.name), func(b *testing.B) {
				var next atomic.Int64
				b.SetParallelism(8) // 16 goroutines on 2 cores, the pool's size
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := reg.FindClient(ctx, ids[int(next.Add(1))%len(ids)]); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

// BenchmarkFindClientGrowth is issue 3's comparison of the two registry
// sizes (the 1M median within 25% of the 1k median) taken in one window:
// it alternates a lookup among 1,000 clients with one among 1,000,000
// (which goes first alternating too), so whatever else the machine does
// (on a shared two-core Xeon the serial median moved between 71 and 100 µs
// from one run of BenchmarkFindClient to the next) weighs on both alike. It
// reports each size's median and their ratio, 1M/1k-p50; its ns/op is the
// time of one pair of lookups. It needs ONBOARDING_BENCH_1M=1.
func BenchmarkFindClientGrowth(b *testing.B) {
	if os.Getenv("ONBOARDING_BENCH_1M") != "1" {
		b.Skip("set ONBOARDING_BENCH_1M=1: it seeds a registry of 1,000,000 clients")
	}
	small, smallSample := seededRegistry(b, 1_000)
	large, largeSample := seededRegistry(b, 1_000_000)
	for _, scheme := range lookupSchemes {
		smallIDs, largeIDs := scheme.ids(smallSample), scheme.ids(largeSample)
		warm(b, small, smallIDs, "clients=1000/"+scheme.name)
		warm(b, large, largeIDs, "clients=1000000/"+scheme.name)
		b.Run(scheme.name, func(b *testing.B) {
			smallLat := make([]time.Duration, 0, b.N)
			largeLat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				if i%2 == 0 {
					smallLat = append(smallLat, timeLookup(b, small, smallIDs[i%len(smallIDs)]))
					largeLat = append(largeLat, timeLookup(b, large, largeIDs[i%len(largeIDs)]))
				} else {
					largeLat = append(largeLat, timeLookup(b, large, largeIDs[i%len(largeIDs)]))
					smallLat = append(smallLat, timeLookup(b, small, smallIDs[i%len(smallIDs)]))
				}
			}
			b.StopTimer()
			s, _ := percentiles(smallLat)
			l, _ := percentiles(largeLat)
			b.ReportMetric(float64(s.Nanoseconds()), "1k-p50-ns")
			b.ReportMetric(float64(l.Nanoseconds()), "1M-p50-ns")
			b.ReportMetric(float64(l)/float64(s), "1M/1k-p50")
		})
	}
}

// lookupSchemes are the two identification schemes of the default policy.
var lookupSchemes = []lookupScheme{
	{"clientNumber+birthDate", func(c domain.Client) domain.Identification {
		return identification(domain.KeyClientNumber, c.ClientNumber, domain.KeyBirthDate, c.BirthDate.String())
	}},
	{"personalNumber", func(c domain.Client) domain.Identification {
		return identification(domain.KeyPersonalNumber, c.PersonalNumber)
	}},
}

type lookupScheme struct {
	name string
	id   func(c domain.Client) domain.Identification
}

// ids identifies each client of sample by the scheme.
func (s lookupScheme) ids(sample []domain.Client) []domain.Identification {
	ids := make([]domain.Identification, len(sample))
	for i, c := range sample {
		ids[i] = s.id(c)
	}
	return ids
}

// seededRegistry returns a registry of n synthetic clients in a fresh
// database, vacuumed and analysed, and a random sample of up to 10,000 of
// its active clients.
func seededRegistry(b *testing.B, n int) (*postgres.ClientRegistry, []domain.Client) {
	b.Helper()
	ctx := context.Background()
	pool := pgtest.NewPool(b)
	started := time.Now()
	if _, err := postgres.SeedSyntheticClients(ctx, pool, n, 1); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d clients in %v", n, time.Since(started).Round(time.Millisecond))
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE clients"); err != nil {
		b.Fatal(err)
	}
	return postgres.NewClientRegistry(pool, memory.NewRandomIDs()), sampleClients(b, pool, 10_000)
}

// warm looks every sampled client up once before the timed runs and logs
// that pass's latencies. The comparison is of the plan (index descents
// whose cost does not grow with the registry), so both sizes are timed with
// their sample's pages in shared buffers. A 1M registry is larger than the
// default shared_buffers (128 MB), so its first touch of a client reads the
// pages from the kernel's cache. Without this pass half the timed lookups
// among 1M (20,000 over a sample of 10,000) were first touches, and on a
// 2-core Xeon one run's 1M median was 1.6 times the 1k registry's. The
// pass's own latencies are logged (go test -v).
func warm(b *testing.B, reg *postgres.ClientRegistry, ids []domain.Identification, name string) {
	b.Helper()
	p50, p99 := percentiles(timeLookups(b, reg, ids, len(ids)))
	b.Logf("%s: first pass over %d sampled clients: p50 %v, p99 %v", name, len(ids),
		p50.Round(100*time.Nanosecond), p99.Round(100*time.Nanosecond))
}

// timeLookups looks up n clients of ids in turn, serially, and returns each
// lookup's latency.
func timeLookups(b *testing.B, reg *postgres.ClientRegistry, ids []domain.Identification, n int) []time.Duration {
	b.Helper()
	lat := make([]time.Duration, 0, n)
	for i := range n {
		lat = append(lat, timeLookup(b, reg, ids[i%len(ids)]))
	}
	return lat
}

// timeLookup looks id up and returns how long that took. (No b.Helper:
// it runs inside the timed loops.)
func timeLookup(b *testing.B, reg *postgres.ClientRegistry, id domain.Identification) time.Duration {
	t0 := time.Now()
	if _, err := reg.FindClient(context.Background(), id); err != nil {
		b.Fatal(err)
	}
	return time.Since(t0)
}

// sampleClients returns up to k random active clients with a personal number.
func sampleClients(b *testing.B, pool *pgxpool.Pool, k int) []domain.Client {
	b.Helper()
	rows, err := pool.Query(context.Background(), `SELECT client_number, birth_date, personal_number FROM clients
WHERE personal_number IS NOT NULL ORDER BY random() LIMIT $1`, k)
	if err != nil {
		b.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Client, error) {
		var (
			c     domain.Client
			birth time.Time
		)
		err := r.Scan(&c.ClientNumber, &birth, &c.PersonalNumber)
		c.BirthDate = domain.DateOf(birth.UTC())
		return c, err
	})
	if err != nil || len(out) == 0 {
		b.Fatalf("sampling clients: %d rows, %v", len(out), err)
	}
	return out
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	p50, p99 := percentiles(lat)
	b.ReportMetric(float64(p50.Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(p99.Nanoseconds()), "p99-ns")
}

// percentiles sorts lat, which must not be empty, and returns its median
// and 99th percentile.
func percentiles(lat []time.Duration) (p50, p99 time.Duration) {
	slices.Sort(lat)
	return lat[len(lat)/2], lat[len(lat)*99/100]
}

// batchModes are the group-commit settings the write benchmarks compare:
// every write its own statement and commit, the default (1 ms window, one
// lane), and every batch under load waiting out a 1 ms or 2 ms window.
var batchModes = []struct {
	name string
	cfg  postgres.BatchConfig
}{
	{"batch=off", postgres.BatchConfig{}},
	{"batch=1ms", postgres.DefaultBatchConfig()},
	{"batch=1ms-nolanes", postgres.BatchConfig{Window: time.Millisecond}},
	{"batch=2ms-nolanes", postgres.BatchConfig{Window: 2 * time.Millisecond}},
}

// BenchmarkAppendConsent appends the first record of a fresh history per
// operation, serially (one statement and one commit, a WAL flush, each;
// with batching on plus the window), repeated, and from 32 goroutines (the
// load harness's connections), where group commit writes many appends per
// statement and commit.
func BenchmarkAppendConsent(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.NewPool(b)
	rec := domain.ConsentRecord{UserID: "u-bench", ConsentType: "GDPR", Approved: true, Language: "en", TextVersion: 1,
		TextSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", RequestID: "req", CorrelationID: "corr"}
	var seq atomic.Int64
	for _, mode := range batchModes {
		ledger := postgres.New(pool, memory.SystemClock{}, memory.NewRandomIDs(), postgres.WithBatching(mode.cfg)).Ledger
		b.Run(mode.name+"/serial", func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for range b.N {
				r := rec
				r.ProcessID = "p-" + strconv.FormatInt(seq.Add(1), 10)
				t0 := time.Now()
				if _, added, err := ledger.AppendConsent(ctx, r); err != nil || !added {
					b.Fatalf("added %v, %v", added, err)
				}
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			reportPercentiles(b, lat)
		})
		b.Run(mode.name+"/repeat", func(b *testing.B) {
			r := rec
			r.ProcessID = "p-repeat"
			for range b.N {
				if _, _, err := ledger.AppendConsent(ctx, r); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(mode.name+"/parallel32", func(b *testing.B) {
			b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0))) // 32 goroutines, as the load test's connections
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r := rec
					r.ProcessID = "p-" + strconv.FormatInt(seq.Add(1), 10)
					if _, added, err := ledger.AppendConsent(ctx, r); err != nil || !added {
						b.Errorf("added %v, %v", added, err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkSaveDecision stores an evaluation with rule results per
// operation, serially and from 32 goroutines, a WAIT decision with its
// review case from 32 goroutines (batched with their cases), and serially.
func BenchmarkSaveDecision(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.NewPool(b)
	score := 8.5
	base := domain.Decision{Kind: domain.KindEvaluation, UserID: "u-bench", Result: domain.ResultOK, Score: &score,
		Rules: []domain.RuleResult{{Rule: "score", Outcome: domain.ResultOK}, {Rule: "document.expiry", Outcome: domain.ResultOK},
			{Rule: "name", Outcome: domain.ResultOK}},
		Images:    []domain.ImageDigest{{Kind: "FRAME", SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Size: 48213}},
		RequestID: "req", CorrelationID: "corr", DecidedAt: time.Now()}
	var seq atomic.Int64
	for _, mode := range batchModes {
		store := postgres.New(pool, memory.SystemClock{}, memory.NewRandomIDs(), postgres.WithBatching(mode.cfg)).Decisions
		b.Run(mode.name+"/decision", func(b *testing.B) {
			for range b.N {
				d := base
				d.ProcessID, d.IdentityVerificationID = "p-"+strconv.FormatInt(seq.Add(1), 10), "iv"
				if _, stored, err := store.SaveDecision(ctx, d, nil); err != nil || !stored {
					b.Fatalf("stored %v, %v", stored, err)
				}
			}
		})
		b.Run(mode.name+"/parallel32", func(b *testing.B) {
			b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					d := base
					d.ProcessID, d.IdentityVerificationID = "p-"+strconv.FormatInt(seq.Add(1), 10), "iv"
					if _, stored, err := store.SaveDecision(ctx, d, nil); err != nil || !stored {
						b.Errorf("stored %v, %v", stored, err)
						return
					}
				}
			})
		})
		b.Run(mode.name+"/parallel32-wait", func(b *testing.B) {
			b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					d := base
					d.Result, d.ReasonCode = domain.ResultWAIT, domain.ReasonNameSimilar
					d.ProcessID, d.IdentityVerificationID = "p-"+strconv.FormatInt(seq.Add(1), 10), "iv"
					rc := &domain.ReviewCase{ID: "case-" + d.ProcessID, ReasonCodes: []string{domain.ReasonNameSimilar},
						Answered: domain.ResultWAIT}
					if _, stored, err := store.SaveDecision(ctx, d, rc); err != nil || !stored {
						b.Errorf("stored %v, %v", stored, err)
						return
					}
				}
			})
		})
		b.Run(mode.name+"/repeat", func(b *testing.B) {
			d := base
			d.ProcessID, d.IdentityVerificationID = "p-repeat", "iv"
			for range b.N {
				if _, _, err := store.SaveDecision(ctx, d, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("decision+case", func(b *testing.B) {
		store := postgres.NewDecisionStore(pool, memory.SystemClock{})
		for range b.N {
			d := base
			d.Result, d.ReasonCode = domain.ResultWAIT, domain.ReasonNameSimilar
			d.ProcessID, d.IdentityVerificationID = "p-"+strconv.FormatInt(seq.Add(1), 10), "iv"
			rc := &domain.ReviewCase{ID: "case-" + d.ProcessID, ReasonCodes: []string{domain.ReasonNameSimilar},
				Answered: domain.ResultWAIT, Evidence: domain.ReviewEvidence{Frame: make([]byte, 30_000)}}
			if _, stored, err := store.SaveDecision(ctx, d, rc); err != nil || !stored {
				b.Fatalf("stored %v, %v", stored, err)
			}
		}
	})
}
