package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestFilterCACertificatesPages: every page of an account's CAs, filtered
// or not, is its slice of the (created_at, identifier) order, with the
// filter's total; pages past the end are empty and another account's CAs
// never appear.
func TestFilterCACertificatesPages(t *testing.T) { eachBackend(t, testFilterCACertificatesPages) }

func testFilterCACertificatesPages(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	f := newPagesFixture(t, db, "acc-a", "acc-b")
	type ca struct {
		id, status string
		created    time.Time
	}
	var all []ca // acc-a's, in listing order once sorted
	err := db.Tx(ctx, func(tx *Tx) error {
		for i := range 23 {
			c := ca{id: fmt.Sprintf("sub-%02d", (i*7)%23), status: []string{"ISSUE", "REVOKE"}[i%3/2], created: f.now.Add(time.Duration(i%5) * time.Second)}
			all = append(all, c)
			if err := tx.InsertCACertificate(ctx, &CACertificate{Identifier: c.id, AccountID: "acc-a", ParentIdentifier: "ca-acc-a", CertificateType: "SUB_ROOT",
				KeyID: "key-" + c.id, Algorithm: "ECC", KeySize: 256, Status: c.status, Certificate: []byte{1}, Serial: c.id, SubjectDN: "CN=" + c.id,
				Years: 1, PathLen: 0, CRLDay: 7, NotBefore: f.now, NotAfter: f.now.Add(time.Hour), CreatedAt: c.created}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	all = append(all, ca{id: "ca-acc-a", status: "ISSUE", created: f.now})
	slices.SortFunc(all, func(a, b ca) int {
		if c := a.created.Compare(b.created); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	for _, filter := range []CAFilter{{}, {Status: "REVOKE"}, {Status: "ISSUE", Type: "SUB_ROOT"}} {
		var want []string
		for _, c := range all {
			if (filter.Status == "" || c.status == filter.Status) && (filter.Type == "" || c.id != "ca-acc-a") {
				want = append(want, c.id)
			}
		}
		for _, size := range []int{1, 4, 10, 100} {
			var got []string
			for offset := 0; offset < len(want)+size; offset += size {
				page, total, err := db.FilterCACertificates(ctx, "acc-a", filter, offset, size)
				if err != nil || total != len(want) {
					t.Fatalf("filter %+v, offset %d: total %d (%v), want %d", filter, offset, total, err, len(want))
				}
				if len(page) > size {
					t.Fatalf("filter %+v: a page of %d holds %d", filter, size, len(page))
				}
				for _, c := range page {
					got = append(got, c.Identifier)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("filter %+v, pages of %d:\n got %v\nwant %v", filter, size, got, want)
			}
		}
	}
}
