package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Verdicts of a rule.
const (
	VerdictOK         = "ok"          // every probe reachable
	VerdictFailing    = "failing"     // at least one probe failed
	VerdictNotChecked = "not_checked" // nothing of the rule could be probed
)

// RuleVerdict sums up one rule's probes.
type RuleVerdict struct {
	Rule    string   `json:"rule"`
	Verdict string   `json:"verdict"`
	OK      int      `json:"ok"`
	Failed  int      `json:"failed"`
	Notes   []string `json:"notes,omitempty"`
}

// Report is a doctor run: every result and a verdict per rule, in the policy's rule order.
type Report struct {
	Results []Result      `json:"results"`
	Rules   []RuleVerdict `json:"rules"`
}

// NewReport groups a plan's results (one per target, in the same order) and notes by rule.
func NewReport(plan Plan, results []Result) *Report {
	rep := &Report{Results: results}
	idx := map[string]int{}
	verdict := func(rule string) *RuleVerdict {
		i, ok := idx[rule]
		if !ok {
			i = len(rep.Rules)
			idx[rule] = i
			rep.Rules = append(rep.Rules, RuleVerdict{Rule: rule, Verdict: VerdictNotChecked})
		}
		return &rep.Rules[i]
	}
	for _, r := range plan.Rules {
		verdict(r)
	}
	for _, n := range plan.Notes {
		v := verdict(n.Rule)
		v.Notes = append(v.Notes, n.Text)
	}
	for _, r := range results {
		v := verdict(r.Rule)
		if r.OK() {
			v.OK++
		} else {
			v.Failed++
		}
	}
	for i := range rep.Rules {
		v := &rep.Rules[i]
		switch {
		case v.Failed > 0:
			v.Verdict = VerdictFailing
		case v.OK > 0:
			v.Verdict = VerdictOK
		}
	}
	return rep
}

// OK reports whether every probe was reachable.
func (rep *Report) OK() bool {
	for _, r := range rep.Results {
		if !r.OK() {
			return false
		}
	}
	return true
}

// WriteJSON writes the report as one JSON document.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if rep.Results == nil {
		rep.Results = []Result{}
	}
	return enc.Encode(rep)
}

// WriteText writes one line per name and port, then a verdict per rule.
func (rep *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tNAME:PORT\tADDRESS\tRESULT\tMS\tDETAIL")
	for _, r := range rep.Results {
		addr := r.Address
		if addr == "" {
			addr = "-"
		}
		fmt.Fprintf(tw, "%s\t%s:%d\t%s\t%s\t%d\t%s\n", r.Rule, r.Name, r.Port, addr, r.Result, r.MS, r.Detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tVERDICT\tREACHABLE\tNOTES")
	for _, v := range rep.Rules {
		fmt.Fprintf(tw, "%s\t%s\t%d of %d\t%s\n", v.Rule, strings.ToUpper(v.Verdict), v.OK, v.OK+v.Failed, strings.Join(v.Notes, "; "))
	}
	return tw.Flush()
}
