package mcphttp

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

// sessionOptions chooses how streamable HTTP keeps sessions (older protocols; 2026-07-28
// requests have none):
//   - --stateless: none at all, so any replica answers any request; the legacy GET stream is
//     off (every stream would share one session), and older clients confirm deletes with a
//     confirm_token; 2026-07-28 clients get the question in the tool result, whose sealed state
//     any replica can check.
//   - --state shared, not stateless: ids signed with the shared key, bound to the caller, with
//     an expiry, so any replica accepts them; a question to an older client could be answered
//     through another replica, so those confirm with a token (see canAsk).
//   - otherwise: kept in this process; an id it never issued gets 404.
func (s *Server) sessionOptions() []mcpserver.StreamableHTTPOption {
	switch {
	case s.opts.Limits.Stateless:
		return []mcpserver.StreamableHTTPOption{mcpserver.WithStateLess(true), mcpserver.WithDisableStreaming(true)}
	case s.sharedSessions():
		return []mcpserver.StreamableHTTPOption{mcpserver.WithSessionIdManagerResolver(&signedSessionResolver{s: s, ended: &sync.Map{}, storeDown: &atomic.Int64{}})}
	}
	return []mcpserver.StreamableHTTPOption{mcpserver.WithStateful(true)}
}

// sharedSessions reports whether session ids are signed for every replica.
func (s *Server) sharedSessions() bool {
	st := s.opts.State
	return !s.opts.Limits.Stateless && st != nil && st.Shared() && len(s.opts.SessionKeys) > 0
}

// canAsk reports whether a question (elicitation) can travel to an older client on streamable
// HTTP: only when its answer is sure to come back to this replica.
func (s *Server) canAsk() bool { return !s.opts.Limits.Stateless && !s.sharedSessions() }

// signedSessionResolver gives each request a session id manager bound to its caller.
type signedSessionResolver struct {
	s     *Server
	ended *sync.Map // ids terminated through this replica (DELETE /mcp); the store has all
	// storeDown is when the store last failed to answer (unix nanoseconds): for a few seconds
	// after, requests do not wait for it again, so a Redis outage does not slow every request.
	storeDown *atomic.Int64
}

func (res *signedSessionResolver) ResolveSessionIdManager(r *http.Request) mcpserver.SessionIdManager {
	who := ""
	if r != nil {
		who = identityOf(r).Key
	}
	o := res.s.opts
	return &signedSessions{keys: o.SessionKeys, who: who, ended: res.ended, check: r != nil, store: o.State, log: o.Logger, storeDown: res.storeDown}
}

// signedSessions mints and checks ids "mcp-session-<expiry>.<nonce>.<mac>", the MAC over the
// caller and the rest with the first shared key (any key checks).
type signedSessions struct {
	keys  [][]byte
	who   string
	ended *sync.Map
	check bool // false for the idle sweeper, which has no request: it only ends sessions
	// store tells every replica which ids were terminated: a session ended through one
	// replica (DELETE /mcp) is ended on all of them.
	store     state.Store
	log       *slog.Logger
	storeDown *atomic.Int64
}

// storeSkipped reports whether the store failed within the last few seconds.
func (m *signedSessions) storeSkipped() bool {
	return m.storeDown != nil && time.Since(time.Unix(0, m.storeDown.Load())) < 5*time.Second
}

func (m *signedSessions) storeFailed(msg string, err error) {
	if m.storeDown != nil {
		m.storeDown.Store(time.Now().UnixNano())
	}
	m.logf(msg, err)
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

func (m *signedSessions) logf(msg string, err error) {
	if m.log != nil {
		m.log.Warn(msg, "err", err)
	}
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
