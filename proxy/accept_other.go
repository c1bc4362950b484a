//go:build !linux

package proxy

func isTemporaryAccept(err error) bool { return false }
