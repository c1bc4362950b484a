package pac

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strconv"
)

// Script is a File rendered for one proxy address: the bytes a device receives.
type Script struct {
	head string // the comment header and the proxy's address
	body []byte // shared with the File
	// ETag is the entity tag of the bytes, quoted, for the ETag header.
	ETag string
}

// Script renders f for proxy, the HOST:PORT devices reach this proxy at (a name, an IPv4
// address or a bracketed IPv6 address, as allowlist.ParseTarget reads it).
func (f *File) Script(proxy string) (*Script, error) {
	proxy, err := CanonicalHostPort(proxy)
	if err != nil {
		return nil, err
	}
	s := &Script{head: f.head + "\nvar mdmproxy = " + strconv.Quote("PROXY "+proxy) + ";\n", body: f.body}
	h := sha256.New()
	h.Write([]byte(s.head))
	h.Write(f.bodySum[:])
	s.ETag = `"` + hex.EncodeToString(h.Sum(nil)[:16]) + `"`
	return s, nil
}

// Len is the size of the file in bytes.
func (s *Script) Len() int { return len(s.head) + len(s.body) }

// Bytes returns the whole file.
func (s *Script) Bytes() []byte {
	b := make([]byte, 0, s.Len())
	return append(append(b, s.head...), s.body...)
}

// WriteTo writes the file to w.
func (s *Script) WriteTo(w io.Writer) (int64, error) {
	n, err := io.WriteString(w, s.head)
	if err != nil {
		return int64(n), err
	}
	m, err := w.Write(s.body)
	return int64(n + m), err
}
