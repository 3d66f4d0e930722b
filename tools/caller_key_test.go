package tools

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"testing"
)

// TestCallerBindingBytes: confirm tokens are bound to the caller's Key, hashed as the same
// bytes as before Key existed ("caller" NUL Binding), so a token issued by an older replica
// still opens on a newer one; an anonymous caller binds to the client name alone.
func TestCallerBindingBytes(t *testing.T) {
	t.Parallel()
	sum := func(parts ...string) string {
		m := sha256.New()
		for _, p := range parts {
			m.Write([]byte(p))
		}
		return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:12])
	}
	alice := WithCaller(context.Background(), Caller{Name: "alice", Binding: "callers:alice"})
	if k := CallerKey(alice); k != "caller:callers:alice" {
		t.Fatalf("key %q", k)
	}
	if got, want := callerBinding(alice, false), sum("caller\x00callers:alice"); got != want {
		t.Errorf("shared-state binding %q, want %q", got, want)
	}
	if got, want := callerBinding(alice, true), sum("caller\x00callers:alice", "\x00client\x00"); got != want {
		t.Errorf("binding with the client %q, want %q", got, want)
	}
	anon := WithCaller(context.Background(), Caller{})
	if k := CallerKey(anon); k != "" || CallerKey(context.Background()) != "" {
		t.Errorf("an anonymous caller has the key %q", k)
	}
	if got, want := callerBinding(anon, true), sum("\x00client\x00"); got != want {
		t.Errorf("anonymous binding %q, want %q", got, want)
	}
}
