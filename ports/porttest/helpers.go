package porttest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
)

// unique returns a random lower-case hex text that makes a test's data its own.
func unique() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// digits returns n random decimal digits, for phone and personal numbers.
func digits(n int) string {
	var b strings.Builder
	for range n {
		b.WriteByte(byte('0' + mrand.IntN(10)))
	}
	return b.String()
}

// newUUID returns a random UUIDv4, for ids a store may keep in a uuid column.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// now is the current time at the precision every store keeps.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// utc normalises a time so stores returning another location or a
// monotonic reading still compare equal with reflect.DeepEqual.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Round(0).UTC()
}

// wantCode fails the test unless err carries code.
func wantCode(t *testing.T, err error, code domain.ErrorCode) {
	t.Helper()
	if got := domain.CodeOf(err); got != code {
		t.Fatalf("error code = %q (err %v), want %q", got, err, code)
	}
}

// must fails the test on an unexpected error.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// same fails the test unless got and want are deeply equal.
func same(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %s\n want %s", what, show(got), show(want))
	}
}

func show(v any) string { return fmt.Sprintf("%+v", v) }

// ident builds a normalised identification from key/value pairs.
func ident(kv ...string) domain.Identification {
	id := domain.Identification{Values: map[domain.IdentificationKey]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		k := domain.IdentificationKey(kv[i])
		id.Scheme = append(id.Scheme, k)
		id.Values[k] = kv[i+1]
	}
	return id
}
