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
func (m *Manager) signCheckpoint(ctx context.Context, seq int64, head []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), checkpointSignTimeout)
	defer cancel()
	signer, err := m.keys.Signer(ctx, keystore.AuditKeyID)
	if err != nil {
		return nil, err
	}
	return signer.Sign(rand.Reader, checkpointDigest(seq, head), crypto.SHA256)
}

func checkpointDigest(seq int64, head []byte) []byte {
	h := sha256.New()
	h.Write([]byte("certcustody audit checkpoint v1\x00"))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(seq))
	h.Write(n[:])
	h.Write(head)
	return h.Sum(nil)
}

func (m *Manager) checkpoint(ctx context.Context, seq int64, head []byte) error {
	sig, err := m.signCheckpoint(ctx, seq, head)
	if err != nil {
		return err
	}
	return m.db.InsertAuditCheckpoint(ctx, &store.AuditCheckpoint{Seq: seq, HeadHash: head, Signature: sig, At: m.now()})
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

// AuditReport summarises a verified log.
type AuditReport struct {
	Records      int64 `json:"Records"`
	Checkpoints  int   `json:"Checkpoints"`
	LastSigned   int64 `json:"LastSignedSeq"`
	UnsignedTail int64 `json:"UnsignedTail"` // records after the last signed checkpoint
}

// AuditBreak names the first record where the log stops verifying.
type AuditBreak struct {
	Seq    int64
	Reason string
}

func (b *AuditBreak) Error() string { return fmt.Sprintf("audit record %d: %s", b.Seq, b.Reason) }

// VerifyAudit walks the whole log: each record must follow the previous
// one in sequence, chain to its hash and hash to its stored value, and each
// checkpoint must be signed by pub over the record at its sequence.
func (m *Manager) VerifyAudit(ctx context.Context, pub crypto.PublicKey) (*AuditReport, error) {
	return VerifyAuditLog(ctx, m.db, pub)
}

// AuditLog is what an audit check reads: the records in sequence and the
// signed checkpoints. *store.DB is one, and so is *store.Tx, so that a log
// can be checked before the transaction that wrote it commits (store copy
// checks its copy that way and rolls back a copy that does not verify).
type AuditLog interface {
	WalkAudit(ctx context.Context, fn func(*store.AuditRecord) error) error
	AuditCheckpoints(ctx context.Context) (map[int64]*store.AuditCheckpoint, error)
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
	rep := &AuditReport{}
	prev := make([]byte, sha256.Size)
	var last int64
	err = log.WalkAudit(ctx, func(r *store.AuditRecord) error {
		switch {
		case r.Seq != last+1:
			return &AuditBreak{Seq: last + 1, Reason: fmt.Sprintf("missing (next stored record is %d)", r.Seq)}
		case !bytes.Equal(r.PrevHash, prev):
			return &AuditBreak{Seq: r.Seq, Reason: "does not chain to the record before it (edited, deleted or reordered)"}
		case !bytes.Equal(r.ComputeHash(), r.Hash):
			return &AuditBreak{Seq: r.Seq, Reason: "content does not match its hash (edited)"}
		}
		if cp, ok := cps[r.Seq]; ok {
			if !bytes.Equal(cp.HeadHash, r.Hash) || !ecdsa.VerifyASN1(ecPub, checkpointDigest(cp.Seq, cp.HeadHash), cp.Signature) {
				return &AuditBreak{Seq: r.Seq, Reason: "signed checkpoint does not verify"}
			}
			rep.Checkpoints++
			rep.LastSigned = r.Seq
		}
		prev, last = r.Hash, r.Seq
		rep.Records++
		return nil
	})
	if err != nil {
		return rep, err
	}
	for seq := range cps {
		if seq > last {
			return rep, &AuditBreak{Seq: seq, Reason: "a checkpoint names a record that is gone (log truncated)"}
		}
	}
	rep.UnsignedTail = last - rep.LastSigned
	return rep, nil
}
