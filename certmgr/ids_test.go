package certmgr

import (
	"bytes"
	"math/big"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestIdentifiersAreTimeOrderedUUIDs checks that identifiers are version 7
// UUIDs, distinct, and in creation order as strings, which is the order
// the database indexes them in.
func TestIdentifiersAreTimeOrderedUUIDs(t *testing.T) {
	prev := ""
	seen := map[string]bool{}
	for range 5000 {
		id := newID()
		u, err := uuid.Parse(id)
		if err != nil || u.Version() != 7 || u.Variant() != uuid.RFC4122 {
			t.Fatalf("%q: version %d, variant %v, %v", id, u.Version(), u.Variant(), err)
		}
		if seen[id] || id <= prev {
			t.Fatalf("%q after %q: not new and increasing", id, prev)
		}
		seen[id], prev = true, id
	}
}

// TestSerialsAreTimePrefixedAndRandom checks the serial layout: 16 bytes,
// positive, the milliseconds in front (so later serials sort after
// earlier ones), 80 random bits behind, for today and centuries ahead.
func TestSerialsAreTimePrefixedAndRandom(t *testing.T) {
	for _, at := range []time.Time{time.Now(), time.Date(2039, 9, 7, 15, 47, 35, 0, time.UTC), time.Date(2500, 1, 1, 0, 0, 0, 0, time.UTC)} {
		a, err := serialAt(at)
		if err != nil {
			t.Fatal(err)
		}
		b, err := serialAt(at)
		if err != nil {
			t.Fatal(err)
		}
		later, err := serialAt(at.Add(time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []*big.Int{a, b, later} {
			if raw := s.Bytes(); s.Sign() <= 0 || len(raw) != 16 || raw[0]&0x80 != 0 {
				t.Fatalf("%v: serial %x is not positive in 16 bytes with the top bit clear", at, raw)
			}
		}
		ms := uint64(at.UnixMilli())
		for i, v := range a.Bytes()[:6] {
			if v != byte(ms>>(40-8*i)) {
				t.Fatalf("%v: serial %x does not start with the milliseconds %x", at, a.Bytes(), ms)
			}
		}
		if bytes.Equal(a.Bytes()[6:], b.Bytes()[6:]) {
			t.Fatalf("two serials of one millisecond share their random part %x", a.Bytes()[6:])
		}
		if later.Cmp(a) <= 0 || later.Cmp(b) <= 0 {
			t.Fatalf("a serial of a later millisecond does not sort after: %x vs %x, %x", later.Bytes(), a.Bytes(), b.Bytes())
		}
	}
}
