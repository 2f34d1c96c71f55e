package httptransport

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestNewServer(t *testing.T) {
	h := http.NewServeMux()
	tests := []struct {
		name string
		cfg  ServerConfig
		want ServerConfig
	}{
		{"defaults", ServerConfig{}, ServerConfig{ReadHeaderTimeout: 2 * time.Second, ReadTimeout: 10 * time.Second,
			WriteTimeout: 15 * time.Second, IdleTimeout: 90 * time.Second, MaxHeaderBytes: 16 << 10}},
		{"overrides", ServerConfig{ReadHeaderTimeout: time.Second, ReadTimeout: 3 * time.Second, WriteTimeout: 5 * time.Second,
			IdleTimeout: time.Minute, MaxHeaderBytes: 8 << 10}, ServerConfig{ReadHeaderTimeout: time.Second, ReadTimeout: 3 * time.Second,
			WriteTimeout: 5 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 8 << 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(":8080", h, tt.cfg)
			if s.Addr != ":8080" || s.Handler != h {
				t.Errorf("addr %q handler %v", s.Addr, s.Handler)
			}
			if s.ReadHeaderTimeout != tt.want.ReadHeaderTimeout || s.ReadTimeout != tt.want.ReadTimeout ||
				s.WriteTimeout != tt.want.WriteTimeout || s.IdleTimeout != tt.want.IdleTimeout || s.MaxHeaderBytes != tt.want.MaxHeaderBytes {
				t.Errorf("got %v %v %v %v %d", s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout, s.MaxHeaderBytes)
			}
			if s.ErrorLog != nil {
				t.Errorf("ErrorLog set without a Logger")
			}
		})
	}
	if s := NewServer(":1", h, ServerConfig{Logger: slog.New(slog.DiscardHandler)}); s.ErrorLog == nil {
		t.Errorf("ErrorLog not set from Logger")
	}
}

// TestServeOverTCP runs the API behind NewServer on a loopback port, as in
// production: a real client, real Content-Length and chunked bodies.
func TestServeOverTCP(t *testing.T) {
	h, err := NewHandler((&fakes{}).services(), Config{BasePath: "/api/v1", MaxImageBodyBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(ln.Addr().String(), h, ServerConfig{})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	base := "http://" + ln.Addr().String() + "/api/v1"

	tests := []struct {
		name    string
		path    string
		body    io.Reader
		chunked bool
		status  int
	}{
		{"200 lookup", "/user/lookup", strings.NewReader(allEndpoints()[0].body), false, 200},
		{"200 evaluate", "/client/evaluate", strings.NewReader(allEndpoints()[2].body), false, 200},
		{"413 announced length", "/client/approve", strings.NewReader(`{"x":"` + strings.Repeat("a", 2<<20) + `"}`), false, 413},
		{"413 chunked", "/client/approve", io.MultiReader(strings.NewReader(`{"x":"`), strings.NewReader(strings.Repeat("a", 2<<20))), true, 413},
		{"404", "/nope", strings.NewReader(`{}`), false, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, base+tt.path, tt.body)
			if tt.chunked {
				req.ContentLength = -1
			}
			req.Header.Set("Content-Type", "application/json")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d %s, want %d", res.StatusCode, b, tt.status)
			}
			if res.Header.Get("Content-Type") != "application/json" || !json.Valid(b) {
				t.Errorf("answer %q %s is not JSON", res.Header.Get("Content-Type"), b)
			}
			if !uuidV4.MatchString(res.Header.Get("X-Correlation-Id")) {
				t.Errorf("no generated correlation id")
			}
		})
	}
}
