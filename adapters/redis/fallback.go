package redis

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
)

// DefaultKeyPrefix starts every key and channel name unless configured.
const DefaultKeyPrefix = "onboarding:"

// The operations the adapters report to their OnFallback hooks.
const (
	opRead       = "read"
	opFill       = "fill"
	opInvalidate = "invalidate"
	opBegin      = "begin"
	opFinish     = "finish"
	opAllow      = "allow"
	opRefund     = "refund"
)

// ConsentTextCacheFallbackOps are the operations a ConsentTextCache
// reports to OnFallback, for a counter to declare each at start.
func ConsentTextCacheFallbackOps() []string { return []string{opRead, opFill, opInvalidate} }

// OTPGuardFallbackOps are the operations an OTPGuard reports to
// OnFallback.
func OTPGuardFallbackOps() []string { return []string{opBegin, opFinish, opAllow, opRefund} }

// fallbackLogEvery is the least time between two fallback log lines of one
// adapter: an outage at 1000 requests per second must not write 1000 lines
// per second, yet the first failure is logged at once.
const fallbackLogEvery = 10 * time.Second

// fallbacks counts, reports and logs (at a bounded rate) the calls an
// adapter answered without Redis.
type fallbacks struct {
	component string
	logger    *slog.Logger
	hook      func(op string, err error)
	count     atomic.Uint64
	log       logLimiter
}

// logLimiter lets one log line through per fallbackLogEvery and counts
// the ones it holds back, so an outage at 1000 requests per second does
// not write 1000 lines per second, yet the first one is written at once.
type logLimiter struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allow reports whether a line may be written at now and, if so, how many
// were held back since the last one.
func (l *logLimiter) allow(now time.Time) (suppressed int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < fallbackLogEvery {
		l.suppressed++
		return 0, false
	}
	suppressed = l.suppressed
	l.last, l.suppressed = now, 0
	return suppressed, true
}

func newFallbacks(component string, logger *slog.Logger, hook func(op string, err error)) *fallbacks {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &fallbacks{component: component, logger: logger, hook: hook}
}

// report records that op was answered without Redis because of err.
func (f *fallbacks) report(ctx context.Context, op string, err error) {
	f.count.Add(1)
	if f.hook != nil {
		f.hook(op, err)
	}
	suppressed, ok := f.log.allow(time.Now())
	if !ok {
		return
	}
	f.logger.LogAttrs(ctx, slog.LevelWarn, "redis unavailable, serving without it",
		slog.String("component", f.component), slog.String("op", op),
		slog.String("error", err.Error()), slog.Int("suppressed_since_last_log", suppressed))
}

// unavailable wraps a failure to reach Redis (or an abandoned call) as the
// domain's CodeUnavailable.
func unavailable(err error, what string) error {
	return domain.Unavailable(err, "redis: %s", what)
}

// maxKeyPart bounds one caller-supplied part of a key; a longer part is
// replaced by its hash so a hostile value cannot make huge keys.
const maxKeyPart = 128

// keyPart makes a caller-supplied value safe inside a key and a channel
// message: letters, digits, '.', '_' and '-' stay as they are (keys stay
// readable for operators), every other byte becomes %XX, so ':' '{' '}'
// and '|' can never fake a key's structure or hash tag. Over maxKeyPart
// bytes the value is replaced by "#" and its SHA-256.
func keyPart(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	if b.Len() > maxKeyPart {
		sum := sha256.Sum256([]byte(s))
		return "#" + hex.EncodeToString(sum[:])
	}
	return b.String()
}
