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
	"sync"
	"time"
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
	Purpose string `json:"p"` // "token" or "elicit": one cannot stand in for the other
}

// sealer mints and checks HMAC-sealed confirmation tokens with a key that lives only in this
// process, and remembers used ones so each works once.
type sealer struct {
	key  []byte
	mu   sync.Mutex
	used map[string]int64 // nonce -> expiry
}

func newSealer() (*sealer, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("tools: no randomness for the confirmation key: %w", err)
	}
	return &sealer{key: key, used: map[string]int64{}}, nil
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

func (s *sealer) mac(payload string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// seal returns tcf1.<payload>.<mac>.
func (s *sealer) seal(c claims) string {
	b, _ := json.Marshal(c)
	payload := base64.RawURLEncoding.EncodeToString(b)
	return tokenPrefix + payload + "." + s.mac(payload)
}

// Token failures, each with what the agent should do.
var (
	errTokenMalformed = errors.New("confirm_token is not a token this server issued")
	errTokenForged    = errors.New("confirm_token was altered, or was issued by another server process (tokens do not survive a restart)")
	errTokenExpired   = errors.New("confirm_token has expired")
	errTokenUsed      = errors.New("confirm_token was already used: each works once")
	errTokenForeign   = errors.New("confirm_token was issued for a different item, tool, organization, session or caller")
)

// open checks the seal and expiry and returns the claims. Use is recorded by consume.
func (s *sealer) open(token string, now time.Time) (claims, error) {
	var c claims
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	if !ok || len(token) > 1024 {
		return c, errTokenMalformed
	}
	payload, mac, ok := strings.Cut(rest, ".")
	if !ok || payload == "" || mac == "" {
		return c, errTokenMalformed
	}
	if !hmac.Equal([]byte(mac), []byte(s.mac(payload))) {
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

type bearerKey struct{}

// WithBearerHash marks ctx with the SHA-256 of the bearer token the HTTP request presented
// (and that the server accepted). Confirmations are bound to it: on the stateless protocol a
// request carries no session, and the bearer is the one thing that says who is calling.
func WithBearerHash(ctx context.Context, sum [32]byte) context.Context {
	return context.WithValue(ctx, bearerKey{}, sum)
}

// callerBinding is what a confirmation is bound to besides the session: the accepted bearer's
// hash (HTTP with --auth-token) and the client's declared name, hashed together so that the
// token stays short whatever the name. A different bearer or client name cannot redeem it.
func callerBinding(ctx context.Context) string {
	m := sha256.New()
	if sum, ok := ctx.Value(bearerKey{}).([32]byte); ok {
		m.Write([]byte("bearer\x00"))
		m.Write(sum[:])
	}
	name, _ := clientInfo(ctx)
	m.Write([]byte("\x00client\x00" + name))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:12])
}

// consume marks a nonce used; false if it already was.
func (s *sealer) consume(c claims, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for n, exp := range s.used { // forget what has expired anyway: bounded memory
		if now.Unix() >= exp {
			delete(s.used, n)
		}
	}
	if _, dup := s.used[c.Nonce]; dup {
		return false
	}
	s.used[c.Nonce] = c.Exp
	return true
}
