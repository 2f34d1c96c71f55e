package sms

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bankkit/onboarding-adapter/domain"
)

// maxAnswerBytes bounds how much of a gateway's answer is read: an SMS
// gateway's answer is a few hundred bytes, and a misbehaving one must not
// make the service buffer megabytes per OTP.
const maxAnswerBytes = 64 << 10

// userAgent identifies the service to the gateway's operators.
const userAgent = "onboarding-adapter-sms/1"

// answer is a gateway's HTTP answer, read in full up to maxAnswerBytes.
type answer struct {
	status    int
	header    http.Header
	body      []byte
	truncated bool
}

// gatewayClient returns the client the gateways use: the caller's, or a
// dedicated one sized for maxConns, in both cases with redirects turned
// off. Following a 307/308 would POST the message a second time to a
// place nobody configured, so a redirect is an answer (a config error).
func gatewayClient(c *http.Client, maxConns int) *http.Client {
	var out http.Client
	if c != nil {
		out = *c
	} else {
		var t *http.Transport
		if dt, ok := http.DefaultTransport.(*http.Transport); ok {
			t = dt.Clone()
		} else {
			t = &http.Transport{Proxy: http.ProxyFromEnvironment}
		}
		t.MaxIdleConnsPerHost = max(maxConns, 2)
		t.IdleConnTimeout = 90 * time.Second
		out.Transport = t
	}
	out.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &out
}

// roundTrip sends req once and reads the answer. On a transport failure
// it returns the classified attempt instead. Whether any byte of the
// request was written is traced, so that only a failure that provably
// happened before the gateway saw anything is marked retryable.
func roundTrip(client *http.Client, req *http.Request) (answer, *Attempt) {
	var wrote atomic.Bool
	ctx := req.Context()
	trace := &httptrace.ClientTrace{
		WroteHeaderField: func(string, []string) { wrote.Store(true) },
		WroteHeaders:     func() { wrote.Store(true) },
		WroteRequest:     func(httptrace.WroteRequestInfo) { wrote.Store(true) },
	}
	req = req.WithContext(httptrace.WithClientTrace(ctx, trace))
	resp, err := client.Do(req)
	if err != nil {
		a := transportFailure(ctx, err, wrote.Load())
		return answer{}, &a
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		// The gateway answered with a status: a broken body does not
		// make the status less true, but the answer cannot be trusted
		// for success either.
		a := transportFailure(ctx, err, true)
		a.Status = resp.StatusCode
		return answer{}, &a
	}
	ans := answer{status: resp.StatusCode, header: resp.Header, body: body}
	if len(body) > maxAnswerBytes {
		ans.body, ans.truncated = body[:maxAnswerBytes], true
	}
	return ans, nil
}

// transportFailure classifies a request that got no (complete) answer.
// Only a dial failure before anything was written is retryable: with any
// byte on the wire, or any error this code cannot place, the gateway may
// have taken the message.
func transportFailure(ctx context.Context, err error, wrote bool) Attempt {
	inner := err
	var ue *url.Error
	if errors.As(err, &ue) {
		// url.Error's text holds the URL, which may hold an API key.
		inner = ue.Err
	}
	wrapped := safeNetError(inner)
	switch {
	case !wrote && isDialError(inner):
		return Attempt{Outcome: domain.OTPFailedTransient, Reason: ReasonConnect,
			Detail: "could not connect to the gateway; nothing was sent", Err: wrapped}
	case ctx.Err() != nil || isTimeout(inner):
		return Attempt{Outcome: domain.OTPFailedTransient, Reason: ReasonTimeout,
			Detail: "no answer within the attempt timeout; the gateway may have taken the message, so it is not resent", Err: wrapped}
	default:
		return Attempt{Outcome: domain.OTPFailedTransient, Reason: ReasonNetwork,
			Detail: "the connection failed after the request was sent; the gateway may have taken the message, so it is not resent", Err: wrapped}
	}
}

// safeNetError returns err's text without addresses (a net.OpError names
// both ends) and scrubbed of digit runs, wrapping the sentinel cause.
func safeNetError(err error) error {
	cause := causeOf(err)
	text := err.Error()
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		text = op.Op + " " + op.Net + ": " + op.Err.Error()
	}
	text = scrub(text)
	if text == cause.Error() {
		return cause
	}
	return fmt.Errorf("%s: %w", text, cause)
}

// causeOf keeps the sentinel an error chain ends in (context deadline,
// cancellation) so errors.Is works on the scrubbed error, without its text.
func causeOf(err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return context.Canceled
	default:
		return errNetwork
	}
}

// errNetwork marks a transport failure that is neither a deadline nor a
// cancellation.
var errNetwork = errors.New("network error")

// isDialError reports a failure to open the connection (refused, no
// route, DNS): the request cannot have left the process.
func isDialError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// isTimeout reports a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// statusFailure classifies an answer whose status is not a success, by
// the HTTP status alone. Gateways refine it with their own error codes.
func statusFailure(ans answer, gateway string) Attempt {
	s := ans.status
	a := Attempt{Outcome: domain.OTPFailedTransient, Status: s}
	switch {
	case s == http.StatusTooManyRequests:
		a.Reason, a.RetryAfter = ReasonThrottled, retryAfter(ans.header, time.Now())
		a.Detail = "throttled by gateway"
	case s == http.StatusServiceUnavailable:
		a.Reason, a.RetryAfter = ReasonUnavailable, retryAfter(ans.header, time.Now())
		a.Detail = "gateway unavailable (503); the message was not taken"
	case s == http.StatusRequestTimeout || s == http.StatusTooEarly:
		// The server (or a proxy before it) says it did not process the
		// request: safe to send again, and no verdict on the number.
		a.Reason, a.RetryAfter = ReasonUnavailable, retryAfter(ans.header, time.Now())
		a.Detail = fmt.Sprintf("gateway did not process the request (%d); the message was not taken", s)
	case s == http.StatusConflict:
		a.Reason, a.Detail = ReasonServerError, "gateway answered 409; it may have processed the message, so it is not resent"
	case s == http.StatusUnauthorized || s == http.StatusForbidden || s == http.StatusProxyAuthRequired:
		a.Reason, a.Detail = ReasonConfig, "gateway refused the credentials"
	case s == http.StatusNotFound || s == http.StatusMethodNotAllowed:
		a.Reason, a.Detail = ReasonConfig, "gateway URL or method is wrong"
	case s >= 300 && s < 400:
		a.Reason, a.Detail = ReasonConfig, "gateway answered with a redirect, which is not followed"
	case s >= 400 && s < 500:
		a.Outcome, a.Reason, a.Detail = domain.OTPFailedPermanent, ReasonRejected, "gateway refused the message"
	case s >= 200 && s < 300:
		a.Reason, a.Detail = ReasonBadResponse, "gateway answered with a status not configured as success; the message may have been taken, so it is not resent"
	default:
		a.Reason, a.Detail = ReasonServerError, "gateway error; it may have processed the message, so it is not resent"
	}
	a.Err = fmt.Errorf("%s: HTTP %d", gateway, s)
	return a
}

// retryAfter reads Retry-After as seconds or an HTTP date; 0 when absent
// or unreadable.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > 86400 {
			secs = 86400
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// scrub makes gateway-supplied or network text safe for logs and errors:
// it keeps at most 200 bytes of one line, replaces every run of digits and
// phone punctuation that holds four or more digits with "***", which
// removes phone numbers and numeric OTP codes in any formatting (gateways
// echo the recipient in error messages), and then every word of four or
// more letters and digits that holds a digit, which removes alphanumeric
// codes (AB12CD).
func scrub(s string) string {
	const maxLen = 200
	var b strings.Builder
	rs := []rune(s)
	for i := 0; i < len(rs); {
		r := rs[i]
		if r != '+' && (r < '0' || r > '9') {
			if unicode.IsControl(r) {
				r = ' '
			}
			b.WriteRune(r)
			i++
			continue
		}
		// A run: digits and phone punctuation, ending at its last digit.
		j, lastDigit, digits := i, -1, 0
		for ; j < len(rs) && (rs[j] >= '0' && rs[j] <= '9' || strings.ContainsRune(phonePunct, rs[j])); j++ {
			if rs[j] >= '0' && rs[j] <= '9' {
				lastDigit, digits = j, digits+1
			}
		}
		if lastDigit < 0 {
			b.WriteRune(r)
			i++
			continue
		}
		if digits >= 4 {
			b.WriteString("***")
		} else {
			b.WriteString(string(rs[i : lastDigit+1]))
		}
		i = lastDigit + 1
	}
	out := maskCodeWords(b.String())
	if len(out) > maxLen {
		cut := maxLen
		for cut > 0 && !utf8.RuneStart(out[cut]) {
			cut--
		}
		out = out[:cut] + "…"
	}
	return out
}

// phonePunct is what may separate the digits of a phone number or code.
const phonePunct = "+ -()./_"

// maskCodeWords replaces each word (a run of ASCII letters and digits) of
// four or more characters that holds a digit with "***".
func maskCodeWords(s string) string {
	isAlnum := func(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	var b strings.Builder
	for i := 0; i < len(s); {
		if !isAlnum(s[i]) {
			b.WriteByte(s[i])
			i++
			continue
		}
		j, digit := i, false
		for ; j < len(s) && isAlnum(s[j]); j++ {
			digit = digit || s[j] >= '0' && s[j] <= '9'
		}
		if digit && j-i >= 4 {
			b.WriteString("***")
		} else {
			b.WriteString(s[i:j])
		}
		i = j
	}
	return b.String()
}
