package main

import (
	"context"
	"errors"
	"io"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"
)

// window is one measured run of one target: closed-loop workers for a
// fixed time.
type window struct {
	ok      int64            // 2xx answers
	errs    map[string]int64 // non-2xx by status, and transport errors
	lat     []time.Duration  // latency of every answered request
	elapsed time.Duration
	cpu     time.Duration // the target process's CPU time during the window; -1: unknown
	genCPU  time.Duration // the load generator's (this process's, or pgbench's) CPU time; -1: unknown
	// storesCPU is what PostgreSQL and Redis spent during the window; -1:
	// unknown.
	storesCPU time.Duration
	// busy and total are the machine's busy and total CPU time during the
	// window (total 0: unknown): how close the cores were to saturated.
	busy, total time.Duration
	queries     float64 // database queries the service made, from its /metrics; -1: unknown
	batches     float64 // database batches (pipelines) it sent; known when queries is
	answers     map[string]int64
	firstErr    string
}

func (w *window) rps() float64 {
	if w.elapsed <= 0 {
		return 0
	}
	return float64(w.ok) / w.elapsed.Seconds()
}

// body is a request body of up to three parts (a small JSON prefix, a
// large shared base64 image, a small suffix), so a 270 KB body is never
// copied on the generator's side.
type body [3][]byte

func (b body) len() int64 { return int64(len(b[0]) + len(b[1]) + len(b[2])) }

type bodyReader struct {
	b body
	i int
}

func (r *bodyReader) Read(p []byte) (int, error) {
	for r.i < len(r.b) {
		if len(r.b[r.i]) == 0 {
			r.i++
			continue
		}
		n := copy(p, r.b[r.i])
		r.b[r.i] = r.b[r.i][n:]
		return n, nil
	}
	return 0, io.EOF
}

// WriteTo lets io.Copy hand the large part to the connection in one write.
func (r *bodyReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for ; r.i < len(r.b); r.i++ {
		n, err := w.Write(r.b[r.i])
		total += int64(n)
		r.b[r.i] = r.b[r.i][n:]
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// bodySource makes the bodies of one worker; each worker has its own, so
// no generator state is shared between workers.
type bodySource func() body

// classifier names an answer for the answers tally ("" = not counted).
type classifier func(status int, answer []byte) string

// runWindow drives url with conns closed-loop workers of gen for dur: each
// sends a request, reads the whole answer, and sends the next. Requests in
// flight at the end finish and count; elapsed runs until the last one.
func runWindow(ctx context.Context, gen generator, url string, conns int, dur time.Duration,
	sources func(worker int) bodySource, classify classifier) window {
	type result struct {
		ok       int64
		errs     map[string]int64
		answers  map[string]int64
		lat      []time.Duration
		firstErr string
	}
	results := make([]result, conns)
	gen.close()
	start := time.Now()
	end := start.Add(dur)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			res := result{errs: map[string]int64{}, answers: map[string]int64{}, lat: make([]time.Duration, 0, 4096)}
			next := sources(i)
			send := gen.worker(ctx, url)
			for ctx.Err() == nil && time.Now().Before(end) {
				b := next()
				t0 := time.Now()
				status, answer, err := send(b)
				d := time.Since(t0)
				if err != nil {
					if ctx.Err() == nil {
						res.errs["transport"]++
						if res.firstErr == "" {
							res.firstErr = err.Error()
						}
					}
					continue
				}
				res.lat = append(res.lat, d)
				if status/100 == 2 {
					res.ok++
				} else {
					res.errs[strconv.Itoa(status)]++
					if res.firstErr == "" {
						res.firstErr = strconv.Itoa(status) + " " + truncate(string(answer), 200)
					}
				}
				if classify != nil {
					if k := classify(status, answer); k != "" {
						res.answers[k]++
					}
				}
			}
			results[i] = res
		}(i)
	}
	wg.Wait()
	w := window{elapsed: time.Since(start), errs: map[string]int64{}, answers: map[string]int64{}, cpu: -1, genCPU: -1,
		storesCPU: -1, queries: -1}
	n := 0
	for _, r := range results {
		n += len(r.lat)
	}
	w.lat = make([]time.Duration, 0, n)
	for _, r := range results {
		w.ok += r.ok
		w.lat = append(w.lat, r.lat...)
		for k, v := range r.errs {
			w.errs[k] += v
		}
		for k, v := range r.answers {
			w.answers[k] += v
		}
		if w.firstErr == "" {
			w.firstErr = r.firstErr
		}
	}
	return w
}

// readAll reads r into buf, reusing its capacity.
func readAll(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			if errors.Is(err, io.EOF) {
				return buf, nil
			}
			return buf, err
		}
	}
}

// percentile returns the nearest-rank p-quantile (0 < p <= 1) of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

// merged is the aggregate of a target's windows for one scenario.
type merged struct {
	ok             int64
	elapsed        time.Duration
	rps            float64 // all 2xx answers over all windows' time
	rpsMin, rpsMax float64
	p50, p99       time.Duration
	errs           map[string]int64
	errTotal       int64
	cpu            time.Duration // -1: unknown
	genCPU         time.Duration // -1: unknown
	storesCPU      time.Duration // -1: unknown
	busy, total    time.Duration // the machine's; total 0: unknown
	queries        float64       // -1: unknown
	batches        float64       // known when queries is
	answers        map[string]int64
	firstErr       string
	windows        int
}

func merge(ws []window) merged {
	m := merged{errs: map[string]int64{}, answers: map[string]int64{}, rpsMin: math.Inf(1), windows: len(ws)}
	var lat []time.Duration
	cpuKnown, genKnown, queriesKnown := len(ws) > 0, len(ws) > 0, len(ws) > 0
	storesKnown, busyKnown := len(ws) > 0, len(ws) > 0
	for _, w := range ws {
		m.storesCPU += w.storesCPU
		storesKnown = storesKnown && w.storesCPU >= 0
		m.busy += w.busy
		m.total += w.total
		busyKnown = busyKnown && w.total > 0
		m.queries += w.queries
		m.batches += w.batches
		queriesKnown = queriesKnown && w.queries >= 0
		m.ok += w.ok
		m.elapsed += w.elapsed
		m.cpu += w.cpu
		m.genCPU += w.genCPU
		cpuKnown = cpuKnown && w.cpu >= 0
		genKnown = genKnown && w.genCPU >= 0
		r := w.rps()
		m.rpsMin, m.rpsMax = math.Min(m.rpsMin, r), math.Max(m.rpsMax, r)
		lat = append(lat, w.lat...)
		for k, v := range w.errs {
			m.errs[k] += v
			m.errTotal += v
		}
		for k, v := range w.answers {
			m.answers[k] += v
		}
		if m.firstErr == "" {
			m.firstErr = w.firstErr
		}
	}
	if !cpuKnown {
		m.cpu = -1
	}
	if !genKnown {
		m.genCPU = -1
	}
	if !queriesKnown {
		m.queries = -1
	}
	if !storesKnown {
		m.storesCPU = -1
	}
	if !busyKnown {
		m.busy, m.total = 0, 0
	}
	if len(ws) == 0 {
		m.rpsMin = 0
	}
	if m.elapsed > 0 {
		m.rps = float64(m.ok) / m.elapsed.Seconds()
	}
	slices.Sort(lat)
	m.p50, m.p99 = percentile(lat, 0.50), percentile(lat, 0.99)
	return m
}

// cpuPer1k is the CPU seconds the target spent per 1,000 answered requests.
func (m merged) cpuPer1k() float64 { return per1k(m.cpu, m.ok) }

// genCPUPer1k is the same for the load generator.
func (m merged) genCPUPer1k() float64 { return per1k(m.genCPU, m.ok) }

// storesCPUPer1k is the same for PostgreSQL and Redis together.
func (m merged) storesCPUPer1k() float64 { return per1k(m.storesCPU, m.ok) }

// busyShare is the share of the machine's CPU time that was busy during
// the windows; -1: unknown.
func (m merged) busyShare() float64 {
	if m.total <= 0 {
		return -1
	}
	return float64(m.busy) / float64(m.total)
}

// batchesPerRequest is the database batches per answered request; -1:
// unknown.
func (m merged) batchesPerRequest() float64 {
	if m.queries < 0 || m.ok == 0 {
		return -1
	}
	return m.batches / float64(m.ok)
}

// queriesPerRequest is the database queries per answered request.
func (m merged) queriesPerRequest() float64 {
	if m.queries < 0 || m.ok == 0 {
		return -1
	}
	return m.queries / float64(m.ok)
}

func per1k(cpu time.Duration, ok int64) float64 {
	if cpu < 0 || ok == 0 {
		return -1
	}
	return cpu.Seconds() / (float64(ok) / 1000)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
