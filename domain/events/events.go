// Package events records the process events older Onboarding Servers send
// (/process/event, type FINISHED and others) for audit and fraud analysis.
// The caller ignores the answer and only logs failures, so recording is
// best effort: bad input is refused, a storage problem never is.
package events

import (
	"context"
	"strings"
	"unicode"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

// MaxTypeLen bounds the event type. Types are free strings (FINISHED,
// PROCESS_FINISHED, DOCUMENT_VERIFICATION_FINISHED, ...) but become a
// column and a metric label, so they must stay short.
const MaxTypeLen = 64

type service struct {
	recorder ports.ProcessEventRecorder
	clock    ports.Clock
}

// New returns the process event service over the recorder; clock stamps
// the events.
func New(recorder ports.ProcessEventRecorder, clock ports.Clock) ports.ProcessEventService {
	return &service{recorder: recorder, clock: clock}
}

// RecordEvent validates r and stores it without its secret-looking data.
func (s *service) RecordEvent(ctx context.Context, r ports.ProcessEventRequest) error {
	typ := strings.TrimSpace(r.Type)
	switch {
	case typ == "":
		return domain.Invalid("type", "is required")
	case len(typ) > MaxTypeLen:
		return domain.Invalid("type", "must be at most %d characters", MaxTypeLen)
	case strings.TrimSpace(r.ProcessID) == "":
		return domain.Invalid("processId", "is required")
	}
	// The caller is never failed for a downstream problem: it would only
	// log it, and the process has finished anyway. The PostgreSQL store
	// logs the failure and the telemetry decorator counts it
	// (onboarding.process_events, outcome failed).
	_ = s.recorder.RecordProcessEvent(ctx, domain.ProcessEvent{
		Type:                   typ,
		ProcessID:              strings.TrimSpace(r.ProcessID),
		ProcessType:            r.ProcessType,
		UserID:                 r.UserID,
		IdentityVerificationID: r.IdentityVerificationID,
		Data:                   Sanitize(r.Data),
		RequestID:              r.Meta.RequestID,
		CorrelationID:          r.Meta.CorrelationID,
		ReceivedAt:             s.clock.Now(),
	})
	return nil
}

// Sanitize returns a copy of data without the keys that look like secrets,
// at any depth (maps inside maps and lists). The caller's map is left as it
// was. A nil map stays nil.
func Sanitize(data map[string]any) map[string]any {
	if data == nil {
		return nil
	}
	out := make(map[string]any, len(data))
	for k, v := range data {
		if LooksSecret(k) {
			continue
		}
		out[k] = sanitizeValue(v)
	}
	return out
}

func sanitizeValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return Sanitize(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = sanitizeValue(e)
		}
		return out
	}
	return v
}

// LooksSecret reports whether a data key names something that must not be
// stored. The key is lower-cased and stripped of everything but letters and
// digits, so "api_key", "Api-Key", "Api Key" and "apiKey" all read "apikey",
// and it looks secret when it contains any of: password, passwd, pwd,
// passphrase, secret, token, otp, pin, authorization, bearer, jwt, apikey,
// accesskey, credential, cookie, session, privatekey, privkey, cvv, cvc.
// The list is deliberately broad (it also drops "shipping" for "pin"):
// losing a harmless field costs nothing, storing a secret costs a breach.
func LooksSecret(key string) bool {
	k := strings.Map(func(r rune) rune {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return -1
		}
		return unicode.ToLower(r)
	}, key)
	for _, m := range [...]string{
		"password", "passwd", "pwd", "passphrase", "secret", "token", "otp", "pin",
		"authorization", "bearer", "jwt", "apikey", "accesskey", "credential", "cookie",
		"session", "privatekey", "privkey", "cvv", "cvc",
	} {
		if strings.Contains(k, m) {
			return true
		}
	}
	return false
}
