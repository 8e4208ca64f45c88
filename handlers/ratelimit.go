package handlers

import (
	"container/list"
	"math"
	"net/netip"
	"sync"
	"time"
)

// maxRateClients bounds how many clients the rate limiter remembers. A flood
// of spoofed or rotating source addresses evicts the least recently seen
// client instead of growing memory.
const maxRateClients = 10_000

// bucket is a token bucket: it holds up to burst tokens, refills at rate per
// second, and a request takes one token.
type bucket struct {
	tokens float64
	last   time.Time
}

// take refills the bucket up to now and takes a token. When none is left it
// reports how long until one will be.
func (b *bucket) take(now time.Time, rate, burst float64) (bool, time.Duration) {
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = math.Min(burst, b.tokens+elapsed.Seconds()*rate)
	}
	// A clock that steps back must not grant tokens later: last only moves
	// forward.
	if now.After(b.last) {
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, seconds((1 - b.tokens) / rate)
}

// seconds converts to a Duration, rounding up and saturating instead of
// overflowing when a tiny rate makes the wait absurdly long.
func seconds(s float64) time.Duration {
	ns := math.Ceil(s * float64(time.Second))
	if ns >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(ns)
}

// rateClient is one remembered client of the limiter.
type rateClient struct {
	key netip.Addr
	b   bucket
}

// rateLimiter keeps a token bucket per client address, at most max of them.
// Clients are kept in least-recently-seen order, so entries whose bucket has
// refilled completely (and are therefore no different from a fresh one) are
// dropped from the back in O(1), and when the table is full the least
// recently seen client is the one forgotten.
type rateLimiter struct {
	rate  float64
	burst float64
	max   int
	idle  time.Duration // time for an empty bucket to refill completely
	now   func() time.Time

	mu      sync.Mutex
	clients map[netip.Addr]*list.Element // of *rateClient
	lru     list.List                    // front: most recently seen
}

func newRateLimiter(rate float64, burst int, maxClients int, now func() time.Time) *rateLimiter {
	return &rateLimiter{
		rate:    rate,
		burst:   float64(burst),
		max:     maxClients,
		idle:    seconds(float64(burst) / rate),
		now:     now,
		clients: make(map[netip.Addr]*list.Element),
	}
}

// allow takes a token from addr's bucket (clients of unknown address share
// the bucket of the zero Addr); when there is none it returns how
// long the client should wait.
func (l *rateLimiter) allow(addr netip.Addr) (bool, time.Duration) {
	key := rateKey(addr)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for back := l.lru.Back(); back != nil; back = l.lru.Back() {
		c := back.Value.(*rateClient)
		if c.key == key || now.Sub(c.b.last) < l.idle {
			break
		}
		l.forget(back)
	}
	el, ok := l.clients[key]
	if ok {
		l.lru.MoveToFront(el)
	} else {
		if len(l.clients) >= l.max {
			l.forget(l.lru.Back())
		}
		el = l.lru.PushFront(&rateClient{key: key, b: bucket{tokens: l.burst, last: now}})
		l.clients[key] = el
	}
	return el.Value.(*rateClient).b.take(now, l.rate, l.burst)
}

func (l *rateLimiter) forget(el *list.Element) {
	delete(l.clients, el.Value.(*rateClient).key)
	l.lru.Remove(el)
}

// size is how many clients are remembered.
func (l *rateLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}

// rateKey is the unit a limit applies to: an IPv4 address, or the /64 of an
// IPv6 address, because one IPv6 subscriber usually holds a whole /64 and
// could otherwise get a fresh bucket per request.
func rateKey(a netip.Addr) netip.Addr {
	if a.Is6() && !a.Is4In6() {
		return netip.PrefixFrom(a, 64).Masked().Addr()
	}
	return a
}

// retryAfterSeconds is a wait rounded up to whole seconds, at least 1, as
// the Retry-After header wants it.
func retryAfterSeconds(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	return max(s, 1)
}

// logLimiter lets through a bounded number of log lines, so a flood of
// refused requests cannot flood the log as well; it counts what it drops
// so the next line can say so.
type logLimiter struct {
	now        func() time.Time
	mu         sync.Mutex
	b          bucket
	suppressed int
}

const (
	logLinesPerSecond = 1
	logLinesBurst     = 20
)

func newLogLimiter(now func() time.Time) *logLimiter {
	return &logLimiter{now: now, b: bucket{tokens: logLinesBurst, last: now()}}
}

// allow reports whether a line may be logged and how many were dropped
// since the last one that was.
func (l *logLimiter) allow() (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ok, _ := l.b.take(l.now(), logLinesPerSecond, logLinesBurst); !ok {
		l.suppressed++
		return false, 0
	}
	n := l.suppressed
	l.suppressed = 0
	return true, n
}
