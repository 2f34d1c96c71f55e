package consent_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/bankkit/onboarding-adapter/adapters/memory"
	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/domain/consent"
	"github.com/bankkit/onboarding-adapter/domain/policy"
	"github.com/bankkit/onboarding-adapter/ports"
)

var now = time.Date(2025, 6, 15, 10, 0, 0, 0, time.UTC)

type fixture struct {
	svc      ports.ConsentService
	clock    *memory.FakeClock
	texts    *memory.ConsentTextStore
	servings *memory.ConsentServings
	ledger   *memory.ConsentLedger
}

func newFixture(t testing.TB) fixture {
	t.Helper()
	clock := memory.NewFakeClock(now)
	f := fixture{clock: clock, texts: memory.NewConsentTextStore(clock), servings: memory.NewConsentServings(), ledger: memory.NewConsentLedger(clock)}
	f.publish(t, "GDPR", "en", "<p>GDPR v1</p>")
	f.publish(t, "GDPR", "cs", "<p>GDPR cs v1</p>")
	f.publish(t, "TERMS", "cs", "<p>Podmínky</p>") // no English text
	f.svc = consent.New(f.texts, f.servings, f.ledger, clock, policy.Default().Consent)
	return f
}

func (f fixture) publish(t testing.TB, typ, lang, html string) domain.ConsentText {
	t.Helper()
	text, err := f.texts.PublishConsentText(context.Background(), typ, lang, html)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

func textRequest(typ, lang string) ports.ConsentTextRequest {
	return ports.ConsentTextRequest{ProcessID: "p-1", UserID: "u-jana", ConsentType: typ, Language: lang}
}

// consentTextCase is one row of TestConsentText.
type consentTextCase struct {
	name      string
	req       ports.ConsentTextRequest
	wantHTML  string
	wantLang  string
	wantField string // error field, "" for success
	wantMsg   string
}

func TestConsentText(t *testing.T) {
	tests := []consentTextCase{
		{name: "english", req: textRequest("GDPR", "en"), wantHTML: "<p>GDPR v1</p>", wantLang: "en"},
		{name: "czech", req: textRequest("GDPR", "cs"), wantHTML: "<p>GDPR cs v1</p>", wantLang: "cs"},
		{name: "language with region", req: textRequest("GDPR", "cs-CZ"), wantHTML: "<p>GDPR cs v1</p>", wantLang: "cs"},
		{name: "upper-case language", req: textRequest("GDPR", " CS "), wantHTML: "<p>GDPR cs v1</p>", wantLang: "cs"},
		{name: "unknown language falls back", req: textRequest("GDPR", "de"), wantHTML: "<p>GDPR v1</p>", wantLang: "en"},
		{name: "no language is the default", req: textRequest("GDPR", ""), wantHTML: "<p>GDPR v1</p>", wantLang: "en"},
		{name: "no process still serves", req: ports.ConsentTextRequest{ConsentType: "GDPR", Language: "en"}, wantHTML: "<p>GDPR v1</p>", wantLang: "en"},
		{name: "type only in another language", req: textRequest("TERMS", "cs"), wantHTML: "<p>Podmínky</p>", wantLang: "cs"},
		{name: "type without a default-language text", req: textRequest("TERMS", "de"), wantField: "consentType", wantMsg: "unknown consent type"},
		{name: "unknown type", req: textRequest("NEWSLETTER", "en"), wantField: "consentType", wantMsg: "unknown consent type"},
		{name: "type is case-sensitive", req: textRequest("gdpr", "en"), wantField: "consentType", wantMsg: "unknown consent type"},
		{name: "no type", req: textRequest(" ", "en"), wantField: "consentType", wantMsg: "is required"},
	}
	for _, oneCall := range []bool{false, true} {
		for _, tc := range tests {
			name := tc.name
			if oneCall {
				name = "reader reading the fallback in one call/" + name
			}
			t.Run(name, func(t *testing.T) { testConsentText(t, oneCall, tc) })
		}
	}
}

// oneCallTexts reads a language and its fallback in one call, as the Redis
// cache does, and counts the calls.
type oneCallTexts struct {
	ports.ConsentTextReader
	calls int
}

func (o *oneCallTexts) LatestConsentText(ctx context.Context, typ, lang string) (domain.ConsentText, error) {
	o.calls++
	return o.ConsentTextReader.LatestConsentText(ctx, typ, lang)
}

func (o *oneCallTexts) LatestConsentTextOr(ctx context.Context, typ, lang, fallback string) (domain.ConsentText, error) {
	o.calls++
	t, err := o.ConsentTextReader.LatestConsentText(ctx, typ, lang)
	if domain.IsNotFound(err) {
		return o.ConsentTextReader.LatestConsentText(ctx, typ, fallback)
	}
	return t, err
}

// testConsentText runs one case, through a reader that reads the fallback
// language in one call when oneCall: then a request costs one call.
func testConsentText(t *testing.T, oneCall bool, tc consentTextCase) {
	f := newFixture(t)
	ctx := context.Background()
	var reader *oneCallTexts
	if oneCall {
		reader = &oneCallTexts{ConsentTextReader: f.texts}
		f.svc = consent.New(reader, f.servings, f.ledger, f.clock, policy.Default().Consent)
	}
	text, err := f.svc.ConsentText(ctx, tc.req)
	if reader != nil && tc.wantMsg != "is required" && reader.calls != 1 {
		t.Errorf("%d calls of the reader, want 1", reader.calls)
	}
	if tc.wantField != "" {
		de, ok := domain.AsError(err)
		if !ok || de.Code != domain.CodeInvalid || de.Field != tc.wantField || de.Message != tc.wantMsg {
			t.Fatalf("err = %v, want invalid %s %q", err, tc.wantField, tc.wantMsg)
		}
		return
	}
	if err != nil || text.HTML != tc.wantHTML || text.Language != tc.wantLang {
		t.Fatalf("ConsentText = %+v, %v", text, err)
	}
	sv, err := f.servings.LastServing(ctx, "p-1", tc.req.ConsentType)
	if tc.req.ProcessID == "" {
		if !domain.IsNotFound(err) {
			t.Errorf("serving recorded without a process: %+v", sv)
		}
		return
	}
	if err != nil || sv.Version != text.Version || sv.Language != text.Language || sv.SHA256 != text.SHA256 || !sv.ServedAt.Equal(now) {
		t.Errorf("serving = %+v, %v; want the served text", sv, err)
	}
}

type brokenServings struct{ ports.ConsentServings }

func (brokenServings) RecordServing(context.Context, domain.ConsentServing) error {
	return domain.Unavailable(errors.New("timeout"), "servings unavailable")
}

func (brokenServings) LastServing(context.Context, string, string) (domain.ConsentServing, error) {
	return domain.ConsentServing{}, domain.Unavailable(errors.New("timeout"), "servings unavailable")
}

type brokenTexts struct{}

func (brokenTexts) LatestConsentText(context.Context, string, string) (domain.ConsentText, error) {
	return domain.ConsentText{}, domain.Unavailable(errors.New("timeout"), "texts unavailable")
}

type brokenLedger struct{ ports.ConsentLedger }

func (brokenLedger) AppendConsent(context.Context, domain.ConsentRecord) (domain.ConsentRecord, bool, error) {
	return domain.ConsentRecord{}, false, domain.Unavailable(errors.New("timeout"), "ledger unavailable")
}

func TestConsentTextDependencies(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	t.Run("serving not recorded still serves", func(t *testing.T) {
		svc := consent.New(f.texts, brokenServings{}, f.ledger, f.clock, policy.Default().Consent)
		if text, err := svc.ConsentText(ctx, textRequest("GDPR", "en")); err != nil || text.HTML != "<p>GDPR v1</p>" {
			t.Errorf("ConsentText = %+v, %v", text, err)
		}
	})
	t.Run("text store down is unavailable", func(t *testing.T) {
		svc := consent.New(brokenTexts{}, f.servings, f.ledger, f.clock, policy.Default().Consent)
		if _, err := svc.ConsentText(ctx, textRequest("GDPR", "en")); domain.CodeOf(err) != domain.CodeUnavailable {
			t.Errorf("err = %v, want unavailable", err)
		}
	})
}

func storage(approved bool) ports.ConsentStorageRequest {
	return ports.ConsentStorageRequest{ProcessID: "p-1", UserID: "u-jana", ConsentType: "GDPR", Approved: approved,
		Meta: domain.RequestMeta{CorrelationID: "corr-1", RequestID: "req-1"}}
}

func TestStoreConsentVersion(t *testing.T) {
	ctx := context.Background()
	t.Run("the version last served to the process", func(t *testing.T) {
		f := newFixture(t)
		if _, err := f.svc.ConsentText(ctx, textRequest("GDPR", "cs")); err != nil {
			t.Fatal(err)
		}
		f.publish(t, "GDPR", "cs", "<p>GDPR cs v2</p>") // published after the user saw v1
		rec, err := f.svc.StoreConsent(ctx, storage(true))
		if err != nil {
			t.Fatal(err)
		}
		if rec.TextVersion != 1 || rec.Language != "cs" || rec.TextSHA256 == "" || !rec.TextServed {
			t.Errorf("record = %+v, want cs v1 as shown, marked served", rec)
		}
	})
	t.Run("the current default text when nothing was served", func(t *testing.T) {
		f := newFixture(t)
		v2 := f.publish(t, "GDPR", "en", "<p>GDPR v2</p>")
		rec, err := f.svc.StoreConsent(ctx, storage(true))
		if err != nil {
			t.Fatal(err)
		}
		if rec.TextVersion != 2 || rec.Language != "en" || rec.TextSHA256 != v2.SHA256 || rec.TextServed {
			t.Errorf("record = %+v, want en v2, not marked served", rec)
		}
	})
	t.Run("the record carries who, what, when and the request", func(t *testing.T) {
		f := newFixture(t)
		rec, err := f.svc.StoreConsent(ctx, storage(false))
		if err != nil {
			t.Fatal(err)
		}
		if rec.ProcessID != "p-1" || rec.UserID != "u-jana" || rec.ConsentType != "GDPR" || rec.Approved ||
			rec.RequestID != "req-1" || rec.CorrelationID != "corr-1" || !rec.RecordedAt.Equal(now) || rec.ID == 0 {
			t.Errorf("record = %+v", rec)
		}
	})
}

func TestStoreConsentLedger(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	first, err := f.svc.StoreConsent(ctx, storage(true))
	if err != nil {
		t.Fatal(err)
	}
	// The caller re-sends with a fresh request id: no second row.
	again := storage(true)
	again.Meta.RequestID = "req-2"
	f.clock.Advance(time.Second)
	second, err := f.svc.StoreConsent(ctx, again)
	if err != nil || second.ID != first.ID || second.RequestID != "req-1" {
		t.Errorf("re-sent = %+v, %v; want the first record", second, err)
	}
	if n := len(f.ledger.Records()); n != 1 {
		t.Fatalf("ledger rows = %d after a re-send, want 1", n)
	}
	// A changed decision is a new row; nothing is deleted.
	revoked, err := f.svc.StoreConsent(ctx, storage(false))
	if err != nil || revoked.Approved || revoked.Seq != 2 {
		t.Errorf("revocation = %+v, %v", revoked, err)
	}
	if n := len(f.ledger.Records()); n != 2 {
		t.Errorf("ledger rows = %d after a change, want 2", n)
	}
}

func TestStoreConsentErrors(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tests := []struct {
		name      string
		svc       ports.ConsentService
		mutate    func(*ports.ConsentStorageRequest)
		wantCode  domain.ErrorCode
		wantField string
		wantMsg   string
	}{
		{"no processId", f.svc, func(r *ports.ConsentStorageRequest) { r.ProcessID = "" }, domain.CodeInvalid, "processId", "is required"},
		{"no userId", f.svc, func(r *ports.ConsentStorageRequest) { r.UserID = " " }, domain.CodeInvalid, "userId", "is required"},
		{"no consentType", f.svc, func(r *ports.ConsentStorageRequest) { r.ConsentType = "" }, domain.CodeInvalid, "consentType", "is required"},
		{"unknown consentType", f.svc, func(r *ports.ConsentStorageRequest) { r.ConsentType = "NEWSLETTER" }, domain.CodeInvalid, "consentType", "unknown consent type"},
		{"servings down", consent.New(f.texts, brokenServings{}, f.ledger, f.clock, policy.Default().Consent), func(*ports.ConsentStorageRequest) {}, domain.CodeUnavailable, "", ""},
		{"ledger down", consent.New(f.texts, f.servings, brokenLedger{}, f.clock, policy.Default().Consent), func(*ports.ConsentStorageRequest) {}, domain.CodeUnavailable, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := storage(true)
			tc.mutate(&r)
			_, err := tc.svc.StoreConsent(ctx, r)
			de, ok := domain.AsError(err)
			if !ok || de.Code != tc.wantCode || de.Field != tc.wantField || (tc.wantMsg != "" && de.Message != tc.wantMsg) {
				t.Fatalf("err = %v, want %s %s %q", err, tc.wantCode, tc.wantField, tc.wantMsg)
			}
		})
	}
	if n := len(f.ledger.Records()); n != 0 {
		t.Errorf("ledger rows = %d after failed requests, want 0", n)
	}
}

func BenchmarkConsentText(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := f.svc.ConsentText(ctx, ports.ConsentTextRequest{ProcessID: "p-" + strconv.Itoa(i), ConsentType: "GDPR", Language: "cs-CZ"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStoreConsent(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r := storage(i%2 == 0)
		r.ProcessID = "p-" + strconv.Itoa(i/2)
		if _, err := f.svc.StoreConsent(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}

// servedLedger is a ledger that looks the serving up itself, as the
// PostgreSQL one does: over the memory ledger and servings, counting calls.
type servedLedger struct {
	*memory.ConsentLedger
	servings      ports.ConsentServings
	served, plain int
	given         domain.ConsentRecord // the record AppendServedConsent was given
}

func (l *servedLedger) AppendConsent(ctx context.Context, rec domain.ConsentRecord) (domain.ConsentRecord, bool, error) {
	l.plain++
	return l.ConsentLedger.AppendConsent(ctx, rec)
}

func (l *servedLedger) AppendServedConsent(ctx context.Context, rec domain.ConsentRecord) (domain.ConsentRecord, bool, error) {
	l.served++
	l.given = rec
	if sv, err := l.servings.LastServing(ctx, rec.ProcessID, rec.ConsentType); err == nil {
		rec.Language, rec.TextVersion, rec.TextSHA256, rec.TextServed = sv.Language, sv.Version, sv.SHA256, true
	}
	return l.ConsentLedger.AppendConsent(ctx, rec)
}

// countingServings counts the service's own LastServing reads.
type countingServings struct {
	ports.ConsentServings
	reads int
}

func (c *countingServings) LastServing(ctx context.Context, pid, typ string) (domain.ConsentServing, error) {
	c.reads++
	return c.ConsentServings.LastServing(ctx, pid, typ)
}

// With a ledger that looks the serving up itself the service hands it the
// current default-language text and reads no serving; a type without a
// default-language text takes the read-then-append path.
func TestStoreConsentWithAServedAppender(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T) (fixture, *servedLedger, *countingServings, ports.ConsentService) {
		f := newFixture(t)
		l := &servedLedger{ConsentLedger: f.ledger, servings: f.servings}
		cs := &countingServings{ConsentServings: f.servings}
		return f, l, cs, consent.New(f.texts, cs, l, f.clock, policy.Default().Consent)
	}

	t.Run("served text, one write", func(t *testing.T) {
		f, l, cs, svc := setup(t)
		if _, err := svc.ConsentText(ctx, textRequest("GDPR", "cs")); err != nil {
			t.Fatal(err)
		}
		f.publish(t, "GDPR", "cs", "<p>GDPR cs v2</p>")
		rec, err := svc.StoreConsent(ctx, storage(true))
		if err != nil {
			t.Fatal(err)
		}
		if rec.Language != "cs" || rec.TextVersion != 1 || !rec.TextServed {
			t.Errorf("record = %+v, want cs v1 as shown, marked served", rec)
		}
		if l.served != 1 || l.plain != 0 || cs.reads != 0 {
			t.Errorf("%d served and %d plain appends, %d serving reads; want 1, 0, 0", l.served, l.plain, cs.reads)
		}
		if l.given.Language != "en" || l.given.TextVersion != 1 || l.given.TextServed || l.given.RequestID != "req-1" ||
			!l.given.RecordedAt.Equal(now) {
			t.Errorf("the ledger was given %+v, want the current en text, not marked served, and the request", l.given)
		}
	})

	t.Run("nothing served: the current text", func(t *testing.T) {
		f, l, _, svc := setup(t)
		v2 := f.publish(t, "GDPR", "en", "<p>GDPR v2</p>")
		rec, err := svc.StoreConsent(ctx, storage(true))
		if err != nil || rec.Language != "en" || rec.TextVersion != 2 || rec.TextSHA256 != v2.SHA256 || rec.TextServed ||
			l.served != 1 {
			t.Errorf("record = %+v, %v after %d served appends; want en v2 in one, not marked served", rec, err, l.served)
		}
	})

	t.Run("texts unavailable: the error at once, no serving read", func(t *testing.T) {
		f := newFixture(t)
		l := &servedLedger{ConsentLedger: f.ledger, servings: f.servings}
		cs := &countingServings{ConsentServings: f.servings}
		svc := consent.New(brokenTexts{}, cs, l, f.clock, policy.Default().Consent)
		_, err := svc.StoreConsent(ctx, storage(true))
		if domain.CodeOf(err) != domain.CodeUnavailable || cs.reads != 0 || l.served+l.plain != 0 {
			t.Fatalf("err = %v after %d serving reads and %d appends; want unavailable after none", err, cs.reads, l.served+l.plain)
		}
	})

	t.Run("no default-language text: read, then append", func(t *testing.T) {
		_, l, cs, svc := setup(t)
		if _, err := svc.ConsentText(ctx, textRequest("TERMS", "cs")); err != nil {
			t.Fatal(err)
		}
		r := storage(true)
		r.ConsentType = "TERMS"
		rec, err := svc.StoreConsent(ctx, r)
		if err != nil || rec.Language != "cs" || rec.TextVersion != 1 || !rec.TextServed {
			t.Fatalf("record = %+v, %v; want cs v1 as served, marked so", rec, err)
		}
		if l.served != 0 || l.plain != 1 || cs.reads != 1 {
			t.Errorf("%d served and %d plain appends, %d serving reads; want 0, 1, 1", l.served, l.plain, cs.reads)
		}
	})
}
