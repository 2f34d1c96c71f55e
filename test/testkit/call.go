package testkit

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Reply is one HTTP answer.
type Reply struct {
	Status int
	Header http.Header
	Body   map[string]any // the JSON object answered, nil for an empty body
	Raw    string
}

// Basic is the Authorization header value of HTTP Basic Auth.
func Basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// bodyReader turns a string, []byte or any JSON-marshalable value into a
// request body.
func bodyReader(body any) (io.Reader, error) {
	switch b := body.(type) {
	case string:
		return strings.NewReader(b), nil
	case []byte:
		return bytes.NewReader(b), nil
	case nil:
		return http.NoBody, nil
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		return bytes.NewReader(j), nil
	}
}

// Do POSTs body as JSON with the given headers on client (nil: the default
// client) under ctx and returns the answer or the transport error, for
// tests where a failed connection is an expected outcome.
func Do(ctx context.Context, client *http.Client, url string, body any, headers map[string]string) (Reply, error) {
	rd, err := bodyReader(body)
	if err != nil {
		return Reply{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, rd)
	if err != nil {
		return Reply{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return Reply{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return Reply{}, err
	}
	r := Reply{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			return r, fmt.Errorf("POST %s: answer is not a JSON object: %q", url, raw)
		}
	}
	return r, nil
}

// Call POSTs body as JSON with the given headers and fails the test when
// there is no JSON answer within 10 s.
func Call(t testing.TB, url string, body any, headers map[string]string) Reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := Do(ctx, nil, url, body, headers)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	return r
}

// Get GETs url (the admin listener's /readyz, /livez) and returns the
// status, or 0 when there was no answer.
func Get(url string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
