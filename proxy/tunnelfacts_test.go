package proxy

import (
	"net/netip"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/mdmproxy/mdmproxy/events"
)

// endSets are the decision event's fields endEvent sets on every end event, which a tunnel
// need not keep.
var endSets = map[string]bool{"Time": true, "Action": true, "Outcome": true, "Reason": true,
	"Duration": true, "SourceBytes": true, "DestBytes": true}

// fullEvent is an event with every field set to a value of its own, so that a field a tunnel
// does not keep shows as a difference. A field of a type it does not know fails the test: a
// new events.Event field must be kept by tunnelFacts (or set by endEvent) too.
func fullEvent(t *testing.T) events.Event {
	t.Helper()
	var e events.Event
	v := reflect.ValueOf(&e).Elem()
	for i := range v.NumField() {
		f, n := v.Field(i), i+1
		switch f.Interface().(type) {
		case time.Time:
			f.Set(reflect.ValueOf(time.Unix(int64(1_700_000_000+n), 0)))
		case netip.Addr:
			f.Set(reflect.ValueOf(netip.AddrFrom4([4]byte{10, 0, 0, byte(n)})))
		case netip.AddrPort:
			f.Set(reflect.ValueOf(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 1, byte(n)}), uint16(n))))
		default:
			switch f.Kind() {
			case reflect.String:
				f.SetString(v.Type().Field(i).Name)
			case reflect.Bool:
				f.SetBool(true)
			case reflect.Int, reflect.Int64:
				f.SetInt(int64(n))
			case reflect.Uint16, reflect.Uint64:
				f.SetUint(uint64(n))
			default:
				t.Fatalf("events.Event.%s (%s): keep it in tunnelFacts and teach this test its type", v.Type().Field(i).Name, f.Type())
			}
		}
	}
	return e
}

// TestTunnelFactsKeepDecision: the end event of a tunnel repeats every fact of its decision
// event, although the tunnel keeps them in a compact form.
func TestTunnelFactsKeepDecision(t *testing.T) {
	full := fullEvent(t)
	common := events.Event{Time: time.Now(), Action: events.ActionSplice, Reason: "rule",
		SourceIP: netip.MustParseAddr("10.1.2.3"), SourcePort: 50000, DestDomain: "courier.push.apple.com",
		DestIP: netip.MustParseAddr("17.57.146.20"), DestPort: 5223, SNI: "courier.push.apple.com",
		Rule: "apple-push", ECH: true}
	for _, tc := range []struct {
		name     string
		decision events.Event
		rare     bool
	}{
		{"every field", full, true},
		{"a tunnel's usual fields", common, false},
		{"behind a balancer", func() events.Event {
			e := common
			e.Balancer = netip.MustParseAddrPort("10.9.9.9:40000")
			return e
		}(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := factsOf(&tc.decision)
			if (f.rare != nil) != tc.rare {
				t.Errorf("rare facts kept: %v, want %v", f.rare != nil, tc.rare)
			}
			got, want := f.event(), tc.decision
			gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
			for i := range wv.NumField() {
				name := wv.Type().Field(i).Name
				if endSets[name] {
					continue
				}
				if g, w := gv.Field(i).Interface(), wv.Field(i).Interface(); !reflect.DeepEqual(g, w) {
					t.Errorf("%s = %v, want %v", name, g, w)
				}
			}
		})
	}
}

// TestTunnelSize guards the memory of a parked tunnel (the idle figures): the tunnel holds its
// decision's facts inline and allocates nothing else for them in the usual case. Before the
// compact facts it was a 288-byte tunnel plus a 416-byte events.Event.
func TestTunnelSize(t *testing.T) {
	if n := unsafe.Sizeof(tunnel{}); n > 384 {
		t.Errorf("tunnel is %d bytes, want at most 384: each parked tunnel holds one; keep rarely used fields behind a pointer", n)
	}
	if n := unsafe.Sizeof(tunnelFacts{}); n > 112 {
		t.Errorf("tunnelFacts is %d bytes, want at most 112: put fields few tunnels have in rareFacts", n)
	}
}
