package telemetry

import (
	"context"
	"net/http"
	"net/url"
)

// redactedQueryValue replaces each query value the instrumentation sees.
const redactedQueryValue = "REDACTED"

// HideURLQuery returns a transport that hands instrument's transport (the
// HTTP client instrumentation, otelhttp) requests whose URL query values
// are replaced by REDACTED, while base, below it, sends the real query.
// otelhttp records url.full whole, and a gateway's URL may carry an API key
// in its query (a generic SMS webhook often does): secrets never reach
// traces. The query's keys stay, for debugging.
func HideURLQuery(base http.RoundTripper, instrument func(http.RoundTripper) http.RoundTripper) http.RoundTripper {
	return hideQuery{next: instrument(restoreQuery{next: base})}
}

type realQueryKey struct{}

// hideQuery passes on a copy of the request with its query redacted and
// the real one in its context.
type hideQuery struct{ next http.RoundTripper }

func (h hideQuery) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL == nil || r.URL.RawQuery == "" {
		return h.next.RoundTrip(r)
	}
	hidden := r.Clone(context.WithValue(r.Context(), realQueryKey{}, r.URL.RawQuery))
	hidden.URL.RawQuery = redactQuery(r.URL.RawQuery)
	return h.next.RoundTrip(hidden)
}

// restoreQuery sends a copy of the request with the real query back.
type restoreQuery struct{ next http.RoundTripper }

func (rq restoreQuery) RoundTrip(r *http.Request) (*http.Response, error) {
	q, ok := r.Context().Value(realQueryKey{}).(string)
	if !ok {
		return rq.next.RoundTrip(r)
	}
	sent := r.Clone(r.Context())
	sent.URL.RawQuery = q
	return rq.next.RoundTrip(sent)
}

// redactQuery replaces every value of a raw query (the whole query when it
// does not parse).
func redactQuery(raw string) string {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return redactedQueryValue
	}
	for k := range q {
		q[k] = []string{redactedQueryValue}
	}
	return q.Encode()
}
