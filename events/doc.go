// Package events writes mdmproxy's event stream, the record a school's SIEM
// receives: one decision event per connection (splice, upstream, allow or
// deny) and one end event when a tunnel or request ends.
//
// Use it like this:
//
//	evlog, err := events.New(events.Config{
//		Level:     "info",
//		Aggregate: 10 * time.Second, // identical denials: one event with a count
//		Outputs: []events.OutputConfig{
//			{Format: "json", Output: "file:/var/log/mdmproxy/events.json", Rotate: &events.Rotate{MaxSizeMB: 100}},
//			{Format: "cef", Output: "syslog+tls://siem.school.lan:6514", Level: "warn", // denials and failures
//				TLS: events.TLSConfig{CA: "/etc/mdmproxy/siem-ca.pem"}},
//		},
//	})
//	if err != nil {
//		return err // names the key: "log.outputs[0].output: open ...: permission denied"
//	}
//	defer evlog.Close() // drains the queues, for at most ~2 s
//
//	evlog.Emit(&events.Event{
//		Action: events.ActionSplice, Rule: "apple-push", Reason: "rule",
//		SourceIP: client, SourcePort: 51234,
//		DestDomain: "courier.push.apple.com", DestIP: ip, DestPort: 5223,
//		SNI: "courier.push.apple.com",
//	})
//
// Validate runs the same checks as New without opening anything; it is what
// `mdmproxy validate` uses. Errors are *ConfigError values naming the key.
// Reopen reopens the files (SIGHUP, for logrotate).
//
// The package keeps encoding and shipping apart. An Encoder turns an Event
// into one record: JSON with nested Elastic Common Schema names (json.go),
// CEF (cef.go), LEEF 2.0 (leef.go) or a Squid access.log line (squid.go); an
// encoder may skip an event on purpose (squid logs a tunnel once, at its
// end), which is not a drop. A sink ships records one by one: stdout, stderr
// and files (sink.go), and RFC 5424 syslog over UDP, TCP and TLS (syslog.go).
// Field names live in fields.go only; docs/siem.md documents them per format.
//
// Logging must never slow the data path. Emit encodes on the caller's
// goroutine and hands the record to each output through a bounded queue;
// one goroutine per output writes it, and a syslog output's connection is
// made and remade by a goroutine of its own. When a queue is full, a write
// fails or a collector is away, the event is dropped and counted (Dropped,
// Stats), and the output says how many it lost once it writes again.
// Aggregation of denials (aggregate.go) runs on its own goroutine too.
//
// The JSON encoder writes its records itself and sets none of zerolog's
// globals, so the program's operational logger (a zerolog logger, on
// stderr, with its own level and time fields) is configured independently.
// See JSONEncoder for the one zerolog global it does obey.
package events
