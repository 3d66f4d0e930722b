package sessionid

import (
	"strconv"
	"testing"
	"time"
)

// TestSignedSessionExpiry: an id signed with the right key for its caller is refused once its
// expiry has passed; a fresh one is accepted (server's TestSharedSessionsAcrossReplicas covers
// the rest across two replicas).
func TestSignedSessionExpiry(t *testing.T) {
	t.Parallel()
	keys := [][]byte{[]byte("0123456789abcdef0123456789abcdef")}
	m := &signedSessions{Resolver: NewResolver(keys, nil, nil, nil), who: "caller:callers:anna", check: true}
	payload := strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10) + ".00ff"
	if _, err := m.Validate(sessionPrefix + payload + "." + m.mac(m.keys[0], payload)); err == nil {
		t.Fatal("an expired session id was accepted")
	}
	if _, err := m.Validate(m.Generate()); err != nil {
		t.Fatalf("a fresh id: %v", err)
	}
}
