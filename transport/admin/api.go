package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

// maxIDLen bounds a case id taken from a path or cursor.
const maxIDLen = 128

// Page sizes of the queue: defaultLimit when the request names none (the
// review service's own default), maxLimit at most (the service refuses more).
const (
	defaultLimit = 50
	maxLimit     = 500
)

// listJSON is a page of the queue.
type listJSON struct {
	Cases []caseJSON `json:"cases"`
	// NextCursor, when not null, is the "after" value of the next page.
	NextCursor *string `json:"nextCursor"`
}

// resolveJSON is the body of a resolution. The reviewer is the
// authenticated user; there is deliberately no field naming a second
// reviewer (see ports.ReviewService.Resolve and domain/review).
type resolveJSON struct {
	Result string `json:"result"`
	Reason string `json:"reason"`
}

// parseFilter reads the queue's query parameters: status (OPEN, CLAIMED,
// RESOLVED), kind (approval, evaluation), olderThan (a duration such as
// 90m, 36h or 3d: cases created before now minus it), after (the cursor)
// and limit (1-500).
func parseFilter(q url.Values, now time.Time) (ports.ReviewFilter, error) {
	f := ports.ReviewFilter{
		Status:  domain.ReviewStatus(strings.ToUpper(strings.TrimSpace(q.Get("status")))),
		Kind:    domain.DecisionKind(strings.ToLower(strings.TrimSpace(q.Get("kind")))),
		AfterID: strings.TrimSpace(q.Get("after")),
	}
	if len(f.AfterID) > maxIDLen {
		return f, domain.Invalid("after", "is not a case id")
	}
	if s := strings.TrimSpace(q.Get("olderThan")); s != "" {
		d, err := ParseAge(s)
		if err != nil {
			return f, domain.Invalid("olderThan", "must be a duration such as 30m, 12h or 3d")
		}
		f.CreatedBefore = now.Add(-d)
	}
	if s := strings.TrimSpace(q.Get("limit")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return f, domain.Invalid("limit", "must be between 1 and %d", maxLimit)
		}
		f.Limit = n
	}
	if f.Limit == 0 {
		f.Limit = defaultLimit
	}
	return f, nil
}

// MaxAgeDays bounds a day count ParseAge takes: ten years, past any
// retention, and far from overflowing a time.Duration.
const MaxAgeDays = 3650

// ParseAge reads a case age as the queue's filters take it, from the API's
// olderThan and the CLI's --older-than alike: a Go duration ("90m", "36h")
// or a whole number of days written plainly ("3d", not "+3d" or "03d"), at
// most MaxAgeDays; never negative. Its errors are fixed texts, so an API
// answer never echoes the query; the CLI quotes what was typed itself.
func ParseAge(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > MaxAgeDays || strconv.Itoa(n) != days {
			return 0, errors.New("bad days")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, errors.New("bad duration")
	}
	return d, nil
}

// caseID reads and checks the {id} path value.
func caseID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if id == "" || len(id) > maxIDLen || strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", domain.Invalid("id", "is not a case id")
	}
	return id, nil
}

// list runs the queue query; next is the cursor of the following page, ""
// on the last one.
func (h *Handler) list(r *http.Request) (cases []domain.ReviewCase, f ports.ReviewFilter, next string, err error) {
	f, err = parseFilter(r.URL.Query(), h.cfg.Now())
	if err != nil {
		return nil, f, "", err
	}
	cases, err = h.svc.List(r.Context(), f)
	if err != nil {
		return nil, f, "", err
	}
	if len(cases) == f.Limit && len(cases) > 0 {
		next = cases[len(cases)-1].ID
	}
	return cases, f, next, nil
}

func (h *Handler) apiList(w http.ResponseWriter, r *http.Request) {
	cases, _, next, err := h.list(r)
	if err != nil {
		h.serviceError(w, r, true, err)
		return
	}
	now := h.cfg.Now()
	out := listJSON{Cases: make([]caseJSON, 0, len(cases))}
	for _, c := range cases {
		out.Cases = append(out.Cases, toCaseJSON(c, now))
	}
	if next != "" {
		out.NextCursor = &next
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) apiGet(w http.ResponseWriter, r *http.Request) {
	c, trail, err := h.detail(r)
	if err != nil {
		h.serviceError(w, r, true, err)
		return
	}
	writeJSON(w, http.StatusOK, toDetailJSON(c, trail, h.cfg.Now(), frameURL(APIPrefix, c.ID)))
}

// detail reads a case and its audit trail.
func (h *Handler) detail(r *http.Request) (domain.ReviewCase, []domain.ReviewAuditEntry, error) {
	id, err := caseID(r)
	if err != nil {
		return domain.ReviewCase{}, nil, err
	}
	c, err := h.svc.Get(r.Context(), id)
	if err != nil {
		return domain.ReviewCase{}, nil, err
	}
	trail, err := h.svc.Audit(r.Context(), id)
	if err != nil {
		return domain.ReviewCase{}, nil, err
	}
	return c, trail, nil
}

func (h *Handler) apiAudit(w http.ResponseWriter, r *http.Request) {
	id, err := caseID(r)
	if err == nil {
		var trail []domain.ReviewAuditEntry
		if trail, err = h.svc.Audit(r.Context(), id); err == nil {
			writeJSON(w, http.StatusOK, map[string]any{"audit": toDetailJSON(domain.ReviewCase{}, trail, h.cfg.Now(), "").Audit})
			return
		}
	}
	h.serviceError(w, r, true, err)
}

// frame serves a case's presence-check frame, to authenticated reviewers
// only and never cached; only a real JPEG or PNG is served, with its own
// type, so stored bytes can never be rendered as anything else.
func (h *Handler) frame(w http.ResponseWriter, r *http.Request) {
	api := isAPI(r)
	id, err := caseID(r)
	if err != nil {
		h.serviceError(w, r, api, err)
		return
	}
	c, err := h.svc.Get(r.Context(), id)
	if err != nil {
		h.serviceError(w, r, api, err)
		return
	}
	format := domain.ImageFormat(c.Evidence.Frame)
	if format == "" {
		h.fail(w, r, api, http.StatusNotFound, "this case keeps no frame")
		return
	}
	w.Header().Set("Content-Type", "image/"+format)
	w.Header().Set("Content-Length", strconv.Itoa(len(c.Evidence.Frame)))
	ext := format
	if format == "jpeg" {
		ext = "jpg"
	}
	w.Header().Set("Content-Disposition", `inline; filename="frame.`+ext+`"`)
	_, _ = w.Write(c.Evidence.Frame)
}

func (h *Handler) apiClaim(w http.ResponseWriter, r *http.Request) {
	if !h.jsonBody(w, r, nil) {
		return
	}
	c, err := h.claim(r)
	if err != nil {
		h.serviceError(w, r, true, err)
		return
	}
	writeJSON(w, http.StatusOK, toCaseJSON(c, h.cfg.Now()))
}

func (h *Handler) apiResolve(w http.ResponseWriter, r *http.Request) {
	var body resolveJSON
	if !h.jsonBody(w, r, &body) {
		return
	}
	c, err := h.resolve(r, body.Result, body.Reason)
	if err != nil {
		h.serviceError(w, r, true, err)
		return
	}
	status := http.StatusOK
	if c.AwaitsSecondReviewer() {
		status = http.StatusAccepted
	}
	writeJSON(w, status, toCaseJSON(c, h.cfg.Now()))
}

// jsonBody insists on an application/json body (a cross-site form cannot
// send one without a CORS preflight, which this handler never grants) and
// decodes it into v, refusing unknown fields; v nil accepts an empty body
// or an empty object.
func (h *Handler) jsonBody(w http.ResponseWriter, r *http.Request, v any) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		h.fail(w, r, true, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	allowEmpty := v == nil
	if allowEmpty {
		v = &struct{}{}
	}
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) && allowEmpty {
			return true
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.fail(w, r, true, http.StatusRequestEntityTooLarge, "body too large")
			return false
		}
		h.fail(w, r, true, http.StatusBadRequest, "body: "+jsonProblem(err))
		return false
	}
	// One JSON value: anything after it (a second object a client meant
	// to merge) is refused, as the API refuses it, not silently dropped.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		h.fail(w, r, true, http.StatusBadRequest, "body: must be a single JSON object")
		return false
	}
	return true
}

// jsonProblem describes a decoding error without echoing the body.
func jsonProblem(err error) string {
	var ute *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return "is required"
	case errors.As(err, &ute) && ute.Field == "":
		// The body itself is not an object ("OK", [], 1): there is no
		// field to name, and the Go type would mean nothing to a client.
		return "must be a JSON object"
	case errors.As(err, &ute):
		return fmt.Sprintf("%s: must be a %s", ute.Field, ute.Type.Kind())
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ") + " (the reviewer is the authenticated user)"
	}
	return "not valid JSON"
}

// claim claims the case for the authenticated reviewer and logs it.
func (h *Handler) claim(r *http.Request) (domain.ReviewCase, error) {
	id, err := caseID(r)
	if err != nil {
		return domain.ReviewCase{}, err
	}
	me := reviewerOf(r.Context())
	c, err := h.svc.Claim(r.Context(), id, me.Name, channelOf(r))
	if err == nil {
		h.cfg.Logger.LogAttrs(r.Context(), slog.LevelInfo, "review case claimed", slog.String("case_id", id), slog.String("reviewer", me.Name))
	}
	return c, err
}

// channelOf is where a signed-in reviewer's request came from, for the
// audit trail: the JSON API or the review pages.
func channelOf(r *http.Request) string {
	if isAPI(r) {
		return domain.ReviewChannelAPI
	}
	return domain.ReviewChannelUI
}

// resolve resolves (or, under four eyes, proposes or confirms) the case as
// the authenticated reviewer and logs it.
func (h *Handler) resolve(r *http.Request, result, reason string) (domain.ReviewCase, error) {
	id, err := caseID(r)
	if err != nil {
		return domain.ReviewCase{}, err
	}
	me := reviewerOf(r.Context())
	c, err := h.svc.Resolve(r.Context(), ports.ReviewResolution{CaseID: id, Result: domain.Result(strings.ToUpper(strings.TrimSpace(result))),
		Reason: reason, Reviewer: me.Name, SignedIn: true, Channel: channelOf(r)})
	if err == nil {
		msg := "review case resolved"
		if c.AwaitsSecondReviewer() {
			msg = "review case override proposed, awaiting a second reviewer"
		}
		h.cfg.Logger.LogAttrs(r.Context(), slog.LevelInfo, msg, slog.String("case_id", id), slog.String("reviewer", me.Name),
			slog.String("result", string(c.Resolution)), slog.String("second_reviewer", c.SecondReviewer))
	}
	return c, err
}
