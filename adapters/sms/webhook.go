package sms

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"text/template"

	"github.com/bankkit/onboarding-adapter/domain"
)

var _ Gateway = (*HTTPGateway)(nil)

// TemplateData is what the webhook body template sees. Text holds the OTP
// code: embed it with {{json .Text}} and nowhere else.
type TemplateData struct {
	To        string // E.164 with the leading +; {{trimPrefix .To "+"}} drops it
	Text      string
	SenderID  string
	Reference string // a non-secret id of this send, for the gateway's records
	Encoding  string // GSM-7 or UCS-2
	Segments  int
}

// HTTPGateway makes one request per Attempt to an in-house JSON webhook,
// configured by HTTPConfig. Use NewHTTPSender for the resilient sender.
type HTTPGateway struct {
	url          string
	method       string
	header       http.Header // static headers and auth
	tmpl         *template.Template
	statuses     statusSet
	successPath  []string
	successValue string
	idPath       []string
	client       *http.Client
}

// NewHTTPSender returns the resilient webhook sender
// (ONBOARDING_SMS_PROVIDER=http).
func NewHTTPSender(cfg HTTPConfig, opts Options) (*Resilient, error) {
	gw, err := NewHTTPGateway(cfg, gatewayClient(opts.Client, opts.Resilience.withDefaults().MaxConcurrency))
	if err != nil {
		return nil, err
	}
	return NewResilient(gw, opts)
}

// NewHTTPGateway validates cfg (rendering the template over sample data)
// and returns the single-attempt gateway. client must not follow
// redirects (see gatewayClient); nil means a dedicated client.
func NewHTTPGateway(cfg HTTPConfig, client *http.Client) (*HTTPGateway, error) {
	g, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	if client == nil {
		client = gatewayClient(nil, DefaultMaxConcurrency)
	}
	g.client = client
	return g, nil
}

// Name returns "http".
func (g *HTTPGateway) Name() string { return ProviderHTTP }

// Attempt renders the body, sends it once and reads success from the
// answer: the status must be in the success set and, when configured,
// the success field must hold the success value.
func (g *HTTPGateway) Attempt(ctx context.Context, sms domain.SMS) Attempt {
	var body bytes.Buffer
	if err := g.tmpl.Execute(&body, templateData(sms)); err != nil {
		// Validated at start, so this is a bug; the error of a template
		// execution can quote the data, so it is not passed on.
		return configFailure("http: the body template failed to render")
	}
	req, err := http.NewRequestWithContext(ctx, g.method, g.url, &body)
	if err != nil {
		return configFailure("http: cannot build the request")
	}
	req.Header = g.header.Clone()
	ans, failed := roundTrip(g.client, req)
	if failed != nil {
		return *failed
	}
	if !g.statuses.has(ans.status) {
		return statusFailure(ans, ProviderHTTP)
	}
	return g.readSuccess(ans, sms)
}

// readSuccess reads a success-status answer.
func (g *HTTPGateway) readSuccess(ans answer, sms domain.SMS) Attempt {
	var doc any
	parsed := false
	if g.successPath != nil || g.idPath != nil {
		dec := json.NewDecoder(bytes.NewReader(ans.body))
		dec.UseNumber()
		parsed = !ans.truncated && dec.Decode(&doc) == nil
	}
	if g.successPath != nil {
		if !parsed {
			return badAnswer(ans.status, "gateway answer is not JSON, so its success field cannot be read")
		}
		v, ok := lookup(doc, g.successPath)
		if !ok {
			return badAnswer(ans.status, "gateway answer has no success field "+strings.Join(g.successPath, "."))
		}
		if v != g.successValue {
			detail := fmt.Sprintf("gateway reported failure: %s = %q", strings.Join(g.successPath, "."), scrub(truncate(v, 32)))
			return Attempt{Outcome: domain.OTPFailedPermanent, Reason: ReasonRejected, Status: ans.status,
				Detail: detail, Err: errors.New("http: " + detail)}
		}
	}
	a := Attempt{Outcome: domain.OTPSent, Reason: ReasonAccepted, Status: ans.status,
		Detail: "gateway answered HTTP " + strconv.Itoa(ans.status)}
	if parsed && g.idPath != nil {
		if id, ok := lookup(doc, g.idPath); ok && safeMessageID(id, sms) {
			a.MessageID = id
		}
	}
	return a
}

// safeMessageID refuses an "id" that could be message data (a
// misconfigured path pointing at the echoed recipient or text) or that is
// unfit for a log line.
func safeMessageID(id string, sms domain.SMS) bool {
	if id == "" || len(id) > 128 || strings.Contains(sms.Text, id) ||
		strings.Contains(id, strings.TrimPrefix(sms.To, "+")) {
		return false
	}
	for _, r := range id {
		if r < 0x21 || r > 0x7e {
			return false
		}
	}
	return true
}

// templateData is what the template sees for sms.
func templateData(sms domain.SMS) TemplateData {
	return TemplateData{To: sms.To, Text: sms.Text, SenderID: sms.SenderID, Reference: sms.Reference,
		Encoding: string(sms.Encoding), Segments: sms.Segments}
}

// templateFuncs are the helpers a body template may use.
func templateFuncs() template.FuncMap {
	return template.FuncMap{"json": jsonValue, "trimPrefix": strings.TrimPrefix}
}

// jsonValue renders v as a JSON value (a quoted, escaped string for a
// string), so message text can never break out of its field.
func jsonValue(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// sampleData exercises a template at start: quotes, a backslash, a new
// line and non-ASCII text break any template that embeds .Text without
// the json helper.
func sampleData() TemplateData {
	return TemplateData{
		To: "+420777000000", Text: "Sample \"quoted\" text \\ with ünïcödé,\nnew line and <&> 12345678",
		SenderID: "Sender", Reference: "0123456789abcdef", Encoding: string(domain.EncodingUCS2), Segments: 1,
	}
}

// compile validates c and builds the gateway without its client.
func (c HTTPConfig) compile() (*HTTPGateway, error) {
	var errs []error
	g := &HTTPGateway{header: http.Header{}, successValue: c.SuccessValue}

	if c.URL == "" {
		errs = append(errs, fmt.Errorf("%s: required", EnvHTTPURL))
	} else if err := checkURL(c.URL, true); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvHTTPURL, err))
	}
	g.url = c.URL

	switch m := strings.ToUpper(strings.TrimSpace(c.Method)); m {
	case "", http.MethodPost:
		g.method = http.MethodPost
	case http.MethodPut:
		g.method = http.MethodPut
	default:
		errs = append(errs, fmt.Errorf("%s: %q is not POST or PUT", EnvHTTPMethod, c.Method))
	}

	g.header.Set("Content-Type", "application/json")
	g.header.Set("Accept", "application/json")
	g.header.Set("User-Agent", userAgent)
	for name, value := range c.Headers {
		switch canon := http.CanonicalHeaderKey(name); {
		case !isToken(name):
			errs = append(errs, fmt.Errorf("%s: a header name is not a valid HTTP token (not printed: the variable is a secret)", EnvHTTPHeaders))
		case strings.ContainsAny(value, "\r\n"):
			errs = append(errs, fmt.Errorf("%s: the value of %s must be one line", EnvHTTPHeaders, canon))
		case canon == "Host" || canon == "Content-Length" || canon == "Transfer-Encoding" || canon == "Connection":
			errs = append(errs, fmt.Errorf("%s: %s cannot be set", EnvHTTPHeaders, canon))
		case canon == "Authorization" && !strings.EqualFold(orDefault(c.AuthMode, AuthNone), AuthNone):
			errs = append(errs, fmt.Errorf("%s: Authorization conflicts with %s=%s", EnvHTTPHeaders, EnvHTTPAuth, c.AuthMode))
		default:
			g.header.Set(canon, value)
		}
	}

	switch mode := strings.ToLower(strings.TrimSpace(c.AuthMode)); mode {
	case "", AuthNone:
	case AuthBasic:
		if c.Username == "" {
			errs = append(errs, fmt.Errorf("%s: required with %s=basic", EnvHTTPUsername, EnvHTTPAuth))
		}
		if c.Password == "" {
			errs = append(errs, fmt.Errorf("%s (or %s_FILE): required with %s=basic", EnvHTTPPassword, EnvHTTPPassword, EnvHTTPAuth))
		}
		if strings.ContainsAny(c.Username, ":\r\n") || strings.ContainsAny(c.Password, "\r\n") {
			errs = append(errs, fmt.Errorf("%s, %s: must be one line, and the user without ':'", EnvHTTPUsername, EnvHTTPPassword))
		}
		g.header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.Username+":"+c.Password)))
	case AuthBearer:
		switch {
		case c.BearerToken == "":
			errs = append(errs, fmt.Errorf("%s (or %s_FILE): required with %s=bearer", EnvHTTPToken, EnvHTTPToken, EnvHTTPAuth))
		case strings.ContainsAny(c.BearerToken, " \t\r\n"):
			errs = append(errs, fmt.Errorf("%s: must not contain white space", EnvHTTPToken))
		}
		g.header.Set("Authorization", "Bearer "+c.BearerToken)
	default:
		errs = append(errs, fmt.Errorf("%s: %q is not none, basic or bearer", EnvHTTPAuth, c.AuthMode))
	}

	statuses, err := parseStatuses(orDefault(c.SuccessStatuses, DefaultSuccessStatuses))
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvHTTPSuccessStatus, err))
	}
	g.statuses = statuses

	if c.SuccessField != "" {
		if g.successPath, err = parsePath(c.SuccessField); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", EnvHTTPSuccessField, err))
		}
		if c.SuccessValue == "" {
			errs = append(errs, fmt.Errorf("%s: required with %s", EnvHTTPSuccessValue, EnvHTTPSuccessField))
		}
	} else if c.SuccessValue != "" {
		errs = append(errs, fmt.Errorf("%s: set without %s", EnvHTTPSuccessValue, EnvHTTPSuccessField))
	}
	if c.MessageIDField != "" {
		if g.idPath, err = parsePath(c.MessageIDField); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", EnvHTTPMessageIDField, err))
		}
	}

	tmpl, err := compileTemplate(orDefault(c.BodyTemplate, DefaultBodyTemplate))
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvHTTPBodyTemplate, err))
	}
	g.tmpl = tmpl

	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return g, nil
}

// compileTemplate parses src and proves it on sampleData: the result must
// be one JSON value holding the recipient and the text as strings.
func compileTemplate(src string) (*template.Template, error) {
	tmpl, err := template.New("body").Funcs(templateFuncs()).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, fmt.Errorf("does not parse: %w", err)
	}
	sample := sampleData()
	var b bytes.Buffer
	if err := tmpl.Execute(&b, sample); err != nil {
		return nil, fmt.Errorf("does not render: %w", err)
	}
	if !json.Valid(b.Bytes()) {
		return nil, errors.New("does not render valid JSON for a sample message; embed every value with {{json .X}}")
	}
	var doc any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		return nil, fmt.Errorf("does not render valid JSON: %w", err)
	}
	to := sample.To
	if !containsString(doc, func(s string) bool { return strings.Contains(s, strings.TrimPrefix(to, "+")) }) {
		return nil, errors.New("does not put the recipient (.To) into the body")
	}
	if !containsString(doc, func(s string) bool { return strings.Contains(s, sample.Text) }) {
		return nil, errors.New("does not put the text (.Text) into the body as a JSON string")
	}
	return tmpl, nil
}

// containsString reports whether any string in the decoded JSON doc
// satisfies ok.
func containsString(doc any, ok func(string) bool) bool {
	switch v := doc.(type) {
	case string:
		return ok(v)
	case []any:
		for _, e := range v {
			if containsString(e, ok) {
				return true
			}
		}
	case map[string]any:
		for _, e := range v {
			if containsString(e, ok) {
				return true
			}
		}
	}
	return false
}

// parsePath splits a dot path like messages.0.status.
func parsePath(p string) ([]string, error) {
	parts := strings.Split(strings.TrimSpace(p), ".")
	for _, s := range parts {
		if s == "" {
			return nil, fmt.Errorf("%q is not a dot path like messages.0.status", p)
		}
	}
	return parts, nil
}

// lookup follows path through decoded JSON (object keys, array indexes)
// and renders the scalar it ends on as text: strings as they are, numbers
// as written, booleans as true/false, null as "null". Objects and arrays
// are not values.
func lookup(doc any, path []string) (string, bool) {
	cur := doc
	for _, seg := range path {
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[seg]
			if !ok {
				return "", false
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(v) {
				return "", false
			}
			cur = v[i]
		default:
			return "", false
		}
	}
	switch v := cur.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		return strconv.FormatBool(v), true
	case nil:
		return "null", true
	default:
		return "", false
	}
}

// statusSet is a set of HTTP status ranges.
type statusSet [][2]int

// has reports whether s contains status.
func (s statusSet) has(status int) bool {
	for _, r := range s {
		if status >= r[0] && status <= r[1] {
			return true
		}
	}
	return false
}

// parseStatuses reads "200-299" or "200,202" or a mix.
func parseStatuses(spec string) (statusSet, error) {
	var out statusSet
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		if !isRange {
			hi = lo
		}
		l, err1 := strconv.Atoi(strings.TrimSpace(lo))
		h, err2 := strconv.Atoi(strings.TrimSpace(hi))
		if err1 != nil || err2 != nil || l < 100 || h > 599 || l > h {
			return nil, fmt.Errorf("%q is not a status or range like 200-299", part)
		}
		out = append(out, [2]int{l, h})
	}
	return out, nil
}
