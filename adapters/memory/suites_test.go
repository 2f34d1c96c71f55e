package memory_test

import (
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
	"github.com/bankkit/onboarding-adapter/ports/porttest"
)

// The shared port suites, run against the memory adapters.

func TestClientRegistrySuite(t *testing.T) {
	porttest.ClientRegistry(t, func(_ *testing.T, clients ...domain.Client) ports.ClientRegistry {
		return memory.NewClientRegistry(memory.NewRandomIDs(), clients...)
	})
}

func TestConsentTextStoreSuite(t *testing.T) {
	porttest.ConsentTextStore(t, func(*testing.T) ports.ConsentTextStore {
		return memory.NewConsentTextStore(memory.SystemClock{})
	})
}

func TestConsentTextCacheSuite(t *testing.T) {
	porttest.ConsentTextReaderCache(t, func(_ *testing.T, next ports.ConsentTextReader) porttest.ConsentTextCache {
		return memory.NewConsentTextCache(next, time.Minute, 100, memory.SystemClock{})
	})
}

func TestConsentLedgerSuite(t *testing.T) {
	porttest.ConsentLedger(t, func(*testing.T) ports.ConsentLedger {
		return memory.NewConsentLedger(memory.SystemClock{})
	})
}

func TestConsentServingsSuite(t *testing.T) {
	porttest.ConsentServings(t, func(*testing.T) ports.ConsentServings { return memory.NewConsentServings() })
}

func TestDecisionStoreSuite(t *testing.T) {
	porttest.DecisionStore(t, func(*testing.T) (ports.DecisionStore, ports.ReviewCases) {
		s := memory.NewDecisionStore()
		return s, s
	})
}

func TestOTPGuardSuite(t *testing.T) {
	porttest.OTPGuard(t, func(*testing.T) porttest.OTPGuardFixture {
		clock := memory.NewFakeClock(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
		g := memory.NewOTPGuard(clock)
		return porttest.OTPGuardFixture{Dedupe: g, Throttle: g, Wait: func(d time.Duration) { clock.Advance(d) }}
	})
}

func TestProcessEventsSuite(t *testing.T) {
	porttest.ProcessEvents(t, func(*testing.T) porttest.ProcessEventsFixture {
		rec := memory.NewProcessEvents()
		return porttest.ProcessEventsFixture{
			Recorder: rec,
			Events: func(_ *testing.T, processID string) []domain.ProcessEvent {
				var out []domain.ProcessEvent
				for _, e := range rec.Events() {
					if e.ProcessID == processID {
						out = append(out, e)
					}
				}
				return out
			},
		}
	})
}
