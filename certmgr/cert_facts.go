package certmgr

import (
	"crypto/sha256"
	"fmt"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/certcustody/certcustody/certmgr/store"
)

// Certificate facts. A summary of an issued certificate (a list item, a
// describe) shows a few things only its DER knows: the signature
// algorithm, the subject's attributes, the SANs and the key's family and
// size. Reading them means a full X.509 parse, about 25 µs, which made a
// 100-item page cost milliseconds of CPU. They are a pure function of the
// DER, so they are kept by the DER's SHA-256 (computed anyway for the
// summary's Sha2): an entry cannot go stale, whatever any node changes,
// and a row that changed under us simply misses.

// certFacts are the parts of a summary read from the certificate itself.
type certFacts struct {
	signAlgorithm string
	subject       SubjectNames
	sans          string
	fullAlgorithm string // "ECC_256", "RSA_2048", "SM2_256"
}

// certFactsMax bounds the cache: about 300 bytes an entry, so a few MB,
// enough for the pages an operator browses and every describe in flight.
const certFactsMax = 16384

// certFactsCache maps the SHA-256 of a certificate's DER to its facts.
type certFactsCache struct {
	c *lru.Cache[[sha256.Size]byte, *certFacts]
}

func newCertFactsCache() certFactsCache {
	c, err := lru.New[[sha256.Size]byte, *certFacts](certFactsMax)
	if err != nil {
		panic(err) // only for a size below 1
	}
	return certFactsCache{c: c}
}

// factsOf returns the facts of der, whose SHA-256 is sum.
func (f certFactsCache) factsOf(der []byte, sum [sha256.Size]byte) (*certFacts, error) {
	if v, ok := f.c.Get(sum); ok {
		return v, nil
	}
	parsed, err := parseCert(der)
	if err != nil {
		return nil, err
	}
	fam, size := keyFamily(parsed.Public)
	v := &certFacts{signAlgorithm: parsed.SignatureAlgorithm, subject: subjectFields(parsed), sans: sansJSON(parsed),
		fullAlgorithm: fmt.Sprintf("%s_%d", fam, size)}
	f.c.Add(sum, v)
	return v, nil
}

// summarizeIssued is an issued certificate's list item.
func (m *Manager) summarizeIssued(row *store.IssuedCertificate) (*ClientCertificateSummary, *certFacts, error) {
	sh := sha256.Sum256(row.Certificate)
	facts, err := m.facts.factsOf(row.Certificate, sh)
	if err != nil {
		return nil, nil, Internal(err)
	}
	return issuedSummary(row, facts, sh), facts, nil
}
