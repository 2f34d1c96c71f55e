package test

import (
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// readmeExample is one curl command of README.md and the answer written
// under it.
type readmeExample struct {
	line       int
	path, body string
	status     int
	want       string
}

var (
	curlURL  = regexp.MustCompile(`localhost:8080(/\S*)`)
	curlBody = regexp.MustCompile(`-d '([^']*)'`)
	answer   = regexp.MustCompile(`^# (?:(\d{3}) )?(\{.*\})$`)
)

// readmeExamples extracts the curl examples of the ```sh blocks.
func readmeExamples(t *testing.T) []readmeExample {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []readmeExample
	lines := strings.Split(string(b), "\n")
	inSh := false
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch {
		case strings.HasPrefix(l, "```sh"):
			inSh = true
			continue
		case strings.HasPrefix(l, "```"):
			inSh = false
			continue
		}
		if !inSh || !strings.HasPrefix(l, "curl ") || !strings.Contains(l, "localhost:8080") {
			continue
		}
		start := i
		cmd := l
		for strings.HasSuffix(strings.TrimSpace(cmd), `\`) && i+1 < len(lines) {
			i++
			cmd = strings.TrimSuffix(strings.TrimSpace(cmd), `\`) + " " + strings.TrimSpace(lines[i])
		}
		if i+1 >= len(lines) {
			t.Fatalf("README.md:%d: curl example without an answer", start+1)
		}
		m := answer.FindStringSubmatch(lines[i+1])
		u := curlURL.FindStringSubmatch(cmd)
		d := curlBody.FindStringSubmatch(cmd)
		if m == nil || u == nil || d == nil {
			t.Fatalf("README.md:%d: cannot read the example (want `curl … localhost:8080/path … -d '{…}'` and a `# [status] {…}` line)", start+1)
		}
		ex := readmeExample{line: start + 1, path: u[1], body: d[1], status: 200, want: m[2]}
		if m[1] != "" {
			ex.status, _ = strconv.Atoi(m[1])
		}
		out = append(out, ex)
	}
	return out
}

// TestReadmeExamples runs every curl example of README.md, in order,
// against the binary with the demo data, and compares the answers.
func TestReadmeExamples(t *testing.T) {
	t.Parallel()
	examples := readmeExamples(t)
	if len(examples) < 10 {
		t.Fatalf("found only %d curl examples in README.md", len(examples))
	}
	svc := startService(t, nil)
	for _, ex := range examples {
		r := call(t, svc.API+ex.path, ex.body, nil)
		var want any
		if err := json.Unmarshal([]byte(ex.want), &want); err != nil {
			t.Fatalf("README.md:%d: the documented answer is not JSON: %v", ex.line, err)
		}
		var got any
		_ = json.Unmarshal([]byte(r.Raw), &got)
		if r.Status != ex.status || !reflect.DeepEqual(got, want) {
			t.Errorf("README.md:%d: POST %s answered %d %s\nthe README says %d %s", ex.line, ex.path, r.Status, strings.TrimSpace(r.Raw), ex.status, ex.want)
		}
	}
}
