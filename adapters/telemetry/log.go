package telemetry

import (
	"context"
	"fmt"
	"log/slog"

	"go.opentelemetry.io/otel/trace"

	"github.com/bankkit/onboarding-adapter/domain"
)

// Redacted replaces a value that must not be logged.
const Redacted = "[REDACTED]"

// Log field names added by the handler.
const (
	LogTraceID = "trace_id"
	LogSpanID  = "span_id"
)

// Personal data and secrets are kept out of logs two ways:
//
//  1. by type: values of the types below (and the domain's Identification,
//     SMS and Image) log themselves masked through slog.LogValuer, and print
//     masked through fmt and encoding (String, MarshalText), so a value
//     logged inside a struct or formatted into a message stays masked too;
//  2. by key: NewLogHandler (or ReplaceAttr in slog.HandlerOptions) replaces
//     the value of any attribute whose key names sensitive data (otpCode,
//     password, frame, personalNumber, phone, identification, ...), at any
//     group depth and inside map values, unless the value is a LogValuer,
//     which is trusted to have masked itself.

// Phone is a phone number in a log: only the country prefix and the last two
// digits show.
type Phone string

// LogValue masks the number.
func (p Phone) LogValue() slog.Value { return slog.StringValue(p.String()) }

// String masks the number.
func (p Phone) String() string {
	if p == "" {
		return ""
	}
	return domain.MaskPhone(string(p))
}

// MarshalText masks the number when encoded (e.g. in a struct logged as JSON).
func (p Phone) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// GoString masks the number from %#v.
func (p Phone) GoString() string { return p.String() }

// PersonalNumber is a national identification number in a log: it never
// shows, only whether it was present.
type PersonalNumber string

// LogValue hides the number.
func (n PersonalNumber) LogValue() slog.Value { return slog.StringValue(n.String()) }

// String hides the number.
func (n PersonalNumber) String() string { return redactedOrEmpty(string(n)) }

// MarshalText hides the number when encoded.
func (n PersonalNumber) MarshalText() ([]byte, error) { return []byte(n.String()), nil }

// GoString hides the number from %#v.
func (n PersonalNumber) GoString() string { return n.String() }

// Code is a one-time code in a log: it never shows.
type Code string

// LogValue hides the code.
func (c Code) LogValue() slog.Value { return slog.StringValue(c.String()) }

// String hides the code.
func (c Code) String() string { return redactedOrEmpty(string(c)) }

// MarshalText hides the code when encoded.
func (c Code) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// GoString hides the code from %#v.
func (c Code) GoString() string { return c.String() }

// Secret is a password, token or key in a log: it never shows.
type Secret string

// LogValue hides the secret.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// String hides the secret.
func (s Secret) String() string { return redactedOrEmpty(string(s)) }

// GoString hides the secret from %#v.
func (s Secret) GoString() string { return s.String() }

// MarshalText hides the secret when encoded.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ImageData is image bytes (or their base64) in a log: only the size shows.
type ImageData []byte

// LogValue shows the size only.
func (d ImageData) LogValue() slog.Value { return slog.StringValue(d.String()) }

// String shows the size only.
func (d ImageData) String() string { return fmt.Sprintf("[image, %d bytes]", len(d)) }

// MarshalText shows the size only.
func (d ImageData) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// GoString shows the size only, also for %#v.
func (d ImageData) GoString() string { return d.String() }

func redactedOrEmpty(s string) string {
	if s == "" {
		return ""
	}
	return Redacted
}

// sensitiveKeys are attribute keys whose values are personal data or
// secrets, normalised by normalizeKey (lower case, no separators).
var sensitiveKeys = map[string]bool{
	"otp": true, "otpcode": true, // not "code" alone: error and status codes use it
	"password": true, "passwd": true, "pass": true, "secret": true, "token": true, "bearertoken": true,
	"apikey": true, "authorization": true, "authtoken": true, "credentials": true,
	"frame": true, "image": true, "images": true, "imagedata": true, "face": true, "photo": true,
	"personalnumber": true, "birthnumber": true, "nationalid": true,
	"phone": true, "phonenumber": true, "msisdn": true,
	"identification": true, "birthdate": true, "dateofbirth": true,
	"givennames": true, "surname": true, "fullname": true, "documentnumber": true,
	"smstext": true, "text": true, "body": true, "rawbody": true, "requestbody": true,
	"databaseurl": true, "redisurl": true, "dsn": true,
}

// maxSensitiveKey is longer than every normalised key of sensitiveKeys: a
// key that normalises to more cannot be one of them.
const maxSensitiveKey = 32

// SensitiveKey reports whether an attribute key names personal data or a
// secret, whatever its case and separators ("otpCode", "otp_code"). It is
// called for every attribute of every log line, so it normalises into a
// stack buffer (lower case, no '_', '-', '.', ' ') and allocates nothing.
func SensitiveKey(key string) bool {
	var buf [maxSensitiveKey]byte
	n := 0
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c == '_' || c == '-' || c == '.' || c == ' ':
			continue
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		}
		if n == len(buf) {
			return false
		}
		buf[n] = c
		n++
	}
	return sensitiveKeys[string(buf[:n])]
}

// ReplaceAttr is the key-based redactor for slog.HandlerOptions.ReplaceAttr,
// for a handler not wrapped by NewLogHandler.
func ReplaceAttr(_ []string, a slog.Attr) slog.Attr { return redactAttr(a) }

// maxRedactDepth bounds the walk into nested groups and maps.
const maxRedactDepth = 8

func redactAttr(a slog.Attr) slog.Attr { return redactDepth(a, 0) }

func redactDepth(a slog.Attr, depth int) slog.Attr {
	if a.Value.Kind() == slog.KindLogValuer {
		// The type logs itself (masked where it must): trust it.
		a.Value = a.Value.Resolve()
		return a
	}
	if SensitiveKey(a.Key) {
		return slog.String(a.Key, Redacted)
	}
	if depth >= maxRedactDepth {
		return a
	}
	switch a.Value.Kind() {
	case slog.KindGroup:
		attrs := a.Value.Group()
		out := make([]slog.Attr, len(attrs))
		for n, x := range attrs {
			out[n] = redactDepth(x, depth+1)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	case slog.KindAny:
		switch m := a.Value.Any().(type) {
		case map[string]any:
			return slog.Attr{Key: a.Key, Value: slog.GroupValue(mapAttrs(m, depth)...)}
		case map[string]string:
			attrs := make([]slog.Attr, 0, len(m))
			for k, v := range m {
				attrs = append(attrs, redactDepth(slog.String(k, v), depth+1))
			}
			return slog.Attr{Key: a.Key, Value: slog.GroupValue(attrs...)}
		}
	}
	return a
}

// needsRedaction reports whether redactDepth would change a: a sensitive
// key, a map, or a group holding either. A LogValuer is left to resolve
// itself (the inner handler resolves it, as redactDepth would).
func needsRedaction(a slog.Attr, depth int) bool {
	switch a.Value.Kind() {
	case slog.KindLogValuer:
		return false
	case slog.KindGroup:
		if SensitiveKey(a.Key) {
			return true
		}
		if depth >= maxRedactDepth {
			return false
		}
		for _, x := range a.Value.Group() {
			if needsRedaction(x, depth+1) {
				return true
			}
		}
		return false
	case slog.KindAny:
		switch a.Value.Any().(type) {
		case map[string]any, map[string]string:
			return true
		}
	}
	return SensitiveKey(a.Key)
}

func mapAttrs(m map[string]any, depth int) []slog.Attr {
	attrs := make([]slog.Attr, 0, len(m))
	for k, v := range m {
		attrs = append(attrs, redactDepth(slog.Any(k, v), depth+1))
	}
	return attrs
}

// NewLogHandler wraps h so that every record (1) carries trace_id and
// span_id when its context holds a valid span, which ties each log line,
// the access line included, to its trace; and (2) has the values of
// sensitive keys redacted (see SensitiveKey), in the record and in
// attributes added with With. The message is not rewritten: messages are
// constant texts by convention.
//
// It costs little per line: a disabled level is answered by the inner
// handler's Enabled before any record is built; a record with nothing to
// redact (the access line, nearly every line) is passed on as it is, with
// the trace ids appended, instead of being copied attribute by attribute.
func NewLogHandler(h slog.Handler) slog.Handler { return logHandler{inner: h} }

type logHandler struct{ inner slog.Handler }

func (h logHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	redact := false
	r.Attrs(func(a slog.Attr) bool {
		redact = needsRedaction(a, 0)
		return !redact
	})
	if redact {
		out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
		r.Attrs(func(a slog.Attr) bool {
			out.AddAttrs(redactAttr(a))
			return true
		})
		r = out
	} else {
		// The caller may hold other copies of r: Clone (which allocates
		// nothing) makes the append below copy the attributes rather
		// than write into storage the copies share.
		r = r.Clone()
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String(LogTraceID, sc.TraceID().String()), slog.String(LogSpanID, sc.SpanID().String()))
	}
	return h.inner.Handle(ctx, r)
}

func (h logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(attrs))
	for n, a := range attrs {
		out[n] = redactAttr(a)
	}
	return logHandler{inner: h.inner.WithAttrs(out)}
}

func (h logHandler) WithGroup(name string) slog.Handler {
	return logHandler{inner: h.inner.WithGroup(name)}
}
