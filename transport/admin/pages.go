package admin

import (
	"bytes"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
)

// page is what every page shows around its content.
type page struct {
	Title        string
	Reviewer     string
	FourEyes     bool
	RequireClaim bool
	Notice       string
}

type queuePage struct {
	page
	Cases     []caseJSON
	Status    string // the filter as chosen: OPEN, CLAIMED, RESOLVED or ANY
	Kind      string
	OlderThan string
	Limit     int
	NextURL   string
	Error     string
}

type casePage struct {
	page
	detailJSON
	CSRF       string
	Mine       bool // claimed by the reviewer looking at it
	ClaimedBy  string
	CanClaim   bool
	IsProposer bool // the pending proposal is the reviewer's own
	Resolved   bool
	Reason     string // the reason typed before a refused submission
	Error      string
}

type errorPage struct {
	page
	Status     int
	StatusText string
	Message    string
}

// noticeID is what a case id in a notice may look like.
var noticeID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// notices are the fixed texts a redirect after an action may show; the
// query names one, it never carries text.
var notices = map[string]string{
	"resolved": "Case %s is resolved; the next call for its process gets the resolution.",
	"proposed": "Your verdict on case %s is recorded and waits for a second reviewer to confirm it.",
	"claimed":  "Case %s is claimed by you.",
}

func (h *Handler) page(r *http.Request, title string) page {
	p := page{Title: title, FourEyes: h.cfg.FourEyes, RequireClaim: h.cfg.RequireClaim}
	if me := reviewerOf(r.Context()); me != nil {
		p.Reviewer = me.Name
	}
	q := r.URL.Query()
	if f, ok := notices[q.Get("notice")]; ok {
		// Only an id-shaped value is shown, so a crafted link cannot put
		// a sentence of its own into a notice the reviewer trusts.
		if id := q.Get("case"); noticeID.MatchString(id) {
			p.Notice = fmt.Sprintf(f, id)
		}
	}
	return p
}

func templateFuncs(now func() time.Time) template.FuncMap {
	return template.FuncMap{
		"age": func(t time.Time) string { return age(now().Sub(t)) },
		"when": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		},
		"whenPtr": func(t *time.Time) string {
			if t == nil {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		},
		"score": func(s *float64) string {
			if s == nil {
				return "–"
			}
			return strconv.FormatFloat(*s, 'f', -1, 64)
		},
		"lower":   strings.ToLower,
		"caseURL": func(id string) string { return PagesPrefix + "/cases/" + url.PathEscape(id) },
		"add":     func(a, b int) int { return a + b },
	}
}

// age renders a duration the way a queue shows it: the two largest units.
func age(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	days, hours := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	mins, secs := int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh", days, hours)
	case hours > 0:
		return fmt.Sprintf("%dh %dm", hours, mins)
	case mins > 0:
		return fmt.Sprintf("%dm", mins)
	}
	return fmt.Sprintf("%ds", secs)
}

// render executes a template into a buffer first, so a template failure
// is a clean 500 and never half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var buf bytes.Buffer
	if err := h.pages.ExecuteTemplate(&buf, name, data); err != nil {
		h.cfg.Logger.LogAttrs(r.Context(), slog.LevelError, "rendering a review page failed", slog.String("template", name), slog.String("error", err.Error()))
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("internal error\n"))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// pageQueue is the queue: open cases by default, oldest first.
func (h *Handler) pageQueue(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	status := strings.ToUpper(strings.TrimSpace(q.Get("status")))
	if status == "" {
		status = string(domain.ReviewOpen)
	}
	fq := url.Values{}
	for _, k := range []string{"kind", "olderThan", "after", "limit"} {
		if v := q.Get(k); v != "" {
			fq.Set(k, v)
		}
	}
	if status != "ANY" {
		fq.Set("status", status)
	}
	p := queuePage{page: h.page(r, "Review queue"), Status: status, Kind: q.Get("kind"), OlderThan: q.Get("olderThan")}
	rq := r.Clone(r.Context())
	rq.URL.RawQuery = fq.Encode()
	cases, f, next, err := h.list(rq)
	if err != nil {
		st, msg := statusOf(r.Context(), err)
		if st >= 500 {
			h.serviceError(w, r, false, err)
			return
		}
		p.Error = msg
		h.render(w, r, st, "queue.html", p)
		return
	}
	now := h.cfg.Now()
	for _, c := range cases {
		p.Cases = append(p.Cases, toCaseJSON(c, now))
	}
	p.Limit = f.Limit
	if next != "" {
		nq := url.Values{"status": {status}, "after": {next}}
		for _, k := range []string{"kind", "olderThan", "limit"} {
			if v := q.Get(k); v != "" {
				nq.Set(k, v)
			}
		}
		p.NextURL = PagesPrefix + "/?" + nq.Encode()
	}
	h.render(w, r, http.StatusOK, "queue.html", p)
}

// pageCase is one case: its rules, the document data beside the registry
// record, the frame, the audit trail and the actions.
func (h *Handler) pageCase(w http.ResponseWriter, r *http.Request) {
	h.showCase(w, r, http.StatusOK, "", "")
}

// showCase renders the case page with an optional error of a refused
// action and the reason the reviewer had typed.
func (h *Handler) showCase(w http.ResponseWriter, r *http.Request, status int, errMsg, reason string) {
	c, trail, err := h.detail(r)
	if err != nil {
		h.serviceError(w, r, false, err)
		return
	}
	me := reviewerOf(r.Context())
	d := toDetailJSON(c, trail, h.cfg.Now(), frameURL(PagesPrefix, c.ID))
	p := casePage{
		page: h.page(r, "Case "+c.ID), detailJSON: d, CSRF: me.csrfToken(h.cfg.Now()),
		Mine:       c.Status == domain.ReviewClaimed && c.ClaimedBy == me.Name,
		ClaimedBy:  c.ClaimedBy,
		CanClaim:   c.Status == domain.ReviewOpen,
		IsProposer: c.AwaitsSecondReviewer() && strings.EqualFold(c.Proposal.By, me.Name),
		Resolved:   c.Status == domain.ReviewResolved,
		Reason:     reason, Error: errMsg,
	}
	h.render(w, r, status, "case.html", p)
}

// form reads a POSTed form and checks its CSRF token; on failure it has
// answered.
func (h *Handler) form(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, false, http.StatusBadRequest, "The form could not be read.")
		return false
	}
	if !reviewerOf(r.Context()).validCSRF(r.PostForm.Get(csrfField), h.cfg.Now(), h.cfg.CSRFTTL) {
		h.cfg.Logger.LogAttrs(r.Context(), slog.LevelWarn, "review form refused: missing or invalid CSRF token",
			slog.String("path", r.URL.Path), slog.String("reviewer", reviewerOf(r.Context()).Name))
		h.fail(w, r, false, http.StatusForbidden, "The form has expired or did not come from this page. Reload the case and try again.")
		return false
	}
	return true
}

func (h *Handler) pageClaim(w http.ResponseWriter, r *http.Request) {
	if !h.form(w, r) {
		return
	}
	c, err := h.claim(r)
	if err != nil {
		h.refused(w, r, err, "")
		return
	}
	http.Redirect(w, r, PagesPrefix+"/cases/"+url.PathEscape(c.ID)+"?"+url.Values{"notice": {"claimed"}, "case": {c.ID}}.Encode(), http.StatusSeeOther)
}

func (h *Handler) pageResolve(w http.ResponseWriter, r *http.Request) {
	if !h.form(w, r) {
		return
	}
	reason := r.PostForm.Get("reason")
	c, err := h.resolve(r, r.PostForm.Get("result"), reason)
	if err != nil {
		h.refused(w, r, err, reason)
		return
	}
	if c.AwaitsSecondReviewer() {
		http.Redirect(w, r, PagesPrefix+"/cases/"+url.PathEscape(c.ID)+"?"+url.Values{"notice": {"proposed"}, "case": {c.ID}}.Encode(), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, PagesPrefix+"/?"+url.Values{"notice": {"resolved"}, "case": {c.ID}}.Encode(), http.StatusSeeOther)
}

// refused shows the case again with why the action was refused; internal
// failures get the error page.
func (h *Handler) refused(w http.ResponseWriter, r *http.Request, err error, reason string) {
	status, msg := statusOf(r.Context(), err)
	if status >= 500 || status == http.StatusNotFound {
		h.serviceError(w, r, false, err)
		return
	}
	h.cfg.Logger.LogAttrs(r.Context(), slog.LevelInfo, "review action refused", slog.String("path", r.URL.Path),
		slog.Int("status", status), slog.String("error", err.Error()))
	h.showCase(w, r, status, msg, reason)
}
