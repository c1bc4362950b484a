package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"
)

// inspectedSuffixes are the domains whose certificates come from the vendors' own public CAs:
// an untrusted certificate on one of them is the mark of a TLS-inspecting device, the most
// common cause of broken APNs and FCM.
var inspectedSuffixes = []string{
	"apple.com", "icloud.com", "mzstatic.com", "cdn-apple.com", "apple-cloudkit.com",
	"google.com", "googleapis.com", "gstatic.com", "android.com", "googleusercontent.com",
	"gvt1.com", "gvt2.com", "gvt3.com", "ggpht.com",
}

// isVendorName reports whether name is under one of inspectedSuffixes.
func isVendorName(name string) bool {
	for _, s := range inspectedSuffixes {
		if name == s || strings.HasSuffix(name, "."+s) {
			return true
		}
	}
	return false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT) || (errors.As(err, &ne) && ne.Timeout())
}

// dnsDetail explains a failed resolution.
func dnsDetail(err error, timeout time.Duration) string {
	var de *net.DNSError
	switch {
	case isTimeout(err):
		return fmt.Sprintf("the DNS server did not answer within %v: check the DNS server this host uses", timeout)
	case errors.As(err, &de) && de.IsNotFound:
		return "the name does not resolve (no such host): a DNS filter may be blocking it, or the name is wrong"
	}
	return "the name does not resolve: " + err.Error()
}

// dialDetail classifies a failed connection.
func dialDetail(err error, timeout time.Duration) (string, string) {
	switch {
	case isTimeout(err):
		return ResultTimeout, fmt.Sprintf("no answer to the connection within %v: a firewall probably drops this port", timeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return ResultRefused, "the connection was refused: the port is closed, or a firewall rejects it"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return ResultRefused, "no route to the address: a firewall or router rejects it (" + err.Error() + ")"
	}
	return ResultRefused, "cannot connect: " + err.Error()
}

// tlsDetail classifies a failed TLS handshake with name as SNI.
func tlsDetail(err error, name string, timeout time.Duration) (string, string) {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var alert tls.AlertError
	switch {
	case errors.As(err, &unknown):
		detail := "the certificate is not from a trusted root"
		if unknown.Cert != nil {
			detail = fmt.Sprintf("the certificate (issued by %q) is not from a trusted root", issuerName(unknown.Cert))
		}
		if isVendorName(name) {
			detail += "; on an Apple or Google name this means a TLS-inspecting device (a content filter or firewall doing SSL inspection) is probably in the path: exempt this name from inspection"
		} else {
			detail += ": a TLS-inspecting device may be in the path"
		}
		return ResultTLSUntrusted, detail
	case errors.As(err, &host):
		return ResultTLSName, fmt.Sprintf("the certificate is not issued for %s (%s): something in the path answers for this name", name, certNames(host.Certificate))
	case errors.As(err, &invalid):
		return ResultTLSOther, "the certificate is not valid: " + invalid.Error()
	case isTimeout(err):
		return ResultTimeout, fmt.Sprintf("the port accepts connections but no TLS answer came within %v: something in the path holds TLS to this name", timeout)
	case errors.As(err, &alert):
		return ResultTLSOther, "the server refused the TLS handshake (" + err.Error() + ")"
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
		return ResultTLSOther, "the connection was closed during the TLS handshake: a filter may be cutting TLS to this name"
	}
	return ResultTLSOther, "TLS handshake failed: " + err.Error()
}

// certNames lists the names a certificate is for.
func certNames(c *x509.Certificate) string {
	if c == nil {
		return "no certificate"
	}
	names := c.DNSNames
	if len(names) == 0 && c.Subject.CommonName != "" {
		names = []string{c.Subject.CommonName}
	}
	if len(names) == 0 {
		return "it names no host"
	}
	if len(names) > 4 {
		names = append(names[:4:4], fmt.Sprintf("and %d more", len(names)-4))
	}
	return "it is for " + strings.Join(names, ", ")
}
