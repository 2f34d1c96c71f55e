package memory_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/domain"
)

// The hot paths of the embedded service. Run by hand:
// go test -run '^$' -bench . -benchmem ./adapters/memory

func BenchmarkFindClient(b *testing.B) {
	const n = 100000
	clients := make([]domain.Client, n)
	for i := range clients {
		clients[i] = domain.Client{
			UserID: fmt.Sprintf("u-%d", i), ClientNumber: strconv.Itoa(1000000 + i),
			BirthDate: domain.MustDate("1985-04-12"), PersonalNumber: strconv.Itoa(8000000000 + i),
			Phone: "+420" + strconv.Itoa(700000000+i), Status: domain.StatusActive,
		}
	}
	reg := memory.NewClientRegistry(memory.NewRandomIDs(), clients...)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		id   domain.Identification
	}{
		{"clientNumber+birthDate", ident("clientNumber", "1054321", "birthDate", "1985-04-12")},
		{"personalNumber", ident("personalNumber", "8000054321")},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := reg.FindClient(ctx, tc.id); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

func BenchmarkLatestConsentTextCached(b *testing.B) {
	ctx := context.Background()
	store := memory.NewConsentTextStore(memory.SystemClock{})
	for _, t := range memory.DemoConsentTexts() {
		if _, err := store.PublishConsentText(ctx, t.Type, t.Language, t.HTML); err != nil {
			b.Fatal(err)
		}
	}
	cache := memory.NewConsentTextCache(store, time.Minute, 100, memory.SystemClock{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := cache.LatestConsentText(ctx, "GDPR", "cs"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkAppendConsent(b *testing.B) {
	ctx := context.Background()
	ledger := memory.NewConsentLedger(memory.SystemClock{})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// Every other call repeats the previous decision, as re-sent
		// storage requests do.
		rec := domain.ConsentRecord{ProcessID: "p-" + strconv.Itoa(i/2), UserID: "u", ConsentType: "GDPR", Approved: true}
		if _, _, err := ledger.AppendConsent(ctx, rec); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkSaveDecision(b *testing.B) {
	ctx := context.Background()
	store := memory.NewDecisionStore()
	score := 8.0
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		d := domain.Decision{Kind: domain.KindEvaluation, ProcessID: "p-" + strconv.Itoa(i/2), IdentityVerificationID: "iv",
			Result: domain.ResultOK, Score: &score, Rules: []domain.RuleResult{{Rule: "score", Outcome: domain.ResultOK}}}
		if _, _, err := store.SaveDecision(ctx, d, nil); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
