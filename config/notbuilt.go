package config

// notBuiltYet rejects every key whose feature is not built yet. The whole schema is known from
// the first release, so such keys are not "unknown"; they are refused here, by name, until the
// feature lands. When one does, delete its lines (and its test case) from this function.
func notBuiltYet(c *Config) Errors {
	var errs Errors
	no := func(key, msg string) {
		errs = append(errs, Error{Key: key, Msg: msg})
	}

	if len(c.ProxyProtocol.Trusted) > 0 {
		no("proxy_protocol.trusted", "the PROXY protocol is not supported yet")
	}
	return errs
}
