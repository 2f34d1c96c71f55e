package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/adapters/postgres"
	"github.com/bankkit/onboarding-adapter/adapters/postgres/pgtest"
	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
	"github.com/bankkit/onboarding-adapter/ports/porttest"
)

// The behavioural suites of ports/porttest, the very ones the memory
// adapters pass. They use random identifiers, so each runs on its own fresh
// database in parallel with the others.

func newStores(t *testing.T) (*postgres.Stores, *pgxpool.Pool) {
	t.Helper()
	pool := pgtest.NewPool(t)
	return postgres.New(pool, memory.SystemClock{}, memory.NewRandomIDs()), pool
}

func TestClientRegistry(t *testing.T) {
	t.Parallel()
	s, _ := newStores(t)
	porttest.ClientRegistry(t, func(t *testing.T, clients ...domain.Client) ports.ClientRegistry {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Registry.AddClients(ctx, clients...); err != nil {
			t.Fatalf("adding the suite's clients: %v", err)
		}
		return s.Registry
	})
}

func TestConsentTextStore(t *testing.T) {
	t.Parallel()
	s, _ := newStores(t)
	porttest.ConsentTextStore(t, func(*testing.T) ports.ConsentTextStore { return s.ConsentTexts })
}

func TestConsentLedger(t *testing.T) {
	t.Parallel()
	s, _ := newStores(t)
	porttest.ConsentLedger(t, func(*testing.T) ports.ConsentLedger { return s.Ledger })
}

func TestConsentServings(t *testing.T) {
	t.Parallel()
	s, _ := newStores(t)
	porttest.ConsentServings(t, func(*testing.T) ports.ConsentServings { return s.Servings })
}

func TestDecisionStore(t *testing.T) {
	t.Parallel()
	s, _ := newStores(t)
	porttest.DecisionStore(t, func(*testing.T) (ports.DecisionStore, ports.ReviewCases) { return s.Decisions, s.Decisions })
}
