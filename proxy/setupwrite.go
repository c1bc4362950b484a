package proxy

import (
	"net"
	"time"
)

// writeBounded writes b to c, waiting at most timeout for c to take it. The set-up's writes (the
// ClientHello to the origin, the server's first answer to the client) are small and go to
// sockets with empty send buffers, so they are first tried at once, without a deadline: setting
// and clearing one costs two runtime timer changes per write. Only what c cannot take yet waits
// under the deadline.
func writeBounded(c net.Conn, b []byte, timeout time.Duration) error {
	n := tryWrite(c, b)
	if n == len(b) {
		return nil
	}
	c.SetWriteDeadline(time.Now().Add(timeout))
	_, err := c.Write(b[n:])
	c.SetWriteDeadline(time.Time{})
	return err
}
