//go:build !linux

package main

// applyTimerSlack does nothing where the kernel has no per-thread timer slack.
func applyTimerSlack() {}
