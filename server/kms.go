package server

import (
	"context"

	"github.com/certcustody/certcustody/certmgr"
)

// KMS is what the KMS handlers need from certmgr.
type KMS interface {
	CreateCertificate(ctx context.Context, c certmgr.Caller, r certmgr.CreateCertificateRequest) (*certmgr.CreateCertificateResult, error)
	UploadCertificate(ctx context.Context, c certmgr.Caller, r certmgr.UploadCertificateRequest) error
	GetCertificate(ctx context.Context, c certmgr.Caller, id string) (*certmgr.GetCertificateResult, error)
	DescribeCertificate(ctx context.Context, c certmgr.Caller, id string) (*certmgr.CertificateDescription, error)
	UpdateCertificateStatus(ctx context.Context, c certmgr.Caller, id, status string) error
	DeleteCertificate(ctx context.Context, c certmgr.Caller, id string) error
	ListCertificates(ctx context.Context, c certmgr.Caller, page, size int) (*certmgr.CertificateList, error)
	ExportCertificate(ctx context.Context, c certmgr.Caller, id, password string) (string, error)
	CertificatePrivateKeySign(ctx context.Context, c certmgr.Caller, r certmgr.SignRequest) (string, error)
	CertificatePublicKeyVerify(ctx context.Context, c certmgr.Caller, r certmgr.SignRequest) (bool, error)
	CertificatePublicKeyEncrypt(ctx context.Context, c certmgr.Caller, r certmgr.EncryptRequest) (string, error)
	CertificatePrivateKeyDecrypt(ctx context.Context, c certmgr.Caller, r certmgr.EncryptRequest) (string, error)
}

const kmsVersion = "2016-01-20"

// kmsActions maps each KMS action to its handler: parse, call certmgr,
// shape the result as the cloud API does.
func kmsActions(k KMS) map[string]handler {
	return map[string]handler{
		"CreateCertificate": func(ctx context.Context, c certmgr.Caller, p Params) (any, error) {
			exp, err := optionalBool(p, "ExportablePrivateKey")
			if err != nil {
				return nil, err
			}
			return k.CreateCertificate(ctx, c, certmgr.CreateCertificateRequest{
				KeySpec: p.Get("KeySpec"), Subject: p.Get("Subject"),
				SubjectAlternativeNames: p.Get("SubjectAlternativeNames"), ExportablePrivateKey: exp,
			})
		},
		"UploadCertificate": func(ctx context.Context, c certmgr.Caller, p Params) (any, error) {
			return struct{}{}, k.UploadCertificate(ctx, c, certmgr.UploadCertificateRequest{
				CertificateID: p.Get("CertificateId"), Certificate: p.Get("Certificate"), CertificateChain: p.Get("CertificateChain"),
			})
		},
		"GetCertificate": func(ctx context.Context, c certmgr.Caller, p Params) (any, error) {
			return k.GetCertificate(ctx, c, p.Get("CertificateId"))
		},
		"DescribeCertificate": func(ctx context.Context, c certmgr.Caller, p Params) (any, error) {
			return k.DescribeCertificate(ctx, c, p.Get("CertificateId"))
		},
		"UpdateCertificateStatus": func(ctx context.Context, c certmgr.Caller, p Params) (any, error) {
			return struct{}{}, k.UpdateCertificateStatus(ctx, c, p.Get("CertificateId"), p.Get("Status"))
		},
		"DeleteCertificate": func(ctx context.Context, c certmgr.Caller, p Params) (any, error) {
			return struct{}{}, k.DeleteCertificate(ctx, c, p.Get("CertificateId"))
		},
		"ListCertificates": func(ctx context.Context, c certmgr.Caller, p Params) (any, error) {
			page, err := p.Int("PageNumber", 1)
			if err != nil {
				return nil, err
			}
			size, err := p.Int("PageSize", 20)
			if err != nil {
				return nil, err
			}
			return k.ListCertificates(ctx, c, page, size)
		},
		"ExportCertificate": func(ctx context.Context, c certmgr.Caller, p Params) (any, error) {
			pfx, err := k.ExportCertificate(ctx, c, p.Get("CertificateId"), p.Get("Password"))
			return map[string]any{"CertificateId": p.Get("CertificateId"), "Pkcs12": pfx}, err
		},
		"CertificatePrivateKeySign": func(ctx context.Context, c certmgr.Caller, p Params) (any, error) {
			sig, err := k.CertificatePrivateKeySign(ctx, c, signRequest(p))
			return map[string]any{"CertificateId": p.Get("CertificateId"), "SignatureValue": sig}, err
		},
		"CertificatePublicKeyVerify": func(ctx context.Context, c certmgr.Caller, p Params) (any, error) {
			ok, err := k.CertificatePublicKeyVerify(ctx, c, signRequest(p))
			return map[string]any{"CertificateId": p.Get("CertificateId"), "SignatureValid": ok}, err
		},
		"CertificatePublicKeyEncrypt": func(ctx context.Context, c certmgr.Caller, p Params) (any, error) {
			ct, err := k.CertificatePublicKeyEncrypt(ctx, c, encryptRequest(p))
			return map[string]any{"CertificateId": p.Get("CertificateId"), "CiphertextBlob": ct}, err
		},
		"CertificatePrivateKeyDecrypt": func(ctx context.Context, c certmgr.Caller, p Params) (any, error) {
			pt, err := k.CertificatePrivateKeyDecrypt(ctx, c, encryptRequest(p))
			return map[string]any{"CertificateId": p.Get("CertificateId"), "Plaintext": pt}, err
		},
	}
}

func signRequest(p Params) certmgr.SignRequest {
	return certmgr.SignRequest{CertificateID: p.Get("CertificateId"), Algorithm: p.Get("Algorithm"), Message: p.Get("Message"),
		MessageType: p.Get("MessageType"), SignatureValue: p.Get("SignatureValue")}
}

func encryptRequest(p Params) certmgr.EncryptRequest {
	return certmgr.EncryptRequest{CertificateID: p.Get("CertificateId"), Algorithm: p.Get("Algorithm"),
		Plaintext: p.Get("Plaintext"), CiphertextBlob: p.Get("CiphertextBlob")}
}

// optionalBool reads a true/false parameter that may be absent.
func optionalBool(p Params, name string) (*bool, error) {
	v, ok := p[name]
	if !ok || v == "" {
		return nil, nil
	}
	b, err := p.Bool(name, false)
	if err != nil {
		return nil, err
	}
	return &b, nil
}
