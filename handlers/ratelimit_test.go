package handlers

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestRateLimitBurstThen429(t *testing.T) {
	t.Parallel()
	h, _, clock, _ := testEdge(t, EdgeConfig{InsecureNoAuth: true, RatePerSecond: 2, Burst: 3})
	for i := range 3 {
		if w := call(h, "192.0.2.1:1", nil); w.Code != http.StatusOK {
			t.Fatalf("request %d of the burst: %d", i+1, w.Code)
		}
	}
	w := call(h, "192.0.2.1:1", nil)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" ||
		!strings.Contains(w.Body.String(), "rate limit of 2 requests/s (burst 3) exceeded for client 192.0.2.1") {
		t.Errorf("after the burst: %d Retry-After %q %s; want 429, Retry-After 1 and the limit named",
			w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	if w := call(h, "192.0.2.2:1", nil); w.Code != http.StatusOK {
		t.Errorf("another client: %d, want 200", w.Code)
	}
	clock.advance(500 * time.Millisecond) // one token at 2/s
	if w := call(h, "192.0.2.1:1", nil); w.Code != http.StatusOK {
		t.Errorf("after refilling one token: %d, want 200", w.Code)
	}
	if w := call(h, "192.0.2.1:1", nil); w.Code != http.StatusTooManyRequests {
		t.Errorf("second request after one token: %d, want 429", w.Code)
	}
	clock.advance(time.Hour)
	for i := range 3 {
		if w := call(h, "192.0.2.1:1", nil); w.Code != http.StatusOK {
			t.Errorf("request %d after a long pause: %d; the bucket holds the burst again", i+1, w.Code)
		}
	}
}

func TestRetryAfterComputedFromBucket(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		giveRate  float64
		giveBurst int
		giveWait  time.Duration // before the refused request
		want      string
	}{
		{name: "1 per 4s", giveRate: 0.25, giveBurst: 1, want: "4"},
		{name: "1 per 4s, 2.5s waited", giveRate: 0.25, giveBurst: 1, giveWait: 2500 * time.Millisecond, want: "2"},
		{name: "fast rate still at least 1", giveRate: 100, giveBurst: 1, want: "1"},
		{name: "1 per minute", giveRate: 1.0 / 60, giveBurst: 1, want: "60"},
		{name: "tiny rate saturates", giveRate: 1e-300, giveBurst: 1, want: "9223372037"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, _, clock, _ := testEdge(t, EdgeConfig{InsecureNoAuth: true, RatePerSecond: tt.giveRate, Burst: tt.giveBurst})
			call(h, "192.0.2.1:1", nil)
			clock.advance(tt.giveWait)
			w := call(h, "192.0.2.1:1", nil)
			if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != tt.want {
				t.Errorf("got %d Retry-After %q, want 429 Retry-After %s", w.Code, w.Header().Get("Retry-After"), tt.want)
			}
		})
	}
}

func TestRateLimitDefaultBurstIsOneSecond(t *testing.T) {
	t.Parallel()
	h, _, _, _ := testEdge(t, EdgeConfig{InsecureNoAuth: true, RatePerSecond: 2.5})
	var codes []int
	for range 4 {
		codes = append(codes, call(h, "192.0.2.1:1", nil).Code)
	}
	if fmt.Sprint(codes) != "[200 200 200 429]" {
		t.Errorf("codes %v, want a burst of 3 then 429", codes)
	}
}

func TestRateLimitDisabled(t *testing.T) {
	t.Parallel()
	h, e, _, _ := testEdge(t, EdgeConfig{InsecureNoAuth: true})
	for range 100 {
		if w := call(h, "192.0.2.1:1", nil); w.Code != http.StatusOK {
			t.Fatalf("status %d without a rate limit", w.Code)
		}
	}
	if e.limiter != nil {
		t.Error("limiter built with RatePerSecond 0")
	}
}

func TestRateLimitIPv6SharesA64(t *testing.T) {
	t.Parallel()
	h, _, _, _ := testEdge(t, EdgeConfig{InsecureNoAuth: true, RatePerSecond: 1, Burst: 1})
	tests := []struct {
		give string
		want int
	}{
		{give: "[2001:db8:1:2::1]:1", want: 200},
		{give: "[2001:db8:1:2:ffff::9]:1", want: 429}, // same /64
		{give: "[2001:db8:1:3::1]:1", want: 200},      // next /64
		{give: "192.0.2.1:1", want: 200},
		{give: "[::ffff:192.0.2.1]:1", want: 429}, // the same IPv4 client
	}
	for _, tt := range tests {
		if w := call(h, tt.give, nil); w.Code != tt.want {
			t.Errorf("%s: %d, want %d", tt.give, w.Code, tt.want)
		}
	}
}

func TestRateLimiterStaysBounded(t *testing.T) {
	t.Parallel()
	h, e, clock, _ := testEdge(t, EdgeConfig{InsecureNoAuth: true, RatePerSecond: 1, Burst: 5})
	for i := range 20_000 {
		remote := fmt.Sprintf("10.%d.%d.%d:1", i>>16, i>>8&255, i&255)
		if w := call(h, remote, nil); w.Code != http.StatusOK {
			t.Fatalf("new client %s: %d", remote, w.Code)
		}
	}
	if n := e.limiter.size(); n > maxRateClients {
		t.Errorf("limiter remembers %d clients, want at most %d", n, maxRateClients)
	}
	// The most recent client is still remembered, so its burst is spent.
	last := fmt.Sprintf("10.%d.%d.%d:1", 19_999>>16, 19_999>>8&255, 19_999&255)
	for range 4 {
		call(h, last, nil)
	}
	if w := call(h, last, nil); w.Code != http.StatusTooManyRequests {
		t.Errorf("most recent client after its burst: %d, want 429", w.Code)
	}
	// Once every bucket has refilled, entries are dropped as idle.
	clock.advance(6 * time.Second)
	call(h, "192.0.2.1:1", nil)
	if n := e.limiter.size(); n != 1 {
		t.Errorf("after everyone went idle the limiter remembers %d clients, want 1", n)
	}
}

func TestBucketClockStepsBack(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := bucket{tokens: 1, last: t0}
	if ok, _ := b.take(t0, 1, 1); !ok {
		t.Fatal("first take refused")
	}
	if ok, _ := b.take(t0.Add(-time.Hour), 1, 1); ok {
		t.Error("a clock stepping back granted a token")
	}
	if ok, _ := b.take(t0.Add(time.Second), 1, 1); !ok {
		t.Error("a second after the last token: refused")
	}
}

func TestRefusalLoggingIsRateLimited(t *testing.T) {
	t.Parallel()
	h, _, clock, logs := testEdge(t, EdgeConfig{Tokens: []string{"tok"}})
	for range 1000 {
		call(h, "192.0.2.1:1", nil)
	}
	if n := strings.Count(logs.String(), "request refused"); n != logLinesBurst {
		t.Errorf("%d log lines for 1000 refusals, want %d", n, logLinesBurst)
	}
	clock.advance(time.Second)
	call(h, "192.0.2.1:1", nil)
	if !strings.Contains(logs.String(), fmt.Sprintf(`"suppressed":%d`, 1000-logLinesBurst)) {
		t.Errorf("next line does not count the suppressed ones:\n%s", logs)
	}
}

func TestRateKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		give string
		want string
	}{
		{give: "192.0.2.1", want: "192.0.2.1"},
		{give: "2001:db8:1:2:3:4:5:6", want: "2001:db8:1:2::"},
	}
	for _, tt := range tests {
		if got := rateKey(netip.MustParseAddr(tt.give)); got.String() != tt.want {
			t.Errorf("rateKey(%s) = %s, want %s", tt.give, got, tt.want)
		}
	}
}
