package proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"

	"github.com/mdmproxy/mdmproxy/allowlist"
)

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyPump moves one direction through a user-space buffer. It serves connections splice
// cannot handle (a wrapped connection, another OS); it keeps the same time-outs, half-close
// and byte counts as the splice pump.
func copyPump(t *tunnel, src, dst net.Conn, count *atomic.Int64) {
	defer t.pumpDone()
	defer recoverCopy(t)
	t.keepAlive() // this pump never parks, so it cannot wait for the tunnel to go quiet
	bufp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bufp)
	buf := *bufp
	for {
		src.SetReadDeadline(t.readDeadline())
		n, err := src.Read(buf)
		if n > 0 {
			dst.SetWriteDeadline(t.writeDeadline())
			if _, werr := dst.Write(buf[:n]); werr != nil {
				t.abort(allowlist.ReasonReset)
				return
			}
			count.Add(int64(n))
			t.touch()
		}
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded):
			if reason, ok := t.expired(); ok {
				t.abort(reason)
				return
			}
		case errors.Is(err, io.EOF):
			if cw, ok := dst.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
				t.halfClosed(dst)
				return
			}
			t.abort(allowlist.ReasonEOF)
			return
		default:
			t.abort(allowlist.ReasonReset)
			return
		}
	}
}
