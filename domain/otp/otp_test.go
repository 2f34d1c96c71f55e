package otp_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/domain/otp"
	"github.com/bankkit/onboarding-adapter/domain/policy"
	"github.com/bankkit/onboarding-adapter/ports"
)

var now = time.Date(2025, 6, 15, 10, 0, 0, 0, time.UTC)

var key = []byte("0123456789abcdef-test-hmac-key")

var (
	jana = domain.Client{
		UserID: "u-jana", ClientNumber: "1000001", BirthDate: domain.MustDate("1985-04-12"),
		GivenNames: "Jana", Surname: "Nováková", PersonalNumber: "8554121234",
		Phone: "+420777123456", Nationality: "CZE", Status: domain.StatusActive,
	}
	noPhone  = domain.Client{UserID: "u-nophone", ClientNumber: "1000005", Status: domain.StatusActive}
	badPhone = domain.Client{UserID: "u-badphone", ClientNumber: "1000006", Phone: "777123456", Status: domain.StatusActive}
	spaced   = domain.Client{UserID: "u-spaced", ClientNumber: "1000007", Phone: "00420 777 123 457", Status: domain.StatusActive}
	// janasNumber is another user (a prospect registered with it) with
	// Jana's phone number, written another way.
	janasNumber = domain.Client{UserID: "u-janas-number", Phone: "+420 777 123 456", Status: domain.StatusProspect}
)

// sender is a gateway double that counts and keeps what it was given. A
// non-nil gate makes every send wait for it, to hold a send in flight.
type sender struct {
	mu     sync.Mutex
	sent   []domain.SMS
	result domain.SendResult
	err    error
	gate   chan struct{}
	hook   func(ctx context.Context) // runs inside SendSMS
}

func (s *sender) SendSMS(ctx context.Context, sms domain.SMS) (domain.SendResult, error) {
	if s.gate != nil {
		<-s.gate
	}
	if s.hook != nil {
		s.hook(ctx)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, sms)
	if s.result.Outcome == "" && s.err == nil {
		return domain.SendResult{Outcome: domain.OTPSent, MessageID: "m-" + strconv.Itoa(len(s.sent))}, nil
	}
	return s.result, s.err
}

func (s *sender) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sent)
}

func (s *sender) last() domain.SMS {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent[len(s.sent)-1]
}

type fixture struct {
	svc    ports.OTPService
	sender *sender
	guard  *memory.OTPGuard
	clock  *memory.FakeClock
}

func newFixture(t testing.TB, p policy.OTP) fixture {
	t.Helper()
	clock := memory.NewFakeClock(now)
	f := fixture{sender: &sender{}, guard: memory.NewOTPGuard(clock), clock: clock}
	reg := memory.NewClientRegistry(memory.NewSequenceIDs("u"), jana, noPhone, badPhone, spaced)
	f.svc = otp.New(reg, f.guard, f.guard, f.sender, key, p)
	return f
}

func request(code string) ports.OTPRequest {
	return ports.OTPRequest{
		ProcessID: "p-1", ProcessType: "ONBOARDING", UserID: "u-jana", Language: "en",
		Code: code, Type: domain.OTPActivation, Meta: domain.RequestMeta{CorrelationID: "c", RequestID: "r"},
	}
}

func TestSendOTP(t *testing.T) {
	tests := []struct {
		name     string
		mutate   func(*ports.OTPRequest)
		wantText string
		wantEnc  domain.SMSEncoding
		wantTo   string
	}{
		{"english activation", func(*ports.OTPRequest) {}, "Your activation code is 12345678. Never share it with anyone.", domain.EncodingGSM7, "+420777123456"},
		{"czech activation", func(r *ports.OTPRequest) { r.Language = "cs" }, "Váš aktivační kód je 12345678. Nikomu jej nesdělujte.", domain.EncodingUCS2, "+420777123456"},
		{"czech user verification", func(r *ports.OTPRequest) { r.Language, r.Type = "cs", domain.OTPUserVerification },
			"Váš ověřovací kód je 12345678. Nikomu jej nesdělujte.", domain.EncodingUCS2, "+420777123456"},
		{"region subtag", func(r *ports.OTPRequest) { r.Language = "CS-cz" }, "Váš aktivační kód je 12345678. Nikomu jej nesdělujte.", domain.EncodingUCS2, "+420777123456"},
		{"unknown language falls back", func(r *ports.OTPRequest) { r.Language = "de" }, "Your activation code is 12345678. Never share it with anyone.", domain.EncodingGSM7, "+420777123456"},
		{"no language is the default", func(r *ports.OTPRequest) { r.Language = "" }, "Your activation code is 12345678. Never share it with anyone.", domain.EncodingGSM7, "+420777123456"},
		{"registry phone normalised", func(r *ports.OTPRequest) { r.UserID = "u-spaced" }, "Your activation code is 12345678. Never share it with anyone.", domain.EncodingGSM7, "+420777123457"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, policy.Default().OTP)
			r := request("12345678")
			tc.mutate(&r)
			res, err := f.svc.SendOTP(context.Background(), r)
			if err != nil || !res.Sent || res.Outcome != domain.OTPSent || res.Deduped {
				t.Fatalf("SendOTP = %+v, %v", res, err)
			}
			if f.sender.count() != 1 {
				t.Fatalf("sent %d SMS, want 1", f.sender.count())
			}
			sms := f.sender.last()
			if sms.Text != tc.wantText || sms.To != tc.wantTo || sms.Encoding != tc.wantEnc || sms.Segments != 1 || sms.SenderID != "MyBank" {
				t.Errorf("sms = %+v", sms)
			}
			if len(sms.Reference) != 16 || strings.Contains(sms.Reference, "12345678") {
				t.Errorf("reference %q must be 16 hex characters without the code", sms.Reference)
			}
		})
	}
}

func TestSendOTPSenderIDPerLanguage(t *testing.T) {
	p := policy.Default().OTP
	p.SenderIDs = map[string]string{"": "MyBank", "cs": "MojeBanka"}
	f := newFixture(t, p)
	for i, tc := range []struct{ lang, want string }{{"cs", "MojeBanka"}, {"en", "MyBank"}, {"de", "MyBank"}} {
		r := request("1000" + strconv.Itoa(i))
		r.Language = tc.lang
		if _, err := f.svc.SendOTP(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		if got := f.sender.last().SenderID; got != tc.want {
			t.Errorf("language %s: sender id %q, want %q", tc.lang, got, tc.want)
		}
	}
}

func TestSendOTPValidation(t *testing.T) {
	const secret = "98765432"
	tests := []struct {
		name      string
		mutate    func(*ports.OTPRequest)
		wantCode  domain.ErrorCode
		wantField string
		wantMsg   string
	}{
		{"no processId", func(r *ports.OTPRequest) { r.ProcessID = "" }, domain.CodeInvalid, "processId", "is required"},
		{"no userId", func(r *ports.OTPRequest) { r.UserID = " " }, domain.CodeInvalid, "userId", "is required"},
		{"no code", func(r *ports.OTPRequest) { r.Code = "" }, domain.CodeInvalid, "otpCode", ""},
		{"code with a space", func(r *ports.OTPRequest) { r.Code = secret + " " }, domain.CodeInvalid, "otpCode", ""},
		{"code with a symbol", func(r *ports.OTPRequest) { r.Code = secret + "!" }, domain.CodeInvalid, "otpCode", ""},
		{"code with non-ASCII digits", func(r *ports.OTPRequest) { r.Code = "١٢٣٤" }, domain.CodeInvalid, "otpCode", ""},
		{"code too long", func(r *ports.OTPRequest) { r.Code = secret + "98765" }, domain.CodeInvalid, "otpCode", ""},
		{"no otpType", func(r *ports.OTPRequest) { r.Type = "" }, domain.CodeInvalid, "otpType", "must be ACTIVATION or USER_VERIFICATION"},
		{"unknown otpType", func(r *ports.OTPRequest) { r.Type = "LOGIN" }, domain.CodeInvalid, "otpType", "must be ACTIVATION or USER_VERIFICATION"},
		{"unknown user", func(r *ports.OTPRequest) { r.UserID = "u-nobody" }, domain.CodeNotFound, "userId", ""},
		{"no phone", func(r *ports.OTPRequest) { r.UserID = "u-nophone" }, domain.CodeInvalid, "userId", "client has no phone number"},
		{"phone not in international format", func(r *ports.OTPRequest) { r.UserID = "u-badphone" }, domain.CodeInvalid, "userId", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, policy.Default().OTP)
			r := request(secret)
			tc.mutate(&r)
			res, err := f.svc.SendOTP(context.Background(), r)
			de, ok := domain.AsError(err)
			if !ok || de.Code != tc.wantCode || de.Field != tc.wantField {
				t.Fatalf("err = %v, want %s %s", err, tc.wantCode, tc.wantField)
			}
			if tc.wantMsg != "" && de.Message != tc.wantMsg {
				t.Errorf("message = %q, want %q", de.Message, tc.wantMsg)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q echoes the code", err)
			}
			if res.Sent || f.sender.count() != 0 {
				t.Errorf("result %+v, %d SMS sent for an invalid request", res, f.sender.count())
			}
		})
	}
	t.Run("longest code is accepted", func(t *testing.T) {
		f := newFixture(t, policy.Default().OTP)
		if res, err := f.svc.SendOTP(context.Background(), request("AbC123456789")); err != nil || !res.Sent {
			t.Errorf("SendOTP = %+v, %v", res, err)
		}
	})
}

func TestSendOTPThrottle(t *testing.T) {
	f := newFixture(t, policy.Default().OTP)
	ctx := context.Background()
	for i := 1; i <= 6; i++ {
		res, err := f.svc.SendOTP(ctx, request("1000000"+strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		wantSent := i <= 5
		if res.Sent != wantSent || (i == 6 && (res.Outcome != domain.OTPThrottled || res.ThrottledBy != domain.OTPBoundProcess)) {
			t.Errorf("send %d = %+v, want sent=%v", i, res, wantSent)
		}
	}
	if f.sender.count() != 5 {
		t.Errorf("sent %d SMS, want 5", f.sender.count())
	}
	// Another process is not throttled by this one.
	other := request("20000001")
	other.ProcessID = "p-2"
	if res, _ := f.svc.SendOTP(ctx, other); !res.Sent {
		t.Errorf("other process = %+v, want sent", res)
	}
	// The throttled code itself is answered as throttled again (dedupe)…
	if res, _ := f.svc.SendOTP(ctx, request("10000006")); res.Sent || res.Outcome != domain.OTPThrottled || !res.Deduped || res.ThrottledBy != "" {
		t.Errorf("re-sent throttled code = %+v", res)
	}
	// …and once the window has passed, a new code goes out.
	f.clock.Advance(15*time.Minute + time.Second)
	if res, _ := f.svc.SendOTP(ctx, request("10000007")); !res.Sent {
		t.Errorf("after the window = %+v, want sent", res)
	}
}

// TestSendOTPThrottlesAPhoneOverProcessesAndUsers: each process has its
// own throttle, so a phone number's sends over all processes and users have
// one too (whoever knows a personal number could start processes without
// end, or register prospects with someone's number). It is checked first;
// a send the process's bound refuses is given back to the number; other
// numbers are not touched; the stores never see the number.
func TestSendOTPThrottlesAPhoneOverProcessesAndUsers(t *testing.T) {
	p := policy.Default().OTP
	p.ThrottleLimit, p.ThrottleWindow = 1, 2*time.Hour // one send per process
	p.PhoneThrottleLimit, p.PhoneThrottleWindow = 3, time.Hour
	f := newFixture(t, p)
	keys := &throttleKeys{OTPGuard: f.guard}
	reg := memory.NewClientRegistry(memory.NewSequenceIDs("u"), jana, spaced, janasNumber)
	f.svc = otp.New(reg, f.guard, keys, f.sender, key, p)
	ctx := context.Background()
	send := func(process, user, code string) ports.OTPResult {
		t.Helper()
		r := request(code)
		r.ProcessID, r.UserID = process, user
		res, err := f.svc.SendOTP(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := send("p-1", "u-jana", "40000001"); !res.Sent {
		t.Fatalf("first send = %+v", res)
	}
	if res := send("p-1", "u-jana", "40000002"); res.Sent || res.Outcome != domain.OTPThrottled || res.ThrottledBy != domain.OTPBoundProcess {
		t.Fatalf("p-1's second send = %+v, want throttled by its process", res)
	}
	// The number's count got that send back: two more fit.
	if res := send("p-2", "u-jana", "40000003"); !res.Sent {
		t.Fatalf("p-2 = %+v, want sent", res)
	}
	if res := send("p-3", "u-janas-number", "40000004"); !res.Sent {
		t.Fatalf("another user with the number, p-3 = %+v, want sent (the number's third)", res)
	}
	if res := send("p-4", "u-jana", "40000005"); res.Sent || res.Outcome != domain.OTPThrottled || res.ThrottledBy != domain.OTPBoundPhone {
		t.Fatalf("the number's 4th send within the hour, in a fresh process = %+v, want throttled by the number's bound", res)
	}
	if res := send("p-5", "u-spaced", "40000006"); !res.Sent {
		t.Fatalf("another number's send = %+v, want sent", res)
	}
	if n := f.sender.count(); n != 4 {
		t.Errorf("%d SMS sent, want 4", n)
	}
	// The refused fresh process left no entry: after the number's hour
	// (not p-4's two), p-4 sends.
	f.clock.Advance(time.Hour + time.Second)
	if res := send("p-4", "u-jana", "40000007"); !res.Sent {
		t.Fatalf("p-4 after the number's window = %+v, want sent", res)
	}
	for _, k := range keys.seen() {
		if strings.Contains(k, "777") || strings.Contains(k, "u-jana") {
			t.Errorf("a throttle key carries the number or the user: %q", k)
		}
	}
	// No bound: a fourth send to the number in a fresh process goes out.
	p.PhoneThrottleLimit = 0
	f = newFixture(t, p)
	for i, process := range []string{"p-1", "p-2", "p-3", "p-4"} {
		if res := send(process, "u-jana", "5000000"+strconv.Itoa(i)); !res.Sent {
			t.Fatalf("without a bound, send %d = %+v, want sent", i+1, res)
		}
	}
}

// throttleKeys records the keys the OTP service gives its throttle.
type throttleKeys struct {
	*memory.OTPGuard
	mu   sync.Mutex
	keys []string
}

func (k *throttleKeys) AllowOTP(ctx context.Context, key, sendID string, limit int, window time.Duration) (bool, error) {
	k.mu.Lock()
	k.keys = append(k.keys, key)
	k.mu.Unlock()
	return k.OTPGuard.AllowOTP(ctx, key, sendID, limit, window)
}

func (k *throttleKeys) seen() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.keys)
}

// TestSendOTPRefundsThePhoneToo: a send the gateway provably did not take
// is given back to its number's throttle as well as to its process's.
func TestSendOTPRefundsThePhoneToo(t *testing.T) {
	p := policy.Default().OTP
	p.PhoneThrottleLimit = 1
	f := newFixture(t, p)
	ctx := context.Background()
	f.sender.result, f.sender.err = domain.SendResult{Outcome: domain.OTPFailedTransient, Detail: "breaker open", NotSubmitted: true}, errors.New("breaker open")
	if res, err := f.svc.SendOTP(ctx, request("60000001")); err != nil || res.Sent {
		t.Fatalf("send during the outage = %+v, %v; want not sent", res, err)
	}
	f.sender.mu.Lock()
	f.sender.result, f.sender.err = domain.SendResult{}, nil
	f.sender.mu.Unlock()
	r := request("60000002")
	r.ProcessID = "p-2"
	if res, err := f.svc.SendOTP(ctx, r); err != nil || !res.Sent {
		t.Fatalf("the number's first send after the outage = %+v, %v; want sent (its only send was never taken)", res, err)
	}
}

// TestSendOTPRefundsWhatTheGatewayDidNotTake: a send the gateway provably
// did not take (NotSubmitted: breaker open, connection refused, 503) is
// taken off the throttle, so a user who tried during a gateway outage can
// still get codes once it is back; a failure after the request went out
// (a timeout: the SMS may arrive) still counts. Before this, five resends
// during an outage locked the process out for the whole window (J1, left
// alone in stops 27–32).
func TestSendOTPRefundsWhatTheGatewayDidNotTake(t *testing.T) {
	for _, tc := range []struct {
		name       string
		failure    domain.SendResult
		wantRefund bool
	}{
		{"not submitted", domain.SendResult{Outcome: domain.OTPFailedTransient, Detail: "breaker open", NotSubmitted: true}, true},
		{"ambiguous", domain.SendResult{Outcome: domain.OTPFailedTransient, Detail: "timeout"}, false},
		{"refused by the gateway", domain.SendResult{Outcome: domain.OTPFailedPermanent, Detail: "invalid number"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, policy.Default().OTP) // 5 sends per 15 minutes
			ctx := context.Background()
			f.sender.result, f.sender.err = tc.failure, errors.New(tc.failure.Detail)
			for i := 1; i <= 7; i++ {
				res, err := f.svc.SendOTP(ctx, request("3000000"+strconv.Itoa(i)))
				if err != nil {
					t.Fatal(err)
				}
				if want := tc.wantRefund || i <= 5; (res.Outcome != domain.OTPThrottled) != want || res.Sent {
					t.Fatalf("failing send %d = %+v; want it tried: %v", i, res, want)
				}
			}
			f.sender.mu.Lock()
			f.sender.result, f.sender.err = domain.SendResult{}, nil // the gateway is back
			f.sender.mu.Unlock()
			res, err := f.svc.SendOTP(ctx, request("30000008"))
			if err != nil {
				t.Fatal(err)
			}
			if res.Sent != tc.wantRefund {
				t.Fatalf("first send after the outage = %+v; want sent %v", res, tc.wantRefund)
			}
		})
	}
}

// TestSendOTPReleasesWhatItsCallerAbandoned: a send its caller left (timed
// out, disconnected) before the gateway took the SMS releases its claim, so
// the caller's retry of the same code sends it instead of being answered
// with a failure for an SMS nobody tried to send; a send the gateway may
// have taken, or one whose caller was still there, is answered as before.
func TestSendOTPReleasesWhatItsCallerAbandoned(t *testing.T) {
	notTaken := domain.SendResult{Outcome: domain.OTPFailedTransient, Detail: "connection refused", NotSubmitted: true}
	ambiguous := domain.SendResult{Outcome: domain.OTPFailedTransient, Detail: "timeout"}
	for _, tc := range []struct {
		name                       string
		failure                    domain.SendResult
		callerLeft, deadlinePassed bool
		wantRetried                bool
	}{
		{"gateway never reached, caller gone", notTaken, true, false, true},
		{"gateway never reached, caller there", notTaken, false, false, false},
		{"gateway never reached, the service's deadline passed", notTaken, false, true, false},
		{"gateway may have taken it, caller gone", ambiguous, true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := policy.Default().OTP
			p.ThrottleLimit = 1 // a release also refunds: the retry fits the limit only then
			f := newFixture(t, p)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			f.sender.result, f.sender.err = tc.failure, errors.New(tc.failure.Detail)
			switch {
			case tc.callerLeft:
				f.sender.hook = func(context.Context) { cancel() }
			case tc.deadlinePassed:
				// The service answered otpSent false at its own deadline:
				// the caller had its answer, a retry gets the same.
				var stop context.CancelFunc
				ctx, stop = context.WithTimeout(ctx, 10*time.Millisecond)
				defer stop()
				f.sender.hook = func(ctx context.Context) { <-ctx.Done() }
			}
			if res, _ := f.svc.SendOTP(ctx, request("12345678")); res.Sent {
				t.Fatalf("first send = %+v, want not sent", res)
			}
			f.sender.mu.Lock()
			f.sender.result, f.sender.err, f.sender.hook = domain.SendResult{}, nil, nil // the gateway is back
			f.sender.mu.Unlock()
			retry, err := f.svc.SendOTP(context.Background(), request("12345678"))
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantRetried {
				if !retry.Sent || retry.Deduped || f.sender.count() != 2 {
					t.Fatalf("retry = %+v after %d attempts; want a send of its own", retry, f.sender.count())
				}
				return
			}
			if retry.Sent || !retry.Deduped || retry.Outcome != domain.OTPFailedTransient || f.sender.count() != 1 {
				t.Fatalf("retry = %+v after %d attempts; want the first failure repeated", retry, f.sender.count())
			}
		})
	}

	t.Run("caller gone during the phone's throttle check", func(t *testing.T) {
		p := policy.Default().OTP
		p.ThrottleLimit, p.PhoneThrottleLimit = 1, 1 // the retry fits only if both gave the send back
		clock := memory.NewFakeClock(now)
		guard := memory.NewOTPGuard(clock)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		throttle := &leavingThrottle{OTPGuard: guard, leave: cancel}
		s := &sender{}
		svc := otp.New(memory.NewClientRegistry(memory.NewSequenceIDs("u"), jana), guard, throttle, s, key, p)
		if _, err := svc.SendOTP(ctx, request("12345678")); domain.CodeOf(err) != domain.CodeUnavailable || s.count() != 0 {
			t.Fatalf("first send: %v after %d SMS; want unavailable, none", err, s.count())
		}
		throttle.leave = nil
		retry, err := svc.SendOTP(context.Background(), request("12345678"))
		if err != nil || !retry.Sent || retry.Deduped || s.count() != 1 {
			t.Fatalf("retry = %+v, %v after %d SMS; want the code sent once, within the limit of 1", retry, err, s.count())
		}
	})
	t.Run("caller gone during the process's throttle check", func(t *testing.T) {
		p := policy.Default().OTP
		p.ThrottleLimit, p.PhoneThrottleLimit = 1, 1
		guard := memory.NewOTPGuard(memory.NewFakeClock(now))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		throttle := &leavingThrottle{OTPGuard: guard, leave: cancel, processOnly: true}
		s := &sender{}
		svc := otp.New(memory.NewClientRegistry(memory.NewSequenceIDs("u"), jana), guard, throttle, s, key, p)
		if _, err := svc.SendOTP(ctx, request("12345678")); domain.CodeOf(err) != domain.CodeUnavailable || s.count() != 0 {
			t.Fatalf("first send: %v after %d SMS; want unavailable, none", err, s.count())
		}
		throttle.leave = nil
		retry, err := svc.SendOTP(context.Background(), request("12345678"))
		if err != nil || !retry.Sent || s.count() != 1 {
			t.Fatalf("retry = %+v, %v after %d SMS; want the code sent: the phone's and the process's counts gave the send back", retry, err, s.count())
		}
	})
}

// leavingThrottle counts the send, then the caller leaves (leave) and the
// throttle answers with its context's error, as a network store does when
// the reply comes after the caller has gone.
type leavingThrottle struct {
	*memory.OTPGuard
	leave       func()
	processOnly bool // the phone's check answers; the caller leaves during the process's
}

func (l *leavingThrottle) AllowOTP(ctx context.Context, processID, sendID string, limit int, window time.Duration) (bool, error) {
	if l.leave == nil || l.processOnly && strings.HasPrefix(processID, "\x00phone\x00") {
		return l.OTPGuard.AllowOTP(ctx, processID, sendID, limit, window)
	}
	if _, err := l.OTPGuard.AllowOTP(ctx, processID, sendID, limit, window); err != nil {
		return false, err
	}
	l.leave()
	return false, domain.Unavailable(ctx.Err(), "throttle: caller gone")
}

func TestSendOTPDedupe(t *testing.T) {
	ctx := context.Background()
	t.Run("re-sent code sends one SMS and repeats the answer", func(t *testing.T) {
		f := newFixture(t, policy.Default().OTP)
		first, err := f.svc.SendOTP(ctx, request("12345678"))
		if err != nil || !first.Sent {
			t.Fatalf("first = %+v, %v", first, err)
		}
		r := request("12345678")
		r.Resend, r.Meta.RequestID = true, "r-2"
		second, err := f.svc.SendOTP(ctx, r)
		if err != nil || !second.Sent || second.Outcome != domain.OTPSent || !second.Deduped {
			t.Errorf("second = %+v, %v", second, err)
		}
		if f.sender.count() != 1 {
			t.Errorf("sent %d SMS, want 1", f.sender.count())
		}
	})
	t.Run("a new code or another process is sent", func(t *testing.T) {
		f := newFixture(t, policy.Default().OTP)
		for _, r := range []ports.OTPRequest{request("12345678"), request("12345679"), func() ports.OTPRequest {
			r := request("12345678")
			r.ProcessID = "p-2"
			return r
		}()} {
			if res, err := f.svc.SendOTP(ctx, r); err != nil || !res.Sent || res.Deduped {
				t.Errorf("SendOTP = %+v, %v", res, err)
			}
		}
		if f.sender.count() != 3 {
			t.Errorf("sent %d SMS, want 3", f.sender.count())
		}
	})
	t.Run("after the window the code is sent again", func(t *testing.T) {
		f := newFixture(t, policy.Default().OTP)
		_, _ = f.svc.SendOTP(ctx, request("12345678"))
		f.clock.Advance(61 * time.Second)
		if res, _ := f.svc.SendOTP(ctx, request("12345678")); !res.Sent || res.Deduped {
			t.Errorf("after the window = %+v", res)
		}
		if f.sender.count() != 2 {
			t.Errorf("sent %d SMS, want 2", f.sender.count())
		}
	})
	t.Run("20 concurrent requests send exactly one SMS", func(t *testing.T) {
		f := newFixture(t, policy.Default().OTP)
		gate := make(chan struct{})
		openGate := sync.OnceFunc(func() { close(gate) })
		defer openGate() // a failed wait must not leave the senders blocked
		f.sender.gate = gate
		watch := &pendingWatch{OTPGuard: f.guard, told: map[int]bool{}}
		svc := otp.New(memory.NewClientRegistry(memory.NewSequenceIDs("u"), jana), watch, f.guard, f.sender, key, policy.Default().OTP)
		var wg sync.WaitGroup
		results := make([]ports.OTPResult, 20)
		errs := make([]error, 20)
		for i := range 20 {
			wg.Go(func() {
				results[i], errs[i] = svc.SendOTP(context.WithValue(ctx, callerKey{}, i), request("12345678"))
			})
		}
		// The gateway holds the first send; the gate opens only once each
		// of the other 19 has been told that send is in flight, so every
		// one of them waits on it (none can arrive after it completed).
		waitFor(t, func() bool { return watch.count() == 19 })
		openGate()
		wg.Wait()
		deduped := 0
		for i := range 20 {
			if errs[i] != nil || !results[i].Sent || results[i].Outcome != domain.OTPSent {
				t.Errorf("request %d = %+v, %v", i, results[i], errs[i])
			}
			if results[i].Deduped {
				deduped++
			}
			if results[i].Deduped != watch.wasTold(i) {
				t.Errorf("request %d: deduped %v, but told of the send in flight %v", i, results[i].Deduped, watch.wasTold(i))
			}
		}
		if f.sender.count() != 1 || deduped != 19 {
			t.Errorf("sent %d SMS, %d deduped; want 1 and 19", f.sender.count(), deduped)
		}
	})
	t.Run("a caller giving up while the first send is in flight gets pending", func(t *testing.T) {
		f := newFixture(t, policy.Default().OTP)
		gate := make(chan struct{})
		f.sender.gate = gate
		done := make(chan ports.OTPResult)
		go func() {
			res, _ := f.svc.SendOTP(ctx, request("12345678"))
			done <- res
		}()
		waitFor(t, func() bool { k, _ := f.guard.Len(); return k == 1 })
		short, cancel := context.WithTimeout(ctx, 60*time.Millisecond)
		defer cancel()
		res, err := f.svc.SendOTP(short, request("12345678"))
		if err != nil || res.Sent || res.Outcome != domain.OTPPending || !res.Deduped {
			t.Errorf("impatient = %+v, %v; want not sent, pending", res, err)
		}
		close(gate)
		if first := <-done; !first.Sent {
			t.Errorf("first = %+v", first)
		}
		if f.sender.count() != 1 {
			t.Errorf("sent %d SMS, want 1", f.sender.count())
		}
	})
}

// callerKey carries a request's index in its context, so pendingWatch can
// tell the callers apart.
type callerKey struct{}

// pendingWatch is a dedupe store that records which callers (by callerKey)
// were answered that the send is in flight: each such caller then waits
// for it, polling, and one caller's polls count once.
type pendingWatch struct {
	*memory.OTPGuard
	mu   sync.Mutex
	told map[int]bool
}

func (w *pendingWatch) BeginOTP(ctx context.Context, key string, ttl time.Duration) (bool, domain.OTPOutcome, error) {
	claimed, prior, err := w.OTPGuard.BeginOTP(ctx, key, ttl)
	if i, ok := ctx.Value(callerKey{}).(int); ok && err == nil && !claimed && prior == domain.OTPPending {
		w.mu.Lock()
		w.told[i] = true
		w.mu.Unlock()
	}
	return claimed, prior, err
}

// count is the number of callers told the send is in flight.
func (w *pendingWatch) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.told)
}

func (w *pendingWatch) wasTold(i int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.told[i]
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second) // generous: a loaded CI machine
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSendOTPGatewayOutcomes(t *testing.T) {
	tests := []struct {
		name   string
		result domain.SendResult
		err    error
		want   domain.OTPOutcome
	}{
		{"permanent", domain.SendResult{Outcome: domain.OTPFailedPermanent, Detail: "invalid number"}, errors.New("21211"), domain.OTPFailedPermanent},
		{"transient", domain.SendResult{Outcome: domain.OTPFailedTransient}, errors.New("503"), domain.OTPFailedTransient},
		{"error without outcome", domain.SendResult{}, errors.New("connection reset"), domain.OTPFailedTransient},
		{"unclassified outcome", domain.SendResult{Outcome: "weird"}, nil, domain.OTPFailedTransient},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, policy.Default().OTP)
			f.sender.result, f.sender.err = tc.result, tc.err
			res, err := f.svc.SendOTP(context.Background(), request("12345678"))
			if err != nil || res.Sent || res.Outcome != tc.want {
				t.Fatalf("SendOTP = %+v, %v; want not sent, %s", res, err, tc.want)
			}
			// A re-sent code repeats the failure without a second attempt.
			again, err := f.svc.SendOTP(context.Background(), request("12345678"))
			if err != nil || again.Sent || again.Outcome != tc.want || !again.Deduped || f.sender.count() != 1 {
				t.Errorf("re-sent = %+v, %v, %d SMS", again, err, f.sender.count())
			}
		})
	}
}

// failingGuard lets one side of the guard fail.
type failingGuard struct {
	*memory.OTPGuard
	beginFails, throttleFails bool
	processOnly               bool // only the process's throttle key fails
}

func (g failingGuard) BeginOTP(ctx context.Context, key string, ttl time.Duration) (bool, domain.OTPOutcome, error) {
	if g.beginFails {
		return false, "", domain.Unavailable(errors.New("redis: timeout"), "dedupe unavailable")
	}
	return g.OTPGuard.BeginOTP(ctx, key, ttl)
}

func (g failingGuard) AllowOTP(ctx context.Context, processID, sendID string, limit int, window time.Duration) (bool, error) {
	if g.throttleFails && !(g.processOnly && strings.HasPrefix(processID, "\x00phone\x00")) {
		return false, domain.Unavailable(errors.New("redis: timeout"), "throttle unavailable")
	}
	return g.OTPGuard.AllowOTP(ctx, processID, sendID, limit, window)
}

func TestSendOTPStoreFailures(t *testing.T) {
	reg := memory.NewClientRegistry(memory.NewSequenceIDs("u"), jana)
	for _, tc := range []struct {
		name                       string
		begin, thrott, processOnly bool
	}{{"dedupe down", true, false, false}, {"throttle down", false, true, false}, {"process throttle down", false, true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			inner := memory.NewOTPGuard(memory.NewFakeClock(now))
			guard := failingGuard{OTPGuard: inner, beginFails: tc.begin, throttleFails: tc.thrott, processOnly: tc.processOnly}
			s := &sender{}
			p := policy.Default().OTP
			p.PhoneThrottleLimit = 1
			svc := otp.New(reg, guard, guard, s, key, p)
			_, err := svc.SendOTP(context.Background(), request("12345678"))
			if domain.CodeOf(err) != domain.CodeUnavailable || s.count() != 0 {
				t.Fatalf("err = %v, %d SMS; want unavailable and none", err, s.count())
			}
			if strings.Contains(err.Error(), "12345678") {
				t.Errorf("error %q echoes the code", err)
			}
			if tc.thrott {
				// The claim was closed: a retry is answered at once, not
				// left waiting for a send that never happens.
				res, err := svc.SendOTP(context.Background(), request("12345678"))
				if err != nil || res.Outcome == domain.OTPPending || !res.Deduped {
					t.Errorf("retry = %+v, %v; want a final outcome at once", res, err)
				}
			}
			if tc.processOnly {
				// The phone's count gave the send back: with the store
				// working again, another code to the number (limit 1) goes out.
				healthy := otp.New(reg, inner, inner, s, key, p)
				r := request("87654321")
				r.ProcessID = "p-2"
				if res, err := healthy.SendOTP(context.Background(), r); err != nil || !res.Sent {
					t.Errorf("next send to the number = %+v, %v; want sent", res, err)
				}
			}
		})
	}
}

// strictGuard fails FinishOTP on a cancelled context, as a network store
// would.
type strictGuard struct {
	*memory.OTPGuard
}

func (g strictGuard) FinishOTP(ctx context.Context, key string, o domain.OTPOutcome, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return domain.Unavailable(err, "finish after cancel")
	}
	return g.OTPGuard.FinishOTP(ctx, key, o, ttl)
}

func TestSendOTPRecordsOutcomeAfterCallerDeadline(t *testing.T) {
	guard := strictGuard{memory.NewOTPGuard(memory.NewFakeClock(now))}
	ctx, cancel := context.WithCancel(context.Background())
	s := &sender{hook: func(context.Context) { cancel() }} // the caller gives up during the send
	svc := otp.New(memory.NewClientRegistry(memory.NewSequenceIDs("u"), jana), guard, guard, s, key, policy.Default().OTP)
	if res, err := svc.SendOTP(ctx, request("12345678")); err != nil || !res.Sent {
		t.Fatalf("SendOTP = %+v, %v", res, err)
	}
	s.hook = nil
	// Bounded, so a lost outcome fails the test (pending) instead of
	// polling a fake clock that never lets the claim expire.
	retryCtx, stop := context.WithTimeout(context.Background(), time.Second)
	defer stop()
	res, err := svc.SendOTP(retryCtx, request("12345678"))
	if err != nil || !res.Sent || !res.Deduped || s.count() != 1 {
		t.Errorf("retry = %+v, %v, %d SMS; want the recorded send", res, err, s.count())
	}
}

// keyRecorder is the guard's dedupe with every key it was asked to claim.
type keyRecorder struct {
	ports.OTPDedupe
	mu   sync.Mutex
	keys []string
}

func (k *keyRecorder) BeginOTP(ctx context.Context, key string, ttl time.Duration) (bool, domain.OTPOutcome, error) {
	k.mu.Lock()
	k.keys = append(k.keys, key)
	k.mu.Unlock()
	return k.OTPDedupe.BeginOTP(ctx, key, ttl)
}

// TestDedupeKeys checks the dedupe key is the hex HMAC-SHA256 of
// processId NUL code under the service's key, for every send, when the
// HMAC's state is reused by one goroutine after another and by many at
// once, and that neither the code nor the processId appears in it.
func TestDedupeKeys(t *testing.T) {
	want := func(pid, code string) string {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(pid + "\x00" + code))
		return hex.EncodeToString(h.Sum(nil))
	}
	clock := memory.NewFakeClock(now)
	guard := memory.NewOTPGuard(clock)
	rec := &keyRecorder{OTPDedupe: guard}
	reg := memory.NewClientRegistry(memory.NewSequenceIDs("u"), jana)
	svc := otp.New(reg, rec, guard, &sender{}, key, policy.Default().OTP)
	send := func(pid, code string) {
		r := request(code)
		r.ProcessID = pid
		if _, err := svc.SendOTP(context.Background(), r); err != nil {
			t.Errorf("SendOTP(%s, %s): %v", pid, code, err)
		}
	}
	var sent [][2]string
	for _, c := range [][2]string{{"ab", "1234"}, {"a", "b1234"}, {"a-much-longer-process-id-" + strings.Repeat("x", 100), "87654321"}, {"p", "1234"}} {
		send(c[0], c[1])
		sent = append(sent, c)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range 16 {
		wg.Go(func() {
			pid, code := "p-"+strconv.Itoa(i), strconv.Itoa(10000000+i)
			send(pid, code)
			mu.Lock()
			sent = append(sent, [2]string{pid, code})
			mu.Unlock()
		})
	}
	wg.Wait()
	got := map[string]bool{}
	for _, k := range rec.keys {
		got[k] = true
	}
	if len(rec.keys) != len(sent) {
		t.Fatalf("%d keys for %d sends", len(rec.keys), len(sent))
	}
	for _, c := range sent {
		k := want(c[0], c[1])
		if !got[k] {
			t.Errorf("no key %s for (%q, %q)", k, c[0], c[1])
		}
		if strings.Contains(k, c[1]) && len(c[1]) > 4 {
			t.Errorf("key %s contains the code %s", k, c[1])
		}
	}
	if len(got) != len(sent) {
		t.Errorf("%d distinct keys for %d distinct (processId, code) pairs", len(got), len(sent))
	}
}

func TestNewRefusesShortKey(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New accepted a short HMAC key")
		}
	}()
	otp.New(nil, nil, nil, nil, []byte("short"), policy.Default().OTP)
}

func BenchmarkSendOTP(b *testing.B) {
	// Every send goes to one number, which the default per-number bound (10
	// an hour) refuses from the 11th on. As in the load harness's policy, the
	// bound still runs, on a log of one send: a window of 1 ms, and the
	// clock 2 ms on per send.
	p := policy.Default().OTP
	p.PhoneThrottleLimit, p.PhoneThrottleWindow = 1_000_000_000, time.Millisecond
	f := newFixture(b, p)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		f.clock.Advance(2 * time.Millisecond)
		r := request("12345678")
		r.ProcessID = "p-" + strconv.Itoa(i)
		if res, err := f.svc.SendOTP(ctx, r); err != nil || !res.Sent {
			b.Fatal(res, err)
		}
	}
}

// pendingGuard answers every claim with a send in flight; a poll made
// after the first waits for the caller's deadline and fails with it, as a
// network store does when the deadline passes mid-call.
type pendingGuard struct {
	*memory.OTPGuard
	calls atomic.Int32
}

func (g *pendingGuard) BeginOTP(ctx context.Context, _ string, _ time.Duration) (bool, domain.OTPOutcome, error) {
	if g.calls.Add(1) == 1 {
		return false, domain.OTPPending, nil
	}
	<-ctx.Done()
	return false, "", domain.Unavailable(ctx.Err(), "dedupe: caller gone")
}

// TestSendOTPDeadlineDuringPoll: a repeat whose deadline passes while it
// polls the first send's outcome answers "not sent (pending)", as when the
// deadline passes between polls, not an error (503).
func TestSendOTPDeadlineDuringPoll(t *testing.T) {
	guard := &pendingGuard{OTPGuard: memory.NewOTPGuard(memory.NewFakeClock(now))}
	s := &sender{}
	svc := otp.New(memory.NewClientRegistry(memory.NewSequenceIDs("u"), jana), guard, guard, s, key, policy.Default().OTP)
	// 50 poll intervals: the second claim attempt must happen before the
	// deadline even on a stalled machine.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	res, err := svc.SendOTP(ctx, request("12345678"))
	if err != nil || res.Sent || res.Outcome != domain.OTPPending || !res.Deduped || s.count() != 0 {
		t.Fatalf("SendOTP = %+v, %v, %d SMS; want not sent, pending, deduped", res, err, s.count())
	}
	if guard.calls.Load() < 2 {
		t.Fatal("the test never polled")
	}
}
