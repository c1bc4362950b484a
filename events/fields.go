package events

// This file is the one place where the names and fixed values of the event
// fields live, so that the JSON encoder, the tests and the formats still to
// come (CEF, LEEF, Squid) cannot drift apart.

// ECSVersion is the Elastic Common Schema version the field names follow.
const ECSVersion = "8.11.0"

// Dotted ECS names of the fields an event carries. JSON output nests them as
// objects ({"source":{"ip":...}}), never as dotted keys, because Elastic's
// ECS templates and most SIEM parsers expect the nested form.
const (
	FieldTimestamp           = "@timestamp"
	FieldECSVersion          = "ecs.version"
	FieldLogLevel            = "log.level"
	FieldEventKind           = "event.kind"
	FieldEventCategory       = "event.category"
	FieldEventType           = "event.type"
	FieldEventAction         = "event.action"
	FieldEventOutcome        = "event.outcome"
	FieldEventReason         = "event.reason"
	FieldEventDuration       = "event.duration"
	FieldSourceIP            = "source.ip"
	FieldSourcePort          = "source.port"
	FieldSourceBytes         = "source.bytes"
	FieldDestinationDomain   = "destination.domain"
	FieldDestinationIP       = "destination.ip"
	FieldDestinationPort     = "destination.port"
	FieldDestinationBytes    = "destination.bytes"
	FieldTLSClientServerName = "tls.client.server_name"
	FieldRuleName            = "rule.name"
	FieldURLOriginal         = "url.original"
	FieldHTTPRequestMethod   = "http.request.method"
	FieldObserverName        = "observer.name"
	FieldObserverProduct     = "observer.product"
	FieldObserverVendor      = "observer.vendor"
	FieldObserverType        = "observer.type"
	FieldObserverVersion     = "observer.version"
	FieldHTTPResponseStatus  = "http.response.status_code"

	// Fields ECS has no name for, under mdmproxy. (documented in docs/siem.md).
	FieldState          = "mdmproxy.state"
	FieldTargetRaw      = "mdmproxy.target.raw"
	FieldEnforceAction  = "mdmproxy.enforce.action"
	FieldEnforceReason  = "mdmproxy.enforce.reason"
	FieldBalancerIP     = "mdmproxy.balancer.ip"
	FieldBalancerPort   = "mdmproxy.balancer.port"
	FieldIntercepted    = "mdmproxy.intercepted"
	FieldECH            = "mdmproxy.ech"
	FieldUpstream       = "mdmproxy.upstream"
	FieldAggregateCount = "mdmproxy.aggregate.count"
	FieldAggregateFirst = "mdmproxy.aggregate.first"
	FieldAggregateLast  = "mdmproxy.aggregate.last"
	FieldDroppedReport  = "mdmproxy.dropped"
)

// Fixed values: what kind of document this is and who wrote it.
const (
	EventKind       = "event"
	ObserverProduct = "mdmproxy"
	ObserverVendor  = "mdmproxy"
	ObserverType    = "proxy"
)

// Path components of the dotted names above. The nested JSON encoder needs
// the pieces; TestFieldNames checks that the pieces put together give every
// Field constant, so the two lists cannot disagree unnoticed.
const (
	keyECS         = "ecs"
	keyVersion     = "version"
	keyLog         = "log"
	keyLevel       = "level"
	keyEvent       = "event"
	keyKind        = "kind"
	keyCategory    = "category"
	keyType        = "type"
	keyAction      = "action"
	keyOutcome     = "outcome"
	keyReason      = "reason"
	keyDuration    = "duration"
	keySource      = "source"
	keyDestination = "destination"
	keyIP          = "ip"
	keyPort        = "port"
	keyBytes       = "bytes"
	keyDomain      = "domain"
	keyTLS         = "tls"
	keyClient      = "client"
	keyServerName  = "server_name"
	keyRule        = "rule"
	keyName        = "name"
	keyURL         = "url"
	keyOriginal    = "original"
	keyHTTP        = "http"
	keyRequest     = "request"
	keyMethod      = "method"
	keyObserver    = "observer"
	keyProduct     = "product"
	keyVendor      = "vendor"
	keyResponse    = "response"
	keyStatusCode  = "status_code"
	keyMdmproxy    = "mdmproxy"
	keyState       = "state"
	keyTarget      = "target"
	keyRaw         = "raw"
	keyEnforce     = "enforce"
	keyBalancer    = "balancer"
	keyIntercepted = "intercepted"
	keyECH         = "ech"
	keyUpstream    = "upstream"
	keyAggregate   = "aggregate"
	keyCount       = "count"
	keyFirst       = "first"
	keyLast        = "last"
	keyDropped     = "dropped"
)

// event.category and event.type values. They are package-level slices so
// that encoding them allocates nothing; never modify them.
var (
	categoryNetwork    = []string{"network"}
	categoryNetworkWeb = []string{"network", "web"}
	typeAllowed        = []string{"connection", "allowed"}
	typeDenied         = []string{"connection", "denied"}
	typeEnd            = []string{"connection", "end"}
	typeInfo           = []string{"connection", "info"}
)
