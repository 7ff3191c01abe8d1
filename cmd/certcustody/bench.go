package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/certcustody/certcustody/csrgen"
	"github.com/spf13/cobra"
)

// benchResult is what the load command prints for one scenario.
type benchResult struct {
	Scenario   string  `json:"Scenario"`
	Clients    int     `json:"Clients"`
	Requests   int     `json:"Requests"`
	Errors     int     `json:"Errors"`
	Seconds    float64 `json:"Seconds"`
	Throughput float64 `json:"RequestsPerSecond"`
	P50ms      float64 `json:"P50Millis"`
	P99ms      float64 `json:"P99Millis"`
	Cores      int     `json:"ClientCores"`
	// Endpoints is how many servers the clients were spread over (client
	// i calls endpoint i mod Endpoints).
	Endpoints int `json:"Endpoints"`
	// ServerCPUms is the servers' CPU time per successful request, summed
	// over the endpoints' /metrics (0 when one does not expose it).
	// Everything else the servers did meanwhile counts too: run one load
	// at a time.
	ServerCPUms float64 `json:"ServerCPUMillisPerOp"`
	// CommitBatch is the servers' mean group-commit batch during the load
	// (writes per shared transaction), and CommitterBusy the share of the
	// load's time their committers spent in transactions, averaged over
	// the endpoints: a committer near 1 is what limits the write rate.
	// Both 0 when a server does not expose them.
	CommitBatch   float64 `json:"CommitBatch"`
	CommitterBusy float64 `json:"CommitterBusy"`
	// FirstError is the first failed request's error, if any.
	FirstError string `json:"FirstError,omitempty"`
}

var benchScenarios = []string{"create-ec", "create-rsa", "sign-rsa", "sign-ec", "issue-csr-ec", "issue-csr-rsa", "get"}

func newBenchCmd(g *globalFlags) *cobra.Command {
	var endpoints []string
	var caFile string
	var clients, maxRequests int
	var duration time.Duration
	var scenarios []string
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load a running server with N concurrent signed clients; prints throughput and p50/p99 latency",
		Long: "Scenarios: create-ec and create-rsa (CreateCertificate EC_P256 / RSA_2048), sign-rsa and sign-ec\n" +
			"(CertificatePrivateKeySign on an ACTIVE certificate the command sets up first), issue-csr-ec and\n" +
			"issue-csr-rsa (CreateServerCertificateWithCsr from a sub CA it creates), get (GetCertificate: an audited\n" +
			"call that uses no token key, the floor under the others). Each scenario runs for\n" +
			"--duration or --max-requests, whichever ends first. Certificates it creates are deleted afterwards.\n" +
			"Several --endpoint values (nodes of one cluster) share the clients round-robin; set-up and clean-up\n" +
			"go through the first.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, secret, err := callCredentials(g)
			if err != nil {
				return err
			}
			var cs []*apiClient
			for _, e := range endpoints {
				c := newAPIClient(e, id, secret)
				if err := c.trustCA(caFile); err != nil {
					return err
				}
				cs = append(cs, c)
			}
			for _, s := range scenarios {
				if !slices.Contains(benchScenarios, s) {
					return fmt.Errorf("unknown scenario %q (have %v)", s, benchScenarios)
				}
				r, err := runScenario(cmd.Context(), cs, s, clients, duration, maxRequests)
				if err != nil {
					return err
				}
				if err := printJSON(r); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&endpoints, "endpoint", []string{"http://127.0.0.1:8080"}, "server URL (https://... with --ca-file for TLS; connections are kept alive); several, comma-separated or repeated, for the nodes of a cluster")
	cmd.Flags().StringVar(&caFile, "ca-file", "", "PEM CA bundle that verifies an https endpoint")
	cmd.Flags().IntVar(&clients, "clients", 2*runtime.GOMAXPROCS(0), "concurrent clients")
	cmd.Flags().DurationVar(&duration, "duration", 10*time.Second, "how long each scenario runs")
	cmd.Flags().IntVar(&maxRequests, "max-requests", 100000, "upper bound on requests per scenario")
	cmd.Flags().StringSliceVar(&scenarios, "scenario", []string{"sign-rsa"}, "scenarios to run: "+fmt.Sprint(benchScenarios))
	return cmd
}

func runScenario(ctx context.Context, cs []*apiClient, scenario string, clients int, duration time.Duration, maxRequests int) (*benchResult, error) {
	c := cs[0] // set-up and clean-up
	var op func(c *apiClient) error
	var cleanup []string
	var mu sync.Mutex
	switch scenario {
	case "create-ec", "create-rsa":
		spec := map[string]string{"create-ec": "EC_P256", "create-rsa": "RSA_2048"}[scenario]
		op = func(c *apiClient) error {
			out, err := c.doJSON("CreateCertificate", "2016-01-20", map[string]string{"KeySpec": spec, "Subject": "CN=bench,OU=load,O=certcustody,C=CN"})
			if err == nil {
				mu.Lock()
				cleanup = append(cleanup, fmt.Sprint(out["CertificateId"]))
				mu.Unlock()
			}
			return err
		}
	case "issue-csr-ec", "issue-csr-rsa":
		alg := map[string]string{"issue-csr-ec": "ECC_256", "issue-csr-rsa": "RSA_2048"}[scenario]
		sub, csr, err := issuingCA(c, alg)
		if err != nil {
			return nil, err
		}
		op = func(c *apiClient) error {
			_, err := c.doJSON("CreateServerCertificateWithCsr", "2020-06-30", map[string]string{"ParentIdentifier": sub, "Csr": csr, "Domain": "bench.example.com", "Days": "30"})
			return err
		}
	case "get":
		// An authenticated, audited read that uses no token key: the
		// floor under every other scenario (signature check, nonce, the
		// call's audit record committed before the answer, HTTP).
		out, err := c.doJSON("CreateCertificate", "2016-01-20", map[string]string{"KeySpec": "EC_P256", "Subject": "CN=bench,OU=load,O=certcustody,C=CN"})
		if err != nil {
			return nil, err
		}
		id := fmt.Sprint(out["CertificateId"])
		cleanup = append(cleanup, id)
		op = func(c *apiClient) error {
			_, err := c.doJSON("GetCertificate", "2016-01-20", map[string]string{"CertificateId": id})
			return err
		}
	case "sign-rsa", "sign-ec":
		spec, alg := "RSA_2048", "RSA_PKCS1_SHA_256"
		if scenario == "sign-ec" {
			spec, alg = "EC_P256", "ECDSA_SHA_256"
		}
		id, err := activeCertificate(c, spec)
		if err != nil {
			return nil, err
		}
		cleanup = append(cleanup, id)
		digest := sha256.Sum256([]byte("certcustody bench"))
		msg := base64.StdEncoding.EncodeToString(digest[:])
		op = func(c *apiClient) error {
			_, err := c.doJSON("CertificatePrivateKeySign", "2016-01-20", map[string]string{"CertificateId": id, "Algorithm": alg, "Message": msg, "MessageType": "DIGEST"})
			return err
		}
	}
	lat := make([][]time.Duration, clients)
	errs := make([]int, clients)
	var issued sync.WaitGroup
	deadline := time.Now().Add(duration)
	budget := make(chan struct{}, maxRequests)
	for range maxRequests {
		budget <- struct{}{}
	}
	close(budget)
	var firstErr atomic.Pointer[error]
	before := serversMetrics(cs)
	start := time.Now()
	for i := range clients {
		issued.Add(1)
		go func() {
			defer issued.Done()
			c := cs[i%len(cs)]
			for range budget {
				if time.Now().After(deadline) || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				if err := op(c); err != nil {
					errs[i]++
					firstErr.CompareAndSwap(nil, &err)
					continue
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		}()
	}
	issued.Wait()
	elapsed := time.Since(start)
	after := serversMetrics(cs)
	var all []time.Duration
	nerr := 0
	for i := range clients {
		all = append(all, lat[i]...)
		nerr += errs[i]
	}
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000
	}
	for _, id := range cleanup {
		_, _ = c.doJSON("DeleteCertificate", "2016-01-20", map[string]string{"CertificateId": id})
	}
	res := &benchResult{Scenario: scenario, Clients: clients, Requests: len(all), Errors: nerr, Seconds: elapsed.Seconds(),
		Throughput: float64(len(all)) / elapsed.Seconds(), P50ms: pct(0.50), P99ms: pct(0.99), Cores: runtime.NumCPU(), Endpoints: len(cs),
		ServerCPUms: cpuPerOp(before, after, len(all))}
	res.CommitBatch, res.CommitterBusy = groupCommits(before, after, elapsed, len(cs))
	if e := firstErr.Load(); e != nil {
		res.FirstError = (*e).Error()
	}
	return res, nil
}

// activeCertificate creates a certificate and uploads a certificate for it
// from a throwaway CA, so that it can sign.
func activeCertificate(c *apiClient, spec string) (string, error) {
	out, err := c.doJSON("CreateCertificate", "2016-01-20", map[string]string{"KeySpec": spec, "Subject": "CN=bench,OU=load,O=certcustody,C=CN"})
	if err != nil {
		return "", err
	}
	id := fmt.Sprint(out["CertificateId"])
	csr, err := csrgen.ParseCSR([]byte(fmt.Sprint(out["Csr"])))
	if err != nil {
		return "", err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench CA"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return "", err
	}
	ca, _ := x509.ParseCertificate(caDER)
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "bench"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(12 * time.Hour)}, ca, csr.PublicKey, caKey)
	if err != nil {
		return "", err
	}
	pemOf := func(der []byte) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	}
	_, err = c.doJSON("UploadCertificate", "2016-01-20", map[string]string{"CertificateId": id, "Certificate": pemOf(leafDER), "CertificateChain": pemOf(caDER)})
	return id, err
}

// issuingCA creates a root and a subordinate CA of the given algorithm and
// a CSR (P-256 or RSA-2048 key of the load generator's own) to issue for.
func issuingCA(c *apiClient, alg string) (string, string, error) {
	subject := map[string]string{"Organization": "certcustody", "OrganizationUnit": "bench", "Locality": "Hangzhou", "State": "Zhejiang", "CountryCode": "CN", "Algorithm": alg}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range subject {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	root, err := c.doJSON("CreateRootCACertificate", "2020-06-30", with("CommonName", "bench root", "Years", "5"))
	if err != nil {
		return "", "", err
	}
	sub, err := c.doJSON("CreateSubCACertificate", "2020-06-30", with("CommonName", "bench issuing", "Years", "2", "ParentIdentifier", fmt.Sprint(root["Identifier"])))
	if err != nil {
		return "", "", err
	}
	var key crypto.Signer
	if alg == "RSA_2048" {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		return "", "", err
	}
	dn, err := csrgen.ParseDN("CN=bench.example.com,O=certcustody,C=CN")
	if err != nil {
		return "", "", err
	}
	der, err := csrgen.CreateCSR(rand.Reader, csrgen.Request{Subject: dn}, key)
	if err != nil {
		return "", "", err
	}
	return fmt.Sprint(sub["Identifier"]), csrgen.EncodeCSRPEM(der), nil
}
