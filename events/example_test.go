package events_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/mdmproxy/mdmproxy/events"
)

func Example() {
	log, err := events.New(events.Config{
		Observer: "gw1.school.lan",
		Outputs:  []events.OutputConfig{{Format: "json", Output: "stdout"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	client := netip.MustParseAddr("10.20.30.40")
	apns := netip.MustParseAddr("17.57.146.20")
	at := time.Date(2026, 11, 23, 18, 0, 0, 123456789, time.UTC)

	log.Emit(&events.Event{
		Time: at, Action: events.ActionSplice, Reason: "rule",
		SourceIP: client, SourcePort: 51234,
		DestDomain: "courier.push.apple.com", DestIP: apns, DestPort: 5223,
		SNI: "courier.push.apple.com", Rule: "apple-push",
	})
	log.Emit(&events.Event{
		Time: at, Action: events.ActionDeny, Reason: "no_rule",
		SourceIP: client, SourcePort: 51240, DestDomain: "example.org", DestPort: 80,
		URL: "http://example.org/", Method: "GET",
	})
	log.Emit(&events.Event{
		Time: at.Add(3 * time.Hour), Action: events.ActionEnd, Reason: "client_closed", Duration: 3 * time.Hour,
		SourceIP: client, SourcePort: 51234,
		DestDomain: "courier.push.apple.com", DestIP: apns, DestPort: 5223,
		Rule: "apple-push", SourceBytes: 18734, DestBytes: 52211,
	})
	if err := log.Close(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// {"@timestamp":"2026-11-23T18:00:00.123456789Z","ecs":{"version":"8.11.0"},"log":{"level":"info"},"event":{"kind":"event","category":["network"],"type":["connection","allowed"],"action":"splice","outcome":"success","reason":"rule"},"source":{"ip":"10.20.30.40","port":51234},"destination":{"domain":"courier.push.apple.com","ip":"17.57.146.20","port":5223},"tls":{"client":{"server_name":"courier.push.apple.com"}},"rule":{"name":"apple-push"},"observer":{"name":"gw1.school.lan","product":"mdmproxy","vendor":"mdmproxy","type":"proxy"},"mdmproxy":{"state":"established"}}
	// {"@timestamp":"2026-11-23T18:00:00.123456789Z","ecs":{"version":"8.11.0"},"log":{"level":"warn"},"event":{"kind":"event","category":["network","web"],"type":["connection","denied"],"action":"deny","outcome":"failure","reason":"no_rule"},"source":{"ip":"10.20.30.40","port":51240},"destination":{"domain":"example.org","port":80},"url":{"original":"http://example.org/"},"http":{"request":{"method":"GET"}},"observer":{"name":"gw1.school.lan","product":"mdmproxy","vendor":"mdmproxy","type":"proxy"},"mdmproxy":{"state":"refused"}}
	// {"@timestamp":"2026-11-23T21:00:00.123456789Z","ecs":{"version":"8.11.0"},"log":{"level":"info"},"event":{"kind":"event","category":["network"],"type":["connection","end"],"action":"end","outcome":"success","reason":"client_closed","duration":10800000000000},"source":{"ip":"10.20.30.40","port":51234,"bytes":18734},"destination":{"domain":"courier.push.apple.com","ip":"17.57.146.20","port":5223,"bytes":52211},"rule":{"name":"apple-push"},"observer":{"name":"gw1.school.lan","product":"mdmproxy","vendor":"mdmproxy","type":"proxy"},"mdmproxy":{"state":"ended"}}
}
