package certmgr

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"math/big"
	"strings"
	"time"

	"github.com/certcustody/certcustody/certmgr/store"
)

// Lookups by serial number. Serials are stored as the hex of the serial's
// big-endian bytes (no leading zero byte); the API prints them in lower
// case and accepts either case, with or without a 0x prefix or leading
// zeros. The lookup asks for both spellings, so it finds rows written in
// either case.

// maxSerialMatches bounds one lookup: serials are 16 random bytes, so two
// certificates of one account share one only when a custom serial
// (CreateCustomCertificate) repeats it under another CA.
const maxSerialMatches = 100

// serialSpellings parses a serial parameter and returns the spellings it
// may be stored under.
func serialSpellings(s string) ([]string, error) {
	if s == "" {
		return nil, MissingParameter("SerialNumber")
	}
	h := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "0x"), "0X")
	if h == "" || len(h) > 64 {
		return nil, InvalidParameter("SerialNumber", "a hex serial number of at most 32 bytes")
	}
	n, ok := new(big.Int).SetString(h, 16)
	if !ok || n.Sign() <= 0 {
		return nil, InvalidParameter("SerialNumber", "a positive hex serial number")
	}
	up := hexUpper(n.Bytes())
	return []string{up, strings.ToLower(up)}, nil
}

// SerialCertificate is one DescribeClientCertificateForSerialNumber entry.
// Unlike DescribeClientCertificate, this shape has BeforeDate and AfterDate
// as ISO 8601 UTC strings, and Years.
type SerialCertificate struct {
	Identifier       string `json:"Identifier"`
	ParentIdentifier string `json:"ParentIdentifier"`
	CertificateType  string `json:"CertificateType"`
	Status           string `json:"Status"`
	Algorithm        string `json:"Algorithm"`
	KeySize          int    `json:"KeySize"`
	SignAlgorithm    string `json:"SignAlgorithm"`
	SubjectDN        string `json:"SubjectDN"`
	SubjectNames
	SerialNumber    string `json:"SerialNumber"`
	BeforeDate      string `json:"BeforeDate"` // ISO 8601 UTC
	AfterDate       string `json:"AfterDate"`  // ISO 8601 UTC
	Years           int    `json:"Years"`      // whole years of validity
	Sans            string `json:"Sans"`
	Md5             string `json:"Md5"`
	Sha2            string `json:"Sha2"`
	X509Certificate string `json:"X509Certificate"`
}

// SerialCertificateList is DescribeClientCertificateForSerialNumber's
// result.
type SerialCertificateList struct {
	CertificateList []SerialCertificate `json:"CertificateList"`
}

// DescribeClientCertificateForSerialNumber finds the caller's issued
// certificates (not deleted ones) with a serial number. The search is
// account-wide: the server authorizes it as a listing (no resource).
func (m *Manager) DescribeClientCertificateForSerialNumber(ctx context.Context, c Caller, serial string) (*SerialCertificateList, error) {
	spellings, err := serialSpellings(serial)
	if err != nil {
		return nil, err
	}
	rows, err := m.db.IssuedBySerial(ctx, c.AccountID, spellings, false, maxSerialMatches)
	if err != nil {
		return nil, Internal(err)
	}
	out := &SerialCertificateList{CertificateList: []SerialCertificate{}}
	for _, row := range rows {
		parsed, err := parseCert(row.Certificate)
		if err != nil {
			return nil, Internal(err)
		}
		md := md5.Sum(row.Certificate)
		sh := sha256.Sum256(row.Certificate)
		out.CertificateList = append(out.CertificateList, SerialCertificate{
			Identifier: row.Identifier, ParentIdentifier: row.IssuerIdentifier, CertificateType: row.CertificateType, Status: row.Status,
			Algorithm: row.Algorithm, KeySize: row.KeySize, SignAlgorithm: parsed.SignatureAlgorithm, SubjectDN: row.SubjectDN,
			SubjectNames: subjectFields(parsed), SerialNumber: strings.ToLower(row.Serial),
			BeforeDate: isoTime(row.NotBefore), AfterDate: isoTime(row.NotAfter), Years: wholeYears(row.NotBefore, row.NotAfter),
			Sans: sansJSON(parsed), Md5: hexUpper(md[:]), Sha2: hexUpper(sh[:]), X509Certificate: certPEM(row.Certificate),
		})
	}
	return out, nil
}

// wholeYears is the number of whole calendar years from nb to na.
func wholeYears(nb, na time.Time) int {
	y := na.Year() - nb.Year()
	if y > 0 && nb.AddDate(y, 0, 0).After(na) {
		y--
	}
	if y < 0 {
		return 0
	}
	return y
}

// Certificate status values of the serial status lookup, as the SDK
// documents them (OCSP's words).
const (
	serialGood    = "good"
	serialRevoked = "revoked"
	serialUnknown = "unknown"
)

// SerialStatus is one DescribeClientCertificateStatusForSerialNumber entry.
type SerialStatus struct {
	SerialNumber string `json:"SerialNumber"`
	Status       string `json:"Status"`               // good, revoked or unknown
	RevokeTime   int64  `json:"RevokeTime,omitempty"` // Unix ms, when revoked
}

// SerialStatusList is DescribeClientCertificateStatusForSerialNumber's
// result.
type SerialStatusList struct {
	CertificateStatus []SerialStatus `json:"CertificateStatus"`
}

// DescribeClientCertificateStatusForSerialNumber reports the revocation
// status of the caller's certificates with a serial number: one entry per
// match, or one "unknown" entry when none matches (an answer, not an
// error). A deleted certificate is one that was revoked first and is still
// on its CA's CRL, so it answers "revoked", as the CRL does.
func (m *Manager) DescribeClientCertificateStatusForSerialNumber(ctx context.Context, c Caller, serial string) (*SerialStatusList, error) {
	spellings, err := serialSpellings(serial)
	if err != nil {
		return nil, err
	}
	rows, err := m.db.IssuedBySerial(ctx, c.AccountID, spellings, true, maxSerialMatches)
	if err != nil {
		return nil, Internal(err)
	}
	out := &SerialStatusList{CertificateStatus: []SerialStatus{}}
	for _, row := range rows {
		out.CertificateStatus = append(out.CertificateStatus, serialStatus(row))
	}
	if len(out.CertificateStatus) == 0 {
		out.CertificateStatus = append(out.CertificateStatus, SerialStatus{SerialNumber: spellings[1], Status: serialUnknown})
	}
	return out, nil
}

func serialStatus(row *store.IssuedCertificate) SerialStatus {
	s := SerialStatus{SerialNumber: strings.ToLower(row.Serial), Status: serialGood}
	if row.Status == caStatusRevoke {
		s.Status = serialRevoked
		if row.RevokedAt != nil {
			s.RevokeTime = row.RevokedAt.UnixMilli()
		}
	}
	return s
}
