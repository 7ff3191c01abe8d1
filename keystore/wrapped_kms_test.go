package keystore

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/pkcs11"
)

// TestWrappedKMSKeys: a wrapped-class KMS key leaves no token object, signs
// (and RSA decrypts) through its unwrapped session object, exports only
// when created exportable, and reports its class honestly.
func TestWrappedKMSKeys(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	before, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("wrapped"))
	for _, tc := range []struct {
		alg        Algorithm
		exportable bool
	}{{ECP256, false}, {ECP256, true}, {RSA2048, false}, {RSA2048, true}} {
		t.Run(string(tc.alg)+map[bool]string{true: "/exportable", false: "/non-exportable"}[tc.exportable], func(t *testing.T) {
			id := randomKMSID()
			k, err := s.GenerateWrappedKMS(ctx, GenerateRequest{ID: id, Algorithm: tc.alg, Purpose: PurposeKMS, Exportable: tc.exportable}, "acct-1")
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := s.Exists(ctx, id); err != nil || ok {
				t.Fatalf("a token object with the wrapped key's ID: %v %v", ok, err)
			}
			signer, err := s.WrappedSigner(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			switch pub := k.Public.(type) {
			case *ecdsa.PublicKey:
				if !ecdsa.VerifyASN1(pub, digest[:], sig) {
					t.Fatal("bad ECDSA signature")
				}
			case *rsa.PublicKey:
				if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
					t.Fatal(err)
				}
				pss, err := signer.Sign(rand.Reader, digest[:], &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256})
				if err != nil || rsa.VerifyPSS(pub, crypto.SHA256, digest[:], pss, nil) != nil {
					t.Fatalf("PSS: %v", err)
				}
				for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
					ct, err := rsa.EncryptOAEP(h.New(), rand.Reader, pub, []byte("plain"), nil)
					if err != nil {
						t.Fatal(err)
					}
					if pt, err := signer.Decrypt(rand.Reader, ct, &rsa.OAEPOptions{Hash: h}); err != nil || string(pt) != "plain" {
						t.Fatalf("OAEP %v: %q %v", h, pt, err)
					}
				}
			}
			der, err := s.ExportWrappedKMS(ctx, k)
			if tc.exportable {
				if err != nil {
					t.Fatal(err)
				}
				priv, err := x509.ParsePKCS8PrivateKey(der)
				if err != nil || !priv.(crypto.Signer).Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public) {
					t.Fatalf("exported key does not match: %v", err)
				}
			} else if !errors.Is(err, ErrNotExportable) {
				t.Fatalf("export of a non-exportable wrapped key: %v", err)
			}
			c, err := s.WrappedCustody(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			if c.Class != ClassWrapped || c.Token || !c.Sensitive || c.NeverExtractable || c.AlwaysSensitive ||
				c.Extractable != tc.exportable || c.Exportable != tc.exportable || c.Algorithm != tc.alg ||
				c.WrappedUnder != wrapKeyID || c.SealedUnder != kekID(1) || !strings.Contains(c.Note, "CKA_NEVER_EXTRACTABLE") ||
				len(c.Objects) != 0 || c.Modifiable {
				t.Fatalf("custody %+v", c)
			}
			want := []string{"CKM_ECDSA"}
			if tc.alg.IsRSA() {
				want = []string{"CKM_RSA_PKCS", "CKM_RSA_PKCS_OAEP", "CKM_RSA_PKCS_PSS", "CKM_RSA_X_509"}
			}
			if strings.Join(c.AllowedMechanisms, ",") != strings.Join(want, ",") {
				t.Fatalf("allowed mechanisms %v, want %v", c.AllowedMechanisms, want)
			}
		})
	}
	after, err := s.Info(ctx)
	if err != nil || after.KeyCount != before.KeyCount {
		t.Fatalf("token keys %d → %d (%v): wrapped keys left token objects", before.KeyCount, after.KeyCount, err)
	}
}

// TestWrappedKMSTokenRefusesWrap: the unwrapped object of a key created
// non-exportable is CKA_EXTRACTABLE=false, and the token itself refuses a
// real C_WrapKey of it; the object of an exportable key wraps.
func TestWrappedKMSTokenRefusesWrap(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	for _, exportable := range []bool{false, true} {
		k, err := s.GenerateWrappedKMS(ctx, GenerateRequest{ID: randomKMSID(), Algorithm: ECP256, Purpose: PurposeKMS, Exportable: exportable}, "acct")
		if err != nil {
			t.Fatal(err)
		}
		err = s.withUnwrapped(ctx, k, func(sh pkcs11.SessionHandle, h pkcs11.ObjectHandle) error {
			tk, err := s.ctx.GenerateKey(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, []*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY), pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
				pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32), pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
				pkcs11.NewAttribute(pkcs11.CKA_WRAP, true),
			})
			if err != nil {
				return err
			}
			defer s.ctx.DestroyObject(sh, tk)
			_, werr := s.ctx.WrapKey(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_WRAP_PAD, nil)}, tk, h)
			switch {
			case !exportable && !isCKR(werr, pkcs11.CKR_KEY_UNEXTRACTABLE):
				t.Errorf("C_WrapKey of a non-exportable key's unwrapped object: %v, want CKR_KEY_UNEXTRACTABLE", werr)
			case exportable && werr != nil:
				t.Errorf("C_WrapKey of an exportable key's unwrapped object: %v", werr)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestWrappedKMSBlobIsBound: the sealed blob opens only for its own
// account, key ID and exportability.
func TestWrappedKMSBlobIsBound(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	k, err := s.GenerateWrappedKMS(ctx, GenerateRequest{ID: randomKMSID(), Algorithm: ECP256, Purpose: PurposeKMS}, "acct")
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("x"))
	for name, edit := range map[string]func(*WrappedKMSKey){
		"another account": func(k *WrappedKMSKey) { k.Account = "other" },
		"another key ID":  func(k *WrappedKMSKey) { k.ID = randomKMSID() },
		"exportable flag": func(k *WrappedKMSKey) { k.Exportable = true },
		"an altered blob": func(k *WrappedKMSKey) { k.Blob = append([]byte{}, k.Blob...); k.Blob[len(k.Blob)-1] ^= 1 },
	} {
		moved := *k
		edit(&moved)
		signer, err := s.WrappedSigner(ctx, &moved)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256); !errors.Is(err, ErrSealedBlob) {
			t.Errorf("%s: sign answered %v, want ErrSealedBlob", name, err)
		}
		if _, err := s.ExportWrappedKMS(ctx, &moved); !errors.Is(err, ErrSealedBlob) {
			t.Errorf("%s: export answered %v, want ErrSealedBlob", name, err)
		}
	}
	if _, err := s.GenerateWrappedKMS(ctx, GenerateRequest{ID: randomKMSID(), Algorithm: SM2, Purpose: PurposeKMS}, "acct"); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("wrapped SM2: %v, want ErrUnsupported", err)
	}
}

// TestWrappedKMSCacheAndAudit: the LRU keeps at most UnwrappedKeys objects,
// a cached key signs without unwrapping again, every unwrap and use is
// reported to the observers, a session loss costs a fresh unwrap, and no
// use searches the token.
func TestWrappedKMSCacheAndAudit(t *testing.T) {
	s, tok := newStoreWith(t, func(c *Config) { c.UnwrappedKeys = 2 })
	ctx := context.Background()
	var (
		mu   sync.Mutex
		uses []KeyUse
	)
	s.Observe(func(_ context.Context, u KeyUse) {
		mu.Lock()
		uses = append(uses, u)
		mu.Unlock()
	})
	var keys []*WrappedKMSKey
	for range 3 {
		k, err := s.GenerateWrappedKMS(ctx, GenerateRequest{ID: randomKMSID(), Algorithm: ECP256, Purpose: PurposeKMS}, "acct")
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	digest := sha256.Sum256([]byte("lru"))
	sign := func(k *WrappedKMSKey) {
		t.Helper()
		signer, err := s.WrappedSigner(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil || !ecdsa.VerifyASN1(k.Public.(*ecdsa.PublicKey), digest[:], sig) {
			t.Fatalf("sign with %s: %v", k.ID, err)
		}
	}
	sign(keys[0]) // warms up the wrap key's handle
	finds := s.Stats().Finds
	for _, k := range keys {
		sign(k)
	}
	st := s.Stats()
	if st.UnwrappedKeys != 2 || st.Unwraps != 3 {
		t.Fatalf("cache holds %d, %d unwraps; want 2 and 3", st.UnwrappedKeys, st.Unwraps)
	}
	sign(keys[2]) // most recent: cached
	if got := s.Stats().Unwraps; got != 3 {
		t.Fatalf("a cached key was unwrapped again (%d unwraps)", got)
	}
	sign(keys[0]) // evicted: unwrapped again
	if got := s.Stats().Unwraps; got != 4 {
		t.Fatalf("unwraps %d, want 4", got)
	}
	if got := s.Stats().Finds; got != finds {
		t.Fatalf("wrapped-key uses made %d finds", got-finds)
	}
	mu.Lock()
	var unwraps, unseals, signs int
	for _, u := range uses {
		switch {
		case u.Op == OpUnwrap && u.Err == nil && u.Mechanism == mechAESWrapPad:
			unwraps++
		case u.Op == OpUnseal && u.Err == nil:
			unseals++
		case u.Op == OpSign && u.Err == nil && u.Mechanism == "CKM_ECDSA":
			signs++
		}
	}
	mu.Unlock()
	if unwraps != 4 || unseals != 4 || signs != 6 {
		t.Fatalf("observed %d unwraps, %d unseals, %d signs; want 4, 4, 6", unwraps, unseals, signs)
	}
	raw := openRaw(t, tok)
	if err := raw.ctx.CloseAllSessions(tok.Slot); err != nil {
		t.Fatal(err)
	}
	sign(keys[0])
	if st := s.Stats(); st.Unwraps != 5 || st.UnwrappedKeys != 1 {
		t.Fatalf("after a session loss: %d unwraps, %d cached; want 5 and 1", st.Unwraps, st.UnwrappedKeys)
	}
	s.ForgetWrapped(ctx, keys[0].ID)
	if got := s.Stats().UnwrappedKeys; got != 0 {
		t.Fatalf("ForgetWrapped left %d cached", got)
	}
}

// TestWrappedKMSConcurrentUse: many goroutines sign with more keys than the
// cache holds (run with -race): eviction never destroys an object in use.
func TestWrappedKMSConcurrentUse(t *testing.T) {
	s, _ := newStoreWith(t, func(c *Config) { c.UnwrappedKeys = 2 })
	ctx := context.Background()
	var keys []*WrappedKMSKey
	for range 5 {
		k, err := s.GenerateWrappedKMS(ctx, GenerateRequest{ID: randomKMSID(), Algorithm: ECP256, Purpose: PurposeKMS}, "acct")
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	digest := sha256.Sum256([]byte("concurrent"))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				k := keys[(g+i)%len(keys)]
				signer, err := s.WrappedSigner(ctx, k)
				if err == nil {
					var sig []byte
					if sig, err = signer.Sign(rand.Reader, digest[:], crypto.SHA256); err == nil && !ecdsa.VerifyASN1(k.Public.(*ecdsa.PublicKey), digest[:], sig) {
						err = errors.New("bad signature")
					}
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if got := s.Stats().UnwrappedKeys; got > 2 {
		t.Fatalf("cache holds %d, bound 2", got)
	}
}
