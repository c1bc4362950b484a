package proxy

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/mdmproxy/mdmproxy/events"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

func TestSilentClientGetsNoEvent(t *testing.T) {
	_, addr, rec := testProxy(t, nil, nil, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	// A second client that says something bad does get an event, and it is the only one.
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.Write([]byte("BAD REQUEST LINE\r\n\r\n"))
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.ReadAll(c2)
	ev := rec.wait(t, func(e events.Event) bool { return true })
	if ev.SourcePort != uint16(c2.LocalAddr().(*net.TCPAddr).Port) || ev.Reason != allowlist.ReasonBadRequest.String() {
		t.Errorf("first event %+v; want the bad request of the second client", ev)
	}
}
