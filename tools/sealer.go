package tools

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/state"
)

// claims is what a confirm_token (and an elicitation's request state) is sealed to.
type claims struct {
	Org     string `json:"o"`
	Tool    string `json:"t"`
	ID      string `json:"i"`
	FP      string `json:"f"` // hash of the resource's fingerprint when the person was asked
	Session string `json:"s"`
	Caller  string `json:"c"` // callerBinding: who may redeem it where there is no session
	Exp     int64  `json:"e"` // unix seconds
	Nonce   string `json:"n"`
	Purpose string `json:"p"` // "token", "elicit", "plan", "bulkelicit" or "app": none can stand in for another
	// Items: for a plan, each planned item's fingerprint hash (itemFP), in the order of its
	// sorted IDs; ID is then the hash of that set of IDs.
	Items string `json:"x,omitempty"`
	// Type and Batch, for a plan (and an MCP App approval: Type): the item type it was made for (executing it as another type
	// is refused before the plan is used up), and its batch_id, which the execution's audit
	// records carry too so that plan and execution can be joined.
	Type  string `json:"y,omitempty"`
	Batch string `json:"b,omitempty"`
	// Iat is when it was issued (unix seconds), for the approval record's request time.
	Iat int64 `json:"a,omitempty"`
}

// sealer mints and checks HMAC-sealed confirmation tokens, and records used ones in the shared
// store so each works once. With no configured keys the key lives only in this process; with
// --confirm-key-file every replica seals with the same first key and accepts all of them (so a
// key can be rotated without refusing tokens minted a moment before).
type sealer struct {
	keys  [][]byte
	store state.Store
	// local marks plans of reversible work (bulk archive and restore) used in this process
	// when the shared store does not answer: they go on, single use per replica.
	local *state.Memory
}

func newSealer(keys [][]byte, store state.Store) (*sealer, error) {
	if len(keys) == 0 {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("tools: no randomness for the confirmation key: %w", err)
		}
		keys = [][]byte{key}
	}
	return &sealer{keys: keys, store: store, local: state.NewMemory()}, nil
}

func fingerprintHash(fp string) string {
	sum := sha256.Sum256([]byte(fp))
	return hex.EncodeToString(sum[:12])
}

func newNonce() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

const tokenPrefix = "tcf1."

func mac(key []byte, payload string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// seal returns tcf1.<payload>.<mac>.
func (s *sealer) seal(c claims) string {
	b, _ := json.Marshal(c)
	payload := base64.RawURLEncoding.EncodeToString(b)
	return tokenPrefix + payload + "." + mac(s.keys[0], payload)
}

// Token failures, each with what the agent should do.
var (
	errTokenMalformed = errors.New("confirm_token is not a token this server issued")
	errTokenForged    = errors.New("confirm_token was altered, or was issued by another server process that does not share this one's key (--confirm-key-file; without it tokens do not survive a restart)")
	errTokenExpired   = errors.New("confirm_token has expired")
	errTokenUsed      = errors.New("confirm_token was already used: each works once")
	errTokenForeign   = errors.New("confirm_token was issued for a different item, tool, organization, session or caller")
)

// open checks the seal and expiry and returns the claims. Use is recorded by consume.
func (s *sealer) open(token string, now time.Time) (claims, error) {
	var c claims
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	if !ok || len(token) > 4096 { // a plan of 100 items is about 1.5 KB
		return c, errTokenMalformed
	}
	payload, sig, ok := strings.Cut(rest, ".")
	if !ok || payload == "" || sig == "" {
		return c, errTokenMalformed
	}
	sealedHere := false
	for _, k := range s.keys {
		sealedHere = hmac.Equal([]byte(sig), []byte(mac(k, payload))) || sealedHere
	}
	if !sealedHere {
		return c, errTokenForged
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || json.Unmarshal(b, &c) != nil {
		return claims{}, errTokenMalformed
	}
	if now.Unix() >= c.Exp {
		return c, errTokenExpired
	}
	return c, nil
}

// matches checks that sealed claims are for this org, tool, item, session, caller and purpose.
func (c claims) matches(org, tool, id, session, caller, purpose string) bool {
	return c.Org == org && c.Tool == tool && c.ID == id && c.Session == session && c.Caller == caller && c.Purpose == purpose
}

// callerBinding is what a confirmation is bound to besides the session: the caller's Key
// (a --callers entry, an OAuth subject, or the hash of the one --auth-token) and the client's
// declared name, hashed together so that the token stays short whatever the name. Another
// caller or client name cannot redeem it.
//
// With replicas sharing state (withClient false) the client name is left out: an older
// client's name is known only on the replica that saw its initialize, and its caller may
// confirm through any.
func callerBinding(ctx context.Context, withClient bool) string {
	m := sha256.New()
	if key := CallerKey(ctx); key != "" {
		// The key with its first ':' written as NUL: the bytes tokens have always been bound
		// to, so a token issued before an upgrade still opens after it.
		m.Write([]byte(strings.Replace(key, ":", "\x00", 1)))
	}
	if withClient {
		name, _ := clientInfo(ctx)
		m.Write([]byte("\x00client\x00" + name))
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:12])
}

// consume marks a nonce used for at least a whole token lifetime (life) from now: the mark
// must outlive every moment the token could still be accepted, including when the person
// answered after its expiry (that use is refused by the expiry check, which runs again after
// the answer, but two racing uses must still find the mark). false if it already was, on any
// replica sharing the store. An error means the store did not answer: the caller must refuse
// (fail closed).
func (s *sealer) consume(ctx context.Context, c claims, now time.Time, life time.Duration) (bool, error) {
	return s.store.UseOnce(ctx, "confirm:"+c.Nonce, usedMarkTTL(c, now, life))
}

// consumeReversible is consume for a plan of reversible work: when the shared store does not
// answer, the plan is marked used in this process instead (local true), so archive and
// restore go on while Redis is down, single use per replica; a second replica could run the
// same plan once more, which re-reads every item and skips those it already changed.
func (s *sealer) consumeReversible(ctx context.Context, c claims, now time.Time, life time.Duration) (fresh, local bool, err error) {
	fresh, err = s.consume(ctx, c, now, life)
	if err == nil || !state.IsUnavailable(err) {
		return fresh, false, err
	}
	fresh, err = s.local.UseOnce(ctx, "confirm:"+c.Nonce, usedMarkTTL(c, now, life))
	return fresh, true, err
}

// usedMarkTTL is how long a used nonce is remembered: until the token expires, plus a full
// lifetime, so it is never zero or negative, however late the use.
func usedMarkTTL(c claims, now time.Time, life time.Duration) time.Duration {
	return max(time.Unix(c.Exp, 0).Sub(now), 0) + max(life, time.Minute)
}

// stillValid re-checks the expiry of opened claims at the moment of use (after a person
// answered, which may take minutes).
func stillValid(c claims, now time.Time) error {
	if now.Unix() >= c.Exp {
		return errTokenExpired
	}
	return nil
}

// tokenLife is the whole lifetime a token of this purpose is issued with.
func (ts *Toolset) tokenLife(purpose string) time.Duration {
	if purpose == "elicit" || purpose == "bulkelicit" {
		return ts.opts.ElicitTimeout + time.Minute
	}
	if purpose == string(ChannelApp) {
		return ts.opts.ApprovalTTL
	}
	return ts.opts.TokenTTL
}
