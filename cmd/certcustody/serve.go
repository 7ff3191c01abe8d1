package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/certcustody/certcustody/certmgr"
	"github.com/certcustody/certcustody/server"
	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"golang.org/x/time/rate"
)

func newServeCmd(g *globalFlags) *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the API server (with no flags: the embedded default on 127.0.0.1:8080)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), g, listen)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "", "address to listen on (default 127.0.0.1:8080)")
	return cmd
}

func serve(ctx context.Context, g *globalFlags, listen string) error {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	// certmgr logs (audit warnings) through the default logger.
	slog.SetDefault(log)
	if err := checkDataDirPrivate(g.dataDir); err != nil {
		return err
	}
	if listen != "" {
		withListen := *g
		withListen.listen = listen
		g = &withListen
	}
	a, err := openApp(ctx, g)
	if err != nil {
		return err
	}
	defer a.Close()
	ak, err := a.ensureBootstrap(ctx)
	if err != nil {
		return err
	}
	if ak != nil {
		fmt.Fprintln(os.Stderr, "Bootstrap credentials (shown once; also in", g.dataDir+"/"+bootstrapFileName+"):")
		if err := printJSON(ak); err != nil {
			return err
		}
	}
	if err := a.pinAuditKey(ctx); err != nil {
		return err
	}
	sweepOrphans(ctx, a, log) // keys left by a kill before their row committed
	allowV1 := a.cfg.Auth.AllowV1 == nil || *a.cfg.Auth.AllowV1
	proxies, err := server.ParseTrustedProxies(a.cfg.TrustedProxies) // validated by loadConfig
	if err != nil {
		return err
	}
	var certs *certSource
	var tlsCfg *tls.Config
	if a.cfg.TLS.enabled() {
		if certs, err = newCertSource(a); err != nil {
			return err
		}
		if tlsCfg, err = serverTLSConfig(&a.cfg.TLS, certs); err != nil {
			return err
		}
	}
	th := &server.Throttle{Rate: rate.Limit(a.cfg.Throttle.QPS), Burst: a.cfg.Throttle.QPS, ByAction: a.cfg.Throttle.ByAction}
	// Every node registers with a heartbeat and enforces its share of the
	// per-user rates (with SQLite there is one node).
	nodeID := uuid.NewString()
	heartbeat(ctx, a, th, nodeID, log)
	srv := server.New(server.Config{
		KMS: a.mgr, PrivateCA: a.mgr, Principals: a.mgr, Nonces: a.mgr, Custody: string(a.mode),
		AllowV1: allowV1, Region: a.cfg.Region, Logger: log,
		Throttle:       th,
		TokenStats:     a.keys.Stats,
		KeyPool:        a.mgr.KeyPoolStats,
		GroupCommits:   a.db.GroupStats,
		Auditor:        a.mgr,
		ClientTokens:   a.mgr,
		TrustedProxies: proxies,
		Transport:      transportOf(a.cfg),
		Ready: func(ctx context.Context) error {
			if err := a.db.Ping(ctx); err != nil {
				return err
			}
			// O(1) on the persistent session: a probe never walks the
			// token's objects or takes a session from signing.
			return a.keys.Ping(ctx)
		},
	})
	stopPprof, err := startPprof(log)
	if err != nil {
		return err
	}
	defer stopPprof()
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler(), TLSConfig: tlsCfg, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}
	log.Info("listening", "addr", ln.Addr().String(), "transport", transportOf(a.cfg), "custody", string(a.mode), "data_dir", g.dataDir)
	if certs != nil {
		logCertificate(log, "TLS certificate", certs.leaf())
	}
	if transportOf(a.cfg) == server.TransportPlaintext {
		log.Warn(server.PlaintextWarning, "addr", ln.Addr().String())
	}
	if a.mode == custodyDevelopment {
		log.Warn("development custody: the token PIN is stored in the data directory; whoever reads it holds every key")
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// SIGHUP reloads the TLS certificate; handled always, so that a HUP
	// never kills a server that has nothing to reload.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	errc := make(chan error, 1)
	go func() {
		if tlsCfg != nil {
			errc <- hs.ServeTLS(ln, "", "") // the certificate comes from GetCertificate
			return
		}
		errc <- hs.Serve(ln)
	}()
	// The key pool's one refill worker; it stops (finishing the key it is
	// generating) before the database closes.
	poolCtx, stopPool := context.WithCancel(context.WithoutCancel(ctx))
	poolDone := make(chan struct{})
	go func() {
		defer close(poolDone)
		a.mgr.RunKeyPool(poolCtx)
	}()
	defer func() {
		stopPool()
		<-poolDone
	}()
	tick := time.NewTicker(auditSignEvery)
	defer tick.Stop()
	sweepTick := time.NewTicker(certmgr.SweepEvery)
	defer sweepTick.Stop()
	beat := time.NewTicker(heartbeatEvery)
	defer beat.Stop()
	for running := true; running; {
		select {
		case err := <-errc:
			return err
		case <-tick.C:
			signAuditHead(ctx, a, log)
		case <-sweepTick.C:
			sweepOrphans(ctx, a, log)
		case <-beat.C:
			heartbeat(ctx, a, th, nodeID, log)
		case <-hup:
			reloadCertificate(certs, log)
		case <-ctx.Done():
			running = false
		}
	}
	log.Info("shutting down: finishing requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	stopPool()
	<-poolDone
	if len(a.mgr.KeyPoolSizes()) > 0 {
		st := a.mgr.KeyPoolStats()
		log.Info("key pool", "claimed", st.Claimed, "generated_on_demand", st.OnDemand, "refilled", st.Added)
	}
	signAuditHead(sctx, a, log)
	if err := a.db.LeaveCluster(sctx, nodeID); err != nil {
		log.Error("cluster: cannot leave", "err", err)
	}
	return nil
}

// reloadCertificate re-reads the TLS certificate on SIGHUP; a bad file
// leaves the one in use.
func reloadCertificate(certs *certSource, log *slog.Logger) {
	if certs == nil {
		log.Info("SIGHUP: TLS is off; nothing to reload")
		return
	}
	if err := certs.load(); err != nil {
		log.Error("SIGHUP: TLS certificate not reloaded; the previous one stays in use", "err", err)
		return
	}
	logCertificate(log, "TLS certificate reloaded", certs.leaf())
}

// auditSignEvery bounds how long audit records stay after the last signed
// checkpoint when traffic is too low to reach the next hundred.
const auditSignEvery = time.Minute

// signAuditHead signs the audit log's newest record if no checkpoint covers
// it yet.
func signAuditHead(ctx context.Context, a *app, log *slog.Logger) {
	cp, err := a.mgr.SignAuditHead(ctx)
	switch {
	case err != nil:
		log.Error("audit: cannot sign the log's head", "err", err)
	case cp != nil:
		log.Info("audit checkpoint", "seq", cp.Seq, "head_hash", cp.HeadHash)
	}
}

// sweepOrphans destroys token keys no row references (see
// certmgr.SweepOrphanKeys); a failure is logged and retried next hour.
func sweepOrphans(ctx context.Context, a *app, log *slog.Logger) {
	n, err := a.mgr.SweepOrphanKeys(ctx)
	switch {
	case err != nil:
		log.Error("orphan token-key sweep failed", "err", err, "destroyed", n)
	case n > 0:
		log.Info("orphan token keys destroyed", "count", n)
	}
}
