package certmgr

import (
	"context"
	"testing"
)

// BenchmarkCreateCertificate times CreateCertificate in process (SQLite
// WAL, synchronous=FULL, group commit, SoftHSM) from 4 goroutines, with
// the key claimed from a pool filled beforehand (b.N keys, no refill
// running) and generated on demand. Run with a fixed count, the pool is
// filled before the timer starts:
//
//	go test -run '^$' -bench CreateCertificate -benchtime 200x -cpu 4 ./certmgr
func BenchmarkCreateCertificate(b *testing.B) {
	for _, spec := range []string{"EC_P256", "RSA_2048"} {
		for _, pooled := range []bool{true, false} {
			name := spec + "/on-demand"
			if pooled {
				name = spec + "/pooled"
			}
			b.Run(name, func(b *testing.B) {
				ps := PoolSpec{KeySpec: spec, Exportable: true}
				sizes := map[PoolSpec]int{}
				if pooled {
					sizes[ps] = b.N
				}
				zero := 0
				m, c, _, _ := newManagerWith(b, Config{KeyPool: sizes, MaxTokenKeysPerAccount: &zero})
				if _, err := m.RefillKeyPool(context.Background()); err != nil {
					b.Fatal(err)
				}
				req := CreateCertificateRequest{KeySpec: spec, Subject: "CN=bench,OU=load,O=certcustody,C=CN"}
				b.SetParallelism(1) // with -cpu 4: 4 goroutines
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						ctx, j := m.StartAudit(context.Background(), "bench", "127.0.0.1")
						j.SetCaller(c, "2016-01-20/CreateCertificate", "")
						if _, err := m.CreateCertificate(ctx, c, req); err != nil {
							b.Error(err)
						}
						if _, err := j.Finish(ctx, "OK"); err != nil {
							b.Error(err)
						}
					}
				})
				b.StopTimer()
				if st := m.KeyPoolStats(); pooled && st.OnDemand != 0 {
					b.Fatalf("the pool ran dry: %+v", st)
				}
			})
		}
	}
}
