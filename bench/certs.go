package bench

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"time"

	"github.com/mdmproxy/mdmproxy/internal/testpki"
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
	gen, err := testpki.New("mdmproxy bench CA", 7*24*time.Hour, []string{TLSName, PlainName}, nil)
	if err != nil {
		return nil, err
	}
	p := &PKI{
		CAPath: filepath.Join(dir, "ca.pem"), CAKeyPath: filepath.Join(dir, "ca-key.pem"),
		CertPath: filepath.Join(dir, "origin.pem"), KeyPath: filepath.Join(dir, "origin-key.pem"),
		Pool: gen.Pool,
	}
	if err := writePEM(p.CAPath, "CERTIFICATE", gen.CADER); err != nil {
		return nil, err
	}
	if err := writeKey(p.CAKeyPath, gen.CAKey); err != nil {
		return nil, err
	}
	if err := writePEM(p.CertPath, "CERTIFICATE", gen.LeafDER); err != nil {
		return nil, err
	}
	if err := writeKey(p.KeyPath, gen.LeafKey); err != nil {
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
