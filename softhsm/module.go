package softhsm

import (
	"errors"
	"fmt"
	"os"
)

// ModuleEnv names the environment variable that overrides module discovery.
const ModuleEnv = "CERTCUSTODY_PKCS11_MODULE"

// InstallHint tells an operator or a failing test how to get SoftHSM.
const InstallHint = "install SoftHSM2: apt-get install softhsm2 (Debian/Ubuntu), dnf install softhsm (Fedora), brew install softhsm (macOS); or set " + ModuleEnv + " to the path of libsofthsm2.so"

// ErrModuleNotFound is returned when no SoftHSM2 module can be found.
var ErrModuleNotFound = errors.New("softhsm: SoftHSM2 module not found")

// modulePaths are the places distributions install libsofthsm2.so.
var modulePaths = []string{
	"/usr/lib/softhsm/libsofthsm2.so",                  // Debian, Ubuntu
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so", // Debian multiarch
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib64/pkcs11/libsofthsm2.so",                  // Fedora, RHEL
	"/usr/lib64/softhsm/libsofthsm2.so",                 // older Fedora
	"/usr/lib/pkcs11/libsofthsm2.so",                    // Arch
	"/usr/local/lib/softhsm/libsofthsm2.so",             // source install
	"/opt/homebrew/lib/softhsm/libsofthsm2.so",          // macOS, Apple silicon
	"/usr/local/opt/softhsm/lib/softhsm/libsofthsm2.so", // macOS, Intel
}

// FindModule returns the path of the SoftHSM2 PKCS#11 module: the value of
// CERTCUSTODY_PKCS11_MODULE when set, else the first usual install path that
// exists. The error carries the install hint.
func FindModule() (string, error) {
	if p := os.Getenv(ModuleEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%w: %s=%q: %v; %s", ErrModuleNotFound, ModuleEnv, p, err, InstallHint)
		}
		return p, nil
	}
	for _, p := range modulePaths {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w; %s", ErrModuleNotFound, InstallHint)
}
