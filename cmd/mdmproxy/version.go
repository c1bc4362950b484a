package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Set by the Makefile with -ldflags "-X main.version=... -X main.commit=...".
var (
	version_ = "dev"
	commit   = ""
)

func buildVersion() string { return version_ }

func buildCommit() string {
	if commit != "" {
		return commit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}

func version(w io.Writer) int {
	fmt.Fprintf(w, "mdmproxy %s\ncommit %s\n%s %s/%s\n", buildVersion(), buildCommit(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return exitOK
}
