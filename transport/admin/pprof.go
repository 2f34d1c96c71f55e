package admin

import (
	"net/http/pprof"
)

// profilingRoutes mounts the runtime profiles. (Importing net/http/pprof
// also registers them on http.DefaultServeMux; the service never serves
// that mux: both listeners have handlers of their own, and the tests show
// /debug/pprof/ answering 404 or 401 on each unless turned on here.) /cmdline is left out: a
// process's arguments are nobody's business on a shared admin port. The
// CPU profile and the execution trace run for ?seconds= (30 s by default),
// so the admin server's write timeout must exceed what is asked for.
func (h *Handler) profilingRoutes() {
	h.mux.HandleFunc("GET "+ProfilingPrefix+"/", pprof.Index)
	h.mux.HandleFunc("GET "+ProfilingPrefix+"/profile", pprof.Profile)
	h.mux.HandleFunc("GET "+ProfilingPrefix+"/symbol", pprof.Symbol)
	h.mux.HandleFunc("POST "+ProfilingPrefix+"/symbol", pprof.Symbol)
	h.mux.HandleFunc("GET "+ProfilingPrefix+"/trace", pprof.Trace)
}
