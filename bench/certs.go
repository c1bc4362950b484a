package bench

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// Names the origins are reached by, through the proxies' static host tables.
const (
	TLSName   = "tls.bench.test"
	PlainName = "plain.bench.test"
)

// PKI is a throw-away CA and the origins' certificate, written as PEM files under a directory.
type PKI struct {
	CAPath, CAKeyPath string // the CA (Squid's ssl-bump port needs one)
	CertPath, KeyPath string // the origins' leaf certificate
	Pool              *x509.CertPool
	Leaf              tls.Certificate
}

// NewPKI generates the CA and leaf (ECDSA P-256, as most servers now use) into dir.
func NewPKI(dir string) (*PKI, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mdmproxy bench CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
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
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: TLSName},
		DNSNames:     []string{TLSName, PlainName},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	p := &PKI{
		CAPath: filepath.Join(dir, "ca.pem"), CAKeyPath: filepath.Join(dir, "ca-key.pem"),
		CertPath: filepath.Join(dir, "origin.pem"), KeyPath: filepath.Join(dir, "origin-key.pem"),
		Pool: x509.NewCertPool(),
	}
	p.Pool.AddCert(ca)
	if err := writePEM(p.CAPath, "CERTIFICATE", caDER); err != nil {
		return nil, err
	}
	if err := writeKey(p.CAKeyPath, caKey); err != nil {
		return nil, err
	}
	if err := writePEM(p.CertPath, "CERTIFICATE", leafDER); err != nil {
		return nil, err
	}
	if err := writeKey(p.KeyPath, key); err != nil {
		return nil, err
	}
	p.Leaf, err = tls.LoadX509KeyPair(p.CertPath, p.KeyPath)
	return p, err
}

func writeKey(path string, k *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return err
	}
	return writePEM(path, "PRIVATE KEY", der)
}

// writePEM writes a world-readable file: Squid reads its certificate after dropping to its
// own user, and these keys protect nothing.
func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644)
}

// ClientConfig is the clients' TLS configuration: Go's defaults (X25519MLKEM768 key share
// first, so a ~1.2 KB ClientHello), the bench CA as the only root, no session resumption:
// every handshake is a full one.
func (p *PKI) ClientConfig(serverName string) *tls.Config {
	return &tls.Config{RootCAs: p.Pool, ServerName: serverName}
}

// LoadServerCert reads the origins' certificate from files (the origin runs as its own process).
func LoadServerCert(certPath, keyPath string) (tls.Certificate, error) {
	return tls.LoadX509KeyPair(certPath, keyPath)
}

// ClientPKI is the client's side of a PKI written by NewPKI: the CA as the only root.
func ClientPKI(caPath string) (*PKI, error) {
	b, err := os.ReadFile(caPath)
	if err != nil {
		return nil, err
	}
	p := &PKI{CAPath: caPath, Pool: x509.NewCertPool()}
	if !p.Pool.AppendCertsFromPEM(b) {
		return nil, os.ErrInvalid
	}
	return p, nil
}
