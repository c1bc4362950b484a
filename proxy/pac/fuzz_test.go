package pac

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
)

// FuzzProxyFromRequest: whatever Host a client sends, the address written into the file is a
// canonical HOST:PORT (nothing that could end the JavaScript string), on both kinds of listener.
func FuzzProxyFromRequest(f *testing.F) {
	for _, s := range []string{"mdmproxy.school.lan:3128", "wpad", "[::1]:80", "10.0.0.1", "a\";alert(1);//:1", "[::1", "::1", ":80", "", "xn--bcher-kva.example:8080", "BÜCHER.example"} {
		f.Add(s)
	}
	local := &net.TCPAddr{IP: net.ParseIP("::ffff:10.0.0.9"), Port: 3128}
	f.Fuzz(func(t *testing.T, host string) {
		r := &http.Request{Host: host}
		r = r.WithContext(context.WithValue(context.Background(), http.LocalAddrContextKey, local))
		for _, port := range []uint16{0, 3128} {
			got := proxyFromRequest(r, port)
			if c, err := CanonicalHostPort(got); err != nil || c != got || strings.ContainsAny(got, "\"\\\n") {
				t.Fatalf("Host %q, port %d: %q (canonical %q, %v)", host, port, got, c, err)
			}
		}
	})
}
