package httptransport

import (
	"unicode/utf8"
)

// jsonAppender is a response body that writes its own JSON. The contract's
// answers are a handful of fixed shapes, so each appends its bytes directly
// instead of going through encoding/json's reflection and buffers; the
// output is byte for byte what json.Encoder with SetEscapeHTML(false)
// writes (TestAppendJSONMatchesEncoder, FuzzAppendJSONString).
type jsonAppender interface {
	appendJSON(dst []byte) []byte
}

func (r lookupResponse) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"userId":`...)
	dst = appendJSONString(dst, r.UserID)
	dst = append(dst, `,"consent":`...)
	dst = appendJSONStringPtr(dst, r.Consent)
	dst = append(dst, `,"consentRequired":`...)
	dst = appendJSONBool(dst, r.ConsentRequired)
	return append(dst, "}\n"...)
}

func (r decisionResponse) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"result":`...)
	dst = appendJSONString(dst, r.Result)
	dst = append(dst, `,"resultReason":`...)
	dst = appendJSONStringPtr(dst, r.ResultReason)
	return append(dst, "}\n"...)
}

func (r otpSendResponse) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"otpSent":`...)
	dst = appendJSONBool(dst, r.OTPSent)
	return append(dst, "}\n"...)
}

func (emptyResponse) appendJSON(dst []byte) []byte { return append(dst, "{}\n"...) }

func (r consentTextResponse) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"consentText":`...)
	dst = appendJSONString(dst, r.ConsentText)
	return append(dst, "}\n"...)
}

func (e errorBody) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"errorCode":`...)
	dst = appendJSONString(dst, e.ErrorCode)
	dst = append(dst, `,"message":`...)
	dst = appendJSONString(dst, e.Message)
	return append(dst, "}\n"...)
}

func appendJSONBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, "true"...)
	}
	return append(dst, "false"...)
}

func appendJSONStringPtr(dst []byte, s *string) []byte {
	if s == nil {
		return append(dst, "null"...)
	}
	return appendJSONString(dst, *s)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string the way encoding/json does
// without HTML escaping: quote, backslash and control characters escaped,
// invalid UTF-8 replaced by U+FFFD, U+2028 and U+2029 escaped (they break
// JavaScript readers), everything else as it is, HTML included (consent
// texts are HTML, and the answer is application/json, never rendered).
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
