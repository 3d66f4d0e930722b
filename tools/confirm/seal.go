package confirm

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/tallyfy-mcp/tallyfy-mcp/state"
	"github.com/tallyfy-mcp/tallyfy-mcp/tallyfy"
)

// Purpose is what sealed claims are for: none can stand in for another.
type Purpose string

// The purposes of sealed claims.
const (
	ForToken      Purpose = "token"      // a single delete's confirm_token
	ForElicit     Purpose = "elicit"     // a single delete's elicitation state
	ForPlan       Purpose = "plan"       // a bulk plan_token
	ForBulkElicit Purpose = "bulkelicit" // a bulk delete's elicitation state
	ForApp        Purpose = "app"        // the MCP App view's approval
)

// Claims is what a confirm_token (and an elicitation's request state) is sealed to.
type Claims struct {
	Org     string  `json:"o"`
	Tool    string  `json:"t"`
	ID      string  `json:"i"`
	FP      string  `json:"f"` // hash of the resource's fingerprint when the person was asked
	Session string  `json:"s"`
	Caller  string  `json:"c"` // the caller binding: who may redeem it where there is no session
	Exp     int64   `json:"e"` // unix seconds
	Nonce   string  `json:"n"`
	Purpose Purpose `json:"p"`
	// Items: for a plan, each planned item's fingerprint hash (ItemFP), in the order of its
	// sorted IDs; ID is then the hash of that set of IDs (SetHash).
	Items string `json:"x,omitempty"`
	// Type and Batch, for a plan (and an MCP App approval: Type): the item type it was made for (executing it as another type
	// is refused before the plan is used up), and its batch_id, which the execution's audit
	// records carry too so that plan and execution can be joined.
	Type  string `json:"y,omitempty"`
	Batch string `json:"b,omitempty"`
	// Iat is when it was issued (unix seconds), for the approval record's request time.
	Iat int64 `json:"a,omitempty"`
}

// Matches checks that sealed claims are for this org, tool, item, session, caller and purpose.
func (c Claims) Matches(org, tool, id, session, caller string, p Purpose) bool {
	return c.Org == org && c.Tool == tool && c.ID == id && c.Session == session && c.Caller == caller && c.Purpose == p
}

// StillValid re-checks the expiry of opened claims at the moment of use (after a person
// answered, which may take minutes).
func (c Claims) StillValid(now time.Time) error {
	if now.Unix() >= c.Exp {
		return ErrTokenExpired
	}
	return nil
}

// PlanFPs maps each planned ID to its fingerprint in a sealed plan (Items).
func (c Claims) PlanFPs(ids []string) map[string]string {
	sorted := slices.Sorted(slices.Values(ids))
	fps := map[string]string{}
	for i, id := range sorted {
		if len(c.Items) >= (i+1)*8 {
			fps[id] = c.Items[i*8 : (i+1)*8]
		}
	}
	return fps
}

// Fingerprint is the hash of an item's fingerprint that claims and approvals carry.
func Fingerprint(e tallyfy.Entity) string {
	sum := sha256.Sum256([]byte(e.Fingerprint()))
	return hex.EncodeToString(sum[:12])
}

// ItemFP is the short fingerprint of one item in a plan_token: enough to see it changed.
func ItemFP(e tallyfy.Entity) string { return Fingerprint(e)[:8] }

// SetHash names a set of IDs regardless of order.
func SetHash(ids []string) string {
	s := slices.Clone(ids)
	slices.Sort(s)
	sum := sha256.Sum256([]byte(strings.Join(s, ",")))
	return hex.EncodeToString(sum[:12])
}

// RandomHex is n random bytes in hex: nonces, ids, one-time secrets.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// NewNonce is a fresh nonce: 12 random bytes in hex.
func NewNonce() string { return RandomHex(12) }

// Sealer mints and checks HMAC-sealed confirmation tokens, and records used ones in the shared
// store so each works once. With no configured keys the key lives only in this process; with
// --confirm-key-file every replica seals with the same first key and accepts all of them (so a
// key can be rotated without refusing tokens minted a moment before).
type Sealer struct {
	keys  [][]byte
	store state.Store
	// local marks plans of reversible work (bulk archive and restore) used in this process
	// when the shared store does not answer: they go on, single use per replica.
	local *state.Memory
}

// NewSealer seals with keys[0] (a random key when there are none: crypto/rand.Read never
// fails) and records uses in store.
func NewSealer(keys [][]byte, store state.Store) *Sealer {
	if len(keys) == 0 {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		keys = [][]byte{key}
	}
	return &Sealer{keys: keys, store: store, local: state.NewMemory()}
}

const tokenPrefix = "tcf1."

func mac(key []byte, payload string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Seal returns tcf1.<payload>.<mac>.
func (s *Sealer) Seal(c Claims) string {
	b, _ := json.Marshal(c)
	payload := base64.RawURLEncoding.EncodeToString(b)
	return tokenPrefix + payload + "." + mac(s.keys[0], payload)
}

// Token failures, each with what the agent should do.
var (
	ErrTokenMalformed = errors.New("confirm_token is not a token this server issued")
	ErrTokenForged    = errors.New("confirm_token was altered, or was issued by another server process that does not share this one's key (--confirm-key-file; without it tokens do not survive a restart)")
	ErrTokenExpired   = errors.New("confirm_token has expired")
	ErrTokenUsed      = errors.New("confirm_token was already used: each works once")
	ErrTokenForeign   = errors.New("confirm_token was issued for a different item, tool, organization, session or caller")
)

// Open checks the seal and expiry and returns the claims. Use is recorded by Consume.
func (s *Sealer) Open(token string, now time.Time) (Claims, error) {
	var c Claims
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	if !ok || len(token) > 4096 { // a plan of 100 items is about 1.5 KB
		return c, ErrTokenMalformed
	}
	payload, sig, ok := strings.Cut(rest, ".")
	if !ok || payload == "" || sig == "" {
		return c, ErrTokenMalformed
	}
	sealedHere := false
	for _, k := range s.keys {
		sealedHere = hmac.Equal([]byte(sig), []byte(mac(k, payload))) || sealedHere
	}
	if !sealedHere {
		return c, ErrTokenForged
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || json.Unmarshal(b, &c) != nil {
		return Claims{}, ErrTokenMalformed
	}
	if now.Unix() >= c.Exp {
		return c, ErrTokenExpired
	}
	return c, nil
}

// Consume marks a nonce used for at least a whole token lifetime (life) from now: the mark
// must outlive every moment the token could still be accepted, including when the person
// answered after its expiry (that use is refused by the expiry check, which runs again after
// the answer, but two racing uses must still find the mark). false if it already was, on any
// replica sharing the store. An error means the store did not answer: the caller must refuse
// (fail closed).
func (s *Sealer) Consume(ctx context.Context, c Claims, now time.Time, life time.Duration) (bool, error) {
	return s.store.UseOnce(ctx, "confirm:"+c.Nonce, usedMarkTTL(c, now, life))
}

// ConsumeReversible is Consume for a plan of reversible work: when the shared store does not
// answer, the plan is marked used in this process instead (local true), so archive and
// restore go on while Redis is down, single use per replica; a second replica could run the
// same plan once more, which re-reads every item and skips those it already changed.
func (s *Sealer) ConsumeReversible(ctx context.Context, c Claims, now time.Time, life time.Duration) (fresh, local bool, err error) {
	fresh, err = s.Consume(ctx, c, now, life)
	if err == nil || !state.IsUnavailable(err) {
		return fresh, false, err
	}
	fresh, err = s.local.UseOnce(ctx, "confirm:"+c.Nonce, usedMarkTTL(c, now, life))
	return fresh, true, err
}

// usedMarkTTL is how long a used nonce is remembered: until the token expires, plus a full
// lifetime, so it is never zero or negative, however late the use.
func usedMarkTTL(c Claims, now time.Time, life time.Duration) time.Duration {
	return max(time.Unix(c.Exp, 0).Sub(now), 0) + max(life, time.Minute)
}
