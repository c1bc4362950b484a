package proxy

import (
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"testing"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd on this system")
	}
	return len(ents)
}

// TestIdleTunnelsHoldNoPipes checks the property the tunnel design exists for: an idle spliced
// tunnel holds its two sockets and no pipe. In this process each tunnel is four sockets
// (client, the proxy's two legs, origin); a design that parked inside splice(2) would add a
// pipe pair per direction, eight descriptors in all. The same holds when a trusted balancer
// sends a PROXY header first: it is read from the session's reader, and the tunnel still
// splices and parks on the raw socket.
func TestIdleTunnelsHoldNoPipes(t *testing.T) {
	for _, header := range []string{"", "PROXY TCP4 127.0.0.9 127.0.0.1 40000 3128\r\n"} {
		t.Run("PROXY header "+strconv.FormatBool(header != ""), func(t *testing.T) {
			port := echoServer(t)
			srv, addr, _ := testProxy(t, []allowlist.Rule{loopbackRule("plain", port, true, allowlist.TLSOptional)}, loopbackHosts,
				func(s *Settings) {
					if header != "" {
						s.ProxyProtocolTrusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
					}
				})
			const n = 200
			before := openFDs(t)
			conns := make([]net.Conn, 0, n)
			for i := 0; i < n; i++ {
				c := connectWith(t, addr, header, "origin.test:"+strconv.Itoa(int(port)))
				// Move bytes through each tunnel once, so each direction has spliced and gone idle again.
				c.Write([]byte("ping"))
				buf := make([]byte, 4)
				if _, err := io.ReadFull(c, buf); err != nil {
					t.Fatal(err)
				}
				conns = append(conns, c)
			}
			if got := srv.OpenTunnels(); got != n {
				t.Fatalf("%d tunnels open, want %d", got, n)
			}
			perTunnel := float64(openFDs(t)-before) / n
			// 4 sockets per tunnel, plus the shared pipe pool (at most 2*maxIdlePipes descriptors).
			if limit := 4 + float64(2*maxIdlePipes)/n; perTunnel > limit {
				t.Errorf("%.2f descriptors per idle tunnel (4 sockets expected, at most %.2f allowed)", perTunnel, limit)
			}
		})
	}
}
