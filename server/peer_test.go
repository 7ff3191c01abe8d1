package server

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/http"
	"testing"
)

// TestPeerOfSpoofedForwardingHeaders: X-Forwarded-For and
// X-Forwarded-Proto count only from a trusted proxy, and then only up to
// the right-most hop that is not a trusted proxy; garbage, IPv6, ports,
// IPv4-mapped addresses, several header lines and all-trusted chains.
func TestPeerOfSpoofedForwardingHeaders(t *testing.T) {
	trusted, err := ParseTrustedProxies([]string{"10.0.0.0/8", "2001:db8:aaaa::/48", "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	clientCert := &x509.Certificate{Subject: pkix.Name{CommonName: "ops-7", OrganizationalUnit: []string{"Ops"}, Organization: []string{"Example"}, Country: []string{"CN"}}}
	verified := &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{clientCert}}}
	tests := []struct {
		name    string
		proxies TrustedProxies
		remote  string
		xff     []string
		xfp     []string
		tls     *tls.ConnectionState
		want    Peer
	}{
		{"no proxies configured: headers ignored", nil, "203.0.113.5:4000", []string{"198.51.100.1"}, []string{"https"}, nil,
			Peer{SourceIP: "203.0.113.5", Conn: "203.0.113.5"}},
		{"untrusted peer: spoofed headers ignored", trusted, "203.0.113.5:4000", []string{"10.0.0.9, 198.51.100.1"}, []string{"https"}, nil,
			Peer{SourceIP: "203.0.113.5", Conn: "203.0.113.5"}},
		{"untrusted peer over TLS: spoofed http ignored", trusted, "203.0.113.5:4000", []string{"198.51.100.1"}, []string{"http"}, verified,
			Peer{SourceIP: "203.0.113.5", Conn: "203.0.113.5", Secure: true, ClientCertSubject: "CN=ops-7,OU=Ops,O=Example,C=CN"}},
		{"trusted proxy, one hop", trusted, "10.0.0.1:4000", []string{"198.51.100.1"}, []string{"https"}, nil,
			Peer{SourceIP: "198.51.100.1", Conn: "10.0.0.1", Secure: true, Forwarded: true}},
		{"several hops: right-most untrusted wins over a spoofed left part", trusted, "10.0.0.1:4000", []string{"1.1.1.1, 10.9.9.9, 198.51.100.1, 10.0.0.2"}, nil, nil,
			Peer{SourceIP: "198.51.100.1", Conn: "10.0.0.1", Forwarded: true}},
		{"several header lines", trusted, "10.0.0.1:4000", []string{"6.6.6.6", "198.51.100.1", "10.0.0.2"}, nil, nil,
			Peer{SourceIP: "198.51.100.1", Conn: "10.0.0.1", Forwarded: true}},
		{"client claims a trusted address", trusted, "10.0.0.1:4000", []string{"10.0.0.7, 198.51.100.1"}, nil, nil,
			Peer{SourceIP: "198.51.100.1", Conn: "10.0.0.1", Forwarded: true}},
		{"garbage right-most: the proxy itself", trusted, "10.0.0.1:4000", []string{"198.51.100.1, not-an-ip"}, nil, nil,
			Peer{SourceIP: "10.0.0.1", Conn: "10.0.0.1"}},
		{"garbage in the middle: the last trusted hop", trusted, "10.0.0.1:4000", []string{"198.51.100.1, <script>, 10.0.0.2"}, nil, nil,
			Peer{SourceIP: "10.0.0.2", Conn: "10.0.0.1", Forwarded: true}},
		{"empty item is garbage", trusted, "10.0.0.1:4000", []string{"198.51.100.1,,10.0.0.2"}, nil, nil,
			Peer{SourceIP: "10.0.0.2", Conn: "10.0.0.1", Forwarded: true}},
		{"empty header", trusted, "10.0.0.1:4000", []string{""}, nil, nil,
			Peer{SourceIP: "10.0.0.1", Conn: "10.0.0.1"}},
		{"all-trusted chain: its left-most hop", trusted, "10.0.0.1:4000", []string{"10.0.0.5, 192.0.2.1, 10.0.0.6"}, nil, nil,
			Peer{SourceIP: "10.0.0.5", Conn: "10.0.0.1", Forwarded: true}},
		{"hops with ports", trusted, "10.0.0.1:4000", []string{"198.51.100.1:5555, [2001:db8:aaaa::2]:443"}, nil, nil,
			Peer{SourceIP: "198.51.100.1", Conn: "10.0.0.1", Forwarded: true}},
		{"IPv6 proxy and client", trusted, "[2001:db8:aaaa::1]:4000", []string{"2001:db8:bbbb::9, 2001:db8:aaaa::3"}, nil, nil,
			Peer{SourceIP: "2001:db8:bbbb::9", Conn: "2001:db8:aaaa::1", Forwarded: true}},
		{"IPv6 outside the trusted /48 is a client", trusted, "[2001:db8:aaab::1]:4000", []string{"198.51.100.1"}, nil, nil,
			Peer{SourceIP: "2001:db8:aaab::1", Conn: "2001:db8:aaab::1"}},
		{"bracketed IPv6 hop", trusted, "10.0.0.1:4000", []string{"[2001:db8:bbbb::9]"}, nil, nil,
			Peer{SourceIP: "2001:db8:bbbb::9", Conn: "10.0.0.1", Forwarded: true}},
		{"zoned IPv6 hop is garbage", trusted, "10.0.0.1:4000", []string{"fe80::1%eth0"}, nil, nil,
			Peer{SourceIP: "10.0.0.1", Conn: "10.0.0.1"}},
		{"IPv4-mapped proxy is the IPv4 proxy", trusted, "[::ffff:10.0.0.1]:4000", []string{"::ffff:198.51.100.1"}, nil, nil,
			Peer{SourceIP: "198.51.100.1", Conn: "::ffff:10.0.0.1", Forwarded: true}},
		{"trusted proxy says http over its TLS hop", trusted, "10.0.0.1:4000", nil, []string{"http"}, &tls.ConnectionState{},
			Peer{SourceIP: "10.0.0.1", Conn: "10.0.0.1"}},
		{"proto list: the nearest proxy's value", trusted, "10.0.0.1:4000", nil, []string{"https, http"}, nil,
			Peer{SourceIP: "10.0.0.1", Conn: "10.0.0.1"}},
		{"proto garbage changes nothing", trusted, "10.0.0.1:4000", nil, []string{"ftp"}, nil,
			Peer{SourceIP: "10.0.0.1", Conn: "10.0.0.1"}},
		{"the proxy's client certificate is not the forwarded client's", trusted, "10.0.0.1:4000", []string{"198.51.100.1"}, nil, verified,
			Peer{SourceIP: "198.51.100.1", Conn: "10.0.0.1", Secure: true, Forwarded: true}},
		{"a trusted peer's own call keeps its certificate", trusted, "10.0.0.1:4000", nil, nil, verified,
			Peer{SourceIP: "10.0.0.1", Conn: "10.0.0.1", Secure: true, ClientCertSubject: "CN=ops-7,OU=Ops,O=Example,C=CN"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodPost, "/", nil)
			r.RemoteAddr, r.TLS = tc.remote, tc.tls
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			for _, v := range tc.xfp {
				r.Header.Add("X-Forwarded-Proto", v)
			}
			if got := tc.proxies.PeerOf(r); got != tc.want {
				t.Fatalf("PeerOf = %+v\n          want %+v", got, tc.want)
			}
		})
	}
}

func TestParseTrustedProxiesRefusesGarbage(t *testing.T) {
	for _, bad := range []string{"10.0.0.0/33", "proxy.example.com", "", "fe80::1%eth0"} {
		if _, err := ParseTrustedProxies([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	tp, err := ParseTrustedProxies([]string{"::ffff:10.0.0.0/104"})
	if err != nil || len(tp) != 1 || tp[0].String() != "10.0.0.0/8" {
		t.Errorf("IPv4-mapped prefix parsed as %v, %v", tp, err)
	}
}
