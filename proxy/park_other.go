//go:build !linux

package proxy

// parker is Linux only; elsewhere idle pumps keep their goroutines.
type parker struct{}
