package keystore

import (
	"fmt"

	"github.com/miekg/pkcs11"
)

// PKCS#11 3.0 codes SoftHSM 2.6.1 lists that miekg/pkcs11 does not name.
const (
	ckmECEdwardsKeyPairGen = 0x1055
	ckmEdDSA               = 0x1057
)

// mechanismNames covers every mechanism SoftHSM 2.6.1 lists (checked by
// TestMechanismNamesCoverSoftHSM) and the ECDSA-with-hash variants HSMs
// commonly add.
var mechanismNames = map[uint]string{
	pkcs11.CKM_AES_CBC:                "CKM_AES_CBC",
	pkcs11.CKM_AES_CBC_ENCRYPT_DATA:   "CKM_AES_CBC_ENCRYPT_DATA",
	pkcs11.CKM_AES_CBC_PAD:            "CKM_AES_CBC_PAD",
	pkcs11.CKM_AES_CMAC:               "CKM_AES_CMAC",
	pkcs11.CKM_AES_CTR:                "CKM_AES_CTR",
	pkcs11.CKM_AES_ECB:                "CKM_AES_ECB",
	pkcs11.CKM_AES_ECB_ENCRYPT_DATA:   "CKM_AES_ECB_ENCRYPT_DATA",
	pkcs11.CKM_AES_GCM:                "CKM_AES_GCM",
	pkcs11.CKM_AES_KEY_GEN:            "CKM_AES_KEY_GEN",
	pkcs11.CKM_AES_KEY_WRAP:           "CKM_AES_KEY_WRAP",
	pkcs11.CKM_AES_KEY_WRAP_PAD:       "CKM_AES_KEY_WRAP_PAD",
	pkcs11.CKM_DES2_KEY_GEN:           "CKM_DES2_KEY_GEN",
	pkcs11.CKM_DES3_CBC:               "CKM_DES3_CBC",
	pkcs11.CKM_DES3_CBC_ENCRYPT_DATA:  "CKM_DES3_CBC_ENCRYPT_DATA",
	pkcs11.CKM_DES3_CBC_PAD:           "CKM_DES3_CBC_PAD",
	pkcs11.CKM_DES3_CMAC:              "CKM_DES3_CMAC",
	pkcs11.CKM_DES3_ECB:               "CKM_DES3_ECB",
	pkcs11.CKM_DES3_ECB_ENCRYPT_DATA:  "CKM_DES3_ECB_ENCRYPT_DATA",
	pkcs11.CKM_DES3_KEY_GEN:           "CKM_DES3_KEY_GEN",
	pkcs11.CKM_DES_CBC:                "CKM_DES_CBC",
	pkcs11.CKM_DES_CBC_ENCRYPT_DATA:   "CKM_DES_CBC_ENCRYPT_DATA",
	pkcs11.CKM_DES_CBC_PAD:            "CKM_DES_CBC_PAD",
	pkcs11.CKM_DES_ECB:                "CKM_DES_ECB",
	pkcs11.CKM_DES_ECB_ENCRYPT_DATA:   "CKM_DES_ECB_ENCRYPT_DATA",
	pkcs11.CKM_DES_KEY_GEN:            "CKM_DES_KEY_GEN",
	pkcs11.CKM_DH_PKCS_DERIVE:         "CKM_DH_PKCS_DERIVE",
	pkcs11.CKM_DH_PKCS_KEY_PAIR_GEN:   "CKM_DH_PKCS_KEY_PAIR_GEN",
	pkcs11.CKM_DH_PKCS_PARAMETER_GEN:  "CKM_DH_PKCS_PARAMETER_GEN",
	pkcs11.CKM_DSA:                    "CKM_DSA",
	pkcs11.CKM_DSA_KEY_PAIR_GEN:       "CKM_DSA_KEY_PAIR_GEN",
	pkcs11.CKM_DSA_PARAMETER_GEN:      "CKM_DSA_PARAMETER_GEN",
	pkcs11.CKM_DSA_SHA1:               "CKM_DSA_SHA1",
	pkcs11.CKM_DSA_SHA224:             "CKM_DSA_SHA224",
	pkcs11.CKM_DSA_SHA256:             "CKM_DSA_SHA256",
	pkcs11.CKM_DSA_SHA384:             "CKM_DSA_SHA384",
	pkcs11.CKM_DSA_SHA512:             "CKM_DSA_SHA512",
	pkcs11.CKM_ECDH1_DERIVE:           "CKM_ECDH1_DERIVE",
	pkcs11.CKM_ECDSA:                  "CKM_ECDSA",
	pkcs11.CKM_EC_KEY_PAIR_GEN:        "CKM_EC_KEY_PAIR_GEN",
	pkcs11.CKM_ECDSA_SHA1:             "CKM_ECDSA_SHA1",
	pkcs11.CKM_ECDSA_SHA224:           "CKM_ECDSA_SHA224",
	pkcs11.CKM_ECDSA_SHA256:           "CKM_ECDSA_SHA256",
	pkcs11.CKM_ECDSA_SHA384:           "CKM_ECDSA_SHA384",
	pkcs11.CKM_ECDSA_SHA512:           "CKM_ECDSA_SHA512",
	pkcs11.CKM_GENERIC_SECRET_KEY_GEN: "CKM_GENERIC_SECRET_KEY_GEN",
	pkcs11.CKM_MD5:                    "CKM_MD5",
	pkcs11.CKM_MD5_HMAC:               "CKM_MD5_HMAC",
	pkcs11.CKM_MD5_RSA_PKCS:           "CKM_MD5_RSA_PKCS",
	pkcs11.CKM_RSA_PKCS:               "CKM_RSA_PKCS",
	pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN:  "CKM_RSA_PKCS_KEY_PAIR_GEN",
	pkcs11.CKM_RSA_PKCS_OAEP:          "CKM_RSA_PKCS_OAEP",
	pkcs11.CKM_RSA_PKCS_PSS:           "CKM_RSA_PKCS_PSS",
	pkcs11.CKM_RSA_X_509:              "CKM_RSA_X_509",
	pkcs11.CKM_SHA1_RSA_PKCS:          "CKM_SHA1_RSA_PKCS",
	pkcs11.CKM_SHA1_RSA_PKCS_PSS:      "CKM_SHA1_RSA_PKCS_PSS",
	pkcs11.CKM_SHA224:                 "CKM_SHA224",
	pkcs11.CKM_SHA224_HMAC:            "CKM_SHA224_HMAC",
	pkcs11.CKM_SHA224_RSA_PKCS:        "CKM_SHA224_RSA_PKCS",
	pkcs11.CKM_SHA224_RSA_PKCS_PSS:    "CKM_SHA224_RSA_PKCS_PSS",
	pkcs11.CKM_SHA256:                 "CKM_SHA256",
	pkcs11.CKM_SHA256_HMAC:            "CKM_SHA256_HMAC",
	pkcs11.CKM_SHA256_RSA_PKCS:        "CKM_SHA256_RSA_PKCS",
	pkcs11.CKM_SHA256_RSA_PKCS_PSS:    "CKM_SHA256_RSA_PKCS_PSS",
	pkcs11.CKM_SHA384:                 "CKM_SHA384",
	pkcs11.CKM_SHA384_HMAC:            "CKM_SHA384_HMAC",
	pkcs11.CKM_SHA384_RSA_PKCS:        "CKM_SHA384_RSA_PKCS",
	pkcs11.CKM_SHA384_RSA_PKCS_PSS:    "CKM_SHA384_RSA_PKCS_PSS",
	pkcs11.CKM_SHA512:                 "CKM_SHA512",
	pkcs11.CKM_SHA512_HMAC:            "CKM_SHA512_HMAC",
	pkcs11.CKM_SHA512_RSA_PKCS:        "CKM_SHA512_RSA_PKCS",
	pkcs11.CKM_SHA512_RSA_PKCS_PSS:    "CKM_SHA512_RSA_PKCS_PSS",
	pkcs11.CKM_SHA_1:                  "CKM_SHA_1",
	pkcs11.CKM_SHA_1_HMAC:             "CKM_SHA_1_HMAC",
	ckmECEdwardsKeyPairGen:            "CKM_EC_EDWARDS_KEY_PAIR_GEN",
	ckmEdDSA:                          "CKM_EDDSA",
}

// MechanismName returns the CKM_ name of a mechanism code, or the code in
// hex (0x%08X) when it has no name here (vendor mechanisms).
func MechanismName(code uint) string {
	if n, ok := mechanismNames[code]; ok {
		return n
	}
	return fmt.Sprintf("0x%08X", code)
}

// mechanismFlags are the CKF_ flags of CK_MECHANISM_INFO in the order and
// with the words `pkcs11-tool -M` prints them.
var mechanismFlags = []struct {
	bit  uint
	name string
}{
	{pkcs11.CKF_HW, "hw"},
	{pkcs11.CKF_ENCRYPT, "encrypt"},
	{pkcs11.CKF_DECRYPT, "decrypt"},
	{pkcs11.CKF_DIGEST, "digest"},
	{pkcs11.CKF_SIGN, "sign"},
	{pkcs11.CKF_SIGN_RECOVER, "sign_recover"},
	{pkcs11.CKF_VERIFY, "verify"},
	{pkcs11.CKF_VERIFY_RECOVER, "verify_recover"},
	{pkcs11.CKF_GENERATE, "generate"},
	{pkcs11.CKF_GENERATE_KEY_PAIR, "generate_key_pair"},
	{pkcs11.CKF_WRAP, "wrap"},
	{pkcs11.CKF_UNWRAP, "unwrap"},
	{pkcs11.CKF_DERIVE, "derive"},
	{pkcs11.CKF_EC_F_P, "EC F_P"},
	{pkcs11.CKF_EC_F_2M, "EC F_2M"},
	{pkcs11.CKF_EC_ECPARAMETERS, "EC parameters"},
	{pkcs11.CKF_EC_NAMEDCURVE, "EC OID"},
	{pkcs11.CKF_EC_UNCOMPRESS, "EC uncompressed"},
	{pkcs11.CKF_EC_COMPRESS, "EC compressed"},
	{pkcs11.CKF_EXTENSION, "extension"},
}

// MechanismFlagNames decodes CK_MECHANISM_INFO flags into the words
// `pkcs11-tool -M` uses; bits it does not know are appended in hex.
func MechanismFlagNames(flags uint) []string {
	out := []string{}
	for _, f := range mechanismFlags {
		if flags&f.bit != 0 {
			out = append(out, f.name)
			flags &^= f.bit
		}
	}
	if flags != 0 {
		out = append(out, fmt.Sprintf("0x%08X", flags))
	}
	return out
}

// Mechanism describes one mechanism the token lists.
type Mechanism struct {
	Code       uint     `json:"Code"`
	Name       string   `json:"Name"`       // CKM_ name, or hex for unknown codes
	MinKeySize uint     `json:"MinKeySize"` // as the token reports (bits or bytes, per mechanism)
	MaxKeySize uint     `json:"MaxKeySize"`
	Flags      []string `json:"Flags"` // as pkcs11-tool -M prints them
}
