package main

import (
	"bytes"
	"encoding/base64"

	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/domain"
)

// identity is a registry client the requests name: a real (client number,
// birth date) pair, its user id and the data a document of theirs shows.
type identity struct {
	userID, clientNumber, birthDate     string
	givenNames, surname, personalNumber string
	phone, nationality                  string
	docGiven, docSurname                string // as printed on a document: upper case
}

func newIdentity(userID, clientNumber, birthDate, given, surname, personalNumber, phone, nationality string) identity {
	return identity{
		userID: userID, clientNumber: clientNumber, birthDate: birthDate,
		givenNames: given, surname: surname, personalNumber: personalNumber, phone: phone, nationality: nationality,
		docGiven: strings.ToUpper(given), docSurname: strings.ToUpper(surname),
	}
}

// demoIdentities are the active demo clients: all the in-memory default
// knows.
func demoIdentities() []identity {
	var out []identity
	for _, c := range memory.DemoClients(domain.DateOf(time.Now())) {
		if c.Status != domain.StatusActive {
			continue
		}
		out = append(out, newIdentity(c.UserID, c.ClientNumber, c.BirthDate.String(), c.GivenNames, c.Surname,
			c.PersonalNumber, c.Phone, c.Nationality))
	}
	return out
}

// identities is the pool one target's requests draw from.
type identities struct {
	all       []identity
	withPhone []identity // OTP needs a phone number
}

func newIdentities(ids []identity) (*identities, error) {
	p := &identities{all: ids}
	for _, id := range ids {
		if id.phone != "" {
			p.withPhone = append(p.withPhone, id)
		}
	}
	if len(p.all) == 0 || len(p.withPhone) == 0 {
		return nil, fmt.Errorf("identity pool: %d clients, %d with a phone: need at least one of each", len(p.all), len(p.withPhone))
	}
	return p, nil
}

// media are the images of the large bodies: a few different real JPEGs of
// each size, base64 (standard alphabet) as the Onboarding Server sends them.
type media struct {
	frames, faces     [][]byte
	frameRaw, faceRaw int // average JPEG size before base64
}

const mediaVariants = 4

func newMedia(frameTarget, faceTarget int) (*media, error) {
	m := &media{}
	for i := range mediaVariants {
		f, err := makeJPEG(frameTarget, uint64(2*i+1))
		if err != nil {
			return nil, err
		}
		g, err := makeJPEG(faceTarget, uint64(2*i+2))
		if err != nil {
			return nil, err
		}
		m.frameRaw += len(f) / mediaVariants
		m.faceRaw += len(g) / mediaVariants
		m.frames = append(m.frames, []byte(base64.StdEncoding.EncodeToString(f)))
		m.faces = append(m.faces, []byte(base64.StdEncoding.EncodeToString(g)))
	}
	return m, nil
}

// makeJPEG draws a portrait-like picture (background gradient, a face
// ellipse, sensor noise) and scales it until the JPEG is within 3% of
// target bytes.
func makeJPEG(target int, seed uint64) ([]byte, error) {
	w, h := 480, 640
	var out []byte
	for range 8 {
		img := portrait(w, h, seed)
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 88}); err != nil {
			return nil, err
		}
		out = buf.Bytes()
		ratio := float64(target) / float64(len(out))
		if math.Abs(ratio-1) < 0.03 {
			break
		}
		s := math.Sqrt(ratio)
		w, h = max(64, int(float64(w)*s)), max(64, int(float64(h)*s))
	}
	return out, nil
}

func portrait(w, h int, seed uint64) *image.RGBA {
	rng := rand.New(rand.NewPCG(seed, 0x6c6f6164))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	cx, cy := float64(w)/2, float64(h)*0.45
	rx, ry := float64(w)*0.3, float64(h)*0.3
	tone := 20 * float64(seed%5)
	for y := range h {
		for x := range w {
			fx, fy := float64(x), float64(y)
			r := 90 + 80*fy/float64(h) + tone/2
			g := 110 + 60*fx/float64(w)
			b := 150 - 40*fy/float64(h)
			dx, dy := (fx-cx)/rx, (fy-cy)/ry
			if d := dx*dx + dy*dy; d < 1 {
				shade := 1 - 0.25*d
				r, g, b = (215-tone)*shade, (170-tone)*shade, (140-tone)*shade
				for _, ex := range []float64{-0.35, 0.35} {
					if ddx, ddy := dx-ex, dy+0.2; ddx*ddx+ddy*ddy*4 < 0.01 {
						r, g, b = 40, 30, 25
					}
				}
			}
			n := rng.NormFloat64() * 14
			img.SetRGBA(x, y, color.RGBA{clamp(r + n), clamp(g + n), clamp(b + n), 255})
		}
	}
	return img
}

func clamp(v float64) uint8 {
	return uint8(max(0, min(255, v)))
}

// gen builds one worker's request bodies: fresh process and verification
// ids per request (so every OTP passes the throttle and every decision is
// really written), identities drawn from the pool.
type gen struct {
	rng   *rand.Rand
	ids   *identities
	media *media
	today time.Time
}

func newGen(seed uint64, ids *identities, m *media) *gen {
	return &gen{rng: rand.New(rand.NewPCG(seed, 0x6f6e626f61726469)), ids: ids, media: m, today: time.Now().UTC()}
}

func (g *gen) id() *identity { return &g.ids.all[g.rng.IntN(len(g.ids.all))] }

func (g *gen) idWithPhone() *identity { return &g.ids.withPhone[g.rng.IntN(len(g.ids.withPhone))] }

// uuid appends a random UUIDv4, the shape of the caller's process ids.
func (g *gen) uuid(b []byte) []byte {
	var u [16]byte
	lo, hi := g.rng.Uint64(), g.rng.Uint64()
	for i := range 8 {
		u[i], u[8+i] = byte(lo>>(8*i)), byte(hi>>(8*i))
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return append(b, uuid.UUID(u).String()...)
}

// pick returns one of choices with the given weights (per cent).
func (g *gen) pick(choices []string, weights []int) string {
	p := g.rng.IntN(100)
	for i, w := range weights {
		if p < w {
			return choices[i]
		}
		p -= w
	}
	return choices[len(choices)-1]
}

func (g *gen) score(b []byte, lo, hi float64) []byte {
	return strconv.AppendFloat(b, lo+g.rng.Float64()*(hi-lo), 'f', 2, 64)
}

func (g *gen) digits(b []byte, n int) []byte {
	for range n {
		b = append(b, byte('0'+g.rng.IntN(10)))
	}
	return b
}

func (g *gen) date(b []byte, t time.Time) []byte {
	return t.AppendFormat(b, time.DateOnly)
}

// appendString appends s as a JSON string (UTF-8 kept as is).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, `\u00`...)
			b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// slashed writes a Czech/Slovak birth number the way documents print it:
// YYMMDD/SSSS.
func slashed(pn string) string {
	if len(pn) >= 9 {
		return pn[:6] + "/" + pn[6:]
	}
	return pn
}

// typo changes the last letter of name, a one-character difference the
// evaluation sends to review (WAIT).
func typo(name string) string {
	r, size := utf8.DecodeLastRuneInString(name)
	if r == 'X' {
		return name[:len(name)-size] + "Y"
	}
	return name[:len(name)-size] + "X"
}

func (g *gen) common(b []byte, id *identity) []byte {
	b = append(b, `{"processId":"`...)
	b = g.uuid(b)
	b = append(b, `","processType":"DEFAULT","userId":`...)
	return appendString(b, id.userID)
}

func lookupBody(g *gen) body {
	id := g.id()
	b := make([]byte, 0, 192)
	b = append(b, `{"processId":"`...)
	b = g.uuid(b)
	b = append(b, `","processType":"DEFAULT","identification":{`...)
	if id.personalNumber != "" && g.rng.IntN(100) < 15 {
		b = append(b, `"personalNumber":`...)
		b = appendString(b, slashed(id.personalNumber))
	} else {
		b = append(b, `"clientNumber":`...)
		b = appendString(b, id.clientNumber)
		b = append(b, `,"birthDate":`...)
		b = appendString(b, id.birthDate)
	}
	return body{append(b, "}}"...)}
}

func consentTextBody(g *gen) body {
	b := g.common(make([]byte, 0, 192), g.id())
	b = append(b, `,"consentType":"`...)
	b = append(b, g.pick([]string{"GDPR", "MARKETING"}, []int{60, 40})...)
	b = append(b, `","language":"`...)
	b = append(b, g.pick([]string{"cs", "en", "de"}, []int{55, 35, 10})...)
	return body{append(b, `"}`...)}
}

func consentStorageBody(g *gen) body {
	b := g.common(make([]byte, 0, 192), g.id())
	b = append(b, `,"consentType":"`...)
	b = append(b, g.pick([]string{"GDPR", "MARKETING"}, []int{60, 40})...)
	b = append(b, `","approved":`...)
	b = append(b, g.pick([]string{"true", "false"}, []int{90, 10})...)
	return body{append(b, '}')}
}

func otpBody(g *gen) body {
	b := g.common(make([]byte, 0, 256), g.idWithPhone())
	b = append(b, `,"language":"`...)
	b = append(b, g.pick([]string{"cs", "en", "sk", "de"}, []int{50, 30, 10, 10})...)
	b = append(b, `","otpCode":"`...)
	b = g.digits(b, 8)
	b = append(b, `","otpType":"`...)
	b = append(b, g.pick([]string{"ACTIVATION", "USER_VERIFICATION"}, []int{70, 30})...)
	return body{append(b, `","resend":false}`...)}
}

func processEventBody(g *gen) body {
	id := g.id()
	b := make([]byte, 0, 384)
	b = append(b, `{"type":"FINISHED","processId":"`...)
	b = g.uuid(b)
	b = append(b, `","processType":"DEFAULT","userId":`...)
	b = appendString(b, id.userID)
	b = append(b, `,"identityVerificationId":"`...)
	b = g.uuid(b)
	b = append(b, `","locale":"`...)
	b = append(b, g.pick([]string{"cs-CZ", "en-GB", "sk-SK"}, []int{60, 30, 10})...)
	b = append(b, `","data":{"deviceId":"`...)
	b = g.uuid(b)
	b = append(b, `","platform":"`...)
	b = append(b, g.pick([]string{"android", "ios"}, []int{60, 40})...)
	b = append(b, `","appVersion":"4.12.1","ipAddress":"10.`...)
	b = strconv.AppendInt(b, int64(g.rng.IntN(256)), 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(g.rng.IntN(256)), 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(1+g.rng.IntN(254)), 10)
	return body{append(b, `"}}`...)}
}

// approveBody: the small variant has a realistic score mix (90% OK, 6%
// borderline WAIT, 3% NOK, 1% failed check); the frame variant scores
// OK only, so no 100 KB frame is kept as review evidence (the in-memory
// store would grow by it on every WAIT).
func approveBody(frame bool) func(g *gen) body {
	return func(g *gen) body {
		b := g.common(make([]byte, 0, 256), g.id())
		b = append(b, `,"identityVerificationId":"`...)
		b = g.uuid(b)
		b = append(b, `","provider":"iProov","status":"`...)
		if frame {
			b = append(b, `SUCCESS","score":`...)
			b = g.score(b, 7, 10)
			b = append(b, `,"presenceCheckResult":{"frame":"`...)
			return body{b, g.media.frames[g.rng.IntN(len(g.media.frames))], []byte(`"}}`)}
		}
		switch p := g.rng.IntN(100); {
		case p < 90:
			b = g.score(append(b, `SUCCESS","score":`...), 7, 10)
		case p < 96:
			b = g.score(append(b, `SUCCESS","score":`...), 4, 7)
		case p < 99:
			b = g.score(append(b, `SUCCESS","score":`...), 1, 4)
		default:
			b = append(b, `FAILURE","score":null`...)
		}
		return body{append(b, '}')}
	}
}

// evaluateBody sends one identity document whose data matches the registry
// (upper-case names as printed, the birth number with its slash); the small
// variant has 4% one-letter name differences (WAIT) and 1% expired
// documents (NOK), the image variant adds a ~200 KB face image.
func evaluateBody(image bool) func(g *gen) body {
	return func(g *gen) body {
		id := g.id()
		b := g.common(make([]byte, 0, 640), id)
		b = append(b, `,"identityVerificationId":"`...)
		b = g.uuid(b)
		b = append(b, `","provider":"ZenID","status":"SUCCESS","score":`...)
		b = g.score(b, 7.5, 10)
		b = append(b, `,"documentCheckResult":{"documents":[{"type":"`...)
		if id.nationality == "CZE" || id.nationality == "SVK" {
			b = append(b, "ID_CARD"...)
		} else {
			b = append(b, "PASSPORT"...)
		}
		b = append(b, `","status":"SUCCESS","data":{"givenNames":`...)
		b = appendString(b, id.docGiven)
		b = append(b, `,"surname":`...)
		p := g.rng.IntN(100)
		if !image && p < 4 {
			b = appendString(b, typo(id.docSurname))
		} else {
			b = appendString(b, id.docSurname)
		}
		b = append(b, `,"dateOfBirth":`...)
		b = appendString(b, id.birthDate)
		if id.nationality != "" {
			b = append(b, `,"nationality":`...)
			b = appendString(b, id.nationality)
		}
		if id.personalNumber != "" {
			b = append(b, `,"personalNumber":`...)
			b = appendString(b, slashed(id.personalNumber))
		}
		b = append(b, `,"documentNumber":"`...)
		b = g.digits(b, 9)
		issued := g.today.AddDate(-g.rng.IntN(10), -g.rng.IntN(12), -g.rng.IntN(28))
		expires := issued.AddDate(10, 0, 0)
		if !image && p == 4 {
			issued = g.today.AddDate(-10, -1-g.rng.IntN(24), 0)
			expires = issued.AddDate(10, 0, 0)
		}
		b = append(b, `","dateOfIssue":"`...)
		b = g.date(b, issued)
		b = append(b, `","dateOfExpiry":"`...)
		b = g.date(b, expires)
		if image {
			b = append(b, `"},"images":[{"type":"FACE","data":"`...)
			return body{b, g.media.faces[g.rng.IntN(len(g.media.faces))], []byte(`"}]}]}}`)}
		}
		return body{append(b, `"}}]}}`...)}
	}
}

// jsonField returns the raw value of the first "key": in a small JSON
// answer (strings without their quotes), for the answers tally.
func jsonField(answer []byte, key string) string {
	i := bytes.Index(answer, []byte(`"`+key+`":`))
	if i < 0 {
		return ""
	}
	v := answer[i+len(key)+3:]
	if len(v) > 0 && v[0] == '"' {
		if j := bytes.IndexByte(v[1:], '"'); j >= 0 {
			return string(v[1 : 1+j])
		}
		return ""
	}
	j := bytes.IndexAny(v, ",}")
	if j < 0 {
		return string(v)
	}
	return string(v[:j])
}

func fieldClassifier(key string) classifier {
	return func(status int, answer []byte) string {
		if status/100 != 2 {
			return ""
		}
		return jsonField(answer, key)
	}
}

// scenario is one endpoint with one kind of body.
type scenario struct {
	name, path, body string
	durable          bool // a durable write: compared with pgbench's INSERT
	lookup           bool // compared with pgbench's SELECT
	small            bool // the "small bodies" targets apply
	make             func(*gen) body
	classify         classifier
}

func scenarios() []scenario {
	return []scenario{
		{name: "lookup", path: "/user/lookup", body: "small", small: true, lookup: true, make: lookupBody, classify: fieldClassifier("consent")},
		{name: "consent-text", path: "/consent/text", body: "small", small: true, make: consentTextBody},
		{name: "consent-storage", path: "/consent/storage", body: "small", small: true, durable: true, make: consentStorageBody},
		{name: "otp-send", path: "/otp/send", body: "small", small: true, make: otpBody, classify: fieldClassifier("otpSent")},
		{name: "process-event", path: "/process/event", body: "small", small: true, make: processEventBody},
		{name: "approve", path: "/client/approve", body: "small", small: true, durable: true, make: approveBody(false), classify: fieldClassifier("result")},
		{name: "evaluate", path: "/client/evaluate", body: "small (document data)", small: true, durable: true, make: evaluateBody(false), classify: fieldClassifier("result")},
		{name: "approve-frame", path: "/client/approve", body: "100 KB frame", durable: true, make: approveBody(true), classify: fieldClassifier("result")},
		{name: "evaluate-image", path: "/client/evaluate", body: "200 KB face image", durable: true, make: evaluateBody(true), classify: fieldClassifier("result")},
	}
}
