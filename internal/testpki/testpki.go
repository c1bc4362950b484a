// Package testpki makes throw-away certificate authorities for tests and benchmarks:
//
//	pki, err := testpki.New("mdmproxy test CA", time.Hour, []string{"courier.push.apple.com"}, nil)
//	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pki.Leaf}})
//	client := &tls.Config{RootCAs: pki.Pool, ServerName: "courier.push.apple.com"}
//
// Keys are ECDSA P-256, as most servers now use. Nothing here is fit for anything but tests.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"time"
)

// PKI is a CA and one leaf certificate it signed.
type PKI struct {
	CA      *x509.Certificate
	CADER   []byte
	CAKey   *ecdsa.PrivateKey
	LeafDER []byte
	LeafKey *ecdsa.PrivateKey
	Leaf    tls.Certificate // the leaf and the CA, as a server presents them
	Pool    *x509.CertPool  // the CA, for clients
}

// New makes a CA named caName and a server certificate for names and ips, both valid from an
// hour ago for validity.
func New(caName string, validity time.Duration, names []string, ips []net.IP) (*PKI, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: caName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		IPAddresses:  ips,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &PKI{
		CA: ca, CADER: caDER, CAKey: caKey, LeafDER: leafDER, LeafKey: leafKey,
		Leaf: tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: leafKey},
		Pool: pool,
	}, nil
}
