// Package presets holds mdmproxy's built-in MDM presets: the published network requirements of
// Apple, Google, Microsoft and the MDM vendors, turned into named sets of allow rules.
//
// # Using it
//
// A configuration names presets and, optionally, single entries to leave out:
//
//	presets: [apple, google-fcm, workspace-one-assist-us]
//	presets_disabled: [apple-push/apple-network]
//
// and the configuration loader turns them into rules for the one decision function:
//
//	rules, err := presets.Rules(cfg.Presets, cfg.PresetsDisabled) // errors name unknown presets and entries
//	spec.Rules = append(rules, adminRules...)                     // admin rules add to the presets
//	policy, err := allowlist.Compile(spec)
//
// Every rule is named "preset/entry" (for example "apple-push/courier"), so events and
// `mdmproxy check` show which vendor requirement let a flow through. A group (such as "apple" or
// "google") stands for its member presets. Legacy presets hold endpoints their vendor has retired;
// they are off unless named. All and Get list the catalogue; WriteList, WriteShow and
// WriteMarkdown print it for `mdmproxy presets` and for docs/presets.md.
//
// # The data
//
// The catalogue is data, not code: one YAML file per vendor in data/, embedded in the binary.
// A file has a vendor and a list of presets; a preset has a name, a description, legacy (true for
// retired endpoints) and either entries or group (the names of member presets). An entry has:
//
//   - name: unique within the preset; the rule is called "preset/name".
//   - domains: exact lower-case names, or "*." and a suffix (any name below it, never the suffix).
//   - cidrs: canonical IPv4 or IPv6 prefixes. They match only IP-literal destinations (and the
//     original destination in transparent mode): a name is never allowed by its address.
//   - ports: TCP ports and "lo-hi" ranges; required. UDP needs are mentioned in the note only.
//   - direction: device (managed device to the internet), server (MDM server to the internet) or
//     admin (an administrator's browser).
//   - persistent: true for push connections, which must never be cut for idleness.
//   - tls: required (default) or optional, for entries that are not TLS (plain HTTP on 80, SSH).
//   - purpose: one line; note: where sources disagree, what was chosen and why.
//   - sources: the URLs the entry was taken from; read: the day they were read (YYYY-MM-DD).
//   - probe (optional): name, a documented host the entry's wildcard matches, and source, the
//     URL that documents it; for checks such as `mdmproxy doctor`, which cannot dial a wildcard.
//
// Two entries of different presets that allow the same domain pattern or prefix on the same
// port must agree on persistent and tls (validate refuses the data otherwise), and Rules
// expands presets in the catalogue's order: the order of presets: never changes a decision.
//
// Where sources disagree the newest vendor statement wins, and the entry's note says so. After
// changing the data, regenerate docs/presets.md with `go test ./presets -update`.
package presets
