package proxy

import (
	"time"

	"github.com/mdmproxy/mdmproxy/allowlist"
	"github.com/mdmproxy/mdmproxy/events"
)

// endEvent is the end event of a flow (a tunnel or a plain request) whose decision event was
// decision: the same facts (who, where, rule, report-mode fields), with why and when it ended,
// how long it lived and the bytes each way. Every end event is built here.
func endEvent(decision *events.Event, reason allowlist.Reason, started time.Time, up, down int64) *events.Event {
	end := *decision
	end.Time = time.Now()
	end.Action = events.ActionEnd
	end.Reason = reason.String()
	end.Outcome = events.OutcomeSuccess
	switch reason {
	case allowlist.ReasonReset, allowlist.ReasonRelayFailed, allowlist.ReasonInternalError:
		end.Outcome = events.OutcomeFailure
	}
	end.Duration = time.Since(started)
	end.SourceBytes, end.DestBytes = up, down
	return &end
}
