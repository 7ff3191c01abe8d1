package store

import (
	"context"
	"testing"
	"time"
)

// checkIssuedCounts: every CA's issued counter (CountIssuedBy, and the
// count IssuedByCA reports) is what issued_certificates holds for it,
// deleted certificates included, and so is its revoked count.
func checkIssuedCounts(t *testing.T, db *DB) {
	t.Helper()
	ctx := context.Background()
	rows, err := db.e.QueryContext(ctx, `SELECT issuer_identifier, COUNT(*), SUM(CASE WHEN status = 'REVOKE' THEN 1 ELSE 0 END)
		FROM issued_certificates GROUP BY issuer_identifier`)
	if err != nil {
		t.Fatal(err)
	}
	want, wantRevoked := map[string]int64{}, map[string]int64{}
	for rows.Next() {
		var ca string
		var n, r int64
		if err := rows.Scan(&ca, &n, &r); err != nil {
			t.Fatal(err)
		}
		want[ca], wantRevoked[ca] = n, r
	}
	rows.Close()
	for ca, n := range want {
		var account string
		if err := db.e.QueryRowContext(ctx, `SELECT account_id FROM ca_certificates WHERE identifier = ?`, ca).Scan(&account); err != nil {
			t.Fatal(err)
		}
		got, err := db.CountIssuedBy(ctx, account, ca)
		if err != nil || got != n {
			t.Fatalf("CA %s: counter %d (%v), the table holds %d", ca, got, err, n)
		}
		certs, revoked, _, _, err := db.IssuedByCA(ctx, ca)
		if err != nil || certs != n || revoked != wantRevoked[ca] {
			t.Fatalf("CA %s: IssuedByCA says %d, %d revoked (%v); the table holds %d, %d revoked", ca, certs, revoked, err, n, wantRevoked[ca])
		}
	}
}

// TestIssuedCountsPerNode: two nodes (two audit chains) issuing from one
// CA each count in a row of their own, the count is their sum, and a
// deleted certificate still counts (it was issued). The counter is read
// in one statement whatever the CA has issued.
func TestIssuedCountsPerNode(t *testing.T) { eachBackend(t, testIssuedCountsPerNode) }

func testIssuedCountsPerNode(t *testing.T) {
	ctx := context.Background()
	url := testURL(t)
	var nodes []*DB
	for _, chain := range []string{"node-a", "node-b"} {
		db, err := OpenURL(ctx, url, WithAuditChain(chain))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		nodes = append(nodes, db)
	}
	f := newPagesFixture(t, nodes[0], "acc-a")
	for i := range 7 {
		row := f.issuedRow("acc-a")
		if err := nodes[i%2].Group(ctx, func(tx *Tx) error { return tx.InsertIssuedCertificate(ctx, row) }); err != nil {
			t.Fatal(err)
		}
		if i == 3 {
			if _, err := nodes[1].RevokeIssued(ctx, "acc-a", row.Identifier, 0, time.Now()); err != nil {
				t.Fatal(err)
			}
			if err := nodes[1].Tx(ctx, func(tx *Tx) error { return tx.DeleteRevokedCertificate(ctx, "acc-a", row.Identifier) }); err != nil {
				t.Fatal(err)
			}
		}
	}
	var shards int
	if err := nodes[0].e.QueryRowContext(ctx, `SELECT COUNT(*) FROM ca_issued_counts WHERE ca_identifier = 'ca-acc-a'`).Scan(&shards); err != nil || shards != 2 {
		t.Fatalf("%d counter rows for the CA (%v), want one per node", shards, err)
	}
	for _, db := range nodes {
		if n, err := db.CountIssuedBy(ctx, "acc-a", "ca-acc-a"); err != nil || n != 7 {
			t.Fatalf("count %d (%v), want 7", n, err)
		}
	}
	checkIssuedCounts(t, nodes[0])
	if n, err := nodes[0].CountIssuedBy(ctx, "acc-a", "ca-none"); err != nil || n != 0 {
		t.Fatalf("a CA that issued nothing: %d (%v)", n, err)
	}
	if n, err := nodes[0].CountIssuedBy(ctx, "acc-other", "ca-acc-a"); err != nil || n != 0 {
		t.Fatalf("another account's CA: %d (%v), want 0", n, err)
	}
}
