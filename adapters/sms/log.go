package sms

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"unicode/utf8"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

var _ ports.SMSSender = (*LogSender)(nil)

// LogSender is the development gateway (ONBOARDING_SMS_PROVIDER=log): it
// sends nothing and logs that it would have, so the whole OTP flow runs on a
// laptop. It logs the masked recipient and the message's shape, never the
// text: the text holds the code, and development logs get shared.
type LogSender struct {
	logger *slog.Logger
}

// NewLogSender returns a sender logging to logger (slog.Default() if nil).
func NewLogSender(logger *slog.Logger) *LogSender {
	if logger == nil {
		logger = slog.Default()
	}
	return &LogSender{logger: logger}
}

// SendSMS logs the message's metadata and reports it sent with a fresh
// message id. A message without a recipient fails permanently, as a real
// gateway would refuse it; a cancelled context fails transiently.
func (s *LogSender) SendSMS(ctx context.Context, sms domain.SMS) (domain.SendResult, error) {
	if err := ctx.Err(); err != nil {
		return domain.SendResult{Outcome: domain.OTPFailedTransient, Detail: "cancelled before sending", NotSubmitted: true}, err
	}
	if sms.To == "" {
		return domain.SendResult{Outcome: domain.OTPFailedPermanent, Detail: "no recipient", NotSubmitted: true}, errors.New("log sender: message has no recipient")
	}
	enc, segments := sms.Encoding, sms.Segments
	if enc == "" || segments == 0 {
		enc, segments = domain.MeasureSMS(sms.Text)
	}
	id := newMessageID()
	s.logger.LogAttrs(ctx, slog.LevelInfo, "sms logged, not sent (development sender)",
		slog.String("to", domain.MaskPhone(sms.To)),
		slog.String("sender_id", sms.SenderID),
		slog.String("encoding", string(enc)),
		slog.Int("segments", segments),
		slog.Int("length", utf8.RuneCountInString(sms.Text)),
		slog.String("reference", sms.Reference),
		slog.String("message_id", id),
	)
	return domain.SendResult{Outcome: domain.OTPSent, MessageID: id, Detail: "logged"}, nil
}

// newMessageID returns a random id in the shape gateways use, so logs and
// metrics look the same as in production.
func newMessageID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "log-" + hex.EncodeToString(b[:])
}
