package testkit

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy is a TCP proxy inside the test process, placed between the service
// and one dependency (PostgreSQL, Redis, an SMS gateway) to inject the
// faults a network and a dependency produce:
//
//   - SetLatency: every chunk, both ways, is delayed (a slow dependency);
//   - Refuse: existing connections are cut and new ones refused (the
//     dependency is down: connect fails at once with ECONNREFUSED);
//   - Blackhole: connections are accepted and bytes swallowed, nothing
//     answers (a partition or a hung server: only time-outs end a call);
//   - Cut: every open connection is closed once, new ones work (a
//     restarted load balancer, a killed backend);
//   - Restore: back to a transparent pipe.
//
// It is safe for concurrent use; faults apply to open connections at once.
type Proxy struct {
	t        testing.TB
	upstream string
	addr     string

	mu        sync.Mutex
	ln        net.Listener // nil while refusing
	latency   time.Duration
	blackhole bool
	links     map[*link]struct{}
	closed    bool
	wg        sync.WaitGroup
	accepted  atomic.Int64
}

// link is one proxied connection: the client's and the upstream's end.
type link struct {
	client net.Conn
	done   chan struct{}

	mu     sync.Mutex
	server net.Conn // nil until dialled, and for a blackholed link
	closed bool
}

// setServer attaches the upstream connection; false (and the connection
// closed) when the link was cut meanwhile.
func (l *link) setServer(s net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		_ = s.Close()
		return false
	}
	l.server = s
	return true
}

func (l *link) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	close(l.done)
	_ = l.client.Close()
	if l.server != nil {
		_ = l.server.Close()
	}
}

// NewProxy listens on a free loopback port and forwards to upstream
// (host:port). It is closed when t ends.
func NewProxy(t testing.TB, upstream string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{t: t, upstream: upstream, addr: ln.Addr().String(), links: map[*link]struct{}{}}
	p.serve(ln)
	t.Cleanup(p.Close)
	return p
}

// Addr is the host:port the service must use instead of the upstream's.
func (p *Proxy) Addr() string { return p.addr }

// Accepted is the number of connections the proxy has accepted so far: a
// test can wait for its client to have connected instead of sleeping.
func (p *Proxy) Accepted() int { return int(p.accepted.Load()) }

func (p *Proxy) serve(ln net.Listener) {
	p.ln = ln
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.accepted.Add(1)
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.handle(c)
			}()
		}
	}()
}

func (p *Proxy) handle(c net.Conn) {
	l := &link{client: c, done: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = c.Close()
		return
	}
	p.links[l] = struct{}{}
	hole := p.blackhole
	p.mu.Unlock()
	defer func() {
		l.close()
		p.mu.Lock()
		delete(p.links, l)
		p.mu.Unlock()
	}()
	var server net.Conn
	if !hole {
		s, err := net.DialTimeout("tcp", p.upstream, 2*time.Second)
		if err != nil || !l.setServer(s) {
			return
		}
		server = s
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.pipe(l, server, l.client)
	}()
	p.pipe(l, l.client, server)
	wg.Wait()
}

// pipe copies src to dst (dst nil: swallow) with the current faults until
// either side or the link closes.
func (p *Proxy) pipe(l *link, dst, src net.Conn) {
	defer l.close()
	if src == nil { // blackholed link: nothing comes from upstream
		<-l.done
		return
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			lat, hole := p.latency, p.blackhole
			p.mu.Unlock()
			if lat > 0 {
				timer := time.NewTimer(lat)
				select {
				case <-timer.C:
				case <-l.done:
					timer.Stop()
					return
				}
			}
			if !hole && dst != nil {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// SetLatency delays every chunk forwarded from now on by d (0: none).
func (p *Proxy) SetLatency(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.latency = d
}

// Cut closes every open connection; new connections are served.
func (p *Proxy) Cut() {
	p.mu.Lock()
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, l := range links {
		l.close()
	}
}

// Refuse closes the listener and every open connection: connecting fails
// with ECONNREFUSED until Restore.
func (p *Proxy) Refuse() {
	p.mu.Lock()
	ln := p.ln
	p.ln = nil
	p.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
	p.Cut()
}

// Blackhole cuts open connections and then accepts new ones without ever
// answering: every byte sent is swallowed.
func (p *Proxy) Blackhole() {
	p.mu.Lock()
	p.blackhole = true
	p.mu.Unlock()
	p.Cut()
}

// Restore ends Refuse and Blackhole (cutting the swallowed connections,
// whose protocol state is lost) and sets the latency back to 0.
func (p *Proxy) Restore() {
	p.mu.Lock()
	wasHole := p.blackhole
	p.blackhole, p.latency = false, 0
	refusing := p.ln == nil && !p.closed
	p.mu.Unlock()
	if wasHole {
		p.Cut()
	}
	if refusing {
		var ln net.Listener
		var err error
		// The port was ours a moment ago; a TIME_WAIT socket does not
		// block it (Go sets SO_REUSEADDR), but retry briefly anyway.
		for range 50 {
			if ln, err = net.Listen("tcp", p.addr); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			p.t.Errorf("proxy: listening on %s again: %v", p.addr, err)
			return
		}
		p.mu.Lock()
		p.serve(ln)
		p.mu.Unlock()
	}
}

// Close stops the proxy and waits for its goroutines.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	ln := p.ln
	p.ln = nil
	p.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
	p.Cut()
	p.wg.Wait()
}
