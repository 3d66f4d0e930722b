package state

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/redis/go-redis/v9"
)

// Pacing shared by every replica (issue 18 point 8): Tallyfy allows about 600 requests a
// minute per user across all replicas (docs/tallyfy-api.md §4), so with --state redis://
// the token bucket of each Tallyfy token lives in Redis, beside the delete budget, and every
// replica takes its request slots from it (tallyfy.SharedPacer).

// reserveScript is a token bucket as a generic cell rate algorithm that reserves: every call
// takes the next slot and answers how many microseconds to wait before using it. The bucket is
// its theoretical arrival time (TAT) in microseconds of Redis's own clock (TIME), so replicas
// whose clocks differ still agree. A slot is due at max(now, TAT - (burst-1)·interval), and
// the TAT moves on by one interval from max(TAT, now). The key expires once the bucket is full
// again.
//
// KEYS[1] the bucket; ARGV interval_us, burst. Numbers are written with %.0f: Lua's tostring
// would write microseconds since 1970 in exponent form and lose them.
var reserveScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tau = (tonumber(ARGV[2]) - 1) * interval
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local due = tat - tau
if due < now then due = now end
local nexttat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', nexttat), 'PX', math.ceil((nexttat - now) / 1000) + 1000)
return string.format('%.0f', due - now)
`)

// Reserve implements tallyfy.SharedPacer: it takes the next slot of the bucket named key
// (perSecond a second, burst at once) and says how long to wait before using it.
func (r *Redis) Reserve(ctx context.Context, key string, perSecond float64, burst int) (time.Duration, error) {
	if perSecond <= 0 || math.IsNaN(perSecond) || math.IsInf(perSecond, 0) {
		return 0, fmt.Errorf("state: pace %v is not a rate above 0", perSecond)
	}
	interval := max(int64(1e6/perSecond), 1)
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	out, err := reserveScript.Run(ctx, r.rdb, []string{r.prefix + key}, interval, max(burst, 1)).Text()
	if err != nil {
		return 0, unreachable(err)
	}
	var us int64
	if _, err := fmt.Sscan(out, &us); err != nil || us < 0 {
		return 0, fmt.Errorf("state: unexpected answer %q from the pace script", out)
	}
	return time.Duration(us) * time.Microsecond, nil
}
