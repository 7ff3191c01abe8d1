package server

import (
	"net/http"
	"sync"
	"time"

	"github.com/certcustody/certcustody/certmgr"
	"golang.org/x/time/rate"
)

// Throttle is a token bucket per user (AccessKey) and action. It takes the
// time of each request from the caller, so tests can freeze the clock and
// assert exact counts. It is safe for concurrent use.
type Throttle struct {
	Rate     rate.Limit     // tokens per second per user and action (default 10)
	Burst    int            // bucket capacity (default 10)
	ByAction map[string]int // optional per-action QPS overrides (rate and burst)

	mu      sync.Mutex
	buckets map[throttleKey]*bucket
	swept   time.Time
	share   int // nodes the rate is shared among; 0 or 1: this node alone
}

// SetShare makes this node enforce its share of the configured rates when
// n nodes serve the same users: each bucket refills at rate/n and holds
// burst/n (at least one token). A load balancer that spreads a user's
// requests evenly then gives the cluster the configured rate; see the
// README for the bound while nodes join and leave.
func (t *Throttle) SetShare(n int, now time.Time) {
	if n < 1 {
		n = 1
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if n == t.share || (n == 1 && t.share == 0) {
		return
	}
	t.share = n
	for k, b := range t.buckets {
		r, burst := t.limits(k.action)
		b.lim.SetLimitAt(now, r)
		b.lim.SetBurstAt(now, burst)
	}
}

// limits are an action's rate and burst, this node's share of them.
func (t *Throttle) limits(action string) (rate.Limit, int) {
	r, burst := t.Rate, t.Burst
	if q, ok := t.ByAction[action]; ok {
		r, burst = rate.Limit(q), q
	} else if q, ok := DefaultByAction[action]; ok {
		r, burst = rate.Limit(q), q
	}
	if r == 0 {
		r = 10
	}
	if burst == 0 {
		burst = 10
	}
	if t.share > 1 {
		r /= rate.Limit(t.share)
		burst = max(1, burst/t.share)
	}
	return r, burst
}

type throttleKey struct{ user, action string }

// costBucket prefixes the throttle bucket of an expensive kind of work
// (e.g. "cost:RSA_4096"), taken on top of the action's own.
const costBucket = "cost:"

// DefaultByAction are the lower default rates (per user, per second, and
// the burst) of the calls that cost the most: a private-key download runs
// 600,000 PBKDF2 iterations, an RSA-4096 key takes the token about 1.6 s.
// config.yaml's throttle.by_action overrides them like any action.
var DefaultByAction = map[string]int{
	"DescribeCertificatePrivateKey":  2,
	costBucket + certmgr.CostRSA4096: 1,
}

type bucket struct {
	lim  *rate.Limiter
	used time.Time
}

// idleBucket: a bucket unused this long is full again and can be dropped.
const idleBucket = 10 * time.Minute

// Allow takes one token for user and action at now; false means refuse with
// Throttling.User.
func (t *Throttle) Allow(user, action string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.buckets == nil {
		t.buckets = map[throttleKey]*bucket{}
	}
	if now.Sub(t.swept) > idleBucket {
		for k, b := range t.buckets {
			if now.Sub(b.used) > idleBucket {
				delete(t.buckets, k)
			}
		}
		t.swept = now
	}
	k := throttleKey{user, action}
	b := t.buckets[k]
	if b == nil {
		r, burst := t.limits(action)
		b = &bucket{lim: rate.NewLimiter(r, burst)}
		t.buckets[k] = b
	}
	b.used = now
	return b.lim.AllowN(now, 1)
}

func throttled() *certmgr.Error {
	return &certmgr.Error{Code: "Throttling.User", HTTPStatus: http.StatusBadRequest, Message: "Request was denied due to user flow control."}
}
