package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/valyala/fasthttp"
)

// Generator clients: -generator picks the load generator's HTTP client.
const (
	// genFast is fasthttp's client: each worker writes and reads its own
	// connection, with no goroutine but its own and no allocation per
	// request. The default since 2026-11-27 23:34 UTC (commit 64bb100).
	genFast = "fasthttp"
	// genNetHTTP is net/http's client, the generator of every run before:
	// a read and a write goroutine per connection, and several hand-offs
	// per request, so it spends more CPU per request than the bare
	// ceiling it drives, CPU the service then cannot have on two cores.
	genNetHTTP = "net/http"
)

// userAgent is what both generators send, as net/http's client does.
const userAgent = "Go-http-client/1.1"

// generator is the load generator's HTTP/1.1 client for one target: at
// most conns keep-alive connections, no compression, a time-out for the
// whole request (10 s in the harness).
type generator interface {
	// worker returns one closed-loop worker's sender of POSTs to url; ctx
	// ends its requests early where the client can (net/http's).
	worker(ctx context.Context, url string) sender
	// close closes the idle connections: before each window, so no window
	// starts on a connection the server closed while it sat idle (fasthttp
	// notices that only when its next request fails).
	close()
}

// sender posts b and returns the answer's status and body; the body is
// valid until the sender's next call.
type sender func(b body) (status int, answer []byte, err error)

func newGenerator(kind, api string, conns int, timeout time.Duration) (generator, error) {
	switch kind {
	case genFast:
		u, err := url.Parse(api)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("generator for %q: not a URL with a host", api)
		}
		return fastGen{hc: &fasthttp.HostClient{
			Addr:                   u.Host,
			Name:                   userAgent,
			MaxConns:               conns,
			MaxConnWaitTimeout:     timeout,
			MaxIdleConnDuration:    time.Minute,
			ReadBufferSize:         16 << 10,
			WriteBufferSize:        64 << 10,
			DisablePathNormalizing: true,
		}, timeout: timeout}, nil
	case genNetHTTP:
		c := newClient(conns)
		c.Timeout = timeout
		return netGen{c}, nil
	}
	return nil, fmt.Errorf("unknown generator %q (%s, %s)", kind, genFast, genNetHTTP)
}

type fastGen struct {
	hc      *fasthttp.HostClient
	timeout time.Duration
}

func (g fastGen) worker(_ context.Context, url string) sender {
	req, resp := &fasthttp.Request{}, &fasthttp.Response{}
	req.SetRequestURI(url)
	req.Header.SetMethod(http.MethodPost)
	req.Header.SetContentType("application/json")
	br := &bodyReader{}
	return func(b body) (int, []byte, error) {
		*br = bodyReader{b: b}
		req.SetBodyStream(br, int(b.len()))
		// The whole request's deadline, as net/http's Client.Timeout (Do
		// leaves the remainder in the request, so it is set every time).
		req.SetTimeout(g.timeout)
		if err := g.hc.Do(req, resp); err != nil {
			return 0, nil, err
		}
		return resp.StatusCode(), resp.Body(), nil
	}
}

func (g fastGen) close() { g.hc.CloseIdleConnections() }

type netGen struct{ c *http.Client }

func (g netGen) worker(ctx context.Context, url string) sender {
	buf := make([]byte, 0, 8<<10)
	return func(b body) (int, []byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, &bodyReader{b: b})
		if err != nil {
			return 0, nil, err
		}
		req.ContentLength = b.len()
		req.Header["Content-Type"] = []string{"application/json"}
		req.Header["User-Agent"] = []string{userAgent}
		resp, err := g.c.Do(req)
		if err != nil {
			return 0, nil, err
		}
		buf, err = readAll(resp.Body, buf[:0])
		resp.Body.Close()
		return resp.StatusCode, buf, err
	}
}

func (g netGen) close() { g.c.CloseIdleConnections() }

// newClient is net/http's client for one target (the net/http generator,
// and the harness's own probes with one connection).
func newClient(conns int) *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2 * conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     5 * time.Minute,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
		WriteBufferSize:     64 << 10,
		ReadBufferSize:      16 << 10,
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}
