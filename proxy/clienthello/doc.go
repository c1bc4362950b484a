// Package clienthello reads the TLS ClientHello at the start of a CONNECT tunnel, without decrypting
// anything, so the proxy can check the SNI before it splices the tunnel.
//
// Typical use, right after the proxy has answered a CONNECT with 200:
//
//	conn.SetReadDeadline(time.Now().Add(helloTimeout))
//	info, raw, err := clienthello.Read(conn, buf[:0], clienthello.DefaultMax)
//	conn.SetReadDeadline(time.Time{})
//	switch {
//	case errors.Is(err, clienthello.ErrNotTLS):
//		// Not TLS: raw holds the single byte read; replay it before splicing, or refuse.
//	case err != nil:
//		// Malformed, too large, truncated or timed out: close, maybe after
//		// conn.Write(clienthello.Alert(clienthello.AlertDecodeError)).
//	case !allowed(info.ServerName):
//		conn.Write(clienthello.Alert(clienthello.AlertUnrecognizedName))
//	default:
//		origin.Write(raw) // replay the exact bytes, then splice both ways
//	}
//
// Read consumes exactly the TLS records that carry the ClientHello and not one byte more, so anything
// the client sent after it (0-RTT early data) is still in the connection for the splice. It reassembles
// a hello split over many TCP segments or many TLS records: post-quantum key shares make 1.5-2 KB hellos
// the normal case, and splitting a hello across records is legal and used to evade naive SNI filters.
//
// Parse decodes a ClientHello handshake message that is already in memory. Both parse with
// golang.org/x/crypto/cryptobyte and never panic on hostile input.
//
// The SNI is reported exactly as sent: case, a trailing dot and IDN forms are left to the policy, which
// normalises names the same way for CONNECT targets and SNIs. With Encrypted Client Hello the proxy sees
// only the outer (public) name; Info.ECH says so (browsers also send ECH "GREASE", so ECH does not
// prove that a real inner hello exists).
package clienthello
