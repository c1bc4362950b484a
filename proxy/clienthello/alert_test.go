package clienthello

import (
	"bytes"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"
)

func TestAlertBytes(t *testing.T) {
	want := []byte{21, 3, 3, 0, 2, 2, 112}
	if got := Alert(AlertUnrecognizedName); !bytes.Equal(got, want) {
		t.Fatalf("Alert = %x, want %x", got, want)
	}
	// Each call returns its own slice: callers may write it from several goroutines.
	a := Alert(AlertAccessDenied)
	a[6] = 0
	if Alert(AlertAccessDenied)[6] != 49 {
		t.Fatal("Alert shares its result")
	}
}

// TestAlertSeenByClient checks the whole refusal path with a real client: Read its hello, answer with
// an alert, and the client reports exactly that alert.
func TestAlertSeenByClient(t *testing.T) {
	tests := []struct {
		desc uint8
		want string
	}{
		{AlertUnrecognizedName, "unrecognized name"},
		{AlertAccessDenied, "access denied"},
		{AlertInternalError, "internal error"},
		{AlertHandshakeFailure, "handshake failure"},
		{AlertDecodeError, "error decoding message"},
	}
	for _, tt := range tests {
		client, server := net.Pipe()
		errc := make(chan error, 1)
		go func() {
			errc <- tls.Client(client, &tls.Config{ServerName: "denied.example"}).Handshake()
			client.Close()
		}()
		server.SetDeadline(time.Now().Add(10 * time.Second))
		info, _, err := Read(server, nil, DefaultMax)
		if err != nil || info.ServerName != "denied.example" {
			t.Fatalf("Read: %+v %v", info, err)
		}
		if _, err := server.Write(Alert(tt.desc)); err != nil {
			t.Fatal(err)
		}
		err = <-errc
		server.Close()
		if err == nil || !strings.Contains(err.Error(), "remote error: tls: "+tt.want) {
			t.Fatalf("alert %d: client error %v, want %q", tt.desc, err, tt.want)
		}
	}
}
