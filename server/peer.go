package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/labstack/echo/v4"
)

// Peer is who a request comes from and over what transport. It is decided
// once per request, from the connection, the trusted-proxy list and the
// TLS state, and every consumer (RAM conditions, the audit record, logs,
// metrics) reads this one answer, so they cannot disagree.
type Peer struct {
	// SourceIP is the client's address: the connection's peer, or, when
	// that peer is a trusted proxy, the right-most X-Forwarded-For hop
	// that is not a trusted proxy (acs:SourceIp).
	SourceIP string
	// Secure: the client reached us over TLS, or a trusted proxy says so
	// with X-Forwarded-Proto: https (acs:SecureTransport).
	Secure bool
	// ClientCertSubject is the RFC 2253 subject of the client certificate
	// verified in our own TLS handshake with the client
	// (acs:ClientCertSubject); empty without one, and empty when the
	// request was forwarded for someone else (the certificate then is the
	// proxy's, not the client's).
	ClientCertSubject string
	// Forwarded: SourceIP came from a trusted proxy's X-Forwarded-For.
	Forwarded bool
	// Conn is the address of the connection's peer.
	Conn string
}

// TrustedProxies are the peers whose X-Forwarded-For and
// X-Forwarded-Proto headers are believed. From any other peer those
// headers are ignored: anyone can send them.
type TrustedProxies []netip.Prefix

// ParseTrustedProxies parses CIDRs (or single addresses) as configured in
// trusted_proxies.
func ParseTrustedProxies(list []string) (TrustedProxies, error) {
	var out TrustedProxies
	for _, s := range list {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			a, aerr := netip.ParseAddr(strings.TrimSpace(s))
			if aerr != nil || a.Zone() != "" {
				return nil, fmt.Errorf("trusted proxy %q is not a CIDR or an IP address", s)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func (t TrustedProxies) contains(a netip.Addr) bool {
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// PeerOf decides a request's Peer.
func (t TrustedProxies) PeerOf(r *http.Request) Peer {
	p := Peer{Conn: remoteIP(r), Secure: r.TLS != nil}
	p.SourceIP = p.Conn
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		p.ClientCertSubject = r.TLS.VerifiedChains[0][0].Subject.String()
	}
	conn, ok := parseHop(p.Conn)
	if !ok || !t.contains(conn) {
		return p
	}
	p.SourceIP = conn.String()
	if client, ok := t.forwardedFor(r.Header.Values("X-Forwarded-For")); ok && client != conn {
		p.SourceIP, p.Forwarded, p.ClientCertSubject = client.String(), true, ""
	}
	if proto, ok := lastValue(r.Header.Values("X-Forwarded-Proto")); ok {
		switch strings.ToLower(proto) {
		case "https":
			p.Secure = true
		case "http":
			p.Secure = false
		}
	}
	return p
}

// forwardedFor walks X-Forwarded-For from the right (the hop our trusted
// peer appended) and returns the first address that is not a trusted
// proxy: everything left of it was written by the client and proves
// nothing. A malformed hop ends the walk at the last trusted address
// before it; a chain of trusted proxies only yields its left-most hop.
func (t TrustedProxies) forwardedFor(values []string) (netip.Addr, bool) {
	hops := splitList(values)
	var client netip.Addr
	found := false
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			break
		}
		client, found = a, true
		if !t.contains(a) {
			break
		}
	}
	return client, found
}

// parseHop reads an address as proxies write it: bare, or with a port
// ("198.51.100.7:4711", "[2001:db8::1]:443"), or bracketed. Zones are
// refused; IPv4-mapped IPv6 becomes IPv4.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			if a, err = netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err != nil || !strings.HasPrefix(s, "[") {
				return netip.Addr{}, false
			}
		} else {
			a = ap.Addr()
		}
	}
	if a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// splitList splits comma-separated header values, keeping empty items
// (a malformed hop must stay visible to the walk).
func splitList(values []string) []string {
	var out []string
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			out = append(out, strings.TrimSpace(item))
		}
	}
	return out
}

// lastValue is the right-most item of a list header: what the proxy
// nearest to us wrote.
func lastValue(values []string) (string, bool) {
	items := splitList(values)
	if len(items) == 0 || items[len(items)-1] == "" {
		return "", false
	}
	return items[len(items)-1], true
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

type peerKey struct{}

// PeerFrom returns the Peer the server decided for the request ctx
// belongs to; the zero Peer outside one.
func PeerFrom(ctx context.Context) Peer {
	p, _ := ctx.Value(peerKey{}).(Peer)
	return p
}

// peerMiddleware decides the Peer once and puts it in the request's
// context for every handler.
func (s *Server) peerMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		p := s.cfg.TrustedProxies.PeerOf(r)
		s.metrics.transport(p)
		c.SetRequest(r.WithContext(context.WithValue(r.Context(), peerKey{}, p)))
		return next(c)
	}
}
