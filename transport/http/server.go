package httptransport

import (
	"log/slog"
	"net/http"
	"time"
)

// ServerConfig holds the *http.Server limits. Zero fields take the defaults:
// headers must arrive within 2 s and bodies within 10 s (slow-loris
// protection), answers go out within 15 s, idle keep-alive connections live
// 90 s, and headers are at most 16 KiB.
type ServerConfig struct {
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	// Logger receives the server's own errors (TLS handshakes, broken
	// connections) at Warn; nil leaves them to the standard log package.
	Logger *slog.Logger
}

// The ServerConfig defaults.
const (
	DefaultReadHeaderTimeout = 2 * time.Second
	DefaultReadTimeout       = 10 * time.Second
	DefaultWriteTimeout      = 15 * time.Second
	DefaultIdleTimeout       = 90 * time.Second
	DefaultMaxHeaderBytes    = 16 << 10
)

func (c ServerConfig) withDefaults() ServerConfig {
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	return c
}

// NewServer returns an *http.Server for h on addr with the limits of c, so
// neither the API nor the admin listener ever runs with net/http's
// unlimited defaults.
func NewServer(addr string, h http.Handler, c ServerConfig) *http.Server {
	c = c.withDefaults()
	s := &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    c.MaxHeaderBytes,
	}
	if c.Logger != nil {
		s.ErrorLog = slog.NewLogLogger(c.Logger.Handler(), slog.LevelWarn)
	}
	return s
}
