package server

import "log/slog"

// What the listener is, as /readyz and `token status` report it.
const (
	// TransportHTTPS: TLS on the listener.
	TransportHTTPS = "https"
	// TransportLoopback: plain HTTP on a loopback address (the embedded
	// default); nothing crosses a network.
	TransportLoopback = "http-loopback"
	// TransportPlaintext: plain HTTP on a non-loopback address, allowed
	// only by tls.allow_plaintext (e.g. behind a TLS-terminating proxy).
	TransportPlaintext = "http-plaintext"
)

// PlaintextWarning is what /readyz and the start-up log say about a
// non-loopback plain HTTP listener.
const PlaintextWarning = "plain HTTP on a non-loopback listener (tls.allow_plaintext): decrypted data, exported keys and certificates cross the network in clear unless a proxy in front terminates TLS"

// readyBody is the /readyz answer: status, custody mode and transport.
func (s *Server) readyBody(status string) map[string]string {
	body := map[string]string{"status": status, "custody": s.cfg.Custody}
	if s.cfg.Transport != "" {
		body["transport"] = s.cfg.Transport
	}
	if s.cfg.Transport == TransportPlaintext {
		body["warning"] = PlaintextWarning
	}
	return body
}

// peerLog is a request's Peer as log attributes: the client address
// ("remote", as before), the transport, and, when they differ from it,
// the connection's peer and the client certificate.
func peerLog(p Peer) slog.Attr {
	attrs := []any{"remote", p.SourceIP, "secure", p.Secure}
	if p.Forwarded {
		attrs = append(attrs, "via", p.Conn)
	}
	if p.ClientCertSubject != "" {
		attrs = append(attrs, "client_cert", p.ClientCertSubject)
	}
	return slog.Group("peer", attrs...)
}

// transport counts one request by how it reached us.
func (m *metrics) transport(p Peer) {
	t := "http"
	if p.Secure {
		t = "https"
	}
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	m.byTransport.WithLabelValues(t, yes(p.Forwarded), yes(p.ClientCertSubject != "")).Inc()
}
