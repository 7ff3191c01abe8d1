package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// servedBinary is the built binary serving an embedded default on a free
// loopback port, as an operator runs it.
type servedBinary struct {
	bin, dataDir, addr string
	cmd                *exec.Cmd
	logs               *lockedLog
	// exited yields the process's exit once; whoever takes it must call
	// reaped so that the cleanup does not wait for it again.
	exited chan error
	done   bool
}

// reaped tells the cleanup that the test took the process's exit.
func (s *servedBinary) reaped() { s.done = true }

// serveBinary writes config (YAML, may be empty) into a new data
// directory, starts `certcustody serve` on it and waits until it is
// ready. The process is killed at the end of the test unless the test
// reaped it.
func serveBinary(t *testing.T, config string) *servedBinary {
	t.Helper()
	s := &servedBinary{bin: buildBinary(t), dataDir: filepath.Join(t.TempDir(), "data"), addr: freeAddr(t), logs: &lockedLog{}, exited: make(chan error, 1)}
	if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if config != "" {
		if err := os.WriteFile(filepath.Join(s.dataDir, "config.yaml"), []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s.cmd = exec.Command(s.bin, "--data-dir", s.dataDir, "serve", "--listen", s.addr)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.exited <- s.cmd.Wait() }()
	t.Cleanup(func() {
		if !s.done {
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	})
	waitReady(t, "http://"+s.addr)
	return s
}
