// Package softhsm creates and opens SoftHSM2 tokens in a directory of ours.
//
// It owns the SoftHSM side of the embedded default and of every test: it
// writes a private softhsm2.conf, points SOFTHSM2_CONF at it, loads the
// module, and initialises tokens and their user PIN over PKCS#11 itself
// (C_InitToken, C_InitPIN) rather than by shelling out to softhsm2-util.
//
// SoftHSM reads its configuration once per process, at C_Initialize, so a
// process has exactly one token directory: Open it once (tests do so in
// TestMain) and create one token per test in it. Token creation is
// serialised, because concurrent C_InitToken calls race for the one free
// slot. This package never generates, uses or sees application keys.
package softhsm
