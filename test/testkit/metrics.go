package testkit

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// Metric is one sample of the Prometheus text format.
type Metric struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// ScrapeMetrics GETs /metrics from the admin listener and parses it.
func ScrapeMetrics(t testing.TB, svc *Service) []Metric {
	t.Helper()
	resp, err := http.Get(svc.Admin + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	var out []Metric
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := Metric{Labels: map[string]string{}}
		rest := line
		if i := strings.IndexByte(line, '{'); i >= 0 {
			j := strings.LastIndexByte(line, '}')
			m.Name = line[:i]
			for _, kv := range strings.Split(line[i+1:j], ",") {
				k, v, _ := strings.Cut(kv, "=")
				m.Labels[k] = strings.Trim(v, `"`)
			}
			rest = line[j+1:]
		} else {
			m.Name, rest, _ = strings.Cut(line, " ")
		}
		v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		m.Value = v
		out = append(out, m)
	}
	return out
}

// FindMetric returns the value of the first sample of name carrying
// labels (a subset).
func FindMetric(ms []Metric, name string, labels map[string]string) (float64, bool) {
next:
	for _, m := range ms {
		if m.Name != name {
			continue
		}
		for k, v := range labels {
			if m.Labels[k] != v {
				continue next
			}
		}
		return m.Value, true
	}
	return 0, false
}

// WantMetric is an expected sample: name with labels (a subset) at a value
// of at least Min, or exactly Min when Exact is set (a breaker that must be
// closed, a counter that must still be 0: "at least 0" proves only that the
// series exists).
type WantMetric struct {
	Name   string
	Labels map[string]string
	Min    float64
	Exact  bool
}

// CheckMetrics fails t for every want ms does not satisfy.
func CheckMetrics(t testing.TB, ms []Metric, wants []WantMetric) {
	t.Helper()
	for _, w := range wants {
		v, ok := FindMetric(ms, w.Name, w.Labels)
		if !ok {
			t.Errorf("/metrics has no %s%v", w.Name, w.Labels)
			continue
		}
		switch {
		case w.Exact && v != w.Min:
			t.Errorf("%s%v = %v, want %v", w.Name, w.Labels, v, w.Min)
		case v < w.Min:
			t.Errorf("%s%v = %v, want at least %v", w.Name, w.Labels, v, w.Min)
		}
	}
}
