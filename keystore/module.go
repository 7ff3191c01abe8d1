package keystore

import (
	"fmt"
	"sync"

	"github.com/miekg/pkcs11"
)

// A PKCS#11 module may be initialised once per process, so Stores share one
// context per module path and only the last Close finalises it.
var (
	modulesMu sync.Mutex
	modules   = map[string]*moduleRef{}
)

type moduleRef struct {
	ctx  *pkcs11.Ctx
	refs int
	// ownInit is true when we called C_Initialize (someone else, such as the
	// softhsm package, may have done so first; then we must not finalise).
	ownInit bool
}

func acquireModule(path string) (*pkcs11.Ctx, error) {
	modulesMu.Lock()
	defer modulesMu.Unlock()
	if m, ok := modules[path]; ok {
		m.refs++
		return m.ctx, nil
	}
	ctx := pkcs11.New(path)
	if ctx == nil {
		return nil, fmt.Errorf("keystore: cannot load PKCS#11 module %s", path)
	}
	own := true
	if err := ctx.Initialize(); err != nil {
		if !isCKR(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
			ctx.Destroy()
			return nil, fmt.Errorf("keystore: C_Initialize %s: %w", path, err)
		}
		own = false
	}
	modules[path] = &moduleRef{ctx: ctx, refs: 1, ownInit: own}
	return ctx, nil
}

func releaseModule(path string) {
	modulesMu.Lock()
	defer modulesMu.Unlock()
	m, ok := modules[path]
	if !ok {
		return
	}
	m.refs--
	if m.refs > 0 {
		return
	}
	delete(modules, path)
	if m.ownInit {
		_ = m.ctx.Finalize()
	}
	m.ctx.Destroy()
}
