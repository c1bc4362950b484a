// Package events writes mdmproxy's event stream, the record a school's SIEM
// receives: one decision event per connection (splice, upstream, allow or
// deny) and one end event when a tunnel or request ends.
//
// Use it like this:
//
//	evlog, err := events.New(events.Config{
//		Level: "info",
//		Outputs: []events.OutputConfig{
//			{Format: "json", Output: "file:/var/log/mdmproxy/events.json"},
//			{Format: "json", Output: "stdout", Level: "warn"}, // denials only
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
//
// The package keeps encoding and shipping apart. An Encoder turns an Event
// into one record (JSON with nested Elastic Common Schema names; CEF, LEEF
// and Squid formats come later, as more cases of NewEncoder). A sink ships
// records (stdout, stderr, file:PATH; syslog transports come later, as more
// cases of parseOutput and openSink). Field names live in fields.go only.
//
// Logging must never slow the data path. Emit encodes on the caller's
// goroutine (allocation-free once warm) and hands the record to each output
// through a bounded queue; one goroutine per output writes it. When a queue
// is full, or a write fails, the event is dropped and counted (Dropped,
// Stats) rather than waited for.
//
// The JSON encoder uses zerolog but sets none of its globals, so the
// program's operational logger (another zerolog logger, on stderr, with its
// own level and time fields) is configured independently. See JSONEncoder
// for the one global it does obey.
package events
