package admin

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"time"
)

// csrfField is the form field of the token.
const csrfField = "csrf"

// csrfSkew is how far in the future a token's issue time may lie, for
// replicas whose clocks differ slightly.
const csrfSkew = time.Minute

type reviewerKey struct{}

func withReviewer(ctx context.Context, c *credential) context.Context {
	return context.WithValue(ctx, reviewerKey{}, c)
}

// reviewerOf returns the authenticated reviewer; ServeHTTP puts it in
// every routed request's context.
func reviewerOf(ctx context.Context) *credential {
	c, _ := ctx.Value(reviewerKey{}).(*credential)
	return c
}

// csrfToken issues a token for the reviewer at now: the issue time and an
// HMAC over the reviewer's name and that time, keyed by a secret derived
// from the reviewer's credential. Another reviewer's token, an old one or
// one from before a password change does not verify; no server state is
// needed, so every replica accepts it.
func (c *credential) csrfToken(now time.Time) string {
	var b [8 + sha256.Size]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.Unix()))
	copy(b[8:], c.csrfMAC(now.Unix()))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (c *credential) csrfMAC(issued int64) []byte {
	m := hmac.New(sha256.New, c.csrfKey)
	m.Write([]byte("csrf\x00" + c.Name + "\x00" + strconv.FormatInt(issued, 10)))
	return m.Sum(nil)
}

// validCSRF reports whether token was issued to this reviewer within ttl
// before now.
func (c *credential) validCSRF(token string, now time.Time, ttl time.Duration) bool {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != 8+sha256.Size {
		return false
	}
	issued := int64(binary.BigEndian.Uint64(b[:8]))
	at := time.Unix(issued, 0)
	if at.After(now.Add(csrfSkew)) || now.Sub(at) > ttl {
		return false
	}
	return hmac.Equal(b[8:], c.csrfMAC(issued))
}
