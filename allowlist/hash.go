package allowlist

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// Hash identifies a policy by its content: the first 16 hex digits of the SHA-256 of the spec's
// JSON form, which covers every exported field (rules in order, default action, report mode,
// clients, deny_cidrs). Two replicas with the same hash decide alike; a reload that changes
// nothing keeps it. Operators compare it across replicas (/metrics, the status page).
func (s Spec) Hash() string {
	b, err := json.Marshal(s)
	if err != nil {
		return "" // every field of Spec marshals; kept for the signature's sake
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
