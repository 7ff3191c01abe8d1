package certmgr

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/certcustody/certcustody/certmgr/store"
	"github.com/certcustody/certcustody/keystore"
)

// The audit log: every authenticated call and every use of a token key is a
// record, hash-chained to the one before and committed in the transaction
// of the change it records (see journal.go). The writer signs: the
// transaction whose record brings the records after the last checkpoint
// to checkpointEvery signs a checkpoint (sequence, head hash) with the
// audit key in the token, inside that transaction (store.SignAuditEvery),
// so the unsigned tail never exceeds checkpointEvery records however many
// calls are in flight. serve also signs the head every minute and at
// shutdown, so that a quiet log's tail is short in time too.
// `certcustody audit verify` recomputes the chain and checks the
// signatures with the audit public key (pinned outside the database as
// audit-public-key.pem).

// checkpointEvery bounds the unsigned tail of the audit log, in records.
const checkpointEvery = 100

// checkpointSignTimeout bounds one checkpoint signature made inside a
// commit: it holds the database's write lock meanwhile.
const checkpointSignTimeout = 10 * time.Second

// Checkpoint is a signed (sequence, head hash) pair, for the log.
type Checkpoint struct {
	Seq      int64
	HeadHash string // hex
}

// checkpointsOf turns the checkpoints a journal's transactions signed into
// what the log prints.
func checkpointsOf(j *store.Journal) []Checkpoint {
	var out []Checkpoint
	for _, cp := range j.Checkpoints() {
		out = append(out, Checkpoint{Seq: cp.Seq, HeadHash: hex.EncodeToString(cp.HeadHash)})
	}
	return out
}

// signCheckpoint is the writer's CheckpointSigner: the audit key signs in
// the token. It runs inside a commit, with that request's context but
// detached from its cancellation, so that one client hanging up does not
// fail the checkpoint every request of a group commit waits on.
func (m *Manager) signCheckpoint(ctx context.Context, cp *store.AuditCheckpoint) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), checkpointSignTimeout)
	defer cancel()
	signer, err := m.keys.Signer(ctx, keystore.AuditKeyID)
	if err != nil {
		return nil, err
	}
	return signer.Sign(rand.Reader, checkpointDigest(cp), crypto.SHA256)
}

// checkpointDigest is what a checkpoint's signature covers. The one chain
// of a single node is signed as it always was (v1: sequence and head); a
// node's chain in a cluster (v2) also binds the chain's name and the heads
// of the other chains the checkpoint saw.
func checkpointDigest(cp *store.AuditCheckpoint) []byte {
	h := sha256.New()
	var n [8]byte
	if cp.Chain == "" && len(cp.Heads) == 0 {
		h.Write([]byte("certcustody audit checkpoint v1\x00"))
	} else {
		h.Write([]byte("certcustody audit checkpoint v2\x00" + cp.Chain + "\x00"))
	}
	binary.BigEndian.PutUint64(n[:], uint64(cp.Seq))
	h.Write(n[:])
	h.Write(cp.HeadHash)
	for _, o := range cp.Heads {
		h.Write([]byte(o.Chain + "\x00"))
		binary.BigEndian.PutUint64(n[:], uint64(o.Seq))
		h.Write(n[:])
		h.Write(o.Hash)
	}
	return h.Sum(nil)
}

func (m *Manager) checkpoint(ctx context.Context, seq int64, head []byte) error {
	heads, err := m.db.OtherChainHeads(ctx)
	if err != nil {
		return err
	}
	cp := &store.AuditCheckpoint{Chain: m.db.AuditChain(), Seq: seq, HeadHash: head, At: m.now(), Heads: heads}
	if cp.Signature, err = m.signCheckpoint(ctx, cp); err != nil {
		return err
	}
	return m.db.InsertAuditCheckpoint(ctx, cp)
}

// SignAuditHead signs a checkpoint over the newest record unless one
// covers it already, and returns it (nil when there was nothing to sign).
// The hash chain alone does not stop someone who can write the database
// from rewriting the records after the last signature and recomputing
// their hashes; serve calls this on a timer and at shutdown so that such a
// tail is short in time as well as in records.
func (m *Manager) SignAuditHead(ctx context.Context) (*Checkpoint, error) {
	seq, head, signed, err := m.db.AuditHead(ctx)
	if err != nil || seq == 0 || signed {
		return nil, err
	}
	if err := m.checkpoint(ctx, seq, head); err != nil {
		return nil, err
	}
	return &Checkpoint{Seq: seq, HeadHash: hex.EncodeToString(head)}, nil
}

// AuditPublicKey returns the audit key's public half, to be pinned.
func (m *Manager) AuditPublicKey(ctx context.Context) (crypto.PublicKey, error) {
	s, err := m.keys.Signer(ctx, keystore.AuditKeyID)
	if err != nil {
		return nil, err
	}
	return s.Public(), nil
}

// AuditReport summarises a verified log: totals, and each chain (one per
// node that has written; the embedded default has one, "").
type AuditReport struct {
	Records     int64 `json:"Records"`
	Checkpoints int   `json:"Checkpoints"`
	// LastSigned and UnsignedTail are the chain with the longest unsigned
	// tail's: the records after its last signed checkpoint.
	LastSigned   int64         `json:"LastSignedSeq"`
	UnsignedTail int64         `json:"UnsignedTail"`
	Chains       []ChainReport `json:"Chains"`
}

// ChainReport is one chain of a verified log.
type ChainReport struct {
	Chain        string `json:"Chain"`
	Records      int64  `json:"Records"`
	LastSigned   int64  `json:"LastSignedSeq"`
	UnsignedTail int64  `json:"UnsignedTail"`
}

// AuditBreak names the first record where the log stops verifying.
type AuditBreak struct {
	Chain  string
	Seq    int64
	Reason string
}

func (b *AuditBreak) Error() string {
	if b.Chain == "" {
		return fmt.Sprintf("audit record %d: %s", b.Seq, b.Reason)
	}
	return fmt.Sprintf("audit chain %s record %d: %s", b.Chain, b.Seq, b.Reason)
}

// VerifyAudit walks the whole log, chain by chain: each record must follow
// the previous one of its chain in sequence (a gap is a deleted record),
// chain to its hash (else a fork: edited, deleted or reordered) and hash to
// its stored value; each checkpoint must be signed by pub over the record
// at its sequence, and every other chain's head it names must still be
// there (a chain cut short, or gone, breaks at that record).
func (m *Manager) VerifyAudit(ctx context.Context, pub crypto.PublicKey) (*AuditReport, error) {
	return VerifyAuditLog(ctx, m.db, pub)
}

// AuditLog is what an audit check reads: the records chain by chain and
// the signed checkpoints. *store.DB is one, and so is *store.Tx, so that a
// log can be checked before the transaction that wrote it commits (store
// copy checks its copy that way and rolls back a copy that does not
// verify).
type AuditLog interface {
	WalkAudit(ctx context.Context, fn func(*store.AuditRecord) error) error
	AuditCheckpoints(ctx context.Context) (map[store.CheckpointKey]*store.AuditCheckpoint, error)
}

var (
	_ AuditLog = (*store.DB)(nil)
	_ AuditLog = (*store.Tx)(nil)
)

// VerifyAuditLog is VerifyAudit on any log, with no token: checking needs
// only the records and the pinned public key, never the audit key itself.
func VerifyAuditLog(ctx context.Context, log AuditLog, pub crypto.PublicKey) (*AuditReport, error) {
	ecPub, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("audit public key must be ECDSA P-256")
	}
	cps, err := log.AuditCheckpoints(ctx)
	if err != nil {
		return nil, err
	}
	named := map[store.CheckpointKey][]byte{} // other chains' heads the checkpoints name
	for _, cp := range cps {
		for _, h := range cp.Heads {
			named[store.CheckpointKey{Chain: h.Chain, Seq: h.Seq}] = nil
		}
	}
	rep := &AuditReport{}
	var cur *ChainReport
	var prev []byte
	finish := func() {
		if cur == nil {
			return
		}
		cur.UnsignedTail = cur.Records - cur.LastSigned
		if cur.UnsignedTail >= rep.UnsignedTail {
			rep.UnsignedTail, rep.LastSigned = cur.UnsignedTail, cur.LastSigned
		}
		rep.Chains = append(rep.Chains, *cur)
	}
	err = log.WalkAudit(ctx, func(r *store.AuditRecord) error {
		if cur == nil || r.Chain != cur.Chain {
			finish()
			cur, prev = &ChainReport{Chain: r.Chain}, make([]byte, sha256.Size)
		}
		switch {
		case r.Seq != cur.Records+1:
			return &AuditBreak{Chain: r.Chain, Seq: cur.Records + 1, Reason: fmt.Sprintf("missing (next stored record is %d)", r.Seq)}
		case !bytes.Equal(r.PrevHash, prev):
			return &AuditBreak{Chain: r.Chain, Seq: r.Seq, Reason: "does not chain to the record before it (edited, deleted or reordered)"}
		case !bytes.Equal(r.ComputeHash(), r.Hash):
			return &AuditBreak{Chain: r.Chain, Seq: r.Seq, Reason: "content does not match its hash (edited)"}
		}
		key := store.CheckpointKey{Chain: r.Chain, Seq: r.Seq}
		if cp, ok := cps[key]; ok {
			if !bytes.Equal(cp.HeadHash, r.Hash) || !ecdsa.VerifyASN1(ecPub, checkpointDigest(cp), cp.Signature) {
				return &AuditBreak{Chain: r.Chain, Seq: r.Seq, Reason: "signed checkpoint does not verify"}
			}
			rep.Checkpoints++
			cur.LastSigned = r.Seq
		}
		if _, ok := named[key]; ok {
			named[key] = r.Hash
		}
		prev = r.Hash
		cur.Records++
		rep.Records++
		return nil
	})
	if err != nil {
		return rep, err
	}
	finish()
	last := map[string]int64{}
	for _, c := range rep.Chains {
		last[c.Chain] = c.Records
	}
	for key := range cps {
		if key.Seq > last[key.Chain] {
			return rep, &AuditBreak{Chain: key.Chain, Seq: key.Seq, Reason: "a checkpoint names a record that is gone (log truncated)"}
		}
	}
	for _, cp := range cps {
		for _, h := range cp.Heads {
			if got := named[store.CheckpointKey{Chain: h.Chain, Seq: h.Seq}]; !bytes.Equal(got, h.Hash) {
				return rep, &AuditBreak{Chain: h.Chain, Seq: h.Seq,
					Reason: fmt.Sprintf("a signed checkpoint of chain %q names this record, which is gone or changed (chain cut short or removed)", cp.Chain)}
			}
		}
	}
	return rep, nil
}
