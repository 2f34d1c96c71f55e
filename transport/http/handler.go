package httptransport

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/go-kit/kit/endpoint"
	kithttp "github.com/go-kit/kit/transport/http"
)

// api holds what the rings and go-kit servers share.
type api struct {
	cfg      Config
	log      *slog.Logger
	creds    []credentialDigest
	inFlight atomic.Int64 // requests inside the in-flight limit ring
	bodies   bodyBudget   // memory held by the bodies of those requests
	// The id headers' names in canonical form, so ring 1 reads and sets
	// them without canonicalising them on every request.
	correlationKey, requestIDKey string
}

// route is one line of the API's route table.
type route struct {
	name     string // endpoint label
	path     string // under the base path
	endpoint endpoint.Endpoint
	decode   kithttp.DecodeRequestFunc
	maxBody  int64
}

// NewHandler builds the HTTP API: the seven POST routes under c.BasePath,
// wrapped in the rings described in the package doc. It fails on an invalid
// configuration or a missing service, naming it.
func NewHandler(s Services, c Config) (http.Handler, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	a := &api{cfg: c, log: c.Logger,
		correlationKey: http.CanonicalHeaderKey(c.CorrelationHeader), requestIDKey: http.CanonicalHeaderKey(c.RequestIDHeader)}
	a.bodies.limit, a.bodies.image = c.MaxInFlightBodyBytes, c.MaxImageBodyBytes
	for _, cr := range c.Credentials {
		a.creds = append(a.creds, credentialDigest{user: sha256.Sum256([]byte(cr.Username)), pass: sha256.Sum256([]byte(cr.Password))})
	}

	routes := []route{
		{EndpointUserLookup, "/user/lookup", MakeLookupEndpoint(s.Lookup), decodeLookupRequest, c.MaxBodyBytes},
		{EndpointClientApprove, "/client/approve", MakeApproveEndpoint(s.Approval), decodeApproveRequest, c.MaxImageBodyBytes},
		{EndpointClientEvaluate, "/client/evaluate", MakeEvaluateEndpoint(s.Evaluation), decodeEvaluateRequest, c.MaxImageBodyBytes},
		{EndpointOTPSend, "/otp/send", MakeOTPSendEndpoint(s.OTP), decodeOTPSendRequest, c.MaxBodyBytes},
		{EndpointConsentStorage, "/consent/storage", MakeConsentStorageEndpoint(s.Consent), decodeConsentStorageRequest, c.MaxBodyBytes},
		{EndpointConsentText, "/consent/text", MakeConsentTextEndpoint(s.Consent), decodeConsentTextRequest, c.MaxBodyBytes},
		{EndpointProcessEvent, "/process/event", MakeProcessEventEndpoint(s.Events), decodeProcessEventRequest, c.MaxBodyBytes},
	}
	handlers := make([]pathHandler, 0, len(routes))
	for _, rt := range routes {
		handlers = append(handlers, pathHandler{c.BasePath + rt.path, a.server(rt)})
	}

	// The rings, innermost first; the package doc lists them outermost first.
	var h http.Handler = newJSONMux(handlers) // 5: router
	// 4: the deadline, set by ring 1 (withRequestScope).
	if len(a.creds) > 0 {
		h = a.withBasicAuth(h) // 3: basic auth
	}
	h = a.withRecover(h)       // 2: recover
	h = a.withInFlightLimit(h) // 1b: load shedding
	h = a.withRequestScope(h)  // 1: ids, headers, access log, deadline
	return h, nil
}

// server builds the go-kit server of one route (rings 6 and 7). It has no
// ServerFinalizer: ring 1's statusWriter already knows the status and size
// for the access log, and a finalizer costs every request a wrapped writer
// and two context values.
func (a *api) server(rt route) *kithttp.Server {
	ep := rt.endpoint
	if a.cfg.EndpointMiddleware != nil {
		if mw := a.cfg.EndpointMiddleware(rt.name); mw != nil {
			ep = mw(ep)
		}
	}
	return kithttp.NewServer(recoverEndpoint(ep), recoverDecoder(rt.decode), encodeResponse,
		kithttp.ServerBefore(withBodyLimit(rt.maxBody)),
		kithttp.ServerErrorEncoder(a.encodeError),
	)
}

// encodeResponse is the go-kit response encoder of every route: the
// endpoint's response DTO as a 200 JSON body.
func encodeResponse(_ context.Context, w http.ResponseWriter, response any) error {
	return writeJSON(w, http.StatusOK, response)
}
