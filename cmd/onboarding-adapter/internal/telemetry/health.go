package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/bankkit/onboarding-adapter/domain"
)

// Readiness metric names.
const (
	MetricReady        = "onboarding.ready"
	MetricDependencyUp = "onboarding.dependency.up"
)

// readinessStale is how old the last check may be before a metrics
// collection runs a fresh one (probes usually keep it fresher), and
// readinessTimeout bounds that check.
const (
	readinessStale   = 10 * time.Second
	readinessTimeout = time.Second
)

// readinessFresh is how long a check's answer is given to the probes that
// follow it. The admin listener takes no credentials for /readyz, so
// without it every request would ping PostgreSQL through the API's own
// pool and Redis through its breaker: a burst of probes from any pod that
// reaches the port could starve the API. Kubelet probes come seconds
// apart, so a second-old answer changes nothing for them.
const readinessFresh = time.Second

// readinessPingTimeout bounds one round of pings, whoever started it: below
// the admin listener's 2 s per probe (transport/http.DefaultReadyTimeout),
// so a probe waiting for a hung database gets the adapter's answer, not
// its own time-out.
const readinessPingTimeout = 1500 * time.Millisecond

// ErrDraining is the readiness answer once shutdown has begun: the load
// balancer stops sending before the listener closes. Its message is what
// /readyz shows.
var ErrDraining = domain.Unavailable(nil, "shutting down")

// Dependency is one thing readiness looks at.
type Dependency struct {
	// Name labels the dependency (postgres, redis) in logs and metrics.
	Name string
	// Required dependencies decide readiness; the others (Redis, which the
	// adapters can do without) only degrade it: their failure is logged
	// and shown by onboarding.dependency.up, and the replica stays ready.
	Required bool
	// Ping returns nil when the dependency answers.
	Ping func(ctx context.Context) error
}

// Readiness answers /readyz and feeds the onboarding.ready and
// onboarding.dependency.up gauges. It is safe for concurrent use.
type Readiness struct {
	deps     []Dependency
	logger   *slog.Logger
	draining atomic.Bool
	now      func() time.Time

	mu      sync.Mutex
	checked time.Time
	ready   bool
	up      map[string]bool
	logged  map[string]bool // last up state logged per optional dependency

	// The pings in flight, shared by the probes arriving meanwhile, and
	// the last answer with when it was given (see readinessFresh).
	flight   sync.Mutex
	pending  *readinessCall
	answered time.Time
	answer   error
}

// readinessCall is one round of pings; done closes when err is set.
type readinessCall struct {
	done chan struct{}
	err  error
}

// NewReadiness returns the readiness of the given dependencies; with none
// (the in-memory default) the service is ready until it drains.
func NewReadiness(logger *slog.Logger, deps ...Dependency) *Readiness {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Readiness{deps: deps, logger: logger, now: time.Now, up: map[string]bool{}, logged: map[string]bool{}}
}

// Drain turns readiness false for good: call it at the start of shutdown.
func (r *Readiness) Drain() { r.draining.Store(true) }

// Check returns nil when the service may take traffic: not draining and
// every required dependency up. It pings every dependency concurrently,
// once for all the probes arriving while it does, and gives that answer
// for readinessFresh to the probes that follow; draining answers at once.
// A failing optional dependency is logged once when it goes down and once
// when it is back.
func (r *Readiness) Check(ctx context.Context) error {
	if r.draining.Load() {
		r.record(false, nil)
		return ErrDraining
	}
	r.flight.Lock()
	if !r.answered.IsZero() && r.now().Sub(r.answered) < readinessFresh {
		err := r.answer
		r.flight.Unlock()
		return err
	}
	c := r.pending
	if c == nil {
		c = &readinessCall{done: make(chan struct{})}
		r.pending = c
		// The pings serve every probe waiting on them, so the one that
		// started them neither cancels them nor sets their time.
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readinessPingTimeout)
		go func() {
			defer cancel()
			err := r.ping(pctx)
			r.flight.Lock()
			c.err, r.pending = err, nil
			r.answered, r.answer = r.now(), err
			r.flight.Unlock()
			close(c.done)
		}()
	}
	r.flight.Unlock()
	select {
	case <-c.done:
		if r.draining.Load() {
			return ErrDraining
		}
		return c.err
	case <-ctx.Done():
		return domain.Unavailable(ctx.Err(), "readiness check timed out")
	}
}

// ping runs one round of pings and records its outcome.
func (r *Readiness) ping(ctx context.Context) error {
	errs := make([]error, len(r.deps))
	var wg sync.WaitGroup
	for n, d := range r.deps {
		wg.Go(func() { errs[n] = d.Ping(ctx) })
	}
	wg.Wait()
	up := make(map[string]bool, len(r.deps))
	var failed []error
	for n, d := range r.deps {
		up[d.Name] = errs[n] == nil
		if errs[n] != nil && d.Required {
			failed = append(failed, fmt.Errorf("%s: %w", d.Name, errs[n]))
		}
		if !d.Required {
			r.logTransition(ctx, d.Name, errs[n])
		}
	}
	if r.draining.Load() {
		r.record(false, up)
		return ErrDraining
	}
	r.record(len(failed) == 0, up)
	if len(failed) == 1 {
		return failed[0]
	}
	return errors.Join(failed...)
}

func (r *Readiness) record(ready bool, up map[string]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checked, r.ready = r.now(), ready
	for k, v := range up {
		r.up[k] = v
	}
}

// logTransition logs an optional dependency going down or coming back,
// once per change, so a Redis outage is one warning, not one per probe.
func (r *Readiness) logTransition(ctx context.Context, name string, err error) {
	r.mu.Lock()
	was, seen := r.logged[name]
	now := err == nil
	r.logged[name] = now
	r.mu.Unlock()
	switch {
	case !now && (was || !seen):
		r.logger.LogAttrs(ctx, slog.LevelWarn, "dependency unavailable: serving degraded, still ready",
			slog.String("dependency", name), slog.String("error", err.Error()))
	case now && seen && !was:
		r.logger.LogAttrs(ctx, slog.LevelInfo, "dependency available again", slog.String("dependency", name))
	}
}

// state returns the last result, checking again when it is older than
// readinessStale.
func (r *Readiness) state(ctx context.Context) (bool, map[string]bool) {
	r.mu.Lock()
	stale := r.now().Sub(r.checked) > readinessStale
	r.mu.Unlock()
	if stale || r.draining.Load() {
		cctx, cancel := context.WithTimeout(ctx, readinessTimeout)
		_ = r.Check(cctx)
		cancel()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	up := make(map[string]bool, len(r.up))
	for k, v := range r.up {
		up[k] = v
	}
	return r.ready, up
}

// ObserveReadiness registers onboarding.ready (1 ready, 0 not) and
// onboarding.dependency.up{dependency} (1 up, 0 down) on t's meter
// provider.
func (t *Telemetry) ObserveReadiness(r *Readiness) error {
	meter := t.mp.Meter(ScopeName)
	ready, err := meter.Int64ObservableGauge(MetricReady,
		metric.WithDescription("1 while the replica is ready for traffic (required dependencies up, not shutting down), else 0."))
	if err != nil {
		return fmt.Errorf("creating %s: %w", MetricReady, err)
	}
	depUp, err := meter.Int64ObservableGauge(MetricDependencyUp,
		metric.WithDescription("1 while the dependency answered its last readiness ping, else 0; Redis at 0 means degraded, still ready."))
	if err != nil {
		return fmt.Errorf("creating %s: %w", MetricDependencyUp, err)
	}
	_, err = meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ok, up := r.state(ctx)
		o.ObserveInt64(ready, boolInt(ok))
		for name, v := range up {
			o.ObserveInt64(depUp, boolInt(v), metric.WithAttributes(attribute.String("dependency", name)))
		}
		return nil
	}, ready, depUp)
	if err != nil {
		return fmt.Errorf("registering the readiness gauges: %w", err)
	}
	return nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
