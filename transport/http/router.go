package httptransport

import (
	"net/http"
	"path"
	"strings"
)

// jsonMux is an http.ServeMux whose own replies (404 for an unknown path,
// 405 with Allow for a wrong method) carry the contract's JSON error body
// instead of plain text.
//
// The usual request, a POST to a route's path exactly as registered and
// sent without escapes, is found in exact by one map lookup: the routes are
// fixed paths without wildcards, so ServeMux would match it to the same
// pattern, after cleaning the path twice and walking its tree (about 5% of
// the handler's instructions on a lookup). Everything else goes the whole
// way below, so 404, 405, escaped and non-canonical paths are answered as
// ServeMux decides.
type jsonMux struct {
	mux   *http.ServeMux
	exact map[string]exactRoute // by path, for POST
}

// exactRoute is a route's handler with its ServeMux pattern.
type exactRoute struct {
	pattern string
	h       http.Handler
}

// pathHandler is a route's handler at its path.
type pathHandler struct {
	path string
	h    http.Handler
}

// newJSONMux registers each of handlers for POST at its path. ServeMux
// panics on two at one path, as it did before the exact map.
func newJSONMux(handlers []pathHandler) jsonMux {
	m := jsonMux{mux: http.NewServeMux(), exact: make(map[string]exactRoute, len(handlers))}
	for _, ph := range handlers {
		pattern := http.MethodPost + " " + ph.path
		m.mux.Handle(pattern, ph.h)
		m.exact[ph.path] = exactRoute{pattern: pattern, h: ph.h}
	}
	return m
}

func (m jsonMux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.URL.RawPath == "" {
		if rt, ok := m.exact[r.URL.Path]; ok {
			m.serve(w, r, rt.h, rt.pattern)
			return
		}
	}
	// ServeMux would redirect a non-canonical path (//x, /a/../x) with an HTML
	// body; the caller follows no redirects, so such a path is simply unknown.
	if !canonicalPath(r.URL.Path) {
		writeError(w, http.StatusNotFound, errorGeneric, "not found")
		return
	}
	h, pattern := m.mux.Handler(r)
	if pattern == "" {
		// Let the mux decide between 404 and 405 (and compute Allow), then
		// answer in JSON.
		c := &headerCapture{header: http.Header{}}
		h.ServeHTTP(c, r)
		if c.status == http.StatusMethodNotAllowed {
			if allow := c.header.Get("Allow"); allow != "" {
				w.Header().Set("Allow", allow)
			}
			writeError(w, http.StatusMethodNotAllowed, errorGeneric, "method not allowed")
			return
		}
		writeError(w, http.StatusNotFound, errorGeneric, "not found")
		return
	}
	m.serve(w, r, h, pattern)
}

// serve hands r to the route's handler h, matched by pattern.
func (m jsonMux) serve(w http.ResponseWriter, r *http.Request, h http.Handler, pattern string) {
	if st := stateFrom(r.Context()); st != nil {
		st.route = pattern
	}
	// Serve the handler just found instead of letting the mux match the
	// path again; the routes have no wildcards, so the pattern is all
	// ServeMux.ServeHTTP would have added to the request.
	r.Pattern = pattern
	h.ServeHTTP(w, r)
}

// canonicalPath reports whether the mux would serve p as it is, without a
// cleaning redirect.
func canonicalPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return clean == p
}

// headerCapture records what the mux's own error handlers write, so it can
// be rewritten.
type headerCapture struct {
	header http.Header
	status int
}

func (c *headerCapture) Header() http.Header { return c.header }

func (c *headerCapture) WriteHeader(status int) {
	if c.status == 0 {
		c.status = status
	}
}

func (c *headerCapture) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	return len(b), nil
}
