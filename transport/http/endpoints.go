package httptransport

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-kit/kit/endpoint"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

// Endpoint names, the label Config.EndpointMiddleware receives for each
// route (span names, metric labels, dashboards).
const (
	EndpointUserLookup     = "user_lookup"
	EndpointClientApprove  = "client_approve"
	EndpointClientEvaluate = "client_evaluate"
	EndpointOTPSend        = "otp_send"
	EndpointConsentStorage = "consent_storage"
	EndpointConsentText    = "consent_text"
	EndpointProcessEvent   = "process_event"
)

// typed adapts a function of the ports request type to a go-kit endpoint.
// A request of another type is a wiring bug: an internal error, not a panic.
func typed[Req any](f func(context.Context, Req) (any, error)) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req, ok := request.(Req)
		if !ok {
			return nil, fmt.Errorf("endpoint got a %T, want %T", request, req)
		}
		return f(ctx, req)
	}
}

// lookupResponse is the answer of /user/lookup. consentRequired is
// deprecated but kept in sync, as DESIGN.md states: true exactly when the
// consent is REQUIRED. (It was true for NOT_EVALUATED too, so with consent
// handling turned off a caller reading only the boolean showed a consent
// screen, and failed at /consent/text when no text was published.)
type lookupResponse struct {
	UserID          string  `json:"userId"`
	Consent         *string `json:"consent"`
	ConsentRequired bool    `json:"consentRequired"`
}

// errNoUserID guards the caller's trap: a 200 from lookup without a userId
// crashes the Onboarding Server.
var errNoUserID = errors.New("lookup service returned no userId")

func toLookupResponse(res ports.LookupResult) (lookupResponse, error) {
	if res.UserID == "" {
		return lookupResponse{}, errNoUserID
	}
	out := lookupResponse{UserID: res.UserID, ConsentRequired: res.Consent == ports.ConsentRequired}
	switch res.Consent {
	case ports.ConsentRequired, ports.ConsentNotRequired, ports.ConsentNotEvaluated:
		consent := res.Consent
		out.Consent = &consent
	}
	return out, nil
}

// MakeLookupEndpoint returns the endpoint of POST /user/lookup; it takes a
// ports.LookupRequest.
func MakeLookupEndpoint(svc ports.LookupService) endpoint.Endpoint {
	return typed(func(ctx context.Context, req ports.LookupRequest) (any, error) {
		res, err := svc.Lookup(ctx, req)
		if err != nil {
			return nil, err
		}
		return toLookupResponse(res)
	})
}

// decisionResponse is the answer of /client/approve and /client/evaluate;
// resultReason is null when the decision has no reason.
type decisionResponse struct {
	Result       string  `json:"result"`
	ResultReason *string `json:"resultReason"`
}

func toDecisionResponse(d domain.Decision) (decisionResponse, error) {
	// Callers fail on an unknown enum value; never send one.
	if !d.Result.Valid() {
		return decisionResponse{}, fmt.Errorf("decision has invalid result %q", d.Result)
	}
	out := decisionResponse{Result: string(d.Result)}
	if reason := d.ResultReason(); reason != "" {
		out.ResultReason = &reason
	}
	return out, nil
}

// MakeApproveEndpoint returns the endpoint of POST /client/approve; it
// takes a ports.ApprovalRequest.
func MakeApproveEndpoint(svc ports.ApprovalService) endpoint.Endpoint {
	return typed(func(ctx context.Context, req ports.ApprovalRequest) (any, error) {
		d, err := svc.Approve(ctx, req)
		if err != nil {
			return nil, err
		}
		return toDecisionResponse(d)
	})
}

// MakeEvaluateEndpoint returns the endpoint of POST /client/evaluate; it
// takes a ports.EvaluationRequest.
func MakeEvaluateEndpoint(svc ports.EvaluationService) endpoint.Endpoint {
	return typed(func(ctx context.Context, req ports.EvaluationRequest) (any, error) {
		d, err := svc.Evaluate(ctx, req)
		if err != nil {
			return nil, err
		}
		return toDecisionResponse(d)
	})
}

// otpSendResponse is the answer of /otp/send. A failed delivery is a
// business outcome (otpSent:false), not an error.
type otpSendResponse struct {
	OTPSent bool `json:"otpSent"`
}

// MakeOTPSendEndpoint returns the endpoint of POST /otp/send; it takes a
// ports.OTPRequest.
func MakeOTPSendEndpoint(svc ports.OTPService) endpoint.Endpoint {
	return typed(func(ctx context.Context, req ports.OTPRequest) (any, error) {
		res, err := svc.SendOTP(ctx, req)
		if err != nil {
			return nil, err
		}
		return otpSendResponse{OTPSent: res.Sent}, nil
	})
}

// emptyResponse is the {} of /consent/storage and /process/event.
type emptyResponse struct{}

// MakeConsentStorageEndpoint returns the endpoint of POST /consent/storage;
// it takes a ports.ConsentStorageRequest and answers only once the service
// has stored the record.
func MakeConsentStorageEndpoint(svc ports.ConsentService) endpoint.Endpoint {
	return typed(func(ctx context.Context, req ports.ConsentStorageRequest) (any, error) {
		if _, err := svc.StoreConsent(ctx, req); err != nil {
			return nil, err
		}
		return emptyResponse{}, nil
	})
}

// consentTextResponse is the answer of /consent/text.
type consentTextResponse struct {
	ConsentText string `json:"consentText"`
}

// MakeConsentTextEndpoint returns the endpoint of POST /consent/text; it
// takes a ports.ConsentTextRequest.
func MakeConsentTextEndpoint(svc ports.ConsentService) endpoint.Endpoint {
	return typed(func(ctx context.Context, req ports.ConsentTextRequest) (any, error) {
		t, err := svc.ConsentText(ctx, req)
		if err != nil {
			return nil, err
		}
		return consentTextResponse{ConsentText: t.HTML}, nil
	})
}

// MakeProcessEventEndpoint returns the endpoint of POST /process/event; it
// takes a ports.ProcessEventRequest.
func MakeProcessEventEndpoint(svc ports.ProcessEventService) endpoint.Endpoint {
	return typed(func(ctx context.Context, req ports.ProcessEventRequest) (any, error) {
		if err := svc.RecordEvent(ctx, req); err != nil {
			return nil, err
		}
		return emptyResponse{}, nil
	})
}
