package telemetry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/bankkit/onboarding-adapter/domain"
)

// ScopeName is the instrumentation scope of the spans and metrics made here.
const ScopeName = "github.com/bankkit/onboarding-adapter/adapters/telemetry"

// Metric names (OpenTelemetry form; docs/observability.md gives the
// Prometheus names the exporter derives from them).
const (
	MetricDecisions                = "onboarding.decisions"
	MetricOTPSends                 = "onboarding.otp.sends"
	MetricConsentTextCacheRequests = "onboarding.consent_text.cache.requests"
	MetricConsentTextCacheRejected = "onboarding.consent_text.cache.rejected"
	MetricRedisFallbacks           = "onboarding.redis.fallbacks"
	MetricRedisRoundTrips          = "onboarding.redis.coalescer.round_trips"
	MetricRedisCoalescedCommands   = "onboarding.redis.coalescer.commands"
	MetricRedisWaiting             = "onboarding.redis.coalescer.waiting"
	MetricOTPOwedOutcomes          = "onboarding.otp.owed_outcomes"
	MetricBreakerState             = "onboarding.circuit_breaker.state"
	MetricBreakerTransitions       = "onboarding.circuit_breaker.transitions"
	MetricProcessEvents            = "onboarding.process_events"
	MetricDatabaseRoleRisks        = "onboarding.db.role_risks"
)

// Span attribute keys of the service's own attributes. They never hold
// personal data.
const (
	AttrDecisionKind     = attribute.Key("onboarding.decision.kind")
	AttrDecisionResult   = attribute.Key("onboarding.decision.result")
	AttrDecisionReason   = attribute.Key("onboarding.decision.reason")
	AttrDecisionStored   = attribute.Key("onboarding.decision.stored")
	AttrUserFound        = attribute.Key("onboarding.user.found")
	AttrOTPOutcome       = attribute.Key("onboarding.otp.outcome")
	AttrOTPType          = attribute.Key("onboarding.otp.type")
	AttrOTPClaimed       = attribute.Key("onboarding.otp.claimed")
	AttrOTPAllowed       = attribute.Key("onboarding.otp.allowed")
	AttrOTPBound         = attribute.Key("onboarding.otp.bound")
	AttrOTPReleased      = attribute.Key("onboarding.otp.released")
	AttrLookupConsent    = attribute.Key("onboarding.lookup.consent")
	AttrIDScheme         = attribute.Key("onboarding.identification.scheme")
	AttrConsentType      = attribute.Key("onboarding.consent.type")
	AttrConsentLanguage  = attribute.Key("onboarding.consent.language")
	AttrConsentVersion   = attribute.Key("onboarding.consent.version")
	AttrConsentAppended  = attribute.Key("onboarding.consent.appended")
	AttrEventType        = attribute.Key("onboarding.event.type")
	AttrSMSSegments      = attribute.Key("onboarding.sms.segments")
	AttrSMSEncoding      = attribute.Key("onboarding.sms.encoding")
	AttrErrorType        = attribute.Key("error.type")
	maxReasonLabelLength = 40
)

// Circuit-breaker states as the onboarding.circuit_breaker.state gauge
// reports them.
const (
	BreakerClosed   int64 = 0
	BreakerHalfOpen int64 = 1
	BreakerOpen     int64 = 2
)

// BreakerStateValue maps a gobreaker state to the gauge's value.
func BreakerStateValue(s gobreaker.State) int64 {
	switch s {
	case gobreaker.StateHalfOpen:
		return BreakerHalfOpen
	case gobreaker.StateOpen:
		return BreakerOpen
	}
	return BreakerClosed
}

// Instruments are the tracer and the metric instruments every decorator and
// hook of this package shares. Build one per process with New.
type Instruments struct {
	tracer      trace.Tracer
	meter       metric.Meter
	decisions   metric.Int64Counter
	otpSends    metric.Int64Counter
	fallbacks   metric.Int64Counter
	transitions metric.Int64Counter
	events      metric.Int64Counter
	cacheReqs   metric.Int64ObservableCounter
	cacheRejs   metric.Int64ObservableCounter

	// The attribute sets of the counters, built once per label
	// combination: a measurement then costs no allocation and no sort.
	decisionSets   *labelSets
	fallbackSets   *labelSets
	transitionSets *labelSets
	otpSets        map[string][]metric.AddOption
	eventStored    []metric.AddOption
	eventFailed    []metric.AddOption

	// spanOpts are the options of every driven-port span; none is the
	// span start returns when it opens none.
	spanOpts []trace.SpanStartOption
	none     trace.Span

	mu       sync.Mutex
	breakers map[string]func() gobreaker.State
}

// New creates the instruments on the given providers and registers the
// breaker gauge (breakers are added with ObserveBreaker).
func New(tp trace.TracerProvider, mp metric.MeterProvider) (*Instruments, error) {
	i := &Instruments{
		tracer:         tp.Tracer(ScopeName),
		meter:          mp.Meter(ScopeName),
		decisionSets:   newLabelSets("kind", "result", "reason"),
		fallbackSets:   newLabelSets("component", "op"),
		transitionSets: newLabelSets("breaker", "state"),
		otpSets:        map[string][]metric.AddOption{},
		eventStored:    addOptions(attribute.String("outcome", "stored")),
		eventFailed:    addOptions(attribute.String("outcome", "failed")),
		spanOpts:       []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)},
		none:           noop.Span{},
		breakers:       map[string]func() gobreaker.State{},
	}
	for _, o := range []string{otpDeduped, otpOther, string(domain.OTPSent), string(domain.OTPFailedPermanent),
		string(domain.OTPFailedTransient)} {
		i.otpSets[o] = addOptions(attribute.String("outcome", o))
	}
	// A throttled send names its throttle, so a number flooded from many
	// processes (SMS pumping) shows apart from one process asking too
	// often; queries that sum by outcome see one throttled series as before.
	for _, b := range []domain.OTPBound{domain.OTPBoundPhone, domain.OTPBoundProcess} {
		i.otpSets[otpSetKey(string(domain.OTPThrottled), b)] = addOptions(
			attribute.String("outcome", string(domain.OTPThrottled)), attribute.String("bound", string(b)))
	}
	var errs []error
	var err error
	i.decisions, err = i.meter.Int64Counter(MetricDecisions, metric.WithUnit("{decision}"),
		metric.WithDescription("Approval and evaluation answers by kind, result and reason code (re-sent requests answered from the store included)."))
	errs = append(errs, err)
	i.otpSends, err = i.meter.Int64Counter(MetricOTPSends, metric.WithUnit("{request}"),
		metric.WithDescription("Answered /otp/send requests by outcome: sent, failed_permanent, failed_transient, throttled, deduped."))
	errs = append(errs, err)
	i.fallbacks, err = i.meter.Int64Counter(MetricRedisFallbacks, metric.WithUnit("{operation}"),
		metric.WithDescription("Operations served without Redis (Redis failed or its breaker was open), by component and operation."))
	errs = append(errs, err)
	i.transitions, err = i.meter.Int64Counter(MetricBreakerTransitions, metric.WithUnit("{transition}"),
		metric.WithDescription("Circuit-breaker state changes by breaker and new state."))
	errs = append(errs, err)
	i.events, err = i.meter.Int64Counter(MetricProcessEvents, metric.WithUnit("{event}"),
		metric.WithDescription("Valid /process/event requests by outcome: stored, or failed (the store failed: the event is not known to be stored; the caller is answered 200 either way)."))
	errs = append(errs, err)
	i.cacheReqs, err = i.meter.Int64ObservableCounter(MetricConsentTextCacheRequests, metric.WithUnit("{request}"),
		metric.WithDescription("Consent-text cache reads by level (l1 in process, l2 Redis) and result (hit, miss, error)."))
	errs = append(errs, err)
	i.cacheRejs, err = i.meter.Int64ObservableCounter(MetricConsentTextCacheRejected, metric.WithUnit("{entry}"),
		metric.WithDescription("Consent texts found in Redis and not served (each answered from the store and refilled) by reason: tampered (the HTML does not match its SHA-256, which the consent ledger records), unreadable (another format, type, language or version)."))
	errs = append(errs, err)
	state, err := i.meter.Int64ObservableGauge(MetricBreakerState,
		metric.WithDescription("Circuit-breaker state: 0 closed, 1 half-open, 2 open."))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("telemetry: creating instruments: %w", err)
	}
	// Every outcome's series exists from the start, at 0: rate() and
	// increase() miss the first increment of a series that appears with it,
	// so the first failed send would not move the failure ratio.
	for _, opts := range i.otpSets {
		i.otpSends.Add(context.Background(), 0, opts...)
	}
	// Throttled without a throttle named (a bound this package does not
	// know yet; none of this service's paths): counted, but not made to
	// exist from the start, as a series at 0 beside the per-throttle ones
	// would never move and would only add a line to every breakdown.
	i.otpSets[string(domain.OTPThrottled)] = addOptions(attribute.String("outcome", string(domain.OTPThrottled)))
	i.events.Add(context.Background(), 0, i.eventStored...)
	i.events.Add(context.Background(), 0, i.eventFailed...)
	_, err = i.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		i.mu.Lock()
		defer i.mu.Unlock()
		for name, st := range i.breakers {
			o.ObserveInt64(state, BreakerStateValue(st()), metric.WithAttributeSet(attribute.NewSet(attribute.String("breaker", name))))
		}
		return nil
	}, state)
	if err != nil {
		return nil, fmt.Errorf("telemetry: registering the breaker gauge: %w", err)
	}
	return i, nil
}

// Tracer is the tracer of the decorators, for a caller that wants its own
// spans in the same scope.
func (i *Instruments) Tracer() trace.Tracer { return i.tracer }

// ObserveBreaker adds a breaker to the onboarding.circuit_breaker.state
// gauge; state is read at every collection, so it must be cheap and safe
// for concurrent use (gobreaker's State is).
func (i *Instruments) ObserveBreaker(name string, state func() gobreaker.State) {
	i.mu.Lock()
	i.breakers[name] = state
	i.mu.Unlock()
	// Its transitions start at 0, so the first opening counts in rate().
	for _, st := range []gobreaker.State{gobreaker.StateClosed, gobreaker.StateHalfOpen, gobreaker.StateOpen} {
		i.transitions.Add(context.Background(), 0, i.transitionSets.options(name, st.String(), "")...)
	}
}

// BreakerChanged counts a state change; use it as (part of) a breaker's
// OnStateChange hook. It is quick and never calls the breaker.
func (i *Instruments) BreakerChanged(name string, to gobreaker.State) {
	i.transitions.Add(context.Background(), 1, i.transitionSets.options(name, to.String(), "")...)
}

// RedisFallback counts one operation served without Redis; use it as the
// OnFallback hook of the Redis adapters (component names the adapter:
// consent_text_cache, otp_guard).
func (i *Instruments) RedisFallback(component, op string) {
	i.fallbacks.Add(context.Background(), 1, i.fallbackSets.options(component, op, "")...)
}

// DeclareRedisFallbacks starts the fallback counter of each of a
// component's operations at 0, so the first fallback after start counts in
// rate() and increase() (which miss the first increment of a series that
// appears with it). Call it when the component is built.
func (i *Instruments) DeclareRedisFallbacks(component string, ops ...string) {
	for _, op := range ops {
		i.fallbacks.Add(context.Background(), 0, i.fallbackSets.options(component, op, "")...)
	}
}

// CacheCounts are the consent-text cache's cumulative read counters. A
// level the deployment does not have (no Redis, or the L1 disabled) is left
// out with HasL1/HasL2 false, so no zero series pretends it exists.
type CacheCounts struct {
	HasL1, HasL2               bool
	L1Hits, L1Misses           uint64
	L2Hits, L2Misses, L2Errors uint64
	// L2Tampered and L2Unreadable count the entries Redis held and the
	// cache refused (also counted in L2Misses).
	L2Tampered, L2Unreadable uint64
}

// ObserveConsentTextCache reports read() at every collection as
// onboarding.consent_text.cache.requests{level, result} and, with Redis,
// onboarding.consent_text.cache.rejected{reason}. read is called from the
// collection goroutine and must be safe for concurrent use.
func (i *Instruments) ObserveConsentTextCache(read func() CacheCounts) error {
	set := func(level, result string) metric.ObserveOption {
		return metric.WithAttributeSet(attribute.NewSet(attribute.String("level", level), attribute.String("result", result)))
	}
	l1Hit, l1Miss := set("l1", "hit"), set("l1", "miss")
	l2Hit, l2Miss, l2Err := set("l2", "hit"), set("l2", "miss"), set("l2", "error")
	reason := func(r string) metric.ObserveOption {
		return metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r)))
	}
	tampered, unreadable := reason("tampered"), reason("unreadable")
	_, err := i.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		c := read()
		if c.HasL1 {
			o.ObserveInt64(i.cacheReqs, clampInt64(c.L1Hits), l1Hit)
			o.ObserveInt64(i.cacheReqs, clampInt64(c.L1Misses), l1Miss)
		}
		if c.HasL2 {
			o.ObserveInt64(i.cacheReqs, clampInt64(c.L2Hits), l2Hit)
			o.ObserveInt64(i.cacheReqs, clampInt64(c.L2Misses), l2Miss)
			o.ObserveInt64(i.cacheReqs, clampInt64(c.L2Errors), l2Err)
			o.ObserveInt64(i.cacheRejs, clampInt64(c.L2Tampered), tampered)
			o.ObserveInt64(i.cacheRejs, clampInt64(c.L2Unreadable), unreadable)
		}
		return nil
	}, i.cacheReqs, i.cacheRejs)
	if err != nil {
		return fmt.Errorf("telemetry: registering the consent-text cache counter: %w", err)
	}
	return nil
}

// ObserveDatabaseRole reports read() at every collection as
// onboarding.db.role_risks (gauge): how many kinds of the rights that let
// the service's database role disable the append-only triggers it holds
// (postgres.RoleRisks; 0 for a role set up by migrate --grant-to, -1 when
// the database refused the check). Nothing is reported while read says
// the check has not answered yet. read must be safe for concurrent use.
func (i *Instruments) ObserveDatabaseRole(read func() (risks int, known bool)) error {
	_, err := i.meter.Int64ObservableGauge(MetricDatabaseRoleRisks, metric.WithUnit("{risk}"),
		metric.WithDescription("How many kinds of the rights that could disable the records' append-only triggers the service's database role holds (owning the tables, owning their schema, superuser, CREATEROLE, BYPASSRLS, SET session_replication_role): 0 for a least-privilege role, -1 when the database refused the check."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			if n, ok := read(); ok {
				o.Observe(int64(n))
			}
			return nil
		}))
	if err != nil {
		return fmt.Errorf("telemetry: creating %s: %w", MetricDatabaseRoleRisks, err)
	}
	return nil
}

// CoalescerCounts are the Redis coalescer's counters: round trips and
// the commands they carried (cumulative), and the calls waiting for a lane.
type CoalescerCounts struct {
	RoundTrips, Commands uint64
	Waiting              int
}

// ObserveRedisCoalescer reports read() at every collection as
// onboarding.redis.coalescer.{round_trips,commands} (counters; their ratio
// is the mean batch) and onboarding.redis.coalescer.waiting (gauge: calls
// queued because every lane was busy). read must be safe for concurrent use.
func (i *Instruments) ObserveRedisCoalescer(read func() CoalescerCounts) error {
	trips, err := i.meter.Int64ObservableCounter(MetricRedisRoundTrips, metric.WithUnit("{round_trip}"),
		metric.WithDescription("Round trips the Redis coalescer sent (consent-text reads, OTP scripts)."))
	if err != nil {
		return fmt.Errorf("telemetry: creating the Redis round-trip counter: %w", err)
	}
	cmds, err := i.meter.Int64ObservableCounter(MetricRedisCoalescedCommands, metric.WithUnit("{command}"),
		metric.WithDescription("Commands those round trips carried; commands over round trips is the mean batch."))
	if err != nil {
		return fmt.Errorf("telemetry: creating the Redis command counter: %w", err)
	}
	waiting, err := i.meter.Int64ObservableGauge(MetricRedisWaiting, metric.WithUnit("{call}"),
		metric.WithDescription("Calls waiting for a free Redis lane (ONBOARDING_REDIS_LANES all busy)."))
	if err != nil {
		return fmt.Errorf("telemetry: creating the Redis waiting gauge: %w", err)
	}
	_, err = i.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		c := read()
		o.ObserveInt64(trips, clampInt64(c.RoundTrips))
		o.ObserveInt64(cmds, clampInt64(c.Commands))
		o.ObserveInt64(waiting, int64(c.Waiting))
		return nil
	}, trips, cmds, waiting)
	if err != nil {
		return fmt.Errorf("telemetry: registering the Redis coalescer metrics: %w", err)
	}
	return nil
}

// ObserveOTPOwedOutcomes reports, as a gauge read at each collection, the
// OTP outcomes this replica could not write to Redis yet: while it is above
// zero, other replicas answer a retry of those codes as still in flight.
// It rises during a Redis outage and must fall within seconds of Redis
// answering again; one that stays up means Redis refuses the writes.
func (i *Instruments) ObserveOTPOwedOutcomes(read func() int64) error {
	owed, err := i.meter.Int64ObservableGauge(MetricOTPOwedOutcomes, metric.WithUnit("{outcome}"),
		metric.WithDescription("OTP send outcomes this replica owes Redis (finished while Redis could not be written)."))
	if err != nil {
		return fmt.Errorf("telemetry: creating the owed OTP outcomes gauge: %w", err)
	}
	_, err = i.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(owed, read())
		return nil
	}, owed)
	if err != nil {
		return fmt.Errorf("telemetry: registering the owed OTP outcomes gauge: %w", err)
	}
	return nil
}

// maxLabelSets bounds how many label combinations a labelSets keeps; the
// labels are closed sets (a few dozen combinations), so the bound is never
// reached unless a caller passes unbounded values, which then cost a set
// per measurement instead of memory.
const maxLabelSets = 512

// labelSets caches the measurement options of a counter per combination
// of up to three label values. Reads are lock-free (a copy-on-write map
// behind an atomic pointer); a new combination copies the map once.
type labelSets struct {
	names [3]string
	mu    sync.Mutex
	sets  atomic.Pointer[map[[3]string][]metric.AddOption]
}

func newLabelSets(names ...string) *labelSets {
	l := &labelSets{}
	copy(l.names[:], names)
	return l
}

// options returns the options carrying the attribute set of the values
// (v2 is ignored for a two-label counter).
func (l *labelSets) options(v0, v1, v2 string) []metric.AddOption {
	key := [3]string{v0, v1, v2}
	if m := l.sets.Load(); m != nil {
		if o, ok := (*m)[key]; ok {
			return o
		}
	}
	kvs := make([]attribute.KeyValue, 0, len(l.names))
	for n, name := range l.names {
		if name != "" {
			kvs = append(kvs, attribute.String(name, key[n]))
		}
	}
	o := addOptions(kvs...)
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.sets.Load()
	if old != nil && len(*old) >= maxLabelSets {
		return o
	}
	m := make(map[[3]string][]metric.AddOption, 1+lenOf(old))
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	m[key] = o
	l.sets.Store(&m)
	return o
}

func lenOf(m *map[[3]string][]metric.AddOption) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// addOptions is the option list of one attribute set, ready for Add.
func addOptions(kvs ...attribute.KeyValue) []metric.AddOption {
	return []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(kvs...))}
}

func clampInt64(v uint64) int64 {
	if v > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(v)
}

// start opens the span of one driven-port call, unless the span in ctx is
// not recording: then it returns ctx as it is and a no-op span, so the
// call costs no span, no ids and no context. A child of a non-recording
// span is never recorded with this service's samplers (they follow the
// parent, and only a request's server span starts a trace), so nothing is
// lost; the trace context in ctx still reaches the logs and the driver
// spans below. Callers set attributes only when span.IsRecording().
func (i *Instruments) start(ctx context.Context, name string) (context.Context, trace.Span) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, i.none
	}
	return i.tracer.Start(ctx, name, i.spanOpts...)
}

// end closes a span with the call's error, recorded by its domain code
// (error.type) and, for failures of the service rather than answers about
// the request (unavailable, internal), the Error status with the domain
// error's safe message. The error text itself is never recorded: a driver
// error can quote values.
func end(span trace.Span, err error) {
	if err != nil {
		markError(span, err)
	}
	span.End()
}

// markError records err on span as end describes.
func markError(span trace.Span, err error) {
	code := domain.CodeOf(err)
	span.SetAttributes(AttrErrorType.String(string(code)))
	if !Failure(code) {
		return
	}
	msg := "internal error"
	if de, ok := domain.AsError(err); ok && de.Message != "" {
		msg = de.Message
	}
	span.SetStatus(codes.Error, msg)
}

// Failure reports whether an error code means the service failed (the
// span status Error, a 5xx) rather than answered a bad or unknown request.
func Failure(code domain.ErrorCode) bool {
	switch code {
	case domain.CodeInvalid, domain.CodeNotFound, domain.CodeNotEligible, domain.CodeConflict, "":
		return false
	}
	return true
}

// ReasonLabel bounds a reason code for a metric label: "none" for no
// reason, the code when it looks like one, "OTHER" otherwise, so a
// malformed code can never add series.
func ReasonLabel(code string) string {
	switch {
	case code == "":
		return "none"
	case len(code) <= maxReasonLabelLength && domain.ValidReasonCode(code):
		return code
	}
	return "OTHER"
}
