package bench

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// RunOrigin is the body of the origin process that benchrun and benchprof start
// (`CMD origin CERT KEY [HOST]`, HOST 127.0.0.1 by default): it prints its two addresses and
// serves until SIGTERM or SIGINT.
func RunOrigin(args []string) int {
	if len(args) != 2 && len(args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: CMD origin CERT KEY [HOST]")
		return 2
	}
	host := "127.0.0.1"
	if len(args) == 3 {
		host = args[2]
	}
	cert, err := LoadServerCert(args[0], args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	o, err := NewOriginOn(cert, host)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("plain %s\ntls %s\n", o.Plain.Addr(), o.TLS.Addr())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sigs; o.Close() }()
	o.Serve()
	return 0
}
