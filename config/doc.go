// Package config loads, checks and holds mdmproxy's configuration.
//
// Use it like this:
//
//	cfg, err := config.Load(config.LoadOptions{
//		Path:  "/etc/mdmproxy/config.yaml",              // "" for the embedded default
//		Flags: map[string]string{"listen": "127.0.0.1:3128"}, // only the flags given
//	})                                                   // Env nil: os.Environ()
//	var invalid config.Errors
//	if errors.As(err, &invalid) {
//		fmt.Fprintln(os.Stderr, invalid) // one "FILE:LINE: KEY: MSG" per line
//		os.Exit(2)
//	} else if err != nil {
//		os.Exit(1) // the file could not be read
//	}
//	policy, err := allowlist.Compile(cfg.PolicySpec())
//
// Default returns the embedded default (config/default.yaml: Apple and Google push allowed,
// everything else denied, JSON events on stdout), which is also a commented template.
//
// Layers, each overriding the one before: built-in defaults, the file (YAML, TOML or JSON by
// extension, read with viper), environment variables MDMPROXY_<KEY> ("." as "_", upper case;
// lists comma-separated; see EnvName), flags. Structured keys (rules, hosts, log.outputs) come
// from the file only; a variable for one is an error. Other MDMPROXY_ variables that name no key
// are ignored (Kubernetes sets MDMPROXY_PORT and the like for a Service called mdmproxy).
//
// Every problem is reported at once, each naming its dotted key ("timeouts.idle_timout",
// "rules[2].ports[0]") and, for YAML files, its line.
//
// A Config holds inputs only. Load builds a fresh viper and a fresh Config on every call, so a
// reload may call it from any goroutine; nothing in this package watches files or keeps state.
package config
