package sms

import (
	"fmt"
	"strings"

	"github.com/bankkit/onboarding-adapter/ports"
)

// NewSender builds the sender cfg.Provider names: the development
// LogSender (the default), or Twilio or the HTTP webhook, each wrapped in
// Resilient. The error names the variable of the first invalid setting
// (all of them, joined, where several are wrong).
func NewSender(cfg Config, opts Options) (ports.SMSSender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch strings.ToLower(strings.TrimSpace(cfg.Provider)) {
	case "", ProviderLog:
		return NewLogSender(opts.Logger), nil
	case ProviderTwilio:
		opts.Resilience = cfg.Resilience
		return NewTwilioSender(cfg.Twilio, opts)
	case ProviderHTTP:
		opts.Resilience = cfg.Resilience
		return NewHTTPSender(cfg.HTTP, opts)
	}
	return nil, fmt.Errorf("%s: unknown provider %q", EnvProvider, cfg.Provider)
}
