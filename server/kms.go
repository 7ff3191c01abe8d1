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
	TagResource(ctx context.Context, c certmgr.Caller, r certmgr.KMSTagResourceRequest) (*certmgr.Done, error)
	UntagResource(ctx context.Context, c certmgr.Caller, r certmgr.KMSUntagResourceRequest) (*certmgr.Done, error)
	ListResourceTags(ctx context.Context, c certmgr.Caller, certificateID string) (*certmgr.KMSResourceTags, error)
}

const kmsVersion = "2016-01-20"

// kmsActions maps each KMS action to its binder: parse once, authorize on
// the parsed request's resources, call certmgr with that same request.
func kmsActions(k KMS) map[string]binder {
	byID := oneOf("CertificateId")
	return map[string]binder{
		"CreateCertificate": op(createCertificateRequest, func(ctx context.Context, c certmgr.Caller, r certmgr.CreateCertificateRequest) (any, error) {
			return k.CreateCertificate(ctx, c, r)
		}),
		"UploadCertificate": op(uploadRequest, func(ctx context.Context, c certmgr.Caller, r certmgr.UploadCertificateRequest) (any, error) {
			return struct{}{}, k.UploadCertificate(ctx, c, r)
		}),
		"GetCertificate": op(byID, func(ctx context.Context, c certmgr.Caller, r one) (any, error) {
			return k.GetCertificate(ctx, c, r.ID)
		}),
		"DescribeCertificate": op(byID, func(ctx context.Context, c certmgr.Caller, r one) (any, error) {
			return k.DescribeCertificate(ctx, c, r.ID)
		}),
		"UpdateCertificateStatus": op(statusRequest("CertificateId"), func(ctx context.Context, c certmgr.Caller, r withStatus) (any, error) {
			return struct{}{}, k.UpdateCertificateStatus(ctx, c, r.ID, r.Status)
		}),
		"DeleteCertificate": op(byID, func(ctx context.Context, c certmgr.Caller, r one) (any, error) {
			return struct{}{}, k.DeleteCertificate(ctx, c, r.ID)
		}),
		"ListCertificates": op(kmsPage, func(ctx context.Context, c certmgr.Caller, r page) (any, error) {
			return k.ListCertificates(ctx, c, r.Number, r.Size)
		}),
		"ExportCertificate": op(exportRequest, func(ctx context.Context, c certmgr.Caller, r withSecret) (any, error) {
			pfx, err := k.ExportCertificate(ctx, c, r.ID, r.Secret)
			return map[string]any{"CertificateId": r.ID, "Pkcs12": pfx}, err
		}),
		"CertificatePrivateKeySign": op(signRequest, func(ctx context.Context, c certmgr.Caller, r certmgr.SignRequest) (any, error) {
			sig, err := k.CertificatePrivateKeySign(ctx, c, r)
			return map[string]any{"CertificateId": r.CertificateID, "SignatureValue": sig}, err
		}),
		"CertificatePublicKeyVerify": op(signRequest, func(ctx context.Context, c certmgr.Caller, r certmgr.SignRequest) (any, error) {
			ok, err := k.CertificatePublicKeyVerify(ctx, c, r)
			return map[string]any{"CertificateId": r.CertificateID, "SignatureValid": ok}, err
		}),
		"CertificatePublicKeyEncrypt": op(encryptRequest, func(ctx context.Context, c certmgr.Caller, r certmgr.EncryptRequest) (any, error) {
			ct, err := k.CertificatePublicKeyEncrypt(ctx, c, r)
			return map[string]any{"CertificateId": r.CertificateID, "CiphertextBlob": ct}, err
		}),
		"TagResource": op(kmsTagRequest, func(ctx context.Context, c certmgr.Caller, r certmgr.KMSTagResourceRequest) (any, error) {
			return k.TagResource(ctx, c, r)
		}),
		"UntagResource": op(kmsUntagRequest, func(ctx context.Context, c certmgr.Caller, r certmgr.KMSUntagResourceRequest) (any, error) {
			return k.UntagResource(ctx, c, r)
		}),
		"ListResourceTags": op(byID, func(ctx context.Context, c certmgr.Caller, r one) (any, error) {
			return k.ListResourceTags(ctx, c, r.ID)
		}),
		"CertificatePrivateKeyDecrypt": op(encryptRequest, func(ctx context.Context, c certmgr.Caller, r certmgr.EncryptRequest) (any, error) {
			pt, err := k.CertificatePrivateKeyDecrypt(ctx, c, r)
			return map[string]any{"CertificateId": r.CertificateID, "Plaintext": pt}, err
		}),
	}
}

func createCertificateRequest(p Params) (certmgr.CreateCertificateRequest, error) {
	exp, err := optionalBool(p, "ExportablePrivateKey")
	return certmgr.CreateCertificateRequest{KeySpec: p.Get("KeySpec"), Subject: p.Get("Subject"),
		SubjectAlternativeNames: p.Get("SubjectAlternativeNames"), ExportablePrivateKey: exp}, err
}

// KMS tag actions act on certificates only: a KeyId or SecretName (the
// cloud's other taggable kinds) names nothing here.
func kmsTagRequest(p Params) (certmgr.KMSTagResourceRequest, error) {
	id, err := identifier(p, "CertificateId", true)
	return certmgr.KMSTagResourceRequest{CertificateID: id, Tags: p.Get("Tags")}, err
}

func kmsUntagRequest(p Params) (certmgr.KMSUntagResourceRequest, error) {
	id, err := identifier(p, "CertificateId", true)
	return certmgr.KMSUntagResourceRequest{CertificateID: id, TagKeys: p.Get("TagKeys")}, err
}

func uploadRequest(p Params) (certmgr.UploadCertificateRequest, error) {
	id, err := identifier(p, "CertificateId", true)
	return certmgr.UploadCertificateRequest{CertificateID: id, Certificate: p.Get("Certificate"), CertificateChain: p.Get("CertificateChain")}, err
}

// withStatus names one resource and the status to move it to.
type withStatus struct {
	one
	Status string
}

func statusRequest(name string) func(Params) (withStatus, error) {
	return func(p Params) (withStatus, error) {
		id, err := identifier(p, name, true)
		return withStatus{one{id}, p.Get("Status")}, err
	}
}

// withSecret names one resource and a caller-chosen password. The
// password is kept out of every log and record.
type withSecret struct {
	one
	Secret string
}

func exportRequest(p Params) (withSecret, error) {
	id, err := identifier(p, "CertificateId", true)
	return withSecret{one{id}, p.Get("Password")}, err
}

// page is a listing's page number and size.
type page struct {
	account
	Number, Size int
}

func kmsPage(p Params) (page, error) { return pageOf(p, "PageNumber", "PageSize") }

func pageOf(p Params, number, size string) (page, error) {
	n, err := p.Int(number, 1)
	if err != nil {
		return page{}, err
	}
	s, err := p.Int(size, 20)
	return page{Number: n, Size: s}, err
}

func signRequest(p Params) (certmgr.SignRequest, error) {
	id, err := identifier(p, "CertificateId", true)
	return certmgr.SignRequest{CertificateID: id, Algorithm: p.Get("Algorithm"), Message: p.Get("Message"),
		MessageType: p.Get("MessageType"), SignatureValue: p.Get("SignatureValue")}, err
}

func encryptRequest(p Params) (certmgr.EncryptRequest, error) {
	id, err := identifier(p, "CertificateId", true)
	return certmgr.EncryptRequest{CertificateID: id, Algorithm: p.Get("Algorithm"),
		Plaintext: p.Get("Plaintext"), CiphertextBlob: p.Get("CiphertextBlob")}, err
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
