package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// Result codes, as the spec names them.
const (
	ResultOK           = "ok"
	ResultDNS          = "dns"           // the name does not resolve
	ResultRefused      = "refused"       // the connection was refused or rejected (closed port, firewall reject)
	ResultTimeout      = "timeout"       // no answer in time (firewall drop, a box that swallows TLS)
	ResultTLSUntrusted = "tls_untrusted" // a certificate not from the trusted roots
	ResultTLSName      = "tls_name"      // a certificate not issued for the name
	ResultTLSOther     = "tls_other"     // any other TLS failure (expired, handshake cut)
)

// Result is what one probe found.
type Result struct {
	Rule    string `json:"rule"`
	Name    string `json:"name"`
	Port    uint16 `json:"port"`
	Address string `json:"address"` // the address connected to (or last tried); "" when unresolved
	Result  string `json:"result"`
	MS      int64  `json:"ms"`
	Detail  string `json:"detail"`
	Probe   string `json:"probe_source,omitempty"` // for a preset probe name: the vendor's source
}

// OK reports whether the target was reachable.
func (r Result) OK() bool { return r.Result == ResultOK }

// probe checks one target; every step is bounded by c.Timeout and by ctx.
func (c *Checker) probe(ctx context.Context, names *resolver, t Target) Result {
	start := time.Now()
	res := Result{Rule: t.Rule, Name: t.Name, Port: t.Port, Probe: t.Probe}
	done := func(code, detail string) Result {
		if code != ResultOK && runOver(ctx) {
			code, detail = ResultTimeout, totalRanOut // the step failed because the run was over
		}
		res.Result, res.Detail = code, detail
		res.MS = time.Since(start).Milliseconds()
		return res
	}

	addrs, err := names.resolve(ctx, t.Name)
	if err != nil {
		return done(ResultDNS, dnsDetail(err, c.timeout()))
	}
	if _, static := c.Hosts[t.Name]; !static && sinkholed(addrs) {
		res.Address = addrs[0].String()
		return done(ResultDNS, "DNS answered "+res.Address+", a blocking answer: a DNS filter blocks this name")
	}

	conn, addr, err := c.connect(ctx, addrs, t.Port)
	res.Address = addr.String()
	if err != nil {
		code, detail := dialDetail(err, c.timeout())
		return done(code, detail)
	}
	defer conn.Close()
	if !t.TLS {
		return done(ResultOK, "connected (the rule does not require TLS, so no handshake was made)")
	}

	conn.SetDeadline(time.Now().Add(c.timeout()))
	tc := tls.Client(conn, &tls.Config{ServerName: t.Name, RootCAs: c.Roots, MinVersion: tls.VersionTLS12})
	hctx, cancel := context.WithTimeout(ctx, c.timeout())
	err = tc.HandshakeContext(hctx)
	cancel()
	if err != nil {
		code, detail := tlsDetail(err, t.Name, c.timeout())
		return done(code, detail)
	}
	return done(ResultOK, okDetail(tc.ConnectionState().PeerCertificates))
}

// sinkholed reports whether every answer is an address DNS filters give for a blocked name
// (0.0.0.0, ::) rather than a host to connect to.
func sinkholed(addrs []netip.Addr) bool {
	for _, a := range addrs {
		if !a.IsUnspecified() {
			return false
		}
	}
	return len(addrs) > 0
}

// runOver reports whether the run's context is done or past its deadline: a socket deadline
// taken from it can fire a moment before the context itself is cancelled.
func runOver(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

// connect dials the addresses in answer order until one connects, as the proxy does, all
// within one c.Timeout. It returns the address connected to, or the last one tried.
func (c *Checker) connect(ctx context.Context, addrs []netip.Addr, port uint16) (net.Conn, netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	dial := c.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	var last netip.Addr
	var err error
	for _, a := range addrs {
		last = a
		var conn net.Conn
		conn, err = dial(ctx, "tcp", net.JoinHostPort(a.String(), strconv.Itoa(int(port))))
		if err == nil {
			return conn, a, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, last, err
}

// okDetail describes the certificate a successful handshake presented.
func okDetail(chain []*x509.Certificate) string {
	if len(chain) == 0 {
		return "TLS handshake completed"
	}
	leaf := chain[0]
	return fmt.Sprintf("TLS handshake completed; certificate issued by %q, valid until %s", issuerName(leaf), leaf.NotAfter.UTC().Format(time.DateOnly))
}

func issuerName(c *x509.Certificate) string {
	if c.Issuer.CommonName != "" {
		return c.Issuer.CommonName
	}
	return c.Issuer.String()
}
