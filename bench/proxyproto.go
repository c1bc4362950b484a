package bench

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
)

// ProxyProtoName is the target of mdmproxy behind a load balancer that sends PROXY protocol
// (issue #14): the balancer's header is read from the session's own buffered reader, never by
// wrapping the connection, so its idle tunnels must cost what direct clients' do (2 descriptors
// and the same KiB per parked tunnel). Measured in the idle rounds beside mdmproxy.
const ProxyProtoName = "mdmproxy-proxyproto"

// proxyProtoClient is the client address the header announces: a device behind the balancer.
const proxyProtoClient = "127.0.0.9"

// MdmproxyProxyProtoConfig is MdmproxyConfig with 127.0.0.1 trusted to send PROXY headers.
func MdmproxyProxyProtoConfig(e *Endpoints, eventsPath string) string {
	return MdmproxyConfig(e, eventsPath) + "proxy_protocol: {trusted: [127.0.0.1/32]}\n"
}

// StartMdmproxyProxyProto starts mdmproxy with MdmproxyProxyProtoConfig.
func StartMdmproxyProxyProto(ctx context.Context, bin, dir string, e *Endpoints) (*Server, error) {
	cfg, err := writeConfig(dir, "mdmproxy-proxyproto.yaml", MdmproxyProxyProtoConfig(e, filepath.Join(dir, "events-proxyproto.json")))
	if err != nil {
		return nil, err
	}
	return startMdmproxy(ctx, []string{bin}, cfg, filepath.Join(dir, "mdmproxy-proxyproto.log"))
}

// ProxyProtoConnect is ConnectProxy through a balancer's hop: each connection starts with a
// PROXY protocol v1 header naming proxyProtoClient, as HAProxy's send-proxy writes it.
func ProxyProtoConnect(name, label string, proxyAddr func() string, e *Endpoints, pid func() int) *Target {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		src, dst := c.LocalAddr().(*net.TCPAddr), c.RemoteAddr().(*net.TCPAddr)
		if _, err := fmt.Fprintf(c, "PROXY TCP4 %s %s %d %d\r\n", proxyProtoClient, dst.IP, src.Port, dst.Port); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	return ConnectProxyVia(dial, name, label, proxyAddr, e, pid)
}
