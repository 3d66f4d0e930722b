// Package sessionid mints and checks the streamable-HTTP session ids that every replica sharing
// a state store (--state) accepts: signed with the shared keys, bound to the caller, with an
// expiry, and ended on every replica once ended on one (docs/http.md).
package sessionid

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/tallyfy-mcp/tallyfy-mcp/state"
)

// sharedSessionLifetime is how long a signed session id (several replicas) stays valid; the
// client then initializes again.
const sharedSessionLifetime = 24 * time.Hour

// Resolver gives each request a session id manager bound to its caller.
type Resolver struct {
	keys  [][]byte
	store state.Store // tells every replica which ids were ended (DELETE /mcp ends it on all)
	log   *slog.Logger
	who   func(*http.Request) string // names the caller of a request
	ended sync.Map                   // ids terminated through this replica (DELETE /mcp); the store has all
	// storeDown is when the store last failed to answer (unix nanoseconds): for a few seconds
	// after, requests do not wait for it again, so a Redis outage does not slow every request.
	storeDown atomic.Int64
}

// NewResolver signs ids with keys (any of them checks one), tells every replica through store
// which ids were ended, and binds each id to the caller who names (a request's caller).
func NewResolver(keys [][]byte, store state.Store, log *slog.Logger, who func(*http.Request) string) *Resolver {
	return &Resolver{keys: keys, store: store, log: log, who: who}
}

// ResolveSessionIdManager is mcp-go's SessionIdManagerResolver; r is nil for the idle sweeper.
func (res *Resolver) ResolveSessionIdManager(r *http.Request) mcpserver.SessionIdManager {
	m := &signedSessions{Resolver: res, check: r != nil}
	if r != nil {
		m.who = res.who(r)
	}
	return m
}

// signedSessions mints and checks ids "mcp-session-<expiry>.<nonce>.<mac>", the MAC over the
// caller and the rest with the first shared key (any key checks).
type signedSessions struct {
	*Resolver
	who   string
	check bool // false for the idle sweeper, which has no request: it only ends sessions
}

// storeSkipped reports whether the store failed within the last few seconds.
func (m *signedSessions) storeSkipped() bool {
	return time.Since(time.Unix(0, m.storeDown.Load())) < 5*time.Second
}

func (m *signedSessions) storeFailed(msg string, err error) {
	m.storeDown.Store(time.Now().UnixNano())
	if m.log != nil {
		m.log.Warn(msg, "err", err)
	}
}

// endedKey names a terminated session id in the shared store.
func endedKey(id string) string { return "session-ended:" + id }

const sessionPrefix = "mcp-session-"

func (m *signedSessions) mac(key []byte, payload string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte("session\x00" + m.who + "\x00" + payload)) // never interchangeable with a confirm token
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:18])
}

func (m *signedSessions) Generate() string {
	nonce := make([]byte, 12)
	_, _ = rand.Read(nonce)
	payload := strconv.FormatInt(time.Now().Add(sharedSessionLifetime).Unix(), 10) + "." + hex.EncodeToString(nonce)
	return sessionPrefix + payload + "." + m.mac(m.keys[0], payload)
}

var errSessionID = errors.New("session id not issued to this caller, or expired")

func (m *signedSessions) Validate(id string) (bool, error) {
	rest, ok := strings.CutPrefix(id, sessionPrefix)
	i := strings.LastIndexByte(rest, '.')
	if !ok || i < 0 || len(id) > 200 {
		return false, errSessionID
	}
	payload, sig := rest[:i], rest[i+1:]
	good := false
	for _, k := range m.keys {
		good = hmac.Equal([]byte(sig), []byte(m.mac(k, payload))) || good
	}
	if m.check && (!good || time.Now().Unix() >= sessionExpiry(id)) {
		return false, errSessionID
	}
	if _, ended := m.ended.Load(id); ended || m.store == nil || m.storeSkipped() {
		return ended, nil
	}
	ended, err := m.store.Used(context.Background(), endedKey(id))
	if err != nil {
		// Fails open: a store that does not answer must not end every session (reads go on
		// while Redis is down); a session ended through another replica meanwhile stays usable
		// here until the store answers, and only by its own caller (the id is bound to them).
		m.storeFailed("shared state store unreachable: cannot check whether a session was ended on another replica", err)
		return false, nil
	}
	return ended, nil
}

func (m *signedSessions) Terminate(id string) (bool, error) {
	if _, err := m.Validate(id); err != nil {
		return false, err
	}
	now := time.Now().Unix()
	m.ended.Range(func(k, exp any) bool { // forget ids that have expired anyway: bounded memory
		if exp.(int64) <= now {
			m.ended.Delete(k)
		}
		return true
	})
	m.ended.Store(id, sessionExpiry(id))
	if ttl := time.Until(time.Unix(sessionExpiry(id), 0)); ttl > 0 && m.store != nil {
		// Every replica learns it; kept until the id would have expired anyway.
		if _, err := m.store.UseOnce(context.Background(), endedKey(id), ttl+time.Second); err != nil {
			m.storeFailed("shared state store unreachable: a session ended on this replica only", err)
		}
	}
	return false, nil
}

// sessionExpiry is the expiry (unix seconds) an id carries; 0 when it has none.
func sessionExpiry(id string) int64 {
	rest, _ := strings.CutPrefix(id, sessionPrefix)
	exp, _ := strconv.ParseInt(strings.SplitN(rest, ".", 2)[0], 10, 64)
	return exp
}
