// Package version tells which build of Enclave is running. The release build
// sets Version with -ldflags "-X github.com/enclave-mlops/enclave/internal/version.Version=...".
package version

import "runtime/debug"

// Version is the semantic version of this build.
var Version = "0.1.0"

// Commit returns the VCS revision the binary was built from, or "unknown".
func Commit() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			return s.Value
		}
	}
	return "unknown"
}
