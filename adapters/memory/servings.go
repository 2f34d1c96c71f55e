package memory

import (
	"context"
	"sync"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

var _ ports.ConsentServings = (*ConsentServings)(nil)

// servingKey names the text a process was last shown for one consent type.
type servingKey struct{ processID, consentType string }

// ConsentServings remembers the consent text version last served to each
// (process, consent type), so a stored consent names the text the user saw.
type ConsentServings struct {
	mu       sync.RWMutex
	servings map[servingKey]domain.ConsentServing
	order    fifo[servingKey]
	churn    churn
}

// NewConsentServings returns an empty store without a bound, for tests.
func NewConsentServings() *ConsentServings { return NewConsentServingsLimit(0) }

// NewConsentServingsLimit returns an empty store that keeps the servings of
// the last limit (process, consent type) pairs, forgetting the oldest first;
// below 1 it keeps everything.
func NewConsentServingsLimit(limit int) *ConsentServings {
	return &ConsentServings{servings: make(map[servingKey]domain.ConsentServing), order: fifo[servingKey]{limit: limit}}
}

// RecordServing stores s, replacing the earlier serving of its process and
// type: the user decides about the text shown last.
func (c *ConsentServings) RecordServing(_ context.Context, s domain.ConsentServing) error {
	k := servingKey{s.ProcessID, s.ConsentType}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.servings[k]; !ok {
		if old, evicted := c.order.push(k); evicted {
			remove(c.servings, old, &c.churn)
		}
	}
	c.servings[k] = s
	c.servings = compact(c.servings, &c.churn)
	return nil
}

// LastServing returns the text last served to the process for consentType.
func (c *ConsentServings) LastServing(_ context.Context, processID, consentType string) (domain.ConsentServing, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s, ok := c.servings[servingKey{processID, consentType}]
	if !ok {
		return domain.ConsentServing{}, domain.NotFound("consentType", "no consent text was served to this process")
	}
	return s, nil
}
