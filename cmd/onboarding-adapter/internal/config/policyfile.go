package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/domain/policy"
)

// LoadPolicy reads the policy YAML at path over the defaults; an empty path
// gives the defaults. Keys absent from the file keep their default; an
// unknown key or a bad value fails, naming it.
func LoadPolicy(path string) (policy.Policy, error) {
	if path == "" {
		p := policy.Default()
		return p, p.Validate()
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return policy.Policy{}, fmt.Errorf("%sPOLICY_FILE: %w", Prefix, err)
	}
	p, err := ParsePolicy(b)
	if err != nil {
		return policy.Policy{}, fmt.Errorf("%sPOLICY_FILE %s: %w", Prefix, path, err)
	}
	return p, nil
}

// ParsePolicy decodes policy YAML over the defaults and validates it.
func ParsePolicy(b []byte) (policy.Policy, error) {
	def := toDTO(policy.Default())
	d := def
	// Templates are decoded on their own and laid over the defaults per
	// (type, language): a bank adding German must not lose English.
	d.OTP.Templates = nil
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&d); err != nil && !errors.Is(err, io.EOF) {
		return policy.Policy{}, fmt.Errorf("policy: %w", err)
	}
	for t, byLang := range d.OTP.Templates {
		if def.OTP.Templates[t] == nil {
			def.OTP.Templates[t] = map[string]string{}
		}
		for l, text := range byLang {
			def.OTP.Templates[t][l] = text
		}
	}
	d.OTP.Templates = def.OTP.Templates
	p, err := d.toPolicy()
	if err != nil {
		return policy.Policy{}, err
	}
	if err := p.Validate(); err != nil {
		return policy.Policy{}, err
	}
	return p, nil
}

type policyDTO struct {
	Lookup struct {
		Schemes  [][]string `yaml:"schemes"`
		NotFound string     `yaml:"notFound"`
	} `yaml:"lookup"`
	Decision struct {
		RejectBelow    float64 `yaml:"rejectBelow"`
		ApproveFrom    float64 `yaml:"approveFrom"`
		WaitSupported  bool    `yaml:"waitSupported"`
		ReviewFallback string  `yaml:"reviewFallback"`
		KeepEvidence   bool    `yaml:"keepEvidence"`
	} `yaml:"decision"`
	Evaluation struct {
		PrimaryDocumentTypes []string `yaml:"primaryDocumentTypes"`
		MinimumAge           int      `yaml:"minimumAge"`
		NameWaitDistance     int      `yaml:"nameWaitDistance"`
		NationalityAllow     []string `yaml:"nationalityAllow"`
		NationalityDeny      []string `yaml:"nationalityDeny"`
		WithoutDocumentData  string   `yaml:"withoutDocumentData"`
		TimeZone             string   `yaml:"timeZone"`
	} `yaml:"evaluation"`
	OTP struct {
		DefaultLanguage string                       `yaml:"defaultLanguage"`
		Templates       map[string]map[string]string `yaml:"templates"`
		SenderID        string                       `yaml:"senderId"`
		SenderIDs       map[string]string            `yaml:"senderIds"`
		ThrottleLimit   int                          `yaml:"throttleLimit"`
		ThrottleWindow  string                       `yaml:"throttleWindow"`
		PhoneLimit      int                          `yaml:"phoneThrottleLimit"`
		PhoneWindow     string                       `yaml:"phoneThrottleWindow"`
		DedupeWindow    string                       `yaml:"dedupeWindow"`
		MaxSegments     int                          `yaml:"maxSegments"`
		CodeMaxLength   int                          `yaml:"codeMaxLength"`
	} `yaml:"otp"`
	Consent struct {
		Enabled         bool     `yaml:"enabled"`
		RequiredTypes   []string `yaml:"requiredTypes"`
		DefaultLanguage string   `yaml:"defaultLanguage"`
		MaxTextBytes    int      `yaml:"maxTextBytes"`
	} `yaml:"consent"`
	Review struct {
		Retention    string `yaml:"retention"`
		RequireClaim bool   `yaml:"requireClaim"`
		FourEyes     bool   `yaml:"fourEyes"`
	} `yaml:"review"`
}

func toDTO(p policy.Policy) policyDTO {
	var d policyDTO
	for _, s := range p.Lookup.Schemes {
		keys := make([]string, len(s))
		for i, k := range s {
			keys[i] = string(k)
		}
		d.Lookup.Schemes = append(d.Lookup.Schemes, keys)
	}
	d.Lookup.NotFound = string(p.Lookup.NotFound)
	d.Decision.RejectBelow = p.Decision.RejectBelow
	d.Decision.ApproveFrom = p.Decision.ApproveFrom
	d.Decision.WaitSupported = p.Decision.WaitSupported
	d.Decision.ReviewFallback = string(p.Decision.ReviewFallback)
	d.Decision.KeepEvidence = p.Decision.KeepEvidence
	e := p.Evaluation
	d.Evaluation.PrimaryDocumentTypes = e.PrimaryDocumentTypes
	d.Evaluation.MinimumAge = e.MinimumAge
	d.Evaluation.NameWaitDistance = e.NameWaitDistance
	d.Evaluation.NationalityAllow = e.NationalityAllow
	d.Evaluation.NationalityDeny = e.NationalityDeny
	d.Evaluation.WithoutDocumentData = string(e.WithoutDocumentData)
	d.Evaluation.TimeZone = e.TimeZone
	o := p.OTP
	d.OTP.DefaultLanguage = o.DefaultLanguage
	d.OTP.Templates = map[string]map[string]string{}
	for t, byLang := range o.Templates {
		m := map[string]string{}
		for l, text := range byLang {
			m[l] = text
		}
		d.OTP.Templates[string(t)] = m
	}
	d.OTP.SenderIDs = map[string]string{}
	for l, s := range o.SenderIDs {
		if l == "" {
			d.OTP.SenderID = s
			continue
		}
		d.OTP.SenderIDs[l] = s
	}
	d.OTP.ThrottleLimit = o.ThrottleLimit
	d.OTP.ThrottleWindow = o.ThrottleWindow.String()
	d.OTP.PhoneLimit = o.PhoneThrottleLimit
	d.OTP.PhoneWindow = o.PhoneThrottleWindow.String()
	d.OTP.DedupeWindow = o.DedupeWindow.String()
	d.OTP.MaxSegments = o.MaxSegments
	d.OTP.CodeMaxLength = o.CodeMaxLength
	c := p.Consent
	d.Consent.Enabled = c.Enabled
	d.Consent.RequiredTypes = c.RequiredTypes
	d.Consent.DefaultLanguage = c.DefaultLanguage
	d.Consent.MaxTextBytes = c.MaxTextBytes
	d.Review.Retention = p.Review.Retention.String()
	d.Review.RequireClaim = p.Review.RequireClaim
	d.Review.FourEyes = p.Review.FourEyes
	return d
}

func (d policyDTO) toPolicy() (policy.Policy, error) {
	var p policy.Policy
	var errs []error
	dur := func(key, v string) time.Duration {
		t, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("policy %s: %q is not a duration such as 60s or 15m", key, v))
		}
		return t
	}
	for _, s := range d.Lookup.Schemes {
		keys := make([]domain.IdentificationKey, len(s))
		for i, k := range s {
			keys[i] = domain.IdentificationKey(k)
		}
		p.Lookup.Schemes = append(p.Lookup.Schemes, keys)
	}
	p.Lookup.NotFound = policy.NotFoundAction(d.Lookup.NotFound)
	p.Decision = policy.Decision{
		RejectBelow:    d.Decision.RejectBelow,
		ApproveFrom:    d.Decision.ApproveFrom,
		WaitSupported:  d.Decision.WaitSupported,
		ReviewFallback: domain.Result(d.Decision.ReviewFallback),
		KeepEvidence:   d.Decision.KeepEvidence,
	}
	e := d.Evaluation
	p.Evaluation = policy.Evaluation{
		PrimaryDocumentTypes: e.PrimaryDocumentTypes,
		MinimumAge:           e.MinimumAge,
		NameWaitDistance:     e.NameWaitDistance,
		NationalityAllow:     e.NationalityAllow,
		NationalityDeny:      e.NationalityDeny,
		WithoutDocumentData:  domain.Result(e.WithoutDocumentData),
		TimeZone:             e.TimeZone,
	}
	o := d.OTP
	p.OTP = policy.OTP{
		DefaultLanguage:     o.DefaultLanguage,
		Templates:           map[domain.OTPType]map[string]string{},
		SenderIDs:           map[string]string{"": o.SenderID},
		ThrottleLimit:       o.ThrottleLimit,
		ThrottleWindow:      dur("otp.throttleWindow", o.ThrottleWindow),
		PhoneThrottleLimit:  o.PhoneLimit,
		PhoneThrottleWindow: dur("otp.phoneThrottleWindow", o.PhoneWindow),
		DedupeWindow:        dur("otp.dedupeWindow", o.DedupeWindow),
		MaxSegments:         o.MaxSegments,
		CodeMaxLength:       o.CodeMaxLength,
	}
	for t, byLang := range o.Templates {
		p.OTP.Templates[domain.OTPType(t)] = byLang
	}
	for l, s := range o.SenderIDs {
		p.OTP.SenderIDs[l] = s
	}
	p.Consent = policy.Consent{
		Enabled:         d.Consent.Enabled,
		RequiredTypes:   d.Consent.RequiredTypes,
		DefaultLanguage: d.Consent.DefaultLanguage,
		MaxTextBytes:    d.Consent.MaxTextBytes,
	}
	p.Review = policy.Review{
		Retention:    dur("review.retention", d.Review.Retention),
		RequireClaim: d.Review.RequireClaim,
		FourEyes:     d.Review.FourEyes,
	}
	return p, errors.Join(errs...)
}

// DefaultPolicyYAML renders the default policy as YAML, the starting point
// for a bank's own file (printed by `onboarding-adapter policy`).
func DefaultPolicyYAML() ([]byte, error) {
	return yaml.Marshal(toDTO(policy.Default()))
}
