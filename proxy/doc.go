// Package proxy is mdmproxy's data path: an explicit HTTP proxy that splices allowlisted MDM
// tunnels and refuses the rest.
//
// Use it like this:
//
//	srv := &proxy.Server{Events: logger, Log: oplog}
//	srv.Update(&proxy.Settings{Policy: policy, Timeouts: proxy.DefaultTimeouts, Limits: proxy.DefaultLimits})
//	ln, _ := net.Listen("tcp", "127.0.0.1:3128")
//	go srv.Serve(ln)
//	...
//	tln, _ := proxy.ListenTransparent(ctx, "[::]:3129", proxy.TransparentRedirect) // Linux
//	go srv.ServeTransparent(tln, proxy.TransparentRedirect) // connections netfilter redirected
//	...
//	srv.Update(newSettings)   // a reload: new connections use it, open tunnels keep theirs
//	srv.Shutdown(ctx)         // stop accepting, drain tunnels until ctx ends, then close them
//
// Every connection takes the Settings snapshot current when it is accepted and asks its
// allowlist.Policy (the one decision function) at each step of a CONNECT: after parsing the
// target, after resolving the name, and after reading the ClientHello. CONNECT is handled by
// this package directly rather than by goproxy, because goproxy's hijack path drops bytes a
// client sends in the same packet as its CONNECT (an eager ClientHello) and copies tunnels
// with io.Copy, which holds a pipe pair per idle tunnel. goproxy serves the plain-HTTP side.
//
// An intercepted connection (transparent.go) has no CONNECT: it is decided from its original
// destination and its ClientHello, read before anything is dialled, and then goes through the
// same stages' ends as a CONNECT (limits, upstream, splice, finish).
//
// A spliced tunnel moves bytes with splice(2) through a pipe borrowed only while data flows;
// an idle tunnel holds its two sockets and two parked goroutines, nothing more.
package proxy
